"""Synthetic Meraki snapshots for benchmarks: a large organisation in the snapshot layout (docs/snapshot.md).

`write_org(root, networks, seed)` writes `root/audit.yaml` and `root/meraki/...` exactly as a collector would
(Dashboard API v1 GET bodies, synthetic trailing rows included, secrets as ``"<redacted>"``). Each network
has 4 enabled SSIDs (staff on RADIUS, a splash guest SSID, an identity-PSK SSID, a PSK SSID), 3 iPSK group
policies with custom L3 rules, 30 user L3 rules per SSID, 150 MX L3 rules, 6 VLANs and L7 rule files; the
org's MX uplink statuses give each network a public address.

Rules are varied (tcp/udp/any/icmp, single ports, ranges, comma lists, RFC 1918 and public CIDRs,
`VLAN(n).*`, `VLAN(n).h`, `OBJ(id)`, `GRP(id)`, FQDNs, `Any`/`any` in both cases) but are filtered so that
none of them blocks a VPN flow to the server or leaves it undecidable (no deny, and no FQDN match, on a VPN
port towards it), except for the VPN-blocking rule planted in about 2% of networks (`planted()` lists
them). Output depends only on `seed` and the network's index, so network *i* is identical whatever
`networks` or `workers` is.

Speed comes from building pools of serialized rules once and composing each file from them with string
joins; what remains is file creation (22 files and 16 folders per network), which `workers` processes
share. Standard library only.

    python bench/synth.py OUT_DIR --networks 10000 [--seed 0] [--workers N]
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SERVER = "198.51.100.10"
SERVER_IP = ipaddress.ip_address(SERVER)
SERVER_FQDN = "vpn.synthetic-retail.example"
ORG_ID = "700100"
NETWORK_ID_BASE = 6_468_300_000_000_000
BLOCK_RATE = 0.02  # fraction of networks with a planted VPN-blocking rule

VLANS = ((1, "Infrastructure"), (10, "Staff"), (20, "POS"), (30, "Guest"), (40, "Devices"), (50, "Cameras"))
VLAN_IDS = tuple(v for v, _ in VLANS)
VPN_FLOWS = (("udp", 500), ("udp", 4500), ("udp", 1701), ("tcp", 443), ("esp", None))

SSID_RULES = 30
MX_RULES = 150
GP_RULES = 10
POOL_SIZE = {"ssid": 1500, "mx": 4000, "gp": 600}

COMMON_PORTS = ("22", "23", "25", "53", "80", "110", "123", "135", "139", "161", "389", "445", "465", "587",
                "636", "993", "1433", "1521", "3306", "3389", "5060", "5432", "5900", "8080", "8443", "9100")
PORT_RANGES = ("6881-6999", "1000-2000", "27000-27050", "5060-5061", "16384-32767", "49152-65535",
               "8000-8100", "3478-3481", "10000-20000", "135-139")
PUBLIC_FIRST_OCTETS = (8, 13, 20, 23, 31, 34, 40, 52, 64, 66, 72, 98, 104, 142, 151, 157, 185, 198, 203, 209)
FQDNS = ("time.synthetic-retail.example", "updates.synthetic-retail.example", "pos.payments.example",
         "cdn.signage.example", "api.inventory.example", "telemetry.example")
COMMENTS = {
    "allow": ("Allow {what}", "Permit {what}", "{what} (ticket CHG{n:05d})", "{what}"),
    "deny": ("Block {what}", "Deny {what}", "No {what}", "{what} blocked per policy (INC{n:05d})"),
}
SERVICES = {"22": "SSH", "23": "telnet", "25": "SMTP", "53": "DNS", "80": "HTTP", "110": "POP3", "123": "NTP",
            "135": "RPC", "139": "NetBIOS", "161": "SNMP", "389": "LDAP", "445": "SMB", "465": "SMTPS",
            "587": "mail submission", "636": "LDAPS", "993": "IMAPS", "1433": "SQL Server", "1521": "Oracle",
            "3306": "MySQL", "3389": "RDP", "5060": "SIP", "5432": "PostgreSQL", "5900": "VNC",
            "8080": "web proxy", "8443": "admin portals", "9100": "printing", "6881-6999": "BitTorrent",
            "27000-27050": "Steam", "5060-5061": "SIP", "16384-32767": "RTP", "3478-3481": "STUN/TURN"}
WHATS = ("printing", "remote admin", "file shares", "legacy app", "vendor access", "payments", "NTP", "DNS",
         "mail relay", "camera uploads", "inventory sync", "signage content", "VoIP", "streaming", "gaming",
         "torrents", "database", "monitoring", "backups", "kiosk updates")
APP_CATEGORIES = (("meraki:layer7/category/8", "Peer-to-peer (P2P)"), ("meraki:layer7/category/9", "Gaming"),
                  ("meraki:layer7/category/5", "Video & music"), ("meraki:layer7/category/15", "Social web"),
                  ("meraki:layer7/category/2", "Online backup"))
APPLICATIONS = (("meraki:layer7/application/67", "BitTorrent"), ("meraki:layer7/application/129", "Steam"),
                ("meraki:layer7/application/45", "Netflix"), ("meraki:layer7/application/78", "Dropbox"))


# ---------------------------------------------------------------------------------------------------------
# policy objects (org level)

def _policy_objects(rng: random.Random) -> tuple[list[dict], list[dict]]:
    stamp = "2025-01-15T09:30:00Z"
    objects: list[dict] = []
    groups: list[dict] = []

    def add(kind: str, value: str, name: str) -> str:
        oid = str(5000 + len(objects))
        objects.append({"id": oid, "name": name, "category": "network", "type": kind, kind: value,
                        "createdAt": stamp, "updatedAt": stamp, "groupIds": [], "networkIds": []})
        return oid

    vpn = [add("cidr", f"{SERVER}/32", "VPN concentrator"), add("fqdn", SERVER_FQDN, "VPN concentrator (DNS)")]
    groups.append({"id": "9000", "name": "VPN Concentrators", "objectIds": [int(x) for x in vpn]})
    for g in range(1, 10):
        members = []
        for k in range(rng.randint(2, 6)):
            if rng.random() < 0.15:
                members.append(add("fqdn", f"svc{g}{k}.{rng.choice(FQDNS)}", f"Service {g}-{k} (DNS)"))
            elif rng.random() < 0.5:
                members.append(add("cidr", f"10.{rng.randint(200, 254)}.{rng.randint(0, 255)}.0/24",
                                   f"Datacenter {g}-{k}"))
            else:
                members.append(add("cidr", _public_cidr(rng), f"Partner {g}-{k}"))
        groups.append({"id": str(9000 + g), "name": f"Object group {g}", "objectIds": [int(x) for x in members]})
    for o in objects:
        o["groupIds"] = [gr["id"] for gr in groups if int(o["id"]) in gr["objectIds"]]
    for gr in groups:
        gr.update({"category": "NetworkObjectGroup", "createdAt": stamp, "updatedAt": stamp, "networkIds": []})
    return objects, groups


def _public_cidr(rng: random.Random) -> str:
    a = rng.choice(PUBLIC_FIRST_OCTETS)
    b, c, d = rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254)
    form = rng.random()
    if form < 0.3:
        return f"{a}.{b}.{c}.{d}/32"
    if form < 0.5:
        return f"{a}.{b}.{c}.{d}"
    if form < 0.85:
        return f"{a}.{b}.{c}.0/24"
    return f"{a}.{b}.0.0/16"


# ---------------------------------------------------------------------------------------------------------
# random rules, filtered so that only planted rules decide a VPN flow

class _RuleMaker:
    def __init__(self, rng: random.Random, objects: list[dict], groups: list[dict]) -> None:
        self.rng = rng
        self.objects = objects
        self.groups = groups
        self.obj_ids = [o["id"] for o in objects[2:]]  # never the VPN objects in random rules
        self.src_obj_ids = [o["id"] for o in objects[2:] if o["type"] == "cidr"]  # no FQDN sources
        self.grp_ids = [g["id"] for g in groups[1:]]
        self._obj_dest = {o["id"]: o.get("cidr") or o.get("fqdn") for o in objects}
        self._grp_dest = {g["id"]: [self._obj_dest[str(i)] for i in g["objectIds"]] for g in groups}

    # values ----------------------------------------------------------------------------------------------
    def any_word(self) -> str:
        return self.rng.choice(("any", "Any"))

    def private_cidr(self) -> str:
        r = self.rng
        kind = r.random()
        if kind < 0.6:
            return f"10.{r.randint(0, 255)}.{r.randint(0, 255)}.0/24"
        if kind < 0.75:
            return f"10.{r.randint(0, 255)}.0.0/16"
        if kind < 0.9:
            return f"172.{r.randint(16, 31)}.{r.randint(0, 255)}.0/24"
        return f"192.168.{r.randint(0, 255)}.{r.randint(1, 254)}/32"

    def ports(self, protocol: str) -> str:
        if protocol not in ("tcp", "udp"):
            return self.any_word()
        r = self.rng.random()
        if r < 0.45:
            return self.rng.choice(COMMON_PORTS)
        if r < 0.65:
            return self.rng.choice(PORT_RANGES)
        if r < 0.9:
            picks = self.rng.sample(COMMON_PORTS, self.rng.randint(2, 4))
            if self.rng.random() < 0.2:
                picks.append(self.rng.choice(PORT_RANGES))
            return ",".join(picks)
        return self.any_word()

    def protocol(self) -> str:
        return self.rng.choices(("tcp", "udp", "any", "icmp", "Any"), (45, 30, 12, 10, 3))[0]

    def comment(self, policy: str, protocol: str, dest_port: str) -> str:
        """A plausible comment: names the service when the first port is a well-known one."""
        template = self.rng.choice(COMMENTS[policy])
        first = dest_port.split(",")[0]
        if protocol.lower() == "icmp":
            what = "ping"
        elif first in SERVICES:
            what = SERVICES[first]
        else:
            what = self.rng.choice(WHATS)
        return template.format(what=what, n=self.rng.randint(1, 99999))

    def dest(self, mx: bool) -> str:
        r = self.rng.random()
        if r < 0.25:
            return self.any_word()
        if r < 0.55:
            return self.private_cidr()
        if r < 0.68:
            return _public_cidr(self.rng)
        if r < 0.72:
            return self.rng.choice(FQDNS)
        if r < 0.77:
            return ",".join(self.private_cidr() for _ in range(self.rng.randint(2, 3)))
        if not mx:
            return self.private_cidr()
        if r < 0.84:
            vlan = self.rng.choice(VLAN_IDS)
            return f"VLAN({vlan}).*" if self.rng.random() < 0.7 else f"VLAN({vlan}).{self.rng.randint(2, 30)}"
        if r < 0.93:
            return f"OBJ({self.rng.choice(self.obj_ids)})"
        return f"GRP({self.rng.choice(self.grp_ids)})"

    def src(self) -> str:
        r = self.rng.random()
        if r < 0.5:
            return self.any_word()
        if r < 0.72:
            vlans = self.rng.sample(VLAN_IDS, self.rng.randint(1, 2))
            return ",".join(f"VLAN({v}).*" for v in vlans)
        if r < 0.95:
            return self.private_cidr()
        return f"OBJ({self.rng.choice(self.src_obj_ids)})"

    # safety filter ---------------------------------------------------------------------------------------
    def _dest_hits_server(self, dest: str) -> str:
        """'yes', 'maybe' (FQDN, unresolved) or 'no' for the VPN server's address."""
        verdicts = set()
        for item in dest.split(","):
            item = item.strip()
            if item.lower() == "any":
                verdicts.add("yes")
            elif item.startswith("VLAN("):
                verdicts.add("no")
            elif item.startswith("OBJ("):
                verdicts.add(self._value_hits(self._obj_dest[item[4:-1]]))
            elif item.startswith("GRP("):
                verdicts.update(self._value_hits(v) for v in self._grp_dest[item[4:-1]])
            else:
                verdicts.add(self._value_hits(item))
        return "yes" if "yes" in verdicts else "maybe" if "maybe" in verdicts else "no"

    @staticmethod
    def _value_hits(value: str) -> str:
        try:
            return "yes" if SERVER_IP in ipaddress.ip_network(value, strict=False) else "no"
        except ValueError:
            return "maybe"

    @staticmethod
    def _touches_vpn_flow(protocol: str, dest_port: str) -> bool:
        protocol = protocol.lower()
        for proto, port in VPN_FLOWS:
            if protocol != "any" and protocol != proto:
                continue
            if dest_port.lower() == "any":
                return True
            if port is None:
                continue
            for part in dest_port.split(","):
                lo, _, hi = part.partition("-")
                if int(lo) <= port <= int(hi or lo):
                    return True
        return False

    def safe(self, rule: dict) -> bool:
        """True when the rule cannot decide (or make unknown) a VPN flow to the server."""
        if not self._touches_vpn_flow(rule["protocol"], rule["destPort"]):
            return True
        hits = self._dest_hits_server(rule["destCidr"])
        return hits == "no" or (hits == "yes" and rule["policy"] == "allow")

    # rules -----------------------------------------------------------------------------------------------
    def rule(self, kind: str) -> dict:
        while True:
            policy = "allow" if self.rng.random() < 0.5 else "deny"
            protocol = self.protocol()
            mx = kind == "mx"
            rule: dict = {"comment": "", "policy": policy, "protocol": protocol}
            if mx:
                rule["srcPort"] = self.any_word() if self.rng.random() < 0.9 else self.rng.choice(
                    ("1024-65535", "67,68", "123"))
                if protocol.lower() not in ("tcp", "udp"):
                    rule["srcPort"] = "Any"
                rule["srcCidr"] = self.src()
            rule["destPort"] = self.ports(protocol.lower())
            rule["destCidr"] = self.dest(mx)
            rule["comment"] = self.comment(policy, protocol, rule["destPort"])
            if mx:
                rule["syslogEnabled"] = self.rng.random() < 0.2
            elif kind == "ssid":
                rule["ipVer"] = "ipv4"
            if self.safe(rule):
                return rule

    def pool(self, kind: str) -> list[str]:
        return [json.dumps(self.rule(kind)) for _ in range(POOL_SIZE[kind])]


