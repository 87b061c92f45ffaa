"""A local Meraki Dashboard API v1 for tests and benchmarks, plus a generator of organisations to serve.

`FakeDashboard(root)` serves a snapshot directory over HTTP on 127.0.0.1 (random port):
`GET /api/v1/<path>` answers with `root/meraki/<path>.json`. It behaves like the Dashboard where a
collector can get it wrong:

- list endpoints (organizations, organizations/{id}/networks, policyObjects, policyObjects/groups,
  appliance/uplink/statuses) are paginated with `perPage` / `startingAfter` and a `Link` header whose
  targets are *relative* to the base URL (the SDK only follows absolute Link URLs on meraki.com hosts,
  see docs/semantics/meraki.md), or absolute like the real Dashboard's with `absolute_links=True`;
- a token bucket per organisation (default 10 requests/s, burst 10) answers 429 with an integer
  `Retry-After` when exceeded; with `source_rate`, one per client address too (the Dashboard's 100/s per IP);
  the buckets count by `clock` (time.monotonic, or a FakeClock's virtual time shared with the collector);
- `networks/{id}/appliance/vlans` answers 400 "VLANs are not enabled for this network" when the
  network's vlans/settings says so; absent files answer 404;
- any method but GET answers 405 and is recorded, so a test can prove nothing was sent but GETs;
- `networks/{id}` (getNetwork) answers from the organisation's network list when no file overrides it;
- `organizations/{id}/configurationChanges` answers from `change_log`, which a test fills with `log_change`
  as it edits the served files: entries since `t0` (and up to `t1`), newest first, paged with `perPage` and
  a `Link` whose `prev` target (`endingBefore`) holds older entries, as the Dashboard pages time-ordered lists;
  a `t0` further back than `change_log_days` answers 400, as the Dashboard does beyond its 365-day lookback;
- every request is recorded (method, path, status, organisation, time, client address); `peak_rate` is the
  most requests a client address sent in any one-second window.

Faults for robustness tests: `fail(pattern, status, times)` (5xx, 403, 429 ...), `delay(...)` (for
client timeouts), `drop(...)` (connection closed without an answer), `invalid_json(...)` (200 with a
broken body), `cut_body(...)` (connection closed halfway through the body), and `hooks` for anything
else. Patterns are `fnmatch` globs over the API path, e.g. "networks/*/appliance/vlans".
"""

from __future__ import annotations

import contextlib
import email.utils
import fnmatch
import json
import math
import random
import socket
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_PREFIX = "/api/v1/"

# Paginated endpoints, the Dashboard's default page sizes, and the item field the `startingAfter` token
# is taken from (the token is opaque to clients: they only follow the Link header).
_LISTS: list[tuple[str, int, str]] = [
    ("organizations", 9000, "id"),
    ("organizations/*/networks", 1000, "id"),
    ("organizations/*/policyObjects", 5000, "id"),
    ("organizations/*/policyObjects/groups", 1000, "id"),
    ("organizations/*/appliance/uplink/statuses", 1000, "serial"),
]
VLANS_DISABLED = {"errors": ["VLANs are not enabled for this network"]}


def segment(value: object) -> str:
    """File-name form of an identifier: percent-encoded like the SDK encodes path parameters.

    Deliberately written independently of auditor.collect.writer, so the two check each other.
    """
    text = urllib.parse.quote(str(value), safe="")
    return "%2E" * len(text) if text and set(text) == {"."} else text


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # API path after /api/v1/, as sent (percent-encoded), without the query
    query: str
    status: int | None  # None: the connection was dropped without an answer
    org: str | None
    at: float  # time.monotonic() when the request arrived (when the kernel received it, where Linux says)
    source: str = "127.0.0.1"  # the client's address (the Dashboard's per-IP limit counts by it)
    clock_at: float = 0.0  # on the rate limits' clock (`clock`) when it was answered


