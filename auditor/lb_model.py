"""The vendor-neutral load-balancer model and the UDP 500 / UDP 4500 persistence verdict.

Adapters (F5, KEMP, NetScaler, ...) turn each vendor's objects into `VirtualService`s on a
`LoadBalancer` device. Everything vendor-specific about *sharing* persistence records is expressed in
`Persistence` (`table`, `scope`, `require_identical`, `uncertain`), so one evaluator decides the verdict for
every vendor, following docs/semantics/load-balancers.md:

- `sticky`: one service covers both ports with client-IP persistence or a client-IP hash, or the two
  services share one client-IP record table and their backends have the same node addresses;
- `conditional`: deterministic client-IP hashing over identical, identically ordered backend lists;
- `split`: anything else (separate tables, no persistence, per-datagram balancing, differing nodes);
- `unknown`: the deciding behaviour is an iRule / policy expression, or undocumented (marked unverified in
  docs/semantics/load-balancers.md); the reason then says what to verify on the device.

The device is also a server-side hop: a VIP -> backends destination translation, and a drop for traffic
to a VIP port that no virtual service listens on.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from auditor.model import Action, Decision, Device, FilterHop, Hop, Origin, Rule, RuleList, Segment, VpnServer
from auditor.packets import (
    ALL,
    ANY_ADDR,
    ANY_PORT,
    ANY_PROTO,
    EMPTY,
    Interval,
    PacketSet,
    format_address_interval,
    network_interval,
)
from auditor.vocab import PersistenceVerdict

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

UDP = 17
TCP = 6
IKE_PORTS = (500, 4500)
SSTP_PORT = 443
MIN_PERSIST_SECONDS = 60  # docs/semantics/load-balancers.md: any value >= 60 s covers the 500 -> 4500 switch [I]

# The persistence verdict's members under the short names evaluate_pair and the adapters use
STICKY, CONDITIONAL, SPLIT, UNKNOWN = (PersistenceVerdict.STICKY, PersistenceVerdict.CONDITIONAL,
                                      PersistenceVerdict.SPLIT, PersistenceVerdict.UNKNOWN)

# Persistence kinds
SOURCE_IP = "source-ip"  # records keyed on the client address
NO_PERSIST = "none"
RULE = "rule"  # decided by a script or policy expression (iRule, NetScaler RULE): not analysed
OTHER = "other"  # cookie, SSL session, destination address, ...: nothing that ties a client's UDP flows

# Persistence scopes: which services using the same `table` see each other's records
SCOPE_SERVICE = "service"  # only this service
SCOPE_ADDRESS = "address"  # services with the same virtual address (F5 match-across-services, KEMP following)
SCOPE_DEVICE = "device"  # every service using the table (F5 match-across-virtuals, NetScaler lb group)

# The SSTP health probe published for Windows RRAS (docs/semantics/load-balancers.md, health monitors).
SSTP_PROBE_PATH = "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"


def origin_text(origin: Origin | None) -> str | None:
    return str(origin) if origin is not None else None


@dataclass(frozen=True, slots=True)
class Backend:
    """One backend (pool member, real server, service binding). Backends are compared by node address."""

    name: str
    address: str | None  # node IP; None when it is an unresolved name (FQDN node)
    port: int | None  # None: the client's destination port (wildcard / port 0 members)
    weight: int | None = None
    enabled: bool = True
    origin: Origin | None = None
    fqdn: str | None = None
    state: str = ""  # why a disabled backend takes no new clients, as the vendor says it

    @property
    def node(self) -> str:
        """What identifies the backend machine: its address, else the name it is known by."""
        return self.address or self.fqdn or self.name

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "address": self.address or self.fqdn, "port": self.port,
                "weight": self.weight, "enabled": self.enabled, "state": self.state or None,
                "origin": origin_text(self.origin)}


@dataclass(frozen=True, slots=True)
class Monitor:
    """A health monitor. `kind`: icmp, tcp, udp, http, https, sstp (an HTTP(S) probe of the SSTP path),
    script, other. `implicit` marks a vendor default that applies when none is bound."""

    name: str
    kind: str
    send: str = ""
    recv: str = ""
    origin: Origin | None = None
    implicit: bool = False

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "send": self.send or None, "recv": self.recv or None,
                "implicit": self.implicit, "origin": origin_text(self.origin)}


def classify_http_monitor(secure: bool, send: str) -> str:
    """http/https, or sstp when the send string requests the SSTP endpoint path."""
    if SSTP_PROBE_PATH.lower() in send.lower() or "/sra_{" in send.lower():
        return "sstp"
    return "https" if secure else "http"


@dataclass(frozen=True, slots=True)
class Persistence:
    """How a service ties a client to a backend, and with which other services it shares the records.

    Two services share records when both have `table` set to the same value and their scopes allow it:
    `device` always, `address` when their virtual addresses are equal, `service` never.
    `require_identical` (KEMP port following) makes sharing conditional on equal kind and timeout.
    `uncertain` names undocumented behaviour that could change the verdict; it turns a verdict that relies
    on it into `unknown`.
    """

    kind: str = NO_PERSIST
    name: str = ""  # the vendor's name for the setting (profile, group, "Persist=src")
    vendor_type: str = ""  # e.g. source-addr, SOURCEIP, src
    table: str | None = None
    scope: str = SCOPE_SERVICE
    timeout: int | None = None  # seconds; None = not set / indefinite (see settings)
    settings: dict[str, str] = field(default_factory=dict)  # resolved vendor settings, for evidence
    origins: tuple[Origin, ...] = ()
    require_identical: bool = False
    uncertain: str = ""
    note: str = ""  # e.g. a fallback method that does not help

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name or None, "type": self.vendor_type or None,
                "shared_table": self.table if self.scope != SCOPE_SERVICE else None, "scope": self.scope,
                "timeout_seconds": self.timeout, "settings": dict(self.settings),
                "lines": [str(o) for o in self.origins], "note": self.note or None,
                "unverified": self.uncertain or None}

    def short(self) -> str:
        """A few words for titles: the setting and whether its records are shared."""
        if self.kind == NO_PERSIST:
            return "no persistence"
        label = self.name or self.vendor_type or self.kind
        if self.kind != SOURCE_IP:
            return f"{label} ({self.vendor_type or self.kind})" if self.vendor_type not in label else label
        if self.scope == SCOPE_SERVICE:
            return f"{label}, records per service"
        where = "on the same VIP" if self.scope == SCOPE_ADDRESS else "across services"
        return f"{label}, shared {where}"

    def summary(self) -> str:
        if self.kind == NO_PERSIST:
            return "no persistence" + (f" ({self.note})" if self.note else "")
        parts = [self.name or self.vendor_type or self.kind]
        if self.vendor_type and self.name and self.vendor_type not in self.name:
            parts.append(f"({self.vendor_type})")
        parts.extend(f"{k} {v}" for k, v in self.settings.items())
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class SourceTranslation:
    """Source address translation toward the backends: none, automap, snat (pool) or unknown."""

    kind: str = "none"
    detail: str = ""
    origin: Origin | None = None
    verify: str = ""  # what to check on the device when kind is unknown

    @property
    def translates(self) -> bool:
        return self.kind in ("automap", "snat")

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "detail": self.detail or None, "origin": origin_text(self.origin),
                "verify": self.verify or None}


@dataclass(frozen=True, slots=True)
class Script:
    """A script or policy attached to a service (iRule, LTM policy). `steers` when it can select another
    backend, drop, or persist on its own: the service's behaviour is then not known from the config."""

    name: str
    steers: bool
    origin: Origin | None = None