# ---------------------------------------------------------------------------------------------------------
# planted VPN blocks

_BLOCKS = (
    ("ssid-l3", {"comment": "Block personal VPNs", "policy": "deny", "protocol": "udp", "destPort": "500,4500",
                 "destCidr": "any", "ipVer": "ipv4"}),
    ("ssid-l3", {"comment": "Retired extranet portal", "policy": "deny", "protocol": "tcp", "destPort": "443",
                 "destCidr": "198.51.100.0/24", "ipVer": "ipv4"}),
    ("mx-l3", {"comment": "Guests: no NAT-T", "policy": "deny", "protocol": "udp", "srcPort": "Any",
               "srcCidr": "VLAN(30).*", "destPort": "4500", "destCidr": "Any", "syslogEnabled": True}),
    ("group-policy", {"comment": "block personal VPNs", "policy": "deny", "protocol": "udp",
                      "destPort": "500,4500", "destCidr": "any"}),
)


def _network_rng(seed: int, index: int) -> random.Random:
    """The generator for one network: depends only on the seed and the network's index."""
    return random.Random(f"synth:{seed}:{index}")


def _draw_block(rng: random.Random) -> int | None:
    """First draws of a network's generator: index into _BLOCKS of its planted rule, or None."""
    hit = rng.random() < BLOCK_RATE
    kind = rng.randrange(len(_BLOCKS))
    return kind if hit else None


