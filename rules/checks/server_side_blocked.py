"""A device in front of the VPN server (perimeter ACL, NAT, load balancer) blocks a required flow.

Every role crosses those devices, so the block is reported once per deciding rule, with the roles and
networks it affects, instead of once per role.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Hop, Rule, VpnServer
from rules.checks._paths import client_side, fix_for, rule_evidence

CHECK = CheckMeta(
    id="VPN-BLOCKED-SERVER-SIDE",
    kind="blocked-flow",
    severity="error",
    title="VPN flow blocked in front of the server",
    windows_errors=(809, 800),
    remediation="Allow the flow on the device in front of the server.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    groups: dict[tuple[VpnServer, str, Hop, tuple | None], list] = defaultdict(list)
    for path in ctx.paths:
        if path.trace.verdict not in ("blocked", "partial") and not path.trace.blocked:
            continue
        for hop, seg in path.trace.blocked:
            if not client_side(path.role, hop):
                groups[(path.server, path.protocol, hop, _rule_key(seg.rule))].append((path, seg))
                break
    for (server, protocol, hop, _rule), hits in groups.items():
        flows = sorted({str(p.trace.flow) for p, _ in hits})
        roles = {p.role.key: p.role for p, _ in hits}
        networks = sorted({r.network_name for r in roles.values() if r.network_name})
        seg = hits[0][1]
        title = (f"{ctx.protocols[protocol].title} to {server.name} is blocked at {hop.device} ({hop.stage}) for "
                 f"{len(roles)} role(s) in {len(networks)} network(s): {', '.join(flows)}")
        yield Finding(CHECK, title, fix_for(hop, seg, flows, server), None, None, hop.device,
                      {"server": server.name, "protocol": protocol, "flows": flows,
                       "deciding": [rule_evidence(hop, seg)], "networks": networks,
                       "roles": sorted(f"{r.network_name or '-'} / {r.kind} {r.name} ({r.phase})"
                                       for r in roles.values())[:50]},
                      windows_errors=ctx.protocols[protocol].windows_errors or CHECK.windows_errors)


def _rule_key(rule: Rule | None) -> tuple | None:
    """A rule by what it is, not by object: rows parsed on demand are built again for each process that
    audits part of the org (auditor/parallel.py), and are the same rule."""
    return None if rule is None else (rule.origin, rule.position, rule.text, rule.synthetic)
