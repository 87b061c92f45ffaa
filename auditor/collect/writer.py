"""Snapshot writer shared by every collector: safe paths, redaction, manifest (docs/snapshot.md).

A collector creates one `SnapshotWriter` for a snapshot directory, writes response bodies with
`write_json` / `write_text`, records the outcome of every call or command with `record_call`, and calls
`close()` to write `manifest.json`.

Guarantees:
- Nothing is written outside the snapshot root. Relative paths are split on "/" and every segment is
  checked (no empty, "." or ".." segments, no backslashes or control characters); the final path is
  resolved (following symlinks) and must stay inside the root. Identifiers that come from a remote
  API are turned into segments with `quote_segment`, which percent-encodes them the way the Meraki SDK
  encodes path parameters (so a file name mirrors the URL path) and also encodes dot-only names.
- JSON bodies pass through `redact_json` before they are written: values of secret-looking keys become
  the string "<redacted>". Strings registered with `add_secret` (an API key, a password) are scrubbed
  from every file and from the manifest.
- Files are written atomically (temporary file + rename), so an interrupted run never leaves half a file.

Manifest layout (`manifest.json`): collectors append to it, so several collectors can fill one snapshot::

    {"schema": "vpn-auditor.manifest/1",
     "tool": {"name": "vpn-auditor", "version": "x.y.z"},
     "generated_at": "RFC 3339 time of the last write",
     "runs": [{"collector": "meraki", "tool": {...}, "started_at": ..., "finished_at": ...,
               "parameters": {...}, "summary": {"calls": N, "ok": N, "absent": N, "failed": N, ...}}],
     "calls": [{"collector": "meraki", "path": "networks/N_1/appliance/vlans",
                "file": "meraki/networks/N_1/appliance/vlans.json", "written": false,
                "status": 400, "outcome": "absent", "error": "{\\"errors\\": [...]}"}]}

`outcome` is "ok" (file written), "absent" (the feature does not exist there; no file) or "failed"
(no usable answer; `status` is the last HTTP status or null when there was none, e.g. a timeout).
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import logging
import os
import re
import tempfile
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import auditor
from auditor.collect import fingerprints
from auditor.collect.limits import check_depth
from auditor.collect.signals import deferred
from auditor.errors import OutputError, Refused

REDACTED = "<redacted>"
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "vpn-auditor.manifest/1"
OUTCOMES = ("ok", "absent", "failed")
MAX_ERROR_CHARS = 2000
_MAX_SEGMENT_BYTES = 240  # below the usual 255-byte file name limit, leaving room for a suffix

# Normalised key names (lower case, letters and digits only) whose values are secrets. "key" alone is
# the SSID GRE key and similar shared keys; redacting a harmless one costs nothing.
_SECRET_NAMES = frozenset({"key", "psk", "secret", "password", "passphrase", "passwd", "pwd", "token"})
_SECRET_SUFFIXES = (
    "secret", "password", "passphrase", "passwd", "psk", "presharedkey", "privatekey", "apikey",
    "secretkey", "accesskey", "authkey", "sharedkey", "encryptionkey", "token", "communitystring",
)
_UNSAFE_CHARS = re.compile(r"[\\\x00-\x1f\x7f]")


class UnsafePathError(Refused, ValueError):
    """A relative path or identifier would leave the snapshot directory or cannot be a file name."""


# --- paths --------------------------------------------------------------------------------------------
def quote_segment(value: object) -> str:
    """One path segment for an identifier from a remote API, safe as a file or folder name.

    Percent-encodes like the Meraki SDK does for path parameters (`urllib.parse.quote(str(x), safe="")`),
    so "/" becomes %2F and the file name equals the URL segment; dot-only names ("." and "..") are
    encoded too (%2E), since they would otherwise mean "this folder" or "the parent folder".
    """
    text = urllib.parse.quote(str(value), safe="")
    if not text:
        raise UnsafePathError("empty identifier cannot be a path segment")
    if set(text) == {"."}:
        text = "%2E" * len(text)
    if len(text.encode()) > _MAX_SEGMENT_BYTES:
        raise UnsafePathError(f"identifier too long for a file name ({len(text)} characters)")
    return text


def safe_relpath(*segments: object, suffix: str = "") -> str:
    """Join identifiers into a snapshot-relative path, quoting each one (`quote_segment`).

    >>> safe_relpath("meraki", "networks", "N_1/..", "appliance", "vlans", suffix=".json")
    'meraki/networks/N_1%2F../appliance/vlans.json'
    """
    return "/".join(quote_segment(s) for s in segments) + suffix


def check_relpath(rel_path: str) -> list[str]:
    """The segments of a snapshot-relative path; raises UnsafePathError for anything but plain names."""
    if not isinstance(rel_path, str) or not rel_path:
        raise UnsafePathError("empty path")
    if rel_path.startswith("/"):
        raise UnsafePathError(f"absolute path not allowed: {rel_path!r}")
    segments = rel_path.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise UnsafePathError(f"path segment {segment!r} not allowed in {rel_path!r}")
        if _UNSAFE_CHARS.search(segment):
            raise UnsafePathError(f"backslash or control character in {rel_path!r}")
        if len(segment.encode()) > 255:
            raise UnsafePathError(f"path segment too long in {rel_path!r}")
    return segments


class ManifestNotWritten(OutputError, OSError):
    """manifest.json could not be written (a full or read-only disk); the message is one line naming it."""

    speaker = "vpn-auditor collect"


class OutNotWritable(OutputError, ValueError):
    """The snapshot directory (--out) is a file, or cannot be created or written to."""

    speaker = "vpn-auditor collect"


def check_out(out: Path) -> None:
    """Before any request: `out` is (or can be made) a folder this process can write a file in. A read-only or
    full file system, or a file named like the folder, is found now, not after every call was made."""
    if out.exists() and not out.is_dir():
        raise OutNotWritable(f"--out {out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".tmp-", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutNotWritable(f"--out {out}: cannot write there ({exc.strerror or exc})") from None


# --- redaction ----------------------------------------------------------------------------------------
def is_secret_key(name: str) -> bool:
    """Whether a JSON key names a secret (psk, passphrase, RADIUS secret, password, keys, tokens)."""
    norm = re.sub(r"[^a-z0-9]", "", name.lower())
    return norm in _SECRET_NAMES or norm.endswith(_SECRET_SUFFIXES)


def redact_json(obj: Any, found: set[str] | None = None, secret_keys: frozenset[str] = frozenset()) -> Any:
    """A copy of a JSON value with the value of every secret-looking key replaced by "<redacted>", and secrets
    recognisable by their shape in any text value replaced too (`redact_patterns`).

    Null, booleans and empty strings are kept: they say "no secret set" and reveal nothing. Whole
    objects or lists under a secret key are replaced, since any part of them may be the secret. The text
    values replaced are added to `found`, when given. `secret_keys`: a vendor's own secret fields beyond
    those `is_secret_key` knows (NetScaler `radkey`), as lower-case names.
    """
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if isinstance(key, str) and (is_secret_key(key) or key.lower() in secret_keys) \
                    and value not in (None, "") and not isinstance(value, bool):
                out[key] = REDACTED
                if found is not None and isinstance(value, str | int | float):
                    found.add(str(value))
            else:
                out[key] = redact_json(value, found, secret_keys)
        return out
    if isinstance(obj, list | tuple):
        return [redact_json(item, found, secret_keys) for item in obj]
    if isinstance(obj, str):
        return redact_patterns(obj, found)
    return obj


# Secrets recognisable by their shape in any text: a credential header's value (a monitor's send string, a
# NetScaler customheaders, a header echoed in an error), the password of a URL (`ftp://user:PW@host`), and a
# query or form parameter named like a secret (`/health?token=...`, `user=u&password=...`).
_URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^/\s:@\"'<>]*:)(?!<redacted>|&lt;redacted&gt;)([^@/\s\"'<>]+)(@)")
_SECRET_PARAMETER = re.compile(
    r"(?i)((?:^|[?&;\s-])(?:password|passwd|passphrase|pwd|pass|secret|token|access_token|api_?key|apikey|psk|"
    r"community|auth)=)(?!<redacted>|&lt;redacted&gt;)([^&\s\"'\\;<>]+)")


def redact_patterns(text: str, found: set[str] | None = None, replacement: str = REDACTED) -> str:
    """`text` with secrets recognised by their shape replaced by "<redacted>" (`replacement`: escaped for XML);
    what was replaced goes to `found`."""
    if not any(c in text for c in ":=@"):  # none of the shapes fits: the common case, kept fast
        return text

    def replace(match: re.Match[str], value: int, keep: tuple[int, ...]) -> str:
        if found is not None:
            found.add(match.group(value))
        return "".join(match.group(k) if k != value else replacement for k in keep)

    text = _CREDENTIAL_HEADER.sub(lambda m: replace(m, 2, (1, 2)), text)
    text = _URL_PASSWORD.sub(lambda m: replace(m, 2, (1, 2, 3)), text)
    return _SECRET_PARAMETER.sub(lambda m: replace(m, 2, (1, 2)), text)


def secret_forms(value: str) -> set[str]:
    """Every way a secret is spelled in text that leaves the process: as it is, JSON-escaped (backslashes and
    quotes doubled, non-ASCII as \\uXXXX or not), as Python's repr writes it (`str(dict)`), URL-encoded (with
    "+" or %20 for spaces, "/" kept or not), and XML/HTML-escaped. Base64 forms belong to credential pairs
    (`credential_forms`)."""
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
             urllib.parse.quote(value, safe=""), urllib.parse.quote(value), urllib.parse.quote_plus(value),
             html.escape(value), html.escape(value, quote=False)}
    # escaped once more: a JSON error body quoted as a string in another JSON text
    forms |= {json.dumps(form)[1:-1] for form in list(forms)}
    return {form for form in forms if form}


def credential_forms(username: str, password: str) -> set[str]:
    """A user name and password as HTTP Basic sends them (base64 of `user:pass`, the header value a server
    may echo), on top of the password's own forms."""
    pair = f"{username}:{password}".encode()
    return {base64.b64encode(pair).decode(), base64.urlsafe_b64encode(pair).decode(),
            base64.b64encode(pair).decode().rstrip("=")} | secret_forms(password)