def network_id(index: int) -> str:
    return f"L_{NETWORK_ID_BASE + index}"


def network_name(index: int) -> str:
    return f"Store {index + 1:05d}"


def planted(networks: int, seed: int = 0) -> dict[str, str]:
    """Network id -> where its VPN-blocking rule is (e.g. 'mx-l3: deny udp VLAN(30).* -> Any:4500')."""
    out = {}
    for index in range(networks):
        kind = _draw_block(_network_rng(seed, index))
        if kind is None:
            continue
        where, rule = _BLOCKS[kind]
        if where == "ssid-l3":
            where = "ssid-l3 (SSID 1 Store-Guest)" if "198.51" in rule["destCidr"] else "ssid-l3 (SSID 3 Store-Mobile)"
        elif where == "group-policy":
            where = "group-policy 102 (iPSK Contractors)"
        src = rule.get("srcCidr", "any")
        out[network_id(index)] = (f"{where}: {rule['policy']} {rule['protocol']} {src} -> "
                                  f"{rule['destCidr']}:{rule['destPort']}")
    return out


# ---------------------------------------------------------------------------------------------------------
# static per-network bodies

def _ssid(number: int, name: str, auth: str, mode: str, **extra) -> dict:
    body: dict = {"number": number, "name": name, "enabled": True, "splashPage": "None",
                  "ssidAdminAccessible": False, "localAuth": False, "authMode": auth}
    if auth == "psk":
        body.update({"psk": "<redacted>", "encryptionMode": "wpa", "wpaEncryptionMode": "WPA2 only"})
    elif auth == "ipsk-without-radius":
        body.update({"encryptionMode": "wpa", "wpaEncryptionMode": "WPA2 only"})
    elif auth == "8021x-radius":
        body.update({"encryptionMode": "wpa-eap", "wpaEncryptionMode": "WPA2 only",
                     "radiusServers": [{"id": "1284392014819", "host": "10.255.0.11", "port": 1812,
                                        "radsecEnabled": False}],
                     "radiusAccountingEnabled": False, "radiusEnabled": True,
                     "radiusAttributeForGroupPolicies": "Filter-Id", "radiusFailoverPolicy": "Deny access",
                     "radiusLoadBalancingPolicy": "Strict priority order", "radiusOverride": False})
    body["ipAssignmentMode"] = mode
    body.update(extra)
    body.update({"minBitrate": 11, "bandSelection": "Dual band operation", "perClientBandwidthLimitUp": 0,
                 "perClientBandwidthLimitDown": 0, "perSsidBandwidthLimitUp": 0, "perSsidBandwidthLimitDown": 0,
                 "mandatoryDhcpEnabled": False, "visible": True, "availableOnAllAps": True,
                 "availabilityTags": [], "speedBurst": {"enabled": False}})
    return body


