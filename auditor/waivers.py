"""Waivers (`audit --waivers FILE`): known findings an owner has accepted until a date.

A waived finding is still reported, marked with its waiver; it does not count toward `--fail-on`, and the
flows it covers do not count toward exit 3. An expired waiver waives nothing and is itself an error-level
finding (WAIVER-EXPIRED), so the gate fails until it is renewed or removed; one that matches no finding is
a warning line. docs/waivers.md describes the file.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from auditor.checks import CheckMeta, Finding, load_checks
from auditor.snapshot import SnapshotError, check_input_size
from auditor.vocab import Severity

if TYPE_CHECKING:
    from auditor.audit import AuditResult
    from auditor.trace import PathResult

EXPIRED = CheckMeta(
    id="WAIVER-EXPIRED",
    kind="expired-waiver",
    severity=Severity.ERROR,
    title="A waiver has expired",
    remediation="Fix the finding it waived, or renew the waiver with a new `expires` date, or remove it.",
)
_KEYS = ("finding", "fingerprint", "reason", "owner", "expires")
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")


@dataclass(frozen=True, slots=True)
class Waiver:
    file: str
    entry: int  # 1-based, as a person counts the list
    line: int | None
    finding: str | None  # a check id: every finding of that check
    fingerprint: str | None  # one finding
    reason: str
    owner: str
    expires: dt.date
    # the file's absolute path where it was read: an expired waiver's finding names it, wherever it is reported
    # (fleet reads the file on its driver and applies it on workers whose working directory differs)
    source: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file

    @property
    def target(self) -> str:
        return f"finding {self.finding}" if self.finding else f"fingerprint {self.fingerprint}"

    def matches(self, finding: Finding) -> bool:
        if self.fingerprint is not None:
            return finding.fingerprint == self.fingerprint
        return finding.check.id == self.finding

    def mark(self) -> dict[str, str]:
        return {"reason": self.reason, "owner": self.owner, "expires": self.expires.isoformat()}


def load_waivers(path: Path) -> list[Waiver]:
    """Read and check a waiver file: a YAML list of entries. Errors raise SnapshotError naming the file, the
    entry's line and what is wrong (one line)."""
    name = str(path)
    check_input_size(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SnapshotError(name, "waiver file not found") from None
    except UnicodeDecodeError as exc:
        raise SnapshotError(name, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise SnapshotError(name, f"cannot read: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or exc
        raise SnapshotError(name, f"malformed YAML: {' '.join(str(problem).split())}",
                            mark.line + 1 if mark is not None else None) from None
    except RecursionError:
        raise SnapshotError(name, "malformed YAML: nested too deeply") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise SnapshotError(name, "expected a list of waivers (- finding: ID or fingerprint: HASH, reason, owner, "
                                  "expires)")
    lines = [item.start_mark.line + 1 for item in node.value] if isinstance(node, yaml.SequenceNode) else []
    source = str(path.resolve())
    return [_entry(name, source, i + 1, lines[i] if i < len(lines) else None, item) for i, item in enumerate(raw)]


def _entry(name: str, source: str, number: int, line: int | None, item: Any) -> Waiver:
    def bad(message: str) -> SnapshotError:
        return SnapshotError(name, f"entry {number}: {message}", line)

    if not isinstance(item, dict):
        raise bad("expected a mapping with finding or fingerprint, reason, owner and expires")
    unknown = [str(k) for k in item if k not in _KEYS]
    if unknown:
        raise bad(f"unknown key '{unknown[0]}' (keys: {', '.join(_KEYS)})")
    finding, fingerprint = item.get("finding"), item.get("fingerprint")
    if (finding is None) == (fingerprint is None):
        raise bad("give exactly one of 'finding' (a finding id such as VPN-BLOCKED) or 'fingerprint' (from the "
                  "JSON report)")
    if finding is not None and (not isinstance(finding, str) or not finding.strip()):
        raise bad(f"'finding' must be a finding id such as VPN-BLOCKED, not {finding!r}")
    if fingerprint is not None and (not isinstance(fingerprint, str) or not _FINGERPRINT.match(fingerprint)):
        raise bad(f"'fingerprint' must be a finding's fingerprint (16 hex digits, from the JSON report), "
                  f"not {fingerprint!r}")
    for key in ("reason", "owner"):
        value = item.get(key)
        if not isinstance(value, str) or not value.strip():
            raise bad(f"'{key}' is required (text)")
    return Waiver(name, number, line, finding.strip() if finding else None, fingerprint, item["reason"].strip(),
                  item["owner"].strip(), _date(item.get("expires"), bad), source)


def _date(value: Any, bad: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if value is None:
        raise bad("'expires' is required (a date, YYYY-MM-DD)")
    raise bad(f"'expires' must be a date (YYYY-MM-DD), not {value!r}")


def apply_waivers(result: AuditResult, waivers: list[Waiver], today: dt.date | None = None) -> list[str]:
    """Mark the findings each waiver accepts (the first waiver that matches) and add a WAIVER-EXPIRED finding
    per expired waiver, which waives nothing. Returns warning lines (waivers that match no finding)."""
    today = today or dt.date.today()
    findings = list(result.findings)
    warnings = []
    known = {meta.id for meta, _run in load_checks()} | {f.check.id for f in findings}
    for waiver in waivers:
        hits = [f for f in findings if waiver.matches(f)]
        if waiver.expires < today:
            result.findings.append(_expired(waiver, hits))
            continue
        for finding in hits:
            if finding.waived is None:
                finding.waived = waiver.mark()
        if not hits:
            hint = "" if waiver.finding is None or waiver.finding in known else \
                f" (no check has that id; ids: {', '.join(sorted(known))})"
            warnings.append(f"{waiver.where}: entry {waiver.entry}: the waiver of {waiver.target} matches no "
                            f"finding{hint}")
    return warnings


def _expired(waiver: Waiver, hits: list[Finding]) -> Finding:
    title = (f"The waiver of {waiver.target} ({waiver.owner}: {waiver.reason}) expired on "
             f"{waiver.expires.isoformat()}: {len(hits)} finding(s) it matched count again")
    return Finding(EXPIRED, title, EXPIRED.remediation, None, None, None,
                   {"source": (waiver.source or str(Path(waiver.file).resolve()))
                              + (f":{waiver.line}" if waiver.line else ""),
                    "entry": waiver.entry, "waiver": {"target": waiver.target, **waiver.mark()},
                    "matched": sorted({f.fingerprint for f in hits})})


def gate_findings(findings: list[Finding]) -> list[Finding]:
    """The findings that count toward --fail-on: every one not waived."""
    return [f for f in findings if f.waived is None]


class PathWaivers:
    """Which failing paths waivers accept: those some waived finding covers and no unwaived one does. A
    finding covers the paths of its network, role, phase, server, protocol and flows; one for every role a
    server-side rule blocks lists the roles. Findings are indexed once (an org has a million paths)."""

    def __init__(self, findings: list[Finding]) -> None:
        self.any = any(f.waived is not None for f in findings)
        self._by_role: dict[tuple, list[Finding]] = {}
        self._by_label: dict[str, list[Finding]] = {}
        if not self.any:
            return
        for finding in findings:
            if finding.role is not None:
                role, evidence = finding.role, finding.evidence
                key = ((finding.network or {}).get("id"), role.get("kind"), role.get("name"), role.get("ssid"),
                       evidence.get("phase", "post-auth"))
                self._by_role.setdefault(key, []).append(finding)
            elif isinstance(finding.evidence.get("roles"), list):
                for label in finding.evidence["roles"]:
                    self._by_label.setdefault(str(label), []).append(finding)

    def waiver(self, path: PathResult) -> dict[str, str] | None:
        """The waiver mark that accepts a path, or None."""
        if not self.any:
            return None
        role = path.role
        candidates = [*self._by_role.get((role.network_id, role.kind, role.name, role.ssid, role.phase), ()),
                      *self._by_label.get(f"{role.network_name or '-'} / {role.kind} {role.name} ({role.phase})",
                                          ())]
        covering = [f for f in candidates if _scope_covers(f.evidence, path)]
        if covering and all(f.waived is not None for f in covering):
            return covering[0].waived
        return None


def _scope_covers(evidence: dict[str, Any], path: PathResult) -> bool:
    if evidence.get("server") not in (None, path.server.name):
        return False
    protocols = evidence.get("protocols") or ([evidence["protocol"]] if evidence.get("protocol") else None)
    if protocols is not None and path.protocol not in protocols:
        return False
    flows = evidence.get("flows")
    if flows is None:
        return True
    # an inner flow (UDP 1701 inside IPsec) fails with its carriers: a finding on a carrier covers it
    return any(str(flow) in flows for flow in (path.trace.flow, *path.trace.carried_by))
