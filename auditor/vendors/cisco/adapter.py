"""Cisco ASA and IOS/IOS-XE perimeter devices: `cisco/<device>.cfg` -> `CiscoDevice` hops.

A perimeter device stands between the internet and a VPN server. For traffic to one server its hops are,
in the order the device applies them:

- IOS, and ASA before 8.3: ingress ACL on the outside interface (sees the public address) -> static NAT
  -> egress ACL on the interface toward the server (sees the real address).
- ASA 8.3 and later: static NAT (un-translation) -> ingress ACL (interface ACL, then global ACL, then the
  implicit deny; with neither, security levels) -> egress ACL. From 8.3 on, ACLs name real addresses,
  which is why ASA's own packet-tracer shows UN-NAT before ACCESS-LIST.

What a hop cannot decide from the configuration (an unparsed line, an FQDN object, a route-map condition,
an interface whose address is assigned by DHCP) makes the packets it could affect unknown, with file and
line, never allowed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import ClassVar

from auditor.model import (
    Action,
    DataGap,
    Decision,
    Device,
    Exposure,
    FilterHop,
    FragmentView,
    GapHop,
    Hop,
    InterfaceLine,
    Model,
    Origin,
    PassHop,
    ReachedList,
    Rule,
    RuleList,
    Segment,
    SourceNatHop,
    UnknownDevice,
    UnmodelledLines,
    VpnServer,
    any_source_port,
)
from auditor.packets import (
    ALL,
    ANY_ADDR,
    ANY_PORT,
    ANY_PROTO,
    ANY_V4,
    ANY_V6,
    EMPTY,
    IPV4_SOURCES,
    PORTED_PROTOCOLS,
    PROTO_NAMES,
    PUBLIC_V4_SOURCES,
    Interval,
    PacketSet,
    address_interval,
    format_address_interval,
)
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.cisco.asa import AsaParser
from auditor.vendors.cisco.common import (
    CiscoConfig,
    Interface,
    NatEntry,
    SourceNat,
    merge_intervals,
    subtract_intervals,
)
from auditor.vendors.cisco.ios import IosParser
from auditor.vendors.cisco.lines import acl_name_ok, review
from auditor.vendors.cisco.local import LocalConfig, Termination, read_local

_ASA_MARKERS = re.compile(r"^(?:: Saved|ASA Version |PIX Version |FWSM Version )|^ nameif |"
                          r"^access-group \S+ (?:in|out) interface |^access-group \S+ global", re.M)


_IFACE_NAME = re.compile(r"^([a-z-]+)(\d.*)$")  # (type, number): gigabitethernet + 0/1.100
_SEQ = re.compile(r"^\s*(\d+)\s+(?=permit\b|deny\b)", re.IGNORECASE)  # an IOS ACL entry's sequence number


def config_doubts(config: CiscoConfig, *, whole: bool, complete: bool = False) -> list[str]:
    """Why nothing this configuration decides can be trusted: a transfer that may have been cut short (no final
    `end` and no other proof that the file is whole, checked for `whole` running-configs unless audit.yaml
    declares the device `complete`), or relevant lines the parser could neither read nor make unknown where
    they matter (`cisco_lines.review`: a mangled command or token where interfaces, filters, NAT or routes
    are configured). Lines that cannot affect a VPN path are never a doubt; the review lists them."""
    assert config.review is not None
    doubts = []
    if whole and not complete and not config.review.complete:
        name = "cisco/" + config.path.rsplit("/", 1)[-1].removesuffix(".cfg")
        doubts.append(f"{config.path} does not end with `end` and carries no collector header or footer that proves "
                      "it whole (RANCID's `!RANCID-CONTENT-TYPE`, oxidized's `show version` header, the ASA's "
                      "`Cryptochecksum:` line): the configuration may be incomplete (collection cut short?); if it "
                      f"is whole, declare it in audit.yaml: `devices: {{{name}: {{complete: true}}}}`")
    return doubts + config.review.doubts


def detect_platform(text: str) -> str:
    """"asa" or "ios": ASA configs carry a version banner, `nameif` or interface-bound access-groups."""
    return "asa" if _ASA_MARKERS.search(text) else "ios"


def parse_config(text: str, path: str, platform: str | None = None) -> CiscoConfig:
    """The configuration's model, with every line accounted for (`CiscoConfig.review`)."""
    platform = platform or detect_platform(text)
    parser = AsaParser(text, path) if platform == "asa" else IosParser(text, path)
    config = parser.parse()
    config.local = read_local(parser.tree, platform)
    config.read |= config.local.lines
    config.review = review(text, path, platform, parser.tree, parser.free, config.read)
    return config


class CiscoAdapter:
    """Reads every `cisco/*.cfg` of a snapshot into `model.devices["cisco/<name>"]`.

    A file that cannot be read at all (binary, not a configuration) makes that one device a data gap: the rest
    of the snapshot is audited, and paths the device may be on are unknown."""

    def load(self, snapshot: Snapshot, model: Model) -> None:
        for rel in snapshot.listdir("cisco", ".cfg"):
            name = "cisco/" + rel.rsplit("/", 1)[-1].removesuffix(".cfg")
            try:
                read = snapshot.read_config(rel)
                if read is None:
                    continue
                text, note = read
                device = CiscoDevice.from_text(text, rel)
            except SnapshotError as exc:
                reason = f"{rel}: {exc.message}: what {name} does to VPN traffic is unknown"
                model.devices[name] = UnreadableDevice(name, rel, reason)
                model.gaps.append(DataGap(rel, reason))
                continue
            if note:
                device.notes.append(f"{rel}: {note}")
            settings = model.device_settings.get(device.name, {})
            device.doubts = config_doubts(device.config, whole=True, complete=bool(settings.get("complete"))) + [
                f"{rel} line {line}: interface address '{line_text}' cannot be read"
                for line, line_text in device.config.unreadable]
            model.devices[device.name] = device
            model.gaps.extend(DataGap(rel, doubt) for doubt in device.doubts[:5])


class UnreadableDevice(UnknownDevice):
    """A `cisco/*.cfg` that could not be read: every flow it may be on is unknown."""


