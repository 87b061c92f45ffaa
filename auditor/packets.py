"""Sets of packets as unions of disjoint boxes.

A packet is a point (src address, dst address, IP protocol, src port, dst port). Addresses of both families
live in one integer space: IPv6 addresses keep their value, IPv4 addresses are shifted above the IPv6 range,
so a set can hold both and "any address" is one interval. Protocols without ports (ICMP, ESP, ...) carry
port 0 in both port fields: "any port" ([0, 65535]) matches them, a specific port never does.

A `PacketSet` is immutable and hashable; its boxes are pairwise disjoint, which makes emptiness trivial and
lets the first-match evaluator partition an input exactly.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import TypeVar

Interval = tuple[int, int]  # inclusive bounds
Box = tuple[Interval, Interval, Interval, Interval, Interval]  # src, dst, proto, sport, dport

V4_BASE = 1 << 128
ADDR_MAX = V4_BASE + (1 << 32) - 1
ANY_ADDR: Interval = (0, ADDR_MAX)
ANY_V4: Interval = (V4_BASE, ADDR_MAX)
ANY_V6: Interval = (0, V4_BASE - 1)
ANY_PROTO: Interval = (0, 255)
ANY_PORT: Interval = (0, 65535)
NO_PORT: Interval = (0, 0)

PROTO_NUMBERS = {"icmp": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50, "ah": 51, "icmp6": 58,
                 "ipv6-icmp": 58, "ospf": 89, "pim": 103, "sctp": 132}
PROTO_NAMES = {v: k for k, v in PROTO_NUMBERS.items() if k != "ipv6-icmp"}
PORTED_PROTOCOLS = frozenset({6, 17, 132})


def families(intervals: Iterable[Interval]) -> frozenset[int]:
    """The address families (4, 6) that `intervals` reach."""
    found = set()
    for lo, hi in intervals:
        if lo < V4_BASE:
            found.add(6)
        if hi >= V4_BASE:
            found.add(4)
    return frozenset(found)


def same_family(intervals: Iterable[Interval], address: Interval) -> list[Interval]:
    """The parts of `intervals` in the address family of `address` (a packet's source and destination are
    of one family: IPv4 clients cannot send to an IPv6 server)."""
    lo_family, hi_family = ANY_V4 if address[0] >= V4_BASE else ANY_V6
    return [(max(lo, lo_family), min(hi, hi_family)) for lo, hi in intervals if lo <= hi_family and hi >= lo_family]


def network_interval(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> Interval:
    base = V4_BASE if network.version == 4 else 0
    return (base + int(network.network_address), base + int(network.broadcast_address))


_IPV4 = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:/(\d{1,2}))?")


@lru_cache(maxsize=1 << 16)
def address_interval(text: str) -> Interval:
    """An address or CIDR ("10.0.0.0/8", "2001:db8::1") as an interval; raises ValueError otherwise.

    IPv4 is parsed by hand (rule lists hold hundreds of thousands of addresses; ipaddress is slow) and
    results are cached, since the same prefixes recur across networks."""
    text = text.strip()
    match = _IPV4.fullmatch(text)
    if match is None:
        return network_interval(ipaddress.ip_network(text, strict=False))
    octets = [int(g) for g in match.groups()[:4]]
    prefix = int(match.group(5)) if match.group(5) is not None else 32
    if max(octets) > 255 or prefix > 32:
        raise ValueError(f"bad IPv4 address or prefix: {text}")
    value = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    size = 1 << (32 - prefix)
    first = value & ~(size - 1) & 0xFFFFFFFF
    return (V4_BASE + first, V4_BASE + first + size - 1)


def format_address_interval(iv: Interval) -> str:
    """Shortest readable form of an address interval: 'any', a CIDR, or 'a-b'."""
    lo, hi = iv
    if iv == ANY_ADDR:
        return "any"
    if lo >= V4_BASE:
        if iv == ANY_V4:
            return "any4"
        return _format_range(ipaddress.IPv4Address(lo - V4_BASE), ipaddress.IPv4Address(hi - V4_BASE))
    if hi < V4_BASE:
        if iv == ANY_V6:
            return "any6"
        return _format_range(ipaddress.IPv6Address(lo), ipaddress.IPv6Address(hi))
    return f"{format_address_interval((lo, V4_BASE - 1))},{format_address_interval((V4_BASE, hi))}"


_Address = TypeVar("_Address", ipaddress.IPv4Address, ipaddress.IPv6Address)


def _format_range(first: _Address, last: _Address) -> str:
    nets = list(ipaddress.summarize_address_range(first, last))
    if len(nets) == 1:
        return str(nets[0]) if nets[0].num_addresses > 1 else str(first)
    return f"{first}-{last}"


def _intersect_box(a: Box, b: Box) -> Box | None:
    # Unrolled, protocol and destination port first: in rule evaluation those dimensions are the ones
    # that usually tell boxes apart, so most calls return after two comparisons.
    (a0, a1, a2, a3, a4), (b0, b1, b2, b3, b4) = a, b
    p_lo = a2[0] if a2[0] > b2[0] else b2[0]
    p_hi = a2[1] if a2[1] < b2[1] else b2[1]
    if p_lo > p_hi:
        return None
    d_lo = a4[0] if a4[0] > b4[0] else b4[0]
    d_hi = a4[1] if a4[1] < b4[1] else b4[1]
    if d_lo > d_hi:
        return None
    t_lo = a1[0] if a1[0] > b1[0] else b1[0]
    t_hi = a1[1] if a1[1] < b1[1] else b1[1]
    if t_lo > t_hi:
        return None
    s_lo = a0[0] if a0[0] > b0[0] else b0[0]
    s_hi = a0[1] if a0[1] < b0[1] else b0[1]
    if s_lo > s_hi:
        return None
    q_lo = a3[0] if a3[0] > b3[0] else b3[0]
    q_hi = a3[1] if a3[1] < b3[1] else b3[1]
    if q_lo > q_hi:
        return None
    # Reuse an operand's box, else its intervals, where they are the result: traces keep many such sets,
    # most intersections of a flow with a rule return the flow itself, and the rest mostly narrow one
    # dimension (the source) of the flow's box.
    s = a0 if s_lo == a0[0] and s_hi == a0[1] else b0 if s_lo == b0[0] and s_hi == b0[1] else (s_lo, s_hi)
    t = a1 if t_lo == a1[0] and t_hi == a1[1] else b1 if t_lo == b1[0] and t_hi == b1[1] else (t_lo, t_hi)
    p = a2 if p_lo == a2[0] and p_hi == a2[1] else b2 if p_lo == b2[0] and p_hi == b2[1] else (p_lo, p_hi)
    q = a3 if q_lo == a3[0] and q_hi == a3[1] else b3 if q_lo == b3[0] and q_hi == b3[1] else (q_lo, q_hi)
    d = a4 if d_lo == a4[0] and d_hi == a4[1] else b4 if d_lo == b4[0] and d_hi == b4[1] else (d_lo, d_hi)
    if s is a0 and t is a1 and p is a2 and q is a3 and d is a4:
        return a
    if s is b0 and t is b1 and p is b2 and q is b3 and d is b4:
        return b
    return (s, t, p, q, d)


def _subtract_box(a: Box, b: Box) -> list[Box]:
    """a minus b as disjoint boxes (at most two per dimension)."""
    inter = _intersect_box(a, b)
    if inter is None:
        return [a]
    pieces: list[Box] = []
    current = list(a)
    for dim in range(5):
        (alo, ahi), (ilo, ihi) = current[dim], inter[dim]
        if alo < ilo:
            piece = list(current)
            piece[dim] = (alo, ilo - 1)
            pieces.append(tuple(piece))  # type: ignore[arg-type]  # five long, but mypy cannot count a list
        if ihi < ahi:
            piece = list(current)
            piece[dim] = (ihi + 1, ahi)
            pieces.append(tuple(piece))  # type: ignore[arg-type]  # as above
        current[dim] = inter[dim]
    return pieces


_SORTED_FROM = 8  # below this many boxes a plain scan intersects as fast as bisection
_FEW = 64  # a rule's match of up to this many boxes is applied box by box to a sorted set


def _source_lo(box: Box) -> int:
    return box[0][0]


def _source_hi(box: Box) -> int:
    return box[0][1]


def _box_size(box: Box) -> int:
    size = 1
    for lo, hi in box:
        size *= hi - lo + 1
    return size


class PacketSet:
    """An immutable set of packets: a union of pairwise disjoint boxes."""

    __slots__ = ("_bounds", "_by_source", "_hash", "boxes")

    def __init__(self, boxes: Iterable[Box] = (), *, by_source: bool = False) -> None:
        # Callers pass disjoint boxes; the public constructors below guarantee it.
        self.boxes: tuple[Box, ...] = tuple(boxes)
        self._hash: int | None = None
        self._bounds: Box | None = None
        # True when the boxes are sorted by source and their source intervals do not overlap: what is left of
        # a flow after rule after rule took sources out of it. Then the boxes a rule can touch are found by
        # bisection, and a list of n rules costs n log k, not n * k (see _and_sorted, _sub_sorted).
        self._by_source = by_source or len(self.boxes) <= 1

    def bounds(self) -> Box:
        """The smallest box holding every box of the set (computed once)."""
        if self._bounds is None:
            boxes = self.boxes
            # five intervals, one per dimension; mypy types a tuple() of a generator as of any length
            bounds: Box = tuple((min(b[d][0] for b in boxes), max(b[d][1] for b in boxes))  # type: ignore[assignment]
                                for d in range(5))
            self._bounds = bounds
        return self._bounds

    def _apart(self, other: PacketSet) -> bool:
        """Whether the bounding boxes are disjoint: then no pair of boxes can meet. A rule list evaluated on a
        fragmented remainder (many boxes) against rules on other addresses would otherwise compare every
        pair: quadratic in the list's length."""
        if len(self.boxes) * len(other.boxes) < 16 or not self.boxes or not other.boxes:
            return False
        return _intersect_box(self.bounds(), other.bounds()) is None

    # construction -------------------------------------------------------------------------------------
    @classmethod
    def of(
        cls,
        src: Iterable[Interval] = (ANY_ADDR,),
        dst: Iterable[Interval] = (ANY_ADDR,),
        proto: Iterable[Interval] = (ANY_PROTO,),
        sport: Iterable[Interval] = (ANY_PORT,),
        dport: Iterable[Interval] = (ANY_PORT,),
    ) -> PacketSet:
        """The product of unions of intervals per dimension (overlaps within a dimension are merged)."""
        return cls(itertools.product(_merge(src), _merge(dst), _merge(proto), _merge(sport), _merge(dport)))

    @classmethod
    def flow(cls, src: Iterable[Interval], dst: Iterable[Interval], proto: int,
             dport: int | None = None) -> PacketSet:
        """Packets of one protocol to one destination port (any source port); ports ignored if portless."""
        if proto in PORTED_PROTOCOLS:
            return cls.of(src, dst, [(proto, proto)], [ANY_PORT], [(dport, dport)] if dport is not None
                          else [ANY_PORT])
        return cls.of(src, dst, [(proto, proto)], [NO_PORT], [NO_PORT])

    # algebra ------------------------------------------------------------------------------------------
    def __and__(self, other: PacketSet) -> PacketSet:
        if self._by_source and len(self.boxes) > _SORTED_FROM and len(other.boxes) <= _FEW:
            if len(other.boxes) == 1:
                return self._and_sorted(other)
            return PacketSet(box for b in other.boxes for box in self._and_sorted(PacketSet((b,))).boxes)
        if other._by_source and len(other.boxes) > _SORTED_FROM and len(self.boxes) <= _FEW:
            return other & self  # the same set, found by bisecting the long one
        if self._apart(other):
            return EMPTY
        out = []
        for a in self.boxes:
            for b in other.boxes:
                box = _intersect_box(a, b)
                if box is not None:
                    out.append(box)
        result = tuple(out)
        if result == self.boxes:
            return self
        if result == other.boxes:
            return other
        return PacketSet(result)

    def common(self, other: PacketSet) -> PacketSet | None:
        """`self & other`, or None when they share no packet: one call answers both where a rule list asks
        both for every rule a flow meets (and a method call costs less than an operator's)."""
        found = self.__and__(other)
        return found if found.boxes else None

    def rest(self, other: PacketSet) -> PacketSet | None:
        """`self - other`, or None when nothing is left (as `common` is to `&`)."""
        found = self.__sub__(other)
        return found if found.boxes else None

    def __sub__(self, other: PacketSet) -> PacketSet:
        if self._by_source and self.boxes and len(other.boxes) <= _FEW:
            result = self
            for k, b in enumerate(other.boxes):
                if not result._by_source:  # a piece split off in another dimension: finish the plain way
                    return result - PacketSet(other.boxes[k:])
                result = result._sub_sorted(PacketSet((b,)))
            return result
        if self._apart(other):
            return self
        if other._by_source and len(other.boxes) > _SORTED_FROM and len(self.boxes) <= _FEW:
            # a few pieces minus a long union: only the boxes that meet them matter
            near = sorted({k for a in self.boxes for k in range(*other._span(a))})
            other = PacketSet([other.boxes[k] for k in near], by_source=True)
        pieces = list(self.boxes)
        for b in other.boxes:
            if not pieces:
                break
            next_pieces: list[Box] = []
            for a in pieces:
                next_pieces.extend(_subtract_box(a, b))
            pieces = next_pieces
        boxes = tuple(pieces)
        return self if boxes == self.boxes else PacketSet(boxes)

    def _span(self, b: Box) -> tuple[int, int]:
        """Indexes [i, j) of the boxes whose source interval meets b's (boxes sorted, sources disjoint)."""
        lo, hi = b[0]
        i = bisect.bisect_left(self.boxes, lo, key=_source_hi)
        j = bisect.bisect_right(self.boxes, hi, lo=i, key=_source_lo)
        return i, j

    def _and_sorted(self, other: PacketSet) -> PacketSet:
        b = other.boxes[0]
        i, j = self._span(b)
        out = tuple(box for a in self.boxes[i:j] if (box := _intersect_box(a, b)) is not None)
        if out == self.boxes:
            return self
        if out == other.boxes:
            return other
        return PacketSet(out, by_source=True)  # pieces of source-disjoint boxes, in the same order

    def _sub_sorted(self, other: PacketSet) -> PacketSet:
        b = other.boxes[0]
        i, j = self._span(b)
        middle: list[Box] = []
        split_elsewhere = False
        for a in self.boxes[i:j]:
            pieces = _subtract_box(a, b)
            middle.extend(pieces)
            # b not covering a in every other dimension leaves pieces that share a's sources
            split_elsewhere = split_elsewhere or any(p[1:] != a[1:] for p in pieces)
        if len(middle) == j - i and all(x is y for x, y in zip(middle, self.boxes[i:j], strict=True)):
            return self
        if split_elsewhere:
            return PacketSet(self.boxes[:i] + tuple(middle) + self.boxes[j:])
        middle.sort(key=_source_lo)
        return PacketSet(self.boxes[:i] + tuple(middle) + self.boxes[j:], by_source=True)

    def __or__(self, other: PacketSet) -> PacketSet:
        if not self.boxes:
            return other
        extra = (other - self).boxes
        if self._by_source and 0 < len(extra) <= _FEW:  # a trace gathering permitted pieces: stay sorted
            boxes = self.boxes
            for piece in sorted(extra, key=_source_lo):
                i = bisect.bisect_left(boxes, piece[0][0], key=_source_lo)
                if (i and boxes[i - 1][0][1] >= piece[0][0]) or (i < len(boxes) and boxes[i][0][0] <= piece[0][1]):
                    return PacketSet(self.boxes + extra)  # sources shared with a box: not sorted any more
                boxes = (*boxes[:i], piece, *boxes[i:])
            return PacketSet(boxes, by_source=True)
        return PacketSet(self.boxes + extra)

    def intersects(self, other: PacketSet) -> bool:
        if self._apart(other):
            return False
        return any(_intersect_box(a, b) is not None for a in self.boxes for b in other.boxes)

    def is_empty(self) -> bool:
        return not self.boxes

    def __bool__(self) -> bool:
        return bool(self.boxes)

    def issubset(self, other: PacketSet) -> bool:
        return not (self - other)

    def size(self) -> int:
        """Number of packets (exact; boxes are disjoint)."""
        return sum(_box_size(b) for b in self.boxes)

    def __contains__(self, packet: tuple[int, int, int, int, int]) -> bool:
        return any(all(lo <= v <= hi for v, (lo, hi) in zip(packet, box, strict=True)) for box in self.boxes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PacketSet):
            return NotImplemented
        if self.boxes == other.boxes:
            return True
        return not (self - other) and not (other - self)

    def __hash__(self) -> int:
        # Hash of the representation: equal sets built differently may hash apart, which only costs
        # cache hits; __eq__ stays semantic.
        if self._hash is None:
            self._hash = hash(self.boxes)
        return self._hash

    def __iter__(self) -> Iterator[Box]:
        return iter(self.boxes)

    def __repr__(self) -> str:
        return f"PacketSet({len(self.boxes)} boxes)"

    def box_count(self) -> int:
        """How many boxes make up the set: the size of its representation, not the number of packets."""
        return len(self.boxes)

    def identical(self, other: PacketSet) -> bool:
        """The same boxes in the same order: equal, known without the subtractions `==` may need."""
        return self.boxes == other.boxes

    def state(self) -> tuple[tuple[Box, ...], bool]:
        """What rebuilds the set as it is (`from_state`), for sending it to another process."""
        return self.boxes, self._by_source

    @classmethod
    def from_state(cls, state: tuple[tuple[Box, ...], bool]) -> PacketSet:
        boxes, by_source = state
        return cls(boxes, by_source=by_source)

    @classmethod
    def union_of(cls, boxes: list[Box]) -> PacketSet:
        """The packets of boxes that may overlap (one dimension of a set's boxes rewritten): the boxes as they
        are when no two meet, else united, since a set's boxes must be disjoint (overlapping ones made the
        algebra copy and split them: thousands of boxes within a few rule lists)."""
        if len(boxes) > 1:
            sources = sorted(box[0] for box in boxes)  # boxes apart in their sources are apart (a flow's)
            if any(sources[i][1] >= sources[i + 1][0] for i in range(len(sources) - 1)) and \
                    any(_intersect_box(a, b) is not None for i, a in enumerate(boxes) for b in boxes[i + 1:]):
                out = EMPTY
                for box in boxes:
                    out = out | cls((box,))
                return out
        return cls(boxes)

    @classmethod
    def of_disjoint(cls, parts: Iterable[PacketSet]) -> PacketSet:
        """The union of sets the caller knows to be pairwise disjoint: their boxes side by side, without the
        subtractions `|` does to keep boxes apart."""
        return cls([box for part in parts for box in part.boxes])

    # questions rule indexes and traces ask, answered from the boxes without building a set -------------
    def flow_key(self) -> tuple[Interval, Interval] | None:
        """The (protocol, destination port) intervals every box shares, by which rule lists index their
        rules; None when the boxes differ there, or there are none."""
        boxes = self.boxes
        if len(boxes) == 1:
            return boxes[0][2], boxes[0][4]
        keys = {(box[2], box[4]) for box in boxes}
        return next(iter(keys)) if len(keys) == 1 else None

    def flow_target(self) -> tuple[tuple[Interval, Interval], Interval | None] | None:
        """`flow_key()` and the destination interval every box shares (traffic to one server; None when the
        boxes go to several), in one call: rule lists ask both for every flow they evaluate."""
        boxes = self.boxes
        if len(boxes) == 1:
            box = boxes[0]
            return (box[2], box[4]), box[1]
        key = self.flow_key()
        if key is None:
            return None
        dst = boxes[0][1]
        return key, None if any(b[1] != dst for b in boxes) else dst

    def reaches(self, lo: int, hi: int) -> bool:
        """Whether some box's destination meets the addresses [lo, hi]."""
        boxes = self.boxes
        if len(boxes) == 1:
            dst = boxes[0][1]
            return dst[0] <= hi and lo <= dst[1]
        return any(b[1][0] <= hi and lo <= b[1][1] for b in boxes)

    def meets(self, proto: Interval, dport: Interval, dst: Interval | None = None) -> bool:
        """Whether some box overlaps these protocol and destination port intervals (and destination
        addresses, when given): whether a rule can matter to a flow, with no set built."""
        (plo, phi), (dlo, dhi) = proto, dport
        for b in self.boxes:  # a loop, not any(): most rules are one box, and a generator costs more than it
            if b[2][0] <= phi and plo <= b[2][1] and b[4][0] <= dhi and dlo <= b[4][1] and \
                    (dst is None or (b[1][0] <= dst[1] and dst[0] <= b[1][1])):
                return True
        return False

    def names_port(self, proto: int, port: int) -> bool:
        """Whether some box holds the protocol and has exactly this one destination port (`eq 1701`, a port
        list holding it), rather than a range or any port that happens to hold it."""
        return any(b[2][0] <= proto <= b[2][1] and b[4] == (port, port) for b in self.boxes)

    def ignores_source(self) -> bool:
        """Whether no box restricts the source (each is from any address); an empty set ignores it too."""
        boxes = self.boxes
        if len(boxes) == 1:
            return boxes[0][0] == ANY_ADDR
        return all(b[0] == ANY_ADDR for b in boxes)

    def ipv4_sources_only(self) -> bool:
        """Whether every box's sources are IPv4 addresses (true of an empty set)."""
        return all(box[0][0] >= V4_BASE for box in self.boxes)

    def protocols(self) -> set[Interval]:
        """The protocol interval of each box."""
        return {box[2] for box in self.boxes}

    def service_columns(self) -> tuple[list[Interval], list[Interval]]:
        """The protocol and the destination port interval of each box, in box order (a rule row's index key)."""
        boxes = self.boxes
        return [b[2] for b in boxes], [b[4] for b in boxes]

    def unsourced(self) -> tuple[tuple[Interval, Interval, Interval, Interval], ...]:
        """The boxes less their sources: what a source NAT's result depends on."""
        return tuple(box[1:] for box in self.boxes)

    # the same packets changed in one dimension ---------------------------------------------------------
    def from_any_source(self) -> PacketSet:
        """The same flows from any source: each box's source widened to every address, boxes that become
        equal kept once. Boxes that differed by source alone (a flow's) are then disjoint or equal; boxes that
        differed elsewhere too may overlap once widened, and are united (a set's boxes never overlap: overlapping
        ones made the algebra split and copy them, thousands of boxes in a few steps)."""
        boxes = self.boxes
        if len(boxes) == 1:
            return PacketSet(((ANY_ADDR, *boxes[0][1:]),))
        return PacketSet.union_of(list(dict.fromkeys((ANY_ADDR, *b[1:]) for b in boxes)))

    def with_service(self, proto: Interval, sport: Interval, dport: Interval) -> PacketSet:
        """The same sources and destinations with another protocol and ports (for intersection tests: boxes
        may repeat)."""
        return PacketSet(tuple((b[0], b[1], proto, sport, dport) for b in self.boxes))

    def with_any_source_port(self) -> PacketSet:
        """The packets from any source port (protocols with ports): what leaves a NAT that may map ports."""
        boxes = [(src, dst, proto, ANY_PORT if proto[0] == proto[1] and proto[0] in PORTED_PROTOCOLS else sport,
                  dport) for src, dst, proto, sport, dport in self.boxes]
        if all(new == old for new, old in zip(boxes, self.boxes, strict=True)):
            return self
        out = EMPTY
        for box in boxes:  # boxes that differed only by source port now overlap: unite them
            out = out | PacketSet([box])
        return out

    def with_destination(self, dst: Interval, port: int | None = None) -> PacketSet:
        """The packets sent to `dst` instead, and to `port` for boxes of one protocol with ports when it is
        given (a load balancer's backend). Boxes that differed only by destination (or port) are united."""
        boxes = []
        for src, _dst, proto, sport, dport in self.boxes:
            new_dport = dport
            if port is not None and proto[0] == proto[1] and proto[0] in PORTED_PROTOCOLS:
                new_dport = (port, port)
            boxes.append((src, dst, proto, sport, new_dport))
        return PacketSet.union_of(boxes)

    # projections used in explanations --------------------------------------------------------------
    def sources(self) -> list[Interval]:
        return _merge(box[0] for box in self.boxes)

    def destinations(self) -> list[Interval]:
        return _merge(box[1] for box in self.boxes)

    def with_sources(self, sources: Iterable[Interval]) -> PacketSet:
        """The same packets from `sources` instead (source NAT): what is left of each box apart from its
        source, united so the boxes stay disjoint, times the new sources."""
        rest = EMPTY
        for box in self.boxes:
            rest = rest | PacketSet([(ANY_ADDR, *box[1:])])
        return PacketSet([(iv, *box[1:]) for iv in _merge(sources) for box in rest.boxes])

    def describe_sources(self) -> str:
        return ", ".join(format_address_interval(iv) for iv in self.sources()) or "none"


