"""A network's results held compact: what every report and the global checks read at once (its network, roles,
paths, each trace's flow, verdict and reason, its findings) as objects, the rest (hops, rules, packets, the
roles' ways) as the pickled tables of parallel._Encoder, decoded when first read and forgettable again.

The audit cache (auditor/cache.py) returns its hits this way, and the forked worker (auditor/parallel.py) its
networks: an org of 10,000 networks then holds about half of its results as tables of bytes. A writer that
reads a network's hops once (the JSON report) forgets them after the network (`forget`), so they are never all
decoded at once.
"""

from __future__ import annotations

import copyreg
import dataclasses
import errno
import functools
import os
import pickle
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Protocol

from auditor.checks import CheckMeta
from auditor.errors import AuditorError
from auditor.file_writes import write_fd
from auditor.model import Hop, NetworkModel, Origin, Role, Rule, RuleList
from auditor.packets import PacketSet
from auditor.trace import FlowTrace, PathResult

# Most traces block nothing and know nothing unknown: they share one empty list (never mutated), as in trace
NONE: list = []


class Decoder(Protocol):
    """What decoding a head needs (parallel._Decoder): the checks catalogue findings point to."""

    checks: dict[str, CheckMeta]


# The tables are pickled objects (parallel._TablePickler); these build what pickle's own reduction would not.

# Callers pass a class with an ignore: mypy checks a class against Hashable through the class's own __hash__
# (an unbound method of its instances), not its metaclass's, so it takes a class for unhashable.
@functools.cache
def field_names(cls: type) -> tuple[str, ...]:
    """A dataclass's fields by name (a hop's are its state: hops are dataclasses, some with slots)."""
    return tuple(f.name for f in dataclasses.fields(cls))


def packets(boxes: tuple, by_source: bool) -> PacketSet:
    return PacketSet(boxes, by_source=by_source)


def hop(kind: type[Hop], values: tuple) -> Hop:
    """A hop from its fields, without its __init__ (which may check or derive what it was built from)."""
    if not (isinstance(kind, type) and issubclass(kind, Hop)):
        raise pickle.UnpicklingError(f"{kind!r} is not a hop class")
    built = kind.__new__(kind)
    for name, value in zip(field_names(kind), values, strict=True):  # type: ignore[arg-type]  # slots or a __dict__
        object.__setattr__(built, name, value)
    return built


def rule_list(name: str, default: Rule, origin: Origin | None) -> RuleList:
    return RuleList.released(name, default, origin)


def shared(index: int) -> Any:
    """An object both processes hold (parallel._registry), by its index: `Loader` resolves it."""
    raise pickle.UnpicklingError("a shared object is read with compact.Loader")


BUILDERS = {"packets": packets, "hop": hop, "rule_list": rule_list}  # what a table may call (auditor/cache.py)


class Loader(pickle.Unpickler):
    """Reads a network's tables, objects both processes hold taken from this process's `registry`."""

    def __init__(self, file: BinaryIO, registry: Sequence[Any]) -> None:
        super().__init__(file)
        self.registry = registry

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "shared":
            return self.registry.__getitem__
        return super().find_class(module, name)


def decode(decoder: Decoder, servers: Sequence[Any], head: tuple, tables: bytes | None, load: Callable[[bytes], Any],
           rebuild: Callable[[Tables], tuple] | None = None
           ) -> list[tuple[int, NetworkModel, list[PathResult], list, list[str]]]:
    """The networks of a head as (position, network, paths, findings, refused), their traces and roles shells
    over `tables` (bytes that `load` opens into their traces' and roles' rows: parallel._Encoder), or with
    no tables over `rebuild`, which makes the rows again for the shells it is given."""
    trace_heads, role_heads, nets_t, networks = head
    lazy = Tables(tables, load, rebuild)
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


_NO_SENDFILE = frozenset({errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP})


class TextGone(AuditorError):
    """A network's report text that was kept elsewhere (the audit cache) is no longer there, or no longer the
    one its result was decoded from: the report renders the network instead. Raised before anything is
    written."""


class Text(Protocol):
    """A network's report text written before the report (json_report.network_text), for the report to copy."""

    def send(self, out_fd: int, skip: int = 0) -> bool:
        """Write it, from `skip` bytes in, to `out_fd`; False (nothing written) where `read` must be used."""

    def read(self) -> str: ...

    def keep(self, text: str) -> None:
        """The network's text, rendered by the report because this one was gone: kept for the next report."""


@dataclasses.dataclass(frozen=True, slots=True)
class SpoolText:
    """A network's text in a spool."""

    spool: Spool
    span: tuple[int, int]

    def send(self, out_fd: int, skip: int = 0) -> bool:
        return self.spool.send(self.span, out_fd, skip)

    def read(self) -> str:
        return self.spool.read(self.span)

    def keep(self, text: str) -> None:
        pass  # a spool's text is never gone


class Spool:
    """Report text a process writes for the networks it audits while the audit runs (an unnamed temporary file:
    on disk, not in memory): the forked worker's is read here by spans. One writer per spool."""

    def __init__(self) -> None:
        # closed (and gone) with the last result that points into it: it outlives any one block
        self.file = tempfile.TemporaryFile()  # noqa: SIM115
        self.size = 0

    def append(self, text: str) -> tuple[int, int]:
        data = text.encode()
        start = self.size
        write_fd(self.file.fileno(), data)
        self.size += len(data)
        return start, len(data)

    def send(self, span: tuple[int, int], out_fd: int, skip: int = 0) -> bool:
        """Write a span's bytes, from `skip` bytes in, to the file descriptor `out_fd` without reading them into
        this process (sendfile: the report copies a worker's gigabyte this way). False, with nothing written,
        where the descriptor takes no sendfile (a file opened to append, an old kernel): `read` then."""
        start, length = span
        offset, left = start + skip, length - skip
        while left > 0:
            try:
                sent = os.sendfile(out_fd, self.file.fileno(), offset, left)
            except OSError as exc:
                if offset == start + skip and exc.errno in _NO_SENDFILE:
                    return False
                raise
            if not sent:
                raise OSError(f"report spool ends at {offset} of {start + length}")
            offset += sent
            left -= sent
        return True

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

    __slots__ = ("filled", "load", "rebuild", "roles", "tables", "traces")

    def __init__(self, tables: bytes | None, load: Callable[[bytes], Any],
                 rebuild: Callable[[Tables], tuple] | None = None) -> None:
        self.tables, self.load, self.rebuild = tables, load, rebuild
        self.traces: list[LazyTrace] = []
        self.roles: list[LazyRole] = []
        self.filled = False

    def fill(self) -> None:
        if self.filled:
            return
        self.filled = True
        if self.tables is not None:
            traces_t, roles_t = self.load(self.tables)  # one pickle: objects the network shares stay shared
        elif self.rebuild is not None:
            try:
                traces_t, roles_t = self.rebuild(self)
            except BaseException:
                self.filled = False  # nothing was filled: asked again, it fails again rather than reading holes
                raise
        else:
            raise ValueError("a network's results came without their tables and without a way to rebuild them")
        traces = self.traces
        for trace, (hops, allowed, blocked, unknown, variants, inert) in zip(traces, traces_t, strict=True):
            trace.hops, trace.allowed = hops, allowed
            if blocked:
                trace.blocked = blocked
            if unknown:
                trace.unknown = unknown
            trace.variants = tuple([traces[i] for i in variants]) if variants else ()
            if inert:
                trace.inert = inert
        for role, (ways, without) in zip(self.roles, roles_t, strict=True):
            role.__dict__["variants"], role.__dict__["without_assumed"] = ways, without

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