def _unconfigured(number: int) -> dict:
    return {"number": number, "name": f"Unconfigured SSID {number + 1}", "enabled": False, "splashPage": "None",
            "ssidAdminAccessible": False, "authMode": "open", "ipAssignmentMode": "NAT mode", "minBitrate": 1,
            "bandSelection": "Dual band operation", "perClientBandwidthLimitUp": 0,
            "perClientBandwidthLimitDown": 0, "perSsidBandwidthLimitUp": 0, "perSsidBandwidthLimitDown": 0,
            "mandatoryDhcpEnabled": False, "visible": True, "availableOnAllAps": True, "availabilityTags": [],
            "speedBurst": {"enabled": False}}


SSIDS_JSON = json.dumps([
    _ssid(0, "Store-Staff", "8021x-radius", "Bridge mode", useVlanTagging=True, defaultVlanId=10),
    _ssid(1, "Store-Guest", "open", "NAT mode", splashPage="Click-through splash page",
          splashTimeout="1440 minutes", walledGardenEnabled=True,
          walledGardenRanges=[f"{SERVER}/32", SERVER_FQDN, "203.0.113.80/32"]),
    _ssid(2, "Store-Devices", "ipsk-without-radius", "Bridge mode", useVlanTagging=True, defaultVlanId=40),
    _ssid(3, "Store-Mobile", "psk", "NAT mode"),
    *(_unconfigured(n) for n in range(4, 15)),
])
SPLASH_JSON = json.dumps({
    "ssidNumber": 1, "splashPage": "Click-through splash page", "useSplashUrl": False, "splashUrl": None,
    "splashTimeout": 1440, "redirectUrl": None, "useRedirectUrl": False, "welcomeMessage": "Welcome!",
    "blockAllTrafficBeforeSignOn": True, "controllerDisconnectionBehavior": "default",
    "allowSimultaneousLogins": False, "guestSponsorship": {"durationInMinutes": 30,
                                                          "guestCanRequestTimeframe": False},
    "selfRegistration": {"enabled": False, "authorizationType": "admin"}, "themeId": None})
