"""`vpn-auditor explain CODE SNAPSHOT`: from a Windows VPN error code to the findings that can cause it.

The mapping is data (rules/windows_errors.yaml): each code names the finding kinds that cause it on the
network, and the causes outside the network (certificates, credentials, server policy) with what to check. For
a code with network causes the audit runs in the requested scope and the findings of those kinds are shown,
each with the mechanism; for a code without, the audit is not needed and the answer says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from auditor.audit import AuditResult, resolve_config, run_audit
from auditor.checks import SEVERITY_ORDER, Finding
from auditor.snapshot import Snapshot, SnapshotError

SCHEMA_ID = "vpn-auditor.explain/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkCause(_Strict):
    kinds: list[str]
    why: str
    protocols: list[str] = Field(default_factory=list)  # empty: any protocol

    def covers(self, finding: Finding) -> bool:
        if finding.check.kind not in self.kinds:
            return False
        protocols = finding.evidence.get("protocols") or [finding.evidence.get("protocol")]
        return not self.protocols or None in protocols or any(p in self.protocols for p in protocols)


class OtherCause(_Strict):
    cause: str
    check: str


class WindowsError(_Strict):
    title: str
    windows_says: str
    protocols: list[str] = Field(default_factory=list)
    network_causes: list[NetworkCause] = Field(default_factory=list)
    other_causes: list[OtherCause] = Field(default_factory=list)


@cache
def catalogue() -> dict[int, WindowsError]:
    """rules/windows_errors.yaml, validated (a malformed entry is a packaging bug: fail loudly)."""
    raw = yaml.safe_load(resources.files("rules").joinpath("windows_errors.yaml").read_text(encoding="utf-8"))
    try:
        return {int(code): WindowsError.model_validate(entry) for code, entry in raw["errors"].items()}
    except ValidationError as exc:
        raise RuntimeError(f"rules/windows_errors.yaml: {exc}") from None


@dataclass(slots=True)
class Match:
    finding: Finding
    why: str


@dataclass(slots=True)
class Explanation:
    code: int
    error: WindowsError
    scope: dict[str, str | None]
    matches: list[Match] = field(default_factory=list)
    audited: bool = False
    paths_in_scope: int = 0

    @property
    def has_network_cause(self) -> bool:
        return bool(self.error.network_causes)

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA_ID, "code": self.code, "title": self.error.title,
            "windows_says": self.error.windows_says, "protocols": self.error.protocols, "scope": self.scope,
            "network_causes": [c.model_dump() for c in self.error.network_causes],
            "other_causes": [c.model_dump() for c in self.error.other_causes],
            "audited": self.audited, "paths_in_scope": self.paths_in_scope,
            "findings": [{**m.finding.to_json(), "why": m.why} for m in self.matches],
        }


def lookup(code: int) -> WindowsError:
    errors = catalogue()
    if code not in errors:
        raise LookupError(f"Windows error {code} is not in rules/windows_errors.yaml (known: "
                          f"{', '.join(str(c) for c in sorted(errors))})")
    return errors[code]


def _in_role(finding: Finding, role: str | None, devices: set[str]) -> bool:
    if role is None:
        return True
    if finding.role is None:
        # network-level evidence (a shadowed rule, a load balancer) counts when the role's paths cross it
        return finding.device is not None and finding.device in devices
    wanted = role.lower()
    return wanted in (str(finding.role.get("name", "")).lower(), str(finding.role.get("ssid") or "").lower())


def explain(code: int, snapshot_dir: Path, config_path: Path | None = None, network: str | None = None,
            role: str | None = None) -> Explanation:
    error = lookup(code)
    snapshot = Snapshot(snapshot_dir)
    scope = {"network": network, "role": role}
    out = Explanation(code, error, scope)
    if not error.network_causes:
        return out  # certificates, credentials, server policy: nothing in the network configuration to audit
    config = resolve_config(snapshot, config_path).model_copy(deep=True)
    if network is not None:
        config.scope.networks = [network]
    result: AuditResult = run_audit(snapshot_dir, config=config)
    if network is not None and not result.model.networks:
        raise LookupError(f"network '{network}' is not in the snapshot")
    paths = [p for p in result.paths if role is None or role.lower() in
             (p.role.name.lower(), (p.role.ssid or "").lower())]
    if role is not None and not paths:
        names = sorted({p.role.name for p in result.paths} | {p.role.ssid for p in result.paths if p.role.ssid})
        raise LookupError(f"no role or SSID named '{role}' in scope (known: {', '.join(names)})")
    out.audited = True
    out.paths_in_scope = len(paths)
    devices = {hop.device for p in paths for variant in p.role.variants for hop in variant.hops}
    devices |= {record.hop.device for p in paths for record in p.trace.hops}
    for finding in sorted(result.findings, key=lambda f: -SEVERITY_ORDER[f.effective_severity]):
        if not _in_role(finding, role, devices):
            continue
        cause = next((c for c in error.network_causes if c.covers(finding)), None)
        if cause is not None:
            out.matches.append(Match(finding, " ".join(cause.why.split())))
    return out


# ---------------------------------------------------------------------------------------------------------
# Views

def render_json(explanation: Explanation) -> str:
    return json.dumps(explanation.to_json(), indent=2) + "\n"


def text_lines(explanation: Explanation) -> list[str]:
    """Plain lines (no markup) a help-desk person can read top to bottom."""
    e = explanation.error
    lines = [f"Windows error {explanation.code}: {e.title}",
             f"Windows says: \"{' '.join(e.windows_says.split())}\""]
    if e.protocols:
        lines.append(f"Reported by: {', '.join(e.protocols)}")
    scope = ", ".join(f"{k} {v}" for k, v in explanation.scope.items() if v) or "the whole snapshot"
    lines.append("")
    if not explanation.has_network_cause:
        lines.append(f"Error {explanation.code} has no network cause: it is not about reachability, so the "
                     "network configuration cannot explain it. Check these instead:")
    else:
        lines.append("Network causes the audit checks:")
        for cause in e.network_causes:
            only = f" ({', '.join(cause.protocols)} only)" if cause.protocols else ""
            lines.append(f"  - {', '.join(cause.kinds)}{only}: {' '.join(cause.why.split())}")
        lines.append("")
        if explanation.matches:
            lines.append(f"Findings in {scope} that can cause it ({len(explanation.matches)}):")
            for match in explanation.matches:
                f = match.finding
                lines.append(f"  [{f.effective_severity}] {f.check.id} ({f.check.kind}): {f.title}")
                lines.append(f"      why: {match.why}")
                lines.append(f"      fix: {f.remediation}")
        else:
            lines.append(f"None of these is present in {scope} ({explanation.paths_in_scope} paths audited): the "
                         "network configuration does not explain it; check the other causes.")
        lines.append("")
        lines.append("Other causes (outside network configuration) and what to check:")
    for other in e.other_causes:
        lines.append(f"  - {' '.join(other.cause.split())}")
        lines.append(f"      check: {' '.join(other.check.split())}")
    return lines


__all__ = ["Explanation", "SnapshotError", "catalogue", "explain", "lookup", "render_json", "text_lines"]
