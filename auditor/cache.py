"""The audit cache (`audit --cache DIR`): each network's results, reused while nothing they depend on changed.

A network's paths and findings are a function of what its audit read: its own files, the org-level files
its adapter consulted, everything read before networks stream (devices, DNS answers, the org's lists),
audit.yaml, the rules catalogue and the tool's code. The snapshot tells this module of every read
(`Snapshot.observer`), so each entry records the files its network read (with a digest of their bytes) and
a digest of everything read before it; the key namespace holds the rest (cache format, tool version and a
digest of the code and catalogue, Python version, audit.yaml as loaded).

An audit first walks the networks without building any (`_plan`): each one whose entry exists, whose
earlier reads digest the same and whose own files are unchanged is a hit, decoded from the entry; the
others are audited as without a cache (serially or by forked workers, auditor/parallel.py) and their
entries written. Results are merged in the serial order, so the report is the one an audit without the
cache writes (tests/test_cache.py compares them byte for byte).

An unchanged file is told by its status (device, inode, size, modification and change times) when those
are older than the read by STAT_SLACK_NS (a file written within a timestamp's granularity of its read could
change unseen, as git's "racily clean" index entries can); otherwise its bytes are read and hashed again.

Entries are the compact form the forked worker sends (parallel._Encoder), behind a magic, a format number
and a checksum, written to a temporary file and renamed into place. An entry that is missing, truncated,
corrupt, of another format, or that names a class outside the audit's model is a miss, and rewritten.

An audit that writes the JSON report (run_audit `network_text`) also keeps each network's part of that report
beside its entry (ENTRY.json: the entry's checksum, then the text as a zstd frame with its size and checksum),
written when the network is audited, or by the report when it had to render a hit's text (the first JSON
report after audits that wrote none). A later report copies a hit's text instead of rendering its paths again;
a text that is missing, of another entry, truncated or damaged is rendered again (compact.TextGone) and
rewritten.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib.metadata
import io
import json
import multiprocessing
import os
import pickle
import re
import secrets
import shutil
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import zstandard

from auditor import __version__, compact
from auditor.errors import JobFailed
from auditor.file_writes import write_fd
from auditor.model import Model, NetworkModel
from auditor.parallel import (
    MIN_NETWORKS,
    ForkedStream,
    NetworkResult,
    _Decoder,
    _Encoder,
    _registry,
    worth_forking,
)
from auditor.plugins import Registry, installed
from auditor.snapshot import InputError, Snapshot, SnapshotError

FORMAT = 3  # 2: tables pickled as objects (parallel._TablePickler); 3: the reads pickled apart
MAGIC = b"vpn-auditor audit cache\n"
TEXT_MAGIC = b"vpn-auditor report text\n"
TEXT_MAX = 1 << 30  # a network's report text larger than this (as its frame says) is rendered, not decompressed
_OPEN_TEXT = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
STAT_SLACK_NS = 2_000_000_000  # files changed this close to their read are hashed again (timestamp granularity)
CHECK_CHUNK = 64  # entries a process claims at a time to check their files
CHECK_APART_MIN = MIN_NETWORKS  # hits from which a forked child checks their files (below, a fork costs more)
UNUSED_DAYS = 30  # a namespace (tool version, audit.yaml) unused this long is removed when another is opened
_DIGEST = 16
DISTRIBUTION = "vpn-path-auditor"  # pyproject.toml's name: its requirements' versions are in the key

Stream = Callable[[Model, Callable[[NetworkModel], bool] | None], Iterator[NetworkModel]]
AuditOne = Callable[[NetworkModel], tuple[list, list]]
# Audits the networks a stream yields (with a `take` of its own, as parallel.audit_forked does, or serially):
# (stream, how many networks it will yield, audit one) -> their results, positions counted among them.
Runner = Callable[[Callable[[Callable[[NetworkModel], bool] | None], Iterator[NetworkModel]], int, AuditOne],
                  list[NetworkResult]]


def default_dir() -> Path:
    """The user's cache directory for vpn-auditor (XDG on Linux, Library/Caches on macOS, LOCALAPPDATA)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "vpn-auditor" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "vpn-auditor"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache") / "vpn-auditor"


def cache_dir(value: str | Path) -> Path:
    """`--cache` as a directory: "auto" is the user's cache directory (a folder named auto: ./auto)."""
    return default_dir() if str(value) == "auto" else Path(value)


@cache
def code_digest() -> str:
    """The tool's code and rules catalogue (every file of auditor/ and rules/ as installed: code, the report
    templates, data) and the versions of the packages it runs on (a parser or graph library's release may read
    or order differently): an edited checkout, a rule added or a dependency upgraded never reuses what another
    build computed, whatever __version__ says."""
    import rules

    digest = hashlib.blake2b(digest_size=_DIGEST)
    for package in (Path(__file__).parent, Path(rules.__file__).parent):
        _digest_tree(digest, package, package.parent)
    for name, version in _dependency_versions():
        digest.update(f"{name}=={version}\0".encode())
    return digest.hexdigest()


