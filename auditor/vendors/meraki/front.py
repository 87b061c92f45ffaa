"""A Meraki MX in front of a VPN server, or the VPN server itself (its Client VPN).

An MX in routed (NAT) mode takes in nothing unsolicited but what a port forward (on an uplink address), a
1:1 NAT or a 1:many NAT rule lets in, each from its allowed remote IPs, translated to the server's LAN
address (docs/semantics/meraki.md, an MX in front of a server). Then comes its inbound firewall, whose
interplay with those rules Meraki does not document: what it denies is unknown.

Placement: audit.yaml `path` naming `meraki/<network name or id>` says the MX is in front of the server and
is not the IPsec endpoint, so what no forward or NAT rule takes is blocked there. Without `path`, the server's
address being one of an MX's uplink addresses (org uplink statuses) says the MX *is* the server (Client VPN,
L2TP/IPsec): the traffic terminates on it, so neither its outbound rules nor its inbound firewall decide it,
and clients on its own LAN cannot use it (Meraki: unsupported). That reading needs the MX routed and no port
forward of IKE on it; otherwise traffic to the uplink address that no forward takes stays unknown. A 1:1 or
1:many public address places the MX in front of the server as before. docs/semantics/meraki.md cites the
Meraki documents behind each of these.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from auditor.model import (
    Action,
    DataGap,
    Decision,
    Device,
    FilterHop,
    GapHop,
    Hop,
    MayApplyHop,
    Model,
    Origin,
    PassHop,
    Rule,
    Segment,
    VpnServer,
)
from auditor.packets import (
    ANY_ADDR,
    EMPTY,
    PROTO_NAMES,
    PROTO_NUMBERS,
    PUBLIC_V4_SOURCES,
    Interval,
    PacketSet,
    address_interval,
    format_address_interval,
)
from auditor.snapshot import Snapshot, SnapshotError, api_segment
from auditor.vendors.meraki.mx import deployment_mode, mx_rule_list, uplink_view, uplinks_by_network
from auditor.vendors.meraki.rules import Resolver, ValueError_, parse_ports

FIREWALL = "appliance/firewall"
# The Meraki documents behind the Client VPN reading, named in the traces (docs/semantics/meraki.md)
CLIENT_VPN_DOC = "Meraki's 'Client VPN Overview' (documentation.meraki.com/MX/Client_VPN/Client_VPN_Overview)"
FIREWALL_DOC = ("Meraki's 'MX Firewall Settings' "
                "(documentation.meraki.com/MX/Firewall_and_Traffic_Shaping/MX_Firewall_Settings)")
_UDP, _ESP = PROTO_NUMBERS["udp"], PROTO_NUMBERS["esp"]
IKE_PORTS = ((500, 500), (4500, 4500))


def client_vpn_flows(addresses: list[Interval]) -> PacketSet:
    """What an MX's Client VPN (L2TP/IPsec) answers on its address: IKE on UDP 500, NAT-T on UDP 4500, L2TP on
    UDP 1701 and ESP."""
    return PacketSet.of(dst=addresses, proto=[(_UDP, _UDP)], dport=[*IKE_PORTS, (1701, 1701)]) | \
        PacketSet.flow([ANY_ADDR], addresses, _ESP)


def describe_flows(packets: PacketSet) -> str:
    """"udp/500, udp/4500": the protocols and destination ports of a packet set, for people."""
    out: list[str] = []
    for _src, _dst, (plo, phi), _sport, (dlo, dhi) in packets:
        name = PROTO_NAMES.get(plo, str(plo)) if plo == phi else f"protocols {plo}-{phi}"
        text = name if plo != phi or plo not in (6, 17) else \
            f"{name}/{dlo}" if dlo == dhi else f"{name}/{dlo}-{dhi}"
        if text not in out:
            out.append(text)
    return ", ".join(out)


@dataclass(slots=True)
class Forward:
    """One inbound translation: the packets it takes and where it sends them."""

    match: PacketSet  # allowed sources x public address x protocol x public ports
    lan: Interval
    ports: tuple[int, int, int, int] | None  # public lo, hi -> local lo, hi; None: ports unchanged
    rule: Rule  # what the trace names

    def translate(self, packets: PacketSet) -> PacketSet:
        out = PacketSet()
        for src, _dst, proto, sport, dport in packets:
            if self.ports is not None:
                plo, _phi, llo, lhi = self.ports
                dport = (llo, llo) if llo == lhi else (dport[0] - plo + llo, dport[1] - plo + llo)
            out = out | PacketSet([(src, self.lan, proto, sport, dport)])  # many ports to one may overlap
        return out


@dataclass(eq=False)
class InboundNatHop(Hop):
    """Port forwards, 1:1 or 1:many NAT for one public address, first match; the rest `otherwise`."""

    may_translate: ClassVar[bool] = True
    forwards: list[Forward] = field(default_factory=list)
    otherwise: Decision = Decision.DENY
    otherwise_reason: str = ""
    own: PacketSet = field(default_factory=PacketSet)  # from this MX's own uplink addresses: its own LANs
    # What no rule takes, worded for those packets: (reason naming the missing forward, what to add);
    # None: otherwise_reason
    missing: Callable[[PacketSet], tuple[str, str]] | None = None

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out = []
        remaining = packets
        hairpin = packets & self.own if self.own else self.own
        if hairpin:
            remaining = remaining - self.own
            out.append(Segment(hairpin, Decision.UNKNOWN, None, "traffic from this MX's own networks to its public "
                                                                 "address (hairpin NAT) is not modelled"))
        for forward in self.forwards:
            hit = remaining & forward.match
            if not hit:
                continue
            remaining = remaining - forward.match
            leaving = forward.translate(hit)
            out.append(Segment(hit, Decision.TRANSLATE, forward.rule,
                               f"{forward.rule.text}: to {format_address_interval(forward.lan)}", leaving))
        if remaining:
            reason = self.missing(remaining)[0] if self.missing is not None else self.otherwise_reason
            out.append(Segment(remaining, self.otherwise, None, reason))
        return tuple(out)

    def remedy(self, seg: Segment, flows: list[str]) -> str:
        """What to change where nothing forwards the flow (rules/checks/_paths.fix_for)."""
        if seg.decision is Decision.DENY and seg.rule is None and self.missing is not None:
            return f"At {self.device} ({self.stage}): {self.missing(seg.packets)[1]}."
        return ""


@dataclass(eq=False)
class ClientVpnHop(Hop):
    """The MX is the VPN server itself (Client VPN, L2TP/IPsec on its uplink address): the traffic terminates
    here, so neither its outbound rules (LAN to internet, between VLANs) nor its forwards and inbound firewall
    (traffic to hosts behind it) decide it."""

    terminates_ipsec: ClassVar[bool] = True  # the IPsec endpoint: what is inside the SA is decided here
    answers: PacketSet = EMPTY  # the Client VPN's flows to its address
    own: PacketSet = EMPTY  # from this MX's own uplink addresses
    primary: str = ""  # why the address may not be the primary uplink, where alone Client VPN answers
    note: str = ""

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out = []
        rest = packets
        hairpin = rest & self.own if self.own else EMPTY
        if hairpin:
            rest = rest - self.own
            out.append(Segment(hairpin, Decision.UNKNOWN, None, (
                "it reaches the MX from its own uplink address (traffic a spoke sends to the internet through this "
                f"MX as its hub, or a hairpin from its own side); {CLIENT_VPN_DOC} says a connection from the MX's "
                "LAN is unsupported and is silent on traffic arriving over AutoVPN")))
        vpn = rest & self.answers
        if vpn:
            rest = rest - self.answers
            out.append(Segment(vpn, Decision.UNKNOWN, None, self.primary) if self.primary else
                       Segment(vpn, Decision.PERMIT, None, self.note))
        if rest:
            out.append(Segment(rest, Decision.UNKNOWN, None, (
                f"the MX's Client VPN is L2TP/IPsec (UDP 500, 4500 and 1701, ESP; {CLIENT_VPN_DOC}); whether the "
                f"MX answers {describe_flows(rest)} (AnyConnect, if enabled, is set up in settings the snapshot "
                "does not have) is unknown")))
        return tuple(out)


@dataclass(eq=False)
class ClientVpnLanHop(Hop):
    """A client on the LAN of an MX that is itself the VPN server: Meraki does not support Client VPN from
    there. Placed before the MX's own rules, which do not apply to traffic that terminates on it."""

    answers: PacketSet = EMPTY  # the Client VPN's flows to the MX's address
    reason: str = ""

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        hit = packets & self.answers
        if not hit:
            return (Segment(packets, Decision.PERMIT, None, "not Client VPN traffic to this MX"),)
        out = [Segment(hit, Decision.DENY, None, self.reason)]
        rest = packets - self.answers
        if rest:
            out.append(Segment(rest, Decision.PERMIT, None, "not Client VPN traffic to this MX"))
        return tuple(out)

    def remedy(self, seg: Segment, flows: list[str]) -> str:
        if seg.decision is not Decision.DENY:
            return ""
        return (f"At {self.device}: clients on this MX's own LAN cannot use its Client VPN (Meraki does not support "
                "it); they need no VPN to reach its LAN, or must connect from another network.")


