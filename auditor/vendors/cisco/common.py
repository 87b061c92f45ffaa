"""What ASA and IOS parsing share: the line tree, value types, name tables and token helpers.

The line tree comes from ciscoconfparse 1.9 (`factory=False`: its ASA/IOS "models" raise on common ACE
forms, so we only use parent/child structure and parse every line that decides a path ourselves).
ciscoconfparse installs a loguru sink on stdout at import; we remove it so JSON output stays clean.

Addresses are intervals in the packet engine's address space (see auditor.packets). A value that cannot be
resolved (an undefined object, an FQDN, a token we do not know) is never guessed: resolvers return what is
known plus the reason the rest is unknown, and the caller turns that into an uncertain rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from auditor.errors import Unreadable
from auditor.model import Action, Origin, Rule
from auditor.packets import (
    ALL,
    ANY_ADDR,
    ANY_PORT,
    ANY_PROTO,
    ANY_V4,
    ANY_V6,
    MAX_BOXES,
    PORTED_PROTOCOLS,
    V4_BASE,
    Interval,
    PacketSet,
    hull,
    product_size,
)

if TYPE_CHECKING:
    from auditor.vendors.cisco.lines import Review
    from auditor.vendors.cisco.local import LocalConfig

# --- the line tree ----------------------------------------------------------------------------------------
_silenced = False


def _silence_loguru() -> None:
    """ciscoconfparse 1.9 logs INFO lines to stdout (and tracebacks via @logger.catch); drop its sinks."""
    global _silenced
    if _silenced:
        return
    import ciscoconfparse  # noqa: F401  (importing installs its sinks; they must exist before removal)
    from loguru import logger

    logger.remove()
    logger.disable("ciscoconfparse")
    _silenced = True


@dataclass(slots=True)
class Line:
    """One configuration line: stripped text, 1-based file line number, children (indented lines)."""

    text: str
    number: int
    children: list[Line] = field(default_factory=list)


def line_tree(text: str, syntax: str) -> list[Line]:
    """Top-level lines with their children, from ciscoconfparse's parent/child tree.

    Lines are passed as a list with blank lines kept, so ciscoconfparse's 0-based `linenum` is the file
    line number minus one (its default would drop blank lines and drift).
    """
    _silence_loguru()
    from ciscoconfparse import CiscoConfParse

    raw = text.splitlines()
    try:
        parse = CiscoConfParse(config=raw, syntax=syntax, ignore_blank_lines=False, factory=False)
    except ValueError:
        # ciscoconfparse pairs `{` / `}` lines and raises on a `}` with no opener (a banner or script body):
        # such a line is no command either way, so read it as a comment (same line count, same numbers).
        raw = ["!" + line if line.lstrip().startswith("}") else line for line in raw]
        parse = CiscoConfParse(config=raw, syntax=syntax, ignore_blank_lines=False, factory=False)
    out: list[Line] = []
    for obj in parse.objs:
        if obj.parent is not obj:
            continue
        body = obj.text.strip()
        if not body or body.startswith("!"):
            continue
        out.append(Line(body, obj.linenum + 1, _children(obj)))
    return out


def numbers(line: Line) -> list[int]:
    """The file lines of a line and everything under it."""
    out = [line.number]
    for child in line.children:
        out += numbers(child) if child.children else [child.number]
    return out


def _children(obj: Any) -> list[Line]:
    kids = []
    for child in obj.children:
        body = child.text.strip()
        if body and not body.startswith("!"):
            kids.append(Line(body, child.linenum + 1, _children(child) if child.children else []))
    return kids


# --- values -----------------------------------------------------------------------------------------------
class Unparsed(Unreadable, ValueError):
    """Tokens we do not understand; the message says what, for the reason of an unknown rule."""


@dataclass(slots=True)
class Addr:
    """An address value: known intervals, and why part of it is unknown (empty when fully known)."""

    intervals: list[Interval]
    unknown: str = ""


@dataclass(frozen=True, slots=True)
class Service:
    """Protocols with source and destination ports (ports are ANY_PORT for portless protocols)."""

    protos: tuple[Interval, ...]
    sport: tuple[Interval, ...] = (ANY_PORT,)
    dport: tuple[Interval, ...] = (ANY_PORT,)


ANY_SERVICE = Service((ANY_PROTO,))


@dataclass(slots=True)
class Services:
    items: list[Service]
    unknown: str = ""


def packets_of(services: list[Service], src: list[Interval], dst: list[Interval]) -> PacketSet:
    """The packets an ACE with these services and addresses matches.

    Built directly as a product of disjoint pieces (merged addresses x disjoint service boxes) rather
    than by unions of packet sets: a 5,000-line ACL is built in a fraction of the parse time this way.
    """
    if not src or not dst or not services:
        return PacketSet()
    triples = _disjoint_services(tuple(services))
    srcs, dsts = merge_intervals(src), merge_intervals(dst)
    return PacketSet([(s, d, p, sp, dp) for p, sp, dp in triples for s in srcs for d in dsts])


@lru_cache(maxsize=4096)
def _disjoint_services(services: tuple[Service, ...]) -> tuple[tuple[Interval, Interval, Interval], ...]:
    """(protocol, source port, destination port) boxes covering the services exactly once each."""
    pinned: list[Interval] = [(0, 0)]
    union = PacketSet()
    for svc in services:
        part = PacketSet.of(pinned, pinned, svc.protos, svc.sport, svc.dport)
        union = part if not union else union | part
    return tuple((proto, sport, dport) for _src, _dst, proto, sport, dport in union)


def layer3(services: Services, *, ported_items: bool = True) -> Services:
    """The services as a non-initial IP fragment meets them: by protocol alone, since it carries no Layer 4
    header. `ported_items=False` leaves out the items that name ports."""
    items: dict[Service, None] = {}
    for svc in services.items:
        if not ported_items and (svc.sport != (ANY_PORT,) or svc.dport != (ANY_PORT,)):
            continue
        items[Service(svc.protos)] = None
    return Services(list(items), services.unknown)


def merge_intervals(intervals: list[Interval]) -> list[Interval]:
    """Sorted, non-overlapping, non-adjacent intervals covering the same values."""
    merged: list[Interval] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


def subtract_intervals(intervals: list[Interval], taken: list[Interval]) -> list[Interval]:
    """`intervals` minus `taken` (both merged), as merged intervals."""
    out: list[Interval] = []
    for lo, hi in intervals:
        cur = lo
        for tlo, thi in taken:
            if thi < cur or tlo > hi:
                continue
            if tlo > cur:
                out.append((cur, tlo - 1))
            cur = max(cur, thi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return out


def host(text: str) -> Interval:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        raise Unparsed(f"'{text}' is not an address") from None
    base = V4_BASE if addr.version == 4 else 0
    return (base + int(addr), base + int(addr))


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def netmask_interval(addr: str, mask: str) -> Interval:
    """`10.0.0.0 255.255.255.0` (ASA ACEs, object-groups, IOS NAT): a contiguous netmask."""
    try:
        net = ipaddress.IPv4Network(f"{addr}/{mask}", strict=False)
    except ValueError:
        raise Unparsed(f"'{addr} {mask}' is not an address with a contiguous netmask") from None
    return (V4_BASE + int(net.network_address), V4_BASE + int(net.broadcast_address))


WILDCARD_BITS = 16  # scattered "don't care" bits a wildcard may have: 65,536 intervals at most


def wildcard_intervals(addr: str, wildcard: str) -> list[Interval]:
    """`10.0.0.0 0.0.0.255` (IOS ACEs): wildcard bits, evaluated exactly. A non-contiguous wildcard
    (`0.0.255.0`, `0.255.0.255`) is one interval per combination of its "don't care" bits above the lowest
    fixed bit; beyond WILDCARD_BITS such bits (a netmask written where a wildcard belongs, 255.255.255.0, is
    24) the entry cannot be built exactly and is refused (its addresses are then unknown)."""
    try:
        base = int(ipaddress.IPv4Address(addr))
        wild = int(ipaddress.IPv4Address(wildcard))
    except ValueError:
        raise Unparsed(f"'{addr} {wildcard}' is not an address and wildcard") from None
    low_run = wild & ~(wild + 1)  # the trailing block of ones: one interval
    high = wild & ~low_run  # remaining "don't care" bits: one interval per combination
    base &= ~wild & 0xFFFFFFFF
    bits = [1 << i for i in range(32) if high >> i & 1]
    if len(bits) > WILDCARD_BITS:
        raise Unparsed(f"wildcard {wildcard} has {len(bits)} scattered bits: {1 << len(bits):,} address ranges, "
                       "too many to evaluate exactly")
    out = []
    for combo in range(1 << len(bits)):
        start = base
        for i, bit in enumerate(bits):
            if combo >> i & 1:
                start |= bit
        out.append((V4_BASE + start, V4_BASE + start + low_run))
    return sorted(out)


def prefix_interval(text: str) -> Interval:
    """`2001:db8::/32` or `10.0.0.0/8`."""
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise Unparsed(f"'{text}' is not a prefix") from None
    base = V4_BASE if net.version == 4 else 0
    return (base + int(net.network_address), base + int(net.broadcast_address))


def read_address(iface: Interface, tokens: list[str]) -> bool:
    """`ip address A MASK [secondary | standby B]` or `ip address A/LEN [...]` on an interface: its address
    and connected network. False when the address or mask cannot be read (nothing is added then)."""
    if not tokens:
        return False
    try:
        if "/" in tokens[0]:
            net = ipaddress.IPv4Interface(tokens[0])
            if net.network.prefixlen == 0:
                return False
            subnet = prefix_interval(str(net.network))
            rest = tokens[1:]
        else:
            subnet = netmask_interval(tokens[0], tokens[1])
            rest = tokens[2:]
        address = host(tokens[0].split("/")[0])
    except (Unparsed, ValueError, IndexError):
        return False
    if rest and rest[0] not in ("secondary", "standby", "cluster-pool", "index"):
        return False
    iface.subnets.append(subnet)
    iface.addresses.append(address)
    return True


def read_ipv6_address(iface: Interface, tokens: list[str]) -> bool:
    """`ipv6 address P/LEN [eui-64 | anycast | standby ...]`, or a form that gives no global address the
    configuration holds (`autoconfig`, `dhcp`, `FE80::1 link-local`). False when it cannot be read."""
    if tokens[0] in ("autoconfig", "dhcp") or tokens[-1] == "link-local":
        return True
    if "/" not in tokens[0] or (len(tokens) > 1 and tokens[1] not in ("eui-64", "anycast", "standby", "cga")):
        return False
    try:
        subnet = prefix_interval(tokens[0])
        address = host(tokens[0].split("/")[0])
    except (Unparsed, ValueError):
        return False
    iface.subnets.append(subnet)
    if len(tokens) == 1 or tokens[1] != "eui-64":  # eui-64: the host part comes from the MAC address
        iface.addresses.append(address)
    return True


# --- protocols and ports ----------------------------------------------------------------------------------
# IP protocol keywords. `ip` (and ASA `ipsec`/`pptp` aliases) as shown by `show running-config`.
ASA_PROTOCOLS = {"ah": 51, "eigrp": 88, "esp": 50, "gre": 47, "icmp": 1, "icmp6": 58, "igmp": 2, "igrp": 9,
                 "ipinip": 4, "ipsec": 50, "nos": 94, "ospf": 89, "pcp": 108, "pim": 103, "pptp": 47,
                 "sctp": 132, "snp": 109, "tcp": 6, "udp": 17}
IOS_PROTOCOLS = {"ahp": 51, "eigrp": 88, "esp": 50, "gre": 47, "icmp": 1, "igmp": 2, "ipinip": 4, "nos": 94,
                 "ospf": 89, "pcp": 108, "pim": 103, "sctp": 132, "tcp": 6, "udp": 17}

# Port keywords as each platform prints them (device-measured tables: ASA 9.12, IOS 15.2 / IOS-XE 16.9).
# ASA has no keyword for 4500 or 1701 and IOS none for 443 or 1701: those stay numeric in configs.
ASA_TCP_PORTS = {
    "echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23,
    "smtp": 25, "whois": 43, "tacacs": 49, "domain": 53, "gopher": 70, "finger": 79, "www": 80, "http": 80,
    "hostname": 101, "pop2": 109, "pop3": 110, "sunrpc": 111, "ident": 113, "nntp": 119, "netbios-ssn": 139,
    "imap4": 143, "bgp": 179, "irc": 194, "ldap": 389, "https": 443, "pim-auto-rp": 496, "exec": 512,
    "login": 513, "rsh": 514, "cmd": 514, "lpd": 515, "talk": 517, "uucp": 540, "klogin": 543, "kshell": 544,
    "rtsp": 554, "ldaps": 636, "kerberos": 750, "lotusnotes": 1352, "citrix-ica": 1494, "sqlnet": 1521,
    "h323": 1720, "pptp": 1723, "nfs": 2049, "ctiqbe": 2748, "cifs": 3020, "sip": 5060, "aol": 5190,
    "pcanywhere-data": 5631,
}
ASA_UDP_PORTS = {
    "echo": 7, "discard": 9, "time": 37, "nameserver": 42, "tacacs": 49, "domain": 53, "bootps": 67,
    "bootpc": 68, "tftp": 69, "www": 80, "http": 80, "sunrpc": 111, "ntp": 123, "netbios-ns": 137,
    "netbios-dgm": 138, "snmp": 161, "snmptrap": 162, "xdmcp": 177, "dnsix": 195, "mobile-ip": 434,
    "pim-auto-rp": 496, "isakmp": 500, "biff": 512, "who": 513, "syslog": 514, "talk": 517, "rip": 520,
    "kerberos": 750, "radius": 1645, "radius-acct": 1646, "nfs": 2049, "cifs": 3020, "vxlan": 4789,
    "sip": 5060, "secureid-udp": 5510, "pcanywhere-status": 5632,
}
IOS_TCP_PORTS = {
    "echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "ftp-data": 20, "ftp": 21, "telnet": 23, "smtp": 25,
    "time": 37, "whois": 43, "tacacs": 49, "domain": 53, "gopher": 70, "finger": 79, "www": 80,
    "hostname": 101, "pop2": 109, "pop3": 110, "sunrpc": 111, "ident": 113, "nntp": 119, "msrpc": 135,
    "bgp": 179, "irc": 194, "pim-auto-rp": 496, "exec": 512, "login": 513, "cmd": 514, "lpd": 515,
    "talk": 517, "uucp": 540, "klogin": 543, "kshell": 544, "drip": 3949, "onep-plain": 15001,
    "onep-tls": 15002,
}
IOS_UDP_PORTS = {
    "echo": 7, "discard": 9, "time": 37, "nameserver": 42, "tacacs": 49, "domain": 53, "bootps": 67,
    "bootpc": 68, "tftp": 69, "sunrpc": 111, "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138,
    "netbios-ss": 139, "snmp": 161, "snmptrap": 162, "xdmcp": 177, "dnsix": 195, "mobile-ip": 434,
    "pim-auto-rp": 496, "isakmp": 500, "biff": 512, "who": 513, "syslog": 514, "talk": 517, "rip": 520,
    "ripv6": 521, "non500-isakmp": 4500,
}

TCP, UDP, SCTP = 6, 17, 132
PORT_OPERATORS = frozenset({"eq", "neq", "lt", "gt", "range"})


class PortNames:
    """Port keyword lookup for one platform."""

    def __init__(self, tcp: dict[str, int], udp: dict[str, int]) -> None:
        self.tcp, self.udp = tcp, udp

    def port(self, token: str, protos: tuple[Interval, ...]) -> int:
        """A port number from a number or a keyword valid for every protocol in `protos`."""
        if token.isdigit():
            value = int(token)
            if value > 65535:
                raise Unparsed(f"port {token} out of range")
            return value
        found = set()
        for proto in _proto_numbers(protos):
            table = self.tcp if proto == TCP else self.udp if proto == UDP else None
            if table is None or token not in table:
                raise Unparsed(f"unknown port name '{token}'")
            found.add(table[token])
        if len(found) != 1:
            raise Unparsed(f"port name '{token}' means different ports for tcp and udp")
        return found.pop()

    def operator(self, tokens: list[str], i: int, protos: tuple[Interval, ...],
                 multi: bool = False) -> tuple[list[Interval], int]:
        """Parse `eq|neq|lt|gt P` or `range A B` at tokens[i]; returns intervals and the next index.

        `multi` accepts IOS's several ports after `eq`/`neq` (named ACLs, non-contiguous ports).
        """
        op = tokens[i]
        if op == "range":
            if i + 2 >= len(tokens):
                raise Unparsed("range needs two ports")
            lo, hi = self.port(tokens[i + 1], protos), self.port(tokens[i + 2], protos)
            if lo > hi:
                raise Unparsed(f"empty port range {lo}-{hi}")
            return [(lo, hi)], i + 3
        if i + 1 >= len(tokens):
            raise Unparsed(f"'{op}' needs a port")
        ports = [self.port(tokens[i + 1], protos)]
        j = i + 2
        if multi and op in ("eq", "neq"):
            while j < len(tokens) and self._is_port(tokens[j], protos):
                ports.append(self.port(tokens[j], protos))
                j += 1
        if op == "eq":
            return sorted((p, p) for p in ports), j
        if op == "neq":
            return complement_ports(ports), j
        if op == "lt":
            if ports[0] == 0:
                raise Unparsed("lt 0 matches nothing")
            return [(0, ports[0] - 1)], j
        if op == "gt":
            if ports[0] == 65535:
                raise Unparsed("gt 65535 matches nothing")
            return [(ports[0] + 1, 65535)], j
        raise Unparsed(f"unknown port operator '{op}'")

    def _is_port(self, token: str, protos: tuple[Interval, ...]) -> bool:
        try:
            self.port(token, protos)
        except Unparsed:
            return False
        return True


def complement_ports(ports: list[int]) -> list[Interval]:
    out: list[Interval] = []
    start = 0
    for p in sorted(set(ports)):
        if p > start:
            out.append((start, p - 1))
        start = p + 1
    if start <= 65535:
        out.append((start, 65535))
    return out


def _proto_numbers(protos: tuple[Interval, ...]) -> Iterator[int]:
    for lo, hi in protos:
        yield from range(lo, hi + 1)


def ported(protos: tuple[Interval, ...]) -> bool:
    """Whether every protocol in `protos` has ports (tcp, udp, sctp), so port operators apply."""
    return all(lo == hi and lo in PORTED_PROTOCOLS for lo, hi in protos)


def proto_intervals(numbers: list[int]) -> tuple[Interval, ...]:
    return tuple((n, n) for n in sorted(set(numbers)))


def protocol(token: str, names: dict[str, int]) -> tuple[Interval, ...]:
    """`ip` (every protocol), `tcp-udp`, a keyword or a number 0-255."""
    if token == "ip":
        return (ANY_PROTO,)
    if token == "tcp-udp":
        return ((TCP, TCP), (UDP, UDP))
    if token.isdigit() and int(token) <= 255:
        value = int(token)
        return (ANY_PROTO,) if value == 0 else ((value, value),)
    if token in names:
        return ((names[token], names[token]),)
    raise Unparsed(f"unknown protocol '{token}'")


# --- misc -------------------------------------------------------------------------------------------------
ANY_ADDRS = [ANY_ADDR]

LOG_LEVELS = frozenset({"emergencies", "alerts", "critical", "errors", "warnings", "notifications",
                        "informational", "debugging"})


# --- the parsed device --------------------------------------------------------------------------------------
@dataclass(slots=True)
class Interface:
    name: str  # hardware name, e.g. GigabitEthernet0/1
    line: int
    nameif: str | None = None  # ASA logical name, the one ACLs and NAT refer to
    addresses: list[Interval] = field(default_factory=list)  # the interface's own addresses
    subnets: list[Interval] = field(default_factory=list)  # connected networks
    dynamic: str = ""  # "dhcp", "negotiated", ...: the address is not in the configuration
    security_level: int | None = None
    acl_in: tuple[str, int] | None = None  # (ACL name, line of the binding)
    acl_out: tuple[str, int] | None = None
    acl6_in: tuple[str, int] | None = None  # IOS `ipv6 traffic-filter`
    acl6_out: tuple[str, int] | None = None
    nat: str = ""  # IOS: "inside" | "outside" | "enable"
    vrf: str = ""  # IOS `vrf forwarding NAME`: the interface routes in that VRF, not the global table
    shutdown: bool = False
    unmodelled: list[tuple[str, int]] = field(default_factory=list)  # filters we do not evaluate (ZBF, ...)
    # CBAC `ip inspect NAME out`: inspects only what leaves through the interface (and opens the inbound list
    # for its return traffic), so it concerns the egress hop, never what enters there
    inspect_out: list[tuple[str, int]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.nameif or self.name


@dataclass(slots=True)
class AclDef:
    name: str
    line: int
    rules: list[Rule] = field(default_factory=list)  # in order
    kind: str = "extended"  # extended | standard | ipv6 | webtype | ethertype
    count: int = 0  # lines counted so far (ASA numbers remarks too)
    # IOS: entries a non-initial fragment meets otherwise than the packet it belongs to. Index of the entry's
    # first rule in `rules` -> (how many rules the entry has there, builder of the rules the fragment meets
    # instead). Built on demand: only the fragment check asks (see `fragment_rules`).
    fragment_view: dict[int, tuple[int, Callable[[], list[Rule]]]] = field(default_factory=dict)

    def fragment_rules(self) -> list[Rule]:
        """The entries in order as a non-initial fragment meets them (the parser says which differ)."""
        out: list[Rule] = []
        i = 0
        while i < len(self.rules):
            view = self.fragment_view.get(i)
            if view is None:
                out.append(self.rules[i])
                i += 1
            else:
                out += view[1]()
                i += view[0]
        return out


@dataclass(slots=True)
class NatEntry:
    """A static translation that lets connections from outside reach a real (inside) address.

    Inbound packets to `mapped` (optionally only `proto` / `mapped_ports`, only from `peers`) leave with
    destination `real` (and `real_ports`). An entry with `unknown` set was not understood: whatever it may
    translate (`mapped`, or every address when even that is unknown) becomes unknown.
    """

    text: str
    line: int
    mapped: list[Interval]
    real: list[Interval]
    real_iface: str | None = None  # interface label toward the real address; None: decided by routing
    mapped_iface: str | None = None  # interface label it applies on; None: any interface
    proto: tuple[Interval, ...] | None = None  # set for port forwards
    mapped_ports: list[Interval] | None = None
    real_ports: list[Interval] | None = None
    peers: list[Interval] | None = None  # twice NAT `destination static`: clients it applies to
    peers_as: list[Interval] | None = None  # ... and what those clients are translated to
    peer_ports: list[Interval] | None = None  # twice NAT destination service: the clients' source ports ...
    peer_ports_as: list[Interval] | None = None  # ... and what they are translated to
    mapped_interface: str | None = None  # mapped address is this interface's own address
    unknown: str = ""
    conditional: str = ""  # understood, but applies only under a condition we do not evaluate
    nvi: bool = False  # IOS NAT Virtual Interface (`ip nat source static`): between `ip nat enable` interfaces
    no_arp: str = ""  # ASA `no-proxy-arp`, IOS `no-alias`: the device does not answer ARP for the mapped address
    hides_clients: str = ""  # ASA twice NAT `source dynamic`: the clients' addresses are translated too (to what)


@dataclass(slots=True)
class SourceNat:
    """IOS dynamic inside source NAT (`ip nat inside source list ACL interface IF | pool P [overload]`):
    outbound packets the access-list permits leave from the interface's address or the pool's. `unknown`
    says why a line cannot be evaluated (a route-map, a form not read)."""

    text: str
    line: int
    acl: str = ""
    interface: str = ""
    pool: str = ""
    unknown: str = ""


@dataclass(slots=True)
class RouteDef:
    prefix: Interval
    length: int
    iface: str | None  # interface label, or None when only a next hop is given
    next_hop: Interval | None
    line: int
    text: str


@dataclass(slots=True)
class CiscoConfig:
    """What decides a VPN path through one ASA or IOS device, with file lines for every element."""

    platform: str  # "asa" | "ios"
    path: str  # snapshot-relative file
    hostname: str = ""
    version: str = ""
    pre83: bool = False  # ASA before 8.3: ACLs use mapped addresses, legacy `static` NAT
    interfaces: list[Interface] = field(default_factory=list)
    acls: dict[str, AclDef] = field(default_factory=dict)
    global_acl: tuple[str, int] | None = None  # ASA `access-group NAME global`
    nat: list[NatEntry] = field(default_factory=list)  # in the order the device evaluates them
    source_nat: list[SourceNat] = field(default_factory=list)  # IOS dynamic inside source NAT, config order
    nat_pools: dict[str, tuple[list[Interval], int]] = field(default_factory=dict)  # name -> (addresses, line)
    routes: list[RouteDef] = field(default_factory=list)
    same_security_inter: bool = False
    same_security_intra: bool = False
    dynamic_routing: list[int] = field(default_factory=list)  # lines of `router ospf|bgp|...`
    transparent: bool = False
    vpn_termination: dict[str, int] = field(default_factory=dict)  # interface label -> line: the device
    # itself terminates IKE there (ASA `crypto ikev2 enable outside`, IOS `crypto map` on the interface)
    unmodelled: list[tuple[int, str, str]] = field(default_factory=list)  # (line, text, why it matters)
    unreadable: list[tuple[int, str]] = field(default_factory=list)  # addressing the parser could not read
    # ASA `fragment chain N [interface]` in configuration order: (line, interface label or None for every
    # interface, N, text)
    fragment_chain: list[tuple[int, str | None, int, str]] = field(default_factory=list)
    lines: int = 0
    local: LocalConfig | None = None  # what the device does with traffic to itself (cisco_local)
    # Lines the parser read: understood, or made unknown (a rule, a NAT entry) where they matter. The review
    # (cisco_lines) accounts for the others.
    read: set[int] = field(default_factory=set)
    review: Review | None = None

    def interface(self, label: str) -> Interface | None:
        for iface in self.interfaces:
            if label in (iface.nameif, iface.name):
                return iface
        return None


# --- rules from parsed ACEs -------------------------------------------------------------------------------
# --- access-list entries: the reading ASA and IOS share -------------------------------------------------
@dataclass(slots=True)
class AceOptions:
    """What the words around an entry's addresses say about what it matches."""

    icmp: bool = False  # the entry matches ICMP: type and code words may follow its addresses
    narrower: list[str] = field(default_factory=list)  # conditions the model does not evaluate: uncertain
    never: str = ""  # why the entry matches no packet of a new connection
    layer3: list[str] = field(default_factory=list)  # the narrower conditions that read only the IP header
    layer4: bool = False  # an option reads the Layer 4 header, which only a packet's first fragment carries
    fragments: bool = False  # the entry matches only non-initial fragments