def _digest_tree(digest: Any, top: Path, relative_to: Path) -> None:
    """Every file under `top` (a folder, or one file), named relative to `relative_to`; bytecode left out."""
    for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
        if "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo") or not path.is_file():
            continue
        digest.update(f"{path.relative_to(relative_to).as_posix()}\0".encode())
        digest.update(hashlib.blake2b(path.read_bytes(), digest_size=_DIGEST).digest())


def _dependency_versions() -> list[tuple[str, str | None]]:
    """(name, installed version) of each package this distribution requires outside its extras; [] when it runs
    from a tree pip did not install (its metadata is absent)."""
    try:
        required = importlib.metadata.requires(DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    out: list[tuple[str, str | None]] = []
    for requirement in required:
        if "extra ==" in requirement.replace('"', "").replace("'", ""):
            continue
        name = re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0]
        try:
            out.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            out.append((name, None))
    return sorted(out, key=lambda pair: pair[0].lower())


def vendors_digest(registry: Registry) -> str:
    """The vendors installed for this audit: which adapter reads which folder, and the code of each vendor that
    lives outside auditor/ (one added through `auditor.plugins.install`: its top-level package, or its module
    file), which code_digest does not see. A vendor whose code has no file to read makes the digest unique to
    this process, so nothing is reused for it."""
    own = Path(__file__).resolve().parent
    digest = hashlib.blake2b(digest_size=_DIGEST)
    roots: set[Path] = set()
    for vendor in registry.vendors:
        extras = [part for part in (vendor.planner, vendor.scope, vendor.server_hints) if part is not None]
        digest.update(repr((vendor.name, sorted((folder, _name_of(cls)) for folder, cls in vendor.adapters.items()),
                            [_name_of(part) for part in extras])).encode())
        for part in [*vendor.adapters.values(), *extras]:
            root = _code_root(_module_of(part))
            if root is None or not (root.is_dir() or root.is_file()):  # no file, or one inside a zip or egg
                digest.update(secrets.token_bytes(16))
            elif own not in root.parents and root != own:
                roots.add(root)
    for root in sorted(roots):
        _digest_tree(digest, root, root.parent)
    return digest.hexdigest()


def _callee(part: Any) -> Any:
    """What a vendor's callable runs: a functools.partial's function, a callable object's class."""
    while isinstance(part, functools.partial):
        part = part.func
    return part if isinstance(part, type) or hasattr(part, "__qualname__") else type(part)


def _name_of(part: Any) -> str:
    callee = _callee(part)
    return f"{getattr(callee, '__module__', None)}.{getattr(callee, '__qualname__', repr(callee))}"


def _module_of(part: Any) -> str:
    return str(getattr(_callee(part), "__module__", None) or "")


