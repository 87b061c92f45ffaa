"""`vpn-auditor init` hints from the Meraki data: MX inbound forwards and NAT rules (a server behind the MX) and
MX uplink addresses (the MX itself, when it runs Client VPN)."""

from __future__ import annotations

from auditor.init_config import Evidence, Finder, flows_of, origin_text
from auditor.model import Model
from auditor.snapshot import Snapshot
from auditor.vendors.meraki.front import all_fronts


def server_hints(snapshot: Snapshot, model: Model, finder: Finder) -> None:
    for front in all_fronts(snapshot):
        device = f"meraki/{front.net_name}"
        for public, forward in front.inbound_forwards():
            evidence = Evidence(origin_text(forward.rule.origin, device), f"{front.net_name}: {forward.rule.text}",
                                flows_of(forward.match), device)
            if public is None:
                if evidence.flows:
                    evidence.what += " (the MX's uplink address is not in the snapshot)"
                    finder.unplaced.append(evidence)
                continue
            finder.translation(forward.lan, public, evidence)
            if evidence.flows:
                finder.add(public, evidence)
        for iface, address in front.uplinks or []:
            finder.add(address, Evidence(front.uplinks_origin or device, f"{front.net_name} MX uplink {iface}; "
                                         "Client VPN, if enabled, listens here (its settings are not collected)",
                                         frozenset(), device), client_vpn=True)
