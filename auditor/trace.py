"""Push a flow's packet set along a chain of hops and explain what happened at each.

Per hop, the packets still in play are split by the hop into permitted, translated, denied and unknown
parts. Permitted and translated parts go on; denied parts stop (blocked, with the deciding rule); unknown
parts go on as unknown. Unknown packets that a later hop certainly denies are blocked whichever way the
earlier uncertainty resolves, so they count as blocked there.

Verdict: `allowed` when every packet reaches the server with certainty, `blocked` when none does and
nothing is unknown, `partial` when some are blocked and the rest allowed, `unknown` otherwise.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from auditor.model import (
    AmbiguousHop,
    Decision,
    FilterHop,
    GapHop,
    Hop,
    MayApplyHop,
    PassHop,
    Role,
    Rule,
    RuleList,
    Segment,
    SourceNatHop,
    Variant,
    VpnServer,
)
from auditor.packets import (
    EMPTY,
    PROTO_NUMBERS,
    Interval,
    PacketSet,
    address_interval,
    families,
    flow_intervals,
    format_address_interval,
    merge_intervals,
    same_family,
)
from auditor.protocols import WHEN_NAT, WHEN_NO_NAT, Flow, Protocol
from auditor.vocab import Verdict


@dataclass(slots=True)
class HopTrace:
    hop: Hop
    decision: Decision  # summary: permit | deny | partial | unknown | translate
    segments: tuple[Segment, ...]  # what the hop did with the packets that reached it (certain ones first)
    unknown_in: bool = False  # packets reached this hop only through an earlier unknown

    @property
    def principal(self) -> Segment | None:
        """The segment that best explains the hop's decision: a deny if any, else unknown, else the first."""
        segments = self.segments
        if len(segments) == 1 and segments[0].decision is not _SUMMARY_ONLY:  # most hops: one segment explains it
            return segments[0]
        for wanted in (Decision.DENY, Decision.UNKNOWN, Decision.TRANSLATE, Decision.PERMIT):
            for seg in self.segments:
                if seg.decision is wanted:
                    return seg
        return None


@dataclass(slots=True)
class FlowTrace:
    flow: Flow
    variant: str
    verdict: Verdict
    hops: tuple[HopTrace, ...]  # tuples, not lists: an org's traces are millions of these
    allowed: PacketSet
    blocked: list[tuple[Hop, Segment]]
    unknown: list[tuple[Hop, Segment]]
    reason: str = ""
    variants: tuple[FlowTrace, ...] = ()  # when the role had several variants
    # An inner flow (UDP 1701 of L2TP/IPsec): the flows that carry it, whose verdicts make its own, and the
    # middle-box rules that would decide it if it crossed them in the clear (they decide nothing).
    carried_by: tuple[Flow, ...] = ()
    inert: tuple[tuple[Hop, Segment], ...] = ()


@dataclass(slots=True)
class PathResult:
    role: Role
    server: VpnServer
    protocol: str
    trace: FlowTrace

    @property
    def verdict(self) -> Verdict:
        return self.trace.verdict


def flow_packets(flow: Flow, sources: list[tuple[int, int]], server: VpnServer) -> PacketSet:
    return _flow_packets(flow, tuple(sources), server.address)


@lru_cache(maxsize=4096)
def _flow_packets(flow: Flow, sources: tuple[tuple[int, int], ...], address: str) -> PacketSet:
    """PacketSet.flow(same_family(sources, server), [server], ...), its boxes built directly: networks' roles
    have sources of their own, so this runs for most variants, and a role's flows share its merged sources
    (address_interval is cached)."""
    server, tail = address_interval(address), _flow_tail(flow)
    return PacketSet(tuple([(src, server, *tail) for src in _sources(sources, server)]))


# IKE is sent from its own port: UDP 500 to 500, and UDP 4500 to 4500 once NAT is detected (RFC 7296, "Internet
# Key Exchange Protocol Version 2", section 2.23; RFC 3947 section 4). A NAT that maps ports (PAT) may give it
# any source port on its way on: source NAT hops say so (`model.any_source_port`).
IKE_PORTS = frozenset({500, 4500})


@lru_cache(maxsize=64)
def _flow_tail(flow: Flow) -> tuple[Interval, Interval, Interval]:
    """A flow's protocol, source port and destination port intervals (ports ignored if portless): any source
    port, except IKE's, which leaves the client from the port it is sent to."""
    proto, sport, dport = flow_intervals(PROTO_NUMBERS[flow.ip_protocol], flow.dst_port)
    if flow.ip_protocol == "udp" and flow.dst_port in IKE_PORTS:
        sport = dport
    return proto, sport, dport


@lru_cache(maxsize=1024)
def _sources(sources: tuple[tuple[int, int], ...], server: tuple[int, int]) -> list[tuple[int, int]]:
    return merge_intervals(same_family(sources, server))


# One memo per network for several kinds of step (a hop's step, an inner flow's record, an inert-rule step),
# told apart by their keys; each reader annotates what its own key holds.
HopMemo = dict[tuple[object, ...], Any]
# (record, certain, maybe, blocked, unknown, no certain, no maybe): what goes on, with whether it is empty
_HopStepResult = tuple[HopTrace, PacketSet, PacketSet, list[tuple[Hop, Segment]], list[tuple[Hop, Segment]], bool,
                       bool]