class MerakiFront(Device):
    """An MX network's inbound side, for the servers whose address it holds."""

    tier = 0

    def __init__(self, name: str, snapshot: Snapshot, net_id: str, net_name: str,
                 uplinks: list[tuple[str, Interval]] | None, one_to_one: list[tuple[int, dict[str, Any]]],
                 one_to_many: list[tuple[int, dict[str, Any]]], nat_reasons: list[str]) -> None:
        self.name = name
        self.snapshot = snapshot
        self.net_id = net_id
        self.net_name = net_name
        self.base = f"meraki/networks/{api_segment(net_id)}/{FIREWALL}"
        self.uplinks = uplinks  # (interface, public address); None: uplink statuses name none for it
        self.one_to_one = one_to_one
        self.one_to_many = one_to_many
        self.nat_reasons = nat_reasons  # NAT files that are absent: what they may translate is unknown
        # Why its forwards and NAT may do nothing ("" when the MX is routed): passthrough, or not known.
        self.mode_reason = ""
        self.uplinks_origin = ""  # the uplink statuses file the addresses come from
        self.path_names = {f"meraki/{net_name}", f"meraki/{net_id}"}  # how audit.yaml `path` may name it

    def _uplink_addresses(self) -> list[Interval]:
        return [address for _iface, address in self.uplinks or []]

    def _nat_rule(self, address: Interval) -> tuple[str, str, int, dict[str, Any]] | None:
        """The first 1:1, then 1:many, NAT rule whose public address is `address`: (kind, file, index, rule)."""
        for kind, rules in (("oneToOneNatRules", self.one_to_one), ("oneToManyNatRules", self.one_to_many)):
            rel = f"{self.base}/{kind}.json"
            for i, rule in rules:
                try:
                    public = address_interval(str(rule.get("publicIp")))
                except ValueError:
                    raise SnapshotError(f"{rel} rules[{i}]", f"bad publicIp '{rule.get('publicIp')}'") from None
                if public == address:
                    return kind, rel, i, rule
        return None

    def owns(self, server: VpnServer) -> bool:
        address = address_interval(server.address)
        return address in self._uplink_addresses() or self._nat_rule(address) is not None

    def inbound_forwards(self) -> list[tuple[Interval | None, Forward]]:
        """Every inbound translation this MX configures (1:1 NAT, 1:many NAT, then port forwards on each uplink
        address), with the public address it listens on; None: an uplink address the snapshot does not have."""
        device = f"{self.net_name} / MX"
        out: list[tuple[Interval | None, Forward]] = []
        for kind, rules in (("oneToOneNatRules", self.one_to_one), ("oneToManyNatRules", self.one_to_many)):
            rel = f"{self.base}/{kind}.json"
            for i, rule in rules:
                try:
                    public = address_interval(str(rule.get("publicIp")))
                except ValueError:
                    raise SnapshotError(f"{rel} rules[{i}]", f"bad publicIp '{rule.get('publicIp')}'") from None
                nat = self._one_to_one(device, rule, rel, i, public) if kind == "oneToOneNatRules" else \
                    self._one_to_many(device, rule, rel, i, public)
                out.extend((public, forward) for forward in nat.forwards)
        addresses: list[Interval | None] = list(self._uplink_addresses()) or [None]
        for address in addresses:
            hop = self._port_forwards(device, ANY_ADDR if address is None else address)
            if isinstance(hop, InboundNatHop):
                out.extend((address, forward) for forward in hop.forwards)
        return out

    def named(self, server: VpnServer) -> bool:
        """Whether audit.yaml `path` places this MX in front of the server (then it is not the server)."""
        return bool(self.path_names.intersection(server.path))

    def terminates(self, server: VpnServer) -> bool:
        """Whether this MX is the VPN server itself (Client VPN): no `path`, the server's address is one of its
        uplink addresses (no 1:1 or 1:many rule on it), it is routed, and no port forward sends IKE (UDP 500
        or 4500) to a host behind it, which would say the server is there instead."""
        if server.path or self.mode_reason or not self.uplinks:
            return False
        address = address_interval(server.address)
        if address not in self._uplink_addresses() or self._nat_rule(address) is not None:
            return False
        return self._ike_forwards(address) == []

    def _ike_forwards(self, address: Interval) -> list[str] | None:
        """The port forwards (on any uplink) that take UDP 500 or 4500; None when the file is missing. Every
        row is read in full, so a malformed one is reported here too."""
        rel = f"{self.base}/portForwardingRules.json"
        data = self.snapshot.read_json(rel)
        if data is None:
            return None
        ike = PacketSet.of(proto=[(_UDP, _UDP)], dport=IKE_PORTS)
        out = []
        for j, rule in enumerate(_list(_object(data, rel), "rules", rel)):
            forward = self._forward(rule, f"{rel} rules[{j}]", address, "lanIp", rel, j, j,
                                    f"port forward {rule.get('name') or j + 1}")
            if forward.match.with_sources([ANY_ADDR]).intersects(ike):
                out.append(forward.rule.text)
        return out

    def hops(self, server: VpnServer) -> list[Hop]:
        device = f"{self.net_name} / MX"
        if self.mode_reason:
            return [GapHop(device, "deployment-mode",
                           Origin(f"meraki/networks/{api_segment(self.net_id)}/appliance/settings.json"),
                           reason=self.mode_reason)]
        address = address_interval(server.address)
        if self.terminates(server):
            return [self._client_vpn(device, address)]
        found = self._nat_rule(address)
        nat_hop: Hop
        if found is None:
            nat_hop = self._no_nat_rule(device, address, self.named(server))
        elif found[0] == "oneToOneNatRules":
            nat_hop = self._one_to_one(device, found[3], found[1], found[2], address)
        else:
            nat_hop = self._one_to_many(device, found[3], found[1], found[2], address)
        if isinstance(nat_hop, InboundNatHop) and self._uplink_addresses():
            nat_hop.own = PacketSet.of(src=self._uplink_addresses())
        return [nat_hop, self._inbound_firewall(device)]

    def _client_vpn(self, device: str, address: Interval) -> Hop:
        """The server-side hop of an MX that is the VPN server itself (see `terminates`)."""
        others = [format_address_interval(a) for a in self._uplink_addresses() if a != address]
        primary = "" if not others else (
            f"{CLIENT_VPN_DOC} says Client VPN connections are only established on the primary uplink, and this "
            f"MX also has {', '.join(others)}; which uplink is primary (its uplink selection) is not in the "
            "snapshot")
        return ClientVpnHop(device, "client-vpn", Origin(self.uplinks_origin),
                            answers=client_vpn_flows([address]), own=PacketSet.of(src=self._uplink_addresses()),
                            primary=primary,
                            note=(f"{format_address_interval(address)} is this MX's own uplink address: the VPN "
                                  "terminates on the MX (Client VPN), so its outbound and inbound firewall rules "
                                  f"do not decide it; see {FIREWALL_DOC}"))

    def _no_nat_rule(self, device: str, address: Interval, named: bool) -> Hop:
        """No 1:1 or 1:many rule names the address: port forwards if it is (or may be) an uplink address."""
        shown = format_address_interval(address)
        if self.uplinks is None or address in self._uplink_addresses():
            return self._port_forwards(device, address, named)
        if self.nat_reasons:
            return GapHop(device, "inbound-nat", None, reason=f"{'; '.join(self.nat_reasons)}: whether a 1:1 or "
                                                              f"1:many NAT of this MX takes {shown} is unknown")
        return InboundNatHop(device, "inbound-nat", None, [], Decision.DENY,
                             f"{shown} is not an uplink address of this MX and no 1:1 or 1:many NAT rule maps it")

    # one hop per mechanism -----------------------------------------------------------------------------
    def _one_to_one(self, device: str, rule: dict[str, Any], rel: str, i: int, address: Interval) -> InboundNatHop:
        lan = _lan(rule.get("lanIp"), f"{rel} rules[{i}]")
        forwards = []
        for j, allowed in enumerate(_list(rule, "allowedInbound", f"{rel} rules[{i}]")):
            where = f"{rel} rules[{i}].allowedInbound[{j}]"
            protocol = str(allowed.get("protocol", "")).lower()
            if protocol == "icmp-ping":  # the API's name for ICMP here ('tcp', 'udp', 'icmp-ping' or 'any')
                protocol = "icmp"
            listed = allowed.get("destinationPorts") or ["any"]
            if not isinstance(listed, list):
                raise SnapshotError(where, "expected 'destinationPorts' to be a list")
            ports = [] if protocol in ("any", "icmp", "icmp6") else [iv for p in listed for iv in _ports(p, where)]
            text = f"1:1 NAT {rule.get('name') or format_address_interval(address)} allows {protocol} " + \
                ",".join(str(p) for p in listed)
            match = _match(protocol, ports, allowed.get("allowedIps"), address, where)
            forwards.append(Forward(match, lan, None, Rule(j + 1, Action.PERMIT, match, text, "", Origin(rel, i))))
        return InboundNatHop(device, "one-to-one-nat", Origin(rel, i), forwards, Decision.DENY,
                             f"the 1:1 NAT of {format_address_interval(address)} ({rule.get('name') or 'unnamed'}) "
                             "allows no other inbound traffic (protocol, port or remote IP)")

    def _one_to_many(self, device: str, rule: dict[str, Any], rel: str, i: int,
                     address: Interval) -> InboundNatHop:
        forwards = []
        for j, port_rule in enumerate(_list(rule, "portRules", f"{rel} rules[{i}]")):
            where = f"{rel} rules[{i}].portRules[{j}]"
            forwards.append(self._forward(port_rule, where, address, "localIp", rel, i, j,
                                          f"1:many NAT {format_address_interval(address)} port rule "
                                          f"{port_rule.get('name') or j + 1}"))
        return InboundNatHop(device, "one-to-many-nat", Origin(rel, i), forwards, Decision.DENY,
                             f"no port rule of the 1:many NAT of {format_address_interval(address)} takes it")

    def _port_forwards(self, device: str, address: Interval, named: bool = False) -> Hop:
        rel = f"{self.base}/portForwardingRules.json"
        data = self.snapshot.read_json(rel)
        if data is None:
            return GapHop(device, "port-forwarding", Origin(rel), reason=self.snapshot.absence_reason(rel))
        iface = next((i for i, a in self.uplinks or [] if a == address), "")
        # wan1 is internet1, wan2 internet2; an address the statuses do not place may be either
        wanted = {"both", f"internet{iface[3:]}"} if iface.startswith("wan") else {"both", "internet1", "internet2"}
        forwards = []
        for j, rule in enumerate(_list(_object(data, rel), "rules", rel)):
            where = f"{rel} rules[{j}]"
            if str(rule.get("uplink", "both")).lower() in wanted:
                forwards.append(self._forward(rule, where, address, "lanIp", rel, j, j,
                                              f"port forward {rule.get('name') or j + 1}"))
        shown = format_address_interval(address)
        if not named:
            return InboundNatHop(device, "port-forwarding", Origin(rel), forwards, Decision.UNKNOWN,
                                 f"no port forward on {shown} takes it; the MX may be the VPN server itself "
                                 "(Client VPN, whose settings are not in the snapshot), else it drops it")
        if self.nat_reasons and address not in self._uplink_addresses():
            # Maybe not an uplink address at all, and a 1:1 or 1:many rule the snapshot lacks may take it.
            return InboundNatHop(device, "port-forwarding", Origin(rel), forwards, Decision.UNKNOWN,
                                 f"no port forward on {shown} takes it, and {'; '.join(self.nat_reasons)}: whether "
                                 "a 1:1 or 1:many NAT of this MX takes it is unknown")
        # Named in `path`: the MX stands in front of the server and is not the IPsec endpoint, so what no
        # forward takes is dropped (routed mode denies unsolicited inbound connections).
        return InboundNatHop(device, "port-forwarding", Origin(rel), forwards, Decision.DENY, "",
                             missing=lambda packets: self._missing_forward(address, forwards, packets))

    def _missing_forward(self, address: Interval, forwards: list[Forward], packets: PacketSet) -> tuple[str, str]:
        """Why no forward takes `packets`, naming the forward to add, and that addition."""
        flows, shown = describe_flows(packets), format_address_interval(address)
        narrow = [f for f in forwards if f.match.intersects(packets.with_sources([ANY_ADDR]))]
        if narrow:  # a forward takes the flow, only not from these sources
            fix = (f"add {packets.describe_sources()} to the allowed remote IPs of {narrow[0].rule.text} "
                   "(client VPNs come from anywhere: 'any')")
            return (f"{flows} to {shown} from {packets.describe_sources()} is not forwarded: {narrow[0].rule.text} "
                    f"takes it only from its allowed remote IPs; {fix}"), fix
        lans = sorted({format_address_interval(f.lan) for f in forwards})
        target = lans[0] if len(lans) == 1 else "the VPN server's LAN address"
        ported = all(lo == hi and lo in (6, 17) for lo, hi in packets.protocols())
        fix = ("add a port forward of " + ", ".join(f.replace("/", " ", 1).upper() for f in flows.split(", ")) +
               f" to {target}") if ported else \
            f"port forwards carry only TCP and UDP: {flows} needs a 1:1 NAT of a public address to {target}"
        return (f"{flows} to {shown} is not forwarded: no port forwarding, 1:1 or 1:many NAT rule on MX "
                f"'{self.net_name}' takes it; {fix}"), fix

    def _forward(self, rule: dict[str, Any], where: str, address: Interval, lan_key: str, rel: str, i: int,
                 j: int, label: str) -> Forward:
        protocol = str(rule.get("protocol", "")).lower()
        if protocol not in ("tcp", "udp"):
            raise SnapshotError(where, f"protocol '{rule.get('protocol')}' is not tcp or udp")
        public = _ports(rule.get("publicPort"), where)
        local = _ports(rule.get("localPort"), where)
        if len(public) != 1 or len(local) != 1:
            raise SnapshotError(where, "publicPort and localPort must each be one port or range")
        (plo, phi), (llo, lhi) = public[0], local[0]
        if llo != lhi and lhi - llo != phi - plo:
            raise SnapshotError(where, f"a public range {plo}-{phi} cannot map to local {llo}-{lhi}")
        match = _match(protocol, public, rule.get("allowedIps"), address, where)
        text = f"{label} ({protocol} {plo if plo == phi else f'{plo}-{phi}'} -> {rule.get(lan_key)}:" \
            f"{llo if llo == lhi else f'{llo}-{lhi}'})"
        mapping = None if (plo, phi) == (llo, lhi) else (plo, phi, llo, lhi)
        return Forward(match, _lan(rule.get(lan_key), where), mapping,
                       Rule(j + 1, Action.PERMIT, match, text, "", Origin(rel, i)))

    def _inbound_firewall(self, device: str) -> Hop:
        rel = f"{self.base}/inboundFirewallRules.json"
        data = self.snapshot.read_json(rel)
        if data is None:
            recorded = self.snapshot.outcome(rel)
            if recorded is not None and recorded.outcome == "absent":  # the feature is off on this network
                return PassHop(device, "inbound-firewall", Origin(rel), note="no inbound firewall on this network")
            return GapHop(device, "inbound-firewall", Origin(rel), reason=self.snapshot.absence_reason(rel))
        rules = mx_rule_list(data, rel, Resolver(vlans=None, vlans_reason="VLAN references in inbound rules are "
                                                                          "not resolved"))
        return MayApplyHop(device, "inbound-firewall", Origin(rel), inner=FilterHop(device, "inbound-firewall",
                                                                                   Origin(rel), rules),
                           why="Meraki does not document whether the inbound firewall also filters what a port "
                               "forward or NAT rule lets in.")


