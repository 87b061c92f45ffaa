"""Audit an org's networks in several processes: this one and forked workers, which hand their results back.

Networks are independent once the server side is built, so a worker (a fork: it inherits the model,
the server-side hops and the protocol catalogue) audits networks exactly as this process does. All of them
claim chunks of networks from a shared counter, so none idles while another still has work.

Pickling results as objects costs as much as auditing them (slots dataclasses pickle through Python
code, and a network's paths are hundreds of objects), so the worker writes them as tables of plain tuples
(`_Encoder`), which C pickles fast, one network's at a time. This process keeps them compact
(auditor/compact.py): what reports count (paths, verdicts, reasons, findings) is decoded at once, the rest
(hops, rules, packets: the same objects, rebuilt by `_Decoder`) when something reads it, so half of a large
org's results stay bytes until the report reads them, a network at a time.
What both processes hold from before the fork (servers, server-side hops) travels as an index, so
identity-based grouping (a finding per deciding hop) still sees one object. Results are the serial
audit's: same paths, findings and order (tests compare the two reports byte for byte).

Any failure (no fork on this platform, a worker that dies, malformed input) returns None and the caller
audits serially, which then raises the error a serial audit raises.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import math
import multiprocessing
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

try:  # Unix only; the audit is serial where it is missing
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from auditor import compact
from auditor.checks import Finding, load_checks
from auditor.errors import JobFailed
from auditor.model import (
    Hop,
    Model,
    NetworkModel,
    Origin,
    Role,
    Rule,
    RuleList,
    Segment,
    Variant,
)
from auditor.packets import PacketSet
from auditor.snapshot import Snapshot
from auditor.trace import FlowTrace, HopTrace, PathResult

CHUNK = 8  # networks per claim (and per message): small enough to balance, large enough to be cheap
MIN_NETWORKS = 64  # below this, a second process costs more than it saves
SILENCE_LIMIT = 300.0  # seconds without a message after which a worker is taken as stuck

AuditOne = Callable[[NetworkModel], tuple[list[PathResult], list[Finding]]]


@dataclass(slots=True)
class NetworkResult:
    position: int  # the network's place in a serial audit's order
    net: NetworkModel
    paths: list[PathResult]
    findings: list[Finding]
    refused: list[str] = field(default_factory=list)  # snapshot reads refused while building it
    by_worker: bool = False
    text: tuple[compact.Spool, tuple[int, int]] | None = None  # where its report text was written, if it was


def worth_forking() -> bool:
    return sys.platform.startswith("linux") and (os.cpu_count() or 1) > 1 and "fork" in \
        multiprocessing.get_all_start_methods()


MAX_WORKERS = 8  # processes an audit uses unless told: past this, reading the files and this process's own
# share of the checks and report bound the time, and each worker holds a chunk's working state


def default_workers() -> int:
    """Processes for an audit where none is asked for: one per CPU this process may use, up to MAX_WORKERS;
    one where the machine cannot fork."""
    return min(usable_cpus(), MAX_WORKERS) if worth_forking() else 1


def usable_cpus(quota_file: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may run on: its affinity mask, or fewer where a cgroup v2 quota (a container's
    `--cpus`) allows fewer; the kernel would otherwise spread the workers over time slices of the same CPUs."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = quota_file.read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError, ZeroDivisionError):
        pass  # no cgroup v2 quota to read: the mask stands
    return max(1, cpus)


class _Claims:
    """Which networks this process audits: chunks of consecutive networks, taken from a counter the
    two processes share. Both walk the networks in the same order and ask for a chunk when they pass the end
    of their last one, so every chunk is claimed exactly once and each claim is at or past the asker."""

    def __init__(self, counter: Any, size: int) -> None:
        self.counter = counter
        self.size = size
        self.position = -1
        self.chunk = -1

    def __call__(self, _net: NetworkModel | None = None) -> bool:
        self.position += 1
        wanted = self.position // self.size
        while self.chunk < wanted:
            with self.counter.get_lock():
                self.chunk = self.counter.value
                self.counter.value += 1
        return self.chunk == wanted


def audit_forked(snapshot: Snapshot, model: Model, server_hops: list[Hop], expected: int,
                 networks: Callable[[Callable[[NetworkModel], bool]], Iterator[NetworkModel]],
                 audit_one: AuditOne, network_done: Callable[[], None],
                 network_text: Callable[[list[PathResult]], str] | None = None, workers: int = 2
                 ) -> tuple[list[NetworkResult], list[str]] | None:
    """Every network's result, in serial order, audited by this process and `workers - 1` forked workers, and
    reads refused after the last network; None when a worker could not be started or failed (the caller then
    audits serially). `server_hops` are the hops on the server side of every path (built before the forks);
    `expected` is how many networks the snapshot lists. Networks are released once audited. With
    `network_text` (a report's text of a network's paths), each process writes its networks' text as it goes,
    for the report to copy (NetworkResult.text)."""
    load_checks()  # imported before the fork: a worker never imports (another thread may hold the lock)
    try:  # a shared counter needs a POSIX semaphore (/dev/shm), which some containers lack
        counter = multiprocessing.get_context("fork").Value("q", 0)
    except (OSError, ImportError):
        return None
    # a small org still gives every worker some networks
    chunk = max(1, min(CHUNK, expected // (32 * max(2, workers))))
    registry = _registry(model, server_hops)
    started: list[tuple[int, int, compact.Spool | None]] = []  # (pid, read end, spool) per worker
    helpers: list[tuple[int, _Inbox, _Decoder]] = []
    results: list[NetworkResult] = []
    try:
        # Every worker is forked before any inbox thread starts: a fork copies only the forking thread.
        for _ in range(max(1, workers - 1)):
            # one spool per worker: each has one writer, and this process reads a worker's spans from its own
            spool = compact.Spool() if network_text is not None else None
            written = (spool, network_text) if spool is not None and network_text is not None else None

            def worker(fd: int, written: tuple[compact.Spool, Callable[[list[PathResult]], str]] | None = written
                       ) -> None:
                for _pid, earlier, _spool in started:  # earlier workers' read ends are this process's alone
                    os.close(earlier)
                claims = _Claims(counter, chunk)
                _work(snapshot, model, claims, networks(claims), audit_one, registry, fd, written)

            forked = _fork(worker)
            if forked is None:
                break
            started.append((*forked, spool))
        helpers = [(pid, _Inbox(read_fd), _Decoder(registry, spool)) for pid, read_fd, spool in started]
        if not helpers:
            return None
        own = compact.Spool() if network_text is not None else None
        claims = _Claims(counter, chunk)
        # Reads refused while a network is built (the generator advancing to it) or audited are its own.
        mark = len(snapshot.refused)
        for net in networks(claims):
            paths, findings = audit_one(net)
            net.release()
            # this process's networks' report text too, while they are fresh: the report then only copies
            text = (own, own.append(network_text(paths))) if own is not None and network_text is not None else None
            results.append(NetworkResult(claims.position, net, paths, findings, _since(snapshot, mark), text=text))
            network_done()
            for _pid, inbox, decoder in helpers:
                for message in inbox.ready():
                    results.extend(decoder.decode(message))
                    network_done()
            mark = len(snapshot.refused)
        trailing = _since(snapshot, mark)
        for _pid, inbox, decoder in helpers:
            for message in inbox.rest():
                results.extend(decoder.decode(message))
                network_done()
    except Exception:  # a worker failed or went silent, or this process's networks failed: a serial
        _stop_all(started)  # audit says which error comes first
        return None
    except BaseException:
        _stop_all(started)
        raise
    finally:
        for _pid, inbox, _decoder in helpers:
            inbox.close()
    failed = False
    for pid, inbox, _decoder in helpers:
        _, status = os.waitpid(pid, 0)
        failed = failed or status != 0 or not inbox.finished
    if failed:
        return None
    results.sort(key=lambda r: r.position)
    return results, trailing


def _stop_all(started: list[tuple[int, int, compact.Spool | None]]) -> None:
    for pid, _read_fd, _spool in started:
        _stop(pid)


_RULE_FIELDS = len(fields(Rule))


# Callers pass a class with an ignore: mypy checks a class against Hashable through the class's own __hash__
# (an unbound method of its instances), not its metaclass's, so it takes a class for unhashable.
@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A hop class's state: its dataclass fields (hops are dataclasses, some with slots)."""
    return tuple(f.name for f in fields(cls))