@dataclass(frozen=True, slots=True)
class Gate:
    """Something on a listener that decides part of its traffic before any backend is chosen: a drop (TLS
    sent to an HTTP profile that cannot parse it) or an effect the snapshot cannot settle (a VLAN list, a
    firewall policy). `packets` None: all of the listener's traffic; `decision` DENY or UNKNOWN."""

    decision: Decision
    reason: str
    packets: PacketSet | None = None
    origin: Origin | None = None


@dataclass(eq=False)
class VirtualService:
    """A listener: virtual address, protocol and port(s), its backends and its behaviour."""

    name: str
    kind: str  # the vendor object, e.g. "ltm virtual", "lb vserver", "VS"
    address: IpNetwork | None  # None: not known (missing destination, unresolved)
    protocol: int | None  # IP protocol number; None = any
    ports: tuple[Interval, ...] | None  # None = any port (wildcard)
    origin: Origin | None = None
    action: str = "balance"  # balance | forward (no translation) | reject
    enabled: bool = True
    backends: list[Backend] = field(default_factory=list)
    pool: str = ""  # the backend group's name, for explanations
    persistence: Persistence = field(default_factory=Persistence)
    method: str = ""  # balancing method as the vendor names it
    hash_key: str | None = None  # "client-ip" for deterministic source-IP hashing
    per_datagram: bool = False  # every datagram balanced on its own (F5 datagram-LB, NetScaler sessionless)
    translate_port: bool = True
    translate_address: bool = True  # false: sent to the backends with the VIP kept as destination
    snat: SourceTranslation = field(default_factory=SourceTranslation)
    monitors: list[Monitor] = field(default_factory=list)
    scripts: list[Script] = field(default_factory=list)
    sources: tuple[Interval, ...] = (ANY_ADDR,)  # client addresses the service accepts
    caveats: list[str] = field(default_factory=list)  # unverified behaviours that could change the verdict
    problems: list[str] = field(default_factory=list)  # config the adapter could not resolve (missing pool)
    gates: list[Gate] = field(default_factory=list)  # drops or unknowns before balancing, in order
    state_reason: str = ""  # why a service that is not enabled takes nothing (vendor words)
    listen: PacketSet | None = None  # a listen policy narrowing what the listener takes (None: everything)
    vendor: dict[str, Any] = field(default_factory=dict)  # vendor facts used by remediation texts

    # matching -------------------------------------------------------------------------------------------
    def covers_port(self, port: int) -> bool:
        return self.ports is None or any(lo <= port <= hi for lo, hi in self.ports)

    def covers(self, protocol: int, port: int) -> bool:
        if self.listen is not None and not self.listen.intersects(PacketSet.of(
                proto=[(protocol, protocol)], dport=[(port, port)])):
            return False
        return (self.protocol is None or self.protocol == protocol) and self.covers_port(port)

    def match(self) -> PacketSet:
        if self.address is None:
            return EMPTY
        proto = [ANY_PROTO] if self.protocol is None else [(self.protocol, self.protocol)]
        if self.ports is None:
            found = PacketSet.of(self.sources, [network_interval(self.address)], proto)
        else:  # a port list only matches ported protocols: portless ones carry port 0, which no real port equals
            found = PacketSet.of(self.sources, [network_interval(self.address)], proto, [ANY_PORT], self.ports)
        return found if self.listen is None else found & self.listen

    @property
    def precedence(self) -> tuple[int, int, int, int]:
        """More specific listeners win: longer address prefix, narrower source, a port before any port,
        a protocol before any protocol (the order F5 documents; other vendors behave alike for these)."""
        prefix = self.address.prefixlen if self.address is not None else -1
        source = -sum(hi - lo + 1 for lo, hi in self.sources)
        return (prefix, source, 0 if self.ports is None else 1, 0 if self.protocol is None else 1)

    def node_addresses(self) -> set[str]:
        """Backend machines (addresses; names where no address is known), for comparing two services."""
        return {b.node for b in self.backends if b.enabled}

    def unresolved_backends(self) -> list[Backend]:
        return [b for b in self.backends if b.enabled and b.address is None]

    # explanations ----------------------------------------------------------------------------------------
    def listener(self) -> str:
        proto = {UDP: "udp", TCP: "tcp"}.get(self.protocol or -1, "any" if self.protocol is None
                                             else str(self.protocol))
        if self.address is None:
            addr = "?"
        elif self.address.prefixlen == self.address.max_prefixlen:
            addr = str(self.address.network_address)
            addr = f"[{addr}]" if self.address.version == 6 else addr
        else:
            addr = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        ports = "any" if self.ports is None else ",".join(
            str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in self.ports)
        return f"{proto} {addr}:{ports}"

    def text(self) -> str:
        backends = ", ".join(_backend_text(b) for b in self.backends if b.enabled) or "no backends"
        target = f"{self.pool} ({backends})" if self.pool else backends
        return f"{self.kind} {self.name} {self.listener()} -> {target}"

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name, "object": self.kind, "listener": self.listener(),
            "origin": origin_text(self.origin), "enabled": self.enabled, "action": self.action,
            "pool": self.pool or None, "backends": [b.describe() for b in self.backends],
            "persistence": self.persistence.describe(), "method": self.method or None,
            "hash_key": self.hash_key, "per_datagram": self.per_datagram,
            "source_translation": self.snat.describe(),
            "monitors": [m.describe() for m in self.monitors],
            "scripts": [{"name": s.name, "steers": s.steers, "origin": origin_text(s.origin)}
                        for s in self.scripts],
            "caveats": list(self.caveats), "problems": list(self.problems),
            "gates": [{"decision": g.decision.value, "reason": g.reason, "origin": origin_text(g.origin)}
                      for g in self.gates],
            "state": self.state_reason or None,
        }