def load_fronts(snapshot: Snapshot, model: Model) -> None:
    """MX networks that front a VPN server, added to model.devices (see the module docstring)."""
    named = {name for server in model.servers for name in server.path if name.startswith("meraki/")}
    addresses = {address_interval(s.address) for s in model.servers if not s.path}
    if not named and not addresses:
        return
    for net_id, net_name, uplinks, statuses_rel in _appliance_networks(snapshot):
        names = {f"meraki/{net_name}", f"meraki/{net_id}"} & named
        if not addresses and not names:
            continue
        front = _front(snapshot, next(iter(names), f"meraki/{net_name}"), net_id, net_name, uplinks)
        front.uplinks_origin = statuses_rel
        if names or any(front.owns(s) for s in model.servers if not s.path):
            front.mode_reason = _mode_reason(snapshot, model, net_id, net_name)
            model.devices[front.name] = front


def all_fronts(snapshot: Snapshot) -> Iterator[MerakiFront]:
    """The inbound side of every MX network in the snapshot, whatever the servers (`vpn-auditor init` looks
    for what could be one)."""
    for net_id, net_name, uplinks, statuses_rel in _appliance_networks(snapshot):
        front = _front(snapshot, f"meraki/{net_name}", net_id, net_name, uplinks)
        front.uplinks_origin = statuses_rel
        yield front


