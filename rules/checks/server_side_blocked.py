"""A device in front of the VPN server (perimeter ACL, NAT, load balancer) blocks a required flow.

Every role crosses those devices, so the block is reported once per deciding rule, with the protocols, roles
and networks it affects, instead of once per role or protocol.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import compress
from operator import attrgetter

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Hop, VpnServer
from auditor.trace import PathResult
from auditor.vocab import Severity
from auditor.wording import flows_text
from rules.checks._paths import (
    at,
    client_side,
    fix_for,
    headline,
    rule_evidence,
    rule_key,
)
from rules.checks._windows import path_tags

CHECK = CheckMeta(
    id="VPN-BLOCKED-SERVER-SIDE",
    kind="blocked-flow",
    severity=Severity.ERROR,
    title="VPN flow blocked in front of the server",
    windows_errors=(809, 800),  # per finding: rules/checks/_windows.py
    remediation="Allow the flow on the device in front of the server.",
)


def _order(ctx: AuditContext, server: VpnServer, path: PathResult) -> tuple[int, int]:
    names = server.protocols
    spec = ctx.protocols.get(path.protocol)
    flows = [str(f) for f in spec.flows] if spec else []
    flow = str(path.trace.flow)
    return (names.index(path.protocol) if path.protocol in names else len(names),
            flows.index(flow) if flow in flows else len(flows))


_BLOCKED = attrgetter("trace.blocked")


def run(ctx: AuditContext) -> Iterator[Finding]:
    groups: dict[tuple[str, str, str, tuple | str | None], tuple[VpnServer, Hop, list]] = {}
    # Only paths whose trace blocked something have a hop to report: picked out in C (an org has a million
    # paths, nearly all of which block nothing)
    for path in compress(ctx.paths, map(_BLOCKED, ctx.paths)):
        trace = path.trace
        if trace.carried_by:
            continue  # an inner flow is blocked with its carrier, which names the rule
        for hop, seg in trace.blocked:
            if not client_side(path.role, hop):
                # a rule, or without one what the hop says (a missing port forward is one per flow)
                key = (path.server.name, hop.device, hop.stage, rule_key(seg.rule) if seg.rule else seg.reason)
                groups.setdefault(key, (path.server, hop, []))[2].append((path, seg))
                break
    for server, hop, hits in groups.values():
        # in the server's protocol order, then each protocol's flows (the order a fix lists its lines in)
        ordered = sorted(hits, key=lambda hit: _order(ctx, server, hit[0]))
        flows = list(dict.fromkeys(str(p.trace.flow) for p, _ in ordered))
        protocols = list(dict.fromkeys(p.protocol for p, _ in ordered))
        roles = {p.role.key: p.role for p, _ in hits}
        networks = sorted({r.network_name for r in roles.values() if r.network_name})
        seg = hits[0][1]
        title = (f"{headline(ctx, protocols, server)} blocked at {at(hop, seg)} for {len(roles)} role(s) in "
                 f"{len(networks)} network(s): {flows_text(flows)}")
        yield Finding(CHECK, title, fix_for(hop, seg, flows, server), None, None, hop.device,
                      {"server": server.name, "protocol": protocols[0], "protocols": protocols, "flows": flows,
                       "deciding": [rule_evidence(hop, seg)], "networks": networks,
                       "roles": sorted(f"{r.network_name or '-'} / {r.kind} {r.name} ({r.phase})"
                                       for r in roles.values())[:50]},
                      windows_errors=path_tags(ctx, CHECK.windows_errors, protocols, flows,
                                               [(r, server) for r in roles.values()]))
