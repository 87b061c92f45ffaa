"""A required VPN flow is blocked for every source of a role (post-auth, or any phase of a non-splash SSID)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from rules.checks._paths import client_side, first_block, fix_for, grouped, make, role_label, rule_evidence

CHECK = CheckMeta(
    id="VPN-BLOCKED",
    kind="blocked-flow",
    severity="error",
    title="VPN flow blocked",
    windows_errors=(809, 800),
    remediation="Allow the blocked flow above the deciding rule.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for (role, server, protocol), paths in grouped(ctx).items():
        if role.phase == "pre-auth":
            continue  # preauth_blocked reports the splash phase
        blocked = [p for p in paths if p.trace.verdict == "blocked" and client_side(role, first_block(p)[0])]
        if not blocked:
            continue
        hop, seg = blocked[0].trace.blocked[0]
        flows = [str(p.trace.flow) for p in blocked]
        title = (f"{ctx.protocols[protocol].title} to {server.name} is blocked for {role_label(role)}: "
                 f"{', '.join(flows)} denied at {hop.device} ({hop.stage})")
        yield make(CHECK, role, server, protocol, title, fix_for(hop, seg, flows, server),
                   {"flows": flows, "deciding": [rule_evidence(h, s) for p in blocked
                                                 for h, s in p.trace.blocked[:1]]},
                   ctx.protocols[protocol].windows_errors or CHECK.windows_errors)
