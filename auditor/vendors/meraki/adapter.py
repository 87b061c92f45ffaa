"""Meraki Dashboard snapshot -> networks, roles and their client-side hops.

Layers per wireless role, in traversal order (docs/semantics/meraki.md): splash gate (pre-auth phase only) -> SSID L3 ->
SSID L7 -> group policy L7 -> MX L3 (with the VLAN's group policy) -> MX L7 -> the MX's uplink NAT, or, for a
full-tunnel AutoVPN spoke, the site-to-site outbound firewall and the hub. Where Meraki does not document
how a `custom` or `ignore` group policy combines with the SSID's or the MX's rules, the hop carries both
readings and the trace reports unknown wherever they disagree.
"""

from __future__ import annotations

import ipaddress
import sys
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from itertools import repeat
from typing import Any, Literal

from auditor.assumptions import AP_VLAN, GROUP_POLICY_LAYERING, L7_PORT_UDP, SPLASH_HTTPS
from auditor.assumptions import note as assumed_note
from auditor.dns import DnsRecords, RoleDns
from auditor.model import (
    Action,
    AmbiguousHop,
    AssumedRule,
    DataGap,
    Decision,
    FilterHop,
    GapHop,
    Hop,
    IndexedRows,
    MayApplyHop,
    Model,
    NetworkModel,
    Origin,
    PassHop,
    Role,
    Rule,
    RuleList,
    Segment,
    SourceNatHop,
    Variant,
    VpnServer,
)
from auditor.packets import (
    ALL,
    ANY_ADDR,
    GLOBAL_V6,
    V4_BASE,
    Interval,
    PacketSet,
    address_interval,
    format_address_interval,
    network_interval,
)
from auditor.snapshot import Snapshot, SnapshotError, api_segment
from auditor.vendors.meraki.dns import network_dns as meraki_network_dns
from auditor.vendors.meraki.front import (
    client_vpn_flows,
    client_vpn_lan_hops,
    load_fronts,
    maybe_client_vpn_reason,
    unplaced_servers,
)
from auditor.vendors.meraki.mx import (
    SYNTHETIC_DEFAULT,
    UPLINK_CARRIES,
    deployment_mode,
    expect,
    l3_rows,
    mx_rule_list,
    optional,
    rule_rows,
    uplink_view,
    uplinks_by_network,
)
from auditor.vendors.meraki.rules import (
    Resolver,
    allow_all,
    l3_rules,
    l7_rules,
    row_destinations,
    row_keys,
)

IPSK_WITHOUT_RADIUS = {"ipsk-without-radius"}
# The SSID authMode values of the Dashboard API (v1 `updateNetworkWirelessSsid`). Which roles an SSID has (group
# policies RADIUS may name, identity PSKs) and which VLAN a client lands in (the RADIUS guest VLAN) follow from
# it: a value outside these is not guessed at.
AUTH_MODES = ("open", "open-enhanced", "psk", "open-with-radius", "open-enhanced-with-radius", "open-with-nac",
              "8021x-meraki", "8021x-nac", "8021x-radius", "8021x-google", "8021x-entra", "8021x-localradius",
              "ipsk-with-radius", "ipsk-without-radius", "ipsk-with-nac", "ipsk-with-radius-easy-psk")
def radius_assigns_policy(auth_mode: str) -> bool:
    """Whether a RADIUS (or NAC) server can hand clients of this authMode a group policy by name."""
    return auth_mode.startswith("8021x-") or auth_mode.endswith(("-with-radius", "-with-radius-easy-psk", "-nac"))
# Sign-on splash pages whose RADIUS server or directory can name a group policy for the client at sign-on.
SPLASH_ASSIGNS = {"password-protected with custom radius", "password-protected with active directory"}
TUNNELLED_MODES = {"layer 3 roaming with a concentrator", "vpn", "ethernet over gre", "campus gateway"}
BRIDGED_MODES = {"bridge mode", "layer 3 roaming"}
KNOWN_MODES = TUNNELLED_MODES | BRIDGED_MODES | {"nat mode"}
SYNTHETIC_LAN = "wireless clients accessing lan"
# The readings of a custom group policy against a layer's rules, by audit.yaml `assume:
# meraki-group-policy-layering` value (the first two are what the tool weighs without it).
LAYERINGS = {"policy-first": "policy rules first, then the layer's",
             "policy-replaces": "policy rules replace the layer's",
             "both-apply": "policy rules and the layer's both apply"}
@dataclass(slots=True)
class _OrgData:
    objects: dict[str, dict[str, Any]] | None
    groups: dict[str, dict[str, Any]] | None
    reason: str
    rows: dict[tuple, Any] = field(default_factory=dict)  # rows parsed once per org (meraki_rules.Resolver)
    # network id -> public addresses of its MX uplinks (appliance/uplink/statuses.json); None: not collected
    public: dict[str, list[tuple[int, int]]] | None = None
    public_rel: str = ""
    base: str = ""  # meraki/organizations/{id}
    names: dict[str, str] = field(default_factory=dict)  # network id -> name (hubs are named in traces)
    files: dict[str, Any] = field(default_factory=dict)  # org and hub files read once for every spoke
    servers: PacketSet = field(default_factory=PacketSet)  # packets to any VPN server of audit.yaml
    # network id -> its VPN exclusion entry; None: the org's exclusions were not collected
    exclusions: dict[str, dict[str, Any]] | None = None
    # non-Meraki peers with a default route: (name, public address, network tags); None: not collected
    default_peers: list[tuple[str, str, list[str]]] | None = None
    cellular: set[str] | None = None  # networks with a cellular uplink that can carry traffic; None: unknown
    # network id -> the hop its clients cross first when its MX is itself a VPN server (meraki_front)
    client_vpn: dict[str, Hop] = field(default_factory=dict)
    # Without the uplink statuses: the Client VPN flows to servers any MX of the org may be, and why
    maybe_client_vpn: tuple[PacketSet, str] | None = None

    def read(self, snapshot: Snapshot, rel: str) -> Any:
        if rel not in self.files:
            self.files[rel] = snapshot.read_json(rel)
            snapshot.kept(rel)
        else:
            snapshot.reread(rel)  # the network that asks depends on it too (audit cache)
        return self.files[rel]


@dataclass(slots=True)
class _Vlan:
    id: int
    name: str
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    group_policy_id: str | None
    ipv6: list[tuple[int, int]] = field(default_factory=list)  # the VLAN's IPv6 prefixes ([]: IPv6 off)
    _addresses: dict[bool, list[tuple[int, int]]] = field(default_factory=dict)

    def addresses(self, with_ipv6: bool = True) -> list[tuple[int, int]]:
        """Its clients' source addresses (any address when the VLAN names no subnet); `with_ipv6` False for
        clients an AP in NAT mode addresses (IPv4 only). One list per VLAN, shared by every variant that
        lands in it (read-only): thousands of networks make the copies add up."""
        found = self._addresses.get(with_ipv6)
        if found is None:
            found = self._addresses[with_ipv6] = [ANY_ADDR] if self.subnet is None else \
                [network_interval(self.subnet), *(self.ipv6 if with_ipv6 else ())]
        return found


@dataclass(frozen=True, slots=True)
class _AutoVpn:
    """Where a network's MX sends internet traffic (appliance/vpn/siteToSiteVpn.json), read once."""

    # "local": out of its own uplink; "gap": the snapshot cannot say (`gap` is why); "tunnel": a VPN may carry it
    kind: Literal["local", "gap", "tunnel"]
    gap: str = ""
    hubs: list[str] = field(default_factory=list)  # default-route hub ids, in priority order
    peers: dict[str, str] = field(default_factory=dict)  # default-route non-Meraki peer -> what the trace says
    subnets: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)  # the settings' subnets


_LOCAL = _AutoVpn("local")


class MerakiAdapter:
    def load(self, snapshot: Snapshot, model: Model) -> None:
        for _network in self.iter_networks(snapshot, model, None):
            pass

    def load_devices(self, snapshot: Snapshot, model: Model) -> None:
        """MXs in front of a VPN server (port forwards, 1:1 and 1:many NAT), before any network streams."""
        load_fronts(snapshot, model)

    def count_networks(self, snapshot: Snapshot) -> int:
        """Networks listed in the orgs' networks.json files (unreadable ones count none: the audit says why)."""
        total = 0
        for folder in snapshot.listdir("meraki/organizations"):
            try:
                networks = snapshot.read_json(f"{folder}/networks.json")
            except SnapshotError:
                continue
            total += len(networks) if isinstance(networks, list) else 0
        return total

    def list_networks(self, snapshot: Snapshot) -> list[tuple[str, str, list[str]]]:
        """(id, name, product types) of every network the orgs' networks.json files list, without building
        any; unreadable files list none (the audit says why). For names given on the command line."""
        out = []
        for folder in snapshot.listdir("meraki/organizations"):
            try:
                networks = snapshot.read_json(f"{folder}/networks.json")
            except SnapshotError:
                continue
            for raw in networks if isinstance(networks, list) else []:
                if isinstance(raw, dict) and "id" in raw:
                    products = raw.get("productTypes")
                    out.append((str(raw["id"]), str(raw.get("name") or raw["id"]),
                                [str(p) for p in products] if isinstance(products, list) else []))
        return out

    def network_dns(self, snapshot: Snapshot, net: NetworkModel, servers: list[VpnServer],
                    records: dict[str, DnsRecords | None]) -> list[RoleDns]:
        return meraki_network_dns(snapshot, net, servers, records)

    def iter_networks(self, snapshot: Snapshot, model: Model,
                      take: Callable[[NetworkModel], bool] | None = None) -> Iterator[NetworkModel]:
        orgs = snapshot.read_json("meraki/organizations.json")
        org_ids: list[str] = []
        if orgs is not None:
            org_ids = [str(o.get("id")) for o in expect(orgs, list, "meraki/organizations.json", "a list")
                       if isinstance(o, dict)]
        for folder in snapshot.listdir("meraki/organizations"):
            org_id = urllib.parse.unquote(folder.rsplit("/", 1)[1])  # folder names are percent-encoded ids
            if org_id not in org_ids:
                org_ids.append(org_id)
        if not org_ids:
            model.gaps.append(DataGap("meraki/organizations.json", snapshot.absence_reason(
                "meraki/organizations.json"), unaudited="every organization's networks and their roles"))
        # A name is every address audit.yaml gives it: two servers may share one (DNS round robin).
        dns: dict[str, list] = {}
        for server in model.servers:
            if server.fqdn:
                dns.setdefault(server.fqdn.strip().lower().rstrip("."), []).append(address_interval(server.address))
        for org_id in org_ids:
            yield from self._load_org(snapshot, model, org_id, dns, take)

    def _load_org(self, snapshot: Snapshot, model: Model, org_id: str, dns: dict,
                  take: Callable[[NetworkModel], bool] | None) -> Iterator[NetworkModel]:
        base = f"meraki/organizations/{api_segment(org_id)}"
        networks = snapshot.read_json(f"{base}/networks.json")
        if networks is None:
            model.gaps.append(DataGap(f"{base}/networks.json", snapshot.absence_reason(f"{base}/networks.json"),
                                      unaudited=f"the networks of organization {org_id} and their roles"))
            return
        expect(networks, list, f"{base}/networks.json", "a list of networks")
        org = self._org_data(snapshot, base)
        org.client_vpn = client_vpn_lan_hops(model)
        if org.public is None and (unplaced := unplaced_servers(model)):
            reason = maybe_client_vpn_reason(unplaced, org.public_rel,
                                             snapshot.absence_reason(org.public_rel))
            org.maybe_client_vpn = (client_vpn_flows([address_interval(s.address) for s in unplaced]),
                                    reason)
            model.gaps.append(DataGap(org.public_rel, reason))
        org.names = {str(n["id"]): str(n.get("name") or n["id"]) for n in networks if isinstance(n, dict) and "id" in n}
        org.servers = PacketSet.of(dst=[address_interval(s.address) for s in model.servers]) if model.servers \
            else PacketSet()
        if org.reason:  # OBJ()/GRP() references then stay unknown; the report must also say what is missing
            model.gaps.extend(DataGap(rel, snapshot.absence_reason(rel)) for rel in (
                f"{base}/policyObjects.json", f"{base}/policyObjects/groups.json") if not snapshot.exists(rel))
        for index, raw in enumerate(networks):
            expect(raw, dict, f"{base}/networks.json[{index}]", "a network object")
            if "id" not in raw:
                raise SnapshotError(f"{base}/networks.json", f"network [{index}] has no 'id'")
            products = optional(raw, "productTypes", list, f"{base}/networks.json[{index}]")
            if not all(isinstance(p, str) for p in products):
                raise SnapshotError(f"{base}/networks.json[{index}]", "expected 'productTypes' to list strings")
            tags = raw.get("tags") or []
            tags = tags.split() if isinstance(tags, str) else tags  # early API versions: one spaced string
            if not isinstance(tags, list):
                raise SnapshotError(f"{base}/networks.json[{index}]", "expected 'tags' to be a list")
            net = NetworkModel(str(raw["id"]), str(raw.get("name") or raw["id"]), org_id,
                               product_types=[str(p) for p in products], tags=[str(t) for t in tags])
            if model.scope is not None and net.id.lower() not in model.scope and net.name.lower() not in model.scope:
                continue
            if take is not None and not take(net):
                continue
            model.networks.append(net)
            zone = raw.get("timeZone")
            _NetworkBuilder(snapshot, net, org, dns, model.assume, zone if isinstance(zone, str) else "").build()
            yield net

    def _org_data(self, snapshot: Snapshot, base: str) -> _OrgData:
        objects_rel, groups_rel = f"{base}/policyObjects.json", f"{base}/policyObjects/groups.json"
        objects = snapshot.read_json(objects_rel)
        groups = snapshot.read_json(groups_rel)
        reasons = []
        if objects is None:
            reasons.append(snapshot.absence_reason(objects_rel))
        if groups is None:
            reasons.append(snapshot.absence_reason(groups_rel))
        uplinks_rel = f"{base}/appliance/uplink/statuses.json"
        statuses = snapshot.read_view(uplinks_rel, uplink_view)
        exclusions_rel = f"{base}/appliance/trafficShaping/vpnExclusions/byNetwork.json"
        peers_rel = f"{base}/appliance/vpn/thirdPartyVPNPeers.json"
        return _OrgData(
            {str(o.get("id")): o for o in expect(objects, list, objects_rel, "a list") if isinstance(o, dict)}
            if objects is not None else None,
            {str(g.get("id")): g for g in expect(groups, list, groups_rel, "a list") if isinstance(g, dict)}
            if groups is not None else None,
            "; ".join(reasons),
            public=_uplink_addresses(statuses, uplinks_rel),
            public_rel=uplinks_rel,
            base=base,
            exclusions=_exclusions(snapshot.read_json(exclusions_rel), exclusions_rel),
            default_peers=_default_peers(snapshot.read_json(peers_rel), peers_rel),
            cellular=_cellular_networks(statuses),
        )


