"""Nothing on a perimeter device in front of the VPN server exposes it: no static NAT or port forward for its
public address (or not for every flow its protocols need). ESP gets its own wording: it has no ports, so a port
forward (PAT, port-based static NAT) can never carry it. Devices say how they expose a server through
`Device.inbound_nat` (Cisco ASA and IOS do)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Device, Exposure, VpnServer
from auditor.packets import ANY_ADDR, PROTO_NUMBERS, Interval, PacketSet
from auditor.vocab import Severity
from rules.checks._devices import fronts
from rules.checks._windows import EVERY_TUNNEL_FAILED, IKE_FIRST, L2TP_NEGOTIATION, NOT_A_DROP

CHECK = CheckMeta(
    id="VPN-NAT-MISSING",
    kind="nat-missing",
    severity=Severity.ERROR,
    title="No static NAT or port forward exposes the VPN server",
    windows_errors=(809,),  # per finding: its protocols' (rules/protocols.yaml), narrowed below
    remediation="Add a static NAT (or a port forward per flow) from the public address to the server.",
)

_MISSING = frozenset({Exposure.OWN, Exposure.PORT_ONLY, Exposure.OUTSIDE, Exposure.NO_ROUTE})  # nothing forwards them


def run(ctx: AuditContext) -> Iterator[Finding]:
    for server, device, public in fronts(ctx.model):
        yield from _device(ctx, device, server, public)


def _device(ctx: AuditContext, device: Device, server: VpnServer, public: Interval) -> Iterator[Finding]:
    hop = device.inbound_nat(server)
    if hop is None:  # nothing translates here, or the device is the server, or its path shows it unknown already
        return
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
                esp_port_only |= kind is Exposure.PORT_ONLY and flow.dst_port is None
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
    exposed = [nat.rule.text for nat in hop.translations if nat.certain]
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
