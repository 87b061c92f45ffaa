"""Resolve each VPN server's name at every resolver a role can use, and record the answers (`dns/<fqdn>.json`).

The resolvers are the collecting host's own and those the Meraki files just written name: MX VLANs'
`dnsNameservers` (a custom list, or google_dns / opendns) and SSIDs' `dnsRewrite.dnsCustomNameservers`. Each is
asked for A and AAAA over UDP (over TCP when the answer is truncated), with a timeout per query and a budget for
the whole run; answers are kept as given (addresses, smallest TTL, NXDOMAIN, SERVFAIL, ...), bounded in number.
A resolver that does not answer is recorded as such (timeout, unreachable), never guessed. Nothing in a DNS
answer is secret; every query is still a manifest call.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from auditor.collect.writer import SnapshotWriter

SCHEMA = "vpn-auditor.dns/1"
QUERY_TYPES = ("A", "AAAA")
QUERY_TIMEOUT = 3.0  # seconds per query (UDP, and TCP after truncation, each)
BUDGET = 60.0  # seconds for every query of a run; queries not started by then are recorded as skipped
MAX_RESOLVERS = 64  # distinct resolvers queried per run (an org may name many; the rest are recorded skipped)
MAX_ADDRESSES = 32  # addresses kept per answer
MAX_NAMED_BY = 10  # places that name a resolver, kept per resolver
WORKERS = 8
KNOWN = {"google_dns": ("8.8.8.8", "8.8.4.4"), "opendns": ("208.67.222.222", "208.67.220.220")}
_SPLIT = re.compile(r"[\s,;]+")
_FQDN = re.compile(r"^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


@dataclass
class DnsResult:
    files: list[str] = field(default_factory=list)
    queries: int = 0
    failed: int = 0  # queries with no usable answer (timeout, unreachable, SERVFAIL, ...)


def _addresses(value: Any) -> list[str]:
    items = value if isinstance(value, list) else _SPLIT.split(str(value or ""))
    out = []
    for item in items:
        try:
            out.append(str(ipaddress.ip_address(str(item).strip())))
        except ValueError:
            continue  # host names in a nameserver list: the audit reports them as not queryable
    return out


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def named_resolvers(root: Path) -> dict[str, list[str]]:
    """Resolver address -> where the snapshot's Meraki files name it, read from what the collector wrote."""
    found: dict[str, list[str]] = {}

    def add(addresses: Iterable[str], where: str) -> None:
        for address in addresses:
            places = found.setdefault(address, [])
            if len(places) < MAX_NAMED_BY:
                places.append(where)

    for path in sorted((root / "meraki" / "networks").glob("*/appliance/vlans.json")):
        rel = path.relative_to(root).as_posix()
        for vlan in (v for v in _read(path) or [] if isinstance(v, dict)):
            handling = str(vlan.get("dhcpHandling") or "Run a DHCP server").lower()
            setting = vlan.get("dnsNameservers")
            if handling != "run a dhcp server" or setting is None:
                continue
            keyword = str(setting).strip().lower()
            add(KNOWN.get(keyword, ()) if keyword in KNOWN or keyword == "upstream_dns" else _addresses(setting),
                f"{rel}, VLAN {vlan.get('id')} dnsNameservers")
    for path in sorted((root / "meraki" / "networks").glob("*/wireless/ssids.json")):
        rel = path.relative_to(root).as_posix()
        for ssid in (s for s in _read(path) or [] if isinstance(s, dict)):
            rewrite = ssid.get("dnsRewrite")
            if ssid.get("enabled") is True and isinstance(rewrite, dict) and rewrite.get("enabled") is True:
                add(_addresses(rewrite.get("dnsCustomNameservers") or []),
                    f"{rel}, SSID {ssid.get('number')} dnsRewrite")
    return found


def host_resolvers() -> list[str]:
    """The collecting host's resolvers (/etc/resolv.conf or the platform's equivalent)."""
    try:
        return [str(ns) for ns in dns.resolver.Resolver().nameservers][:3]
    except (dns.resolver.NoResolverConfiguration, OSError):
        return []


