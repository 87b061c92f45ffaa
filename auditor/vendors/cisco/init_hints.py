"""`vpn-auditor init` hints from the Cisco configurations: static NAT that maps a public address to a host, and
inbound or global ACL permits to one host."""

from __future__ import annotations

from auditor.init_config import Evidence, Finder, flows_of, hosts, origin_text
from auditor.model import Action, Model
from auditor.packets import PacketSet
from auditor.snapshot import Snapshot
from auditor.vendors.cisco.adapter import CiscoDevice


def server_hints(snapshot: Snapshot, model: Model, finder: Finder) -> None:
    for device in model.devices.values():
        if not isinstance(device, CiscoDevice):
            continue
        config = device.config
        for entry in config.nat:
            if entry.unknown:
                continue
            where = f"{config.path}:{entry.line}"
            mapped_hosts = list(entry.mapped)
            if entry.mapped_interface:  # `... interface IF`: the interface's own address is the public one
                iface = config.interface(entry.mapped_interface)
                mapped_hosts += iface.addresses if iface is not None else []
            for mapped in hosts(mapped_hosts):
                match = PacketSet.of(dst=[mapped], proto=list(entry.proto) if entry.proto else [(0, 255)],
                                     dport=entry.mapped_ports or [(0, 65535)])
                evidence = Evidence(where, f"{entry.text} (every port)" if entry.proto is None else entry.text,
                                    flows_of(match, mapped), device.name, device.tier)
                for real in entry.real:
                    finder.translation(real, mapped, evidence)
                if evidence.flows:
                    finder.add(mapped, evidence)
        for label, rules in device.rule_lists():
            if " out on " in label:
                continue  # inbound and global lists decide what the internet may reach
            for rule in rules.rules:
                if rule.action is not Action.PERMIT or not rule.certain or rule.synthetic:
                    continue
                for host in hosts(rule.match.destinations()):
                    flows = flows_of(rule.match, host)
                    what = rule.text if rule.text.startswith("access-list") else f"{label}: {rule.text}"
                    if flows:
                        finder.add(host, Evidence(origin_text(rule.origin, config.path), what, flows, device.name,
                                                  device.tier))
