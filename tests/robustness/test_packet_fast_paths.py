"""The sorted-by-source fast paths of PacketSet (what lets a trace through a 50,000-line access-list stay
linear) against brute-force enumeration, on sets built the way traces build them: a flow with source after
source taken out of it, then unions of the pieces."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.packets import PacketSet

pytestmark = pytest.mark.slow  # Hypothesis against enumeration

SIZES = (200, 3, 2, 2, 3)  # sources vary most, as in a trace


def points(s: PacketSet) -> set[tuple[int, ...]]:
    """Every packet of the set; its boxes must be disjoint (no packet counted twice)."""
    out: list[tuple[int, ...]] = []
    for box in s.boxes:
        out.extend(itertools.product(*(range(lo, hi + 1) for lo, hi in box)))
    assert len(out) == len(set(out)), "overlapping boxes"
    return set(out)


def interval(size: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).map(lambda t: (min(t), max(t)))


# Mostly rules that differ from the flow in the source only (they keep the sorted form), sometimes not.
narrow = st.tuples(st.integers(0, 199), st.integers(0, 3)).map(lambda t: (t[0], min(199, t[0] + t[1])))
source_rule = narrow.map(lambda src: (src, (0, 2), (0, 1), (0, 1), (0, 2)))
any_rule = st.tuples(*(interval(n) for n in SIZES))
rule_box = st.integers(0, 39).flatmap(lambda k: any_rule if k == 0 else source_rule)
FULL = PacketSet([((0, 199), (0, 2), (0, 1), (0, 1), (0, 2))])


def plain(s: PacketSet) -> PacketSet:
    return PacketSet(s.boxes)  # the same boxes without the sorted flag: the general algorithm


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(rule_box, min_size=1, max_size=3), min_size=12, max_size=40), rule_box)
def test_subtracting_rule_after_rule_and_intersecting(rules: list[list[tuple]], probe: tuple) -> None:
    remaining, expected = FULL, points(FULL)
    taken = PacketSet()
    for boxes in rules:
        match = PacketSet([boxes[0]])
        for box in boxes[1:]:
            match = match | PacketSet([box])
        hit = remaining & match
        assert points(hit) == points(plain(remaining) & match) == expected & points(match)
        assert points(match & remaining) == points(hit)
        before = taken
        taken = taken | hit
        assert points(taken) == points(before) | points(hit)
        remaining = remaining - match
        expected -= points(match)
        assert points(remaining) == expected
        assert points(PacketSet([probe]) - remaining) == points(PacketSet([probe])) - expected
        assert points(PacketSet([probe]) | remaining) == points(PacketSet([probe])) | expected
    assert points(taken) == points(FULL) - expected