def _fork(child: Callable[[int], None]) -> tuple[int, int] | None:
    """A forked child running `child(fd)`, fd the write end of a pipe, and never returning into the caller's
    stack: its pid and the pipe's read end here; None where the fork is refused."""
    read_fd, write_fd = os.pipe()
    _widen(write_fd)
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return None
    if pid == 0:
        os.close(read_fd)
        status = 1
        try:
            _quiet_stdout()  # the report may be going to stdout: nothing of the child's may land in it
            child(write_fd)
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    return pid, read_fd


def _widen(fd: int) -> None:
    """A pipe of 1 MiB rather than 64 KiB: a message (a few hundred KiB) then goes in at once, where a narrow
    pipe stopped the worker until the inbox thread, which waits for this process's GIL, emptied it."""
    with contextlib.suppress(AttributeError, OSError):  # F_SETPIPE_SZ is Linux's; a limit may refuse it
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)


def _quiet_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)


def _since(snapshot: Snapshot, count: int) -> list[str]:
    return list(snapshot.refused)[count:] if len(snapshot.refused) != count else []


def _stop(pid: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class _WorkerFailed(JobFailed):
    """A forked worker died or sent no results."""


class ForkedStream:
    """`work(send)` run in a forked child while this process goes on: each `send(message)` (a picklable tuple)
    arrives here through `ready()` (what has come so far) and `rest()` (the rest, until the child ends).
    A child that raises, or is silent for SILENCE_LIMIT seconds, makes either raise JobFailed; one that dies
    ends `rest()` with `finished` False. `started` is False where no child could be forked."""

    def __init__(self, work: Callable[[Callable[[tuple], None]], None]) -> None:
        self.pid = 0
        self.inbox: _Inbox | None = None

        def child(fd: int) -> None:
            gc.disable()  # it lives for one piece of work: nothing it makes needs collecting

            def send(message: tuple) -> None:
                _send(fd, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

            try:
                work(send)
                send(("done",))
            except Exception as exc:
                send(("failed", repr(exc)))

        forked = _fork(child)
        if forked is not None:
            self.pid, read_fd = forked
            self.inbox = _Inbox(read_fd)

    @property
    def started(self) -> bool:
        return self.inbox is not None

    @property
    def finished(self) -> bool:
        return self.inbox is not None and self.inbox.finished

    def ready(self) -> list[Any]:
        return self.inbox.ready() if self.inbox is not None else []

    def rest(self) -> Iterator[Any]:
        if self.inbox is not None:
            yield from self.inbox.rest()

    def close(self) -> None:
        if self.inbox is None:
            return
        if self.inbox.finished:
            os.waitpid(self.pid, 0)
        else:
            _stop(self.pid)
        self.inbox.close()
        self.inbox = None


def _registry(model: Model, server_hops: list[Hop]) -> list[Any]:
    """Objects both processes hold from before the fork that results point to: servers and the hops in
    front of them (with the hops they wrap). They travel as their index in this list."""
    objects: list[Any] = list(model.servers)
    seen: set[int] = set()
    stack = list(server_hops)
    while stack:
        hop = stack.pop()
        if id(hop) in seen:
            continue
        seen.add(id(hop))
        objects.append(hop)
        for value in (getattr(hop, name) for name in _field_names(type(hop))):  # type: ignore[arg-type]
            if isinstance(value, Hop):
                stack.append(value)
            elif isinstance(value, list | tuple):
                stack.extend(v for v in value if isinstance(v, Hop))
    return objects


# ---------------------------------------------------------------------------------------------------------
# the worker


def _work(snapshot: Snapshot, model: Model, claims: _Claims, networks: Iterator[NetworkModel],
          audit_one: AuditOne, registry: list[Any], fd: int,
          written: tuple[compact.Spool, Callable[[list[PathResult]], str]] | None) -> None:
    gc.set_threshold(50_000, 50, 100)  # nothing it makes outlives a chunk: no old generation to walk
    try:
        encoder = _Encoder(registry)
        mark = len(snapshot.refused)
        # each network's head and tables (auditor/compact.py), and where its report text is in the spool
        done: list[tuple[tuple, bytes, tuple[int, int] | None]] = []
        for net in networks:
            paths, findings = audit_one(net)
            net.release()  # before encoding: what is released (rows, memos) need not travel
            span = written[0].append(written[1](paths)) if written is not None else None
            encoder.add(NetworkResult(claims.position, net, paths, findings, _since(snapshot, mark)))
            head, tables = compact.split(encoder.take_tables())
            done.append((head, pickle.dumps(tables, protocol=pickle.HIGHEST_PROTOCOL), span))
            model.networks.clear()  # the adapter keeps each network it builds; here, once sent, it is done
            mark = len(snapshot.refused)
            if len(done) >= claims.size:
                _send(fd, pickle.dumps(("results", done), protocol=pickle.HIGHEST_PROTOCOL))
                done = []
        if done:
            _send(fd, pickle.dumps(("results", done), protocol=pickle.HIGHEST_PROTOCOL))
        _send(fd, pickle.dumps(("done",), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # anything that stops the worker sends the caller serial
        _send(fd, pickle.dumps(("failed", repr(exc)), protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        os.close(fd)


def _send(fd: int, data: bytes) -> None:
    view = memoryview(struct.pack("<Q", len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class _Inbox:
    """Messages from the worker, read by a thread as they arrive so the worker never waits on a full pipe
    while this process audits (reading releases the GIL)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.messages: list[bytes] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.ended = False
        self.finished = False
        self.thread = threading.Thread(target=self._read, name="vpn-auditor-inbox", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while True:
                head = self._exactly(8)
                if head is None:
                    break
                body = self._exactly(struct.unpack("<Q", head)[0])
                if body is None:
                    break
                with self.lock:
                    self.messages.append(body)
                    self.arrived.notify()
        finally:
            with self.lock:
                self.ended = True
                self.arrived.notify()

    def _exactly(self, size: int) -> bytes | None:
        parts: list[bytes] = []
        while size:
            part = os.read(self.fd, min(size, 1 << 20))
            if not part:
                return None
            parts.append(part)
            size -= len(part)
        return b"".join(parts)

    def ready(self) -> list[Any]:
        with self.lock:
            taken, self.messages = self.messages, []
        return [opened for m in taken if (opened := self._open(m)) is not None]

    def rest(self) -> Iterator[Any]:
        """The messages still to come, until the worker ends. A worker silent for SILENCE_LIMIT seconds is
        taken as stuck (a chunk takes well under a second): the caller then audits serially."""
        while True:
            with self.lock:
                waited = 0.0
                while not self.messages and not self.ended:
                    if waited >= SILENCE_LIMIT:
                        raise _WorkerFailed(f"no message from the worker for {SILENCE_LIMIT:.0f} s")
                    self.arrived.wait(timeout=1.0)
                    waited += 1.0
                taken, self.messages = self.messages, []
                ended = self.ended
            for message in taken:
                opened = self._open(message)
                if opened is not None:
                    yield opened
            if ended and not taken:
                return

    def _open(self, body: bytes) -> Any:
        message = pickle.loads(body)
        if message[0] == "done":
            self.finished = True
            return None
        if message[0] == "failed":
            raise _WorkerFailed(message[1])
        return message

    def close(self) -> None:
        self.thread.join(timeout=5)
        with contextlib.suppress(OSError):
            os.close(self.fd)


# ---------------------------------------------------------------------------------------------------------
# the compact form: one table of tuples per kind of object, references being indexes into another table
# (or, for hops and traces, which point to their own kind, into an earlier row of theirs)

_SHARED, _LOCAL, _OBJECT = range(3)  # a hop: held by both processes, built here, or pickled as it is
# hop attribute values: as they are, a table reference, a (released) rule list, rule lists by name
_AS_IS, _PACKETS, _ORIGIN, _RULE_REF, _HOP_REF, _RULE_LIST, _RULE_LISTS = range(7)


_PLAIN = frozenset({str, int, bool, float, type(None)})  # exactly these types: a subclass is looked at


class _Encoder:
    """Networks' results as one message. Objects are keyed by id while encoded, so the results are kept
    alive until the message is taken (an id freed and reused would otherwise alias two objects)."""

    def __init__(self, registry: list[Any]) -> None:
        self.shared = {id(obj): i for i, obj in enumerate(registry)}
        self._reset()

    def _reset(self) -> None:
        # packets, origins, rules, segments, hops, hop traces, flow traces, roles, networks
        self.tables: tuple[list[tuple], ...] = tuple([] for _ in range(9))
        self.memo: dict[int, int] = {}
        self.networks: list[tuple] = []
        self.alive: list[NetworkResult] = []
        self.count = 0

    def take(self) -> bytes:
        return pickle.dumps(self.take_tables(), protocol=pickle.HIGHEST_PROTOCOL)

    def take_tables(self) -> tuple:
        """The message as tables of tuples (what `take` pickles); the encoder starts afresh."""
        message = ("results", self.tables, self.networks)
        self._reset()
        return message

    def add(self, result: NetworkResult) -> None:
        self.alive.append(result)
        memo, shared = self.memo, self.shared
        paths = []
        for path in result.paths:  # a network's paths share roles and traces: looked up here, encoded once
            role = memo.get(id(path.role))
            if role is None:
                role = self.role(path.role)
            trace = memo.get(id(path.trace))
            if trace is None:
                trace = self.trace(path.trace)
            paths.append((role, shared[id(path.server)], path.protocol, trace))
        self.networks.append((result.position, self.network(result.net), paths, result.findings, result.refused))
        self.count += 1

    def _put(self, obj: Any, table: list[tuple], row: tuple) -> int:
        index = self.memo[id(obj)] = len(table)
        table.append(row)
        return index

    def packets(self, packets: PacketSet) -> int:
        found = self.memo.get(id(packets))
        if found is not None:
            return found
        return self._put(packets, self.tables[0], packets.state())

    def origin(self, origin: Origin | None) -> int | None:
        if origin is None:
            return None
        found = self.memo.get(id(origin))
        if found is not None:
            return found
        return self._put(origin, self.tables[1], (origin.path, origin.index, origin.line))

    def rule(self, rule: Rule | None) -> int | None:
        if rule is None:
            return None
        found = self.memo.get(id(rule))
        if found is not None:
            return found
        kind = type(rule)  # a subclass (AssumedRule) travels as itself, with its own fields
        extra = None if kind is Rule else \
            (kind, tuple(getattr(rule, name) for name in _field_names(kind)[_RULE_FIELDS:]))  # type: ignore[arg-type]
        row = (rule.position, rule.action, self.packets(rule.match), rule.text, rule.comment,
               self.origin(rule.origin), rule.certain, rule.reason, rule.synthetic, extra)
        return self._put(rule, self.tables[2], row)

    def segment(self, seg: Segment) -> int:
        # The most numerous object: its packets and rule are looked up here; a call only encodes a new one.
        memo = self.memo
        found = memo.get(id(seg))
        if found is not None:
            return found
        ref = memo.get(id(seg.packets))
        if ref is None:
            ref = self.packets(seg.packets)
        rule = seg.rule
        rule_ref = None if rule is None else memo.get(id(rule))
        if rule_ref is None and rule is not None:
            rule_ref = self.rule(rule)
        output = None if seg.output is None else self.packets(seg.output)
        table = self.tables[3]
        index = memo[id(seg)] = len(table)
        table.append((ref, seg.decision, rule_ref, seg.reason, output))
        return index

    def hop(self, hop: Hop) -> int:
        found = self.memo.get(id(hop))
        if found is not None:
            return found
        shared = self.shared.get(id(hop))
        if shared is not None:
            return self._put(hop, self.tables[4], (_SHARED, shared))
        if not is_dataclass(hop):
            return self._put(hop, self.tables[4], (_OBJECT, hop))
        value = self._value
        state = tuple([(name, value(getattr(hop, name))) for name in _field_names(type(hop))])  # type: ignore[arg-type]
        return self._put(hop, self.tables[4], (_LOCAL, type(hop), state))

    def _value(self, value: Any) -> tuple:
        if type(value) in _PLAIN:  # most of a hop's fields (device, stage, notes): none of the kinds below
            return (_AS_IS, value)
        if isinstance(value, Hop):
            return (_HOP_REF, self.hop(value))
        if isinstance(value, PacketSet):
            return (_PACKETS, self.packets(value))
        if isinstance(value, Origin):
            return (_ORIGIN, self.origin(value))
        if isinstance(value, Rule):
            return (_RULE_REF, self.rule(value))
        if isinstance(value, RuleList):  # audited and released: what describes it
            return (_RULE_LIST, value.name, self.rule(value.default), self.origin(value.origin))
        if isinstance(value, dict) and value and all(isinstance(v, RuleList) for v in value.values()):
            return (_RULE_LISTS, tuple((k, self._value(v)) for k, v in value.items()))
        return (_AS_IS, value)

    def hop_trace(self, record: HopTrace) -> int:
        memo = self.memo
        found = memo.get(id(record))
        if found is not None:
            return found
        hop = record.hop
        hop_ref = memo.get(id(hop))
        if hop_ref is None:
            hop_ref = self.hop(hop)
        segments = record.segments
        if len(segments) == 1:  # most hops decide a flow with one rule
            seg = segments[0]
            found = memo.get(id(seg))
            refs: tuple = (found if found is not None else self.segment(seg),)
        else:
            refs = tuple([self.segment(seg) for seg in segments])
        row = (hop_ref, record.decision, refs, record.unknown_in)
        table = self.tables[5]
        index = memo[id(record)] = len(table)
        table.append(row)
        return index

    def trace(self, trace: FlowTrace) -> int:
        memo = self.memo
        found = memo.get(id(trace))
        if found is not None:
            return found
        hop_trace = self.hop_trace
        allowed = memo.get(id(trace.allowed))
        if allowed is None:
            allowed = self.packets(trace.allowed)
        # Most traces block nothing, know everything and have one variant: no generator for empty parts.
        # records are shared by the traces of a network: most are encoded already (looked up here, not in a call)
        row = (trace.flow, trace.variant, trace.verdict,
               tuple([ref if (ref := memo.get(id(record))) is not None else hop_trace(record)
                      for record in trace.hops]),
               allowed, self._found(trace.blocked) if trace.blocked else (),
               self._found(trace.unknown) if trace.unknown else (), trace.reason,
               tuple(map(self.trace, trace.variants)) if trace.variants else (), trace.carried_by,
               self._found(trace.inert) if trace.inert else ())
        table = self.tables[6]
        index = memo[id(trace)] = len(table)
        table.append(row)
        return index

    def _found(self, where: Sequence[tuple[Hop, Segment]]) -> tuple:
        return tuple((self.hop(hop), self.segment(seg)) for hop, seg in where)

    def role(self, role: Role) -> int:
        found = self.memo.get(id(role))
        if found is not None:
            return found
        row = (role.kind, role.name, role.network_id, role.network_name, role.ssid, role.phase,
               self._variants(role.variants), role.notes, role.group_policy, role.via, role.assumed,
               self._variants(role.without_assumed) if role.without_assumed else ())
        return self._put(role, self.tables[7], row)

    def _variants(self, variants: list[Variant]) -> tuple:
        memo, hop = self.memo, self.hop  # a network's roles share most hops: looked up here, not in a call
        return tuple([(v.label, v.addresses, tuple([ref if (ref := memo.get(id(h))) is not None else hop(h)
                                                    for h in v.hops]), v.ends_at_server, v.vlan, v.cases)
                      for v in variants])

    def network(self, net: NetworkModel) -> int:
        row = (net.id, net.name, net.org_id, net.product_types, net.tags, tuple(map(self.role, net.roles)),
               net.gaps)
        return self._put(net, self.tables[8], row)


class _Decoder:
    """The objects an `_Encoder` message describes, with shared ones (servers, server-side hops) taken from
    this process. Each table is rebuilt in one comprehension, in dependency order."""

    def __init__(self, registry: list[Any], spool: compact.Spool | None = None) -> None:
        self.registry = registry
        self.spool = spool  # where the worker writes its networks' report text, if it does
        self.checks = {meta.id: meta for meta, _run in load_checks()}

    def decode(self, message: tuple) -> list[NetworkResult]:
        """A worker's networks, held compact: what reports count decoded now, their hops, rules and packets
        when first read (auditor/compact.py). About half of a large org's results then stay bytes."""
        out: list[NetworkResult] = []
        for head, tables, span in message[1]:
            text = (self.spool, span) if self.spool is not None and span is not None else None
            out.extend(NetworkResult(position, net, paths, findings, refused, by_worker=True, text=text)
                       for position, net, paths, findings, refused in
                       compact.decode(self, self.registry, head, tables, pickle.loads))
        return out

    @staticmethod
    def ways(variants: tuple, hops: list[Hop]) -> list[Variant]:
        return [Variant(label, addresses, [hops[i] for i in way], ends, vlan=vlan, cases=cases)
                for label, addresses, way, ends, vlan, cases in variants]

    def objects(self, tables: tuple) -> tuple[list, list, list, list, list[Hop], list[HopTrace]]:
        """Packets, origins, rules, segments, hops and hop traces from their tables, in dependency order."""
        packets_t, origins_t, rules_t, segments_t, hops_t, records_t = tables
        packets = [PacketSet.from_state(state) for state in packets_t]
        origins = [Origin(path, index, line) for path, index, line in origins_t]
        rules = [Rule(position, action, packets[match], text, comment, None if origin is None else origins[origin],
                      certain, reason, synthetic) if extra is None else
                 extra[0](position, action, packets[match], text, comment,
                          None if origin is None else origins[origin], certain, reason, synthetic, *extra[1])
                 for position, action, match, text, comment, origin, certain, reason, synthetic, extra in rules_t]
        segments = [Segment(packets[p], decision, None if rule is None else rules[rule], reason,
                            None if output is None else packets[output])
                    for p, decision, rule, reason, output in segments_t]
        tables = (packets, origins, rules)
        hops: list[Hop] = []
        for row in hops_t:  # a hop may wrap an earlier one
            if row[0] == _SHARED:
                hops.append(self.registry[row[1]])
            elif row[0] == _OBJECT:
                hops.append(row[1])
            else:
                hop = row[1].__new__(row[1])
                for name, value in row[2]:  # slots or a __dict__, whichever the class has
                    object.__setattr__(hop, name, _value(value, tables, hops))
                hops.append(hop)
        records = [HopTrace(hops[hop], decision, tuple([segments[i] for i in segs]), unknown_in)
                   for hop, decision, segs, unknown_in in records_t]
        return packets, origins, rules, segments, hops, records


def _value(value: tuple, tables: tuple[list, ...], hops: list[Hop]) -> Any:
    kind = value[0]
    if kind == _AS_IS:
        return value[1]
    if kind == _HOP_REF:
        return hops[value[1]]
    if kind == _RULE_LIST:
        _, name, default, origin = value
        _, origins, rules = tables
        return RuleList.released(name, rules[default], None if origin is None else origins[origin])
    if kind == _RULE_LISTS:
        return {name: _value(v, tables, hops) for name, v in value[1]}
    return tables[kind - _PACKETS][value[1]]  # packets, origin or rule

