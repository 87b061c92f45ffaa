"""A hostile HTTP server on 127.0.0.1 for the collectors' limits: each request is answered by a script.

`HostileServer(script)` calls `script(request)` for every request and plays what it returns:

- `Reply(status, body, headers)`: an ordinary answer (Content-Length set);
- `Drip(interval)`: headers promising a large body, then one byte every `interval` seconds, forever;
- `Endless(chunk)`: a chunked body that never ends, as fast as the client reads;
- `Huge(size)`: a JSON body of `size` bytes, generated while it is sent (nothing held in memory);
- `gzip_bomb(size)`: a `Reply` whose gzip body inflates to `size` bytes.

Every request is kept in `requests` (method, path, query), so a test can count what a loop cost.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Drip:
    interval: float = 1.0
    status: int = 200
    promised: int = 10_000_000  # Content-Length announced


@dataclass
class Endless:
    chunk: bytes = b'{"name": "x"}, ' * 4096
    status: int = 200
    prefix: bytes = b'{"items": ['


@dataclass
class Huge:
    size: int
    status: int = 200


def gzip_bomb(size: int, status: int = 200) -> Reply:
    """A JSON body of `size` bytes (a list of zeros), gzip-compressed about a thousandfold."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as handle:
        handle.write(b"[")
        block = b"0," * 65536
        left = size - 3
        while left > len(block):
            handle.write(block)
            left -= len(block)
        handle.write(b"0," * (left // 2) + b"0]")
    return Reply(status, buffer.getvalue(), {"Content-Encoding": "gzip", "Content-Type": "application/json"})


Action = Reply | Drip | Endless | Huge
Script = Callable[[Request], Action]


class HostileServer:
    """Serve `script` on 127.0.0.1:<random port> within a `with` block."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def __enter__(self) -> HostileServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                parts = urllib.parse.urlsplit(self.path)
                request = Request(self.command, parts.path, dict(urllib.parse.parse_qsl(parts.query)),
                                  dict(self.headers.items()))
                with server._lock:
                    server.requests.append(request)
                with contextlib.suppress(OSError):
                    self._play(server.script(request))

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

            def _play(self, action: Action) -> None:
                if isinstance(action, Reply):
                    body = action.body.encode() if isinstance(action.body, str) else action.body
                    self.send_response(action.status)
                    headers = {"Content-Type": "application/json", **action.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.close_connection = True
                self.send_response(action.status)
                self.send_header("Content-Type", "application/json")
                if isinstance(action, Drip):
                    self.send_header("Content-Length", str(action.promised))
                    self.end_headers()
                    self.wfile.flush()
                    while not server._stop.wait(action.interval):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                elif isinstance(action, Endless):
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(action.prefix), action.prefix))
                    frame = b"%x\r\n%s\r\n" % (len(action.chunk), action.chunk)
                    while not server._stop.is_set():
                        self.wfile.write(frame)
                else:
                    self.send_header("Content-Length", str(action.size))
                    self.end_headers()
                    head, tail = b'{"items": [], "filler": "', b'"}'
                    self.wfile.write(head)
                    left = action.size - len(head) - len(tail)
                    block = b"a" * 65536
                    while left > 0 and not server._stop.is_set():
                        piece = block[:left]
                        self.wfile.write(piece)
                        left -= len(piece)
                    self.wfile.write(tail)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        time.sleep(0)  # let writer threads see the stop flag


__all__ = ["Drip", "Endless", "HostileServer", "Huge", "Reply", "Request", "gzip_bomb"]
