"""Helpers shared by the load-balancer checks (not a check itself: it defines no CHECK)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from auditor.checks import AuditContext, CheckMeta
from auditor.lb_model import IKE_PORTS, UDP, IkePair, LoadBalancer, VirtualService, lb_devices
from auditor.model import Model, VpnServer
from auditor.packets import ANY_ADDR, V4_BASE, PacketSet, address_interval
from rules.checks._windows import IKE_FLOWS, device_tags, protocols_over

SSTP_FLOWS = frozenset({"tcp/443"})


def balancers(ctx: AuditContext) -> list[LoadBalancer]:
    return lb_devices(ctx.model.devices.values())


def server_addresses(model: Model) -> list[str]:
    """Addresses VPN clients' traffic is sent to, before and after the devices in front (a perimeter's
    static NAT turns the public address into the load balancer's VIP behind it)."""
    return list(dict.fromkeys(a for server in model.servers for a in _addresses(model, server)))


def _addresses(model: Model, server: VpnServer) -> list[str]:
    out = [server.address]
    upstream = [model.devices[n] for n in server.path if n in model.devices] or \
        [d for d in model.devices.values() if not isinstance(d, LoadBalancer) and d.owns(server)]
    for device in upstream:
        if isinstance(device, LoadBalancer):
            break
        packets = PacketSet.flow([ANY_ADDR], [address_interval(server.address)], UDP, IKE_PORTS[0])
        for hop in device.hops(server):
            # every segment's destination counts, denied ones too: this asks where traffic is addressed,
            # not whether it gets there (the trace answers that)
            leaving = [seg.leaving for seg in hop.apply(packets)]
            packets = PacketSet()
            for part in leaving:
                packets = packets | part
        out.extend(_hosts(packets))
    return out


def _hosts(packets: PacketSet) -> list[str]:
    hosts = []
    for lo, hi in packets.destinations():
        if lo == hi:
            hosts.append(str(ipaddress.ip_address(lo - V4_BASE) if lo >= V4_BASE else ipaddress.ip_address(lo)))
    return hosts


def servers_behind(model: Model, lb: LoadBalancer, svc: VirtualService | None = None) -> list[VpnServer]:
    """VPN servers this device fronts: by audit.yaml `path`, or a VIP equal to the server's address (or to
    the address a perimeter device in front translates it to)."""
    out = []
    for server in model.servers:
        if lb.name in server.path:
            out.append(server)
            continue
        for text in _addresses(model, server):
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if svc is not None:
                fronted = svc.address is not None and ip in svc.address
            else:
                fronted = any(s.address is not None and ip in s.address for s in lb.services)
            if fronted:
                out.append(server)
                break
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


def scoped(ctx: AuditContext, check: CheckMeta, evidence: dict[str, Any], lb: LoadBalancer, svc: VirtualService,
           flows: frozenset[str] = IKE_FLOWS) -> tuple[dict[str, Any], tuple[int, ...]]:
    """Evidence naming the servers behind the service and the protocols it affects (`protocols`), and the
    Windows errors it can cause for them (rules/checks/_windows.py)."""
    servers = servers_behind(ctx.model, lb, svc)
    evidence = with_servers(evidence, ctx.model, lb, svc)
    protocols = protocols_over(ctx, servers, flows)
    if protocols:
        evidence = {**evidence, "protocols": protocols}
    return evidence, device_tags(check.windows_errors, protocols, servers)
