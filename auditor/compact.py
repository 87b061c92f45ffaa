"""A network's results held compact: what every report and the global checks read at once (its network, roles,
paths, each trace's flow, verdict and reason, its findings) as objects, the rest (hops, rules, packets, the
roles' ways) as the encoded tables of parallel._Encoder, decoded when first read and forgettable again.

The audit cache (auditor/cache.py) returns its hits this way, and the forked worker (auditor/parallel.py) its
networks: an org of 10,000 networks then holds about half of its results as tables of bytes. A writer that
reads a network's hops once (the JSON report) forgets them after the network (`forget`), so they are never all
decoded at once.
"""

from __future__ import annotations

import copyreg
import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from auditor.checks import CheckMeta
from auditor.model import Hop, NetworkModel, Role, Variant
from auditor.trace import FlowTrace, PathResult

# Most traces block nothing and know nothing unknown: they share one empty list (never mutated), as in trace
NONE: list = []


class Decoder(Protocol):
    """What decoding the tables needs (parallel._Decoder)."""

    checks: dict[str, CheckMeta]

    def objects(self, tables: tuple) -> tuple[list, list, list, list, list[Hop], list]: ...

    def ways(self, variants: tuple, hops: list[Hop]) -> list[Variant]: ...


def split(message: tuple) -> tuple[tuple, tuple]:
    """An _Encoder message (`take_tables`) as its head (the networks, their roles and paths, each trace's
    verdict and reason, the findings: what is decoded at once) and the tables behind them."""
    _, tables, networks = message
    traces_t, roles_t, nets_t = tables[6], tables[7], tables[8]
    trace_heads = [(flow, variant, verdict, reason, carried_by, bool(blocked), bool(unknown), bool(inert))
                   for flow, variant, verdict, _steps, _allowed, blocked, unknown, reason, _variants, carried_by,
                   inert in traces_t]
    role_heads = [(kind, name, network_id, network_name, ssid, phase, notes, group_policy, via, assumed)
                  for kind, name, network_id, network_name, ssid, phase, _variants, notes, group_policy, via,
                  assumed, _without in roles_t]
    return (trace_heads, role_heads, nets_t, networks), tables[:8]


def decode(decoder: Decoder, servers: Sequence[Any], head: tuple, tables: bytes, load: Callable[[bytes], Any]
           ) -> list[tuple[int, NetworkModel, list[PathResult], list, list[str]]]:
    """The networks of a head as (position, network, paths, findings, refused), their traces and roles shells
    over `tables` (bytes that `load` opens into the tables of `split`)."""
    trace_heads, role_heads, nets_t, networks = head
    lazy = Tables(decoder, tables, load)
    traces = lazy.traces = LazyTrace.shells(lazy, trace_heads)
    roles = lazy.roles = [LazyRole.shell(lazy, *row) for row in role_heads]
    nets = [NetworkModel(net_id, name, org_id, products, tags, [roles[i] for i in role_refs], gaps)
            for net_id, name, org_id, products, tags, role_refs, gaps in nets_t]
    checks = decoder.checks
    out = []
    for position, net, paths, findings, refused in networks:
        for finding in findings:  # the catalogue's own entry, as for this process's findings
            finding.check = checks.get(finding.check.id, finding.check)
        out.append((position, nets[net], [PathResult(roles[role], servers[server], protocol, traces[trace])
                                          for role, server, protocol, trace in paths], findings, list(refused)))
    return out


def forget(path: PathResult) -> None:
    """Forget what was decoded of the tables behind a path (those of its network): read again, it is decoded
    again. Nothing for a path held as objects."""
    tables = getattr(path.trace, "_tables", None)
    if tables is not None:
        tables.forget()


class Spool:
    """Report text a process writes for the networks it audits while the audit runs (an unnamed temporary file:
    on disk, not in memory): the forked worker's is read here by spans. One writer per spool."""

    def __init__(self) -> None:
        # closed (and gone) with the last result that points into it: it outlives any one block
        self.file = tempfile.TemporaryFile()  # noqa: SIM115
        self.size = 0

    def append(self, text: str) -> tuple[int, int]:
        data = text.encode()
        view, start = memoryview(data), self.size
        while view:
            view = view[os.write(self.file.fileno(), view):]
        self.size += len(data)
        return start, len(data)

    def read(self, span: tuple[int, int]) -> str:
        start, length = span
        parts, done = [], 0
        while done < length:
            part = os.pread(self.file.fileno(), length - done, start + done)
            if not part:
                raise OSError(f"report spool ends at {start + done} of {start + length}")
            parts.append(part)
            done += len(part)
        return b"".join(parts).decode()