# --------------------------------------------------------------------------------------------------------
class CiscoDevice(Device):
    """An ASA or IOS device in front of VPN servers (tier 0: nearest the internet)."""

    tier = 0

    def __init__(self, name: str, config: CiscoConfig) -> None:
        self.name = name
        self.config = config
        self._acls: dict[str, RuleList] = {}
        self._fragment_acls: dict[str, RuleList] = {}
        self._fragment_views: dict[tuple[str, str], list[FragmentView]] = {}
        self._hops: dict[tuple[str, str], list[Hop]] = {}  # per (server name, address): built once
        self._entry: dict[str, list[Hop]] = {}  # per interface label of audit.yaml `enters`
        self._regions: list[tuple[str, PacketSet]] | None = None
        self.doubts: list[str] = []  # set by the adapter: why the configuration as a whole is not trusted
        self.notes: list[str] = []  # how the file was read (decoding), for the report of what is not modelled

    @classmethod
    def from_text(cls, text: str, path: str, platform: str | None = None) -> CiscoDevice:
        if not text.strip():
            raise SnapshotError(path, "empty configuration")
        config = parse_config(text, path, platform)
        if not (config.interfaces or config.acls or config.nat or config.hostname):
            raise SnapshotError(path, "not a Cisco running-config (no hostname, interface, ACL or NAT)", 1)
        stem = path.rsplit("/", 1)[-1].removesuffix(".cfg")
        return cls(f"cisco/{stem}", config)

    @property
    def platform(self) -> str:
        return self.config.platform

    @property
    def local(self) -> LocalConfig:
        if self.config.local is None:
            self.config.local = LocalConfig()
        return self.config.local

    # rule lists --------------------------------------------------------------------------------------------
    def acl(self, name: str) -> RuleList | None:
        """An ACL as a first-match list ending in the implicit deny; None when it is not defined."""
        cached = self._acls.get(name)
        if cached is not None:
            return cached
        acl = self.config.acls.get(name)
        if acl is None:
            return None
        rules = list(acl.rules)
        last = rules[-1].position if rules else 0
        default = Rule(last + 1, Action.DENY, ALL, f"implicit deny at the end of access-list {name}",
                       origin=Origin(self.config.path, None, acl.line), synthetic=True)
        result = RuleList(name, rules, default, Origin(self.config.path, None, acl.line))
        self._acls[name] = result
        return result

    def fragment_acl(self, name: str) -> RuleList | None:
        """An IOS ACL as non-initial fragments meet it (`AclDef.fragment_rules`), ending in the same implicit
        deny; the ACL itself where no entry treats them otherwise; None when it is not defined."""
        acl = self.config.acls.get(name)
        if acl is None or not acl.fragment_view:
            return self.acl(name)
        cached = self._fragment_acls.get(name)
        if cached is None:
            plain = self.acl(name)
            assert plain is not None
            cached = self._fragment_acls[name] = RuleList(name, acl.fragment_rules(), plain.default, plain.origin)
        return cached

    def rule_lists(self) -> list[tuple[str, RuleList]]:
        """Every ACL bound to an interface (or global), with a label saying where: for rule-level checks."""
        out = []
        for iface in self.config.interfaces:
            for binding, direction in ((iface.acl_in, "in"), (iface.acl_out, "out")):
                if binding is not None:
                    rules = self.acl(binding[0])
                    if rules is not None:
                        out.append((f"access-list {binding[0]} {direction} on {iface.label}", rules))
        if self.config.global_acl is not None:
            rules = self.acl(self.config.global_acl[0])
            if rules is not None:
                out.append((f"access-list {self.config.global_acl[0]} global", rules))
        return out

    # placement ---------------------------------------------------------------------------------------------
    def owns(self, server: VpnServer) -> bool:
        """Whether the device is on the server's path: the server's public address is a static NAT address here,
        or one of its interface addresses (where it may itself terminate the VPN: then the path ends at the
        device, `headend`)."""
        try:
            public = address_interval(server.address)
        except ValueError:
            return False
        for entry in self.config.nat:
            if any(_overlaps(iv, public) for iv in entry.mapped):
                return True
            if entry.mapped_interface:
                iface = self.config.interface(entry.mapped_interface)
                if iface is not None and any(_overlaps(iv, public) for iv in iface.addresses):
                    return True
        return any(_overlaps(iv, public) for iface in self.config.interfaces for iv in iface.addresses)

    def headend(self, server: VpnServer) -> tuple[Interface, list[Termination]] | None:
        """Where the device itself is the VPN server: the server's address is one of its interface addresses and
        the device terminates VPNs there (IKE: crypto map, `crypto ikev1|ikev2 enable`, FlexVPN, an IPsec
        tunnel's source; SSL VPN: `webvpn`), as `cisco_local` reads them. The interface holding the address and
        what terminates on it; None otherwise."""
        try:
            public = address_interval(server.address)
        except ValueError:
            return None
        local = self.local
        for iface in self.config.interfaces:
            if public in iface.addresses:
                terms = local.terminates(iface.label, iface.name) + [t for iv, t in local.at_address if iv == public]
                return (iface, terms) if terms else None
        return None

    def may_own(self, server: VpnServer) -> str:
        if self.doubts:
            return self.doubts[0]
        unread = next((e.unknown for e in self.config.nat if e.unknown), "")
        return f"{unread}; it may translate {server.address}" if unread else ""

    def outside_interface(self, server: VpnServer) -> tuple[Interface | None, str]:
        """The interface where the server's traffic enters from the internet, and how we know."""
        cfg = self.config
        public = address_interval(server.address)
        named: set[str] = set()
        for entry in cfg.nat:
            if any(_overlaps(iv, public) for iv in entry.mapped) or entry.mapped_interface:
                if entry.mapped_interface and self._iface_owns(entry.mapped_interface, public) is False:
                    continue
                if cfg.platform == "asa" and entry.mapped_iface:
                    named.add(entry.mapped_iface)
                elif entry.mapped_interface:
                    named.add(entry.mapped_interface)
        if len(named) == 1:
            iface = cfg.interface(named.pop())
            if iface is not None:
                return iface, "it carries the server's static NAT"
        for iface in cfg.interfaces:
            if any(_overlaps(iv, public) for iv in iface.addresses):
                return iface, f"{server.address} is its own address"
        return self._internet_facing(server)

    def _internet_facing(self, server: VpnServer) -> tuple[Interface | None, str]:
        """The interface that faces the internet when no NAT or address of the server's names one."""
        cfg = self.config
        if cfg.platform == "asa":
            iface = cfg.interface("outside")
            if iface is not None:
                return iface, "it is named 'outside'"
        else:
            outs = [i for i in cfg.interfaces if i.nat == "outside"]
            if len(outs) == 1:
                return outs[0], "it is the only 'ip nat outside' interface"
        for route in cfg.routes:
            if route.length == 0 and route.prefix[0] >= ANY_V4[0]:
                iface = self._route_iface(route.iface, route.next_hop)
                if iface is not None:
                    return iface, f"the default route (line {route.line}) leaves through it"
        if cfg.platform == "asa":
            named_ifaces = [i for i in cfg.interfaces if i.nameif and i.security_level is not None]
            if named_ifaces:
                low = min(i.security_level for i in named_ifaces if i.security_level is not None)
                lowest = [i for i in named_ifaces if i.security_level == low]
                if len(lowest) == 1:
                    return lowest[0], f"it has the lowest security level ({low})"
        return None, (f"cannot tell which interface of {self.name} faces the internet (no NAT for "
                      f"{server.address}, no interface named outside, no default route)")

    def _iface_owns(self, label: str, public: Interval) -> bool | None:
        iface = self.config.interface(label)
        if iface is None or iface.dynamic or not iface.addresses:
            return None
        return any(_overlaps(iv, public) for iv in iface.addresses)

    def _route_iface(self, label: str | None, next_hop: Interval | None) -> Interface | None:
        if label is not None:
            return self.config.interface(label)
        if next_hop is not None:
            for iface in self.config.interfaces:
                if any(lo <= next_hop[0] <= hi for lo, hi in iface.subnets):
                    return iface
        return None

    # hops --------------------------------------------------------------------------------------------------
    def hops(self, server: VpnServer) -> list[Hop]:
        key = (server.name, server.address)
        cached = self._hops.get(key)
        if cached is None:
            cached = self._hops[key] = self._build_hops(server)
        return list(cached)

    def _doubts_hop(self) -> GapHop | None:
        """A missing binding or NAT would make even the denies wrong: with any doubt nothing is certain."""
        if not self.doubts:
            return None
        more = f" (and {len(self.doubts) - 1} more)" if len(self.doubts) > 1 else ""
        return GapHop(self.name, "configuration", Origin(self.config.path), reason=self.doubts[0] + more)

    def _build_hops(self, server: VpnServer) -> list[Hop]:
        origin = Origin(self.config.path)
        if (doubt := self._doubts_hop()) is not None:
            return [doubt]
        home = self.headend(server)
        if home is not None:
            return self._headend_hops(server, *home)
        outside, why = self.outside_interface(server)
        if outside is None:
            return [GapHop(self.name, "perimeter", origin, reason=why)]
        nat = self.nat_hop(server, outside)
        ingress = self.ingress_hop(outside)
        levels = self._same_level_hop(outside, self._real_destinations(nat, server)) \
            if self._acl_decides(ingress) else None
        egress = self._egress_hop(outside)
        asa83 = self.platform == "asa" and not self.config.pre83
        if asa83:
            # the access checks see real addresses: the server's after NAT, the clients' as they arrive
            nat, clients = self._defer_client_nat(nat)
            chain = [nat, ingress, levels, egress]
        else:
            chain, clients = [ingress, nat, levels, egress], None
        down = self._shutdown_hop(outside, self._real_destinations(nat, server))  # after NAT: real addresses
        return [hop for hop in [*chain, down, clients] if hop is not None]

    def _shutdown_hop(self, entry: Interface, toward: PacketSet | None = None) -> Hop | None:
        """Interfaces that are `shutdown` pass nothing (IOS and ASA command references, `shutdown`: "To disable an
        interface"): traffic that arrives on one, or that the device would send out of one. None when no
        interface the traffic arrives on, or may leave through toward `toward`, is shut down."""
        down = {i.label: Rule(1, Action.DENY, ALL, f"interface {i.name} ({i.label}): shutdown",
                              origin=Origin(self.config.path, None, i.line), synthetic=True)
                for i in self.config.interfaces if i.shutdown}
        if not down:
            return None
        regions = [(entry.label, ALL)] if entry.label in down else self._egress_regions()
        if toward is not None and entry.label not in down and \
                not any(label in down and region.intersects(toward) for label, region in regions):
            return None
        return ShutdownHop(self.name, "interface state", Origin(self.config.path), regions=regions, down=down)

    def _defer_client_nat(self, nat: NatHop) -> tuple[NatHop, Hop | None]:
        """ASA 8.3+: access-lists name real addresses ("IP Addresses Used for Access Lists When You Use NAT"), the
        server's real address and the client's own, untranslated one. A twice NAT `destination static` that
        translates the clients is therefore applied to them after the access checks, not before."""
        rules: list[NatRule] = []
        steps: list[tuple[PacketSet, _Translation, Rule]] = []
        for rule in nat.rules:
            translate = rule.translate
            if translate is None or (translate.src is None and translate.sport is None):
                rules.append(rule)
                continue
            server_side = replace(translate, src=None, sport=None)
            rules.append(replace(rule, translate=server_side))
            steps.append((server_side(rule.match), replace(translate, dst=None, port=None), rule.rule))
        if not steps:
            return nat, None
        return replace(nat, rules=rules), ClientNatHop(self.name, "nat (client addresses)", nat.origin, steps=steps)

    @staticmethod
    def _real_destinations(nat: NatHop, server: VpnServer) -> PacketSet:
        """Where the device sends traffic to the server's public address: its destinations after NAT."""
        leaving = EMPTY
        for seg in nat.apply(PacketSet.of(dst=[address_interval(server.address)])):
            if seg.decision is not Decision.DENY:
                leaving = leaving | seg.leaving
        return PacketSet.of(dst=leaving.destinations()) if leaving else EMPTY

    def _acl_decides(self, ingress: Hop) -> bool:
        """An ASA whose inbound filter is an access-list (not the security levels alone)."""
        return self.platform == "asa" and not isinstance(ingress, SecurityLevelHop)

    # the device is the VPN server --------------------------------------------------------------------------
    def arrival(self, server: VpnServer) -> tuple[Interface | None, str]:
        """The interface where the server's traffic enters the device: for a headend, the interface holding the
        address, or the one facing the internet when that is a loopback or tunnel; else `outside_interface`."""
        home = self.headend(server)
        if home is None or not _VIRTUAL.match(home[0].name):
            return (home[0], f"{server.address} is its own address") if home else self.outside_interface(server)
        return self._internet_facing(server)

    def _headend_hops(self, server: VpnServer, home: Interface, terms: list[Termination]) -> list[Hop]:
        """The device is the VPN server: what filters traffic to the device itself, then the headend, where the
        path ends. IOS: the inbound access-list of the interface the traffic arrives on filters traffic to the
        router too (Cisco's IPsec guides permit isakmp, non500-isakmp and esp in it). ASA: interface access rules
        are for traffic through the ASA; traffic to it meets the interface's `control-plane` access-group (ASA
        firewall guide, "Access Rules", management access rules)."""
        entry, why = self.arrival(server)
        if entry is None:
            return [GapHop(self.name, "headend", Origin(self.config.path, None, home.line), reason=why)]
        first = self.ingress_hop(entry) if self.platform == "ios" else self._control_plane_hop(entry)
        down = self._shutdown_hop(home if home.shutdown else entry)
        if down is not None and not (home.shutdown or entry.shutdown):
            down = None  # the path ends at the device: only the interfaces it arrives on and answers on count
        return [hop for hop in (down, first, self._headend_hop(server, home, entry, terms)) if hop is not None]

    def _control_plane_hop(self, entry: Interface) -> Hop | None:
        """ASA `access-group NAME in interface IF control-plane`: the management access rules of traffic to the
        ASA on IF, ending in the implicit deny of every access-list ([ASA-ACL] "Access Control Implicit Deny").
        None without one; an access-group the parser could not read may be one (unknown)."""
        cfg = self.config
        origin = Origin(cfg.path, None, entry.line)
        rules = [Rule(0, Action.UNKNOWN, ALL, text, origin=Origin(cfg.path, None, line),
                      reason=f"{cfg.path} line {line}: {why}") for line, text, why in cfg.unmodelled]
        binding = self.local.control_plane.get(entry.label) or self.local.control_plane.get(entry.name)
        if binding is None:
            if not rules:
                return None
            return FilterHop(self.name, f"control-plane on {entry.label}", origin,
                             RuleList("unmodelled", rules, _permit_all("no control-plane access-group")))
        name, line = binding
        acl = self.acl(name)
        if acl is None:
            rules.append(Rule(0, Action.UNKNOWN, ALL, f"access-group {name} in interface {entry.label} control-plane",
                              origin=Origin(cfg.path, None, line),
                              reason=f"{cfg.path} line {line}: access-group names access-list {name}, which is not "
                                     "defined"))
        else:
            rules += acl.rules
        last = max((r.position for r in rules), default=0)
        default = Rule(last + 1, Action.DENY, ALL, f"implicit deny at the end of access-list {name}", origin=origin,
                       synthetic=True)
        return FilterHop(self.name, f"acl-in {name} (control-plane) on {entry.label}", origin,
                         RuleList(name, rules, default, origin))

    def _headend_hop(self, server: VpnServer, home: Interface, entry: Interface,
                     terms: list[Termination]) -> HeadendHop:
        cfg = self.config
        public = address_interval(server.address)
        address = PacketSet.of(dst=[public])
        ike = [t for t in terms if t.kind == "ike"]
        tls = [t for t in terms if t.kind == "tls"]
        where = f"{server.address} ({home.label})"
        conflicts: list[tuple[PacketSet, str]] = []
        for nat in self.nat_hop(server, entry).rules:
            hit = nat.match & address
            if hit:
                what = "IKE" if ike else "SSL VPN"
                conflicts.append((hit, f"{self.name} terminates {what} on {where} itself "
                                       f"({(ike or tls)[0].describe()}), and {nat.rule.label} ({nat.rule.text}) "
                                       f"forwards {describe(hit)} on the same address: which of the two takes the "
                                       "traffic is not documented"))
        ipsec = _IPSEC & address
        notes = []
        if ike:
            answer = (f"{self.name} is the VPN server: it terminates IKE and IPsec on {where} itself "
                      f"({'; '.join(t.describe() for t in ike)}); the path ends here")
            refused = ""
        elif cfg.platform == "asa":
            answer = ""
            refused = (f"{self.name} does not answer IKE on {entry.label}: no `crypto ikev1|ikev2 enable "
                       f"{entry.label}` (its VPN there is SSL VPN, {tls[0].describe()}); IKE must be enabled on the "
                       "interface that terminates the tunnel (ASA VPN guide, 'Enabling IKE on the Outside "
                       "Interface')")
        else:
            answer, refused = "", ""
            notes.append(f"{self.name} terminates SSL VPN on {where} ({tls[0].describe()}); whether it answers IKE "
                         "there is not in the configuration read")
        nat_t = ""
        if ike and self.local.nat_t_off:
            line, text = self.local.nat_t_off[0]
            nat_t = (f"NAT-T is turned off (line {line}: {text}): whether {self.name} answers udp/4500 then is not "
                     "documented")
        tls_note = ""
        if tls:
            ports = ", ".join(f"tcp/{t.port}" for t in tls)
            tls_note = (f"{self.name} answers {ports} with its SSL VPN ({tls[0].describe()}: AnyConnect or "
                        "clientless), which is not Microsoft's SSTP; Cisco documents no SSTP server on IOS or the ASA")
        other = tls_note or (f"{self.name} terminates IPsec on {where}; whether it answers this flow is not in its "
                             "IPsec configuration (Cisco documents no SSTP server on IOS or the ASA)")
        return HeadendHop(self.name, f"headend on {home.label}", Origin(cfg.path, None, (ike or tls)[0].line),
                          conflicts=conflicts, ipsec=ipsec, answer=answer, refused=refused,
                          unknown=notes[0] if notes else "",
                          nat_t=(_NAT_T & address) if nat_t else EMPTY, nat_t_reason=nat_t, other=other)

    def entry_hops(self, label: str) -> list[Hop]:
        """The hops of traffic that enters this device at interface `label` (audit.yaml `enters`) and leaves
        toward a VPN server beyond it: the interface's inbound filter (ACL, or ASA security levels), then
        the outbound filter of the interface routing picks for the server's address. Both see the private
        sources (the audit adds the NAT to the internet after them, for wholly private prefixes), except on
        IOS behind `ip nat inside`: the device's own inside source NAT comes between (`InsideNatHop`)."""
        cached = self._entry.get(label)
        if cached is None:
            cached = self._entry[label] = self._build_entry_hops(label)
        return list(cached)

    def _build_entry_hops(self, label: str) -> list[Hop]:
        origin = Origin(self.config.path)
        if (doubt := self._doubts_hop()) is not None:
            return [doubt]
        iface, why = self.entry_interface(label)
        if iface is None:
            return [GapHop(self.name, f"entry at {label}", origin, reason=why)]
        if iface.shutdown:
            return [GapHop(self.name, f"entry at {iface.label}", Origin(self.config.path, None, iface.line),
                           reason=f"{iface.label} of {self.name} is shut down, so no traffic enters there: "
                                  "audit.yaml `enters` names the wrong interface, or the snapshot is stale")]
        if self.platform == "asa" and not iface.nameif:
            return [GapHop(self.name, f"entry at {iface.label}", Origin(self.config.path, None, iface.line),
                           reason=f"{iface.name} of {self.name} has no nameif, so the ASA passes no traffic "
                                  "through it: audit.yaml `enters` names the wrong interface, or the snapshot "
                                  "is stale")]
        # IOS translates inside -> outside after routing and before the outbound access-list, which then sees
        # the translated source.
        nat = self._inside_nat(iface) if self.platform == "ios" else None
        ingress = self.ingress_hop(iface)
        levels = self._same_level_hop(iface) if self._acl_decides(ingress) else None
        return [hop for hop in (ingress, nat, levels, self._egress_hop(iface)) if hop is not None]

    def internet_nat(self, interface: str, assumed: Hop) -> Hop | None:
        """Private sources that entered at `interface`, on their way on (issue 22 item 7).

        - To destinations routed out of an interface that does not lead to the internet (a connected network or
          static route other than the default route's, `ip nat outside` or ASA `outside` interface), nothing
          translates them: they never cross the internet.
        - To the internet: a device that translates (IOS `ip nat inside` on this interface, or any IOS NAT) or
          translates nothing (IOS without `ip nat`), and whose internet interface holds a public address, is the
          site's edge: what leaves it with a private source was not translated and cannot be answered (blocked).
          Otherwise (an ASA, whose dynamic NAT is not modelled; a private or unknown uplink address; NVI) some
          NAT beyond may translate them, as `assumed` says."""
        iface, _why = self.entry_interface(interface)
        if iface is None or self.doubts:
            return assumed
        cfg = self.config
        internet = self._internet_labels()
        if not internet:
            return assumed  # where the internet is cannot be told: every destination may be out there
        internal = _regions_union(region for label, region in self._egress_regions() if label not in internet)
        untranslated = ""
        uplinks = [i for i in cfg.interfaces if i.label in internet]
        addresses = [iv for i in uplinks for iv in i.addresses if iv[0] >= ANY_V4[0]]
        public = bool(addresses) and not any(i.dynamic for i in uplinks) and \
            PacketSet.of(src=addresses).issubset(PacketSet.of(src=list(PUBLIC_V4_SOURCES)))
        if cfg.platform == "ios" and public and not any(i.nat == "enable" for i in cfg.interfaces):
            nat_lines = bool(cfg.nat or cfg.source_nat or any(i.nat for i in cfg.interfaces))
            upl = ", ".join(f"{i.label} ({', '.join(format_address_interval(a) for a in i.addresses[:1])})"
                            for i in uplinks)
            if not nat_lines:
                untranslated = (f"{self.name} translates nothing (no `ip nat` line) and its internet interface {upl} "
                                "has a public address: a private source leaves it as it is, and no reply can "
                                "reach it")
            else:
                untranslated = (f"no NAT line of {self.name} translates these private sources (entering at "
                                f"{iface.label}), and its internet interface {upl} has a public address: they "
                                "leave untranslated, and no reply can reach them")
        if not internal and not untranslated:
            return assumed
        assert isinstance(assumed, SourceNatHop)
        return _EdgeNatHop(assumed.device if not untranslated else self.name, assumed.stage, assumed.origin,
                           assumed.public, assumed.note, private_only=True, internal=internal,
                           untranslated=untranslated, device_name=self.name)

    def _internet_labels(self) -> set[str]:
        """Interfaces that lead to the internet: the default route's, IOS `ip nat outside` ones, ASA `outside`."""
        cfg = self.config
        out = {i.label for i in cfg.interfaces if i.nat == "outside"}
        if cfg.platform == "asa" and cfg.interface("outside") is not None:
            out.add("outside")
        for route in cfg.routes:
            if route.length == 0 and route.prefix[0] >= ANY_V4[0]:
                iface = self._route_iface(route.iface, route.next_hop)
                if iface is not None:
                    out.add(iface.label)
        return out

    def _inside_nat(self, inside: Interface) -> Hop | None:
        """IOS inside source NAT for traffic entering `inside`: static entries first (they translate the real
        address's outbound traffic too), then the dynamic `ip nat inside source list` lines in configuration
        order. None without `ip nat inside` there, or with no `ip nat outside` interface to translate toward."""
        cfg = self.config
        outside = {i.label for i in cfg.interfaces if i.nat == "outside"}
        if inside.nat != "inside" or not outside:
            return None
        steps = [self._static_step(entry) for entry in cfg.nat if not entry.nvi] + \
            [self._dynamic_step(e) for e in cfg.source_nat]
        known = None if any(step.to is None for step in steps) else [iv for step in steps for iv in step.to or ()]
        regions = self._egress_regions()
        return InsideNatHop(self.name, f"nat inside {inside.label}", Origin(cfg.path, None, inside.line), known,
                            steps=steps, routed=_regions_union(region for _, region in regions),
                            outward=_regions_union(region for label, region in regions if label in outside))

    def _nat_line(self, text: str, line: int) -> Rule:
        return Rule(line, Action.PERMIT, ALL, text, origin=Origin(self.config.path, None, line))

    def _static_step(self, entry: NatEntry) -> _NatStep:
        rule = self._nat_line(entry.text, entry.line)
        if entry.unknown or entry.conditional or not entry.real:
            return _NatStep(rule, None, ALL, None, entry.unknown or entry.conditional or
                            f"{self.config.path} line {entry.line}: not understood")
        match = PacketSet.of(src=entry.real)
        if entry.proto is not None:  # a port forward translates replies from that port only
            match = PacketSet.of(src=entry.real, proto=list(entry.proto), sport=entry.real_ports or [ANY_PORT])
        to, unknown_to = entry.mapped, ""
        if entry.mapped_interface:
            to, unknown_to = self._own_address(entry.mapped_interface)
        return _NatStep(rule, None, match, to or None, "", unknown_to)

    def _dynamic_step(self, entry: SourceNat) -> _NatStep:
        cfg = self.config
        rule = self._nat_line(entry.text, entry.line)
        acl = self.acl(entry.acl) if entry.acl else None
        if entry.unknown or acl is None:
            why = entry.unknown or f"{cfg.path} line {entry.line}: access-list {entry.acl} is not defined"
            return _NatStep(rule, None, ALL, None, why)
        if entry.pool:
            pool = cfg.nat_pools.get(entry.pool)
            if pool is None:
                return _NatStep(rule, acl, None, None, f"{cfg.path} line {entry.line}: NAT pool {entry.pool} is "
                                                       "not defined or not understood")
            return _NatStep(rule, acl, None, pool[0], "")
        to, unknown_to = self._own_address(entry.interface)
        return _NatStep(rule, acl, None, to or None, "", unknown_to)

    def _own_address(self, label: str) -> tuple[list[Interval], str]:
        """An interface's IPv4 address for translation, or [] and what to say when the snapshot lacks it."""
        iface = self.config.interface(label)
        if iface is None:
            return [], f"the address of {label}, which is not in {self.config.path}"
        own = [iv for iv in iface.addresses if iv[0] >= ANY_V4[0]][:1]
        if iface.dynamic or not own:
            return [], f"{iface.label}'s address, which is {iface.dynamic or 'not configured'}: not in the snapshot"
        return own, ""

    def entry_interface(self, label: str) -> tuple[Interface | None, str]:
        """The interface a person means by `label`: its name or ASA nameif, in any case, or an IOS
        abbreviation (`Gi0/1`, `gi 0/1.100`) that fits one interface only; else None and why."""
        exact = self.config.interface(label)
        if exact is not None:
            return exact, ""
        wanted = label.lower().replace(" ", "")
        found = [i for i in self.config.interfaces if wanted in (i.name.lower(), (i.nameif or "").lower())]
        if not found:
            typed = _IFACE_NAME.match(wanted)
            if typed is not None:
                found = [i for i in self.config.interfaces
                         if (m := _IFACE_NAME.match(i.name.lower())) is not None
                         and m[1].startswith(typed[1]) and m[2] == typed[2]]
        if len(found) == 1:
            return found[0], ""
        names = ", ".join(i.label if i.nameif is None else f"{i.name} ({i.nameif})" for i in self.config.interfaces)
        if found:
            return None, (f"audit.yaml `enters` names interface '{label}', which could be any of "
                          f"{', '.join(i.name for i in found)} on {self.name}: write the full name")
        return None, (f"audit.yaml `enters` names interface '{label}', which {self.name} does not have "
                      f"({self.config.path} defines: {names or 'no interfaces'})")

    def ingress_hop(self, outside: Interface, fragments: bool = False) -> Hop:
        """The filter for traffic entering `outside` (ACLs, or ASA security levels without one); with
        `fragments`, as non-initial fragments meet it (IOS ACLs)."""
        cfg = self.config
        origin = Origin(cfg.path, None, outside.line)
        notes = [Rule(0, Action.UNKNOWN, ALL, text, origin=Origin(cfg.path, None, line),
                      reason=f"{cfg.path} line {line}: {text}") for text, line in outside.unmodelled]
        if cfg.platform == "asa":
            # an access-group we could not read may bind any list anywhere: whatever enters is unknown
            notes += [Rule(0, Action.UNKNOWN, ALL, text, origin=Origin(cfg.path, None, line),
                           reason=f"{cfg.path} line {line}: {why}") for line, text, why in cfg.unmodelled]
            return self._asa_ingress(outside, notes, origin)
        hop = self._ios_filter(outside, outside.acl_in, outside.acl6_in, "in", notes, origin, fragments)
        if hop is None:
            return PassHop(self.name, f"acl-in on {outside.label}", origin,
                           note=f"no inbound access-group on {outside.label}")
        return hop

    def _asa_ingress(self, outside: Interface, notes: list[Rule], origin: Origin) -> Hop:
        cfg = self.config
        parts: list[str] = []
        rules: list[Rule] = list(notes)
        for binding, label in ((outside.acl_in, "in"), (cfg.global_acl, "global")):
            if binding is None:
                continue
            name, line = binding
            acl = self.acl(name)
            parts.append(f"{name} ({label})")
            if acl is None:
                rules.append(Rule(0, Action.UNKNOWN, ALL, f"access-group {name} {label}",
                                  origin=Origin(cfg.path, None, line),
                                  reason=f"{cfg.path} line {line}: access-group names access-list {name}, "
                                         "which is not defined"))
            else:
                rules += acl.rules
        if not parts:
            if notes:
                return FilterHop(self.name, f"acl-in on {outside.label}", origin,
                                 RuleList("unmodelled", notes, _permit_all("no access-group")))
            return self._security_levels(outside)
        last = rules[-1].position if rules else 0
        default = Rule(last + 1, Action.DENY, ALL, "implicit deny (after the interface and global access-lists)",
                       origin=origin, synthetic=True)
        stage = f"acl-in {' + '.join(parts)} on {outside.label}"
        return FilterHop(self.name, stage, origin, RuleList(" + ".join(parts), rules, default, origin))

    def _ios_filter(self, iface: Interface, v4: tuple[str, int] | None, v6: tuple[str, int] | None,
                    direction: str, notes: list[Rule], origin: Origin, fragments: bool = False) -> Hop | None:
        """An IOS interface filter: `ip access-group` for IPv4 and `ipv6 traffic-filter` for IPv6 (None: none
        bound, nothing to note)."""
        cfg = self.config
        if v4 is None and v6 is None and not notes:
            return None
        rules: list[Rule] = list(notes)
        names = []
        for binding, family, family_label in ((v4, ANY_V4, "IPv4"), (v6, ANY_V6, "IPv6")):
            fam = PacketSet.of([ANY_ADDR], [family])
            if binding is None:
                rules.append(Rule(0, Action.PERMIT, fam, f"no {family_label} access-group on {iface.label}",
                                  synthetic=True))
                continue
            name, line = binding
            names.append(name)
            acl = self.fragment_acl(name) if fragments else self.acl(name)
            if acl is None and not acl_name_ok(name):  # no device accepts this name: the line is mangled
                rules.append(Rule(0, Action.UNKNOWN, fam, f"ip access-group {name} {direction}",
                                  origin=Origin(cfg.path, None, line),
                                  reason=f"{cfg.path} line {line}: '{name}' is not an access-list name"))
                continue
            if acl is None:
                # IOS filters nothing when the named ACL does not exist (Batfish models it the same way)
                rules.append(Rule(0, Action.PERMIT, fam, f"ip access-group {name} {direction}",
                                  f"access-list {name} is not defined: IOS filters nothing",
                                  Origin(cfg.path, None, line)))
                continue
            # An IPv4 list never sees IPv6 packets (and vice versa): clip even its unknown lines.
            rules += [r if r.match.issubset(fam) else replace(r, match=r.match & fam) for r in acl.rules]
        last = max((r.position for r in rules), default=0)
        default = Rule(last + 1, Action.DENY, ALL, f"implicit deny at the end of access-list "
                                                   f"{' / '.join(names) or '(none)'}", origin=origin,
                       synthetic=True)
        stage = f"acl-{direction} {' / '.join(names) or '(unmodelled)'} on {iface.label}"
        return FilterHop(self.name, stage, origin, RuleList(" / ".join(names), rules, default, origin))

    def _security_levels(self, outside: Interface) -> Hop:
        """ASA without an inbound or global ACL: higher to lower security level passes, lower to higher
        does not, equal levels only with `same-security-traffic permit inter-interface`."""
        lists, fixes = self._level_lists(outside, acl_bound=False)
        return SecurityLevelHop(self.name, f"security-level from {outside.label}", Origin(self.config.path, None,
                                                                                          outside.line),
                                regions=self._egress_regions(), lists=lists, pass_note="",
                                missing=f"cannot tell which interface of {self.name} leads to these addresses, so "
                                        "the security-level check cannot be decided", fixes=fixes)

    def _same_level_hop(self, entry: Interface, toward: PacketSet | None = None) -> Hop | None:
        """ASA with an access-list on `entry`: the list decides lower to higher, but interfaces at the same security
        level still pass nothing without `same-security-traffic permit inter-interface`, nor traffic that leaves
        where it entered without `... intra-interface` (ASA interface guide, "Allowing Same Security Level
        Communication"), whatever the list permits. None where no interface the traffic may leave through could
        refuse it: toward the destinations `toward` (the server's real addresses), or, without them, toward any
        interface but `entry` (traffic from inside to a server on the internet)."""
        if self.config.transparent:
            return None  # bridge groups: the egress interface is not found by these regions (not modelled)
        lists, fixes = self._level_lists(entry, acl_bound=True)
        regions = self._egress_regions()
        if toward is None:
            relevant = [label for label, _region in regions if label != entry.label]
        else:
            covered = _regions_union(region for _label, region in regions)
            relevant = [label for label, region in regions if region.intersects(toward)]
            if toward - covered:
                relevant.append("")  # somewhere no region says: the hop says it cannot tell
        if all(label and lists.get(label) is None for label in relevant):
            return None
        return SecurityLevelHop(self.name, f"same-security-traffic from {entry.label}",
                                Origin(self.config.path, None, entry.line), regions=self._egress_regions(),
                                lists=lists, pass_note="is at another security level",
                                missing=f"cannot tell which interface of {self.name} leads to these addresses, so "
                                        "whether it is at the same security level as "
                                        f"{entry.label} cannot be told", fixes=fixes)

    def _level(self, iface: Interface) -> tuple[int | None, str]:
        """An ASA interface's security level and how it is known: its `security-level` line, else the documented
        default (ASA command reference, `security-level`: 0, and 100 for an interface named inside); None when
        the line is not a level the ASA takes (0-100)."""
        found = self.local.levels.get(iface.label) or self.local.levels.get(iface.name)
        if found is not None:
            line, level, text = found
            if level is None:
                return None, f"line {line} ('{text}') is not a security level (0 to 100)"
            return level, f"security-level {level} ({iface.label})"
        level = iface.security_level if iface.security_level is not None else 0
        return level, f"security-level {level} ({iface.label}: no security-level line, the ASA default)"

    def _level_lists(self, entry: Interface, acl_bound: bool) -> tuple[dict[str, RuleList | None], dict[int, str]]:
        """Per egress interface, what the security levels do to traffic that entered at `entry` (None: they let
        it pass), and what to change where they deny it (by rule id)."""
        cfg = self.config
        lists: dict[str, RuleList | None] = {}
        fixes: dict[int, str] = {}
        level_in, how_in = self._level(entry)

        def decide(label: str, action: Action, text: str, line: int | None, fix: str = "") -> None:
            rule = Rule(1, action, ALL, f"implicit: {text}", origin=Origin(cfg.path, None, line), synthetic=True,
                        reason=text if action is Action.UNKNOWN else "")
            lists[label] = RuleList(f"security-level {label}", [], rule)
            if fix:
                fixes[id(rule)] = fix

        for iface in cfg.interfaces:
            label = iface.label
            if not iface.nameif:
                decide(label, Action.DENY, f"{iface.name} has no nameif, so the ASA passes no traffic through it",
                       iface.line, f"On {self.name}, give {iface.name} a nameif and a security level, or route the "
                                   "server's traffic through a named interface.")
                continue
            level_out, how_out = self._level(iface)
            pair = f"{how_in} to {how_out}"
            if level_in is None or level_out is None:
                decide(label, Action.UNKNOWN, f"{how_in if level_in is None else how_out}: whether traffic may pass "
                                              f"from {entry.label} to {label} cannot be told", iface.line)
                continue
            if iface is entry:
                if cfg.same_security_intra:
                    lists[label] = None
                elif cfg.dynamic_routing:
                    decide(label, Action.UNKNOWN, f"routed back out of {label}, where it entered, unless a route "
                                                  "learned by dynamic routing (not modelled) leads elsewhere; "
                                                  "same-security-traffic permit intra-interface is not configured",
                           iface.line)
                else:
                    decide(label, Action.DENY, f"it would leave through {label}, where it entered, and "
                                               "same-security-traffic permit intra-interface is not configured",
                           iface.line, f"On {self.name}, add a route for the server's real address toward its "
                                       "interface, or configure `same-security-traffic permit intra-interface`.")
            elif level_in == level_out:
                if cfg.same_security_inter:
                    lists[label] = None if acl_bound else RuleList(f"security-level {label}", [], Rule(
                        1, Action.PERMIT, ALL, f"implicit: {pair}; same-security-traffic permit "
                                               "inter-interface is configured", synthetic=True))
                else:
                    decide(label, Action.DENY, f"{pair}: the same level, and same-security-traffic "
                                               "permit inter-interface is not configured" +
                           (" (an access-list cannot permit it)" if acl_bound else ""), iface.line,
                           f"On {self.name}, configure `same-security-traffic permit inter-interface`, or give "
                           f"{label} a security level other than {level_out} (`interface {iface.name}` then "
                           "`security-level N`).")
            elif level_in > level_out or acl_bound:
                lists[label] = None if acl_bound else RuleList(f"security-level {label}", [], Rule(
                    1, Action.PERMIT, ALL, f"implicit: {pair}", synthetic=True))
            else:
                decide(label, Action.DENY, f"{pair} without an access-list: lower to higher is "
                                           "denied", iface.line,
                       f"On {self.name}, bind an access-list to {entry.label} that permits the flow "
                       f"(`access-group NAME in interface {entry.label}`): without one, traffic from a lower to a "
                       "higher security level is denied.")
        for label, _region in self._egress_regions():
            if label not in lists:  # named by a NAT line, but no interface has that name
                decide(label, Action.UNKNOWN, f"the interface {label} (a NAT line's) is not in the configuration, "
                                              "so its security level is unknown", None)
        return lists, fixes

    def _egress_hop(self, outside: Interface, fragments: bool = False) -> Hop | None:
        cfg = self.config
        lists: dict[str, RuleList | None] = {}
        any_filter = False
        for iface in cfg.interfaces:
            if iface is outside:
                continue
            notes = [Rule(0, Action.UNKNOWN, ALL, text, origin=Origin(cfg.path, None, line),
                          reason=f"{cfg.path} line {line}: {text}")
                     for text, line in (*iface.unmodelled, *iface.inspect_out)]
            origin = Origin(cfg.path, None, iface.line)
            if iface.vrf != outside.vrf:
                notes.append(Rule(0, Action.UNKNOWN, ALL, f"interface {iface.label} in {_vrf(iface)}", origin=origin,
                                  reason=_cross_vrf(cfg.path, iface, outside)))
            if cfg.platform == "asa":
                if iface.acl_out is None:
                    lists[iface.label] = None
                    continue
                any_filter = True
                name, line = iface.acl_out
                acl = self.acl(name)
                if acl is None:
                    unknown = Rule(0, Action.UNKNOWN, ALL, f"access-group {name} out interface {iface.label}",
                                   origin=Origin(cfg.path, None, line),
                                   reason=f"{cfg.path} line {line}: access-list {name} is not defined")
                    acl = RuleList(name, [unknown], _permit_all("undefined ACL"))
                lists[iface.label] = acl
            else:
                hop = self._ios_filter(iface, iface.acl_out, iface.acl6_out, "out", notes, origin, fragments)
                if isinstance(hop, FilterHop):
                    any_filter = True
                    lists[iface.label] = hop.rules
                else:
                    lists[iface.label] = None
        if not any_filter:
            return None
        return EgressHop(self.name, "acl-out (interface toward the server)", Origin(cfg.path),
                         regions=self._egress_regions(), lists=lists,
                         pass_note="has no outbound access-group",
                         missing=f"cannot tell which interface of {self.name} leads to these addresses "
                                 "(no connected network or static route covers them); an outbound "
                                 "access-list may apply")

    def _egress_regions(self) -> list[tuple[str, PacketSet]]:
        """Destination regions per egress interface: static NAT real addresses with a real interface (ASA
        NAT decides egress), then longest-prefix match over connected networks and static routes."""
        if self._regions is not None:
            return self._regions
        cfg = self.config
        candidates: list[tuple[int, Interval, str]] = []
        for iface in cfg.interfaces:
            for net in iface.subnets:
                candidates.append((_length(net), net, iface.label))
        for route in cfg.routes:
            via = self._route_iface(route.iface, route.next_hop)
            if via is not None:
                candidates.append((route.length, route.prefix, via.label))
        firsts: list[tuple[str, Interval]] = []
        for entry in cfg.nat:
            if cfg.platform == "asa" and entry.real_iface and not entry.unknown:
                firsts += [(entry.real_iface, iv) for iv in entry.real]
        # One dimension only (destination), so plain interval arithmetic: routing tables can be long.
        per_label: dict[str, list[Interval]] = {}
        taken: list[Interval] = []
        for label, iv in firsts + [(label, iv) for _, iv, label in sorted(candidates, key=lambda c: -c[0])]:
            pieces = subtract_intervals([iv], taken)
            if pieces:
                per_label.setdefault(label, []).extend(pieces)
                taken = merge_intervals(taken + pieces)
        self._regions = [(label, PacketSet.of(dst=ivs)) for label, ivs in per_label.items()]
        return self._regions

    # non-initial fragments -------------------------------------------------------------------------------------
    def fragment_views(self, server: VpnServer) -> list[FragmentView]:
        """Where non-initial fragments of traffic to `server` fare otherwise than the first fragment of their
        packet, on the way `hops(server)` describes.

        IOS: the interface ACLs as such fragments meet them (Cisco "Access Control Lists and IP Fragments", see
        `IosParser._fragment_entry`). ASA: `fragment chain 1` on the interface the traffic enters drops every
        fragmented packet (ASA command reference, `fragment`: the chain limit is the most fragments one packet
        may arrive in; 24 by default); ASA access lists have no fragment keyword and are not read otherwise.
        Static NAT is taken to translate the fragments as it translates their first fragment."""
        key = (server.name, server.address)
        cached = self._fragment_views.get(key)
        if cached is None:
            cached = self._fragment_views[key] = self._build_fragment_views(server)
        return cached

    def _build_fragment_views(self, server: VpnServer) -> list[FragmentView]:
        hops = self.hops(server)
        if not hops or isinstance(hops[0], GapHop):
            return []  # the device's configuration or placement is in doubt: the trace says so already
        outside, _why = self.arrival(server)
        if outside is None:  # hops() is a GapHop then; kept for the type checker
            return []
        if self.platform == "asa":
            chain = self._chain_limit(outside)
            if chain is None or chain[0] != 1:
                return []
            _limit, line, text = chain
            origin = Origin(self.config.path, None, line)
            drop = Rule(1, Action.DENY, ALL, text, origin=origin)
            stage = f"fragment chain on {outside.label}"
            hop = FilterHop(self.name, stage, origin, RuleList("fragment chain", [drop], _permit_all(
                "an unfragmented packet is within any chain limit")))
            return [FragmentView(hops[0], hop, lambda rule, dropped: self._chain_fix(rule, outside))]
        if not any(acl.fragment_view for acl in self.config.acls.values()):
            return []
        views = [FragmentView(hops[0], self.ingress_hop(outside, fragments=True), self._acl_fix)]
        egress = self._egress_hop(outside, fragments=True)
        last = next((hop for hop in reversed(hops) if not isinstance(hop, ShutdownHop | ClientNatHop)), hops[-1])
        if egress is not None and isinstance(last, EgressHop):
            views.append(FragmentView(last, egress, self._acl_fix))
        return views

    def _chain_limit(self, iface: Interface) -> tuple[int, int, str] | None:
        """(limit, line, text) of the `fragment chain` line that applies to `iface` (the last one naming it or
        every interface, in configuration order), or None: the default of 24."""
        found = None
        for line, label, limit, text in self.config.fragment_chain:
            if label is None or label in (iface.nameif, iface.name):
                found = (limit, line, text)
        return found

    def _chain_fix(self, rule: Rule, iface: Interface) -> str:
        where = f"line {rule.origin.line}" if rule.origin and rule.origin.line else "the `fragment chain` line"
        return (f"On {self.name} configure `fragment chain 24 {iface.label}` (the default), or remove {where} "
                f"(`no {rule.text}`), so that {iface.label} accepts fragmented packets again.")

    def _acl_fix(self, rule: Rule, dropped: PacketSet) -> str:
        """What to change on an IOS ACL entry that drops non-initial fragments the first fragment gets past."""
        where = f"line {rule.origin.line}" if rule.origin and rule.origin.line else f"entry {rule.position}"
        name, previous = self._acl_of(rule)
        targets = sorted({format_address_interval(box[1]) for box in dropped})
        dst = f"host {targets[0]}" if len(targets) == 1 and "/" not in targets[0] else "<server address>"
        protos = sorted({PROTO_NAMES.get(box[2][0], str(box[2][0])) for box in dropped
                         if box[2][0] == box[2][1]}) or ["ip"]
        permit = f"permit {protos[0] if len(protos) == 1 else 'ip'} any {dst} fragments"
        seq = ""
        if previous is not None and rule.position - previous >= 2:
            seq = f"{(previous + rule.position) // 2} "
        elif previous is None and rule.position >= 2:
            seq = f"{rule.position // 2} "
        place = (f"`ip access-list extended {name}` then `{seq}{permit}`" if name and seq else f"`{permit}` above it")
        return (f"On {self.name} remove {where} ({rule.text}) or narrow it so it no longer matches "
                f"{', '.join(targets)}, or permit the fragments first: {place}. Non-initial fragments carry no "
                "ports, so that permit can only name the server's address.")

    def _acl_of(self, rule: Rule) -> tuple[str | None, int | None]:
        """The ACL an entry belongs to, and the sequence number of the entry before it (None: it is first)."""
        if rule.origin is None:
            return None, None
        for name, acl in self.config.acls.items():
            previous = None
            for other in acl.rules:
                if other.origin == rule.origin:
                    return name, previous
                previous = other.position
        return None, None

    # NAT ---------------------------------------------------------------------------------------------------
    def nat_hop(self, server: VpnServer, outside: Interface) -> NatHop:
        cfg = self.config
        public = address_interval(server.address)
        rules: list[NatRule] = []
        own: list[Interval] = [iv for iface in cfg.interfaces for iv in iface.addresses]
        forwards: list[Interval] = []
        for k, entry in enumerate(cfg.nat):
            if cfg.platform == "asa" and entry.mapped_iface not in (None, outside.label):
                continue
            rule = self._nat_rule(k, entry, outside, public)
            if rule is None:
                continue
            rules.append(rule)
            if rule.certain:
                own += [iv for iv in _dst_intervals(rule.match)]
                if entry.proto is not None:
                    forwards += _dst_intervals(rule.match)
        routed: list[tuple[str, PacketSet]] = []
        cross_vrf: list[tuple[PacketSet, str]] = []
        for label, region in self._egress_regions():
            iface = cfg.interface(label)
            if iface is not None and iface.vrf != outside.vrf:
                cross_vrf.append((region, _cross_vrf(cfg.path, iface, outside)))
            elif label != outside.label:
                routed.append((label, region))
        line = cfg.vpn_termination.get(outside.label) or cfg.vpn_termination.get(outside.name)
        terminates = f"IKE on {outside.label}, line {line}" if line else ""
        return NatHop(self.name, "nat", Origin(cfg.path), rules=rules, own=PacketSet.of(dst=own) if own else EMPTY,
                      forwards=PacketSet.of(dst=forwards) if forwards else EMPTY, routed=routed, cross_vrf=cross_vrf,
                      outside_net=PacketSet.of(dst=outside.subnets) if outside.subnets else EMPTY,
                      outside_label=outside.label, dynamic_routing=bool(cfg.dynamic_routing),
                      transparent=cfg.transparent, terminates=terminates)

    def _nat_rule(self, k: int, entry: NatEntry, outside: Interface, public: Interval) -> NatRule | None:
        cfg = self.config
        origin = Origin(cfg.path, k, entry.line)
        mapped = list(entry.mapped)
        unknown = entry.unknown
        if entry.mapped_interface is not None and not unknown:
            label = entry.mapped_interface or outside.label
            iface = cfg.interface(label)
            if iface is None:
                unknown = f"{cfg.path} line {entry.line}: interface {label} is not defined"
            elif iface.dynamic or not iface.addresses:
                unknown = (f"{cfg.path} line {entry.line}: the translation uses the address of {label}, which "
                           f"is assigned at run time ({iface.dynamic or 'no address'}), so whether it is "
                           "the server's public address cannot be told")
                mapped = [public]
            else:
                mapped = [iv for iv in iface.addresses if iv[0] >= ANY_V4[0]][:1] or iface.addresses[:1]
        # IOS domain NAT translates what enters an `ip nat outside` interface; NVI (`ip nat source`), what enters
        # an `ip nat enable` one (Cisco "NAT Virtual Interface")
        wanted = "enable" if entry.nvi else "outside"
        if cfg.platform == "ios" and outside.nat != wanted and not unknown:
            unknown = (f"{cfg.path} line {entry.line}: {outside.label} is not 'ip nat {wanted}', so this "
                       "static NAT may not apply to traffic entering it")
        if unknown and not mapped:
            mapped = [ANY_ADDR]  # not even its address is known: it may translate anything
        proto = entry.proto or (ANY_PROTO,)
        dports = entry.mapped_ports or [ANY_PORT]
        match = PacketSet.of(entry.peers or [ANY_ADDR], mapped, proto, entry.peer_ports or [ANY_PORT], dports)
        text = entry.text
        rule = Rule(k + 1, Action.PERMIT, match, text, origin=origin, certain=not (unknown or entry.conditional),
                    reason=unknown or entry.conditional)
        if unknown or entry.conditional:
            return NatRule(rule, match, None, False, unknown or entry.conditional, entry.proto is not None)
        try:
            translate = _Translation.build(mapped, entry.real, entry.mapped_ports, entry.real_ports,
                                           entry.peers, entry.peers_as, entry.peer_ports, entry.peer_ports_as)
        except ValueError as exc:
            reason = f"{cfg.path} line {entry.line}: {exc}"
            return NatRule(Rule(k + 1, Action.PERMIT, match, text, origin=origin, certain=False, reason=reason),
                           match, None, False, reason, entry.proto is not None)
        doubt = self._arp_doubt(entry, mapped, outside)
        if doubt:
            rule = Rule(k + 1, Action.PERMIT, match, text, origin=origin, certain=False, reason=doubt)
        return NatRule(rule, match, translate, True, "", entry.proto is not None, doubt, entry.hides_clients)

    def _arp_doubt(self, entry: NatEntry, mapped: list[Interval], outside: Interface) -> str:
        """Why traffic to a translated address may never reach the device: it does not answer ARP for it (ASA
        `no-proxy-arp` or `sysopt noproxyarp IF`, IOS `no-alias`) and the address is on the network of the
        interface the traffic enters, so the upstream router ARPs for it there and gets no answer unless it has
        a static route for it to the device (Cisco ASA NAT, "Mapped Addresses and Routing"). "" otherwise."""
        cfg = self.config
        sysopt = self.local.no_proxy_arp.get(outside.label) or self.local.no_proxy_arp.get(outside.name)
        how = f"line {entry.line} (`{entry.no_arp}`)" if entry.no_arp else f"line {sysopt} (`sysopt noproxyarp " \
            f"{outside.label}`)" if sysopt else ""
        if not how:
            return ""
        own = set(outside.addresses)
        if outside.dynamic or not outside.subnets:
            on = [iv for iv in mapped if iv not in own]
            where = f"the network of {outside.label} is not in the configuration ({outside.dynamic or 'no address'})"
        else:
            on = [iv for iv in mapped if iv not in own and any(_overlaps(iv, net) for net in outside.subnets)]
            where = f"it is on the {outside.label} network"
        if not on:
            return ""
        addr = ", ".join(format_address_interval(iv) for iv in on)
        return (f"{cfg.path} {how}: {self.name} does not answer ARP for {addr} and {where}, so traffic reaches "
                f"it only if the upstream router has a static route for {addr} to {self.name}, which the "
                "snapshot does not show (Cisco ASA NAT, 'Mapped Addresses and Routing')")

    # for checks (model.Device) -------------------------------------------------------------------------------
    def access_lists(self, server: VpnServer, packets: PacketSet) -> list[ReachedList]:
        """Every ACL on the server's path, ASA and IOS alike first match (the ASA's interface list before its
        global one, as `ingress_hop` joins them), with what reaches it: ASA lists see real (untranslated)
        addresses, IOS lists public ones."""
        return [met for hop, reached, _segments in self.walk(server, packets) for met in hop.lists_reached(reached)]

    def entry_number(self, rule: Rule) -> int | None:
        """An IOS access-list entry's sequence number, as written at the start of the line (IOS numbers entries
        on its own; ASA lines have none)."""
        match = _SEQ.match(rule.text)
        return int(match.group(1)) if match else None

    def entry_text(self, rule: Rule) -> str:
        """The entry without its sequence number, spaces as one: 'deny ip host 203.0.113.66 any'."""
        return " ".join(_SEQ.sub("", rule.text).split())

    def inbound_nat(self, server: VpnServer) -> NatHop | None:
        outside, _why = self.outside_interface(server)
        if outside is None or self.headend(server) is not None:  # the device is the server: nothing to expose
            return None  # or its hops show it unknown already
        return self.nat_hop(server, outside)

    def arrival_label(self, server: VpnServer) -> str | None:
        iface, _why = self.arrival(server)
        return iface.label if iface is not None else None

    def entry_label(self, interface: str) -> str | None:
        iface, _why = self.entry_interface(interface)
        return iface.label if iface is not None else None

    def unicast_rpf(self) -> list[InterfaceLine]:
        """IOS `ip verify unicast ...` and ASA `ip verify reverse-path interface IF` (`cisco_local`), on the
        interface each names (its label, where the configuration defines it)."""
        out = []
        for label, line, text in self.local.urpf:
            iface = self.config.interface(label)
            out.append(InterfaceLine(iface.label if iface is not None else label,
                                     Origin(self.config.path, None, line), text))
        return out

    def unmodelled_lines(self) -> UnmodelledLines | None:
        review = self.config.review
        if review is None:
            return None
        return UnmodelledLines(self.config.path, review.lines, review.not_modelled, tuple(self.notes))

    def walk(self, server: VpnServer, packets: PacketSet) -> list[tuple[Hop, PacketSet, tuple[Segment, ...]]]:
        """Push packets through this device's hops for a server: (hop, what reached it, its segments).
        Unknown parts go on, as in the trace, so later hops are still examined."""
        out = []
        current = packets
        for hop in self.hops(server):
            if not current:
                break
            segments = hop.apply(current)
            out.append((hop, current, segments))
            nxt = EMPTY
            for seg in segments:
                if seg.decision is not Decision.DENY:
                    nxt = nxt | seg.leaving
            current = nxt
        return out