def trace_chain(hops: list[Hop], packets: PacketSet, flow: Flow, label: str,
                memo: HopMemo | None = None, *, empty: bool | None = None) -> FlowTrace:
    """`empty`: whether `packets` is empty, when the caller has asked already."""
    certain, maybe = packets, EMPTY
    # Whether each is empty, asked once per set: a step (memoised) says it of what it hands on.
    no_certain, no_maybe = packets.is_empty() if empty is None else empty, True
    records: list[HopTrace] = []
    # Most traces block nothing and know everything: share one empty list until there is something to keep.
    blocked: list[tuple[Hop, Segment]] = _NONE
    first_unknown: list[tuple[Hop, Segment]] = _NONE
    for hop in hops:
        if no_certain and no_maybe:
            break
        key = (id(hop), certain) if no_maybe else (id(hop), certain, maybe)
        step: _HopStepResult | None = memo.get(key) if memo is not None else None
        if step is None:
            step = _step(hop, certain, maybe, no_certain, no_maybe)
            if memo is not None:
                memo[key] = step  # roles that reach a hop with the same packets share its record
        record, certain, maybe, new_blocked, new_unknown, no_certain, no_maybe = step
        records.append(record)
        if new_blocked:
            blocked = blocked + new_blocked
        if new_unknown:
            first_unknown = first_unknown + new_unknown
    unknown = _NONE if no_maybe else first_unknown
    # the label (a way's, such as 'VLAN 10 (SSID VLAN tag)') recurs in every network: kept once
    trace = FlowTrace(flow, sys.intern(label), _verdict(no_certain, blocked, no_maybe), tuple(records), certain,
                      blocked, unknown)
    trace.reason = _reason(trace)
    return trace


# shared empty list: most traces block nothing and know everything (never mutated)
_NONE: list[tuple[Hop, Segment]] = []
_PASSES: dict[int, tuple[Flow, str]] = {}  # id(flow) -> (flow, what an allowed trace of it says)


# Enum members read once: `Decision.X` is a class attribute lookup through the enum machinery (about 85 ns
# on Python 3.11, five times a global's), and _step runs for every hop of every trace.
_PERMIT, _TRANSLATE, _DENY, _SUMMARY_ONLY = Decision.PERMIT, Decision.TRANSLATE, Decision.DENY, Decision.PARTIAL
_ALLOWED, _BLOCKED, _PARTIAL, _UNKNOWN = Verdict.ALLOWED, Verdict.BLOCKED, Verdict.PARTIAL, Verdict.UNKNOWN


def _step(hop: Hop, certain: PacketSet, maybe: PacketSet, no_certain: bool, no_maybe: bool) -> _HopStepResult:
    """One hop: its record, what goes on (certain, maybe), what it blocked, where unknowns began, and whether
    what goes on is empty."""
    if no_certain:
        segs_certain: tuple[Segment, ...] = ()
    elif type(hop) is FilterHop:  # most hops: FilterHop.apply without its call
        rules = hop.rules
        assert rules is not None
        segs_certain = rules.evaluate(certain)
    else:
        segs_certain = hop.apply(certain)
    if no_maybe and len(segs_certain) == 1:  # most steps: certain packets, one part, passed on
        seg = segs_certain[0]
        decision = seg.decision
        if decision is _PERMIT or decision is _TRANSLATE:
            leaving = seg.packets if seg.output is None else seg.output
            return (HopTrace(hop, decision, segs_certain, False), leaving, EMPTY, _NONE, _NONE, leaving.is_empty(),
                    True)
    segs_maybe = () if no_maybe else hop.apply(maybe)
    next_certain, next_maybe = EMPTY, EMPTY
    blocked: list[tuple[Hop, Segment]] = []
    unknown: list[tuple[Hop, Segment]] = []
    for seg in segs_certain:
        decision = seg.decision
        if decision is _PERMIT or decision is _TRANSLATE:
            next_certain = seg.leaving if next_certain is EMPTY or next_certain.is_empty() else \
                next_certain | seg.leaving
        elif decision is _DENY:
            blocked.append((hop, seg))
        else:
            next_maybe = next_maybe | seg.leaving
            unknown.append((hop, seg))
    for seg in segs_maybe:
        if seg.decision is _DENY:
            blocked.append((hop, seg))
        else:
            next_maybe = next_maybe | seg.leaving
    segments = segs_certain + segs_maybe
    record = HopTrace(hop, _summarise(segments), segments, unknown_in=no_certain)
    # by identity first: a step that lets nothing on hands on EMPTY itself
    return (record, next_certain, next_maybe, blocked or _NONE, unknown or _NONE,
            next_certain is EMPTY or next_certain.is_empty(), next_maybe is EMPTY or next_maybe.is_empty())


def _summarise(segments: tuple[Segment, ...]) -> Decision:
    if len(segments) == 1:  # most hops decide a flow with one rule
        return segments[0].decision
    kinds = {seg.decision for seg in segments}
    if Decision.UNKNOWN in kinds:
        return Decision.UNKNOWN
    if Decision.DENY in kinds:
        return Decision.DENY if len(kinds) == 1 else Decision.PARTIAL
    if Decision.TRANSLATE in kinds:
        return Decision.TRANSLATE
    return Decision.PERMIT


def _verdict(none_allowed: bool, blocked: list[tuple[Hop, Segment]], none_maybe: bool) -> Verdict:
    if not none_maybe:
        return _UNKNOWN
    if not blocked:
        return _UNKNOWN if none_allowed else _ALLOWED
    return _BLOCKED if none_allowed else _PARTIAL


