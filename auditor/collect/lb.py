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

import json
import os
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import Progress

from auditor.collect.writer import SnapshotWriter, UnsafePathError, quote_segment, redact_json
from auditor.untrusted import clean

USERNAME_ENV = "VPN_AUDITOR_LB_USERNAME"
PASSWORD_ENV = "VPN_AUDITOR_LB_PASSWORD"
VENDORS = ("f5", "kemp", "netscaler")
EXIT_OK, EXIT_USAGE, EXIT_INCOMPLETE = 0, 2, 3


class WriteRefused(RuntimeError):
    """A request other than GET was about to be sent to a load balancer."""


def _only_get(request: httpx.Request) -> None:
    if request.method != "GET":
        raise WriteRefused(f"refused {request.method} {request.url.path}: the collector only reads (GET)")


class ReadOnlyClient:
    """An HTTP client that can only GET (and refuses anything else at the transport hook as well)."""

    def __init__(self, base_url: str, *, auth: httpx.Auth | None = None, headers: dict[str, str] | None = None,
                 verify: bool | str = True, timeout: float = 30.0) -> None:
        self._client = httpx.Client(base_url=base_url, auth=auth, headers=headers, verify=verify,
                                    timeout=timeout, follow_redirects=False,
                                    event_hooks={"request": [_only_get]})

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return self._client.get(path, params=params)

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


@dataclass(slots=True)
class LbCollectConfig:
    vendor: str
    host: str
    out: Path
    username: str
    password: str
    name: str | None = None
    timeout: float = 30.0
    verify: bool | str = True
    show_progress: bool = False  # a progress bar on stderr (only when it is a terminal)


@dataclass(slots=True)
class Failure:
    path: str
    status: int | None
    error: str


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


class CollectUsageError(ValueError):
    pass


def base_url(host: str) -> str:
    """`--host` as a base URL: https:// is assumed when no scheme is given; no path, query or credentials."""
    text = host.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urllib.parse.urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CollectUsageError(f"--host {host!r} is not an http(s) URL or host name")
    if parts.username or parts.password:
        raise CollectUsageError("--host must not carry credentials; use VPN_AUDITOR_LB_USERNAME/PASSWORD")
    return f"{parts.scheme}://{parts.netloc}"


def device_name(config: LbCollectConfig) -> str:
    name = config.name or urllib.parse.urlsplit(base_url(config.host)).hostname or "device"
    try:
        return quote_segment(name)
    except UnsafePathError as exc:
        raise CollectUsageError(f"--name: {exc}") from None


def _client(config: LbCollectConfig) -> ReadOnlyClient:
    url = base_url(config.host)
    if config.vendor == "netscaler":  # NITRO reads credentials from headers on each request
        headers = {"X-NITRO-USER": config.username, "X-NITRO-PASS": config.password,
                   "Accept": "application/json"}
        return ReadOnlyClient(url, headers=headers, verify=config.verify, timeout=config.timeout)
    accept = "application/xml" if config.vendor == "kemp" else "application/json"
    return ReadOnlyClient(url, auth=httpx.BasicAuth(config.username, config.password), headers={"Accept": accept},
                          verify=config.verify, timeout=config.timeout)


def collect_lb(config: LbCollectConfig) -> LbCollectResult:
    if config.vendor not in PLANS:
        raise CollectUsageError(f"unknown load balancer {config.vendor!r} (one of {', '.join(VENDORS)})")
    name = device_name(config)
    started = time.monotonic()
    result = LbCollectResult(device=f"{config.vendor}/{name}")
    parameters = {"vendor": config.vendor, "host": base_url(config.host), "name": name}
    # The user name is no secret: scrubbing it mangled any text holding it (user "auditor" turned the manifest's
    # "vpn-auditor.manifest/1" schema into one no reader accepts). The base64 of user:pass is a secret.
    with SnapshotWriter(config.out, config.vendor, parameters=parameters, secrets=[config.password]) as writer, \
            _client(config) as client, \
            Progress(console=Console(stderr=True), transient=True, disable=not config.show_progress) as progress:
        writer.add_credentials(config.username, config.password)  # the base64 a server may echo from Basic auth
        calls = PLANS[config.vendor](name)
        task = progress.add_task(f"{config.vendor} {name}", total=len(calls))
        for call in calls:
            _run_call(client, writer, call, result)
            progress.advance(task)
        result.manifest = writer.close(device=result.device)
    result.elapsed = time.monotonic() - started
    return result


def _run_call(client: ReadOnlyClient, writer: SnapshotWriter, call: Call, result: LbCollectResult) -> None:
    result.calls += 1
    shown = call.path + ("?" + urllib.parse.urlencode(call.params) if call.params else "")
    try:
        body, status, error = _fetch(client, call)
    except httpx.HTTPError as exc:
        body, status, error = None, None, f"{type(exc).__name__}: {exc}"
    if body is not None:
        try:
            if call.kind == "xml":
                writer.write_text(call.file, body)
            else:
                writer.write_json(call.file, body)
        except (OSError, UnsafePathError) as exc:  # e.g. a folder of the snapshot links outside it
            record = writer.record_call(shown, "failed", status=status, error=f"cannot write the file: {exc}",
                                        file=call.file)
            result.failures.append(Failure(shown, status, record.error or ""))
            return
        writer.record_call(shown, "ok", status=status, file=call.file, written=True)
        result.ok += 1
        result.files.append(call.file)
    elif status == 404:  # the module or resource does not exist on this version: nothing to read
        writer.record_call(shown, "absent", status=status, error=error, file=call.file)
        result.absent += 1
    else:
        record = writer.record_call(shown, "failed", status=status, error=error, file=call.file)
        result.failures.append(Failure(shown, status, record.error or ""))


