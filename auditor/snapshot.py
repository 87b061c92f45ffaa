"""Read access to a snapshot directory (docs/snapshot.md).

`audit` reads only through this class. It refuses paths that leave the snapshot (including through
symlinks), turns malformed files into `SnapshotError` naming the file and line, and tells a file that was
never collected (None) from one that is present. The manifest, when a collector wrote one, says why a file
is absent (feature absent vs. call failed).
"""

from __future__ import annotations

import codecs
import copy
import errno
import json
import os
import stat
import urllib.parse
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from threading import get_ident, main_thread
from typing import Any

import orjson

# Defined with the exception tree; importable from here as before.
from auditor.errors import InputError as InputError
from auditor.errors import SnapshotError as SnapshotError

# Overlays made active by `overlaid()`, keyed by the resolved snapshot root. Audits, diffs and fix plans
# construct their own Snapshot from a path; a scoped overlay reaches them without a parameter at every stage.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)  # where it is missing (Windows), every file is checked before opening
_ACTIVE_OVERLAYS: ContextVar[dict[Path, Mapping[str, Any]] | None] = ContextVar("snapshot_overlays", default=None)


MAX_FILE_ENV = "VPN_AUDITOR_MAX_FILE_MB"
DEFAULT_MAX_FILE_MB = 256.0  # well above any configuration: a 200,000-line running-config is ~10 MB


def max_file_bytes() -> int:
    """The largest snapshot file read, in bytes: $VPN_AUDITOR_MAX_FILE_MB, else 256 MB (docs/limits.md)."""
    text = os.environ.get(MAX_FILE_ENV, "").strip()
    try:
        mb = float(text) if text else DEFAULT_MAX_FILE_MB
    except ValueError:
        mb = DEFAULT_MAX_FILE_MB
    return max(1, int((mb if mb > 0 else DEFAULT_MAX_FILE_MB) * (1 << 20)))


def check_input_size(path: Path) -> None:
    """SnapshotError when an input file given on the command line (audit.yaml, waivers, a proposal) is larger
    than the file cap: checked by its size, before it is read."""
    try:
        size = path.stat().st_size
    except OSError:
        return  # the reader says what is wrong with it
    cap = max_file_bytes()
    if size > cap:
        raise SnapshotError(str(path), f"larger than the {_size(cap)} cap on input files ({_size(size)}; "
                                       f"{MAX_FILE_ENV}): not read")


def too_large_reason(rel: str, size: int, cap: int) -> str:
    return f"{rel} is larger than the {_size(cap)} cap on snapshot files ({_size(size)}; {MAX_FILE_ENV}): not read"


