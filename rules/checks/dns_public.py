"""The collecting host's answer for each VPN server's name, once for the whole audit.

Roles whose resolvers the snapshot does not name (an MX proxying to its upstream DNS, an access point in NAT
mode forwarding to its own resolvers, a VLAN that relays DHCP) are taken to get the public view, which the
collecting host's resolver gives; a wrong or missing answer there concerns all of them, so it is one finding
(network and role null), of the kind its answer names."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.dns import HOST, Way, sibling_addresses, way_outcome
from auditor.vocab import Severity
from rules.checks import dns_unknown, dns_unresolved

CHECK = CheckMeta(
    id="DNS-PUBLIC-MISMATCH",
    kind="dns-mismatch",
    severity=Severity.ERROR,
    title="VPN server name resolves to another address publicly",
    windows_errors=(809, 868),
    remediation="Correct the public DNS record, or the audited address.",
    scope="global",
)

_WHO = ("roles whose own resolver the snapshot does not name (upstream DNS of an MX, an access point in NAT mode, "
        "a VLAN relaying DHCP) are taken to get this answer")


def run(ctx: AuditContext) -> Iterator[Finding]:
    for server in ctx.model.servers:
        records = ctx.dns_records.get((server.fqdn or "").lower().rstrip("."))
        if records is None:
            continue
        outcome = way_outcome(Way("the collecting host", (HOST,)), records, str(server.address),
                              sibling_addresses(server, ctx.model.servers))
        if outcome.status == "ok":
            continue
        evidence = {"server": server.name, "fqdn": records.fqdn, "address": server.address, "file": records.file,
                    "resolvers": outcome.resolvers, "status": outcome.status, "addresses": outcome.addresses,
                    "answer": outcome.reason}
        if outcome.status == "mismatch":
            check = CHECK
            title = (f"{records.fqdn} resolves to {', '.join(outcome.addresses)}, not {server.address}, at the "
                     "collecting host's resolver (the public view)")
            fix = (f"{outcome.reason}; {_WHO}. Correct the public record of {records.fqdn} to {server.address}, or, if "
                   f"{', '.join(outcome.addresses)} is the VPN server now, its `address` in audit.yaml.")
        elif outcome.status == "unresolved":
            check = dns_unresolved.CHECK
            title = f"{records.fqdn} does not resolve at the collecting host's resolver (the public view)"
            fix = f"{outcome.reason}; {_WHO}. Publish {records.fqdn} -> {server.address} in the public zone."
        else:
            check = dns_unknown.CHECK
            title = f"What {records.fqdn} resolves to publicly is unknown: the collecting host's resolver is silent"
            fix = (f"{outcome.reason}; {_WHO}. Collect again from a host whose resolver answers, or verify that "
                   f"`Resolve-DnsName {records.fqdn}` returns {server.address} from outside the network.")
        yield Finding(check, title, fix, None, None, None, evidence)
