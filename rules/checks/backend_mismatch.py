"""The UDP 500 and UDP 4500 services of one VIP balance over different backend nodes.

Shared persistence only helps when the node a client is persisted to is also a member on the other port
(docs/semantics/load-balancers.md); a node behind one port only also takes clients that can
never complete the exchange.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from rules.checks._lb import pairs, scoped

CHECK = CheckMeta(
    id="LB-BACKEND-MISMATCH",
    kind="backend-mismatch",
    severity=Severity.WARNING,
    title="UDP 500 and UDP 4500 services have different backend servers",
    windows_errors=(809, 789, 800),  # per finding: rules/checks/_windows.py
    remediation="Put the same VPN servers (node addresses) behind the UDP 500 and the UDP 4500 services.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for lb, pair in pairs(ctx):
        diff = pair.backend_difference
        if pair.same_object or not diff:
            continue
        parts = []
        if diff.get("only_udp_500"):
            parts.append(f"{', '.join(diff['only_udp_500'])} only behind {pair.ike.name}")
        if diff.get("only_udp_4500"):
            parts.append(f"{', '.join(diff['only_udp_4500'])} only behind {pair.natt.name}")
        title = f"{lb.name} {pair.vip}: UDP 500 and UDP 4500 backends differ ({'; '.join(parts)})"
        adds = []
        if diff.get("only_udp_500"):
            adds.append(f"add {', '.join(diff['only_udp_500'])} to {pair.natt.pool or pair.natt.name}")
        if diff.get("only_udp_4500"):
            adds.append(f"add {', '.join(diff['only_udp_4500'])} to {pair.ike.pool or pair.ike.name}")
        joined = "; ".join(adds)
        fix = (f"{joined[0].upper()}{joined[1:]} (or remove the server from both), so every VPN server is "
               f"reachable on both ports.")
        evidence, errors = scoped(ctx, CHECK, {"vip": pair.vip, "udp_500": pair.ike.describe(),
                                               "udp_4500": pair.natt.describe(), "difference": diff}, lb, pair.ike)
        yield Finding(CHECK, title, fix, device=lb.name, evidence=evidence, windows_errors=errors)