# What the SSID's LAN rule matches (private IPv4 destinations): one set for every SSID list of an org.
_WIRELESS_LAN = PacketSet.of(dst=[address_interval(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")])


class _NetworkBuilder:
    def __init__(self, snapshot: Snapshot, net: NetworkModel, org: _OrgData, dns: dict,
                 assume: dict[str, Any] | None = None, time_zone: str = "") -> None:
        self.snapshot = snapshot
        self.time_zone = time_zone  # networks.json `timeZone`: group policy schedules run on it
        self.assume = assume or {}  # audit.yaml `assume:` (auditor/assumptions.py), applied where it settles
        self.net = net
        self.base = f"meraki/networks/{api_segment(net.id)}"  # the file names the collector writes
        self.has_mx = "appliance" in net.product_types
        self.has_mr = "wireless" in net.product_types
        self.vlans, self.vlans_reason = self._load_vlans() if self.has_mx else (None, "no MX in this network")
        vlan_subnets = None
        if self.vlans is not None:
            vlan_subnets = {v.id: v.subnet for v in self.vlans if v.subnet is not None}
        self.resolver = Resolver(vlans=vlan_subnets, vlans_reason=self.vlans_reason, objects=org.objects,
                                 groups=org.groups, objects_reason=org.reason, dns=dns, rows=org.rows)
        self.policies, self.policies_reason = self._load_policies()
        self._hops: dict[tuple, Hop] = {}
        self.org = org
        self._autovpn_state: _AutoVpn | None = None
        self._own_files: dict[str, Any] = {}  # this network's files that several VLANs read
        self._hub_hop_lists: dict[str, list[Hop]] = {}  # hub id -> its hops, shared by the network's VLANs
        self._routed_hops: dict[tuple | None, list[Hop]] = {}  # _mx_hops of a routed MX, by group policy
        self._routes: dict[tuple, list[tuple[str, list[Hop]]]] = {}  # _mx_routes by VLAN and group policy
        self._cellular_list: RuleList | None = None  # the MX's cellular failover rules, once read
        self._excluded: str | None = None  # _may_be_excluded, once worked out
        self._vlan_policies: dict[int, dict[str, Any]] = {}  # VLAN id -> its group policy (one object each)
        self._dropped: dict[str, RuleList] = {}  # a layer's L7 list -> the reading that drops it

    # -- loading -----------------------------------------------------------------------------------------
    def _gap(self, rel: str, reason: str | None = None, unaudited: str = "") -> str:
        """Record a missing file; `unaudited` names the roles it would have listed (see DataGap)."""
        reason = reason or self.snapshot.absence_reason(rel)
        self.net.gaps.append(DataGap(rel, reason, self.net.id, self.net.name, unaudited))
        return reason

    def _load_vlans(self) -> tuple[list[_Vlan] | None, str]:
        settings_rel = f"{self.base}/appliance/vlans/settings.json"
        vlans_rel = f"{self.base}/appliance/vlans.json"
        single_rel = f"{self.base}/appliance/singleLan.json"
        settings = self.snapshot.read_json(settings_rel)
        vlans = self.snapshot.read_json(vlans_rel)
        enabled = settings.get("vlansEnabled") if isinstance(settings, dict) else None
        if enabled is False or (enabled is None and vlans is None):
            single = self.snapshot.read_json(single_rel)
            if single is None:
                unaudited = f"the VLAN roles of {self.net.name}"
                if enabled is None:
                    return None, self._gap(vlans_rel, unaudited=unaudited)
                return None, self._gap(single_rel, unaudited=unaudited)
            expect(single, dict, single_rel, "an object")
            return [_Vlan(0, "Single LAN", _subnet(single.get("subnet"), single_rel), None,
                          _ipv6_prefixes(single, single_rel))], ""
        if vlans is None:
            return None, self._gap(vlans_rel, unaudited=f"the VLAN roles of {self.net.name}")
        out = []
        for i, raw in enumerate(expect(vlans, list, vlans_rel, "a list of VLANs")):
            if not isinstance(raw, dict):  # the message is only built for a bad item
                expect(raw, dict, f"{vlans_rel}[{i}]", "a VLAN object")
            try:
                vlan_id = int(raw["id"])
            except (KeyError, TypeError, ValueError):
                raise SnapshotError(vlans_rel, f"VLAN [{i}] has no numeric 'id'") from None
            gp = raw.get("groupPolicyId")
            out.append(_Vlan(vlan_id, str(raw.get("name") or f"VLAN {vlan_id}"),
                             _subnet(raw.get("subnet") or raw.get("cidr"), vlans_rel),
                             str(gp) if gp not in (None, "") else None,
                             _ipv6_prefixes(raw, f"{vlans_rel}[{i}]")))
        return out, ""

    def _load_policies(self) -> tuple[dict[str, dict[str, Any]] | None, str]:
        rel = f"{self.base}/groupPolicies.json"
        data = self.snapshot.read_json(rel)
        if data is None:
            if self.has_mx or self.has_mr:
                return None, self.snapshot.absence_reason(rel)
            return {}, ""
        out = {}
        for i, raw in enumerate(expect(data, list, rel, "a list of group policies")):
            where = f"{rel}[{i}]"
            expect(raw, dict, where, "a group policy object")
            raw = dict(raw)
            raw["_index"] = i
            gp_id = raw.get("groupPolicyId")
            if isinstance(gp_id, bool) or not isinstance(gp_id, str | int):
                raise SnapshotError(where, f"expected 'groupPolicyId' to be a string, found {type(gp_id).__name__}")
            raw["groupPolicyId"] = str(gp_id)  # ids key caches below: one hashable form
            # Checked once here, so the layers below can read these without guarding every access.
            fw = optional(raw, "firewallAndTrafficShaping", dict, where)
            for key in ("l3FirewallRules", "l7FirewallRules"):
                for j, row in enumerate(optional(fw or {}, key, list, f"{where}.firewallAndTrafficShaping")):
                    if not isinstance(row, dict):  # the message is only built for a bad item
                        expect(row, dict, f"{where}.firewallAndTrafficShaping.{key}[{j}]", "a rule object")
            optional(raw, "vlanTagging", dict, where)
            out[raw["groupPolicyId"]] = raw
        return out, ""

    # -- building ----------------------------------------------------------------------------------------
    def build(self) -> None:
        if self.has_mr:
            self._wireless_roles()
        if self.has_mx:
            self._vlan_roles()

    def _wireless_roles(self) -> None:
        rel = f"{self.base}/wireless/ssids.json"
        ssids = self.snapshot.read_json(rel)
        if ssids is None:
            self._gap(rel, unaudited=f"the wireless roles of {self.net.name} (its SSIDs, identity PSKs and group "
                                     "policies)")
            return
        for i, ssid in enumerate(expect(ssids, list, rel, "a list of SSIDs")):
            if not isinstance(ssid, dict):  # the message is only built for a bad item
                expect(ssid, dict, f"{rel}[{i}]", "an SSID object")
            if ssid.get("enabled") is True:
                self._ssid_roles(ssid, i)

    def _unknown_auth(self, ssid: dict[str, Any], name: str, device: str, has_splash: bool) -> None:
        """An SSID whose authMode is missing or not one the API defines: one role, unknown at its access point
        (whether RADIUS names group policies or a guest VLAN, or identity PSKs give roles, is what it says)."""
        reason = (f"its authMode {ssid.get('authMode')!r} is not one the Dashboard API defines: whether its clients "
                  "get group policies (RADIUS, identity PSKs) or another VLAN (the RADIUS guest VLAN) is unknown")
        gap = GapHop(device, "auth", Origin(f"{self.base}/wireless/ssids.json"), reason=reason)
        for phase in (["pre-auth", "post-auth"] if has_splash else ["post-auth"]):
            role = Role("ssid", name, self.net.id, self.net.name, ssid=name, phase=phase)
            role.variants.append(Variant("authMode not understood", [ANY_ADDR], [gap]))
            self.net.roles.append(role)

    def _ssid_roles(self, ssid: dict[str, Any], index: int) -> None:
        number = ssid.get("number", index)
        name = str(ssid.get("name") or f"SSID {number}")
        auth = str(ssid.get("authMode", "")).lower()
        splash = str(ssid.get("splashPage") or "None")
        has_splash = splash.lower() not in ("none", "")
        ssid_base = f"{self.base}/wireless/ssids/{_segment(number)}"
        device = f"{self.net.name} / SSID {number} ({name})"

        if auth not in AUTH_MODES:  # missing, or not a mode: its roles and their VLANs are unknown
            self._unknown_auth(ssid, name, device, has_splash)
            return
        # (kind, role name, group policy or None, its id, how clients get it, notes, sign-on assigns it)
        roles: list[_RoleSpec] = [_RoleSpec("ssid", name, None, None)]
        if auth in IPSK_WITHOUT_RADIUS:
            roles.extend(_RoleSpec(*spec) for spec in self._ipsk_roles(ssid_base, device))
        # RADIUS names a policy at association (802.1X, MAC, iPSK with RADIUS, NAC), or a sign-on splash page
        # with RADIUS or Active Directory at sign-on: any policy of the network is possible.
        at_sign_on = splash.lower() in SPLASH_ASSIGNS and not radius_assigns_policy(auth)
        by_policy: dict[str, _RoleSpec] = {}
        if radius_assigns_policy(auth) or at_sign_on:
            if self.policies is None:
                self._gap(f"{self.base}/groupPolicies.json", self.policies_reason,
                          unaudited=f"the group policy roles of {device}")
            else:
                for known_id, known in self.policies.items():
                    spec = by_policy[known_id] = _RoleSpec("group_policy", str(known.get("name") or known_id),
                                                           known, known_id, sign_on=at_sign_on)
                    if at_sign_on:
                        spec.notes.append(f"the sign-on splash page ({splash}) can assign group policy "
                                          f"'{spec.name}' at sign-on")
                    roles.append(spec)
        roles.extend(self._device_type_roles(ssid_base, device, by_policy))

        for spec in roles:
            kind, role_name, policy, gp_id = spec.kind, spec.name, spec.policy, spec.gp_id
            bypass = bool(policy and str(policy.get("splashAuthSettings", "")).lower() == "bypass")
            phases = ["post-auth"]
            if has_splash and not spec.sign_on and (not bypass or self._in_force(policy)[-1][0] is None):
                phases.insert(0, "pre-auth")  # a bypass policy skips the splash only while it is in force
            for phase in phases:
                role = Role(kind, role_name, self.net.id, self.net.name, ssid=name, phase=phase,
                            group_policy=gp_id, via=spec.via, notes=list(spec.notes))
                for in_force, cases, suffix in self._in_force(policy, role):
                    if phase == "pre-auth" and bypass and in_force is not None:
                        continue
                    hops: list[Hop] = []
                    if phase == "pre-auth":
                        hops.append(self._splash_gate(ssid, ssid_base, device))
                    hops.extend(self._ssid_hops(ssid_base, device, in_force, gp_id))
                    role.variants.extend(_with_cases(self._wireless_variants(ssid, in_force, hops, role), cases,
                                                     suffix))
                self.net.roles.append(role)

    def _in_force(self, policy: dict[str, Any] | None,
                  role: Role | None = None) -> list[tuple[dict[str, Any] | None, tuple[str, ...], str]]:
        """The states of a group policy over the week, as (the policy, or None when it is not in force;
        the cases that select the state; a label suffix). One state unless the policy is scheduled: then its
        windows and the time outside them, or, when the schedule cannot be read, both as ways the snapshot
        cannot tell apart (they must agree, else unknown). A `role` gets a note saying so."""
        if policy is None or "_missing" in policy:
            return [(policy, (), "")]
        name = policy.get("name") or policy.get("groupPolicyId")
        kind, text = policy_schedule(policy)
        if kind == "always":
            return [(policy, (), "")]
        note = ""
        if kind == "never":
            out: list[tuple[dict[str, Any] | None, tuple[str, ...], str]] = [(None, (), "")]
            note = f"group policy '{name}' is scheduled but in force at no time of the week: traced without it"
        elif kind == "window":
            zone = f" ({self.time_zone})" if self.time_zone else ""
            out = [(policy, (sys.intern(f"while '{name}' is active: {text}{zone}"),), ""),
                   (None, (sys.intern(f"while '{name}' is not active"),), "")]
            note = f"group policy '{name}' is in force only {text}{zone}: traced in and out of its schedule"
        else:
            out = [(policy, (), sys.intern(f", '{name}' in force")),
                   (None, (), sys.intern(f", '{name}' not in force (its schedule is not understood: {text})"))]
            note = f"the schedule of group policy '{name}' is not understood ({text}): traced in and out of force"
        if role is not None and note not in role.notes:
            role.notes.append(note)
        return out

    def _device_type_roles(self, ssid_base: str, device: str, by_policy: dict[str, _RoleSpec]) -> list[_RoleSpec]:
        """Group policies the SSID assigns by device type (`deviceTypeGroupPolicies`: `enabled`,
        `deviceTypePolicies[{deviceType, devicePolicy, groupPolicyId}]`): one `group_policy` role per policy,
        naming the device types; a policy that is a role already (RADIUS) only gains a note. `Allowed` and
        `Blocked` device types get no policy (nor a role of their own); another value is unknown."""
        rel = f"{ssid_base}/deviceTypeGroupPolicies.json"
        # Read even where the network has no group policy to map a device type to: a file that is there but
        # malformed (a truncated collection) is an error, not silently passed over.
        data = self.snapshot.read_json(rel)
        if data is None:
            # Roles are missing only where a policy is not a role of the SSID already (or policies are unknown)
            if self.policies is None or any(gp_id not in by_policy for gp_id in self.policies):
                self._gap(rel, unaudited=f"the device-type group policy roles of {device}")
            return []
        body = expect(data, dict, rel, "an object with 'deviceTypePolicies'")
        enabled = body.get("enabled")
        if enabled is False or self.policies == {}:  # no group policy to map a device type to
            return []
        out: dict[str, _RoleSpec] = {}
        for i, entry in enumerate(optional(body, "deviceTypePolicies", list, rel)):
            where = f"{rel} deviceTypePolicies[{i}]"
            expect(entry, dict, where, "a device type policy object")
            kind = str(entry.get("devicePolicy", "")).strip().lower()
            device_type = str(entry.get("deviceType") or f"device type {i + 1}")
            if kind in ("allowed", "blocked"):
                continue
            gp_id = entry.get("groupPolicyId")
            policy: dict[str, Any] | None
            if kind != "group policy" or gp_id in (None, "") or isinstance(gp_id, bool):
                gp_id = f"device-type:{device_type}"
                policy = {"_missing": f"{where}: devicePolicy {entry.get('devicePolicy')!r} for {device_type} "
                                      "clients is not understood, so what policy they get is unknown",
                          "groupPolicyId": gp_id}
                name = f"{device_type} devices"
            else:
                gp_id = str(gp_id)
                if self.policies is None:
                    self._gap(f"{self.base}/groupPolicies.json", self.policies_reason)
                    policy = {"_missing": self.policies_reason, "groupPolicyId": gp_id}
                else:
                    policy = self.policies.get(gp_id) or {
                        "_missing": f"group policy {gp_id} named by {where} is not in groupPolicies.json",
                        "groupPolicyId": gp_id}
                name = str(policy.get("name") or gp_id)
            note = f"{device_type} clients on this SSID get group policy '{name}' (device type group policies)"
            if enabled is not True:
                note += f"; whether the mapping is enabled is not understood (enabled: {enabled!r})"
            if gp_id in by_policy:
                by_policy[gp_id].notes.append(note)
                continue
            spec = out.get(gp_id)
            if spec is None:
                spec = out[gp_id] = _RoleSpec("group_policy", name, policy, gp_id)
            spec.types.append(device_type)
            spec.via = "device type " + ", ".join(f"'{t}'" for t in spec.types)
            spec.notes.append(note)
        return list(out.values())

    def _ipsk_roles(self, ssid_base: str, device: str) -> list[tuple[str, str, dict | None, str | None]]:
        rel = f"{ssid_base}/identityPsks.json"
        data = self.snapshot.read_json(rel)
        if data is None:
            self._gap(rel, unaudited=f"the identity PSK roles of {device}")
            return []
        out: list[tuple[str, str, dict | None, str | None]] = []
        for i, psk in enumerate(expect(data, list, rel, "a list of identity PSKs")):
            if not isinstance(psk, dict):  # the message is only built for a bad item
                expect(psk, dict, f"{rel}[{i}]", "an identity PSK object")
            gp_id = psk.get("groupPolicyId")
            policy: dict[str, Any] | None = None
            if gp_id not in (None, ""):
                gp_id = str(gp_id)
                if self.policies is None:
                    self._gap(f"{self.base}/groupPolicies.json", self.policies_reason)
                    policy = {"_missing": self.policies_reason, "groupPolicyId": gp_id}
                else:
                    policy = self.policies.get(gp_id) or {
                        "_missing": f"group policy {gp_id} named by {rel}[{i}] is not in groupPolicies.json",
                        "groupPolicyId": gp_id}
            out.append(("ipsk", str(psk.get("name") or psk.get("id") or f"iPSK {i}"), policy,
                        str(gp_id) if gp_id else None))
        return out

    # -- hops ------------------------------------------------------------------------------------------
    def _cached(self, key: tuple, build: Any) -> Hop:
        hop = self._hops.get(key)
        if hop is None:
            hop = build()
            self._hops[key] = hop
        return hop

    def _splash_gate(self, ssid: dict[str, Any], ssid_base: str, device: str) -> Hop:
        rel = f"{ssid_base}/splash/settings.json"

        def build() -> Hop:
            settings = self.snapshot.read_json(rel)
            if settings is None:
                return GapHop(device, "splash", Origin(rel), reason=self._gap(rel))
            expect(settings, dict, rel, "an object")
            block = settings.get("blockAllTrafficBeforeSignOn")
            origin = Origin(rel)
            if not isinstance(block, bool):  # 0, "" or [] must not read as "false": that opens the gate
                return GapHop(device, "splash", origin,
                              reason=f"{rel} does not say whether traffic is blocked before sign-on"
                                     + (f" (blockAllTrafficBeforeSignOn: {block!r})" if block is not None else ""))
            if not block:
                https = PacketSet.of(proto=[(6, 6)], dport=[(443, 443)])
                rules = [
                    Rule(1, Action.DENY, PacketSet.of(proto=[(6, 6)], dport=[(80, 80)]),
                         "HTTP redirected to the splash page", "", origin),
                    Rule(2, Action.DENY, https, "HTTPS before sign-on", "", origin, certain=False,
                         reason="with blockAllTrafficBeforeSignOn false only non-HTTP traffic is documented "
                                "to pass; whether TCP 443 to other hosts passes before sign-on is not"),
                ]
                passes = self.assume.get(SPLASH_HTTPS)
                if passes is not None:  # the admin says which; a permit before the default passes what it would
                    rules[1] = AssumedRule(2, Action.PERMIT if passes else Action.DENY, https,
                                           f"HTTPS {'allowed' if passes else 'held'} before sign-on", "", origin,
                                           assumed=assumed_note(SPLASH_HTTPS, passes))
                default = Rule(3, Action.PERMIT, ALL, "non-HTTP traffic allowed before sign-on "
                               "(blockAllTrafficBeforeSignOn: false)", "", origin, synthetic=True)
                return FilterHop(device, "splash", origin, RuleList("splash", rules, default, origin))
            rules = []
            if ssid.get("walledGardenEnabled"):
                ranges = optional(ssid, "walledGardenRanges", list, f"{self.base}/wireless/ssids.json")
                for i, entry in enumerate(ranges):
                    rules.extend(self._walled_garden_rule(str(entry), len(rules) + 1,
                                                          Origin(f"{self.base}/wireless/ssids.json", i)))
            default = Rule(len(rules) + 1, Action.DENY, ALL,
                           "everything outside the walled garden before sign-on "
                           "(blockAllTrafficBeforeSignOn: true)", "", origin, synthetic=True)
            return FilterHop(device, "splash", origin, RuleList("splash", rules, default, origin))

        return self._cached(("splash", ssid_base), build)

    def _walled_garden_rule(self, entry: str, position: int, origin: Origin) -> list[Rule]:
        text = sys.intern(f"walled garden {entry}")  # the same entries in every network
        match = _garden_addresses(entry)
        if match is not None:
            return [Rule(position, Action.PERMIT, match, text, "", origin)]
        covered = self.resolver.names_named(entry)  # a permit: never a parent domain's subdomains
        if covered:
            return [Rule(position, Action.PERMIT, PacketSet.of(dst=covered), text, "", origin)]
        return []  # a host name that is not the VPN server's cannot open the path to it

    def _ssid_l3(self, ssid_base: str, device: str) -> tuple[RuleList | None, Hop | None]:
        rel = f"{ssid_base}/firewall/l3FirewallRules.json"
        key = ("ssid-l3", ssid_base)
        if key in self._hops:
            hop = self._hops[key]
            return (hop.rules if isinstance(hop, FilterHop) else None), hop
        data = self.snapshot.read_json(rel)
        if data is None:
            hop = GapHop(device, "ssid-l3", Origin(rel), reason=self._gap(rel))
            self._hops[key] = hop
            return None, hop
        rules = self._ssid_rule_list(data, rel)
        hop = FilterHop(device, "ssid-l3", rules.origin, rules)
        self._hops[key] = hop
        self.net.rule_lists.append((hop, rules))
        return rules, hop

    def _ssid_rule_list(self, data: Any, rel: str) -> RuleList:
        rows = rule_rows(data, rel)
        allow_lan = data.get("allowLanAccess")
        if not isinstance(allow_lan, bool):
            allow_lan = None  # unreadable: the LAN row below decides, else the LAN rule is uncertain
        user_rows = list(enumerate(rows))
        # Real GETs end with the two synthetic rows; strip them (the LAN one mirrors allowLanAccess).
        lan_row = None
        if user_rows and str(user_rows[-1][1].get("comment", "")).strip().lower() == SYNTHETIC_DEFAULT:
            user_rows.pop()
        if user_rows and str(user_rows[-1][1].get("comment", "")).strip().lower() == SYNTHETIC_LAN:
            lan_row = user_rows.pop()
        position = len(user_rows) + 1
        whole = Origin(rel)  # one for the list, its default and hop (origins are never changed)
        lan_origin = Origin(rel, lan_row[0]) if lan_row else whole
        lan_match = _WIRELESS_LAN
        if allow_lan is None and lan_row is not None:
            allow_lan = str(lan_row[1].get("policy", "")).lower() == "allow"
        if allow_lan is None:
            lan_rule = Rule(position, Action.DENY, lan_match, "wireless clients accessing LAN", "", lan_origin,
                            certain=False, reason="allowLanAccess is not in the snapshot", synthetic=True)
        else:
            lan_rule = Rule(position, Action.PERMIT if allow_lan else Action.DENY, lan_match,
                            f"{'allow' if allow_lan else 'deny'} wireless clients accessing LAN "
                            f"(allowLanAccess: {str(bool(allow_lan)).lower()})", "", lan_origin, synthetic=True)
        default = Rule(position + 1, Action.PERMIT, ALL, "default rule: allow any", "", whole, synthetic=True)
        lazy = l3_rows(rel, user_rows, self.resolver, with_source=False, local_lan=True, tail=lan_rule)
        return RuleList(rel, None, default, whole, lazy)

    def _l7_hop(self, rel: str, device: str, stage: str) -> Hop:
        def build() -> Hop:
            data = self.snapshot.read_json(rel)
            if data is None:
                return GapHop(device, stage, Origin(rel), reason=self._gap(rel))
            rules, count = l7_rules(list(enumerate(rule_rows(data, rel))), lambda i: Origin(rel, i), self.resolver,
                                    self.assume.get(L7_PORT_UDP))
            whole = Origin(rel)
            default = Rule(count + 1, Action.PERMIT, ALL, "no L7 rule matches", "", whole, synthetic=True)
            return FilterHop(device, stage, whole, RuleList(rel, rules, default, whole))

        return self._cached((stage, rel), build)

    def _policy_rules(self, policy: dict[str, Any], with_default: bool) -> RuleList:
        """A group policy's custom L3 rules (destination-only rows), default allow."""
        rel = f"{self.base}/groupPolicies.json"
        fw = policy.get("firewallAndTrafficShaping") or {}
        rows = fw.get("l3FirewallRules") or []
        expect(rows, list, rel, "l3FirewallRules to be a list")
        origin = Origin(rel, policy.get("_index"))
        if not all(map(isinstance, rows, repeat(dict))):  # checked in C; the message is only built for a bad item
            for row in rows:
                expect(row, dict, rel, "a rule object")
        resolver, name = self.resolver, policy.get("name")

        def parse(i: int) -> list[Rule]:
            return _policy_row(rows[i], i + 1, origin, resolver, f"group policy '{name}' rule {i + 1}",
                               f"[{policy.get('_index')}].firewallAndTrafficShaping.l3FirewallRules[{i}]")

        whole = Origin(rel)
        default = Rule(len(rows) + 1, Action.PERMIT, ALL, "default allow", "", whole, synthetic=True)

        def dests(i: int) -> Sequence[Interval] | None:
            return row_destinations(rows[i], resolver)

        return RuleList(f"{rel}#{policy.get('groupPolicyId')}", None, default, whole,
                        IndexedRows(row_keys(rows), parse, dests))

    def _compose(self, device: str, stage: str, base_rules: RuleList | None, base_hop: Hop | None,
                 policy: dict[str, Any] | None) -> Hop | None:
        """The hop where a group policy meets a layer's own rules (SSID or MX)."""
        if policy is None:
            return base_hop
        if "_missing" in policy:
            return GapHop(device, stage, reason=policy["_missing"])
        fw = policy.get("firewallAndTrafficShaping") or {}
        name = policy.get("name") or policy.get("groupPolicyId")
        if fw and "settings" not in fw:  # GETs always say; without it, "network default" would be a guess
            return GapHop(device, stage, reason=f"group policy '{name}' has firewallAndTrafficShaping without "
                                                "'settings', so whether its own rules apply is unknown")
        setting = str(fw.get("settings", "network default")).lower()
        if setting == "network default":
            return base_hop
        if base_rules is None:
            # The layer's own rules are missing: whatever the policy does, the result is unknown.
            return base_hop
        if setting == "custom":
            gp = self._policy_rules(policy, with_default=False)
            prepend = RuleList.concat(f"{gp.name}+{base_rules.name}", gp, base_rules, base_rules.default)
            # Three readings: Meraki documents no precedence, and field reports say a layer's deny still holds
            # against a policy's allow (both lists must pass), a reading neither of the other two covers.
            # A policy that only denies filters the same way under both-apply as first-then-layer: one list
            # for both readings (evaluated once; the reason still names the three).
            denies_only = all(isinstance(row, dict) and str(row.get("policy", "")).strip().lower() == "deny"
                              for row in (policy.get("firewallAndTrafficShaping") or {}).get("l3FirewallRules") or [])
            readings: dict[str, RuleList] = {
                LAYERINGS["policy-first"]: prepend, LAYERINGS["policy-replaces"]: gp,
                LAYERINGS["both-apply"]: prepend if denies_only else BothApply(f"{gp.name}&{base_rules.name}", gp,
                                                                                base_rules)}
            layering = self.assume.get(GROUP_POLICY_LAYERING)
            return AmbiguousHop(device, f"{stage}+group-policy", None, readings=readings,
                                why=f"Group policy '{name}' has custom firewall rules; Meraki does not document "
                                    f"whether they are evaluated before the {stage} rules, replace them, or "
                                    "must both pass.",
                                settle=LAYERINGS.get(str(layering), ""),
                                assumed=assumed_note(GROUP_POLICY_LAYERING, layering) if layering else "")
        if setting == "ignore":
            skip = allow_all(f"{base_rules.name} (ignored)", None,
                             f"group policy '{name}' ignores the network's firewall rules")
            return AmbiguousHop(device, f"{stage}+group-policy", None,
                                readings={"layer rules still apply": base_rules, "layer rules skipped": skip},
                                why=f"Group policy '{name}' is set to ignore network firewall rules; Meraki does "
                                    f"not document whether that exempts its clients from the {stage} rules.")
        return GapHop(device, stage, reason=f"group policy '{name}' has an unknown firewall setting '{setting}'")

    def _ssid_hops(self, ssid_base: str, device: str, policy: dict[str, Any] | None,
                   gp_id: str | None) -> list[Hop]:
        rules, hop = self._ssid_l3(ssid_base, device)
        hops: list[Hop] = []
        policy_key = policy.get("groupPolicyId") if policy else None
        composed = self._cached(("ssid-l3+gp", ssid_base, policy_key),
                                lambda: self._compose(device, "ssid-l3", rules, hop, policy))
        if composed is not None:
            hops.append(composed)
        hops.extend(self._layer_l7(f"{ssid_base}/firewall/l7FirewallRules.json", device, "ssid-l7", policy))
        return hops

    def _policy_l7(self, policy: dict[str, Any], device: str) -> Hop:
        rel = f"{self.base}/groupPolicies.json"

        def build() -> Hop:
            rows = (policy.get("firewallAndTrafficShaping") or {}).get("l7FirewallRules") or []
            origin = Origin(rel, policy.get("_index"))
            rules, count = l7_rules([(i, row) for i, row in enumerate(rows) if isinstance(row, dict)],
                                    lambda _i: origin, self.resolver, self.assume.get(L7_PORT_UDP))
            # The rule names its policy: the hop is the SSID's or the MX's, shared by several policies' roles.
            name = policy.get("name") or policy.get("groupPolicyId")
            rules = [replace(rule, text=f"group policy '{name}' L7 rule {rule.position}: {rule.text}")
                     for rule in rules]
            default = Rule(count + 1, Action.PERMIT, ALL, "no L7 rule matches", "", origin, synthetic=True)
            return FilterHop(device, "group-policy-l7", origin,
                             RuleList(f"{rel}#{policy.get('groupPolicyId')}-l7", rules, default, origin))

        return self._cached(("gp-l7", policy.get("groupPolicyId"), device), build)

    # -- MX ----------------------------------------------------------------------------------------------
    def _mx_l3(self) -> tuple[RuleList | None, Hop]:
        rel = f"{self.base}/appliance/firewall/l3FirewallRules.json"
        device = f"{self.net.name} / MX"
        key = ("mx-l3",)
        if key in self._hops:
            hop = self._hops[key]
            return (hop.rules if isinstance(hop, FilterHop) else None), hop
        data = self.snapshot.read_json(rel)
        if data is None:
            hop = GapHop(device, "mx-l3", Origin(rel), reason=self._gap(rel))
            self._hops[key] = hop
            return None, hop
        rule_list = mx_rule_list(data, rel, self.resolver)
        hop = FilterHop(device, "mx-l3", rule_list.origin, rule_list)
        self._hops[key] = hop
        self.net.rule_lists.append((hop, rule_list))
        return rule_list, hop

    def _vlan_policy(self, vlan: _Vlan | None) -> dict[str, Any] | None:
        """The group policy a VLAN carries (a `_missing` stand-in when it cannot be read), or None."""
        if vlan is None or vlan.group_policy_id is None:
            return None
        found = self._vlan_policies.get(vlan.id)
        if found is None:
            found = self._vlan_policies[vlan.id] = self._read_vlan_policy(vlan, vlan.group_policy_id)
        return found

    def _read_vlan_policy(self, vlan: _Vlan, gp_id: str) -> dict[str, Any]:
        if self.policies is None:
            return {"_missing": self.policies_reason, "groupPolicyId": gp_id}
        return self.policies.get(gp_id) or {
            "_missing": f"VLAN {vlan.id} names group policy {gp_id}, which is not in "
                        "groupPolicies.json", "groupPolicyId": gp_id}

    def _mx_hops(self, policy: dict[str, Any] | None) -> list[Hop]:
        """The MX's hops for a VLAN's traffic to the internet with its group policy in force (None: none, or
        not in force now): L3 (with the policy), L7 (the policy's L7 rules too: Meraki applies L3, then
        L7), then the NAT to the uplink."""
        routed = self._routed_hops.get(_policy_key(policy))
        if routed is not None:  # every VLAN and SSID role asks again: a routed MX's hops are the same each time
            return [*routed]
        device = f"{self.net.name} / MX"
        rules, hop = self._mx_l3()
        key = ("mx-l3-gp", _policy_key(policy))
        composed = self._cached(key, lambda: self._compose(device, "mx-l3", rules, hop, policy))
        filters = [composed, *self._layer_l7(f"{self.base}/appliance/firewall/l7FirewallRules.json", device,
                                             "mx-l7", policy)]
        mode, why = self._deployment(self.base, device)
        if mode == "routed":  # nothing recorded on the way (a gap is, for the other modes: kept as it was)
            routed = self._routed_hops[key[1]] = [*filters, self._cached(("uplink-nat",), self._uplink_nat)]
            return [*routed]
        settings = f"{self.base}/appliance/settings.json"
        if mode == "unknown":
            return [*filters, self._cached(("deployment-gap",), lambda: GapHop(
                device, "uplink-nat", Origin(settings), reason=why))]
        # Passthrough, or not collected (routed or passthrough: what either reading allows is what this does)
        return [*(self._cached(("passthrough", id(f)), lambda f=f: MayApplyHop(
                    f.device, f.stage, f.origin, inner=f, why=why)) for f in filters),
                self._cached(("upstream-nat",), lambda: _upstream_nat(device, settings, mode))]

    def _layer_l7(self, rel: str, device: str, stage: str, policy: dict[str, Any] | None) -> list[Hop]:
        """A layer's L7 hop (SSID or MX) for clients with `policy` (None: none), then the policy's own L7
        rules when it has custom ones. The L7 lists are read the same way on both layers."""
        layer = self._l7_hop(rel, device, stage)
        if policy is None or "_missing" in policy:
            return [layer]  # a missing policy already leaves the L3 hop unknown
        fw = policy.get("firewallAndTrafficShaping") or {}
        setting = str(fw.get("settings", "network default")).lower()
        hops = [layer]
        if setting in ("custom", "ignore") and isinstance(layer, FilterHop) and layer.rules is not None \
                and layer.rules.rules:  # else: network default, unknown already, or no rule to drop
            gp_id = policy.get("groupPolicyId")
            hops = [self._cached(("l7+gp", rel, gp_id, device), lambda: self._l7_readings(
                layer, layer.rules, f"{stage}+group-policy", policy, setting))]
        if setting == "custom" and fw.get("l7FirewallRules"):
            hops.append(self._policy_l7(policy, device))
        return hops

    def _l7_readings(self, layer: Hop, rules: RuleList, stage: str, policy: dict[str, Any], setting: str) -> Hop:
        """A layer's L7 list for the clients of a `custom` or `ignore` policy: Meraki does not say whether the
        layer's L7 rules still apply to them, so both are readings (where they differ: unknown). The layering
        assumption settles a custom policy's: only policy-replaces drops the layer's rules."""
        name = policy.get("name") or policy.get("groupPolicyId")
        kept, dropped = "layer L7 rules still apply", "layer L7 rules dropped for the policy's clients"
        skip = self._dropped.get(rules.name)  # one per layer: its evaluations are shared by every policy
        if skip is None:
            skip = self._dropped[rules.name] = allow_all(f"{rules.name} (dropped)", None,
                                                         "the layer's L7 rules dropped for a group policy's clients")
        layering = self.assume.get(GROUP_POLICY_LAYERING) if setting == "custom" else None
        what = "custom firewall rules" if setting == "custom" else "'ignore network firewall rules'"
        return AmbiguousHop(layer.device, stage, layer.origin, readings={kept: rules, dropped: skip},
                            why=f"Group policy '{name}' has {what}; Meraki does not document whether the "
                                f"{layer.stage} rules still apply to its clients.",
                            settle=(dropped if layering == "policy-replaces" else kept) if layering else "",
                            assumed=assumed_note(GROUP_POLICY_LAYERING, layering) if layering else "")

    def _deployment(self, base: str, device: str) -> tuple[str, str]:
        """An MX's deployment mode ("routed", "passthrough", "absent" or "unknown") and, unless routed, why it
        matters. Without the settings file either of routed and passthrough is possible (a data gap): the
        MX is traced as passthrough, whose hops decide only what both readings decide."""
        rel = f"{base}/appliance/settings.json"
        mode = deployment_mode(self.org.read(self.snapshot, rel) if base != self.base else self._own(rel), rel)
        if mode is None:
            return "absent", self._gap(rel, (
                f"{self.snapshot.absence_reason(rel)}: whether {device} routes and translates its clients' traffic "
                "(routed) or passes it through untranslated (passthrough) is unknown, so its firewall rules may "
                "not apply, and the address the traffic leaves with is not known."))
        if mode == "routed":
            return "routed", ""
        if mode == "passthrough":
            return "passthrough", (
                f"{device} is in passthrough mode ({rel}): it neither routes nor translates the traffic, and "
                "whether its firewall rules filter what passes through it (inline, or not in the path at all as "
                "a one-armed VPN concentrator) is not something the snapshot shows.")
        return "unknown", (f"{rel}: deploymentMode {mode!r} is not understood (routed or passthrough): where "
                           "this MX's traffic leaves, and with which address, is unknown")

    def _own(self, rel: str) -> Any:
        """One of this network's files, read once for all of its VLANs."""
        if rel not in self._own_files:
            self._own_files[rel] = self.snapshot.read_json(rel)
        return self._own_files[rel]

    def _cellular_hops(self, policy: dict[str, Any] | None, local: list[Hop]) -> list[Hop] | None:
        """The local way while the MX has failed over to cellular: its cellular failover rules are appended to
        the L3 rules (before the default). None when that cannot change anything: no cellular uplink in the
        uplink statuses, no cellular rule, or neither file collected (then cellular is not considered)."""
        has_cellular = None if self.org.cellular is None else self.net.id in self.org.cellular
        if has_cellular is False:
            return None
        rel = f"{self.base}/appliance/firewall/cellularFirewallRules.json"
        device = f"{self.net.name} / MX"
        data = self._own(rel)
        if data is None:
            if has_cellular is None:
                return None
            gap = self._cached(("cellular-gap",), lambda: GapHop(device, "mx-l3+cellular", Origin(rel), reason=(
                self._gap(rel, f"{self.snapshot.absence_reason(rel)}: the MX has a cellular uplink, and the rules "
                               "it adds on cellular failover are unknown"))))
            return [gap, *local[1:]]
        cellular = self._cellular_list
        if cellular is None:  # read once: each VLAN and policy asks
            cellular = self._cellular_list = mx_rule_list(data, rel, self.resolver)
        rules, _hop = self._mx_l3()
        if rules is None or not len(cellular):
            return None  # the L3 list is missing (unknown already) or cellular adds no rule
        key = ("mx-l3-cellular", _policy_key(policy))
        composed = self._cached(key, lambda: self._compose(
            device, "mx-l3+cellular", (both := RuleList.concat(f"{rules.name}+cellular", rules, cellular,
                                                               rules.default)),
            FilterHop(device, "mx-l3+cellular", Origin(rel), both), policy))
        return [composed, *local[1:]]

    def _uplink_nat(self) -> Hop:
        """The MX's NAT of client traffic to its uplink address, which is what the server's side sees."""
        device, rel = f"{self.net.name} / MX", self.org.public_rel
        public = None if self.org.public is None else self.org.public.get(self.net.id)
        if public:
            note = f"sources translated to the MX's uplink address {', '.join(map(_address_text, public))}"
        else:
            why = "was not collected" if self.org.public is None else "names no public address for this network"
            note = (f"sources translated to the MX's uplink address, which is not known ({rel} {why}): every "
                    "public address is possible")
        return SourceNatHop(device, "uplink-nat", Origin(rel), public or None, note)

    # -- AutoVPN ----------------------------------------------------------------------------------------
    def _autovpn(self) -> _AutoVpn:
        """Where this MX sends internet traffic, read once: out of its own uplink (local), unknown (a gap), or
        over a VPN that may carry it (a tunnel: AutoVPN full tunnel, or a non-Meraki peer whose private
        subnets hold 0.0.0.0/0)."""
        if self._autovpn_state is not None:
            return self._autovpn_state
        rel = f"{self.base}/appliance/vpn/siteToSiteVpn.json"
        data = self.snapshot.read_json(rel)
        state: _AutoVpn
        if data is None:
            state = _AutoVpn("gap", self._gap(rel, f"{self.snapshot.absence_reason(rel)}: whether this MX sends "
                                                   "internet traffic to a hub over site-to-site VPN (full tunnel) "
                                                   "is unknown"))
        else:
            expect(data, dict, rel, "a site-to-site VPN settings object")
            mode = str(data.get("mode", "")).lower()
            if mode == "none":
                state = _LOCAL
            elif mode not in ("hub", "spoke"):
                state = _AutoVpn("gap", self._gap(rel, f"{rel}: site-to-site VPN mode {data.get('mode')!r} is not "
                                                       "understood, so where internet traffic leaves is unknown"))
            else:
                state = self._tunnel_state(data, rel, mode)
        self._autovpn_state = state
        return state

    def _tunnel_state(self, data: dict[str, Any], rel: str, mode: str) -> _AutoVpn:
        hubs = []
        for i, hub in enumerate(optional(data, "hubs", list, rel)):
            expect(hub, dict, f"{rel} hubs[{i}]", "a hub object")
            default_route = hub.get("useDefaultRoute")
            if not isinstance(default_route, bool) or hub.get("hubId") in (None, ""):
                return _AutoVpn("gap", self._gap(rel, f"{rel} hubs[{i}]: hubId or useDefaultRoute missing or "
                                                      "not understood, so whether internet traffic goes to a hub "
                                                      "is unknown"))
            if default_route and mode == "spoke":
                hubs.append(str(hub["hubId"]))
        peers = self._default_route_peers()
        if not hubs and not peers:
            return _LOCAL  # split tunnel: only the VPN's subnets go over it, the internet leaves here
        subnets: dict[tuple[int, int], dict[str, Any]] = {}
        for i, entry in enumerate(optional(data, "subnets", list, rel)):
            where = f"{rel} subnets[{i}]"
            expect(entry, dict, where, "a subnet object")
            subnet = _subnet(entry.get("localSubnet"), where)
            # No `nat` is no translation (subnets collected before the API had it); one there must say whether
            # it is on: a `nat` object without a boolean `enabled` is not read as off
            nat = entry.get("nat", {"enabled": False})
            if subnet is None or not isinstance(entry.get("useVpn", True), bool) or not isinstance(nat, dict) \
                    or not isinstance(nat.get("enabled"), bool):
                raise SnapshotError(where, "expected localSubnet, a boolean useVpn and a nat object with a "
                                           "boolean enabled")
            subnets[network_interval(subnet)] = entry
        return _AutoVpn("tunnel", hubs=hubs, peers=peers, subnets=subnets)

    def _default_route_peers(self) -> dict[str, str]:
        """Non-Meraki VPN peers that carry this network's internet traffic (a default route, and the network
        among their `networkTags`): name -> what the trace says about it. When the org's peers are not in the
        snapshot, one unnamed entry says that such a peer may exist."""
        if self.org.default_peers is None:
            rel = f"{self.org.base}/appliance/vpn/thirdPartyVPNPeers.json"
            return {"(peers not in the snapshot)": self._gap(rel, f"{self.snapshot.absence_reason(rel)}: a non-Meraki "
                                                                  "VPN peer with a default route may carry this "
                                                                  "network's internet traffic")}
        return {name: f"internet traffic goes to the non-Meraki VPN peer {name} ({address}), whose policies and "
                      "NAT are not in the snapshot"
                for name, address, tags in self.org.default_peers if "all" in tags or set(tags) & set(self.net.tags)}

    def _mx_routes(self, vlan: _Vlan | None, policy: dict[str, Any] | None) -> list[tuple[str, list[Hop]]]:
        """_find_routes, remembered for a routed MX (every SSID role asks again for each VLAN); read-only. For the
        other modes each ask records what it records (a data gap), so they are worked out each time."""
        key = (id(vlan), _policy_key(policy))  # the VLAN object: self.vlans keeps it alive
        found = self._routes.get(key)
        if found is None:
            found = self._find_routes(vlan, policy)
            if key[1] in self._routed_hops:  # what _mx_hops gives a routed MX: the same each time, nothing noted
                self._routes[key] = found
        return found

    def _find_routes(self, vlan: _Vlan | None, policy: dict[str, Any] | None) -> list[tuple[str, list[Hop]]]:
        """The ways a VLAN's traffic to the internet can take after the MX: its own uplink, over the AutoVPN
        tunnel to each default-route hub (a hub fails over to the next, so each is possible), or to a
        non-Meraki peer with a default route. The local way stays possible for a subnet the settings do not
        list, and for a tunnelled one when a VPN exclusion (local breakout) may take the VPN flows or the
        exclusions are not in the snapshot. Labels are "" for the only way."""
        local = self._mx_hops(policy)
        autovpn = self._autovpn()
        if autovpn.kind == "local":
            cellular = self._cellular_hops(policy, local)
            return [("", local)] if cellular is None else [("", local), ("on cellular failover", cellular)]
        device = f"{self.net.name} / MX"
        if autovpn.kind == "gap":
            gap = self._cached(("s2s-gap",), lambda: GapHop(device, "site-to-site-vpn", Origin(
                f"{self.base}/appliance/vpn/siteToSiteVpn.json"), reason=autovpn.gap))
            return [("", [*local[:-1], gap, local[-1]])]
        subnet = vlan.subnet if vlan is not None else None
        entry = autovpn.subnets.get(network_interval(subnet)) if subnet is not None else None
        if entry is not None and entry.get("useVpn") is False:
            return [("", local)]  # not in the VPN: the far end has no route back to it, so it leaves locally
        routes = [(f"via hub {self.org.names.get(hub, hub)}", self._tunnel_hops(vlan, policy, local, hub, entry))
                  for hub in autovpn.hubs]
        routes += [(f"via non-Meraki peer {name}", self._peer_hops(vlan, policy, local, name, why, entry))
                   for name, why in autovpn.peers.items()]
        # A subnet the settings do not list may be outside the VPN (then it leaves locally) or in it.
        local_too = "subnet not in the site-to-site settings" if entry is None else self._may_be_excluded()
        return [*routes, (f"local breakout ({local_too})", local)] if local_too else routes

    def _peer_hops(self, vlan: _Vlan | None, policy: dict[str, Any] | None, local: list[Hop], name: str,
                   why: str, entry: dict[str, Any] | None) -> list[Hop]:
        """Spoke MX -> site-to-site outbound firewall (it covers non-Meraki peers too) -> the peer: unknown."""
        hops = self._tunnel_hops(vlan, policy, local, None, entry)
        hops.append(self._cached(("peer", name), lambda: GapHop(
            f"{self.net.name} / MX", "non-meraki-vpn",
            Origin(f"{self.org.base}/appliance/vpn/thirdPartyVPNPeers.json"), reason=why)))
        return hops

    def _may_be_excluded(self) -> str:
        """Why VPN traffic may be excluded from the full tunnel and leave locally ("" when it cannot be): the
        org's VPN exclusions not collected, or an exclusion of this network that may match a VPN server.
        Worked out once per network (its VLANs ask in turn)."""
        if self._excluded is None:
            self._excluded = self._exclusion_match()
        return self._excluded

    def _exclusion_match(self) -> str:
        rel = f"{self.org.base}/appliance/trafficShaping/vpnExclusions/byNetwork.json"
        if self.org.exclusions is None:
            self._gap(rel, f"{self.snapshot.absence_reason(rel)}: whether a VPN exclusion sends this full-tunnel "
                           "network's VPN flows out locally is unknown")
            return "VPN exclusions not in the snapshot"
        entry = self.org.exclusions.get(self.net.id)
        if entry is None:
            return ""
        if entry["majorApplications"]:
            return "an application VPN exclusion may match"
        for i, rule in enumerate(entry["custom"]):
            row = {"policy": "deny", "protocol": rule.get("protocol", "any"), "srcCidr": "Any", "srcPort": "Any",
                   "destCidr": rule.get("destination", "Any"), "destPort": rule.get("port") or "Any"}
            for model_rule in l3_rules(row, i + 1, Origin(rel), self.resolver, with_source=False):
                if model_rule.match.intersects(self.org.servers):
                    return f"VPN exclusion {i + 1} ({row['protocol']} {row['destCidr']}:{row['destPort']}) may match"
        return ""

    def _tunnel_hops(self, vlan: _Vlan | None, policy: dict[str, Any] | None, local: list[Hop], hub: str | None,
                     entry: dict[str, Any] | None) -> list[Hop]:
        """Spoke MX -> site-to-site outbound firewall -> hub MX -> the hub's uplink (`hub` None: up to the
        site-to-site firewall, for a non-Meraki peer). The spoke's own L3 (outbound) rules are not on this way:
        Meraki's outbound rules do not apply to traffic sent over the VPN, which the site-to-site VPN firewall
        decides instead (MX Firewall Settings; Site-to-site VPN Firewall Rule Behavior). Whether the VLAN's
        group policy's L3 rules do is not documented: what they deny is unknown."""
        device = f"{self.net.name} / MX"
        l7s = local[1:-1]
        vlan_key = vlan.id if vlan is not None else None
        gp = self._cached(("tunnel-gp", _policy_key(policy)), lambda: self._tunnel_policy(device, policy))
        hops = [gp, *l7s] if gp is not None else list(l7s)
        nat = (entry or {}).get("nat")
        if isinstance(nat, dict) and nat.get("enabled") is True:
            hops.append(self._cached(("vpn-subnet-nat", vlan_key), lambda: self._subnet_nat(device, nat)))
        if hub is not None:
            hub_name = self.org.names.get(hub)
            hops.append(self._cached(("autovpn", hub), lambda: PassHop(
                device, "autovpn", Origin(f"{self.base}/appliance/vpn/siteToSiteVpn.json"),
                note=f"spoke with a default route to hub {hub_name or hub}: internet traffic goes over AutoVPN")))
        hops.append(self._cached(("s2s-firewall",), self._s2s_firewall))
        if hub is not None:
            hops.extend(self._hub_hops(hub))
        return hops

    def _tunnel_policy(self, device: str, policy: dict[str, Any] | None) -> Hop | None:
        """A VLAN group policy's L3 rules on traffic the spoke sends into the tunnel: they may or may not apply
        (what they deny is unknown); None when the policy has no rules of its own there."""
        if policy is None:
            return None
        if "_missing" in policy:
            return GapHop(device, "group-policy-l3", reason=policy["_missing"])
        fw = policy.get("firewallAndTrafficShaping") or {}
        name = policy.get("name") or policy.get("groupPolicyId")
        setting = str(fw.get("settings", "network default")).lower()
        if (fw and "settings" not in fw) or setting not in ("network default", "ignore", "custom"):
            return GapHop(device, "group-policy-l3", reason=f"group policy '{name}' has a firewall setting that is "
                                                            "not understood, so whether its own rules apply is unknown")
        if setting != "custom":
            return None  # the layer's own rules, or none: the spoke's L3 rules are not on this way anyway
        rules = self._policy_rules(policy, with_default=True)
        inner = FilterHop(device, "group-policy-l3", Origin(f"{self.base}/groupPolicies.json", policy.get("_index")),
                          rules)
        return MayApplyHop(device, "group-policy-l3", inner.origin, inner=inner, why=(
            f"Group policy '{name}' has custom L3 rules; Meraki documents that the MX's outbound rules do not apply "
            "to traffic sent over the VPN, but not whether a VLAN's group policy rules do."))

    def _subnet_nat(self, device: str, nat: dict[str, Any]) -> Hop:
        rel = f"{self.base}/appliance/vpn/siteToSiteVpn.json"
        remote = _subnet(nat.get("remoteSubnet"), f"{rel} subnets[].nat")
        if remote is None:
            return GapHop(device, "vpn-subnet-nat", Origin(rel),
                          reason="VPN subnet translation is enabled without a remoteSubnet")
        return SourceNatHop(device, "vpn-subnet-nat", Origin(rel), [network_interval(remote)],
                            f"VPN subnet translation: the subnet is seen over the VPN as {remote}")

    def _s2s_firewall(self) -> Hop:
        """The org's site-to-site outbound firewall, which the spoke applies to what it sends into the VPN."""
        rel = f"{self.org.base}/appliance/vpn/vpnFirewallRules.json"
        device = f"{self.net.name} / MX"
        data = self.org.read(self.snapshot, rel)
        if data is None:
            return GapHop(device, "s2s-firewall", Origin(rel), reason=self._gap(rel))
        return FilterHop(device, "s2s-firewall", Origin(rel), mx_rule_list(data, rel, self.resolver))

    def _hub_hops(self, hub: str) -> list[Hop]:
        """The hub's hops, built once per network: its MX L3 and L7 rules (whether they apply to traffic that
        arrives over the VPN and leaves to the internet is not documented: what they deny is unknown), then
        its uplink NAT."""
        found = self._hub_hop_lists.get(hub)
        if found is not None:
            return found
        name = self.org.names.get(hub)
        if name is None:
            found = [GapHop(f"hub {hub}", "autovpn-hub", reason=(
                f"hub network {hub} is not among the organisation's networks in the snapshot: its rules and "
                "uplink address are unknown"))]
        else:
            device, base = f"{name} / MX (hub)", f"meraki/networks/{api_segment(hub)}"
            why = ("Meraki does not document whether a hub's MX firewall rules apply to traffic that arrives from "
                   "a spoke over AutoVPN and leaves to the internet.")
            rel = f"{base}/appliance/firewall/l3FirewallRules.json"
            data = self.org.read(self.snapshot, rel)
            if data is None:
                l3: Hop = GapHop(device, "mx-l3", Origin(rel), reason=self._gap(rel))
            else:
                resolver = Resolver(vlans=self._hub_vlans(base), vlans_reason=f"the VLANs of hub {name} are not in "
                                    "the snapshot", objects=self.resolver.objects, groups=self.resolver.groups,
                                    objects_reason=self.resolver.objects_reason, dns=self.resolver.dns)
                l3 = MayApplyHop(device, "mx-l3", Origin(rel), why=why, inner=FilterHop(
                    device, "mx-l3", Origin(rel), mx_rule_list(data, rel, resolver)))
            l7 = MayApplyHop(device, "mx-l7", None, why=why, inner=self._l7_hop(
                f"{base}/appliance/firewall/l7FirewallRules.json", device, "mx-l7"))
            mode, why_mode = self._deployment(base, device)
            nat: Hop
            if mode in ("passthrough", "absent"):  # a one-armed concentrator: the data centre's edge translates
                nat = _upstream_nat(device, f"{base}/appliance/settings.json", mode)
            elif mode == "unknown":
                nat = GapHop(device, "uplink-nat", Origin(f"{base}/appliance/settings.json"), reason=why_mode)
            else:
                public = None if self.org.public is None else self.org.public.get(hub)
                shown = ", ".join(map(_address_text, public)) if public else \
                    f"not known ({self.org.public_rel} names none): every public address is possible"
                nat = SourceNatHop(device, "uplink-nat", Origin(self.org.public_rel), public or None,
                                   f"sources translated to the hub's uplink address {shown}")
            found = [l3, l7, nat]
        self._hub_hop_lists[hub] = found
        return found

    def _hub_vlans(self, base: str) -> dict[int, ipaddress.IPv4Network | ipaddress.IPv6Network] | None:
        """A hub's VLAN subnets, so that `VLAN(n)` in its rules means its own VLAN n (None when not collected
        or not readable: such references then stay unknown)."""
        data = self.org.read(self.snapshot, f"{base}/appliance/vlans.json")  # hubs are few: kept per org
        if not isinstance(data, list):
            return None
        out = {}
        for raw in data:
            try:
                subnet = _subnet(raw.get("subnet"), f"{base}/appliance/vlans.json") if isinstance(raw, dict) else None
                if subnet is not None:
                    out[int(raw["id"])] = subnet
            except (SnapshotError, KeyError, TypeError, ValueError):
                return None  # the hub's own audit reports its malformed file
        return out

    def _vlan_variants(self, label: str, addresses: list[tuple[int, int]], before: list[Hop],
                       vlan: _Vlan | None, role: Role) -> list[Variant]:
        """One variant per way out of the MX (see _mx_routes), and per state of the VLAN's group policy when it
        is scheduled."""
        policy = self._vlan_policy(vlan)
        if policy is None:  # one state, no case: _in_force's and _with_cases's work is nothing
            return self._vlan_routes(label, addresses, before, vlan, None, role)
        out = []
        for in_force, cases, suffix in self._in_force(policy, role):
            out.extend(_with_cases(self._vlan_routes(label, addresses, before, vlan, in_force, role), cases,
                                   suffix))
        return out

    def _vlan_routes(self, label: str, addresses: list[tuple[int, int]], before: list[Hop], vlan: _Vlan | None,
                     policy: dict[str, Any] | None, role: Role) -> list[Variant]:
        routes = self._mx_routes(vlan, policy)
        if len(routes) > 1 and routes[1][0] == "on cellular failover":
            note = ("the MX has a cellular uplink: on failover its cellular rules are appended to the L3 rules; "
                    "both ways were considered")
            if note not in role.notes:
                role.notes.append(note)
        elif len(routes) > 1:
            note = ("full-tunnel VPN: traffic to the internet goes to a default-route hub (each one in turn on "
                    "failover) or non-Meraki peer unless a VPN exclusion sends it out locally; each way was "
                    "considered")
            if note not in role.notes:
                role.notes.append(note)
        lan = self.org.client_vpn.get(self.net.id) or self._maybe_client_vpn()
        if lan is not None:  # this MX is (or may be) a VPN server: its own clients stop there
            before = [*before, lan]
        vlan_id = vlan.id if vlan is not None else None
        if len(routes) == 1 and not routes[0][0]:  # the only way: the VLAN's label as it is
            return [Variant(label, addresses, [*before, *routes[0][1]], False, vlan_id)]
        return [Variant(sys.intern(f"{label}, {way}") if way else label, addresses, [*before, *hops], False, vlan_id)
                for way, hops in routes]

    def _maybe_client_vpn(self) -> Hop | None:
        """Without the org's uplink statuses, a VPN server that nothing else fronts may be this MX: its
        clients' Client VPN flows to it are unknown (Meraki does not support them from the MX's LAN)."""
        if self.org.maybe_client_vpn is None:
            return None
        flows, reason = self.org.maybe_client_vpn
        return self._cached(("maybe-client-vpn",), lambda: GapHop(
            f"{self.net.name} / MX", "client-vpn-from-lan", Origin(self.org.public_rel), reason=reason,
            affects=flows))

    def _vlan_roles(self) -> None:
        if self.vlans is None:
            return
        for vlan in self.vlans:
            role = Role("vlan", vlan.name, self.net.id, self.net.name,
                        group_policy=vlan.group_policy_id)
            before: list[Hop] = []
            if vlan.subnet is None:
                before = [GapHop(f"{self.net.name} / MX", "vlan", reason=f"VLAN {vlan.id} has no subnet")]
            role.variants = self._vlan_variants(f"VLAN {vlan.id}" if vlan.id else vlan.name, vlan.addresses(),
                                                before, vlan, role)
            self.net.roles.append(role)

    @staticmethod
    def _unclear_tagging(ssid: dict[str, Any], tagging: dict[str, Any]) -> str:
        """Why the VLAN tag of a bridged role cannot be read ("" when it can): a fallback here would pick a
        VLAN, and with it an MX rule set, that the data does not name."""
        if tagging:
            setting = tagging.get("settings")
            if str(setting).lower() not in ("network default", "ignore", "custom"):
                return f"group policy VLAN tagging setting {setting!r} is not understood"
            if str(setting).lower() == "custom" and tagging.get("vlanId") in (None, ""):
                return "group policy sets a custom VLAN tag but names no vlanId"
        if ssid.get("useVlanTagging") not in (None, True, False):
            return f"useVlanTagging {ssid.get('useVlanTagging')!r} is not a boolean"
        return ""

    def _wireless_variants(self, ssid: dict[str, Any], policy: dict[str, Any] | None, hops: list[Hop],
                           role: Role) -> list[Variant]:
        """Where the role's traffic lands after the AP: which MX VLAN (or a tunnel, or no MX)."""
        mode = str(ssid.get("ipAssignmentMode", "NAT mode")).lower()
        if mode in TUNNELLED_MODES or mode not in KNOWN_MODES:
            # An unrecognised mode may tunnel as well: never assume the traffic meets this MX.
            what = "tunnelled to a concentrator whose rules are not modelled" if mode in TUNNELLED_MODES else \
                "not an IP assignment mode this tool knows, so where the traffic goes is unknown"
            gap = GapHop(f"{self.net.name} / SSID {ssid.get('number')}", "tunnel",
                         reason=f"SSID uses '{ssid.get('ipAssignmentMode')}': {what}")
            return [Variant("tunnel", [ANY_ADDR], [*hops, gap])]
        if not self.has_mx:
            note = PassHop(f"{self.net.name}", "gateway",
                           note="no MX in this network: the gateway beyond the access points is not in the "
                                "snapshot")
            # NAT mode: the AP itself translates every client. Otherwise (bridged) the clients' addresses come
            # from the site's own network, which may be public: the gateway translates only private ones, so
            # NAT on the path is not proven (ESP is traced beside NAT-T, RFC 7296 section 2.23).
            ap_nat = mode == "nat mode"
            nat = self._cached(("gateway-nat", ap_nat), lambda: SourceNatHop(
                self.net.name, "gateway-nat", None, None,
                "clients reach the internet from the gateway's public address, which is not in the snapshot: "
                "every public address is possible", private_only=not ap_nat))
            return [Variant("clients", [ANY_ADDR], [*hops, note, nat])]
        if self.vlans is None:
            return [Variant("clients", [ANY_ADDR], [*hops, GapHop(f"{self.net.name} / MX", "vlan",
                                                                  reason=self.vlans_reason)])]
        if mode == "nat mode":  # the MX sees the AP's own address, on the AP's VLAN: IPv4 only
            return self._every_vlan("NAT mode: the MX sees the AP's address", False, hops, role, narrow=True)
        tagging = (policy or {}).get("vlanTagging") or {}
        unclear = self._unclear_tagging(ssid, tagging)
        if unclear:
            return [Variant("clients", [ANY_ADDR], [*hops, GapHop(f"{self.net.name} / MX", "vlan",
                                                                  reason=unclear)])]
        cases = self._vlan_cases(ssid, tagging, role)
        out: list[Variant] = []
        for label, choices in cases:
            found = self._choice_variants(choices, hops, role, narrow=len(choices) == 1)
            out.extend(_with_cases(found, (label,) if len(cases) > 1 else (), ""))
        if mode == "bridge mode" and ssid.get("lanIsolationEnabled") is True:
            for variant in out:
                self._isolate(variant, len(hops), ssid)
        return out

    def _isolate(self, variant: Variant, at: int, ssid: dict[str, Any]) -> None:
        """Layer 2 LAN isolation (`lanIsolationEnabled`, bridge mode): "Any traffic bound for an address on the
        same VLAN as a device in client isolation will be denied. Traffic bound for other VLANs will be
        forwarded and routed normally" (Meraki, *Wireless Client Isolation*). A hop after the SSID's own that
        denies the VLAN the way puts its clients in."""
        vlan = _vlan_by_id(self.vlans or [], variant.vlan) if variant.vlan is not None else None
        if vlan is None or vlan.subnet is None:
            return
        number = ssid.get("number")
        device = f"{self.net.name} / SSID {number} ({ssid.get('name')})"

        def build() -> Hop:
            origin = Origin(f"{self.base}/wireless/ssids.json")
            deny = Rule(1, Action.DENY, PacketSet.of(dst=vlan.addresses()),
                        f"layer 2 LAN isolation: no traffic to VLAN {vlan.id} ({vlan.subnet}), the clients' own",
                        "", origin)
            other = Rule(2, Action.PERMIT, ALL, "other VLANs are routed normally", "", origin, synthetic=True)
            return FilterHop(device, "lan-isolation", origin, RuleList("lan-isolation", [deny], other, origin))

        hop = self._cached(("lan-isolation", str(number), vlan.id), build)
        variant.hops = [*variant.hops[:at], hop, *variant.hops[at:]]

    def _vlan_cases(self, ssid: dict[str, Any], tagging: dict[str, Any],
                    role: Role) -> list[tuple[str, list[tuple[str, Any, str]]]]:
        """Where a bridged client lands, as cases (clients of tagged APs, clients a RADIUS server rejects,
        the others), each with its possible VLANs: ("id", VLAN id, how), ("every", None, why) for any VLAN of
        the MX, ("ap", None, why) for the AP's own VLAN (untagged), ("gap", None, why) when a value cannot be
        read. Several choices in one case are ways the snapshot cannot tell apart."""
        where = f"{self.base}/wireless/ssids.json SSID {ssid.get('number')}"
        tagged = ssid.get("useVlanTagging") is True
        named = optional(optional(ssid, "namedVlans", dict, where), "tagging", dict, f"{where} namedVlans")
        named_on = named.get("enabled")
        default: list[tuple[str, Any, str]]
        ap_cases: list[tuple[str, list[tuple[str, Any, str]]]] = []
        if tagging and str(tagging["settings"]).lower() == "custom":
            default = [("id", tagging["vlanId"], "group policy VLAN tag")]  # the client's tag on every AP
        elif tagged and named_on is not None and named_on is not False:
            name = named.get("defaultVlanName")
            why = (f"named VLAN {name!r}, which VLAN profiles (not in the snapshot) map to an id"
                   if named_on is True else f"namedVlans.tagging.enabled {named_on!r} is not understood")
            default = [("every", None, why)]
            for i, entry in enumerate(optional(named, "byApTags", list, f"{where} namedVlans.tagging")):
                tags = entry.get("tags") if isinstance(entry, dict) else None
                ap_cases.append((_ap_case(tags, f"namedVlans.tagging.byApTags[{i}]"), [(
                    "every", None, f"named VLAN {entry.get('vlanName')!r} by AP tag, mapped by VLAN profiles (not "
                                   "in the snapshot)" if isinstance(entry, dict) else "an entry not understood")]))
        elif tagged and ssid.get("defaultVlanId") not in (None, ""):
            default = [("id", ssid.get("defaultVlanId"), "SSID VLAN tag")]
        else:
            default = [("ap", None, "untagged: the AP's VLAN")]
        if tagged and not (tagging and str(tagging["settings"]).lower() == "custom"):
            ap_cases.extend(self._ap_tag_cases(ssid.get("apTagsAndVlanIds"), where))
        radius = radius_assigns_policy(str(ssid.get("authMode", "")).lower())
        override = ssid.get("radiusOverride")
        if radius and override not in (None, False):
            why = "RADIUS may assign it (radiusOverride)" if override is True else \
                f"RADIUS may assign it (radiusOverride {override!r} is not understood)"
            default = [*default, ("every", None, why)]
            ap_cases = [(label, [*choices, ("every", None, why)]) for label, choices in ap_cases]
        cases = [("for clients of other APs" if ap_cases else "", default), *ap_cases]
        guest = self._guest_vlan(ssid, where) if radius and role.kind == "ssid" else None
        if guest is not None:  # the SSID role's clients: those RADIUS rejects (or cannot reach) get no policy
            cases = [(f"{label} and RADIUS accepts" if label else "for clients RADIUS accepts", choices)
                     for label, choices in cases]
            cases.append(("for clients RADIUS rejects or cannot reach", [guest]))
        return cases

    @staticmethod
    def _ap_tag_cases(value: Any, where: str) -> list[tuple[str, list[tuple[str, Any, str]]]]:
        """`apTagsAndVlanIds` ([{tags, vlanId}]: clients of APs with those tags get that VLAN) as cases; an
        entry that cannot be read is a case of its own that is unknown."""
        if value in (None, []):
            return []
        if not isinstance(value, list):
            return [("for clients of APs the AP-tag VLAN list names",
                     [("gap", None, f"{where}: apTagsAndVlanIds is not a list: which VLAN such clients get is "
                                    "unknown")])]
        out = []
        for i, entry in enumerate(value):
            tags = entry.get("tags") if isinstance(entry, dict) else None
            vlan = entry.get("vlanId") if isinstance(entry, dict) else None
            label = _ap_case(tags, f"apTagsAndVlanIds[{i}]")
            if vlan in (None, "") or isinstance(vlan, bool):
                out.append((label, [("gap", None, f"{where}: apTagsAndVlanIds[{i}] names no VLAN id: which VLAN "
                                                  "its clients get is unknown")]))
            else:
                out.append((label, [("id", vlan, f"VLAN by AP tag, apTagsAndVlanIds[{i}]")]))
        return out

    @staticmethod
    def _guest_vlan(ssid: dict[str, Any], where: str) -> tuple[str, Any, str] | None:
        """The VLAN of clients RADIUS rejects or cannot reach (`radiusGuestVlanEnabled`/`radiusGuestVlanId`, or
        a named `namedVlans.radius.guestVlan`), None when there is none."""
        enabled = ssid.get("radiusGuestVlanEnabled")
        if enabled is True:
            vlan = ssid.get("radiusGuestVlanId")
            if vlan in (None, "") or isinstance(vlan, bool):
                return ("gap", None, f"{where}: radiusGuestVlanEnabled without a radiusGuestVlanId")
            return ("id", vlan, "RADIUS guest VLAN")
        if enabled not in (None, False):
            return ("gap", None, f"{where}: radiusGuestVlanEnabled {enabled!r} is not understood")
        named = ssid.get("namedVlans")
        radius = named.get("radius") if isinstance(named, dict) else None
        guest = radius.get("guestVlan") if isinstance(radius, dict) else None
        if isinstance(guest, dict) and guest.get("enabled") not in (None, False):
            return ("every", None, f"named RADIUS guest VLAN {guest.get('name')!r}, mapped by VLAN profiles (not in "
                                   "the snapshot)" if guest.get("enabled") is True else
                    f"namedVlans.radius.guestVlan.enabled {guest.get('enabled')!r} is not understood")
        return None

    def _choice_variants(self, choices: list[tuple[str, Any, str]], hops: list[Hop], role: Role,
                         narrow: bool) -> list[Variant]:
        """The variants of one case: each possible VLAN's ways (a VLAN named twice is traced once)."""
        out: list[Variant] = []
        seen: set[int] = set()
        named = [c for c in choices if c[0] == "id"]
        for kind, vlan_id, how in [*named, *(c for c in choices if c[0] != "id")]:
            if kind == "gap":
                out.append(Variant("clients", [ANY_ADDR], [*hops, GapHop(f"{self.net.name} / MX", "vlan",
                                                                         reason=how)]))
            elif kind == "id":
                vlan = _vlan_by_id(self.vlans or [], vlan_id)
                if vlan is None:
                    gap = GapHop(f"{self.net.name} / MX", "vlan",
                                 reason=f"{how} {vlan_id} is not a VLAN of this network's MX")
                    out.append(Variant(f"VLAN {vlan_id}", [ANY_ADDR], [*hops, gap]))
                elif vlan.id not in seen:
                    seen.add(vlan.id)
                    out.extend(self._vlan_variants(f"VLAN {vlan.id} ({how})", vlan.addresses(), hops, vlan, role))
            else:
                out.extend(self._every_vlan(how, True, hops, role, narrow=narrow and kind == "ap", skip=seen))
        return out

    def _every_vlan(self, why: str, with_ipv6: bool, hops: list[Hop], role: Role, *, narrow: bool,
                    skip: set[int] | None = None) -> list[Variant]:
        """Every VLAN of the MX as a possible way (the snapshot does not say which); for the AP's own VLAN
        (`narrow`) audit.yaml may name it (assume: meraki-ap-management-vlan)."""
        assert self.vlans is not None
        every = [(v, variant) for v in self.vlans if v.id not in (skip or ()) for variant in self._vlan_variants(
            sys.intern(f"VLAN {v.id} ({why})"), v.addresses(with_ipv6=with_ipv6), hops, v, role)]
        if not narrow:
            _note(role, f"{why}: every VLAN was considered")
            return [variant for _v, variant in every]
        assumed = self.assume.get(AP_VLAN)
        chosen = [variant for v, variant in every if v.id == assumed] if len(self.vlans) > 1 else []
        if chosen:  # the admin names the AP's VLAN (audit.yaml assume): only its paths are possible
            what = assumed_note(AP_VLAN, assumed)
            if what not in role.assumed:
                role.assumed.append(what)
            # to tell whether it decided a verdict (a scheduled policy's role asks once per state)
            role.without_assumed.extend(variant for _v, variant in every)
            _note(role, f"{why}, which the snapshot does not name; assumed to be VLAN {assumed} ({what})")
            return chosen
        if assumed is not None and len(self.vlans) > 1:
            _note(role, f"{why}, which the snapshot does not name; {assumed_note(AP_VLAN, assumed)} names "
                        "no VLAN of this MX, so every VLAN was considered")
        else:
            _note(role, f"{why}, which the snapshot does not name; every VLAN was considered")
        return [variant for _v, variant in every]


_GARDEN: dict[str, PacketSet | None] = {}  # walled garden entry -> what it names as an address (None: not one)
_GARDEN_MAX = 10_000  # an org's SSIDs list a few; this bounds hostile input


def _garden_addresses(entry: str) -> PacketSet | None:
    """The packets to a walled garden entry that is an address or CIDR, None for any other entry (a host
    name); remembered: every network's guest SSID lists the same entries, and a name fails to parse slowly."""
    try:
        return _GARDEN[entry]
    except KeyError:
        pass
    try:
        found: PacketSet | None = PacketSet.of(dst=[address_interval(entry)])
    except ValueError:
        found = None
    if len(_GARDEN) >= _GARDEN_MAX:
        _GARDEN.clear()
    _GARDEN[entry] = found
    return found


_SEGMENTS: dict[str, str] = {}  # SSID number (as text) -> its folder name: the same few in every network
_SEGMENTS_MAX = 10_000  # bounds hostile input


def _segment(value: Any) -> str:
    """api_segment(value), remembered by the value's text (which is all it reads)."""
    text = str(value)
    found = _SEGMENTS.get(text)
    if found is None:
        if len(_SEGMENTS) >= _SEGMENTS_MAX:
            _SEGMENTS.clear()
        found = _SEGMENTS[text] = api_segment(text)
    return found


def _vlan_by_id(vlans: list[_Vlan], vlan_id: Any) -> _Vlan | None:
    try:
        wanted = None if isinstance(vlan_id, bool) else int(vlan_id)
    except (TypeError, ValueError, OverflowError):
        return None
    return next((v for v in vlans if v.id == wanted), None)


def _ap_case(tags: Any, where: str) -> str:
    if isinstance(tags, list) and tags and all(isinstance(t, str) for t in tags):
        return sys.intern(f"for clients of APs tagged {', '.join(repr(t) for t in tags)}")
    return sys.intern(f"for clients of the APs {where} names")


@dataclass(slots=True)
class _RoleSpec:
    """A role an SSID gives its clients, before its phases and ways are built."""

    kind: str
    name: str
    policy: dict[str, Any] | None
    gp_id: str | None
    via: str = ""  # how its clients get the policy when it is not the usual way ("device type 'Windows'")
    notes: list[str] = field(default_factory=list)
    sign_on: bool = False  # assigned at sign-on by the splash page: no pre-auth phase of its own
    types: list[str] = field(default_factory=list)  # device types mapped to the policy


def _policy_key(policy: dict[str, Any] | None) -> tuple | None:
    """A group policy as a cache key: its id, and for a stand-in the reason it is missing."""
    return None if policy is None else (policy.get("groupPolicyId"), policy.get("_missing"))


def _note(role: Role, text: str) -> None:
    if text not in role.notes:
        role.notes.append(text)


def _with_cases(variants: list[Variant], cases: tuple[str, ...], suffix: str) -> list[Variant]:
    """Variants (fresh from _vlan_routes) selected by `cases` too, their labels ending in `suffix`."""
    if cases or suffix:
        for variant in variants:
            variant.cases = (*cases, *variant.cases)
            if suffix:
                variant.label = sys.intern(variant.label + suffix)
    return variants


DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def policy_schedule(policy: dict[str, Any]) -> tuple[str, str]:
    """When a group policy is in force (`scheduling`, *create-network-group-policy*: per weekday `active`,
    `from`, `to`, in the network's time zone): ("always", ""), ("never", ""), ("window", "Mon–Fri
    08:00–18:00") or ("unknown", why). A policy without `scheduling`, or with `enabled: false`, is always in
    force; any value that cannot be read makes the schedule unknown (never "always")."""
    schedule = policy.get("scheduling")
    if schedule is None:
        return "always", ""
    if not isinstance(schedule, dict):
        return "unknown", "scheduling is not an object"
    enabled = schedule.get("enabled")
    if enabled is False:
        return "always", ""
    if enabled is not True:
        return "unknown", f"scheduling.enabled is {enabled!r}, not a boolean"
    windows: list[tuple[int, int] | None] = []
    for day in DAYS:
        entry = schedule.get(day)
        if not isinstance(entry, dict) or not isinstance(entry.get("active"), bool):
            return "unknown", f"scheduling.{day} does not say whether the policy is active that day"
        if not entry["active"]:
            windows.append(None)
            continue
        start, end = clock_minutes(entry.get("from")), clock_minutes(entry.get("to"))
        if start is None or end is None or start >= end:
            return "unknown", f"scheduling.{day} from {entry.get('from')!r} to {entry.get('to')!r} is not a time range"
        windows.append((start, end))
    if all(w == (0, 24 * 60) for w in windows):
        return "always", ""
    if all(w is None for w in windows):
        return "never", ""
    parts: list[str] = []
    i = 0
    while i < len(DAYS):
        window = windows[i]
        j = i
        while j + 1 < len(DAYS) and windows[j + 1] == window:
            j += 1
        if window is not None:
            days = DAY_NAMES[i] if i == j else f"{DAY_NAMES[i]}–{DAY_NAMES[j]}"
            parts.append(f"{days} {_clock(window[0])}–{_clock(window[1])}")
        i = j + 1
    return "window", ", ".join(parts)


def clock_minutes(value: Any) -> int | None:
    """'9:00', '09:30' or '24:00' as minutes after midnight; None for anything else."""
    if not isinstance(value, str):
        return None
    hours, sep, minutes = value.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2 or len(hours) > 2:
        return None
    total = int(hours) * 60 + int(minutes)
    return total if int(minutes) < 60 and total <= 24 * 60 else None


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


class BothApply(RuleList):
    """A group policy's rules, then the layer's on what they permit: both filter (a policy allow does not
    override a layer deny). Only read when audit.yaml assumes it (meraki-group-policy-layering both-apply)."""

    __slots__ = ("layer", "policy")

    def __init__(self, name: str, policy: RuleList, layer: RuleList) -> None:
        super().__init__(name, None, layer.default, policy.origin)
        self._parts = (policy, layer)  # `rules` lists both
        self.policy, self.layer = policy, layer

    def evaluate(self, packets: PacketSet) -> tuple[Segment, ...]:
        cached = self._cache.get(packets)
        if cached is not None:
            return cached
        out: list[Segment] = []
        for seg in self.policy.evaluate(packets):
            if seg.decision is Decision.DENY:
                out.append(seg)
            elif seg.decision is Decision.PERMIT:
                out.extend(self.layer.evaluate(seg.packets))
            else:  # the policy may deny or pass them: denied only if the layer denies them anyway
                out.extend(later if later.decision is Decision.DENY else
                           Segment(later.packets, Decision.UNKNOWN, seg.rule, seg.reason)
                           for later in self.layer.evaluate(seg.packets))
        result = self._cache[packets] = tuple(out)
        return result

    def release(self) -> None:
        self.policy.release()
        self.layer.release()
        super().release()


def _policy_row(row: dict[str, Any], position: int, origin: Origin, resolver: Resolver, label: str,
                where: str | None = None) -> list[Rule]:
    return [_relabel(rule, label) for rule in l3_rules(row, position, origin, resolver, with_source=False,
                                                       where=where)]


def _relabel(rule: Rule, text_prefix: str) -> Rule:
    return Rule(rule.position, rule.action, rule.match, sys.intern(f"{text_prefix}: {rule.text}"), rule.comment,
                rule.origin, rule.certain, rule.reason, rule.synthetic)


def _ipv6_prefixes(raw: dict[str, Any], where: str) -> list[tuple[int, int]]:
    """A VLAN's IPv6 prefixes (`ipv6.prefixAssignments`, routed by the MX, never translated): a static one as
    written, one delegated by the ISP (no `staticPrefix`) as some global prefix the snapshot does not name.
    [] when IPv6 is off or the field absent (a snapshot from before it existed)."""
    ipv6 = optional(raw, "ipv6", dict, where)
    if ipv6.get("enabled") is not True:
        return []
    out = []
    for j, assignment in enumerate(optional(ipv6, "prefixAssignments", list, f"{where}.ipv6")):
        at = f"{where}.ipv6.prefixAssignments[{j}]"
        prefix = expect(assignment, dict, at, "a prefix assignment object").get("staticPrefix")
        if prefix in (None, ""):
            out.append(GLOBAL_V6)
            continue
        subnet = _subnet(prefix, at)
        if subnet is None or subnet.version != 6:
            raise SnapshotError(at, f"staticPrefix '{prefix}' is not an IPv6 prefix")
        out.append(network_interval(subnet))
    return out


def _default_peers(data: Any, rel: str) -> list[tuple[str, str, list[str]]] | None:
    """An org's non-Meraki VPN peers with a default route (0.0.0.0/0 or ::/0 among their private subnets):
    (name, public address, network tags; no tags means all networks). None when not collected."""
    if data is None:
        return None
    out = []
    for i, peer in enumerate(optional(expect(data, dict, rel, "an object with 'peers'"), "peers", list, rel)):
        where = f"{rel} peers[{i}]"
        expect(peer, dict, where, "a VPN peer object")
        if not any(str(s).strip() in ("0.0.0.0/0", "::/0") for s in optional(peer, "privateSubnets", list, where)):
            continue
        tags = peer.get("networkTags")
        name = str(peer.get("name") or peer.get("publicIp") or f"peer {i + 1}")
        out.append((name, str(peer.get("publicIp") or "address not given"),
                    [str(t) for t in tags or ["all"]] if isinstance(tags, list | None) else []))
    return out


def _cellular_networks(statuses: Any) -> set[str] | None:
    """Networks whose MX has a cellular uplink that carries or can take over traffic (statuses already
    checked by _uplink_addresses); None when the statuses were not collected."""
    if statuses is None:
        return None
    return {str(item.get("networkId")) for item in statuses for uplink in item.get("uplinks") or []
            if str(uplink.get("interface", "")).lower().startswith("cellular")
            and str(uplink.get("status", "")).lower() in UPLINK_CARRIES}


def _exclusions(data: Any, rel: str) -> dict[str, dict[str, Any]] | None:
    """An org's VPN exclusions by network (`{"items": [{networkId, custom, majorApplications}]}`, all pages
    joined); None when not collected."""
    if data is None:
        return None
    items = optional(expect(data, dict, rel, "an object with 'items'"), "items", list, rel)
    out = {}
    for i, item in enumerate(items):
        where = f"{rel} items[{i}]"
        expect(item, dict, where, "a network's VPN exclusions")
        custom = optional(item, "custom", list, where)
        for j, rule in enumerate(custom):
            expect(rule, dict, f"{where}.custom[{j}]", "an exclusion rule")
        out[str(item.get("networkId"))] = {"custom": custom,
                                           "majorApplications": optional(item, "majorApplications", list, where)}
    return out


def _subnet(value: Any, rel: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if value in (None, ""):
        return None
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError:
        raise SnapshotError(rel, f"bad subnet '{value}'") from None


def _uplink_addresses(data: Any, rel: str) -> dict[str, list[tuple[int, int]]] | None:
    """Public addresses per network (uplinks_by_network without the interfaces)."""
    found = uplinks_by_network(data, rel)
    return None if found is None else {net: [iv for _iface, iv in ups] for net, ups in found.items()}


def _address_text(iv: Interval) -> str:
    """format_address_interval(iv); for one IPv4 address (an uplink's, in every network) the dotted quad it
    would write, without ipaddress's summary of the range."""
    lo, hi = iv
    if lo == hi and lo >= V4_BASE:
        return ".".join(map(str, (lo - V4_BASE).to_bytes(4, "big")))
    return format_address_interval(iv)


def _upstream_nat(device: str, rel: str, mode: str) -> SourceNatHop:
    """An MX in passthrough mode does not translate: the site's own edge does, to an address the snapshot does
    not have (every public address is possible); what already is public goes on as it is. Without the
    settings file the MX may also translate to its uplink address, which is one of those."""
    why = ("passthrough mode: the MX does not translate; the site's upstream gateway does" if mode == "passthrough"
           else f"deployment mode not collected ({rel}): the MX or the site's upstream gateway translates")
    return SourceNatHop(device, "upstream-nat", Origin(rel), None,
                        f"{why}, to an address not in the snapshot: every public address is possible",
                        private_only=True)