# --------------------------------------------------------------------------------------------------------
@dataclass(slots=True)
class _Translation:
    """Maps inbound packets of one static NAT: destination (and port) to the real side, clients to their
    mapped addresses for twice NAT. Supported: one-to-one of equal size (offset) and many-to-one."""

    dst: tuple[Interval, Interval] | None
    port: tuple[Interval, Interval] | None
    src: tuple[Interval, Interval] | None
    sport: tuple[Interval, Interval] | None = None  # twice NAT destination service: the clients' ports

    @classmethod
    def build(cls, mapped: list[Interval], real: list[Interval], mapped_ports: list[Interval] | None,
              real_ports: list[Interval] | None, peers: list[Interval] | None,
              peers_as: list[Interval] | None, peer_ports: list[Interval] | None = None,
              peer_ports_as: list[Interval] | None = None) -> _Translation:
        return cls(_pair(mapped, real, "addresses"),
                   _pair(mapped_ports, real_ports, "ports") if mapped_ports and real_ports else None,
                   _pair(peers, peers_as, "client addresses") if peers and peers_as else None,
                   _pair(peer_ports, peer_ports_as, "client ports") if peer_ports and peer_ports_as else None)

    def __call__(self, packets: PacketSet) -> PacketSet:
        out = EMPTY
        for src, dst, proto, sport, dport in packets:
            if self.src is not None:
                src = _map(src, self.src)
            if self.dst is not None:
                dst = _map(dst, self.dst)
            if self.port is not None:
                dport = _map(dport, self.port)
            if self.sport is not None:
                sport = _map(sport, self.sport)
            out = out | PacketSet([(src, dst, proto, sport, dport)])
        return out


