"""F5 BIG-IP LTM: bigip.conf (tmsh text, `f5/<device>.conf`) and iControl REST JSON (`f5/<device>/`).

Both formats become the same `Block` tree (tmsh attribute names), so one builder turns `ltm virtual`,
`ltm pool`, `ltm persistence ...`, `ltm monitor ...`, `ltm profile udp` and SNAT objects into the
vendor-neutral load-balancer model. `defaults-from` chains are resolved against the objects in the file
and the built-in profiles below (settings equal to a default are omitted from bigip.conf).

Persistence semantics (docs/semantics/load-balancers.md, F5): a `source-addr` profile keeps one record table;
with `match-across-services` the records are shared by virtuals with the same virtual address, with
`match-across-virtuals` by every virtual using the profile; otherwise each virtual keeps its own.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from auditor.lb_model import (
    NO_PERSIST,
    OTHER,
    RULE,
    SCOPE_ADDRESS,
    SCOPE_DEVICE,
    SCOPE_SERVICE,
    SOURCE_IP,
    SSTP_PORT,
    SSTP_PROBE_PATH,
    TCP,
    Backend,
    Gate,
    IkePair,
    LoadBalancer,
    Monitor,
    ParseIssue,
    Persistence,
    Script,
    SourceTranslation,
    VirtualService,
    classify_http_monitor,
)
from auditor.model import Decision, Model, Origin
from auditor.packets import ANY_ADDR, PROTO_NUMBERS, PacketSet, address_interval
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb import f5_filters
from auditor.vendors.lb.common import load_devices

# tmsh prints well-known ports by service name; BIG-IP's own list was not checked, so
# numbers and the usual names are both accepted.
PORT_NAMES = {
    "any": 0, "isakmp": 500, "ipsec-nat-t": 4500, "https": 443, "http": 80, "domain": 53, "ntp": 123,
    "snmp": 161, "syslog": 514, "ldap": 389, "ldaps": 636, "smtp": 25, "ftp": 21, "ssh": 22, "telnet": 23,
    "radius": 1812, "radius-acct": 1813, "sip": 5060, "l2tp": 1701, "l2f": 1701, "mysql": 3306, "ms-sql-s": 1433,
    "rdp": 3389, "imap": 143, "pop3": 110, "dns": 53, "tftp": 69, "bootps": 67, "kerberos": 88,
}

# Built-in objects a bigip.conf refers to without defining (values from F5's base config).
BUILTINS: dict[tuple[str, ...], dict[str, dict[str, str]]] = {
    ("ltm", "persistence", "source-addr"): {
        "/Common/source_addr": {"match-across-pools": "disabled", "match-across-services": "disabled",
                                "match-across-virtuals": "disabled", "timeout": "180", "mask": "none",
                                "map-proxies": "enabled", "hash-algorithm": "default"},
    },
    ("ltm", "persistence", "universal"): {"/Common/universal": {"timeout": "180", "rule": "none"}},
    ("ltm", "persistence", "hash"): {"/Common/hash": {"timeout": "180"}},
    ("ltm", "persistence", "cookie"): {"/Common/cookie": {"method": "insert"}},
    ("ltm", "persistence", "dest-addr"): {"/Common/dest_addr": {"timeout": "180"}},
    ("ltm", "persistence", "ssl"): {"/Common/ssl": {"timeout": "300"}},
    ("ltm", "persistence", "msrdp"): {"/Common/msrdp": {"timeout": "300"}},
    ("ltm", "persistence", "sip"): {"/Common/sip_info": {"timeout": "15"}},
    ("ltm", "profile", "udp"): {
        "/Common/udp": {"idle-timeout": "60", "datagram-load-balancing": "disabled"},
        "/Common/udp_gtm_dns": {"defaults-from": "/Common/udp", "datagram-load-balancing": "enabled",
                                "idle-timeout": "5"},
    },
    **{("ltm", "profile", kind): {f"/Common/{n}": {} for n in names} for kind, names in {
        "http": ("http", "http-explicit", "http-transparent"),
        "fasthttp": ("fasthttp",),
        "client-ssl": ("clientssl", "clientssl-insecure-compatible", "clientssl-secure", "clientssl-quic",
                       "crypto-server-default-clientssl", "splitsession-default-clientssl", "wom-default-clientssl"),
        "server-ssl": ("serverssl", "serverssl-insecure-compatible", "serverssl-secure", "apm-default-serverssl",
                       "crypto-client-default-serverssl", "splitsession-default-serverssl", "wom-default-serverssl"),
        "tcp": ("tcp", "f5-tcp-progressive", "f5-tcp-wan", "f5-tcp-lan", "f5-tcp-mobile", "tcp-lan-optimized",
                "tcp-wan-optimized", "tcp-mobile-optimized", "tcp-legacy", "mptcp-mobile-optimized",
                "apm-forwarding-client-tcp", "apm-forwarding-server-tcp", "wom-tcp-lan-optimized",
                "wom-tcp-wan-optimized"),
        "fastl4": ("fastL4", "apm-forwarding-fastL4", "full-acceleration", "security-fastL4"),
        "one-connect": ("oneconnect",), "http-compression": ("httpcompression", "wan-optimized-compression"),
        "web-acceleration": ("webacceleration", "optimized-caching"), "stream": ("stream",),
        "statistics": ("statistics",), "websecurity": ("websecurity",), "analytics": ("analytics",),
    }.items()},
    ("ltm", "monitor", "gateway-icmp"): {"/Common/gateway_icmp": {}},
    ("ltm", "monitor", "icmp"): {"/Common/icmp": {}},
    ("ltm", "monitor", "tcp"): {"/Common/tcp": {}},
    ("ltm", "monitor", "tcp-half-open"): {"/Common/tcp_half_open": {}},
    ("ltm", "monitor", "udp"): {"/Common/udp": {}},
    ("ltm", "monitor", "http"): {"/Common/http": {"send": "GET /\\r\\n"},
                                 "/Common/http_head_f5": {"send": "HEAD / HTTP/1.0\\r\\n"}},
    ("ltm", "monitor", "https"): {"/Common/https": {"send": "GET /\\r\\n"},
                                  "/Common/https_443": {"send": "GET /\\r\\n"},
                                  "/Common/https_head_f5": {"send": "HEAD / HTTP/1.0\\r\\n"}},
}
_BUILTIN_NOTE = "built-in profile, default settings"

# Objects whose body is TCL (or another language), kept as raw text rather than parsed as tmsh.
_RAW_HEADERS = (("ltm", "rule"), ("gtm", "rule"), ("rule",), ("pem", "irule"), ("sys", "icall", "script"),
                ("cli", "script"), ("sys", "application", "template"), ("sys", "application", "apl-script"))

# iRule / policy commands that choose a backend, persist on their own, or can discard the flow: the global ones
# (also written fully qualified, `::reject`), and any namespace's drop/close/reject/respond/... (`UDP::drop`,
# `TCP::close`, `HTTP::respond`, `LB::reselect`); `call` runs a procedure whose body is not read here.
_STEERING = re.compile(
    r"(?<![\w:$])(?:::)?(pool|node|persist|drop|reject|discard|snat|snatpool|virtual|forward|use|call)(?![\w:])"
    r"|(?<![\w:$])(?:::)?[A-Za-z]\w*::(drop|close|discard|reject|reset|respond|redirect|reselect|detach|down|"
    r"disable|abort|release|forward)(?![\w:])")
# LTM policy actions that choose a backend, persist, or end the flow themselves: `forward select pool|node|virtual`,
# the reset action (tmsh `shutdown connection`, REST `shutdown: true`; F5's bigip_policy_rule: "the system resets
# the connection"), `http-reply redirect` (answers the client), `drop`, `reject`.
_POLICY_STEERING = re.compile(r"\b(forward|persist|reject|drop|shutdown|reset|http-reply|redirect)\b")
# Route domains: `10.0.0.1%2`, `0.0.0.0%1/0` (the %N before any prefix length).
_ROUTE_DOMAIN = re.compile(r"%\d+")


# ---------------------------------------------------------------------------------------------------
# tmsh text -> nodes


@dataclass(slots=True)
class _Node:
    words: list[str]
    line: int
    children: list[_Node] | None = None
    raw: str | None = None


class _Lexer:
    """Whitespace-separated words, quoted strings (may span lines, backslash escapes), standalone braces,
    newlines; `#` starts a comment when it is the first thing on a line."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.pos = 0
        self.line = 1
        self.line_start = True

    def next(self) -> tuple[str, str, int]:
        """(kind, value, line) with kind one of word, {, }, nl, eof."""
        text, n = self.text, len(self.text)
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\n":
                self.pos += 1
                self.line += 1
                self.line_start = True
                return "nl", "", self.line - 1
            if ch in " \t\r\f\v":
                self.pos += 1
                continue
            if ch == "#" and self.line_start:
                end = text.find("\n", self.pos)
                self.pos = n if end < 0 else end
                continue
            self.line_start = False
            line = self.line
            if ch == '"':
                return "word", self._string(), line
            start = self.pos
            while self.pos < n and text[self.pos] not in " \t\r\n\f\v":
                self.pos += 1
            word = text[start:self.pos]
            if word in ("{", "}"):
                return word, word, line
            if word == "{}":
                self.pos -= 1  # yield "{" now and "}" next
                return "{", "{", line
            return "word", word, line
        return "eof", "", self.line

    def _string(self) -> str:
        text, n = self.text, len(self.text)
        start_line = self.line
        self.pos += 1
        out: list[str] = []
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\\" and self.pos + 1 < n:
                out.append(text[self.pos:self.pos + 2])
                if text[self.pos + 1] == "\n":
                    self.line += 1
                self.pos += 2
                continue
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\n":
                self.line += 1
            out.append(ch)
            self.pos += 1
        raise SnapshotError(self.path, "unterminated quoted string", start_line)

    def raw_block(self, open_line: int) -> str:
        """Text up to the brace matching one just read (TCL: braces count unless backslash-escaped)."""
        text, n = self.text, len(self.text)
        depth, start = 1, self.pos
        while self.pos < n:
            ch = text[self.pos]
            if ch == "\\":
                if self.pos + 1 < n and text[self.pos + 1] == "\n":
                    self.line += 1
                self.pos += 2
                continue
            if ch == "\n":
                self.line += 1
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    body = text[start:self.pos]
                    self.pos += 1
                    self.line_start = False
                    return body
            self.pos += 1
        raise SnapshotError(self.path, "unbalanced braces: block never closed", open_line)


