"""The report memo (`audit --cache DIR -o FILE`): a whole report kept with every read its audit made, and written
again as it was, its timestamp now, while none of those reads would read anything else.

An audit whose networks came from the cache (auditor/cache.py) or were audited by this process (not by a forked
worker) knows every read its results rest on: those outside the networks (before, between and after them: the
cache's recorder) and each network's own (a hit's entry's, or those recorded for the entry this process just
wrote). The command keeps the report it wrote under a key made of the cache namespace (tool, code, audit.yaml,
file cap), the snapshot as the report names it and every option that shapes the report or the exit code. The
next command with that key checks those reads as a warm audit checks a hit's (a status per file; the bytes where
the status is too recent to stand for them), in two processes, and when all would read the same, writes the
kept report with the new timestamp, prints the same summary and exits with the same code, without auditing.
A memo that is missing, damaged or of another key, or a read that changed, and the command audits as before;
it keeps a new memo when every network's reads are known, whichever process audited it (a night with changes: the
next night, with nothing changed since, writes it).

Where the report is already in place (the file this memo's report was last written to, found with the status it
was left with, then its bytes read and found to be that report), only its timestamps are written: a nightly
JSON report of 10,000 networks is 1.6 GB, which takes this kind of host 3-5 s to write again. The bytes are
checked every time, not only the status: the status was taken right after the write, and a write by another
process within the same timestamp tick would leave it as it was (git's "racily clean" files). Where the report
goes to another file (a dated name each night), the last one is copied by the kernel to a new file beside it, and
that copy's bytes are checked the same way before its timestamps are written and it is renamed onto the output.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import itertools
import mmap
import os
import pickle
import re
import secrets
import signal
import stat
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import zstandard
from pydantic import BaseModel, ConfigDict, Field, model_validator

from auditor import crl
from auditor.cache import FORMAT, AuditCache, _load, _unchanged, _write_atomic, _zstd, deps_of
from auditor.config import AuditConfig
from auditor.file_writes import PIECE, write_fd
from auditor.parallel import worth_forking
from auditor.snapshot import Snapshot
from auditor.vocab import Severity, Verdict

MAGIC = b"vpn-auditor report memo 2\n"
PLACED_MAGIC = b"vpn-auditor report in place 1\n"
_DIGEST = 16
POLL_PARTS = 256  # parts of reads checked between two looks at whether the child found a change
FORK_FROM = 1 << 18  # bytes of pickled reads (about 3,000 reads) from which a second process checks half
# A report's timestamp as the formats write it: ISO 8601 in UTC with seconds ("+00:00"; SARIF's "Z")
_STAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\+00:00|Z)?")
CHUNK = 1 << 23
FORK_READ_FROM = 1 << 26  # bytes of a report in place from which a forked child reads it (a fork costs more below)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)  # (O_BINARY: Windows' untranslated reads)


class Outcome(BaseModel):
    """What the command says besides the report: its exit code and the summary line's figures (validated: a
    memo's are read back from the cache)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    code: int
    paths: int
    verdicts: dict[str, int]
    severities: dict[str, int]
    waived: int
    warnings: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _every_figure(self) -> Outcome:
        if set(self.verdicts) != set(map(str, Verdict)) or set(self.severities) != set(map(str, Severity)):
            raise ValueError("the summary's figures are not one per verdict and severity")
        return self


