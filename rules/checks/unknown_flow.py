"""The evidence cannot decide whether a required VPN flow gets through: say why and what would settle it.

One finding per cause (the hop and rule, or the reason, that leaves the flows undecided), whichever protocols
need those flows."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity, Verdict
from auditor.wording import flows_text, role_label
from rules.checks._paths import at, by_cause, failing_groups, headline, make
from rules.checks._windows import path_tags

CHECK = CheckMeta(
    id="VPN-UNKNOWN",
    kind="unknown-flow",
    severity=Severity.WARNING,
    title="VPN flow cannot be decided from the configuration",
    windows_errors=(809, 800),  # per finding: rules/checks/_windows.py
    remediation="Collect the missing data or resolve the ambiguity named in the reason, then audit again.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    failing = []
    for paths in failing_groups(ctx).values():
        if any(p.trace.verdict == Verdict.BLOCKED for p in paths):
            continue
        failing += [(p, *(p.trace.unknown[0] if p.trace.unknown else (None, None)))
                    for p in paths if p.trace.verdict == Verdict.UNKNOWN]
    for cause in by_cause(failing):
        first = cause.paths[0].trace
        where = f" at {at(cause.hop, cause.seg, cause.role)}" if cause.hop is not None else ""
        protocols = cause.protocols
        title = (f"{headline(ctx, protocols, cause.server)} unknown for {role_label(cause.role)}: "
                 f"{flows_text(cause.flows)}{where}")
        yield make(CHECK, cause.role, cause.server, protocols, title, first.reason + " " + CHECK.remediation,
                   {"flows": cause.flows, "reasons": [p.trace.reason for p in cause.distinct()]},
                   path_tags(ctx, CHECK.windows_errors, protocols, cause.flows, [(cause.role, cause.server)]))
