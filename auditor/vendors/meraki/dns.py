"""Which resolvers a Meraki role asks for the VPN server's name (docs/semantics/meraki.md, "Name resolution").

- An MX VLAN that runs DHCP hands out its `dnsNameservers`: `upstream_dns` (the MX proxies to its WAN DNS, which
  the API data read here does not hold), `google_dns`, `opendns`, or a custom list of addresses. A VLAN that
  relays DHCP, or does not answer it, gets its resolvers from a DHCP server the snapshot does not describe.
- An SSID in NAT mode: the access point is the clients' DNS forwarder and asks its own resolvers (not in the
  snapshot), unless `dnsRewrite` is enabled with custom nameservers, which it then uses.
- A bridged SSID's clients are in an MX VLAN (its DHCP decides); with `dnsRewrite` enabled the documentation
  does not say whether the rewrite applies to bridged clients, so both ways are considered and must agree.

A resolver the snapshot does not name is stood in for by the collecting host's resolver (the public view), and
the finding says so; findings about a role come only from resolvers the snapshot names.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from auditor.dns import HOST, DnsRecords, RoleDns, Way, assess, sibling_addresses
from auditor.model import NetworkModel, Role, VpnServer
from auditor.snapshot import Snapshot, api_segment

# dnsNameservers keywords (Dashboard API, MX VLANs) and the public resolvers they stand for
KNOWN_RESOLVERS = {"google_dns": ("8.8.8.8", "8.8.4.4"), "opendns": ("208.67.222.222", "208.67.220.220")}
UPSTREAM = "upstream_dns"
RUNS_DHCP = "run a dhcp server"
NAT_MODE = "nat mode"
_SPLIT = re.compile(r"[\s,;]+")


def resolver_list(value: Any) -> tuple[list[str], list[str]]:
    """A custom nameserver list (a newline-separated string, or a list) as (addresses, entries that are not
    addresses: host names, which cannot be queried without a resolver of their own)."""
    items = value if isinstance(value, list) else _SPLIT.split(str(value or ""))
    addresses, other = [], []
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        try:
            addresses.append(str(ipaddress.ip_address(item)))
        except ValueError:
            other.append(item)
    return addresses, other


def vlan_way(raw: dict[str, Any], rel: str, vlan_id: int) -> Way:
    """`rel` is the VLANs file; sources name the VLAN and field in words (a JSON list index is for tools)."""
    label = f"VLAN {vlan_id}"
    source = f"{rel}, VLAN {vlan_id}"
    handling = raw.get("dhcpHandling")
    if handling is not None and str(handling).lower() != RUNS_DHCP:
        return Way(label, (HOST,), f"{source} dhcpHandling",
                   stand_in=f"the resolvers the DHCP server behind VLAN {vlan_id} hands out (dhcpHandling "
                            f"'{handling}'; not in the snapshot)")
    setting = raw.get("dnsNameservers")
    if setting is None:
        return Way(label, (HOST,), source, stand_in=f"VLAN {vlan_id}'s DNS servers (dnsNameservers is not in the "
                                                    "snapshot)")
    keyword = str(setting).strip().lower()
    if keyword == UPSTREAM:
        return Way(label, (HOST,), f"{source} dnsNameservers",
                   stand_in=f"the MX's upstream DNS servers (VLAN {vlan_id}: dnsNameservers upstream_dns; the MX's "
                            "WAN DNS is not in the snapshot)")
    if keyword in KNOWN_RESOLVERS:
        return Way(label, KNOWN_RESOLVERS[keyword], f"{source} dnsNameservers ({keyword})")
    addresses, names = resolver_list(setting)
    if names or not addresses:
        what = f"names {', '.join(names)}, not addresses" if names else "is empty"
        return Way(label, (), f"{source} dnsNameservers",
                   unknown=f"VLAN {vlan_id}'s dnsNameservers {what}: the resolvers its clients ask cannot be "
                           "queried")
    return Way(label, tuple(addresses), f"{source} dnsNameservers")


class _Network:
    """One network's DNS settings, read once for all its roles."""

    def __init__(self, snapshot: Snapshot, net: NetworkModel) -> None:
        base = f"meraki/networks/{api_segment(net.id)}"
        self.net = net
        self.vlans: dict[int, Way] = {}
        rel = f"{base}/appliance/vlans.json"
        data = snapshot.read_json(rel) if "appliance" in net.product_types else None
        for raw in data if isinstance(data, list) else []:
            try:
                vlan_id = int(raw["id"])
            except (KeyError, TypeError, ValueError):
                continue  # the adapter reports a VLAN it cannot read
            self.vlans[vlan_id] = vlan_way(raw, rel, vlan_id)
        self.vlans.setdefault(0, Way("single LAN", (HOST,), f"{base}/appliance/singleLan.json",
                                     stand_in="the MX's DHCP DNS setting for its single LAN (not in its API data)"))
        self.ssids_rel = f"{base}/wireless/ssids.json"
        ssids = snapshot.read_json(self.ssids_rel) if "wireless" in net.product_types else None
        self.ssids: dict[str, tuple[int, dict[str, Any]]] = {}
        for i, raw in enumerate(ssids if isinstance(ssids, list) else []):
            if isinstance(raw, dict) and raw.get("enabled") is True:
                self.ssids.setdefault(str(raw.get("name") or f"SSID {raw.get('number', i)}"), (i, raw))

    def _vlan_ways(self, role: Role) -> list[Way]:
        ids = list(dict.fromkeys(v.vlan for v in role.variants if v.vlan is not None))
        return [self.vlans.get(i) or Way(f"VLAN {i}", (HOST,), stand_in=f"VLAN {i}'s DNS servers (not in the "
                                                                         "snapshot)") for i in ids]

    def ways(self, role: Role) -> list[Way]:
        if role.kind == "vlan":
            return self._vlan_ways(role) or [Way(role.name, (HOST,), stand_in=f"VLAN '{role.name}''s DNS servers")]
        found = self.ssids.get(role.ssid or "")
        if found is None:
            return [Way(role.ssid or role.name, (HOST,), stand_in="the DNS servers of the SSID's clients")]
        index, ssid = found
        number = ssid.get("number", index)
        source = f"{self.ssids_rel}, SSID {number}"
        rewrite = ssid.get("dnsRewrite")
        if not isinstance(rewrite, dict):
            rewrite = {}
        rewritten: Way | None = None
        if rewrite.get("enabled") is True:
            addresses, names = resolver_list(rewrite.get("dnsCustomNameservers") or [])
            if addresses and not names:
                rewritten = Way(f"SSID {number} DNS rewrite", tuple(addresses), f"{source} dnsRewrite")
            else:
                rewritten = Way(f"SSID {number} DNS rewrite", (), f"{source} dnsRewrite",
                                unknown=f"SSID {number} rewrites DNS (dnsRewrite.enabled) but names no custom "
                                        "nameserver address, so where its clients' queries go is not in the "
                                        "snapshot")
        if str(ssid.get("ipAssignmentMode", "NAT mode")).lower() == NAT_MODE:
            if rewritten is not None:  # the AP forwards to the custom servers instead of its own
                return [rewritten]
            return [Way(f"SSID {number} (NAT mode)", (HOST,), source,
                        stand_in=f"the resolvers the access points use (SSID {number} is in NAT mode: the AP forwards "
                                 "its clients' queries to its own DNS servers, which are not in the snapshot)")]
        ways = self._vlan_ways(role) or [Way(f"SSID {number}", (HOST,), source,
                                             stand_in=f"the DNS servers of the network SSID {number}'s clients "
                                                      "land on (not in the snapshot)")]
        return [rewritten, *ways] if rewritten is not None else ways


def network_dns(snapshot: Snapshot, net: NetworkModel, servers: list[VpnServer],
                records: dict[str, DnsRecords | None]) -> list[RoleDns]:
    """Each role's answer (once per role, whatever its phases) for each server with recorded answers."""
    wanted = [(s, records.get(s.fqdn.lower().rstrip("."))) for s in servers if s.fqdn]
    wanted = [(s, r) for s, r in wanted if r is not None]
    if not wanted:
        return []
    network = _Network(snapshot, net)
    # One answer per role, whatever its phases: the name resolves alike before and after sign-on. The
    # post-auth role stands for it (the other address is traced where the client is once signed on).
    roles: dict[tuple, Role] = {}
    for role in net.roles:
        key = (role.kind, role.name, role.ssid)
        if key not in roles or role.phase == "post-auth":
            roles[key] = role
    siblings = {id(server): sibling_addresses(server, servers) for server, _found in wanted}
    out: list[RoleDns] = []
    for role in roles.values():
        ways = list(dict.fromkeys(network.ways(role)))
        for server, found in wanted:
            assert found is not None
            out.append(assess(role, server, ways, found, siblings[id(server)]))
    return out


__all__ = ["KNOWN_RESOLVERS", "network_dns", "resolver_list", "vlan_way"]
