"""A small Meraki snapshot that exercises every layer (splash, SSID L3/L7, group policies, iPSKs, MX, VLANs,
policy objects) with a mix of allowed, blocked, partial and unknown verdicts: the seed for fuzzing."""

from __future__ import annotations

from pathlib import Path

from tests.snapshot_builder import MerakiSnapshot, allow, deny

POLICIES = [
    {"groupPolicyId": "101", "name": "Guests", "splashAuthSettings": "network default",
     "firewallAndTrafficShaping": {"settings": "custom", "l3FirewallRules": [deny("udp", "500,4500", comment="no ike")],
                                   # VLAN 20's policy: its L7 rules apply at the MX (one may match the server)
                                   "l7FirewallRules": [{"policy": "deny", "type": "ipRange", "value": "203.0.113.0/24"},
                                                       {"policy": "deny", "type": "port", "value": "443"}]}},
    {"groupPolicyId": "102", "name": "Staff", "splashAuthSettings": "bypass",
     "firewallAndTrafficShaping": {"settings": "network default"}},
    {"groupPolicyId": "103", "name": "Quiet", "vlanTagging": {"settings": "custom", "vlanId": "20"},
     "firewallAndTrafficShaping": {"settings": "ignore"}},
    # In force on weekday evenings only (a RADIUS role of SSID 3): traced in and out of force.
    {"groupPolicyId": "104", "name": "Evenings", "vlanTagging": {"settings": "custom", "vlanId": "20"},
     "firewallAndTrafficShaping": {"settings": "network default"},
     "scheduling": {"enabled": True, **{day: {"active": day not in ("saturday", "sunday"), "from": "18:00",
                                              "to": "23:30"}
                                        for day in ("monday", "tuesday", "wednesday", "thursday", "friday",
                                                    "saturday", "sunday")}}},
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
    # Clients of the lobby's APs land in VLAN 20 (its group policy blocks IKE), the others in VLAN 10.
    snap.ssid("N_1", 0, "Corp", l7=[{"policy": "deny", "type": "port", "value": "1701"}],
              apTagsAndVlanIds=[{"tags": ["lobby"], "vlanId": 20}])
    snap.ssid("N_1", 1, "Guest", rules=[deny("udp", "500", comment="block ike")],
              splashPage="Click-through splash page", walledGardenEnabled=True,
              walledGardenRanges=["198.51.100.10/32"], splash={"blockAllTrafficBeforeSignOn": True})
    # Windows clients of the iPSK SSID get the Guests policy by device type
    snap.ssid("N_1", 2, "Staff-iPSK", authMode="ipsk-without-radius", ipAssignmentMode="NAT mode",
              device_types={"enabled": True, "deviceTypePolicies": [
                  {"deviceType": "Windows", "devicePolicy": "Group policy", "groupPolicyId": 101},
                  {"deviceType": "Android", "devicePolicy": "Allowed"}]},
              ipsks=[{"id": "1", "name": "contractor", "groupPolicyId": "101", "passphrase": "<redacted>"},
                     {"id": "2", "name": "staff", "groupPolicyId": "102", "passphrase": "<redacted>"}])
    snap.ssid("N_1", 3, "Radius", authMode="8021x-radius", rules=[allow("udp", "500,4500", "198.51.100.10")],
              splashPage="Click-through splash page", splash={"blockAllTrafficBeforeSignOn": False},
              radiusOverride=False, radiusGuestVlanEnabled=True, radiusGuestVlanId=20,
              namedVlans={"tagging": {"enabled": False, "defaultVlanName": "staff", "byApTags": []},
                          "radius": {"guestVlan": {"enabled": False, "name": "guests"}}})
    # A sign-on splash page with Active Directory: any policy may be assigned at sign-on
    snap.ssid("N_1", 4, "Sign-on", authMode="open", splashPage="Password-protected with Active Directory",
              splash={"blockAllTrafficBeforeSignOn": True}, defaultVlanId=20)
    snap.network("N_2", "Kiosk", products=("wireless",), policies=[])
    snap.ssid("N_2", 0, "Kiosk", rules=[deny("any", "Any", "198.51.100.0/24")])
    # Site-to-site VPN: a branch is a full-tunnel spoke of HQ, whose own files the branch's paths read too.
    snap.network("N_3", "HQ", vlans=[{"id": 100, "name": "Servers", "subnet": "10.3.0.0/24"}],
                 mx_rules=[deny("tcp", "23", comment="hq no telnet")])
    snap.network("N_4", "Branch", products=("appliance",),
                 vlans=[{"id": 40, "name": "Tills", "subnet": "10.4.0.0/24"},
                        {"id": 41, "name": "Office", "subnet": "10.4.1.0/24"}],
                 mx_rules=[deny("udp", "1701", comment="branch no l2tp")])
    snap.remove("meraki/networks/N_4/wireless/ssids.json")  # no access points there: nothing reads it
    snap.write("meraki/networks/N_4/appliance/vpn/siteToSiteVpn.json", {
        "mode": "spoke", "hubs": [{"hubId": "N_3", "useDefaultRoute": True}],
        "subnets": [{"localSubnet": "10.4.0.0/24", "useVpn": True},
                    {"localSubnet": "10.4.1.0/24", "useVpn": True,
                     "nat": {"enabled": True, "remoteSubnet": "172.31.41.0/24"}}]})
    snap.write("meraki/networks/N_3/appliance/vpn/siteToSiteVpn.json", {"mode": "hub", "hubs": [], "subnets": []})
    snap.write("meraki/organizations/1/appliance/vpn/vpnFirewallRules.json", {"rules": [
        {**deny("udp", "500", comment="no ike in tunnel"), "srcCidr": "172.31.41.0/24", "srcPort": "Any"},
        {"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any", "srcCidr": "Any",
         "destPort": "Any", "destCidr": "Any"}]})
    snap.write("meraki/organizations/1/appliance/trafficShaping/vpnExclusions/byNetwork.json", {"items": [
        {"networkId": "N_4", "custom": [{"protocol": "udp", "destination": "8.8.8.8", "port": "53"}],
         "majorApplications": []}]})
    snap.write("meraki/organizations/1/appliance/vpn/thirdPartyVPNPeers.json", {"peers": [
        {"name": "Partner", "publicIp": "198.18.0.1", "privateSubnets": ["10.250.0.0/24"], "secret": "<redacted>",
         "networkTags": ["all"]}]})
    snap.write("meraki/organizations/1/appliance/uplink/statuses.json", [
        {"networkId": "N_4", "uplinks": [{"interface": "wan1", "status": "active", "publicIp": "192.0.2.4"}]},
        {"networkId": "N_3", "uplinks": [{"interface": "wan1", "status": "active", "publicIp": "203.0.113.3"}]}])
    snap.write("meraki/networks/N_3/appliance/firewall/oneToOneNatRules.json", {"rules": [
        {"name": "badge", "publicIp": "203.0.113.30", "lanIp": "10.3.0.30", "uplink": "internet1",
         "allowedInbound": [{"protocol": "tcp", "destinationPorts": ["443"], "allowedIps": ["any"]}]}]})
    snap.write("meraki/networks/N_3/appliance/firewall/oneToManyNatRules.json", {"rules": []})
    return snap