SSID_TAIL = {
    allow_lan: ",".join(json.dumps(row) for row in (
        {"comment": "Wireless clients accessing LAN", "policy": "allow" if allow_lan else "deny", "ipVer": "ipv4",
         "protocol": "Any", "destPort": "Any", "destCidr": "Local LAN"},
        {"comment": "Default rule", "policy": "allow", "ipVer": "ipv4", "protocol": "Any", "destPort": "Any",
         "destCidr": "Any"}))
    for allow_lan in (False, True)
}
SSID_ALLOW_LAN = (True, False, True, False)  # per enabled SSID 0..3
MX_DEFAULT = json.dumps({"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any",
                         "srcCidr": "Any", "destPort": "Any", "destCidr": "Any", "syslogEnabled": False})
VLAN_SETTINGS_JSON = json.dumps({"vlansEnabled": True})
EMPTY_FILES = {
    "appliance/firewall/inboundFirewallRules.json": json.dumps({"rules": [], "syslogDefaultRule": False}),
    "appliance/firewall/portForwardingRules.json": json.dumps({"rules": []}),
    "appliance/firewall/oneToOneNatRules.json": json.dumps({"rules": []}),
    "appliance/firewall/oneToManyNatRules.json": json.dumps({"rules": []}),
    # Not in AutoVPN: each store's internet traffic leaves by its own uplink.
    "appliance/vpn/siteToSiteVpn.json": json.dumps({"mode": "none", "hubs": [], "subnets": []}),
    "appliance/settings.json": json.dumps({"clientTrackingMethod": "MAC address", "deploymentMode": "routed",
                                           "dynamicDns": {"enabled": False, "prefix": "", "url": ""}}),
}
DEVICE_TYPES_OFF = json.dumps({"enabled": False, "deviceTypePolicies": []})
GROUP_POLICIES = (("101", "Handheld Scanners"), ("102", "Contractors"), ("103", "Sensors"))