# Header lines that carry credentials, whoever's: a server echoing a request ("Authorization: Basic ...",
# NITRO's X-NITRO-PASS, the Dashboard's key header) is scrubbed even when the value is not a known secret.
_HEADER_START = r"(?:(?<![a-z0-9_-])|(?<=\\[rnt]))"  # a word start, or right after a written \r\n (F5 `send`)
_CREDENTIAL_HEADER = re.compile(
    rf"(?i)({_HEADER_START}(?:proxy-)?authorization\b\\?[\"']?\s*[:=]\s*\\?[\"']?"
    r"(?:(?:basic|bearer|digest|negotiate|ntlm|token)\s+)?+"  # possessive: the scheme word is never the value
    rf"|{_HEADER_START}(?:x-nitro-pass|x-cisco-meraki-api-key|x-auth-token|x-api-key|cookie|set-cookie)\b"
    r"\\?[\"']?\s*[:=]\s*\\?[\"']?)"
    r"(?!<redacted>|&lt;redacted&gt;)([^\s\"',;}\]<>\\]+)")


def scrub_credential_headers(text: str) -> str:
    """`text` with the value of every credential header (Authorization, X-NITRO-PASS, ...) replaced."""
    return _CREDENTIAL_HEADER.sub(lambda m: m.group(1) + REDACTED, text)