class _Placed(BaseModel):
    """Where this memo's report was last written: the file, its status after the write and the timestamp it
    holds (validated: it is read back from the cache)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    memo: str  # the checksum of the memo whose report it is (a memo kept again is another report)
    output: str  # the report's absolute path
    status: tuple[int, int, int, int, int]  # device, inode, size, modification and change times (ns)
    written: str  # the timestamp the file holds


class ReportMemo:
    """The memo of one report key in a cache directory."""

    def __init__(self, cache_root: Path, snapshot: Snapshot, config: AuditConfig, options: dict[str, Any]) -> None:
        namespace = AuditCache(cache_root, crl.expand(config).model_dump_json())  # as run_audit keys its cache
        namespace.key(snapshot)
        key = hashlib.blake2b(repr(sorted(options.items())).encode(), digest_size=_DIGEST)
        key.update(namespace.namespace.encode())
        self.snapshot = snapshot
        self.key = key.hexdigest()
        self.path = namespace.folder / "reports" / self.key
        self.placed_path = namespace.folder / "placed" / self.key
        self.made: set[str] = set()
        # After a replay that found a change: the networks' reads its check found unchanged (run_audit need not
        # check them again)
        self.verified: set[bytes] = set()

    # -- replay --------------------------------------------------------------------------------------------
    def replay(self, output: Path, generated_at: str) -> Outcome | None:
        """Write the kept report to `output` with this timestamp and give its outcome, when the memo is whole and
        every read it rests on reads the same; None (`output` untouched) otherwise. The reads are checked first:
        writing the report while they are (1.6 GB at 10,000 networks) cost a night with a change 2-4 s of writes
        thrown away, more than it saved a night without one. Where `output` is this report as last written, a
        forked child reads it meanwhile, and only the timestamps are written; where the report was last written
        to another file, the child copies that file beside `output` (a kernel copy, about a third of writing
        it) and reads the copy."""
        memo = self._read()
        if memo is None:
            return None
        outcome, deps, stamps, kept = memo
        new = _forms(generated_at)
        patches = [(offset, new.get(form, b""), length) for offset, length, form in stamps]
        if any(len(stamp) != length for _offset, stamp, length in patches):  # a form or length not written
            return None
        last = _LastReport.start(self, output, kept, stamps)
        try:
            checks = _Checks(self.snapshot, deps)
            try:
                unchanged = checks.unchanged()
            except BaseException:
                checks.stop()
                raise
            if not unchanged:
                self.verified = set(checks.verified)
                return None
            stamped = [(offset, stamp) for offset, stamp, _length in patches]
            if last is not None and last.patch(stamped):
                self._record_place(output, last.status, generated_at, kept.checksum)
                return outcome
        finally:
            if last is not None:
                last.close()
        frame = self._frame(kept)
        if frame is None:
            return None
        try:
            status = _write(output, frame, stamped)
        except zstandard.ZstdError:  # a frame that passed the memo's checksum but not zstd's: audited instead
            return None
        if status is not None:
            self._record_place(output, status, generated_at, kept.checksum)
        return outcome

    def _record_place(self, output: Path, status: os.stat_result, written: str, checksum: bytes) -> None:
        """Record where this memo's report now is, as it was left (a report `_LastReport` may find again)."""
        record = _Placed(memo=checksum.hex(), output=os.path.abspath(output), status=_status(status),
                         written=written).model_dump_json().encode()
        _write_atomic(self.placed_path, PLACED_MAGIC + hashlib.blake2b(record, digest_size=_DIGEST).digest()
                      + record, self.made)

    def _place(self) -> _Placed | None:
        """The record of where this memo's report was last written; None when missing or damaged."""
        try:
            with open(self.placed_path, "rb", buffering=0) as handle:
                data = handle.read(1 << 16)
        except OSError:
            return None
        head = len(PLACED_MAGIC)
        record = data[head + _DIGEST:]
        if data[:head] != PLACED_MAGIC or \
                hashlib.blake2b(record, digest_size=_DIGEST).digest() != data[head:head + _DIGEST]:
            return None
        try:
            return _Placed.model_validate_json(record)
        except ValueError:  # pydantic's ValidationError: a record that passed its checksum but does not read
            return None

    def _read(self) -> tuple[Outcome, list[bytes], list[tuple[int, int, bytes]], _Kept] | None:
        """The memo's fields, checked; its report (a zstd frame after them, under a digest the fields hold) is read
        only when it is written whole (`_frame`): a report found in place needs none of it."""
        try:
            with open(self.path, "rb", buffering=0) as handle:
                head = handle.read(len(MAGIC) + 1 + _DIGEST + 8)
                start = len(MAGIC) + 1
                checksum, size = head[start:start + _DIGEST], int.from_bytes(head[start + _DIGEST:], "big")
                if head[:start] != MAGIC + bytes([FORMAT]) or len(head) != start + _DIGEST + 8 or \
                        size > os.fstat(handle.fileno()).st_size:
                    return None
                data = handle.read(size)
        except OSError:
            return None
        if hashlib.blake2b(head[start + _DIGEST:] + data, digest_size=_DIGEST).digest() != checksum:
            return None
        try:
            key, fields, pickled, stamps, original, digest, length, frame_size, frame_digest = _load(data)
            if key != self.key:  # another key's memo under this name: never its report
                return None
            outcome = Outcome.model_validate(fields)
            if not (isinstance(pickled, list) and all(isinstance(part, bytes) for part in pickled)) or \
                    not all(isinstance(at, int) and isinstance(width, int) and isinstance(form, bytes) and
                            0 <= at <= at + width <= length for at, width, form in stamps) or \
                    not isinstance(original, str) or not (isinstance(digest, int) and 0 <= digest < 1 << 32) or \
                    not (isinstance(length, int) and isinstance(frame_size, int) and length >= 0 and frame_size >= 0
                         and isinstance(frame_digest, bytes)):
                return None
            kept = _Kept(checksum, original, digest, length, (len(head) + size, frame_size, frame_digest))
            return outcome, pickled, list(stamps), kept
        except Exception:  # a memo that passed its checksum but does not read: audited instead
            return None

    def _frame(self, kept: _Kept) -> memoryview | None:
        """The kept report's zstd frame, when it is whole: its digest the one the fields hold, its content as long
        as they say (None otherwise: the command audits)."""
        offset, size, digest = kept.frame
        if not size:  # a memo kept without its report: only the file as left is written again
            return None
        try:
            with open(self.path, "rb", buffering=0) as handle:
                handle.seek(offset)
                frame = memoryview(handle.read(size))
        except OSError:
            return None
        if len(frame) != size or hashlib.blake2b(frame, digest_size=_DIGEST).digest() != digest:
            return None
        try:
            if zstandard.frame_content_size(frame) != kept.size:
                return None
        except zstandard.ZstdError:
            return None
        return frame

    # -- keeping -------------------------------------------------------------------------------------------
    def keep(self, deps: list[bytes], output: Path, generated_at: str, outcome: Outcome, whole: bool = True
             ) -> bool:
        """Keep the report just written to `output` (a regular file) with what it rests on; False (nothing
        kept) when its timestamp appears in a form this module does not write again. `whole`: with a copy of
        the report (a zstd frame: the report is written from it when its file is not found as left); without
        it, only the file as left is written again (in place or copied), else the command audits. Compressing
        is most of keeping (about 2.5 s of a 1.6 GB report), which a command that audited changed networks
        need not pay: the next night may well change again."""
        try:
            with open(output, "rb") as handle:
                before = os.fstat(handle.fileno())
                found = _scanned(handle.fileno(), generated_at.encode()[:19], whole)
                after = os.fstat(handle.fileno())
        except OSError:
            return False
        if found is None:
            return False
        stamps, digest, size, frame = found
        frame_digest = hashlib.blake2b(frame, digest_size=_DIGEST).digest()
        fields = pickle.dumps((self.key, outcome.model_dump(), deps, stamps, generated_at, digest, size, len(frame),
                               frame_digest), protocol=pickle.HIGHEST_PROTOCOL)
        body = len(fields).to_bytes(8, "big") + fields
        checksum = hashlib.blake2b(body, digest_size=_DIGEST).digest()
        _write_atomic(self.path, MAGIC + bytes([FORMAT]) + checksum + body + frame, self.made)
        if _status(before) == _status(after):  # what was read is what the file held all along
            self._record_place(output, after, generated_at, checksum)
        return True


