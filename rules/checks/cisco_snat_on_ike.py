"""Source address translation of VPN clients on a Cisco device in front of the server: an ASA twice NAT that
publishes the server and hides the clients behind one address (`nat (outside,dmz) source dynamic any interface
destination static PUB REAL`). The server then sees every client from that address, which Windows IKEEXT does not
expect (the same problem as a load balancer's SNAT: docs/semantics/cisco.md, inbound twice NAT)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Device, VpnServer
from auditor.packets import ANY_ADDR, PROTO_NUMBERS, PacketSet
from auditor.vocab import Severity
from rules.checks._devices import fronts
from rules.checks._windows import IKE_FLOWS, device_tags, protocols_over
from rules.checks.snat_on_ike import L2TP_MITIGATION, WINDOWS_MITIGATION

CHECK = CheckMeta(
    id="CISCO-SNAT-ON-IKE",
    kind="snat-on-ike",
    severity=Severity.WARNING,
    title="A Cisco NAT in front of the VPN server translates the clients' source addresses on IKE",
    windows_errors=(809, 789, 800),  # per finding: rules/checks/_windows.py
    remediation="Publish the server with a NAT that keeps the clients' addresses. " + WINDOWS_MITIGATION,
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    for server, device, public in fronts(ctx.model):
        yield from _device(ctx, device, server, public)


def _device(ctx: AuditContext, device: Device, server: VpnServer, public: tuple[int, int]) -> Iterator[Finding]:
    hop = device.inbound_nat(server)
    if hop is None:  # nothing translates here, or the device is the server: nothing to expose
        return
    by_rule = {id(nat.rule): nat for nat in hop.translations if nat.hides}
    found: dict[int, list[str]] = {}
    for flow in sorted(IKE_FLOWS):
        proto, _, port = flow.partition("/")
        packets = PacketSet.flow([ANY_ADDR], [public], PROTO_NUMBERS[proto], int(port))
        for seg, _kind in hop.classify(packets):
            nat = by_rule.get(id(seg.rule)) if seg.rule is not None else None
            if nat is not None:
                found.setdefault(id(nat.rule), []).append(flow)
    for key, flows in found.items():
        nat = by_rule[key]
        rule = nat.rule
        protocols = protocols_over(ctx, [server], IKE_FLOWS)
        fix = (f"On {device.name}, replace {rule.label} (`{rule.text}`) with a NAT that keeps the clients' "
               f"addresses: {nat.keeping_clients()}. ")
        windows = WINDOWS_MITIGATION + (L2TP_MITIGATION if "l2tp" in protocols else "")
        evidence = {"server": server.name, "address": server.address, "flows": flows,
                    "nat_rule": {"text": rule.text, "source": str(rule.origin) if rule.origin else None},
                    "source_translation": nat.hides}
        if protocols:
            evidence["protocols"] = protocols
        title = (f"{device.name}: {rule.label} publishes {server.address} ('{server.name}') and translates the "
                 f"clients' source addresses on {', '.join(flows)} ({nat.hides}); the VPN server sees one address")
        yield Finding(CHECK, title, fix + windows, None, None, device.name, evidence,
                      windows_errors=device_tags(CHECK.windows_errors, protocols, [server]))

