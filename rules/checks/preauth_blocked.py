"""A captive portal blocks VPN before sign-on: users who connect the VPN before the splash page fail.

One finding per portal and role, listing every protocol it blocks."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity, Verdict
from auditor.wording import flows_text, role_label
from rules.checks._paths import (
    by_cause,
    failing_groups,
    first_block,
    fix_for,
    headline,
    make,
    rule_evidence,
)
from rules.checks._windows import path_tags

CHECK = CheckMeta(
    id="VPN-PREAUTH-BLOCKED",
    kind="preauth-blocked",
    severity=Severity.WARNING,
    title="Captive portal blocks VPN before sign-on",
    windows_errors=(809, 800),  # per finding: rules/checks/_windows.py
    remediation="Add the VPN server to the walled garden, or let non-HTTP traffic pass before sign-on.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    failing = []
    for (role, _server, _protocol), paths in failing_groups(ctx).items():
        if role.phase != "pre-auth":
            continue
        # Flows blocked after the portal are blocked after sign-on too: the post-auth finding covers them.
        failing += [(p, *first_block(p)) for p in paths
                    if p.trace.verdict in (Verdict.BLOCKED, Verdict.PARTIAL) and first_block(p)[0].stage == "splash"]
    for cause in by_cause(failing):
        hop, seg, flows = cause.hop, cause.seg, cause.flows
        assert hop is not None and seg is not None
        protocols = cause.protocols
        title = (f"{headline(ctx, protocols, cause.server)} blocked for {role_label(cause.role)} by the captive "
                 f"portal: {flows_text(flows)}")
        yield make(CHECK, cause.role, cause.server, protocols, title, fix_for(hop, seg, flows, cause.server),
                   {"flows": flows, "deciding": [rule_evidence(hop, seg)]},
                   path_tags(ctx, CHECK.windows_errors, protocols, flows, [(cause.role, cause.server)]))