class _Kept:
    """What a memo says of its report besides the report: the memo's checksum, the timestamp the report holds,
    the CRC-32 of the report as kept, its size and where its frame is."""

    __slots__ = ("checksum", "digest", "frame", "original", "size")

    def __init__(self, checksum: bytes, original: str, digest: int, size: int, frame: tuple[int, int, bytes]
                 ) -> None:
        self.checksum, self.original, self.digest, self.size = checksum, original, digest, size
        self.frame = frame  # the report's zstd frame in the memo file: offset, size, BLAKE2b digest


def _status(status: os.stat_result) -> tuple[int, int, int, int, int]:
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


def _forms(stamp: str) -> dict[bytes, bytes]:
    """A timestamp in the forms reports write it, by the ending that tells them apart."""
    return {b"+00:00": stamp.encode(), b"Z": stamp.replace("+00:00", "Z").encode()}


class _LastReport:
    """This memo's report as last written, found again: `output` itself, or, where `output` is another file, a copy
    of it made beside `output` (a new file of this command's). Its bytes are read by a forked child (or here,
    without fork) to tell whether they are still the memo's report with the timestamp last written. Then only
    the timestamps are written (`patch`), and a copy is renamed onto `output`."""

    def __init__(self, fd: int, status: os.stat_result, regions: list[tuple[int, bytes, bytes]], kept: _Kept
                 ) -> None:
        self.fd, self.status, self.regions, self.kept = fd, status, regions, kept
        self.pid = 0  # the child reading the bytes, while it runs
        # A copy's: the report as last written (read only), the new file's name and what it is renamed onto
        self.source: int | None = None
        self.temporary: str | None = None
        self.output: Path | None = None
        self.mode: int | None = None  # the permissions of the file the copy replaces

    @classmethod
    def start(cls, memo: ReportMemo, output: Path, kept: _Kept, stamps: list[tuple[int, int, bytes]]
              ) -> _LastReport | None:
        record = memo._place()
        if record is None or record.memo != kept.checksum.hex():
            return None
        written, original = _forms(record.written), _forms(kept.original)
        # each timestamp's place: (offset, what the file holds there now, what the kept report holds)
        regions = [(offset, written.get(form, b""), original.get(form, b"")) for offset, length, form in stamps]
        if any(len(now) != length or len(was) != length
               for (_offset, now, was), (_at, length, _form) in zip(regions, stamps, strict=True)) or \
                any(later[0] < offset + len(now) for (offset, now, _was), later in itertools.pairwise(regions)):
            return None  # a timestamp's length not written, or places not in order
        found = cls._same(record, output, regions, kept) if record.output == os.path.abspath(output) \
            else cls._copying(record, output, regions, kept)
        if found is not None and kept.size >= FORK_READ_FROM and worth_forking() and hasattr(os, "fork"):
            pid = os.fork()
            if pid == 0:  # the child: its answer as the exit status; nothing of the parent's runs here
                code = 1
                try:
                    code = 0 if found._holds() else 1
                finally:
                    os._exit(code)
            found.pid = pid
        return found

    @classmethod
    def _same(cls, record: _Placed, output: Path, regions: list[tuple[int, bytes, bytes]], kept: _Kept
              ) -> _LastReport | None:
        """`output`, when it is the file as the memo left it: the recorded status, one name, this user's."""
        try:
            fd = os.open(output, os.O_RDWR | _NOFOLLOW)
        except OSError:
            return None
        try:
            status = os.fstat(fd)
        except OSError:
            os.close(fd)
            return None
        if _status(status) != record.status or not _replaceable(status):
            os.close(fd)
            return None
        return cls(fd, status, regions, kept)

    @classmethod
    def _copying(cls, record: _Placed, output: Path, regions: list[tuple[int, bytes, bytes]], kept: _Kept
                 ) -> _LastReport | None:
        """A new file beside `output` to copy the recorded file into, when that file has the recorded status and
        `output` may be replaced (absent, or a regular file of one name, this user's: as `_write` replaces it)."""
        try:
            existing: os.stat_result | None = os.lstat(output)
        except FileNotFoundError:
            existing = None
        except OSError:
            return None
        if existing is not None and not _replaceable(existing):
            return None
        try:
            source = os.open(record.output, os.O_RDONLY | _NOFOLLOW)
        except OSError:
            return None
        try:
            status = os.fstat(source)
            if _status(status) != record.status or not stat.S_ISREG(status.st_mode):
                os.close(source)
                return None
            temporary, fd = _temporary(output)
        except OSError:
            os.close(source)
            return None
        found = cls(fd, status, regions, kept)
        found.source, found.temporary, found.output = source, temporary, output
        found.mode = stat.S_IMODE(existing.st_mode) if existing is not None else None
        return found

    def _holds(self) -> bool:
        """Whether the file's bytes (a copy's, once copied) are the kept report with the timestamp last written:
        each timestamp's place holds that timestamp, and with the kept report's timestamps there, the bytes'
        CRC-32 is the kept one. A checksum, not a cryptographic digest: it is there for a write the status missed
        (within its timestamp tick), not for someone who could as well change the report after this command.
        Mapped, not read: half the time of reading 1.6 GB into buffers. A copy is checked, not its source:
        what is renamed onto `output` is what was read."""
        if self.source is not None and not _copied(self.source, self.fd, self.kept.size):
            return False
        size = os.fstat(self.fd).st_size
        if size != self.kept.size:
            return False
        if not size:
            return not self.regions and self.kept.digest == 0
        crc, done = 0, 0
        with mmap.mmap(self.fd, 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                for offset, now, was in self.regions:
                    if view[offset:offset + len(now)] != now:
                        return False
                    crc = zlib.crc32(was, zlib.crc32(view[done:offset], crc))
                    done = offset + len(now)
                crc = zlib.crc32(view[done:], crc)
            finally:
                view.release()
        return crc == self.kept.digest

    def patch(self, stamps: list[tuple[int, bytes]]) -> bool:
        """Write the new timestamps, when the bytes were found to be the report and (in place) nothing wrote the
        file since it was opened, and rename a copy onto `output`; False (nothing written to `output`)
        otherwise. `status` is then the report's. A copy's status is not compared: it is this command's new
        file, under a name nobody else was given."""
        if self.pid:
            pid, self.pid = self.pid, 0
            holds = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
        else:
            holds = self._holds()
        if not holds or (self.temporary is None and _status(os.fstat(self.fd)) != _status(self.status)):
            return False
        for offset, stamp in stamps:
            os.lseek(self.fd, offset, os.SEEK_SET)
            write_fd(self.fd, stamp)
        if self.temporary is not None and self.output is not None:
            if self.mode is not None:
                os.fchmod(self.fd, self.mode)  # the report keeps its permissions, as a whole write keeps them
            os.replace(self.temporary, self.output)
            self.temporary = None
        self.status = os.fstat(self.fd)  # after the rename, which sets its change time
        return True

    def close(self) -> None:
        if self.pid:
            pid, self.pid = self.pid, 0
            _kill(pid)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self.source is not None:
            with contextlib.suppress(OSError):
                os.close(self.source)
        if self.temporary is not None:  # a copy not renamed onto the output: removed
            with contextlib.suppress(OSError):
                os.unlink(self.temporary)


def _replaceable(status: os.stat_result) -> bool:
    """Whether a report's file may be replaced by a new one renamed onto it: a regular file of one name (no other
    name would see the new report), this user's (a rename would take it from its owner)."""
    owner = getattr(os, "getuid", None)  # not on Windows, where a file's owner is not in its status
    return stat.S_ISREG(status.st_mode) and status.st_nlink == 1 and (owner is None or status.st_uid == owner())


def _copied(source: int, target: int, size: int) -> bool:
    """`size` bytes of `source` copied to `target` from their starts, inside the kernel (no pass through this
    process's memory); False where they could not all be (the source shorter, or a copy refused)."""
    done = 0
    try:
        while done < size:
            try:
                count = os.copy_file_range(source, target, size - done, done, done)
            except (AttributeError, OSError) as exc:  # not Linux, or between file systems an old kernel refuses
                if isinstance(exc, OSError) and exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL,
                                                                  errno.EOPNOTSUPP):
                    raise
                os.lseek(target, done, os.SEEK_SET)
                count = os.sendfile(target, source, done, size - done)
            if not count:
                return False
            done += count
    except (AttributeError, OSError):
        return False
    return True


