"""Fix plans: for each blocking or split finding, the smallest change that fixes it, printed and never applied.

A plan is built per finding from the deciding hop of each blocked flow: a vendor planner (one module per
vendor, `auditor/vendors/<vendor>/fixplan.py`, named in its `Vendor` entry) turns "this rule of this list denies these
packets" into an edit of the snapshot file the rule came from and the request or configuration lines that make
the same edit on the device. Edits go into one working copy of the snapshot (so two findings that need the same
list get one request body), and the audit is run again with that copy as an overlay: a plan is `verified` only
when every flow of its finding is then allowed. Flows still blocked at a later layer get another round.

Adding a vendor is adding a planner: `plan_hop` for rule-list hops it owns, `plan_finding` for device-level
findings (load-balancer persistence, source NAT). Planners that cannot express their fix as a snapshot edit
return steps without `file`; those are printed but not verified.
"""

from __future__ import annotations

import copy
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, cast

from auditor.audit import AuditResult, resolve_config, run_audit
from auditor.checks import Finding
from auditor.config import AuditConfig
from auditor.errors import SelectionError
from auditor.model import Hop, Segment, VpnServer
from auditor.plugins import installed, network_of, restrict
from auditor.snapshot import Snapshot
from auditor.trace import PathResult
from auditor.vocab import Verdict

SCHEMA_ID = "vpn-auditor.fix-plan/1"
BLOCKING_KINDS = ("blocked-flow", "partial-flow", "preauth-blocked", "split-persistence", "nat-missing")
MAX_ROUNDS = 3
COMMENT = "vpn-auditor fix plan"


# ---------------------------------------------------------------------------------------------------------
# Working copy of the snapshot

class Workspace:
    """Copy-on-write content of the snapshot files the plan edits; its `overlay` is what the audit re-reads."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.files: dict[str, Any] = {}
        self.state: dict[Any, Any] = {}  # planners' bookkeeping across findings (e.g. lines inserted so far)

    def json(self, rel: str) -> Any:
        if rel not in self.files:
            self.files[rel] = copy.deepcopy(self.snapshot.read_json(rel))
        return self.files[rel]

    def text(self, rel: str) -> str:
        if rel not in self.files:
            self.files[rel] = self.snapshot.read_text(rel) or ""
        return self.files[rel]

    def set_text(self, rel: str, text: str) -> None:
        self.files[rel] = text

    @property
    def overlay(self) -> dict[str, Any]:
        return dict(self.files)


class RowTracker:
    """Finds a row of a rules array, by the index the audited model gave it, in the working copy after edits
    of the same round moved it.

    The model of round k was built from the working copy as it stood when round k began, so indexes refer to
    that state: the tracker records the list once per round (before the round edits it) and follows rows by
    identity from there.
    """

    def __init__(self) -> None:
        self._lists: dict[tuple[Any, ...], list[Any]] = {}
        self.round = 0

    def row(self, key: tuple[str, Any], working: list[Any], index: int) -> Any:
        this_round = (*key, self.round)
        if this_round not in self._lists:
            self._lists[this_round] = list(working)  # the list as the audited model saw it
        return self._lists[this_round][index]


# ---------------------------------------------------------------------------------------------------------
# Plan types

@dataclass(slots=True)
class Change:
    """One edit of one device resource (an API object or a configuration), merged across findings."""

    key: str  # identity of the resource: "PUT /networks/N/.../l3FirewallRules", "cisco/hq-asa OUTSIDE_IN"
    vendor: str  # meraki | cisco-asa | cisco-ios | f5 | kemp | netscaler | manual
    device: str
    summaries: list[str] = field(default_factory=list)  # what changes, in words, one per edit
    method: str | None = None
    endpoint: str | None = None  # Dashboard API path (base https://api.meraki.com/api/v1)
    body: Any = None  # the full request body, rendered from the working copy at the end
    lines: list[str] = field(default_factory=list)  # configuration / CLI lines, in order
    file: str | None = None  # the snapshot file the verification edits (None: printed, not verified)
    render: Any = None  # callable(workspace) -> body, set by the planner

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "vendor": self.vendor, "device": self.device, "what": self.summaries,
                "method": self.method, "endpoint": self.endpoint, "body": self.body, "lines": self.lines,
                "file": self.file, "verifiable": self.file is not None}


@dataclass(slots=True)
class Blocked:
    """What a planner gets for a rule-list hop: the deciding segment and the flows it blocks."""

    finding: Finding
    path: PathResult
    hop: Hop
    segment: Segment
    flows: list[str]  # "udp/500", ...
    server: VpnServer


@dataclass(slots=True)
class Plan:
    finding: Finding
    changes: list[str] = field(default_factory=list)  # Change keys
    verified: bool | None = None  # None: nothing verifiable
    after: dict[str, str] = field(default_factory=dict)  # flow -> verdict with the plan applied
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        f = self.finding
        return {"finding": {"id": f.check.id, "kind": f.check.kind, "severity": f.effective_severity,
                            "title": f.title, "network": f.network, "role": f.role, "device": f.device,
                            "evidence": {k: f.evidence.get(k) for k in ("server", "protocol", "protocols", "phase",
                                                                        "flows") if k in f.evidence}},
                "changes": self.changes, "verified": self.verified, "after": self.after, "notes": self.notes}


@dataclass(slots=True)
class FixPlanResult:
    snapshot: str
    plans: list[Plan]
    changes: dict[str, Change]
    side_effects: list[Any] = field(default_factory=list)  # diff.VerdictChange for paths outside the findings
    overlay: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_ID, "snapshot": self.snapshot, "applied": False,
                "summary": {"findings": len(self.plans), "verified": sum(p.verified is True for p in self.plans),
                            "changes": len(self.changes)},
                "changes": [c.to_json() for c in self.changes.values()],
                "plans": [p.to_json() for p in self.plans],
                "side_effects": [c.to_json() for c in self.side_effects]}


class Planner(Protocol):
    def plan_hop(self, ctx: PlanContext, blocked: Blocked) -> list[Change] | None:
        """Edits that let `blocked.flows` through `blocked.hop`, or None when the hop is not this vendor's."""

    def plan_finding(self, ctx: PlanContext, finding: Finding) -> list[Change] | None:
        """Edits for a device-level finding (no traced path), or None when not this vendor's."""


