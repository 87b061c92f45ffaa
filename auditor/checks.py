"""The check interface and the loader of the `rules/` catalogue.

Each audit rule is one module under `rules/checks/`: a `CHECK = CheckMeta(...)` (id, kind, severity,
title, Windows errors, remediation) and a `run(ctx)` function yielding findings. VPN protocol requirements
are data in `rules/protocols.yaml` (read by `auditor.protocols`). Adding a check is adding a file; nothing else changes.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from auditor.protocols import wire_flows_to
from auditor.vocab import Severity

if TYPE_CHECKING:
    from auditor.dns import DnsRecords, RoleDns
    from auditor.model import Model
    from auditor.packets import PacketSet
    from auditor.protocols import Protocol
    from auditor.trace import PathResult

@dataclass(frozen=True, slots=True)
class CheckMeta:
    id: str  # stable id users filter and suppress by, e.g. "VPN-BLOCKED"
    kind: str  # report finding kind (docs/report-json.md), e.g. "blocked-flow"
    severity: Severity
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
    severity: Severity | None = None  # overrides the check's severity when set
    windows_errors: tuple[int, ...] | None = None
    waived: dict[str, str] | None = None  # {reason, owner, expires} of the waiver that accepts it (--waivers)

    @property
    def effective_severity(self) -> Severity:
        return self.severity or self.check.severity

    @property
    def fingerprint(self) -> str:
        """What the finding is about, hashed: check id, network, role, phase, device and where its deciding
        rule is written (not the wording), so a waiver can name one finding across runs."""
        evidence = self.evidence
        role = self.role or {}
        origins = sorted(_rule_sources(evidence))
        # the flows it is about: the same rule (or another written where it was) blocking more flows is another
        # finding, which a waiver of this one does not name
        flows = evidence.get("flows")
        flows = sorted(map(str, flows)) if isinstance(flows, list) else []
        parts = [self.check.id, (self.network or {}).get("id") or "",
                 f"{role.get('kind') or ''}/{role.get('name') or ''}/{role.get('ssid') or ''}",
                 str(evidence.get("phase") or ""), self.device or "", *origins, *(f"flow:{f}" for f in flows)]
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
    # wire_flows_to(model.servers, protocols): an audit that checks network by network works them out once
    # and hands them to every network's context; None: the first check that asks works them out
    server_flows: tuple[PacketSet, ...] | None = None

    def vpn_flows(self) -> tuple[PacketSet, ...]:
        if self.server_flows is None:
            self.server_flows = wire_flows_to(self.model.servers, self.protocols)
        return self.server_flows


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
