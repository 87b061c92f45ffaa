"""`vpn-auditor collect f5|kemp|netscaler`: pull load-balancer configuration over the REST API, GET only.

Each vendor is a list of GETs and the snapshot file each body goes to (docs/snapshot.md):
- F5 iControl REST: `GET /mgmt/tm/<path>` -> `f5/<name>/<path>.json` (collections with sub-collections
  expanded, so pool members and virtual profiles are inline);
- KEMP LoadMaster: `GET /access/listvs` -> `kemp/<name>.xml`;
- NetScaler NITRO: `GET /nitro/v1/config/<resource>` -> `netscaler/<name>/<resource>.json`.

Read-only is enforced twice: the client object offers only `get`, and an httpx request hook refuses any
other method before it leaves the process. Credentials come from VPN_AUDITOR_LB_USERNAME /
VPN_AUDITOR_LB_PASSWORD (asked for on a terminal when unset), never from the command line, and are
scrubbed from everything written. Every call's outcome goes to manifest.json through the shared writer.
"""

from __future__ import annotations

import html
import ipaddress
import json
import os
import re
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress

from auditor.collect.inventory import (
    DeviceOutcome,
    Fleet,
    Target,
    ask_secret,
    collect_fleet,
    inventory_entry,
    name_list,
    prepare,
    public_host,
    shown,
)
from auditor.collect.limits import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_BODY_MB,
    DEFAULT_MAX_PAGES,
    MAX_BODY_ENV,
    LimitExceeded,
    Limits,
    mb_bytes,
    read_capped,
    rebuilt,
    too_large,
)
from auditor.collect.limits import max_body_mb as body_cap_mb
from auditor.collect.signals import INTERRUPTED, terminate_as_interrupt
from auditor.collect.writer import (
    REDACTED,
    CallRecord,
    OutNotWritable,
    SnapshotWriter,
    UnsafePathError,
    check_out,
    is_secret_key,
    quote_segment,
    redact_json,
    redact_patterns,
)
from auditor.errors import CollectUsageError, Refused
from auditor.untrusted import clean

USERNAME_ENV = "VPN_AUDITOR_LB_USERNAME"
PASSWORD_ENV = "VPN_AUDITOR_LB_PASSWORD"
VENDORS = ("f5", "kemp", "netscaler")
# `collect f5|kemp|netscaler --inventory`: the inventory platform names each command collects (REST: no netmiko type).
# `file`: a device that fails outside collect_lb (an unusable URL, never contacted after SIGINT) is recorded against
# the first file of its plan, so the audit names it by its inventory name (f5/<name>), as audit.yaml `path` does.
FLEETS = {
    "f5": Fleet("f5", dict.fromkeys(("f5", "bigip", "big-ip", "f5_ltm", "f5_tmsh", "f5_linux")),
                file=lambda name: f"f5/{name}/ltm/virtual.json"),
    "kemp": Fleet("kemp", dict.fromkeys(("kemp", "loadmaster", "kemp_loadmaster")),
                  file=lambda name: f"kemp/{name}.xml"),
    "netscaler": Fleet("netscaler", dict.fromkeys(("netscaler", "citrix_netscaler", "citrix_adc")),
                       file=lambda name: f"netscaler/{name}/lbvserver.json"),
}
EXIT_OK, EXIT_INCOMPLETE = 0, 3


class WriteRefused(Refused, RuntimeError):
    """A request other than GET was about to be sent to a load balancer."""


def _only_get(request: httpx.Request) -> None:
    if request.method != "GET":
        raise WriteRefused(f"refused {request.method} {request.url.path}: the collector only reads (GET)")