def _rule_ref(hop: Hop, seg: Segment) -> str:
    rule = seg.rule
    where = f"{hop.device} ({hop.stage})"
    if rule is None:
        return f"at {where}"
    comment = f" \"{rule.comment}\"" if rule.comment else ""
    return f"at {where} by {rule.label} ({rule.text}){comment}"  # 'rule 2', 'line 37 of FILE', 'default rule'


def _reason(trace: FlowTrace) -> str:
    if trace.verdict == _ALLOWED:  # most traces: one text per flow, not formatted again
        passed = trace.flow
        known = _PASSES.get(id(passed))  # by identity (a flow hashes in Python): the plan's few flow objects
        if known is None or known[0] is not passed:
            if len(_PASSES) >= 1024:
                _PASSES.clear()
            # the flow kept with its text: its id stays its own
            known = _PASSES[id(passed)] = (passed, f"{passed} passes every hop.")
        return known[1]
    flow = str(trace.flow)
    if trace.verdict == _BLOCKED:
        hop, seg = trace.blocked[0]
        why = f": {seg.reason}" if seg.rule is None and seg.reason else ""  # no rule to name: say what did it
        return f"{flow} is blocked {_rule_ref(hop, seg)}{why}."
    if trace.verdict == _PARTIAL:
        hop, seg = trace.blocked[0]
        nat = _nat_before(trace, hop)
        if nat is not None and nat.public is None:
            if len(trace.blocked) == 1:
                return (f"{flow} is blocked {_rule_ref(hop, seg)} if the public address it is translated to "
                        f"({nat.device}, {nat.stage}) is {seg.packets.describe_sources()}, and allowed from any "
                        "other: that address is not in the snapshot.")
            # Several blocks: naming one of them with "allowed from any other" would overstate what passes.
            refs = list(dict.fromkeys(_rule_ref(h, s) for h, s in trace.blocked))
            return (f"{flow} is allowed only if the public address it is translated to ({nat.device}, {nat.stage}) "
                    f"is {trace.allowed.describe_sources()}, and blocked from any other ({'; '.join(refs[:3])}"
                    f"{'; ...' if len(refs) > 3 else ''}): that address is not in the snapshot.")
        what = f"the translated address ({nat.device}, {nat.stage})" if nat is not None else "sources"
        return (f"{flow} is blocked for {what} {seg.packets.describe_sources()} {_rule_ref(hop, seg)}; "
                f"allowed for {trace.allowed.describe_sources()}.")
    if trace.unknown:
        hop, seg = trace.unknown[0]
        extra = ""
        if trace.blocked:
            bhop, bseg = trace.blocked[0]
            extra = f" Part of it is certainly blocked {_rule_ref(bhop, bseg)}."
        return f"{flow} is unknown at {hop.device} ({hop.stage}): {seg.reason}.{extra}".replace("..", ".")
    return f"{flow}: no packet of the flow was traced (the role has no source addresses)."


def _nat_before(trace: FlowTrace, hop: Hop) -> SourceNatHop | None:
    """The source NAT the packets crossed before `hop`, if any: what `hop` saw as their source."""
    nat = None
    for record in trace.hops:
        if record.hop is hop:
            return nat
        if isinstance(record.hop, SourceNatHop) and record.decision is Decision.TRANSLATE:  # not IPv6: routed
            nat = record.hop
    return None


@dataclass(slots=True)
class TraceCache:
    """What one network's traces share while its hops are alive (keys hold hop ids): whole traces by chain,
    packets and label, and hop steps by hop and input."""

    traces: dict[tuple[tuple[int, ...], PacketSet, str], FlowTrace]
    steps: HopMemo
    nat: dict[tuple[tuple[int, ...], PacketSet], str]  # NAT on a chain, by its hops and IKE packets
    # inner-flow traces, by flow and carrier traces
    inner: dict[tuple[Flow, tuple[int, ...], tuple[tuple[int, ...], ...], bool], tuple[list[FlowTrace], FlowTrace]]

    def __init__(self) -> None:
        self.traces = {}
        self.steps = {}
        self.nat = {}
        self.inner = {}


@dataclass(slots=True)
class _Chain:
    """Variants of a role that cross the very same hops, with what tracing them needs, worked out once per
    role and server rather than once per flow."""

    members: list[Variant]
    merged: Variant | None  # all members' sources together (None for a single variant)
    hops: list[Hop]  # the members' hops, then the server's side
    key: tuple[int, ...]  # the hops' ids
    # Address families (4, 6) every member has a source in: for a server of another family some member
    # has no packet to trace and would be unknown alone, so the members are not traced together (only
    # worked out for several members).
    shared_families: frozenset[int]
    cases: tuple[str, ...] = ()  # the members' (Variant.cases): chains are never merged across cases


def role_chains(role: Role, server_side: list[Hop]) -> list[_Chain]:
    """Variants that cross the very same hops (an AP in NAT mode could sit in any of several VLANs with no
    group policy of their own) are grouped, to be traced once with all their sources."""
    groups: dict[tuple[object, ...], list[Variant]] = {}
    if len(role.variants) == 1:  # most roles: one chain, nothing to group or merge
        groups[()] = role.variants
    else:
        for variant in role.variants:
            groups.setdefault((variant.cases, variant.ends_at_server, *map(id, variant.hops)), []).append(variant)
    chains = []
    for members in groups.values():
        first = members[0]
        hops = list(first.hops) if first.ends_at_server else [*first.hops, *server_side]
        merged, shared = None, _NO_FAMILIES
        if len(members) > 1:
            merged = Variant(sys.intern(", ".join(v.label for v in members)),
                             [iv for v in members for iv in v.addresses], first.hops, first.ends_at_server)
            shared = frozenset.intersection(*(families(v.addresses) for v in members))
        chains.append(_Chain(members, merged, hops, tuple(map(id, hops)), shared, first.cases))
    return chains