def _pattern(forms: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for many literal forms, longest first; percent-escapes match in either case (%2f, %2F)."""
    parts = []
    for form in sorted(set(forms), key=len, reverse=True):
        pieces = re.split(r"(%[0-9A-Fa-f]{2})", form)
        parts.append("".join(f"%(?i:{p[1:]})" if re.fullmatch(r"%[0-9A-Fa-f]{2}", p) else re.escape(p)
                             for p in pieces))
    return re.compile("|".join(parts)) if parts else None


def _trie_pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for many literal strings, as a prefix tree (`a(?:bc|d)`): matched in time that does not grow
    with their number, where an alternation of thousands of iPSK passphrases would try each in turn. The
    longest string matches where several start at one place."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    if not trie:
        return None
    # Built without recursion (a secret may be thousands of characters): each node's regex from its children's.
    order: list[dict[str, Any]] = []
    stack = [trie]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(child for char, child in node.items() if char)
    built: dict[int, str] = {}
    for node in reversed(order):
        branches = [re.escape(char) + built[id(child)] for char, child in sorted(node.items()) if char]
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})" if branches else ""
        built[id(node)] = f"(?:{body})?" if "" in node and branches else body
    return re.compile(built[id(trie)])


_NOT_LEARNED = re.compile(r"[\d.:/]*")  # addresses, prefixes and numbers: scrubbing them would mangle the data


def learnable(value: str) -> bool:
    """Whether a secret value met in the data is scrubbed wherever else it appears: long enough to be told from
    ordinary text (a WPA passphrase has at least 8 characters), and not an address or a number."""
    return 8 <= len(value) <= 4096 and value != REDACTED and not _NOT_LEARNED.fullmatch(value)


def _scrub_strings(obj: Any, pattern: re.Pattern[str] | fingerprints.Scrubber) -> Any:
    """A copy of a JSON value with `pattern` replaced in every string value (keys are the vendor's schema)."""
    if isinstance(obj, str):
        return pattern.sub(obj) if isinstance(pattern, fingerprints.Scrubber) else pattern.sub(REDACTED, obj)
    if isinstance(obj, Mapping):
        return {key: _scrub_strings(value, pattern) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_scrub_strings(item, pattern) for item in obj]
    return obj


def _all_forms(values: Iterable[str]) -> set[str]:
    """Every spelling of each value, percent-escapes in upper and in lower case (a prefix tree has no
    case-insensitive part)."""
    forms = {form for value in values for form in secret_forms(value)}
    return forms | {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), form) for form in forms if "%" in form}


