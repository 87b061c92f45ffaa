"""Helpers shared by the load-balancer checks (not a check itself: it defines no CHECK)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from auditor.checks import AuditContext
from auditor.lb_model import IkePair, LoadBalancer, VirtualService, lb_devices
from auditor.model import Model, VpnServer


def balancers(ctx: AuditContext) -> list[LoadBalancer]:
    return lb_devices(ctx.model.devices.values())


def server_addresses(model: Model) -> list[str]:
    return [s.address for s in model.servers]


def servers_behind(model: Model, lb: LoadBalancer, svc: VirtualService | None = None) -> list[VpnServer]:
    """VPN servers this device fronts: by audit.yaml `path`, or a VIP equal to the server's address."""
    out = []
    for server in model.servers:
        if lb.name in server.path:
            out.append(server)
            continue
        try:
            ip = ipaddress.ip_address(server.address)
        except ValueError:
            continue
        fronted = lb.owns(server) if svc is None else (svc.address is not None and ip in svc.address)
        if fronted:
            out.append(server)
    return out


def pairs(ctx: AuditContext) -> Iterator[tuple[LoadBalancer, IkePair]]:
    for lb in balancers(ctx):
        for pair in lb.ike_pairs(server_addresses(ctx.model)):
            yield lb, pair


def ike_services(ctx: AuditContext) -> Iterator[tuple[LoadBalancer, VirtualService]]:
    for lb in balancers(ctx):
        yield from ((lb, svc) for svc in lb.ike_services(lb.ike_vips(server_addresses(ctx.model))))


def sstp_services(ctx: AuditContext) -> Iterator[tuple[LoadBalancer, VirtualService]]:
    """TCP 443 services on addresses that carry IKE or are VPN server addresses (other 443 virtuals on the
    same device are ordinary web sites, not SSTP)."""
    for lb in balancers(ctx):
        vips = lb.ike_vips(server_addresses(ctx.model))
        yield from ((lb, svc) for svc in lb.sstp_services(vips))


def server_names(model: Model, lb: LoadBalancer, svc: VirtualService) -> list[str]:
    return [s.name for s in servers_behind(model, lb, svc)]


def with_servers(evidence: dict[str, Any], model: Model, lb: LoadBalancer, svc: VirtualService) -> dict[str, Any]:
    names = server_names(model, lb, svc)
    if names:
        evidence = {**evidence, "servers": names}
    return evidence