@dataclass(slots=True)
class PlanContext:
    result: AuditResult
    workspace: Workspace
    changes: dict[str, Change]
    tracker: RowTracker = field(default_factory=RowTracker)
    round: int = 0  # the audited model of round k was built from the working copy as round k began

    def base_text(self, rel: str) -> str:
        """A text file as the audited model of this round read it (origins' line numbers refer to it)."""
        return self.workspace.state.setdefault(("base-text", rel, self.round), self.workspace.text(rel))

    def change(self, key: str, **fields: Any) -> Change:
        """The change for a resource, created on first use (later findings add to it)."""
        if key not in self.changes:
            self.changes[key] = Change(key, **fields)
        return self.changes[key]

    def device(self, name: str) -> Any:
        return self.result.model.devices.get(name)


def _planners() -> list[Planner]:
    """Each installed vendor's planner, in the registry's order (the first that claims a hop plans it)."""
    return [cast(Planner, cls()) for cls in installed().planners()]


# ---------------------------------------------------------------------------------------------------------
# Planning

def _finding_paths(result: AuditResult, finding: Finding) -> list[PathResult]:
    """The traced paths a role finding was made from (same network, role, phase, server, protocol)."""
    ev = finding.evidence
    protocols = _protocols(finding)
    if finding.role is None:
        if finding.device is None or finding.check.kind != "blocked-flow":
            return []
        # a server-side block: every path of that server and protocol first blocked at that device
        return [p for p in result.paths if p.server.name == ev.get("server") and p.protocol in protocols
                and p.trace.blocked and p.trace.blocked[0][0].device == finding.device]
    net = (finding.network or {}).get("id")
    return [p for p in result.paths
            if p.role.network_id == net and p.role.describe() == finding.role and p.role.phase == ev.get("phase")
            and p.server.name == ev.get("server") and p.protocol in protocols]


