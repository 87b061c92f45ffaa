"""`vpn-auditor diff OLD NEW`: which verdicts changed between two snapshots, and the change that caused each.

1. The two snapshot trees are compared file by file. A network's verdicts depend only on its own folder, its
   organization's files and audit.yaml, so networks whose files are identical are not audited again; the
   others are audited in both snapshots through an overlay that lists only them. Which networks a file
   touches, and the overlay, come from the network vendor's layout (plugins.NetworkScope). A change that can
   affect everything (audit.yaml, organization objects, server-side devices) audits everything.
2. Paths are keyed by network id, role kind + name + SSID, phase, server, protocol and flow; every key whose
   verdict differs (or that exists on one side only) is a change.
3. For each change, the hops the role crosses are paired across the two models by device and layer, and their
   configuration is compared: rules added, removed, edited or moved (by position, text and comment), the
   default rule, group-policy composition, splash gate and walled garden, data gaps, and for other devices the
   differing configuration lines. Only differences that touch the flow's packets are kept, and those at the
   hop that decided the verdict come first.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.audit import AuditResult, resolve_config, run_audit
from auditor.config import AuditConfig
from auditor.model import AmbiguousHop, FilterHop, GapHop, Hop, MayApplyHop, PassHop, Role, Rule, RuleList
from auditor.packets import EMPTY, PacketSet
from auditor.plugins import installed, network_of, restrict
from auditor.plugins import tunnels as full_tunnels  # spoke -> the hubs its internet traffic crosses
from auditor.snapshot import Snapshot, SnapshotError
from auditor.trace import FlowTrace, PathResult, flow_packets
from auditor.vocab import Verdict

SCHEMA_ID = "vpn-auditor.diff/1"
_GP_RULE_PREFIX = re.compile(r"^(group policy '.*?') rule \d+: ")  # positions move; the text should not


# ---------------------------------------------------------------------------------------------------------
# Result types

@dataclass(slots=True)
class Cause:
    kind: str  # rule-added | rule-removed | rule-edited | rule-moved | default-rule-changed | splash-changed |
    #           walled-garden-changed | group-policy-changed | ipsk-mapping-changed | group-policy-mapping-changed |
    #           vlan-changed | data-gap | hop-added | hop-removed | device-config-changed | unattributed
    device: str
    stage: str
    detail: str
    file: str | None = None
    old: dict[str, Any] | None = None
    new: dict[str, Any] | None = None
    deciding: bool = False  # at the hop that decided the verdict

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(slots=True)
class VerdictChange:
    network: dict[str, str] | None
    role: dict[str, Any]
    phase: str
    server: str
    protocol: str
    flow: str
    old: str | None  # None: the path does not exist in the old snapshot
    new: str | None
    old_reason: str = ""
    new_reason: str = ""
    decided_old: dict[str, Any] | None = None
    decided_new: dict[str, Any] | None = None
    causes: list[Cause] = field(default_factory=list)

    @property
    def regression(self) -> bool:
        """A flow that was allowed and now exists with any other verdict."""
        return self.old == Verdict.ALLOWED and self.new not in (None, Verdict.ALLOWED)

    def to_json(self) -> dict[str, Any]:
        return {"network": self.network, "role": self.role, "phase": self.phase, "server": self.server,
                "protocol": self.protocol, "flow": self.flow, "old": self.old, "new": self.new,
                "regression": self.regression, "old_reason": self.old_reason, "new_reason": self.new_reason,
                "decided_old": self.decided_old, "decided_new": self.decided_new,
                "causes": [c.to_json() for c in self.causes]}


@dataclass(slots=True)
class DiffResult:
    old: str
    new: str
    changed_files: dict[str, str]  # snapshot-relative path -> added | removed | modified
    audited_networks: list[str] | None  # None: everything was audited (a change of global reach)
    changes: list[VerdictChange]
    notes: list[str] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)  # FindingChange: device-level findings new or resolved

    @property
    def regressions(self) -> list[VerdictChange]:
        return [c for c in self.changes if c.regression]

    def flow_changes(self) -> list[list[VerdictChange]]:
        """The changes as a person reads them: one entry per (network, role, phase, server, flow) and verdict
        change, the protocols that share the flow together (udp/500 is IKEv2's and L2TP's)."""
        grouped: dict[tuple, list[VerdictChange]] = {}
        for change in self.changes:
            key = ((change.network or {}).get("id"), json.dumps(change.role, sort_keys=True), change.phase,
                   change.server, change.flow, change.old, change.new)
            grouped.setdefault(key, []).append(change)
        return list(grouped.values())

    def to_json(self) -> dict[str, Any]:
        flows = self.flow_changes()
        return {
            "schema": SCHEMA_ID, "old": self.old, "new": self.new,
            "summary": {"changed_verdicts": len(self.changes), "regressions": len(self.regressions),
                        "changed_flows": len(flows), "flow_regressions": sum(group[0].regression for group in flows),
                        "changed_findings": len(self.findings),
                        "changed_files": len(self.changed_files),
                        "audited_networks": None if self.audited_networks is None else len(self.audited_networks)},
            "changed_files": [{"file": f, "change": s} for f, s in sorted(self.changed_files.items())],
            "notes": self.notes,
            "changes": [c.to_json() for c in self.changes],
            "findings": [f.to_json() for f in self.findings],
        }


# ---------------------------------------------------------------------------------------------------------
# 1. Which files differ, and which networks that touches

def _walk(root: Path) -> dict[str, tuple[int, int, int]]:
    """Snapshot-relative path -> (size, device, inode) of every file, with one scandir pass per folder."""
    out: dict[str, tuple[int, int, int]] = {}
    stack = [(str(root), "")]
    while stack:
        folder, prefix = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{prefix}{entry.name}/"))
                elif entry.is_file():
                    info = entry.stat()
                    out[f"{prefix}{entry.name}"] = (info.st_size, info.st_dev, info.st_ino)
    return out


def changed_files(old_root: Path, new_root: Path) -> dict[str, str]:
    """Files added, removed or modified. Only the same file (one inode, e.g. a hard link) or a different size
    settles it without reading: equal size and modification time do not (rsync's quick check), since copies
    that share one time (a `git archive` of two snapshots from one commit, `tar` of a fixed date) can differ
    in bytes of equal length (port 500 -> 501), and a change missed here is a network never re-audited."""
    old, new = _walk(old_root), _walk(new_root)
    out: dict[str, str] = {}
    for rel in old.keys() | new.keys():
        if rel not in new:
            out[rel] = "removed"
        elif rel not in old:
            out[rel] = "added"
        elif old[rel][1:] == new[rel][1:]:
            continue
        elif old[rel][0] != new[rel][0] or (old_root / rel).read_bytes() != (new_root / rel).read_bytes():
            out[rel] = "modified"
    return out


def _manifest_outcomes(snapshot: Snapshot) -> dict[str, str]:
    """File -> recorded outcome (collection times and tool versions are not part of a verdict)."""
    data = snapshot.read_json("manifest.json")
    out: dict[str, str] = {}
    for call in (data or {}).get("calls", []) if isinstance(data, dict) else []:
        if isinstance(call, dict):
            rel = call.get("file") or call.get("path")
            if isinstance(rel, str):
                out[rel] = json.dumps([call.get("outcome"), call.get("status"), call.get("error")])
    return out


def affected_networks(old: Snapshot, new: Snapshot, files: dict[str, str], config_differs: bool,
                      tunnels: dict[str, frozenset[str]] | None = None) -> set[str] | None:
    """Ids of the networks whose verdicts may differ, or None when any path may differ. Which networks a file
    touches is its network vendor's layout (plugins.NetworkScope); a file of any other folder (server-side
    devices) sits on every path. `tunnels` is `full_tunnels(old, new)` when the caller has it already."""
    if config_differs:
        return None
    registry = installed()
    in_folder: dict[str, list[str]] = {}
    affected: set[str] = set()
    for rel in files:
        if "/" not in rel:
            if rel == "audit.yaml":
                return None
            if rel == "manifest.json":
                a, b = _manifest_outcomes(old), _manifest_outcomes(new)
                for path in a.keys() | b.keys():
                    if a.get(path) != b.get(path):
                        network = network_of(path)
                        if network is None:
                            return None
                        affected.add(network)
            continue  # README, PLANTED.md ...: no adapter reads them
        in_folder.setdefault(rel.split("/", 1)[0], []).append(rel)
    for folder, rels in in_folder.items():
        scope = registry.scope(folder)
        found = scope.affected(old, new, rels) if scope is not None else None
        if found is None:
            return None
        affected |= found
    # A full-tunnel spoke's traffic crosses its hubs: a change there reaches the spoke's verdicts too.
    tunnels = full_tunnels(old, new) if tunnels is None else tunnels
    affected.update(spoke for spoke, hubs in tunnels.items() if hubs & affected)
    return affected


# ---------------------------------------------------------------------------------------------------------
# 2. Verdicts by key

PathKey = tuple[str | None, str, str, str | None, str, str, str, str]


def path_key(path: PathResult) -> PathKey:
    role = path.role
    return (role.network_id, role.kind, role.name, role.ssid, role.phase, path.server.name, path.protocol,
            str(path.trace.flow))


def _index(paths: Iterable[PathResult]) -> dict[PathKey, PathResult]:
    out: dict[PathKey, PathResult] = {}
    seen: dict[PathKey, int] = defaultdict(int)
    for path in paths:
        key = path_key(path)
        seen[key] += 1
        if seen[key] > 1:  # two roles with one name (same-named SSIDs): keep them apart by occurrence
            key = (*key[:3], f"{key[3]}#{seen[key]}", *key[4:])
        out[key] = path
    return out


def _decider(trace: FlowTrace) -> tuple[Hop, Any] | None:
    if trace.blocked:
        return trace.blocked[0]
    if trace.unknown:
        return trace.unknown[0]
    return None


def _decider_json(trace: FlowTrace | None) -> dict[str, Any] | None:
    if trace is None:
        return None
    found = _decider(trace)
    if found is None:
        return None
    hop, seg = found
    out: dict[str, Any] = {"device": hop.device, "stage": hop.stage, "decision": seg.decision.value}
    if seg.rule is not None:
        out["rule"] = _rule_json(seg.rule)
    if seg.reason:
        out["reason"] = seg.reason
    return out


def _rule_json(rule: Rule) -> dict[str, Any]:
    out = {"index": rule.position, "text": rule.text, "comment": rule.comment or None,
           "source": str(rule.origin) if rule.origin else None, "default": rule.synthetic, "label": rule.label}
    if rule.origin is not None and rule.origin.index is not None:
        out["file_index"] = rule.origin.index
    if rule.origin is not None and rule.origin.line is not None:
        out["line"] = rule.origin.line
    return out


# ---------------------------------------------------------------------------------------------------------
# 3. Configuration differences on a path's hops

@dataclass(slots=True)
class _Row:
    """One configured rule (a Meraki row may be two model rules: its resolved and unresolved parts)."""

    position: int
    signature: tuple[str, str]  # (text, comment) without positions
    text: str
    comment: str
    source: str | None
    match: PacketSet

    def json(self) -> dict[str, Any]:
        return {"index": self.position, "text": self.text, "comment": self.comment or None, "source": self.source}


def _rows(rules: list[Rule]) -> list[_Row]:
    rows: list[_Row] = []
    by_key: dict[tuple, _Row] = {}
    for rule in rules:
        key = (rule.origin.path, rule.origin.index, rule.position) if rule.origin else (None, None, rule.position)
        row = by_key.get(key)
        if row is not None and row.text == rule.text:
            row.match = row.match | rule.match
            continue
        text = _GP_RULE_PREFIX.sub(r"\1: ", rule.text)
        row = _Row(rule.position, (text, rule.comment), rule.text, rule.comment,
                   str(rule.origin) if rule.origin else None, rule.match)
        by_key[key] = row
        rows.append(row)
    return rows


def _file_of(source: str | None) -> str | None:
    return None if source is None else re.sub(r"(\[\d+\]|:\d+)$", "", source)


def _rule_kind(stage: str, default: str) -> str:
    if stage.startswith("splash"):
        return "walled-garden-changed"
    return default


def diff_rule_lists(old: RuleList, new: RuleList, device: str, stage: str) -> list[tuple[Cause, PacketSet]]:
    """Every difference between two first-match lists, with the packets each difference can affect."""
    a, b = _rows(old.rules), _rows(new.rules)
    out: list[tuple[Cause, PacketSet]] = []
    if stage.startswith("splash") and old.default.text != new.default.text:
        # The gate changed mode (block all <-> let non-HTTP through): its rows are different in kind, so the
        # mode change is the cause rather than row-by-row edits.
        a, b = [], []
    matcher = difflib.SequenceMatcher(None, [r.signature for r in a], [r.signature for r in b], autojunk=False)
    opcodes = matcher.get_opcodes()
    blocks: list[tuple[list[_Row], list[_Row]]] = [(a[i1:i2], b[j1:j2]) for op, i1, i2, j1, j2 in opcodes
                                                   if op != "equal"]
    for op, i1, i2, j1, j2 in opcodes:
        if op != "equal":
            continue
        for before, after in zip(a[i1:i2], b[j1:j2], strict=True):
            if before.match != after.match:  # same words, other packets: an object or group it names changed
                out.append((Cause(_rule_kind(stage, "rule-edited"), device, stage,
                                  f"rule {after.position} ({after.text}) matches other packets now: an object, "
                                  "group or name it refers to changed", _file_of(after.source),
                                  old=before.json(), new=after.json()), before.match | after.match))
    # A signature that left one place and arrived at another was moved, not removed and added.
    used: set[int] = set()
    moved: list[tuple[_Row, _Row]] = []
    arrivals = [row for _olds, news in blocks for row in news]
    for olds, _news in blocks:
        for row in olds:
            twin = next((r for r in arrivals if id(r) not in used and r.signature == row.signature), None)
            if twin is not None:
                used.update((id(row), id(twin)))
                moved.append((row, twin))
    removed: list[_Row] = []
    added: list[_Row] = []
    edited: list[tuple[_Row, _Row]] = []
    for olds, news in blocks:  # what is left of a replaced stretch pairs up position by position as edits
        olds = [r for r in olds if id(r) not in used]
        news = [r for r in news if id(r) not in used]
        pairs = min(len(olds), len(news))
        edited.extend(zip(olds[:pairs], news[:pairs], strict=True))
        removed.extend(olds[pairs:])
        added.extend(news[pairs:])
    for row in removed:
        out.append((Cause(_rule_kind(stage, "rule-removed"), device, stage,
                          f"rule {row.position} removed: {row.text}" + (f' "{row.comment}"' if row.comment else ""),
                          _file_of(row.source), old=row.json()), row.match))
    for row in added:
        out.append((Cause(_rule_kind(stage, "rule-added"), device, stage,
                          f"rule {row.position} added: {row.text}" + (f' "{row.comment}"' if row.comment else ""),
                          _file_of(row.source), new=row.json()), row.match))
    for before, after in edited:
        what = []
        if before.text != after.text:
            what.append(f"'{before.text}' -> '{after.text}'")
        if before.comment != after.comment:
            what.append(f"comment \"{before.comment}\" -> \"{after.comment}\"")
        out.append((Cause(_rule_kind(stage, "rule-edited"), device, stage,
                          f"rule {after.position} edited: {'; '.join(what)}", _file_of(after.source),
                          old=before.json(), new=after.json()), before.match | after.match))
    for before, after in moved:
        out.append((Cause(_rule_kind(stage, "rule-moved"), device, stage,
                          f"rule moved from position {before.position} to {after.position}: {after.text}"
                          + (f' "{after.comment}"' if after.comment else ""), _file_of(after.source),
                          old=before.json(), new=after.json()), before.match | after.match))
    if (old.default.action, old.default.text) != (new.default.action, new.default.text):
        kind = "splash-changed" if stage.startswith("splash") else "default-rule-changed"
        out.append((Cause(kind, device, stage, f"default '{old.default.text}' -> '{new.default.text}'",
                          _file_of(str(new.default.origin) if new.default.origin else None),
                          old=_rule_json(old.default), new=_rule_json(new.default)),
                    old.default.match | new.default.match))
    return out


def _readings(hop: Hop) -> dict[str, RuleList] | None:
    if isinstance(hop, MayApplyHop) and hop.inner is not None:  # the same rules, whether or not they apply
        return _readings(hop.inner)
    if isinstance(hop, FilterHop) and hop.rules is not None:
        return {"": hop.rules}
    if isinstance(hop, AmbiguousHop):
        return dict(hop.readings)
    return None


def _config_lines(hop: Hop) -> list[str]:
    """A device-neutral rendering of a hop's configuration, for hops without rule lists (NAT, load balancers,
    future device kinds): the `describe()` of objects that offer one, rule texts, and plain values. Packet sets
    and origins are left out: a line number that moved is not a configuration change."""
    lines: list[str] = []

    def render(name: str, value: Any, depth: int = 0) -> None:
        if depth > 3 or value is None or callable(value):
            return
        if hasattr(value, "describe") and callable(value.describe):
            described = value.describe()
            if isinstance(described, dict):
                described = {k: v for k, v in described.items() if k not in ("origin", "line", "lines")}
            lines.append(f"{name}: {json.dumps(described, sort_keys=True, default=str)}")
        elif isinstance(value, str | int | float | bool):
            lines.append(f"{name}: {value}")
        elif isinstance(value, Rule):
            lines.append(f"{name}: {value.action.value} {value.text}")
        elif isinstance(value, list | tuple):
            for i, item in enumerate(value):
                render(f"{name}[{i}]", item, depth + 1)
        elif hasattr(value, "services"):
            for svc in value.services:
                render(f"{name}.service", svc, depth + 1)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                if f.name not in ("origin", "match", "packets"):
                    render(f"{name}.{f.name}", getattr(value, f.name), depth + 1)

    if dataclasses.is_dataclass(hop):
        for f in dataclasses.fields(hop):
            if f.name not in ("device", "stage", "origin"):
                render(f.name, getattr(hop, f.name))
    return lines


def diff_hops(old: Hop, new: Hop) -> list[tuple[Cause, PacketSet]]:
    """Configuration differences between the same enforcement point in the two snapshots."""
    device, stage = new.device, new.stage
    ra, rb = _readings(old), _readings(new)
    out: list[tuple[Cause, PacketSet]] = []
    if ra is not None and rb is not None:
        if set(ra) != set(rb):
            out.append((Cause("group-policy-changed", device, stage,
                              f"how a group policy combines with this layer changed ({old.stage} -> {new.stage}): "
                              + (getattr(new, "why", "") or getattr(old, "why", "") or "policy no longer applies"),
                              ), _all()))
        first_a, first_b = next(iter(ra.values())), next(iter(rb.values()))
        out.extend(diff_rule_lists(first_a, first_b, device, stage))
        return out
    if isinstance(old, GapHop) or isinstance(new, GapHop):
        reason_a = getattr(old, "reason", None) if isinstance(old, GapHop) else None
        reason_b = getattr(new, "reason", None) if isinstance(new, GapHop) else None
        if reason_a != reason_b:
            if reason_b and not reason_a:
                detail = f"data now missing: {reason_b}"
            elif reason_a and not reason_b:
                detail = f"data now present (was: {reason_a})"
            else:
                detail = f"{reason_a} -> {reason_b}"
            file = str(new.origin or old.origin or "") or None
            out.append((Cause("data-gap", device, stage, detail, file), _all()))
        if (ra is None) != (rb is None) and not out:
            out.append((Cause("data-gap", device, stage, "evidence changed at this point"), _all()))
        return out
    if isinstance(old, PassHop) and isinstance(new, PassHop):
        if old.note != new.note:
            out.append((Cause("hop-changed", device, stage, f"{old.note} -> {new.note}"), _all()))
        return out
    a, b = _config_lines(old), _config_lines(new)
    if a != b or type(old) is not type(new):
        removed = [line for line in a if line not in b]
        added = [line for line in b if line not in a]
        detail = (f"configuration of {device} changed: " + "; ".join(
            [f"- {line}" for line in removed[:10]] + [f"+ {line}" for line in added[:10]]))
        out.append((Cause("device-config-changed", device, stage, detail, str(new.origin) if new.origin else None,
                          old={"lines": removed}, new={"lines": added}), _all()))
    return out


def _all() -> PacketSet:
    from auditor.packets import ALL

    return ALL


def _behaviour(hop: Hop, packets: PacketSet) -> dict[str, PacketSet]:
    out: dict[str, PacketSet] = {}
    for seg in hop.apply(packets):
        out[seg.decision.value] = out.get(seg.decision.value, EMPTY) | seg.packets
    return out


def _same_behaviour(a: Hop, b: Hop, packets: PacketSet) -> bool:
    """Whether two versions of a hop decide the flow's packets alike (which rule decides may differ)."""
    try:
        return _behaviour(a, packets) == _behaviour(b, packets)
    except Exception:  # a hop kind that cannot be applied on its own: assume it changed
        return False


