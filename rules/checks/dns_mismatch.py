"""The VPN server's name resolves, for a role, to addresses that are not the audited `address`: its clients dial
another address (an old server, an internal one), and the verdicts traced to `address` do not describe them."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from rules.checks._dns import answers_of, finding, traced_text, where, who

CHECK = CheckMeta(
    id="DNS-MISMATCH",
    kind="dns-mismatch",
    severity=Severity.ERROR,
    title="VPN server name resolves to another address",
    windows_errors=(809, 868),
    remediation="Make the resolver answer the audited address, or audit the address it gives.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for answer in answers_of(ctx, "mismatch"):
        server = answer.server
        wrong = [o for o in answer.outcomes if o.status == "mismatch"]
        others = ", ".join(answer.other_addresses)
        title = (f"{answer.fqdn} resolves to {others}, not {server.address}, for {who(answer)} "
                 f"({', '.join(o.way.label for o in wrong)} resolvers)")
        traced = traced_text(answer)
        said = "; ".join(f"{o.reason} ({where(o)})" for o in wrong)
        resolvers = ", ".join(dict.fromkeys(r for o in wrong for r in o.resolvers))
        sources = "; ".join(dict.fromkeys(o.way.source for o in wrong if o.way.source))
        fix = (f"{said}. Make {resolvers} answer {answer.fqdn} with {server.address} only (or hand out resolvers "
               f"that do: {sources}); if {others} is the VPN server now, correct `address` of '{server.name}' in "
               "audit.yaml and audit again." + (f" Meanwhile {traced}." if traced else ""))
        yield finding(CHECK, answer, title, fix)
