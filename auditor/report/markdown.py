"""Markdown for tickets and pull-request comments: summary, failing paths, findings with remediation.

Everything from configuration (rule texts and comments, SSID and policy names) is untrusted: it is escaped so
it can neither break a table (pipes, newlines) nor inject markup or links. Long reports are cut to stay under
the size code hosts accept for one comment (GitHub: 65,536 characters), saying what was left out.
"""

from __future__ import annotations

import html
import re
from collections import Counter

from auditor.assumptions import header_line
from auditor.audit import AuditResult
from auditor.checks import SEVERITY_ORDER
from auditor.explain_errors import catalogue
from auditor.report.junit import protocol_groups, role_label
from auditor.trace import FlowTrace, PathResult

VERDICT_MARK = {"allowed": "✅", "blocked": "❌", "partial": "⚠️", "unknown": "❓"}
SEVERITY_MARK = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}
VERDICTS = ("allowed", "blocked", "partial", "unknown")
_RANK = {"allowed": 0, "unknown": 1, "partial": 2, "blocked": 3}
MAX_ROWS = 150
MAX_FINDINGS = 80
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # what can start markup mid-line; `[` escaped means no links


def escape(text: object) -> str:
    """Untrusted text as inert Markdown: HTML entities, backslash-escaped markup, one line.

    A zero-width space after `@` keeps a rule comment such as "ask @netops" from notifying anyone.
    """
    out = html.escape(str(text), quote=False)
    out = _SPECIAL.sub(r"\\\1", out).replace("@", "@\u200b")
    return " ".join(out.split())


def cell(text: object) -> str:
    """A table cell: escaped, pipes escaped (by `escape`), line breaks as <br>."""
    return "<br>".join(escape(line) for line in str(text).splitlines() if line.strip()) or " "


def deciding(trace: FlowTrace) -> str:
    """Where a failing flow stops and by which rule, or why it cannot be decided."""
    if trace.blocked:
        hop, seg = trace.blocked[0]
        rule = seg.rule
        where = f"{hop.device} ({hop.stage})"
        if rule is None:
            return f"blocked at {where}" + (f": {seg.reason}" if seg.reason else "")
        label = "default rule" if rule.synthetic else f"rule {rule.position}"
        comment = f' "{rule.comment}"' if rule.comment else ""
        return f"{where} {label}: {rule.text}{comment}"
    if trace.unknown:
        hop, seg = trace.unknown[0]
        return f"unknown at {hop.device} ({hop.stage}): {seg.reason}"
    return trace.reason


def failing_rows(result: AuditResult) -> list[tuple[PathResult, list[PathResult]]]:
    """Per (role, server, protocol) with a failing flow: the worst path and the failing ones."""
    rows = []
    for paths in protocol_groups(result.paths).values():
        failing = [p for p in paths if p.verdict != "allowed"]
        if failing:
            rows.append((max(failing, key=lambda p: _RANK[p.verdict]), failing))
    return rows


def _why(failing: list[PathResult]) -> str:
    """One line per distinct explanation, flows that share it joined."""
    reasons: dict[str, list[str]] = {}
    for path in failing:
        reasons.setdefault(deciding(path.trace), []).append(str(path.trace.flow))
    return "\n".join(f"{', '.join(flows)}: {why}" for why, flows in reasons.items())


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
    counts = result.counts()
    severities = Counter(f.effective_severity for f in result.findings)
    lines = [
        "## VPN path audit",
        "",
        f"Snapshot {escape(result.snapshot)} · generated {escape(result.generated_at)} · "
        f"vpn-auditor {escape(result.tool_version)}",
        "",
        f"**{len(result.paths)} paths:** " + " · ".join(f"{VERDICT_MARK[v]} {counts[v]} {v}" for v in VERDICTS),
        f"**Findings:** {severities['error']} error · {severities['warning']} warning · {severities['info']} info"
        + (f" ({n_waived} waived)" if (n_waived := sum(1 for f in result.findings if f.waived is not None)) else ""),
        "",
    ]
    if result.assumptions:
        lines[4:4] = [f"**Assumptions** (audit.yaml `assume:`): {escape(header_line(result.assumptions))}", ""]
    rows = failing_rows(result)
    lines += [f"### Failing paths ({len(rows)})", ""]
    if not rows:
        lines += ["Every role reaches every VPN server on every protocol.", ""]
    else:
        lines += ["| Network | Role | Server | Protocol | Verdict | Failing flows: where and why |",
                  "|---|---|---|---|---|---|"]
        for worst, failing in rows[:MAX_ROWS]:
            role = worst.role
            spec = result.protocols.get(worst.protocol)
            lines.append("| " + " | ".join([
                cell(role.network_name or "-"), cell(role_label(role)), cell(worst.server.name),
                cell(spec.title if spec else worst.protocol), f"{VERDICT_MARK[worst.verdict]} {worst.verdict}",
                cell(_why(failing)),
            ]) + " |")
        if len(rows) > MAX_ROWS:
            lines.append(f"\n_… and {len(rows) - MAX_ROWS} more failing paths: see the HTML or JSON report._")
        lines.append("")
    findings = sorted(result.findings, key=lambda f: (-SEVERITY_ORDER[f.effective_severity], f.check.id))
    lines += [f"### Findings ({len(findings)})", ""]
    if not findings:
        lines += ["No findings.", ""]
    for finding in findings[:MAX_FINDINGS]:
        data = finding.to_json()
        severity = data["severity"]
        waived = " · waived" if finding.waived is not None else ""
        lines.append(f"#### {SEVERITY_MARK[severity]} {severity}{waived} · `{escape(data['id'])}` · "
                     f"{escape(data['title'])}")
        lines.append("")
        if finding.waived is not None:
            lines.append(f"- **Waived** by {escape(finding.waived['owner'])} until "
                         f"{escape(finding.waived['expires'])}: {escape(finding.waived['reason'])}")
        context = []
        if data["network"]:
            context.append(f"**Network:** {escape(data['network']['name'])}")
        if finding.role:
            role = finding.role
            label = f"{role.get('kind')} {role.get('name')}"
            if role.get("ssid") and role.get("kind") != "ssid":
                label += f" on {role['ssid']}"
            if (finding.evidence or {}).get("phase") == "pre-auth":
                label += " [pre-auth]"
            context.append(f"**Role:** {escape(label)}")
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
