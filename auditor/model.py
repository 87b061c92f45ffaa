"""The vendor-neutral model: rules, rule lists, hops (enforcement points) and roles.

Adapters (one per vendor and format) build these from snapshot files; the graph links them; the trace
pushes packet sets through them. Every rule keeps its origin so a verdict can name the file, position and
text that decided it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

from auditor.packets import (
    ALL,
    EMPTY,
    IPV4_SOURCES,
    PUBLIC_SOURCES,
    PUBLIC_V4_SOURCES,
    V4_BASE,
    Interval,
    PacketSet,
    address_interval,
)


class Action(StrEnum):
    PERMIT = "permit"
    DENY = "deny"
    UNKNOWN = "unknown"  # the rule's effect is not understood: whatever it may match is unknown


_UNKNOWN_ACTION = Action.UNKNOWN  # read once: an enum member lookup costs several global reads (every Rule)


class Decision(StrEnum):
    """What a hop did with (part of) a packet set."""

    PERMIT = "permit"
    DENY = "deny"
    UNKNOWN = "unknown"
    TRANSLATE = "translate"
    PARTIAL = "partial"  # only in hop summaries: some packets permitted, some denied


# Origin, Rule and Segment are immutable by convention, not frozen: an org's audit makes millions of them, and a
# frozen dataclass's __init__ (one object.__setattr__ per field) costs five times a plain one. Equality and hashing
# stay what frozen gave (unsafe_hash: by value; Rule: by identity).
@dataclass(slots=True, unsafe_hash=True)
class Origin:
    """Where a model element came from: snapshot-relative file, 0-based index in its list, 1-based line."""

    path: str
    index: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        elif self.index is not None:
            where += f"[{self.index}]"
        return where

    def human(self) -> str:
        """The file as a person is told it: 'line 37 of cisco/x.cfg', or the path alone. The 0-based list
        index (`str(origin)`'s `[n]`) is left to JSON, beside a rule's 1-based position."""
        return f"line {self.line} of {self.path}" if self.line is not None else self.path


@dataclass(slots=True, eq=False)
class Rule:
    """One entry of a first-match rule list.

    `match` is the set of packets the rule matches. When `certain` is false, `match` is what the rule *may*
    match (an unresolvable FQDN, an L7 signature, an unparsed line): packets there are decided by this rule
    or by a later one, and the evaluator reports them unknown wherever the two outcomes differ. A rule whose
    action is UNKNOWN is never certain.
    """

    position: int  # 1-based, as a person counts rules in the vendor's UI
    action: Action
    match: PacketSet
    text: str
    comment: str = ""
    origin: Origin | None = None
    certain: bool = True
    reason: str = ""  # why the rule is uncertain
    synthetic: bool = False  # a row the vendor appends (default rule), not written by the admin

    def __post_init__(self) -> None:
        if self.action is _UNKNOWN_ACTION and self.certain:
            self.certain = False

    @property
    def label(self) -> str:
        """How reports name the rule, one way everywhere: 'default rule', 'line 37 of cisco/x.cfg' (a config
        file's line) or 'rule 3' (1-based, as the vendor's UI counts)."""
        if self.synthetic:
            return "default rule"
        if self.origin is not None and self.origin.line is not None:
            return self.origin.human()
        return f"rule {self.position}"


@dataclass(slots=True, eq=False)
class AssumedRule(Rule):
    """A rule, or the part of one, that decides only because audit.yaml `assume:` says how the vendor behaves
    where its documentation is silent. `assumed` is "name = value"; a path it decides says so in its reason."""

    assumed: str = ""


@dataclass(slots=True, unsafe_hash=True)
class Segment:
    """Part of a hop's input and what the hop did with it.

    `output` is what leaves the hop for this part (a translated set for NAT or load balancing); None means
    the packets leave unchanged.
    """

    packets: PacketSet
    decision: Decision
    rule: Rule | None = None
    reason: str = ""
    output: PacketSet | None = None

    @property
    def leaving(self) -> PacketSet:
        return self.packets if self.output is None else self.output


class LazyRows(Protocol):
    """Rows of a vendor rule list parsed on demand.

    `keys[i]` is row i's (protocol intervals, destination-port intervals), cheap to read, or None when the
    row cannot be read that far (it is then a candidate for every flow); `build(i)` parses the whole row
    into model rules. Audits look at a handful of (protocol, port) flows, so most rows of long lists are
    never parsed in full.
    """

    keys: list[RowKey | None]

    def build(self, index: int) -> list[Rule]: ...

    def destinations(self, index: int) -> Sequence[tuple[int, int]] | None:
        """Every address row i's destination may cover, read without building the row, or None when that is
        not known (the row may then reach any destination)."""
        ...

    def reaching(self, indexes: list[int], lo: int, hi: int) -> list[int]:
        """Those of `indexes` whose `destinations` may meet the addresses [lo, hi] (or are not known), in order."""
        ...


RowKey = tuple[Sequence[tuple[int, int]], Sequence[tuple[int, int]]]
FlowKey = tuple[Interval, Interval]  # the (protocol, destination port) intervals of a flow's boxes
_Unsourced = tuple[tuple[Interval, Interval, Interval, Interval], ...]  # a flow's boxes less their sources


class IndexedRows:
    """LazyRows over a vendor list: `keys` read up front, `parse(i)` builds row i's rules when first needed,
    `dests(i)` reads only its destination (None: no cheaper reader). One callable for the whole list rather
    than a closure per row: long lists in thousands of networks make per-row objects a measurable share of
    an audit."""

    __slots__ = ("_dests", "_parse", "_reach", "keys")

    def __init__(self, keys: list[RowKey | None], parse: Callable[[int], list[Rule]],
                 dests: Callable[[int], Sequence[tuple[int, int]] | None] | None = None) -> None:
        self.keys = keys
        self._parse = parse
        self._dests = dests
        self._reach: dict[int, Sequence[tuple[int, int]] | None] = {}  # every flow and server asks again

    def build(self, index: int) -> list[Rule]:
        return self._parse(index)

    def destinations(self, index: int) -> Sequence[tuple[int, int]] | None:
        if self._dests is None:
            return None
        try:
            return self._reach[index]
        except KeyError:
            found = self._reach[index] = self._dests(index)
            return found

    def reaching(self, indexes: list[int], lo: int, hi: int) -> list[int]:
        # one call for a list's candidate rows, not one per row: every list meets every flow and server
        dests = self._dests
        if dests is None:
            return indexes
        known = self._reach
        out: list[int] = []
        for index in indexes:
            reach = known.get(index, _UNREAD)
            if reach is _UNREAD:
                reach = known[index] = dests(index)
            if reach is None:
                out.append(index)
                continue
            for a, b in reach:
                if a <= hi and lo <= b:
                    out.append(index)
                    break
        return out


_UNREAD: Any = object()  # a row whose destinations were not read yet (None is an answer: not known)


def rule_key(rule: Rule) -> RowKey:
    return rule.match.service_columns()


class RuleList:
    """An ordered first-match rule list ending in a default rule.

    `evaluate` partitions an input set by the rule that decides each packet. Results are memoised per
    input, since many roles push the same flow through the same list.
    """

    __slots__ = ("_built", "_cache", "_free", "_hits", "_index", "_narrow", "_parts", "_rows", "_rules", "default",
                 "name", "origin")

    # (proto, dport) interval pairs the audit is about to ask for; indexes are built for all of them in one
    # pass over a list's rows (set by the audit from the protocol catalogue).
    prime_keys: ClassVar[tuple[FlowKey, ...]] = ()

    def __init__(self, name: str, rules: list[Rule] | None, default: Rule, origin: Origin | None = None,
                 rows: LazyRows | None = None) -> None:
        self.name = name
        self._rules = rules
        self._rows = rows
        self._built: dict[int, list[Rule]] = {}
        self.default = default
        self.origin = origin
        self._cache: dict[PacketSet, tuple[Segment, ...]] = {}
        self._index: dict[FlowKey, list[Rule]] = {}
        self._hits: dict[FlowKey, list[int]] = {}  # lazy lists: the rows each (proto, dport) key may meet
        self._free: dict[int, bool] = {}
        self._narrow: dict[tuple[FlowKey, Interval], list[Rule]] = {}
        self._parts: tuple[RuleList, ...] | None = None

    @property
    def rules(self) -> list[Rule]:
        """Every rule, in order (parses all lazy rows)."""
        if self._rules is None and self._parts is not None:
            self._rules = [rule for part in self._parts for rule in part.rules]
        if self._rules is None:
            assert self._rows is not None
            self._rules = [rule for i in range(len(self._rows.keys)) for rule in self._row(i)]
        return self._rules

    def _row(self, index: int) -> list[Rule]:
        built = self._built.get(index)
        if built is None:
            assert self._rows is not None
            built = self._rows.build(index)
            self._built[index] = built
        return built

    def relevant(self, packets: PacketSet) -> list[Rule]:
        """Rules that can match some packet of `packets`, in order, found through a per-(proto, dport)
        index: flows are a few (protocol, port) pairs against lists of hundreds of rules, so most rules are
        skipped without intersecting anything (and, for lazy lists, without being parsed). When the packets
        go to one destination range (a VPN server), the candidates are narrowed to the rules that reach it,
        once per list: every role's traffic to that server then meets only those, and a lazy list builds
        only those of its rows (their destinations are read first)."""
        target = packets.flow_target()
        if target is None:
            return self.rules
        key, dst = target
        if dst is None:
            return self._candidates(key)
        return self._narrowed_cached(key, dst)

    def _narrowed(self, key: FlowKey, dst: tuple[int, int]) -> list[Rule]:
        if self._parts is not None:
            return [rule for part in self._parts for rule in part._narrowed_cached(key, dst)]
        if self._rules is None and self._rows is not None:
            return self._materialize(key, self._row_hits(key), dst)
        found = self._candidates(key)
        lo, hi = dst
        narrowed = [r for r in found if r.match.reaches(lo, hi)]
        return found if len(narrowed) == len(found) else narrowed

    def _narrowed_cached(self, key: FlowKey, dst: tuple[int, int]) -> list[Rule]:
        narrowed = self._narrow.get((key, dst))
        if narrowed is None:
            narrowed = self._narrow[(key, dst)] = self._narrowed(key, dst)
        return narrowed

    def _by_key(self, packets: PacketSet) -> list[Rule]:
        key = packets.flow_key()
        return self.rules if key is None else self._candidates(key)

    def _candidates(self, key: FlowKey) -> list[Rule]:
        """The rules with a box on the (protocol, destination port) intervals of `key`, in order."""
        found = self._index.get(key)
        if found is None:
            if self._rules is not None and len(self._rules) <= 16:
                return self._rules  # short lists: intersecting every rule is cheaper than indexing
            if self._parts is not None:
                found = [rule for part in self._parts for rule in part._candidates(key)]
            elif self._rules is None and self._rows is not None:
                found = self._materialize(key, self._row_hits(key), None)
            else:
                found = self._index_rules(key)
            self._index[key] = found
        return found

    def _index_rules(self, key: FlowKey) -> list[Rule]:
        proto, dport = key
        return [r for r in self.rules if r.match.meets(proto, dport)]

    def _row_hits(self, key: FlowKey) -> list[int]:
        """Rows whose (protocol, destination port) key overlaps `key`; rows are scanned once for every key the
        audit will ask (RuleList.prime_keys)."""
        hits = self._hits.get(key)
        if hits is None:
            self._scan_rows([key, *(k for k in RuleList.prime_keys if k != key and k not in self._hits)])
            hits = self._hits[key]
        return hits

    def _scan_rows(self, keys: list[FlowKey]) -> None:
        assert self._rows is not None
        buckets: dict[FlowKey, list[int]] = {key: [] for key in keys}
        wanted = tuple(keys)
        # Rows repeat a few (protocol, ports) shapes and adapters hand out one key object per shape, so the
        # overlap is remembered by the key object (kept alive by the memo: its id stays its own).
        memo = _OVERLAP_MEMO.get(wanted)
        if memo is None:
            if len(_OVERLAP_MEMO) >= 64:
                _OVERLAP_MEMO.clear()
            memo = _OVERLAP_MEMO[wanted] = {}
        for index, row_key_ in enumerate(self._rows.keys):
            if row_key_ is None:
                hits: tuple[FlowKey, ...] = wanted
            else:
                entry = memo.get(id(row_key_))
                if entry is not None and entry[0] is row_key_:
                    hits = entry[1]
                else:
                    hits = tuple(key for key in keys if _overlaps(row_key_, key))
                    if len(memo) >= _OVERLAP_MEMO_MAX:
                        memo.clear()
                    memo[id(row_key_)] = (row_key_, hits)
            for key in hits:
                buckets[key].append(index)
        self._hits.update(buckets)

    def _materialize(self, key: FlowKey, rows: list[int], dst: tuple[int, int] | None) -> list[Rule]:
        """The rules of `rows` with a box on `key` (and reaching `dst`), building only those rows whose
        destinations may reach `dst`: a row's rules can be narrower than its key."""
        assert self._rows is not None
        proto, dport = key
        if dst is not None:  # rows none of whose destinations meets the server's are not built
            rows = self._rows.reaching(rows, dst[0], dst[1])
        out: list[Rule] = []
        built = self._built
        for index in rows:
            found = built.get(index)
            for rule in found if found is not None else self._row(index):
                if rule.match.meets(proto, dport, dst):
                    out.append(rule)
        return out

    @classmethod
    def concat(cls, name: str, first: RuleList, second: RuleList, default: Rule) -> RuleList:
        """`first`'s rules then `second`'s, sharing their parsed rows and indexes."""
        combined = cls(name, None, default, first.origin)
        combined._parts = (first, second)
        return combined

    def source_free(self, rules: list[Rule]) -> bool:
        """Whether no rule of a candidate list looks at the source (memoised: candidate lists are kept)."""
        free = self._free.get(id(rules))
        if free is None:
            free = self._free[id(rules)] = all(rule.match.ignores_source() for rule in rules)
        return free

    def evaluate(self, packets: PacketSet) -> tuple[Segment, ...]:
        cached = self._cache.get(packets)
        if cached is not None:
            return cached
        rules = self._rules
        if rules is not None and not rules:  # no rule at all (an L7 list without rows): the default decides
            decided: tuple[Segment, ...] = \
                (Segment(packets, _DECISION_OF[self.default.action], self.default),) if not packets.is_empty() else ()
            self._cache[packets] = decided
            return decided
        parts = self._parts
        if parts is not None and self.default is parts[1].default and not parts[0].relevant(packets):
            # A concatenation whose first list has no candidate here meets exactly the second's candidates
            # with the second's default: its evaluation is the second's (memoised there, and shared with
            # the traces of that list alone: a group policy's rules before a layer's, mostly silent on VPN).
            result = self._cache[packets] = parts[1].evaluate(packets)
            return result
        # relevant(), its usual answer read here: the candidates narrowed for the flow's (key, destination)
        candidates = self._narrow.get(packets.flow_target())  # type: ignore[arg-type]  # None: not narrowed yet
        if candidates is None:
            candidates = self.relevant(packets)
        # With no candidate the default decides below; widening would only add a second evaluation.
        free: bool | None = False
        if candidates:
            free = self._free.get(id(candidates))  # source_free(), its memo read here
            if free is None:
                free = self.source_free(candidates)
        if free and not packets.ignores_source():
            # No rule looks at the source: decide for any source once (shared by every role), then cut the
            # partition down to this input's sources.
            widened = packets.from_any_source()
            segments = tuple([
                Segment(part, seg.decision, seg.rule, seg.reason)
                for seg in self.evaluate(widened)
                if not (part := packets if seg.packets.identical(widened) else seg.packets & packets).is_empty()
            ])
            self._cache[packets] = segments
            return segments
        segments_list: list[Segment] = []
        pending: list[tuple[PacketSet, Rule]] = []  # regions an uncertain rule may have decided
        remaining = packets
        # Whether nothing remains, asked only where a rule took part of it (this loop runs for every rule a flow
        # meets); an empty input meets no rule, and is asked at the end.
        done = False
        for rule in candidates:
            if done:
                break
            hit = remaining.common(rule.match)
            if hit is None:
                continue
            if rule.certain:
                if pending:
                    _emit(segments_list, pending, hit, rule)
                else:  # nothing uncertain before it: the rule decides what it hit
                    segments_list.append(Segment(hit, _DECISION_OF[rule.action], rule))
                # `&` returns its left side when the rule covers all of it: nothing remains, nothing to cut
                left = None if hit is remaining else remaining.rest(rule.match)
                remaining, done = (EMPTY, True) if left is None else (left, False)
            else:
                pending.append((hit, rule))
        if not done and (remaining is not packets or not packets.is_empty()):
            if pending:
                _emit(segments_list, pending, remaining, self.default)
            else:
                segments_list.append(Segment(remaining, _DECISION_OF[self.default.action], self.default))
        result = tuple(segments_list)
        self._cache[packets] = result
        return result

    def shadowed(self, flows: Sequence[PacketSet], action: Action = Action.PERMIT) -> list[Shadow]:
        """Every certain rule the admin wrote with `action` that matches some packet of `flows`, in list order,
        with what earlier rules do to those packets. First match decides packet by packet, so a rule is shadowed
        for the packets an earlier rule takes, and never reached for them when earlier certain rules take all of
        them and no uncertain rule may come first (`Shadow.whole`).

        Each flow is evaluated on its own: one flow's remainder after many rules stays cheap to work with, where
        a union of flows through a long list would cost the square of its length (and the trace has usually
        evaluated these flows already)."""
        union = EMPTY
        for flow in flows:
            union = union | flow
        candidates = self.relevant(union)
        evaluated = [self.evaluate(flow) for flow in flows]
        deciders = [{id(seg.rule) for seg in segments} for segments in evaluated]
        uncertain = _uncertain_first(candidates, flows)
        seen = [0 for _ in flows]  # per flow: how many of its uncertain regions come before the rule at hand
        out: list[Shadow] = []
        for position, rule in enumerate(candidates):
            if rule.action is not action or not rule.certain or rule.synthetic:
                continue
            parts: list[tuple[PacketSet, tuple[Segment, ...]]] = []
            reached = doubted = False
            for k, flow in enumerate(flows):
                wanted = rule.match & flow
                if not wanted:
                    continue
                parts.append((wanted, evaluated[k]))
                reached = reached or id(rule) in deciders[k]
                regions = uncertain[k]
                while seen[k] < len(regions) and regions[seen[k]][0] < position:
                    seen[k] += 1
                doubted = doubted or (seen[k] > 0 and regions[seen[k] - 1][1].intersects(wanted))
            if parts:
                out.append(Shadow(rule, parts, reached, doubted))
        return out

    def release(self) -> None:
        """Drop what only evaluation needs (raw rows, parsed-row cache, indexes, memo) once a network is
        audited; rules that decided something stay referenced by the traces. A released list is not
        evaluated again (its memos are one shared read-only mapping: an org's lists are tens of thousands,
        and five empty dicts each were a tenth of what a large audit kept)."""
        if self._cache is _RELEASED:
            return
        # deliberately a read-only Mapping where dicts are declared: a released list is never written again
        self._cache = self._index = self._hits = self._free = self._narrow = self._built = _RELEASED  # type: ignore[assignment]
        self._rows = None
        self._parts = None
        # Rules that decided nothing go too (a short list's, which were built at once): as a list that crossed
        # from a forked worker (RuleList.released), a released list names no rules.
        self._rules = _NO_RULES

    @classmethod
    def released(cls, name: str, default: Rule, origin: Origin | None) -> RuleList:
        """A list as `release` leaves it: its name, default rule and origin (audit results that travel
        between processes describe their lists so)."""
        shell = cls.__new__(cls)
        shell.name, shell.default, shell.origin = name, default, origin
        shell._rules, shell._rows, shell._parts = _NO_RULES, None, None
        shell._cache = shell._index = shell._hits = shell._free = shell._narrow = shell._built = _RELEASED  # type: ignore[assignment]
        return shell

    def __len__(self) -> int:
        if self._rules is None and self._rows is not None:
            return len(self._rows.keys)
        return len(self.rules)


_RELEASED: Mapping[Any, Any] = MappingProxyType({})  # the memos of every released list: empty, and read-only
_NO_RULES: list[Rule] = []  # the rules of every released list (never mutated)


# wanted keys -> {id(row key): (row key, the wanted keys it overlaps)}
_OVERLAP_MEMO: dict[tuple[FlowKey, ...], dict[int, tuple[RowKey, tuple[FlowKey, ...]]]] = {}
_OVERLAP_MEMO_MAX = 100_000


def _overlaps(row: RowKey, key: FlowKey) -> bool:
    (plo, phi), (dlo, dhi) = key
    protos, dports = row
    for a, b in protos:
        if a <= phi and plo <= b:
            break
    else:
        return False
    return any(a <= dhi and dlo <= b for a, b in dports)


_DECISION_OF = {action: Decision(action.value) for action in Action}  # a dict lookup, not an enum call per rule


def _uncertain_first(rules: list[Rule], flows: Sequence[PacketSet]) -> list[list[tuple[int, PacketSet]]]:
    """Per flow, the packets some uncertain rule of `rules` may match before any certain rule does: at each
    uncertain rule that adds to them, (its index in `rules`, all of them so far). Certain rules after the last
    uncertain one change nothing here, so the pass stops there (most lists have no uncertain rule at all)."""
    last = max((i for i, rule in enumerate(rules) if not rule.certain), default=-1)
    out: list[list[tuple[int, PacketSet]]] = []
    for flow in flows:
        steps: list[tuple[int, PacketSet]] = []
        remaining, so_far = flow, EMPTY
        for i in range(last + 1):
            if not remaining:
                break
            rule = rules[i]
            if rule.certain:
                remaining = remaining - rule.match
            elif region := remaining & rule.match:
                so_far = so_far | region
                steps.append((i, so_far))
        out.append(steps)
    return out


class Shadow:
    """One rule of a list and what earlier rules do to its share of the packets asked about
    (`RuleList.shadowed`)."""

    __slots__ = ("_parts", "doubted", "reached", "rule")

    def __init__(self, rule: Rule, parts: list[tuple[PacketSet, tuple[Segment, ...]]], reached: bool,
                 doubted: bool) -> None:
        self.rule = rule
        self._parts = parts  # per flow that the rule matches: its share of the flow, the flow's segments
        self.reached = reached  # the rule itself decides some of its packets
        # An earlier uncertain rule may match some of them first, whatever its action: which rule takes those
        # packets is then not known, even where the outcome is.
        self.doubted = doubted

    @property
    def whole(self) -> bool:
        """Earlier certain rules decide every one of the rule's packets: it is never reached for them."""
        return not self.reached and not self.doubted

    def earlier(self, decision: Decision | None = None) -> list[Segment]:
        """The parts of the rule's packets that earlier rules decide or leave unknown (only those decided
        `decision`, when given): flow by flow, each flow's in the order the list's evaluation gives them."""
        rule = self.rule
        return [Segment(part, seg.decision, seg.rule, seg.reason)
                for wanted, segments in self._parts for seg in segments
                if seg.rule is not rule and (decision is None or seg.decision is decision)
                and (part := seg.packets & wanted)]


@dataclass(frozen=True, slots=True)
class ReachedList:
    """A rule list that traffic meets on its way (`Hop.lists_reached`, `Device.access_lists`): where it applies
    ("acl-in OUTSIDE on outside"), the list, and the part of the traffic that reaches it."""

    where: str
    rules: RuleList
    packets: PacketSet


def _emit(segments: list[Segment], pending: list[tuple[PacketSet, Rule]], packets: PacketSet,
          rule: Rule) -> None:
    """Record that `rule` decides `packets`, unless an earlier uncertain rule (in `pending`) may have decided
    otherwise. `evaluate` appends the segment itself when nothing is pending (the usual case, without a call)."""
    decision = _DECISION_OF[rule.action]
    for region, uncertain in pending:
        if uncertain.action is rule.action:
            continue
        clash = packets & region
        if clash:
            reason = (f"{uncertain.label} ({uncertain.text}) may match: {uncertain.reason}; "
                      f"if it does not, {rule.label} would {rule.action.value}")
            segments.append(Segment(clash, Decision.UNKNOWN, uncertain, reason))
            packets = packets - region
            if not packets:
                return
    segments.append(Segment(packets, decision, rule))


# ---------------------------------------------------------------------------------------------------
# Hops: the enforcement points a path crosses. Each one partitions its input into segments.
# Perimeter (Cisco) and load-balancer hops are further subclasses with their own `apply`.


@dataclass(eq=False, slots=True)
class Hop:
    """An enforcement point. `device` names it for people; `stage` says what kind of point it is."""

    device: str
    stage: str
    origin: Origin | None = None
    # A point that translates addresses (NAT, a load balancer's virtual server): what it denies it would have
    # translated had it let it through, which is what IKE's NAT detection would see (trace.chain_nat).
    may_translate: ClassVar[bool] = False

    @property
    def key(self) -> str:
        return f"{self.device}|{self.stage}"

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        raise NotImplementedError

    def release(self) -> None:
        """Free evaluation state after the audit of a network; the hop stays describable."""

    def lists_reached(self, packets: PacketSet) -> list[ReachedList]:
        """The rule lists this hop evaluates `packets` against, each with the part of them it meets (for checks of
        the lists themselves); none by default."""
        return []


@dataclass(eq=False, slots=True)
class FilterHop(Hop):
    rules: RuleList | None = None

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        assert self.rules is not None
        return self.rules.evaluate(packets)

    def lists_reached(self, packets: PacketSet) -> list[ReachedList]:
        return [ReachedList(self.stage, self.rules, packets)] if self.rules is not None else []

    def release(self) -> None:
        if self.rules is not None:
            self.rules.release()


@dataclass(eq=False, slots=True)
class PassHop(Hop):
    """A point that lets everything through, kept in the path so the trace shows it was considered."""

    note: str = ""

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        return (Segment(packets, Decision.PERMIT, None, self.note),)


PUBLIC = PacketSet.of(src=PUBLIC_SOURCES)


@dataclass(eq=False, slots=True)
class SourceNatHop(Hop):
    """Source NAT toward the internet (an MX's uplink): beyond it, what the server's side sees is the public
    address, not the client's. `public` None: that address is not in the snapshot, so every public address
    is possible, and a rule on the server's side that tells sources apart leaves the path partial (decided
    per address) instead of deciding it on private addresses the internet never carries. IPv4 only (NAT44):
    IPv6 packets are routed with the client's own address."""

    may_translate: ClassVar[bool] = True
    public: list[tuple[int, int]] | None = None
    note: str = ""
    private_only: bool = False  # a NAT somewhere on the way to the internet: public sources pass as they are
    # What leaves depends only on the flow, not on which of the network's roles sent it: one set per flow,
    # shared by every role's trace (and the server side then meets the same input for all of them).
    _leaving: dict[_Unsourced, PacketSet] = field(default_factory=dict, repr=False)

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        if not self.private_only and packets.ipv4_sources_only():
            return (self._translate(packets),)  # the usual case: an IPv4 trace through an MX
        kept = packets & PUBLIC if self.private_only else EMPTY
        ipv6 = packets - kept - IPV4_SOURCES
        ipv4 = packets - kept - ipv6
        out = [Segment(kept, Decision.PERMIT, None, "already a public address: not translated again")] if kept else []
        if ipv4:
            out.append(self._translate(ipv4))
        if ipv6:
            out.append(Segment(ipv6, Decision.PERMIT, None, "IPv6 is routed, not translated: the client's own "
                                                            "address goes on"))
        return tuple(out)

    def _translate(self, packets: PacketSet) -> Segment:
        """NAT44: what leaves depends only on the flow, so it is worked out once per flow."""
        flow = packets.unsourced()
        leaving = self._leaving.get(flow)
        if leaving is None:
            public = self.public if self.public is not None else PUBLIC_V4_SOURCES
            leaving = self._leaving[flow] = any_source_port(packets.with_sources(public))
        return Segment(packets, Decision.TRANSLATE, None, self.note, leaving)

    def release(self) -> None:
        self._leaving.clear()


def any_source_port(packets: PacketSet) -> PacketSet:
    """The packets from any source port (protocols with ports): what leaves a NAT that may map ports (PAT)."""
    return packets.with_any_source_port()


@dataclass(eq=False, slots=True)
class GapHop(Hop):
    """Evidence is missing here (file not collected, call failed): whatever crosses it is unknown."""

    reason: str = ""
    affects: PacketSet = field(default_factory=lambda: ALL)

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        hit = packets & self.affects
        out = []
        if hit:
            out.append(Segment(hit, Decision.UNKNOWN, None, self.reason))
        rest = packets - self.affects
        if rest:
            out.append(Segment(rest, Decision.PERMIT, None, "not affected by the missing data"))
        return tuple(out)


@dataclass(eq=False, slots=True)
class AmbiguousHop(Hop):
    """A point whose semantics the vendor does not document: each reading is a rule list.

    Where all readings agree the result stands (deciding rule from the first reading); where they
    disagree the packets are unknown and the reason names what each reading would do.
    """

    readings: dict[str, RuleList] = field(default_factory=dict)
    why: str = ""
    # audit.yaml `assume:` names the reading that holds ("name = value" in `assumed`): where the readings
    # disagree, it decides instead of leaving the packets unknown.
    settle: str = ""
    assumed: str = ""
    _assumed_rules: dict[int, AssumedRule] = field(default_factory=dict, repr=False)

    def release(self) -> None:
        for rules in self.readings.values():
            rules.release()
        self._assumed_rules.clear()

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        readings = self.readings
        names = list(readings)
        results = {}
        for name in names:  # a loop, not a comprehension (a frame of its own): every group policy's hop
            results[name] = readings[name].evaluate(packets)
        first = names[0]
        out: list[Segment] = []
        for seg in results[first]:
            agree = seg.packets
            for other in names[1:]:
                for oseg in results[other]:
                    if oseg.decision == seg.decision:
                        continue
                    clash = agree & oseg.packets
                    if clash:
                        if self.settle:
                            out.extend(self._settled(results[self.settle], clash))
                        else:
                            what = "; ".join(
                                f"read as {n}: {_describe(results[n], clash)}" for n in names
                            )
                            out.append(Segment(clash, Decision.UNKNOWN, seg.rule,
                                               f"{self.why} The readings disagree: {what}"))
                        agree = agree - clash
            if agree:
                out.append(Segment(agree, seg.decision, seg.rule, seg.reason))
        return tuple(out)

    def _settled(self, segments: tuple[Segment, ...], clash: PacketSet) -> list[Segment]:
        """What the assumed reading decides for packets the readings disagree on; an uncertain rule inside
        that reading still leaves its packets unknown."""
        out = []
        for seg in segments:
            part = clash & seg.packets
            if not part:
                continue
            if seg.decision is Decision.UNKNOWN or seg.rule is None:
                out.append(Segment(part, seg.decision, seg.rule, seg.reason))
                continue
            rule = self._assumed_rules.get(id(seg.rule))
            if rule is None:
                r = seg.rule
                rule = self._assumed_rules[id(r)] = AssumedRule(
                    r.position, r.action, r.match, r.text, r.comment, r.origin, r.certain, r.reason, r.synthetic,
                    assumed=self.assumed)
            out.append(Segment(part, seg.decision, rule,
                               f"{self.why} Read as {self.settle} (assumed: {self.assumed})."))
        return out


@dataclass(eq=False, slots=True)
class MayApplyHop(Hop):
    """A layer the vendor does not document as applying to this traffic (a spoke's MX rules on traffic it
    tunnels to a hub). What the layer permits passes either way; what it would deny is unknown, since the
    verdict then turns on whether it applies. Device and stage are the inner hop's."""

    inner: Hop | None = None
    why: str = ""

    def apply(self, packets: PacketSet) -> tuple[Segment, ...]:
        assert self.inner is not None
        out = []
        for seg in self.inner.apply(packets):
            if seg.decision is Decision.DENY:
                what = f"{seg.rule.label} ({seg.rule.text})" if seg.rule is not None else "it"
                out.append(Segment(seg.packets, Decision.UNKNOWN, seg.rule,
                                   f"{self.why} If it applies, {what} denies this traffic"))
            elif seg.decision is Decision.UNKNOWN:
                out.append(Segment(seg.packets, Decision.UNKNOWN, seg.rule, f"{self.why} {seg.reason}"))
            else:
                out.append(seg)
        return tuple(out)

    def release(self) -> None:
        if self.inner is not None:
            self.inner.release()


def _describe(segments: tuple[Segment, ...], packets: PacketSet) -> str:
    for seg in segments:
        if seg.packets.intersects(packets):
            if seg.rule is None:
                return seg.decision.value
            return f"{seg.decision.value} by {seg.rule.label} ({seg.rule.text})"
    return "no decision"


# ---------------------------------------------------------------------------------------------------
# Roles: who sends the traffic.


@dataclass(eq=False)
class Variant:
    """One way a role's traffic can go: its source addresses and client-side hops in traversal order.

    Most roles have one. When the snapshot cannot say which of several applies (the management VLAN of an
    AP in NAT mode, an untagged SSID), each possibility is a variant and verdicts must agree across them,
    else the path is unknown.
    """

    label: str
    addresses: list[tuple[int, int]]
    hops: list[Hop] = field(default_factory=list)
    # The hops reach the server by themselves, so the server's side is not appended (a source that enters
    # at a device in front of the server: the trace must not cross that device's outside filter).
    ends_at_server: bool = False
    vlan: int | None = None  # the MX VLAN (id; 0 for a single LAN) the clients of this way are in, when known
    # When this way is taken, as conditions some of the role's traffic certainly meets ("while 'Staff' is
    # active: Mon–Fri 08:00–18:00", "clients of APs tagged 'lobby'"). Variants with the same cases are ways
    # the snapshot cannot tell apart (they must agree, else unknown); variants with different cases are each
    # taken by some traffic, so where they differ the role is partly blocked (partial), saying when.
    cases: tuple[str, ...] = ()


@dataclass(eq=False)
class Role:
    kind: str  # ssid | ipsk | group_policy | vlan | source
    name: str
    network_id: str | None
    network_name: str | None
    ssid: str | None = None
    phase: str = "post-auth"  # post-auth | pre-auth
    variants: list[Variant] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    group_policy: str | None = None
    # audit.yaml assumptions ("name = value") that narrowed `variants`, and the variants without them
    assumed: list[str] = field(default_factory=list)
    without_assumed: list[Variant] = field(default_factory=list)
    via: str = ""  # how its clients get their group policy, when not the usual way ("device type 'Windows'")

    @property
    def key(self) -> str:
        return f"{self.network_id}|{self.kind}|{self.ssid}|{self.name}|{self.phase}"

    def describe(self) -> dict[str, str | None]:
        if self.via:
            return {"kind": self.kind, "name": self.name, "ssid": self.ssid, "assigned_by": self.via}
        return {"kind": self.kind, "name": self.name, "ssid": self.ssid}


@dataclass(frozen=True, slots=True)
class DataGap:
    """Evidence that was expected but is absent or failed to load; becomes a `data-gap` finding."""

    path: str
    reason: str
    network_id: str | None = None
    network_name: str | None = None
    # The roles this gap leaves out of the audit altogether (a list of SSIDs, VLANs or networks that could not
    # be read), in words; "" when it only makes hops unknown. Such a gap makes the audit incomplete (exit 3).
    unaudited: str = ""


@dataclass(eq=False)
class NetworkModel:
    id: str
    name: str
    org_id: str | None
    product_types: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)  # Dashboard network tags (which VPN peers apply)
    roles: list[Role] = field(default_factory=list)
    gaps: list[DataGap] = field(default_factory=list)
    rule_lists: list[tuple[Hop, RuleList]] = field(default_factory=list)  # for rule-level checks

    def release(self) -> None:
        """After this network is audited: free evaluation state of its hops (large orgs stream through)."""
        hops = {id(hop): hop for role in self.roles for variant in role.variants for hop in variant.hops}
        for hop in hops.values():  # roles share most hops: release each once
            hop.release()
            hop.stage = _shared(hop.stage)
            if isinstance(hop, AmbiguousHop | MayApplyHop):
                hop.why = _shared(hop.why)
        for _hop, rules in self.rule_lists:  # a layer's own list that only a group policy's hop reaches
            rules.release()
        self.rule_lists = []
        # What is kept reads the same words in every network of an org (role and SSID names, ways, notes,
        # stages, why a hop is ambiguous): one string each, not one per network.
        for role in self.roles:
            role.name, role.ssid, role.group_policy = _shared(role.name), _shared(role.ssid), _shared(role.group_policy)
            role.notes = [_shared(note) for note in role.notes]
            for variant in role.variants:
                variant.label = _shared(variant.label)


