"""The report JSON (docs/report-json.md): the one serialisation every other format can be derived from."""

from __future__ import annotations

import codecs
import io
import json
import operator
import os
import sys
from json.encoder import encode_basestring_ascii
from typing import Any, TextIO

from auditor import compact
from auditor.audit import AuditResult, results_kept_out_of_gc
from auditor.model import Decision, Hop, Role, Rule, Segment
from auditor.protocols import Flow
from auditor.report.summary import counts, ordered_findings
from auditor.trace import FlowTrace, HopTrace, PathResult
from auditor.vocab import VERDICT_REPORT_ORDER

SCHEMA_ID = "vpn-auditor.report/1"


def rule_json(rule: Rule) -> dict[str, Any]:
    # `index` is the 1-based position reports call "rule 3"; `file_index` the 0-based entry of the file's JSON
    # list and `line` the config file's line, where the origin has them.
    out = {"index": rule.position, "text": rule.text, "comment": rule.comment or None,
           "source": str(rule.origin) if rule.origin else None, "default": rule.synthetic, "label": rule.label}
    if rule.origin is not None and rule.origin.index is not None:
        out["file_index"] = rule.origin.index
    if rule.origin is not None and rule.origin.line is not None:
        out["line"] = rule.origin.line
    return out


def _hop_rest(record: HopTrace, principal: Segment | None) -> dict[str, Any]:
    """A hop's keys after `rule`, those it has."""
    out: dict[str, Any] = {}
    if principal is not None and principal.reason:
        out["reason"] = principal.reason
    if record.decision is Decision.PARTIAL:
        out["denied_sources"] = ", ".join(
            seg.packets.describe_sources() for seg in record.segments if seg.decision is Decision.DENY)
    if record.unknown_in:
        out["reached_only_if_earlier_unknown_passes"] = True
    return out


def hop_json(record: HopTrace) -> dict[str, Any]:
    hop: Hop = record.hop
    principal = record.principal
    rule = principal.rule if principal is not None else None
    return {"device": hop.device, "stage": hop.stage, "decision": record.decision.value,
            "rule": None if rule is None else rule_json(rule), **_hop_rest(record, principal)}


def role_json(role: Role) -> dict[str, Any]:
    """A path's keys that are its role's."""
    return {"network": {"id": role.network_id, "name": role.network_name} if role.network_id else None,
            "role": role.describe(), "phase": role.phase}


def trace_json(trace: FlowTrace, with_hops: bool = True) -> dict[str, Any]:
    """A path's keys that are its trace's."""
    return {"flow": {"ip_protocol": trace.flow.ip_protocol, "dst_port": trace.flow.dst_port},
            "verdict": trace.verdict, "hops": [hop_json(h) for h in trace.hops] if with_hops else [],
            "reason": trace.reason, "variant": trace.variant, **_trace_more(trace)}


def _trace_more(trace: FlowTrace) -> dict[str, Any]:
    """A trace's keys after `variant`, those it has."""
    out: dict[str, Any] = {}
    if trace.carried_by:  # an inner flow: its verdict is these flows' (it travels inside IPsec)
        out["carried_by"] = [str(flow) for flow in trace.carried_by]
    if trace.variants:
        out["variants"] = [{"label": v.variant, "verdict": v.verdict, "reason": v.reason} for v in trace.variants]
    return out


def path_json(path: PathResult, with_hops: bool = True) -> dict[str, Any]:
    return {**role_json(path.role), "server": path.server.name, "protocol": path.protocol,
            **trace_json(path.trace, with_hops)}


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
    written = getattr(result, "written", None) or {}
    out_fd = _opened(handle, text[:-2] + ",\n  \"paths\": [", byte_sink=bool(written))
    # A network's paths share roles, traces (protocols share flows), hop records and rules: each is encoded
    # once and a path's text put together from those encodings. Traces are made per network, so the memo is
    # too (paths come network by network), which keeps it small.
    memo: dict[int, str] = {}
    network = None
    lead = "\n    "
    # Results held compact (auditor/compact.py: the audit cache's hits, the forked worker's networks) are
    # decoded as the report reads them, a network at a time, and forgotten once it is written, so they are
    # never all decoded at once. What stays decoded is kept out of the collector's way as the audit's own
    # results are: else every full collection walks all the results again.
    with results_kept_out_of_gc() as network_done:
        pieces: list[str] = []  # a network's paths, written at once
        previous = None
        paths = result.paths
        at, count = 0, len(paths)
        while at < count:
            path = paths[at]
            if path.role.network_id != network:
                if pieces:
                    handle.write("".join(pieces))
                    pieces = []
                    if previous is not None:
                        compact.forget(previous)
                    network_done()
                network = path.role.network_id
                memo.clear()
                # A network whose text was written before the report (`network_text`, while it was audited or
                # kept by the audit cache) is copied, as long as its paths are still all there, in order (a role
                # filter may have removed some)
                entry = written.get(id(path))
                if entry is not None and _still_there(entry[1], paths, at):
                    skip = 0 if lead != "\n    " else 1  # the report's first path has no comma before it
                    try:
                        if out_fd is not None:  # the bytes go from where they are to the file, not through here
                            handle.flush()
                            if not entry[0].send(out_fd, skip):
                                out_fd = None
                        if out_fd is None:
                            handle.write(entry[0].read()[skip:])
                    except compact.TextGone:  # nothing of it was written: rendered, and kept for next time
                        kept = network_text(entry[1])
                        handle.write(kept[skip:])
                        entry[0].keep(kept)
                    lead = ",\n    "
                    at += len(entry[1])
                    compact.forget(path)  # a check may have read some of it
                    previous = None
                    continue
            pieces += (lead, *_path_parts(path, memo))
            lead = ",\n    "
            previous = path
            at += 1
        handle.write("".join(pieces))
        if previous is not None:
            compact.forget(previous)
    handle.write("\n  ],\n  \"findings\": [")
    for i, finding in enumerate(findings):
        handle.write(("," if i else "") + "\n    " + _dumps(finding.to_json()))
    handle.write("\n  ]\n}\n")


