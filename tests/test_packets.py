"""The packet-set engine against brute-force enumeration on a small space."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.model import Action, Decision, Rule, RuleList
from auditor.packets import (
    ALL,
    ANY_ADDR,
    ANY_PORT,
    ANY_V4,
    EMPTY,
    NO_PORT,
    PORTED_PROTOCOLS,
    V4_BASE,
    PacketSet,
    address_interval,
    flow_intervals,
    format_address_interval,
)

# A small universe: each dimension is 0..SIZE-1, small enough to enumerate every packet.
SIZES = (6, 6, 3, 3, 4)
UNIVERSE = list(itertools.product(*(range(n) for n in SIZES)))


def interval(size: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)).map(lambda t: (min(t), max(t)))


small_box = st.tuples(*(interval(n) for n in SIZES))
small_set = st.lists(small_box, max_size=4).map(
    lambda boxes: _union([PacketSet([b]) for b in boxes])
)


def _union(sets: list[PacketSet]) -> PacketSet:
    out = EMPTY
    for s in sets:
        out = out | s
    return out


def _box_points(box: tuple[tuple[int, int], ...]) -> list[tuple[int, ...]]:
    """The packets of one box in the small universe (a box may reach past it: any address, any port)."""
    return list(itertools.product(*(range(lo, min(hi, size - 1) + 1) for (lo, hi), size in
                                    zip(box, SIZES, strict=True))))


def enumerate_set(ps: PacketSet) -> set[tuple[int, ...]]:
    """Every packet of the universe in the set: the union of its boxes' packets, listed one by one (membership
    packet by packet, `in`, is checked against this in test_membership_is_the_union_of_the_boxes)."""
    return {point for box in ps.boxes for point in _box_points(box)}


def disjoint(ps: PacketSet) -> bool:
    return sum(len(_box_points(box)) for box in ps.boxes) == len(enumerate_set(ps))


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(small_set, small_set)
def test_membership_is_the_union_of_the_boxes(a: PacketSet, b: PacketSet) -> None:
    for s in (a, a - b, a | b, a.from_any_source()):
        assert {p for p in UNIVERSE if p in s} == enumerate_set(s)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(small_set, small_set)
def test_algebra_matches_enumeration(a: PacketSet, b: PacketSet) -> None:
    ea, eb = enumerate_set(a), enumerate_set(b)
    assert enumerate_set(a & b) == ea & eb
    assert enumerate_set(a - b) == ea - eb
    assert enumerate_set(a | b) == ea | eb
    assert (a & b).is_empty() == (not (ea & eb))
    assert a.intersects(b) == bool(ea & eb)
    assert a.issubset(b) == (ea <= eb)
    assert (a == b) == (ea == eb)
    assert a.size() == len(ea)
    for result in (a & b, a - b, a | b):
        assert disjoint(result), "boxes of a result must not overlap"


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(small_set, st.lists(interval(SIZES[0]), min_size=1, max_size=3))
def test_source_translation_matches_enumeration(a: PacketSet, sources: list[tuple[int, int]]) -> None:
    # Source NAT: every packet of `a`, from each of the new sources instead, and nothing else.
    translated = a.with_sources(sources)
    new = {s for lo, hi in sources for s in range(lo, hi + 1)}
    assert enumerate_set(translated) == {(s, *p[1:]) for p in enumerate_set(a) for s in new}
    assert disjoint(translated)


rule_strategy = st.tuples(st.sampled_from([Action.PERMIT, Action.DENY, Action.UNKNOWN]), st.booleans(),
                          small_set)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(rule_strategy, max_size=6), st.sampled_from([Action.PERMIT, Action.DENY]), small_set)
def test_first_match_partition_matches_enumeration(raw_rules, default_action, packets) -> None:
    rules = [Rule(i + 1, action, match, f"r{i + 1}", certain=certain)
             for i, (action, certain, match) in enumerate(raw_rules)]
    default = Rule(len(rules) + 1, default_action, ALL, "default", synthetic=True)
    segments = RuleList("t", rules, default).evaluate(packets)
    matches = [enumerate_set(rule.match) for rule in rules]

    # Brute force: for each packet, the set of outcomes it can have under every choice of whether each
    # uncertain rule matches; the evaluator must give the single outcome when there is one, else unknown.
    def outcomes(packet: tuple[int, ...]) -> set[Action]:
        results: set[Action] = set()

        def walk(i: int) -> None:
            if i == len(rules):
                results.add(default.action)
                return
            rule = rules[i]
            if packet not in matches[i]:
                walk(i + 1)
            elif rule.certain:
                results.add(rule.action)
            else:
                results.add(rule.action)  # it matches...
                walk(i + 1)  # ...or it does not
        walk(0)
        return results

    covered: set[tuple[int, ...]] = set()
    for seg in segments:
        members = enumerate_set(seg.packets)
        assert not (members & covered), "segments must not overlap"
        covered |= members
        for p in members:
            possible = outcomes(p)
            if seg.decision is Decision.UNKNOWN:
                assert len(possible) > 1 or Action.UNKNOWN in possible
            else:
                assert possible == {Action(seg.decision.value)}
                # the deciding rule is the first certain rule that matches
                first = next((r for r, m in zip(rules, matches, strict=True) if p in m and r.certain), default)
                assert seg.rule is first or not seg.rule.certain
    assert covered == enumerate_set(packets), "segments must cover the input exactly"


def test_address_families_share_one_space() -> None:
    v4 = PacketSet.of(src=[address_interval("10.0.0.0/8")])
    v6 = PacketSet.of(src=[address_interval("2001:db8::/32")])
    assert not v4.intersects(v6)
    assert address_interval("10.0.0.1") == (V4_BASE + 0x0A000001, V4_BASE + 0x0A000001)
    assert (PacketSet.of(src=[ANY_ADDR]) - v4 - v6).size() == ALL.size() - v4.size() - v6.size()
    assert format_address_interval(address_interval("10.1.2.0/24")) == "10.1.2.0/24"
    assert format_address_interval(address_interval("10.1.2.7")) == "10.1.2.7"


def test_portless_flow_matches_only_any_port() -> None:
    esp = PacketSet.flow([ANY_ADDR], [ANY_ADDR], 50)
    udp_any_port = PacketSet.of(proto=[(0, 255)])
    udp_500 = PacketSet.of(dport=[(500, 500)])
    assert esp.issubset(udp_any_port)
    assert not esp.intersects(udp_500)


@settings(max_examples=200, deadline=None)
@given(st.lists(interval(SIZES[0]), max_size=4), st.lists(interval(SIZES[1]), min_size=1, max_size=3),
       st.sampled_from([6, 17, 50, 1]), st.one_of(st.none(), st.integers(1, 65535)))
def test_flow_builds_the_boxes_of_the_general_constructor(src, dst, proto, dport) -> None:
    flow = PacketSet.flow(src, dst, proto, dport)
    if proto in PORTED_PROTOCOLS:
        dports = [ANY_PORT] if dport is None else [(dport, dport)]
        general = PacketSet.of(src, dst, [(proto, proto)], [ANY_PORT], dports)
    else:
        general = PacketSet.of(src, dst, [(proto, proto)], [NO_PORT], [NO_PORT])
    assert flow.boxes == general.boxes  # the same boxes in the same order: reports stay byte for byte
    assert flow._by_source == general._by_source


def _range(lo: int, hi: int) -> st.SearchStrategy[tuple[int, int]]:
    return st.integers(lo, hi).flatmap(lambda first: st.tuples(st.just(first), st.integers(first, hi)))


ADDRESS = st.one_of(_range(V4_BASE, V4_BASE + 2**32 - 1), _range(0, 2**128 - 1))  # IPv4, or anything


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.lists(ADDRESS, max_size=5), st.sampled_from(["198.51.100.10", "2001:db8::1", "10.0.0.0/8"]),
       st.sampled_from(["udp/500", "udp/4500", "udp/1701", "tcp/443", "esp", "gre"]))
def test_traced_flow_is_the_general_flow_from_the_sources_of_the_servers_family(sources, server, flow) -> None:
    from auditor.packets import PROTO_NUMBERS, same_family
    from auditor.protocols import Flow
    from auditor.trace import _flow_packets

    parsed = Flow.parse(flow)
    traced = _flow_packets(parsed, tuple(sources), server)
    to = address_interval(server)
    general = PacketSet.flow(same_family(sources, to), [to], PROTO_NUMBERS[parsed.ip_protocol], parsed.dst_port)
    if flow in ("udp/500", "udp/4500"):  # IKE leaves the client from the port it is sent to (issue 22)
        port = (parsed.dst_port, parsed.dst_port)
        general = PacketSet.of(same_family(sources, to), [to], [(17, 17)], [port], [port])
    assert traced.boxes == general.boxes  # the same boxes in the same order: reports stay byte for byte
    assert traced._by_source == general._by_source


# The questions and one-dimension changes rule lists and traces ask of a set (issue 23: they read no boxes
# themselves), each against the enumeration of what it means.
@settings(max_examples=300, deadline=None)
@given(small_set, small_set, interval(SIZES[2]), interval(SIZES[4]), st.one_of(st.none(), interval(SIZES[1])))
def test_set_questions_match_enumeration(a: PacketSet, b: PacketSet, proto: tuple[int, int],
                                         dport: tuple[int, int], dst: tuple[int, int] | None) -> None:
    ea = enumerate_set(a)
    common = a.common(b)
    assert (common is None) == (not ea & enumerate_set(b))
    assert common is None or enumerate_set(common) == ea & enumerate_set(b)
    within = [p for p in ea if proto[0] <= p[2] <= proto[1] and dport[0] <= p[4] <= dport[1]]
    assert a.meets(proto, dport) == bool(within)
    assert a.meets(proto, dport, dst) == any(dst is None or dst[0] <= p[1] <= dst[1] for p in within)
    if dst is not None:
        assert a.reaches(*dst) == any(dst[0] <= p[1] <= dst[1] for p in ea)
    target = a.flow_target()
    if target is not None:  # every packet has the key's protocol and port intervals (and destination)
        (plo, phi), (dlo, dhi) = target[0]
        assert target[0] == a.flow_key()
        assert all(plo <= p[2] <= phi and dlo <= p[4] <= dhi for p in ea)
        assert target[1] is None or all(target[1][0] <= p[1] <= target[1][1] for p in ea)
    assert PacketSet.from_state(a.state()).identical(a)
    assert enumerate_set(PacketSet.of_disjoint([a - b, a & b])) == ea


@settings(max_examples=300, deadline=None)
@given(small_set, interval(SIZES[1]), interval(SIZES[2]), interval(SIZES[3]), interval(SIZES[4]))
def test_one_dimension_changes_match_enumeration(a: PacketSet, dst: tuple[int, int], proto: tuple[int, int],
                                                 sport: tuple[int, int], dport: tuple[int, int]) -> None:
    ea = enumerate_set(a)
    span = [range(lo, hi + 1) for lo, hi in (dst, proto, sport, dport)]
    assert enumerate_set(a.with_destination(dst)) == {(p[0], t, *p[2:]) for p in ea for t in span[0]}
    assert enumerate_set(a.with_service(proto, sport, dport)) == {
        (p[0], p[1], x, y, z) for p in ea for x in span[1] for y in span[2] for z in span[3]}
    assert enumerate_set(a.from_any_source()) == {(s, *p[1:]) for p in ea for s in range(SIZES[0])}
    assert a.from_any_source().ignores_source()
    # boxes that differed in more than the rewritten dimension may meet once it is rewritten: united, never
    # overlapping (an overlapping set's algebra copies and splits its boxes)
    assert disjoint(a.from_any_source()) and disjoint(a.with_destination(dst))
    assert disjoint(a.with_destination(dst, 2))
    assert a.ignores_source() == (not ea)  # no small box spans every address; an empty set restricts nothing


def test_port_rewrites_apply_to_one_ported_protocol_only() -> None:
    udp = PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.10")], 17, 4500)
    esp = PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.10")], 50)
    backend = address_interval("10.0.0.11")
    assert (udp | esp).with_destination(backend, 500) == PacketSet.flow([ANY_ADDR], [backend], 17, 500) | \
        PacketSet.flow([ANY_ADDR], [backend], 50)
    pinned = PacketSet.of(proto=[(17, 17)], sport=[(500, 500)], dport=[(500, 500)])
    assert pinned.with_any_source_port() == PacketSet.of(proto=[(17, 17)], dport=[(500, 500)])
    assert esp.with_any_source_port() is esp
    assert PacketSet.of(proto=[(17, 17)], dport=[(1701, 1701)]).names_port(17, 1701)
    assert not PacketSet.of(proto=[(17, 17)], dport=[(1000, 2000)]).names_port(17, 1701)
    assert flow_intervals(17, 500) == ((17, 17), ANY_PORT, (500, 500)) and flow_intervals(50) == ((50, 50),
                                                                                                   NO_PORT, NO_PORT)
    assert PacketSet.of(src=[(V4_BASE, V4_BASE + 5)]).ipv4_sources_only()
    assert not ALL.ipv4_sources_only() and ALL.ignores_source()


def test_a_rewrite_that_makes_boxes_meet_unites_them() -> None:
    # Two flows from one source to two servers on two ports: sent anywhere on any port (a static NAT line
    # that cannot be read, cisco adapter), they are one box, not two copies of it.
    from auditor.vendors.cisco.adapter import _anywhere

    source = [address_interval("192.0.2.0/24")]
    flows = PacketSet.flow(source, [address_interval("198.51.100.10")], 17, 500) | \
        PacketSet.flow(source, [address_interval("198.51.100.20")], 17, 4500)
    anywhere = _anywhere(flows)
    assert anywhere.box_count() == 1 and anywhere == PacketSet.of(src=source, dst=[ANY_V4], proto=[(17, 17)])
    # the same for a load balancer's backend, and for any source
    backend = address_interval("10.0.0.11")
    assert flows.with_destination(backend, 500).box_count() == 1
    assert flows.with_destination(backend).box_count() == 2  # two ports stay two boxes, apart
    assert PacketSet.union_of([(ANY_ADDR, *b[1:]) for b in flows.boxes]).box_count() == 2