def _kill(pid: int) -> None:
    """A forked child stopped and reaped."""
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def _scanned(fd: int, second: bytes, compress: bool) -> tuple[list[tuple[int, int, bytes]], int, int, bytes] | None:
    """The report's (offset, length, form) of each time of `second` in it (None: one in a form not written
    again), its CRC-32, its size and (`compress`) the report as one zstd frame (else b""). Only that second's
    times: anything else in the report, even a time, is its own content. Mapped, not read: a report of an org
    is gigabytes."""
    if not os.fstat(fd).st_size:
        return [], 0, 0, _zstd()[0].compress(b"") if compress else b""
    with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as mapped:
        stamps: list[tuple[int, int, bytes]] = []
        at = mapped.find(second)
        while at >= 0:
            found = _STAMP.match(mapped, at)  # (a mapping is a bytes-like buffer)
            if found is None or found.group(1) is None:
                return None
            stamps.append((at, found.end() - at, found.group(1)))
            at = mapped.find(second, found.end())
        view = memoryview(mapped)
        try:
            crc = zlib.crc32(view)
            frame = b""
            if compress:
                compressor = _zstd()[0].compressobj(size=len(view))
                frame = b"".join([*(compressor.compress(view[start:start + CHUNK])
                                    for start in range(0, len(view), CHUNK)), compressor.flush()])
            return stamps, crc, len(view), frame
        finally:
            view.release()