def _backend_text(b: Backend) -> str:
    where = b.address or b.fqdn or b.name
    return where if b.port is None else f"{where}:{b.port}"


@dataclass(frozen=True, slots=True)
class ParseIssue:
    """Something in a vendor file the adapter did not model; kept so a person can check it."""

    origin: Origin
    text: str
    reason: str


@dataclass(eq=False)
class IkePair:
    """The services one client's UDP 500 and UDP 4500 reach on one VIP, and the persistence verdict."""

    balancer: LoadBalancer
    vip: str
    clients: str  # client addresses this pairing applies to ("any" normally)
    ike: VirtualService  # UDP 500
    natt: VirtualService  # UDP 4500
    verdict: PersistenceVerdict
    reason: str
    verify: str = ""  # what to check on the device when the verdict rests on unverified behaviour
    backend_difference: dict[str, list[str]] = field(default_factory=dict)

    @property
    def same_object(self) -> bool:
        return self.ike is self.natt

    def lines(self) -> list[str]:
        found: list[str] = []
        for svc in (self.ike, self.natt):
            for origin in (svc.origin, *svc.persistence.origins):
                if origin is not None and str(origin) not in found:
                    found.append(str(origin))
        return found

    def evidence(self) -> dict[str, Any]:
        services = [self.ike.describe()] if self.same_object else [self.ike.describe(), self.natt.describe()]
        out: dict[str, Any] = {"vip": self.vip, "clients": self.clients, "verdict": self.verdict,
                               "reason": self.reason, "udp_500": self.ike.name, "udp_4500": self.natt.name,
                               "services": services, "lines": self.lines()}
        if self.verify:
            out["verify"] = self.verify
        if self.backend_difference:
            out["backend_difference"] = self.backend_difference
        return out


