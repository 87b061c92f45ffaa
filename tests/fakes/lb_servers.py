"""Fake F5 iControl REST, KEMP LoadMaster and NetScaler NITRO servers on 127.0.0.1 (random port).

Each serves bodies from a folder (the fixtures the adapters read), checks the vendor's credentials, answers
405 to anything but GET, and records every request (method, path, query) so tests can prove the collector
only read. Faults can be injected per path: an HTTP status, or a delay longer than the client's timeout.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType


@dataclass
class Fault:
    status: int | None = None
    delay: float = 0.0
    body: str = '{"code": 500, "message": "injected fault"}'


@dataclass
class FakeLoadBalancer:
    """A running fake: `url` to point the collector at; `requests` what reached it."""

    vendor: str  # f5 | kemp | netscaler
    root: Path  # folder of bodies (F5: <path below /mgmt/tm>.json; NITRO: <resource>.json) or KEMP xml file
    username: str = "auditor"
    password: str = "s3cret-pass"
    faults: dict[str, Fault] = field(default_factory=dict)  # URL path -> fault
    page_size: int | None = None  # F5: page collections with nextLink
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    tls: ssl.SSLContext | None = None  # serve HTTPS with this server-side context
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def __enter__(self) -> FakeLoadBalancer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def _record(self) -> urllib.parse.SplitResult:
                parts = urllib.parse.urlsplit(self.path)
                fake.requests.append((self.command, parts.path, parts.query))
                return parts

            def _refuse(self) -> None:
                self._record()
                self._send(405, '{"message": "method not allowed"}')

            do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

            def do_GET(self) -> None:
                parts = self._record()
                fault = fake.faults.get(parts.path)
                if fault is not None:
                    if fault.delay:
                        time.sleep(fault.delay)
                    if fault.status is not None:
                        self._send(fault.status, fault.body)
                        return
                if not fake._authorised(self.headers):
                    self._send(401, '{"code": 401, "message": "Authorization failed"}')
                    return
                status, body, ctype = fake._answer(parts)
                self._send(status, body, ctype)

            def _send(self, status: int, body: str, ctype: str = "application/json") -> None:
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls is not None:
            self._server.socket = self.tls.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # behaviour -----------------------------------------------------------------------------------------
    def _authorised(self, headers: object) -> bool:
        get = headers.get  # type: ignore[attr-defined]
        if self.vendor == "netscaler":
            return get("X-NITRO-USER") == self.username and get("X-NITRO-PASS") == self.password
        expected = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return get("Authorization") == f"Basic {expected}"

    def _answer(self, parts: urllib.parse.SplitResult) -> tuple[int, str, str]:
        path, query = parts.path, dict(urllib.parse.parse_qsl(parts.query))
        if self.vendor == "kemp":
            if path != "/access/listvs":
                return 404, '<Response stat="404" code="fail"><Error>Unknown command</Error></Response>', "text/xml"
            return 200, self.root.read_text(encoding="utf-8"), "text/xml"
        if self.vendor == "f5":
            prefix = "/mgmt/tm/"
            file = self.root / f"{path[len(prefix):]}.json" if path.startswith(prefix) else None
            if file is None or not file.is_file():
                return 404, json.dumps({"code": 404, "message": f"{path} was not found."}), "application/json"
            body = json.loads(file.read_text())
            if self.page_size and isinstance(body.get("items"), list):
                skip = int(query.get("$skip", "0"))
                items = body["items"]
                body["items"] = items[skip: skip + self.page_size]
                if skip + self.page_size < len(items):
                    body["nextLink"] = (f"https://localhost{path}?$skip={skip + self.page_size}"
                                        f"&$top={self.page_size}")
            return 200, json.dumps(body), "application/json"
        prefix = "/nitro/v1/config/"
        file = self.root / f"{path[len(prefix):]}.json" if path.startswith(prefix) else None
        if file is None or not file.is_file():
            return 404, json.dumps({"errorcode": 258, "message": "No such resource", "severity": "ERROR"}), \
                "application/json"
        return 200, file.read_text(), "application/json"


__all__ = ["FakeLoadBalancer", "Fault"]