# Reads the option at t[i] into the options, returning the index after it; None: not this reader's option.
OptionReader = Callable[[list[str], int, AceOptions], "int | None"]


def read_options(t: list[str], i: int, readers: tuple[OptionReader, ...], options: AceOptions) -> None:
    """The words after an entry's addresses, each taken by the first reader that knows it (in the order the
    vendor's grammar tries them); a word none knows makes the entry unparsed."""
    while i < len(t):
        for reader in readers:
            after = reader(t, i, options)
            if after is not None:
                i = after
                break
        else:
            raise Unparsed(f"unexpected '{t[i]}'")


def time_range_option(t: list[str], i: int, options: AceOptions) -> int | None:
    """`time-range NAME`: the entry applies only while the range is active, which the audit does not know."""
    if t[i] != "time-range" or i + 1 >= len(t):
        return None
    options.narrower.append(f"active only during time-range {t[i + 1]}")
    options.layer3.append(options.narrower[-1])
    return i + 2


@dataclass(slots=True)
class Endpoints:
    """An entry's source and destination, and its services with the ports written after either."""

    src: Addr
    dst: Addr
    services: Services
    named_ports: bool  # a port expression followed an address
    end: int  # index of the first word after them


AddressReader = Callable[[list[str], int], tuple[Addr, int]]
Prefix = Callable[[list[str], int, AceOptions], int]  # reads what may precede an address; the index after it
PortsReader = Callable[[list[str], int, tuple[Interval, ...]], tuple["list[Interval] | None", int]]


