"""Markdown for tickets and pull-request comments: the summary, the failing roles (one row per network, role,
phase and server, a column per protocol), the roles that pass, then the findings with remediation.

Everything from configuration (rule texts and comments, SSID and policy names) is untrusted: it is escaped so
it can neither break a table (pipes, newlines) nor inject markup or links. Long reports are cut to stay under
the size code hosts accept for one comment (GitHub: 65,536 characters), saying what was left out.
"""

from __future__ import annotations

import html
import re

from auditor.assumptions import header_line
from auditor.audit import AuditResult
from auditor.explain_errors import catalogue
from auditor.report.junit import role_label
from auditor.report.summary import (
    counts,
    failing_rows,
    headline,
    ordered_findings,
    passing_roles,
)
from auditor.trace import FlowTrace
from auditor.untrusted import clean
from auditor.vocab import SEVERITY_REPORT_ORDER, VERDICT_REPORT_ORDER, Severity, Verdict
from auditor.wording import flows_text

VERDICT_MARK = {Verdict.ALLOWED: "✅", Verdict.BLOCKED: "❌", Verdict.PARTIAL: "⚠️", Verdict.UNKNOWN: "❓"}
SEVERITY_MARK = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "ℹ️"}
MAX_ROWS = 150
MAX_FINDINGS = 80
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # what can start markup mid-line; `[` escaped means no links


def escape(text: object) -> str:
    """Untrusted text as inert Markdown: HTML entities, backslash-escaped markup, one line.

    A zero-width space after `@` keeps a rule comment such as "ask @netops" from notifying anyone.
    """
    out = html.escape(clean(" ".join(str(text).split())), quote=False)  # controls: visible, never sent raw
    return _SPECIAL.sub(r"\\\1", out).replace("@", "@\u200b")


def cell(text: object) -> str:
    """A table cell: escaped, pipes escaped (by `escape`), line breaks as <br>."""
    return "<br>".join(escape(line) for line in str(text).splitlines() if line.strip()) or " "


def deciding(trace: FlowTrace) -> str:
    """Where a failing flow stops and by which rule, or why it cannot be decided (picture captions)."""
    if trace.blocked:
        hop, seg = trace.blocked[0]
        rule = seg.rule
        where = f"{hop.device} ({hop.stage})"
        if rule is None:
            return f"blocked at {where}" + (f": {seg.reason}" if seg.reason else "")
        comment = f' "{rule.comment}"' if rule.comment else ""
        return f"{where} {rule.label}: {rule.text}{comment}"
    if trace.unknown:
        hop, seg = trace.unknown[0]
        return f"unknown at {hop.device} ({hop.stage}): {seg.reason}"
    return trace.reason


def windows_error(code: int, kind: str | None = None) -> tuple[str, str]:
    """A Windows error's short title and, for a finding kind, how that kind causes it (rules/windows_errors.yaml)."""
    entry = catalogue().get(code)
    if entry is None:
        return "", ""
    why = next((cause.why for cause in entry.network_causes if kind in cause.kinds), "") if kind else ""
    return entry.title, " ".join(why.split())


def windows_text(codes: list[int]) -> str:
    return ", ".join(f"{code} ({title})" if (title := windows_error(code)[0]) else str(code) for code in codes)