_NO_FAMILIES: frozenset[int] = frozenset()  # a chain of one variant is never traced merged


def _trace_variant(variant: Variant, chain: _Chain, server: VpnServer, flow: Flow,
                   cache: TraceCache | None) -> FlowTrace:
    packets = flow_packets(flow, variant.addresses, server)
    empty = packets.is_empty()
    if empty and variant.addresses:
        return _other_family(variant, server, flow)
    if cache is None:
        return trace_chain(chain.hops, packets, flow, variant.label, empty=empty)
    # Roles that share a chain and sources (an iPSK and the RADIUS role of the same group policy on one
    # SSID) get the same trace; the label is the variant's.
    key = (chain.key, packets, variant.label)
    found = cache.traces.get(key)
    if found is None:
        found = cache.traces[key] = trace_chain(chain.hops, packets, flow, variant.label, cache.steps, empty=empty)
    return found


def _other_family(variant: Variant, server: VpnServer, flow: Flow) -> FlowTrace:
    """The role's known addresses are all of the other family than the server's: no packet to trace."""
    family = f"IPv{server.family}"
    known = ", ".join(format_address_interval(iv) for iv in variant.addresses[:4]) + \
        (", ..." if len(variant.addresses) > 4 else "")
    why = ("IPv6 is disabled on its VLAN or its prefix is not in the snapshot (appliance/vlans.json `ipv6`), or "
           "its SSID gives clients IPv4 only (NAT mode)") if family == "IPv6" else \
        "as the snapshot stands its clients cannot reach the server over IPv4"
    reason = (f"{flow}: {server.name} is at an {family} address ({server.address}) and the role has no {family} "
              f"address in the snapshot (only {known}): {why}.")
    return FlowTrace(flow, variant.label, Verdict.UNKNOWN, (), EMPTY, [], [], reason)


def trace_role(role: Role, server: VpnServer, flow: Flow, server_side: list[Hop],
               cache: TraceCache | None = None, chains: list[_Chain] | None = None) -> FlowTrace:
    """Trace every variant of a role; if the variants disagree the result is unknown, unless they differ in
    the cases that select them (`Variant.cases`): then some of the role's traffic is blocked and some not,
    which is partial, saying when. `chains` are `role_chains(role, server_side)`, for callers that trace
    several flows of the role."""
    chains = chains if chains is not None else role_chains(role, server_side)
    if len(chains) == 1 and chains[0].merged is None:  # most roles: one way, traced as it is
        chain = chains[0]
        return _trace_variant(chain.members[0], chain, server, flow, cache)
    if len(chains) > 1 and any(c.cases != chains[0].cases for c in chains[1:]):
        return _by_cases(chains, server, flow, cache)
    return _combine(flow, _trace_variants(chains, server, flow, cache))


def _combine(flow: Flow, traces: list[FlowTrace]) -> FlowTrace:
    """Traces of ways the snapshot cannot tell apart: their verdict where they agree, else unknown."""
    if not traces:
        empty = FlowTrace(flow, "none", Verdict.UNKNOWN, (), EMPTY, [], [],
                          reason=f"{flow}: the role has no known way to the server")
        return empty
    if len(traces) == 1:
        return traces[0]
    verdicts = {t.verdict for t in traces}
    worst = _worst(traces)
    if len(verdicts) == 1:
        combined = FlowTrace(flow, worst.variant, worst.verdict, worst.hops, worst.allowed, worst.blocked,
                             worst.unknown, worst.reason, tuple(traces))
        return combined
    parts = "; ".join(f"{t.variant}: {t.verdict}" for t in traces)
    reason = (f"{flow} depends on which of {len(traces)} possible paths the role takes, which the snapshot "
              f"does not say ({parts}). {worst.reason}")
    return FlowTrace(flow, worst.variant, Verdict.UNKNOWN, worst.hops, worst.allowed, worst.blocked, worst.unknown,
                     reason, tuple(traces))


def _trace_variants(chains: list[_Chain], server: VpnServer, flow: Flow, cache: TraceCache | None) -> list[FlowTrace]:
    """Each chain's variants traced together. If that trace is the same for every source (allowed, blocked
    or unknown throughout), each variant's alone would agree with it; if it is partial, the sources decide
    and each variant is traced on its own so that the disagreement shows."""
    traces: list[FlowTrace] = []
    for chain in chains:
        if chain.merged is not None and server.family in chain.shared_families:
            together = _trace_variant(chain.merged, chain, server, flow, cache)
            if together.verdict != _PARTIAL:
                traces.append(together)
                continue
        members = chain.members
        if len(members) == 1:
            traces.append(_trace_variant(members[0], chain, server, flow, cache))
        else:
            traces.extend([_trace_variant(v, chain, server, flow, cache) for v in members])
    return traces