def parse_tmsh(text: str, path: str = "bigip.conf") -> list[_Node]:
    """Top-level statements of a bigip.conf; raises SnapshotError (with the line) on broken structure."""
    lexer = _Lexer(text, path)
    return _statements(lexer, path, top=True, open_line=0)


_MAX_DEPTH = 64  # tmsh nests a handful of levels; deeper is damage (and would exhaust the recursion)


def _statements(lexer: _Lexer, path: str, top: bool, open_line: int, depth: int = 0) -> list[_Node]:
    if depth > _MAX_DEPTH:
        raise SnapshotError(path, f"blocks nested more than {_MAX_DEPTH} deep", open_line)
    nodes: list[_Node] = []
    while True:
        kind, value, line = lexer.next()
        if kind == "nl":
            continue
        if kind == "eof":
            if not top:
                raise SnapshotError(path, "unbalanced braces: block never closed", open_line)
            return nodes
        if kind == "}":
            if top:
                raise SnapshotError(path, "unexpected '}' (no block is open)", line)
            return nodes
        words: list[str] = []
        start = line
        closing = False
        while kind == "word":
            words.append(value)
            kind, value, line = lexer.next()
        if kind == "{":
            if top and any(tuple(words[:k]) in _RAW_KEYS for k in (1, 2, 3)):
                nodes.append(_Node(words, start, [], lexer.raw_block(line)))
            else:
                nodes.append(_Node(words, start, _statements(lexer, path, top=False, open_line=line,
                                                             depth=depth + 1)))
            continue
        if kind == "}":
            closing = True
        if words:
            nodes.append(_Node(words, start))
        if closing:
            if top:
                raise SnapshotError(path, "unexpected '}' (no block is open)", line)
            return nodes
        if kind == "eof":
            if not top:
                raise SnapshotError(path, "unbalanced braces: block never closed", open_line)
            return nodes


_RAW_KEYS = frozenset(_RAW_HEADERS)


# ---------------------------------------------------------------------------------------------------
# One tree for both formats


@dataclass(slots=True)
class Block:
    """An object's settings: scalar attributes, named sub-blocks (list entries), bare flags."""

    line: int | None = None
    index: int | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    entries: dict[str, Block] = field(default_factory=dict)
    flags: list[str] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    raw: str | None = None

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.attrs.get(key, default)

    def entry(self, key: str) -> Block | None:
        return self.entries.get(key)