def _write(output: Path, frame: memoryview, stamps: list[tuple[int, bytes]]) -> os.stat_result | None:
    """The kept report written to a new file beside `output` and renamed onto it (a reader sees the old report or
    the new one), and its status once in place; written in place (None: not a report to find in place again)
    where `output` may not be replaced by another file (another owner's, or linked more than once). An interrupt
    or a failure removes the new file."""
    try:
        status: os.stat_result | None = os.lstat(output)
    except FileNotFoundError:
        status = None
    if status is not None and not _replaceable(status):
        with output.open("wb") as handle:
            _copy(frame, stamps, handle)
        return None
    temporary, fd = _temporary(output)
    try:
        with open(fd, "wb") as handle:
            if status is not None:
                os.fchmod(handle.fileno(), stat.S_IMODE(status.st_mode))  # the report keeps its permissions
            _copy(frame, stamps, handle)
            os.replace(temporary, output)
            return os.fstat(handle.fileno())  # after the rename, which sets its change time
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _temporary(output: Path) -> tuple[str, int]:
    """A new file beside `output` (created, never an existing one or through a link), read and write: its name and
    descriptor."""
    temporary = os.path.join(os.path.dirname(os.path.abspath(output)),
                             f".{output.name}.{os.getpid()}-{secrets.token_hex(6)}.tmp")
    return temporary, os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)