class ReadOnlyClient:
    """An HTTP client that can only GET (and refuses anything else at the transport hook as well), whose
    answers come whole within the deadline and under the size cap."""

    def __init__(self, base_url: str, *, auth: httpx.Auth | None = None, headers: dict[str, str] | None = None,
                 verify: bool | str = True, timeout: float = 30.0, max_body: int | None = None) -> None:
        self._limits = Limits(timeout=timeout) if max_body is None else Limits(timeout=timeout, max_body=max_body)
        # a CA bundle as a context: httpx deprecates verify=<path>; read once (OSError, ssl.SSLError: callers')
        trust: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify) if isinstance(verify, str) \
            else verify

        def make() -> httpx.Client:
            return httpx.Client(base_url=base_url, auth=auth, headers=headers, verify=trust, timeout=timeout,
                                follow_redirects=False, event_hooks={"request": [_only_get]})

        self._make = make
        self._client = make()

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        """The whole answer, its body decoded and at most the cap (LimitExceeded), within the deadline
        (httpx.ReadTimeout): httpx's own timeout is per read, which a server sending a byte a second never
        trips. The request runs in a worker thread; at the deadline its connection is closed under it."""
        client, limits = self._client, self._limits
        outcome: list[httpx.Response | BaseException] = []

        def fetch() -> None:
            try:
                with client.stream("GET", path, params=params,
                                   headers={"Accept-Encoding": ACCEPT_ENCODING}) as response:
                    outcome.append(rebuilt(response, read_capped(response, limits.max_body)))
            except BaseException as exc:  # handed to the caller's thread
                outcome.append(exc)

        worker = threading.Thread(target=fetch, name="lb-request", daemon=True)
        worker.start()
        worker.join(limits.timeout)
        if not outcome:
            client.close()  # the worker's next read fails; it is not waited for
            self._client = self._make()
            raise httpx.ReadTimeout(f"no complete answer within {limits.timeout:g} s")
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ReadOnlyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True, slots=True)
class Call:
    path: str  # URL path on the device
    file: str  # snapshot-relative file
    params: dict[str, str] = field(default_factory=dict)
    kind: str = "json"  # json | xml


def f5_plan(name: str) -> list[Call]:
    paths = [
        ("ltm/virtual", {"expandSubcollections": "true"}), ("ltm/virtual-address", {}),
        ("ltm/pool", {"expandSubcollections": "true"}), ("ltm/node", {}),
        ("ltm/persistence/source-addr", {}), ("ltm/persistence/universal", {}), ("ltm/persistence/hash", {}),
        ("ltm/persistence/cookie", {}), ("ltm/persistence/dest-addr", {}), ("ltm/persistence/ssl", {}),
        ("ltm/persistence/msrdp", {}), ("ltm/persistence/sip", {}), ("ltm/profile/udp", {}),
        ("ltm/profile/http", {}), ("ltm/profile/fasthttp", {}), ("ltm/profile/http2", {}),
        ("ltm/profile/client-ssl", {}), ("ltm/profile/server-ssl", {}), ("ltm/profile/tcp", {}),
        ("ltm/profile/fastl4", {}),
        ("ltm/monitor/http", {}), ("ltm/monitor/https", {}), ("ltm/monitor/icmp", {}),
        ("ltm/monitor/gateway-icmp", {}), ("ltm/monitor/tcp", {}), ("ltm/monitor/tcp-half-open", {}),
        ("ltm/monitor/udp", {}), ("ltm/monitor/external", {}), ("ltm/snat", {}), ("ltm/snatpool", {}),
        ("ltm/rule", {}), ("ltm/policy", {"expandSubcollections": "true"}), ("ltm/default-node-monitor", {}),
        ("ltm/traffic-matching-criteria", {}), ("net/packet-filter", {}), ("net/route-domain", {}),
        ("sys/db/packetfilter", {}), ("sys/db/packetfilter.defaultaction", {}), ("sys/db/tm.fw.defaultaction", {}),
        ("security/firewall/global-rules", {}),
    ]
    return [Call(f"/mgmt/tm/{p}", f"f5/{name}/{p}.json", params) for p, params in paths]


def kemp_plan(name: str) -> list[Call]:
    return [Call("/access/listvs", f"kemp/{name}.xml", kind="xml")]


NITRO_RESOURCES = ("lbvserver", "lbgroup", "service", "servicegroup", "server", "lbmonitor", "nsmode", "nsacl",
                   "nsacl6", "nssimpleacl", "nssimpleacl6")
NITRO_BINDINGS = ("lbgroup_lbvserver_binding", "lbvserver_service_binding", "lbvserver_servicegroup_binding",
                  "servicegroup_servicegroupmember_binding", "service_lbmonitor_binding",
                  "servicegroup_lbmonitor_binding", "sslvserver_sslcertkey_binding")


