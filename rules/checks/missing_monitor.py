"""VPN backends without a meaningful health monitor.

Without a monitor a failed VPN server keeps receiving new clients (and, with persistence, returning ones).
For SSTP the generic HTTP/HTTPS monitors "will not accurately reflect the health of the SSTP service"
(docs/semantics/load-balancers.md): the probe must request the SSTP endpoint path.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from rules.checks._lb import SSTP_FLOWS, ike_services, scoped, sstp_services

CHECK = CheckMeta(
    id="LB-MISSING-MONITOR",
    kind="missing-monitor",
    severity=Severity.WARNING,
    title="VPN backends without a meaningful health monitor",
    windows_errors=(809, 800),  # per finding: rules/checks/_windows.py
    remediation="Attach a health monitor that tests the VPN service on every backend.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for lb, svc in ike_services(ctx):
        explicit = [m for m in svc.monitors if not m.implicit]
        if explicit or not svc.backends:
            continue
        evidence, errors = scoped(ctx, CHECK, {"service": svc.describe(),
                                               "monitors": [m.describe() for m in svc.monitors]}, lb, svc)
        if svc.monitors:
            names = ", ".join(m.name for m in svc.monitors)
            title = (f"{lb.name}: {svc.kind} {svc.name} ({svc.listener()}) relies on the default monitor "
                     f"({names}), which tests only that the host answers")
            yield Finding(CHECK, title, lb.fix_monitor(svc, sstp=False), device=lb.name, evidence=evidence,
                          severity=Severity.INFO, windows_errors=errors)
        else:
            title = f"{lb.name}: {svc.kind} {svc.name} ({svc.listener()}) has no health monitor"
            yield Finding(CHECK, title, lb.fix_monitor(svc, sstp=False), device=lb.name, evidence=evidence,
                          windows_errors=errors)
    for lb, svc in sstp_services(ctx):
        if not svc.backends or any(m.kind == "sstp" for m in svc.monitors):
            continue
        evidence, errors = scoped(ctx, CHECK, {"service": svc.describe(),
                                               "monitors": [m.describe() for m in svc.monitors]}, lb, svc, SSTP_FLOWS)
        explicit = [m for m in svc.monitors if not m.implicit]
        if explicit:
            names = ", ".join(f"{m.name} ({m.kind})" for m in explicit)
            title = (f"{lb.name}: SSTP {svc.kind} {svc.name} ({svc.listener()}) is monitored by {names}, which "
                     f"does not test the SSTP endpoint")
        else:
            title = f"{lb.name}: SSTP {svc.kind} {svc.name} ({svc.listener()}) has no health monitor"
        yield Finding(CHECK, title, lb.fix_monitor(svc, sstp=True), device=lb.name, evidence=evidence,
                      windows_errors=errors)
