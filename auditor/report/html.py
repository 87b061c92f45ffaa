"""The HTML report: one self-contained file (inline CSS, JS and SVG; nothing fetched) a person reads in a browser.

Sections: summary counts; a matrix of network x role x protocol coloured by verdict; a picture of every failing
path (role -> each enforcement point -> internet -> perimeter / load balancer -> server) with the blocking hop
marked and the deciding rule's text beside it; findings with Windows errors and remediation. Filters by
network and severity are plain JS over data attributes, and read/write the URL hash (`#network=HQ&severity=error`)
so a filtered view can be linked and tested.

Scale: a 1,000-network org has ~20,000 roles. Networks whose every path is allowed get one matrix row listing
their roles; pictures are drawn only for failing paths, and paths with the same picture (same hops, same
decisions, same deciding rule) share one. Layout (positions, wrapped lines) is computed here; the template
only emits it, with autoescaping on, since rule comments and SSID names are untrusted.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from auditor.assumptions import shown
from auditor.audit import AuditResult
from auditor.checks import Finding
from auditor.graph import devices_in_front
from auditor.model import Decision, Hop, Role, Segment, VpnServer
from auditor.report.junit import protocol_groups, role_label
from auditor.report.markdown import deciding, windows_error
from auditor.report.summary import counts, headline, ordered_findings
from auditor.trace import FlowTrace, HopTrace, PathResult
from auditor.untrusted import clean_lines
from auditor.vocab import SEVERITY_REPORT_ORDER, VERDICT_REPORT_ORDER, Verdict

# Roles from audit.yaml `sources` belong to no Meraki network; they get a filter entry of their own.
SOURCES_ID, SOURCES = "_sources", "sources (audit.yaml)"
VERDICT_SYMBOL = {Verdict.ALLOWED: "✓", Verdict.BLOCKED: "✗", Verdict.PARTIAL: "◐", Verdict.UNKNOWN: "?"}

# Path picture geometry (px).
NODE_W, GAP, PAD = 142, 26, 8
NET_W = 76  # the "internet" node between client side and server side
LINE_H = 14
CALLOUT_W = 340
WRAP = 20  # characters per node line at 12px
CALLOUT_WRAP = 42  # characters per callout line at 11.5px monospace


# ---------------------------------------------------------------------------------------------------------
# matrix


@dataclass(slots=True)
class Column:
    server: str
    protocol: str
    title: str


@dataclass(slots=True)
class Cell:
    verdict: Verdict
    tip: str
    anchor: str | None = None


@dataclass(slots=True)
class Row:
    role: Role
    label: str
    cells: list[Cell | None]
    worst: Verdict


@dataclass(slots=True)
class NetworkBlock:
    id: str
    name: str
    rows: list[Row] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    @property
    def worst(self) -> Verdict:
        return Verdict.worst((r.worst for r in self.rows), default=Verdict.ALLOWED)

    @property
    def compact(self) -> bool:
        """Every role allowed everywhere: one row naming the roles is all a reader needs."""
        return self.worst == Verdict.ALLOWED


# ---------------------------------------------------------------------------------------------------------
# pictures


@dataclass(slots=True)
class Node:
    x: int
    y: int
    w: int
    h: int
    lines: list[str]
    kind: str  # role | hop | lb | internet | server
    state: str  # permit | deny | partial | unknown | translate | unreached | role | server | internet
    title: str
    mark: str = ""  # "blocks here" | "unknown here" | "partly blocks"


@dataclass(slots=True)
class Edge:
    x1: int
    x2: int
    y: int
    cut: bool  # no packet of the flow travels this edge


@dataclass(slots=True)
class Callout:
    x: int
    y: int
    w: int
    h: int
    lines: list[str]
    state: str
    anchor_x: int  # the marked node's centre: where the leader line starts
    anchor_y: int


@dataclass(slots=True)
class RuleInfo:
    where: str
    label: str
    text: str
    comment: str
    source: str
    reason: str


@dataclass(slots=True)
class Picture:
    anchor: str
    network_id: str
    network_name: str
    server: str
    verdict: Verdict
    roles: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)
    protocols: list[str] = field(default_factory=list)
    variant: str = ""
    why: str = ""
    rule: RuleInfo | None = None
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    callout: Callout | None = None
    width: int = 0
    height: int = 0


def _wrap(text: str, width: int, lines: int) -> list[str]:
    out = textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1][: width - 1].rstrip() + "…"
    return out


def _rule_info(hop: Hop, seg: Segment) -> RuleInfo:
    rule = seg.rule
    where = f"{hop.device} ({hop.stage})"
    if rule is None:
        return RuleInfo(where, "", "", "", hop.origin.human() if hop.origin else "", seg.reason)
    # The rule is named by its 1-based position or file line (`Rule.label`); the file without the 0-based
    # index of its JSON list, which would read as a second, different number for the same rule.
    origin = rule.origin or hop.origin
    source = "" if origin is None or (rule.origin is not None and rule.origin.line is not None) else origin.path
    return RuleInfo(where, rule.label, rule.text, rule.comment, source, seg.reason)


def _decisive(trace: FlowTrace) -> tuple[Hop | None, Segment | None, str]:
    if trace.blocked:
        hop, seg = trace.blocked[0]
        return hop, seg, ("partly blocks" if trace.verdict == Verdict.PARTIAL else "blocks here")
    if trace.unknown:
        hop, seg = trace.unknown[0]
        return hop, seg, "unknown here"
    return None, None, ""


class _Planner:
    """The full hop chain of a path: the hops the trace visited, then those it never reached."""

    def __init__(self, result: AuditResult) -> None:
        self.result = result
        self._server_side: dict[str, list[Hop]] = {}

    def server_side(self, server: VpnServer) -> list[Hop]:
        hops = self._server_side.get(server.name)
        if hops is None:
            devices = devices_in_front(self.result.model, server).devices
            hops = self._server_side[server.name] = [h for d in devices for h in d.hops(server)]
        return hops

    def chain(self, path: PathResult) -> tuple[list[Hop], int]:
        """Planned hops and how many of them are on the client side (before the internet)."""
        trace = path.trace
        variant = next((v for v in path.role.variants if v.label == trace.variant), None)
        visited = [record.hop for record in trace.hops]
        client = list(variant.hops) if variant is not None else visited
        planned = client if variant is not None and variant.ends_at_server else client + self.server_side(path.server)
        return visited + planned[len(visited):], len(client)  # what the trace saw wins over the plan


def _signature(path: PathResult, planned: list[Hop]) -> tuple:
    """What a picture shows: each hop's decision, and the deciding hop's rule. Rules of the other hops
    (which ACL line or virtual server passed each port) do not split pictures."""
    trace = path.trace
    records = trace.hops
    decisive_hop, decisive_seg, _ = _decisive(trace)
    rule = decisive_seg.rule if decisive_seg is not None else None
    parts: list[tuple] = []
    for i, hop in enumerate(planned):
        if i < len(records):
            parts.append((records[i].hop.device, records[i].hop.stage, records[i].decision.value))
        else:
            parts.append((hop.device, hop.stage, "unreached"))
    decisive = (decisive_hop.device if decisive_hop else None, decisive_hop.stage if decisive_hop else None,
                rule.position if rule else None, rule.text if rule else None,
                decisive_seg.reason if decisive_seg is not None and rule is None else None)
    return (path.role.network_id, path.server.name, trace.verdict, decisive, tuple(parts))


def _layout(picture: Picture, path: PathResult, planned: list[Hop], client_count: int) -> None:
    trace = path.trace
    role = path.role
    records: tuple[HopTrace, ...] = trace.hops
    marked_hop, marked_seg, mark = _decisive(trace)
    nodes: list[Node] = []
    role_lines = [role.kind.replace("_", " "), *_wrap(role.name, WRAP, 2)]
    if role.ssid and role.kind != "ssid":
        role_lines.append(_wrap(f"on {role.ssid}", WRAP, 1)[0])
    if role.phase == "pre-auth":
        role_lines.append("before sign-on")
    nodes.append(Node(0, 0, NODE_W, 0, role_lines[:4], "role", "role", role_label(role)))
    for i, hop in enumerate(planned):
        if i == client_count:
            nodes.append(Node(0, 0, NET_W, 0, ["internet"], "internet", "internet", "the internet"))
        record = records[i] if i < len(records) else None
        state = record.decision.value if record is not None else "unreached"
        shown = record.hop if record is not None else hop
        kind = "lb" if shown.stage == "load-balancer" else "hop"
        lines = [*_wrap(shown.device, WRAP, 2), _wrap(shown.stage, WRAP, 1)[0]]
        node = Node(0, 0, NODE_W, 0, lines, kind, state, f"{shown.device} ({shown.stage}): {state}")
        if record is not None and marked_hop is not None and record.hop is marked_hop:
            node.mark = mark
        nodes.append(node)
    if client_count >= len(planned):
        nodes.append(Node(0, 0, NET_W, 0, ["internet"], "internet", "internet", "the internet"))
    server = path.server
    reached = trace.verdict in (Verdict.ALLOWED, Verdict.PARTIAL)
    nodes.append(Node(0, 0, NODE_W, 0, ["server", *_wrap(server.name, WRAP, 1), server.address], "server",
                      "server" if reached else "unreached", f"{server.name} {server.address}"))
    height = max(len(n.lines) for n in nodes) * LINE_H + 24
    x = PAD
    top = PAD + 16  # room for the mark label above a node
    for node in nodes:
        node.x, node.y, node.h = x, top, height
        x += node.w + GAP
    width = x - GAP + PAD
    # An edge is cut once packets stop: after a fully denying hop, and at anything never reached.
    edges: list[Edge] = []
    flowing = True
    for left, right in itertools.pairwise(nodes):
        if left.state in (Decision.DENY, "unreached"):
            flowing = False
        edges.append(Edge(left.x + left.w, right.x, top + height // 2, not flowing))
    picture.nodes, picture.edges = nodes, edges
    picture.width, picture.height = width, top + height + PAD
    marked = next((n for n in nodes if n.mark), None)
    if marked is not None and marked_hop is not None and marked_seg is not None:
        info = _rule_info(marked_hop, marked_seg)
        picture.rule = info
        text_lines: list[str] = []
        if info.text:
            text_lines += _wrap(f"{info.label}: {info.text}", CALLOUT_WRAP, 3)
        if info.comment:
            text_lines += _wrap(f"“{info.comment}”", CALLOUT_WRAP, 2)
        if info.reason and (not info.text or marked.state == Decision.UNKNOWN):
            text_lines += _wrap(info.reason, CALLOUT_WRAP, 4)
        if info.source and info.source not in info.reason:
            text_lines += _wrap(info.source, CALLOUT_WRAP, 2)
        cx = max(PAD, min(marked.x + marked.w // 2 - CALLOUT_W // 2, width - CALLOUT_W - PAD))
        cy = top + height + 22
        callout_h = len(text_lines) * LINE_H + 14
        picture.callout = Callout(cx, cy, CALLOUT_W, callout_h, text_lines, marked.state,
                                  marked.x + marked.w // 2, top + height)
        picture.width = max(width, cx + CALLOUT_W + PAD)
        picture.height = cy + callout_h + PAD


def build_pictures(result: AuditResult) -> tuple[list[Picture], dict[tuple, str]]:
    """Failing paths grouped by identical picture, and (role key, server, protocol) -> picture anchor."""
    planner = _Planner(result)
    pictures: dict[tuple, Picture] = {}
    anchors: dict[tuple, str] = {}
    for path in result.paths:
        if path.verdict == Verdict.ALLOWED:
            continue
        planned, client_count = planner.chain(path)
        key = _signature(path, planned)
        picture = pictures.get(key)
        role = path.role
        if picture is None:
            picture = Picture(f"path-{len(pictures) + 1}", role.network_id or SOURCES_ID, role.network_name or SOURCES,
                              path.server.name, path.verdict, variant=path.trace.variant)
            # The deciding rule is drawn and printed already; the sentence adds something only when the
            # flow is partly blocked (which sources) or undecided (why).
            picture.why = path.trace.reason if path.verdict in (Verdict.PARTIAL, Verdict.UNKNOWN) else ""
            _layout(picture, path, planned, client_count)
            pictures[key] = picture
        label = role_label(role)
        if label not in picture.roles:
            picture.roles.append(label)
        flow = str(path.trace.flow)
        if flow not in picture.flows:
            picture.flows.append(flow)
        spec = result.protocols.get(path.protocol)
        title = spec.title if spec else path.protocol
        if title not in picture.protocols:
            picture.protocols.append(title)
        anchors.setdefault((role.key, path.server.name, path.protocol), picture.anchor)  # first failing flow
    order = {net.id: i for i, net in enumerate(result.model.networks)}
    ordered = sorted(pictures.values(), key=lambda p: (order.get(p.network_id, len(order)), -p.verdict.rank))
    return ordered, anchors


# ---------------------------------------------------------------------------------------------------------
# matrix and findings


def build_matrix(result: AuditResult, anchors: dict[tuple, str]) -> tuple[list[Column], list[NetworkBlock]]:
    columns: list[Column] = []
    seen: set[tuple[str, str]] = set()
    for vpn in result.model.servers:
        for name in vpn.protocols:
            key = (vpn.name, name.lower())
            if key not in seen:
                seen.add(key)
                spec = result.protocols.get(name.lower())
                columns.append(Column(vpn.name, name.lower(), spec.title if spec else name))
    index = {(c.server, c.protocol): i for i, c in enumerate(columns)}
    blocks: dict[str, NetworkBlock] = {net.id: NetworkBlock(net.id, net.name) for net in result.model.networks}
    rows: dict[Role, Row] = {}
    for (role, server, protocol), paths in protocol_groups(result.paths).items():
        net_id = role.network_id or SOURCES_ID
        block = blocks.get(net_id)
        if block is None:
            block = blocks[net_id] = NetworkBlock(net_id, role.network_name or SOURCES)
        row = rows.get(role)
        if row is None:
            row = rows[role] = Row(role, role_label(role), [None] * len(columns), Verdict.ALLOWED)
            block.rows.append(row)
        worst = Verdict.worst(p.verdict for p in paths)
        flows = "; ".join(f"{p.trace.flow} {p.verdict}" for p in paths)
        failing = [p for p in paths if p.verdict != Verdict.ALLOWED]
        tip = flows + (f" — {deciding(failing[0].trace)}" if failing else "")
        column = index.get((server, protocol))
        if column is not None:
            row.cells[column] = Cell(worst, tip, anchors.get((role.key, server, protocol)))
        if worst.rank > row.worst.rank:
            row.worst = worst
        for path in paths:
            block.counts[path.verdict] += 1
    return columns, [b for b in blocks.values() if b.rows]


@dataclass(slots=True)
class FindingView:
    data: dict[str, Any]
    network_id: str
    role_text: str
    windows: list[tuple[int, str, str]]  # code, title, how this finding's kind causes it
    evidence_json: str
    anchor: str | None
    number: int = 0  # as in every format: the position in the JSON report's findings, from 1
    protocols: list[str] = field(default_factory=list)  # titles of the protocols the finding concerns


def build_findings(result: AuditResult, anchors: dict[tuple, str]) -> list[FindingView]:
    keys = {(r.network_id, r.kind, r.name, r.ssid, r.phase): r.key
            for net in result.model.networks for r in net.roles}
    out: list[FindingView] = []
    for number, finding in enumerate(ordered_findings(result), 1):
        data = finding.to_json()
        protocols = [result.protocols[p].title if p in result.protocols else p
                     for p in finding.evidence.get("protocols") or []]
        out.append(FindingView(data, (data["network"] or {}).get("id") or "*", _finding_role(finding),
                               [(code, *windows_error(code, data["kind"])) for code in data["windows_errors"]],
                               json.dumps(data["evidence"], indent=2, ensure_ascii=False, default=str),
                               _finding_anchor(finding, keys, anchors), number, protocols))
    return out


def _finding_role(finding: Finding) -> str:
    role = finding.role
    if not role:
        return ""
    label = f"{role.get('kind')} {role.get('name')}"
    if role.get("ssid") and role.get("kind") != "ssid":
        label += f" on {role['ssid']}"
    if finding.evidence.get("phase") == "pre-auth":
        label += " [pre-auth]"
    return label


def _finding_anchor(finding: Finding, keys: dict[tuple, str], anchors: dict[tuple, str]) -> str | None:
    role, evidence = finding.role, finding.evidence
    if not role or not finding.network:
        return None
    role_key = keys.get((finding.network.get("id"), role.get("kind"), role.get("name"), role.get("ssid"),
                         evidence.get("phase", "post-auth")))
    return anchors.get((role_key, evidence.get("server"), evidence.get("protocol")))


# ---------------------------------------------------------------------------------------------------------


@cache
def environment() -> Environment:
    # Autoescape every template (.j2 included): all text from configuration is untrusted.
    return Environment(loader=PackageLoader("auditor.report", "templates"),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       trim_blocks=True, lstrip_blocks=True, finalize=_no_controls)


def _no_controls(value: Any) -> Any:
    """Every value a template prints, control characters made visible: the page may be printed on a terminal."""
    if isinstance(value, Markup):
        return Markup(clean_lines(value))
    return clean_lines(value) if isinstance(value, str) else value


def context(result: AuditResult) -> dict[str, Any]:
    pictures, anchors = build_pictures(result)
    columns, networks = build_matrix(result, anchors)
    findings = build_findings(result, anchors)
    summary = counts(result)
    return {
        "result": result,
        "counts": result.counts(),
        "summary": summary,
        "summary_json": json.dumps(summary, sort_keys=True),
        "headline": headline(summary),
        "total": len(result.paths),
        "roles": sum(len(n.rows) for n in networks),
        "severity": summary["findings"],
        "columns": columns,
        "networks": networks,
        "network_options": sorted(((n.id, n.name) for n in networks), key=lambda t: t[1].lower()),
        "pictures": pictures,
        "findings": findings,
        "servers": result.model.servers,
        "verdicts": VERDICT_REPORT_ORDER,
        "severities": SEVERITY_REPORT_ORDER,
        "symbol": VERDICT_SYMBOL,
        "line_h": LINE_H,
        "assumed_value": shown,
    }


def _inline(name: str) -> tuple[Markup, str]:
    """Our own CSS or JS, inlined verbatim, and its CSP hash (only these may run or style the page)."""
    text = environment().get_template(name).render()
    digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
    return Markup(text), f"sha256-{digest}"


def render(result: AuditResult) -> str:
    style, style_hash = _inline("_style.css.j2")
    script, script_hash = _inline("_script.js.j2")
    return environment().get_template("report.html.j2").render(
        **context(result), style=style, style_hash=style_hash, script=script, script_hash=script_hash)