def read_endpoints(t: list[str], i: int, services: Services, port_protos: tuple[Interval, ...] | None,
                   address: AddressReader, ports: PortsReader, options: AceOptions,
                   before: Prefix | None = None) -> Endpoints:
    """`source [ports] destination [ports]`; ports are read only for an entry whose protocols have them.
    `before` takes what the vendor allows ahead of each address (ASA identity matches), noting it. Also
    notes in `options` whether the entry is ICMP (type and code words may follow)."""
    found: list[tuple[Addr, list[Interval] | None]] = []
    for _side in (0, 1):
        if before is not None:
            i = before(t, i, options)
        addr, i = address(t, i)
        side_ports = None
        if port_protos is not None and i < len(t):
            side_ports, i = ports(t, i, port_protos)
        found.append((addr, side_ports))
    (src, sport), (dst, dport) = found
    if sport is not None or dport is not None:
        services = Services([Service(s.protos, tuple(sport or [ANY_PORT]), tuple(dport or [ANY_PORT]))
                             for s in services.items], services.unknown)
    options.icmp = any(s.protos in (((1, 1),), ((58, 58),)) for s in services.items)
    return Endpoints(src, dst, services, sport is not None or dport is not None, i)


def ace_rules(position: int, action: Action, services: Services, src: Addr, dst: Addr, text: str,
              comment: str, origin: Origin, narrower: str = "", never: str = "") -> list[Rule]:
    """The model rules for one ACE.

    `never`: the ACE cannot match a new connection's first packet (ASA `inactive`, IOS `established` or
    `fragments`): it stays in the list, matching nothing, so positions and explanations keep it.
    `narrower`: the ACE matches only part of what we model (time-range, ICMP type, TCP flags): uncertain.
    Unknown parts of services or addresses: the known part is certain, the rest uncertain.
    """
    if never:
        note = f"{comment} [{never}]" if comment else f"[{never}]"
        return [Rule(position, action, PacketSet(), text, note, origin)]
    src, dst = _family_source(src, dst)
    where = f"{origin.path} line {origin.line}"
    size = product_size(src.intervals, dst.intervals) * len(_disjoint_services(tuple(services.items)))
    if size > MAX_BOXES:  # e.g. two object-groups of thousands of hosts: exact, this one line would not finish
        bounds = packets_of(services.items if not services.unknown else [ANY_SERVICE],
                            hull(src.intervals if not src.unknown else ANY_ADDRS),
                            hull(dst.intervals if not dst.unknown else ANY_ADDRS))
        return [Rule(position, action, bounds, text, comment, origin, certain=False,
                     reason=f"{where}: the entry expands to {size:,} address and service combinations; only its "
                            "bounds are evaluated, so what it decides inside them is unknown")]
    known = packets_of(services.items, src.intervals, dst.intervals)
    reasons = [r for r in (services.unknown, src.unknown, dst.unknown) if r]
    if narrower:
        maybe = packets_of(services.items if not services.unknown else [ANY_SERVICE],
                           src.intervals if not src.unknown else ANY_ADDRS,
                           dst.intervals if not dst.unknown else ANY_ADDRS)
        why = "; ".join([narrower, *reasons])
        return [Rule(position, action, maybe, text, comment, origin, certain=False, reason=f"{where}: {why}")]
    rules = []
    if known:
        rules.append(Rule(position, action, known, text, comment, origin))
    if reasons:
        maybe = packets_of(services.items if not services.unknown else [ANY_SERVICE],
                           src.intervals if not src.unknown else ANY_ADDRS,
                           dst.intervals if not dst.unknown else ANY_ADDRS)
        rest = maybe - known if known else maybe
        if rest:
            rules.append(Rule(position, action, rest, text, comment, origin, certain=False,
                              reason=f"{where}: {'; '.join(reasons)}"))
    if not rules:
        rules.append(Rule(position, action, PacketSet(), text, comment, origin))
    return rules


