"""Helpers shared by the name-resolution checks (not a check itself: it defines no CHECK).

Each role's answer (`ctx.dns`, auditor/dns.py) becomes at most one finding per role and server, of the kind its
status names; roles whose resolvers the snapshot does not name are left to the public check (dns_public.py),
which reports the collecting host's answer once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.dns import RoleDns, WayOutcome
from auditor.wording import flows_text, role_label


def answers_of(ctx: AuditContext, status: str) -> Iterator[RoleDns]:
    """The roles (once each, whatever their phases) whose own resolvers give this status."""
    for answer in ctx.dns:
        if answer.named and answer.status == status:
            yield answer


def where(outcome: WayOutcome) -> str:
    """'VLAN 10 (meraki/.../vlans.json[1].dnsNameservers)' or 'SSID 1 (NAT mode), whose resolver is not in the
    snapshot: the collecting host's stands in'."""
    way = outcome.way
    if way.stand_in:
        return f"{way.label}: {way.stand_in}; the collecting host's resolver stands in"
    return way.source or way.label


def ways_evidence(answer: RoleDns) -> list[dict[str, Any]]:
    return [{"way": o.way.label, "source": o.way.source or None, "stand_in": o.way.stand_in or None,
             "resolvers": o.resolvers, "status": o.status, "addresses": o.addresses, "answer": o.reason}
            for o in answer.outcomes]


def traced_text(answer: RoleDns) -> str:
    """What tracing the other addresses showed, shortly ("" when nothing was traced): 'its clients dial
    198.51.100.20 instead, traced there: udp/500,4500 tcp/443 allowed (no device of the snapshot fronts it)'."""
    parts = []
    for address, flows in answer.traced.items():
        by_verdict: dict[str, list[str]] = {}
        for f in flows:
            by_verdict.setdefault(f["verdict"], []).append(f["flow"])
        verdicts = ", ".join(f"{flows_text(names)} {verdict}" for verdict, names in by_verdict.items())
        devices = flows[0]["devices"] if flows else []
        front = f"through {', '.join(devices)}" if devices else \
            f"no device of the snapshot fronts it, so nothing there is known to be {answer.server.name}"
        parts.append(f"its clients dial {address} instead, traced there: {verdicts} ({front})")
    return "; ".join(parts)


def resolvers_text(outcomes: list[WayOutcome]) -> str:
    """"VLAN 50's resolvers 10.31.50.5, 10.31.50.6"."""
    return "; ".join(f"{o.way.label}'s resolver{'s' if len(o.resolvers) > 1 else ''} {', '.join(o.resolvers)}"
                     if not o.way.stand_in else f"the collecting host's resolver (for {o.way.label})"
                     for o in outcomes)


def evidence(answer: RoleDns) -> dict[str, Any]:
    server = answer.server
    out: dict[str, Any] = {"server": server.name, "fqdn": answer.fqdn, "address": server.address,
                           "file": answer.file, "phase": answer.role.phase, "ways": ways_evidence(answer)}
    if answer.other_addresses:
        out["answers"] = answer.other_addresses
    if answer.traced:
        out["traced"] = answer.traced
    return out


def finding(check: CheckMeta, answer: RoleDns, title: str, remediation: str) -> Finding:
    role = answer.role
    network = {"id": role.network_id, "name": role.network_name} if role.network_id else None
    return Finding(check, title, remediation, network, role.describe(), None, evidence(answer))


def who(answer: RoleDns) -> str:
    """The role, without its phase: the name resolves the same before and after sign-on."""
    role = answer.role
    label = role_label(role)
    return label.removesuffix(" before sign-on")