def _pair(a: list[Interval] | None, b: list[Interval] | None, what: str) -> tuple[Interval, Interval] | None:
    if not a or not b:
        raise ValueError(f"NAT {what} are not resolved")
    if len(a) != 1 or len(b) != 1:
        raise ValueError(f"NAT {what} are not one contiguous block on each side (not modelled)")
    (alo, ahi), (blo, bhi) = a[0], b[0]
    if ahi - alo != bhi - blo and blo != bhi:
        raise ValueError(f"NAT maps {ahi - alo + 1} {what} to {bhi - blo + 1} (not modelled)")
    return a[0], b[0]


def _map(iv: Interval, pair: tuple[Interval, Interval]) -> Interval:
    (alo, _), (blo, bhi) = pair
    if blo == bhi:
        return (blo, bhi)
    return (iv[0] - alo + blo, iv[1] - alo + blo)


@dataclass(slots=True)
class NatRule:
    rule: Rule
    match: PacketSet
    translate: _Translation | None
    certain: bool
    reason: str
    port_forward: bool
    doubt: str = ""  # the translation is known, but whether traffic reaches the device for it is not
    hides: str = ""  # the clients' source addresses are translated too (what to)

    def keeping_clients(self) -> str:
        """The twice NAT line with its dynamic source translation made an identity one (`source static SRC SRC`),
        or an object NAT."""
        words = self.rule.text.split()
        i, j = words.index("source"), words.index("destination")
        kept = " ".join([*words[:i], "source", "static", words[i + 2], words[i + 2], *words[j:]])
        return f"`{kept}`, or an object NAT on the server's object"


