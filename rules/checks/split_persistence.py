"""A load balancer can send one client's UDP 500 and UDP 4500 to different VPN servers.

IKEv2 (and L2TP/IPsec) start on UDP 500 and move to UDP 4500 when NAT is detected; if the load balancer
balances the two flows independently, the second lands on a server that never saw the first and the
tunnel never comes up (Windows error 809). The verdict per (VIP, clients) pair comes from the
vendor-neutral model (auditor/lb_model.py, docs/semantics/load-balancers.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import PersistenceVerdict, Severity
from rules.checks._lb import pairs, scoped

CHECK = CheckMeta(
    id="LB-SPLIT-PERSISTENCE",
    kind="split-persistence",
    severity=Severity.ERROR,
    title="UDP 500 and UDP 4500 of one client can reach different VPN servers",
    windows_errors=(809, 789, 800),  # per finding: rules/checks/_windows.py
    remediation="Make UDP 500 and UDP 4500 share one client-IP persistence table with the same backend nodes.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for lb, pair in pairs(ctx):
        if pair.verdict == PersistenceVerdict.STICKY:
            continue
        clients = "" if pair.clients == "any" else f" (clients {pair.clients})"
        # Titles name the persistence setting, not the virtual services (evidence and the fix do): long
        # service paths would push a title past one line of a report.
        ike, natt = pair.ike.persistence.short(), pair.natt.persistence.short()
        if pair.same_object:
            persist = f"{pair.ike.name}: {ike}"
        elif ike == natt:
            persist = f"each {ike}"
        else:
            persist = f"UDP 500: {ike}; UDP 4500: {natt}"
        head = f"{lb.name} {pair.vip}{clients}:"
        fix = lb.fix_split(pair)
        severity: Severity | None = None
        if pair.verdict == PersistenceVerdict.SPLIT:
            title = f"{head} one client's UDP 500 and UDP 4500 can reach different servers ({persist})"
        elif pair.verdict == PersistenceVerdict.CONDITIONAL:
            severity = Severity.WARNING
            title = (f"{head} one client's UDP 500 and UDP 4500 reach one server only while both sides see the "
                     f"same servers up ({persist})")
        else:
            assert pair.verdict == PersistenceVerdict.UNKNOWN
            severity = Severity.WARNING
            title = f"{head} cannot prove that one client's UDP 500 and UDP 4500 reach one server ({persist})"
            if pair.verify:
                fix = f"Verify on the device: {pair.verify}. Or use the documented form: {fix}"
        evidence, errors = scoped(ctx, CHECK, pair.evidence(), lb, pair.ike)
        yield Finding(CHECK, title, fix, device=lb.name, evidence=evidence, severity=severity,
                      windows_errors=errors)
