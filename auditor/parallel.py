"""Audit an org's networks in several processes: this one and forked workers, which hand their results back.

Networks are independent once the server side is built, so a worker (a fork: it inherits the model,
the server-side hops and the protocol catalogue) audits networks exactly as this process does. All of them
claim chunks of networks from a shared counter, so none idles while another still has work.

Pickling results the default way costs as much as auditing them (slots dataclasses reduce through Python
code, and a network's paths are hundreds of objects), so the worker writes each network as a head of plain
tuples and tables that `_TablePickler` pickles as each object's class and fields, read by a C getter
(`_Encoder`). This process keeps them compact (auditor/compact.py): what reports count (paths, verdicts,
reasons, findings) is decoded at once, the rest (hops, rules, packets: the same objects, shared as the worker
shared them) when something reads it, so half of a large org's results stay bytes until the report reads
them, a network at a time.
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
import io
import math
import multiprocessing
import operator
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Protocol

import zstandard

try:  # Unix only; the audit is serial where it is missing
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

from auditor import compact
from auditor.checks import Finding, load_checks
from auditor.errors import JobFailed, SnapshotError
from auditor.file_writes import write_fd
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
from auditor.vocab import Verdict

CHUNK = 8  # networks per claim (and per message): small enough to balance, large enough to be cheap
MIN_NETWORKS = 64  # below this, a second process costs more than it saves
SILENCE_LIMIT = 300.0  # seconds without a message after which a worker is taken as stuck

AuditOne = Callable[[NetworkModel], tuple[list[PathResult], list[Finding]]]
# A network built and audited again in this process from its place in the serial order: (network, paths,
# findings); the caller builds it on a model of its own, so the audit's model and gaps stay as they are.
Rebuild = Callable[[int], tuple[NetworkModel, list[PathResult], list[Finding]]]


@dataclass(slots=True)
class NetworkResult:
    position: int  # the network's place in a serial audit's order
    net: NetworkModel
    paths: list[PathResult]
    findings: list[Finding]
    refused: list[str] = field(default_factory=list)  # snapshot reads refused while building it
    by_worker: bool = False
    text: compact.Text | None = None  # its report text, written before the report, if it was
    reads: bytes | None = None  # a worker's network: the reads its audit recorded (WorkerReads), if it did


class WorkerReads(Protocol):
    """What the audit cache records of the snapshot reads a forked worker's audit made (auditor/cache.py), sent
    back with its results so that this process knows every network's reads, as it knows its own."""

    def begin(self) -> None:
        """In the worker, before its first network: what it reads from here on is its own."""

    def last(self) -> bytes | None:
        """In the worker, after a network's audit: the reads it recorded (None: not recorded)."""

    def outside(self) -> tuple[tuple, bool]:
        """In the worker, at its end: its reads outside any network, and whether one of them was not known."""

    def from_worker(self, outside: tuple, unknown: bool) -> None:
        """Here: a worker's `outside()`."""


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
                 network_text: Callable[[list[PathResult]], str] | None = None, workers: int = 2,
                 rebuild: Rebuild | None = None, reads: WorkerReads | None = None
                 ) -> tuple[list[NetworkResult], list[str]] | None:
    """Every network's result, in serial order, audited by this process and `workers - 1` forked workers, and
    reads refused after the last network; None when a worker could not be started or failed (the caller then
    audits serially). `server_hops` are the hops on the server side of every path (built before the forks);
    `expected` is how many networks the snapshot lists. Networks are released once audited. With
    `network_text` (a report's text of a network's paths), each process writes its networks' text as it goes,
    for the report to copy (NetworkResult.text). With `rebuild` (and `network_text`) too, a worker's network
    whose every trace is plainly allowed travels without its tables: few readers ask for them (checks look at
    what is blocked or unknown), and one that does gets them from `rebuild`, checked against what the worker
    sent (see _Decoder.rebuilt). With `reads`, each worker's network comes with the reads its audit recorded, and
    each worker's reads outside a network are handed to `reads.from_worker`."""
    load_checks()  # imported before the fork: a worker never imports (another thread may hold the lock)
    try:  # a shared counter needs a POSIX semaphore (/dev/shm), which some containers lack
        counter = multiprocessing.get_context("fork").Value("q", 0)
    except (OSError, ImportError):
        return None
    # a small org still gives every worker some networks
    chunk = max(1, min(CHUNK, expected // (32 * max(2, workers))))
    registry = _registry(model, server_hops)
    started: list[tuple[int, int, compact.Spool | None]] = []  # (pid, read end, spool) per worker
    plain_bare = network_text is not None and rebuild is not None
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
                _work(snapshot, model, claims, networks(claims), audit_one, registry, fd, written, plain_bare,
                      reads)

            forked = _fork(worker)
            if forked is None:
                break
            started.append((*forked, spool))
        helpers = [(pid, _Inbox(read_fd), _Decoder(registry, spool, network_text, rebuild, reads))
                   for pid, read_fd, spool in started]
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
            text = compact.SpoolText(own, own.append(network_text(paths))) \
                if own is not None and network_text is not None else None
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

    def first(self) -> Any:
        """The next message alone, waiting for it; None when the child ended without one."""
        return self.inbox.one() if self.inbox is not None else None

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
        for value in (getattr(hop, name) for name in compact.field_names(type(hop))):  # type: ignore[arg-type]
            if isinstance(value, Hop):
                stack.append(value)
            elif isinstance(value, list | tuple):
                stack.extend(v for v in value if isinstance(v, Hop))
    return objects


# ---------------------------------------------------------------------------------------------------------
# the worker


def _work(snapshot: Snapshot, model: Model, claims: _Claims, networks: Iterator[NetworkModel],
          audit_one: AuditOne, registry: list[Any], fd: int,
          written: tuple[compact.Spool, Callable[[list[PathResult]], str]] | None, plain_bare: bool = False,
          reads: WorkerReads | None = None) -> None:
    """Audit the networks claimed and send each one's head and tables (`plain_bare`: a network whose traces
    are all plainly allowed without its tables, which this process then need not release nor pickle), and with
    `reads` each one's recorded reads, then the worker's reads outside any network."""
    gc.set_threshold(50_000, 50, 100)  # nothing it makes outlives a chunk: no old generation to walk
    try:
        if reads is not None:
            reads.begin()
        encoder = _Encoder(registry)
        compressor = zstandard.ZstdCompressor(level=1)
        mark = len(snapshot.refused)
        # each network's head and tables (auditor/compact.py), where its report text is in the spool, its reads
        done: list[tuple[tuple, bytes | None, tuple[int, int] | None, bytes | None]] = []
        for net in networks:
            paths, findings = audit_one(net)
            recorded = reads.last() if reads is not None else None
            bare = plain_bare and all(map(_plain, paths))
            if not bare:
                net.release()  # before encoding: what is released (rows, memos) need not travel
            span = written[0].append(written[1](paths)) if written is not None else None
            result = NetworkResult(claims.position, net, paths, findings, _since(snapshot, mark))
            head, tables = (encoder.rows(result)[0], None) if bare else encoder.encode(result)
            # compressed: this process keeps them as bytes until a reader asks (most never do), 4-5 times
            # smaller (10,000 networks with the cache, which sends every network's: about 75 MB less); zstd
            # rather than zlib: a third of the time for the same size
            done.append((head, None if tables is None else compressor.compress(tables), span, recorded))
            model.networks.clear()  # the adapter keeps each network it builds; here, once sent, it is done
            mark = len(snapshot.refused)
            if len(done) >= claims.size:
                _send(fd, pickle.dumps(("results", done), protocol=pickle.HIGHEST_PROTOCOL))
                done = []
        if done:
            _send(fd, pickle.dumps(("results", done), protocol=pickle.HIGHEST_PROTOCOL))
        if reads is not None:
            _send(fd, pickle.dumps(("reads", *reads.outside()), protocol=pickle.HIGHEST_PROTOCOL))
        _send(fd, pickle.dumps(("done",), protocol=pickle.HIGHEST_PROTOCOL))
    except BaseException as exc:  # anything that stops the worker sends the caller serial
        _send(fd, pickle.dumps(("failed", repr(exc)), protocol=pickle.HIGHEST_PROTOCOL))
    finally:
        os.close(fd)


def _plain(path: PathResult) -> bool:
    """The path's trace, and each of its variants, allowed with nothing blocked, unknown or inert."""
    return _plain_trace(path.trace)


def _plain_trace(trace: FlowTrace) -> bool:
    return trace.verdict is _ALLOWED and not trace.blocked and not trace.unknown and not trace.inert and \
        all(map(_plain_trace, trace.variants))


def _send(fd: int, data: bytes) -> None:
    write_fd(fd, struct.pack("<Q", len(data)) + data)


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
                self._wait()
                taken, self.messages = self.messages, []
                ended = self.ended
            for message in taken:
                opened = self._open(message)
                if opened is not None:
                    yield opened
            if ended and not taken:
                return

    def _wait(self) -> None:
        """(With the lock held) until a message has come or the worker ended: a worker silent for SILENCE_LIMIT
        seconds fails."""
        waited = 0.0
        while not self.messages and not self.ended:
            if waited >= SILENCE_LIMIT:
                raise _WorkerFailed(f"no message from the worker for {SILENCE_LIMIT:.0f} s")
            self.arrived.wait(timeout=1.0)
            waited += 1.0

    def one(self) -> Any:
        """The next message alone (waiting for it as `rest` does); None when the worker ended without one."""
        while True:
            with self.lock:
                self._wait()
                if not self.messages:
                    return None
                body = self.messages.pop(0)
            opened = self._open(body)
            if opened is not None:
                return opened

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
# the compact form: per network, a head of plain tuples (what compact.decode builds at once) and the rest
# pickled as objects by `_TablePickler` (the results' own classes as their fields; auditor/compact.py)

_SEGMENT = operator.attrgetter("packets", "decision", "rule", "reason", "output")
_ROLE_HEAD = operator.attrgetter("kind", "name", "network_id", "network_name", "ssid", "phase", "notes",
                                 "group_policy", "via", "assumed")  # what compact.LazyRole.shell takes
_ALLOWED = Verdict.ALLOWED
_HOP_TRACE = operator.attrgetter("hop", "decision", "segments", "unknown_in")
_ORIGIN = operator.attrgetter("path", "index", "line")
_PACKETS = operator.attrgetter("boxes", "_by_source")
_RULE_LIST = operator.attrgetter("name", "default", "origin")  # released: what describes it
_VARIANT = operator.attrgetter(*compact.field_names(Variant))
_RULE = operator.attrgetter(*compact.field_names(Rule))
_Reduce = Callable[[Any], Any]


def _fields_of(cls: type) -> Callable[[Any], tuple]:
    """A C getter of a dataclass's fields as a tuple (attrgetter of one name gives the value itself)."""
    names = compact.field_names(cls)
    if len(names) > 1:
        return operator.attrgetter(*names)
    return lambda obj: tuple(getattr(obj, name) for name in names)


class _Reducers(dict[type, _Reduce | None]):
    """How `_TablePickler` writes an object of each class (None: as pickle does), found on first sight."""

    def __init__(self, shared: dict[int, int]) -> None:
        super().__init__()
        self.shared = shared

    def __missing__(self, kind: type) -> _Reduce | None:
        found = self[kind] = self._find(kind)
        return found

    def _find(self, kind: type) -> _Reduce | None:
        shared = self.shared
        if issubclass(kind, Hop):
            if not is_dataclass(kind):  # as it is, unless both processes hold it
                return lambda hop: (compact.shared, (i,)) if (i := shared.get(id(hop))) is not None else \
                    NotImplemented
            fields_of = _fields_of(kind)
            # built without its __init__ (compact.hop): a hop's fields are its state
            return lambda hop: (compact.shared, (i,)) if (i := shared.get(id(hop))) is not None else \
                (compact.hop, (kind, fields_of(hop)))
        if issubclass(kind, RuleList):  # audited and released: what describes it (a subclass too)
            return lambda rules: (compact.rule_list, (rules.name, rules.default, rules.origin))
        if (issubclass(kind, Rule) or kind is Variant) and all(f.init for f in fields(kind)):
            # a subclass (AssumedRule) travels as itself, with its own fields
            fields_of = _fields_of(kind)
            return lambda obj: (kind, fields_of(obj))
        return None


class _TablePickler(pickle.Pickler):
    """Pickles a network's tables. The results' own classes are written as their constructor and fields,
    read by a C getter (their default reduction walks slots through Python); pickle's memo keeps what the
    results share shared. Hops both processes hold travel as their index in the registry (compact.shared)."""

    def __init__(self, file: io.BytesIO, reducers: _Reducers) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.reducers = reducers

    def reducer_override(self, obj: Any) -> Any:
        # called once per object pickle has not written yet that is not a plain value
        kind = type(obj)
        if kind is Segment:  # the most numerous, with hop traces: no lookup
            return Segment, _SEGMENT(obj)
        if kind is HopTrace:
            return HopTrace, _HOP_TRACE(obj)
        if kind is PacketSet:
            return compact.packets, _PACKETS(obj)
        if kind is Origin:
            return Origin, _ORIGIN(obj)
        if kind is RuleList:
            return compact.rule_list, _RULE_LIST(obj)
        if kind is Variant:
            return Variant, _VARIANT(obj)
        if kind is Rule:
            return Rule, _RULE(obj)
        reduce = self.reducers[kind]
        return NotImplemented if reduce is None else reduce(obj)


class _Encoder:
    """A network's results as its head (plain tuples) and its tables (bytes), auditor/compact.py's form."""

    def __init__(self, registry: list[Any]) -> None:
        self.shared = {id(obj): i for i, obj in enumerate(registry)}
        # one pickler for every network: its memo, cleared after each, keeps the size it grew to
        self.buffer = io.BytesIO()
        self.pickler = _TablePickler(self.buffer, _Reducers(self.shared))

    def encode(self, result: NetworkResult) -> tuple[tuple, bytes]:
        """The head and the pickled tables of a network's result (compact.decode reads them)."""
        head, trace_rows, role_rows = self.rows(result)
        buffer = self.buffer
        buffer.seek(0)
        buffer.truncate()
        try:
            self.pickler.dump((trace_rows, role_rows))
        finally:
            self.pickler.clear_memo()  # it holds what it wrote: this network's results
        return head, buffer.getvalue()

    def rows(self, result: NetworkResult) -> tuple[tuple, list[tuple], list[tuple]]:
        """The head of a network's result and its tables' rows, not yet pickled (compact.Tables.fill reads
        them)."""
        self.memo: dict[int, int] = {}  # a network's roles and traces by id: its paths share them
        self.trace_heads: list[tuple] = []
        self.trace_rows: list[tuple] = []
        self.role_heads: list[tuple] = []
        self.role_rows: list[tuple] = []
        memo, shared = self.memo, self.shared
        paths = []
        for path in result.paths:
            role = memo.get(id(path.role))
            if role is None:
                role = self.role(path.role)
            trace = memo.get(id(path.trace))
            if trace is None:
                trace = self.trace(path.trace)
            paths.append((role, shared[id(path.server)], path.protocol, trace))
        net = result.net
        nets = [(net.id, net.name, net.org_id, net.product_types, net.tags, tuple(map(self.role, net.roles)),
                 net.gaps)]
        head = (self.trace_heads, self.role_heads, nets,
                [(result.position, 0, paths, result.findings, result.refused)])
        rows = self.trace_rows, self.role_rows
        del self.memo, self.trace_heads, self.trace_rows, self.role_heads, self.role_rows
        return head, *rows

    def trace(self, trace: FlowTrace) -> int:
        found = self.memo.get(id(trace))
        if found is not None:
            return found
        variants = tuple(map(self.trace, trace.variants)) if trace.variants else ()
        blocked, unknown, inert = trace.blocked, trace.unknown, trace.inert
        index = self.memo[id(trace)] = len(self.trace_heads)
        self.trace_heads.append((trace.flow, trace.variant, trace.verdict, trace.reason, trace.carried_by,
                                 bool(blocked), bool(unknown), bool(inert)))
        # Most traces block nothing, know everything and have one variant: empty parts as ()
        self.trace_rows.append((trace.hops, trace.allowed, blocked or (), unknown or (), variants, inert or ()))
        return index

    def role(self, role: Role) -> int:
        found = self.memo.get(id(role))
        if found is not None:
            return found
        index = self.memo[id(role)] = len(self.role_heads)
        self.role_heads.append(_ROLE_HEAD(role))
        self.role_rows.append((role.variants, role.without_assumed))
        return index


class _Decoder:
    """A worker's networks from its messages, with shared objects (servers, server-side hops) taken from
    this process's registry."""

    def __init__(self, registry: list[Any], spool: compact.Spool | None = None,
                 network_text: Callable[[list[PathResult]], str] | None = None, rebuild: Rebuild | None = None,
                 reads: WorkerReads | None = None) -> None:
        self.registry = registry
        self.reads = reads
        self.spool = spool  # where the worker writes its networks' report text, if it does
        self.network_text, self.rebuild = network_text, rebuild
        self.checks = {meta.id: meta for meta, _run in load_checks()}
        self.decompressor = zstandard.ZstdDecompressor()

    def decode(self, message: tuple) -> list[NetworkResult]:
        """A worker's networks, held compact: what reports count decoded now, their hops, rules and packets
        when first read (auditor/compact.py). About half of a large org's results then stay bytes."""
        out: list[NetworkResult] = []
        if message[0] == "reads":  # the worker's reads outside any network, after its last network
            if self.reads is None:
                raise _WorkerFailed("a worker sent reads this process did not ask for")
            self.reads.from_worker(message[1], message[2])
            return out
        for head, tables, span, recorded in message[1]:
            text = compact.SpoolText(self.spool, span) if self.spool is not None and span is not None else None
            (position, _net, _paths, findings, _refused), = head[3]  # a worker's head holds one network
            rebuilt = None if tables is not None else functools.partial(self.rebuilt, position, span, findings)
            out.extend(NetworkResult(position, net, paths, findings, refused, by_worker=True, text=text,
                                     reads=recorded)
                       for position, net, paths, findings, refused in
                       compact.decode(self, self.registry, head, tables, self.load, rebuilt))
        return out

    def rebuilt(self, position: int, span: tuple[int, int] | None, findings: list[Finding], shells: compact.Tables
                ) -> tuple[list[tuple], list[tuple]]:
        """The rows of a network the worker sent without its tables, from the network built and audited
        again here, after checking that it is the network the worker audited: the same traces (flow,
        variant, verdict, reason, carrier; nothing blocked, unknown or inert), the same roles, the same
        report text and findings. A snapshot that changed since stops the audit (SnapshotError): the
        report would otherwise mix two readings of it."""
        if self.rebuild is None or self.network_text is None or self.spool is None or span is None:
            raise _WorkerFailed("a network came without its tables, and this process cannot rebuild them")
        net, paths, found = self.rebuild(position)
        head, trace_rows, role_rows = _Encoder(self.registry).rows(NetworkResult(position, net, paths, found, []))
        trace_heads, role_heads = head[0], head[1]
        same = (len(trace_heads) == len(shells.traces) and len(role_heads) == len(shells.roles)
                and all(h[:5] == (t.flow, t.variant, t.verdict, t.reason, t.carried_by) and not any(h[5:])
                        for h, t in zip(trace_heads, shells.traces, strict=True))
                and all(h == _ROLE_HEAD(r) for h, r in zip(role_heads, shells.roles, strict=True))
                and [f.to_json() for f in found] == [f.to_json() for f in findings]
                and self.network_text(paths) == self.spool.read(span))
        if not same:
            raise SnapshotError(f"network {net.name} ({net.id})", "its files changed while the audit ran: "
                                "audit the snapshot again once it is complete")
        return trace_rows, role_rows

    def load(self, tables: bytes) -> Any:
        return compact.Loader(io.BytesIO(self.decompressor.decompress(tables)), self.registry).load()