class LoadBalancer(Device):
    """A load balancer in front of servers (tier 1: behind the perimeter). Vendors subclass it to word
    remediation in the vendor's own terms; the model and verdicts are shared."""

    tier = 1
    vendor = "generic"

    def __init__(self, name: str, source: str, services: Iterable[VirtualService] = ()) -> None:
        self.name = name
        self.source = source  # snapshot-relative file or folder
        self.services: list[VirtualService] = list(services)
        self.issues: list[ParseIssue] = []
        # Device-wide packet filters met before any listener (NetScaler ACLs, BIG-IP packet filters and
        # firewall policies), first match, in order; what none of them matches goes on to the listeners.
        self.filters: list[Rule] = []
        self.filter_stage = "acl"
        self.filter_default = "no filter matches: the packet goes on to the virtual servers"
        # Filters the snapshot shows around the device that the audit does not evaluate (cloud security groups,
        # network ACLs): (what, file). Reported so a reader knows the verdicts do not cover them.
        self.not_modelled: list[tuple[str, str]] = []
        # Why REST bodies the manifest records as failed leave the device unknown (common.unread_bodies): the
        # services it did not read may include the server's VIP, so it may front any server.
        self.unread = ""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {len(self.services)} services>"

    # Device interface ------------------------------------------------------------------------------------
    def owns(self, server: VpnServer) -> bool:
        try:
            address = ipaddress.ip_address(server.address)
        except ValueError:
            return False
        return any(svc.address is not None and svc.address.prefixlen == svc.address.max_prefixlen
                   and svc.address.network_address == address for svc in self.services)

    def may_own(self, server: VpnServer) -> str:
        """A service whose address could not be read may be the server's VIP: leaving the device out of the
        path would report the server reachable past it."""
        if self.unread:
            return f"{self.name}: {self.unread}"
        unread = next((s for s in self.services if s.address is None and s.problems), None)
        if unread is None:
            return ""
        return f"{self.name}: {unread.kind} {unread.name}: {'; '.join(unread.problems)}; it may listen on " \
               f"{server.address}"

    def hops(self, server: VpnServer) -> list[Hop]:
        hops: list[Hop] = []
        if self.filters:
            last = max(r.position for r in self.filters)
            default = Rule(last + 1, Action.PERMIT, ALL, self.filter_default, origin=Origin(self.source),
                           synthetic=True)
            rules = RuleList(f"{self.name} {self.filter_stage}", list(self.filters), default, Origin(self.source))
            hops.append(FilterHop(self.name, self.filter_stage, Origin(self.source), rules))
        hops.append(LoadBalancerHop(self.name, "load-balancer", Origin(self.source), balancer=self))
        return hops

    # listener selection ----------------------------------------------------------------------------------
    def ordered(self) -> list[VirtualService]:
        return [svc for svc, _match, _dst in self._listeners()]

    def _listeners(self) -> list[tuple[VirtualService, PacketSet, Interval]]:
        """(service, match, destination interval), most specific first; rebuilt when `services` changes."""
        key = (id(self.services), len(self.services))
        cached = getattr(self, "_listener_cache", None)
        if cached is None or cached[0] != key:
            ordered = sorted((s for s in self.services if s.address is not None),
                             key=lambda s: s.precedence, reverse=True)
            cached = (key, [(s, s.match(), network_interval(s.address)) for s in ordered if s.address is not None])
            self._listener_cache = cached
        return cached[1]

    def select(self, packets: PacketSet) -> list[tuple[VirtualService, PacketSet]]:
        """Partition packets by the service that receives them (most specific listener first)."""
        out: list[tuple[VirtualService, PacketSet]] = []
        remaining = packets
        destinations = packets.destinations()
        for svc, match, (lo, hi) in self._listeners():
            if not remaining:
                break
            if not any(lo <= dhi and dlo <= hi for dlo, dhi in destinations):
                continue  # cheap test first: most listeners are on other addresses
            hit = remaining & match
            if hit:
                out.append((svc, hit))
                remaining = remaining - hit
        return out

    def vip_networks(self) -> list[IpNetwork]:
        return [s.address for s in self.services if s.address is not None and s.action != "forward"]

    # IKE pairs -------------------------------------------------------------------------------------------
    def ike_vips(self, extra: Iterable[str] = ()) -> list[str]:
        """Host VIPs with a UDP 500 or 4500 listener, plus given addresses (VPN servers) this device owns."""
        found: dict[str, None] = {}
        for svc in self.services:
            if (svc.address is not None and svc.address.prefixlen == svc.address.max_prefixlen
                    and svc.action == "balance" and any(svc.covers(UDP, p) for p in IKE_PORTS)):
                found[str(svc.address.network_address)] = None
        for text in extra:
            try:
                ip = ipaddress.ip_address(text)
            except ValueError:
                continue
            if any(s.address is not None and ip in s.address for s in self.services if s.action == "balance"):
                found[str(ip)] = None
        return list(found)

    def ike_pairs(self, extra_vips: Iterable[str] = ()) -> list[IkePair]:
        """Every (VIP, clients) pairing of a UDP 500 and a UDP 4500 service, with its verdict (memoised:
        several checks ask for the same pairs)."""
        extra = tuple(extra_vips)
        key = (id(self.services), len(self.services), extra)
        cache: dict[tuple[Any, ...], list[IkePair]] = self.__dict__.setdefault("_pair_cache", {})
        if key not in cache:
            cache[key] = self._ike_pairs(extra)
        return list(cache[key])

    def _ike_pairs(self, extra_vips: Iterable[str]) -> list[IkePair]:
        pairs: list[IkePair] = []
        for vip in self.ike_vips(extra_vips):
            dst = [network_interval(ipaddress.ip_network(vip))]
            by500 = self.select(PacketSet.flow([ANY_ADDR], dst, UDP, 500))
            by4500 = self.select(PacketSet.flow([ANY_ADDR], dst, UDP, 4500))
            for a, part_a in by500:
                for b, part_b in by4500:
                    if a.action != "balance" or b.action != "balance":
                        continue
                    clients = PacketSet.of(part_a.sources()) & PacketSet.of(part_b.sources())
                    if not clients:
                        continue
                    label = ", ".join(format_address_interval(iv) for iv in clients.sources())
                    v = evaluate_pair(a, b)
                    pairs.append(IkePair(self, vip, label, a, b, v.verdict, v.reason, v.verify,
                                         v.backend_difference))
        return pairs

    def sstp_services(self, vips: Iterable[str]) -> list[VirtualService]:
        """Services that receive TCP 443 for the given VIP addresses."""
        out: list[VirtualService] = []
        for vip in vips:
            dst = [network_interval(ipaddress.ip_network(vip))]
            for svc, _ in self.select(PacketSet.flow([ANY_ADDR], dst, TCP, SSTP_PORT)):
                if svc.action == "balance" and svc not in out:
                    out.append(svc)
        return out

    def ike_services(self, vips: Iterable[str]) -> list[VirtualService]:
        out: list[VirtualService] = []
        for vip in vips:
            dst = [network_interval(ipaddress.ip_network(vip))]
            for port in IKE_PORTS:
                for svc, _ in self.select(PacketSet.flow([ANY_ADDR], dst, UDP, port)):
                    if svc.action == "balance" and svc not in out:
                        out.append(svc)
        return out

    # remediation, worded per vendor by subclasses ------------------------------------------------------
    def fix_split(self, pair: IkePair) -> str:
        return ("Make one object carry both ports with client-IP persistence, or let the UDP 500 and UDP 4500 "
                "services share one client-IP persistence table, with the same backend node addresses on both.")

    def fix_snat(self, svc: VirtualService) -> str:
        return "Disable source address translation on the IKE services so the VPN servers see client addresses."

    def fix_monitor(self, svc: VirtualService, sstp: bool) -> str:
        if sstp:
            return (f"Monitor the SSTP endpoint: an HTTPS probe (HTTP when TLS is offloaded) sending "
                    f"'HEAD {SSTP_PROBE_PATH} HTTP/1.1' with a Host header, expecting the server's answer "
                    f"(commonly 401).")
        return "Attach a health monitor to the backends so a failed VPN server stops receiving clients."

    def fix_timeout(self, svc: VirtualService) -> str:
        return f"Raise the persistence timeout to at least {MIN_PERSIST_SECONDS} seconds (3600 is common)."