def _code_root(module_name: str) -> Path | None:
    """The folder of the top-level package `module_name` belongs to, or its file for a lone module; None when
    there is no file to read."""
    top = sys.modules.get(module_name.partition(".")[0]) if module_name else None
    file = getattr(top, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    return path.parent if path.name == "__init__.py" else path


def _digest(value: Any) -> bytes:
    if isinstance(value, bytes):
        return hashlib.blake2b(value, digest_size=_DIGEST).digest()
    return hashlib.blake2b(repr(value).encode(), digest_size=_DIGEST).digest()


def _stable(value: Any) -> Any:
    """A value as plain data whose repr does not depend on the process: sets sorted, dataclasses by the fields
    they compare (a field with compare=False, such as when something was collected, decides nothing)."""
    if isinstance(value, dict):
        return ("dict", tuple((_stable(k), _stable(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_stable(v) for v in value)
    if isinstance(value, set | frozenset):
        return ("set", tuple(sorted(repr(_stable(v)) for v in value)))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__qualname__, tuple(_stable(getattr(value, f.name))
                                                for f in dataclasses.fields(value) if f.compare))
    return value


def _view_digest(value: Any) -> bytes:
    """The digest of what a reader took from a file. Plain JSON data (an org's uplink statuses: tens of thousands
    of items, read several times) is serialised by orjson, in C; anything else (sets, dataclasses, keys that
    are not strings) as `_stable` gives it. A prefix keeps the two forms apart."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATACLASS)
        if b"null" in text:  # orjson writes NaN and infinities as null too: where a null is, ask json (in C)
            json.dumps(value, allow_nan=False)
        return _digest(b"j" + text)
    except (TypeError, ValueError):  # a set, a dataclass, a key that is not a string, a big int, NaN
        return _digest(b"r" + repr(_stable(value)).encode())


def _stat_key(status: os.stat_result | None, now: int) -> tuple | None:
    """A file's status, when old enough to stand for its content next time (see STAT_SLACK_NS)."""
    if status is None or max(status.st_mtime_ns, status.st_ctime_ns) > now - STAT_SLACK_NS:
        return None
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


class _Recorder:
    """The snapshot's observer: reads outside any network go into one running digest (what every later
    network depends on); reads while a network is built and audited are that network's own dependencies."""

    def __init__(self) -> None:
        self.shared = hashlib.blake2b(digest_size=_DIGEST)
        self.window: dict[tuple[str, str], tuple] | None = None
        # The reads that readers keep (Snapshot.kept), for their rereads: only those, not every file an org's
        # networks read (a quarter of a million at 10,000 networks, about 100 MB held to the end)
        self.seen: dict[str, tuple] = {}
        self.last: tuple | None = None  # the last file read, which a `kept` for it puts in `seen`
        self.unknown = False  # the open window depends on something not recorded: its entry is not written
        self.pending: tuple | None = None  # the last read outside a network, not yet in `shared`
        # Every read outside a network as the check `_unchanged` makes of it (a file, never what a reader took
        # of it): with the hits' own, what a whole report depends on (auditor/report_memo.py)
        self.outside: list[tuple] = []
        self.outside_unknown = False  # a reread outside a network of a file not known to be read

    def __call__(self, kind: str, rel: str, value: Any, status: os.stat_result | None = None) -> None:
        if kind == "view":  # what a reader took from the file it just read: outside a network, instead of it
            if self.window is None and self.pending is not None and self.pending[:2] == ("file", rel):
                self.pending = ("view", rel, _view_digest(value), None)
            return
        if kind == "kept":
            if self.last is not None and self.last[1] == rel:
                self.seen[rel] = self.last
            return
        if kind == "reread":
            event = self.seen.get(rel)
            if event is None:  # handed out but not known to be read here: what it depends on is not known
                self.unknown = True
                if self.window is None:
                    self.outside_unknown = True
                return
        elif kind == "file":
            event = self.last = ("file", rel, b"" if value is None else _digest(value),
                                 _stat_key(status, time.time_ns()))
        else:
            event = (kind, rel, _digest(value), None)
        if self.window is not None:
            self.window.setdefault(event[:2], event)
        else:
            self._flush()
            self.pending = event  # held until the next event: a view of it may replace it
            self.outside.append(event)

    def _flush(self) -> None:
        if self.pending is not None:
            self.shared.update(repr(self.pending[:3]).encode())
            self.pending = None

    def state(self) -> bytes:
        self._flush()
        return self.shared.copy().digest()


@dataclasses.dataclass(slots=True)
class _Entry:
    """A hit's entry: what decoding its result needs."""

    head: bytes
    tables: bytes
    refused: list[str]
    digest: bytes  # the entry's checksum: its report text names it
    before: bytes  # the digest of what was read before its network when it was written
    deps: bytes = b""  # the reads its network made (as `_unchanged` checks them), pickled


@dataclasses.dataclass(slots=True)
class _Planned:
    identity: tuple  # (org id, network id, name, product types, tags) as networks.json gives them
    before: bytes  # the digest of everything read before the network (in a serial audit's order)
    refused_at: int  # how many reads the walk had refused before it (folder listings between networks)
    entry: _Entry | None = None  # its entry, when it is a hit


@dataclasses.dataclass(slots=True)
class Stats:
    hits: int = 0
    misses: int = 0
    written: int = 0
    unreadable: int = 0  # entries found corrupt, truncated or of another format (then rewritten)
    checked_apart: int = 0  # hits a forked child looked up (and checked the files of) for this process
    verified: int = 0  # hits (looked up here) whose files a report memo's check had just found unchanged
    missed: list[str] = dataclasses.field(default_factory=list)  # ids of the networks audited, in order
    # Every read of the audit so far when all its networks were hits (AuditCache.run_deps), for a report memo
    run_deps: Callable[[], list[bytes] | None] | None = dataclasses.field(default=None, repr=False, compare=False)


class AuditCache:
    """One audit's use of a cache directory. `watch` before the snapshot is first read; `audit` for the
    networks."""

    def __init__(self, directory: Path, config_json: str) -> None:
        self.root = directory / f"v{FORMAT}"
        self.config_json = config_json
        self.namespace = ""
        self.folder = self.root
        self.recorder = _Recorder()
        self.stats = Stats()
        self._made: set[str] = set()  # entry folders made (or found) by this audit
        self._encoder: _Encoder | None = None
        self._registry: list[Any] = []
        self._plan: list[_Planned] = []
        self._windows: dict[int, int] = {}  # this process's open window: position -> refused count at its start
        self._walk_refused: list[str] = []
        self._walk_gaps: list = []
        self._decoder: _Decoder | None = None
        # Whether a forked child may check the hits' files while this process decodes them (`--workers 1`: no)
        self.forks = True
        self._candidates: list[tuple[int, _Planned]] = []  # networks whose entries may be hits, by position
        self._claims: Any = None  # the counter of chunks of them claimed (a shared multiprocessing Value)
        # The JSON report's text of a network's paths (json_report.network_text), when the audit writes that
        # report: kept beside each entry written, copied by the report for each hit
        self.network_text: Callable[[list], str] | None = None
        self._rendered: tuple[list, str] | None = None  # the last network's paths and text, rendered by _store
        self._texts: dict[int, KeptText] = {}  # the texts this process kept, by network position
        # The reads of each network audited and written an entry for, by position: this process's as it recorded
        # them, a forked worker's as the worker sent them (WorkerReads)
        self._stored: dict[int, bytes] = {}
        self._last: bytes | None = None  # the reads of the network _store just wrote the entry of
        self._outside_from = 0  # in a forked worker: where its own reads outside a network start
        self._early: ForkedStream | None = None  # the child checking hits' files from the audit's start
        # Networks' reads (pickled, as entries keep them) that a report memo's check found unchanged just before
        # this audit (auditor/report_memo.py): an entry with those reads needs no check of its files again
        self.verified: set[bytes] = set()

    # -- setup ---------------------------------------------------------------------------------------------
    def watch(self, snapshot: Snapshot) -> None:
        """Key the cache and observe the snapshot's reads."""
        self.key(snapshot)
        snapshot.observer = self.recorder
        self.stats.run_deps = self.run_deps

    def key(self, snapshot: Snapshot) -> None:
        """The namespace of this tool, audit.yaml and the snapshot's file cap (which decides what is read)."""
        key = hashlib.blake2b(repr((FORMAT, __version__, code_digest(), vendors_digest(installed()),
                                    sys.implementation.name, sys.version_info[:2], self.config_json,
                                    snapshot.max_file_bytes)).encode(), digest_size=_DIGEST)
        self.namespace = key.hexdigest()
        self.folder = self.root / self.namespace

    def _prepare(self) -> None:
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise InputError(f"--cache {self.root.parent}: cannot use it as a cache directory "
                             f"({exc.strerror or exc})") from None
        with contextlib.suppress(OSError):
            os.utime(self.folder)  # in use: not pruned
        self._prune()

    def _prune(self) -> None:
        """Namespaces nobody used for UNUSED_DAYS (an old tool version, a changed audit.yaml) are removed."""
        limit = time.time() - UNUSED_DAYS * 86400
        with contextlib.suppress(OSError):
            for folder in os.scandir(self.root):
                if folder.name != self.namespace and folder.is_dir(follow_symlinks=False) and \
                        folder.stat(follow_symlinks=False).st_mtime < limit:
                    shutil.rmtree(folder.path, ignore_errors=True)

    # -- checking hits from the start ----------------------------------------------------------------------
    def start_checks(self, snapshot: Snapshot, model: Model, stream: Stream) -> None:
        """Fork the child that checks the hits' files now, before this process reads the devices and the
        org's files that come before the networks (the NAT files of every MX: a second at 10,000 networks):
        it walks the networks itself (which needs none of those) and starts on its chunks of candidates.
        `_hits` takes it on when its walk lists the same candidates, else stops it. A no-op with one process."""
        if not self.forks or not worth_forking():
            return
        claims = _shared_counter()
        if claims is None:
            return
        scratch = dataclasses.replace(model, networks=[], gaps=list(model.gaps))
        self._claims = claims
        child = ForkedStream(lambda send: self._check_from_start(snapshot, scratch, stream, send))
        if child.started:
            self._early = child
        else:
            self._claims = None

    def _check_from_start(self, snapshot: Snapshot, model: Model, stream: Stream,
                          send: Callable[[tuple], None]) -> None:
        """(In the forked child) the walk, its candidates' digest for this process to compare with its own,
        then the candidates' chunks it claims, checked."""
        self._plan = self._walk(snapshot, model, stream)
        snapshot.observer = None  # checking an entry is no read of the audit's
        send(("candidates", _candidates_digest(self._candidates)))
        if len(self._candidates) >= CHECK_APART_MIN:
            self._check_apart(snapshot, self._candidates, send)

    def stop_checks(self) -> None:
        """Stop the child of `start_checks` if it is still there (the audit ended before its hits)."""
        early, self._early = self._early, None
        if early is not None:
            early.close()
            self._claims = None

    def _checking_child(self, snapshot: Snapshot, candidates: list[tuple[int, _Planned]]) -> ForkedStream | None:
        """The child that checks the hits' files with this process: the one forked at the start when it walked
        the same candidates, else one forked now (None: none, or too few candidates to be worth one)."""
        early, self._early = self._early, None
        if early is not None:
            try:
                agrees = early.first() == ("candidates", _candidates_digest(candidates))
            except JobFailed:
                agrees = False
            if agrees and len(candidates) >= CHECK_APART_MIN:
                return early  # it has claimed chunks from the shared counter since the start
            early.close()
            self._claims = None
        if not (self.forks and len(candidates) >= CHECK_APART_MIN and worth_forking()):
            return None
        self._claims = _shared_counter()
        if self._claims is None:
            return None
        child = ForkedStream(lambda send: self._check_apart(snapshot, candidates, send))
        if not child.started:
            self._claims = None
            return None
        return child

    # -- the audit -----------------------------------------------------------------------------------------
    def audit(self, snapshot: Snapshot, model: Model, server_hops: list, stream: Stream, audit_one: AuditOne,
              network_done: Callable[[], None], run: Runner) -> list[NetworkResult]:
        """Every network's result in serial order: hits decoded from the cache, the others audited by `run`
        and written to it. model.networks and snapshot.refused end as a serial audit leaves them."""
        self._prepare()
        self._registry = _registry(model, server_hops)
        self._encoder = _Encoder(self._registry)
        networks, refused = len(model.networks), dict(snapshot.refused)
        self._plan = self._walk(snapshot, model, stream)
        results = self._hits(snapshot, network_done)
        hits = {r.position for r in results}
        misses = [position for position in range(len(self._plan)) if position not in hits]
        self.stats.hits, self.stats.misses = len(hits), len(misses)
        self.stats.missed = [self._plan[position].identity[1] for position in misses]

        def pending(take: Callable[[NetworkModel], bool] | None) -> Iterator[NetworkModel]:
            return stream(model, _Misses(self, snapshot, hits, take))

        def audit_and_store(net: NetworkModel) -> tuple[list, list]:
            paths, findings = audit_one(net)
            net.release()
            self._store(snapshot, net, paths, findings)
            return paths, findings

        del model.networks[networks:]
        if misses:
            audited = run(pending, len(misses), audit_and_store)
        else:  # the walk went through the same lists without building a network: what it noted stands
            audited = []
            model.gaps[:] = self._walk_gaps
        for result in audited:  # positions among the misses -> positions among all networks
            result.position = misses[result.position]
            if result.by_worker and result.reads is not None:  # the reads of the entry the worker wrote
                self._stored[result.position] = result.reads
        self.texts_kept(audited)
        results.extend(audited)
        results.sort(key=lambda r: r.position)
        model.networks[networks:] = [r.net for r in results]
        walked = 0  # refused between networks (by the walk, in order), then each network's own
        for result in results:
            upto = self._plan[result.position].refused_at
            refused.update(dict.fromkeys(self._walk_refused[walked:upto]))
            walked = max(walked, upto)
            refused.update(dict.fromkeys(result.refused))
        refused.update(dict.fromkeys(self._walk_refused[walked:]))
        refused.update(snapshot.refused)
        snapshot.refused = refused
        return results

    def run_deps(self) -> list[bytes] | None:
        """Every read the audit made so far, as pickled tuples (`deps_of` reads them): those outside the networks,
        and each network's own, a hit's as its entry lists them, an audited network's as this process recorded
        them in the entry it wrote (here, or in a forked worker, which sent them). None when a network's reads are
        not known (reading something not recorded, so no entry was written), or a read outside the networks is
        not (here or in a worker)."""
        if not self._plan or self.recorder.outside_unknown:
            return None
        parts = [pickle.dumps(tuple(dict.fromkeys(self.recorder.outside)), protocol=pickle.HIGHEST_PROTOCOL)]
        for position, item in enumerate(self._plan):
            own = item.entry.deps if item.entry is not None else self._stored.get(position)
            if own is None:
                return None
            parts.append(own)
        return parts

    def _walk(self, snapshot: Snapshot, model: Model, stream: Stream) -> list[_Planned]:
        """The networks in scope, in order, none built, each with the digest of what was read before it and
        its entry when that is a hit."""
        planned: list[_Planned] = []

        def take(net: NetworkModel) -> bool:
            planned.append(_Planned((net.org_id, net.id, net.name, tuple(net.product_types), tuple(net.tags)),
                                    self.recorder.state(), len(snapshot.refused) - len(refused)))
            return False

        scratch = dataclasses.replace(model, networks=[], gaps=list(model.gaps))
        refused = dict(snapshot.refused)
        for _net in stream(scratch, take):
            pass
        self._walk_refused = list(snapshot.refused)[len(refused):]
        self._walk_gaps = scratch.gaps
        snapshot.refused = refused
        counts: dict[tuple, int] = {}
        for item in planned:
            counts[item.identity[:2]] = counts.get(item.identity[:2], 0) + 1
        # a network listed twice is audited every time
        self._candidates = [(position, item) for position, item in enumerate(planned)
                            if counts[item.identity[:2]] == 1]
        return planned

    def _hits(self, snapshot: Snapshot, network_done: Callable[[], None]) -> list[NetworkResult]:
        """The networks whose entries are hits, decoded. Reading an entry and checking its network's files (an
        lstat per file and folder) is most of a warm audit: a forked child shares it, claiming chunks of
        entries from a counter both processes share, and sends the hits it found; this process decodes them
        with its own. What a child that failed did not report is checked here."""
        candidates = self._candidates
        results: list[NetworkResult] = []
        done: set[int] = set()  # positions looked up, here or by the child
        # Checking an entry is not a read of the audit's: unobserved, and what it notes is forgotten
        observer, snapshot.observer = snapshot.observer, None
        oversized = dict(snapshot.oversized)
        child = None
        try:
            child = self._checking_child(snapshot, candidates)
            try:
                for start in self._claimed(len(candidates)):
                    for position, item in candidates[start:start + CHECK_CHUNK]:
                        done.add(position)
                        self._hit(results, position, item, self._lookup(snapshot, item, check_files=True),
                                  network_done)
                    for message in child.ready() if child is not None else ():
                        self._from_child(message, results, done, network_done)
                for message in child.rest() if child is not None else ():
                    self._from_child(message, results, done, network_done)
                if child is not None and not child.finished:
                    raise JobFailed("the file-checking child ended without finishing")
            except JobFailed:  # the child died or failed: what it did not report is checked here
                for position, item in candidates:
                    if position not in done:
                        done.add(position)
                        self._hit(results, position, item, self._lookup(snapshot, item, check_files=True),
                                  network_done)
        finally:
            if child is not None:
                child.close()
            self._claims = None
            snapshot.observer, snapshot.oversized = observer, oversized
        return results

    def _hit(self, results: list[NetworkResult], position: int, item: _Planned, entry: _Entry | None,
             network_done: Callable[[], None]) -> None:
        if entry is None:
            return
        try:
            result = self._decode(position, entry)
            if self.network_text is not None:
                result.text = KeptText(self._text_path(item.identity), entry.digest, self._made)
            results.append(result)
            item.entry = entry
        except Exception:  # an entry that passed its checksum but does not decode: audited instead
            self.stats.unreadable += 1
        network_done()

    def _from_child(self, message: tuple, results: list[NetworkResult], done: set[int],
                    network_done: Callable[[], None]) -> None:
        if message[0] == "unreadable":
            self.stats.unreadable += message[1]
            return
        for position, found in message[1]:
            done.add(position)
            item = self._plan[position]
            # the child checked the files; what was read before the network is this process's to compare
            if found is not None and found[4] == item.before:
                self.stats.checked_apart += 1
                self._hit(results, position, item, _Entry(*found), network_done)

    def _check_apart(self, snapshot: Snapshot, candidates: list[tuple[int, _Planned]],
                     send: Callable[[tuple], None]) -> None:
        """(In the forked child) the chunks of candidates it claims, each looked up and its files checked,
        sent as (position, (head, tables, refused) of a hit or None)."""
        for start in self._claimed(len(candidates)):
            found = []
            for position, item in candidates[start:start + CHECK_CHUNK]:
                entry = self._lookup(snapshot, item, check_files=True, check_before=False)
                found.append((position, None if entry is None else
                              (entry.head, entry.tables, entry.refused, entry.digest, entry.before, entry.deps)))
            send(("entries", found))
        send(("unreadable", self.stats.unreadable))

    def _claimed(self, count: int) -> Iterator[int]:
        """Starts of the chunks of candidates this process takes, from the counter both processes share (all of
        them without one)."""
        claims = self._claims
        if claims is None:
            yield from range(0, count, CHECK_CHUNK)
            return
        while True:
            with claims.get_lock():
                start = claims.value
                claims.value = start + CHECK_CHUNK
            if start >= count:
                return
            yield start

    # -- entries -------------------------------------------------------------------------------------------
    def _path(self, identity: tuple) -> Path:
        name = hashlib.blake2b(repr(identity[:2]).encode(), digest_size=_DIGEST).hexdigest()
        return self.folder / name[:2] / name

    def _text_path(self, identity: tuple) -> str:
        return f"{self._path(identity)}.json"

    def report_text(self, paths: list) -> str:
        """`network_text` for the audit's runner: the text _store rendered for these paths, not rendered again."""
        rendered, self._rendered = self._rendered, None
        if rendered is not None and rendered[0] is paths:
            return rendered[1]
        assert self.network_text is not None
        return self.network_text(paths)

    def texts_kept(self, results: list[NetworkResult]) -> None:
        """Results audited here without report text get the text their entry keeps (a serial audit's)."""
        for result in results:
            if result.text is None:
                result.text = self._texts.get(result.position)
        self._texts = {}

    def _lookup(self, snapshot: Snapshot, item: _Planned, check_files: bool, check_before: bool = True
                ) -> _Entry | None:
        """The network's entry if it is a hit: its own, made after the same earlier reads (unless not
        `check_before`: the caller compares them), and (with `check_files`) its files unchanged."""
        read = self._read_entry(self._path(item.identity))
        if read is None:
            return None
        body, digest = read
        try:
            identity, before, deps, head, tables, refused = body
            if not isinstance(deps, bytes):
                raise TypeError(deps)
        except (TypeError, ValueError):
            self.stats.unreadable += 1
            return None
        if identity != item.identity or (check_before and before != item.before):
            return None
        if check_files and self.verified and deps in self.verified:  # (a set's lookup hashes the 3 kB key)
            self.stats.verified += 1
        elif check_files:
            try:
                reads = deps_of(deps)
            except Exception:  # a class outside the model, or any malformed pickle: a miss, never trusted
                self.stats.unreadable += 1
                return None
            if not _unchanged(snapshot, reads):
                return None
        return _Entry(head, tables, refused, digest, before, deps)

    def _read_entry(self, path: Path) -> tuple[Any, bytes] | None:
        """An entry's content and checksum, when it is whole and of this format (None otherwise)."""
        try:
            with open(path, "rb", buffering=0) as handle:
                data = handle.readall()
        except OSError:
            return None
        head = len(MAGIC) + 1
        digest = hashlib.blake2b(data[head + _DIGEST:], digest_size=_DIGEST).digest()
        if len(data) < head + _DIGEST or data[:len(MAGIC)] != MAGIC or data[len(MAGIC)] != FORMAT or \
                digest != data[head:head + _DIGEST]:
            self.stats.unreadable += 1
            return None
        try:
            return _load(data[head + _DIGEST:]), digest
        except Exception:  # a class outside the model, or any malformed pickle: a miss, never trusted
            self.stats.unreadable += 1
            return None

    def _decode(self, position: int, entry: _Entry) -> NetworkResult:
        """A hit's result: its network, roles, paths and findings now; what the traces passed through (hops,
        rules, packets) when something first reads it (auditor/compact.py)."""
        if self._decoder is None:
            self._decoder = _Decoder(self._registry)
        (_position, net, paths, findings, _refused), = compact.decode(
            self._decoder, self._registry, _load(entry.head), entry.tables, self._open_tables)
        return NetworkResult(position, net, paths, findings, list(entry.refused))

    def _open_tables(self, data: bytes) -> Any:
        return _load(zlib.decompress(data), self._registry)

    # -- a forked worker's reads (parallel.WorkerReads) ----------------------------------------------------------
    def begin(self) -> None:
        self._outside_from = len(self.recorder.outside)

    def last(self) -> bytes | None:
        last, self._last = self._last, None
        return last

    def outside(self) -> tuple[tuple, bool]:
        return tuple(dict.fromkeys(self.recorder.outside[self._outside_from:])), self.recorder.outside_unknown

    def from_worker(self, outside: tuple, unknown: bool) -> None:
        """A worker's reads outside any network (the walk here made the same, which the worker repeats; any other
        is checked too): a report memo then rests on them as well."""
        self.recorder.outside.extend(outside)
        self.recorder.outside_unknown = self.recorder.outside_unknown or unknown

    def _open(self, snapshot: Snapshot, position: int) -> None:
        self.recorder.window, self.recorder.unknown = {}, False
        self._windows = {position: len(snapshot.refused)}

    def _store(self, snapshot: Snapshot, net: NetworkModel, paths: list, findings: list) -> None:
        """Write a network's entry (after its audit and release); a failure to write only loses the entry."""
        window, self.recorder.window = self.recorder.window, None
        windows, self._windows = self._windows, {}
        self._last = None
        if window is None or not windows:
            return
        (position, mark), = windows.items()
        # a network audited again (a forked audit that failed, then a serial one): only this audit's reads stand
        self._stored.pop(position, None)
        if self.recorder.unknown:
            return
        item = self._plan[position]
        if item.identity[:2] != (net.org_id, net.id):
            return
        refused = list(snapshot.refused)[mark:]
        assert self._encoder is not None
        try:
            deps = pickle.dumps(tuple(window.values()), protocol=pickle.HIGHEST_PROTOCOL)
            head, tables = self._encoder.encode(NetworkResult(0, net, paths, findings, refused))
            body = pickle.dumps((item.identity, item.before, deps,
                                 pickle.dumps(head, protocol=pickle.HIGHEST_PROTOCOL), zlib.compress(tables, 1),
                                 refused),
                                protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # something in the results that does not pickle: audited every time
            self._encoder = _Encoder(self._registry)
            return
        digest = hashlib.blake2b(body, digest_size=_DIGEST).digest()
        _write_atomic(self._path(item.identity), MAGIC + bytes([FORMAT]) + digest + body, self._made)
        self.stats.written += 1
        self._stored[position] = self._last = deps
        if self.network_text is not None:
            text = self.network_text(paths)
            self._rendered = (paths, text)  # the runner's report_text takes it from here
            kept = self._texts[position] = KeptText(self._text_path(item.identity), digest, self._made)
            kept.keep(text)


@dataclasses.dataclass(slots=True, eq=False)
class KeptText:
    """A network's JSON report text kept beside its entry (compact.Text): copied by the report when it is whole
    and the text of the entry its result was decoded from, else compact.TextGone (the report renders it)."""

    path: str
    entry_digest: bytes
    made: set[str]  # the cache's folders known to exist (_write_atomic)

    def _verified(self) -> bytes:
        """The text's bytes, whole: the frame's size and checksum are checked as it is decompressed."""
        try:
            fd = os.open(self.path, _OPEN_TEXT)
        except OSError:
            raise compact.TextGone(self.path) from None
        try:
            with open(fd, "rb", buffering=0, closefd=True) as handle:
                data = handle.readall()
        except OSError:
            raise compact.TextGone(self.path) from None
        head = len(TEXT_MAGIC) + 1 + _DIGEST
        if data[:head] != TEXT_MAGIC + bytes([FORMAT]) + self.entry_digest:
            raise compact.TextGone(self.path)
        try:
            frame = memoryview(data)[head:]
            if not 0 <= zstandard.frame_content_size(frame) <= TEXT_MAX:  # -1: no size recorded
                raise compact.TextGone(self.path)
            return _zstd()[1].decompress(frame)
        except zstandard.ZstdError:
            raise compact.TextGone(self.path) from None

    def send(self, out_fd: int, skip: int = 0) -> bool:
        write_fd(out_fd, memoryview(self._verified())[skip:])  # whole and checked before a byte is written
        return True

    def read(self) -> str:
        return self._verified().decode()

    def keep(self, text: str) -> None:
        _write_atomic(Path(self.path), TEXT_MAGIC + bytes([FORMAT]) + self.entry_digest +
                      _zstd()[0].compress(text.encode()), self.made)


_ZSTD: list[Any] = [None, None, None]  # (process id, compressor, decompressor): a context is not shared by forks


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    if _ZSTD[0] != os.getpid():
        # level 1: about 50 times smaller at over 2 GB/s; the frame records the size and a checksum of the text
        _ZSTD[:] = [os.getpid(), zstandard.ZstdCompressor(level=1, write_checksum=True, write_content_size=True),
                    zstandard.ZstdDecompressor()]
    return _ZSTD[1], _ZSTD[2]


def _candidates_digest(candidates: list[tuple[int, _Planned]]) -> bytes:
    return _digest(repr([(position, item.identity) for position, item in candidates]).encode())


def _shared_counter() -> Any:
    """A counter both processes update (None where POSIX semaphores are missing: the child then checks all)."""
    try:
        return multiprocessing.get_context("fork").Value("q", 0)
    except (OSError, ImportError, ValueError):
        return None


class _Misses:
    """The `take` of the networks to audit: hits are skipped; a network built is recorded from here."""

    def __init__(self, cache: AuditCache, snapshot: Snapshot, hits: set[int],
                 take: Callable[[NetworkModel], bool] | None) -> None:
        self.cache, self.snapshot, self.hits, self.take = cache, snapshot, hits, take
        self.position = -1

    def __call__(self, net: NetworkModel) -> bool:
        self.position += 1
        if self.position in self.hits or (self.take is not None and not self.take(net)):
            return False
        self.cache._open(self.snapshot, self.position)
        return True


def _unchanged(snapshot: Snapshot, deps: tuple) -> bool:
    """Whether every recorded read would read the same now."""
    lstat = snapshot.lstat  # the snapshot's own path checks: no escape by a link
    try:
        for kind, rel, digest, status in deps:
            if kind == "file":
                if status is not None:  # the usual case, inline: one lstat
                    try:
                        now = lstat(rel)
                    except FileNotFoundError:
                        return False  # it was there
                    if (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns) == status:
                        continue
                if not _same_content(snapshot, rel, digest):
                    return False
            elif kind == "exists":
                if _digest(snapshot.exists(rel)) != digest:
                    return False
            elif kind == "listdir":
                folder, _, suffix = rel.partition("\0")
                refused = dict(snapshot.refused)
                listed = snapshot.listing(folder, suffix)
                snapshot.refused = refused
                if _digest(listed) != digest:
                    return False
            elif kind == "entry":
                if _digest(snapshot.entry_kind(rel)) != digest:
                    return False
            elif kind == "outcome":
                if _digest(snapshot.outcome(rel)) != digest:
                    return False
            elif kind == "failed":
                if _digest(snapshot.failed_calls()) != digest:
                    return False
            elif kind == "interrupted":
                if _digest(snapshot.interrupted_runs()) != digest:
                    return False
            else:
                return False
    except (SnapshotError, OSError, ValueError, TypeError):
        return False
    return True


def _same_content(snapshot: Snapshot, rel: str, digest: bytes) -> bool:
    data = snapshot.raw_bytes(rel)
    if data is None:
        return (_digest(("too large", snapshot.oversized[rel])) if rel in snapshot.oversized else b"") == digest
    return _digest(data) == digest


def _write_atomic(path: Path, data: bytes, made: set[str]) -> None:
    """Write a temporary file beside `path` and rename it into place: a reader sees the old entry or the new
    one, never a part (a torn write after a crash fails the checksum). `made`: folders known to exist (an
    audit writes thousands of entries into 256 folders: one makedirs each, not one per entry)."""
    folder = os.path.dirname(path)
    # as mkstemp does (a new file, never through a link, only the owner's), without its name sequence
    tmp = os.path.join(folder, f".tmp-{os.getpid()}-{secrets.token_hex(8)}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        if folder not in made:
            os.makedirs(folder, mode=0o700, exist_ok=True)
            made.add(folder)
        try:
            fd = os.open(tmp, flags, 0o600)
        except FileNotFoundError:  # the folder went since this audit made it (a prune): made again
            os.makedirs(folder, mode=0o700, exist_ok=True)
            fd = os.open(tmp, flags, 0o600)
    except OSError:
        return
    try:
        try:
            write_fd(fd, data)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


# -- loading entries: only the audit's own classes --------------------------------------------------------

_MODULES = ("auditor.model", "auditor.trace", "auditor.checks", "auditor.packets", "auditor.lb_model",
            "auditor.dns", "auditor.protocols", "auditor.vocab")
_BUILTINS = {("builtins", name) for name in ("set", "frozenset", "complex", "bytearray", "slice", "range")}


class _Unpickler(compact.Loader):
    """Builds nothing but the audit's own data classes and plain values: an entry is data, never code (a
    crafted entry can name no function to call but compact's builders of those classes)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _BUILTINS or (module, name) == (compact.__name__, "shared"):
            return super().find_class(module, name)
        if module == compact.__name__ and name in compact.BUILDERS:
            return compact.BUILDERS[name]
        if "." not in name and (module in _MODULES or module.startswith("auditor.vendors.") or
                                module == "ipaddress"):
            found = getattr(sys.modules.get(module), name, None)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not an audit result class")


def _load(data: bytes, registry: Sequence[Any] = ()) -> Any:
    return _Unpickler(io.BytesIO(data), registry).load()


def deps_of(data: bytes) -> tuple:
    """Reads as `_unchanged` checks them, from their pickle (an entry's, or a report memo's)."""
    reads = _load(data)
    if not isinstance(reads, tuple):
        raise pickle.UnpicklingError("the reads are not a tuple")
    return reads