def _appliance_networks(snapshot: Snapshot) -> Iterator[tuple[str, str, list[tuple[str, Interval]] | None, str]]:
    """(id, name, uplinks, uplink statuses file) of every network with an appliance; uplinks None when the
    org's uplink statuses were not collected."""
    orgs = snapshot.read_json("meraki/organizations.json")
    org_ids = [str(o.get("id")) for o in orgs if isinstance(o, dict)] if isinstance(orgs, list) else []
    org_ids += [o for f in snapshot.listdir("meraki/organizations")
                if (o := urllib.parse.unquote(f.rsplit("/", 1)[1])) not in org_ids]
    for org_id in org_ids:
        base = f"meraki/organizations/{api_segment(org_id)}"
        networks = snapshot.read_json(f"{base}/networks.json")
        if not isinstance(networks, list):
            continue
        statuses_rel = f"{base}/appliance/uplink/statuses.json"
        statuses = snapshot.read_view(statuses_rel, uplink_view)
        uplinks = uplinks_by_network(statuses, statuses_rel) or {}
        for raw in networks:
            products = raw.get("productTypes") if isinstance(raw, dict) else None
            if not isinstance(products, list) or "appliance" not in products:
                continue  # malformed entries are the network adapter's to report, naming the file
            net_id = str(raw.get("id"))
            known = uplinks.get(net_id) if statuses is not None else None
            yield net_id, str(raw.get("name") or raw.get("id")), known, statuses_rel