def _block_from_node(node: _Node) -> Block:
    block = Block(line=node.line, raw=node.raw)
    for i, child in enumerate(node.children or []):
        if child.children is not None:
            if not child.words:
                block.entries[f"#{i}"] = _block_from_node(child)
            elif len(child.words) == 1:
                block.entries[child.words[0]] = _block_from_node(child)
                block.lines[child.words[0]] = child.line
            else:
                key = child.words[0]
                block.attrs[key] = " ".join([*child.words[1:], "{", _flatten(child), "}"])
                block.lines[key] = child.line
                block.entries[key] = _block_from_node(child)
        elif len(child.words) == 1:
            block.flags.append(child.words[0])
            block.entries.setdefault(child.words[0], Block(line=child.line))
            block.lines.setdefault(child.words[0], child.line)
        else:
            block.attrs[child.words[0]] = " ".join(child.words[1:])
            block.lines[child.words[0]] = child.line
    return block


def _flatten(node: _Node) -> str:
    parts: list[str] = []
    for child in node.children or []:
        parts.extend(child.words)
        if child.children is not None:
            parts.extend(["{", _flatten(child), "}"])
    return " ".join(parts)


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower()


_REST_FLAGS = {"disabled": "disabled", "ipForward": "ip-forward", "l2Forward": "l2-forward",
               "reject": "reject", "stateless": "stateless", "internal": "internal", "dhcpRelay": "dhcp-relay"}


def _rest_name(item: dict[str, Any]) -> str:
    if isinstance(item.get("fullPath"), str) and item["fullPath"].startswith("/"):
        return item["fullPath"]
    name = str(item.get("name", ""))
    partition = item.get("partition")
    if partition and not name.startswith("/"):
        sub = f"{item['subPath']}/" if item.get("subPath") else ""
        return f"/{partition}/{sub}{name}"
    return name


def _block_from_json(item: dict[str, Any], index: int | None) -> Block:
    block = Block(index=index)
    for key, value in item.items():
        if key in _REST_FLAGS:
            if value is True or value == "true":
                block.flags.append(_REST_FLAGS[key])
            continue
        if key in ("kind", "selfLink", "generation", "fullPath", "name", "partition", "subPath"):
            continue
        if key == "persist" and isinstance(value, list):
            sub = Block(index=index)
            for i, p in enumerate(value):
                if isinstance(p, dict):
                    sub.entries[_rest_name(p)] = Block(index=i, attrs={"default": str(p.get("tmDefault", ""))})
            block.entries["persist"] = sub
        elif key == "rules" and isinstance(value, list):
            block.entries["rules"] = Block(index=index, entries={str(r): Block() for r in value})
        elif key.endswith("Reference") and isinstance(value, dict):
            items = value.get("items")
            if isinstance(items, list):
                sub = Block(index=index)
                for i, it in enumerate(items):
                    if isinstance(it, dict):
                        sub.entries[_rest_name(it)] = _block_from_json(it, i)
                block.entries[_kebab(key[: -len("Reference")])] = sub
        elif key == "apiAnonymous" and isinstance(value, str):
            block.raw = value
        elif isinstance(value, dict):
            block.entries[_kebab(key)] = _block_from_json(value, index)
            if key == "fqdn":
                block.attrs["fqdn"] = str(value.get("tmName") or value.get("name") or "")
        elif isinstance(value, list):
            block.attrs[_kebab(key)] = " ".join(str(v) for v in value)
        elif isinstance(value, bool):
            block.attrs[_kebab(key)] = "enabled" if value else "disabled"
        elif value is not None:
            block.attrs[_kebab(key)] = str(value)
    return block


# ---------------------------------------------------------------------------------------------------
# The configuration as objects


@dataclass(slots=True)
class F5Object:
    kind: tuple[str, ...]
    name: str
    block: Block
    origin: Origin