def _by_cases(chains: list[_Chain], server: VpnServer, flow: Flow, cache: TraceCache | None) -> FlowTrace:
    """Each case's ways combined (they must agree), then the cases: all alike, that verdict; any unknown,
    unknown; else some of the role's traffic passes and some does not (partial), and the reason says when
    it passes."""
    groups: dict[tuple[str, ...], list[_Chain]] = {}
    for chain in chains:
        groups.setdefault(chain.cases, []).append(chain)
    per_case = [(cases, _combine(flow, _trace_variants(members, server, flow, cache)))
                for cases, members in groups.items()]
    traces = tuple(t for _cases, t in per_case)
    verdicts = {t.verdict for t in traces}
    worst = _worst(list(traces))
    if len(verdicts) == 1:
        return FlowTrace(flow, worst.variant, worst.verdict, worst.hops, worst.allowed, worst.blocked,
                         worst.unknown, worst.reason, traces)
    parts = "; ".join(f"{_when(cases)}: {t.verdict}" for cases, t in per_case)
    if Verdict.UNKNOWN in verdicts:
        base = next(t for t in traces if t.verdict == Verdict.UNKNOWN)
        reason = f"{flow} differs by when or where the traffic is sent ({parts}). {base.reason}"
        return FlowTrace(flow, base.variant, Verdict.UNKNOWN, base.hops, base.allowed, base.blocked, base.unknown,
                         reason, traces)
    passing = [cases for cases, t in per_case if t.verdict == Verdict.ALLOWED]
    failing = [cases for cases, t in per_case if t.verdict != Verdict.ALLOWED]
    if passing:
        reason = (f"{flow} is allowed only {' or '.join(map(_when, passing))}. Otherwise "
                  f"({' or '.join(map(_when, failing))}): {worst.reason}")
    else:
        reason = f"{flow} differs by when or where the traffic is sent ({parts}). {worst.reason}"
    allowed = EMPTY
    for trace in traces:
        allowed = allowed | trace.allowed
    return FlowTrace(flow, worst.variant, Verdict.PARTIAL, worst.hops, allowed, worst.blocked, _NONE, reason, traces)


def _when(cases: tuple[str, ...]) -> str:
    return " and ".join(cases) if cases else "otherwise"


def _worst(traces: list[FlowTrace]) -> FlowTrace:
    """The trace with the worst verdict (the first of equals)."""
    return max(traces, key=lambda t: Verdict.rank_of(t.verdict))


# ---------------------------------------------------------------------------------------------------------
# How IPsec travels: NAT decides between NAT-T (udp/4500) and ESP, and inner flows ride inside the SA.

NAT, NO_NAT, MAYBE_NAT = WHEN_NAT, WHEN_NO_NAT, "maybe"
IKE = Flow("udp", 500)  # NAT detection happens in IKE_SA_INIT (IKEv2) or main mode (IKEv1), on UDP 500


def chain_nat(hops: list[Hop], packets: PacketSet) -> str:
    """Whether something on a chain translates the IKE packets: NAT (every packet is translated somewhere),
    NO_NAT (none is, and no hop is unsure) or MAYBE_NAT. IKE's NAT detection (RFC 7296 section 2.23; RFC 3947
    for IKEv1) compares the addresses each end sent and received, so a source NAT (an MX's uplink) and a
    destination NAT in front of the server (static NAT, a load balancer's virtual server) both count. Packets a
    filter denies are followed on: the question is what the path does, not whether this flow gets through."""
    if packets and packets.ipv4_sources_only() and _natted(hops):
        return NAT  # an MX (NAT44 of every IPv4 source) on the client's side
    plain, translated, unsure = packets, False, False
    for hop in hops:
        if not plain:
            break
        ahead = EMPTY
        for seg in hop.apply(plain):
            decision = seg.decision
            # what a translating point refuses it would have translated had it let it through
            if decision is _TRANSLATE or (decision is _DENY and hop.may_translate):
                translated = True
                continue
            if decision is Decision.UNKNOWN:
                out = seg.output
                # whether it passes is unknown, but if it does it is translated: a translated output that does
                # not also hold the packets as they were, or a translating rule (a virtual server, a NAT entry)
                if (out is not None and seg.packets - out) or \
                        (out is None and seg.rule is not None and hop.may_translate):
                    translated = True
                    continue
                unsure = True  # an unreadable hop may translate too
            ahead = ahead | (seg.leaving if decision is _PERMIT else seg.packets)
        plain = ahead
    if not plain:
        return NAT
    return MAYBE_NAT if translated or unsure else NO_NAT


def role_nat(role: Role, chains: list[_Chain], server: VpnServer, cache: TraceCache | None) -> str:
    """NAT on a role's way to a server: every chain's state when they agree, else MAYBE_NAT."""
    states = set()
    for chain in chains:
        if server.family == 4 and _natted(chain.hops):
            states.add(NAT)  # the usual case, read without building packets: an MX translating every IPv4 source
            continue
        addresses = [iv for v in chain.members for iv in v.addresses]
        packets = flow_packets(IKE, addresses, server)
        if not packets:  # no source of the server's family: nothing to translate
            continue
        key = (chain.key, packets)
        state = cache.nat.get(key) if cache is not None else None
        if state is None:
            state = chain_nat(chain.hops, packets)
            if cache is not None:
                cache.nat[key] = state
        states.add(state)
    if not states:  # no packet at all: every flow is unknown anyway; NAT-T stands for the pair
        return NAT
    return states.pop() if len(states) == 1 else MAYBE_NAT