@dataclass(eq=False)
class NatHop(Hop):
    """Static NAT for traffic arriving from the internet.

    Packets a static entry matches are translated (TRANSLATE). The rest: addressed to the device itself or
    to an address it only port-forwards -> DENY (nothing forwards them; ESP has no ports, so it can never
    pass a port forward); on a connected network or static route behind the device -> PERMIT untranslated;
    on the outside network -> DENY (no NAT, so the device does not answer for it); elsewhere -> DENY, or
    UNKNOWN when dynamic routing might carry it.
    """

    may_translate: ClassVar[bool] = True

    rules: list[NatRule] = field(default_factory=list)
    own: PacketSet = EMPTY
    forwards: PacketSet = EMPTY
    routed: list[tuple[str, PacketSet]] = field(default_factory=list)
    cross_vrf: list[tuple[PacketSet, str]] = field(default_factory=list)  # networks in another VRF: why unknown
    outside_net: PacketSet = EMPTY
    outside_label: str = ""
    dynamic_routing: bool = False
    transparent: bool = False
    terminates: str = ""  # where the device itself terminates VPNs on the outside, for explanations

    @property
    def translations(self) -> list[NatRule]:
        return self.rules

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        return tuple(seg for seg, _kind in self.classify(packets))

    def classify(self, packets: PacketSet) -> list[tuple[Segment, Exposure]]:
        """Segments, each with what the device does with it (translated, routed, addressed to itself, ...)."""
        out: list[tuple[Segment, Exposure]] = []
        remaining = packets
        for nat in self.rules:
            hit = remaining & nat.match
            if not hit:
                continue
            remaining = remaining - nat.match
            if nat.certain and nat.translate is not None:
                leaving = nat.translate(hit)
                if nat.doubt:  # translated if it arrives; later hops see the real address either way
                    out.append((Segment(hit, Decision.UNKNOWN, nat.rule, nat.doubt, leaving), Exposure.UNKNOWN))
                    continue
                reason = f"static NAT: {describe(hit)} -> {describe(leaving)}"
                out.append((Segment(hit, Decision.TRANSLATE, nat.rule, reason, leaving), Exposure.TRANSLATED))
            else:  # it may leave as it came, or translated to any address (and port) the line could name
                out.append((Segment(hit, Decision.UNKNOWN, nat.rule, nat.reason, hit | _anywhere(hit)),
                            Exposure.UNKNOWN))
            if not remaining:
                return out
        if self.transparent:
            out.append((Segment(remaining, Decision.PERMIT, None, "transparent firewall: bridged, no NAT"),
                        Exposure.ROUTED))
            return out
        forwarded = remaining & self.forwards
        if forwarded:
            remaining = remaining - self.forwards
            out.append((Segment(forwarded, Decision.DENY, None, self._port_only(forwarded)), Exposure.PORT_ONLY))
        own = remaining & self.own
        if own:
            remaining = remaining - self.own
            note = (f" ({self.device} terminates VPNs itself: {self.terminates}; if it is the VPN server, "
                    "leave it out of the server's path)") if self.terminates else ""
            out.append((Segment(own, Decision.DENY, None,
                                f"{describe(own)} is addressed to {self.device} itself and no static NAT or "
                                f"port forward sends it on to the server{note}"), Exposure.OWN))
        for label, region in self.routed:
            hit = remaining & region
            if hit:
                remaining = remaining - region
                out.append((Segment(hit, Decision.PERMIT, None,
                                    f"no NAT: {describe(hit)} is routed untranslated toward {label}"), Exposure.ROUTED))
        for region, why in self.cross_vrf:
            hit = remaining & region
            if hit:
                remaining = remaining - region
                out.append((Segment(hit, Decision.UNKNOWN, None, why), Exposure.UNKNOWN))
        if not remaining:
            return out
        outside = remaining & self.outside_net
        if outside:
            remaining = remaining - self.outside_net
            out.append((Segment(outside, Decision.DENY, None,
                                f"{describe(outside)} lies on the {self.outside_label} network of {self.device} "
                                "but no static NAT maps it, so the device does not take it in"), Exposure.OUTSIDE))
        if remaining:
            if self.dynamic_routing:
                out.append((Segment(remaining, Decision.UNKNOWN, None,
                                    f"no static NAT or static route on {self.device} covers {describe(remaining)}; "
                                    "dynamic routing is configured and not modelled"), Exposure.UNKNOWN))
            else:
                out.append((Segment(remaining, Decision.DENY, None,
                                    f"no static NAT, connected network or static route on {self.device} leads "
                                    f"to {describe(remaining)} except back toward the internet"), Exposure.NO_ROUTE))
        return out

    def _port_only(self, packets: PacketSet) -> str:
        protos = packets.protocols()
        portless = [p for p in protos if not (p[0] == p[1] and p[0] in PORTED_PROTOCOLS)]
        base = f"{describe(packets)} is only port-forwarded on {self.device}, and no forward matches"
        if portless:
            return (f"{base}: ESP and other portless protocols cannot pass a port forward (PAT or port-based "
                    "static NAT); they need a 1:1 static NAT, or the clients must use NAT-T (UDP 4500)")
        return base