def flow_intervals(proto: int, dport: int | None = None) -> tuple[Interval, Interval, Interval]:
    """The protocol, source port and destination port intervals of `PacketSet.flow`'s packets."""
    if proto in PORTED_PROTOCOLS:
        return (proto, proto), ANY_PORT, (dport, dport) if dport is not None else ANY_PORT
    return (proto, proto), NO_PORT, NO_PORT


def merge_intervals(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted intervals with overlapping and adjacent ones joined (a dimension of PacketSet.of)."""
    return _merge(intervals)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    ordered = sorted(intervals)
    if len(ordered) == 1 and type(ordered[0]) is tuple:  # one interval, as most dimensions are: kept as it is
        lo, hi = ordered[0]
        if lo > hi:
            raise ValueError(f"empty interval ({lo}, {hi})")
        return ordered
    merged: list[Interval] = []
    for lo, hi in ordered:
        if lo > hi:
            raise ValueError(f"empty interval ({lo}, {hi})")
        if merged and lo <= merged[-1][1] + 1:
            if hi > merged[-1][1]:
                merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return merged


# A rule whose exact match would take more boxes than this (the product of two long address lists, or of
# object-groups with thousands of hosts each) is not built exactly: the adapter evaluates it by its bounds and
# marks it uncertain. Exact, one such line takes seconds and gigabytes.
MAX_BOXES = 100_000


def product_size(*dims: Iterable[Interval]) -> int:
    """How many boxes `PacketSet.of(*dims)` would build."""
    size = 1
    for intervals in dims:
        size *= len(_merge(intervals))
    return size


def hull(intervals: Iterable[Interval]) -> list[Interval]:
    """Per address family, one interval from the lowest to the highest address of `intervals`."""
    items = list(intervals)
    out = []
    for lo_family, hi_family in (ANY_V6, ANY_V4):
        inside = [(lo, hi) for lo, hi in items if lo <= hi_family and hi >= lo_family]
        if inside:
            out.append((max(lo_family, min(lo for lo, _ in inside)), min(hi_family, max(hi for _, hi in inside))))
    return out


EMPTY = PacketSet()
ALL = PacketSet.of()


def _public_space() -> list[Interval]:
    """Addresses a packet arriving from the internet can have as its source: IPv4 apart from private,
    shared (carrier NAT), loopback, link-local, benchmarking, multicast and reserved space, and IPv6 global
    unicast. The documentation ranges stay in: examples and test networks use them as public addresses."""
    special = [address_interval(n) for n in ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8",
                                             "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16",
                                             "198.18.0.0/15", "224.0.0.0/3")]
    public = PacketSet.of(src=[address_interval("2000::/3"), ANY_V4]) - PacketSet.of(src=special)
    return public.sources()


PUBLIC_SOURCES: tuple[Interval, ...] = tuple(_public_space())
PUBLIC_V4_SOURCES: tuple[Interval, ...] = tuple(iv for iv in PUBLIC_SOURCES if iv[0] >= V4_BASE)
IPV4_SOURCES = PacketSet.of(src=[ANY_V4])
GLOBAL_V6: Interval = address_interval("2000::/3")  # global unicast: an IPv6 prefix the snapshot does not name
