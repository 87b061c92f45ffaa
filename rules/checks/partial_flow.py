"""A required VPN flow is blocked for some sources or some paths of a role and allowed (or unknown) for others.

One finding per cause: the flows one rule partly blocks for a role, whichever protocols need them."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity, Verdict
from auditor.wording import flows_text, role_label
from rules.checks._paths import (
    at,
    by_cause,
    client_side,
    failing_groups,
    first_block,
    fix_for,
    headline,
    make,
    rule_evidence,
)
from rules.checks._windows import path_tags

CHECK = CheckMeta(
    id="VPN-PARTIAL",
    kind="partial-flow",
    severity=Severity.ERROR,
    title="VPN flow blocked for some sources",
    windows_errors=(809, 800),  # per finding: rules/checks/_windows.py
    remediation="Allow the flow for the blocked sources above the deciding rule.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    failing = []
    for (role, _server, _protocol), paths in failing_groups(ctx).items():
        if role.phase == "pre-auth" or any(p.trace.verdict == Verdict.BLOCKED for p in paths):
            continue  # fully blocked flows are blocked_flow's; splash phases are preauth_blocked's
        failing += [(p, *first_block(p)) for p in paths
                    if (p.trace.verdict == Verdict.PARTIAL or (p.trace.verdict == Verdict.UNKNOWN and p.trace.blocked))
                    and client_side(role, first_block(p)[0])]
    for cause in by_cause(failing):
        hop, seg, flows = cause.hop, cause.seg, cause.flows
        assert hop is not None and seg is not None
        protocols = cause.protocols
        title = (f"{headline(ctx, protocols, cause.server)} blocked for part of {role_label(cause.role)} "
                 f"(sources {seg.packets.describe_sources()}): {flows_text(flows)} at {at(hop, seg, cause.role)}")
        distinct = cause.distinct()
        yield make(CHECK, cause.role, cause.server, protocols, title, fix_for(hop, seg, flows, cause.server),
                   {"flows": flows, "reasons": [p.trace.reason for p in distinct],
                    "deciding": [rule_evidence(*first_block(p)) for p in distinct]},
                   path_tags(ctx, CHECK.windows_errors, protocols, flows, [(cause.role, cause.server)]))