@dataclass(eq=False)
class ClientNatHop(Hop):
    """ASA twice NAT, the clients' side (`destination static MAPPED_DST REAL_DST`): after the access checks, which
    see the clients' real addresses, the clients leave translated to the mapped ones."""

    may_translate: ClassVar[bool] = True

    steps: list[tuple[PacketSet, _Translation, Rule]] = field(default_factory=list)

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out: list[Segment] = []
        remaining = packets
        for match, translate, rule in self.steps:
            hit = remaining & match
            if not hit:
                continue
            remaining = remaining - match
            leaving = translate(hit)
            out.append(Segment(hit, Decision.TRANSLATE, rule, f"twice NAT: {describe(hit)} -> {describe(leaving)}",
                               leaving))
        if remaining:
            out.append(Segment(remaining, Decision.PERMIT, None, "no twice NAT translates these clients"))
        return tuple(out)


@dataclass(eq=False)
class ShutdownHop(Hop):
    """What arrives on, or would leave through, an interface that is shut down is dropped; the rest passes."""

    regions: list[tuple[str, PacketSet]] = field(default_factory=list)  # disjoint, as `_egress_regions` gives
    down: dict[str, Rule] = field(default_factory=dict)  # interface label -> why it passes nothing

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out: list[Segment] = []
        remaining = packets
        for label, region in self.regions:
            rule = self.down.get(label)
            hit = remaining & region if rule is not None else EMPTY
            if hit:
                remaining = remaining - region
                out.append(Segment(hit, Decision.DENY, rule, f"{describe(hit)} would arrive on or leave through "
                                                             f"{label}, which is shut down"))
        if remaining:
            out.append(Segment(remaining, Decision.PERMIT, None, ""))
        return tuple(out)


