"""A middle-box rule on a flow that never crosses it in the clear: UDP 1701 of L2TP/IPsec travels inside the
IPsec SA (RFC 3193), so a firewall, SSID or load-balancer rule on plain UDP 1701 decides nothing for it. Each
such rule is reported once, so admins neither open ports for nothing nor hunt a block that is not there."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import compress
from operator import attrgetter

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from auditor.wording import place
from rules.checks._paths import client_side, rule_evidence

CHECK = CheckMeta(
    id="VPN-INERT-RULE",
    kind="inert-rule",
    severity=Severity.INFO,
    title="Rule on a flow that never crosses this hop in the clear",
    remediation="Nothing to open here. Remove the rule if no server offers L2TP without IPsec.",
)


_INERT = attrgetter("trace.inert")


def run(ctx: AuditContext) -> Iterator[Finding]:
    seen: set[tuple] = set()
    for path in compress(ctx.paths, map(_INERT, ctx.paths)):  # the few with inert rules, picked out in C
        trace = path.trace
        for hop, seg in trace.inert:
            rule = seg.rule
            assert rule is not None
            # by what the rule is, not by object: a forked worker builds its own copy of a network's rules
            key = (hop.device, hop.stage, str(rule.origin) if rule.origin else None, rule.position, rule.text)
            if key in seen:
                continue
            seen.add(key)
            carriers = " and ".join(str(f) for f in trace.carried_by)
            where = f" of {rule.origin}" if rule.origin and rule.origin.line is None else ""  # a line names its file
            title = f"{place(hop, rule)}: inert, {trace.flow} travels inside IPsec"
            remediation = (f"{rule.label.capitalize()}{where} ({rule.text}) only affects L2TP without IPsec: "
                           f"{trace.flow} travels "
                           f"inside IPsec ({carriers}), so this rule neither allows nor blocks L2TP/IPsec. Leave "
                           f"{trace.flow} closed here; remove the rule unless a server offers L2TP without IPsec "
                           "(audit that with the protocol `l2tp-plain`).")
            network = ({"id": path.role.network_id, "name": path.role.network_name or path.role.network_id}
                       if path.role.network_id and client_side(path.role, hop) else None)
            yield Finding(CHECK, title, remediation, network, None, hop.device,
                          {"server": path.server.name, "protocol": path.protocol, "flow": str(trace.flow),
                           "carried_by": [str(f) for f in trace.carried_by], "rule": rule_evidence(hop, seg)})

