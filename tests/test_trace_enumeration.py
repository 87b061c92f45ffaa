"""A trace says "allowed" only for packets that certainly pass every hop: traces through rule lists are checked
against brute-force enumeration of first match on a small space, over the shortcuts the audit takes (a list
without rules decided by its default, a concatenation taking its second part's evaluation, a one-part step
recorded directly, steps shared through the memo, a rule list's evaluation for any source cut down).

Uncertain rules (a line not understood, an object not resolved) and UNKNOWN actions and defaults stand for what
the snapshot cannot settle: a packet they may decide either way must come out unknown, never allowed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import Action, FilterHop, Origin, Rule, RuleList
from auditor.packets import ALL, ANY_ADDR, EMPTY, PacketSet
from auditor.protocols import Flow
from auditor.trace import TraceCache, trace_chain
from auditor.vocab import Verdict
from tests.test_packets import enumerate_set, rule_strategy, small_set

FLOW = Flow("udp", 4500)
DEFAULTS = st.sampled_from([Action.PERMIT, Action.DENY, Action.UNKNOWN])
# a hop's list: (rules, default, how it is built: one list, or a concatenation split at an index, and whether
# its rules match any source, as most do: the list then decides for any source and cuts that down)
hop_strategy = st.tuples(st.lists(rule_strategy, max_size=5), DEFAULTS, st.none() | st.integers(0, 5),
                         st.booleans())


def _any_source(match: PacketSet) -> PacketSet:
    """A rule of the kind most lists hold: the drawn rule's packets from every address (its boxes widened and
    united). Traces of such lists once grew to thousands of boxes in this small space, taking minutes: the
    list's evaluation for any source widened a multi-box input into overlapping boxes."""
    out = EMPTY
    for box in match.boxes:
        out = out | PacketSet([(ANY_ADDR, *box[1:])])
    return out


def _hop(index: int, raw_rules: list, default_action: Action, split: int | None,
         any_source: bool = False) -> tuple[FilterHop, list[Rule]]:
    rules = [Rule(i + 1, action, _any_source(match) if any_source else match, f"h{index}r{i + 1}", certain=certain)
             for i, (action, certain, match) in enumerate(raw_rules)]
    default = Rule(len(rules) + 1, default_action, ALL, f"h{index} default", synthetic=True)
    if split is None:
        listed = RuleList(f"h{index}", rules, default)
    else:  # a group policy's rules before a layer's; the layer's list is evaluated alone first (its memo)
        tail = RuleList(f"h{index}-tail", rules[split:], default)
        listed = RuleList.concat(f"h{index}", RuleList(f"h{index}-head", rules[:split], default), tail, default)
    return FilterHop(f"device{index}", "filter", Origin(f"h{index}.json"), listed), [*rules, default]


Listed = list[tuple[Rule, set[tuple[int, ...]]]]  # a hop's rules, each with the packets it matches


def _listed(rules: list[Rule]) -> Listed:
    return [(rule, enumerate_set(rule.match)) for rule in rules]


def _outcomes(rules: Listed, packet: tuple[int, ...]) -> set[Action]:
    """Every action first match may give the packet, for every choice of which uncertain rules match (the
    default last, always matching); an UNKNOWN action may be either."""
    found: set[Action] = set()
    for rule, matched in rules:
        if packet not in matched:
            continue
        found |= {Action.PERMIT, Action.DENY} if rule.action is Action.UNKNOWN else {rule.action}
        if rule.certain:
            return found
    return found


def _fates(hops: list[Listed], packet: tuple[int, ...]) -> set[str]:
    """Whether the packet may pass every hop ("pass") and whether some hop may drop it ("drop")."""
    fates: set[str] = set()
    for rules in hops:
        possible = _outcomes(rules, packet)
        if Action.DENY in possible:
            fates.add("drop")
        if Action.PERMIT not in possible:
            return fates
    return fates | {"pass"}


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.lists(hop_strategy, min_size=1, max_size=3), small_set, small_set)
def test_a_trace_allows_only_what_passes_for_certain(raw_hops: list, packets: PacketSet, more: PacketSet) -> None:
    built = [_hop(i, raw_rules, default, split, free) for i, (raw_rules, default, split, free) in enumerate(raw_hops)]
    hops, lists = [hop for hop, _ in built], [_listed(rules) for _, rules in built]
    for hop in hops:  # a concatenation's second part evaluated alone first, as for roles without the policy
        assert hop.rules is not None
        if hop.rules._parts is not None:
            hop.rules._parts[1].evaluate(packets)
    memo = TraceCache().steps  # roles of a network share hop steps
    for traced in (packets, more, packets):
        trace = trace_chain(hops, traced, FLOW, "way", memo)
        fates = {p: _fates(lists, p) for p in enumerate_set(traced)}
        sure = {p for p, fate in fates.items() if fate == {"pass"}}
        # Never allowed beyond what certainly passes: not the verdict, not a source the trace says is allowed
        assert enumerate_set(trace.allowed) <= sure
        if trace.verdict == Verdict.ALLOWED:
            assert fates and all(fate == {"pass"} for fate in fates.values())
        # And not more doubtful than the lists: the verdict is exactly what the outcomes say
        if not fates:
            expected = Verdict.UNKNOWN  # no packet to trace
        elif any(len(fate) > 1 for fate in fates.values()):
            expected = Verdict.UNKNOWN
        elif len(sure) == len(fates):
            expected = Verdict.ALLOWED
        elif not sure:
            expected = Verdict.BLOCKED
        else:
            expected = Verdict.PARTIAL
        assert trace.verdict == expected
        if expected is not Verdict.UNKNOWN:
            assert enumerate_set(trace.allowed) == sure