@dataclass(eq=False)
class EgressHop(Hop):
    """A check that depends on the interface a packet leaves through (outbound ACLs, ASA security levels).

    `regions` map destinations to interfaces (longest prefix first, disjoint); `lists[label]` is the rule
    list there, or None when that interface has no filter. Destinations no region covers are unknown.
    """

    regions: list[tuple[str, PacketSet]] = field(default_factory=list)
    lists: dict[str, RuleList | None] = field(default_factory=dict)
    pass_note: str = ""
    missing: str = ""

    def lists_reached(self, packets: PacketSet) -> list[ReachedList]:
        out = []
        for label, region in self.regions:
            rules = self.lists.get(label)
            part = packets & region
            if rules is not None and part:
                out.append(ReachedList(f"{self.stage}: {label}", rules, part))
        return out

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out: list[Segment] = []
        remaining = packets
        for label, region in self.regions:
            hit = remaining & region
            if not hit:
                continue
            remaining = remaining - region
            rules = self.lists.get(label)
            if rules is None:
                out.append(Segment(hit, Decision.PERMIT, None, f"leaves through {label}, which {self.pass_note}"
                                   if self.pass_note else f"leaves through {label}"))
            else:
                out.extend(rules.evaluate(hit))
            if not remaining:
                break
        if remaining:
            out.append(Segment(remaining, Decision.UNKNOWN, None, self.missing))
        return tuple(out)


_IPSEC = (PacketSet.flow([ANY_ADDR], [ANY_ADDR], 17, 500) | PacketSet.flow([ANY_ADDR], [ANY_ADDR], 17, 4500)
          | PacketSet.flow([ANY_ADDR], [ANY_ADDR], 50))
_NAT_T = PacketSet.flow([ANY_ADDR], [ANY_ADDR], 17, 4500)
_VIRTUAL = re.compile(r"^(?:loopback|tunnel|virtual-template|bvi)", re.I)  # interfaces no packet arrives on