_MANIFEST_LOCK = threading.Lock()


class _LogScrubber:
    """While a writer is open, every log record's message (and traceback) is scrubbed of its secrets before
    any handler sees it: the SDK, httpx, paramiko and netmiko log what they send and receive."""

    def __init__(self) -> None:
        self.writers: weakref.WeakSet[SnapshotWriter] = weakref.WeakSet()
        self.previous: Callable[..., logging.LogRecord] | None = None
        self.lock = threading.Lock()

    def add(self, writer: SnapshotWriter) -> None:
        with self.lock:
            self.writers.add(writer)
            if self.previous is None:
                self.previous = logging.getLogRecordFactory()
                logging.setLogRecordFactory(self.record)

    def remove(self, writer: SnapshotWriter) -> None:
        with self.lock:
            self.writers.discard(writer)
            if not self.writers and self.previous is not None:
                if logging.getLogRecordFactory() == self.record:
                    logging.setLogRecordFactory(self.previous)
                self.previous = None

    def record(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = (self.previous or logging.LogRecord)(*args, **kwargs)
        writers = list(self.writers)
        if not writers:
            return record
        def scrub(text: str) -> str:
            for writer in writers:
                text = writer.scrub(text)
            return text
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: logging reports it; leave the record as it is
            return record
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return record


_LOG_SCRUBBER = _LogScrubber()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- writer -------------------------------------------------------------------------------------------
@dataclass
class CallRecord:
    """The outcome of one call (API request, device command) for the manifest."""

    path: str
    outcome: str
    status: int | None = None
    error: str | None = None
    file: str | None = None
    written: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self, collector: str) -> dict[str, Any]:
        record: dict[str, Any] = {"collector": collector, "path": self.path, "file": self.file,
                                  "written": self.written, "status": self.status,
                                  "outcome": self.outcome, "error": self.error}
        record.update(self.extra)
        return record


