"""Report formats: each a view of one AuditResult. Text is rendered by `text.render` onto a console;
the others return a string through this table (format name -> "module:function")."""

from __future__ import annotations

import importlib

from auditor.audit import AuditResult

FORMATS: dict[str, str] = {
    "json": "auditor.report.json_report:render",
    "sarif": "auditor.report.sarif:render",
    "junit": "auditor.report.junit:render",
    "markdown": "auditor.report.markdown:render",
    "html": "auditor.report.html:render",
}


def render_format(result: AuditResult, name: str) -> str:
    module_name, func = FORMATS[name].split(":")
    return getattr(importlib.import_module(module_name), func)(result)
