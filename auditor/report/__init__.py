"""Report formats: each a view of one AuditResult. Text is rendered by `text.render` onto a console;
the others return a string through this table (format name -> its render function). A format's module is
imported when that format is asked for: the HTML one loads jinja2, which no other format needs."""

from __future__ import annotations

from collections.abc import Callable

from auditor.audit import AuditResult


def _json(result: AuditResult) -> str:
    from auditor.report import json_report

    return json_report.render(result)


def _sarif(result: AuditResult) -> str:
    from auditor.report import sarif

    return sarif.render(result)


def _junit(result: AuditResult) -> str:
    from auditor.report import junit

    return junit.render(result)


def _markdown(result: AuditResult) -> str:
    from auditor.report import markdown

    return markdown.render(result)


def _html(result: AuditResult) -> str:
    from auditor.report import html

    return html.render(result)


FORMATS: dict[str, Callable[[AuditResult], str]] = {
    "json": _json,
    "sarif": _sarif,
    "junit": _junit,
    "markdown": _markdown,
    "html": _html,
}


def render_format(result: AuditResult, name: str) -> str:
    return FORMATS[name](result)
