"""Cisco IOS / IOS-XE `show running-config` -> CiscoConfig.

IOS semantics that decide VPN flows (Cisco "IP Access List Overview", "Access Lists and IP Fragments",
"NAT Order of Operation"): `ip access-group` per interface and direction; ACEs use wildcard masks and
`any` means any IPv4 address (IPv6 has its own `ipv6 access-list` / `ipv6 traffic-filter`); implicit deny
at the end; `established` matches only segments with ACK or RST, never a new connection; `fragments`
entries never match an initial fragment (how entries treat non-initial fragments is kept apart, for the
fragment-drop check: `AclDef.fragment_view`); an access-group naming an undefined ACL filters nothing; the
inbound ACL of the outside interface runs before NAT, so it sees the public address.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from auditor.model import Action, Origin, Rule
from auditor.packets import ANY_PORT, ANY_V4, ANY_V6, Interval
from auditor.vendors.cisco.common import (
    ANY_SERVICE,
    IOS_PROTOCOLS,
    IOS_TCP_PORTS,
    IOS_UDP_PORTS,
    PORT_OPERATORS,
    AceOptions,
    AclDef,
    Addr,
    CiscoConfig,
    Interface,
    Line,
    NatEntry,
    PortNames,
    RouteDef,
    Service,
    Services,
    SourceNat,
    Unparsed,
    ace_rules,
    host,
    is_ip,
    layer3,
    netmask_interval,
    numbers,
    ported,
    prefix_interval,
    protocol,
    read_address,
    read_endpoints,
    read_ipv6_address,
    read_options,
    time_range_option,
    unknown_rule,
    wildcard_intervals,
)
from auditor.vendors.cisco.lines import FreeText, read_tree

PORTS = PortNames(IOS_TCP_PORTS, IOS_UDP_PORTS)
_OPTIONS_NARROWER = {"dscp": 1, "precedence": 1, "tos": 1, "option": 1, "ack": 0, "fin": 0, "psh": 0, "rst": 0,
                     "syn": 0, "urg": 0, "match-all": 0, "match-any": 0}
_TCP_FLAGS = frozenset({"ack", "fin", "psh", "rst", "syn", "urg", "match-all", "match-any"})  # Layer 4 information
# Keywords that may follow `log` (IOS command reference, `deny (IP)`: `... [log] [time-range name] [fragments]`):
# a last word after `log` is its tag only when it is none of these.
_AFTER_LOG = frozenset({"time-range", "reflect", "fragments", "established"})
_NAT_FLAGS = {"extendable", "no-alias", "no-payload", "reversible", "match-in-vrf", "stateless"}


class IosParser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.cfg = CiscoConfig("ios", path)
        self.groups: dict[str, Line] = {}
        self.group_kind: dict[str, str] = {}
        self._addr_cache: dict[str, Addr] = {}
        self._svc_cache: dict[str, Services] = {}
        self._remark = ""
        self._services_seen: Services | None = None
        self._fragment_view: Callable[[], list[Rule]] | None = None  # the entry as non-initial fragments meet it
        self._route_map_users: set[str] = set()  # route-maps named by NAT lines and policy routing
        self.tree: list[Line] = []
        self.free: list[FreeText] = []

    def parse(self) -> CiscoConfig:
        tree, self.free = read_tree(self.text, "ios")
        self.tree = tree
        self.cfg.lines = self.text.count("\n") + 1
        read = self.cfg.read
        later: list[Line] = []
        route_maps: dict[str, list[Line]] = {}
        for line in tree:
            t = line.text
            head = t.split(" ", 1)[0]
            if head == "object-group":
                parts = t.split()
                if len(parts) >= 3:
                    # `object-group ip port NAME` (port groups) vs `object-group network|service NAME`
                    kind, name = (("port", parts[3]) if parts[1:3] == ["ip", "port"] and len(parts) > 3
                                  else (parts[1], parts[2]))
                    self.groups[name] = line
                    self.group_kind[name] = kind
                    read.update(numbers(line))  # members are read where an entry uses them
            elif head == "hostname":
                self.cfg.hostname = t.split(" ", 1)[1] if " " in t else ""
                read.add(line.number)
            elif head == "route-map" and len(t.split()) > 1:
                route_maps.setdefault(t.split()[1], []).append(line)
            else:
                later.append(line)
        for line in later:
            t = line.text
            head = t.split(" ", 1)[0]
            if head == "interface":
                self._interface(line)
            elif t.startswith(("ip access-list ", "ipv6 access-list ")):
                self._named_acl(line)
                read.update(numbers(line))
            elif head == "access-list":
                self._numbered_ace(line)
                read.update(numbers(line))
            elif t.startswith("ip nat "):
                self._nat(line)
                read.add(line.number)
            elif t.startswith(("ip route ", "ipv6 route ")):
                self._route(line)
            elif head == "router" and len(t.split()) > 1 and t.split()[1] in ("ospf", "bgp", "eigrp", "rip",
                                                                               "isis", "ospfv3"):
                self.cfg.dynamic_routing.append(line.number)
                read.add(line.number)  # that routes are learned at run time; the details do not matter here
            elif t.startswith(("zone-pair security", "zone security")):
                self.cfg.unmodelled.append((line.number, t, "zone-based firewall policies are not evaluated"))
                read.update(numbers(line))
            elif t.startswith(("class-map type inspect ", "policy-map type inspect ", "parameter-map type inspect ")):
                read.update(numbers(line))  # zone-based firewall policy: unknown as a whole (zone-member, zone-pair)
        # Route-maps that a NAT line or policy routing uses: that line is unknown (route-maps are not evaluated),
        # which accounts for the route-map too. Others cannot affect the path.
        for name in self._route_map_users:
            for line in route_maps.get(name, []):
                read.update(numbers(line))
        # Static translations live in one table looked up by global address: the most specific entry
        # wins where network statics overlap (stable sort keeps config order otherwise).
        # Lines we could not read go first: they may translate anything, so nothing after them is certain.
        self.cfg.nat.sort(key=lambda e: -1 if e.unknown else sum(hi - lo + 1 for lo, hi in e.mapped) or 1)
        return self.cfg

    # interfaces and routes ------------------------------------------------------------------------------
    def _interface(self, line: Line) -> None:
        iface = Interface(line.text.split(" ", 1)[1].strip() if " " in line.text else "", line.number)
        self.cfg.read.add(line.number)
        for child in line.children:
            parts = child.text.split()
            done = True
            if parts[:2] == ["ip", "address"] and len(parts) >= 3:
                if parts[2] in ("dhcp", "negotiated", "pool"):
                    iface.dynamic = parts[2]
                elif not read_address(iface, parts[2:]):
                    self.cfg.unreadable.append((child.number, child.text))  # it may have been the server's
            elif parts[:2] == ["ipv6", "address"] and len(parts) >= 3:
                done = read_ipv6_address(iface, parts[2:])
                if not done and "/" in parts[2]:
                    self.cfg.unreadable.append((child.number, child.text))
                    done = True
            elif parts[:3] in (["no", "ip", "address"], ["no", "ipv6", "address"]) or parts == ["ip", "unnumbered"]:
                pass  # no address of its own
            elif parts[:3] == ["ip", "policy", "route-map"] and len(parts) == 4:
                self._route_map_users.add(parts[3])
                iface.unmodelled.append((f"policy routing ({child.text}) is not evaluated", child.number))
            elif parts[:2] == ["ip", "inspect"] and len(parts) >= 4 and parts[3] == "out":
                iface.inspect_out.append((f"inspection ({child.text}) is not evaluated", child.number))
            elif parts[:2] == ["ip", "inspect"]:
                iface.unmodelled.append((f"inspection ({child.text}) is not evaluated", child.number))
            elif parts[:2] == ["vrf", "forwarding"] or parts[:3] == ["ip", "vrf", "forwarding"]:
                iface.vrf = parts[-1]
            elif parts[:2] in (["ip", "access-group"], ["ipv6", "traffic-filter"]):
                v6 = parts[0] == "ipv6"
                if len(parts) == 4 and parts[3] == "in":
                    setattr(iface, "acl6_in" if v6 else "acl_in", (parts[2], child.number))
                elif len(parts) == 4 and parts[3] == "out":
                    setattr(iface, "acl6_out" if v6 else "acl_out", (parts[2], child.number))
                else:  # a binding we cannot read may filter either way
                    iface.unmodelled.append((f"filter binding not understood: {child.text}", child.number))
            elif parts[:2] == ["ip", "nat"] and len(parts) == 3 and parts[2] in ("inside", "outside", "enable"):
                iface.nat = parts[2]
            elif parts[:2] == ["zone-member", "security"]:
                iface.unmodelled.append((f"zone-based firewall ({child.text}) is not evaluated", child.number))
            elif parts[:2] == ["crypto", "map"]:
                self.cfg.vpn_termination[iface.name] = child.number
            elif parts in (["shutdown"], ["no", "shutdown"]):
                iface.shutdown = parts == ["shutdown"]
            elif parts[:3] in (["no", "ip", "nat"], ["no", "ip", "access-group"]):
                pass
            else:
                done = False
            if done:
                self.cfg.read.add(child.number)
        self.cfg.interfaces.append(iface)

    def _route(self, line: Line) -> None:
        """`ip route PREFIX MASK {NEXT-HOP | INTERFACE [NEXT-HOP]} [options]` and `ipv6 route PREFIX/LEN ...`;
        VRF routes and route settings (`static bfd`, `profile`) do not route internet traffic in the global
        table. A route that cannot be read is left unread: the review reports it."""
        words = line.text.split()
        v6, parts = words[0] == "ipv6", words[2:]
        if not parts or parts[0] in ("vrf", "static", "profile"):
            self.cfg.read.add(line.number)
            return
        try:
            if v6:
                if "/" not in parts[0]:
                    return
                prefix, length, rest = prefix_interval(parts[0]), int(parts[0].split("/")[1]), parts[1:]
            else:
                prefix, rest = netmask_interval(parts[0], parts[1]), parts[2:]
                length = 32 - ((prefix[1] - prefix[0] + 1).bit_length() - 1)
        except (Unparsed, IndexError, ValueError):
            return
        if not rest:
            return
        iface = None if is_ip(rest[0]) else rest[0]
        gw_tok = rest[0] if iface is None else (rest[1] if len(rest) > 1 and is_ip(rest[1]) else None)
        gw = host(gw_tok) if gw_tok else None
        self.cfg.read.add(line.number)
        self.cfg.routes.append(RouteDef(prefix, length, iface, gw, line.number, line.text))

    # object-groups ---------------------------------------------------------------------------------------
    def network_group(self, name: str, seen: frozenset[str] = frozenset()) -> Addr:
        cached = self._addr_cache.get(name)
        if cached is not None:
            return cached
        line = self.groups.get(name)
        if line is None or self.group_kind.get(name) != "network":
            return Addr([], f"network object-group {name} is not defined")
        if name in seen:
            return Addr([], f"object-group {name} includes itself")
        intervals: list[Interval] = []
        unknown: list[str] = []
        for child in line.children:
            parts = child.text.split()
            if parts[0] == "network-object":
                parts = parts[1:]
            try:
                if parts[0] == "description":
                    continue
                if parts[0] == "host" and len(parts) == 2:
                    intervals.append(host(parts[1]))
                elif parts[0] == "any" and len(parts) == 1:
                    intervals.append(ANY_V4)
                elif parts[0] == "range" and len(parts) == 3:
                    lo, hi = host(parts[1]), host(parts[2])
                    intervals.append((lo[0], hi[1]))
                elif parts[0] == "group-object" and len(parts) == 2:
                    sub = self.network_group(parts[1], seen | {name})
                    intervals += sub.intervals
                    if sub.unknown:
                        unknown.append(sub.unknown)
                elif len(parts) == 2 and is_ip(parts[0]):
                    intervals.append(netmask_interval(parts[0], parts[1]))  # netmask here, unlike ACEs
                elif len(parts) == 1 and "/" in parts[0]:
                    intervals.append(prefix_interval(parts[0]))
                else:
                    raise Unparsed(f"'{child.text}'")
            except (Unparsed, ValueError) as exc:
                unknown.append(f"object-group {name} line {child.number}: {exc}")
        result = Addr(intervals, "; ".join(unknown))
        self._addr_cache[name] = result
        return result

    def service_group(self, name: str, seen: frozenset[str] = frozenset()) -> Services:
        cached = self._svc_cache.get(name)
        if cached is not None:
            return cached
        line = self.groups.get(name)
        if line is None or self.group_kind.get(name) != "service":
            return Services([], f"service object-group {name} is not defined")
        if name in seen:
            return Services([], f"object-group {name} includes itself")
        items: list[Service] = []
        unknown: list[str] = []
        for child in line.children:
            parts = child.text.split()
            try:
                if parts[0] == "description":
                    continue
                if parts[0] == "group-object" and len(parts) == 2:
                    sub = self.service_group(parts[1], seen | {name})
                    items += sub.items
                    if sub.unknown:
                        unknown.append(sub.unknown)
                    continue
                protos = protocol(parts[0], IOS_PROTOCOLS)
                if parts[0] == "icmp" and len(parts) > 1:
                    items.append(Service(protos))
                    unknown.append(f"object-group {name} line {child.number}: ICMP type {parts[1]} not modelled")
                    continue
                sport: list[Interval] = [ANY_PORT]
                dport: list[Interval] = [ANY_PORT]
                i = 1
                if i < len(parts) and parts[i] == "source" and ported(protos):
                    sport, i = PORTS.operator(parts, i + 1, protos)
                if i < len(parts) and parts[i] in PORT_OPERATORS and ported(protos):
                    dport, i = PORTS.operator(parts, i, protos)
                if i != len(parts):
                    raise Unparsed(f"unexpected '{parts[i]}'")
                items.append(Service(protos, tuple(sport), tuple(dport)))
            except Unparsed as exc:
                unknown.append(f"object-group {name} line {child.number}: {exc}")
        result = Services(items, "; ".join(unknown))
        self._svc_cache[name] = result
        return result

    def port_group(self, name: str, protos: tuple[Interval, ...]) -> list[Interval]:
        line = self.groups.get(name)
        if line is None or self.group_kind.get(name) != "port":
            raise Unparsed(f"port object-group {name} is not defined")
        ports: list[Interval] = []
        for child in line.children:
            parts = child.text.split()
            if parts[0] == "description":
                continue
            got, end = PORTS.operator(parts, 0, protos)
            if end != len(parts):
                raise Unparsed(f"object-group {name} line {child.number}: unexpected '{parts[end]}'")
            ports += got
        if not ports:  # read as "no port given" it would match any port; IOS does not document the empty case
            raise Unparsed(f"port object-group {name} holds no port (what an entry naming an empty group matches "
                           "is not documented)")
        return ports

    # ACLs -------------------------------------------------------------------------------------------------
    def _named_acl(self, line: Line) -> None:
        parts = line.text.split()
        v6 = parts[0] == "ipv6"
        if v6:
            if len(parts) > 3 and parts[2] in ("standard", "extended"):
                kind, name = ("ipv6" if parts[2] == "extended" else "ipv6-standard"), parts[3]
            else:
                kind, name = "ipv6", parts[2] if len(parts) > 2 else ""
        elif len(parts) >= 4:
            kind, name = parts[2], parts[3]
        else:
            return
        acl = self._acl(name, line.number, kind)
        for child in line.children:
            self._ace(acl, child.text, child.number, kind)

    def _numbered_ace(self, line: Line) -> None:
        parts = line.text.split()
        if len(parts) < 3:
            return
        name = parts[1]
        if parts[2] in ("extended", "standard"):  # `access-list NAME extended` (IOS-XE style block)
            acl = self._acl(name, line.number, parts[2])
            if len(parts) > 3:
                self._ace(acl, " ".join(parts[3:]), line.number, parts[2], line.text)
            for child in line.children:
                self._ace(acl, child.text, child.number, parts[2])
            return
        kind = "extended"
        if name.isdigit() and (1 <= int(name) <= 99 or 1300 <= int(name) <= 1999):
            kind = "standard"
        acl = self._acl(name, line.number, kind)
        self._ace(acl, " ".join(parts[2:]), line.number, kind, line.text)

    def _acl(self, name: str, number: int, kind: str) -> AclDef:
        acl = self.cfg.acls.get(name)
        if acl is None:
            acl = self.cfg.acls[name] = AclDef(name, number, kind=kind)
        return acl

    def _ace(self, acl: AclDef, body: str, number: int, kind: str, text: str | None = None) -> None:
        t = body.split()
        text = text or body
        seq = None
        if len(t) > 1 and t[0].isdigit() and t[1] in ("permit", "deny", "remark", "evaluate", "dynamic"):
            seq = int(t[0])  # IOS-XE shows sequence numbers; classic IOS often omits them
            t = t[1:]
        if not t:
            return
        if t[0] == "remark":
            self._remark = body.split("remark", 1)[1].strip()
            return
        position = seq if seq is not None else (acl.count + 1) * 10  # IOS numbers unsequenced lines 10, 20..
        acl.count = max(acl.count + 1, position // 10)
        remark, self._remark = self._remark, ""
        origin = Origin(self.path, len(acl.rules), number)
        self._services_seen = None
        self._fragment_view = None
        start = len(acl.rules)
        try:
            if t[0] not in ("permit", "deny"):
                raise Unparsed(f"'{t[0]}' entries are not modelled (evaluated at run time)")
            action = Action.PERMIT if t[0] == "permit" else Action.DENY
            if kind == "ipv6-standard":
                raise Unparsed("IPv6 standard access-lists are not modelled")
            if kind == "standard":
                acl.rules += self._standard(t[1:], position, action, text, remark, origin)
            else:
                acl.rules += self._extended(t[1:], position, action, text, remark, origin, kind == "ipv6")
                if self._fragment_view is not None:
                    acl.fragment_view[start] = (len(acl.rules) - start, self._fragment_view)
        except (Unparsed, IndexError) as exc:  # IndexError: the line ends where more was expected
            why = str(exc) if isinstance(exc, Unparsed) else "incomplete line"
            acl.rules.append(unknown_rule(position, text, remark, origin, why, self._services_seen))

    def _standard(self, t: list[str], position: int, action: Action, text: str, remark: str,
                  origin: Origin) -> list[Rule]:
        if not t:
            raise Unparsed("missing source")
        if t[0] == "any":
            src, i = Addr([ANY_V4]), 1
        elif t[0] == "host" and len(t) > 1:
            src, i = Addr([host(t[1])]), 2
        elif is_ip(t[0]) and len(t) > 1 and is_ip(t[1]):
            src, i = Addr(wildcard_intervals(t[0], t[1])), 2
        elif is_ip(t[0]):
            src, i = Addr([host(t[0])]), 1
        else:
            raise Unparsed(f"unexpected source '{t[0]}'")
        if i < len(t) and t[i] not in ("log", "log-input"):
            raise Unparsed(f"unexpected '{t[i]}'")
        return ace_rules(position, action, Services([ANY_SERVICE]), src, Addr([ANY_V4]), text, remark, origin)

    def _extended(self, t: list[str], position: int, action: Action, text: str, remark: str, origin: Origin,
                  v6: bool) -> list[Rule]:
        if not t:
            raise Unparsed("missing protocol")
        services, port_protos, i = self._ace_services(t, v6)
        self._services_seen = services
        options = AceOptions()
        ends = read_endpoints(t, i, services, port_protos, lambda t, i: self._address(t, i, v6), self._ports,
                              options)
        read_options(t, ends.end, _OPTIONS, options)
        services = ends.services
        ports = ends.named_ports or any(s.sport != (ANY_PORT,) or s.dport != (ANY_PORT,) for s in services.items)
        if not v6 and (options.fragments or ports or options.layer4):
            self._fragment_view = self._fragment_entry(position, action, services, ends.src, ends.dst, text, remark,
                                                       origin, options.layer3, options.fragments, ports,
                                                       options.layer4)
        return ace_rules(position, action, services, ends.src, ends.dst, text, remark, origin,
                         narrower="; ".join(options.narrower), never=options.never)

    def _ace_services(self, t: list[str], v6: bool) -> tuple[Services, tuple[Interval, ...] | None, int]:
        """The entry's protocol or service group; the protocols whose ports may follow its addresses (None: no
        port words there); the index after it."""
        if t[0] == "object-group" and len(t) > 1:
            return self.service_group(t[1]), None, 2
        name = "ip" if v6 and t[0] == "ipv6" else t[0]
        protos = protocol(name, {**IOS_PROTOCOLS, "icmp": 58} if v6 else IOS_PROTOCOLS)
        return Services([Service(protos)]), protos if ported(protos) else None, 1

    @staticmethod
    def _fragment_entry(position: int, action: Action, services: Services, src: Addr, dst: Addr, text: str,
                        remark: str, origin: Origin, narrower: list[str], fragments: bool, ports: bool,
                        layer4: bool) -> Callable[[], list[Rule]]:
        """The entry as a non-initial fragment meets it (Cisco "Access Control Lists and IP Fragments"): such a
        fragment carries no Layer 4 header, so only the entry's Layer 3 part (addresses, protocol) is matched.
        A `fragments` entry and a permit match on that part; a deny with Layer 4 information (ports, TCP
        flags, ICMP type, `established`) never denies one: the next entry is processed. The document describes
        `fragments` on entries without Layer 4 information only; for one with both it says nothing, so what
        such an entry does to a fragment is left uncertain."""
        if fragments or action is Action.PERMIT:
            if fragments and (ports or layer4):
                narrower = [*narrower, "Cisco documents the `fragments` keyword only on entries without Layer 4 "
                                       "information; what this entry does to a non-initial fragment is not documented"]
            return partial(ace_rules, position, action, layer3(services), src, dst, text, remark, origin,
                           narrower="; ".join(narrower))
        rest = layer3(services, ported_items=False)
        never = ""
        if layer4 or not (rest.items or rest.unknown):
            never = "a deny with Layer 4 information never denies a non-initial fragment: the next entry decides it"
        return partial(ace_rules, position, action, rest, src, dst, text, remark, origin,
                       narrower="; ".join(narrower), never=never)

    def _address(self, t: list[str], i: int, v6: bool) -> tuple[Addr, int]:
        if i >= len(t):
            raise Unparsed("missing address")
        tok = t[i]
        if tok == "any":
            return Addr([ANY_V6 if v6 else ANY_V4]), i + 1  # IOS ACLs are per address family
        if tok == "host" and i + 1 < len(t):
            return Addr([host(t[i + 1])]), i + 2
        if tok in ("object-group", "addrgroup") and i + 1 < len(t):
            return self.network_group(t[i + 1]), i + 2
        if v6 and "/" in tok:
            return Addr([prefix_interval(tok)]), i + 1
        if not v6 and is_ip(tok) and i + 1 < len(t) and is_ip(t[i + 1]):
            return Addr(wildcard_intervals(tok, t[i + 1])), i + 2
        raise Unparsed(f"unexpected address '{tok}'")

    def _ports(self, t: list[str], i: int, protos: tuple[Interval, ...]) -> tuple[list[Interval] | None, int]:
        if i >= len(t):
            return None, i
        if t[i] in PORT_OPERATORS:
            return PORTS.operator(t, i, protos, multi=True)
        if t[i] == "portgroup" and i + 1 < len(t):
            return self.port_group(t[i + 1], protos), i + 2
        return None, i

    # NAT ---------------------------------------------------------------------------------------------------
    def _nat(self, line: Line) -> None:
        parts = line.text.split()
        if parts[2:3] == ["pool"]:
            self._nat_pool(parts, line)
            return
        if parts[2:3] == ["source"]:
            self._nvi(parts, line)
            return
        if parts[2:4] != ["inside", "source"] or len(parts) < 5:
            if parts[2:4] == ["inside", "destination"]:
                self.cfg.nat.append(NatEntry(line.text, line.number, [], [],
                                             unknown=f"{self.path} line {line.number}: inside destination "
                                                     "NAT (TCP load distribution) is not modelled"))
            return  # outside source NAT, timeouts: they neither expose an inside server nor translate clients
        if parts[4] != "static":
            self.cfg.source_nat.append(self._dynamic(parts[4:], line))  # outbound only: sources that enter here
            return
        try:
            self.cfg.nat.append(self._static(parts[5:], line))
        except (Unparsed, IndexError, ValueError) as exc:
            self.cfg.nat.append(NatEntry(line.text, line.number, [], [],
                                         unknown=f"{self.path} line {line.number} not understood: "
                                                 f"{exc or 'incomplete'}"))

    def _nvi(self, parts: list[str], line: Line) -> None:
        """NAT Virtual Interface (Cisco "NAT Virtual Interface", IOS 12.3(14)T): `ip nat source static ...` takes
        the forms of `ip nat inside source static` and translates between interfaces with `ip nat enable`,
        with no inside or outside. Dynamic `ip nat source list|route-map` lines translate outbound traffic only:
        they expose nothing (and sources entering at an NVI interface are not translated by the model)."""
        if parts[3:4] != ["static"]:
            return
        try:
            entry = self._static(parts[4:], line)
        except (Unparsed, IndexError, ValueError) as exc:
            entry = NatEntry(line.text, line.number, [], [],
                             unknown=f"{self.path} line {line.number} not understood: {exc or 'incomplete'}")
        entry.nvi = True
        self.cfg.nat.append(entry)

    def _dynamic(self, t: list[str], line: Line) -> SourceNat:
        entry = SourceNat(line.text, line.number)
        where = f"{self.path} line {line.number}"
        if "route-map" in t[:-1]:
            self._route_map_users.add(t[t.index("route-map") + 1])
        if t[0] != "list" or len(t) < 4 or t[2] not in ("interface", "pool"):
            entry.unknown = (f"{where}: {'route-map' if t[0] == 'route-map' else 'this form of'} dynamic NAT "
                             "is not modelled")
            return entry
        entry.acl = t[1]
        if t[2] == "interface":
            entry.interface = t[3]
        else:
            entry.pool = t[3]
        rest = t[4:]
        if rest[:1] == ["vrf"]:
            entry.unknown = f"{where}: NAT inside a VRF is not modelled"
            rest = rest[2:]
        if any(tok not in ("overload", "oer", "no-payload", "reversible") for tok in rest):
            entry.unknown = f"{where} not understood: unexpected '{' '.join(rest)}'"
        return entry

    def _nat_pool(self, parts: list[str], line: Line) -> None:
        """`ip nat pool NAME START END {netmask M | prefix-length N}`: the addresses START..END."""
        try:
            start, end = host(parts[4])[0], host(parts[5])[1]
        except (IndexError, ValueError, Unparsed):
            return  # a pool we cannot read: a NAT line naming it is then unknown
        if start <= end:
            self.cfg.nat_pools[parts[3]] = ([(start, end)], line.number)

    def _static(self, t: list[str], line: Line) -> NatEntry:
        entry = NatEntry(line.text, line.number, [], [])
        if t[0] in ("tcp", "udp"):
            protos = protocol(t[0], IOS_PROTOCOLS)
            entry.proto = protos
            entry.real = [host(t[1])]
            entry.real_ports = [_single(PORTS.port(t[2], protos))]
            if t[3] == "interface":
                entry.mapped_interface = t[4]
                i = 5
            else:
                entry.mapped = [host(t[3])]
                i = 4
            entry.mapped_ports = [_single(PORTS.port(t[i], protos))]
            i += 1
        elif t[0] == "network":
            mask = t[3].lstrip("/")
            if mask.isdigit():
                mask = str(_mask_from_length(int(mask)))
            local, glob = netmask_interval(t[1], mask), netmask_interval(t[2], mask)
            entry.real, entry.mapped = [local], [glob]
            i = 4
        else:
            entry.real = [host(t[0])]
            if t[1] == "interface":
                entry.mapped_interface = t[2]
                i = 3
            else:
                entry.mapped = [host(t[1])]
                i = 2
        while i < len(t):
            tok = t[i]
            if tok in _NAT_FLAGS:
                entry.no_arp = entry.no_arp or (tok if tok == "no-alias" else "")
                i += 1
            elif tok in ("vrf", "redundancy", "mapping-id") and i + 1 < len(t):
                i += 2
            elif tok == "route-map" and i + 1 < len(t):
                self._route_map_users.add(t[i + 1])
                entry.conditional = (f"route-map {t[i + 1]} decides when this translation applies "
                                     f"(line {line.number}); route-maps are not evaluated")
                i += 2
            else:
                raise Unparsed(f"unexpected '{tok}'")
        return entry


def _established_option(t: list[str], i: int, options: AceOptions) -> int | None:
    if t[i] != "established":
        return None
    options.never = "established: matches only packets of existing TCP connections, never a new one"
    options.layer4 = True
    return i + 1


def _fragments_option(t: list[str], i: int, options: AceOptions) -> int | None:
    if t[i] != "fragments":
        return None
    options.never = "fragments: matches only non-initial fragments, never a connection's first packet"
    options.fragments = True
    return i + 1


def _log_option(t: list[str], i: int, options: AceOptions) -> int | None:
    """`log [tag]`, `log-input [tag]`: no effect on the match."""
    if t[i] not in ("log", "log-input"):
        return None
    i += 1
    if i < len(t) and t[i] not in _OPTIONS_NARROWER and t[i] not in _AFTER_LOG \
            and not t[i].startswith(("+", "-")) and i == len(t) - 1:
        i += 1  # log tag
    return i


def _reflect_option(t: list[str], i: int, options: AceOptions) -> int | None:
    """`reflect NAME [timeout secs]` creates return entries; the match itself is unchanged."""
    if t[i] != "reflect" or i + 1 >= len(t):
        return None
    i += 2
    if i + 1 < len(t) and t[i] == "timeout":
        i += 2
    return i


def _ttl_option(t: list[str], i: int, options: AceOptions) -> int | None:
    if t[i] != "ttl" or i + 2 >= len(t):
        return None
    options.narrower.append(f"matches only some TTLs ({' '.join(t[i:i + 3])})")
    options.layer3.append(options.narrower[-1])
    return i + (3 if t[i + 1] != "range" else 4)


def _narrowing_option(t: list[str], i: int, options: AceOptions) -> int | None:
    """DSCP, precedence, ToS, IP options and TCP flags: they narrow the match, which is not modelled."""
    tok = t[i]
    n = _OPTIONS_NARROWER.get(tok)
    if n is None:
        return None
    options.narrower.append(f"'{' '.join(t[i:i + 1 + n])}' narrows the match (not modelled)")
    if tok in _TCP_FLAGS:
        options.layer4 = True
    else:
        options.layer3.append(options.narrower[-1])
    i += 1 + n
    if tok in ("match-all", "match-any"):
        while i < len(t) and t[i][:1] in "+-":
            i += 1
    return i


def _icmp_type_option(t: list[str], i: int, options: AceOptions) -> int | None:
    tok = t[i]
    if not options.icmp or not (tok.isdigit() or tok.replace("-", "").isalpha()):
        return None
    options.narrower.append(f"ICMP type/code {tok} is not modelled")
    options.layer4 = True
    return i + 1


# The words an IOS extended entry may end with, in the order they are tried.
_OPTIONS = (_established_option, _fragments_option, _log_option, time_range_option, _reflect_option, _ttl_option,
            _narrowing_option, _icmp_type_option)


def _single(port: int) -> Interval:
    return (port, port)


def _mask_from_length(length: int) -> str:
    import ipaddress

    return str(ipaddress.IPv4Network(f"0.0.0.0/{length}").netmask)