def _protocols(finding: Finding) -> list[str]:
    """The protocols a finding concerns: one finding covers every protocol its cause fails."""
    ev = finding.evidence
    return list(ev.get("protocols") or [ev.get("protocol")])


def _plan_paths(ctx: PlanContext, planners: list[Planner], finding: Finding, paths: list[PathResult],
                plan: Plan) -> None:
    by_hop: dict[tuple[int, int], list[PathResult]] = defaultdict(list)
    for path in paths:
        if path.trace.carried_by:
            continue  # inside IPsec: no middle box sees it, so none is told to open it (its carrier's path is)
        verdict = path.verdict
        if verdict in (Verdict.BLOCKED, Verdict.PARTIAL) or (verdict == Verdict.UNKNOWN and path.trace.blocked):
            hop, seg = path.trace.blocked[0]
            by_hop[(id(hop), id(seg.rule))].append(path)
    for group in by_hop.values():
        hop, seg = group[0].trace.blocked[0]
        flows = sorted({str(p.trace.flow) for p in group})
        blocked = Blocked(finding, group[0], hop, seg, flows, group[0].server)
        for planner in planners:
            made = planner.plan_hop(ctx, blocked)
            if made is not None:
                plan.changes.extend(c.key for c in made if c.key not in plan.changes)
                break
        else:
            plan.notes.append(f"no fix-plan writer for {hop.device} ({hop.stage}); the finding's remediation "
                              f"says: {finding.remediation}")


def _restricted(snapshot: Snapshot, overlay: dict[str, Any], result: AuditResult) -> dict[str, Any]:
    """The overlay plus the network vendors' restriction to the networks the plan touches, when it only
    touches networks' own files: the re-audit then costs what those networks cost."""
    touched = set()
    for rel in overlay:
        network = network_of(rel)
        if network is None:
            return dict(overlay)
        touched.add(network)
    return {**restrict(snapshot, touched), **overlay}


def fix_plan(snapshot_dir: Path, config_path: Path | None = None, network: str | None = None,
             result: AuditResult | None = None) -> FixPlanResult:
    snapshot = Snapshot(snapshot_dir)
    config: AuditConfig = resolve_config(snapshot, config_path).model_copy(deep=True)
    if network is not None:
        config.scope.networks = [network]
    result = result or run_audit(snapshot_dir, config=config)
    if network is not None and not result.model.networks:
        raise SelectionError(f"network '{network}' is not in the snapshot")
    planners = _planners()
    workspace = Workspace(snapshot)
    ctx = PlanContext(result, workspace, {})
    plans = [Plan(f) for f in result.findings if f.check.kind in BLOCKING_KINDS]
    current = result
    for round_number in range(MAX_ROUNDS):
        open_plans = [p for p in plans if p.verified is not True]
        if not open_plans:
            break
        ctx.result = current
        ctx.round = ctx.tracker.round = round_number
        for plan in open_plans:
            finding = _same_finding(current, plan.finding) if round_number else plan.finding
            if finding is None:
                continue
            paths = _finding_paths(current, finding)
            if paths:
                _plan_paths(ctx, planners, finding, paths, plan)
            elif round_number == 0:
                for planner in planners:
                    made = planner.plan_finding(ctx, finding)
                    if made is not None:
                        plan.changes.extend(c.key for c in made if c.key not in plan.changes)
                        break
                else:
                    plan.notes.append(f"no fix-plan writer for this finding; its remediation says: "
                                      f"{finding.remediation}")
        if not workspace.files:
            break
        with Snapshot.overlaid(snapshot_dir, _restricted(snapshot, workspace.overlay, result)):
            current = run_audit(snapshot_dir, config=config)
        _verify(plans, current, ctx.changes)
    for change in ctx.changes.values():
        if change.render is not None:
            change.body = change.render(workspace)
    side_effects = _side_effects(result, current, plans) if workspace.files else []
    return FixPlanResult(str(snapshot_dir), plans, ctx.changes, side_effects, workspace.overlay)


def _same_finding(result: AuditResult, finding: Finding) -> Finding | None:
    """The finding in a re-audit that concerns the same role, server and protocol (its flows may differ)."""
    for other in result.findings:
        if other.check.kind == finding.check.kind and other.role == finding.role and \
                other.network == finding.network and other.device == finding.device and \
                all(other.evidence.get(k) == finding.evidence.get(k) for k in ("server", "protocol", "phase")):
            return other
    return None


