"""Nothing on a Cisco perimeter device exposes the VPN server: no static NAT or port forward for its public
address (or not for every flow its protocols need). ESP gets its own wording: it has no ports, so a port
forward (PAT, port-based static NAT) can never carry it."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import VpnServer
from auditor.packets import ANY_ADDR, PROTO_NUMBERS, Interval, PacketSet
from auditor.vendors.cisco.adapter import CiscoDevice, cisco_fronts
from auditor.vocab import Severity
from rules.checks._windows import EVERY_TUNNEL_FAILED, IKE_FIRST, L2TP_NEGOTIATION, NOT_A_DROP

CHECK = CheckMeta(
    id="VPN-NAT-MISSING",
    kind="nat-missing",
    severity=Severity.ERROR,
    title="No static NAT or port forward exposes the VPN server",
    windows_errors=(809,),  # per finding: its protocols' (rules/protocols.yaml), narrowed below
    remediation="Add a static NAT (or a port forward per flow) from the public address to the server.",
)

_MISSING = {"own", "port-only", "outside", "no-route"}


def run(ctx: AuditContext) -> Iterator[Finding]:
    for server, device, public in cisco_fronts(ctx.model):
        yield from _device(ctx, device, server, public)


def _device(ctx: AuditContext, device: CiscoDevice, server: VpnServer, public: Interval) -> Iterator[Finding]:
    outside, _why = device.outside_interface(server)
    if outside is None or device.headend(server) is not None:  # the device is the server: nothing to expose
        return  # the path shows this device as unknown already
    hop = device.nat_hop(server, outside)
    missing: dict[str, list[str]] = {}
    reasons: list[str] = []
    esp_port_only = False
    errors: set[int] = set()
    for name in server.protocols:
        protocol = ctx.protocols.get(name)
        if protocol is None:
            continue
        # NAT-T, not ESP: a device that should translate the server is NAT on the path (inner flows never
        # reach it in the clear)
        for flow in protocol.nat_flows:
            packets = PacketSet.flow([ANY_ADDR], [public], PROTO_NUMBERS[flow.ip_protocol], flow.dst_port)
            for seg, kind in hop.classify(packets):
                if kind not in _MISSING:
                    continue
                missing.setdefault(name, [])
                if str(flow) not in missing[name]:
                    missing[name].append(str(flow))
                if seg.reason not in reasons:
                    reasons.append(seg.reason)
                esp_port_only |= kind == "port-only" and flow.dst_port is None
                errors.update(protocol.windows_errors)
    if not missing:
        return
    # 800 only when no protocol the server offers is exposed; 789 only when IKE's first exchange is
    if not all(name.lower() in missing for name in server.protocols):
        errors.discard(EVERY_TUNNEL_FAILED)
    if IKE_FIRST in missing.get("l2tp", []):
        errors.discard(L2TP_NEGOTIATION)
    errors -= NOT_A_DROP
    flows = sorted({f for fs in missing.values() for f in fs})
    exposed = [rule.rule.text for rule in hop.rules if rule.certain]
    if esp_port_only:
        title = (f"{device.name} only port-forwards {server.address} to '{server.name}': ESP cannot pass a "
                 f"port forward ({', '.join(flows)} not exposed)")
        fix = (f"On {device.name}, replace the port forwards for {server.address} with a 1:1 static NAT to the "
               "server (ESP has no ports), or configure the VPN to use NAT-T (UDP 4500) only.")
    else:
        title = (f"{device.name} does not expose {server.address} ('{server.name}') for "
                 f"{', '.join(flows)}: no static NAT or port forward")
        fix = (f"On {device.name}, add a static NAT from {server.address} to the server's real address, or a "
               f"port forward for each of {', '.join(flows)}.")
    yield Finding(CHECK, title, fix, None, None, device.name,
                  {"server": server.name, "address": server.address, "missing": missing,
                   "reasons": reasons, "nat_rules": exposed, "esp_port_forward": esp_port_only},
                  windows_errors=tuple(sorted(errors)) or None)