def network_text(paths: list[PathResult]) -> str:
    """One network's paths as `write` writes them, each after ",\n    " (`write` drops the comma before the
    report's first path): handed to the audit, for a forked worker to write its networks' while it audits."""
    memo: dict[int, str] = {}
    return "".join([part for path in paths for part in (",\n    ", *_path_parts(path, memo))])


def _opened(handle: TextIO, opening: str, byte_sink: bool) -> int | None:
    """Write the report's opening; with `byte_sink`, return the file descriptor under the handle when the
    handle is shown to write text as its UTF-8 bytes, unchanged: the spools' text (UTF-8) may then be copied
    to it as bytes. Shown: a UTF-8 handle over a file whose position moved by the opening's bytes (no newline
    translated: the opening holds one), or Python's own stdout (which never translates). None otherwise."""
    sink = None
    if byte_sink and isinstance(handle, io.TextIOWrapper) and hasattr(os, "sendfile"):
        try:
            if codecs.lookup(handle.encoding).name == "utf-8" and handle.errors in ("strict", "surrogateescape"):
                sink = handle.buffer.fileno()
        except (AttributeError, LookupError, OSError, ValueError):  # no descriptor (an in-memory buffer)
            sink = None
    if sink is None:
        handle.write(opening)
        return None
    try:
        handle.flush()
        before = handle.buffer.tell()
    except OSError:  # a pipe or terminal: only Python's own stdout is known not to translate
        handle.write(opening)
        return sink if handle is sys.__stdout__ else None
    handle.write(opening)
    handle.flush()
    return sink if handle.buffer.tell() - before == len(opening.encode()) else None


def _still_there(written: list[PathResult], paths: list[PathResult], at: int) -> bool:
    return len(paths) - at >= len(written) and all(map(operator.is_, written, paths[at:at + len(written)]))


# json.dumps writes a dict as its items joined by ", " between braces: a path's text is its role's, its own
# (server, protocol) and its trace's runs of items, each encoded alone, and the same holds within a hop.
_OWN: dict[tuple[str, str], str] = {}  # the (server, protocol) run, by its values
_PARTIAL = Decision.PARTIAL  # read once: an enum member lookup costs several global reads (every hop record)
_FLOWS: dict[Flow, str] = {}  # the trace's "flow" item, by flow
# id(carried_by) -> (carried_by, an inner flow's trace text after "variant"): the catalogue's few carrier tuples
_CARRIED: dict[int, tuple[tuple[Flow, ...], str]] = {}


# json.dumps(value) with default settings makes a C encoder per call (in Python: a fair share of the report's
# time, called for every role, hop and rule of every network); one made once writes the same text. No circular
# check (markers None): what is encoded here is built fresh from the result, and a failed call would otherwise
# leave its markers behind for the next.
_MAKE_ENCODER: Any = getattr(json.encoder, "c_make_encoder", None)  # None without the C accelerator
_ENCODER = (_MAKE_ENCODER(None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False,
                          True) if _MAKE_ENCODER is not None else None)


def _dumps(value: Any) -> str:
    """json.dumps(value)."""
    return "".join(_ENCODER(value, 0)) if _ENCODER is not None else json.dumps(value)


def _text(value: Any) -> str:
    """json.dumps(value): a string (a StrEnum member too) through json's C escaper, without the encoder's set-up."""
    return encode_basestring_ascii(value) if isinstance(value, str) else _dumps(value)