def _copy(frame: memoryview, stamps: list[tuple[int, bytes]], handle: BinaryIO) -> None:
    # decompressed into one buffer written in pieces (auditor/file_writes.py: 8 MB writes took this host 8-12 s
    # for the 1.6 GB report, 256 KiB ones 0.8 s)
    reader = _zstd()[1].stream_reader(io.BytesIO(frame), read_size=CHUNK)
    piece = bytearray(PIECE)
    view = memoryview(piece)
    while size := reader.readinto(piece):
        handle.write(view[:size])
    for offset, stamp in stamps:
        handle.seek(offset)
        handle.write(stamp)
    handle.flush()


class _Checks:
    """Whether every read reads the same: the memo's parts of reads (pickled tuples, `deps_of`), half of them
    read and checked by a child forked here when there are many, the others by `unchanged`. A part that does not
    read is a change."""

    def __init__(self, snapshot: Snapshot, parts: list[bytes]) -> None:
        self.snapshot, self.mine, self.pid = snapshot, parts, 0
        self.theirs: list[bytes] = []  # the child's half
        self.child_status: int | None = 0  # its exit status once reaped (None: stopped); 0 without a child
        self.verified: list[bytes] = []  # the parts found unchanged (the child's, once it says all are)
        if len(parts) < 2 or sum(map(len, parts)) < FORK_FROM or not worth_forking() or not hasattr(os, "fork"):
            return
        middle = len(parts) // 2
        pid = os.fork()
        if pid == 0:  # the child: its half, its answer as the exit status; nothing of the parent's runs here
            code = 1
            try:
                code = 0 if _parts_unchanged(snapshot, parts[middle:]) == len(parts) - middle else 1
            finally:
                os._exit(code)
        self.pid, self.mine, self.theirs = pid, parts[:middle], parts[middle:]

    def unchanged(self) -> bool:
        """Whether every read reads the same. The first change either process finds ends both checks: a night
        with a change pays little for its stale memo, and `verified` lists the parts found unchanged before."""
        try:
            for start in range(0, len(self.mine), POLL_PARTS):
                chunk = self.mine[start:start + POLL_PARTS]
                same = _parts_unchanged(self.snapshot, chunk)
                self.verified += chunk[:same]
                if same < len(chunk) or self._child_failed():
                    self.stop()
                    return False
        finally:
            self._wait()
        return self.child_status == 0

    def _child_failed(self) -> bool:
        """Whether the child has ended having found a change (it is then waited for)."""
        if not self.pid:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return False
        self.pid = 0
        return self._reaped(status) != 0

    def stop(self) -> None:
        if self.pid:
            pid, self.pid = self.pid, 0
            _kill(pid)
            self.child_status = None

    def _wait(self) -> None:
        if self.pid:
            pid, self.pid = self.pid, 0
            self._reaped(os.waitpid(pid, 0)[1])

    def _reaped(self, status: int) -> int:
        """The child's exit code; its half of the parts is verified when it found them all unchanged."""
        self.child_status = os.waitstatus_to_exitcode(status)
        if self.child_status == 0:
            self.verified += self.theirs
        return self.child_status


def _parts_unchanged(snapshot: Snapshot, parts: list[bytes]) -> int:
    """How many of the parts, from the first, read the same (all of them: len(parts))."""
    for done, part in enumerate(parts):
        try:
            reads = deps_of(part)
        except Exception:  # a part that passed the memo's checksum but does not read: a change, never trusted
            return done
        if not _unchanged(snapshot, reads):
            return done
    return len(parts)