@dataclass(frozen=True, slots=True)
class PairVerdict:
    """Whether one client's UDP 500 and UDP 4500 reach the same backend: `verdict` is STICKY, CONDITIONAL,
    SPLIT or UNKNOWN; `verify` says what to check on the device when the verdict rests on unverified
    behaviour; `backend_difference` lists the nodes only one of the two services has."""

    verdict: PersistenceVerdict
    reason: str
    verify: str = ""
    backend_difference: dict[str, list[str]] = field(default_factory=dict)


def evaluate_pair(a: VirtualService, b: VirtualService) -> PairVerdict:
    """The persistence verdict for UDP 500 service `a` and UDP 4500 service `b` (the same object when one
    service covers both ports)."""
    undecided = _not_analysed(a, b)
    if undecided is not None:
        return undecided
    caveats = _caveats(a, b)
    if a is b:
        return _one_service(a, caveats)
    nodes_a, nodes_b = a.node_addresses(), b.node_addresses()
    if nodes_a == nodes_b and len(nodes_a) == 1:  # nothing to choose between: both ports can only reach it
        (node,) = nodes_a
        return PairVerdict(STICKY, f"{a.name} and {b.name} each have one backend, the same node ({node})")
    diff = {"only_udp_500": sorted(nodes_a - nodes_b),
            "only_udp_4500": sorted(nodes_b - nodes_a)} if nodes_a != nodes_b else {}
    if a.persistence.kind == SOURCE_IP and b.persistence.kind == SOURCE_IP:
        return (_shared_records if _shares(a, b) else _separate_records)(a, b, caveats, diff)
    if a.hash_key == "client-ip" and b.hash_key == "client-ip" and not a.per_datagram and not b.per_datagram:
        return _client_hashes(a, b, caveats, diff)
    return _no_shared_persistence(a, b, caveats, diff)


def _no_shared_persistence(a: VirtualService, b: VirtualService, caveats: list[str],
                           diff: dict[str, list[str]]) -> PairVerdict:
    """Neither client-IP records nor client-IP hashes on both services: nothing ties the two flows."""
    per = [svc.name for svc in (a, b) if svc.per_datagram]
    extra = f"; {', '.join(per)} balance every datagram on its own" if per else ""
    if caveats:
        return PairVerdict(UNKNOWN, f"{_p(a)} on {a.name}, {_p(b)} on {b.name}{extra}; but: {'; '.join(caveats)}",
                           "; ".join(caveats), diff)
    return PairVerdict(SPLIT, f"no shared client-IP persistence: {a.name} has {_p(a)}, {b.name} has "
                              f"{_p(b)}{extra}", "", diff)


def _not_analysed(a: VirtualService, b: VirtualService) -> PairVerdict | None:
    """UNKNOWN when a script, a persistence expression or unresolved configuration decides the backend;
    None when the services' settings alone decide it."""
    steering = [s for svc in _distinct(a, b) for s in svc.scripts if s.steers]
    if steering:
        names = ", ".join(f"{s.name} ({s.origin})" if s.origin else s.name for s in steering)
        return PairVerdict(UNKNOWN, f"script(s) {names} can choose the backend or persist on their own; the config "
                                    f"alone does not say where UDP 500 and UDP 4500 go",
                           "Review the script(s) for persistence keyed on the client address across both ports")
    rules = [svc for svc in _distinct(a, b) if svc.persistence.kind == RULE]
    if rules:
        what = "; ".join(f"{svc.name}: {svc.persistence.summary()}" for svc in rules)
        return PairVerdict(UNKNOWN, f"persistence is decided by an expression or script ({what}), which is not "
                                    f"analysed",
                           "Check that the expression keys on the client address and that both ports share its "
                           "records")
    problems = [f"{svc.name}: {p}" for svc in _distinct(a, b) for p in svc.problems]
    if problems:
        return PairVerdict(UNKNOWN, f"the configuration could not be fully resolved ({'; '.join(problems)})",
                           "collect the missing configuration")
    return None


