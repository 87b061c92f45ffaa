"""SARIF 2.1.0: findings as code-scanning results that point at the snapshot file holding the deciding rule.

One reporting descriptor per check id (the whole catalogue, so a scanner can close alerts whose rule ran and
found nothing), one result per finding. Locations are snapshot files: Cisco and load-balancer configs carry a
line (`region.startLine`); Meraki JSON bodies have no meaningful line, so they get the file plus a logical
location naming the entry (`l3FirewallRules.json[2]`). File URIs are relative to the working directory when the
snapshot lies under it (a snapshot committed in the repository audited from its root, the CI case), with
`%SRCROOT%` bound to that directory; otherwise absolute `file:` URIs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from auditor.audit import AuditResult
from auditor.checks import CheckMeta, Finding, load_checks
from auditor.model import Origin
from auditor.report.json_report import summary_json
from auditor.report.summary import ordered_findings
from auditor.trace import PathResult
from auditor.vocab import Severity, Verdict

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
SRCROOT = "%SRCROOT%"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_SOURCE = re.compile(r"^(?P<path>.*?)(?::(?P<line>\d+)|\[(?P<index>\d+)\])?$")


def _origin_from_text(text: str | None) -> Origin | None:
    """Evidence stores origins as `str(Origin)`: 'path', 'path:line' or 'path[index]'."""
    if not text:
        return None
    match = _SOURCE.match(text)
    if match is None or not match["path"]:
        return None
    line, index = match["line"], match["index"]
    return Origin(match["path"], int(index) if index else None, int(line) if line else None)


def _path_key(network: dict[str, Any] | None, role: dict[str, Any] | None, phase: str | None,
              server: str | None, protocol: str | None) -> tuple:
    net = network["id"] if network else None
    return (net, role.get("kind"), role.get("name"), role.get("ssid"), phase, server, protocol) if role else ()


def _index_paths(paths: Iterable[PathResult]) -> dict[tuple, list[PathResult]]:
    out: dict[tuple, list[PathResult]] = {}
    for path in paths:
        role = path.role
        network = {"id": role.network_id} if role.network_id else None
        key = _path_key(network, role.describe(), role.phase, path.server.name, path.protocol)
        out.setdefault(key, []).append(path)
    return out


def _deciding_origin(paths: list[PathResult]) -> tuple[Origin | None, str]:
    """The origin of the rule (or, without one, the hop) that blocked or left unknown the first failing flow."""
    for path in paths:
        trace = path.trace
        for hop, seg in (*trace.blocked[:1], *trace.unknown[:1]):
            rule = seg.rule
            if rule is not None and rule.origin is not None:
                return rule.origin, f"{hop.device} ({hop.stage}) {rule.label}: {rule.text}"
            if hop.origin is not None:
                return hop.origin, f"{hop.device} ({hop.stage})"
    return None, ""


def _evidence_origin(evidence: dict[str, Any]) -> tuple[Origin | None, str]:
    for item in evidence.get("deciding") or []:
        rule = item.get("rule") or {}
        origin = _origin_from_text(rule.get("source"))
        if origin is not None:
            label = rule.get("label") or f"rule {rule.get('index')}"
            return origin, f"{item.get('device')} ({item.get('stage')}) {label}: {rule.get('text')}"
    rule = evidence.get("rule")
    if isinstance(rule, dict):
        origin = _origin_from_text(rule.get("source"))
        if origin is not None:
            return origin, str(rule.get("text") or "")
    for key in ("file", "source", "path"):
        value = evidence.get(key)
        if isinstance(value, str):
            origin = _origin_from_text(value)
            if origin is not None:
                return origin, ""
    return _first_origin(evidence), ""


def _first_origin(value: Any) -> Origin | None:
    """Depth-first: the first `origin`/`source`/`lines` entry anywhere in the evidence (e.g. a load balancer's
    virtual server line for a persistence finding)."""
    children: Iterable[Any]
    if isinstance(value, dict):
        for key in ("origin", "source", "lines"):
            found = value.get(key)
            if isinstance(found, list):
                found = next((item for item in found if isinstance(item, str)), None)
            if isinstance(found, str) and "/" in found:
                origin = _origin_from_text(found)
                if origin is not None:
                    return origin
        children = value.values()
    elif isinstance(value, list):
        children = value
    else:
        return None
    for child in children:
        origin = _first_origin(child)
        if origin is not None:
            return origin
    return None


def _artifact(snapshot: str, rel: str) -> dict[str, Any]:
    # The file by its name in the snapshot, under the snapshot's real folder: a link inside the snapshot is not
    # followed (where it leads is no read of the audit's, so a report memo could not tell it was repointed)
    full = Path(os.path.normpath(os.path.join(os.path.realpath(snapshot), rel)))
    try:
        return {"uri": quote(full.relative_to(Path.cwd().resolve()).as_posix()), "uriBaseId": SRCROOT}
    except ValueError:
        return {"uri": full.as_uri()}


def _location(snapshot: str, origin: Origin, rule_text: str, device: str | None) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": _artifact(snapshot, origin.path)}
    if origin.line is not None:
        physical["region"] = {"startLine": origin.line}
    location: dict[str, Any] = {"physicalLocation": physical}
    if origin.line is None and origin.index is not None:
        name = f"{Path(origin.path).name}[{origin.index}]"
        location["logicalLocations"] = [{"name": name, "fullyQualifiedName": f"{origin.path}[{origin.index}]",
                                         "kind": "object"}]
    text = " ".join(part for part in (device, rule_text) if part)
    if text:
        location["message"] = {"text": text}
    return location


def _fingerprint(finding: Finding) -> str:
    """Stable across runs and wording changes: what the finding is about, not how it is phrased."""
    data = finding.to_json()
    evidence = data["evidence"]
    rule = evidence.get("rule") if isinstance(evidence.get("rule"), dict) else {}
    parts = [data["id"], json.dumps(data["network"], sort_keys=True), json.dumps(data["role"], sort_keys=True),
             str(evidence.get("server")), str(evidence.get("protocol")), str(evidence.get("phase")),
             str(data["device"]), str(evidence.get("file")), str(rule.get("source"))]
    if not data["role"] and not evidence.get("file") and not rule.get("source"):
        parts.append(data["title"])
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _descriptor(check: CheckMeta) -> dict[str, Any]:
    errors = ", ".join(str(e) for e in check.windows_errors)
    full = check.title + (f". Windows errors users see: {errors}." if errors else ".")
    return {
        "id": check.id,
        "name": "".join(word.capitalize() for word in re.split(r"[^A-Za-z0-9]+", check.kind) if word),
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": full},
        "help": {"text": check.remediation or check.title},
        "defaultConfiguration": {"level": LEVEL[check.severity]},
        "properties": {"kind": check.kind, "windowsErrors": list(check.windows_errors),
                       "tags": ["vpn", check.kind]},
    }


def _result(finding: Finding, index: int, snapshot: str, paths: dict[tuple, list[PathResult]]) -> dict[str, Any]:
    data = finding.to_json()
    evidence = data["evidence"]
    key = _path_key(data["network"], data["role"], evidence.get("phase"), evidence.get("server"),
                    evidence.get("protocol"))
    origin, rule_text = _deciding_origin(paths.get(key, [])) if key else (None, "")
    if origin is None:
        origin, rule_text = _evidence_origin(evidence)
    result: dict[str, Any] = {
        "ruleId": data["id"],
        "ruleIndex": index,
        "level": LEVEL[data["severity"]],
        "message": {"text": f"{data['title']}\nRemediation: {data['remediation']}"},
        "partialFingerprints": {"vpnAuditorFinding/v1": _fingerprint(finding)},
        "properties": {"kind": data["kind"], "severity": data["severity"], "network": data["network"],
                       "role": data["role"], "device": data["device"], "windowsErrors": data["windows_errors"],
                       "evidence": evidence},
    }
    if finding.waived is not None:  # accepted by a waiver file (audit --waivers): a suppression outside the source
        waived = finding.waived
        result["suppressions"] = [{
            "kind": "external", "status": "accepted",
            "justification": f"{waived['reason']} (owner: {waived['owner']}; expires {waived['expires']})",
            "properties": {"owner": waived["owner"], "expires": waived["expires"], "fingerprint": data["fingerprint"]},
        }]
    if origin is None:
        # Code scanning needs a file for every result: fall back to the audit settings the snapshot was audited with.
        origin, rule_text = Origin("audit.yaml"), "no configuration file holds this finding's deciding rule"
    result["locations"] = [_location(snapshot, origin, rule_text, data["device"])]
    return result


def sarif_dict(result: AuditResult) -> dict[str, Any]:
    checks: list[CheckMeta] = [meta for meta, _run in load_checks()]
    for finding in result.findings:
        if finding.check not in checks:
            checks.append(finding.check)
    index = {check.id: i for i, check in enumerate(checks)}
    paths = _index_paths(p for p in result.paths if p.verdict != Verdict.ALLOWED)
    findings = ordered_findings(result)
    run: dict[str, Any] = {
        "tool": {"driver": {"name": "vpn-auditor", "version": result.tool_version,
                            "semanticVersion": result.tool_version, "rules": [_descriptor(c) for c in checks]}},
        "invocations": [{"executionSuccessful": True,
                         "endTimeUtc": result.generated_at.replace("+00:00", "Z")}],
        "originalUriBaseIds": {SRCROOT: {"uri": Path.cwd().resolve().as_uri() + "/"}},
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index[f.check.id], result.snapshot, paths) for f in findings],
        "properties": {"snapshot": result.snapshot, "summary": summary_json(result),
                       "assumptions": result.assumptions},
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def render(result: AuditResult) -> str:
    return json.dumps(sarif_dict(result), indent=2) + "\n"