def _items(values: dict[str, Any]) -> str:
    """json.dumps(values) without its braces."""
    return ", ".join([f"{encode_basestring_ascii(key)}: {_text(value)}" for key, value in values.items()])


def _path_parts(path: PathResult, memo: dict[int, str]) -> tuple[str, str, str]:
    """json.dumps(path_json(path)) in three parts: its role's items, its own and its trace's, each taken from
    `memo` (keyed by the object's id: the result holds them until the write ends) when another path made it;
    a trace's from its hop records' encodings, and a record's from its hop's and its rule's."""
    role, trace = path.role, path.trace
    head = memo.get(id(role))
    if head is None:
        head = memo[id(role)] = _role_text(role)
    own = _OWN.get((path.server.name, path.protocol))
    if own is None:
        own = _OWN[(path.server.name, path.protocol)] = json.dumps(
            {"server": path.server.name, "protocol": path.protocol})[1:-1] + ", "
    tail = memo.get(id(trace))
    if tail is None:
        parts = []
        for record in trace.hops:
            encoded = memo.get(id(record))
            if encoded is None:
                encoded = memo[id(record)] = _hop_text(record, memo)
            parts.append(encoded)
        flow = _FLOWS.get(trace.flow)
        if flow is None:
            flow = _FLOWS[trace.flow] = json.dumps(
                {"flow": {"ip_protocol": trace.flow.ip_protocol, "dst_port": trace.flow.dst_port}})[1:-1]
        if trace.variants:
            more = f", {_dumps(_trace_more(trace))[1:-1]}}}"
        elif trace.carried_by:  # an inner flow: its carriers' few combinations, one text each
            carried = _CARRIED.get(id(trace.carried_by))
            if carried is None or carried[0] is not trace.carried_by:
                if len(_CARRIED) >= 1024:
                    _CARRIED.clear()
                carried = _CARRIED[id(trace.carried_by)] = (  # the tuple kept: its id stays its own
                    trace.carried_by, f", {_dumps(_trace_more(trace))[1:-1]}}}")
            more = carried[1]
        else:
            more = "}"
        tail = memo[id(trace)] = (f"{flow}, \"verdict\": {_text(trace.verdict)}, \"hops\": [{', '.join(parts)}], "
                                  f"\"reason\": {_text(trace.reason)}, \"variant\": {_text(trace.variant)}" + more)
    return head, own, tail


def _role_text(role: Role) -> str:
    """json.dumps(role_json(role)) without its closing brace, followed by ", ": the network's part is made once
    for the roles of a network, which come one after another and hold the same id and name objects."""
    network = "null"
    if role.network_id:
        last = _LAST_NETWORK
        if last[0] is not role.network_id or last[1] is not role.network_name:
            last[:] = role.network_id, role.network_name, _dumps({"id": role.network_id, "name": role.network_name})
        network = last[2]
    return f"{{\"network\": {network}, \"role\": {_dumps(role.describe())}, \"phase\": {_dumps(role.phase)}, "


_LAST_NETWORK: list[Any] = [None, None, ""]  # (network id, name, their text) of the last role written


def _hop_text(record: HopTrace, memo: dict[int, str]) -> str:
    """json.dumps(hop_json(record)), the hop's device and stage and the rule encoded once per network, the keys
    after `rule` (`_hop_rest`) written in place (an org has hundreds of thousands of hop records)."""
    hop = record.hop
    principal = record.principal
    rule = principal.rule if principal is not None else None
    head = memo.get(id(hop))
    if head is None:
        head = memo[id(hop)] = _dumps({"device": hop.device, "stage": hop.stage})[1:-1]
    rule_text: str | None
    if rule is None:
        rule_text = "null"
    else:
        rule_text = memo.get(id(rule))
        if rule_text is None:
            rule_text = memo[id(rule)] = _dumps(rule_json(rule))
    decision = record.decision
    # a Decision is a str: its value encoded, as json.dumps(decision.value)
    text = f"{{{head}, \"decision\": {encode_basestring_ascii(decision)}, \"rule\": {rule_text}"
    if principal is not None and principal.reason:
        text += f", \"reason\": {_text(principal.reason)}"
    if decision is _PARTIAL or record.unknown_in:
        text += ", " + _items(_hop_rest(record, None))  # the rare keys after "reason", as _hop_rest words them
    return text + "}"


class _Empty:
    """An AuditResult view with no paths or findings, for the document's head."""

    def __init__(self, result: AuditResult) -> None:
        self.snapshot, self.generated_at, self.tool_version = result.snapshot, result.generated_at, result.tool_version
        self.assumptions = result.assumptions
        self.notes = result.notes
        self.paths: list = []
        self.findings: list = []

    def counts(self) -> dict[str, int]:
        return dict.fromkeys(VERDICT_REPORT_ORDER, 0)