def _natted(hops: list[Hop]) -> bool:
    """Whether a chain holds a source NAT of every IPv4 source (an MX's uplink NAT)."""
    for hop in hops:  # noqa: SIM110 - a loop, not any() over a generator: this runs for every role
        if type(hop) is SourceNatHop and not hop.private_only:
            return True
    return False


@dataclass(frozen=True, slots=True)
class _Step:
    """One (protocol, flow) path a role may need, with what deciding it takes; flows are indexes into the
    plan's distinct flows, so a role's traces are a list, not a dict hashed by flow."""

    protocol: str
    flow: int
    when: str | None  # WHEN_NAT / WHEN_NO_NAT: traced only then; None: always
    others: tuple[int, ...]  # a conditional flow's alternatives (the other condition's flows)
    carriers: tuple[_Step, ...] | None  # an inner flow's carriers (their own steps in the protocol)
    plain: bool  # an inner flow that no protocol of the server sends in the clear: its rules are inert


@dataclass(frozen=True, slots=True)
class ProtocolPlan:
    """What a server's protocols need of every role, worked out once per server: `trace_protocols` then does
    no catalogue lookups per role."""

    flows: tuple[Flow, ...]  # distinct flows, in first-use order
    steps: tuple[_Step, ...]
    conditional: bool  # some step depends on NAT on the path


def plan_protocols(protocols: list[Protocol]) -> ProtocolPlan:
    flows: list[Flow] = []

    def index(flow: Flow) -> int:
        if flow not in flows:
            flows.append(flow)
        return flows.index(flow)

    on_wire = {f for p in protocols for f in p.wire_flows}
    steps: list[_Step] = []
    for protocol in protocols:
        own: dict[Flow, _Step] = {}
        for flow in protocol.wire_flows:
            when = protocol.condition(flow)
            others = tuple(index(f) for f in protocol.flows if protocol.condition(f) not in (None, when)) \
                if when is not None else ()
            own[flow] = _Step(protocol.name, index(flow), when, others, None, False)
        for flow in protocol.flows:  # in catalogue order
            carried = protocol.carriers(flow)
            steps.append(own[flow] if carried is None else _Step(
                protocol.name, index(flow), None, (), tuple(own[c] for c in carried), flow not in on_wire))
    return ProtocolPlan(tuple(flows), tuple(steps), any(step.when is not None for step in steps))


def trace_protocols(role: Role, server: VpnServer, plan: ProtocolPlan, server_side: list[Hop],
                    cache: TraceCache | None = None, chains: list[_Chain] | None = None) -> list[tuple[str, FlowTrace]]:
    """Every flow a role needs for each protocol a server offers, as (protocol name, trace), in catalogue
    order. A flow with a condition is traced only where it applies (NAT-T where something translates, ESP
    where nothing does, both where that is unsure); an inner flow takes its carriers' verdict."""
    if chains is None:
        chains = role_chains(role, server_side)
    flows = plan.flows
    traced: list[FlowTrace | None] = [None] * len(flows)

    def flow_trace(index: int) -> FlowTrace:
        found = traced[index]
        if found is None:  # protocols share flows (udp/500 for IKEv2 and L2TP): each is traced once per role
            found = traced[index] = trace_role(role, server, flows[index], server_side, cache, chains)
        return found

    nat = role_nat(role, chains, server, cache) if plan.conditional else NAT
    settled = nat != MAYBE_NAT  # every flow's trace stands as it is (_nat_settled has nothing to do)
    out: list[tuple[str, FlowTrace]] = []
    for step in plan.steps:
        when = step.when
        if when is not None and settled and nat != when:
            continue
        if step.carriers is None:
            if settled or when is None:
                index = step.flow
                found = traced[index]
                if found is None:
                    found = traced[index] = trace_role(role, server, flows[index], server_side, cache, chains)
                out.append((step.protocol, found))
            else:
                out.append((step.protocol, _nat_settled(step, flow_trace, nat)))
            continue
        carrier_traces = [flow_trace(carrier.flow) for carrier in step.carriers
                          if carrier.when is None or nat == carrier.when] if settled else \
            [_nat_settled(carrier, flow_trace, nat) for carrier in step.carriers]
        out.append((step.protocol, _inner_trace(flows[step.flow], carrier_traces, chains, server, cache,
                                                step.plain)))
    return out


def _nat_settled(step: _Step, flow_trace: Callable[[int], FlowTrace], nat: str) -> FlowTrace:
    """A conditional flow's trace where NAT on the path is unsure: a block counts only if the flow it
    alternates with (ESP for NAT-T, and back) is blocked too; otherwise it turns on the NAT, so unknown."""
    trace = flow_trace(step.flow)
    when = step.when
    if nat != MAYBE_NAT or when is None or trace.verdict not in (Verdict.BLOCKED, Verdict.PARTIAL):
        return trace
    other_traces = [flow_trace(f) for f in step.others]
    if other_traces and all(t.verdict == Verdict.BLOCKED for t in other_traces):
        return trace
    needed = ("something on the path translates addresses (NAT-T)" if when == NAT else
              "nothing on the path translates addresses (plain ESP)")
    alternatives = ", ".join(f"{t.flow} {t.verdict}" for t in other_traces) or "no alternative"
    reason = (f"{trace.flow} is needed only if {needed}, which the snapshot does not settle ({alternatives}). "
              f"{trace.reason}")
    # Its blocks are conditional (they matter only with, or without, NAT): where they are is what leaves the flow
    # unknown, not a certain block that checks would report as one.
    return FlowTrace(trace.flow, trace.variant, Verdict.UNKNOWN, trace.hops, trace.allowed, _NONE,
                     trace.unknown or trace.blocked, reason, trace.variants)