class F5Config:
    """Objects by (kind, full name), with reference resolution and `defaults-from` inheritance."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.objects: dict[tuple[str, ...], dict[str, F5Object]] = {}
        self.issues: list[ParseIssue] = []

    def add(self, kind: tuple[str, ...], name: str, block: Block, origin: Origin) -> None:
        full = name if name.startswith("/") or not name else f"/Common/{name}"
        self.objects.setdefault(kind, {})[full] = F5Object(kind, full, block, origin)

    def of_kind(self, *kind: str) -> dict[str, F5Object]:
        return self.objects.get(tuple(kind), {})

    def resolve(self, ref: str, context: str, kinds: list[tuple[str, ...]]) -> tuple[str, F5Object | None]:
        """A reference as written (absolute, relative to the referring object's folder, or /Common)."""
        ref = ref.strip()
        for candidate in _candidates(ref, context):
            for kind in kinds:
                obj = self.objects.get(kind, {}).get(candidate)
                if obj is not None:
                    return candidate, obj
            for kind in kinds:
                if candidate in BUILTINS.get(kind, {}):
                    return candidate, None
        return (ref if ref.startswith("/") else f"/Common/{ref}"), None

    def find(self, kind_prefix: tuple[str, ...], ref: str, context: str) -> str:
        """The full name a reference resolves to among objects (or built-ins) under a kind prefix."""
        for candidate in _candidates(ref.strip(), context):
            if self._lookup(kind_prefix, candidate, candidate)[2] is not None:
                return candidate
        ref = ref.strip()
        return ref if ref.startswith("/") else f"/Common/{ref}"

    def builtin(self, kind: tuple[str, ...], name: str) -> dict[str, str] | None:
        return BUILTINS.get(kind, {}).get(name)

    def merged(self, kind_prefix: tuple[str, ...], name: str) -> tuple[tuple[str, ...] | None, dict[str, str],
                                                                       list[Origin]]:
        """(object kind, attributes after `defaults-from`, origins from child to root) for an object of any
        type under kind_prefix (e.g. ("ltm", "persistence"))."""
        chain: list[dict[str, str]] = []
        origins: list[Origin] = []
        kind_found: tuple[str, ...] | None = None
        seen: set[str] = set()
        current: str | None = name
        context = name
        while current and current not in seen and current != "none":
            seen.add(current)
            obj, kind, attrs = self._lookup(kind_prefix, current, context)
            if attrs is None:
                break
            if kind_found is None:
                kind_found = kind
            chain.append(attrs)
            if obj is not None:
                origins.append(obj.origin)
                context = obj.name
            parent = attrs.get("defaults-from")
            current = parent if parent and parent != "none" else None
        out: dict[str, str] = {}
        for attrs in reversed(chain):
            out.update(attrs)
        out.pop("defaults-from", None)
        return kind_found, out, origins

    def _lookup(self, kind_prefix: tuple[str, ...], ref: str,
                context: str) -> tuple[F5Object | None, tuple[str, ...] | None, dict[str, str] | None]:
        for candidate in _candidates(ref, context):
            for kind, objs in self.objects.items():
                if kind[:len(kind_prefix)] == kind_prefix and candidate in objs:
                    obj = objs[candidate]
                    return obj, kind, dict(obj.block.attrs)
            for kind, builtins in BUILTINS.items():
                if kind[:len(kind_prefix)] == kind_prefix and candidate in builtins:
                    return None, kind, dict(builtins[candidate])
        return None, None, None


def _candidates(ref: str, context: str) -> Iterator[str]:
    if ref.startswith("/"):
        yield ref
        return
    folders = context.split("/")[1:-1] if context.startswith("/") else []
    for depth in range(len(folders), 0, -1):
        yield "/" + "/".join(folders[:depth]) + "/" + ref
    yield f"/Common/{ref}"


def _object_key(words: list[str]) -> tuple[tuple[str, ...], str]:
    if len(words) == 1:
        return (words[0],), ""
    if words[0] == "ltm" and len(words) == 2:
        return (words[0], words[1]), ""
    return tuple(words[:-1]), words[-1]


def config_from_tmsh(text: str, path: str) -> F5Config:
    config = F5Config(path)
    for node in parse_tmsh(text, path):
        if not node.words:  # a block without a header names no object
            config.issues.append(ParseIssue(Origin(path, line=node.line), "{ ... }", "block without a name"))
            continue
        kind, name = _object_key(node.words)
        block = _block_from_node(node) if node.children is not None else Block(line=node.line)
        config.add(kind, name, block, Origin(path, line=node.line))
    return config


# REST collection path (below /mgmt/tm/) -> object kind
def config_from_rest(snapshot: Snapshot, folder: str) -> F5Config:
    config = F5Config(folder)
    files = sorted(_json_files(snapshot, folder))
    sub_collections: list[tuple[str, str, str, Any]] = []  # (file, parent kind path, parent name, body)
    for rel in files:
        body = snapshot.read_json(rel)
        inner = rel[len(folder) + 1: -len(".json")].split("/")
        if len(inner) >= 3 and inner[-2].startswith("~"):
            sub_collections.append((rel, "/".join(inner[:-2]), inner[-2], body))
            continue
        kind = tuple(inner)
        if isinstance(body, dict) and "items" in body:
            items = body["items"]
        elif isinstance(body, dict) and "name" in body:
            items = [body]
        elif isinstance(body, dict) and str(body.get("kind", "")).endswith("collectionstate"):
            items = []  # iControl REST leaves `items` out of an empty collection
        else:  # anything else read as "nothing configured" would hide every virtual server
            raise SnapshotError(rel, "expected an iControl REST collection ('items' list)")
        if not isinstance(items, list):
            raise SnapshotError(rel, "expected an iControl REST collection ('items' list)")
        for i, item in enumerate(items):
            if not isinstance(item, dict):  # skipped, it could hide the virtual server that fronts the VPN
                raise SnapshotError(f"{rel}[{i}]", f"expected an object, found {type(item).__name__}")
            config.add(kind, _rest_name(item), _block_from_json(item, i), Origin(rel, index=i))
    for rel, parent_path, parent, body in sub_collections:
        kind = tuple(parent_path.split("/"))
        name = parent.replace("~", "/")
        obj = config.of_kind(*kind).get(name)
        items = body.get("items", []) if isinstance(body, dict) else []
        if obj is None or not isinstance(items, list):
            config.issues.append(ParseIssue(Origin(rel), rel, f"sub-collection for unknown object {name}"))
            continue
        sub = Block(index=None)
        for i, it in enumerate(items):
            if isinstance(it, dict):
                child = _block_from_json(it, i)
                child.index = i
                sub.entries[_rest_name(it)] = child
        obj.block.entries[rel.rsplit("/", 1)[-1][: -len(".json")]] = sub
    return config


def _json_files(snapshot: Snapshot, folder: str) -> Iterator[str]:
    for rel in snapshot.listdir(folder):
        if snapshot.entry_kind(rel) == "folder":
            yield from _json_files(snapshot, rel)
        elif rel.endswith(".json"):
            yield rel


# ---------------------------------------------------------------------------------------------------
# Objects -> vendor-neutral services


class F5LoadBalancer(LoadBalancer):
    vendor = "f5"

    def fix_split(self, pair: IkePair) -> str:
        a, b = pair.ike, pair.natt
        if pair.same_object:
            return (f"Give {a.name} source-address persistence so both flows of a client stay on one node: "
                    f"`modify ltm virtual {a.name} persist replace-all-with {{ /Common/source_addr "
                    f"{{ default yes }} }}` (or a custom source-addr profile with a longer timeout).")
        same_vip = a.address == b.address
        switch = "match-across-services" if same_vip else "match-across-virtuals"
        folder = _partition(a.name)
        profile = a.persistence.name if (a.persistence.vendor_type == "source-addr"
                                         and a.persistence.name == b.persistence.name
                                         and not a.persistence.name.startswith("/Common/source_addr")) else ""
        steps = []
        if profile:
            steps.append(f"`modify ltm persistence source-addr {profile} {switch} enabled timeout 3600`")
        else:
            profile = f"/{folder}/ike_source_addr"
            steps.append(f"`create ltm persistence source-addr {profile} defaults-from /Common/source_addr "
                         f"{switch} enabled timeout 3600`")
            for svc in (a, b):
                steps.append(f"`modify ltm virtual {svc.name} persist replace-all-with {{ {profile} "
                             f"{{ default yes }} }}`")
        text = (f"Share one source-address persistence table between {a.name} (UDP 500) and {b.name} "
                f"(UDP 4500): {'; '.join(steps)}.")
        if not same_vip:
            text += (" The two virtuals have different virtual addresses, so match-across-services is not "
                     "enough; match-across-virtuals shares the records across every virtual using the profile.")
        if pair.backend_difference:
            text += (f" Then make both pools contain the same nodes ({_diff(pair)}): a record only helps if the "
                     f"node is a member on both sides.")
        return text

    def fix_snat(self, svc: VirtualService) -> str:
        return (f"`modify ltm virtual {svc.name} source-address-translation {{ type none }}` and route the VPN "
                f"servers' return traffic through the BIG-IP (e.g. the BIG-IP self IP as their gateway), so the "
                f"servers see each client's own address.")

    def fix_monitor(self, svc: VirtualService, sstp: bool) -> str:
        pool = svc.pool or "<pool>"
        folder = _partition(svc.name)
        if sstp:
            return (f"`create ltm monitor https /{folder}/sstp_monitor defaults-from /Common/https send "
                    f"\"HEAD {SSTP_PROBE_PATH} HTTP/1.1\\r\\nHost: r\\r\\nConnection: Close\\r\\n\\r\\n\" "
                    f"recv 401` (type http if TLS is offloaded), then `modify ltm pool {pool} monitor "
                    f"/{folder}/sstp_monitor`: the default HTTP/HTTPS monitors do not test the SSTP listener.")
        return (f"`modify ltm pool {pool} monitor /Common/gateway_icmp` at least (host reachability); a check "
                f"of the IKE service itself (e.g. a UDP monitor, or the SSTP probe on the same servers) is "
                f"better.")

    def fix_timeout(self, svc: VirtualService) -> str:
        p = svc.persistence
        if p.vendor_type == "source-addr" and p.name and not p.name.startswith("/Common/source_addr"):
            return f"`modify ltm persistence source-addr {p.name} timeout 3600`."
        return ("Use a custom source-addr profile with `timeout 3600` (the built-in source_addr keeps 180 s) "
                "on both IKE virtuals.")


def _partition(name: str) -> str:
    parts = name.split("/")
    return parts[1] if name.startswith("/") and len(parts) > 2 else "Common"


def _diff(pair: IkePair) -> str:
    d = pair.backend_difference
    parts = []
    if d.get("only_udp_500"):
        parts.append(f"only in the UDP 500 pool: {', '.join(d['only_udp_500'])}")
    if d.get("only_udp_4500"):
        parts.append(f"only in the UDP 4500 pool: {', '.join(d['only_udp_4500'])}")
    return "; ".join(parts)


class _Builder:
    def __init__(self, config: F5Config, device: F5LoadBalancer) -> None:
        self.config = config
        self.device = device
        self.global_snats = self._global_snats()

    def origin(self, obj: F5Object, block: Block | None = None, key: str | None = None) -> Origin:
        line = None
        if block is not None and key is not None and key in block.lines:
            line = block.lines[key]
        elif block is not None and block.line is not None:
            line = block.line
        if line is not None and obj.origin.line is not None:
            return Origin(obj.origin.path, line=line)
        return obj.origin

    def issue(self, origin: Origin, text: str, reason: str) -> None:
        self.device.issues.append(ParseIssue(origin, text, reason))

    # virtuals ------------------------------------------------------------------------------------------
    def services(self) -> Iterator[VirtualService]:
        for obj in self.config.of_kind("ltm", "virtual").values():
            yield self.virtual(obj)

    def virtual(self, obj: F5Object) -> VirtualService:
        b = obj.block
        problems: list[str] = []
        address, ports = self.destination(obj, problems)
        # bigip.conf omits settings equal to their default and prints `ip-protocol tcp`, so an absent
        # ip-protocol is read as the default, any protocol [I].
        proto_text = (b.get("ip-protocol") or "any").lower()
        protocol: int | None
        if proto_text in ("any", "all"):
            protocol = None
        elif proto_text.isdigit():
            protocol = int(proto_text)
        elif proto_text in PROTO_NUMBERS:
            protocol = PROTO_NUMBERS[proto_text]
        else:
            protocol = None
            problems.append(f"ip-protocol {proto_text} not understood")
        flags = set(b.flags)
        action = "balance"
        if flags & {"ip-forward", "l2-forward"}:
            action = "forward"
        elif "reject" in flags:
            action = "reject"
        svc = VirtualService(
            name=obj.name, kind="ltm virtual", address=address, protocol=protocol, ports=ports,
            origin=obj.origin, action=action, enabled="disabled" not in flags,
            translate_port=(b.get("translate-port") or "enabled") != "disabled",
            translate_address=(b.get("translate-address") or "enabled") != "disabled",
            per_datagram="stateless" in flags, problems=problems, vendor={"partition": _partition(obj.name)},
        )
        svc.sources = self.sources(b.get("source"), svc.problems)
        if action == "balance":
            self.pool(obj, svc)
        svc.persistence = self.persistence(obj)
        svc.snat = self.snat(obj)
        svc.scripts = self.scripts(obj)
        types: dict[str, str | None] = {}
        profiles = b.entry("profiles")
        for profile in (profiles.entries if profiles else {}):
            full = self.config.find(("ltm", "profile"), profile, obj.name)
            kind, attrs, _ = self.config.merged(("ltm", "profile"), full)
            types[full] = kind[2] if kind and len(kind) > 2 else None
            if kind == ("ltm", "profile", "udp") and attrs.get("datagram-load-balancing") == "enabled":
                svc.per_datagram = True
                svc.method = (svc.method + ", " if svc.method else "") + f"datagram-load-balancing ({profile})"
        self.tls_gate(obj, svc, types)
        if svc.per_datagram and svc.persistence.kind == SOURCE_IP:
            svc.caveats.append(f"{obj.name} balances every datagram on its own and has source-address "
                               f"persistence; whether a persistence record binds each datagram is not documented")
        for problem in problems:
            self.issue(obj.origin, f"ltm virtual {obj.name}", problem)
        return svc

    def tls_gate(self, obj: F5Object, svc: VirtualService, types: dict[str, str | None]) -> None:
        """TLS (SSTP) to an HTTP profile without client SSL: the BIG-IP parses the ClientHello as HTTP and the
        handshake cannot complete. Only TCP 443 is read so (the port SSTP uses)."""
        http = [n for n, t in types.items() if t in ("http", "fasthttp", "http2")]
        if not http or svc.protocol not in (TCP, None) or not svc.covers_port(SSTP_PORT) \
                or any(t == "client-ssl" for t in types.values()):
            return
        tls = PacketSet.of(proto=[(TCP, TCP)], dport=[(SSTP_PORT, SSTP_PORT)])
        unread = [n for n, t in types.items() if t is None]
        if unread:
            svc.gates.append(Gate(Decision.UNKNOWN, f"HTTP profile {', '.join(http)} and profile(s) "
                                                     f"{', '.join(unread)} whose type is not in the snapshot: "
                                                     f"without a client-ssl profile a TLS handshake (SSTP) on port "
                                                     f"443 cannot complete", tls, self.origin(obj, obj.block,
                                                                                             "profiles")))
            return
        svc.gates.append(Gate(Decision.DENY, f"HTTP profile {', '.join(http)} without a client-ssl profile: the "
                                             f"BIG-IP reads the client's TLS handshake (SSTP) as HTTP and it cannot "
                                             f"complete", tls, self.origin(obj, obj.block, "profiles")))

    def destination(self, obj: F5Object, problems: list[str]) -> tuple[Any, tuple[tuple[int, int], ...] | None]:
        b = obj.block
        dest = b.get("destination")
        if dest is None:
            tmc_ref = b.get("traffic-matching-criteria")
            if tmc_ref:
                return self.traffic_matching(obj, tmc_ref, problems)
            problems.append("no destination")
            return None, None
        parsed = split_destination(dest)
        if parsed is None:
            problems.append(f"destination {dest} not understood")
            return None, None
        addr_text, port_text = parsed
        address = self.address(obj, addr_text, b.get("mask"), problems)
        ports = self.port(port_text, problems)
        return address, ports

    def traffic_matching(self, obj: F5Object, ref: str, problems: list[str]) -> tuple[Any, Any]:
        _, tmc = self.config.resolve(ref, obj.name, [("ltm", "traffic-matching-criteria")])
        if tmc is None:
            problems.append(f"traffic-matching-criteria {ref} not found")
            return None, None
        addr = tmc.block.get("destination-address-inline")
        if addr is None:
            problems.append(f"traffic-matching-criteria {ref}: destination address list not modelled")
            return None, None
        address = self.address(obj, addr, tmc.block.get("destination-address-mask"), problems)
        ports = self.port(tmc.block.get("destination-port-inline") or "any", problems)
        return address, ports

    def address(self, obj: F5Object, text: str, mask: str | None, problems: list[str]) -> Any:
        text = text.split("%", 1)[0]
        if text in ("any", "any6"):
            return ipaddress.ip_network("0.0.0.0/0" if text == "any" else "::/0")
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            _, va = self.config.resolve(text, obj.name, [("ltm", "virtual-address")])
            value = va.block.get("address") if va is not None else None
            if value is None:
                problems.append(f"virtual address {text} not found")
                return None
            text = value.split("%", 1)[0]
            if text in ("any", "any6"):
                return ipaddress.ip_network("0.0.0.0/0" if text == "any" else "::/0")
            ip = ipaddress.ip_address(text)
        if mask in (None, "", "none"):
            return ipaddress.ip_network(ip)
        if mask == "any":
            return ipaddress.ip_network(f"{ip}/0", strict=False)
        try:
            return ipaddress.ip_network(f"{ip}/{mask}", strict=False)
        except ValueError:
            problems.append(f"mask {mask} not understood")
            return ipaddress.ip_network(ip)

    def port(self, text: str, problems: list[str]) -> tuple[tuple[int, int], ...] | None:
        text = text.strip().lower()
        number = int(text) if text.isdigit() else PORT_NAMES.get(text)
        if number is None:
            problems.append(f"port {text} not understood")
            return None
        return None if number == 0 else ((number, number),)

    def sources(self, text: str | None, problems: list[str]) -> tuple[tuple[int, int], ...]:
        """The client addresses a virtual accepts (`source`), route domain dropped: `0.0.0.0%1/0` is any
        source in route domain 1. A source that cannot be read may exclude the clients: a problem."""
        plain = _ROUTE_DOMAIN.sub("", text or "").strip()
        if not plain or plain in ("0.0.0.0/0", "::/0", "any", "any6", "0.0.0.0/any"):
            return (ANY_ADDR,)
        try:
            return (address_interval(plain),)
        except ValueError:
            problems.append(f"source {text} not understood")
            return (ANY_ADDR,)

    # pools ---------------------------------------------------------------------------------------------
    def pool(self, obj: F5Object, svc: VirtualService) -> None:
        ref = obj.block.get("pool")
        if not ref or ref == "none":
            return  # no pool: the hop drops it, unless an iRule picks one (then it is unknown)
        name, pool = self.config.resolve(ref, obj.name, [("ltm", "pool")])
        svc.pool = name
        if pool is None:
            svc.problems.append(f"pool {name} is not in the configuration")
            self.issue(self.origin(obj, obj.block, "pool"), f"pool {ref}", "referenced pool not found")
            return
        pb = pool.block
        svc.method = pb.get("load-balancing-mode") or "round-robin"
        members = pb.entry("members")
        for mname, mblock in (members.entries.items() if members else []):
            svc.backends.append(self.member(pool, mname, mblock))
            port_text = member_port_text(mname)
            if port_text is not None and not port_text.isdigit() and port_text not in PORT_NAMES:
                # read as "no port" it would keep the client's port: a named port this table lacks is unknown
                svc.problems.append(f"pool member {mname}: port {port_text} not understood")
        svc.monitors = self.monitors(pool, pb.get("monitor"), pool.block, "monitor")
        member_monitors = [m for mname, mblock in (members.entries.items() if members else [])
                           for m in self.monitors(pool, mblock.get("monitor"), mblock, "monitor")]
        for m in member_monitors:
            if m.name not in {x.name for x in svc.monitors}:
                svc.monitors.append(m)
        if not svc.monitors:
            svc.monitors = self.node_monitors(pool, svc.backends)

    def member(self, pool: F5Object, name: str, block: Block) -> Backend:
        node_part, port = split_member(name)
        address = block.get("address")
        fqdn_block = block.entry("fqdn")
        fqdn = block.get("fqdn") or (fqdn_block.get("name") if fqdn_block else None)
        _, node = self.config.resolve(node_part, pool.name, [("ltm", "node")])
        if address in (None, "any6", "any") or address == "":
            if node is not None:
                address = node.block.get("address")
                node_fqdn = node.block.entry("fqdn")
                fqdn = fqdn or node.block.get("fqdn") or (node_fqdn.get("name") if node_fqdn else None)
            elif _is_ip(node_part.rsplit("/", 1)[-1]):
                address = node_part.rsplit("/", 1)[-1]
        if address is not None:
            address = address.split("%", 1)[0]
            if not _is_ip(address):
                address = None
        state = member_state(block, "pool member")
        if not state and node is not None:
            state = member_state(node.block, f"node {node.name}")
        weight = block.get("ratio")
        return Backend(name=name, address=address, port=port, weight=int(weight) if weight and weight.isdigit()
                       else None, enabled=not state, origin=self.origin(pool, block), fqdn=fqdn, state=state)

    def monitors(self, owner: F5Object, text: str | None, block: Block, key: str) -> list[Monitor]:
        if not text:
            return []
        names = monitor_names(text)
        out = []
        for ref in names:
            if ref in ("default", "none"):
                continue
            full = self.config.find(("ltm", "monitor"), ref, owner.name)
            kind, attrs, origins = self.config.merged(("ltm", "monitor"), full)
            mtype = kind[2] if kind and len(kind) > 2 else "unknown"
            origin = origins[0] if origins else self.origin(owner, block, key)
            out.append(_monitor(full, mtype, attrs, origin))
        return out

    def node_monitors(self, pool: F5Object, backends: list[Backend]) -> list[Monitor]:
        out: list[Monitor] = []
        for backend in backends:
            node_part, _ = split_member(backend.name)
            _, node = self.config.resolve(node_part, pool.name, [("ltm", "node")])
            if node is not None and node.block.get("monitor"):
                out.extend(m for m in self.monitors(node, node.block.get("monitor"), node.block, "monitor")
                           if m.name not in {x.name for x in out})
        if out:
            return out
        default = next(iter(self.config.of_kind("ltm", "default-node-monitor").values()), None)
        if default is not None and default.block.get("rule") not in (None, "none"):
            return [m for m in self.monitors(default, default.block.get("rule"), default.block, "rule")]
        return []

    # persistence -----------------------------------------------------------------------------------------
    def persistence(self, obj: F5Object) -> Persistence:
        b = obj.block
        persist = b.entry("persist")
        fallback = b.get("fallback-persistence")
        fallback_note = (f"fallback-persistence {fallback} applies only when the primary method finds no "
                         f"record" if fallback and fallback != "none" else "")
        if persist is None or not persist.entries:
            return Persistence(kind=NO_PERSIST, note=fallback_note)
        chosen = next((n for n, e in persist.entries.items() if (e.get("default") or "") == "yes"),
                      next(iter(persist.entries)))
        line_origin = self.origin(obj, persist.entries[chosen]) if persist.entries[chosen].line else \
            self.origin(obj, b, "persist")
        full = self.config.find(("ltm", "persistence"), chosen, obj.name)
        kind, attrs, origins = self.config.merged(("ltm", "persistence"), full)
        all_origins = (line_origin, *origins)
        if kind is None:
            return Persistence(kind=OTHER, name=full, origins=all_origins, note=fallback_note,
                               uncertain=f"persistence profile {full} is not in the configuration; its type "
                                         f"and settings are unknown")
        ptype = kind[2] if len(kind) > 2 else ""
        builtin = self.config.builtin(kind, full) is not None and not origins
        settings: dict[str, str] = {k: attrs[k] for k in ("match-across-services", "match-across-virtuals",
                                          "match-across-pools", "timeout") if k in attrs}
        if attrs.get("mask") not in (None, "none"):
            settings["mask"] = attrs["mask"]
        if builtin:
            fallback_note = "; ".join(n for n in (_BUILTIN_NOTE, fallback_note) if n)
        timeout = _seconds(attrs.get("timeout"))
        if ptype == "source-addr":
            if attrs.get("match-across-virtuals") == "enabled":
                scope = SCOPE_DEVICE
            elif attrs.get("match-across-services") == "enabled":
                scope = SCOPE_ADDRESS
            else:
                scope = SCOPE_SERVICE
            uncertain = ""
            if (attrs.get("hash-algorithm") or "default").lower() == "carp":
                # F5 (bigip_profile_persistence_src_addr): carp "uses the Cache Array Routing Protocol (CARP) to
                # obtain the hash result" for "hash persistence load balancing": a hash over each pool's own
                # members, not a record the match-across settings are documented to share
                settings["hash-algorithm"] = "carp"
                uncertain = (f"{full} uses hash-algorithm carp: the node is a hash over each pool's members, and "
                             f"whether match-across settings tie two pools together then is not documented")
            return Persistence(kind=SOURCE_IP, name=full, vendor_type=ptype, table=full, scope=scope,
                               timeout=timeout, settings=settings, origins=all_origins, note=fallback_note,
                               uncertain=uncertain)
        if ptype in ("universal", "hash"):
            rule = attrs.get("rule")
            settings["rule"] = rule or "none"
            return Persistence(kind=RULE, name=full, vendor_type=ptype, table=full, timeout=timeout,
                               settings=settings, origins=all_origins, note=fallback_note)
        return Persistence(kind=OTHER, name=full, vendor_type=ptype, timeout=timeout, settings=settings,
                           origins=all_origins, note=fallback_note)

    # source translation ----------------------------------------------------------------------------------
    def snat(self, obj: F5Object) -> SourceTranslation:
        b = obj.block
        sat = b.entry("source-address-translation")
        if sat is not None and sat.attrs:
            kind = (sat.get("type") or "none").lower()
            pool = sat.get("pool") or ""
            origin = self.origin(obj, b, "source-address-translation")
            if kind == "none":
                return self._global_snat_or_none(origin)
            return SourceTranslation(kind="automap" if kind == "automap" else "snat",
                                     detail=pool if kind != "automap" else "self IP", origin=origin)
        if (b.get("snat") or "").lower() == "automap":
            return SourceTranslation("automap", "self IP", self.origin(obj, b, "snat"))
        if b.get("snatpool") and b.get("snatpool") != "none":
            return SourceTranslation("snat", b.get("snatpool") or "", self.origin(obj, b, "snatpool"))
        return self._global_snat_or_none(None)

    def _global_snat_or_none(self, origin: Origin | None) -> SourceTranslation:
        if self.global_snats:
            names = ", ".join(o.name for o in self.global_snats)
            return SourceTranslation(
                "unknown", f"global SNAT {names}", self.global_snats[0].origin,
                verify=f"global SNAT object(s) {names} translate connections from any origin; check on the "
                       f"device whether they apply to traffic through this virtual (a virtual's own setting "
                       f"takes precedence when it is set)")
        return SourceTranslation("none", "", origin)

    def _global_snats(self) -> list[F5Object]:
        out = []
        for obj in self.config.of_kind("ltm", "snat").values():
            origins = obj.block.entry("origins")
            names = list(origins.entries) if origins else []
            if any(n in ("0.0.0.0/0", "::/0", "0.0.0.0/any") for n in names):
                out.append(obj)
        return out

    # scripts -------------------------------------------------------------------------------------------
    def scripts(self, obj: F5Object) -> list[Script]:
        out: list[Script] = []
        rules = obj.block.entry("rules")
        for ref in (rules.entries if rules else {}):
            full, rule = self.config.resolve(ref, obj.name, [("ltm", "rule")])
            if rule is None:
                # A built-in or an iRule that was not collected: its effect cannot be read.
                steers = not full.startswith("/Common/_sys_https_redirect")
                out.append(Script(f"iRule {full} (body not in the snapshot)", steers, self.origin(obj, rules)))
                continue
            body = rule.block.raw or ""
            out.append(Script(f"iRule {full}", bool(_STEERING.search(_strip_tcl_comments(body))), rule.origin))
        policies = obj.block.entry("policies")
        for ref in (policies.entries if policies else {}):
            full, policy = self.config.resolve(ref, obj.name, [("ltm", "policy")])
            text = _block_text(policy.block) if policy is not None else "forward"
            out.append(Script(f"LTM policy {full}", bool(_POLICY_STEERING.search(text)),
                              policy.origin if policy is not None else self.origin(obj, policies)))
        return out


def member_state(block: Block, what: str) -> str:
    """Why a pool member or node takes no new clients, or "" when it does. F5: a disabled member (session
    user-disabled) accepts new connections only for existing persistence records; a forced-offline one
    (state user-down as well) accepts none; a disabled or forced-offline node does so in every pool."""
    session = (block.get("session") or "").lower()
    state = (block.get("state") or "").lower()
    if state in ("user-down", "forced-offline"):
        return f"{what} forced offline (state {state}): takes no new connections"
    if session in ("user-disabled", "disabled") or "disabled" in block.flags:
        return (f"{what} disabled ({'session ' + session if session else 'disabled'}): takes new connections "
                f"only of existing persistence records")
    return ""


def _block_text(block: Block) -> str:
    parts = [f"{k} {v}" for k, v in block.attrs.items()] + list(block.flags)
    for key, sub in block.entries.items():
        parts.append(key)
        parts.append(_block_text(sub))
    return " ".join(parts)


def _strip_tcl_comments(body: str) -> str:
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith("#"))