def _verify(plans: list[Plan], after: AuditResult, changes: dict[str, Change]) -> None:
    for plan in plans:
        paths = _finding_paths(after, plan.finding)
        plan.after = {str(p.trace.flow): p.verdict for p in paths}
        verifiable = any(changes[k].file is not None for k in plan.changes)
        if not verifiable:
            plan.verified = None
        elif paths:
            # the flows the finding reports must now be allowed; others may stay unknown for other reasons
            wanted = plan.finding.evidence.get("flows") or list(plan.after)
            plan.verified = all(plan.after.get(str(flow)) == Verdict.ALLOWED for flow in wanted)
            plan.notes = [n for n in plan.notes if not n.startswith("after the plan: ")]
            plan.notes.extend(f"after the plan: {p.trace.reason}" for p in paths
                              if p.verdict != Verdict.ALLOWED and str(p.trace.flow) in map(str, wanted))
        else:
            plan.verified = _same_finding(after, plan.finding) is None  # device-level: the finding is gone


def _side_effects(before: AuditResult, after: AuditResult, plans: list[Plan]) -> list[Any]:
    from auditor.diff import compare

    own = {(p.finding.network or {}).get("id", None) for p in plans}
    keys = {(json.dumps(p.finding.role, sort_keys=True), p.finding.evidence.get("phase"), protocol)
            for p in plans for protocol in _protocols(p.finding)}
    out = []
    after_networks = {n.id for n in after.model.networks}
    for change in compare(before, after):
        if change.network and change.network["id"] not in after_networks:
            continue  # not re-audited (restricted overlay): unchanged by construction
        if (json.dumps(change.role, sort_keys=True), change.phase, change.protocol) in keys and \
                (change.network or {}).get("id") in own:
            continue
        out.append(change)
    return out


# ---------------------------------------------------------------------------------------------------------
# Views

def render_json(result: FixPlanResult) -> str:
    return json.dumps(result.to_json(), indent=2) + "\n"


def text_lines(result: FixPlanResult) -> list[str]:
    lines = [f"Fix plan for {result.snapshot} (printed, not applied): {len(result.plans)} blocking findings, "
             f"{len(result.changes)} changes"]
    if not result.plans:
        lines.append("Nothing is blocked: no fix needed.")
        return lines
    numbers = {key: i for i, key in enumerate(result.changes, 1)}
    for key, change in result.changes.items():
        lines.append("")
        lines.append(f"Change {numbers[key]}: {change.device} ({change.vendor})")
        lines.extend(f"  - {s}" for s in change.summaries)
        if change.method:
            lines.append(f"  {change.method} https://api.meraki.com/api/v1{change.endpoint}")
            lines.extend(f"    {line}" for line in json.dumps(change.body, indent=2).splitlines())
        if change.lines:
            lines.append("  configuration:")
            lines.extend(f"    {line}" for line in change.lines)
        if change.file is None:
            lines.append("  (not verified: this change is not applied to the model)")
    lines.append("")
    lines.append("Findings and the changes that fix them (re-audited with every change applied in memory):")
    for plan in result.plans:
        mark = {True: "fixed", False: "NOT FIXED", None: "not verified"}[plan.verified]
        refs = ", ".join(str(numbers[k]) for k in plan.changes) or "none"
        lines.append(f"  [{mark}] {plan.finding.check.id}: {plan.finding.title}")
        lines.append(f"      changes: {refs}" + (f"; after: {', '.join(f'{k} {v}' for k, v in plan.after.items())}"
                                                 if plan.after else ""))
        lines.extend(f"      note: {n}" for n in plan.notes)
    if result.side_effects:
        lines.append("")
        lines.append("Other verdicts the changes alter:")
        for change in result.side_effects:
            role = change.role
            lines.append(f"  {(change.network or {}).get('name')} / {role['kind']} '{role['name']}' ({change.phase}) "
                         f"{change.protocol} {change.flow}: {change.old} -> {change.new}")
    return lines