_CARRIERS: dict[tuple[Flow, ...], tuple[Flow, ...]] = {}  # inner flows' carriers, one tuple per combination


def _inner_trace(flow: Flow, carriers: list[FlowTrace], chains: list[_Chain], server: VpnServer,
                 cache: TraceCache | None, plain: bool) -> FlowTrace:
    """An inner flow rides inside the IPsec SA: its verdict is its carriers' most doubtful (`Verdict.doubt_of`:
    blocked > unknown > partial > allowed; the SA needs them all), and each hop sees the carrier, not the inner
    flow. The middle boxes' rules that would decide it in the clear are kept as inert (when no protocol of the
    server sends it in the clear too: then they are not)."""
    key = (flow, tuple(map(id, carriers)), tuple(c.key for c in chains), plain)
    if cache is not None:
        found = cache.inner.get(key)
        if found is not None:
            return found[1]
    # The worst carrier explains the verdict; among equals the last, which carries the SA itself (NAT-T or ESP
    # after IKE on udp/500).
    if all(c.verdict == _ALLOWED for c in carriers):  # the usual case: the last, without ranking them
        worst = carriers[-1]
    else:
        worst = max(reversed(carriers), key=lambda t: Verdict.doubt_of(t.verdict))
    names, passes, note, carried, context = _inner_texts(flow, carriers, worst.flow)
    reason = passes if worst.verdict == _ALLOWED else \
        sys.intern(f"{flow} travels inside IPsec ({names}), so it needs its carriers: {worst.reason}")
    memo: HopMemo = cache.steps if cache is not None else {}
    hops = tuple([_inside_record(record, note, worst.flow, memo) for record in worst.hops])
    inert = _inert_rules(flow, carriers, chains, server, memo, context) if plain else ()
    trace = FlowTrace(flow, worst.variant, worst.verdict, hops, worst.allowed, worst.blocked, worst.unknown,
                      reason, (), carried, inert)
    if cache is not None:
        cache.inner[key] = (carriers, trace)  # the carriers kept alive: their ids are in the key
    return trace


_InnerTexts = tuple[str, str, str, tuple[Flow, ...], "_InertContext"]
# (inner flow, carriers' flows, worst carrier's flow), by identity -> those flows and what _inner_trace says
_INNER_TEXTS: dict[tuple[int, ...], tuple[tuple[Flow, ...], _InnerTexts]] = {}


@dataclass(frozen=True, slots=True, eq=False)
class _InertContext:
    """An inner flow and its carriers' (protocol, source port, destination port) intervals, one object per
    combination for the process (`_INERT_CONTEXTS`): the inert-rule steps of a network are remembered by its
    identity, which hashes in C where the flow would hash in Python at every hop."""

    flow: Flow
    tails: tuple[tuple[Interval, Interval, Interval], ...]


_INERT_CONTEXTS: dict[tuple[Flow, tuple[Flow, ...]], _InertContext] = {}  # never emptied: a catalogue's few


def _inner_texts(flow: Flow, carriers: list[FlowTrace], worst: Flow) -> _InnerTexts:
    """The carriers' names, the reason when they all pass, the note on each hop, the carriers' flows and the
    inert-rule context, for an inner flow: the same few combinations for every role of an org, so each is
    worked out once (the flows are kept with them, so their ids stay their own; a flow hashes in Python)."""
    flows = (flow, worst, *[c.flow for c in carriers])
    key = tuple(map(id, flows))
    found = _INNER_TEXTS.get(key)
    if found is not None and all(a is b for a, b in zip(found[0], flows, strict=True)):
        return found[1]
    names = " and ".join(str(f) for f in flows[2:])
    # Texts and carriers every network's inner flows repeat: one object each (an org keeps millions of paths)
    passes = sys.intern(f"{flow} travels inside IPsec ({names}), which passes every hop; no middle box sees {flow}.")
    note = sys.intern(f"inside IPsec: this hop sees {worst}, not {flow}")
    carried = flows[2:]
    carried = _CARRIERS.setdefault(carried, carried)
    context = _INERT_CONTEXTS.get((flow, carried))
    if context is None:
        context = _INERT_CONTEXTS[(flow, carried)] = _InertContext(flow, tuple(_flow_tail(f) for f in carried))
    if len(_INNER_TEXTS) >= 1024:
        _INNER_TEXTS.clear()
    texts = (sys.intern(names), passes, note, carried, context)
    _INNER_TEXTS[key] = (flows, texts)
    return texts


def _inside_record(record: HopTrace, note: str, carrier: Flow, memo: HopMemo) -> HopTrace:
    """A carrier's hop record as the inner flow's: the same decisions, no rule of its own (records are shared
    by the roles that reach a hop with the same packets, and so are these)."""
    key = ("inside", id(record), note)
    found: tuple[HopTrace, HopTrace] | None = memo.get(key)
    if found is None:
        found = memo[key] = (HopTrace(record.hop, record.decision, tuple([
            Segment(seg.packets, seg.decision, None, _inside(note, carrier, seg)) for seg in record.segments]),
            record.unknown_in), record)  # the carrier's record kept alive: its id is in the key
    return found[0]