def _layer(hop: Hop) -> tuple[str, str]:
    """Pairs a hop across snapshots: a group policy joining or leaving a layer keeps the layer's identity."""
    return hop.device, hop.stage.split("+", 1)[0]


def _role_hops(role: Role) -> dict[tuple[str, str], list[Hop]]:
    out: dict[tuple[str, str], list[Hop]] = defaultdict(list)
    for variant in role.variants:
        for hop in variant.hops:
            if hop not in out[_layer(hop)]:
                out[_layer(hop)].append(hop)
    return out


def _reached(trace: FlowTrace, into: dict[tuple[str, str], PacketSet]) -> dict[tuple[str, str], PacketSet]:
    """Per layer, the packets that reached it in a trace (and in the traces of its variants)."""
    for record in trace.hops:
        layer = _layer(record.hop)
        for seg in record.segments:
            into[layer] = into.get(layer, EMPTY) | seg.packets
    for variant in trace.variants:
        _reached(variant, into)
    return into


def _packets(path: PathResult) -> PacketSet:
    addresses = [a for v in path.role.variants for a in v.addresses]
    return flow_packets(path.trace.flow, addresses, path.server) if addresses else EMPTY


class _Explainer:
    """Finds the configuration changes behind one verdict change; hop comparisons are cached because many
    paths cross the same enforcement points."""

    def __init__(self, old: AuditResult, new: AuditResult, files: dict[str, str],
                 roots: tuple[Path, Path] | None = None) -> None:
        self._cache: dict[tuple[int, int], list[tuple[Cause, PacketSet]]] = {}
        self._server_side_old = self._server_hops(old)
        self._server_side_new = self._server_hops(new)
        self.files = files
        self.roots = roots

    def file_causes(self, device: str, stage: str, origin: str | None) -> list[Cause]:
        """The differing lines of a device's configuration files: what a person compares when the model has
        no finer difference to name (load balancers, NAT, lines the parser keeps as text)."""
        if self.roots is None:
            return []
        rels = [rel for rel in self.files if rel.startswith((f"{device}.", f"{device}/")) or rel == origin]
        return [cause for rel in sorted(rels) if (cause := _text_cause(self.roots, rel, device, stage))]

    @staticmethod
    def _server_hops(result: AuditResult) -> dict[str, dict[tuple[str, str], list[Hop]]]:
        """Per server, the hops of the devices in front of it, as the audit placed them (traces stop at the
        first deny, so they cannot tell)."""
        from auditor.graph import devices_in_front

        out: dict[str, dict[tuple[str, str], list[Hop]]] = {}
        for server in result.model.servers:
            hops: dict[tuple[str, str], list[Hop]] = defaultdict(list)
            for device in devices_in_front(result.model, server).devices:
                for hop in device.hops(server):
                    hops[_layer(hop)].append(hop)
            out[server.name] = hops
        return out

    def _compare(self, a: Hop, b: Hop) -> list[tuple[Cause, PacketSet]]:
        key = (id(a), id(b))
        if key not in self._cache:
            self._cache[key] = diff_hops(a, b)
        return self._cache[key]

    def explain(self, old: PathResult | None, new: PathResult | None) -> list[Cause]:
        if old is None or new is None:
            return [self._only_in_one(old, new)]
        packets = _packets(old) | _packets(new)
        reached = _reached(old.trace, _reached(new.trace, {}))
        causes = self._role_changes(old.role, new.role)
        quiet: list[Cause] = []  # edits that leave this flow as it was
        for side_a, side_b in (self._compared_role_hops(old.role, new.role),
                               (self._server_side_old.get(old.server.name, {}),
                                self._server_side_new.get(new.server.name, {}))):
            for layer in list(dict.fromkeys([*side_a, *side_b])):
                # what reached this point in either trace (NAT may have rewritten it); else the flow
                self._layer_causes(side_a.get(layer, []), side_b.get(layer, []), reached.get(layer, packets),
                                   causes, quiet)
        causes = causes or quiet  # nothing changed behaviour on its own: show every edit on the path
        self._add_definitions(causes)
        self._mark_deciding(causes, old, new)
        if not causes:
            causes.append(self._unattributed(new))
        causes.sort(key=lambda c: not c.deciding)
        return _unique(causes)

    @staticmethod
    def _only_in_one(old: PathResult | None, new: PathResult | None) -> Cause:
        present = new or old
        assert present is not None
        side = "new" if new is not None else "old"
        return Cause("hop-added" if side == "new" else "hop-removed", present.role.network_name or "-", "role",
                     f"the role exists only in the {side} snapshot")

    @staticmethod
    def _compared_role_hops(a: Role, b: Role) -> tuple[dict[tuple[str, str], list[Hop]],
                                                         dict[tuple[str, str], list[Hop]]]:
        """The role's hops per layer on each path. When another group policy applies, its rules are not edits
        of the previous policy's: the group-policy layers are left out (the mapping change is the cause, and
        the new deciding rule is the new path's decider)."""
        hops_a, hops_b = _role_hops(a), _role_hops(b)
        if a.group_policy == b.group_policy:
            return hops_a, hops_b
        keep = {k for k in hops_a.keys() & hops_b.keys()
                if not any("group-policy" in h.stage for h in hops_a[k] + hops_b[k])}
        return {k: v for k, v in hops_a.items() if k in keep}, {k: v for k, v in hops_b.items() if k in keep}

    def _layer_causes(self, la: list[Hop], lb: list[Hop], here: PacketSet, causes: list[Cause],
                      quiet: list[Cause]) -> None:
        """The causes at one enforcement layer: its hops compared pairwise, then the hops only one path has."""
        for a, b in zip(la, lb, strict=False):
            touching = [dataclasses.replace(c) for c, hit in self._compare(a, b) if hit.intersects(here)]
            same = _same_behaviour(a, b, here)
            if touching and same:
                quiet.extend(touching)  # edited, but this flow is treated as before
            elif touching:
                causes.extend(touching)
            elif not same:  # behaves differently with no rule edit to name: the files that differ
                causes.extend(self.file_causes(b.device, b.stage, b.origin.path if b.origin else None))
        causes.extend(Cause("hop-removed", h.device, h.stage, f"{h.device} ({h.stage}) is no longer on the path")
                      for h in la[len(lb):])
        causes.extend(Cause("hop-added", h.device, h.stage, f"{h.device} ({h.stage}) is now on the path")
                      for h in lb[len(la):])

    def _add_definitions(self, causes: list[Cause]) -> None:
        """A rule edited with its text unchanged changed through a definition elsewhere (object-group,
        object): the lines that differ in its file say which."""
        for cause in causes:
            if cause.kind == "rule-edited" and cause.old and cause.new and cause.old.get("text") == \
                    cause.new.get("text") and cause.file and cause.file in self.files and self.roots:
                lines = _text_cause(self.roots, cause.file, cause.device, cause.stage)
                if lines is not None:
                    cause.detail += f"; {lines.detail}"

    @staticmethod
    def _role_changes(a: Role, b: Role) -> list[Cause]:
        out: list[Cause] = []
        if a.group_policy != b.group_policy:
            kind = "ipsk-mapping-changed" if b.kind == "ipsk" else "group-policy-mapping-changed"
            out.append(Cause(kind, b.network_name or "-", "role",
                             f"{b.kind} '{b.name}' group policy {a.group_policy} -> {b.group_policy}"))
        labels_a, labels_b = [v.label for v in a.variants], [v.label for v in b.variants]
        if labels_a != labels_b:
            out.append(Cause("vlan-changed", b.network_name or "-", "role",
                             f"where the role's traffic lands changed: {', '.join(labels_a) or 'nowhere'} -> "
                             f"{', '.join(labels_b) or 'nowhere'}"))
        return out

    @staticmethod
    def _mark_deciding(causes: list[Cause], old: PathResult, new: PathResult) -> None:
        # The deciding point is where the new verdict was decided, or (for a fix) where the old one was.
        deciders = [d for d in (_decider(new.trace), _decider(old.trace)) if d is not None]
        layers = {_layer(hop) for hop, _seg in deciders}
        for cause in causes:
            if (cause.device, cause.stage.split("+", 1)[0]) in layers or cause.stage == "role":
                cause.deciding = True

    def _unattributed(self, path: PathResult) -> Cause:
        net = path.role.network_id
        files = [f for f in self.files if net and f"/{net}/" in f] or sorted(self.files)[:10]
        return Cause("unattributed", path.role.network_name or "-", "-",
                     "no difference was found on the path's enforcement points; files that differ: "
                     + ", ".join(sorted(files)[:10]))