def _shared(text: Any) -> Any:
    return sys.intern(text) if type(text) is str else text


@dataclass(eq=False)
class VpnServer:
    name: str
    address: str
    protocols: list[str]
    fqdn: str | None = None
    path: list[str] = field(default_factory=list)

    @property
    def family(self) -> int:
        """4 or 6: the address family of the server's address (its clients need a source of that family)."""
        return 4 if address_interval(self.address)[0] >= V4_BASE else 6


# What server-side devices tell checks (`Device` methods below) ------------------------------------------


class Exposure(StrEnum):
    """What a device's inbound NAT does with packets to a server's public address (`InboundNat.classify`)."""

    TRANSLATED = "translated"  # a static NAT or port forward sends them on to the server
    ROUTED = "routed"  # no NAT: routed on untranslated
    OWN = "own"  # addressed to the device itself, and nothing forwards them
    PORT_ONLY = "port-only"  # the address is only port-forwarded, and no forward matches them
    OUTSIDE = "outside"  # on the outside network, but nothing maps the address
    NO_ROUTE = "no-route"  # nothing leads there except back toward the internet
    UNKNOWN = "unknown"


class Translation(Protocol):
    """One line of a device's inbound NAT."""

    @property
    def rule(self) -> Rule:
        """The line as a rule: its text and where it is written."""
        ...

    @property
    def certain(self) -> bool:
        """Whether the line is understood (it translates what it matches)."""
        ...

    @property
    def hides(self) -> str:
        """What the line translates the clients' source addresses to ("": it keeps them)."""
        ...

    def keeping_clients(self) -> str:
        """How to publish the server as this line does but keep the clients' addresses, in the device's terms
        (for a line that `hides` them)."""
        ...


