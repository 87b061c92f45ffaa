"""`vpn-auditor trace`: one role's path to a server for one flow, hop by hop, with the deciding rules."""

from __future__ import annotations

from pathlib import Path

from auditor.audit import AuditResult, resolve_config, run_audit
from auditor.errors import SelectionError
from auditor.gate import closest
from auditor.model import Decision
from auditor.plugins import list_networks
from auditor.protocols import Flow
from auditor.snapshot import Snapshot, SnapshotError
from auditor.trace import FlowTrace, HopTrace, PathResult
from auditor.untrusted import markup as escape
from auditor.vocab import Severity, Verdict

# Hop decisions and path verdicts share two words (partial, unknown), coloured alike.
STYLE = {Decision.PERMIT: "green", Decision.DENY: "bold red", Decision.PARTIAL: "yellow", Decision.UNKNOWN: "magenta",
         Decision.TRANSLATE: "cyan", Verdict.ALLOWED: "green", Verdict.BLOCKED: "bold red"}


def _hop_lines(number: int, record: HopTrace) -> list[str]:
    # Lines are rich markup: everything taken from configuration is escaped (rule texts hold brackets).
    hop = record.hop
    decision = record.decision.value
    lines = [f"  {number}. {escape(hop.device)} \\[{escape(hop.stage)}]: [{STYLE[record.decision]}]{decision}[/]"]
    for seg in record.segments:
        rule = seg.rule
        what = seg.decision.value
        if rule is not None:
            comment = f' "{rule.comment}"' if rule.comment else ""
            # 'rule 2' (1-based) or 'line 37 of FILE'; a JSON file is named without its 0-based list index
            where = f" ({rule.origin.path})" if rule.origin and rule.origin.line is None else ""
            lines.append(f"       {what} by {escape(rule.label)}: {escape(rule.text + comment + where)}")
            if seg.reason and seg.decision is not Decision.UNKNOWN:
                lines.append(f"       {escape(seg.reason)}")
        elif seg.reason:
            lines.append(f"       {what}: {escape(seg.reason)}")
        if seg.decision is Decision.UNKNOWN and seg.reason and rule is not None:
            lines.append(f"       why unknown: {escape(seg.reason)}")
        if record.decision is Decision.PARTIAL:
            lines.append(f"       for sources {seg.packets.describe_sources()}")
    if record.unknown_in:
        lines.append("       (reached only if the earlier unknown hop lets the packets through)")
    return lines


def _trace_lines(trace: FlowTrace) -> list[str]:
    lines = []
    for i, record in enumerate(trace.hops, 1):
        lines.extend(_hop_lines(i, record))
    return lines


