"""The terminal report: a table of the roles with problems (one row per role, a column per protocol, then
where and why), a line per network for the roles where everything passes, then the findings."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from auditor.assumptions import header_line
from auditor.audit import AuditResult
from auditor.checks import SEVERITY_ORDER
from auditor.model import Role
from auditor.trace import FlowTrace, PathResult

VERDICT_STYLE = {"allowed": "green", "blocked": "bold red", "partial": "yellow", "unknown": "magenta"}
SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_RANK = {"blocked": 3, "partial": 2, "unknown": 1, "allowed": 0}


def _role_cell(role: Role) -> str:
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
            comment = f' "{rule.comment}"' if rule.comment else ""
            return f"{hop.device} {hop.stage} {label}: {rule.text}{comment}"
        return f"{hop.device} {hop.stage}: {seg.reason}"
    if trace.unknown:
        hop, seg = trace.unknown[0]
        return f"{hop.device} {hop.stage}: {seg.reason}"
    return trace.reason


def _explanations(paths: list[PathResult]) -> str:
    """Each distinct cause once, with the flows it concerns."""
    causes: dict[str, list[str]] = defaultdict(list)
    for path in paths:
        if path.verdict == "allowed":
            continue
        flow = f"{path.trace.flow} {path.verdict}"
        if flow not in causes[_where(path.trace)]:
            causes[_where(path.trace)].append(flow)
    return "\n".join(f"{', '.join(flows)}: {cause}" for cause, flows in causes.items())


def build_table(result: AuditResult) -> tuple[Table, list[Text]]:
    servers = sorted({p.server.name for p in result.paths})
    protocols = list(dict.fromkeys(p.protocol for p in result.paths))
    by_role: dict[tuple[Role, str], list[PathResult]] = defaultdict(list)
    for path in result.paths:
        by_role[(path.role, path.server.name)].append(path)

    table = Table(title=f"VPN paths with problems in {result.snapshot}", show_lines=True)
    table.add_column("Network", overflow="fold")
    table.add_column("Role", overflow="fold")
    if len(servers) > 1:
        table.add_column("Server")
    for protocol in protocols:
        title = result.protocols[protocol].title if protocol in result.protocols else protocol
        table.add_column(title, no_wrap=True)
    table.add_column("Where and why", overflow="fold", ratio=1)

    all_allowed: dict[str, list[str]] = defaultdict(list)
    for (role, server), paths in by_role.items():
        if all(p.verdict == "allowed" for p in paths):
            label = role.name if role.phase == "post-auth" else f"{role.name} (before sign-on)"
            all_allowed[role.network_name or "(sources)"].append(label)
            continue
        cells: list[Text | str] = [role.network_name or "-", _role_cell(role)]
        if len(servers) > 1:
            cells.append(server)
        for protocol in protocols:
            mine = [p for p in paths if p.protocol == protocol]
            if not mine:
                cells.append("")
                continue
            verdict = max(mine, key=lambda p: _RANK[p.verdict]).verdict
            cells.append(Text(verdict, style=VERDICT_STYLE[verdict]))
        cells.append(_explanations(paths))
        table.add_row(*cells)
    fine = [Text(f"{network}: all protocols allowed for {len(set(names))} role(s): {', '.join(sorted(set(names)))}",
                 style="green") for network, names in all_allowed.items()]
    return table, fine


def build_findings(result: AuditResult) -> Table | Text:
    if not result.findings:
        return Text("No findings.", style="green")
    table = Table(title="Findings", show_lines=True)
    for column in ("Severity", "Id", "Finding", "Windows", "What to change"):
        table.add_column(column, overflow="fold")
    for finding in sorted(result.findings, key=lambda f: -SEVERITY_ORDER[f.effective_severity]):
        data = finding.to_json()
        severity = Text(data["severity"], style=SEVERITY_STYLE[data["severity"]])
        title = data["title"]
        if finding.waived is not None:
            severity.append(" (waived)", style="dim")
            title += (f"\nWaived by {finding.waived['owner']} until {finding.waived['expires']}: "
                      f"{finding.waived['reason']}")
        table.add_row(severity, data["id"], title, ", ".join(str(e) for e in data["windows_errors"]),
                      data["remediation"])
    return table


def summary_line(result: AuditResult) -> Text:
    counts = result.counts()
    text = Text(f"{len(result.paths)} paths: ")
    for verdict in ("allowed", "blocked", "partial", "unknown"):
        text.append(f"{counts[verdict]} {verdict}", style=VERDICT_STYLE[verdict])
        text.append("  ")
    severities: dict[str, int] = defaultdict(int)
    for finding in result.findings:
        severities[finding.effective_severity] += 1
    text.append(f"| findings: {severities['error']} error, {severities['warning']} warning, "
                f"{severities['info']} info")
    waived = sum(1 for f in result.findings if f.waived is not None)
    if waived:
        text.append(f" ({waived} waived)")
    return text


def assumptions_line(result: AuditResult) -> list[Text]:
    """The audit.yaml assumptions the verdicts rest on, before anything else (none: no line)."""
    if not result.assumptions:
        return []
    return [Text(f"Assumptions (audit.yaml assume:): {header_line(result.assumptions)}", style="bold")]


def render(result: AuditResult, console: Console) -> None:
    table, fine = build_table(result)
    parts: list = [table] if table.row_count else [Text("No path has a problem.", style="green")]
    console.print(Group(*assumptions_line(result), *parts, *fine, Text(""), build_findings(result),
                        summary_line(result)))
