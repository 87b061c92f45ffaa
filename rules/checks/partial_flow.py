"""A required VPN flow is blocked for some sources or some paths of a role and allowed (or unknown) for others."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from rules.checks._paths import client_side, first_block, fix_for, grouped, make, role_label, rule_evidence

CHECK = CheckMeta(
    id="VPN-PARTIAL",
    kind="partial-flow",
    severity="error",
    title="VPN flow blocked for some sources",
    windows_errors=(809, 800),
    remediation="Allow the flow for the blocked sources above the deciding rule.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for (role, server, protocol), paths in grouped(ctx).items():
        if role.phase == "pre-auth" or any(p.trace.verdict == "blocked" for p in paths):
            continue  # fully blocked flows are blocked_flow's; splash phases are preauth_blocked's
        partial = [p for p in paths
                   if (p.trace.verdict == "partial" or (p.trace.verdict == "unknown" and p.trace.blocked))
                   and client_side(role, first_block(p)[0])]
        if not partial:
            continue
        hop, seg = partial[0].trace.blocked[0]
        flows = [str(p.trace.flow) for p in partial]
        title = (f"{ctx.protocols[protocol].title} to {server.name} is blocked for part of {role_label(role)} "
                 f"(sources {seg.packets.describe_sources()}): {', '.join(flows)} at {hop.device} ({hop.stage})")
        yield make(CHECK, role, server, protocol, title, fix_for(hop, seg, flows, server),
                   {"flows": flows, "reasons": [p.trace.reason for p in partial],
                    "deciding": [rule_evidence(h, s) for p in partial for h, s in p.trace.blocked[:1]]},
                   ctx.protocols[protocol].windows_errors or CHECK.windows_errors)
