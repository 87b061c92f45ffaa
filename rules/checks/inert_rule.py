"""A middle-box rule on a flow that never crosses it in the clear: UDP 1701 of L2TP/IPsec travels inside the
IPsec SA (RFC 3193), so a firewall, SSID or load-balancer rule on plain UDP 1701 decides nothing for it. Each
such rule is reported once, so admins neither open ports for nothing nor hunt a block that is not there."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from rules.checks._paths import rule_evidence

CHECK = CheckMeta(
    id="VPN-INERT-RULE",
    kind="inert-rule",
    severity="info",
    title="Rule on a flow that never crosses this hop in the clear",
    remediation="Nothing to open here. Remove the rule if no server offers L2TP without IPsec.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    seen: set[tuple] = set()
    for path in ctx.paths:
        trace = path.trace
        if not trace.inert:
            continue
        for hop, seg in trace.inert:
            rule = seg.rule
            assert rule is not None
            # by what the rule is, not by object: a forked worker builds its own copy of a network's rules
            key = (hop.device, hop.stage, str(rule.origin) if rule.origin else None, rule.position, rule.text)
            if key in seen:
                continue
            seen.add(key)
            carriers = " and ".join(str(f) for f in trace.carried_by)
            where = f" ({rule.origin})" if rule.origin else ""
            title = (f"{hop.device} ({hop.stage}) rule {rule.position} ({rule.text}) matches plain {trace.flow}, "
                     f"which {ctx.protocols[path.protocol].title} never sends in the clear")
            remediation = (f"Rule {rule.position}{where} only affects L2TP without IPsec: {trace.flow} travels "
                           f"inside IPsec ({carriers}), so this rule neither allows nor blocks L2TP/IPsec. Leave "
                           f"{trace.flow} closed here; remove the rule unless a server offers L2TP without IPsec "
                           "(audit that with the protocol `l2tp-plain`).")
            network = ({"id": path.role.network_id, "name": path.role.network_name or path.role.network_id}
                       if path.role.network_id and _client_side(path, hop) else None)
            yield Finding(CHECK, title, remediation, network, None, hop.device,
                          {"server": path.server.name, "protocol": path.protocol, "flow": str(trace.flow),
                           "carried_by": [str(f) for f in trace.carried_by], "rule": rule_evidence(hop, seg)})


def _client_side(path, hop) -> bool:
    return any(hop is h for variant in path.role.variants for h in variant.hops)
