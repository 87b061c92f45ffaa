"""What "leak nothing" means in a test: every spelling of a secret, looked for in every text that leaves the
process (snapshot files with the manifest, log records, stderr, every report format).

The spellings are computed here, independently of the writer's own list, so a form the writer forgets fails.
"""

from __future__ import annotations

import base64
import html
import json
import re
import urllib.parse
from pathlib import Path

from typer.testing import CliRunner

from auditor.cli import app

FORMATS = ("text", "json", "sarif", "junit", "html", "markdown")


def forms(secret: str, username: str | None = None) -> dict[str, str]:
    """Name -> spelling: raw, JSON-escaped (both ways), Python repr, URL-encoded, XML-escaped, and with a user
    name the base64 of `user:pass` and the Authorization header line carrying it."""
    out = {"raw": secret, "json": json.dumps(secret, ensure_ascii=False)[1:-1],
           "json-ascii": json.dumps(secret)[1:-1], "repr": repr(secret)[1:-1],
           "url": urllib.parse.quote(secret, safe=""), "url-plus": urllib.parse.quote_plus(secret),
           "url-lower": re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), urllib.parse.quote(secret, safe="")),
           "xml": html.escape(secret)}
    if username is not None:
        token = base64.b64encode(f"{username}:{secret}".encode()).decode()
        out |= {"base64 user:pass": token, "Authorization header": f"Authorization: Basic {token}"}
    # forms that equal the raw text add nothing; those too short to be told from ordinary text are not checked
    return {name: form for name, form in out.items() if len(form) >= 6 and (name == "raw" or form != secret)}


def snapshot_text(root: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(root.rglob("*")) if p.is_file())


def report_outputs(snapshot: Path, tmp: Path, extra: list[list[str]] = ()) -> dict[str, str]:  # type: ignore[assignment]
    """Every report format of an audit of `snapshot`, written to a file and to stdout (with stderr), plus the
    output of any extra commands."""
    runner = CliRunner()
    out: dict[str, str] = {}
    for fmt in FORMATS:
        report = tmp / f"report-{snapshot.name}.{fmt}"
        to_file = runner.invoke(app, ["audit", str(snapshot), "--format", fmt, "-o", str(report), "--verbose"]
                                if fmt == "text" else ["audit", str(snapshot), "--format", fmt, "-o", str(report)])
        to_stdout = runner.invoke(app, ["audit", str(snapshot), "--format", fmt])
        for run in (to_file, to_stdout):
            assert run.exit_code in (0, 1, 3), (fmt, run.exit_code, run.output[-2000:])
        assert report.is_file() and report.stat().st_size > 0, fmt
        out[f"{fmt} report"] = report.read_text() + to_stdout.stdout
        out[f"{fmt} stderr"] = to_file.stderr + to_stdout.stderr
    for command in extra:
        run = runner.invoke(app, command)
        out[" ".join(command[:1])] = run.stdout + run.stderr
    return out


def assert_absent(secrets: dict[str, dict[str, str]], haystacks: dict[str, str]) -> None:
    """No spelling of any secret in any haystack; each haystack must hold something (else the check is void)."""
    leaks = []
    for where, text in haystacks.items():
        assert text.strip(), f"nothing captured from {where}: the check would prove nothing"
        for name, spellings in secrets.items():
            leaks += [f"{name} ({kind}) in {where}" for kind, form in spellings.items() if form in text]
    assert not leaks, "\n".join(leaks)
