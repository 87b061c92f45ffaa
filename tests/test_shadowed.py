"""`RuleList.shadowed` against brute-force enumeration on a small space: for each rule, what earlier rules do to
the packets it matches, packet by packet (first match, uncertain rules may or may not match)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import Action, Decision, IndexedRows, RowKey, Rule, RuleList
from auditor.packets import ALL, EMPTY, PacketSet

pytestmark = pytest.mark.slow  # Hypothesis against enumeration

# A small universe: each dimension is 0..SIZE-1, small enough to enumerate every packet.
SIZES = (4, 4, 3, 2, 3)  # src, dst, protocol, src port, dst port
Packet = tuple[int, int, int, int, int]
UNIVERSE: list[Packet] = list(itertools.product(*(range(n) for n in SIZES)))  # type: ignore[arg-type]


def interval(size: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).map(lambda t: (min(t), max(t)))


small_box = st.tuples(*(interval(n) for n in SIZES))
small_set = st.lists(small_box, min_size=1, max_size=3).map(
    lambda boxes: _union([PacketSet([b]) for b in boxes]))
# action, certain, added by the vendor (synthetic), match
rule_strategy = st.tuples(st.sampled_from([Action.PERMIT, Action.DENY, Action.UNKNOWN]), st.booleans(),
                          st.sampled_from([False, False, False, True]), small_set)


def _union(sets: list[PacketSet]) -> PacketSet:
    out = EMPTY
    for s in sets:
        out = out | s
    return out


def members(packets: PacketSet) -> set[Packet]:
    return {p for p in UNIVERSE if p in packets}


def _rules(raw: list[tuple[Action, bool, bool, PacketSet]]) -> list[Rule]:
    return [Rule(i + 1, action, match, f"r{i + 1}", certain=certain, synthetic=synthetic)
            for i, (action, certain, synthetic, match) in enumerate(raw)]


class Enumerated:
    """The brute-force reading of one list, packet by packet."""

    def __init__(self, rules: list[Rule], default: Rule) -> None:
        self.rules = rules
        self.default = default

    def first_certain(self, p: Packet) -> int:
        """Index of the first certain rule that matches `p` (the default's: len(rules))."""
        return next((i for i, r in enumerate(self.rules) if r.certain and p in r.match), len(self.rules))

    def uncertain_first(self, p: Packet) -> bool:
        """Whether an uncertain rule may match `p` before any certain rule does."""
        first = self.first_certain(p)
        return any(not r.certain and p in r.match for r in self.rules[:first])

    def decided_by(self, p: Packet, index: int) -> bool:
        """Whether rule `index` certainly decides `p`: it is the first certain match, and no uncertain rule before
        it that may match would decide otherwise."""
        rule = self.rules[index]
        return self.first_certain(p) == index and not any(
            not r.certain and p in r.match and r.action is not rule.action for r in self.rules[:index])

    def outcomes(self, p: Packet) -> set[Action]:
        results: set[Action] = set()
        for rule in self.rules:
            if p in rule.match:
                results.add(rule.action)
                if rule.certain:
                    return results
        results.add(self.default.action)
        return results


@settings(max_examples=300, deadline=None)
@given(st.lists(rule_strategy, max_size=6), st.sampled_from([Action.PERMIT, Action.DENY]),
       st.lists(small_set, min_size=1, max_size=3), st.sampled_from([Action.PERMIT, Action.DENY]))
def test_shadowed_matches_enumeration(raw_rules, default_action, flows, action) -> None:
    rules = _rules(raw_rules)
    default = Rule(len(rules) + 1, default_action, ALL, "default", synthetic=True)
    rule_list = RuleList("t", rules, default)
    shadows = rule_list.shadowed(flows, action)
    truth = Enumerated(rules, default)

    # Every certain rule the admin wrote with `action` that matches a packet of the flows, in list order.
    expected = [r for r in rules if r.action is action and r.certain and not r.synthetic
                and any(members(r.match & flow) for flow in flows)]
    assert [s.rule for s in shadows] == expected
    alone = [{id(s.rule): s for s in rule_list.shadowed([flow], action)} for flow in flows]
    for shadow in shadows:
        index = rules.index(shadow.rule)
        matched = set().union(*(members(shadow.rule.match & flow) for flow in flows))
        assert shadow.reached == any(truth.decided_by(p, index) for p in matched)
        assert shadow.doubted == any(truth.uncertain_first(p) for p in matched)
        # whole: earlier certain rules decide every packet, and no uncertain rule may come before them
        assert shadow.whole == all(truth.first_certain(p) < index and not truth.uncertain_first(p)
                                   for p in matched)
        # what earlier rules do: flow by flow, as each flow alone says
        assert _described(shadow.earlier()) == [
            part for by_rule in alone if id(shadow.rule) in by_rule
            for part in _described(by_rule[id(shadow.rule)].earlier())]
        assert _described(shadow.earlier(Decision.DENY)) == \
            [part for part in _described(shadow.earlier()) if part[1] is Decision.DENY]

    for flow, by_rule in zip(flows, alone, strict=True):
        for shadow in by_rule.values():
            index = rules.index(shadow.rule)
            taken: set[Packet] = set()
            for seg in shadow.earlier():
                part = members(seg.packets)
                assert part and not (part & taken), "parts are disjoint"
                taken |= part
                assert seg.rule is not None and rules.index(seg.rule) < index, "each is an earlier rule's"
                for p in part:
                    if seg.decision is Decision.UNKNOWN:
                        assert len(truth.outcomes(p)) > 1 or Action.UNKNOWN in truth.outcomes(p)
                    else:
                        assert seg.rule is rules[truth.first_certain(p)]
                        assert truth.outcomes(p) == {Action(seg.decision.value)}
            # the rule's packets it does not certainly decide itself, and nothing else
            assert taken == {p for p in members(shadow.rule.match & flow) if not truth.decided_by(p, index)}


def _described(segments: list) -> list[tuple]:
    return [(seg.rule, seg.decision, frozenset(members(seg.packets))) for seg in segments]


@settings(max_examples=150, deadline=None)
@given(st.lists(rule_strategy, max_size=8), st.lists(small_set, min_size=1, max_size=2),
       st.lists(st.booleans(), min_size=8, max_size=8))
def test_lazy_list_shadows_like_the_plain_list(raw_rules, flows, unreadable) -> None:
    # Rows parsed on demand are found through the (protocol, port) index and narrowed by destination: the
    # candidates differ from the plain list's, the answer must not.
    rules = _rules(raw_rules)
    default = Rule(len(rules) + 1, Action.DENY, ALL, "default", synthetic=True)
    keys: list[RowKey | None] = [None if unreadable[i] else (_span(r.match, 2), _span(r.match, 4))
                                 for i, r in enumerate(rules)]
    lazy = RuleList("lazy", None, default,
                    rows=IndexedRows(keys, lambda i: [rules[i]], lambda i: _span(rules[i].match, 1)))
    plain = RuleList("plain", rules, default)

    def described(rule_list: RuleList) -> list[tuple]:
        return [(s.rule, s.reached, s.doubted, _described(s.earlier())) for s in rule_list.shadowed(flows)]

    assert described(lazy) == described(plain)


def _span(packets: PacketSet, dimension: int) -> list[tuple[int, int]]:
    return sorted({box[dimension] for box in packets})
