"""Source address translation on the IKE (UDP 500/4500) virtual services.

With SNAT/automap every client reaches the VPN servers from the load balancer's address; Windows IKEEXT
expects few connections per source address and clients fail with error 809 under load (docs/semantics/load-balancers.md,
Hicks "Always On VPN IKEv2 Load Balancing and NAT"). DNAT alone (client address kept) is fine.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from rules.checks._lb import ike_services, scoped, servers_behind

WINDOWS_MITIGATION = (
    "If SNAT cannot be removed: on each VPN server raise the DWORD "
    "HKLM\\SYSTEM\\CurrentControlSet\\Services\\IKEEXT\\Parameters\\IkeNumEstablishedForInitialQuery "
    "(Windows expects about 10 connections per source address; Hicks' Set-IKEv2LoadBalancingParameters.ps1 "
    "sets 50000) and run `netsh ras set ikev2connection idletimeout=5 nwoutagetime=10`, then restart the "
    "IKEEXT and RemoteAccess services."
)
L2TP_MITIGATION = (
    " For L2TP/IPsec: the server is behind NAT (any load balancer that rewrites the destination is one), so "
    "Windows clients need the DWORD HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent\\"
    "AssumeUDPEncapsulationContextOnSendRule = 2 (server and client behind NAT; 1 when only the server is) "
    "and a restart (Microsoft KB 926179)."
)

CHECK = CheckMeta(
    id="LB-SNAT-ON-IKE",
    kind="snat-on-ike",
    severity=Severity.WARNING,
    title="Source address translation on IKE virtual service",
    windows_errors=(809, 789, 800),  # per finding: rules/checks/_windows.py
    remediation="Disable source address translation on the IKE virtual services. " + WINDOWS_MITIGATION,
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for lb, svc in ike_services(ctx):
        snat = svc.snat
        if snat.kind == "none":
            continue
        l2tp = any("l2tp" in s.protocols for s in servers_behind(ctx.model, lb, svc))
        windows = WINDOWS_MITIGATION + (L2TP_MITIGATION if l2tp else "")
        evidence, errors = scoped(ctx, CHECK, {"service": svc.describe(), "source_translation": snat.describe()},
                                  lb, svc)
        if snat.translates:
            title = (f"{lb.name}: {svc.kind} {svc.name} ({svc.listener()}) translates client source addresses "
                     f"({snat.kind}{' ' + snat.detail if snat.detail else ''}); VPN servers see one address")
            verify = f" Verify on the device: {snat.verify}." if snat.verify else ""
            yield Finding(CHECK, title, f"{lb.fix_snat(svc)} {windows}{verify}", device=lb.name, evidence=evidence,
                          windows_errors=errors)
        else:
            title = (f"{lb.name}: {svc.kind} {svc.name} ({svc.listener()}) may translate client source "
                     f"addresses ({snat.detail or 'not determinable from the config'})")
            fix = f"Verify on the device: {snat.verify or 'whether the VPN servers see client addresses'}. " \
                  f"{lb.fix_snat(svc)} {windows}"
            yield Finding(CHECK, title, fix, device=lb.name, evidence=evidence, severity=Severity.INFO,
                          windows_errors=errors)
