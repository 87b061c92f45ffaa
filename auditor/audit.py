"""One audit: snapshot -> model -> graph -> traces -> findings, as one result object for every report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from auditor import __version__, crl
from auditor.assumptions import annotate as annotate_assumed
from auditor.assumptions import listing
from auditor.cache import AuditCache
from auditor.cache import Stats as CacheStats
from auditor.checks import AuditContext, Finding, run_checks
from auditor.compact import Text
from auditor.config import INTERNET, AuditConfig, load_config, split_enters
from auditor.dns import DnsRecords, RoleDns, dns_file, load_records, normal_fqdn
from auditor.gate import fail_closed, wrong_level
from auditor.graph import build_graph, devices_in_front, server_side_hops
from auditor.model import (
    PUBLIC,
    DataGap,
    FlowKey,
    GapHop,
    Hop,
    Model,
    NetworkModel,
    Origin,
    Role,
    RuleList,
    SourceNatHop,
    Variant,
    VpnServer,
)
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.parallel import (
    MIN_NETWORKS,
    AuditOne,
    NetworkResult,
    Rebuild,
    WorkerReads,
    audit_forked,
    default_workers,
)
from auditor.plugins import count_networks, iter_networks, load_devices, network_dns
from auditor.protocols import Protocol, load_protocols, wire_flows_to
from auditor.snapshot import InputError, Snapshot, SnapshotError
from auditor.trace import (
    PathResult,
    ProtocolPlan,
    TraceCache,
    flow_packets,
    plan_protocols,
    role_chains,
    trace_protocols,
)
from auditor.vocab import VERDICT_REPORT_ORDER, Verdict

_VERDICT = attrgetter("trace.verdict")

DNS_NOT_CHECKED = ("{name}: its fqdn {fqdn} was not checked: the snapshot has no {file} (`collect meraki` records "
                   "the resolvers' answers when audit.yaml names the fqdn)")


@dataclass(slots=True)
class AuditResult:
    snapshot: str
    generated_at: str
    model: Model
    paths: list[PathResult]
    findings: list[Finding]
    protocols: dict[str, Protocol]
    tool_version: str = __version__
    notes: list[str] = field(default_factory=list)
    assumptions: list[dict[str, Any]] = field(default_factory=list)  # audit.yaml `assume:`, for report headers
    networks_by_worker: int = 0  # networks forked workers audited (0: the audit was serial)
    cache: CacheStats | None = None  # with the audit cache: networks taken from it, audited, written
    # report text written before the report (run_audit `network_text`: while auditing, or kept by the audit
    # cache), by the id of each network's first path: the text, and the paths it holds
    written: dict[int, tuple[Text, list[PathResult]]] = field(default_factory=dict)

    def counts(self) -> dict[Verdict, int]:
        out = dict.fromkeys(VERDICT_REPORT_ORDER, 0)
        out.update(Counter(map(_VERDICT, self.paths)))  # counted in C: an org has a million paths
        return out


def new_model(snapshot: Snapshot, config: AuditConfig) -> Model:
    """A model with servers and scope, before any adapter has run."""
    model = Model(snapshot=str(snapshot.root), assume=dict(config.assume),
                  device_settings={name: d.model_dump(exclude_none=True) for name, d in config.devices.items()})
    for server in config.vpn_servers:
        model.servers.append(VpnServer(server.name, server.address, [p.lower() for p in server.protocols],
                                       server.fqdn, list(server.path)))
    if config.scope.networks:
        model.scope = {n.lower() for n in config.scope.networks}
    return model


def add_sources(model: Model, config: AuditConfig) -> None:
    """audit.yaml `sources` as roles, once the devices are loaded: a source that `enters` at a device
    crosses that device's filters before the internet."""
    for source in config.sources:
        role = Role("source", source.name, None, None)
        addresses = [address_interval(p) for p in source.prefixes]
        hops: list[Hop]
        if source.enters is None:
            hops, ends_at_server = [], False
        else:
            hops, ends_at_server = _entry_hops(model, source.name, source.enters)
        # Only wholly private prefixes: a prefix that holds public space (0.0.0.0/0, "anyone") is taken as written
        if not ends_at_server and addresses and not PacketSet.of(src=addresses).intersects(PUBLIC):
            nat: Hop | None = _internet_nat(source.name, source.enters)
            device = model.devices.get(split_enters(source.enters).device) if source.enters else None
            # the entry device may know better (its routes, its NAT); it is found only through `enters`
            if device is not None and nat is not None and source.enters:
                nat = device.internet_nat(split_enters(source.enters).interface, nat)
            if nat is not None:
                hops.append(nat)
        role.variants = [Variant(source.enters or INTERNET, addresses, hops, ends_at_server)]
        model.extra_roles.append(role)


