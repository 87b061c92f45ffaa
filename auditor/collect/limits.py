"""Bounds on what a remote peer can cost a collection (docs/limits.md).

A Dashboard, load balancer or device may be slow, broken or hostile: a body that never ends, a page that links
to itself, a redirect to the same URL, `Retry-After: 1000000000`, a configuration that scrolls forever. Each
request has a total deadline (connect, headers and the whole body, not per read), each body and command output
a size cap, each list a page cap and a loop guard, each Retry-After a cap. A trip raises `LimitExceeded`; the
collector records it as a failed call in the manifest (what depends on it is then `unknown`), never a crash,
a hang or a silently shortened file.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

from auditor.errors import Refused

MIB = 1 << 20
MAX_BODY_ENV = "VPN_AUDITOR_MAX_BODY_MB"
DEFAULT_MAX_BODY_MB = 64.0  # a 200,000-line running-config is ~10 MB; the largest Dashboard list a few MB
DEFAULT_MAX_PAGES = 1000  # 1,000 pages of 1,000 networks
DEFAULT_MAX_RETRY_AFTER = 60.0  # seconds; the Dashboard asks for 1-2
MAX_REDIRECTS = 5
MAX_JSON_DEPTH = 64  # no vendor body nests deeper than ~10 levels
# Headers that describe the body as it travelled, not as it was read: dropped from a response rebuilt from
# the decoded bytes, so nothing decodes it a second time.
_TRANSFER_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class LimitExceeded(Refused, RuntimeError):
    """A peer went past a bound (size, pages, redirects, Retry-After, nesting): the call failed, nothing kept."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float = 60.0  # seconds per request, in total
    max_body: int = int(DEFAULT_MAX_BODY_MB * MIB)  # bytes per body (decoded) or command output
    max_pages: int = DEFAULT_MAX_PAGES  # pages per paginated call
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER  # a longer Retry-After fails the call
    max_redirects: int = MAX_REDIRECTS


def max_body_mb(value: float | None = None) -> float:
    """The body cap in MB: `value` (an option), else $VPN_AUDITOR_MAX_BODY_MB, else the default."""
    if value is not None:
        return value
    text = os.environ.get(MAX_BODY_ENV, "").strip()
    try:
        return float(text) if text and float(text) > 0 else DEFAULT_MAX_BODY_MB
    except ValueError:
        return DEFAULT_MAX_BODY_MB


def mb_bytes(mb: float) -> int:
    return max(1, int(mb * MIB))


def describe_size(size: int) -> str:
    return f"{size / MIB:.1f} MB" if size >= MIB else f"{size / 1024:.1f} kB"


def too_large(what: str, cap: int, option: str = "--max-body-mb") -> LimitExceeded:
    return LimitExceeded(f"{what} is larger than the {describe_size(cap)} cap ({option}); nothing was kept")


ACCEPT_ENCODING = "gzip, deflate"  # what _Inflater decodes; asked for so no other coding is sent


class _Inflater:
    """Decodes a Content-Encoding chunk by chunk, never producing more than the room left under the cap: a
    megabyte of gzip that inflates to a gigabyte costs the cap, not the gigabyte."""

    def __init__(self, encoding: str) -> None:
        coding = encoding.strip().lower()
        if coding in ("", "identity"):
            self._z = None
        elif coding in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._z = zlib.decompressobj()
        else:
            raise LimitExceeded(f"Content-Encoding {encoding!r} was not asked for ({ACCEPT_ENCODING}); nothing was "
                                "kept")

    def feed(self, data: bytes, room: int, what: str, cap: int) -> bytes:
        if self._z is None:
            if len(data) > room:
                raise too_large(what, cap)
            return data
        try:
            out = self._z.decompress(data, room + 1)
        except zlib.error as exc:
            raise LimitExceeded(f"{what} does not decode ({exc}); nothing was kept") from None
        if len(out) > room or self._z.unconsumed_tail:
            raise too_large(what, cap)
        return out


def read_capped(response: httpx.Response, cap: int, what: str = "response body") -> bytes:
    """The decoded body of a streamed response, or LimitExceeded as soon as it passes `cap` bytes (nothing more
    is read)."""
    inflater = _Inflater(response.headers.get("Content-Encoding", ""))
    parts: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        piece = inflater.feed(chunk, cap - size, what, cap)
        size += len(piece)
        parts.append(piece)
    return b"".join(parts)


async def aread_capped(response: httpx.Response, cap: int, what: str = "response body") -> bytes:
    inflater = _Inflater(response.headers.get("Content-Encoding", ""))
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        piece = inflater.feed(chunk, cap - size, what, cap)
        size += len(piece)
        parts.append(piece)
    return b"".join(parts)


def rebuilt(response: httpx.Response, body: bytes) -> httpx.Response:
    """A complete response carrying the decoded `body` read from a streamed `response`."""
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _TRANSFER_HEADERS]
    extensions = {k: v for k, v in response.extensions.items() if k in ("reason_phrase", "http_version")}
    return httpx.Response(response.status_code, headers=headers, content=body, request=response.request,
                          extensions=extensions)


def check_depth(value: object, limit: int = MAX_JSON_DEPTH) -> None:
    """LimitExceeded when a parsed JSON value nests deeper than `limit` (checked without recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterator[object] = iter(item.values())
        elif isinstance(item, list):
            children = iter(item)
        else:
            continue
        if depth > limit:
            raise LimitExceeded(f"body nests deeper than {limit} levels; nothing was kept")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def retry_after_seconds(value: str) -> float | None:
    """Retry-After as seconds (a number; an HTTP date is read as 1 s); None when absent or unreadable."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return 1.0
    return seconds if seconds == seconds else None  # NaN


__all__ = ["ACCEPT_ENCODING", "DEFAULT_MAX_BODY_MB", "DEFAULT_MAX_PAGES", "DEFAULT_MAX_RETRY_AFTER", "MAX_BODY_ENV",
           "LimitExceeded", "Limits", "aread_capped", "check_depth", "describe_size", "max_body_mb", "mb_bytes",
           "read_capped", "rebuilt", "retry_after_seconds"]