def _front(snapshot: Snapshot, name: str, net_id: str, net_name: str,
           uplinks: list[tuple[str, Interval]] | None) -> MerakiFront:
    nets = f"meraki/networks/{api_segment(net_id)}/{FIREWALL}"
    rules, reasons = {}, []
    for kind in ("oneToOneNatRules", "oneToManyNatRules"):
        data = snapshot.read_json(f"{nets}/{kind}.json")
        if data is None:
            reasons.append(snapshot.absence_reason(f"{nets}/{kind}.json"))
        rules[kind] = list(enumerate(_list(_object(data, f"{nets}/{kind}.json"), "rules",
                                           f"{nets}/{kind}.json"))) if data is not None else []
    return MerakiFront(name, snapshot, net_id, net_name, uplinks, rules["oneToOneNatRules"],
                       rules["oneToManyNatRules"], reasons)


def client_vpn_lan_hops(model: Model) -> dict[str, Hop]:
    """Network id -> the hop its own clients cross first, for each MX that is itself a VPN server (Client
    VPN): Meraki does not support connecting to it from its LAN. Worked out once the fronts are loaded."""
    out: dict[str, Hop] = {}
    for device in model.devices.values():
        if not isinstance(device, MerakiFront):
            continue
        served = [s for s in model.servers if device.terminates(s)]
        if not served:
            continue
        addresses = [address_interval(s.address) for s in served]
        names = ", ".join(f"'{s.name}' ({s.address})" for s in served)
        out[device.net_id] = ClientVpnLanHop(
            f"{device.net_name} / MX", "client-vpn-from-lan", Origin(device.uplinks_origin),
            answers=client_vpn_flows(addresses),
            reason=(f"the MX of this network is itself the VPN server {names} (Client VPN on its uplink address), "
                    f"and {CLIENT_VPN_DOC} states that connecting to Client VPN from a client on the MX's LAN is "
                    "not supported"))
    return out