def _family_source(src: Addr, dst: Addr) -> tuple[Addr, Addr]:
    """A source of "every IPv4 (IPv6) address" means: packets of that family, whatever their source.

    Packets are classed by destination (a packet set may pair IPv6 sources with an IPv4 server, which no
    real packet does); so `any4` as a source becomes any source with the destination clipped to IPv4.
    Otherwise an impossible mixed-family packet would slip past `deny ip any4 any` and fake a verdict.
    """
    if src.unknown or len(src.intervals) != 1 or src.intervals[0] not in (ANY_V4, ANY_V6):
        return src, dst
    lo, hi = src.intervals[0]
    clipped = [(max(a, lo), min(b, hi)) for a, b in dst.intervals if a <= hi and lo <= b]
    return Addr([ANY_ADDR]), Addr(clipped, dst.unknown)


def unknown_rule(position: int, text: str, comment: str, origin: Origin, why: str,
                 services: Services | None) -> Rule:
    """An ACE we could not parse: UNKNOWN over everything it could match (its protocols when known)."""
    match = ALL
    if services is not None and not services.unknown and services.items:
        match = packets_of(services.items, ANY_ADDRS, ANY_ADDRS)
    return Rule(position, Action.UNKNOWN, match, text, comment, origin,
                reason=f"{origin.path} line {origin.line} not understood: {why}")
