"""The VPN server's name does not resolve for a role (NXDOMAIN, or no A or AAAA record) at the resolvers it
uses: Windows reports error 868 before any packet is sent."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from rules.checks._dns import answers_of, finding, where, who

CHECK = CheckMeta(
    id="DNS-UNRESOLVED",
    kind="dns-unresolved",
    severity=Severity.ERROR,
    title="VPN server name does not resolve",
    windows_errors=(868,),
    remediation="Publish the name at the resolvers the role uses.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for answer in answers_of(ctx, "unresolved"):
        server = answer.server
        said = "; ".join(f"{o.reason} ({where(o)})" for o in answer.outcomes)
        title = (f"{answer.fqdn} does not resolve for {who(answer)} "
                 f"({', '.join(o.way.label for o in answer.outcomes)} resolvers)")
        resolvers = ", ".join(dict.fromkeys(r for o in answer.outcomes for r in o.resolvers))
        fix = (f"{said}. Add {answer.fqdn} -> {server.address} to the zone {resolvers} serve (a split-horizon zone "
               "must hold the VPN name too), or forward that name to a resolver that has it.")
        yield finding(CHECK, answer, title, fix)
