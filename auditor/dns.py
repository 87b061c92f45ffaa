"""The name clients dial: resolver answers recorded at collect time (`dns/<fqdn>.json`, docs/snapshot.md) and
what they mean for one role.

A role reaches a VPN server by its `fqdn`, through the resolver its network gives it. The vendor adapter says
which resolvers a role may use (`Way`: one per possibility the snapshot leaves open); this module reads the
recorded answers and decides, per role and server, whether the name leads to the audited `address`:
`ok`, `mismatch` (other addresses), `unresolved` (NXDOMAIN or no address) or `unknown` (a resolver could not be
queried, was not recorded, or the possible ways disagree). Answers are never guessed: a resolver the
collector did not reach is unknown, not assumed to agree.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from auditor.snapshot import Snapshot, SnapshotError

DNS_SCHEMA = "vpn-auditor.dns/1"
QUERY_TYPES = ("A", "AAAA")
# Query outcomes as the collector records them. `ok` and `nodata` are answers; `nxdomain` says the name does not
# exist; the rest mean the resolver gave no usable answer.
ANSWERED = ("ok", "nodata", "nxdomain")
FAILED = ("servfail", "refused", "timeout", "unreachable", "error", "skipped")
STATUSES = ANSWERED + FAILED
HOST = "host"  # a Way's resolvers: the collecting host's (the public view; see Way.stand_in)
_FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def normal_fqdn(fqdn: str) -> str:
    """The name as the snapshot files it: lower case, without a trailing dot; ValueError when it is not a
    host name (it becomes a file name, so nothing else may pass)."""
    name = fqdn.strip().lower().rstrip(".")
    if not _FQDN.match(name):
        raise ValueError(f"{fqdn!r} is not a host name")
    return name


def dns_file(fqdn: str) -> str:
    return f"dns/{normal_fqdn(fqdn)}.json"


@dataclass(frozen=True, slots=True)
class Query:
    status: str  # one of STATUSES
    addresses: tuple[str, ...] = ()
    ttl: int | None = None
    error: str = ""


@dataclass(slots=True)
class ResolverRecord:
    address: str
    host: bool  # the collecting host's own resolver
    named_by: list[str]
    queries: dict[str, Query]


@dataclass(slots=True)
class DnsRecords:
    fqdn: str
    file: str
    collected_at: str = field(compare=False)  # when, not what: records equal without it (and the audit cache)
    resolvers: dict[str, ResolverRecord]  # by address

    @property
    def host(self) -> list[str]:
        return [r.address for r in self.resolvers.values() if r.host]


def _canonical(address: str) -> str:
    return str(ipaddress.ip_address(address))


def _audited(address: str) -> str:
    try:
        return _canonical(address)
    except ValueError:  # audit.yaml validates addresses; an odd one is compared as written
        return address


def load_records(snapshot: Snapshot, fqdn: str) -> DnsRecords | None:
    """The recorded answers for `fqdn`, or None when the snapshot has none (an offline or hand-made snapshot).
    A file that is there but malformed is an input error naming it."""
    rel = dns_file(fqdn)
    return snapshot.read_view(rel, lambda data: None if data is None else _records(data, rel, fqdn))


def _records(data: Any, rel: str, fqdn: str) -> DnsRecords:

    def bad(what: str) -> SnapshotError:
        return SnapshotError(rel, what)

    if not isinstance(data, dict) or not isinstance(data.get("resolvers"), list):
        raise bad("expected an object with a 'resolvers' list (docs/snapshot.md, dns/)")
    resolvers: dict[str, ResolverRecord] = {}
    for i, raw in enumerate(data["resolvers"]):
        where = f"resolvers[{i}]"
        if not isinstance(raw, dict):
            raise bad(f"{where}: expected an object")
        try:
            address = _canonical(str(raw.get("address")))
        except ValueError:
            raise bad(f"{where}: 'address' {raw.get('address')!r} is not an IP address") from None
        answers = raw.get("answers")
        if not isinstance(answers, dict):
            raise bad(f"{where}: expected 'answers' to be an object keyed by query type (A, AAAA)")
        queries: dict[str, Query] = {}
        for qtype, answer in answers.items():
            if qtype not in QUERY_TYPES:
                continue  # other types may be recorded one day; they decide nothing here
            if not isinstance(answer, dict) or answer.get("status") not in STATUSES:
                raise bad(f"{where}.answers.{qtype}: expected an object whose 'status' is one of "
                          f"{', '.join(STATUSES)}")
            addresses = answer.get("addresses") or []
            if not isinstance(addresses, list):
                raise bad(f"{where}.answers.{qtype}: expected 'addresses' to be a list")
            try:
                found = tuple(_canonical(str(a)) for a in addresses)
            except ValueError as exc:
                raise bad(f"{where}.answers.{qtype}: {exc}") from None
            ttl = answer.get("ttl")
            queries[qtype] = Query(str(answer["status"]), found, ttl if isinstance(ttl, int) else None,
                                   str(answer.get("error") or ""))
        named = raw.get("named_by") or []
        resolvers[address] = ResolverRecord(address, raw.get("host") is True,
                                            [str(n) for n in named] if isinstance(named, list) else [], queries)
    named = normal_fqdn(fqdn)
    recorded = data.get("fqdn")
    if recorded is not None:
        try:
            same = isinstance(recorded, str) and normal_fqdn(recorded) == named
        except ValueError:
            same = False
        if not same:
            raise bad(f"'fqdn' {recorded!r} is not {named}, the name this file answers for")
    return DnsRecords(named, rel, str(data.get("collected_at") or ""), resolvers)


# ---------------------------------------------------------------------------------------------------------
# One role's ways to a resolver, and what they answer


@dataclass(frozen=True, slots=True)
class Way:
    """One possible source of a role's DNS answers.

    `resolvers` are addresses (clients may ask any of them: primary and secondary), or (HOST,) for the
    collecting host's resolver standing in for a resolver the snapshot does not name (`stand_in` says which);
    `unknown` says why the way cannot be read at all. `source` is where the snapshot names the resolvers."""

    label: str
    resolvers: tuple[str, ...] = ()
    source: str = ""
    stand_in: str = ""  # the resolver the host's answer stands in for ("" when the resolvers are named)
    unknown: str = ""


@dataclass(slots=True)
class WayOutcome:
    way: Way
    status: str  # ok | mismatch | unresolved | unknown
    resolvers: list[str]
    addresses: list[str]  # what the resolvers answered (A and AAAA), in order
    reason: str  # one clause: what the resolvers said


@dataclass(slots=True)
class RoleDns:
    """What the name gives one role for one server. `traced` holds, per other address it may dial, the
    verdict of each flow traced there (filled in by the audit)."""

    role: Any  # auditor.model.Role
    server: Any  # auditor.model.VpnServer
    fqdn: str
    status: str  # ok | mismatch | unresolved | unknown
    outcomes: list[WayOutcome]
    file: str
    traced: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def named(self) -> bool:
        """Whether some way names the role's own resolvers (else only the host's stands in)."""
        return any(not o.way.stand_in for o in self.outcomes)

    @property
    def other_addresses(self) -> list[str]:
        audited = _audited(self.server.address)
        return list(dict.fromkeys(a for o in self.outcomes for a in o.addresses if a != audited))


def _describe(address: str, record: ResolverRecord | None) -> str:
    return f"the collecting host's resolver {address}" if record is not None and record.host else address


def way_outcome(way: Way, records: DnsRecords, audited: str, siblings: Iterable[str] = ()) -> WayOutcome:
    """What the way's resolvers answer for the name, against the audited server's address. `siblings`: the
    addresses of the other audited servers that share the name (DNS round robin): an answer naming one of them
    sends the client to a server the audit traces too, so it is no mismatch."""
    audited = _audited(audited)
    expected = {audited, *(_audited(a) for a in siblings)}
    if way.unknown:
        return WayOutcome(way, "unknown", [], [], way.unknown)
    resolvers = records.host if way.resolvers == (HOST,) else list(way.resolvers)
    if not resolvers:
        return WayOutcome(way, "unknown", [], [], f"{records.file} records no answer of the collecting host's "
                                                  "resolver")
    addresses: list[str] = []
    answered: list[str] = []  # what each resolver that gave addresses said
    failed: list[str] = []
    unresolved: list[str] = []
    for address in resolvers:
        record = records.resolvers.get(address)
        name = _describe(address, record)
        if record is None:
            failed.append(f"{name} was not queried at collect time ({records.file} has no answer from it)")
            continue
        queries = [record.queries.get(t) for t in QUERY_TYPES]
        bad = [(t, q) for t, q in zip(QUERY_TYPES, queries, strict=True) if q is None or q.status in FAILED]
        if bad:
            why = ", ".join(f"{t} {'not recorded' if q is None else q.status}" + (f" ({q.error})" if q and q.error
                                                                                 else "") for t, q in bad)
            failed.append(f"{name} could not be queried from the collecting host ({why})")
            continue
        found = [a for q in queries if q is not None for a in q.addresses]
        if found:
            addresses.extend(a for a in found if a not in addresses)
            ttl = min((q.ttl for q in queries if q is not None and q.ttl is not None), default=None)
            answered.append(f"{name} answers {', '.join(found)}" + (f" (TTL {ttl} s)" if ttl is not None else ""))
        else:
            nx = any(q is not None and q.status == "nxdomain" for q in queries)
            unresolved.append(f"{name} answers {'NXDOMAIN' if nx else 'no A or AAAA record'}")
    wrong = [a for a in addresses if a not in expected]
    reason = "; ".join(answered + unresolved + failed)
    if wrong:
        status = "mismatch"
    elif failed:
        status = "unknown"
    elif unresolved:
        status = "unresolved"
    else:
        status = "ok"
    return WayOutcome(way, status, resolvers, addresses, reason)


def sibling_addresses(server: Any, servers: Iterable[Any]) -> list[str]:
    """The addresses of the other servers with the same `fqdn` (DNS round robin, or a pair behind one name) that
    offer every protocol this one does: a client sent there is traced there for each of them. One offering fewer
    is not the same service, and an answer naming it stays a mismatch."""
    def name(fqdn: str) -> str:
        return fqdn.strip().lower().rstrip(".")

    if not server.fqdn:
        return []
    wanted = {p.lower() for p in server.protocols}
    return [str(s.address) for s in servers if s is not server and s.fqdn and name(s.fqdn) == name(server.fqdn)
            and wanted <= {p.lower() for p in s.protocols}]


def assess(role: Any, server: Any, ways: list[Way], records: DnsRecords, siblings: Iterable[str] = ()) -> RoleDns:
    """The role's answer for the server's name: each way's outcome; when the ways disagree the snapshot
    cannot say which the role gets, so the role's status is unknown (as for a role's path variants).
    `siblings`: as for `way_outcome`."""
    audited = _audited(server.address)
    outcomes = [way_outcome(w, records, audited, siblings) for w in ways]
    statuses = {o.status for o in outcomes}
    status = statuses.pop() if len(statuses) == 1 else "unknown"
    return RoleDns(role, server, records.fqdn, status, outcomes, records.file)


__all__ = ["DNS_SCHEMA", "HOST", "QUERY_TYPES", "STATUSES", "DnsRecords", "Query", "ResolverRecord", "RoleDns",
           "Way", "WayOutcome", "assess", "dns_file", "load_records", "normal_fqdn", "sibling_addresses",
           "way_outcome"]
