"""The terminal report: one table a person reads at a glance, then the findings."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from auditor.audit import AuditResult
from auditor.checks import SEVERITY_ORDER
from auditor.trace import FlowTrace, PathResult

VERDICT_STYLE = {"allowed": "green", "blocked": "bold red", "partial": "yellow", "unknown": "magenta"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_RANK = {"blocked": 3, "partial": 2, "unknown": 1, "allowed": 0}


def _role_cell(path: PathResult) -> str:
    role = path.role
    label = f"{role.name} ({role.kind})"
    if role.ssid and role.kind != "ssid":
        label += f"\non {role.ssid}"
    if role.phase == "pre-auth":
        label += "\nbefore sign-on"
    return label


def _where(trace: FlowTrace) -> str:
    if trace.blocked:
        hop, seg = trace.blocked[0]
        rule = seg.rule
        if rule is not None:
            label = "default" if rule.synthetic else f"rule {rule.position}"
            return f"{hop.device} {hop.stage} {label}: {rule.text}"
        return f"{hop.device} {hop.stage}"
    if trace.unknown:
        hop, seg = trace.unknown[0]
        return f"{hop.device} {hop.stage}: {seg.reason}"
    return trace.reason


def build_table(result: AuditResult) -> Table:
    table = Table(title=f"VPN paths in {result.snapshot}", show_lines=True, expand=False)
    for column in ("Network", "Role", "Server", "Protocol", "Verdict", "Where and why"):
        table.add_column(column, overflow="fold")
    grouped: dict[tuple, list[PathResult]] = defaultdict(list)
    for path in result.paths:
        grouped[(path.role, path.server.name, path.protocol)].append(path)
    for (role, server, protocol), paths in grouped.items():
        worst = max(paths, key=lambda p: _RANK[p.verdict])
        verdict = worst.verdict
        if verdict == "allowed":
            why = "all flows pass"
        else:
            failing = [p for p in paths if p.verdict != "allowed"]
            why = "\n".join(f"{p.trace.flow} {p.verdict}: {_where(p.trace)}" for p in failing)
        table.add_row(role.network_name or "-", _role_cell(worst), server, protocol,
                      Text(verdict, style=VERDICT_STYLE[verdict]), why)
    return table


def build_findings(result: AuditResult) -> Table | Text:
    if not result.findings:
        return Text("No findings.", style="green")
    table = Table(title="Findings", show_lines=True)
    for column in ("Severity", "Id", "Finding", "Windows", "What to change"):
        table.add_column(column, overflow="fold")
    for finding in sorted(result.findings, key=lambda f: -SEVERITY_ORDER[f.effective_severity]):
        data = finding.to_json()
        table.add_row(Text(data["severity"], style=SEVERITY_STYLE[data["severity"]]), data["id"], data["title"],
                      ", ".join(str(e) for e in data["windows_errors"]), data["remediation"])
    return table


def summary_line(result: AuditResult) -> Text:
    counts = result.counts()
    text = Text(f"{len(result.paths)} paths: ")
    for verdict in ("allowed", "blocked", "partial", "unknown"):
        text.append(f"{counts[verdict]} {verdict}", style=VERDICT_STYLE[verdict])
        text.append("  ")
    severities = defaultdict(int)
    for finding in result.findings:
        severities[finding.effective_severity] += 1
    text.append(f"| findings: {severities['error']} error, {severities['warning']} warning, "
                f"{severities['info']} info")
    return text


def render(result: AuditResult, console: Console) -> None:
    console.print(Group(build_table(result), build_findings(result), summary_line(result)))