class SnapshotWriter:
    """Writes one collector's files into a snapshot directory and its calls into `manifest.json`.

    >>> with SnapshotWriter(tmp, "cisco", secrets=[password]) as w:        # doctest: +SKIP
    ...     w.write_text("cisco/hq-asa.cfg", config_text)
    ...     w.record_call("show running-config", "ok", file="cisco/hq-asa.cfg")
    """

    def __init__(self, root: str | Path, collector: str, *, parameters: Mapping[str, Any] | None = None,
                 secrets: Iterable[str] = (), fingerprint_key: bytes | None = None) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._real_root = self.root.resolve()
        self.collector = collector
        self.parameters: dict[str, Any] = dict(parameters or {})
        self.calls: list[CallRecord] = []
        self.started_at = _now()
        self._secrets: set[str] = set()  # every form of every registered secret (secret_forms)
        self._pattern: re.Pattern[str] | None = None
        # Secret values met in the data (a PSK, an iPSK passphrase, a RADIUS secret, a monitor's password): once
        # known, scrubbed wherever else they appear (a network name, a rule comment, an iPSK name equal to its
        # passphrase, an error text). A body is scrubbed of its own secrets as it is written; every file this
        # writer wrote, and the manifest, of all of them when it closes (one prefix-tree regex, built once).
        self._seen: set[str] = set()
        self._written: dict[str, bool] = {}  # snapshot-relative path -> is JSON
        # Secrets an incremental run carries over known by fingerprint only (fingerprints.py), by length; the
        # files it carried (clean of them: the run that wrote them scrubbed them); each file's fingerprints.
        self._fingerprint_key = fingerprint_key
        self._by_fingerprint: dict[int, set[bytes]] = {}
        self._carried: set[str] = set()
        self._file_fingerprints: dict[str, list[str]] = {}
        # The bytes the older snapshot holds at a path (incremental runs): a fetched file identical to them was
        # scrubbed of every secret that run knew, the fingerprinted ones included, and is not searched again
        self.earlier: Callable[[str], bytes | None] | None = None
        self._closed = False
        for secret in secrets:
            self.add_secret(secret)
        _LOG_SCRUBBER.add(self)

    # secrets ---------------------------------------------------------------------------------------
    def add_secret(self, value: str | None) -> None:
        """Scrub this string, in every form (`secret_forms`), from everything written from now on (files,
        manifest) and from log records while the writer is open."""
        if value and len(value) >= 4:  # shorter strings would mangle ordinary text
            self._add_forms(secret_forms(value))

    def add_credentials(self, username: str, password: str) -> None:
        """A user name and password sent with HTTP Basic: the password and the base64 of the pair."""
        if password and len(password) >= 4:
            self._add_forms(credential_forms(username, password))

    def _add_forms(self, forms: Iterable[str]) -> None:
        new = {form for form in forms if len(form) >= 4} - self._secrets
        if new:
            self._secrets |= new
            self._pattern = _pattern(self._secrets)

    def scrub(self, text: str) -> str:
        """`text` with every form of every registered secret replaced by "<redacted>"."""
        return self._pattern.sub(REDACTED, text) if self._pattern is not None else text

    @property
    def key_check(self) -> str | None:
        """Tells a later run whether it holds this run's fingerprint key (fingerprints.key_check)."""
        return fingerprints.key_check(self._fingerprint_key) if self._fingerprint_key is not None else None

    # paths -----------------------------------------------------------------------------------------
    def path_for(self, rel_path: str) -> Path:
        """The absolute path for a snapshot-relative path, refusing any that would leave the root."""
        segments = check_relpath(rel_path)
        target = self._real_root.joinpath(*segments)
        self._check_inside(target, rel_path)
        return target

    def _check_inside(self, target: Path, rel_path: str, *, may_be_root: bool = False) -> None:
        real = target.resolve()  # follows symlinks already present in the snapshot
        if real == self._real_root and may_be_root:
            return
        if self._real_root not in real.parents:
            raise UnsafePathError(f"{rel_path!r} resolves outside the snapshot directory")

    # writing ---------------------------------------------------------------------------------------
    def write_json(self, rel_path: str, body: Any, *, redact: bool = True,
                   secret_keys: frozenset[str] = frozenset()) -> str:
        """Write a JSON body (redacted unless told otherwise; `secret_keys`: a vendor's own secret fields);
        returns the relative path written. A body nested deeper than limits.MAX_JSON_DEPTH raises
        LimitExceeded: nothing is written."""
        check_depth(body)  # a 500-deep body would exhaust the recursion of redaction and encoding
        found: set[str] = set()
        data = redact_json(body, found, secret_keys) if redact else body
        learned = _all_forms(self.learned(found))
        # Scrubbed as data, not as JSON text: a secret holding a quote must not cut into the JSON around it.
        for pattern in (self._pattern, _trie_pattern(learned)):
            data = _scrub_strings(data, pattern) if pattern is not None else data
        self._write(rel_path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n", scrub=False)
        self._written[rel_path] = True
        self._carried.discard(rel_path)
        if self._fingerprint_key is not None and found:  # recorded with the call (record_call)
            self._file_fingerprints[rel_path] = sorted(fingerprints.fingerprint(self._fingerprint_key, form)
                                                       for form in learned)
        else:
            self._file_fingerprints.pop(rel_path, None)
        return rel_path

    def carry_json(self, rel_path: str, body: Any, carried_fingerprints: Iterable[str] = ()) -> str:
        """Write a body an incremental run carries over from an older snapshot (already redacted there) with
        the fingerprints of the secrets it held (`fingerprints.parse`d by the caller): those secrets are then
        scrubbed from every file this run fetches, as if known. The file itself is not searched for them: the
        run that wrote it scrubbed it of every secret it knew."""
        listed = list(carried_fingerprints)
        by_length = fingerprints.parse(listed)
        if by_length is None or (listed and self._fingerprint_key is None):
            raise ValueError("carried fingerprints need a fingerprint key and must be well formed")
        self.write_json(rel_path, body)
        self._carried.add(rel_path)
        for length, digests in by_length.items():
            self._by_fingerprint.setdefault(length, set()).update(digests)
        if listed or rel_path in self._file_fingerprints:
            self._file_fingerprints[rel_path] = sorted(listed)
        return rel_path

    def write_text(self, rel_path: str, text: str, *, found: Iterable[str] = ()) -> str:
        """Write text as it is, apart from secrets: registered ones, and `found`, the values a config's own
        redaction replaced (scrubbed wherever else they appear)."""
        pattern = _trie_pattern(_all_forms(self.learned(found)))
        self._write(rel_path, pattern.sub(REDACTED, text) if pattern is not None else text)
        self._written[rel_path] = False
        return rel_path

    def learned(self, values: Iterable[str]) -> set[str]:
        """Note secret values met in the data (`learnable` ones); returns them."""
        new = {value for value in values if learnable(value)}
        self._seen |= new
        return new

    def _write(self, rel_path: str, text: str, *, scrub: bool = True) -> None:
        target = self.path_for(rel_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._check_inside(target.parent, rel_path, may_be_root=True)  # a folder may be a symlink
        _atomic_write(target, self.scrub(text) if scrub else text)

    def _scrub_written(self, pattern: re.Pattern[str] | None, scrubber: fingerprints.Scrubber | None) -> None:
        """Rewrite the files written earlier that hold a secret learned since (a network name equal to the PSK
        of an SSID read later). With secrets known by fingerprint only (`scrubber`, which knows the learned
        ones too), every file not carried over is searched through it: a fingerprint has no regex."""
        for rel_path, is_json in self._written.items():
            use: re.Pattern[str] | fingerprints.Scrubber | None = pattern
            if scrubber is not None and rel_path not in self._carried:
                use = scrubber
            if use is None:
                continue
            try:
                target = self.path_for(rel_path)
                text = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError, UnsafePathError):
                continue
            if use is scrubber and self.earlier is not None and self.earlier(rel_path) == text.encode("utf-8"):
                use = pattern  # as the older run wrote it: clean of the fingerprinted secrets
                if use is None:
                    continue
            if isinstance(use, re.Pattern) and use.search(text) is None:
                continue
            if is_json:
                new = json.dumps(_scrub_strings(json.loads(text), use), indent=2, ensure_ascii=False) + "\n"
            else:
                new = use.sub(text) if isinstance(use, fingerprints.Scrubber) else use.sub(REDACTED, text)
            if new != text:
                _atomic_write(target, new)

    def discard(self, rel_path: str | None) -> None:
        """Remove the file an earlier run wrote for a call that has now failed (or found nothing): collected
        again into the same snapshot, it would be read as today's configuration where the manifest says
        today's call failed (docs/snapshot.md: absent means not collected)."""
        if not rel_path or rel_path in self._written:
            return
        with contextlib.suppress(OSError, UnsafePathError):  # a folder there, or a path outside: not ours
            self.path_for(rel_path).unlink(missing_ok=True)

    # manifest --------------------------------------------------------------------------------------
    def record_call(self, path: str, outcome: str, *, status: int | None = None, error: object = None,
                    file: str | None = None, written: bool = False, **extra: Any) -> CallRecord:
        """Record one call's outcome: "ok", "absent" (feature absent) or "failed"."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
        if written and file is not None and file in self._file_fingerprints:
            extra = {**extra, "secret_fingerprints": self._file_fingerprints[file]}
        record = CallRecord(path=self.scrub(path), outcome=outcome, status=status,
                            error=self.error_text(error), file=file, written=written, extra=extra)
        self.calls.append(record)
        return record

    def error_text(self, error: object) -> str | None:
        if error is None or error == "":
            return None
        if isinstance(error, str):
            text = error
        else:
            try:
                text = json.dumps(redact_json(error), ensure_ascii=False, sort_keys=True)
            except (TypeError, ValueError):
                text = repr(error)
        text = scrub_credential_headers(self.scrub(text))  # a server echoing the request's headers
        return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."

    def summary(self) -> dict[str, int]:
        counts = {"calls": len(self.calls), "ok": 0, "absent": 0, "failed": 0}
        for call in self.calls:
            counts[call.outcome] += 1
        return counts

    def close(self, **run_extra: Any) -> Path:
        """Append this run and its calls to `manifest.json` (created if needed); returns its path."""
        with _MANIFEST_LOCK:  # devices collected in threads (inventory.py): one read-modify-write at a time
            return self._close(**run_extra)

    def _close(self, **run_extra: Any) -> Path:
        manifest_path = self.path_for(MANIFEST)
        manifest: dict[str, Any] = {}
        if manifest_path.is_file():
            try:
                loaded = json.loads(manifest_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                loaded = None
            if isinstance(loaded, dict) and loaded.get("schema") == MANIFEST_SCHEMA:
                manifest = loaded
        tool = {"name": "vpn-auditor", "version": auditor.__version__}
        run: dict[str, Any] = {"collector": self.collector, "tool": tool, "started_at": self.started_at,
               "finished_at": _now(), "parameters": self.parameters, "summary": self.summary()}
        if self._fingerprint_key is not None:
            run["secret_fingerprint_check"] = self.key_check
        run.update(run_extra)
        manifest["schema"] = MANIFEST_SCHEMA
        manifest["tool"] = tool
        manifest["generated_at"] = run["finished_at"]
        seen = _trie_pattern(_all_forms(self._seen))
        scrubber = None
        if self._by_fingerprint and self._fingerprint_key is not None:
            scrubber = fingerprints.Scrubber(self._fingerprint_key, _all_forms(self._seen), self._by_fingerprint,
                                             REDACTED)
            # this run's entry holds free text (`--network NAME`, the incremental reasons): a full pull's `seen`
            # scrubs it below, so the secrets known by fingerprint only must too
            run = _scrub_strings(run, scrubber)
        manifest.setdefault("runs", []).append(run)
        for call in self.calls:  # secrets seen after a call failed may be in its error
            if call.error:
                call.error = scrubber.sub(call.error) if scrubber is not None \
                    else seen.sub(REDACTED, call.error) if seen is not None else call.error
            if seen is not None:  # a path is made of ids, not free text: the learned secrets are enough
                call.path = seen.sub(REDACTED, call.path)
        manifest.setdefault("calls", []).extend(call.as_json(self.collector) for call in self.calls)
        self._closed = True  # also when the write fails: __exit__ must not try again
        try:
            with deferred():  # a second Ctrl-C must not cost the run its manifest, nor a file its scrub
                if seen is not None or scrubber is not None:
                    self._scrub_written(seen, scrubber)
                for pattern in (self._pattern, seen):
                    manifest = _scrub_strings(manifest, pattern) if pattern is not None else manifest
                self._write(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", scrub=False)
        except OSError as exc:  # a full or read-only disk: one line for the user, not a traceback
            raise ManifestNotWritten(f"cannot write {manifest_path}: {exc.strerror or exc}") from None
        finally:
            _LOG_SCRUBBER.remove(self)
        return manifest_path

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if not self._closed:
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                self.close(interrupted=True)
            else:
                self.close()


def _atomic_write(target: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
