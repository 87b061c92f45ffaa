"""Cisco ASA `show running-config` -> CiscoConfig (interfaces, ACLs as model rules, static NAT, routes).

Semantics follow the ASA 9.x configuration guide: extended ACEs name real (untranslated) addresses from 8.3
on; `any` is IPv4 and IPv6; `inactive` ACEs do not exist for matching; remarks are numbered lines;
object-groups nest through `group-object`; object NAT lives under `object network`, twice NAT at the top
level in three sections (manual, object, after-auto). What is not understood is kept as unknown with its line.
"""

from __future__ import annotations

import re

from auditor.model import Action, Origin, Rule
from auditor.packets import ANY_PORT, ANY_PROTO, ANY_V4, ANY_V6, Interval
from auditor.vendors.cisco.common import (
    ANY_ADDRS,
    ASA_PROTOCOLS,
    ASA_TCP_PORTS,
    ASA_UDP_PORTS,
    LOG_LEVELS,
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
    Unparsed,
    ace_rules,
    host,
    is_ip,
    merge_intervals,
    netmask_interval,
    numbers,
    ported,
    prefix_interval,
    proto_intervals,
    protocol,
    read_address,
    read_endpoints,
    read_ipv6_address,
    read_options,
    time_range_option,
    unknown_rule,
)
from auditor.vendors.cisco.lines import FreeText, read_tree

PORTS = PortNames(ASA_TCP_PORTS, ASA_UDP_PORTS)
_IDENTITY = {"user": 1, "user-group": 1, "object-group-user": 1, "security-group": 2, "object-group-security": 1}
_VERSION = re.compile(r"^(?:ASA|PIX) Version (\d+)\.(\d+)")
# A bound of this tool, not of the ASA (docs/semantics/cisco.md): a group-object chain deeper than this is
# unknown rather than read by a recursion that an 800-deep chain exhausts.
MAX_GROUP_DEPTH = 64


# What an `object network` holds (ASA command reference, "object network" and "nat (network object)"): its one
# address, a description, and object NAT.
NETWORK_OBJECT_COMMANDS = frozenset({"host", "subnet", "range", "fqdn", "description", "nat"})