def netscaler_plan(name: str) -> list[Call]:
    calls = [Call(f"/nitro/v1/config/{r}", f"netscaler/{name}/{r}.json") for r in NITRO_RESOURCES]
    calls += [Call(f"/nitro/v1/config/{r}", f"netscaler/{name}/{r}.json", {"bulkbindings": "yes"})
              for r in NITRO_BINDINGS]
    return calls


PLANS = {"f5": f5_plan, "kemp": kemp_plan, "netscaler": netscaler_plan}


# --- redaction ------------------------------------------------------------------------------------------
# Each vendor's secret fields that the generic names (writer.is_secret_key: password, secret, passphrase, key,
# token, ...) miss, lower case. Header values in monitor strings (F5 `send`, NetScaler `customheaders` and
# `httprequest`), URL passwords and secret-named parameters are redacted by shape in every text value.
SECRET_FIELDS = {
    # SNMP DCA monitors' `community`
    "f5": frozenset({"community"}),
    # lbmonitor: RADIUS `radkey`, SNMP `snmpcommunity`, a USER monitor's encrypted script arguments
    "netscaler": frozenset({"radkey", "snmpcommunity", "secureargs"}),
}
# LoadMaster listvs elements whose whole content is secret: any element named like a secret (`<Password>`), and
# the health check's extra request headers (`<CheckHeaders>`: an Authorization header, as text or as children).
_XML_LEAF = re.compile(r"<(?P<tag>[A-Za-z_][\w.-]*)(?P<attrs>\s[^<>]*)?>(?P<body>[^<]*)</(?P=tag)\s*>")
_XML_VALUE = re.compile(r"<Value(?:\s[^<>]*)?>([^<]*)</Value\s*>", re.I)
_KEMP_HEADERS = re.compile(r"<(?P<tag>CheckHeaders)(?P<attrs>\s[^<>]*)?>(?P<body>.*?)</CheckHeaders\s*>", re.S | re.I)


def redact_kemp_xml(text: str, found: set[str] | None = None) -> str:
    """The listvs body with secret elements' content replaced by "<redacted>" (XML-escaped; line breaks kept,
    so the adapter's line numbers stay) and secret-shaped values redacted wherever they are."""
    mark = html.escape(REDACTED)
    secrets: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        body = match.group("body")
        if not body.strip() or html.unescape(body.strip()) == REDACTED:
            return match.group(0)
        if match.re is _XML_LEAF:
            if not is_secret_key(match.group("tag")):
                return match.group(0)
            secrets.add(html.unescape(body.strip()))
        else:  # the headers: their values are secrets, not their names
            redact_patterns(html.unescape(body), secrets)
            secrets.update(html.unescape(v).strip() for v in _XML_VALUE.findall(body) if v.strip())
        tag, attrs = match.group("tag"), match.group("attrs") or ""
        return f"<{tag}{attrs}>{mark}{chr(10) * body.count(chr(10))}</{tag}>"

    out = redact_patterns(_XML_LEAF.sub(replace, _KEMP_HEADERS.sub(replace, text)), secrets, mark)
    if found is not None:
        found |= secrets
    return out


@dataclass(slots=True)
class LbCollectConfig:
    vendor: str
    host: str
    out: Path
    username: str
    password: str
    name: str | None = None
    timeout: float = 30.0  # seconds per request, in total
    verify: bool | str = True
    show_progress: bool = False  # a progress bar on stderr (only when it is a terminal)
    max_body: int = mb_bytes(DEFAULT_MAX_BODY_MB)  # bytes per body (F5: all pages of a collection)
    max_pages: int = DEFAULT_MAX_PAGES
    inventory: dict[str, Any] | None = None  # the inventory host it came from (inventory.py), for the manifest


@dataclass(slots=True)
class Failure:
    path: str
    status: int | None
    record: CallRecord  # its error is scrubbed again when the writer closes (secrets met in later bodies)

    @property
    def error(self) -> str:
        return self.record.error or ""


@dataclass(slots=True)
class LbCollectResult:
    device: str
    calls: int = 0
    ok: int = 0
    absent: int = 0
    failures: list[Failure] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    manifest: Path | None = None
    elapsed: float = 0.0

    @property
    def exit_code(self) -> int:
        return EXIT_OK if not self.failures else EXIT_INCOMPLETE