class Tables:
    """The tables behind one network's shells: decoded on first use, every trace's hops, packets and variants
    and every role's ways at once (they share hops and rules), into the shells; `forget` takes them out."""

    __slots__ = ("decoder", "filled", "load", "roles", "tables", "traces")

    def __init__(self, decoder: Decoder, tables: bytes, load: Callable[[bytes], Any]) -> None:
        self.decoder, self.tables, self.load = decoder, tables, load
        self.traces: list[LazyTrace] = []
        self.roles: list[LazyRole] = []
        self.filled = False

    def fill(self) -> None:
        if self.filled:
            return
        self.filled = True
        *objects_t, traces_t, roles_t = self.load(self.tables)
        packets, _origins, _rules, segments, hops, records = self.decoder.objects(tuple(objects_t))
        traces = self.traces
        for trace, (_flow, _variant, _verdict, steps, allowed, blocked, unknown, _reason, variants, _carried,
                    inert) in zip(traces, traces_t, strict=True):
            trace.hops = tuple([records[i] for i in steps])
            trace.allowed = packets[allowed]
            if blocked:
                trace.blocked = [(hops[h], segments[s]) for h, s in blocked]
            if unknown:
                trace.unknown = [(hops[h], segments[s]) for h, s in unknown]
            trace.variants = tuple([traces[i] for i in variants])
            if inert:
                trace.inert = tuple([(hops[h], segments[s]) for h, s in inert])
        for role, row in zip(self.roles, roles_t, strict=True):
            role.__dict__["variants"] = self.decoder.ways(row[6], hops)
            role.__dict__["without_assumed"] = self.decoder.ways(row[11], hops) if row[11] else []

    def forget(self) -> None:
        if not self.filled:
            return
        self.filled = False
        for trace in self.traces:
            del trace.hops, trace.allowed, trace.variants
            if trace.blocked is not NONE:
                del trace.blocked
            if trace.unknown is not NONE:
                del trace.unknown
            if trace.inert != ():
                del trace.inert
        for role in self.roles:
            del role.__dict__["variants"], role.__dict__["without_assumed"]


class LazyTrace(FlowTrace):
    """A FlowTrace whose hops, allowed packets and variants (and blocked, unknown and inert parts when it has
    them) are decoded when first read. A copy or pickle of it is a plain FlowTrace."""

    __slots__ = ("_tables",)
    _tables: Tables

    @classmethod
    def shells(cls, tables: Tables, heads: list[tuple]) -> list[LazyTrace]:
        """The traces of one network from their heads (a loop of its own: a large org has millions)."""
        out: list[LazyTrace] = []
        new, add = cls.__new__, out.append
        for flow, variant, verdict, reason, carried_by, blocked, unknown, inert in heads:
            trace = new(cls)
            trace.flow, trace.variant, trace.verdict, trace.reason, trace.carried_by, trace._tables = \
                flow, variant, verdict, reason, carried_by, tables
            if not blocked:
                trace.blocked = NONE
            if not unknown:
                trace.unknown = NONE
            if not inert:
                trace.inert = ()
            add(trace)
        return out

    def __getattr__(self, name: str) -> Any:  # only for a field not decoded now
        try:
            tables = object.__getattribute__(self, "_tables")
        except AttributeError:
            raise AttributeError(name) from None
        if tables.filled or name not in _LAZY_TRACE_FIELDS:
            raise AttributeError(name)
        tables.fill()
        return object.__getattribute__(self, name)

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return FlowTrace, tuple(getattr(self, f.name) for f in dataclasses.fields(FlowTrace))


_LAZY_TRACE_FIELDS = frozenset({"hops", "allowed", "blocked", "unknown", "variants", "inert"})


class LazyRole(Role):
    """A Role whose ways (variants) are decoded when first read (see LazyTrace)."""

    @classmethod
    def shell(cls, tables: Tables, kind: str, name: str, network_id: str | None, network_name: str | None,
              ssid: str | None, phase: str, notes: list[str], group_policy: str | None, via: str,
              assumed: list[str]) -> LazyRole:
        role = cls.__new__(cls)
        role.__dict__.update(kind=kind, name=name, network_id=network_id, network_name=network_name, ssid=ssid,
                             phase=phase, notes=notes, group_policy=group_policy, via=via, assumed=assumed,
                             _tables=tables)
        return role

    def __getattr__(self, name: str) -> Any:  # only for an attribute not in the instance
        tables = self.__dict__.get("_tables")
        if tables is None or tables.filled or name not in ("variants", "without_assumed"):
            raise AttributeError(name)
        tables.fill()
        return self.__dict__[name]

    def __reduce_ex__(self, protocol: Any) -> tuple:
        # typeshed leaves out copyreg.__newobj__, the constructor pickle itself uses for __reduce_ex__
        state = {f.name: getattr(self, f.name) for f in dataclasses.fields(Role)}
        return copyreg.__newobj__, (Role,), state  # type: ignore[attr-defined]
