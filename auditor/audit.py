"""One audit: snapshot -> model -> graph -> traces -> findings, as one result object for every report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from auditor import __version__
from auditor.adapters import load_devices_and_networks
from auditor.checks import AuditContext, Finding, Protocol, load_protocols, run_checks
from auditor.config import AuditConfig, load_config
from auditor.graph import build_graph, devices_in_front, server_side_hops
from auditor.model import DataGap, Model, Role, RuleList, Variant, VpnServer
from auditor.packets import ANY_ADDR, address_interval
from auditor.snapshot import Snapshot, SnapshotError
from auditor.trace import FlowTrace, PathResult, flow_packets, trace_role


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

    def counts(self) -> dict[str, int]:
        out = {"allowed": 0, "blocked": 0, "partial": 0, "unknown": 0}
        for path in self.paths:
            out[path.verdict] += 1
        return out


def load_model(snapshot: Snapshot, config: AuditConfig) -> Model:
    model = Model(snapshot=str(snapshot.root))
    for server in config.vpn_servers:
        model.servers.append(VpnServer(server.name, server.address, [p.lower() for p in server.protocols],
                                       server.fqdn, list(server.path)))
    for source in config.sources:
        role = Role("source", source.name, None, None)
        role.variants = [Variant(source.enters or "internet",
                                 [address_interval(p) for p in source.prefixes], [])]
        model.extra_roles.append(role)
    load_devices_and_networks(snapshot, model)
    if config.scope.networks:
        wanted = {n.lower() for n in config.scope.networks}
        model.networks = [n for n in model.networks if n.id.lower() in wanted or n.name.lower() in wanted]
    return model


def resolve_config(snapshot: Snapshot, config_path: Path | None) -> AuditConfig:
    path = config_path if config_path is not None else snapshot.root / "audit.yaml"
    if config_path is not None and not config_path.is_file():
        raise SnapshotError(str(config_path), "config file not found")
    config = load_config(path)
    if not config.vpn_servers:
        raise SnapshotError(str(path), "no vpn_servers: audit.yaml must name at least one VPN server")
    return config


def _flow_keys(protocols: dict[str, Protocol], config: AuditConfig) -> list[tuple]:
    keys = []
    for server in config.vpn_servers:
        for name in server.protocols:
            for flow in protocols[name.lower()].flows:
                box = flow_packets(flow, [ANY_ADDR], VpnServer("", server.address, [])).boxes[0]
                if (box[2], box[4]) not in keys:
                    keys.append((box[2], box[4]))
    return keys


def run_audit(snapshot_dir: str | Path, config_path: Path | None = None,
              config: AuditConfig | None = None) -> AuditResult:
    snapshot = Snapshot(snapshot_dir)
    config = config or resolve_config(snapshot, config_path)
    overrides = {name: p.model_dump(exclude_none=True) for name, p in config.protocols.items()}
    try:
        protocols = load_protocols(overrides)
    except (KeyError, ValueError) as exc:
        raise SnapshotError("audit.yaml", f"protocols: {exc}") from None
    for server in config.vpn_servers:
        for name in server.protocols:
            if name.lower() not in protocols:
                raise SnapshotError("audit.yaml", f"server '{server.name}' names unknown protocol '{name}' "
                                                  f"(known: {', '.join(sorted(protocols))})")
    RuleList.prime_keys = tuple(_flow_keys(protocols, config))
    model = load_model(snapshot, config)
    graph = build_graph(model)
    paths: list[PathResult] = []
    cache: dict = {}  # hop objects live as long as the model, so their ids are stable keys
    for server in model.servers:
        problems = devices_in_front(model, server)[1]
        model.gaps.extend(DataGap("audit.yaml", p) for p in problems)
        branches = server_side_hops(graph, server)
        server_side = branches[0] if branches else []
        roles = [r for net in model.networks for r in net.roles] + model.extra_roles
        for role in roles:
            traced: dict[str, FlowTrace] = {}
            for protocol_name in server.protocols:
                protocol = protocols[protocol_name.lower()]
                for flow in protocol.flows:
                    key = str(flow)
                    if key not in traced:
                        traced[key] = trace_role(role, server, flow, server_side, cache)
                    paths.append(PathResult(role, server, protocol.name, traced[key]))
    ctx = AuditContext(model, paths, protocols)
    findings = run_checks(ctx)
    return AuditResult(str(snapshot_dir), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), model, paths,
                       findings, protocols)