def unplaced_servers(model: Model) -> list[VpnServer]:
    """Servers at a public IPv4 address that audit.yaml gives no `path` and no device owns: while an org's
    uplink statuses are missing, any of its MXs may be one of them (Client VPN on its uplink address)."""
    public = PacketSet.of(src=PUBLIC_V4_SOURCES)
    return [s for s in model.servers if not s.path
            and PacketSet.of(src=[address_interval(s.address)]).issubset(public)
            and not any(d.owns(s) or d.may_own(s) for d in model.devices.values())]


def maybe_client_vpn_reason(servers: list[VpnServer], statuses_rel: str, absence: str) -> str:
    names = ", ".join(f"'{s.name}' ({s.address})" for s in servers)
    return (f"{absence}: the org's MX uplink addresses are unknown, so whether VPN server {names} is this "
            f"network's own MX (its Client VPN, which {CLIENT_VPN_DOC} does not support from the MX's LAN) is "
            "unknown")


def _mode_reason(snapshot: Snapshot, model: Model, net_id: str, net_name: str) -> str:
    """Why a placed MX's forwards and NAT may not be what reaches the server ("" when it is routed): in
    passthrough mode it forwards and translates nothing; without its settings file either may hold."""
    rel = f"meraki/networks/{api_segment(net_id)}/appliance/settings.json"
    mode = deployment_mode(snapshot.read_json(rel), rel)
    device = f"{net_name} / MX"
    if mode is None:
        reason = (f"{snapshot.absence_reason(rel)}: whether {device} is routed (its port forwards and NAT reach "
                  "the server) or in passthrough mode (they do nothing) is unknown")
        model.gaps.append(DataGap(rel, reason, net_id, net_name))
        return reason
    if mode == "routed":
        return ""
    if mode == "passthrough":
        return (f"{device} is in passthrough mode ({rel}): it forwards and translates nothing, so what reaches the "
                "server passes through or around it, filtered in ways the snapshot does not show")
    return f"{rel}: deploymentMode {mode!r} is not understood (routed or passthrough)"