def _internet_nat(source: str, enters: str | None) -> Hop:
    """Private prefixes cross the internet only translated (the site's NAT), so the server's side sees an
    address the snapshot does not have: every public address is possible. What the entry device itself
    translated to a public address (IOS inside source NAT) passes unchanged."""
    where = enters.rpartition(":")[0] if enters else f"audit.yaml source '{source}'"
    return SourceNatHop(where, "nat to the internet", Origin("audit.yaml"), None,
                        f"private sources reach the internet only translated; the address source '{source}' "
                        "gets there is not in the snapshot: every public address is possible", private_only=True)


def _entry_hops(model: Model, source: str, enters: str) -> tuple[list[Hop], bool]:
    """The hops where a source's traffic enters (audit.yaml `enters`), and whether they end at the server.

    Traffic from inside a device that stands in front of a VPN server goes to the server directly, or by
    hairpin NAT; neither is modelled, and the server's side (that device's outside filter and NAT) is not
    what it crosses, so it must not decide. A source has one variant for every server, so such a device
    makes the source unknown for all servers, those it does not front included: unknown, never a verdict
    reached on hops the traffic does not cross."""
    entry = split_enters(enters)
    name, label = entry.device, entry.interface
    device = model.devices.get(name)
    if device is None:
        known = ", ".join(list(model.devices)[:8]) + (", ..." if len(model.devices) > 8 else "")
        reason = (f"audit.yaml source '{source}' enters at device '{name}', which is not in the snapshot: "
                  f"collect its configuration, or correct `enters` (devices: {known or 'none'})")
        model.gaps.append(DataGap("audit.yaml", reason))
        return [GapHop(name, "entry", Origin("audit.yaml"), reason=reason)], False
    fronted = [s.name for s in model.servers if device in devices_in_front(model, s).devices]
    hops = device.entry_hops(label)
    if fronted and not (len(hops) == 1 and isinstance(hops[0], GapHop)):
        hops = [GapHop(name, f"entry at {label}", hops[0].origin,
                       reason=f"audit.yaml source '{source}' enters at {name}, which is placed in front of VPN "
                              f"server {', '.join(fronted)}: traffic from its inside reaches a server directly "
                              "or by hairpin NAT, neither of which is modelled, and its outside filter and NAT "
                              "do not apply to that traffic (so no path of this source is evaluated)")]
    return hops, bool(fronted)


def resolve_config(snapshot: Snapshot, config_path: Path | None) -> AuditConfig:
    path = config_path if config_path is not None else snapshot.root / "audit.yaml"
    if config_path is not None and not config_path.is_file():
        raise SnapshotError(str(config_path), "config file not found")
    if level := wrong_level(snapshot.root):  # e.g. SNAPSHOT/meraki: say so before anything it lacks
        raise InputError(level)
    if config_path is None and not path.is_file():
        raise InputError(f"audit.yaml not found in {snapshot.root}; pass --config FILE or write one")
    config = load_config(path)
    if not config.vpn_servers:
        raise SnapshotError(str(path), "no vpn_servers: audit.yaml must name at least one VPN server")
    return config


def dns_records(snapshot: Snapshot, model: Model, notes: list[str]) -> dict[str, DnsRecords | None]:
    """The recorded resolver answers of each server's fqdn (None: not recorded, which `notes` then says once:
    no finding, since an offline snapshot simply has no DNS data)."""
    found: dict[str, DnsRecords | None] = {}
    for server in model.servers:
        if not server.fqdn:
            continue
        try:
            fqdn = normal_fqdn(server.fqdn)
        except ValueError:
            notes.append(f"{server.name}: its fqdn {server.fqdn!r} is not a host name and was not checked")
            continue
        if fqdn not in found:
            found[fqdn] = load_records(snapshot, fqdn)
            if found[fqdn] is None:
                notes.append(DNS_NOT_CHECKED.format(name=server.name, fqdn=fqdn, file=dns_file(fqdn)))
    return found