def render(result: AuditResult) -> str:
    rows = failing_rows(result)
    c = counts(result, rows)
    lines = [
        "## VPN path audit",
        "",
        f"Snapshot {escape(result.snapshot)} · generated {escape(result.generated_at)} · "
        f"vpn-auditor {escape(result.tool_version)}",
        "",
        f"**Summary:** {escape(headline(c))}",
        "",
        f"**{c['paths']} paths:** " + " · ".join(f"{VERDICT_MARK[v]} {c[v]} {v}" for v in VERDICT_REPORT_ORDER),
        "**Findings:** " + " · ".join(f"{c['findings'][s]} {s}" for s in SEVERITY_REPORT_ORDER)
        + (f" ({c['waived']} waived)" if c["waived"] else ""),
        "",
    ]
    if result.assumptions:
        lines[4:4] = [f"**Assumptions** (audit.yaml `assume:`): {escape(header_line(result.assumptions))}", ""]
    if result.notes:
        lines[4:4] = [*(f"**Note:** {escape(note)}" for note in result.notes), ""]
    lines += [f"### Failing roles ({len(rows)})", ""]
    if not rows:
        lines += ["Every role reaches every VPN server on every protocol.", ""]
    else:
        servers = len({row.server for row in rows}) > 1
        protocols = list(dict.fromkeys(name for row in rows for name in row.verdicts))
        titles = [result.protocols[p].title if p in result.protocols else p for p in protocols]
        head = ["Network", "Role", *(["Server"] if servers else []), *titles, "Where the failing flows stop",
                "Findings"]
        lines += ["| " + " | ".join(cell(h) for h in head) + " |", "|" + "---|" * len(head)]
        for row in rows[:MAX_ROWS]:
            role = row.role
            cells = [cell(role.network_name or "-"), cell(role_label(role)), *([cell(row.server)] if servers else [])]
            for protocol in protocols:
                verdict = row.verdicts.get(protocol)
                cells.append(f"{VERDICT_MARK[verdict]} {verdict}" if verdict else "—")
            cells.append(cell("\n".join(f"{flows_text(flows)}: {where}" for where, flows in row.causes)))
            cells.append(" ".join(f"#{n}" for n in row.findings) or " ")
            lines.append("| " + " | ".join(cells) + " |")
        if len(rows) > MAX_ROWS:
            lines.append(f"\n_… and {len(rows) - MAX_ROWS} more failing roles: see the HTML or JSON report._")
        lines.append("")
    passing = passing_roles(result, rows)
    if passing:
        lines += ["**Passing** (every flow of every protocol allowed):", ""]
        lines += [f"- {escape(network)}: {escape(', '.join(names))}" for network, names in passing.items()]
        lines.append("")
    findings = ordered_findings(result)
    lines += [f"### Findings ({len(findings)})", ""]
    if not findings:
        lines += ["No findings.", ""]
    for number, finding in enumerate(findings[:MAX_FINDINGS], 1):
        data = finding.to_json()
        severity = data["severity"]
        waived = " · waived" if finding.waived is not None else ""
        lines.append(f"#### {SEVERITY_MARK[severity]} {severity}{waived} · #{number} `{escape(data['id'])}` · "
                     f"{escape(data['title'])}")
        lines.append("")
        if finding.waived is not None:
            lines.append(f"- **Waived** by {escape(finding.waived['owner'])} until "
                         f"{escape(finding.waived['expires'])}: {escape(finding.waived['reason'])}")
        context = []
        if data["network"]:
            context.append(f"**Network:** {escape(data['network']['name'])}")
        if finding.role:
            named = finding.role
            label = f"{named.get('kind')} {named.get('name')}"
            if named.get("ssid") and named.get("kind") != "ssid":
                label += f" on {named['ssid']}"
            if (finding.evidence or {}).get("phase") == "pre-auth":
                label += " [pre-auth]"
            context.append(f"**Role:** {escape(label)}")
        concerned = (finding.evidence or {}).get("protocols")
        if concerned:
            context.append("**Protocols:** " + escape(", ".join(
                result.protocols[p].title if p in result.protocols else p for p in concerned)))
        if data["device"]:
            context.append(f"**Device:** {escape(data['device'])}")
        if context:
            lines.append("- " + " · ".join(context))
        if data["windows_errors"]:
            lines.append(f"- **Windows errors:** {escape(windows_text(data['windows_errors']))}")
        lines.append(f"- **Remediation:** {escape(data['remediation'])}")
        lines.append("")
    if len(findings) > MAX_FINDINGS:
        lines += [f"_… and {len(findings) - MAX_FINDINGS} more findings: see the HTML or JSON report._", ""]
    return "\n".join(lines)