class InboundNat(Protocol):
    """How a device exposes servers behind it to traffic from the internet (`Device.inbound_nat`)."""

    @property
    def translations(self) -> Sequence[Translation]: ...

    def classify(self, packets: PacketSet) -> list[tuple[Segment, Exposure]]:
        """The packets partitioned by what happens to them, each part with its kind."""
        ...


@dataclass(slots=True)
class FragmentView:
    """A check that non-initial IP fragments of traffic to a server meet otherwise than the first fragment of
    their packet (`Device.fragment_views`): `fragments` is that check as they meet it, to be fed what reaches
    `hop` (one of the device's hops for the server, or the first of them for a check on arrival);
    `fix(rule, dropped)` says what to change where `fragments` drops what `hop` lets through."""

    hop: Hop
    fragments: Hop
    fix: Callable[[Rule, PacketSet], str]


@dataclass(frozen=True, slots=True)
class InterfaceLine:
    """A configuration line that applies to one interface (`interface`: as the device labels it)."""

    interface: str
    origin: Origin
    text: str


@dataclass(frozen=True, slots=True)
class UnmodelledLines:
    """The lines of a device's configuration that cannot affect a VPN path, by kind (`Device.unmodelled_lines`)."""

    path: str  # the configuration file, snapshot-relative
    total: int  # lines in the file
    kinds: Mapping[str, list[int]]  # what -> its lines
    notes: tuple[str, ...] = ()  # how the file was read (its decoding)

    @property
    def count(self) -> int:
        return sum(len(lines) for lines in self.kinds.values())


