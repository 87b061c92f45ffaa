"""`vpn-auditor explain CODE SNAPSHOT`: from a Windows VPN error code to the findings that can cause it.

The codes are data (rules/windows_errors.yaml): each names the causes outside the network (certificates,
credentials, server policy) with what to check, and why each kind of finding causes it. Which findings are
shown is decided by the findings' own `windows_errors` tags, which the checks set: one source, so a finding
tagged 809 is always listed by `explain 809`. For a code with network causes the audit runs in the requested
scope; for a code without, the audit is not needed and the answer says so. Codes are accepted as users see
them (809, 0x80092013, -2146885613); codes not in the catalogue are answered by family.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from auditor import crl
from auditor.audit import AuditResult, resolve_config, run_audit
from auditor.checks import Finding
from auditor.errors import SelectionError
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vocab import Severity

SCHEMA_ID = "vpn-auditor.explain/1"

_DNS_KINDS = ("dns-mismatch", "dns-unresolved", "dns-unknown")
_WIN32_HRESULT = 0x80070000  # HRESULT_FROM_WIN32: 0x8007xxxx wraps Win32 error xxxx


def parse_code(text: str | int) -> int:
    """A Windows error code as users copy it: decimal (809), hex (0x80092013) or the negative decimal RasClient
    event 20227 logs for HRESULTs (-2146885613), as an unsigned 32-bit number. ValueError when it is none."""
    raw = str(text).strip()
    try:
        value = int(raw, 16) if raw.lower().startswith(("0x", "-0x")) else int(raw, 10)
    except ValueError:
        raise ValueError(f"'{raw}' is not a Windows error code (809, 0x80092013 or -2146885613)") from None
    if not -(2**31) <= value < 2**32:
        raise ValueError(f"'{raw}' is not a 32-bit Windows error code")
    return value & 0xFFFFFFFF


def code_text(code: int) -> str:
    """As Windows shows it: RAS and Win32 errors (16 bits) in decimal, HRESULTs in hex."""
    return f"0x{code:08X}" if code > 0xFFFF else str(code)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NetworkCause(_Strict):
    kinds: list[str]
    why: str
    # The explain JSON has carried it since version 1; the findings' own tags now scope a cause to protocols
    # (rules/checks/_windows.py), so the catalogue leaves it empty.
    protocols: list[str] = Field(default_factory=list)


class OtherCause(_Strict):
    cause: str
    check: str
    source: str = ""


class KnownCode(_Strict):
    """A Windows VPN error code the catalogue explains (not named WindowsError: a builtin on Windows)."""

    title: str
    windows_says: str
    protocols: list[str] = Field(default_factory=list)  # the VPN types that report it
    network_causes: list[NetworkCause] = Field(default_factory=list)
    other_causes: list[OtherCause] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)

    def why(self, kind: str) -> str | None:
        cause = next((c for c in self.network_causes if kind in c.kinds), None)
        return " ".join(cause.why.split()) if cause is not None else None


class Family(_Strict):
    name: str
    first: int
    last: int
    title: str
    checks: list[OtherCause]
    sources: list[str] = Field(default_factory=list)

    @field_validator("first", "last", mode="before")
    @classmethod
    def _code(cls, value: Any) -> int:
        return parse_code(value)

    def covers(self, code: int) -> bool:
        return self.first <= code <= self.last


class _Catalogue(_Strict):
    errors: dict[int, KnownCode]
    families: list[Family] = Field(default_factory=list)

    @field_validator("errors", mode="before")
    @classmethod
    def _codes(cls, value: Any) -> dict[int, Any]:
        return {parse_code(code): entry for code, entry in (value or {}).items()}


@cache
def _load() -> _Catalogue:
    """rules/windows_errors.yaml, validated (a malformed entry is a packaging bug: fail loudly)."""
    raw = yaml.safe_load(resources.files("rules").joinpath("windows_errors.yaml").read_text(encoding="utf-8"))
    try:
        return _Catalogue.model_validate(raw)
    except (ValidationError, ValueError) as exc:
        raise RuntimeError(f"rules/windows_errors.yaml: {exc}") from None


def catalogue() -> dict[int, KnownCode]:
    return _load().errors


def families() -> list[Family]:
    return _load().families


@dataclass(slots=True)
class Lookup:
    code: int  # the code answered (a wrapped Win32 error unwrapped)
    error: KnownCode | None
    family: Family | None = None
    given: int | None = None  # the code as given, when it was unwrapped


def lookup(code: int) -> Lookup:
    """The catalogue entry of a code, else its family. SelectionError (exit 2) when neither knows it."""
    errors = catalogue()
    candidates = [code]
    if code & 0xFFFF0000 == _WIN32_HRESULT:
        candidates.append(code & 0xFFFF)  # 0x80070329 is error 809 as an HRESULT
    for candidate in candidates:
        if candidate in errors:
            return Lookup(candidate, errors[candidate], given=code if candidate != code else None)
    for candidate in reversed(candidates):
        family = next((f for f in families() if f.covers(candidate)), None)
        if family is not None:
            return Lookup(candidate, None, family, given=code if candidate != code else None)
    ranges = ", ".join(f"{code_text(f.first)}-{code_text(f.last)} ({f.name})" for f in families())
    raise SelectionError(f"Windows error {code_text(code)} is neither in rules/windows_errors.yaml (known: "
                      f"{', '.join(code_text(c) for c in sorted(errors))}) nor in a family it knows ({ranges})")


@dataclass(slots=True)
class Match:
    finding: Finding
    why: str


@dataclass(slots=True)
class Explanation:
    code: int
    error: KnownCode | None
    scope: dict[str, str | None]
    family: Family | None = None
    given: int | None = None
    matches: list[Match] = field(default_factory=list)
    audited: bool = False
    paths_in_scope: int = 0
    unresolved: list[crl.Unresolved] = field(default_factory=list)  # CRL hosts the audit could not trace
    notes: list[str] = field(default_factory=list)  # what the audit could not look at, in words

    @property
    def has_network_cause(self) -> bool:
        return self.error is not None and bool(self.error.network_causes)

    @property
    def unknown(self) -> bool:
        """Some cause in scope cannot be decided (exit 3 unless --allow-unknown)."""
        return bool(self.unresolved) or any(m.finding.check.kind == "unknown-flow" for m in self.matches)

    def to_json(self) -> dict[str, Any]:
        e = self.error
        out: dict[str, Any] = {
            "schema": SCHEMA_ID, "code": self.code, "code_text": code_text(self.code),
            "given": code_text(self.given) if self.given is not None else None,
            "title": e.title if e else self.family.title if self.family else "",
            "windows_says": e.windows_says if e else None, "protocols": e.protocols if e else [],
            "scope": self.scope,
            "network_causes": [c.model_dump() for c in e.network_causes] if e else [],
            "other_causes": [c.model_dump() for c in (e.other_causes if e else self.family.checks if self.family
                                                      else [])],
            "sources": e.sources if e else self.family.sources if self.family else [],
            "family": self.family.model_dump() if self.family and e is None else None,
            "audited": self.audited, "paths_in_scope": self.paths_in_scope,
            "findings": [{**m.finding.to_json(), "why": m.why} for m in self.matches],
        }
        if self.unresolved:
            out["crl_unresolved"] = [u.to_json() for u in self.unresolved]
        if self.notes:
            out["notes"] = self.notes
        return out


def tags(finding: Finding) -> tuple[int, ...]:
    """The Windows errors a finding is tagged with (its own, else its check's)."""
    return finding.windows_errors if finding.windows_errors is not None else finding.check.windows_errors


def _in_role(finding: Finding, role: str | None, devices: set[str]) -> bool:
    if role is None:
        return True
    if finding.role is None:
        # the public view of the server's name (DNS-PUBLIC-*, no network, role or device) is what roles whose own
        # resolver the snapshot does not name get: it concerns every role, as `trace` shows it on every path
        if finding.device is None and finding.check.kind in _DNS_KINDS:
            return True
        # network-level evidence (a shadowed rule, a load balancer) counts when the role's paths cross it
        return finding.device is not None and finding.device in devices
    wanted = role.lower()
    return wanted in (str(finding.role.get("name", "")).lower(), str(finding.role.get("ssid") or "").lower())


def explain(code: int | str, snapshot_dir: Path, config_path: Path | None = None, network: str | None = None,
            role: str | None = None) -> Explanation:
    try:
        number = parse_code(code)
    except ValueError as exc:
        raise SelectionError(str(exc)) from None
    found = lookup(number)
    snapshot = Snapshot(snapshot_dir)
    scope = {"network": network, "role": role}
    out = Explanation(found.code, found.error, scope, found.family, found.given)
    if not out.has_network_cause:
        return out  # certificates, credentials, server policy, or a family: nothing to audit
    config = resolve_config(snapshot, config_path).model_copy(deep=True)
    if network is not None:
        config.scope.networks = [network]
    result: AuditResult = run_audit(snapshot_dir, config=config)
    if network is not None and not result.model.networks:
        raise SelectionError(f"network '{network}' is not in the snapshot")
    paths = [p for p in result.paths if role is None or role.lower() in
             (p.role.name.lower(), (p.role.ssid or "").lower())]
    if role is not None and not paths:
        names = sorted({p.role.name for p in result.paths} | {p.role.ssid for p in result.paths if p.role.ssid})
        raise SelectionError(f"no role or SSID named '{role}' in scope (known: {', '.join(names)})")
    out.audited = True
    out.paths_in_scope = len(paths)
    assert out.error is not None
    if out.code in crl.CODES:
        out.unresolved = crl.unresolved(config)
        if not any(server.crl_urls for server in config.vpn_servers):
            out.notes.append(
                "audit.yaml lists no CRL URL, so no CRL host was traced: read the CRL distribution point of the "
                "VPN server's certificate (`certutil -dump server.cer`) and list it under the server as "
                "`crl_urls: [http://...]` (docs/audit-yaml.md).")
    devices = {hop.device for p in paths for variant in p.role.variants for hop in variant.hops}
    devices |= {record.hop.device for p in paths for record in p.trace.hops}
    for finding in sorted(result.findings, key=lambda f: -Severity.rank_of(f.effective_severity)):
        if out.code not in tags(finding) or not _in_role(finding, role, devices):
            continue
        # tests/test_explain.py keeps a `why` in the catalogue for every tag a check sets
        why = out.error.why(finding.check.kind) or f"Its check tags it {code_text(out.code)}."
        out.matches.append(Match(finding, why))
    return out


# ---------------------------------------------------------------------------------------------------------
# Views

def render_json(explanation: Explanation) -> str:
    return json.dumps(explanation.to_json(), indent=2) + "\n"


def _checks(lines: list[str], causes: list[OtherCause]) -> None:
    for other in causes:
        lines.append(f"  - {' '.join(other.cause.split())}")
        lines.append(f"      check: {' '.join(other.check.split())}")
        if other.source:
            lines.append(f"      source: {' '.join(other.source.split())}")


def text_lines(explanation: Explanation) -> list[str]:
    """Plain lines (no markup) a help-desk person can read top to bottom."""
    name = code_text(explanation.code)
    given = (f" ({code_text(explanation.given)} is Windows error {name} as an HRESULT)"
             if explanation.given is not None else "")
    family = explanation.family
    e = explanation.error
    if e is None:
        assert family is not None
        lines = [f"Windows error {name}{given}: not in the catalogue; it is in the family "
                 f"{code_text(family.first)}-{code_text(family.last)}, {family.name}:",
                 f"  {family.title}.", "", "What to check:"]
        _checks(lines, family.checks)
        return lines
    lines = [f"Windows error {name}{given}: {e.title}",
             f"Windows says: \"{' '.join(e.windows_says.split())}\""]
    if e.protocols:
        lines.append(f"Reported by: {', '.join(e.protocols)}")
    scope = ", ".join(f"{k} {v}" for k, v in explanation.scope.items() if v) or "the whole snapshot"
    lines.append("")
    if not explanation.has_network_cause:
        lines.append(f"Error {name} has no network cause: it is not about reachability, so the "
                     "network configuration cannot explain it. Check these instead:")
    else:
        lines.append("Network causes the audit checks:")
        for cause in e.network_causes:
            lines.append(f"  - {', '.join(cause.kinds)}: {' '.join(cause.why.split())}")
        lines.append("")
        lines.extend(f"Note: {note}" for note in explanation.notes)
        if explanation.matches:
            lines.append(f"Findings in {scope} that can cause it ({len(explanation.matches)}):")
            for match in explanation.matches:
                f = match.finding
                lines.append(f"  [{f.effective_severity}] {f.check.id} ({f.check.kind}): {f.title}")
                lines.append(f"      why: {match.why}")
                lines.append(f"      fix: {f.remediation}")
        elif not explanation.unresolved:
            lines.append(f"None of these is present in {scope} ({explanation.paths_in_scope} paths audited): the "
                         "network configuration does not explain it; check the other causes.")
        for item in explanation.unresolved:
            lines.append(f"  [unknown] {item.text()}")
        lines.append("")
        lines.append("Other causes (outside network configuration) and what to check:")
    _checks(lines, e.other_causes)
    return lines


__all__ = ["Explanation", "SnapshotError", "catalogue", "code_text", "explain", "families", "lookup",
           "parse_code", "render_json", "tags", "text_lines"]