@dataclass
class Reply:
    """What a hook or fault answers instead of the file."""

    status: int
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Incoming:
    """What a hook sees of a request."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    source: str = "127.0.0.1"  # the client's address


Hook = Callable[[Incoming], Reply | None]


@dataclass
class Fault:
    pattern: str
    kind: str  # "status" | "delay" | "drop" | "invalid_json" | "cut_body"
    status: int = 500
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    times: int | None = None  # None: forever
    hits: int = 0

    def take(self, path: str) -> bool:
        """Whether this fault applies to the request (and count it)."""
        if not fnmatch.fnmatchcase(path, self.pattern):
            return False
        if self.times is not None and self.hits >= self.times:
            return False
        self.hits += 1
        return True


class _Bucket:
    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self.tokens = float(burst)
        self.last = clock()

    def take(self) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


def _ts(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(entry["ts"]).replace("Z", "+00:00"))


class FakeDashboard:
    """A Dashboard API server on 127.0.0.1 serving `root/meraki/...` (see module docstring)."""

    def __init__(self, root: str | Path, *, rate: float | None = 10.0, burst: int = 10, latency: float = 0.0,
                 page_size: int | None = None, api_key: str | None = None, absolute_links: bool = False,
                 change_log_days: float = 365.0, source_rate: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.root = Path(root)
        self.clock = clock  # what the rate limits count by (tests/fakes/clock.py: virtual time)
        self.source_rate = source_rate
        self.change_log: dict[str, list[dict[str, Any]]] = {}  # org id -> entries, in the order logged
        self.change_log_days = change_log_days
        # How far the Dashboard's clock is from this host's: its `Date` headers and change-log times are on it
        self.clock_offset = timedelta(0)
        self._change_seq = 0
        self.absolute_links = absolute_links  # as the real Dashboard does; the SDK mangles them off meraki.com
        self.rate = rate
        self.burst = burst
        self.latency = latency
        self.page_size = page_size
        self.api_key = api_key
        self.faults: list[Fault] = []
        self.hooks: list[Hook] = []
        self._requests: list[RecordedRequest] = []
        self._buckets: dict[str, _Bucket] = {}
        self._source_buckets: dict[str, _Bucket] = {}
        self._network_org: dict[str, str] = {}
        self._networks: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> FakeDashboard:
        self.reload()
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        server.block_on_close = False  # a handler sleeping in a delay fault must not hold up stop()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-dashboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeDashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/api/v1"

    def reload(self) -> None:
        """Re-read which network belongs to which organisation (for the per-org rate limit)."""
        mapping: dict[str, str] = {}
        objects: dict[str, dict[str, Any]] = {}
        for networks_file in (self.root / "meraki" / "organizations").glob("*/networks.json"):
            org = urllib.parse.unquote(networks_file.parent.name)
            for network in json.loads(networks_file.read_text(encoding="utf-8")):
                mapping[segment(network["id"])] = org
                objects[segment(network["id"])] = network
        with self._lock:
            self._network_org = mapping
            self._networks = objects

    # faults ------------------------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, pattern: str, status: int = 500, *, times: int | None = None, body: Any = None,
             headers: dict[str, str] | None = None) -> Fault:
        """Answer `status` (5xx, 403, 429 ...) for matching paths, `times` times or forever."""
        if body is None:
            body = {"errors": [f"injected {status}"]}
        return self.add_fault(Fault(pattern, "status", status=status, body=body, headers=headers or {},
                                    times=times))

    def delay(self, pattern: str, seconds: float, *, times: int | None = None) -> Fault:
        """Hold matching requests `seconds` before answering (client timeouts)."""
        return self.add_fault(Fault(pattern, "delay", seconds=seconds, times=times))

    def drop(self, pattern: str, *, times: int | None = None) -> Fault:
        """Close the connection without answering."""
        return self.add_fault(Fault(pattern, "drop", times=times))

    def invalid_json(self, pattern: str, *, times: int | None = None) -> Fault:
        """Answer 200 with a body that is not JSON."""
        return self.add_fault(Fault(pattern, "invalid_json", times=times))

    def cut_body(self, pattern: str, *, times: int | None = None) -> Fault:
        """Answer 200 with the real headers (Content-Length of the whole body), send half the body, then close
        the connection: a transfer that dies mid-body."""
        return self.add_fault(Fault(pattern, "cut_body", times=times))

    def now(self) -> datetime:
        """The time on the Dashboard's clock (`clock_offset` from this host's)."""
        return datetime.now(UTC) + self.clock_offset

    # the change log ------------------------------------------------------------------------------------
    def log_change(self, org_id: str, network_id: str | None = None, *, label: str = "Firewall rules",
                   page: str = "Security & SD-WAN", ts: datetime | None = None, **extra: Any) -> dict[str, Any]:
        """Record a configuration change as the Dashboard's change log shows it (an org-wide change has no
        networkId); returns the entry."""
        moment = ts or self.now()
        with self._lock:
            self._change_seq += 1
            network = self._networks.get(segment(network_id)) if network_id is not None else None
            entry: dict[str, Any] = {
                "ts": moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
                "adminName": "Test Admin", "adminEmail": "admin@example.test", "adminId": "1",
                "networkName": (network or {}).get("name"), "networkId": network_id,
                "networkUrl": None, "ssidName": None, "ssidNumber": None, "page": page, "label": label,
                "oldValue": "{}", "newValue": "{}", "_seq": self._change_seq, **extra}
            self.change_log.setdefault(org_id, []).append(entry)
        return {k: v for k, v in entry.items() if k != "_seq"}

    def _change_log_page(self, org_id: str, query: dict[str, list[str]]) -> Reply:
        def when(name: str) -> datetime | None:
            value = query.get(name, [None])[0]
            if value is None:
                return None
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)

        try:
            t0, t1 = when("t0"), when("t1")
        except ValueError:
            return Reply(400, {"errors": ["Invalid t0 or t1"]})
        oldest = self.now() - timedelta(days=self.change_log_days)
        if t0 is not None and t0 < oldest:
            return Reply(400, {"errors": [f"'t0' must be within {self.change_log_days:g} days of now"]})
        with self._lock:
            entries = list(self.change_log.get(org_id, []))
        entries = [e for e in entries if (t0 is None or _ts(e) >= t0) and (t1 is None or _ts(e) <= t1)]
        entries.sort(key=lambda e: (_ts(e), e["_seq"]), reverse=True)  # newest first
        per_page = int(query.get("perPage", [self.page_size or 5000])[0])
        start = 0
        before = query.get("endingBefore", [None])[0]
        if before is not None:
            tokens = [str(e["_seq"]) for e in entries]
            start = tokens.index(before) + 1 if before in tokens else len(entries)
        page = entries[start:start + per_page]
        headers: dict[str, str] = {}
        if start + per_page < len(entries):
            params = {k: v for k, v in query.items() if k not in ("startingAfter", "endingBefore")}
            params["endingBefore"] = [str(page[-1]["_seq"])]
            prefix = self.base_url if self.absolute_links else ""
            path = f"organizations/{segment(org_id)}/configurationChanges"
            headers["Link"] = f"<{prefix}/{path}?{urllib.parse.urlencode(params, doseq=True)}>; rel=prev"
        return Reply(200, [{k: v for k, v in e.items() if k != "_seq"} for e in page], headers)

    # records -------------------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, *, method: str | None = None, pattern: str = "*", status: int | None = None) -> int:
        return sum(1 for r in self.requests
                   if (method is None or r.method == method) and fnmatch.fnmatchcase(r.path, pattern)
                   and (status is None or r.status == status))

    def non_get(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method != "GET"]

    def sources(self) -> set[str]:
        return {r.source for r in self.requests}

    def peak_rate(self, source: str | None = None, window: float = 1.0) -> int:
        """The most requests (from `source`, or from anyone) that arrived within any `window` seconds."""
        times = sorted(r.at for r in self.requests if source is None or r.source == source)
        peak = start = 0
        for end, at in enumerate(times):
            while at - times[start] >= window:
                start += 1
            peak = max(peak, end - start + 1)
        return peak

    # request handling (called from handler threads) --------------------------------------------------
    def _record(self, method: str, path: str, query: str, status: int | None, org: str | None,
                at: float, source: str = "127.0.0.1") -> None:
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, status, org, at, source, self.clock()))

    def _org_of(self, path: str) -> str | None:
        parts = path.split("/")
        if len(parts) >= 2 and parts[0] == "organizations":
            return urllib.parse.unquote(parts[1])
        if len(parts) >= 2 and parts[0] == "networks":
            with self._lock:
                return self._network_org.get(segment(urllib.parse.unquote(parts[1])))
        return None

    def _throttle(self, org: str | None) -> float:
        if self.rate is None:
            return 0.0
        with self._lock:
            bucket = self._buckets.setdefault(org or "", _Bucket(self.rate, self.burst, self.clock))
            return bucket.take()

    def _throttle_source(self, source: str) -> float:
        if self.source_rate is None:
            return 0.0
        with self._lock:
            bucket = self._source_buckets.setdefault(
                source, _Bucket(self.source_rate, math.ceil(self.source_rate), self.clock))
            return bucket.take()

    def _fault_for(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.take(path):
                    return fault
        return None

    def _file_for(self, path: str) -> Path | None:
        parts = [urllib.parse.unquote(p) for p in path.split("/")]
        if not path or any(p in ("", ".", "..") for p in path.split("/")):
            return None
        target = self.root.joinpath("meraki", *(segment(p) for p in parts[:-1]), segment(parts[-1]) + ".json")
        real_root = (self.root / "meraki").resolve()
        if real_root not in target.resolve().parents:
            return None
        return target

    def serve(self, path: str, query: dict[str, list[str]]) -> Reply:
        """The answer for a GET that passed the rate limit and faults."""
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "organizations" and parts[2] == "configurationChanges":
            return self._change_log_page(urllib.parse.unquote(parts[1]), query)
        if len(parts) == 4 and parts[0] == "networks" and parts[2:] == ["appliance", "vlans"]:
            settings = self._file_for(path + "/settings")
            if settings is not None and settings.is_file() \
                    and not json.loads(settings.read_text(encoding="utf-8")).get("vlansEnabled", True):
                return Reply(400, VLANS_DISABLED)
        target = self._file_for(path)
        if target is None or not target.is_file():
            if len(parts) == 2 and parts[0] == "networks":  # getNetwork, from the organisation's list
                with self._lock:
                    network = self._networks.get(segment(urllib.parse.unquote(parts[1])))
                if network is not None:
                    return Reply(200, network)
            return Reply(404, {"errors": ["Not found"]})
        body = json.loads(target.read_text(encoding="utf-8"))
        for pattern, default_size, key in _LISTS:
            # fnmatch's "*" also matches "/": compare the number of segments too.
            if fnmatch.fnmatchcase(path, pattern) and path.count("/") == pattern.count("/"):
                return self._page(path, query, body, self.page_size or default_size, key)
        return Reply(200, body)

    def _page(self, path: str, query: dict[str, list[str]], items: list[Any], default_size: int,
              key: str = "id") -> Reply:
        per_page = int(query.get("perPage", [default_size])[0])
        start = 0
        after = query.get("startingAfter", [None])[0]
        if after is not None:
            ids = [str(item.get(key)) for item in items]
            start = ids.index(after) + 1 if after in ids else len(items)
        page = items[start:start + per_page]
        headers: dict[str, str] = {}
        if start + per_page < len(items):
            params = {k: v for k, v in query.items() if k != "startingAfter"}
            params["startingAfter"] = [str(page[-1][key])]
            # Relative to the base URL unless asked otherwise: see module docstring.
            prefix = self.base_url if self.absolute_links else ""
            link = prefix + "/" + path + "?" + urllib.parse.urlencode(params, doseq=True)
            first = {k: v for k, v in query.items() if k != "startingAfter"}
            first_link = prefix + "/" + path + ("?" + urllib.parse.urlencode(first, doseq=True) if first else "")
            headers["Link"] = f"<{first_link}>; rel=first, <{link}>; rel=next"
        return Reply(200, page, headers)


_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)


def _kernel_received(connection: socket.socket) -> float | None:
    """When the kernel received the next request's first bytes, on the time.monotonic() scale; None if unknown.

    A request's arrival is what a rate is measured by, and the handler thread may get to it much later on a
    busy machine (hundreds of ms at a load of 7 on 2 cores): then requests sent evenly look bunched. The
    kernel's receive timestamp (SO_TIMESTAMPNS, read with a 1-byte MSG_PEEK) does not move with that delay.
    Clients must not pipeline (httpx does not): the peek waits for bytes not yet buffered by `rfile`.
    """
    if _SO_TIMESTAMPNS is None:
        return None
    try:
        data, ancillary, _, _ = connection.recvmsg(1, socket.CMSG_SPACE(16), socket.MSG_PEEK)
    except OSError:
        return None
    for level, kind, payload in ancillary:
        if data and level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(payload) >= 16:
            seconds, nanoseconds = struct.unpack("qq", payload[:16])
            return time.monotonic() - (time.time() - (seconds + nanoseconds / 1e9))
    return None


def _make_handler(app: FakeDashboard) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as httpx pools connections
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid 40 ms delayed ACKs
        received: float | None = None

        def setup(self) -> None:
            super().setup()
            if _SO_TIMESTAMPNS is not None:
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)

        def handle_one_request(self) -> None:
            self.received = _kernel_received(self.connection)
            super().handle_one_request()

        def date_time_string(self, timestamp: float | None = None) -> str:
            """The `Date` header, on the Dashboard's clock."""
            return email.utils.formatdate(app.now().timestamp(), usegmt=True)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PUT(self) -> None:
            self._handle("PUT")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

        def do_DELETE(self) -> None:
            self._handle("DELETE")

        def do_HEAD(self) -> None:
            self._handle("HEAD")

        def do_OPTIONS(self) -> None:
            self._handle("OPTIONS")

        def _handle(self, method: str) -> None:
            arrived = self.received if self.received is not None else time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            raw_path, _, raw_query = self.path.partition("?")
            if not raw_path.startswith(API_PREFIX):
                self._send(Reply(404, {"errors": ["Not found"]}), method, raw_path, raw_query, None, arrived)
                return
            path = raw_path[len(API_PREFIX):].rstrip("/")
            org = app._org_of(path)
            if app.latency:
                time.sleep(app.latency)
            if method != "GET":
                reply = Reply(405, {"errors": ["fake Dashboard is read-only"]}, {"Allow": "GET"})
                self._send(reply, method, path, raw_query, org, arrived)
                return
            if app.api_key is not None and self.headers.get("Authorization") != f"Bearer {app.api_key}":
                reply = Reply(401, {"errors": ["No valid authentication method found"]})
                self._send(reply, method, path, raw_query, org, arrived)
                return
            wait = app._throttle_source(self.client_address[0])
            if wait > 0:
                reply = Reply(429, {"errors": ["API rate limit exceeded for source IP address"]},
                              {"Retry-After": str(max(1, math.ceil(wait)))})
                self._send(reply, method, path, raw_query, org, arrived)
                return
            wait = app._throttle(org)
            if wait > 0:
                reply = Reply(429, {"errors": ["API rate limit exceeded for organization"]},
                              {"Retry-After": str(max(1, math.ceil(wait)))})
                self._send(reply, method, path, raw_query, org, arrived)
                return
            query = urllib.parse.parse_qs(raw_query, keep_blank_values=True)
            fault = app._fault_for(path)
            if fault is not None:
                if fault.kind == "status":
                    self._send(Reply(fault.status, fault.body, dict(fault.headers)), method, path, raw_query,
                               org, arrived)
                    return
                if fault.kind == "drop":
                    app._record(method, path, raw_query, None, org, arrived, self.client_address[0])
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault.kind == "invalid_json":
                    self._send(Reply(200, b'{"rules": [ this is not JSON'), method, path, raw_query, org,
                               arrived)
                    return
                if fault.kind == "cut_body":
                    reply = app.serve(path, query)
                    body = json.dumps(reply.body).encode()
                    app._record(method, path, raw_query, reply.status, org, arrived, self.client_address[0])
                    with contextlib.suppress(OSError):
                        self.send_response(reply.status)
                        self.send_header("Content-Type", "application/json")
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body[: len(body) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                if fault.kind == "delay":
                    time.sleep(fault.seconds)
            incoming = Incoming(method, path, query, dict(self.headers.items()), self.client_address[0])
            for hook in list(app.hooks):
                reply = hook(incoming)
                if reply is not None:
                    self._send(reply, method, path, raw_query, org, arrived)
                    return
            self._send(app.serve(path, query), method, path, raw_query, org, arrived)

        def _send(self, reply: Reply, method: str, path: str, query: str, org: str | None,
                  arrived: float) -> None:
            app._record(method, path, query, reply.status, org, arrived, self.client_address[0])
            body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
            try:
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if method != "HEAD":
                    self.wfile.write(body)
            except OSError:  # the client gave up (timeout) before the answer
                self.close_connection = True

    return Handler


# --- synthetic organisations ------------------------------------------------------------------------------
@dataclass
class SyntheticOrg:
    """What `build_org` wrote: enough for a test to know what a complete collection contains."""

    org_id: str
    root: Path
    networks: list[dict[str, Any]]
    files: set[str]  # snapshot-relative paths (meraki/...) of every API body written
    secrets: list[str]  # every secret value seeded into the data

    @property
    def network_ids(self) -> list[str]:
        return [n["id"] for n in self.networks]


# Product mixes, cycled over the networks: combined MX+MR sites, wireless-only, MX-only, and a
# network with neither (switches and cameras) for which nothing per network is collected.
_KINDS: list[list[str]] = [
    ["appliance", "switch", "wireless"],
    ["wireless"],
    ["appliance"],
    ["appliance", "camera", "wireless"],
    ["camera", "switch"],
]


def build_org(root: str | Path, org_id: str = "100", n_networks: int = 10, *, seed: int = 0,
              network_ids: Iterable[str] | None = None, policy_objects: int = 12) -> SyntheticOrg:
    """Write a Dashboard organisation under `root/meraki/` in API shapes, with seeded secrets.

    Call again with another `org_id` to add a second organisation to the same root.
    """
    rng = random.Random(f"{seed}:{org_id}")
    root = Path(root)
    files: set[str] = set()
    secrets: list[str] = []

    def secret(kind: str) -> str:
        value = f"{kind}-{rng.getrandbits(64):016x}"
        secrets.append(value)
        return value

    def write(parts: list[object], body: Any) -> None:
        rel = "/".join(["meraki", *(segment(p) for p in parts[:-1]), segment(parts[-1]) + ".json"])
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(body, indent=1), encoding="utf-8")
        files.add(rel)

    orgs_file = root / "meraki" / "organizations.json"
    orgs = json.loads(orgs_file.read_text(encoding="utf-8")) if orgs_file.is_file() else []
    orgs = [o for o in orgs if o["id"] != org_id] + [
        {"id": org_id, "name": f"Org {org_id}", "url": f"https://dashboard.example/o/{org_id}",
         "api": {"enabled": True}, "licensing": {"model": "co-term"}}]
    write(["organizations"], orgs)

    ids = list(network_ids) if network_ids is not None else [f"N_{org_id}_{i:04d}" for i in range(n_networks)]
    networks = [{"id": nid, "organizationId": org_id, "name": f"Store {i:04d}",
                 "productTypes": _KINDS[i % len(_KINDS)], "timeZone": "Europe/Berlin", "tags": [],
                 "isBoundToConfigTemplate": False} for i, nid in enumerate(ids)]
    write(["organizations", org_id, "networks"], networks)
    write(["organizations", org_id, "policyObjects"],
          [{"id": str(1000 + i), "name": f"obj{i}", "category": "network", "type": "cidr",
            "cidr": f"10.{i}.0.0/16", "groupIds": [str(i % 3)]} for i in range(policy_objects)])
    write(["organizations", org_id, "policyObjects", "groups"],
          [{"id": str(g), "name": f"group{g}", "category": "NetworkObjectGroup",
            "objectIds": [1000 + i for i in range(policy_objects) if i % 3 == g]} for g in range(3)])

    write(["organizations", org_id, "appliance", "vpn", "vpnFirewallRules"], {"rules": [
        {"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any", "srcCidr": "Any",
         "destPort": "Any", "destCidr": "Any", "syslogEnabled": False}]})
    # A partner peer (no default route): its pre-shared key must never reach the snapshot.
    write(["organizations", org_id, "appliance", "vpn", "thirdPartyVPNPeers"], {"peers": [
        {"name": "Payments processor", "publicIp": "198.18.200.1", "privateSubnets": ["10.250.0.0/24"],
         "secret": secret("ike-psk"), "ikeVersion": "2", "ipsecPoliciesPreset": "default", "networkTags": ["all"]}]})
    write(["organizations", org_id, "appliance", "trafficShaping", "vpnExclusions", "byNetwork"], {"items": [
        {"networkId": n["id"], "networkName": n["name"], "custom": [
            {"protocol": "tcp", "destination": "outlook.office365.com", "port": "443"}], "majorApplications": []}
        for n in networks[:2] if "appliance" in n["productTypes"]]})
    write(["organizations", org_id, "appliance", "uplink", "statuses"],
          [_uplink_status(org_id, i, n["id"]) for i, n in enumerate(networks) if "appliance" in n["productTypes"]])

    for i, network in enumerate(networks):
        nid = network["id"]
        types = set(network["productTypes"])
        base: list[object] = ["networks", nid]
        if types & {"appliance", "wireless"}:
            write([*base, "groupPolicies"], [
                {"groupPolicyId": "101", "name": "Guests",
                 "firewallAndTrafficShaping": {"settings": "custom", "l3FirewallRules": [
                     {"comment": "no vpn", "policy": "deny", "protocol": "udp", "destPort": "500,4500",
                      "destCidr": "any"}], "l7FirewallRules": []},
                 "splashAuthSettings": "network default"},
                {"groupPolicyId": "102", "name": "Staff", "splashAuthSettings": "bypass",
                 "firewallAndTrafficShaping": {"settings": "network default"},
                 "scheduling": {"enabled": False, **{day: {"active": True, "from": "00:00", "to": "24:00"} for day in (
                     "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}}}])
        if "appliance" in types:
            _write_appliance(write, base, i, rng)
        if "wireless" in types:
            _write_wireless(write, base, i, secret)
    return SyntheticOrg(org_id, root, networks, files, secrets)


def _uplink_status(org_id: str, i: int, nid: str) -> dict[str, Any]:
    """The MX of network `i` as getOrganizationApplianceUplinkStatuses lists it: wan1 always, wan2 on every
    other network. Derived from `i` alone (not the org's rng), so the other seeded data stays as it was."""
    uplinks: list[dict[str, Any]] = [
        {"interface": "wan1", "status": "active", "ip": f"192.168.{i % 250}.2", "gateway": f"192.168.{i % 250}.1",
         "publicIp": f"203.0.113.{1 + i % 254}", "primaryDns": "192.168.1.1", "secondaryDns": "9.9.9.9",
         "ipAssignedBy": "dhcp"}]
    if i % 2 == 0:
        # 198.51.100.128/25: clear of 198.51.100.10, the VPN server address the tests use.
        uplinks.append({"interface": "wan2", "status": "ready", "ip": f"100.64.{i % 250}.10",
                        "gateway": f"100.64.{i % 250}.1", "publicIp": f"198.51.100.{128 + i % 127}",
                        "primaryDns": "100.64.0.53", "secondaryDns": None, "ipAssignedBy": "static"})
    return {"networkId": nid, "serial": f"Q2MX-{zlib.crc32(org_id.encode()) % 10000:04d}-{i:04d}",
            "model": "MX68" if i % 3 else "MX85", "lastReportedAt": "2024-05-01T12:00:00Z",
            "highAvailability": {"enabled": False, "role": "primary"}, "uplinks": uplinks}


def _write_appliance(write: Callable[[list[object], Any], None], base: list[object], i: int,
                     rng: random.Random) -> None:
    fw = [*base, "appliance", "firewall"]
    rules = [{"comment": f"rule {r}", "policy": rng.choice(["allow", "deny"]), "protocol": "udp",
              "srcPort": "Any", "srcCidr": "Any", "destPort": str(1000 + r), "destCidr": "Any",
              "syslogEnabled": False} for r in range(rng.randint(1, 6))]
    rules.append({"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any",
                  "srcCidr": "Any", "destPort": "Any", "destCidr": "Any", "syslogEnabled": False})
    write([*fw, "l3FirewallRules"], {"rules": rules})
    write([*fw, "l7FirewallRules"], {"rules": [{"policy": "deny", "type": "port", "value": "1701"}]})
    write([*fw, "inboundFirewallRules"], {"rules": [], "syslogDefaultRule": False})
    write([*fw, "portForwardingRules"], {"rules": [
        {"lanIp": "192.168.128.10", "allowedIps": ["any"], "name": "vpn", "protocol": "udp",
         "publicPort": "500", "localPort": "500", "uplink": "both"}]})
    write([*fw, "oneToOneNatRules"], {"rules": []})
    write([*fw, "oneToManyNatRules"], {"rules": []})
    write([*fw, "cellularFirewallRules"], {"rules": [
        {"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any", "srcCidr": "Any",
         "destPort": "Any", "destCidr": "Any", "syslogEnabled": False}]})
    write([*base, "appliance", "vpn", "siteToSiteVpn"], {"mode": "none", "hubs": [], "subnets": []})
    write([*base, "appliance", "settings"], {"clientTrackingMethod": "MAC address", "deploymentMode": "routed",
                                             "dynamicDns": {"enabled": False, "prefix": "", "url": ""}})
    vlans_enabled = i % 3 != 1
    write([*base, "appliance", "vlans", "settings"], {"vlansEnabled": vlans_enabled})
    if vlans_enabled:
        write([*base, "appliance", "vlans"], [
            {"id": v, "name": f"VLAN {v}", "subnet": f"10.{i % 250}.{v}.0/24",
             "applianceIp": f"10.{i % 250}.{v}.1", "groupPolicyId": "101" if v == 30 else None}
            for v in (10, 20, 30)])
    else:
        write([*base, "appliance", "singleLan"],
              {"subnet": "192.168.128.0/24", "applianceIp": "192.168.128.1"})


def _write_wireless(write: Callable[[list[object], Any], None], base: list[object], i: int,
                    secret: Callable[[str], str]) -> None:
    ssids: list[dict[str, Any]] = []
    for n in range(15):
        ssid: dict[str, Any] = {"number": n, "name": f"Unconfigured SSID {n + 1}", "enabled": False,
                                "splashPage": "None", "authMode": "open", "ipAssignmentMode": "NAT mode"}
        if n == 0:
            ssid.update(name="Corp", enabled=True, authMode="psk", psk=secret("psk"), encryptionMode="wpa")
        elif n == 1:
            ssid.update(name="Staff-iPSK", enabled=True, authMode="ipsk-without-radius",
                        ipAssignmentMode="Bridge mode")
        elif n == 2:
            ssid.update(name="Guest", enabled=True, splashPage="Click-through splash page",
                        walledGardenEnabled=True, walledGardenRanges=["198.51.100.10/32"])
        elif n == 3 and i % 2 == 0:
            ssid.update(name="Radius", enabled=True, authMode="8021x-radius", radiusOverride=False,
                        radiusGuestVlanEnabled=False, namedVlans={"tagging": {"enabled": False},
                                                                  "radius": {"guestVlan": {"enabled": False}}},
                        radiusServers=[{"host": "10.0.0.5", "port": 1812, "secret": secret("radius")}],
                        radiusAccountingServers=[{"host": "10.0.0.5", "port": 1813,
                                                  "secret": secret("acct")}])
        elif n == 4:  # disabled, but its psk still comes back in the SSID list
            ssid.update(name="Old", authMode="psk", psk=secret("oldpsk"))
        ssids.append(ssid)
    write([*base, "wireless", "ssids"], ssids)
    for ssid in ssids:
        if not ssid["enabled"]:
            continue
        sbase = [*base, "wireless", "ssids", ssid["number"]]
        write([*sbase, "firewall", "l3FirewallRules"], {"allowLanAccess": False, "rules": [
            {"comment": "block ike", "policy": "deny", "ipVer": "ipv4", "protocol": "udp", "destPort": "500",
             "destCidr": "Any"},
            {"comment": "Wireless clients accessing LAN", "policy": "deny", "ipVer": "ipv4",
             "protocol": "Any", "destPort": "Any", "destCidr": "Local LAN"},
            {"comment": "Default rule", "policy": "allow", "ipVer": "ipv4", "protocol": "Any",
             "destPort": "Any", "destCidr": "Any"}]})
        write([*sbase, "firewall", "l7FirewallRules"], {"rules": []})
        # iOS devices on the iPSK SSID get the Staff policy; elsewhere the mapping is off
        write([*sbase, "deviceTypeGroupPolicies"], {"enabled": ssid["number"] == 1, "deviceTypePolicies": [
            {"deviceType": "iPhone", "devicePolicy": "Group policy", "groupPolicyId": 102},
            {"deviceType": "Android", "devicePolicy": "Allowed"}] if ssid["number"] == 1 else []})
        if ssid["splashPage"] != "None":
            write([*sbase, "splash", "settings"],
                  {"ssidNumber": ssid["number"], "splashPage": ssid["splashPage"],
                   "blockAllTrafficBeforeSignOn": i % 2 == 0})
        if str(ssid["authMode"]).startswith("ipsk"):
            write([*sbase, "identityPsks"], [
                {"id": f"{k}", "name": f"device-{k}", "groupPolicyId": "101", "passphrase": secret("ipsk")}
                for k in range(2)])


def set_dns(root: str | Path, network_id: str, *, vlans: dict[int, Any] | None = None,
            rewrite: dict[int, list[str]] | None = None, tags: dict[int, int] | None = None) -> None:
    """Give a written network's VLANs DNS settings (`dnsNameservers`, and `dhcpHandling` "Run a DHCP server"),
    its SSIDs a DNS rewrite (`dnsRewrite` with custom nameservers), and SSIDs a VLAN tag (bridged), as the
    Dashboard returns them."""
    base = Path(root) / "meraki" / "networks" / segment(network_id)
    if vlans:
        path = base / "appliance" / "vlans.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        for vlan in data:
            if vlan["id"] in vlans:
                vlan.update(dhcpHandling="Run a DHCP server", dnsNameservers=vlans[vlan["id"]])
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    if rewrite or tags:
        path = base / "wireless" / "ssids.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        for ssid in data:
            if ssid["number"] in (rewrite or {}):
                ssid["dnsRewrite"] = {"enabled": True, "dnsCustomNameservers": rewrite[ssid["number"]]}
            if ssid["number"] in (tags or {}):
                ssid.update(ipAssignmentMode="Bridge mode", useVlanTagging=True, defaultVlanId=tags[ssid["number"]])
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
