"""Named assumptions (audit.yaml `assume:`): facts an admin states that a snapshot cannot show.

The catalogue is data (rules/assumptions.yaml). Each entry settles one documented uncertainty, and the
vendor's adapter applies it only there (reading `Model.assume`): a rule part it decides is an `AssumedRule`,
a role whose possible paths it narrows lists it in `Role.assumed`. `annotate` then adds
"(assumed: name = value)" to the reason of every path whose verdict rests on one, and reports list the
assumptions stated (`listing`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from auditor.errors import BadInput
from auditor.model import AssumedRule
from auditor.vocab import Verdict

if TYPE_CHECKING:
    from auditor.model import Hop, Role, VpnServer
    from auditor.protocols import Flow
    from auditor.trace import FlowTrace, PathResult, TraceCache

L7_PORT_UDP = "meraki-l7-port-matches-udp"
GROUP_POLICY_LAYERING = "meraki-group-policy-layering"
AP_VLAN = "meraki-ap-management-vlan"
SPLASH_HTTPS = "meraki-splash-allows-https-before-signon"


class AssumptionError(BadInput, ValueError):
    """An `assume:` entry that names no catalogued assumption or gives a value it does not allow."""


@dataclass(frozen=True, slots=True)
class Assumption:
    name: str
    type: str  # boolean | choice | vlan
    values: tuple[str, ...]
    applies_to: str
    settles: str
    description: str

    def allowed(self) -> str:
        if self.type == "boolean":
            return "true, false"
        if self.type == "vlan":
            return "a VLAN id, 1-4094"
        return ", ".join(self.values)

    def parse(self, value: Any) -> bool | str | int:
        if self.type == "boolean" and isinstance(value, bool):
            return value
        if self.type == "choice" and isinstance(value, str) and value.strip() in self.values:
            return value.strip()
        if self.type == "vlan" and not isinstance(value, bool):
            number = value.strip() if isinstance(value, str) else value
            if isinstance(number, str) and number.isdigit():
                number = int(number)
            if isinstance(number, int) and 1 <= number <= 4094:
                return number
        raise AssumptionError(f"assume.{self.name}: {shown(value)!r} is not allowed (allowed: {self.allowed()})")


@cache
def catalogue() -> dict[str, Assumption]:
    raw = yaml.safe_load(resources.files("rules").joinpath("assumptions.yaml").read_text(encoding="utf-8"))
    return {name: Assumption(name, str(spec["type"]), tuple(str(v) for v in spec.get("values", ())),
                             " ".join(str(spec["applies_to"]).split()), " ".join(str(spec["settles"]).split()),
                             " ".join(str(spec["description"]).split()))
            for name, spec in raw["assumptions"].items()}


def validate(raw: Any) -> dict[str, bool | str | int]:
    """audit.yaml `assume:` checked against the catalogue: {name: value}. Raises AssumptionError naming the
    key and the allowed names or values."""
    if raw is None:
        return {}
    known = catalogue()
    if not isinstance(raw, dict):
        raise AssumptionError(f"assume: expected a mapping of assumption names to values "
                              f"(names: {', '.join(sorted(known))})")
    out: dict[str, bool | str | int] = {}
    for name, value in raw.items():
        entry = known.get(str(name))
        if entry is None:
            raise AssumptionError(f"assume: unknown assumption '{name}' (known: {', '.join(sorted(known))})")
        out[entry.name] = entry.parse(value)
    return out


def shown(value: Any) -> str:
    """A value as audit.yaml writes it (true/false, not Python's True/False)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def note(name: str, value: Any) -> str:
    return f"{name} = {shown(value)}"


def listing(assume: dict[str, Any]) -> list[dict[str, Any]]:
    """The stated assumptions for a report's header, in name order."""
    known = catalogue()
    return [{"name": name, "value": assume[name], "settles": known[name].settles} for name in sorted(assume)]


def header_line(assumptions: list[dict[str, Any]]) -> str:
    """One line for text, Markdown and HTML headers ("" when none is stated)."""
    return "; ".join(note(a["name"], a["value"]) for a in assumptions)


# ---------------------------------------------------------------------------------------------------------
# Reasons: which paths an assumption decided.


def annotate(paths: Iterable[PathResult], server_sides: dict[str, list[Hop]]) -> None:
    """Add "(assumed: name = value)" to the reason of every path whose verdict an assumption decided: a
    blocked path stopped by an assumed rule part, an allowed or partial one that passed one, or a path of a
    role whose possible ways an assumption narrowed, where the ways it left out would have disagreed (the
    verdict would be unknown without it). An unknown path was not decided by one. Traces are shared by paths
    and roles, so each is annotated once; a role's own note goes on a copy. `server_sides` are the hops in
    front of each server (by name), as the audit traced them."""
    seen: dict[int, tuple[str, ...]] = {}
    copies: dict[tuple[int, tuple[str, ...]], FlowTrace] = {}
    decisive: dict[tuple, bool] = {}
    cache: TraceCache | None = None
    for path in paths:
        trace = path.trace
        notes = _annotate(trace, seen)
        role = path.role
        extra = tuple(n for n in role.assumed if n not in notes)
        if not extra or trace.verdict == Verdict.UNKNOWN:
            continue
        key = (id(role), path.server.name, trace.flow)
        if key not in decisive:
            if cache is None:
                from auditor.trace import TraceCache

                cache = TraceCache()
            decisive[key] = _narrowing_decides(role, path.server, trace.flow, server_sides[path.server.name],
                                               cache)
        if decisive[key]:
            copy = copies.get((id(trace), extra))
            if copy is None:
                copy = copies[(id(trace), extra)] = replace(trace, reason=with_notes(trace.reason, (*notes, *extra)))
            path.trace = copy


def _narrowing_decides(role: Role, server: VpnServer, flow: Flow, server_side: list[Hop],
                       cache: TraceCache) -> bool:
    """Whether the role's verdict rests on the variants an assumption left: traced the same way with and
    without it (both plain traces, whatever the audit combined afterwards), they differ only when the
    variants left out disagree with the ones kept."""
    from auditor.trace import trace_role

    kept = trace_role(role, server, flow, server_side, cache)
    every = trace_role(replace(role, variants=role.without_assumed), server, flow, server_side, cache)
    return kept.verdict != every.verdict


def _annotate(trace: FlowTrace, seen: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
    found = seen.get(id(trace))
    if found is not None:
        return found
    notes: set[str] = set()
    for variant in trace.variants:
        notes.update(_annotate(variant, seen))
    if trace.verdict == Verdict.BLOCKED:
        notes.update(seg.rule.assumed for _hop, seg in trace.blocked if type(seg.rule) is AssumedRule)
    elif trace.verdict != Verdict.UNKNOWN:
        notes.update(seg.rule.assumed for record in trace.hops for seg in record.segments
                     if type(seg.rule) is AssumedRule)
    found = tuple(sorted(notes)) if trace.verdict != Verdict.UNKNOWN else ()
    if found:
        trace.reason = with_notes(trace.reason, found)
    seen[id(trace)] = found
    return found


_NOTES = re.compile(r" \(assumed: ([^()]*)\)(\.?)$")


def with_notes(reason: str, notes: Iterable[str]) -> str:
    """The reason with "(assumed: ...)" before its final full stop, merged with one already there."""
    found = _NOTES.search(reason)
    if found is not None:
        merged = dict.fromkeys([*found.group(1).split("; "), *notes])
        return f"{reason[:found.start()]} (assumed: {'; '.join(merged)}){found.group(2)}"
    tail = f" (assumed: {'; '.join(notes)})"
    return f"{reason[:-1]}{tail}." if reason.endswith(".") else reason + tail
