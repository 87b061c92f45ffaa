"""What a role's resolver answers for the VPN server's name cannot be told: it could not be queried from the
collecting host, was not recorded, or the role's possible resolvers (a DNS rewrite, every VLAN an AP may be in)
answer differently. The finding says what to verify."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.vocab import Severity
from rules.checks._dns import answers_of, finding, traced_text, where, who

CHECK = CheckMeta(
    id="DNS-UNKNOWN",
    kind="dns-unknown",
    severity=Severity.WARNING,
    title="What the VPN server name resolves to is unknown for a role",
    windows_errors=(809, 868),
    remediation="Resolve the name from a client of the role and compare it with the audited address.",
    scope="network",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for answer in answers_of(ctx, "unknown"):
        server = answer.server
        outcomes = answer.outcomes
        rewrite = next((o for o in outcomes if "DNS rewrite" in o.way.label), None)
        if len(outcomes) > 1:
            parts = "; ".join(f"{where(o)}: {o.status}, {o.reason}" for o in outcomes)
            said = f"Its possible resolvers disagree: {parts}"
            why = "its possible resolvers disagree" + (" (DNS rewrite)" if rewrite is not None else "")
        else:
            said = f"{outcomes[0].reason} ({where(outcomes[0])})"
            why = f"{outcomes[0].way.label} resolvers could not be queried" if outcomes[0].resolvers else \
                f"{outcomes[0].way.label} resolvers are not known"
        title = f"What {answer.fqdn} resolves to for {who(answer)} is unknown: {why}"
        traced = traced_text(answer)
        verify = f"`Resolve-DnsName {answer.fqdn}` on a client of {who(answer)} must return {server.address} only"
        if rewrite is not None and len(outcomes) > 1:
            fix = (f"{said}. Verify whether the SSID's DNS rewrite ({rewrite.way.source}) applies to these clients "
                   f"(the Meraki documentation does not say for bridged SSIDs): {verify}; make the rewrite's servers "
                   f"{', '.join(rewrite.resolvers) or '(none named)'} and the VLAN's agree on {server.address}.")
        else:
            unreached = ", ".join(dict.fromkeys(r for o in outcomes if o.status == "unknown" for r in o.resolvers))
            ask = (f"; or query {unreached} from inside the network (`Resolve-DnsName {answer.fqdn} -Server "
                   "ADDRESS`), or collect again from a host that reaches it") if unreached else ""
            fix = f"{said}. Verify that {verify}{ask}."
        if traced:
            fix += f" Where it may lead, {traced}."
        yield finding(CHECK, answer, title, fix)
