"""Report formats: each a view of one AuditResult. Text is rendered by `text.render` onto a console;
the others return a string through this table (format name -> its render function)."""

from __future__ import annotations

from collections.abc import Callable

from auditor.audit import AuditResult
from auditor.report import html, json_report, junit, markdown, sarif

FORMATS: dict[str, Callable[[AuditResult], str]] = {
    "json": json_report.render,
    "sarif": sarif.render,
    "junit": junit.render,
    "markdown": markdown.render,
    "html": html.render,
}


def render_format(result: AuditResult, name: str) -> str:
    return FORMATS[name](result)