def _caveats(a: VirtualService, b: VirtualService) -> list[str]:
    """Unverified behaviours of either service that could change a verdict resting on them."""
    return [c for svc in _distinct(a, b) for c in (*svc.caveats, svc.persistence.uncertain) if c]


def _sticky_unless(base: str, caveats: list[str], diff: dict[str, list[str]]) -> PairVerdict:
    """STICKY for `base`, or UNKNOWN when it rests on unverified behaviour (`caveats`)."""
    if caveats:
        return PairVerdict(UNKNOWN, f"{base}, but: {'; '.join(caveats)}", "; ".join(caveats), diff)
    return PairVerdict(STICKY, base, "", diff)


def _one_service(svc: VirtualService, caveats: list[str]) -> PairVerdict:
    """One object listens on both ports: sticky when it ties a client to a backend by its address."""
    if svc.persistence.kind == SOURCE_IP or svc.hash_key == "client-ip":
        how = "client-IP persistence" if svc.persistence.kind == SOURCE_IP else "a client-IP hash"
        return _sticky_unless(f"one {svc.kind} ({svc.name}, {svc.listener()}) covers both ports with {how} "
                              f"({_p(svc)})", caveats, {})
    per = f"; it balances every datagram on its own ({svc.method})" if svc.per_datagram else ""
    return PairVerdict(SPLIT, f"one {svc.kind} ({svc.name}) covers both ports but has {_p(svc)}{per}: UDP 500 and "
                              f"UDP 4500 are separate flows and are balanced independently")


def _shared_records(a: VirtualService, b: VirtualService, caveats: list[str],
                    diff: dict[str, list[str]]) -> PairVerdict:
    """Both services keep client-IP records in one table they share."""
    pa, pb = a.persistence, b.persistence
    if pa.require_identical and (pa.vendor_type, pa.timeout) != (pb.vendor_type, pb.timeout):
        return PairVerdict(SPLIT, f"{a.name} and {b.name} share records only with identical persistence options, "
                                  f"but they differ ({_p(a)} vs {_p(b)})", "", diff)
    if diff:
        return PairVerdict(SPLIT, f"{a.name} and {b.name} share one client-IP persistence table ({pa.table}), but "
                                  f"their backend node addresses differ ({_diff_text(diff)}): a client persisted "
                                  f"to a node missing on the other side is balanced afresh", "", diff)
    return _sticky_unless(f"{a.name} and {b.name} share one client-IP persistence table ({pa.table}, scope "
                          f"{pa.scope}) and have the same backend nodes", caveats, diff)


def _separate_records(a: VirtualService, b: VirtualService, caveats: list[str],
                      diff: dict[str, list[str]]) -> PairVerdict:
    """Both services keep client-IP records, but not in a table they are known to share."""
    pa, pb = a.persistence, b.persistence
    if caveats:
        return PairVerdict(UNKNOWN, f"{a.name} and {b.name} keep separate client-IP records ({_p(a)}; {_p(b)}), "
                                    f"but: {'; '.join(caveats)}", "; ".join(caveats), diff)
    if (pa.table and pb.table and pa.table != pb.table and pa.scope != SCOPE_SERVICE
            and pb.scope != SCOPE_SERVICE and _scopes_reach(a, b)):
        verify = (f"whether records of {pa.table} and {pb.table} are shared is not documented: use one "
                  f"persistence object on both services")
        return PairVerdict(UNKNOWN, f"{a.name} and {b.name} use different persistence objects ({pa.table}, "
                                    f"{pb.table}), each shared across services; {verify}", verify, diff)
    consequence = "a client's UDP 4500 flow is balanced without regard to where its UDP 500 went"
    if _p(a) == _p(b) and pa.scope == SCOPE_SERVICE:
        return PairVerdict(SPLIT, f"{a.name} and {b.name} both use {_p(a)}, which keeps each service's client-IP "
                                  f"records apart (not shared across services): {consequence}", "", diff)
    return PairVerdict(SPLIT, f"{a.name} ({_p(a)}) and {b.name} ({_p(b)}) keep separate client-IP persistence "
                              f"records: {consequence}", "", diff)


def _client_hashes(a: VirtualService, b: VirtualService, caveats: list[str],
                   diff: dict[str, list[str]]) -> PairVerdict:
    """Both services hash the client address: they agree only over the same backend list."""
    if _ordered_backends(a) != _ordered_backends(b):
        return PairVerdict(SPLIT, f"{a.name} and {b.name} hash the client address over different backend lists, "
                                  f"so the same client can map to different nodes", "", diff)
    notes = caveats + list(dict.fromkeys(n for svc in (a, b) if (n := svc.vendor.get("hash_note"))))
    caveat = f" ({'; '.join(notes)})" if notes else ""
    return PairVerdict(CONDITIONAL, f"{a.name} and {b.name} hash the client address over identical backend lists: "
                                    f"they agree only while both sides see the same backends up{caveat}",
                       "; ".join(notes), diff)


def _distinct(a: VirtualService, b: VirtualService) -> list[VirtualService]:
    return [a] if a is b else [a, b]


