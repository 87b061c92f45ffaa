"""Live Meraki collection: every network of an organisation, as fast as the rate limit allows, read-only.

Uses the official SDK's async client (`meraki.aio.AsyncDashboardAPI`) for URLs, pagination
(`total_pages="all"` everywhere) and retries (429 honouring Retry-After, 5xx, transport errors), and adds
what a complete, fast and safe pull needs on top of it:

- **Read-only by construction.** The SDK session's `_send_request` (the one place every attempt goes
  through) is wrapped: any method but GET raises `ReadOnlyViolation` before a byte is sent. An httpx
  request hook checks again at the transport, for requests that bypass the session.
- **Speed = the rate limit.** The Dashboard allows ~10 requests/s per organisation. Every HTTP attempt
  (each page, each retry) takes a token from that organisation's bucket (`TokenBucket`, FIFO), then one
  from a global bucket (100/s per source IP) and a concurrency slot. Networks are collected concurrently,
  so the bucket never runs dry until the end. The burst is kept below the Dashboard's so jitter does not
  cause 429s; when one comes anyway the bucket pauses for Retry-After and slows down a little (someone
  else may be spending the same organisation's budget), and the SDK retries. A call whose SDK retries
  all ran into 429s is simply made again: rate limiting is never fatal.
- **Nothing missing, nothing invented.** Each call's outcome goes into the manifest: `ok` (file
  written), `absent` (the feature does not exist there: 400 "VLANs are not enabled", 404 for a product
  the network lacks) or `failed` (403, 5xx after retries, timeouts, broken JSON ...), with the HTTP status
  and error body. Failed calls write no file, so the audit reports `unknown` for what depends on them.
- **No secret written.** Bodies pass through `redact_json` (SnapshotWriter); the API key is scrubbed
  from everything written; the SDK's own logging and log file are off.
- **Path safety.** Identifiers from the API are percent-encoded into file names (as the SDK encodes
  them into URLs); identifiers that cannot be requested safely ("." or "..", which HTTP clients
  normalise away) are not requested and are recorded as failed.
- **Bounded** (auditor/collect/limits.py, docs/limits.md). Each attempt has a total deadline (`--timeout`,
  headers and whole body); its body is read as a stream and refused past `--max-body-mb`, also summed over
  the pages of one call; a call stops after `--max-pages` pages, at a page whose `Link rel=next` leads back
  to a page already read or that repeats one, after 5 redirects or a redirect to itself, and at a
  `Retry-After` longer than `--max-retry-after`. Each trip fails that call (the manifest says which bound).

- **Incremental.** With `since` (an older snapshot), `auditor.vendors.meraki.incremental` reads the change log
  first and `fetch` carries over what it proves unchanged instead of calling the API.

`collect(config)` is the entry point; `auditor.cli_collect` wires it to `vpn-auditor collect meraki`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import logging
import math
import re
import signal
import socket
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import meraki
import meraki.aio
from meraki.config import DEFAULT_BASE_URL
from meraki.session.base import apply_meraki_param_encoding

import auditor
from auditor.collect import fingerprints
from auditor.collect.budget import SharedBudget, budgeted_transport
from auditor.collect.clock import SYSTEM_CLOCK, Clock
from auditor.collect.inventory import public_host
from auditor.collect.limits import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_RETRY_AFTER,
    LimitExceeded,
    Limits,
    aread_capped,
    describe_size,
    mb_bytes,
    rebuilt,
    retry_after_seconds,
)
from auditor.collect.signals import INTERRUPTED
from auditor.collect.writer import (
    CallRecord,
    OutNotWritable,
    SnapshotWriter,
    UnsafePathError,
    check_out,
    quote_segment,
)
from auditor.errors import Refused
from auditor.untrusted import markup
from auditor.vendors.meraki.calls import CALL, CallStats, CollectUsageError, Fetched
from auditor.vendors.meraki.incremental import Incremental

log = logging.getLogger(__name__)

API_KEY_ENV = "MERAKI_DASHBOARD_API_KEY"
BASE_URL_ENV = "MERAKI_BASE_URL"
ORG_RATE = 10.0  # requests/s per organisation (Dashboard API call budget)
GLOBAL_RATE = 100.0  # requests/s per source IP
CONCURRENCY = 10  # requests in flight per source IP
RATE_LIMIT_ROUNDS = 10  # times a call is made again when all the SDK's retries met 429s
VLANS_DISABLED = "VLANs are not enabled"


def _caller() -> str:
    # The SDK requires "Name/1.2.3 Vendor" (letters, digits, dots only in the version).
    version = re.sub(r"[^0-9A-Za-z.]", "", auditor.__version__).strip(".") or "0"
    return f"VpnPathAuditor/{version} VpnPathAuditor"


class ReadOnlyViolation(Refused, RuntimeError):
    """Something tried to send a request other than GET to the Dashboard. Nothing was sent."""


class HostNotAllowed(Refused, RuntimeError):
    """A redirect or pagination link pointed away from the Dashboard; the API key was not sent there."""


# --- configuration and result -------------------------------------------------------------------------
@dataclass
class CollectorConfig:
    out: Path
    api_key: str
    orgs: Sequence[str] = ()
    networks: Sequence[str] = ()  # ids or names; empty: every network
    base_url: str = DEFAULT_BASE_URL
    rate: float = ORG_RATE
    burst: int | None = None  # default: half a second's worth, below the Dashboard's own burst
    global_rate: float = GLOBAL_RATE
    concurrency: int = CONCURRENCY
    maximum_retries: int = 5  # attempts per request, as the SDK counts them
    timeout: float = 60.0  # seconds per request, in total (not per read)
    show_progress: bool = False
    max_body_mb: float = 64.0  # per body, and per call summed over its pages
    max_pages: int = DEFAULT_MAX_PAGES
    max_retry_after: float = DEFAULT_MAX_RETRY_AFTER

    def limits(self) -> Limits:
        return Limits(timeout=self.timeout, max_body=mb_bytes(self.max_body_mb), max_pages=self.max_pages,
                      max_retry_after=self.max_retry_after)
    since: Path | None = None  # an older snapshot: carry over what the change log proves unchanged (incremental.py)
    # Record keyed fingerprints of the secrets redacted (collect/fingerprints.py), and carry secret-bearing calls
    # with them under --since: opt-in, since they tell a secret's length and which escapings change it
    secret_fingerprints: bool = False
    source_address: str | None = None  # local address Dashboard connections leave from (an egress IP)
    budget: SharedBudget | None = None  # request windows shared with the host's other processes (fleet)
    clock: Clock = SYSTEM_CLOCK  # what rate limiting and the SDK's retry waits pace by (auditor/collect/clock.py)


@dataclass
class CollectResult:
    exit_code: int
    manifest: Path
    orgs: list[str]
    networks: int
    calls: int
    ok: int
    absent: int
    failed: int
    requests: int  # HTTP attempts, including pages and retries
    rate_limited: int  # 429 answers absorbed
    elapsed: float
    unmatched_networks: list[str] = field(default_factory=list)
    failures: list[CallRecord] = field(default_factory=list)
    carried: int = 0  # calls carried over from the --since snapshot instead of made


# --- rate limiting and the read-only gate --------------------------------------------------------------
class TokenBucket:
    """An asyncio token bucket. Waiters are served in arrival order (asyncio.Lock is FIFO)."""

    def __init__(self, rate: float, burst: int, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.max_rate = rate
        self.rate = rate
        self.burst = max(1, burst)
        self.tokens = float(self.burst)
        self.last = clock.monotonic()
        self.resume_at = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self.clock.monotonic()
                if now < self.resume_at:
                    await self.clock.sleep(self.resume_at - now)
                    continue
                self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
                self.last = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await self.clock.sleep((1 - self.tokens) / self.rate)

    def back_off(self, seconds: float) -> None:
        """A 429: send nothing for `seconds`, then resume a little slower."""
        now = self.clock.monotonic()
        if now >= self.resume_at:  # one slow-down per episode, however many answers were in flight
            self.rate = max(self.max_rate / 4, self.rate * 0.8)
        self.resume_at = max(self.resume_at, now + seconds)
        self.tokens = 0.0
        self.last = self.resume_at

    def succeeded(self) -> None:
        if self.rate < self.max_rate:
            self.rate = min(self.max_rate, self.rate + self.max_rate / 100)


_ORG: ContextVar[str | None] = ContextVar("meraki_org", default=None)

Sender = Callable[..., Awaitable[httpx.Response]]


class RequestGate:
    """What every HTTP attempt passes through: GET only, per-org and global rate, concurrency, counts."""

    def __init__(self, rate: float = ORG_RATE, burst: int | None = None, global_rate: float = GLOBAL_RATE,
                 concurrency: int = CONCURRENCY, base_url: str | None = None, limits: Limits | None = None,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.limits = limits or Limits()
        self.rate = rate
        self.burst = burst if burst is not None else max(1, math.ceil(rate / 2))
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._global = TokenBucket(global_rate, max(1, math.ceil(global_rate / 2)), clock)
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self.requests = 0
        self.rate_limited = 0
        self.on_rate_limited: Callable[[str | None], None] | None = None  # e.g. a progress display
        # The Dashboard's clock less this host's, in seconds, at most: its answers' `Date` (whole seconds, taken
        # before the answer travelled) less the time each one arrived here. The change log's times are the
        # Dashboard's, so `--since` places the old run on that clock with it (incremental.py).
        self.clock_offset: float | None = None

    def bucket(self, org: str | None) -> TokenBucket:
        key = org or ""  # calls outside any organisation (the organisation list) share one bucket
        if key not in self._buckets:
            self._buckets[key] = TokenBucket(self.rate, self.burst, self.clock)
        return self._buckets[key]

    def target(self, url: str) -> str:
        """The URL to send to: SDK-mangled absolute Link URLs repaired, other hosts refused."""
        if self.base_url is None:
            return url
        rest = url[len(self.base_url):] if url.startswith(self.base_url) else ""
        if rest.startswith(("http://", "https://")):
            # The SDK glues its base URL before absolute Link targets on non-Meraki hosts
            # ("http://h/api/v1http://h/api/v1/organizations?...", docs/semantics/meraki.md, collection): undo it.
            url = rest
        check_host(self.base_url, url)
        return url

    async def send(self, send: Sender, method: str, url: str, **kwargs: Any) -> httpx.Response:
        check_read_only(method, url)
        url = self.target(url)
        stats = CALL.get()
        org = _ORG.get()
        bucket = self.bucket(org)
        await bucket.acquire()
        await self._global.acquire()
        async with self._slots:
            self.requests += 1
            if stats is not None:
                stats.attempts += 1
                stats.transport_error = None
            try:
                try:
                    async with asyncio.timeout(self.limits.timeout):  # the whole answer, not one read
                        response = await send(method, url, **kwargs)
                except TimeoutError:
                    raise httpx.ReadTimeout(f"no complete answer within {self.limits.timeout:g} s") from None
            except httpx.HTTPError as exc:
                if stats is not None:
                    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "transport error"
                    stats.transport_error = f"{kind}: {type(exc).__name__}"
                raise
        self._note_clock(response)
        if stats is not None:
            self._bound(stats, url, response)
        if response.status_code == 429:
            self.rate_limited += 1
            if stats is not None:
                stats.rate_limited += 1
            asked = retry_after_seconds(response.headers.get("Retry-After", ""))
            if asked is not None and asked > self.limits.max_retry_after:
                # Never pause the organisation's bucket for it: this call fails, the others go on.
                raise LimitExceeded(f"the Dashboard asked to wait {asked:g} s (Retry-After), more than the "
                                    f"{self.limits.max_retry_after:g} s cap (--max-retry-after)")
            wait = _retry_after(response)
            # The SDK does int(Retry-After) and would crash on "1.5" or an HTTP date: normalise it.
            response.headers["Retry-After"] = str(wait)
            bucket.back_off(wait)
            if self.on_rate_limited is not None:
                self.on_rate_limited(org)
        elif response.status_code < 400:
            bucket.succeeded()
        return response

    def _note_clock(self, response: httpx.Response) -> None:
        arrived = time.time()
        try:
            sent = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError, IndexError):
            return
        if sent.tzinfo is None:  # RFC 9110 dates are GMT; a date without a zone says nothing certain
            return
        offset = sent.timestamp() - arrived
        if self.clock_offset is None or offset < self.clock_offset:
            self.clock_offset = offset

    def _bound(self, stats: CallStats, url: str, response: httpx.Response) -> None:
        """Redirect, page, size and loop bounds of one call (the SDK would follow any of them forever)."""
        limits = self.limits
        status = response.status_code
        if 300 <= status < 400:
            stats.redirects += 1
            location = response.headers.get("Location", "")
            if urllib.parse.urljoin(url, location) == url:
                raise LimitExceeded(f"HTTP {status} redirect to the URL itself (a redirect loop)")
            if stats.redirects > limits.max_redirects:
                raise LimitExceeded(f"more than {limits.max_redirects} redirects (a redirect loop?)")
            return
        if not 200 <= status < 300:
            return
        stats.pages += 1
        stats.body_bytes += len(response.content)
        if stats.body_bytes > limits.max_body:
            raise LimitExceeded(f"the answer (all its pages) is larger than the {describe_size(limits.max_body)} "
                                "cap (--max-body-mb); nothing was kept")
        if stats.pages > limits.max_pages:
            raise LimitExceeded(f"more than {limits.max_pages} pages (--max-pages); nothing was kept")
        digest = hash(response.content)
        if stats.page_digests.get(digest, url) != url:
            raise LimitExceeded(f"pagination loop: page {stats.pages} repeats an earlier page; nothing was kept")
        stats.page_digests[digest] = url
        stats.page_urls.add(url)
        link = response.links.get("next", {}).get("url")
        if link and self._resolve(link) in stats.page_urls:
            raise LimitExceeded("pagination loop: Link rel=next leads back to a page already read; nothing was "
                                "kept")

    def _resolve(self, link: str) -> str | None:
        """The URL the SDK will request for a Link target (it prefixes its base URL to any non-Meraki one)."""
        if _is_meraki(link):
            return link
        if self.base_url is None:
            return None
        try:
            return self.target(self.base_url + link)
        except HostNotAllowed:
            return None  # refused when the SDK tries it


def _retry_after(response: httpx.Response) -> int:
    value = response.headers.get("Retry-After", "")
    try:
        return max(1, math.ceil(float(value)))
    except ValueError:
        return 1


def check_read_only(method: str, url: object) -> None:
    if method.upper() != "GET":
        raise ReadOnlyViolation(f"refusing to send {method.upper()} {_path_of(url)}: the collector is read-only")


def _path_of(url: object) -> str:
    return urllib.parse.urlsplit(str(url)).path


_MERAKI_DOMAINS = ("meraki.com", "meraki.ca", "meraki.cn", "meraki.in", "gov-meraki.com")


def _origin(url: str) -> tuple[str, str]:
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), f"{host}:{port}"


def _is_meraki(url: str) -> bool:
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    return any(host == d or host.endswith("." + d) for d in _MERAKI_DOMAINS)


def check_host(base_url: str, url: str) -> None:
    """The API key goes only to the configured Dashboard host (or, from a Meraki host, to another one)."""
    if _origin(url) == _origin(base_url):
        return
    if _is_meraki(base_url) and _is_meraki(url) and _origin(url)[0] == "https":
        return
    raise HostNotAllowed(f"refusing to send the API key to {_origin(url)[1]} (not the Dashboard at "
                         f"{_origin(base_url)[1]})")


def open_dashboard(config: CollectorConfig, gate: RequestGate) -> meraki.aio.AsyncDashboardAPI:
    """The SDK's async client, configured for collection and fitted with the read-only gate."""
    dashboard = meraki.aio.AsyncDashboardAPI(
        config.api_key,
        base_url=config.base_url,
        single_request_timeout=config.timeout,
        maximum_retries=max(1, config.maximum_retries),
        wait_on_rate_limit=True,
        nginx_429_retry_wait_time=10,
        output_log=False,  # else the SDK writes a log file into the working directory
        print_console=False,
        suppress_logging=True,
        caller=_caller(),
        maximum_concurrent_requests=max(1, config.concurrency),
        use_iterator_for_get_pages=False,
        smart_flow_enabled=False,  # our own buckets; smart flow would also write a cache under ~
        smart_flow_cache_path="",
    )
    gate.limits = config.limits()
    dashboard._session._sleep = config.clock.sleep  # the SDK's retry waits (Retry-After, 5xx) on our clock
    if config.source_address or config.budget is not None:
        bind_transport(dashboard, config.source_address, config.budget, max(1, config.concurrency))
    install_gate(dashboard, gate)
    return dashboard


