"""A small authoritative DNS server for the tests, built on dnspython: UDP and TCP on loopback addresses.

Each address it listens on has its own view (split horizon): a name maps to addresses per record type, or to a
behaviour: NXDOMAIN, SERVFAIL, no answer at all (the client times out) or, over UDP, a truncated reply that sends
the client to TCP, where the full answer is given. Every query is recorded. Threads stop with `stop()`.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from dataclasses import dataclass, field
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

NXDOMAIN, SERVFAIL, SILENT, TRUNCATE = "nxdomain", "servfail", "silent", "truncate"


@dataclass
class View:
    """What one resolver address answers: name -> {"A": [...], "AAAA": [...]} or a behaviour; `truncate` lists
    names whose UDP answers are cut (TC bit, empty) so the client must ask again over TCP."""

    records: dict[str, Any] = field(default_factory=dict)
    ttl: int = 300
    truncate: set[str] = field(default_factory=set)


class FakeDns:
    def __init__(self, views: dict[str, View]) -> None:
        self.views = views
        self.queries: list[tuple[str, str, str, str]] = []  # (address, transport, name, type)
        self._servers: list[socketserver.BaseServer] = []
        self.port = 0

    def answer(self, address: str, transport: str, wire: bytes) -> bytes | None:
        query = dns.message.from_wire(wire)
        question = query.question[0]
        name = question.name.to_text().rstrip(".").lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((address, transport, name, rdtype))
        view = self.views[address]
        spec = view.records.get(name, NXDOMAIN)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if spec == SILENT:
            return None
        if spec == NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif spec == SERVFAIL:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif transport == "udp" and name in view.truncate:
            response.flags |= dns.flags.TC
        else:
            values = spec.get(rdtype, [])
            if values:
                response.answer.append(dns.rrset.from_text_list(question.name, view.ttl, "IN", rdtype, values))
        return response.to_wire()

    def start(self) -> FakeDns:
        owner = self
        addresses = list(self.views)
        # One port for every address: the collector asks each resolver on the same port (--dns-port).
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind((addresses[0], 0))
        self.port = probe.getsockname()[1]
        probe.close()

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                reply = owner.answer(self.server.server_address[0], "udp", data)
                if reply is not None:
                    sock.sendto(reply, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = self.request.recv(2)
                if len(head) < 2:
                    return
                (length,) = struct.unpack("!H", head)
                data = b""
                while len(data) < length:
                    chunk = self.request.recv(length - len(data))
                    if not chunk:
                        return
                    data += chunk
                reply = owner.answer(self.server.server_address[0], "tcp", data)
                if reply is not None:
                    self.request.sendall(struct.pack("!H", len(reply)) + reply)

        for address in addresses:
            for kind, handler in ((socketserver.ThreadingUDPServer, Udp), (socketserver.ThreadingTCPServer, Tcp)):
                kind.allow_reuse_address = True
                kind.daemon_threads = True
                server = kind((address, self.port), handler)
                self._servers.append(server)
                threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> FakeDns:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
