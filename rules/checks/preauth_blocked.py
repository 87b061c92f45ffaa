"""A captive portal blocks VPN before sign-on: users who connect the VPN before the splash page fail."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from rules.checks._paths import fix_for, grouped, make, role_label, rule_evidence

CHECK = CheckMeta(
    id="VPN-PREAUTH-BLOCKED",
    kind="preauth-blocked",
    severity="warning",
    title="Captive portal blocks VPN before sign-on",
    windows_errors=(809,),
    remediation="Add the VPN server to the walled garden, or let non-HTTP traffic pass before sign-on.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for (role, server, protocol), paths in grouped(ctx).items():
        if role.phase != "pre-auth":
            continue
        blocked = [p for p in paths if p.trace.verdict in ("blocked", "partial")]
        if not blocked:
            continue
        hop, seg = blocked[0].trace.blocked[0]
        if hop.stage != "splash":
            continue  # blocked after the portal too: the post-auth finding covers it
        flows = [str(p.trace.flow) for p in blocked]
        title = (f"{ctx.protocols[protocol].title} to {server.name} is blocked for {role_label(role)} "
                 f"({', '.join(flows)}): {seg.rule.text if seg.rule else hop.stage}")
        yield make(CHECK, role, server, protocol, title, fix_for(hop, seg, flows, server),
                   {"flows": flows, "deciding": [rule_evidence(hop, seg)]})
