"""Client-IP persistence on the IKE services expires too soon to cover the UDP 500 -> 4500 switch.

Any value of 60 s or more covers the switch (docs/semantics/load-balancers.md); shorter records can expire
between a slow client's IKE_SA_INIT and its first NAT-T packet, or during rekeys, after which the client is
balanced afresh.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.lb_model import MIN_PERSIST_SECONDS, SOURCE_IP
from auditor.vocab import Severity
from rules.checks._lb import ike_services, scoped

CHECK = CheckMeta(
    id="LB-PERSISTENCE-TIMEOUT",
    kind="persistence-timeout",
    severity=Severity.WARNING,
    title="Persistence timeout on IKE services too short",
    windows_errors=(809, 789, 800),  # per finding: rules/checks/_windows.py
    remediation=f"Raise the persistence timeout to at least {MIN_PERSIST_SECONDS} seconds.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for lb, svc in ike_services(ctx):
        p = svc.persistence
        if p.kind != SOURCE_IP or p.timeout is None or p.timeout >= MIN_PERSIST_SECONDS:
            continue
        zero = " (0 may mean 'never expires' or 'no record' depending on firmware: verify on the device)" \
            if p.timeout == 0 else ""
        title = (f"{lb.name}: {svc.kind} {svc.name} ({svc.listener()}) keeps client-IP persistence records for "
                 f"{p.timeout} s{zero}")
        evidence, errors = scoped(ctx, CHECK, {"service": svc.name, "persistence": p.describe()}, lb, svc)
        yield Finding(CHECK, title, lb.fix_timeout(svc), device=lb.name, evidence=evidence, windows_errors=errors)