class Device:
    """A device on the server side of the internet (perimeter firewall, router, load balancer).

    Adapters for Cisco and load balancers subclass this. `tier` orders devices when audit.yaml gives no
    `path` (lower is nearer the internet); `owns` says whether the device fronts a server (it translates or
    terminates the server's public address); `hops` returns the device's enforcement points for traffic to
    that server, in traversal order (e.g. ingress ACL, NAT, egress ACL; or VIP -> backends).
    """

    name: str = ""  # "<vendor folder>/<device>", as in audit.yaml `path`
    tier: int = 0

    def owns(self, server: VpnServer) -> bool:
        raise NotImplementedError

    def may_own(self, server: VpnServer) -> str:
        """Why the device may front the server although `owns` cannot show it ("" when the configuration
        settles the question). A device that may front it is placed, and its hops say what is unknown."""
        return ""

    def hops(self, server: VpnServer) -> list[Hop]:
        raise NotImplementedError

    def internet_nat(self, interface: str, assumed: Hop) -> Hop | None:
        """What happens to private sources that entered at `interface` on their way on (`assumed`: some NAT
        beyond translates them to a public address the snapshot does not have). Devices that know where they
        route, and whether they translate, say so instead; None: nothing more happens."""
        return assumed

    def entry_hops(self, interface: str) -> list[Hop]:
        """The hops of traffic that enters the device at `interface` and leaves toward a server beyond it
        (audit.yaml `sources[].enters`). Devices that do not model it say so: unknown, never a pass."""
        return [GapHop(self.name, f"entry at {interface}", None,
                       reason=f"traffic that enters {self.name} from its own networks is not modelled for this "
                              "kind of device (entry at Cisco ASA and IOS devices is)")]

    # What checks ask of a device beyond its hops. The defaults say the device has nothing of the kind, so a
    # check passes it by; a vendor's device answers what its configuration holds.

    def access_lists(self, server: VpnServer, packets: PacketSet) -> list[ReachedList]:
        """The first-match access lists that `packets` (traffic to `server` from the internet) meet in this device,
        each with the part of them that reaches it, translated where NAT comes first: where a rule written to
        permit VPN traffic can be shadowed by earlier rules. None by default: a vendor lists them where its lists
        are evaluated top-down, first match wins."""
        return []

    def entry_number(self, rule: Rule) -> int | None:
        """The number the device's own command line gives a list entry, where it numbers entries apart from file
        lines (an IOS access-list sequence number); None by default."""
        return None

    def entry_text(self, rule: Rule) -> str:
        """A list entry as a person would type it again: without its `entry_number`, spaces as one."""
        return " ".join(rule.text.split())

    def inbound_nat(self, server: VpnServer) -> InboundNat | None:
        """How the device exposes `server` to traffic from the internet (static NAT, port forwards); None when it
        exposes nothing that way: it does not translate, it is the server itself, or where the traffic arrives
        is unknown (its hops say so)."""
        return None

    def fragment_views(self, server: VpnServer) -> list[FragmentView]:
        """Where non-initial fragments of traffic to `server` fare otherwise than the first fragment of their
        packet, on the way `hops(server)` describes; none by default."""
        return []

    def arrival_label(self, server: VpnServer) -> str | None:
        """The interface (as the device labels it) where traffic to `server` enters the device; None when that is
        not known or not modelled."""
        return None

    def entry_label(self, interface: str) -> str | None:
        """The interface audit.yaml `sources[].enters` names, as the device labels it; None when the device has no
        such interface or does not model entry."""
        return None

    def unicast_rpf(self) -> list[InterfaceLine]:
        """Unicast reverse-path forwarding checks configured on the device's interfaces, which the audit does not
        evaluate (whether they pass a packet depends on routes the snapshot may not hold)."""
        return []

    def unmodelled_lines(self) -> UnmodelledLines | None:
        """The lines of the device's configuration that the audit reads past because they cannot affect a VPN
        path; None when the device does not account for its lines one by one."""
        return None


