"""The check interface and the loader of the `rules/` catalogue.

Each audit rule is one module under `rules/checks/`: a `CHECK = CheckMeta(...)` (id, kind, severity,
title, Windows errors, remediation) and a `run(ctx)` function yielding findings. VPN protocol requirements
are data in `rules/protocols.yaml`. Adding a check is adding a file; nothing else changes.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from auditor.dns import DnsRecords, RoleDns
    from auditor.model import Model
    from auditor.trace import PathResult

SEVERITY_ORDER = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True, slots=True)
class CheckMeta:
    id: str  # stable id users filter and suppress by, e.g. "VPN-BLOCKED"
    kind: str  # report finding kind (docs/report-json.md), e.g. "blocked-flow"
    severity: str  # error | warning | info
    title: str
    windows_errors: tuple[int, ...] = ()
    remediation: str = ""  # default text; findings usually refine it with the rule to change
    # "network": run once per network with only that network's paths and model (lets large orgs stream);
    # "global": run once at the end with every path and the whole model (devices, cross-network checks).
    scope: str = "global"


@dataclass(slots=True)
class Finding:
    check: CheckMeta
    title: str
    remediation: str
    network: dict[str, str] | None = None  # {"id", "name"}
    role: dict[str, Any] | None = None  # {"kind", "name", "ssid"}
    device: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the check's severity when set
    windows_errors: tuple[int, ...] | None = None
    waived: dict[str, str] | None = None  # {reason, owner, expires} of the waiver that accepts it (--waivers)

    @property
    def effective_severity(self) -> str:
        return self.severity or self.check.severity

    @property
    def fingerprint(self) -> str:
        """What the finding is about, hashed: check id, network, role, phase, device and where its deciding
        rule is written (not the wording), so a waiver can name one finding across runs."""
        evidence = self.evidence
        role = self.role or {}
        origins = sorted(_rule_sources(evidence))
        parts = [self.check.id, (self.network or {}).get("id") or "",
                 f"{role.get('kind') or ''}/{role.get('name') or ''}/{role.get('ssid') or ''}",
                 str(evidence.get("phase") or ""), self.device or "", *origins]
        if not origins:  # nothing locates it: what it says does
            parts.append(self.title)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.check.id,
            "kind": self.check.kind,
            "severity": self.effective_severity,
            "title": self.title,
            "network": self.network,
            "role": self.role,
            "device": self.device,
            "windows_errors": list(self.windows_errors if self.windows_errors is not None
                                   else self.check.windows_errors),
            "evidence": self.evidence,
            "remediation": self.remediation,
            "fingerprint": self.fingerprint,
            **({"waived": self.waived} if self.waived is not None else {}),
        }


def _rule_sources(evidence: dict[str, Any]) -> set[str]:
    """Where the rules that decided a finding are written ('file[index]' or 'file:line'), from its evidence."""
    found: set[str] = set()
    for item in evidence.get("deciding") or []:
        rule = item.get("rule") if isinstance(item, dict) else None
        if isinstance(rule, dict) and isinstance(rule.get("source"), str):
            found.add(rule["source"])
    rule = evidence.get("rule")
    if isinstance(rule, dict) and isinstance(rule.get("source"), str):
        found.add(rule["source"])
    for key in ("file", "lines"):
        value = evidence.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                found.add(item)
    return found


@dataclass(slots=True)
class AuditContext:
    """What checks see: the model, every traced path, and the protocol catalogue."""

    model: Model
    paths: list[PathResult]
    protocols: dict[str, Protocol]
    dns: list[RoleDns] = field(default_factory=list)  # per network: each role's answer for each server's fqdn
    dns_records: dict[str, DnsRecords | None] = field(default_factory=dict)  # global: recorded answers by fqdn


@dataclass(frozen=True, slots=True)
class Flow:
    ip_protocol: str  # udp | tcp | esp | ...
    dst_port: int | None

    @classmethod
    def parse(cls, text: str) -> Flow:
        """'udp/4500', 'tcp/443', 'esp'."""
        proto, _, port = text.strip().lower().partition("/")
        if proto not in {"udp", "tcp", "esp", "gre", "ah", "icmp", "sctp"}:
            raise ValueError(f"unknown protocol in flow {text!r}")
        if port:
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"bad port in flow {text!r}")
            return cls(proto, int(port))
        if proto in {"udp", "tcp", "sctp"}:
            raise ValueError(f"flow {text!r} needs a port")
        return cls(proto, None)

    def __str__(self) -> str:
        return self.ip_protocol if self.dst_port is None else f"{self.ip_protocol}/{self.dst_port}"


# A flow's condition on the path (`when` in rules/protocols.yaml): NAT-T (udp/4500) is used once IKE detects
# that something translates addresses between the ends, ESP (IP 50) when nothing does (RFC 7296 section 2.23,
# RFC 3947/3948 for IKEv1).
WHEN_NAT, WHEN_NO_NAT = "nat", "no-nat"


@dataclass(frozen=True, slots=True)
class Protocol:
    name: str
    title: str
    flows: tuple[Flow, ...]  # every flow, in catalogue order: on the wire, conditional and inner
    windows_errors: tuple[int, ...] = ()
    notes: str = ""
    when: tuple[tuple[Flow, str], ...] = ()  # conditional flows: (flow, WHEN_NAT | WHEN_NO_NAT)
    inside: tuple[tuple[Flow, tuple[Flow, ...]], ...] = ()  # inner flows and the flows that carry them

    def condition(self, flow: Flow) -> str | None:
        for conditional, when in self.when:
            if conditional == flow:
                return when
        return None

    def carriers(self, flow: Flow) -> tuple[Flow, ...] | None:
        """The flows that carry an inner flow (None: the flow crosses the path in the clear)."""
        for inner, carriers in self.inside:
            if inner == flow:
                return carriers
        return None

    @property
    def wire_flows(self) -> tuple[Flow, ...]:
        """The flows middle boxes see (inner flows left out), whatever NAT there is."""
        inner = {flow for flow, _ in self.inside}
        return tuple(f for f in self.flows if f not in inner)

    @property
    def nat_flows(self) -> tuple[Flow, ...]:
        """The flows middle boxes see when something on the path translates (NAT-T rather than ESP)."""
        return tuple(f for f in self.wire_flows if self.condition(f) != WHEN_NO_NAT)


def _protocol(name: str, spec: dict[str, Any]) -> Protocol:
    """One catalogue entry. A flow is `udp/500`, or a mapping: `{flow: udp/4500, when: nat}` (used only when
    something on the path translates), `{flow: udp/1701, inside: [udp/500, udp/4500, esp]}` (carried inside
    those flows, so no middle box sees it)."""
    flows: list[Flow] = []
    when: list[tuple[Flow, str]] = []
    inside: list[tuple[Flow, tuple[Flow, ...]]] = []
    entries = spec["flows"]
    if not isinstance(entries, list) or not entries:
        raise ValueError(f"{name}: flows must be a non-empty list")
    for entry in entries:
        if isinstance(entry, str):
            flows.append(Flow.parse(entry))
            continue
        if not isinstance(entry, dict) or "flow" not in entry or set(entry) - {"flow", "when", "inside"}:
            raise ValueError(f"{name}: a flow is 'udp/500' or a mapping with `flow` and `when` or `inside`, "
                             f"not {entry!r}")
        flow = Flow.parse(str(entry["flow"]))
        flows.append(flow)
        if "when" in entry:
            if entry["when"] not in (WHEN_NAT, WHEN_NO_NAT):
                raise ValueError(f"{name}: `when` of {flow} must be '{WHEN_NAT}' or '{WHEN_NO_NAT}'")
            when.append((flow, entry["when"]))
        if "inside" in entry:
            carriers = entry["inside"]
            if not isinstance(carriers, list) or not carriers:
                raise ValueError(f"{name}: `inside` of {flow} must list the flows that carry it")
            inside.append((flow, tuple(Flow.parse(str(c)) for c in carriers)))
    if len(set(flows)) != len(flows):
        raise ValueError(f"{name}: a flow is listed twice")
    for inner, carriers in inside:
        if inner in {flow for flow, _ in when}:
            raise ValueError(f"{name}: inner flow {inner} cannot have a `when`")
        for carrier in carriers:
            if carrier not in flows or carrier in {f for f, _ in inside}:
                raise ValueError(f"{name}: {inner} is carried by {carrier}, which is not one of its flows on "
                                 "the wire")
    return Protocol(name=name, title=str(spec.get("title", name)), flows=tuple(flows),
                    windows_errors=tuple(int(e) for e in spec.get("windows_errors", [])),
                    notes=str(spec.get("notes", "")), when=tuple(when), inside=tuple(inside))


def load_protocols(overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Protocol]:
    """The protocol catalogue from rules/protocols.yaml, with audit.yaml `protocols` merged on top."""
    raw = yaml.safe_load(resources.files("rules").joinpath("protocols.yaml").read_text(encoding="utf-8"))
    merged: dict[str, dict[str, Any]] = dict(raw["protocols"])
    for name, spec in (overrides or {}).items():
        merged[name] = {**merged.get(name, {}), **spec}
    return {name: _protocol(name, spec) for name, spec in merged.items()}


CheckFunction = Callable[[AuditContext], Iterable[Finding]]


@cache
def load_checks() -> tuple[tuple[CheckMeta, CheckFunction], ...]:
    """Every module in rules/checks, in name order."""
    package = importlib.import_module("rules.checks")
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"rules.checks.{info.name}")
        meta = getattr(module, "CHECK", None)
        run = getattr(module, "run", None)
        if isinstance(meta, CheckMeta) and callable(run):
            found.append((meta, run))
    return tuple(found)


def run_checks(ctx: AuditContext, scope: str | None = None) -> list[Finding]:
    """Run the catalogue's checks of one scope ("network" or "global"), or all of them."""
    findings: list[Finding] = []
    for meta, run in load_checks():
        if scope is None or meta.scope == scope:
            findings.extend(run(ctx))
    return findings