def _text_cause(roots: tuple[Path, Path], rel: str, device: str, stage: str, limit: int = 20) -> Cause | None:
    old_file, new_file = roots[0] / rel, roots[1] / rel
    if rel.endswith(".json") or not (old_file.is_file() or new_file.is_file()):
        return None
    try:
        a = old_file.read_text(encoding="utf-8").splitlines() if old_file.is_file() else []
        b = new_file.read_text(encoding="utf-8").splitlines() if new_file.is_file() else []
    except (OSError, UnicodeDecodeError):
        return None
    removed: list[str] = []
    added: list[str] = []
    for line in difflib.unified_diff(a, b, lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (removed if line.startswith("-") else added).append(line[1:])
    if not removed and not added:
        return None
    shown = [f"- {x.strip()}" for x in removed[:limit // 2]] + [f"+ {x.strip()}" for x in added[:limit // 2]]
    return Cause("device-config-changed", device, stage, f"{rel} differs: " + "; ".join(shown), rel,
                 old={"lines": removed[:limit]}, new={"lines": added[:limit]})


@dataclass(slots=True)
class FindingChange:
    """A finding without a traced path (load-balancer persistence, source NAT, monitors, shadowed rules) that
    appeared or was resolved, with the configuration lines that differ on its device."""

    status: str  # new | resolved
    finding: dict[str, Any]
    causes: list[Cause] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "finding": self.finding, "causes": [c.to_json() for c in self.causes]}


def compare_findings(old: AuditResult, new: AuditResult, explainer: _Explainer | None = None) -> list[FindingChange]:
    def key(f: Any) -> tuple[str, str | None, str | None, str]:
        return (f.check.id, f.device, (f.network or {}).get("id"), f.title)

    def device_level(result: AuditResult) -> dict[tuple, Any]:
        return {key(f): f for f in result.findings if f.role is None and f.check.kind != "data-gap"}

    before, after = device_level(old), device_level(new)
    out: list[FindingChange] = []
    for status, side, other in (("resolved", before, after), ("new", after, before)):
        for k, finding in side.items():
            if k in other:
                continue
            causes = explainer.file_causes(finding.device, "device", None) if explainer and finding.device else []
            out.append(FindingChange(status, finding.to_json(), causes))
    return out


def _unique(causes: list[Cause]) -> list[Cause]:
    seen: set[tuple[str, str, str, str]] = set()
    out = []
    for cause in causes:
        key = (cause.kind, cause.device, cause.stage, cause.detail)
        if key not in seen:
            seen.add(key)
            out.append(cause)
    return out


# ---------------------------------------------------------------------------------------------------------
# Orchestration

def _network(path: PathResult) -> dict[str, str] | None:
    role = path.role
    return {"id": role.network_id, "name": role.network_name or role.network_id} if role.network_id else None


def compare(old: AuditResult, new: AuditResult, files: dict[str, str] | None = None,
            explainer: _Explainer | None = None) -> list[VerdictChange]:
    before, after = _index(old.paths), _index(new.paths)
    explainer = explainer or _Explainer(old, new, files or {})
    changes: list[VerdictChange] = []
    by_flow: dict[tuple, list[Cause]] = {}
    for key in list(dict.fromkeys([*before, *after])):
        a, b = before.get(key), after.get(key)
        if a is not None and b is not None and a.verdict == b.verdict:
            continue
        present = b or a
        assert present is not None
        flow_key = (key[:6], key[7])  # the same flow under two protocols has the same cause
        if flow_key not in by_flow:
            by_flow[flow_key] = explainer.explain(a, b)
        changes.append(VerdictChange(
            _network(present), present.role.describe(), present.role.phase, present.server.name, present.protocol,
            str(present.trace.flow), a.verdict if a else None, b.verdict if b else None,
            a.trace.reason if a else "", b.trace.reason if b else "",
            _decider_json(a.trace if a else None), _decider_json(b.trace if b else None), by_flow[flow_key]))
    return changes


def diff_snapshots(old_dir: Path, new_dir: Path, config_path: Path | None = None) -> DiffResult:
    old_snap, new_snap = Snapshot(old_dir), Snapshot(new_dir)
    old_config: AuditConfig = resolve_config(old_snap, config_path)
    new_config: AuditConfig = resolve_config(new_snap, config_path)
    files = changed_files(Path(old_dir), Path(new_dir))
    config_differs = old_config != new_config
    tunnels = full_tunnels(old_snap, new_snap)
    affected = affected_networks(old_snap, new_snap, files, config_differs, tunnels)
    notes: list[str] = []
    if affected is None:
        notes.append("a change of global reach (audit.yaml, organization data or server-side devices): every "
                     "network was audited in both snapshots")
        old_result = run_audit(old_dir, config=old_config)
        new_result = run_audit(new_dir, config=new_config)
    else:
        # The hubs of affected spokes stay in the networks list (unchanged, so their own verdicts do not
        # differ): the spokes' traces name them and cross their rules.
        hubs = {hub for spoke, its_hubs in tunnels.items() if spoke in affected for hub in its_hubs}
        with Snapshot.overlaid(old_dir, restrict(old_snap, affected | hubs)):
            old_result = run_audit(old_dir, config=old_config)
        with Snapshot.overlaid(new_dir, restrict(new_snap, affected | hubs)):
            new_result = run_audit(new_dir, config=new_config)
    explainer = _Explainer(old_result, new_result, files, (Path(old_dir), Path(new_dir)))
    changes = compare(old_result, new_result, files, explainer)
    findings = compare_findings(old_result, new_result, explainer)
    return DiffResult(str(old_dir), str(new_dir), files, None if affected is None else sorted(affected), changes,
                      notes, findings)


__all__ = ["Cause", "DiffResult", "FindingChange", "SnapshotError", "VerdictChange", "compare", "compare_findings",
           "diff_snapshots"]