def _gp_template(gid: str, name: str) -> tuple[str, str]:
    """Serialized group policy split where its L3 rules go: (text before, text after)."""
    marker = "@@RULES@@"
    body = json.dumps({
        "groupPolicyId": gid, "name": name, "scheduling": {"enabled": False},
        "bandwidth": {"settings": "network default", "bandwidthLimits": {"limitUp": None, "limitDown": None}},
        "firewallAndTrafficShaping": {"settings": "custom", "trafficShapingRules": [],
                                      "l3FirewallRules": [marker], "l7FirewallRules": []},
        "splashAuthSettings": "network default", "vlanTagging": {"settings": "network default"},
        "bonjourForwarding": {"settings": "network default", "rules": []}})
    head, tail = body.split(f'"{marker}"')
    return head, tail


GP_TEMPLATES = {gid: _gp_template(gid, name) for gid, name in GROUP_POLICIES}

AUDIT_YAML = f"""# Synthetic organisation written by bench/synth.py
vpn_servers:
  - name: corp-vpn
    address: {SERVER}
    fqdn: {SERVER_FQDN}
    protocols: [ikev2, l2tp, sstp]
"""


def _l7_pool(rng: random.Random) -> list[str]:
    pool = ['{"rules":[]}'] * 6
    for _ in range(30):
        rules = []
        for _ in range(rng.randint(1, 4)):
            kind = rng.random()
            if kind < 0.4:
                cid, cname = rng.choice(APP_CATEGORIES)
                rules.append({"policy": "deny", "type": "applicationCategory", "value": {"id": cid, "name": cname}})
            elif kind < 0.7:
                aid, aname = rng.choice(APPLICATIONS)
                rules.append({"policy": "deny", "type": "application", "value": {"id": aid, "name": aname}})
            elif kind < 0.85:
                rules.append({"policy": "deny", "type": "port", "value": rng.choice(("6881", "27015", "3074"))})
            else:
                rules.append({"policy": "deny", "type": "ipRange",
                              "value": f"192.0.2.{rng.randrange(0, 256, 16)}/28"})
        pool.append(json.dumps({"rules": rules}))
    return pool


def _vlans_json(index: int, gp_vlan: int, gp_id: str) -> str:
    a, b = index >> 8 & 255, index & 255
    items = []
    for slot, (vid, name) in enumerate(VLANS):
        base = slot * 32
        vlan = {"id": vid, "interfaceId": f"{NETWORK_ID_BASE + index}{vid:03d}", "name": name,
                "subnet": f"10.{a}.{b}.{base}/27", "applianceIp": f"10.{a}.{b}.{base + 1}"}
        if vid == gp_vlan:
            vlan["groupPolicyId"] = gp_id
        vlan.update({"fixedIpAssignments": {}, "reservedIpRanges": [], "dnsNameservers": "upstream_dns",
                     "dhcpHandling": "Run a DHCP server", "dhcpLeaseTime": "1 day",
                     "dhcpBootOptionsEnabled": False, "dhcpOptions": [], "mandatoryDhcp": {"enabled": False},
                     "ipv6": {"enabled": False}})
        items.append(vlan)
    return json.dumps(items)


# ---------------------------------------------------------------------------------------------------------
# writer

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0)