# -- values -----------------------------------------------------------------------------------------------
def _object(data: Any, rel: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise SnapshotError(rel, f"expected an object, found {type(data).__name__}")
    return data


def _list(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise SnapshotError(where, f"expected '{key}' to be a list of objects")
    return value


def _lan(value: Any, where: str) -> Interval:
    try:
        return address_interval(str(value))
    except ValueError:
        raise SnapshotError(where, f"bad LAN address '{value}'") from None


def _ports(value: Any, where: str) -> list[Interval]:
    try:
        return parse_ports(value)
    except ValueError_ as exc:
        raise SnapshotError(where, str(exc)) from None


def _match(protocol: str, ports: list[Interval], allowed: Any, address: Interval, where: str) -> PacketSet:
    """The packets a forward takes: from its allowed remote IPs ("any" or CIDRs) to the public address."""
    sources = []
    for item in allowed if isinstance(allowed, list) else [allowed or "any"]:
        text = str(item).strip()
        if text.lower() == "any":
            sources.append(ANY_ADDR)
            continue
        try:
            sources.append(address_interval(text))
        except ValueError:
            raise SnapshotError(where, f"bad allowed IP '{text}'") from None
    if protocol == "any":
        return PacketSet.of(src=sources, dst=[address])
    if protocol not in PROTO_NUMBERS:
        raise SnapshotError(where, f"unknown protocol '{protocol}'")
    number = PROTO_NUMBERS[protocol]
    if ports:
        return PacketSet.of(src=sources, dst=[address], proto=[(number, number)], dport=ports)
    return PacketSet.of(src=sources, dst=[address], proto=[(number, number)])
