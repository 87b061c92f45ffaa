"""Lazy rule lists find candidates through a (protocol, port) index and narrow them by destination before
building rows: the result must be the unindexed first-match evaluation's, segment for segment."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import Action, IndexedRows, Origin, Rule, RuleList
from auditor.packets import ALL, PacketSet, address_interval
from auditor.vendors.meraki.rules import Resolver, l3_rules, row_destinations, row_key, row_keys

SIZES = (6, 6, 3, 3, 4)  # src, dst, protocol, src port, dst port: small, like the engine's property tests


def interval(size: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).map(lambda t: (min(t), max(t)))


box = st.tuples(*(interval(n) for n in SIZES))
rule_strategy = st.tuples(st.sampled_from([Action.PERMIT, Action.DENY, Action.UNKNOWN]), st.booleans(),
                          st.lists(box, min_size=1, max_size=2))
# How a row describes itself before it is built: exactly, more widely (a key or destination span is only an
# upper bound), or not at all (unreadable: a candidate everywhere).
row_view = st.sampled_from(["exact", "wide", "unknown"])


@pytest.fixture(autouse=True)
def _prime_keys() -> Iterator[None]:
    saved = RuleList.prime_keys
    RuleList.prime_keys = (((0, 0), (1, 1)), ((1, 1), (0, 3)), ((0, 2), (2, 2)))
    yield
    RuleList.prime_keys = saved


def _span(intervals: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(intervals):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return tuple(merged)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.lists(rule_strategy, min_size=1, max_size=2), row_view, row_view), max_size=20),
       st.sampled_from([Action.PERMIT, Action.DENY]), st.lists(interval(SIZES[0]), min_size=1, max_size=3),
       interval(SIZES[1]), st.sampled_from([((0, 0), (1, 1)), ((1, 1), (0, 3)), ((0, 2), (2, 2)), ((2, 2), (3, 3))]))
def test_indexed_lazy_list_evaluates_like_the_plain_list(rows_spec, default_action, sources, dst, flow) -> None:
    rows: list[list[Rule]] = []
    keys: list = []
    dests: list = []
    shapes: dict = {}
    position = 0
    for raw_rules, key_view, dst_view in rows_spec:
        built = []
        for action, certain, boxes in raw_rules:
            position += 1
            built.append(Rule(position, action, PacketSet.of(*zip(*boxes, strict=True)) if len(boxes) == 1
                              else PacketSet([boxes[0]]) | PacketSet([boxes[1]]), f"r{position}", certain=certain))
        rows.append(built)
        all_boxes = [b for rule in built for b in rule.match.boxes]
        exact_key = (_span([b[2] for b in all_boxes]), _span([b[4] for b in all_boxes]))
        key = None if key_view == "unknown" else exact_key if key_view == "exact" \
            else (((0, SIZES[2] - 1),), exact_key[1])
        keys.append(shapes.setdefault(key, key))  # one key object per shape, as adapters hand them out
        exact_dst = _span([b[1] for b in all_boxes])
        dests.append(None if dst_view == "unknown" else exact_dst if dst_view == "exact"
                     else ((min(lo for lo, _ in exact_dst), SIZES[1] - 1),))
    default = Rule(position + 1, default_action, ALL, "default", synthetic=True)
    built_rows: list[int] = []

    def build(i: int) -> list[Rule]:
        built_rows.append(i)
        return rows[i]

    plain = RuleList("plain", [rule for row in rows for rule in row], default)
    lazy = RuleList("lazy", None, default, rows=IndexedRows(keys, build, lambda i: dests[i]))
    (plo, phi), (dlo, dhi) = flow
    packets = PacketSet([(src, dst, (plo, phi), (0, SIZES[3] - 1), (dlo, dhi)) for src in _span(sources)])
    expected = _evaluate_plainly(plain, packets)
    assert lazy.evaluate(packets) == expected
    # Other sources to the same place: the candidates narrowed for the first are read again, not rebuilt.
    others = PacketSet([((0, SIZES[0] - 1), dst, (plo, phi), (0, SIZES[3] - 1), (dlo, dhi))])
    assert lazy.evaluate(others) == _evaluate_plainly(plain, others)
    # A row whose destination cannot reach the packets' is never built.
    for i in built_rows:
        assert dests[i] is None or any(lo <= dst[1] and dst[0] <= hi for lo, hi in dests[i])


def _evaluate_plainly(rules: RuleList, packets: PacketSet) -> tuple:
    """The list evaluated against every rule in order: no index, no narrowing (short lists are)."""
    if len(rules.rules) <= 16:
        return rules.evaluate(packets)
    head = RuleList("head", rules.rules[:16], rules.default)
    tail = RuleList("tail", rules.rules[16:], rules.default)
    return RuleList.concat("plain", head, tail, rules.default).evaluate(packets)


SERVER = ipaddress.ip_address("198.51.100.10")
RESOLVER = Resolver(vlans={10: ipaddress.ip_network("10.14.10.0/24"), 20: ipaddress.ip_network("10.14.20.0/24")},
                    objects={"5": {"id": "5", "type": "cidr", "cidr": "198.51.100.0/24"},
                             "6": {"id": "6", "type": "fqdn", "fqdn": "unknown.example"}},
                    groups={"9": {"id": "9", "objectIds": [5, 6]}}, rows={})


@pytest.mark.parametrize(("dest", "reaches_server"), [
    ("any", True), ("Any", True), ("10.0.0.0/8", False), ("198.51.100.10", True),
    ("198.51.100.0/24,10.1.2.0/24", True), ("VLAN(10).*", False), ("VLAN(20).5", False),
    ("VLAN(99).*", True),  # a VLAN the network lacks may be anything
    ("OBJ(5)", True), ("GRP(9)", True), ("OBJ(404)", True), ("vpn.example.com", True), ("Local LAN", False),
    ("10.1.0.0/16,172.16.0.0/12", False), ("not an address!", True), ("", False),
    ("2001:db8::/32,198.51.100.8/29", True), ("198.51.100.0/30", False),
])
def test_row_destinations_cover_what_the_built_row_matches(dest: str, reaches_server: bool) -> None:
    row = {"policy": "deny", "protocol": "udp", "srcPort": "Any", "srcCidr": "Any", "destPort": "500",
           "destCidr": dest, "comment": ""}
    for local_lan in (False, True):
        reach = row_destinations(row, RESOLVER, local_lan)
        again = row_destinations(row, RESOLVER, local_lan)  # remembered per organisation: the same answer
        assert again == reach
        for rule in l3_rules(row, 1, Origin("x.json", 0), RESOLVER, with_source=True, local_lan=local_lan):
            for b in rule.match.boxes:
                assert reach is None or any(lo <= b[1][0] and b[1][1] <= hi for lo, hi in reach), (dest, rule)
    server = address_interval(str(SERVER))
    reach = row_destinations(row, RESOLVER, local_lan=True)
    # Rows that may decide the server's traffic are kept; rows that cannot are not built.
    assert (reach is None or any(lo <= server[0] <= hi for lo, hi in reach)) is reaches_server


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(rule_strategy, max_size=8), st.integers(0, 8), st.sampled_from([Action.PERMIT, Action.DENY]),
       st.lists(interval(SIZES[0]), min_size=1, max_size=3), interval(SIZES[1]),
       st.sampled_from([((0, 0), (1, 1)), ((1, 1), (0, 3)), ((0, 2), (2, 2)), ((2, 2), (3, 3))]))
def test_concatenated_lists_evaluate_like_one_list(raw_rules, split, default_action, sources, dst, flow) -> None:
    """A concatenation (a group policy's rules before a layer's) decides as the one list of both parts' rules,
    also where its first part has no candidate and the second part's evaluation is taken as it is."""
    rules = [Rule(i + 1, action, PacketSet.of(*zip(*boxes, strict=True)) if len(boxes) == 1
                  else PacketSet([boxes[0]]) | PacketSet([boxes[1]]), f"r{i + 1}", certain=certain)
             for i, (action, certain, boxes) in enumerate(raw_rules)]
    default = Rule(len(rules) + 1, default_action, ALL, "default", synthetic=True)
    head, tail = RuleList("head", rules[:split], default), RuleList("tail", rules[split:], default)
    (plo, phi), (dlo, dhi) = flow
    packets = PacketSet([(src, dst, (plo, phi), (0, SIZES[3] - 1), (dlo, dhi)) for src in _span(sources)])
    tail.evaluate(packets)  # the second part evaluated first, as a layer's list is for roles without the policy
    assert RuleList.concat("both", head, tail, default).evaluate(packets) == \
        RuleList("one", rules, default).evaluate(packets)


def test_row_keys_are_each_rows_key() -> None:
    """A list's keys, read in one pass, are each row's own: remembered texts, new ones, unreadable ones (None)
    and values that are not texts at all."""
    rows = [{"protocol": "tcp", "destPort": "443"}, {"protocol": "udp", "destPort": "500,4500"},
            {"protocol": "bogus", "destPort": "1"}, {}, {"protocol": "udp", "destPort": "70000"},
            {"protocol": "Any", "destPort": "Any"}]
    assert row_keys(rows) == [row_key(row) for row in rows]
    assert row_keys(rows) == row_keys(rows)  # now remembered
    odd = [*rows, {"protocol": ["tcp"], "destPort": "1"}]
    assert row_keys(odd) == [*[row_key(row) for row in rows], None]