def _write(path: str, text: str) -> None:
    data = text.encode()
    fd = os.open(path, _CREATE, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _mkdirs(paths: list[str]) -> None:
    for p in paths:
        with contextlib.suppress(FileExistsError):
            os.mkdir(p)


def _pools(seed: int) -> tuple[list[dict], list[dict], dict[str, list[str]]]:
    """Org policy objects and groups, and the serialized rule pools every network draws from."""
    rng = random.Random(f"synth:{seed}:org")
    objects, groups = _policy_objects(rng)
    maker = _RuleMaker(rng, objects, groups)
    pools = {kind: maker.pool(kind) for kind in ("ssid", "mx", "gp")}
    pools["l7"] = _l7_pool(rng)
    pools["blocks"] = [json.dumps(rule) for _, rule in _BLOCKS]
    pools["vpn_allow"] = [json.dumps({"comment": "Corporate VPN (IKE, NAT-T)", "policy": "allow", "protocol": "udp",
                                      "srcPort": "Any", "srcCidr": "Any", "destPort": "500,4500",
                                      "destCidr": f"GRP({groups[0]['id']})", "syslogEnabled": False})]
    return objects, groups, pools


def _write_network(net_root: str, seed: int, index: int, pools: dict[str, list[str]]) -> None:
    rng = _network_rng(seed, index)
    block = _draw_block(rng)
    where = _BLOCKS[block][0] if block is not None else None
    sample, randrange = rng.sample, rng.randrange
    ssid_pool, gp_pool, mx_pool, l7_pool = pools["ssid"], pools["gp"], pools["mx"], pools["l7"]

    base = f"{net_root}/{network_id(index)}"
    ssid_dirs = [f"{base}/wireless/ssids/{n}" for n in range(4)]
    _mkdirs([base, f"{base}/wireless", f"{base}/wireless/ssids",
             *(d for s in ssid_dirs for d in (s, f"{s}/firewall")), f"{ssid_dirs[1]}/splash",
             f"{base}/appliance", f"{base}/appliance/firewall", f"{base}/appliance/vlans", f"{base}/appliance/vpn"])

    # wireless: 4 enabled SSIDs, each with 30 user L3 rules + the 2 synthetic rows, and an L7 file
    _write(f"{base}/wireless/ssids.json", SSIDS_JSON)
    block_ssid = (1 if "198.51" in _BLOCKS[block][1]["destCidr"] else 3) if where == "ssid-l3" else None
    for number, sdir in enumerate(ssid_dirs):
        rules = sample(ssid_pool, SSID_RULES)
        if number == block_ssid:
            rules.insert(randrange(SSID_RULES // 2), pools["blocks"][block])
        allow_lan = SSID_ALLOW_LAN[number]
        _write(f"{sdir}/firewall/l3FirewallRules.json",
               f'{{"rules":[{",".join(rules)},{SSID_TAIL[allow_lan]}],'
               f'"allowLanAccess":{"true" if allow_lan else "false"}}}')
        _write(f"{sdir}/firewall/l7FirewallRules.json", l7_pool[randrange(len(l7_pool))])
        _write(f"{sdir}/deviceTypeGroupPolicies.json", DEVICE_TYPES_OFF)
    _write(f"{ssid_dirs[1]}/splash/settings.json", SPLASH_JSON)
    _write(f"{ssid_dirs[2]}/identityPsks.json", json.dumps([
        {"id": f"{15804116 * 10**6 + index * 10 + k}", "name": name, "groupPolicyId": gid,
         "passphrase": "<redacted>", "wifiPersonalNetworkId": None, "email": None, "expiresAt": None}
        for k, (gid, name) in enumerate(GROUP_POLICIES)]))

    # group policies: one per identity PSK, custom L3 rules
    policies = []
    for gid, _name in GROUP_POLICIES:
        rules = sample(gp_pool, GP_RULES)
        if where == "group-policy" and gid == "102":
            rules.insert(randrange(3), pools["blocks"][block])
        head, tail = GP_TEMPLATES[gid]
        policies.append(head + ",".join(rules) + tail)
    _write(f"{base}/groupPolicies.json", "[" + ",".join(policies) + "]")

    # appliance: VLANs (VLAN 50 carries group policy 103), MX L3 + "Default rule", L7, inbound and NAT
    _write(f"{base}/appliance/vlans/settings.json", VLAN_SETTINGS_JSON)
    _write(f"{base}/appliance/vlans.json", _vlans_json(index, 50, "103"))
    rules = sample(mx_pool, MX_RULES)
    if rng.random() < 0.3:  # an explicit allow for the corporate VPN, as many admins write one
        rules.insert(randrange(MX_RULES), pools["vpn_allow"][0])
    if where == "mx-l3":
        rules.insert(randrange(MX_RULES // 3), pools["blocks"][block])
    _write(f"{base}/appliance/firewall/l3FirewallRules.json", f'{{"rules":[{",".join(rules)},{MX_DEFAULT}]}}')
    _write(f"{base}/appliance/firewall/l7FirewallRules.json", l7_pool[randrange(len(l7_pool))])
    for rel, text in EMPTY_FILES.items():
        _write(f"{base}/{rel}", text)


_WORKER_POOLS: dict[str, list[str]] = {}


def _init_worker(pools: dict[str, list[str]]) -> None:
    _WORKER_POOLS.update(pools)


def _write_chunk(net_root: str, seed: int, start: int, stop: int) -> int:
    for index in range(start, stop):
        _write_network(net_root, seed, index, _WORKER_POOLS)
    return stop - start


def write_org(root: Path, networks: int, seed: int = 0, workers: int | None = None) -> Path:
    """Write a synthetic snapshot with `networks` networks under `root`; returns `root`.

    The content depends only on `seed` (network *i* is the same whatever `networks` or `workers` is).
    `workers` processes write networks in parallel (default: one per CPU, at most 8); file creation, not
    JSON, is what takes the time.
    """
    if networks < 0:
        raise ValueError("networks must be >= 0")
    root = Path(root)
    objects, groups, pools = _pools(seed)

    meraki = root / "meraki"
    org_dir = meraki / "organizations" / ORG_ID
    (org_dir / "policyObjects").mkdir(parents=True, exist_ok=True)
    (meraki / "networks").mkdir(parents=True, exist_ok=True)
    _write(str(root / "audit.yaml"), AUDIT_YAML)
    _write(str(meraki / "organizations.json"), json.dumps([{
        "id": ORG_ID, "name": f"Synthetic Retail (seed {seed})",
        "url": f"https://n1.meraki.com/o/synth{seed}/manage/organization/overview",
        "api": {"enabled": True}, "licensing": {"model": "co-term"},
        "cloud": {"region": {"name": "North America", "host": {"name": "United States"}}},
        "management": {"details": []}}]))
    _write(str(org_dir / "networks.json"), json.dumps([{
        "id": network_id(i), "organizationId": ORG_ID, "name": network_name(i),
        "productTypes": ["appliance", "switch", "wireless"], "timeZone": "America/New_York",
        "tags": ["store", f"region-{i % 7}"], "enrollmentString": None,
        "url": f"https://n1.meraki.com/Store-{i + 1:05d}/n/x{i}/manage/usage/list", "notes": "",
        "isBoundToConfigTemplate": False} for i in range(networks)]))
    _write(str(org_dir / "policyObjects.json"), json.dumps(objects))
    _write(str(org_dir / "policyObjects" / "groups.json"), json.dumps(groups))
    (org_dir / "appliance" / "uplink").mkdir(parents=True, exist_ok=True)
    _write(str(org_dir / "appliance" / "uplink" / "statuses.json"), json.dumps([{
        "networkId": network_id(i), "serial": f"Q2KN-{i // 10000:04d}-{i % 10000:04d}", "model": "MX68",
        "lastReportedAt": "2025-01-15T09:30:00Z", "highAvailability": {"enabled": False, "role": "primary"},
        "uplinks": [{"interface": "wan1", "status": "active", "ip": f"192.168.{i % 250}.2",
                     "gateway": f"192.168.{i % 250}.1", "publicIp": str(ipaddress.ip_address("100.128.0.0") + i),
                     "primaryDns": "8.8.8.8", "secondaryDns": None, "ipAssignedBy": "dhcp"}]}
        for i in range(networks)]))

    net_root = str(meraki / "networks")
    if workers is None:
        workers = min(os.cpu_count() or 1, 8)
    if workers <= 1 or networks < 500:
        for index in range(networks):
            _write_network(net_root, seed, index, pools)
        return root
    step = max(50, -(-networks // (workers * 8)))
    bounds = [(start, min(start + step, networks)) for start in range(0, networks, step)]
    with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(pools,)) as executor:
        futures = [executor.submit(_write_chunk, net_root, seed, a, b) for a, b in bounds]
        for future in futures:
            future.result()
    return root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a synthetic Meraki snapshot for benchmarks.")
    parser.add_argument("out_dir", type=Path, help="snapshot directory to write (created if missing)")
    parser.add_argument("--networks", type=int, default=100, help="number of networks (default 100)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel writer processes (default: one per CPU, at most 8)")
    args = parser.parse_args(argv)
    if args.networks < 0:
        parser.error("--networks must be >= 0")
    start = time.perf_counter()
    write_org(args.out_dir, args.networks, args.seed, args.workers)
    elapsed = time.perf_counter() - start
    blocked = planted(args.networks, args.seed)
    print(f"wrote {args.networks} networks to {args.out_dir} in {elapsed:.1f} s "
          f"({len(blocked)} with a planted VPN-blocking rule)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