def _inside(note: str, carrier: Flow, seg: Segment) -> str:
    """What an inner flow's hop says: the carrier is what it decides on (and, where that is not a pass, how)."""
    if seg.decision is _PERMIT or seg.decision is _TRANSLATE:
        return note
    how = f"{seg.rule.label} ({seg.rule.text})" if seg.rule is not None else seg.reason
    return sys.intern(f"{note}; {carrier}: {seg.decision.value} by {how}" if seg.rule is not None else
                      f"{note}; {carrier}: {how}")


def _inert_rules(flow: Flow, carriers: list[FlowTrace], chains: list[_Chain], server: VpnServer,
                 memo: HopMemo, context: _InertContext | None = None) -> tuple[tuple[Hop, Segment], ...]:
    """The rules on the way that would decide the inner flow if it crossed them in the clear and that name
    its port (and none of its carriers'): they decide nothing for L2TP/IPsec. Every hop is asked, past
    denies too, with the packets as that hop would see them."""
    found: list[tuple[Hop, Segment]] = []
    seen: set[int] = set()
    if context is None:
        context = _inner_texts(flow, carriers, carriers[-1].flow)[4]
    token, tails = id(context), context.tails  # contexts are kept for the process: the id stays its own
    proto, port = PROTO_NUMBERS[flow.ip_protocol], flow.dst_port
    for chain in chains:
        members = chain.members
        addresses = members[0].addresses if len(members) == 1 else [iv for v in members for iv in v.addresses]
        packets = flow_packets(flow, addresses, server)
        nothing = packets.is_empty()
        if not nothing and port is not None and not _may_name_port(chain.hops, packets, proto, port, memo):
            continue  # the usual case: no rule on the way names the port, so no hop need be applied
        for hop in chain.hops:
            if nothing:
                break
            key = ("inert", id(hop), packets, token)
            step: tuple[list[Segment], PacketSet, bool] | None = memo.get(key)
            if step is None:  # roles of a network reach most hops with the same packets
                step = memo[key] = _inert_step(hop, packets, flow, tails)
            hits, packets, nothing = step
            for seg in hits:
                if id(seg.rule) not in seen:
                    seen.add(id(seg.rule))
                    found.append((hop, seg))
    return tuple(found)


def _may_name_port(hops: list[Hop], packets: PacketSet, proto: int, port: int, memo: HopMemo) -> bool:
    """Whether some hop of a chain may decide `packets` (as it would see them) by a rule that names the port;
    False only where that is certain without applying the hops. A segment's rule is a rule of the hop's lists
    that meets the packets, so it is among the candidates its lists find for their (protocol, port) and
    destination; the model's own hops keep those (address translation changes only sources and source ports),
    and a vendor's hop is taken to name it. The candidates are the very rows applying the hop would build."""
    target = packets.flow_target()
    if target is None:
        return True
    for hop in hops:
        key = ("names", id(hop), target, proto, port)
        named: bool | None = memo.get(key)
        if named is None:
            named = memo[key] = _hop_names_port(hop, packets, proto, port)
        if named:
            return True
    return False


def _hop_names_port(hop: Hop, packets: PacketSet, proto: int, port: int) -> bool:
    kind = type(hop)  # exact types: a subclass may decide by rules of its own
    if kind is SourceNatHop or kind is PassHop or kind is GapHop:
        return False  # their segments name no rule
    lists: list[RuleList]
    if kind is FilterHop:
        assert isinstance(hop, FilterHop)
        if hop.rules is None:
            return True
        lists = [hop.rules]
    elif kind is AmbiguousHop:
        assert isinstance(hop, AmbiguousHop)
        lists = list(hop.readings.values())  # settled parts name a reading's rule (or a copy of it)
    elif kind is MayApplyHop:
        assert isinstance(hop, MayApplyHop)
        return hop.inner is None or _hop_names_port(hop.inner, packets, proto, port)
    else:
        return True
    return any(rule.match.names_port(proto, port) for rules in lists
               for rule in (*rules.relevant(packets), rules.default))


def _inert_step(hop: Hop, packets: PacketSet, flow: Flow,
                tails: tuple[tuple[Interval, Interval, Interval], ...]) -> tuple[list[Segment], PacketSet, bool]:
    """One hop for the inner flow in the clear: the segments whose rule names its port and none of its
    carriers', what goes on to the next hop (denied packets too) and whether that is nothing."""
    hits: list[Segment] = []
    ahead = EMPTY
    for seg in hop.apply(packets):
        rule = seg.rule
        if rule is not None and not rule.synthetic and rule.certain and _names_port(rule, flow) and not any(
                rule.match.intersects(seg.packets.with_service(*tail))
                for tail in tails):
            hits.append(seg)
        leaving = seg.leaving if seg.decision is _PERMIT or seg.decision is _TRANSLATE else seg.packets
        ahead = leaving if ahead is EMPTY or ahead.is_empty() else ahead | leaving
    return hits, ahead, ahead is EMPTY or ahead.is_empty()


def _names_port(rule: Rule, flow: Flow) -> bool:
    """Whether a rule names the flow's port itself (`eq 1701`, destPort 1701, a list holding it), rather
    than a range or any port that happens to hold it."""
    proto = PROTO_NUMBERS[flow.ip_protocol]
    port = flow.dst_port
    return port is not None and rule.match.names_port(proto, port)