def trace_dns_targets(answers: list[RoleDns], model: Model, protocols: dict[str, Protocol]) -> None:
    """Where a role's resolver gives another address than the audited one, its clients dial that address: trace
    the role's flows there too (a second target with the server's name and protocols, placed in front of by
    the devices that own the address, never by audit.yaml `path`, which is the audited address's)."""
    for answer in answers:
        if not answer.named or answer.status not in ("mismatch", "unknown"):
            continue
        server = answer.server
        plan = plan_protocols([protocols[name.lower()] for name in server.protocols])
        for address in answer.other_addresses:
            target = VpnServer(server.name, address, list(server.protocols), server.fqdn)
            devices = devices_in_front(model, target).devices
            side = [hop for device in devices for hop in device.hops(target)]
            chains = role_chains(answer.role, side)
            # each flow once (protocols share udp/500), as the role needs it there (NAT-T or ESP, inner flows)
            traced = {str(t.flow): t for _name, t in trace_protocols(answer.role, target, plan, side, None, chains)}
            answer.traced[address] = [{"flow": flow, "verdict": t.verdict, "reason": t.reason,
                                       "devices": [d.name for d in devices]} for flow, t in traced.items()]


def _flow_keys(protocols: dict[str, Protocol], config: AuditConfig) -> list[FlowKey]:
    keys: list[FlowKey] = []
    for server in config.vpn_servers:
        for name in server.protocols:
            for flow in protocols[name.lower()].flows:
                key = flow_packets(flow, [ANY_ADDR], VpnServer("", server.address, [])).flow_key()
                if key is not None and key not in keys:
                    keys.append(key)
    return keys


def _trace_roles(roles: list[Role], model: Model, plans: dict[str, ProtocolPlan],
                 server_sides: dict[str, list[Hop]]) -> list[PathResult]:
    paths: list[PathResult] = []
    cache = TraceCache()  # per network: hop ids are stable while its hops are alive
    for server in model.servers:
        server_side = server_sides[server.name]
        plan = plans[server.name]
        for role in roles:
            chains = role_chains(role, server_side)
            paths.extend([PathResult(role, server, name, trace)
                          for name, trace in trace_protocols(role, server, plan, server_side, cache, chains)])
    return paths


YOUNG_THRESHOLD = 50_000


@contextmanager
def results_kept_out_of_gc() -> Iterator[Callable[[], None]]:
    """Within the block, objects that outlive a network (its paths, findings, the model) are moved to the
    collector's permanent generation after it. An org's results are millions of objects; without this
    every collection of the oldest generation walks all of them again, about a third of the audit's time.
    Cycles made while a network is audited are still collected; what is frozen is released at the end."""
    if gc.get_freeze_count():  # someone else froze objects (a host application): leave their choice alone
        yield _nothing
        return
    thresholds = gc.get_threshold()
    # A network's audit makes tens of thousands of short-lived objects, nearly all freed by reference
    # counting; a young-generation pass every 700 allocations finds almost nothing (a few percent of time).
    gc.set_threshold(max(thresholds[0], YOUNG_THRESHOLD), *thresholds[1:])
    try:
        yield gc.freeze
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _nothing() -> None:
    pass


@contextmanager
def results_held() -> Iterator[None]:
    """Within the block, every object alive at its start (an audit's results, which a report then reads) is out
    of the collector's walks. Rendering a report makes millions of short-lived objects, and each collection of
    the oldest generation would walk all the results again: the text report of 10,000 networks took 7.4 s
    instead of 2.3 s. What is frozen is released at the end."""
    if gc.get_freeze_count():  # someone else froze objects (a host application): leave their choice alone
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


Stream = Callable[[Callable[[NetworkModel], bool] | None], Iterator[NetworkModel]]


def _audit_forked(snapshot: Snapshot, model: Model, server_sides: dict[str, list[Hop]], expected: int,
                  stream: Stream, audit_network: AuditOne, network_done: Callable[[], None],
                  network_text: Callable[[list[PathResult]], str] | None, workers: int,
                  rebuild: Rebuild | None = None, reads: WorkerReads | None = None) -> list[NetworkResult] | None:
    """The networks audited by this process and `workers - 1` forked ones, or None (nothing changed) when that
    failed."""
    gaps, networks, refused = len(model.gaps), len(model.networks), dict(snapshot.refused)
    found = audit_forked(snapshot, model, [hop for hops in server_sides.values() for hop in hops], expected,
                         stream, audit_network, network_done, network_text, workers, rebuild, reads)
    if found is None:  # back to where a serial audit starts
        del model.gaps[gaps:], model.networks[networks:]
        snapshot.refused = refused
        return None
    results, trailing = found
    model.networks[networks:] = [r.net for r in results]
    for result in results:  # reads refused, in a serial audit's order
        refused.update(dict.fromkeys(result.refused))
    refused.update(dict.fromkeys(trailing))
    snapshot.refused = refused
    return results


