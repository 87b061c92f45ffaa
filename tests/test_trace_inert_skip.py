"""An inner flow's inert rules are looked for hop by hop only where some hop may decide it by a rule naming its
port (trace._may_name_port): checked here against every segment the hops give, applied in turn as the full walk
applies them, over lists, concatenations, readings that may disagree and layers that may not apply."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import Action, AmbiguousHop, FilterHop, GapHop, Hop, MayApplyHop, Origin, PassHop, Rule, RuleList
from auditor.packets import ALL, EMPTY, PacketSet
from auditor.trace import _may_name_port
from tests.test_packets import SIZES, interval, rule_strategy

DEFAULTS = st.sampled_from([Action.PERMIT, Action.DENY, Action.UNKNOWN])
list_strategy = st.tuples(st.lists(rule_strategy, max_size=5), DEFAULTS, st.none() | st.integers(0, 5))


def _list(name: str, raw: tuple) -> RuleList:
    raw_rules, default_action, split = raw
    rules = [Rule(i + 1, action, match, f"{name}r{i + 1}", certain=certain)
             for i, (action, certain, match) in enumerate(raw_rules)]
    default = Rule(len(rules) + 1, default_action, ALL, f"{name} default", synthetic=True)
    if split is None:
        return RuleList(name, rules, default)
    return RuleList.concat(name, RuleList(f"{name}-head", rules[:split], default),
                           RuleList(f"{name}-tail", rules[split:], default), default)


def _hop(index: int, kind: str, first: tuple, second: tuple) -> Hop:
    origin = Origin(f"h{index}.json")
    if kind == "filter":
        return FilterHop(f"d{index}", "filter", origin, _list(f"h{index}", first))
    if kind == "ambiguous":
        return AmbiguousHop(f"d{index}", "ambiguous", origin,
                            readings={"a": _list(f"h{index}a", first), "b": _list(f"h{index}b", second)},
                            why="Undocumented.")
    if kind == "may-apply":
        return MayApplyHop(f"d{index}", "filter", origin, FilterHop(f"d{index}", "filter", origin,
                                                                     _list(f"h{index}", first)), why="Maybe.")
    if kind == "gap":
        return GapHop(f"d{index}", "gap", origin, reason="missing")
    return PassHop(f"d{index}", "pass", origin)


hops_strategy = st.lists(st.tuples(st.sampled_from(["filter", "ambiguous", "may-apply", "gap", "pass"]),
                                   list_strategy, list_strategy), min_size=1, max_size=4)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(hops_strategy, interval(SIZES[0]), st.integers(0, SIZES[1] - 1), st.integers(0, SIZES[2] - 1),
       st.integers(0, SIZES[4] - 1))
def test_a_chain_said_to_name_no_port_gives_no_segment_by_a_rule_naming_it(raw_hops: list, sources: tuple,
                                                                           dst: int, proto: int, port: int) -> None:
    hops = [_hop(i, kind, first, second) for i, (kind, first, second) in enumerate(raw_hops)]
    packets = PacketSet([(sources, (dst, dst), (proto, proto), (0, SIZES[3] - 1), (port, port))])
    if _may_name_port(hops, packets, proto, port, {}):
        return
    for hop in hops:  # as trace._inert_rules walks it: denied packets go on too
        ahead = EMPTY
        for seg in hop.apply(packets):
            assert seg.rule is None or not seg.rule.match.names_port(proto, port)
            ahead = ahead | seg.leaving
        packets = ahead


def test_a_rule_naming_the_port_is_found_behind_a_gap() -> None:
    names = PacketSet([((0, 5), (0, 5), (1, 1), (0, 2), (2, 2))])
    hops = [GapHop("d0", "gap", reason="missing"),
            FilterHop("d1", "filter", None, RuleList("h1", [Rule(1, Action.DENY, names, "deny port 2")],
                                                     Rule(2, Action.PERMIT, ALL, "default", synthetic=True)))]
    packets = PacketSet([((0, 1), (3, 3), (1, 1), (0, 2), (2, 2))])
    assert _may_name_port(hops, packets, 1, 2, {})
    assert not _may_name_port(hops, packets, 1, 3, {})