def _seconds(text: str | None) -> int | None:
    if text is None or not text.strip().isdigit():
        return None
    return int(text)


def _monitor(name: str, mtype: str, attrs: dict[str, str], origin: Origin) -> Monitor:
    send = attrs.get("send", "")
    recv = attrs.get("recv", "")
    if mtype in ("http", "https", "http2"):
        kind = classify_http_monitor(mtype == "https", send)
    elif mtype in ("gateway-icmp", "icmp"):
        kind = "icmp"
    elif mtype in ("tcp", "tcp-half-open", "tcp-echo"):
        kind = "tcp"
    elif mtype == "udp":
        kind = "udp"
    elif mtype in ("external", "scripted"):
        kind = "script"
    else:
        kind = "other"
    return Monitor(name=name, kind=kind, send=send, recv=recv if recv != "none" else "", origin=origin)


def monitor_names(text: str) -> list[str]:
    """'/Common/http and /Common/tcp', 'min 1 of { /Common/a /Common/b }', '/Common/http ' -> names."""
    text = text.strip()
    if text.startswith("min "):
        inner = text[text.find("{") + 1: text.rfind("}")] if "{" in text else ""
        return [w for w in inner.split() if w]
    return [w for w in text.split() if w and w != "and"]


def split_destination(text: str) -> tuple[str, str] | None:
    """'/Common/192.0.2.7:80' -> ('192.0.2.7', '80'); 'dead:beef::1.80' -> ('dead:beef::1', '80');
    '/Common/vip1:https' -> ('vip1', 'https'). Route domains stay attached (stripped later)."""
    tail = text.strip()
    if tail.startswith("/"):
        tail = tail.rsplit("/", 1)[-1]
    if tail.count(":") == 1:
        addr, _, port = tail.partition(":")
        return (addr, port) if addr and port else None
    if ":" in tail and "." in tail:  # IPv6 address, '.' before the port
        addr, _, port = tail.rpartition(".")
        try:
            ipaddress.IPv6Address(addr.split("%", 1)[0])
        except ValueError:
            return None
        return addr, port
    return None