def _p(svc: VirtualService) -> str:
    if svc.persistence.kind == NO_PERSIST and svc.hash_key == "client-ip":
        return f"client-IP hash ({svc.method})" if svc.method else "client-IP hash"
    if svc.persistence.kind == NO_PERSIST and svc.method and not svc.persistence.note:
        return f"no persistence (balancing: {svc.method})"
    return svc.persistence.summary()


def _shares(a: VirtualService, b: VirtualService) -> bool:
    pa, pb = a.persistence, b.persistence
    if not pa.table or pa.table != pb.table:
        return False
    if SCOPE_SERVICE in (pa.scope, pb.scope):
        return False
    if SCOPE_ADDRESS in (pa.scope, pb.scope):
        return a.address is not None and a.address == b.address
    return True


def _scopes_reach(a: VirtualService, b: VirtualService) -> bool:
    if SCOPE_ADDRESS in (a.persistence.scope, b.persistence.scope):
        return a.address is not None and a.address == b.address
    return True


def _ordered_backends(svc: VirtualService) -> list[tuple[str, int | None]]:
    return [(bk.node, bk.weight) for bk in svc.backends if bk.enabled]


def _diff_text(diff: dict[str, list[str]]) -> str:
    parts = []
    if diff.get("only_udp_500"):
        parts.append(f"only behind UDP 500: {', '.join(diff['only_udp_500'])}")
    if diff.get("only_udp_4500"):
        parts.append(f"only behind UDP 4500: {', '.join(diff['only_udp_4500'])}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------
# The hop


@dataclass(eq=False)
class LoadBalancerHop(Hop):
    """VIP -> backends destination translation; a VIP port without a listener is dropped."""

    may_translate: ClassVar[bool] = True
    balancer: LoadBalancer | None = None

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        assert self.balancer is not None
        lb = self.balancer
        segments: list[Segment] = []
        remaining = packets
        for position, (svc, hit) in enumerate(self._selected(packets), start=1):
            remaining = remaining - hit
            segments.extend(_service_segments(lb, svc, hit, position))
        if remaining:
            vips = [network_interval(n) for n in lb.vip_networks()]
            to_vip = remaining & PacketSet.of(dst=vips) if vips else EMPTY
            if to_vip:
                segments.append(Segment(to_vip, Decision.DENY, _rule(lb, None, 0, to_vip),
                                        f"{lb.name} has no virtual service for this protocol and port on the "
                                        f"virtual address; the load balancer drops it"))
            other = remaining - to_vip
            if other:
                segments.append(Segment(other, Decision.UNKNOWN, None,
                                        f"not addressed to a virtual service of {lb.name}; whether the device "
                                        f"routes it onward is not modelled"))
        return tuple(segments)

    def _selected(self, packets: PacketSet) -> Iterator[tuple[VirtualService, PacketSet]]:
        assert self.balancer is not None
        yield from self.balancer.select(packets)


def _rule(lb: LoadBalancer, svc: VirtualService | None, position: int, packets: PacketSet) -> Rule:
    if svc is None:
        return Rule(position=position, action=Action.DENY, match=packets,
                    text=f"no virtual service on {lb.name} for this port", synthetic=True,
                    origin=Origin(lb.source))
    action = Action.DENY if (svc.action == "reject" or not svc.enabled) else Action.PERMIT
    return Rule(position=position, action=action, match=svc.match(), text=svc.text(), origin=svc.origin)


def _service_segments(lb: LoadBalancer, svc: VirtualService, hit: PacketSet,
                      position: int) -> list[Segment]:
    rule = _rule(lb, svc, position, hit)
    if not svc.enabled:
        why = svc.state_reason or "is disabled"
        return [Segment(hit, Decision.DENY, rule, f"{svc.kind} {svc.name} {why}")]
    if svc.action == "reject":
        return [Segment(hit, Decision.DENY, rule, f"{svc.kind} {svc.name} rejects this traffic")]
    segments: list[Segment] = []
    for gate in svc.gates:  # in order: each decides what it covers of what earlier ones left
        part = hit if gate.packets is None else hit & gate.packets
        if part:
            segments.append(Segment(part, gate.decision, rule, f"{svc.kind} {svc.name}: {gate.reason}"))
            hit = hit - part
            if not hit:
                return segments
    if svc.action == "forward":
        return [*segments, Segment(hit, Decision.PERMIT, rule, f"{svc.kind} {svc.name} forwards without "
                                                              f"translation")]
    return segments + _balanced_segments(svc, hit, rule)


def _balanced_segments(svc: VirtualService, hit: PacketSet, rule: Rule) -> list[Segment]:
    known = [b for b in svc.backends if b.enabled and b.address is not None]
    out = _translate(hit, known, svc.translate_port) if svc.translate_address else hit
    steering = [s for s in svc.scripts if s.steers]
    unresolved = svc.unresolved_backends()
    snat = f"; source translated ({svc.snat.kind} {svc.snat.detail})".rstrip() if svc.snat.translates else ""
    if steering:
        names = ", ".join(s.name for s in steering)
        return [Segment(hit, Decision.UNKNOWN, rule, f"{svc.kind} {svc.name} runs {names}, which can pick "
                                                     f"another backend or drop", out or None)]
    if svc.problems:  # even with backends: an unread port or address may not be this listener at all
        return [Segment(hit, Decision.UNKNOWN, rule, f"{svc.kind} {svc.name}: {'; '.join(svc.problems)}",
                        out or None)]
    if not known and not unresolved:
        disabled = [b for b in svc.backends if not b.enabled]
        if disabled:
            states = "; ".join(f"{_backend_text(b)} {b.state or 'disabled'}" for b in disabled)
            return [Segment(hit, Decision.DENY, rule, f"{svc.kind} {svc.name} has no backend that takes new "
                                                      f"clients ({states}); the load balancer drops the traffic")]
        return [Segment(hit, Decision.DENY, rule, f"{svc.kind} {svc.name} has no enabled backends; the load "
                                                  f"balancer drops the traffic")]
    if unresolved:
        names = ", ".join(b.fqdn or b.name for b in unresolved)
        return [Segment(hit, Decision.UNKNOWN, rule, f"{svc.kind} {svc.name}: backend(s) {names} have no "
                                                     f"resolved address", out or None)]
    wrong = _ike_port_mismatches(svc, hit, known) if svc.translate_address else []
    if wrong:
        return wrong_port_segments(svc, hit, known, wrong, rule)
    reason = f"{svc.kind} {svc.name} translates to {svc.pool or 'backends'} ({_backends_text(known)}){snat}"
    return [Segment(hit, Decision.TRANSLATE, rule, reason, out)]


# IKE on UDP 500 has no marker; on UDP 4500 every IKE message is prefixed by four zero octets (RFC 7296
# section 2.23, RFC 3948 section 2.2), and an IKE initiator SPI is never zero (RFC 7296 section 3.1). A server
# that receives one port's datagrams on the other port reads them in the wrong framing and discards them.
_IKE_FRAMING = {500: 4500, 4500: 500}


def _ike_port_mismatches(svc: VirtualService, hit: PacketSet,
                         known: list[Backend]) -> list[tuple[int, Backend]]:
    """(client port, backend) pairs where UDP 500 or 4500 leaves for the other IKE port of a backend."""
    if not svc.translate_port:
        return []
    found: list[tuple[int, Backend]] = []
    for port, other in _IKE_FRAMING.items():
        if not hit.intersects(PacketSet.of(proto=[(UDP, UDP)], dport=[(port, port)])):
            continue
        found.extend((port, b) for b in known if b.port == other)
    return found


def wrong_port_segments(svc: VirtualService, hit: PacketSet, known: list[Backend],
                        wrong: list[tuple[int, Backend]], rule: Rule) -> list[Segment]:
    """UDP 500 / 4500 delivered to a backend's other IKE port: dropped there when every backend gets it so,
    unknown when only some do (a client balanced to those fails, the others do not)."""
    segments: list[Segment] = []
    remaining = hit
    for port in sorted({p for p, _ in wrong}):
        part = hit & PacketSet.of(proto=[(UDP, UDP)], dport=[(port, port)])
        bad = [b for p, b in wrong if p == port]
        names = ", ".join(_backend_text(b) for b in bad)
        why = (f"{svc.kind} {svc.name} sends UDP {port} to port {_IKE_FRAMING[port]} of {names} "
               f"(translate-port): IKE {'with' if port == 4500 else 'without'} the NAT-T non-ESP marker arrives "
               f"where the other framing is expected, and the VPN server discards it")
        good = [b for b in known if all(b is not x for x in bad)]
        if not good:
            segments.append(Segment(part, Decision.DENY, rule, why))
        else:
            segments.append(Segment(part, Decision.UNKNOWN, rule, f"{why}; clients balanced to the other "
                                                                  f"backends are served",
                                    _translate(part, good, svc.translate_port)))
        remaining = remaining - part
    if remaining:
        reason = f"{svc.kind} {svc.name} translates to {svc.pool or 'backends'} ({_backends_text(known)})"
        segments.append(Segment(remaining, Decision.TRANSLATE, rule, reason,
                                _translate(remaining, known, svc.translate_port)))
    return segments


def _backends_text(backends: list[Backend]) -> str:
    return ", ".join(_backend_text(b) for b in backends)


def _translate(packets: PacketSet, backends: list[Backend], translate_port: bool) -> PacketSet:
    """The packets with the destination rewritten to each backend (and its port, when the service
    translates ports and the backend names one)."""
    out = EMPTY
    for backend in backends:
        assert backend.address is not None
        dst = network_interval(ipaddress.ip_network(backend.address))
        out = out | packets.with_destination(dst, backend.port if translate_port else None)
    return out


def parse_address(text: str) -> IpNetwork:
    """An address without route domain (10.0.0.1%2 -> 10.0.0.1) as a host network."""
    return ipaddress.ip_network(text.split("%", 1)[0].strip(), strict=False)


def lb_devices(devices: Iterable[Device]) -> list[LoadBalancer]:
    return [d for d in devices if isinstance(d, LoadBalancer)]


__all__ = [
    "CONDITIONAL", "IKE_PORTS", "MIN_PERSIST_SECONDS", "NO_PERSIST", "OTHER", "RULE", "SCOPE_ADDRESS",
    "SCOPE_DEVICE", "SCOPE_SERVICE", "SOURCE_IP", "SPLIT", "SSTP_PORT", "SSTP_PROBE_PATH", "STICKY", "TCP",
    "UDP", "UNKNOWN", "Backend", "IkePair", "LoadBalancer", "LoadBalancerHop", "Monitor", "PairVerdict",
    "ParseIssue", "Persistence", "Script", "SourceTranslation", "VirtualService", "classify_http_monitor",
    "evaluate_pair", "lb_devices", "parse_address",
]