def query(fqdn: str, rdtype: str, address: str, port: int, timeout: float) -> dict[str, Any]:
    """One question to one resolver, as recorded: status, addresses, TTL, elapsed time, truncation."""
    message = dns.message.make_query(fqdn, rdtype)
    message.use_edns(0, 0, 1232)  # a payload size that needs no fragmentation
    started = time.monotonic()
    out: dict[str, Any] = {"status": "error", "addresses": [], "ttl": None}
    try:
        response = dns.query.udp(message, address, port=port, timeout=timeout, ignore_unexpected=True)
        if response.flags & dns.flags.TC:
            out["truncated"] = True
            response = dns.query.tcp(message, address, port=port, timeout=timeout)
    except dns.exception.Timeout:
        out.update(status="timeout", error=f"no answer within {timeout:g} s")
    except OSError as exc:  # refused port, no route: the resolver cannot be reached from here
        out.update(status="unreachable", error=exc.strerror or type(exc).__name__)
    except dns.exception.DNSException as exc:
        out.update(status="error", error=f"{type(exc).__name__}: {exc}"[:200])
    else:
        rcode = response.rcode()
        wanted = dns.rdatatype.from_text(rdtype)
        if rcode == dns.rcode.NXDOMAIN:
            out["status"] = "nxdomain"
        elif rcode == dns.rcode.SERVFAIL:
            out["status"] = "servfail"
        elif rcode == dns.rcode.REFUSED:
            out["status"] = "refused"
        elif rcode != dns.rcode.NOERROR:
            out.update(status="error", error=dns.rcode.to_text(rcode))
        else:
            # The answer section may hold a CNAME chain; the addresses are the records of the asked type.
            rrsets = [r for r in response.answer if r.rdtype == wanted]
            addresses = list(dict.fromkeys(str(rd) for r in rrsets for rd in r))
            out["status"] = "ok" if addresses else "nodata"
            out["addresses"] = addresses[:MAX_ADDRESSES]
            if len(addresses) > MAX_ADDRESSES:
                out["addresses_dropped"] = len(addresses) - MAX_ADDRESSES
            out["ttl"] = min((r.ttl for r in rrsets), default=None)
    out["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    return out


def check_fqdn(fqdn: str) -> str:
    name = fqdn.strip().lower().rstrip(".")
    if not _FQDN.match(name):
        raise ValueError(f"{fqdn!r} is not a host name")
    return name


def collect_dns(out: Path, fqdns: Iterable[str], host: list[str] | None = None, port: int = 53,
                timeout: float = QUERY_TIMEOUT, budget: float = BUDGET) -> DnsResult:
    """Query every resolver for every name and write `dns/<fqdn>.json`; the calls go to the manifest (collector
    "dns"). `host` replaces the collecting host's resolvers (None: the system's)."""
    names = list(dict.fromkeys(check_fqdn(f) for f in fqdns))
    result = DnsResult()
    if not names:
        return result
    named = named_resolvers(out)
    hosts = list(dict.fromkeys(_addresses(host) if host is not None else host_resolvers()))
    resolvers = list(dict.fromkeys([*hosts, *named]))
    writer = SnapshotWriter(out, "dns", parameters={"names": names, "host_resolvers": hosts, "port": port,
                                                    "timeout": timeout})
    deadline = time.monotonic() + budget
    jobs = [(name, address, rdtype) for name in names for address in resolvers for rdtype in QUERY_TYPES]

    def run(job: tuple[str, str, str]) -> dict[str, Any]:
        name, address, rdtype = job
        if resolvers.index(address) >= MAX_RESOLVERS:
            return {"status": "skipped", "addresses": [], "ttl": None,
                    "error": f"more than {MAX_RESOLVERS} resolvers are named; this one was not queried"}
        left = deadline - time.monotonic()
        if left <= 0.05:
            return {"status": "skipped", "addresses": [], "ttl": None,
                    "error": f"the {budget:g} s budget for DNS queries was spent"}
        return query(name, rdtype, address, port, min(timeout, left))

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        answers = dict(zip(jobs, pool.map(run, jobs), strict=True))
    try:
        for name in names:
            rel = f"dns/{name}.json"
            body: dict[str, Any] = {"schema": SCHEMA, "fqdn": name, "collected_at": writer.started_at, "port": port,
                    "resolvers": []}
            for address in resolvers:
                entry: dict[str, Any] = {"address": address, "host": address in hosts,
                                         "named_by": (["the collecting host"] if address in hosts else [])
                                         + named.get(address, []), "answers": {}}
                for rdtype in QUERY_TYPES:
                    answer = answers[(name, address, rdtype)]
                    entry["answers"][rdtype] = answer
                    result.queries += 1
                    ok = answer["status"] in ("ok", "nodata", "nxdomain")
                    result.failed += not ok
                    writer.record_call(f"{rdtype} {name} @{address}:{port}", "ok" if ok else "failed", file=rel,
                                       written=True, error=None if ok else f"{answer['status']}: "
                                       f"{answer.get('error') or ''}".rstrip(": "))
                body["resolvers"].append(entry)
            writer.write_json(rel, body, redact=False)
            result.files.append(rel)
    finally:
        writer.close(queries=result.queries, failed_queries=result.failed)
    return result


__all__ = ["DnsResult", "collect_dns", "host_resolvers", "named_resolvers", "query"]