class AsaParser:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.cfg = CiscoConfig("asa", path)
        self.names: dict[str, str] = {}
        self.objects: dict[str, list[Line]] = {}  # object network|service NAME -> its blocks (a config
        # defines an object, then repeats its header later to attach object NAT)
        self.object_kind: dict[str, str] = {}
        self.groups: dict[str, Line] = {}  # object-group TYPE NAME [tcp|udp|tcp-udp]
        self.group_kind: dict[str, tuple[str, str]] = {}  # name -> (type, port protocol keyword or "")
        self._addr_cache: dict[tuple[str, str], Addr] = {}
        self._svc_cache: dict[str, Services] = {}
        self._port_cache: dict[str, tuple[list[Interval], str, str]] = {}
        self._bindings: list[Line] = []
        self._remark: tuple[str, str] | None = None  # (ACL, text) of the remark above the next ACE
        self._services_seen: Services | None = None  # what the ACE being parsed matches, if known yet
        self.tree: list[Line] = []
        self.free: list[FreeText] = []

    # --------------------------------------------------------------------------------------------------
    def parse(self) -> CiscoConfig:
        tree, self.free = read_tree(self.text, "asa")
        self.tree = tree
        self.cfg.lines = self.text.count("\n") + 1
        read = self.cfg.read
        acl_lines: list[Line] = []
        nat_lines: list[Line] = []
        object_nats: list[tuple[Line, Line]] = []
        statics: list[Line] = []
        groups: list[Line] = []
        for line in tree:  # names first: interfaces, objects and entries may use them
            parts = line.text.split()
            if parts[0] == "name" and len(parts) >= 3 and is_ip(parts[1]):
                self.names[parts[2]] = parts[1]
                read.add(line.number)
            elif parts == ["names"]:
                read.add(line.number)
        for line in tree:
            t = line.text
            head = t.split(" ", 1)[0]
            if head == "access-list":
                acl_lines.append(line)
                read.add(line.number)
            elif head == "object":
                parts = t.split()
                if len(parts) >= 3:
                    self.objects.setdefault(parts[2], []).append(line)
                    self.object_kind[parts[2]] = parts[1]
                    # a network object's line that is none of its commands may be a NAT statement mangled
                    # (a cut-off session, a typo): an object NAT not understood, never skipped
                    object_nats.extend((line, c) for c in line.children if c.text.startswith("nat ") or (
                        parts[1] == "network" and c.text.split(" ", 1)[0] not in NETWORK_OBJECT_COMMANDS))
                    read.update(numbers(line))  # members are read where an entry or NAT uses them
            elif head == "object-group":
                groups.append(line)
                read.update(numbers(line))
            elif head == "interface":
                self._interface(line)
            elif head == "nat":
                nat_lines.append(line)
                read.add(line.number)
            elif head == "static":
                statics.append(line)
                read.add(line.number)
            elif head == "access-group":
                self._bindings.append(line)
                read.add(line.number)
            elif head == "route" or t.startswith("ipv6 route "):
                self._route(line)
            elif t.startswith("same-security-traffic permit inter-interface"):
                self.cfg.same_security_inter = True
                read.add(line.number)
            elif t.startswith("same-security-traffic permit intra-interface"):
                self.cfg.same_security_intra = True
                read.add(line.number)
            elif t.startswith(("crypto ikev1 enable ", "crypto ikev2 enable ")) or (
                    t.startswith("crypto map ") and " interface " in t):
                self.cfg.vpn_termination[t.split()[-1]] = line.number
                read.add(line.number)
            elif t == "firewall transparent":
                self.cfg.transparent = True
                read.add(line.number)
            elif t.startswith("fragment chain "):
                self._fragment_chain(line)
            elif head == "router" and len(t.split()) > 1 and t.split()[1] in ("ospf", "bgp", "eigrp", "rip",
                                                                               "isis"):
                self.cfg.dynamic_routing.append(line.number)
                read.add(line.number)  # that routes are learned at run time; the details do not matter here
            elif head == "hostname":
                self.cfg.hostname = t.split(" ", 1)[1] if " " in t else ""
                read.add(line.number)
            elif head in ("ASA", "PIX"):
                m = _VERSION.match(t)
                if m:
                    self.cfg.version = t.split("Version", 1)[1].strip()
                    self.cfg.pre83 = (int(m.group(1)), int(m.group(2))) < (8, 3)
            elif head == "global" and t.startswith("global ("):
                read.add(line.number)  # pre-8.3 dynamic PAT pool: outbound only, cannot expose a server
        for line in groups:
            self._group_header(line)
        for line in acl_lines:
            self._acl_line(line)
        for line in self._bindings:
            self._access_group(line)
        self._nat(nat_lines, object_nats, statics)
        return self.cfg

    def _fragment_chain(self, line: Line) -> None:
        """`fragment chain N [interface]`: at most N fragments make one packet (ASA command reference,
        `fragment`); without an interface the line applies to every interface."""
        parts = line.text.split()
        if len(parts) in (3, 4) and parts[2].isdigit():
            self.cfg.read.add(line.number)
            self.cfg.fragment_chain.append((line.number, parts[3] if len(parts) == 4 else None, int(parts[2]),
                                            line.text))

    # interfaces, routes, bindings ----------------------------------------------------------------------
    def _interface(self, line: Line) -> None:
        iface = Interface(line.text.split(" ", 1)[1].strip() if " " in line.text else "", line.number)
        self.cfg.read.add(line.number)
        explicit_level = False
        for child in line.children:
            parts = child.text.split()
            done = True
            if parts[0] == "nameif" and len(parts) > 1:
                iface.nameif = parts[1]
            elif parts[0] == "security-level" and len(parts) > 1 and parts[1].isdigit():
                iface.security_level = int(parts[1])
                explicit_level = True
            elif parts[:2] == ["ip", "address"] and len(parts) >= 3:
                if parts[2] in ("dhcp", "pppoe"):
                    iface.dynamic = parts[2]
                elif not read_address(iface, [self._name_or_token(parts[2]), *parts[3:]]):
                    self.cfg.unreadable.append((child.number, child.text))  # it may have been the server's
            elif parts[:2] == ["ipv6", "address"] and len(parts) >= 3:
                done = read_ipv6_address(iface, parts[2:])
                if not done and "/" in parts[2]:
                    self.cfg.unreadable.append((child.number, child.text))
                    done = True
            elif parts in (["shutdown"], ["no", "shutdown"]):
                iface.shutdown = parts == ["shutdown"]
            elif parts[:3] in (["no", "ip", "address"], ["no", "nameif"], ["no", "security-level"],
                               ["no", "ipv6", "address"]):
                pass  # no address, not named: nothing to add
            else:
                done = False
            if done:
                self.cfg.read.add(child.number)
        if not explicit_level and iface.nameif is not None:
            iface.security_level = 100 if iface.nameif == "inside" else 0  # ASA's defaults
        self.cfg.interfaces.append(iface)

    def _route(self, line: Line) -> None:
        parts = [self._name_or_token(p) for p in line.text.split()]
        if parts[0] == "ipv6":
            parts = parts[1:]
        parts[2:4] = ["0.0.0.0" if p == "0" else p for p in parts[2:4]]  # `route outside 0 0 GW`
        try:
            if len(parts) >= 5 and is_ip(parts[2]) and is_ip(parts[3]):
                prefix = netmask_interval(parts[2], parts[3])
                gw = host(parts[4]) if is_ip(parts[4]) else None
            elif len(parts) >= 4 and "/" in parts[2]:
                prefix = prefix_interval(parts[2])
                gw = host(parts[3]) if is_ip(parts[3]) else None
            else:
                return  # not read: the review reports it
        except Unparsed:
            return
        self.cfg.read.add(line.number)
        length = _prefix_length(prefix)
        self.cfg.routes.append(RouteDef(prefix, length, parts[1], gw, line.number, line.text))

    def _access_group(self, line: Line) -> None:
        parts = line.text.split()
        if len(parts) >= 3 and parts[2] == "global":
            self.cfg.global_acl = (parts[1], line.number)
            return
        if len(parts) < 5 or parts[3] != "interface":
            self.cfg.unmodelled.append((line.number, line.text, "access-group not understood"))
            return
        if "control-plane" in parts[5:]:
            return  # filters traffic to the ASA itself, not through it
        iface = self.cfg.interface(parts[4])
        if iface is None:
            self.cfg.unmodelled.append((line.number, line.text, f"interface {parts[4]} is not defined"))
            return
        if parts[2] == "in":
            iface.acl_in = (parts[1], line.number)
        elif parts[2] == "out":
            iface.acl_out = (parts[1], line.number)

    # objects and groups ---------------------------------------------------------------------------------
    def _group_header(self, line: Line) -> None:
        parts = line.text.split()
        if len(parts) < 3:
            return
        kind, name = parts[1], parts[2]
        self.groups[name] = line
        self.group_kind[name] = (kind, parts[3] if len(parts) > 3 else "")

    def network(self, name: str) -> Addr:
        """An `object network` or `object-group network` by name (objects and groups share one namespace
        per type on the ASA; an object is looked up first)."""
        return self._network(name, "object" if name in self.objects else "group", frozenset())

    def _network(self, name: str, where: str, seen: frozenset[str]) -> Addr:
        key = (where, name)
        cached = self._addr_cache.get(key)
        if cached is not None:
            return cached
        if name in seen:
            return Addr([], f"object-group {name} includes itself")
        if len(seen) >= MAX_GROUP_DEPTH:
            return Addr([], f"object-group {name} is nested more than {MAX_GROUP_DEPTH} groups deep (not read)")
        seen = seen | {name}
        result = self._network_object(name) if where == "object" else self._network_group(name, seen)
        self._addr_cache[key] = result
        return result

    def _network_object(self, name: str) -> Addr:
        blocks = self.objects.get(name)
        if blocks is None or self.object_kind.get(name) != "network":
            return Addr([], f"network object {name} is not defined")
        for child in (c for block in blocks for c in block.children):
            parts = child.text.split()
            try:
                if parts[0] == "host" and len(parts) == 2:
                    return Addr([self._ip(parts[1])])
                if parts[0] == "subnet" and len(parts) == 3:
                    return Addr([netmask_interval(self._name_ip(parts[1]), parts[2])])
                if parts[0] == "subnet" and len(parts) == 2:
                    return Addr([prefix_interval(parts[1])])
                if parts[0] == "range" and len(parts) == 3:
                    lo, hi = self._ip(parts[1]), self._ip(parts[2])
                    if lo[0] > hi[1]:
                        raise Unparsed("empty range")
                    return Addr([(lo[0], hi[1])])
                if parts[0] == "fqdn":
                    return Addr([], f"network object {name} is an FQDN ({parts[-1]}, line {child.number}); "
                                    "its addresses are not in the configuration")
            except Unparsed as exc:
                return Addr([], f"network object {name} (line {child.number}): {exc}")
        return Addr([], f"network object {name} (line {blocks[0].number}) has no address")

    def _network_group(self, name: str, seen: frozenset[str]) -> Addr:
        line = self.groups.get(name)
        if line is None or self.group_kind[name][0] != "network":
            return Addr([], f"network object-group {name} is not defined")
        intervals: list[Interval] = []
        unknown: list[str] = []
        for child in line.children:
            parts = child.text.split()
            try:
                if parts[0] == "network-object":
                    if len(parts) == 3 and parts[1] == "host":
                        intervals.append(self._ip(parts[2]))
                    elif len(parts) == 3 and parts[1] == "object":
                        sub = self._network(parts[2], "object", seen)
                        intervals += sub.intervals
                        if sub.unknown:
                            unknown.append(sub.unknown)
                    elif len(parts) == 3:
                        intervals.append(netmask_interval(self._name_ip(parts[1]), parts[2]))
                    elif len(parts) == 2 and "/" in parts[1]:
                        intervals.append(prefix_interval(parts[1]))
                    else:
                        raise Unparsed(f"'{child.text}'")
                elif parts[0] == "group-object" and len(parts) == 2:
                    sub = self._network(parts[1], "group", seen)
                    intervals += sub.intervals
                    if sub.unknown:
                        unknown.append(sub.unknown)
                elif parts[0] != "description":
                    raise Unparsed(f"'{child.text}'")
            except Unparsed as exc:
                unknown.append(f"object-group {name} line {child.number}: {exc}")
        return Addr(intervals, "; ".join(unknown))

    def service_object(self, name: str) -> Services:
        blocks = self.objects.get(name)
        if blocks is None or self.object_kind.get(name) != "service":
            return Services([], f"service object {name} is not defined")
        for child in (c for block in blocks for c in block.children):
            parts = child.text.split()
            if parts[0] == "service":
                try:
                    return Services(self._service_spec(parts[1:]))
                except _Narrower as exc:
                    return Services(exc.services, f"service object {name}: {exc}")
                except Unparsed as exc:
                    return Services([], f"service object {name} (line {child.number}): {exc}")
        return Services([], f"service object {name} (line {blocks[0].number}) has no service")

    def _service_spec(self, parts: list[str]) -> list[Service]:
        """`PROTO [source OP P] [destination OP P]` (service objects and service-object lines)."""
        if not parts:
            raise Unparsed("empty service")
        protos = protocol(parts[0], ASA_PROTOCOLS)
        sport: list[Interval] = [ANY_PORT]
        dport: list[Interval] = [ANY_PORT]
        i = 1
        if parts[0] in ("icmp", "icmp6") and len(parts) > 1:
            raise _Narrower(f"ICMP type {' '.join(parts[1:])} is not modelled",
                            [Service(protos)])
        while i < len(parts):
            if parts[i] == "source" and ported(protos):
                sport, i = PORTS.operator(parts, i + 1, protos)
            elif parts[i] == "destination" and ported(protos):
                dport, i = PORTS.operator(parts, i + 1, protos)
            elif parts[i] in PORT_OPERATORS and ported(protos):
                dport, i = PORTS.operator(parts, i, protos)  # older form: destination implied
            else:
                raise Unparsed(f"unexpected '{parts[i]}' in service")
        return [Service(protos, tuple(sport), tuple(dport))]

    def service_group(self, name: str, seen: frozenset[str] = frozenset()) -> Services:
        """A protocol group or a typeless service group, for the protocol position of an ACE."""
        cached = self._svc_cache.get(name)
        if cached is not None:
            return cached
        if name in seen:
            return Services([], f"object-group {name} includes itself")
        if len(seen) >= MAX_GROUP_DEPTH:
            return Services([], f"object-group {name} is nested more than {MAX_GROUP_DEPTH} groups deep (not read)")
        seen = seen | {name}
        line = self.groups.get(name)
        if line is None:
            return Services([], f"object-group {name} is not defined")
        kind, port_kind = self.group_kind[name]
        items: list[Service] = []
        unknown: list[str] = []
        for child in line.children:
            parts = child.text.split()
            try:
                if parts[0] == "description":
                    continue
                if parts[0] == "group-object" and len(parts) == 2:
                    sub = self.service_group(parts[1], seen)
                elif kind == "protocol" and parts[0] == "protocol-object" and len(parts) == 2:
                    sub = Services([Service(protocol(parts[1], ASA_PROTOCOLS))])
                elif kind == "service" and not port_kind and parts[0] == "service-object":
                    if len(parts) == 3 and parts[1] == "object":
                        sub = self.service_object(parts[2])
                    else:
                        try:
                            sub = Services(self._service_spec(parts[1:]))
                        except _Narrower as exc:
                            sub = Services(exc.services, f"object-group {name} line {child.number}: {exc}")
                else:
                    raise Unparsed(f"'{child.text}' in {kind} object-group")
            except Unparsed as exc:
                unknown.append(f"object-group {name} line {child.number}: {exc}")
                continue
            items += sub.items
            if sub.unknown:
                unknown.append(sub.unknown)
        result = Services(items, "; ".join(unknown))
        self._svc_cache[name] = result
        return result

    def port_group(self, name: str, seen: frozenset[str] = frozenset()) -> tuple[list[Interval], str, str]:
        """`object-group service NAME tcp|udp|tcp-udp` with port-object lines: (ports, protocol keyword,
        unknown reason)."""
        cached = self._port_cache.get(name)
        if cached is not None:
            return cached
        line = self.groups[name]
        kind = self.group_kind[name][1]
        protos = protocol(kind, ASA_PROTOCOLS)
        ports: list[Interval] = []
        unknown: list[str] = []
        for child in line.children:
            parts = child.text.split()
            try:
                if parts[0] == "port-object":
                    got, end = PORTS.operator(parts, 1, protos)
                    if end != len(parts):
                        raise Unparsed(f"unexpected '{parts[end]}'")
                    ports += got
                elif parts[0] == "group-object" and len(parts) == 2:
                    if parts[1] in seen or self.group_kind.get(parts[1], ("", ""))[1] == "":
                        raise Unparsed(f"group {parts[1]} is not a port group")
                    if len(seen) >= MAX_GROUP_DEPTH:
                        raise Unparsed(f"group {parts[1]} is nested more than {MAX_GROUP_DEPTH} groups deep")
                    sub, _, why = self.port_group(parts[1], seen | {name})
                    ports += sub
                    if why:
                        unknown.append(why)
                elif parts[0] != "description":
                    raise Unparsed(f"'{child.text}'")
            except Unparsed as exc:
                unknown.append(f"object-group {name} line {child.number}: {exc}")
        if not ports and not unknown:
            # An entry would read an empty list as "no port given", i.e. any port: a false allow for a permit.
            # What the ASA does with an empty group in an entry is not documented, so the entry is unknown.
            unknown.append(f"object-group {name} holds no port-object (what an entry naming an empty group "
                           "matches is not documented)")
        result = (ports, kind, "; ".join(unknown))
        self._port_cache[name] = result
        return result

    def _is_port_group(self, name: str) -> bool:
        kind = self.group_kind.get(name)
        return kind is not None and kind[0] == "service" and kind[1] in ("tcp", "udp", "tcp-udp")

    def _ip(self, token: str) -> Interval:
        return host(self._name_ip(token))

    def _name_or_token(self, token: str) -> str:
        return self.names.get(token, token)

    def _name_ip(self, token: str) -> str:
        if is_ip(token):
            return token
        if token in self.names:
            return self.names[token]
        raise Unparsed(f"'{token}' is neither an address nor a defined name")

    # ACLs -------------------------------------------------------------------------------------------------
    def _acl_line(self, line: Line) -> None:
        parts = line.text.split()
        if len(parts) < 3:
            return  # `access-list NAME` alone configures nothing
        name = parts[1]
        acl = self.cfg.acls.get(name)
        if acl is None:
            acl = self.cfg.acls[name] = AclDef(name, line.number)
        i = 2
        if parts[i] == "line" and len(parts) > 4:
            i += 2
        kind = parts[i]
        if kind in ("permit", "deny"):  # PIX 6 and early ASA: an extended entry without the keyword
            kind = "extended"
            i -= 1
        if kind == "remark":
            acl.count += 1
            self._remark = (name, line.text.split("remark", 1)[1].strip())
            return
        acl.count += 1
        position = acl.count
        remark = ""
        if self._remark is not None and self._remark[0] == name:
            remark = self._remark[1]
        self._remark = None
        origin = Origin(self.path, len(acl.rules), line.number)
        if kind in ("standard", "webtype", "ethertype"):
            acl.kind = kind  # not IP access-group filters for through traffic; kept for completeness
            return
        if kind != "extended":
            acl.rules.append(unknown_rule(position, line.text, remark, origin,
                                          f"unknown access-list type '{kind}'", None))
            return
        self._services_seen = None
        try:
            acl.rules += self._ace(parts[i + 1:], position, line.text, remark, origin)
        except (Unparsed, IndexError) as exc:  # IndexError: the line ends where more was expected
            why = str(exc) if isinstance(exc, Unparsed) else "incomplete line"
            acl.rules.append(unknown_rule(position, line.text, remark, origin, why, self._services_seen))

    def _ace(self, t: list[str], position: int, text: str, remark: str, origin: Origin) -> list[Rule]:
        if len(t) < 3 or t[0] not in ("permit", "deny"):
            raise Unparsed("expected permit or deny")
        action = Action.PERMIT if t[0] == "permit" else Action.DENY
        services, port_protos, i = self._ace_services(t, 1)
        self._services_seen = services
        options = AceOptions()
        ends = read_endpoints(t, i, services, port_protos, self._address, self._ports, options, self._identity)
        read_options(t, ends.end, _OPTIONS, options)
        return ace_rules(position, action, ends.services, ends.src, ends.dst, text, remark, origin,
                         narrower="; ".join(options.narrower), never=options.never)

    def _ace_services(self, t: list[str], i: int) -> tuple[Services, tuple[Interval, ...] | None, int]:
        """The entry's protocol or service (a name, number, `object` or `object-group`); the protocols whose
        ports may follow its addresses (None: no port words there); the index after it."""
        if t[i] == "object-group":
            name = t[i + 1]
            kind = self.group_kind.get(name, ("", ""))[0]
            if kind not in ("protocol", "service") or self._is_port_group(name):
                return Services([], f"object-group {name} is not a defined protocol or service group"), None, i + 2
            services = self.service_group(name)
            port_protos = None
            if kind == "protocol" and not services.unknown:
                protos = tuple(p for s in services.items for p in s.protos)
                port_protos = protos if ported(protos) else None
            return services, port_protos, i + 2
        if t[i] == "object":
            return self.service_object(t[i + 1]), None, i + 2
        protos = protocol(t[i], ASA_PROTOCOLS)
        return Services([Service(protos)]), protos if ported(protos) else None, i + 1

    def _identity(self, t: list[str], i: int, options: AceOptions) -> int:
        """User and security-group matches before an address: they narrow the entry to some clients, which
        the audit does not know."""
        found = []
        while i < len(t) and t[i] in _IDENTITY:
            n = _IDENTITY[t[i]]
            found.append(" ".join(t[i:i + 1 + n]))
            i += 1 + n
        if found:
            options.narrower.append(f"identity match ({', '.join(found)}) is not modelled")
        return i

    def _address(self, t: list[str], i: int) -> tuple[Addr, int]:
        if i >= len(t):
            raise Unparsed("missing address")
        tok = t[i]
        if tok == "any":
            return Addr(list(ANY_ADDRS)), i + 1
        if tok == "any4":
            return Addr([ANY_V4]), i + 1
        if tok == "any6":
            return Addr([ANY_V6]), i + 1
        if tok == "host" and i + 1 < len(t):
            return Addr([self._ip(t[i + 1])]), i + 2
        if tok == "interface" and i + 1 < len(t):
            iface = self.cfg.interface(t[i + 1])
            if iface is None:
                return Addr([], f"interface {t[i + 1]} is not defined"), i + 2
            if iface.dynamic or not iface.addresses:
                return Addr([], f"interface {t[i + 1]} has no address in the configuration"), i + 2
            return Addr(list(iface.addresses)), i + 2
        if tok in ("object", "object-group") and i + 1 < len(t):
            where = "object" if tok == "object" else "group"
            return self._network(t[i + 1], where, frozenset()), i + 2
        if "/" in tok:
            return Addr([prefix_interval(tok)]), i + 1
        if i + 1 < len(t) and (is_ip(tok) or tok in self.names) and is_ip(t[i + 1]):
            return Addr([netmask_interval(self._name_ip(tok), t[i + 1])]), i + 2
        raise Unparsed(f"unexpected address '{tok}'")

    def _ports(self, t: list[str], i: int, protos: tuple[Interval, ...]) -> tuple[list[Interval] | None, int]:
        if t[i] in PORT_OPERATORS:
            return PORTS.operator(t, i, protos)
        if t[i] == "object-group" and i + 1 < len(t) and self._is_port_group(t[i + 1]):
            ports, _kind, why = self.port_group(t[i + 1])
            if why:
                raise Unparsed(why)
            return ports, i + 2
        if t[i] == "object-group" and i + 1 < len(t) and self.group_kind.get(t[i + 1]) == ("service", ""):
            return self._service_group_ports(t[i + 1], protos), i + 2
        return None, i

    def _service_group_ports(self, name: str, protos: tuple[Interval, ...]) -> list[Interval]:
        """A service group declared without a protocol (`object-group service NAME`) in the port position: the
        ports of its members for the entry's protocol (`service-object tcp destination eq 80`); members of other
        protocols match nothing here. A member that restricts the source port, or names no port for a
        protocol with ports, is not a port list: unknown."""
        group = self.service_group(name)
        if group.unknown:
            raise Unparsed(group.unknown)
        wanted = set(proto_intervals([p for lo, hi in protos for p in range(lo, hi + 1)]))
        ports: list[Interval] = []
        for item in group.items:
            if not set(item.protos) & wanted:
                continue
            if not set(item.protos) <= wanted or item.sport != (ANY_PORT,):
                raise Unparsed(f"service object-group {name} in the port position holds a member that is not a "
                               "destination port of this protocol")
            ports += item.dport
        if not ports:
            raise Unparsed(f"service object-group {name} holds no port of this entry's protocol")
        return ports

    # NAT ----------------------------------------------------------------------------------------------------
    def _nat(self, twice: list[Line], object_nats: list[tuple[Line, Line]], statics: list[Line]) -> None:
        first: list[NatEntry] = []
        after: list[NatEntry] = []
        for line in twice:
            entry, is_after = self._twice_nat(line)
            if entry is not None:
                (after if is_after else first).append(entry)
            forward = self._twice_forward(line)
            if forward is not None:
                (after if is_after else first).append(forward)
        objects: list[NatEntry] = []
        for obj, nat in object_nats:
            entry = self._object_nat(obj, nat)
            if entry is not None:
                objects.append(entry)
        # Section 2 order: static rules, more specific (fewer real addresses) first.
        # An object NAT we could not read may be the more specific one: it goes first (never a guess).
        objects.sort(key=lambda e: -1 if e.unknown else sum(hi - lo + 1 for lo, hi in e.real))
        legacy = [e for e in (self._legacy_static(line) for line in statics) if e is not None]
        self.cfg.nat = legacy + first + objects + after

    def _ifaces(self, token: str) -> tuple[str | None, str | None]:
        m = re.fullmatch(r"\(([^,()]+),([^,()]+)\)", token)
        if not m:
            raise Unparsed(f"bad interface pair {token}")
        real, mapped = m.group(1), m.group(2)
        return (None if real == "any" else real), (None if mapped == "any" else mapped)

    def _object_nat(self, obj: Line, nat: Line) -> NatEntry | None:
        name = obj.text.split()[2]
        parts = nat.text.split()
        text = f"{obj.text}: {nat.text}"
        if parts[0] != "nat":
            return NatEntry(text, nat.number, [], [], unknown=f"{self.path} line {nat.number} not understood: "
                                                             f"'{parts[0]}' is no command of object network {name} "
                                                             "(a NAT statement cut or mistyped?)")
        try:
            i = 1
            real_if = mapped_if = None
            if i < len(parts) and parts[i].startswith("("):
                real_if, mapped_if = self._ifaces(parts[i])
                i += 1
            if i < len(parts) and parts[i] == "dynamic":
                return None  # dynamic NAT/PAT: outbound only
            if i >= len(parts) or parts[i] != "static":
                raise Unparsed(f"expected 'static' or 'dynamic', found '{parts[i] if i < len(parts) else ''}'")
            i += 1
            real = self.network(name) if self.object_kind.get(name) == "network" else \
                Addr([], f"{name} is not a network object")
            entry = NatEntry(text, nat.number, [], real.intervals, real_if, mapped_if)
            if parts[i] == "interface":
                entry.mapped_interface = mapped_if or ""
                i += 1
                if i < len(parts) and parts[i] == "ipv6":
                    i += 1
            else:
                mapped = self._nat_address(parts[i])
                entry.mapped = mapped.intervals
                if mapped.unknown:
                    entry.unknown = mapped.unknown
                i += 1
            if real.unknown:
                entry.unknown = real.unknown
            while i < len(parts):
                tok = parts[i]
                if tok in ("net-to-net", "dns", "no-proxy-arp", "route-lookup"):
                    entry.no_arp = entry.no_arp or (tok if tok == "no-proxy-arp" else "")
                    i += 1
                elif tok == "service" and i + 3 < len(parts):
                    protos = protocol(parts[i + 1], ASA_PROTOCOLS)
                    entry.proto = protos
                    entry.real_ports = [_single(PORTS.port(parts[i + 2], protos))]
                    entry.mapped_ports = [_single(PORTS.port(parts[i + 3], protos))]
                    i += 4
                else:
                    raise Unparsed(f"unexpected '{tok}'")
            return entry
        except (Unparsed, IndexError) as exc:
            return NatEntry(text, nat.number, [], [], unknown=f"{self.path} line {nat.number} not understood: "
                                                             f"{exc or 'incomplete'}")

    def _nat_address(self, token: str) -> Addr:
        if is_ip(token):
            return Addr([host(token)])
        if token in self.names:
            return Addr([host(self.names[token])])
        if token in self.objects:
            return self._network(token, "object", frozenset())
        if token in self.groups:
            return self._network(token, "group", frozenset())
        if token == "any":
            return Addr(list(ANY_ADDRS))
        return Addr([], f"NAT names '{token}', which is not defined")

    def _twice_nat(self, line: Line) -> tuple[NatEntry | None, bool]:
        parts = line.text.split()
        after = False
        if len(parts) >= 4 and re.fullmatch(r"\([^,()]+\)", parts[1]) and parts[2].isdigit() \
                and "outside" not in parts[3:]:
            # Pre-8.3 `nat (real_ifc) nat_id real_ip [mask] ...` with `global`: dynamic NAT/PAT, outbound only; id 0
            # (`nat (IF) 0 access-list ACL`, NAT exemption): nothing is translated. Neither exposes a server nor
            # translates a client. `... outside` (outside NAT) translates the clients: not read (unknown).
            return None, after
        try:
            i = 1
            real_if = mapped_if = None
            if parts[i].startswith("("):
                real_if, mapped_if = self._ifaces(parts[i])
                i += 1
            if parts[i].isdigit():
                i += 1
            if parts[i] == "after-auto":
                after = True
                i += 1
                if parts[i].isdigit():
                    i += 1
            if parts[i] != "source":
                raise Unparsed(f"unexpected '{parts[i]}'")
            if parts[i + 1] != "static":
                return None, after  # dynamic: outbound only
            real = self._nat_address(parts[i + 2])
            if parts[i + 3] == "interface":
                entry = NatEntry(line.text, line.number, [], real.intervals, real_if, mapped_if,
                                 mapped_interface=mapped_if or "")
            else:
                mapped = self._nat_address(parts[i + 3])
                entry = NatEntry(line.text, line.number, mapped.intervals, real.intervals, real_if, mapped_if)
                entry.unknown = mapped.unknown
            entry.unknown = entry.unknown or real.unknown
            i += 4
            while i < len(parts):
                tok = parts[i]
                if tok == "destination" and parts[i + 1] == "static":
                    mapped_dst = self._nat_address(parts[i + 2])
                    real_dst = self._nat_address(parts[i + 3])
                    if mapped_dst.unknown or real_dst.unknown:
                        entry.unknown = mapped_dst.unknown or real_dst.unknown
                    # inbound: clients are the "real destination"; they appear as the "mapped" one
                    entry.peers, entry.peers_as = real_dst.intervals, mapped_dst.intervals
                    i += 4
                elif tok == "service":
                    self._twice_service(entry, parts[i + 1], parts[i + 2])
                    i += 3
                elif tok in ("net-to-net", "dns", "no-proxy-arp", "route-lookup"):
                    entry.no_arp = entry.no_arp or (tok if tok == "no-proxy-arp" else "")
                    i += 1
                elif tok in ("unidirectional", "inactive"):
                    return None, after  # no inbound translation / not in effect
                elif tok == "description":
                    break
                else:
                    raise Unparsed(f"unexpected '{tok}'")
            if _is_identity(entry):
                return None, after  # identity NAT (e.g. VPN no-NAT): does not expose anything new
            return entry, after
        except (Unparsed, IndexError) as exc:
            return NatEntry(line.text, line.number, [], [], unknown=f"{self.path} line {line.number} not "
                                                                     f"understood: {exc or 'incomplete'}"), after

    def _twice_forward(self, line: Line) -> NatEntry | None:
        """A twice NAT's forward direction, for connections that start on its real interface: `nat (REAL_IF,
        MAPPED_IF) source static|dynamic SRC MAPPED_SRC destination static MAPPED_DST REAL_DST` sends SRC's traffic
        to MAPPED_DST on to REAL_DST (ASA firewall guide, "Twice NAT"). With REAL_IF outside it publishes REAL_DST
        at MAPPED_DST; `source dynamic` also hides the clients behind MAPPED_SRC. None when the line has no
        destination translation or translates nothing new (VPN no-NAT rules); `_twice_nat` reads the reverse
        direction. The inbound access-list names real addresses: the clients' own, so the entry leaves them as
        they are and records that the server sees them translated (`hides_clients`)."""
        parts = line.text.split()
        if "description" in parts:  # free text follows
            parts = parts[:parts.index("description")]
        if "destination" not in parts or "inactive" in parts:
            return None
        try:
            real_if, mapped_if = self._ifaces(parts[1]) if parts[1].startswith("(") else (None, None)
            i = parts.index("source")
            kind, src, src_as = parts[i + 1], parts[i + 2], parts[i + 3]
            j = parts.index("destination")
            if parts[j + 1] != "static":
                raise Unparsed(f"destination {parts[j + 1]} is not modelled")
            mapped_tok, real_tok = parts[j + 2], parts[j + 3]
            hides = ""
            if kind == "dynamic":
                what = "pat-pool " + parts[i + 4] if src_as == "pat-pool" else \
                    f"the {mapped_if or 'egress'} interface address" if src_as == "interface" else src_as
                hides = f"source dynamic {src}: translated to {what}"
            elif kind != "static":
                raise Unparsed(f"source {kind} is not modelled")
            if mapped_tok == real_tok and not hides:
                return None  # identity both ways: exposes nothing
            peers = self._nat_address(src)
            real = self._nat_address(real_tok)
            entry = NatEntry(line.text, line.number, [], real.intervals, mapped_if, real_if, peers=peers.intervals,
                             hides_clients=hides)
            if mapped_tok == "interface":
                entry.mapped_interface = real_if or ""
            else:
                mapped = self._nat_address(mapped_tok)
                entry.mapped = mapped.intervals
                entry.unknown = mapped.unknown
            entry.unknown = entry.unknown or real.unknown or peers.unknown
            if "service" in parts[j:]:
                k = parts.index("service", j)
                self._forward_service(entry, parts[k + 1], parts[k + 2])
            if "no-proxy-arp" in parts:
                entry.no_arp = "no-proxy-arp"
            return entry
        except (Unparsed, IndexError, ValueError) as exc:
            return NatEntry(line.text, line.number, [], [], unknown=f"{self.path} line {line.number} not "
                                                                     f"understood: {exc or 'incomplete'}")

    def _forward_service(self, entry: NatEntry, first_name: str, second_name: str) -> None:
        """`service FIRST SECOND` in the forward direction: the client sends to FIRST's destination port, which
        becomes SECOND's (the first object holds the real source port and the mapped destination port, the
        second the mapped source port and the real destination port)."""
        first, second = self.service_object(first_name), self.service_object(second_name)
        if first.unknown or second.unknown or len(first.items) != 1 or len(second.items) != 1:
            entry.unknown = first.unknown or second.unknown or "NAT service objects not understood"
            return
        a, b = first.items[0], second.items[0]
        if a.protos != b.protos or a.sport != (ANY_PORT,) or (a.dport == (ANY_PORT,)) != (b.dport == (ANY_PORT,)):
            entry.unknown = f"service {first_name}/{second_name}: this port translation is not modelled"
            return
        entry.proto = a.protos
        if a.dport != (ANY_PORT,):
            entry.mapped_ports, entry.real_ports = list(a.dport), list(b.dport)

    def _twice_service(self, entry: NatEntry, first_name: str, second_name: str) -> None:
        """`service FIRST SECOND` of a twice NAT. ASA configuration guide, "Twice NAT": the first object holds the
        real source port and the mapped destination port, the second the mapped source port and the real
        destination port. The source is the real host (the server), the destination the peer (the client):
        inbound, a client sends from the real destination port to the mapped source port, and leaves with the
        mapped destination port toward the real source port."""
        first, second = self.service_object(first_name), self.service_object(second_name)
        if first.unknown or second.unknown or len(first.items) != 1 or len(second.items) != 1:
            entry.unknown = first.unknown or second.unknown or "NAT service objects not understood"
            return
        a, b = first.items[0], second.items[0]
        if a.protos != b.protos:
            entry.unknown = f"service {first_name}/{second_name}: the objects name different protocols"
            return
        entry.proto = a.protos
        if a.sport != (ANY_PORT,) or b.sport != (ANY_PORT,):
            entry.real_ports, entry.mapped_ports = list(a.sport), list(b.sport)
        if a.dport != (ANY_PORT,) or b.dport != (ANY_PORT,):
            entry.peer_ports, entry.peer_ports_as = list(b.dport), list(a.dport)

    def _legacy_static(self, line: Line) -> NatEntry | None:
        """Pre-8.3 `static (real_if,mapped_if) [tcp|udp] MAPPED [PORT] REAL [PORT] [netmask M] ...`."""
        parts = line.text.split()
        try:
            real_if, mapped_if = self._ifaces(parts[1])
            i = 2
            entry = NatEntry(line.text, line.number, [], [], real_if, mapped_if)
            policy = "access-list" in parts
            if parts[i] in ("tcp", "udp"):
                protos = protocol(parts[i], ASA_PROTOCOLS)
                entry.proto = protos
                mapped_tok, mport = parts[i + 1:i + 3]
                entry.mapped_ports = [_single(PORTS.port(mport, protos))]
                if policy:
                    real_tok, i = "", i + 3
                else:
                    real_tok, rport = parts[i + 3:i + 5]
                    entry.real_ports = [_single(PORTS.port(rport, protos))]
                    i += 5
            else:
                mapped_tok, real_tok = parts[i], ("" if policy else parts[i + 1])
                i += 1 if policy else 2
            if policy:
                if parts[i] != "access-list":
                    raise Unparsed(f"unexpected '{parts[i]}'")
                self._policy_static(entry, mapped_tok, parts[i + 1])
                i += 2
            mask = "255.255.255.255"
            while i < len(parts):
                if parts[i] == "netmask":
                    mask = parts[i + 1]
                    i += 2
                elif parts[i] == "route-map":
                    raise Unparsed("static NAT by route-map is not modelled")
                elif parts[i].isdigit() or parts[i] in ("norandomseq", "dns", "nailed", "tcp", "udp"):
                    i += 1
                else:
                    raise Unparsed(f"unexpected '{parts[i]}'")
            if policy:
                return entry
            entry.real = [netmask_interval(self._name_ip(real_tok), mask)]
            if mapped_tok == "interface":
                entry.mapped_interface = mapped_if or ""
            else:
                entry.mapped = [netmask_interval(self._name_ip(mapped_tok), mask)]
            return entry
        except (Unparsed, IndexError, ValueError) as exc:
            return NatEntry(line.text, line.number, [], [], unknown=f"{self.path} line {line.number} not "
                                                                     f"understood: {exc or 'incomplete'}")

    def _policy_static(self, entry: NatEntry, mapped_tok: str, acl_name: str) -> None:
        """Pre-8.3 policy static NAT (`static (in,out) MAPPED access-list ACL`): the list's source addresses are
        the real ones, translated to MAPPED (a block of the same size) when the destination is one the list
        names; inbound, those destinations are the clients it applies to (ASA 8.2 configuration guide, "Policy
        NAT"). Only `permit ip` entries are modelled; a list that names protocols or ports is unknown."""
        acl = self.cfg.acls.get(acl_name)
        if acl is None or not acl.rules:
            raise Unparsed(f"access-list {acl_name} of the policy NAT is not defined")
        real: list[Interval] = []
        peers: list[Interval] = []
        for rule in acl.rules:
            if rule.action is not Action.PERMIT or not rule.certain:
                raise Unparsed(f"access-list {acl_name} of the policy NAT holds '{rule.text}' (only certain "
                               "`permit ip` entries are modelled)")
            for src, dst, proto, sport, dport in rule.match:
                if proto != ANY_PROTO or sport != ANY_PORT or dport != ANY_PORT:
                    raise Unparsed(f"access-list {acl_name} of the policy NAT names protocols or ports "
                                   "(not modelled)")
                real.append(src)
                peers.append(dst)
        entry.real, entry.peers = merge_intervals(real), merge_intervals(peers)
        if mapped_tok == "interface":
            entry.mapped_interface = entry.mapped_iface or ""
            return
        start = self._ip(mapped_tok)[0]
        size = sum(hi - lo + 1 for lo, hi in entry.real)
        entry.mapped = [(start, start + size - 1)]