def _size(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB" if size >= 1 << 20 else f"{size / 1024:.1f} kB"


def api_segment(value: object) -> str:
    """The file-name form of an identifier in an API path, as collectors write it (collect.writer.quote_segment):
    percent-encoded like the URL segment, dot-only names too. An id holding "/", ".." or a NUL byte stays one
    harmless name instead of leaving the folder or crashing the path functions."""
    text = urllib.parse.quote(str(value), safe="")
    return "%2E" * len(text) if text and set(text) == {"."} else text


_INSIDE_DIRS_MAX = 64  # folder descriptors a process holds (Snapshot._plain_dir): 16 a network; macOS allows 256
_SPECIAL_NAMES = ("", ".", "..")
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
# Folders are opened as descriptors (O_PATH: nothing read, no read permission needed), each relative to its parent
# and without following a link, so a file is opened relative to its folder: no lstat per folder, a short path
# for the kernel to walk, and a folder checked once cannot be swapped for a link afterwards.
_DIR_FLAGS = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FDS = bool(_NOFOLLOW) and hasattr(os, "O_DIRECTORY") and os.open in os.supports_dir_fd
_MAIN_THREAD = main_thread().ident
# The one snapshot that holds folder descriptors (at most _INSIDE_DIRS_MAX): one that starts opening folders
# closes the previous one's, so a process never holds more, however long unused snapshots wait to be collected.
_DIR_HOLDER: list[weakref.ref[Snapshot]] = []


def _hold_dirs(snapshot: Snapshot) -> None:
    held = _DIR_HOLDER[0]() if _DIR_HOLDER else None
    if held is not None and held is not snapshot:
        held._close_dirs()
    _DIR_HOLDER[:] = [weakref.ref(snapshot)]


_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
_BEFORE_NUMBER_DIGITS = frozenset(b" \t\n\r:,[]{}-+.eE")  # bytes: what may precede a digit run of a number


def _long_number(data: bytes) -> bool:
    """Whether some run of 19 or more digits may be part of a JSON number: one that starts the text or follows
    what may come before a number's digits (a separator, white space, a sign, a point, an exponent's e). Any
    other run is inside a string (ids such as "L_6468300000000000001"), or the text is not JSON, which orjson
    then refuses. The digits are found in C (two passes; a regex is slower than orjson)."""
    zeroed = data.translate(_DIGITS_TO_ZERO)
    at = zeroed.find(_NINETEEN_DIGITS)
    while at != -1:
        # the first run found starts after a non-digit; a later find inside the same run follows a digit
        if at == 0 or zeroed[at - 1] in _BEFORE_NUMBER_DIGITS:
            return True
        at = zeroed.find(_NINETEEN_DIGITS, at + 19)
    return False


def _text(rel: str, data: bytes) -> str:
    try:
        # Bytes then one decode: a text-mode read translates newlines as it decodes, several times slower on
        # the thousands of small files of an org. The translation is the same (universal newlines).
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SnapshotError(rel, f"not UTF-8 text (byte {exc.start})") from None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode_config(rel: str, data: bytes) -> tuple[str, str]:
    """A device configuration's text, and a note on how it was decoded ("" for plain UTF-8).

    Configurations come from many tools: a Windows TFTP server or editor saves UTF-16 with a byte-order mark,
    and a banner or description may hold a byte of a legacy code page (0xA0, a no-break space). UTF-16 with a
    BOM is decoded as such; other bytes that are not UTF-8 are read as Latin-1, which maps every byte to one
    character, so commands (ASCII) read as written and only free text may show the wrong letter. A file that
    holds NUL characters after that is binary, not a configuration: SnapshotError, which the adapter turns into
    a data gap for that one device."""
    note = ""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SnapshotError(rel, f"UTF-16 byte-order mark, but not UTF-16 text (byte {exc.start})") from None
        note = "decoded as UTF-16 (the file starts with a UTF-16 byte-order mark)"
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            text = data.decode("latin-1")
            note = f"not UTF-8 text (byte {exc.start}): read as Latin-1"
    if "\x00" in text:
        raise SnapshotError(rel, f"binary data, not a text configuration (NUL at character {text.index(chr(0))})")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, note


def _parse_json(rel: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SnapshotError(rel, f"malformed JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    except RecursionError:
        raise SnapshotError(rel, "malformed JSON: nested too deeply") from None
    except ValueError as exc:  # an integer of more digits than Python converts
        raise SnapshotError(rel, f"malformed JSON: {' '.join(str(exc).split())[:120]}") from None


@dataclass(frozen=True, slots=True)
class CallOutcome:
    outcome: str  # ok | absent | failed
    status: int | None
    error: str


class Snapshot:
    """A snapshot directory, optionally seen through an in-memory overlay.

    `overlay` maps snapshot-relative paths to content that is read before the disk (copy-on-write): parsed
    JSON for `.json` files, a string for text files, None for a file that is to be treated as absent. It is
    how proposals (check-ssid) and fix plans are audited exactly as collected data would be.
    """

    def __init__(self, root: str | Path, overlay: Mapping[str, Any] | None = None) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise SnapshotError(str(root), "snapshot directory not found")
        self._real_root = self.root.resolve()
        self._root_text = str(self.root)
        self._real_root_text = str(self._real_root)
        self._real_dirs: dict[str, str] = {"": self._real_root_text}  # folder (relative) -> real folder
        # "folder/" as callers write it -> a descriptor of the folder, once it and those above it were opened as
        # plain folders (no link): a file named in it is opened relative to it (see _plain_dir).
        self._inside_dirs: dict[str, int] = {}
        self._root_slash = os.path.join(self._root_text, "")
        self._manifest: dict[str, CallOutcome] | None = None
        self._failed: list[dict[str, Any]] = []  # the manifest's failed calls as recorded (see failed_calls)
        self._interrupted: list[dict[str, Any]] = []  # the manifest's runs cut short by SIGINT or SIGTERM
        # Entries a folder listing left out because they lead outside the snapshot (symlinks): reported as
        # data gaps, so a device that was not read is never a silence.
        self.refused: dict[str, None] = {}
        # Files larger than the cap (VPN_AUDITOR_MAX_FILE_MB): read as absent, each a data gap (gate.fail_closed).
        self.oversized: dict[str, int] = {}
        self.max_file_bytes = max_file_bytes()
        if overlay is None:
            overlay = (_ACTIVE_OVERLAYS.get() or {}).get(self._real_root)
        self.overlay: dict[str, Any] = dict(overlay or {})
        # Told of every read from disk (kind, rel, value, stat): the audit cache (auditor/cache.py) learns so
        # what a network's results depend on. A reader that keeps what it read for later networks says so
        # (`kept`, right after the read) and calls `reread` when it hands it out again, so each of them still
        # depends on it.
        self.observer: Callable[..., None] | None = None

    def __str__(self) -> str:
        return str(self.root)

    # paths ---------------------------------------------------------------------------------------------
    def path(self, rel: str) -> Path:
        """The file for a snapshot-relative path; refuses anything that resolves outside the snapshot."""
        return Path(self._file(rel))

    def _file(self, rel: str, follow: bool = True) -> str:
        """`path` as a string: an audit opens tens of thousands of files, and pathlib costs per call. With
        follow=False the last component is not looked at: the caller opens it with O_NOFOLLOW, so a symlink
        there fails to open (and is then checked here with follow=True)."""
        if rel.startswith(("/", "\\")):
            raise SnapshotError(rel, "path leaves the snapshot directory")
        if "\x00" in rel:  # os functions raise ValueError on it; no file can have such a name
            raise SnapshotError(rel.replace("\x00", "\\x00"), "NUL byte in a file name")
        parts = [part for part in rel.split("/") if part not in ("", ".")]
        if ".." in parts:
            raise SnapshotError(rel, "path leaves the snapshot directory")
        if not parts:
            return self._root_text
        name = parts.pop()
        folder = "/".join(parts)
        candidate = os.path.join(self._root_text, *parts, name)
        # Resolving walks every component (an lstat each); a snapshot has many files per folder, so each
        # folder is resolved once and only the last component is looked at per file.
        real = os.path.realpath(candidate) if follow and os.path.islink(candidate) else \
            os.path.join(self._real_dir(folder), name)
        root = self._real_root_text
        if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
            raise SnapshotError(rel, "path resolves outside the snapshot directory (symlink?)")
        return candidate

    def _in_folder(self, rel: str) -> tuple[int, str] | None:
        """The usual case: a file in plain folders (no link) of plain names, as its folder's descriptor (each
        folder opened once) and its own name; None for anything else, which `_file` checks in full. Only the
        main thread uses folder descriptors: one closed (past the bound) while another thread was about to use
        its number could then name a folder opened since, and a file be read from the wrong folder."""
        if _DIR_FDS and get_ident() == _MAIN_THREAD:
            leaf = rel[rel.rfind("/") + 1:]
            if leaf not in _SPECIAL_NAMES and "\x00" not in leaf and rel[0] not in "/\\":
                head = rel[:len(rel) - len(leaf)]
                folder = self._inside_dirs.get(head)
                if folder is None:
                    folder = self._plain_dir(head)
                if folder is not None:
                    return folder, leaf
        return None

    def lstat(self, rel: str) -> os.stat_result:
        """`rel`'s own status (a link's, not where it leads), its folders checked as a read checks them: the audit
        cache tells an unchanged file by it, for every file of every network of a warm audit."""
        found = self._in_folder(rel)
        if found is not None:
            return os.stat(found[1], dir_fd=found[0], follow_symlinks=False)
        return os.lstat(self._file(rel, False))

    def _open(self, rel: str) -> int:
        """`rel` opened for reading (non-blocking), never through a link that leads outside the snapshot."""
        found = self._in_folder(rel)
        if found is not None:
            try:
                return os.open(found[1], _READ_FLAGS | _NOFOLLOW, dir_fd=found[0])
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
            return os.open(self._file(rel), _READ_FLAGS)  # a link: resolved and checked in full
        # The file itself is opened without following a link (no lstat per file); a link is then resolved and
        # checked, and opened if it stays inside.
        try:
            return os.open(self._file(rel, follow=not _NOFOLLOW), _READ_FLAGS | _NOFOLLOW)
        except OSError as exc:
            if exc.errno != errno.ELOOP or not _NOFOLLOW:
                raise
        return os.open(self._file(rel), _READ_FLAGS)

    def _plain_dir(self, head: str) -> int | None:
        """A descriptor of the folder `head` ("a/b/"), remembered, when it and the folders above it are plain
        folders (not links) with plain names: then it is inside the snapshot, at one open per folder. None for
        anything else (a link, a file, a name to check), which `_file` then checks in full; FileNotFoundError
        when it is missing (the file is absent, as its own open would say)."""
        parent, _, name = head[:-1].rpartition("/")
        if name in _SPECIAL_NAMES or "\x00" in name or (not parent and name.startswith("\\")):
            return None
        base = None  # a top folder is opened by its path: the root may itself be a link
        if parent:
            base = self._inside_dirs.get(f"{parent}/")
            if base is None:
                base = self._plain_dir(f"{parent}/")
                if base is None:
                    return None
        try:  # a link fails to open: ENOTDIR (O_DIRECTORY) or ELOOP
            fd = os.open(name if parent else self._root_slash + name, _DIR_FLAGS | _NOFOLLOW, dir_fd=base)
        except FileNotFoundError:
            raise
        except OSError:
            return None
        if not self._inside_dirs:
            _hold_dirs(self)
        elif len(self._inside_dirs) >= _INSIDE_DIRS_MAX:
            # an org's folders are read network by network: those of networks done are not asked again
            self._close_dirs()
        self._inside_dirs[head] = fd
        return fd

    def _close_dirs(self) -> None:
        dirs, self._inside_dirs = self._inside_dirs, {}
        for fd in dirs.values():
            os.close(fd)

    def __del__(self) -> None:
        if getattr(self, "_inside_dirs", None):
            with suppress(Exception):  # at interpreter exit: nothing to report to
                self._close_dirs()

    def _real_dir(self, folder: str) -> str:
        """A folder's real path, built from its parent's (one lstat per new folder; links resolved fully)."""
        real = self._real_dirs.get(folder)
        if real is None:
            full = os.path.join(self._root_text, folder)
            if os.path.islink(full):
                real = os.path.realpath(full)
            else:
                parent, _, name = folder.rpartition("/")
                real = os.path.join(self._real_dir(parent), name)
            self._real_dirs[folder] = real
        return real

    def exists(self, rel: str) -> bool:
        if rel in self.overlay:
            return self.overlay[rel] is not None
        found = os.path.isfile(self._file(rel))
        if self.observer is not None:
            self.observer("exists", rel, found)
        return found

    def entry_kind(self, rel: str) -> str:
        """"folder", "file" (anything else there) or "absent": which vendors' folders a snapshot has decides which
        adapters run, so the observer is told (the audit cache and report memo compare it)."""
        path = self.path(rel)
        kind = "folder" if path.is_dir() else "file" if path.exists() else "absent"
        if self.observer is not None:
            self.observer("entry", rel, kind)
        return kind

    def listdir(self, rel: str, suffix: str = "") -> list[str]:
        """Snapshot-relative names of the entries of a folder (files and folders), sorted."""
        found, refused = self.listing(rel, suffix)
        if self.observer is not None:  # with what it refused: a link added there changes the audit's gaps
            self.observer("listdir", f"{rel}\x00{suffix}", (found, refused))
        return found

    def listing(self, rel: str, suffix: str = "") -> tuple[list[str], list[str]]:
        """A folder's entries as `listdir` gives them, and those it refused (they lead outside the snapshot; also
        noted in `refused`). Not told to the observer: the audit cache checks with it."""
        folder = self.path(rel)
        names = set()
        if folder.is_dir():
            names = {p.name for p in folder.iterdir() if p.name.endswith(suffix)}
        prefix = f"{rel}/"
        for key, value in self.overlay.items():  # overlay files and the folders that hold them
            if key.startswith(prefix):
                name = key[len(prefix):].split("/", 1)[0]
                if name.endswith(suffix) and (value is not None or "/" in key[len(prefix):]):
                    names.add(name)
        found: list[str] = []
        refused: list[str] = []
        for name in sorted(names):
            (found if self._inside(f"{rel}/{name}") else refused).append(f"{rel}/{name}")
        return found, refused

    def _inside(self, rel: str) -> bool:
        try:
            self.path(rel)
        except SnapshotError:
            self.refused[rel] = None
            return False
        return True

    # content -------------------------------------------------------------------------------------------
    def read_text(self, rel: str) -> str | None:
        if rel in self.overlay:
            value = self.overlay[rel]
            return value if value is None or isinstance(value, str) else json.dumps(value)
        data = self._read_bytes(rel)
        return None if data is None else _text(rel, data)

    def read_config(self, rel: str) -> tuple[str, str] | None:
        """A device configuration (Cisco, load-balancer text exports) as text, with a note on its decoding
        (`decode_config`); None when the file is absent. SnapshotError when it cannot be read at all."""
        if rel in self.overlay:
            value = self.overlay[rel]
            return None if value is None else (value if isinstance(value, str) else json.dumps(value), "")
        data = self._read_bytes(rel)
        return None if data is None else decode_config(rel, data)

    def _read_bytes(self, rel: str) -> bytes | None:
        if self.observer is None:
            return self._read_file(rel)[0]
        data, status = self._read_file(rel)
        self.observer("file", rel, ("too large", self.oversized[rel]) if data is None and rel in self.oversized
                      else data, status)
        return data

    def raw_bytes(self, rel: str) -> bytes | None:
        """A file's bytes as on disk, not reported to the observer (the audit cache verifies with it); None
        when absent, not a regular file, or over the size cap (then `oversized` says so)."""
        return self._read_file(rel)[0]

    def kept(self, rel: str) -> None:
        """The file just read is kept in its reader's own store, to be handed out again (`reread`)."""
        if self.observer is not None:
            self.observer("kept", rel, None)

    def reread(self, rel: str) -> None:
        """A file read earlier and `kept`, handed out again from its reader's store (see `observer`)."""
        if self.observer is not None:
            self.observer("reread", rel, None)

    def _read_file(self, rel: str) -> tuple[bytes | None, os.stat_result | None]:
        """A file's bytes (None: absent, or not a regular file) and its status when it was opened."""
        try:
            # Non-blocking open, then a regular-file check: a FIFO or device in the snapshot folder reads as
            # absent rather than hanging the audit; one fstat instead of a stat before the open.
            fd = self._open(rel)
        except (FileNotFoundError, NotADirectoryError):
            return None, None
        except OSError as exc:
            raise SnapshotError(rel, f"cannot read: {exc.strerror}") from None
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                return None, status
            cap = self.max_file_bytes
            if status.st_size > cap:  # refused before a byte is read: a sparse 2 GB file costs nothing
                self._too_large(rel, status.st_size)
                return None, status
            # os.read to the end rather than a file object's readall: an org is tens of thousands of small
            # files, and the file object costs more than the reads. One byte more than fstat's size is asked
            # for: getting exactly that size is the end, in one call (a second would find nothing, after
            # allocating its buffer). A file that changed since is read on to its end, up to the cap.
            first = os.read(fd, status.st_size + 1)
            if len(first) == status.st_size:
                return first, status
            chunks, size = [first], len(first)
            while size <= cap and (chunk := os.read(fd, 1 << 20)):
                chunks.append(chunk)
                size += len(chunk)
            if size > cap:
                self._too_large(rel, size)
                return None, status
            return b"".join(chunks), status
        except OSError as exc:
            raise SnapshotError(rel, f"cannot read: {exc.strerror}") from None
        finally:
            os.close(fd)

    def _too_large(self, rel: str, size: int) -> None:
        self.oversized[rel] = size

    def read_json(self, rel: str) -> Any | None:
        """Parsed JSON, or None when the file is absent. Malformed JSON raises SnapshotError with the line."""
        if rel in self.overlay:
            value = self.overlay[rel]
            if not isinstance(value, str):  # readers may keep what they get; the overlay stays intact
                return copy.deepcopy(value)
            return _parse_json(rel, value)
        data = self._read_bytes(rel)
        if data is None:
            return None
        # orjson reads an org's files in about half the time. It reads an integer beyond 64 bits as a float,
        # so text where a number may hold a run of 19 digits goes to the standard parser, as does anything orjson
        # refuses: that parser then reads it (NaN, numbers past a double's range) or says where it is malformed.
        if not _long_number(data):
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        return _parse_json(rel, _text(rel, data))

    def read_view(self, rel: str, view: Callable[[Any], Any]) -> Any:
        """`view` of the parsed JSON of `rel` (None when absent), for a reader that takes only that from it:
        before networks are audited, the observer then depends on the view, not on the bytes (an org's
        uplink statuses carry report times that change with every collection and decide nothing)."""
        value = view(self.read_json(rel))
        if self.observer is not None:
            self.observer("view", rel, value)  # stands for the read just told (see cache._Recorder)
        return value

    # overlays ------------------------------------------------------------------------------------------
    @staticmethod
    @contextmanager
    def overlaid(root: str | Path, overlay: Mapping[str, Any]) -> Iterator[None]:
        """Within the block, every Snapshot opened on `root` reads `overlay` before the disk."""
        active = dict(_ACTIVE_OVERLAYS.get() or {})
        active[Path(root).resolve()] = overlay
        token = _ACTIVE_OVERLAYS.set(active)
        try:
            yield
        finally:
            _ACTIVE_OVERLAYS.reset(token)

    # manifest ------------------------------------------------------------------------------------------
    def outcome(self, rel: str) -> CallOutcome | None:
        """What the collector recorded for the call behind a file, if a manifest exists."""
        if self._manifest is None:
            self._manifest = self._load_manifest()
        found = self._manifest.get(rel)
        if self.observer is not None:
            self.observer("outcome", rel, found)
        return found

    def failed_calls(self) -> list[dict[str, Any]]:
        """The manifest's calls whose last outcome is "failed" and whose file is not in the snapshot, as
        recorded (collector, path, file, status, error, ...): what collection meant to read and could not."""
        if self._manifest is None:
            self._manifest = self._load_manifest()
        failed = [call for call in self._failed if not (call["file"] and self.exists(call["file"]))]
        if self.observer is not None:
            self.observer("failed", "", failed)
        return failed

    def interrupted_runs(self) -> list[dict[str, Any]]:
        """The manifest's runs marked `interrupted: true`: their collector stopped before it had read all."""
        if self._manifest is None:
            self._manifest = self._load_manifest()
        if self.observer is not None:
            self.observer("interrupted", "", self._interrupted)
        return self._interrupted

    def _load_manifest(self) -> dict[str, CallOutcome]:
        # Unobserved: a manifest is rewritten by every collection (times), and what the audit uses of it is
        # observed as such (outcome, failed_calls, interrupted_runs: each tells the observer what it hands out),
        # so a new snapshot of unchanged networks still hits the cache.
        observer, self.observer = self.observer, None
        try:
            data = self.read_json("manifest.json")
        finally:
            self.observer = observer
        calls: dict[str, CallOutcome] = {}
        failed: dict[str, dict[str, Any]] = {}
        if not isinstance(data, dict):
            return calls
        runs = data.get("runs")
        self._interrupted = [run for run in runs if isinstance(run, dict) and run.get("interrupted") is True] \
            if isinstance(runs, list) else []
        for call in data.get("calls", []) or []:
            if not isinstance(call, dict):
                continue
            rel = call.get("file") or call.get("path")
            if not isinstance(rel, str):
                continue
            rel = rel if rel.endswith((".json", ".cfg", ".conf", ".xml")) else f"meraki/{rel.strip('/')}.json"
            calls[rel] = CallOutcome(str(call.get("outcome", "")), call.get("status"),
                                     str(call.get("error", "") or ""))
            # A later run's outcome for the same call replaces an earlier one (manifests accumulate runs).
            # A device command recorded without a file (no --name) is told apart by its collector and host.
            named = isinstance(call.get("file"), str) or call.get("collector") == "meraki"
            key = rel if named else f"{call.get('collector')}|{call.get('host')}|{call.get('path')}"
            failed.pop(key, None)
            if calls[rel].outcome == "failed":
                failed[key] = {**call, "file": rel if named else None}
        self._failed = list(failed.values())
        return calls

    def absence_reason(self, rel: str) -> str:
        """Why a file is absent, in words, for data-gap findings."""
        if rel in self.oversized:
            return too_large_reason(rel, self.oversized[rel], self.max_file_bytes)
        recorded = self.outcome(rel)
        if recorded is None:
            return f"{rel} is not in the snapshot (not collected)"
        if recorded.outcome == "absent":
            return f"{rel}: the feature is absent on this network ({recorded.error or recorded.status})"
        status = f"HTTP {recorded.status}" if recorded.status else "no response"
        return f"{rel}: collection failed ({status}{': ' + recorded.error if recorded.error else ''})"