def base_url(host: str) -> str:
    """`--host` as a base URL: https:// is assumed when no scheme is given; no path, query or credentials."""
    text = host.strip()
    if "://" not in text:
        if _ipv6(text):  # an IPv6 literal: `2001:db8::1` has no port, it is the address
            text = f"[{text}]"
        text = f"https://{text}"
    if public_host(text) != text:  # before any message that shows it: a password may hold '/', '@', ...
        raise CollectUsageError("--host must not carry credentials; use VPN_AUDITOR_LB_USERNAME/PASSWORD")
    try:
        parts = urllib.parse.urlsplit(text)
        parts.hostname  # noqa: B018  # a bracketed host that is no IPv6 address raises here, or above
    except ValueError as exc:
        raise CollectUsageError(f"--host {host!r}: not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CollectUsageError(f"--host {host!r} is not an http(s) URL or host name")
    try:
        parts.port  # noqa: B018  # urllib checks it only when asked; httpx refuses it as an internal error
    except ValueError:
        raise CollectUsageError(f"--host {host!r}: the port is not a number from 1 to 65535 (an IPv6 address in a "
                                "URL goes in brackets: https://[2001:db8::1]:8443)") from None
    return f"{parts.scheme}://{parts.netloc}"


def _ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


def device_name(config: LbCollectConfig) -> str:
    name = config.name or urllib.parse.urlsplit(base_url(config.host)).hostname or "device"
    try:
        return quote_segment(name)
    except UnsafePathError as exc:
        raise CollectUsageError(f"--name: {exc}") from None


def _client(config: LbCollectConfig) -> ReadOnlyClient:
    url = base_url(config.host)
    try:
        if config.vendor == "netscaler":  # NITRO reads credentials from headers on each request
            headers = {"X-NITRO-USER": config.username, "X-NITRO-PASS": config.password,
                       "Accept": "application/json"}
            return ReadOnlyClient(url, headers=headers, verify=config.verify, timeout=config.timeout,
                                  max_body=config.max_body)
        accept = "application/xml" if config.vendor == "kemp" else "application/json"
        return ReadOnlyClient(url, auth=httpx.BasicAuth(config.username, config.password),
                              headers={"Accept": accept}, verify=config.verify, timeout=config.timeout,
                              max_body=config.max_body)
    except (OSError, ssl.SSLError) as exc:  # the CA bundle cannot be read or holds no certificate
        raise CollectUsageError(f"--ca-bundle {config.verify}: {exc.strerror or exc}") from None
    except httpx.InvalidURL as exc:  # what base_url let through and httpx cannot use
        raise CollectUsageError(f"--host {config.host!r}: {exc}") from None


def collect_lb(config: LbCollectConfig) -> LbCollectResult:
    if config.vendor not in PLANS:
        raise CollectUsageError(f"unknown load balancer {config.vendor!r} (one of {', '.join(VENDORS)})")
    name = device_name(config)
    started = time.monotonic()
    result = LbCollectResult(device=f"{config.vendor}/{name}")
    try:
        check_out(config.out)  # before any request: not after every one was made
    except OutNotWritable as exc:
        raise CollectUsageError(str(exc)) from None
    parameters = {"vendor": config.vendor, "host": base_url(config.host), "name": name,
                  "insecure": config.verify is False}  # TLS certificate not verified (--insecure)
    if config.inventory is not None:
        parameters["inventory"] = config.inventory
    limits = Limits(timeout=config.timeout, max_body=config.max_body, max_pages=config.max_pages)
    _client(config).close()  # a CA bundle that cannot be read is a usage error, before anything is written
    # The user name is no secret: scrubbing it mangled any text holding it (user "auditor" turned the manifest's
    # "vpn-auditor.manifest/1" schema into one no reader accepts). The base64 of user:pass is a secret.
    with SnapshotWriter(config.out, config.vendor, parameters=parameters, secrets=[config.password]) as writer, \
            _client(config) as client, \
            Progress(console=Console(stderr=True), transient=True, disable=not config.show_progress) as progress:
        writer.add_credentials(config.username, config.password)  # the base64 a server may echo from Basic auth
        calls = PLANS[config.vendor](name)
        task = progress.add_task(f"{config.vendor} {name}", total=len(calls))
        try:
            for call in calls:
                _run_call(client, writer, call, result, limits)
                progress.advance(task)
        except KeyboardInterrupt:  # SIGINT or SIGTERM: the call in flight and those not made are failed
            for call in calls[len(writer.calls):]:  # one record per call made so far
                writer.discard(call.file)
                writer.record_call(_shown(call), "failed", error=INTERRUPTED, file=call.file)
            result.manifest = writer.close(device=result.device, interrupted=True)
            raise
        result.manifest = writer.close(device=result.device)
    result.elapsed = time.monotonic() - started
    return result


def _run_call(client: ReadOnlyClient, writer: SnapshotWriter, call: Call, result: LbCollectResult,
              limits: Limits) -> None:
    result.calls += 1
    shown = _shown(call)
    try:
        body, status, error = _fetch(client, call, limits)
    except httpx.HTTPError as exc:
        body, status, error = None, None, f"{type(exc).__name__}: {exc}"
    except LimitExceeded as exc:  # past a bound (limits.py): a failed call, nothing kept
        body, status, error = None, None, str(exc)
    except Exception as exc:  # an answer this code cannot follow: this call failed, the plan goes on
        body, status, error = None, None, f"unreadable answer ({type(exc).__name__}: {exc})"
    if body is not None:
        try:
            if call.kind == "xml":
                found: set[str] = set()
                writer.write_text(call.file, redact_kemp_xml(body, found), found=found)
            else:
                writer.write_json(call.file, body, secret_keys=SECRET_FIELDS.get(call.file.split("/", 1)[0],
                                                                                 frozenset()))
        except (OSError, UnsafePathError, LimitExceeded) as exc:  # a folder linking out; a body nested too deep
            why = str(exc) if isinstance(exc, LimitExceeded) else f"cannot write the file: {exc}"
            writer.discard(call.file)
            record = writer.record_call(shown, "failed", status=status, error=why, file=call.file)
            result.failures.append(Failure(shown, status, record))
            return
        writer.record_call(shown, "ok", status=status, file=call.file, written=True)
        result.ok += 1
        result.files.append(call.file)
    elif status == 404:  # the module or resource does not exist on this version: nothing to read
        writer.discard(call.file)
        writer.record_call(shown, "absent", status=status, error=error, file=call.file)
        result.absent += 1
    else:
        writer.discard(call.file)
        record = writer.record_call(shown, "failed", status=status, error=error, file=call.file)
        result.failures.append(Failure(shown, status, record))


def _shown(call: Call) -> str:
    return call.path + ("?" + urllib.parse.urlencode(call.params) if call.params else "")


def _fetch(client: ReadOnlyClient, call: Call, limits: Limits) -> tuple[Any, int | None, str]:
    """(body or None, last status, error text); LimitExceeded past a bound."""
    response = client.get(call.path, params=call.params or None)
    if response.status_code != 200:
        return None, response.status_code, _error_text(response)
    if call.kind == "xml":
        text = response.text
        if '<Response stat="200"' not in text[:500] and "<Response stat='200'" not in text[:500]:
            return None, response.status_code, f"LoadMaster error response: {text[:500]}"
        return text, response.status_code, ""
    body, error = _json(response)
    if error:
        return None, response.status_code, error
    if isinstance(body, dict) and body.get("errorcode") not in (None, 0):  # NITRO reports errors in the body
        return None, response.status_code, f"NITRO error {body.get('errorcode')}: {body.get('message')}"
    # iControl REST pages long collections with nextLink; follow it (GET) and join the items. A page cap, a
    # size cap over all pages and a loop guard: a nextLink back to a page read, or a page of items all read.
    if isinstance(body, dict) and "nextLink" in body and not isinstance(body.get("items", []), list):
        return None, response.status_code, "a page that is not a collection (a JSON object with a list of items)"
    read = {(call.path, tuple(sorted(call.params.items())))}
    seen = {_fingerprint(item) for item in body.get("items") or []} if isinstance(body, dict) else set()
    size = len(response.content)
    while isinstance(body, dict) and isinstance(body.get("nextLink"), str):
        link = urllib.parse.urlsplit(body["nextLink"])
        params = dict(urllib.parse.parse_qsl(link.query))
        key = (link.path, tuple(sorted(params.items())))
        if key in read:
            raise LimitExceeded(f"pagination loop: nextLink leads back to a page already read ({body['nextLink']})")
        if len(read) >= limits.max_pages:
            raise LimitExceeded(f"more than {limits.max_pages} pages (--max-pages); nothing was kept")
        read.add(key)
        more = client.get(link.path, params=params)
        if more.status_code != 200:
            return None, more.status_code, _error_text(more)
        size += len(more.content)
        if size > limits.max_body:
            raise too_large("the answer (all its pages)", limits.max_body)
        page, error = _json(more)
        items = page.get("items", []) if isinstance(page, dict) else None
        if error or not isinstance(items, list):
            return None, more.status_code, error or f"page {len(read)} is not a collection (a JSON object with " \
                                                    "a list of items)"
        prints = [_fingerprint(item) for item in items]
        if prints and all(p in seen for p in prints):
            raise LimitExceeded(f"pagination loop: page {len(read)} repeats items already read; nothing was kept")
        seen.update(prints)
        body["items"] = list(body.get("items") or []) + items
        body["nextLink"] = page.get("nextLink")
    if isinstance(body, dict):
        body.pop("nextLink", None)
    return body, response.status_code, ""


def _json(response: httpx.Response) -> tuple[Any, str]:
    try:
        return response.json(), ""
    except ValueError:
        return None, "response is not JSON"
    except RecursionError:
        return None, "response nests too deeply to be read"


def _fingerprint(item: object) -> str:
    return json.dumps(item, sort_keys=True, default=str)


def _error_text(response: httpx.Response) -> str:
    """The error body as JSON text (never `str(dict)`, whose escaping differs) with secret-named fields
    redacted; the writer scrubs the rest."""
    try:
        return json.dumps(redact_json(response.json()), ensure_ascii=False)
    except ValueError:
        return response.text[:500]


# ---------------------------------------------------------------------------------------------------
# command line (mounted on `collect_app` in auditor/cli_collect.py)


def _ask(env: str, prompt: str, hide: bool) -> str:
    value = os.environ.get(env, "")
    if not value and sys.stdin.isatty():
        value = typer.prompt(prompt, hide_input=hide, default="", show_default=False)
    if not value:
        raise CollectUsageError(f"set {env} (stdin is not a terminal to ask for it)")
    return value


def _run_command(vendor: str, host: str | None, out: Path, name: str | None, timeout: float, insecure: bool,
                 ca_bundle: Path | None, max_body_mb: float | None = None, max_pages: int = DEFAULT_MAX_PAGES,
                 inventory: Path | None = None, group: list[str] | None = None, workers: int = 8) -> None:
    if inventory is not None:
        _run_inventory(vendor, inventory, host, out, name, timeout, insecure, ca_bundle, max_body_mb, max_pages,
                       group or [], workers)
    if host is None:
        raise CollectUsageError("give --host (or --inventory)")
    url = base_url(host)
    if ca_bundle is not None and not ca_bundle.is_file():
        raise CollectUsageError(f"--ca-bundle {ca_bundle}: no such file")
    if url.startswith("http://"):
        typer.echo(f"vpn-auditor collect: warning: --host {url} is plain HTTP: the credentials and the "
                   "configuration cross the network unencrypted", err=True)
    username = _ask(USERNAME_ENV, f"{vendor} user for {url}", hide=False)
    password = _ask(PASSWORD_ENV, f"{vendor} password for {username}@{url}", hide=True)
    verify: bool | str = False if insecure else (str(ca_bundle) if ca_bundle else True)
    config = LbCollectConfig(vendor, host, out, username, password, name, timeout, verify,
                             show_progress=sys.stderr.isatty(), max_body=mb_bytes(body_cap_mb(max_body_mb)),
                             max_pages=max_pages)
    try:
        with terminate_as_interrupt():
            result = collect_lb(config)
    except KeyboardInterrupt:
        typer.echo(f"vpn-auditor collect: interrupted; the snapshot is incomplete ({out / 'manifest.json'} says "
                   "interrupted: true)", err=True)
        raise typer.Exit(EXIT_INCOMPLETE) from None
    for failure in result.failures[:10]:
        status = f"HTTP {failure.status}" if failure.status is not None else "no response"
        typer.echo(clean(f"  {failure.path}: {status} {failure.error}".rstrip()), err=True)  # a server's words
    if result.failures:
        typer.echo(f"vpn-auditor collect: {len(result.failures)} of {result.calls} calls to {url} failed; the "
                   f"snapshot is incomplete (details in {result.manifest})", err=True)
    elif sys.stderr.isatty():
        typer.echo(f"{result.device}: {result.ok} bodies written, {result.absent} absent, {result.elapsed:.1f} s",
                   err=True)
    raise typer.Exit(result.exit_code)


def lb_inventory(vendor: str, path: Path, out: Path, groups: Sequence[str], workers: int, timeout: float,
                 verify: bool | str, max_body: int, max_pages: int) -> int:
    """`collect f5|kemp|netscaler --inventory FILE`: every host of that vendor; the exit code."""
    inventory, targets = prepare(path, FLEETS[vendor], groups, None, workers)
    # A host's username in the inventory (its own, its groups', the defaults') wins: VPN_AUDITOR_LB_USERNAME is
    # the user of the hosts the inventory gives none, as --username is for `collect cisco` (docs/inventory.md).
    username = os.environ.get(USERNAME_ENV, "")
    overridden = [t.device for t in targets if username and t.device.username not in (None, username)]
    if overridden:
        typer.echo(clean(f"vpn-auditor collect: warning: the inventory's username is used, not {USERNAME_ENV} "
                         f"({username}), for " + name_list(f"{d.name} ({d.username})" for d in overridden)), err=True)
    if any(t.device.username is None for t in targets):
        if not username and sys.stdin.isatty():
            username = typer.prompt(f"{vendor} user", default="", show_default=False)
        if not username:
            raise CollectUsageError(f"set {USERNAME_ENV} (stdin is not a terminal to ask for it)")
    plain = [t.device.name for t in targets if t.device.hostname.lower().startswith("http://")]
    if plain:
        typer.echo(f"vpn-auditor collect: warning: plain HTTP for {name_list(plain)}: the credentials and the "
                   "configuration cross the network unencrypted", err=True)
    password = ask_secret(PASSWORD_ENV, f"{vendor} password for the {len(targets)} devices", required=True)
    source = inventory.files[0]

    def job(target: Target) -> DeviceOutcome:
        device = target.device
        config = LbCollectConfig(vendor, device.hostname, out, device.username or username or "", password,
                                 device.name, timeout, verify, show_progress=False, max_body=max_body,
                                 max_pages=max_pages, inventory=inventory_entry(source, target))
        result = collect_lb(config)
        if result.failures:
            first = result.failures[0]
            status = f"HTTP {first.status}" if first.status is not None else "no response"
            detail = f"{len(result.failures)} of {result.calls} calls failed (first: {first.path}: {status})"
        else:
            detail = f"{result.ok} bodies written, {result.absent} absent"
        return DeviceOutcome(device.name, shown(vendor, target), not result.failures, detail)

    return collect_fleet(targets, job, workers, out, FLEETS[vendor], source)


def _run_inventory(vendor: str, inventory: Path, host: str | None, out: Path, name: str | None, timeout: float,
                   insecure: bool, ca_bundle: Path | None, max_body_mb: float | None, max_pages: int,
                   group: list[str], workers: int) -> None:
    """`--inventory`: every host of this vendor in a Nornir inventory (inventory.py); exits."""
    if host is not None or name is not None:
        raise CollectUsageError("--inventory names the devices: leave out --host and --name")
    if ca_bundle is not None and not ca_bundle.is_file():
        raise CollectUsageError(f"--ca-bundle {ca_bundle}: no such file")
    check_out(out)
    verify: bool | str = False if insecure else (str(ca_bundle) if ca_bundle else True)
    raise typer.Exit(lb_inventory(vendor, inventory, out, group, workers, timeout, verify,
                                  mb_bytes(body_cap_mb(max_body_mb)), max_pages))


HostOpt = Annotated[str | None, typer.Option(
    "--host", help="REST API base URL, e.g. https://lb1.example.com (or --inventory)")]
InventoryOpt = Annotated[Path | None, typer.Option(
    "--inventory", help="Nornir SimpleInventory hosts.yaml (or its folder): collect every host of this vendor.")]
GroupOpt = Annotated[list[str] | None, typer.Option(
    "--group", help="With --inventory: only hosts in this group; repeat for several.")]
WorkersOpt = Annotated[int, typer.Option("--workers", min=1, help="With --inventory: devices collected at once.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Snapshot directory to write (created if needed).")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Device name in the snapshot (default: host name).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per request, in total.")]
MaxBodyOpt = Annotated[float | None, typer.Option(
    "--max-body-mb", min=0.001, envvar=MAX_BODY_ENV,
    help=f"Largest answer kept, in MB (F5: all pages together; default {DEFAULT_MAX_BODY_MB:g}).")]
MaxPagesOpt = Annotated[int, typer.Option("--max-pages", min=1, help="Most pages read for one F5 collection.")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Do not verify the device's TLS certificate.")]
CaOpt = Annotated[Path | None, typer.Option("--ca-bundle", help="CA bundle to verify the device's certificate.")]


def f5_command(out: OutOpt, host: HostOpt = None, name: NameOpt = None, timeout: TimeoutOpt = 30.0,
               insecure: InsecureOpt = False, ca_bundle: CaOpt = None,
               max_body_mb: MaxBodyOpt = None, max_pages: MaxPagesOpt = DEFAULT_MAX_PAGES,
               inventory: InventoryOpt = None, group: GroupOpt = None, workers: WorkersOpt = 8) -> None:
    """Pull F5 BIG-IP LTM configuration (iControl REST, GET only) into SNAPSHOT/f5/<name>/.

    Credentials come from VPN_AUDITOR_LB_USERNAME / VPN_AUDITOR_LB_PASSWORD. Exit code 0 when every call
    succeeded or the resource is absent, 3 when some failed (the snapshot is still written), 2 for usage errors.
    With --inventory, every F5 host of a Nornir inventory, --workers at a time (kemp and netscaler alike).
    """
    _run_command("f5", host, out, name, timeout, insecure, ca_bundle, max_body_mb, max_pages, inventory, group,
                 workers)


def kemp_command(out: OutOpt, host: HostOpt = None, name: NameOpt = None, timeout: TimeoutOpt = 30.0,
                 insecure: InsecureOpt = False, ca_bundle: CaOpt = None,
                 max_body_mb: MaxBodyOpt = None, max_pages: MaxPagesOpt = DEFAULT_MAX_PAGES,
                 inventory: InventoryOpt = None, group: GroupOpt = None, workers: WorkersOpt = 8) -> None:
    """Pull the KEMP LoadMaster virtual services (`/access/listvs`, GET only) into SNAPSHOT/kemp/<name>.xml.

    Credentials come from VPN_AUDITOR_LB_USERNAME / VPN_AUDITOR_LB_PASSWORD. Exit codes as for `collect f5`.
    """
    _run_command("kemp", host, out, name, timeout, insecure, ca_bundle, max_body_mb, max_pages, inventory, group,
                 workers)


def netscaler_command(out: OutOpt, host: HostOpt = None, name: NameOpt = None, timeout: TimeoutOpt = 30.0,
                      insecure: InsecureOpt = False, ca_bundle: CaOpt = None,
                      max_body_mb: MaxBodyOpt = None, max_pages: MaxPagesOpt = DEFAULT_MAX_PAGES,
                      inventory: InventoryOpt = None, group: GroupOpt = None, workers: WorkersOpt = 8) -> None:
    """Pull NetScaler load-balancing configuration (NITRO, GET only) into SNAPSHOT/netscaler/<name>/.

    Credentials come from VPN_AUDITOR_LB_USERNAME / VPN_AUDITOR_LB_PASSWORD. Exit codes as for `collect f5`.
    """
    _run_command("netscaler", host, out, name, timeout, insecure, ca_bundle, max_body_mb, max_pages, inventory, group,
                 workers)


COMMANDS = {"f5": f5_command, "kemp": kemp_command, "netscaler": netscaler_command}

__all__ = ["COMMANDS", "PASSWORD_ENV", "USERNAME_ENV", "Call", "CollectUsageError", "LbCollectConfig",
           "LbCollectResult", "ReadOnlyClient", "WriteRefused", "base_url", "collect_lb", "f5_plan", "kemp_plan",
           "netscaler_plan"]
