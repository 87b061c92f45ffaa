"""Filters around a load balancer that the snapshot shows but the audit does not evaluate (AWS security groups
and network ACLs, Azure network security groups): reported so a reader knows the verdicts do not cover them
(docs/semantics/load-balancers.md, cloud filters)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from rules.checks._lb import balancers

CHECK = CheckMeta(
    id="LB-FILTER-NOT-MODELLED",
    kind="unmodelled-filter",
    severity=Severity.WARNING,
    title="Filters in front of the VPN servers that the audit does not evaluate",
    remediation="Check these filters by hand: each must let UDP 500, UDP 4500 (and TCP 443 for SSTP) from the "
                "clients reach the load balancer and its targets. The verdicts of this audit do not cover them.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for lb in sorted(balancers(ctx), key=lambda d: d.name):
        if not lb.not_modelled:
            continue
        what = "; ".join(dict.fromkeys(w for w, _ in lb.not_modelled))
        evidence = {"filters": [{"what": w, "file": f} for w, f in lb.not_modelled]}
        yield Finding(CHECK, f"{lb.name}: {what}: not evaluated (the verdicts do not cover them)",
                      CHECK.remediation, None, None, lb.name, evidence)
