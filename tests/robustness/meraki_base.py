"""A small Meraki snapshot that exercises every layer (splash, SSID L3/L7, group policies, iPSKs, MX, VLANs,
policy objects) with a mix of allowed, blocked, partial and unknown verdicts: the seed for fuzzing."""

from __future__ import annotations

from pathlib import Path

from tests.snapshot_builder import MerakiSnapshot, allow, deny

POLICIES = [
    {"groupPolicyId": "101", "name": "Guests", "splashAuthSettings": "network default",
     "firewallAndTrafficShaping": {"settings": "custom", "l7FirewallRules": [],
                                   "l3FirewallRules": [deny("udp", "500,4500", comment="no ike")]}},
    {"groupPolicyId": "102", "name": "Staff", "splashAuthSettings": "bypass",
     "firewallAndTrafficShaping": {"settings": "network default"}},
    {"groupPolicyId": "103", "name": "Quiet", "vlanTagging": {"settings": "custom", "vlanId": "20"},
     "firewallAndTrafficShaping": {"settings": "ignore"}},
]


def build(root: Path) -> MerakiSnapshot:
    snap = MerakiSnapshot(root)
    snap.write("meraki/organizations/1/policyObjects.json",
               [{"id": "11", "name": "vpn", "type": "cidr", "cidr": "198.51.100.0/24", "groupIds": ["21"]}])
    snap.write("meraki/organizations/1/policyObjects/groups.json",
               [{"id": "21", "name": "servers", "category": "NetworkObjectGroup", "objectIds": ["11"]}])
    snap.network("N_1", "Store", vlans=[{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
                                        {"id": 20, "name": "Guests", "subnet": "10.0.20.0/24",
                                         "groupPolicyId": "101"}],
                 mx_rules=[deny("udp", "1701", "OBJ(11)", comment="no l2tp"),
                           allow("tcp", "443", "GRP(21)", comment="sstp"),
                           deny("tcp", "443", "VLAN(20).*", srcCidr="VLAN(20).*")],
                 policies=POLICIES)
    snap.ssid("N_1", 0, "Corp", l7=[{"policy": "deny", "type": "port", "value": "1701"}])
    snap.ssid("N_1", 1, "Guest", rules=[deny("udp", "500", comment="block ike")],
              splashPage="Click-through splash page", walledGardenEnabled=True,
              walledGardenRanges=["198.51.100.10/32"], splash={"blockAllTrafficBeforeSignOn": True})
    snap.ssid("N_1", 2, "Staff-iPSK", authMode="ipsk-without-radius", ipAssignmentMode="NAT mode",
              ipsks=[{"id": "1", "name": "contractor", "groupPolicyId": "101", "passphrase": "<redacted>"},
                     {"id": "2", "name": "staff", "groupPolicyId": "102", "passphrase": "<redacted>"}])
    snap.ssid("N_1", 3, "Radius", authMode="8021x-radius", rules=[allow("udp", "500,4500", "198.51.100.10")],
              splashPage="Click-through splash page", splash={"blockAllTrafficBeforeSignOn": False})
    snap.network("N_2", "Kiosk", products=("wireless",), policies=[])
    snap.ssid("N_2", 0, "Kiosk", rules=[deny("any", "Any", "198.51.100.0/24")])
    return snap