def _log_option(t: list[str], i: int, options: AceOptions) -> int | None:
    """`log [level] [interval secs] | log disable | log default`: no effect on the match."""
    if t[i] != "log":
        return None
    i += 1
    while i < len(t) and (t[i].isdigit() or t[i] in LOG_LEVELS or t[i] in ("disable", "default")):
        i += 1
    if i + 1 < len(t) and t[i] == "interval":
        i += 2
    return i


def _inactive_option(t: list[str], i: int, options: AceOptions) -> int | None:
    if t[i] != "inactive":
        return None
    options.never = "inactive: matches nothing"
    return i + 1


def _icmp_group_option(t: list[str], i: int, options: AceOptions) -> int | None:
    if not options.icmp or t[i] != "object-group" or i + 1 >= len(t):
        return None
    options.narrower.append(f"ICMP types of object-group {t[i + 1]} are not modelled")
    return i + 2


def _icmp_type_option(t: list[str], i: int, options: AceOptions) -> int | None:
    if not options.icmp or not re.fullmatch(r"[a-z0-9-]+", t[i]):
        return None
    options.narrower.append(f"ICMP type/code {t[i]} is not modelled")
    return i + 1


# The words an ASA extended entry may end with, in the order they are tried.
_OPTIONS = (_log_option, time_range_option, _inactive_option, _icmp_group_option, _icmp_type_option)


class _Narrower(Unparsed):
    """A service understood except for a detail that makes it narrower (ICMP type)."""

    def __init__(self, message: str, services: list[Service]) -> None:
        super().__init__(message)
        self.services = services


def _single(port: int) -> Interval:
    return (port, port)


def _is_identity(entry: NatEntry) -> bool:
    return (not entry.unknown and entry.mapped_interface is None and entry.mapped == entry.real
            and entry.proto is None)


def _prefix_length(prefix: Interval) -> int:
    size = prefix[1] - prefix[0] + 1
    bits = size.bit_length() - 1
    total = 32 if prefix[0] >= (1 << 128) else 128
    return total - bits