def bind_transport(dashboard: meraki.aio.AsyncDashboardAPI, address: str | None, budget: SharedBudget | None,
                   concurrency: int) -> None:
    """Make the SDK's connections leave from the local `address` (one egress IP of several on a host) and
    charge each request, as it is written, to the host's shared `budget` (auditor/collect/budget.py).

    The SDK (>= 4.7, httpx) takes no transport of its own: its client is rebuilt with the same headers and
    timeout over our transport, which binds each new connection before connecting. With an explicit transport
    httpx ignores proxy variables, so nothing leaves from elsewhere.
    """
    session = dashboard._session
    old: httpx.AsyncClient = session._client
    transport = budgeted_transport(budget, local_address=address, max_connections=concurrency)
    session._client = httpx.AsyncClient(transport=transport, timeout=old.timeout, headers=old.headers,
                                        event_hooks=old.event_hooks)


def install_gate(dashboard: meraki.aio.AsyncDashboardAPI, gate: RequestGate) -> None:
    """Route every attempt of the SDK session through `gate`; check method and host at the transport too."""
    session = dashboard._session
    client: httpx.AsyncClient = session._client

    async def bounded(method: str, url: str, **kwargs: Any) -> httpx.Response:
        # The SDK's own _send_request reads the whole body, however long; this one streams it under the cap.
        url = apply_meraki_param_encoding(url, kwargs)
        request = client.build_request(method, url, **kwargs)
        request.headers["Accept-Encoding"] = ACCEPT_ENCODING
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            body = await aread_capped(response, gate.limits.max_body)
        finally:
            await response.aclose()
        return rebuilt(response, body)

    async def gated(method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await gate.send(bounded, method, url, **kwargs)

    async def transport_check(request: httpx.Request) -> None:
        check_read_only(request.method, request.url)
        if gate.base_url is not None:
            check_host(gate.base_url, str(request.url))

    session._send_request = gated
    hooks = dict(session._client.event_hooks)
    hooks["request"] = [*hooks.get("request", []), transport_check]
    session._client.event_hooks = hooks


# --- progress -------------------------------------------------------------------------------------------
class _Progress:
    """A rich progress bar per organisation on a terminal; nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self._tasks: dict[str, Any] = {}
        self._calls: dict[str, int] = {}
        self._throttled: dict[str, int] = {}
        self._progress: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TextColumn("networks  {task.fields[calls]} calls  {task.fields[throttled]} x 429"),
                TimeElapsedColumn(), console=Console(stderr=True))

    @contextlib.contextmanager
    def shown(self) -> Iterator[None]:
        if self._progress is None:
            yield
            return
        with self._progress:
            yield

    def org(self, org_id: str, label: str) -> None:
        if self._progress is not None and org_id not in self._tasks:
            # the description is markup ("[bold]{task.description}"): an org's name is the Dashboard's words
            self._tasks[org_id] = self._progress.add_task(markup(label), total=None, calls=0, throttled=0)

    def networks(self, org_id: str, total: int) -> None:
        if org_id in self._tasks:
            self._progress.update(self._tasks[org_id], total=total)

    def call(self, org_id: str | None) -> None:
        task = self._tasks.get(org_id or "")
        if task is not None:
            self._calls[org_id or ""] = calls = self._calls.get(org_id or "", 0) + 1
            self._progress.update(task, calls=calls)

    def throttled(self, org_id: str | None) -> None:
        task = self._tasks.get(org_id or "")
        if task is not None:
            self._throttled[org_id or ""] = count = self._throttled.get(org_id or "", 0) + 1
            self._progress.update(task, throttled=count)

    def network_done(self, org_id: str) -> None:
        if org_id in self._tasks:
            self._progress.advance(self._tasks[org_id])


# --- the collector --------------------------------------------------------------------------------------
_APPLIANCE_FIREWALL = (
    ("l3FirewallRules", "getNetworkApplianceFirewallL3FirewallRules"),
    ("l7FirewallRules", "getNetworkApplianceFirewallL7FirewallRules"),
    ("inboundFirewallRules", "getNetworkApplianceFirewallInboundFirewallRules"),
    ("portForwardingRules", "getNetworkApplianceFirewallPortForwardingRules"),
    ("oneToOneNatRules", "getNetworkApplianceFirewallOneToOneNatRules"),
    ("oneToManyNatRules", "getNetworkApplianceFirewallOneToManyNatRules"),
    ("cellularFirewallRules", "getNetworkApplianceFirewallCellularFirewallRules"),  # appended on cellular failover
)


class MerakiCollector:
    """Collects organisations into a snapshot through one SDK client; see the module docstring."""

    def __init__(self, config: CollectorConfig, dashboard: meraki.aio.AsyncDashboardAPI, gate: RequestGate,
                 writer: SnapshotWriter) -> None:
        self.config = config
        self.d = dashboard
        self.gate = gate
        self.writer = writer
        self.progress = _Progress(config.show_progress)
        gate.on_rate_limited = self.progress.throttled
        self.org_ids: list[str] = []
        self.skipped_orgs: list[dict[str, str]] = []
        self.networks_collected = 0
        self._matched: set[str] = set()
        self._listings_complete = True
        self.incremental: Incremental | None = None  # set for `--since`: decides what is carried over

    # one call ------------------------------------------------------------------------------------------
    async def fetch(self, segments: Sequence[object], call: Callable[[], Awaitable[Any]], *,
                    product: str | None = None, products: frozenset[str] = frozenset()) -> Fetched:
        """Make one SDK call for the API path `segments`, write its body, record its outcome."""
        try:
            api_path = "/".join(quote_segment(s) for s in segments)
            if any(str(s) in (".", "..") for s in segments):
                raise UnsafePathError("'.' and '..' cannot be sent as identifiers (clients normalise them away)")
        except UnsafePathError as exc:
            shown = "/".join(urllib.parse.quote(str(s), safe="") or "''" for s in segments)
            self._record(shown, None, "failed", None, f"not requested: {exc}", CallStats())
            return Fetched("failed")
        file = f"meraki/{api_path}.json"
        if self.incremental is not None:
            carried = self.incremental.reuse(self, api_path, file)
            if carried is not None:
                return carried
        stats = CallStats()
        token = CALL.set(stats)
        try:
            for round_ in range(RATE_LIMIT_ROUNDS):
                stats.new_round()
                try:
                    body = await call()
                except meraki.APIError as exc:
                    if exc.status == 429 and round_ + 1 < RATE_LIMIT_ROUNDS:
                        continue  # only rate limited: never a reason to give up
                    return self._api_error(api_path, file, exc, stats, product, products)
                except ReadOnlyViolation:
                    raise
                except asyncio.CancelledError:  # interrupted: in the manifest as failed, then stop
                    self._record(api_path, file, "failed", None, INTERRUPTED, stats)
                    raise
                except LimitExceeded as exc:  # the answer went past a bound (limits.py): a failed call
                    self._record(api_path, file, "failed", None, str(exc), stats)
                    return Fetched("failed")
                except Exception as exc:  # the SDK choking on a malformed answer, for one
                    self._record(api_path, file, "failed", None, f"{type(exc).__name__}: {exc}", stats)
                    return Fetched("failed")
                try:
                    self.writer.write_json(file, body)
                except LimitExceeded as exc:
                    self._record(api_path, file, "failed", 200, str(exc), stats)
                    return Fetched("failed")
                except (OSError, UnsafePathError) as exc:
                    self._record(api_path, file, "failed", 200, f"cannot write the file: {exc}", stats)
                    return Fetched("failed")
                self._record(api_path, file, "ok", 200, None, stats, written=True)
                return Fetched("ok", body)
            raise AssertionError("unreachable")  # the last round returns
        finally:
            CALL.reset(token)

    def _api_error(self, api_path: str, file: str, exc: meraki.APIError, stats: CallStats,
                   product: str | None, products: frozenset[str]) -> Fetched:
        response = exc.response
        if not isinstance(response, httpx.Response):  # the SDK's stand-in after transport errors
            error = stats.transport_error or f"no response: {exc.reason}"
            self._record(api_path, file, "failed", None, f"{error} (after {stats.attempts} attempts)", stats)
            return Fetched("failed")
        status = exc.status
        message = exc.message
        if 200 <= (status or 0) < 300:
            # Never copy a body we cannot parse: it is not redactable.
            self._record(api_path, file, "failed", status, "response body is not valid JSON", stats)
            return Fetched("failed")
        vlans_disabled = status == 400 and VLANS_DISABLED.lower() in str(message).lower()
        product_lacking = status == 404 and product is not None and product not in products
        outcome = "absent" if vlans_disabled or product_lacking else "failed"
        self._record(api_path, file, outcome, status, message, stats)
        return Fetched(outcome)

    def _record(self, api_path: str, file: str | None, outcome: str, status: int | None, error: object,
                stats: CallStats, *, written: bool = False) -> None:
        origin = {"origin": "fetched"} if self.incremental is not None else {}
        self.writer.record_call(api_path, outcome, status=status, error=error, file=file, written=written,
                                attempts=stats.attempts, rate_limited=stats.rate_limited, **origin)
        log.debug("GET %s -> %s %s", api_path, status, outcome)
        self.progress.call(_ORG.get())

    # organisations -------------------------------------------------------------------------------------
    async def run(self) -> None:
        listing = await self.fetch(("organizations",),
                                   lambda: self.d.organizations.getOrganizations(total_pages="all"))
        known = {str(o.get("id")): o for o in listing.body or [] if isinstance(o, dict)} if listing.ok else {}
        if self.config.orgs:
            org_ids = list(dict.fromkeys(str(o) for o in self.config.orgs))
        else:
            org_ids = []
            for org_id, org in known.items():
                if isinstance(org.get("api"), dict) and org["api"].get("enabled") is False:
                    self.skipped_orgs.append({"id": org_id, "reason": "API access is disabled for it"})
                else:
                    org_ids.append(org_id)
            if not listing.ok:
                self._listings_complete = False
        self.org_ids = org_ids
        for org_id in org_ids:
            name = known.get(org_id, {}).get("name")
            self.progress.org(org_id, f"{name} ({org_id})" if name else org_id)
        with self.progress.shown():
            await asyncio.gather(*(self._org(org_id) for org_id in org_ids))

    async def _org(self, org_id: str) -> None:
        _ORG.set(org_id)  # this task's context: every request below is charged to this org's bucket
        if self.incremental is not None:  # change log and network list first: they decide what is carried over
            await self.incremental.prepare_org(self, org_id)
        orgs = self.d.organizations
        appliance = self.d.appliance
        networks, _, _, _, _, _, _ = await asyncio.gather(
            self.fetch(("organizations", org_id, "networks"),
                       lambda: orgs.getOrganizationNetworks(org_id, total_pages="all")),
            self.fetch(("organizations", org_id, "policyObjects"),
                       lambda: orgs.getOrganizationPolicyObjects(org_id, total_pages="all")),
            self.fetch(("organizations", org_id, "policyObjects", "groups"),
                       lambda: orgs.getOrganizationPolicyObjectsGroups(org_id, total_pages="all")),
            # Each MX's uplinks with the public address its NAT gives client traffic: what a VPN server's
            # perimeter ACL sees. Unfiltered, even with --network: the file mirrors the plain GET.
            self.fetch(("organizations", org_id, "appliance", "uplink", "statuses"),
                       lambda: appliance.getOrganizationApplianceUplinkStatuses(org_id, total_pages="all")),
            # The site-to-site outbound firewall: what a full-tunnel spoke sends to its hub crosses it.
            self.fetch(("organizations", org_id, "appliance", "vpn", "vpnFirewallRules"),
                       lambda: appliance.getOrganizationApplianceVpnVpnFirewallRules(org_id)),
            # Non-Meraki peers: one with a default route carries its networks' internet traffic.
            self.fetch(("organizations", org_id, "appliance", "vpn", "thirdPartyVPNPeers"),
                       lambda: appliance.getOrganizationApplianceVpnThirdPartyVPNPeers(org_id)),
            # Local breakout rules: whether a full-tunnel spoke's VPN flows leave by the hub or locally.
            self.fetch(("organizations", org_id, "appliance", "trafficShaping", "vpnExclusions", "byNetwork"),
                       lambda: appliance.getOrganizationApplianceTrafficShapingVpnExclusionsByNetwork(
                           org_id, total_pages="all")),
        )
        if not networks.ok or not isinstance(networks.body, list):
            self._listings_complete = False
            return
        selected = [n for n in networks.body if isinstance(n, dict) and "id" in n and self._wanted(n)]
        self.progress.networks(org_id, len(selected))
        await asyncio.gather(*(self._network(org_id, n) for n in selected))

    def _wanted(self, network: dict[str, Any]) -> bool:
        if not self.config.networks:
            return True
        hits = {s for s in self.config.networks if s in (str(network.get("id")), network.get("name"))}
        self._matched |= hits
        return bool(hits)

    @property
    def unmatched_networks(self) -> list[str]:
        if not self._listings_complete:  # cannot tell "no such network" from "list not collected"
            return []
        return [s for s in dict.fromkeys(self.config.networks) if s not in self._matched]

    # networks ------------------------------------------------------------------------------------------
    async def _network(self, org_id: str, network: dict[str, Any]) -> None:
        nid = network["id"]
        products = frozenset(str(p) for p in network.get("productTypes") or [])
        jobs: list[Awaitable[Any]] = []
        if "appliance" in products:
            for name, method in _APPLIANCE_FIREWALL:
                jobs.append(self.fetch(("networks", nid, "appliance", "firewall", name),
                                       partial(getattr(self.d.appliance, method), nid),
                                       product="appliance", products=products))
            jobs.append(self._appliance_lan(nid, products))
            # AutoVPN role and hubs: a default-route hub carries the network's internet traffic.
            jobs.append(self.fetch(("networks", nid, "appliance", "vpn", "siteToSiteVpn"),
                                   partial(self.d.appliance.getNetworkApplianceVpnSiteToSiteVpn, nid),
                                   product="appliance", products=products))
            # deploymentMode: an MX in passthrough (or one-armed concentrator) mode neither routes nor NATs.
            jobs.append(self.fetch(("networks", nid, "appliance", "settings"),
                                   partial(self.d.appliance.getNetworkApplianceSettings, nid),
                                   product="appliance", products=products))
        if products & {"appliance", "wireless"}:
            jobs.append(self.fetch(("networks", nid, "groupPolicies"),
                                   partial(self.d.networks.getNetworkGroupPolicies, nid)))
        if "wireless" in products:
            jobs.append(self._wireless(nid, products))
        await asyncio.gather(*jobs)
        self.networks_collected += 1
        self.progress.network_done(org_id)

    async def _appliance_lan(self, nid: str, products: frozenset[str]) -> None:
        """VLANs when they are enabled, the single LAN otherwise."""
        appliance = self.d.appliance
        settings = await self.fetch(("networks", nid, "appliance", "vlans", "settings"),
                                    partial(appliance.getNetworkApplianceVlansSettings, nid),
                                    product="appliance", products=products)
        enabled = settings.body.get("vlansEnabled") if settings.ok and isinstance(settings.body, dict) else None
        if enabled is not False:  # also when the settings failed: try VLANs, fall back on the answer
            vlans = await self.fetch(("networks", nid, "appliance", "vlans"),
                                     partial(appliance.getNetworkApplianceVlans, nid),
                                     product="appliance", products=products)
            if vlans.outcome != "absent":
                return
        await self.fetch(("networks", nid, "appliance", "singleLan"),
                         partial(appliance.getNetworkApplianceSingleLan, nid),
                         product="appliance", products=products)

    async def _wireless(self, nid: str, products: frozenset[str]) -> None:
        wireless = self.d.wireless
        ssids = await self.fetch(("networks", nid, "wireless", "ssids"),
                                 partial(wireless.getNetworkWirelessSsids, nid),
                                 product="wireless", products=products)
        if not ssids.ok or not isinstance(ssids.body, list):
            return
        jobs: list[Awaitable[Fetched]] = []
        for ssid in ssids.body:
            if not isinstance(ssid, dict) or ssid.get("enabled") is not True or ssid.get("number") is None:
                continue
            number = ssid["number"]
            base = ("networks", nid, "wireless", "ssids", number)
            kw: dict[str, Any] = {"product": "wireless", "products": products}
            jobs.append(self.fetch((*base, "firewall", "l3FirewallRules"),
                                   partial(wireless.getNetworkWirelessSsidFirewallL3FirewallRules, nid, number),
                                   **kw))
            jobs.append(self.fetch((*base, "firewall", "l7FirewallRules"),
                                   partial(wireless.getNetworkWirelessSsidFirewallL7FirewallRules, nid, number),
                                   **kw))
            # Group policies by device type: each mapped policy is a role of the SSID.
            jobs.append(self.fetch((*base, "deviceTypeGroupPolicies"),
                                   partial(wireless.getNetworkWirelessSsidDeviceTypeGroupPolicies, nid, number), **kw))
            if ssid.get("splashPage") not in (None, "None"):
                jobs.append(self.fetch((*base, "splash", "settings"),
                                       partial(wireless.getNetworkWirelessSsidSplashSettings, nid, number), **kw))
            if str(ssid.get("authMode", "")).startswith("ipsk"):
                jobs.append(self.fetch((*base, "identityPsks"),
                                       partial(wireless.getNetworkWirelessSsidIdentityPsks, nid, number), **kw))
        await asyncio.gather(*jobs)


# --- entry points ---------------------------------------------------------------------------------------
def check_out_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CollectUsageError(f"{out}: exists and is not a directory")
    meraki_dir = out / "meraki"
    if meraki_dir.exists() and any(meraki_dir.iterdir()):
        raise CollectUsageError(f"{meraki_dir}: already holds a Meraki snapshot; choose a new --out directory "
                                "(files from two pulls must not mix)")
    try:
        check_out(out)  # a read-only or full disk is found now, not after every call was made
    except OutNotWritable as exc:
        raise CollectUsageError(str(exc)) from None


def check_base_url(base_url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(base_url)
        parts.port  # noqa: B018  # urllib checks brackets and the port only when asked
    except ValueError:  # its text is not shown: a proxy's password in it may be what urllib quotes
        raise CollectUsageError("--base-url: not an http(s) URL (a `[` without its `]`, a bracketed host that is "
                                "no IPv6 address, or a port that is not a number up to 65535)") from None
    shown = public_url(base_url)  # a proxy's user and password in the URL are never printed
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CollectUsageError(f"--base-url {shown!r}: expected http(s)://HOST[:PORT]/api/v1")
    if "v0" in base_url:  # the SDK would sys.exit() on it
        raise CollectUsageError(f"--base-url {shown!r}: API v0 is not supported")


def check_source_address(address: str) -> None:
    """--source-address: an IP address this host has (binding to it must work), found before any request."""
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        raise CollectUsageError(f"--source-address {address!r}: expected an IP address of this host") from None
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError as exc:
        raise CollectUsageError(f"--source-address {address}: cannot send from it ({exc.strerror or exc}); "
                                "is it an address of this host?") from None


def public_url(base_url: str) -> str:
    """The base URL as recorded and shown: no credentials (collect.inventory.public_host), query or fragment."""
    parts = urllib.parse.urlsplit(public_host(base_url))
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


async def collect(config: CollectorConfig) -> CollectResult:
    """Pull the configured organisations into `config.out`; always writes the manifest."""
    check_base_url(config.base_url)
    if config.source_address:
        check_source_address(config.source_address)
    check_out_dir(config.out)
    started = config.clock.monotonic()
    parameters = {"orgs": list(config.orgs), "networks": list(config.networks),
                  "base_url": public_url(config.base_url), "rate_per_org": config.rate}
    if config.source_address:
        parameters["source_address"] = config.source_address
    incremental: Incremental | None = None
    if config.since is not None:
        incremental = Incremental.open(config.since, config.out, public_url(config.base_url))
        parameters["since"] = incremental.shown
    writer = SnapshotWriter(config.out, "meraki", parameters=parameters, secrets=[config.api_key],
                            fingerprint_key=fingerprints.derive_key(config.api_key)
                            if config.secret_fingerprints else None)
    gate = RequestGate(config.rate, config.burst, config.global_rate, config.concurrency, config.base_url,
                       config.limits(), config.clock)
    collector: MerakiCollector | None = None
    interrupted = False
    try:
        async with open_dashboard(config, gate) as dashboard:
            collector = MerakiCollector(config, dashboard, gate, writer)
            collector.incremental = incremental
            if incremental is not None:
                writer.earlier = incremental.old_bytes
            await collector.run()
    except asyncio.CancelledError:  # SIGINT or SIGTERM (run_collect): the calls in flight recorded themselves
        interrupted = True
        raise
    finally:
        elapsed = config.clock.monotonic() - started
        extra: dict[str, Any] = {"requests": gate.requests, "rate_limited": gate.rate_limited,
                                 "elapsed_seconds": round(elapsed, 3)}
        if collector is not None:
            extra.update(orgs=collector.org_ids, skipped_orgs=collector.skipped_orgs,
                         unmatched_networks=collector.unmatched_networks)
        if interrupted:
            extra["interrupted"] = True
        if gate.clock_offset is not None:  # rounded down: never later than measured (incremental.py)
            extra["dashboard_clock_offset_s"] = math.floor(gate.clock_offset * 1000) / 1000
        if incremental is not None:
            extra["incremental"] = incremental.summary()
        manifest = writer.close(**extra)
    assert collector is not None
    summary = writer.summary()
    unmatched = collector.unmatched_networks
    exit_code = 2 if unmatched else (3 if summary["failed"] else 0)
    return CollectResult(
        exit_code=exit_code, manifest=manifest, orgs=collector.org_ids, networks=collector.networks_collected,
        calls=summary["calls"], ok=summary["ok"], absent=summary["absent"], failed=summary["failed"],
        requests=gate.requests, rate_limited=gate.rate_limited, elapsed=elapsed, unmatched_networks=unmatched,
        failures=[c for c in writer.calls if c.outcome == "failed"],
        carried=sum(1 for c in writer.calls if c.extra.get("origin") == "carried"))


def run_collect(config: CollectorConfig) -> CollectResult:
    """Synchronous wrapper around `collect`. SIGINT and SIGTERM cancel it: the manifest is written, marked
    interrupted, and KeyboardInterrupt is raised."""

    async def main() -> CollectResult:
        task = asyncio.current_task()
        assert task is not None
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not in the main thread
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await collect(config)

    try:
        return asyncio.run(main())
    except asyncio.CancelledError:  # SIGTERM; SIGINT arrives as KeyboardInterrupt from asyncio.run itself
        raise KeyboardInterrupt("SIGTERM") from None