def member_port_text(name: str) -> str | None:
    """The port of a pool member's name as written, lower case ('/Common/vpn1:l2f' -> 'l2f'), or None."""
    parsed = split_destination(name.rpartition("/")[2])
    return parsed[1].lower() if parsed else None


def split_member(name: str) -> tuple[str, int | None]:
    """'/Common/node1:500' -> ('/Common/node1', 500); IPv6 '/Common/2001:db8::1.500'; ':0'/':any' -> None."""
    folder, _, tail = name.rpartition("/")
    prefix = f"{folder}/" if folder or name.startswith("/") else ""
    parsed = split_destination(tail)
    if parsed is None:
        return name, None
    node, port = parsed
    port = port.lower()
    number = int(port) if port.isdigit() else PORT_NAMES.get(port)
    return prefix + node, number or None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def build_device(name: str, config: F5Config, settings: dict[str, Any] | None = None) -> F5LoadBalancer:
    """`settings`: audit.yaml `devices:` for this device (e.g. the VLAN clients arrive on)."""
    device = F5LoadBalancer(name, config.path)
    device.issues.extend(config.issues)
    builder = _Builder(config, device)
    device.services = list(builder.services())
    f5_filters.apply(config, device, settings or {})
    return device


def load_tmsh(text: str, path: str, name: str, settings: dict[str, Any] | None = None) -> F5LoadBalancer:
    return build_device(name, config_from_tmsh(text, path), settings)


class F5Adapter:
    """Every `f5/<device>.conf` and `f5/<device>/` of a snapshot becomes an `F5LoadBalancer`."""

    def load(self, snapshot: Snapshot, model: Model) -> None:
        settings = model.device_settings
        load_devices(snapshot, model, "f5", "a bigip.conf and a REST folder",
                     ["ltm/virtual.json", "ltm/pool.json", "ltm/persistence/source-addr.json"],
                     lambda name, rel: build_device(name, config_from_rest(snapshot, rel), settings.get(name)),
                     lambda text, rel, name: load_tmsh(text, rel, name, settings.get(name)))


__all__ = ["F5Adapter", "F5Config", "F5LoadBalancer", "build_device", "config_from_rest", "config_from_tmsh",
           "load_tmsh", "monitor_names", "parse_tmsh", "split_destination",
           "split_member"]
