"""The evidence cannot decide whether a required VPN flow gets through: say why and what would settle it."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from rules.checks._paths import grouped, make, role_label

CHECK = CheckMeta(
    id="VPN-UNKNOWN",
    kind="unknown-flow",
    severity="warning",
    title="VPN flow cannot be decided from the configuration",
    windows_errors=(809,),
    remediation="Collect the missing data or resolve the ambiguity named in the reason, then audit again.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for (role, server, protocol), paths in grouped(ctx).items():
        unknown = [p for p in paths if p.trace.verdict == "unknown"]
        if not unknown or any(p.trace.verdict == "blocked" for p in paths):
            continue
        first = unknown[0].trace
        where = f" at {first.unknown[0][0].device} ({first.unknown[0][0].stage})" if first.unknown else ""
        title = (f"{ctx.protocols[protocol].title} to {server.name} cannot be decided for {role_label(role)}: "
                 f"{', '.join(str(p.trace.flow) for p in unknown)} unknown{where}")
        yield make(CHECK, role, server, protocol, title, first.reason + " " + CHECK.remediation,
                   {"flows": [str(p.trace.flow) for p in unknown], "reasons": [p.trace.reason for p in unknown]})
