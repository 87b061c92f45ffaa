"""The report JSON (docs/report-json.md): the one serialisation every other format can be derived from."""

from __future__ import annotations

import json
from typing import Any, TextIO

from auditor.audit import AuditResult
from auditor.model import Decision, Hop
from auditor.report.summary import counts, ordered_findings
from auditor.trace import HopTrace, PathResult

SCHEMA_ID = "vpn-auditor.report/1"


def hop_json(record: HopTrace) -> dict[str, Any]:
    hop: Hop = record.hop
    principal = record.principal
    out: dict[str, Any] = {"device": hop.device, "stage": hop.stage, "decision": record.decision.value,
                           "rule": None}
    if principal is not None and principal.rule is not None:
        rule = principal.rule
        # `index` is the 1-based position reports call "rule 3"; `file_index` the 0-based entry of the
        # file's JSON list and `line` the config file's line, where the origin has them.
        out["rule"] = {"index": rule.position, "text": rule.text, "comment": rule.comment or None,
                       "source": str(rule.origin) if rule.origin else None, "default": rule.synthetic,
                       "label": rule.label}
        if rule.origin is not None and rule.origin.index is not None:
            out["rule"]["file_index"] = rule.origin.index
        if rule.origin is not None and rule.origin.line is not None:
            out["rule"]["line"] = rule.origin.line
    if principal is not None and principal.reason:
        out["reason"] = principal.reason
    if record.decision is Decision.PARTIAL:
        out["denied_sources"] = ", ".join(
            seg.packets.describe_sources() for seg in record.segments if seg.decision is Decision.DENY)
    if record.unknown_in:
        out["reached_only_if_earlier_unknown_passes"] = True
    return out


def path_json(path: PathResult, with_hops: bool = True) -> dict[str, Any]:
    role = path.role
    trace = path.trace
    out: dict[str, Any] = {
        "network": {"id": role.network_id, "name": role.network_name} if role.network_id else None,
        "role": role.describe(),
        "phase": role.phase,
        "server": path.server.name,
        "protocol": path.protocol,
        "flow": {"ip_protocol": trace.flow.ip_protocol, "dst_port": trace.flow.dst_port},
        "verdict": trace.verdict,
        "hops": [hop_json(h) for h in trace.hops] if with_hops else [],
        "reason": trace.reason,
        "variant": trace.variant,
    }
    if trace.carried_by:  # an inner flow: its verdict is these flows' (it travels inside IPsec)
        out["carried_by"] = [str(flow) for flow in trace.carried_by]
    if trace.variants:
        out["variants"] = [{"label": v.variant, "verdict": v.verdict, "reason": v.reason} for v in trace.variants]
    return out


def report_dict(result: AuditResult) -> dict[str, Any]:
    return {
        "schema": SCHEMA_ID,
        "tool": {"name": "vpn-auditor", "version": result.tool_version},
        "snapshot": result.snapshot,
        "generated_at": result.generated_at,
        "assumptions": result.assumptions,
        **({"notes": result.notes} if result.notes else {}),  # what was not checked (an fqdn without DNS data)
        "summary": summary_json(result),
        "paths": [path_json(p) for p in result.paths],
        "findings": [f.to_json() for f in ordered_findings(result)],
    }


def summary_json(result: AuditResult) -> dict[str, Any]:
    """The contract's summary (paths by verdict, findings by severity) plus the counts every human format
    states (`failing_roles`, `failing_protocols`; auditor/report/summary.py)."""
    return counts(result)


def render(result: AuditResult) -> str:
    return json.dumps(report_dict(result), indent=2) + "\n"


def write(result: AuditResult, handle: TextIO) -> None:
    """The same document as `render`, written path by path: an org of thousands of networks has a million
    paths, whose report would not fit in memory as one dict and one string."""
    findings = ordered_findings(result)
    head = report_dict(_Empty(result))  # type: ignore[arg-type]
    head["summary"] = summary_json(result)
    del head["paths"], head["findings"]
    text = json.dumps(head, indent=2)
    handle.write(text[:-2] + ",\n  \"paths\": [")
    # Hop records are shared by a network's paths (roles, protocols): each is encoded once. Traces are made
    # per network, so the memo is too (paths come network by network), which keeps it small.
    hops: dict[int, str] = {}
    network = None
    for i, path in enumerate(result.paths):
        if path.role.network_id != network:
            network = path.role.network_id
            hops.clear()
        handle.write(("," if i else "") + "\n    " + _path_text(path, hops))
    handle.write("\n  ],\n  \"findings\": [")
    for i, finding in enumerate(findings):
        handle.write(("," if i else "") + "\n    " + json.dumps(finding.to_json()))
    handle.write("\n  ]\n}\n")


def _path_text(path: PathResult, hops: dict[int, str]) -> str:
    """json.dumps(path_json(path)), with each hop's encoding taken from `hops` (keyed by the record's id;
    records outlive the write) when another path has encoded it already."""
    parts = []
    for record in path.trace.hops:
        encoded = hops.get(id(record))
        if encoded is None:
            encoded = hops[id(record)] = json.dumps(hop_json(record))
        parts.append(encoded)
    # The first unescaped '"hops": []' is the key's: quotes inside string values are escaped.
    head, tail = json.dumps(path_json(path, with_hops=False)).split('"hops": []', 1)
    return f"{head}\"hops\": [{', '.join(parts)}]{tail}"


class _Empty:
    """An AuditResult view with no paths or findings, for the document's head."""

    def __init__(self, result: AuditResult) -> None:
        self.snapshot, self.generated_at, self.tool_version = result.snapshot, result.generated_at, result.tool_version
        self.assumptions = result.assumptions
        self.notes = result.notes
        self.paths: list = []
        self.findings: list = []

    def counts(self) -> dict[str, int]:
        return {"allowed": 0, "blocked": 0, "partial": 0, "unknown": 0}