@dataclass(eq=False)
class HeadendHop(Hop):
    """The Cisco device is the VPN server: IKE (UDP 500, UDP 4500) and ESP to its address end here. A forward
    (static NAT, port forward) of the same address makes what it takes unknown (no document says whether the
    device's own IKE or the forward wins); flows its IPsec configuration does not answer (SSTP) are unknown."""

    terminates_ipsec: ClassVar[bool] = True  # the IPsec endpoint: what is inside the SA is decided here

    conflicts: list[tuple[PacketSet, str]] = field(default_factory=list)
    ipsec: PacketSet = EMPTY  # IKE, NAT-T and ESP to the address
    answer: str = ""  # why the device answers them ("" when it does not terminate IKE)
    refused: str = ""  # why it certainly does not (an ASA without IKE on the interface)
    unknown: str = ""  # why whether it does is not known
    nat_t: PacketSet = EMPTY  # NAT-T where it is turned off
    nat_t_reason: str = ""
    other: str = ""  # why the rest is unknown

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out: list[Segment] = []
        rest = packets
        for region, why in self.conflicts:
            hit = rest & region
            if hit:
                rest = rest - region
                out.append(Segment(hit, Decision.UNKNOWN, None, why))
        natt = rest & self.nat_t if self.nat_t else EMPTY
        if natt:
            rest = rest - self.nat_t
            out.append(Segment(natt, Decision.UNKNOWN, None, self.nat_t_reason))
        ipsec = rest & self.ipsec
        if ipsec:
            rest = rest - self.ipsec
            if self.answer:
                out.append(Segment(ipsec, Decision.PERMIT, None, self.answer))
            elif self.refused:
                out.append(Segment(ipsec, Decision.DENY, None, self.refused))
            else:
                out.append(Segment(ipsec, Decision.UNKNOWN, None, self.unknown))
        if rest:
            out.append(Segment(rest, Decision.UNKNOWN, None, self.other))
        return tuple(out)

    def remedy(self, seg: Segment, flows: list[str]) -> str:
        if seg.decision is Decision.DENY and self.refused:
            return (f"At {self.device}: enable IKE on the interface the clients reach (`crypto ikev2 enable IF`, "
                    "or `crypto ikev1 enable IF` for L2TP/IPsec), or point the clients at the VPN server's own "
                    "address.")
        return ""


@dataclass(eq=False)
class SecurityLevelHop(EgressHop):
    """ASA security levels per egress interface (an `EgressHop` whose lists are implicit rules); where they deny,
    the fix is a command, not an access-list entry."""

    fixes: dict[int, str] = field(default_factory=dict)  # rule id -> what to change

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        """As the egress lists decide, each segment saying why (its implicit rule's text)."""
        return tuple(seg if seg.reason or seg.rule is None else
                     Segment(seg.packets, seg.decision, seg.rule, seg.rule.text.removeprefix("implicit: "), seg.output)
                     for seg in super().apply(packets))

    def remedy(self, seg: Segment, flows: list[str]) -> str:
        return self.fixes.get(id(seg.rule), "") if seg.decision is Decision.DENY and seg.rule is not None else ""


@dataclass(slots=True)
class _NatStep:
    """One translation an IOS device may apply to outbound traffic: the packets `acl` permits (or, with no
    acl, those in `match`) leave from `to`. `to` None: translated to an address the snapshot does not
    have (`unknown_to` says which); `why` set: whether or how it translates cannot be told."""

    rule: Rule
    acl: RuleList | None
    match: PacketSet | None  # with no acl: the packets the step translates
    to: list[Interval] | None
    why: str
    unknown_to: str = ""


@dataclass(eq=False)
class InsideNatHop(SourceNatHop):
    """IOS inside source NAT, as configured (`CiscoDevice._inside_nat`): each step takes what earlier ones
    left; what no step matches leaves untranslated. IPv6 is routed."""

    steps: list[_NatStep] = field(default_factory=list)
    outward: PacketSet = EMPTY  # destinations routed out of an `ip nat outside` interface
    routed: PacketSet = EMPTY  # destinations with any known route

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out: list[Segment] = []
        ipv4 = packets & IPV4_SOURCES
        remaining = ipv4 & self.outward
        inward = (ipv4 - self.outward) & self.routed
        if inward:
            out.append(Segment(inward, Decision.PERMIT, None, "routed out of an interface that is not `ip nat "
                                                              "outside`: not translated"))
        unrouted = ipv4 - self.outward - self.routed
        if unrouted:  # the egress filter says so too; whether they are translated is as unknown
            out.append(_unknown_nat(unrouted, None, "no route says which interface these packets leave "
                                                     "through, so whether inside NAT translates them is unknown"))
        for step in self.steps:
            if not remaining:
                break
            if step.acl is not None:
                segments = step.acl.evaluate(remaining)
                matched = _union(seg.packets for seg in segments if seg.decision is Decision.PERMIT)
                for seg in segments:
                    if seg.decision is Decision.UNKNOWN:
                        out.append(_unknown_nat(seg.packets, step.rule,
                                                f"whether line {step.rule.position} ({step.rule.text}) "
                                                f"translates these packets is unknown: {seg.reason}"))
                        remaining = remaining - seg.packets
            else:
                matched = remaining & (step.match or ALL)
            if not matched:
                continue
            remaining = remaining - matched
            if step.why:
                out.append(_unknown_nat(matched, step.rule, step.why))
            elif step.to is None:
                out.append(Segment(matched, Decision.TRANSLATE, step.rule,
                                   f"translated by line {step.rule.position} to {step.unknown_to}",
                                   any_source_port(matched.with_sources(PUBLIC_V4_SOURCES))))
            else:
                to = ", ".join(format_address_interval(iv) for iv in step.to)
                leaving = matched.with_sources(step.to)
                if step.acl is not None:  # dynamic NAT: with overload (PAT) the source port may change too
                    leaving = any_source_port(leaving)
                out.append(Segment(matched, Decision.TRANSLATE, step.rule,
                                   f"translated by line {step.rule.position} to {to}", leaving))
        if remaining:
            out.append(Segment(remaining, Decision.PERMIT, None, "no `ip nat inside source` line matches: leaves "
                                                                 "with its own address"))
        ipv6 = packets - IPV4_SOURCES
        if ipv6:
            out.append(Segment(ipv6, Decision.PERMIT, None, "IPv6 is routed, not translated"))
        return tuple(out)


def _vrf(iface: Interface) -> str:
    return f"VRF {iface.vrf}" if iface.vrf else "the global routing table"


def _cross_vrf(path: str, iface: Interface, outside: Interface) -> str:
    """Why traffic from `outside` to a network of `iface` is unknown when the two are in different VRFs."""
    return (f"{path}: {outside.label} is in {_vrf(outside)} and {iface.label} (line {iface.line}) in {_vrf(iface)}; "
            "whether traffic passes between them (route leaking, VRF-aware NAT) is not modelled")


def _anywhere(packets: PacketSet) -> PacketSet:
    """The packets sent to any address of their family (and any port, for protocols with ports): what a static
    NAT line that cannot be read may make of them."""
    boxes = []
    for src, dst, proto, sport, dport in packets:
        family = ANY_V4 if dst[0] >= ANY_V4[0] else ANY_V6
        ports = dport if dport == ANY_PORT or not (proto[0] == proto[1] and proto[0] in PORTED_PROTOCOLS) else ANY_PORT
        boxes.append((src, family, proto, sport, ports))
    return PacketSet.union_of(boxes)  # boxes to different addresses or ports may now overlap


@dataclass(eq=False)
class _EdgeNatHop(SourceNatHop):
    """The way on of private sources that entered at a Cisco device (`CiscoDevice.internet_nat`): to its internal
    networks untranslated; to the internet blocked when `untranslated` says why, else translated by a NAT
    beyond (every public address possible). Public sources, and IPv6, pass as they are."""

    internal: PacketSet = EMPTY
    untranslated: str = ""
    device_name: str = ""

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        out: list[Segment] = []
        inside = packets & self.internal
        if inside:
            out.append(Segment(inside, Decision.PERMIT, None, f"routed to a network behind {self.device_name}, not "
                                                              "to the internet: not translated"))
        rest = packets - self.internal if inside else packets
        if not rest:
            return tuple(out)
        if not self.untranslated:
            return (*out, *super().apply(rest))
        private = rest & _PRIVATE_V4
        if private:
            out.append(Segment(private, Decision.DENY, None, self.untranslated))
        other = rest - private if private else rest
        return (*out, *super().apply(other)) if other else tuple(out)  # public ones pass, IPv6 is routed


# RFC 1918 and shared (RFC 6598) space: the internet carries no packet from these addresses, nor back to them.
_PRIVATE_V4 = PacketSet.of(src=[address_interval(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                                                               "100.64.0.0/10")])


def _unknown_nat(packets: PacketSet, rule: Rule | None, why: str) -> Segment:
    """Packets a NAT line may or may not translate: they go on as they are or from some public address."""
    return Segment(packets, Decision.UNKNOWN, rule, why,
                   packets | any_source_port(packets.with_sources(PUBLIC_V4_SOURCES)))


def _regions_union(regions: Iterable[PacketSet]) -> PacketSet:
    """The union of egress regions (`CiscoDevice._egress_regions`), which are disjoint by construction: their
    boxes side by side, without the pairwise unions a long routing table would cost."""
    return PacketSet.of_disjoint(regions)


def _union(parts: Iterable[PacketSet]) -> PacketSet:
    total = EMPTY
    for part in parts:
        total = total | part
    return total


# --------------------------------------------------------------------------------------------------------
def describe(packets: PacketSet) -> str:
    """'198.51.100.10 udp/500' style summary of a (small) packet set's destinations and services."""
    parts = []
    for _src, dst, proto, _sport, dport in itertools.islice(packets, 6):
        addr = format_address_interval(dst)
        if proto == ANY_PROTO:
            service = "any protocol"
        elif proto[0] == proto[1]:
            name = PROTO_NAMES.get(proto[0], str(proto[0]))
            if proto[0] in PORTED_PROTOCOLS and dport != ANY_PORT:
                port = str(dport[0]) if dport[0] == dport[1] else f"{dport[0]}-{dport[1]}"
                service = f"{name}/{port}"
            else:
                service = name
        else:
            service = f"protocols {proto[0]}-{proto[1]}"
        item = f"{addr} {service}"
        if item not in parts:
            parts.append(item)
    more = ", ..." if packets.box_count() > 6 else ""
    return ", ".join(parts) + more if parts else "nothing"


def _permit_all(why: str) -> Rule:
    return Rule(1, Action.PERMIT, ALL, why, synthetic=True)


def _overlaps(a: Interval, b: Interval) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _length(iv: Interval) -> int:
    size = iv[1] - iv[0] + 1
    total = 32 if iv[0] >= ANY_V4[0] else 128
    return total - (size.bit_length() - 1)


def _dst_intervals(packets: PacketSet) -> list[Interval]:
    return sorted({box[1] for box in packets})