class UnknownDevice(Device):
    """A server-side device the snapshot cannot describe (its collection failed, its file cannot be read):
    every flow through it is unknown, and where it stands says why. Placed where audit.yaml `path` names it,
    and in front of every server without a `path`, since nothing rules out that it owns the server's address."""

    tier = 0

    def __init__(self, name: str, rel: str, reason: str, stage: str = "configuration") -> None:
        self.name = name
        self.rel = rel
        self.reason = reason
        self.stage = stage

    def owns(self, server: VpnServer) -> bool:
        return False

    def may_own(self, server: VpnServer) -> str:
        return self.reason

    def hops(self, server: VpnServer) -> list[Hop]:
        return [GapHop(self.name, self.stage, Origin(self.rel), reason=self.reason)]

    def entry_hops(self, interface: str) -> list[Hop]:
        return [GapHop(self.name, f"entry at {interface}", Origin(self.rel), reason=self.reason)]


@dataclass(eq=False)
class Model:
    """Everything an audit reasons about, built from one snapshot."""

    snapshot: str
    networks: list[NetworkModel] = field(default_factory=list)
    servers: list[VpnServer] = field(default_factory=list)
    extra_roles: list[Role] = field(default_factory=list)  # audit.yaml `sources`
    scope: set[str] | None = None  # network ids or names (lower case) to load; None: all
    # Server-side devices (Cisco perimeter, load balancers) by name ("cisco/hq-asa"); the graph places
    # them in front of each server by audit.yaml `path`, else by `Device.owns`, ordered by `tier`.
    devices: dict[str, Device] = field(default_factory=dict)
    gaps: list[DataGap] = field(default_factory=list)
    assume: dict[str, bool | str | int] = field(default_factory=dict)  # audit.yaml `assume:`, validated
    # audit.yaml `devices:` by device name ("cisco/hq-asa"): settings an adapter reads, e.g. {"complete": True}
    device_settings: dict[str, dict[str, Any]] = field(default_factory=dict)


__all__ = [
    "ALL",
    "EMPTY",
    "Action",
    "AmbiguousHop",
    "AssumedRule",
    "DataGap",
    "Decision",
    "Device",
    "Exposure",
    "FilterHop",
    "FragmentView",
    "GapHop",
    "Hop",
    "InboundNat",
    "IndexedRows",
    "InterfaceLine",
    "Model",
    "NetworkModel",
    "Origin",
    "PassHop",
    "ReachedList",
    "Role",
    "Rule",
    "RuleList",
    "Segment",
    "Shadow",
    "SourceNatHop",
    "Translation",
    "UnknownDevice",
    "UnmodelledLines",
    "Variant",
    "VpnServer",
]