def _fetch(client: ReadOnlyClient, call: Call) -> tuple[Any, int | None, str]:
    """(body or None, last status, error text)."""
    response = client.get(call.path, params=call.params or None)
    if response.status_code != 200:
        return None, response.status_code, _error_text(response)
    if call.kind == "xml":
        text = response.text
        if '<Response stat="200"' not in text[:500] and "<Response stat='200'" not in text[:500]:
            return None, response.status_code, f"LoadMaster error response: {text[:500]}"
        return text, response.status_code, ""
    try:
        body = response.json()
    except ValueError:
        return None, response.status_code, "response is not JSON"
    if isinstance(body, dict) and body.get("errorcode") not in (None, 0):  # NITRO reports errors in the body
        return None, response.status_code, f"NITRO error {body.get('errorcode')}: {body.get('message')}"
    # iControl REST pages long collections with nextLink; follow it (GET) and join the items.
    pages = 0
    while isinstance(body, dict) and isinstance(body.get("nextLink"), str) and pages < 1000:
        link = urllib.parse.urlsplit(body["nextLink"])
        more = client.get(link.path, params=dict(urllib.parse.parse_qsl(link.query)))
        if more.status_code != 200:
            return None, more.status_code, _error_text(more)
        page = more.json()
        body["items"] = list(body.get("items", [])) + list(page.get("items", []))
        body["nextLink"] = page.get("nextLink")
        pages += 1
    if isinstance(body, dict):
        body.pop("nextLink", None)
    return body, response.status_code, ""


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
        typer.echo(f"vpn-auditor collect: set {env} (stdin is not a terminal to ask for it)", err=True)
        raise typer.Exit(EXIT_USAGE)
    return value


def _run_command(vendor: str, host: str, out: Path, name: str | None, timeout: float, insecure: bool,
                 ca_bundle: Path | None) -> None:
    try:
        url = base_url(host)
    except CollectUsageError as exc:
        typer.echo(f"vpn-auditor collect: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    username = _ask(USERNAME_ENV, f"{vendor} user for {url}", hide=False)
    password = _ask(PASSWORD_ENV, f"{vendor} password for {username}@{url}", hide=True)
    verify: bool | str = False if insecure else (str(ca_bundle) if ca_bundle else True)
    config = LbCollectConfig(vendor, host, out, username, password, name, timeout, verify,
                             show_progress=sys.stderr.isatty())
    try:
        result = collect_lb(config)
    except CollectUsageError as exc:
        typer.echo(f"vpn-auditor collect: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
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


HostOpt = Annotated[str, typer.Option("--host", help="REST API base URL, e.g. https://lb1.example.com")]
OutOpt = Annotated[Path, typer.Option("--out", help="Snapshot directory to write (created if needed).")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Device name in the snapshot (default: host name).")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per request.")]
InsecureOpt = Annotated[bool, typer.Option("--insecure", help="Do not verify the device's TLS certificate.")]
CaOpt = Annotated[Path | None, typer.Option("--ca-bundle", help="CA bundle to verify the device's certificate.")]


def f5_command(host: HostOpt, out: OutOpt, name: NameOpt = None, timeout: TimeoutOpt = 30.0,
               insecure: InsecureOpt = False, ca_bundle: CaOpt = None) -> None:
    """Pull F5 BIG-IP LTM configuration (iControl REST, GET only) into SNAPSHOT/f5/<name>/.

    Credentials come from VPN_AUDITOR_LB_USERNAME / VPN_AUDITOR_LB_PASSWORD. Exit code 0 when every call
    succeeded or the resource is absent, 3 when some failed (the snapshot is still written), 2 for usage errors.
    """
    _run_command("f5", host, out, name, timeout, insecure, ca_bundle)


def kemp_command(host: HostOpt, out: OutOpt, name: NameOpt = None, timeout: TimeoutOpt = 30.0,
                 insecure: InsecureOpt = False, ca_bundle: CaOpt = None) -> None:
    """Pull the KEMP LoadMaster virtual services (`/access/listvs`, GET only) into SNAPSHOT/kemp/<name>.xml.

    Credentials come from VPN_AUDITOR_LB_USERNAME / VPN_AUDITOR_LB_PASSWORD. Exit codes as for `collect f5`.
    """
    _run_command("kemp", host, out, name, timeout, insecure, ca_bundle)


def netscaler_command(host: HostOpt, out: OutOpt, name: NameOpt = None, timeout: TimeoutOpt = 30.0,
                      insecure: InsecureOpt = False, ca_bundle: CaOpt = None) -> None:
    """Pull NetScaler load-balancing configuration (NITRO, GET only) into SNAPSHOT/netscaler/<name>/.

    Credentials come from VPN_AUDITOR_LB_USERNAME / VPN_AUDITOR_LB_PASSWORD. Exit codes as for `collect f5`.
    """
    _run_command("netscaler", host, out, name, timeout, insecure, ca_bundle)


COMMANDS = {"f5": f5_command, "kemp": kemp_command, "netscaler": netscaler_command}

__all__ = ["COMMANDS", "PASSWORD_ENV", "USERNAME_ENV", "Call", "CollectUsageError", "LbCollectConfig",
           "LbCollectResult", "ReadOnlyClient", "WriteRefused", "base_url", "collect_lb", "f5_plan", "kemp_plan",
           "netscaler_plan"]
