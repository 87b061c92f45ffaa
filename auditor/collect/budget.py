"""Request budgets shared by every process of one host: at most N requests in any one-second window per key.

The Dashboard counts requests per organisation (10/s) and per source IP address (100/s) however many
processes send them. One collection keeps to both with its in-process buckets (auditor/vendors/meraki/collect.py),
but a fleet runs many collections at once on a host, in several worker processes and threads
(auditor/fleet/): their requests leave from the same egress address and must share one budget.

`SharedBudget` keeps, per key (`source:<address>`, `org:<id>`), the times of the requests admitted in the
last window in a small file under a host-local directory, read and rewritten under an exclusive `flock`.
A request is admitted only when every key it is charged to has had fewer than its limit within the window
(window plus a guard, below): all keys are checked and charged under all their locks at once (taken in
name order, so two processes never deadlock), so the record holds the time a request was let go, not a
reservation that could be sent later. Why files and not the engine's primitives:

- a lock held by a process that dies (a worker killed mid-org) is released by the kernel at once; the
  engine's distributed semaphores are leases the scheduler expires only after a timeout, and they bound
  concurrency, not a rate;
- admission costs a few microseconds and no network round trip to a scheduler, at 100 requests/s;
- the clock is CLOCK_MONOTONIC, which every process of a Linux or macOS host shares. Times further ahead
  than a window (a file left over from before a reboot) are dropped.

The directory must be local to the host (default: `budget_dir()`): on a network file system two hosts would
share a budget, and flock there is not reliable. `flock` is POSIX: on Windows a fleet worker refuses to
start rather than send unbudgeted.

Where a request is charged: at the socket, by `budgeted_transport`, whose connections take the budget in
the write that sends a request's bytes and send them at once. Charged any earlier (before the HTTP client
finds a connection and writes), a request waits on an event loop busy parsing and writing other answers:
measured on a loaded 2-core machine, up to 0.37 s passed between admission and the bytes reaching the
server, enough for requests admitted a second apart to arrive bunched.

The guard: the Dashboard counts a request when it arrives, a little after it was written (the network). Any
`limit + 1` requests admitted here span at least window + guard, so the Dashboard counts at most `limit` in
any window as long as that delay varies by less than the guard.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpcore
import httpx

from auditor.errors import BadInput

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

WINDOW = 1.0  # seconds: the Dashboard's limits are per second
GUARD = 0.1  # seconds added to the window (module docstring): 10 % of the budget for a margin of 100 ms
_TIME = struct.Struct("<d")
_MAX_ENTRIES = 10_000  # a corrupt or foreign file never makes us read or keep more than this


class BudgetUnavailable(BadInput, RuntimeError):
    """Shared budgets cannot work here (no flock, a directory that cannot be written)."""


def budget_dir() -> Path:
    """The host's budget directory: under XDG_RUNTIME_DIR (a per-user tmpfs) or the system's temp directory."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime and Path(runtime).is_dir() else Path(tempfile.gettempdir())
    return base / f"vpn-auditor-budgets-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


def key_file(key: str) -> str:
    return urllib.parse.quote(key, safe="") + ".times"


class SharedBudget:
    """Per-key request windows shared through files in `directory` (module docstring)."""

    def __init__(self, directory: Path, limits: Mapping[str, int], *, window: float = WINDOW,
                 guard: float = GUARD) -> None:
        if fcntl is None:
            raise BudgetUnavailable("shared request budgets need flock (Linux, macOS, BSD)")
        if not limits or any(n < 1 for n in limits.values()):
            raise ValueError(f"each budget must allow at least one request per window: {dict(limits)}")
        self.directory = directory
        self.limits = dict(sorted(limits.items()))  # lock order: by key, in every process
        self.span = window + guard
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise BudgetUnavailable(f"{directory}: cannot create the budget directory: {exc.strerror or exc}") \
                from None
        self.admitted = 0
        self.waited = 0.0
        self.last_admitted = 0.0  # the time recorded for the last request admitted

    async def acquire(self) -> None:
        """Wait until every key has room, then charge the request to each."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                self.admitted += 1
                return
            self.waited += wait
            await asyncio.sleep(wait)

    def try_acquire(self, now: float | None = None) -> float:
        """0.0 when the request was admitted and charged; else the seconds until one may be."""
        with self._locked() as files:
            now = time.monotonic() if now is None else now
            logs = {key: self._read(fd, now) for key, fd in files.items()}
            wait = 0.0
            for key, times in logs.items():
                limit = self.limits[key]
                if len(times) >= limit:  # the limit-th newest must leave the window first
                    wait = max(wait, times[-limit] + self.span - now)
            if wait > 0:
                return wait + 0.001  # past the edge, not on it
            for key, fd in files.items():
                self._write(fd, [*logs[key], now])
            self.last_admitted = now
            return 0.0

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, int]]:
        files: dict[str, int] = {}
        try:
            for key in self.limits:
                fd = os.open(self.directory / key_file(key), os.O_RDWR | os.O_CREAT, 0o600)
                files[key] = fd
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield files
        finally:
            for fd in reversed(files.values()):
                os.close(fd)  # closing releases the lock

    def _read(self, fd: int, now: float) -> list[float]:
        data = os.pread(fd, _MAX_ENTRIES * _TIME.size, 0)
        count = len(data) // _TIME.size  # a torn write leaves a partial entry: ignored
        times = [t for (t,) in _TIME.iter_unpack(data[: count * _TIME.size])]
        # Only the window matters; a time ahead of now is from another boot's clock.
        return sorted(t for t in times if now - self.span < t <= now)

    def _write(self, fd: int, times: list[float]) -> None:
        data = b"".join(_TIME.pack(t) for t in times[-_MAX_ENTRIES:])
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))


# --- charged at the socket -------------------------------------------------------------------------------------
class _BudgetedStream(httpcore.AsyncNetworkStream):
    """A connection whose every non-empty write (for a GET: one whole request) waits for the budget first."""

    def __init__(self, inner: httpcore.AsyncNetworkStream, budget: SharedBudget) -> None:
        self.inner = inner
        self.budget = budget

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self.inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            await self.budget.acquire()
        await self.inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        # The handshake goes through the inner stream unbudgeted; requests go through the TLS stream, wrapped.
        return _BudgetedStream(await self.inner.start_tls(ssl_context, server_hostname, timeout), self.budget)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _BudgetedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, budget: SharedBudget) -> None:
        self.inner = httpcore.AnyIOBackend()  # what httpx uses under asyncio
        self.budget = budget

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        stream = await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _BudgetedStream(stream, self.budget)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("budgeted connections are TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def budgeted_transport(budget: SharedBudget | None, *, local_address: str | None = None,
                       max_connections: int = 10) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose connections leave from `local_address` and, with a budget, charge each
    request to it at the socket (module docstring).

    httpx builds its connection pool without a way to pass httpcore's `network_backend`: the pool is built
    again here with the same settings and ours.
    """
    limits = httpx.Limits(max_connections=max_connections)
    transport = httpx.AsyncHTTPTransport(local_address=local_address, limits=limits)
    if budget is not None:
        pool = transport._pool
        if not isinstance(pool, httpcore.AsyncConnectionPool):  # another httpx: never send unbudgeted
            raise BudgetUnavailable(f"this httpx ({httpx.__version__}) builds no httpcore connection pool")
        transport._pool = httpcore.AsyncConnectionPool(
            ssl_context=pool._ssl_context, max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections, keepalive_expiry=limits.keepalive_expiry,
            local_address=local_address, network_backend=_BudgetedBackend(budget))
    return transport