def _audit_serial(snapshot: Snapshot, stream: Stream, audit_network: AuditOne, release: bool,
                  network_done: Callable[[], None]) -> list[NetworkResult]:
    results: list[NetworkResult] = []
    mark = len(snapshot.refused)
    for position, net in enumerate(stream(None)):
        net_paths, net_findings = audit_network(net)
        if release:
            net.release()
        results.append(NetworkResult(position, net, net_paths, net_findings, list(snapshot.refused)[mark:]
                                     if len(snapshot.refused) != mark else []))
        mark = len(snapshot.refused)
        network_done()
    return results


def run_audit(snapshot_dir: str | Path, config_path: Path | None = None,
              config: AuditConfig | None = None, keep_model: bool = True,
              sources_only: bool = False, workers: int | None = None,
              cache_dir: str | Path | None = None,
              network_text: Callable[[list[PathResult]], str] | None = None,
              verified_reads: set[bytes] | None = None) -> AuditResult:
    """Audit a snapshot. Networks are built, traced and checked one at a time; with keep_model=False each
    network's evaluation state (raw rows, caches) is freed once it is done, which keeps memory flat for
    orgs of thousands of networks (traces and the rules that decided them stay), and a large org's networks
    are shared with forked worker processes (`workers`: processes in all, 1 for none; default: one per usable
    CPU up to parallel.MAX_WORKERS, for orgs of MIN_NETWORKS or more on a machine that can fork). The result
    is the same either way. A scoped audit is serial (it is small, and the scope is applied while networks
    stream). With `cache_dir` (and
    keep_model=False) networks whose inputs did not change are taken from the audit cache (auditor/cache.py),
    the others audited and cached. `network_text`: the text a report will write for a network's paths
    (json_report.network_text), which a forked worker then writes for its networks while it audits, to a
    file the report copies from (the report is the same without it). `verified_reads`: networks' reads (as
    their entries pickle them) found unchanged a moment ago (a report memo's check, auditor/report_memo.py),
    whose files the cache need not check again."""
    auto_workers = workers is None
    if workers is None:
        workers = default_workers()
    snapshot = Snapshot(snapshot_dir)
    config = crl.expand(config or resolve_config(snapshot, config_path))  # CRL hosts as destinations
    cache = None
    if cache_dir is not None and not keep_model and not snapshot.overlay and not sources_only:
        cache = AuditCache(Path(cache_dir), config.model_dump_json())
        cache.forks = workers > 1
        cache.verified = verified_reads or set()
        cache.watch(snapshot)
        if network_text is not None:  # each network's report text kept with its entry, rendered once
            cache.network_text, network_text = network_text, cache.report_text
    overrides = {name: p.model_dump(exclude_none=True) for name, p in config.protocols.items()}
    try:
        protocols = load_protocols(overrides)
    except (KeyError, ValueError) as exc:
        raise SnapshotError("audit.yaml", f"protocols: {exc}") from None
    for configured in config.vpn_servers:
        for name in configured.protocols:
            if name.lower() not in protocols:
                raise SnapshotError("audit.yaml", f"server '{configured.name}' names unknown protocol '{name}' "
                                                  f"(known: {', '.join(sorted(protocols))})")
    RuleList.prime_keys = tuple(_flow_keys(protocols, config))
    model = new_model(snapshot, config)
    if cache is not None:  # a forked child checks the hits' files while this process reads what comes before
        cache.start_checks(snapshot, model, lambda m, take: iter_networks(snapshot, m, take))
    try:
        notes: list[str] = []
        records = dns_records(snapshot, model, notes)
        if sources_only:  # only audit.yaml sources (tracing one of them): no network is loaded
            model.scope = set()
        load_devices(snapshot, model)
        # what collection failed to read is unknown or an input error, never a pass
        fail_closed(snapshot, model, str(config_path or snapshot.root / "audit.yaml"))
        model.gaps.extend(DataGap(path, reason) for path, reason in crl.gaps(config))
        add_sources(model, config)
        graph = build_graph(model)  # servers and the devices in front of them; networks stream past it
        server_sides: dict[str, list[Hop]] = {}
        # what each server's protocols need of a role, read once for the whole audit
        plans = {server.name: plan_protocols([protocols[name.lower()] for name in server.protocols])
                 for server in model.servers}
        wire_flows = wire_flows_to(model.servers, protocols)  # every network's checks ask for them
        for server in model.servers:
            model.gaps.extend(DataGap("audit.yaml", p) for p in devices_in_front(model, server).problems)
            branches = server_side_hops(graph, server)
            server_sides[server.name] = branches[0] if branches else []
        paths: list[PathResult] = []
        findings: list[Finding] = []
        # Roles' answers come only for servers whose names have recorded answers (plugins.network_dns): without
        # any, no network asks its adapters (which finds them in the snapshot again each time).
        answered = any(found is not None for found in records.values())

        def audit_network(net: NetworkModel) -> tuple[list[PathResult], list[Finding]]:
            net_paths = _trace_roles(net.roles, model, plans, server_sides)
            if model.assume:
                annotate_assumed(net_paths, server_sides)
            view = Model(model.snapshot, [net], model.servers, devices=model.devices)
            answers = network_dns(snapshot, net, model.servers, records) if answered else []
            trace_dns_targets(answers, model, protocols)
            return net_paths, run_checks(AuditContext(view, net_paths, protocols, dns=answers,
                                                            server_flows=wire_flows), scope="network")

        def rebuild(position: int) -> tuple[NetworkModel, list[PathResult], list[Finding]]:
            """The network at `position` of the serial order built and audited again, on a model of its own (the
            audit's keeps its networks and gaps): for a forked worker's network sent without its tables."""
            scratch = dataclasses.replace(model, networks=[], gaps=[])
            place = itertools.count()
            for net in iter_networks(snapshot, scratch, lambda _net: next(place) == position):
                found = audit_network(net)
                net.release()  # as the audit's own networks are held
                return net, *found
            raise SnapshotError(str(snapshot.root), f"network {position + 1} of the snapshot is gone since it was "
                                                    "audited: audit the snapshot again once it is complete")

        def audit_networks(stream: Stream, expected: int, audit_one: AuditOne) -> list[NetworkResult]:
            forked = None
            if workers > 1 and not keep_model and model.scope is None and \
                    expected >= (MIN_NETWORKS if auto_workers else 2):
                # without the cache (which keeps every network's tables), a worker's networks whose traces are
                # all allowed need not send theirs: `rebuild` makes them again for a reader that asks
                forked = _audit_forked(snapshot, model, server_sides, expected, stream, audit_one, network_done,
                                       network_text, workers, rebuild if cache is None else None, cache)
            return forked if forked is not None else \
                _audit_serial(snapshot, stream, audit_one, not keep_model, network_done)

        with results_kept_out_of_gc() as network_done:
            if cache is not None:
                done = cache.audit(snapshot, model, [hop for hops in server_sides.values() for hop in hops],
                                   lambda m, take: iter_networks(snapshot, m, take), audit_network, network_done,
                                   audit_networks)
            else:
                expected = count_networks(snapshot) if workers > 1 and not keep_model and model.scope is None else 0
                done = audit_networks(lambda take: iter_networks(snapshot, model, take), expected, audit_network)
            by_worker = 0
            written = {}
            for result in done:
                if result.text is not None and result.paths:
                    written[id(result.paths[0])] = (result.text, result.paths)
                paths.extend(result.paths)
                findings.extend(result.findings)
                by_worker += result.by_worker
            # Still frozen: a full collection here walked every result (5 s of a 10,000-network audit)
            source_paths = _trace_roles(model.extra_roles, model, plans, server_sides)
            if model.assume:
                annotate_assumed(source_paths, server_sides)
            sources_view = Model(model.snapshot, [], model.servers, extra_roles=model.extra_roles,
                                 devices=model.devices)
            findings.extend(run_checks(AuditContext(sources_view, source_paths, protocols, server_flows=wire_flows),
                                       scope="network"))
            paths.extend(source_paths)
            model.gaps.extend(DataGap(rel, f"{rel} leads outside the snapshot (a symlink?): not read")
                              for rel in snapshot.refused)
            findings.extend(run_checks(AuditContext(model, paths, protocols, dns_records=records), scope="global"))
        return AuditResult(str(snapshot_dir), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), model, paths,
                           findings, protocols, notes=notes, networks_by_worker=by_worker,
                           cache=cache.stats if cache is not None else None, written=written,
                           assumptions=listing(config.assume))
    finally:
        if cache is not None:
            cache.stop_checks()