def explain_trace(snapshot_dir: Path, config_path: Path | None, network: str | None, role: str, flow_text: str,
                  server: str | None, phase: str | None) -> tuple[list[str], set[str]]:
    """Trace lines for a role of `network`, or with no network for an audit.yaml source (then no network is
    loaded: a source at a Cisco-only site needs none)."""
    try:
        flow = Flow.parse(flow_text)
    except ValueError as exc:
        raise SelectionError(f"--flow: {exc}") from None
    if phase is not None and phase not in PHASES:
        raise SelectionError(f"--phase '{phase}' is not valid (valid: {', '.join(PHASES)})")
    config = resolve_config(Snapshot(snapshot_dir), config_path)
    servers = [s.name for s in config.vpn_servers]
    if server is not None and server not in servers:
        raise SelectionError(f"--server '{server}': no VPN server of that name in audit.yaml "
                          f"({closest(server, servers, 'servers')})")
    if network is not None:
        config.scope.networks = [network]
    result = run_audit(snapshot_dir, config_path, config=config, sources_only=network is None)
    if network is not None and not result.model.networks:
        names = [n for _, n, _ in list_networks(Snapshot(snapshot_dir))]
        raise SelectionError(f"--network: no network named '{network}' in the snapshot "
                          f"({closest(network, names, 'networks')})")
    _check_options(result.paths, role, flow, server, phase)
    wanted_role = role.lower()
    matches = [p for p in result.paths
               if p.role.name.lower() == wanted_role and str(p.trace.flow) == str(flow)
               and (server is None or p.server.name == server) and (phase is None or p.role.phase == phase)]
    if not matches:
        names = sorted({p.role.name for p in result.paths})
        here = f"roles here: {', '.join(names)}" if names else "no audit.yaml source here"
        hint = "; a network's roles need --network" if network is None else ""
        raise SelectionError(f"no path for role '{role}' and flow {flow} ({here}{hint})")
    lines: list[str] = []
    verdicts: set[str] = set()
    seen: set[tuple] = set()
    for path in matches:
        key = (path.role.key, path.server.name)
        if key in seen:
            continue
        seen.add(key)
        trace = path.trace
        verdicts.add(trace.verdict)
        r = path.role
        on_ssid = " on " + r.ssid if r.ssid and r.kind != "ssid" else ""
        where = r.network_name or "audit.yaml"  # sources belong to no network
        lines.append("[bold]" + escape(f"{where} / {r.kind} '{r.name}'{on_ssid} ({r.phase}) -> "
                                       f"{path.server.name} {path.server.address}, {flow}") + "[/]")
        if trace.variants:
            for variant in trace.variants:
                lines.append(f" path via {escape(variant.variant)}: [{STYLE[variant.verdict]}]{variant.verdict}[/]")
                lines.extend(_trace_lines(variant))
        else:
            lines.append(f" path via {escape(trace.variant)}:")
            lines.extend(_trace_lines(trace))
        lines.append(f" verdict: [{STYLE[trace.verdict]}]{trace.verdict}[/]: {escape(trace.reason)}")
        names = _name_lines(result, path)
        if any("[bold red]" in line for line in names):
            verdicts.add(DNS_ERROR)  # its clients dial another address, or none: exit 1 as for a block
        lines.extend(names)
        lines.append("")
    return lines, verdicts


DNS_KINDS = ("dns-mismatch", "dns-unresolved", "dns-unknown")
DNS_ERROR = "dns-error"  # in `verdicts`: the role's name resolution has an error finding


def _name_lines(result: AuditResult, path: PathResult) -> list[str]:
    """What the server's name resolves to for the role (its DNS findings), and where its clients then go."""
    role, server = path.role, path.server
    if not server.fqdn:
        return []
    lines = []
    for finding in result.findings:
        if finding.check.kind not in DNS_KINDS or finding.evidence.get("server") != server.name:
            continue
        own = finding.role == role.describe() and (finding.network or {}).get("id") == role.network_id
        if own or finding.role is None:
            style = "bold red" if finding.effective_severity == Severity.ERROR else "magenta"
            lines.append(f" name: [{style}]{finding.check.kind}[/]: {escape(finding.title)}")
            for address, flows in (finding.evidence.get("traced") or {}).items():
                if str(path.trace.flow) in {f["flow"] for f in flows}:
                    flow = next(f for f in flows if f["flow"] == str(path.trace.flow))
                    lines.append(f"   {path.trace.flow} to {escape(address)}, where the name leads (traced too): "
                                 f"[{STYLE[flow['verdict']]}]{flow['verdict']}[/]: {escape(flow['reason'])}")
    lines.extend(f" name: {escape(note)}" for note in result.notes if note.startswith(f"{server.name}: "))
    return lines


PHASES = ("pre-auth", "post-auth")


def _check_options(paths: list, role: str, flow: Flow, server: str | None, phase: str | None) -> None:
    """Name the option that selects nothing (--flow, --phase) rather than report "no path" for the role."""
    to_server = [p for p in paths if server is None or p.server.name == server]
    flows = list(dict.fromkeys(str(p.trace.flow) for p in to_server))
    if flows and str(flow) not in flows:
        where = f"server '{server}'" if server else "the VPN servers"
        raise SelectionError(f"--flow {flow}: no protocol of {where} uses it (flows: {', '.join(flows)})")
    phases = list(dict.fromkeys(p.role.phase for p in to_server if p.role.name.lower() == role.lower()))
    if phase is not None and phases and phase not in phases:
        raise SelectionError(f"--phase {phase}: role '{role}' has no {phase} phase (it has: {', '.join(phases)})")


__all__ = ["SnapshotError", "explain_trace"]
