"""`vpn-auditor collect ...`: pull configuration into a snapshot directory (docs/snapshot.md).

`collect_app` is mounted by the main CLI (`auditor.cli`) as the `collect` command group.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from auditor.cli_exits import EXIT_INCOMPLETE, EXIT_USAGE, ExitCodes
from auditor.collect.dns import QUERY_TIMEOUT, DnsResult, collect_dns
from auditor.collect.fingerprints import SECRET_FINGERPRINTS_ENV, SECRET_FINGERPRINTS_HELP
from auditor.collect.limits import (
    DEFAULT_MAX_BODY_MB,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_RETRY_AFTER,
    MAX_BODY_ENV,
)
from auditor.collect.limits import (
    max_body_mb as body_cap_mb,
)
from auditor.errors import CollectUsageError, SnapshotError
from auditor.untrusted import clean
from auditor.vendors.cisco.collect import cisco_command
from auditor.vendors.lb.collect import COMMANDS as LB_COMMANDS
from auditor.vendors.meraki.collect import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    ORG_RATE,
    CollectorConfig,
    CollectResult,
    public_url,
    run_collect,
)

# ExitCodes: run on its own (tests, embedding), the group maps errors to exit codes as the main CLI does.
collect_app = typer.Typer(no_args_is_help=True, add_completion=False, cls=ExitCodes)
collect_app.command("cisco")(cisco_command)  # `collect cisco`: auditor/vendors/cisco/collect.py
for _vendor, _command in LB_COMMANDS.items():  # `collect f5|kemp|netscaler`: auditor/vendors/lb/collect.py
    collect_app.command(_vendor)(_command)

DNS_RESOLVER_ENV = "VPN_AUDITOR_DNS_RESOLVER"  # the collecting host's resolvers (space-separated), for audit --org
DNS_PORT_ENV = "VPN_AUDITOR_DNS_PORT"


@collect_app.callback()
def collect_group() -> None:
    """Pull configuration from live systems into a snapshot directory (read-only)."""


def _api_key() -> str:
    """The Dashboard API key: from the environment, or asked for on a terminal; never from argv."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key and sys.stdin.isatty():
        key = typer.prompt("Meraki Dashboard API key", hide_input=True, default="", show_default=False).strip()
    if not key:
        raise CollectUsageError(f"no Dashboard API key: set {API_KEY_ENV} (stdin is not a terminal to ask for it)")
    return key


@collect_app.command("meraki")
def collect_meraki(
    out: Annotated[Path, typer.Option("--out", help="Snapshot directory to write (created if needed).")],
    org: Annotated[list[str] | None, typer.Option(
        "--org", help="Organization ID; repeat for several. Default: every organization the key can read.")] = None,
    network: Annotated[list[str] | None, typer.Option(
        "--network", help="Network ID or name; repeat for several. Default: every network.")] = None,
    base_url: Annotated[str, typer.Option(
        "--base-url", envvar=BASE_URL_ENV, help="Dashboard API base URL (regional cloud, test server).")
    ] = DEFAULT_BASE_URL,
    rate: Annotated[float, typer.Option(
        "--rate", min=0.1, help="Requests per second per organization (the Dashboard allows 10).")] = ORG_RATE,
    timeout: Annotated[float, typer.Option(
        "--timeout", min=0.1, help="Seconds per request, in total (headers and whole body).")] = 60.0,
    retries: Annotated[int, typer.Option(
        "--retries", min=1, help="Attempts per request (429s are always absorbed).")] = 5,
    config: Annotated[Path | None, typer.Option(
        "--config", help="audit.yaml whose servers' fqdn are resolved (default: OUT/audit.yaml, if there).")] = None,
    dns_resolver: Annotated[list[str] | None, typer.Option(
        "--dns-resolver", envvar=DNS_RESOLVER_ENV,
        help="The collecting host's resolver address; repeat for several (default: the system's).")] = None,
    dns_port: Annotated[int, typer.Option(
        "--dns-port", envvar=DNS_PORT_ENV, min=1, max=65535,
        help="Port resolvers are asked on (53; another for a lab resolver).")] = 53,
    dns_timeout: Annotated[float, typer.Option(
        "--dns-timeout", min=0.1, help="Seconds per DNS query.")] = QUERY_TIMEOUT,
    max_body_mb: Annotated[float | None, typer.Option(
        "--max-body-mb", min=0.001, envvar=MAX_BODY_ENV,
        help=f"Largest answer kept, in MB (all pages of a call together; default {DEFAULT_MAX_BODY_MB:g}).")] = None,
    max_pages: Annotated[int, typer.Option(
        "--max-pages", min=1, help="Most pages read for one call.")] = DEFAULT_MAX_PAGES,
    max_retry_after: Annotated[float, typer.Option(
        "--max-retry-after", min=0, help="Longest Retry-After waited for, in seconds; longer fails the call.")
    ] = DEFAULT_MAX_RETRY_AFTER,
    since: Annotated[Path | None, typer.Option(
        "--since", help="An older snapshot of this collector: carry over what the org's change log shows "
                        "unchanged since it, fetch the rest.")] = None,
    source_address: Annotated[str | None, typer.Option(
        "--source-address", metavar="IP",
        help="Local IP address the Dashboard connections leave from (one egress address of several).")] = None,
    secret_fingerprints: Annotated[bool, typer.Option(
        "--secret-fingerprints", envvar=SECRET_FINGERPRINTS_ENV, help=SECRET_FINGERPRINTS_HELP)] = False,
) -> None:
    """Pull Meraki Dashboard data into SNAPSHOT/meraki/ (GET requests only).

    The API key comes from MERAKI_DASHBOARD_API_KEY. Exit code 0 when every call succeeded or the
    feature is absent, 3 when some calls failed (the snapshot is still written), 2 for usage errors.
    When audit.yaml names a server's fqdn, the name is then resolved at every resolver a role can use
    (SNAPSHOT/dns/<fqdn>.json); a resolver that does not answer is a failed call.
    With --since OLD, only networks and org-level files the change log shows changed are fetched; the
    rest is carried over from OLD, and the manifest says which (docs/snapshot.md).
    """
    fqdns = _fqdns(config, out)
    key = _api_key()
    stderr = Console(stderr=True)
    settings = CollectorConfig(out=out, api_key=key, orgs=org or [], networks=network or [], base_url=base_url,
                               rate=rate, timeout=timeout, maximum_retries=retries,
                               show_progress=stderr.is_terminal, max_body_mb=body_cap_mb(max_body_mb),
                               max_pages=max_pages, max_retry_after=max_retry_after, since=since,
                               source_address=source_address, secret_fingerprints=secret_fingerprints)
    result = _run(settings)
    _report(result, stderr)
    code = result.exit_code
    if fqdns and code != EXIT_USAGE:
        dns_result = _collect_dns(out, fqdns, dns_resolver, dns_port, dns_timeout)
        code = code or (3 if dns_result.failed else 0)
    raise typer.Exit(code)


def _fqdns(config: Path | None, out: Path | None) -> list[str]:
    """The servers' names to resolve: from --config, else OUT/audit.yaml when it is there; none without one."""
    from auditor.config import load_config

    if config is not None:
        path = config
    elif out is not None:
        path = out / "audit.yaml"
    else:
        return []
    if config is not None and not config.is_file():
        raise CollectUsageError(f"--config {config}: file not found")
    try:
        settings = load_config(path)
    except SnapshotError as exc:  # said in the collector's voice: collect reads audit.yaml only for its names
        raise CollectUsageError(str(exc)) from None
    return list(dict.fromkeys(s.fqdn for s in settings.vpn_servers if s.fqdn))


def _collect_dns(out: Path, fqdns: list[str], host: list[str] | None, port: int, timeout: float) -> DnsResult:
    try:
        result = collect_dns(out, fqdns, host, port, timeout)
    except ValueError as exc:  # a name that is not a host name
        raise CollectUsageError(f"audit.yaml fqdn: {exc}") from None
    if result.failed:
        typer.echo(f"vpn-auditor collect: {result.failed} of {result.queries} DNS queries got no answer; "
                   f"recorded as such in {', '.join(result.files)}", err=True)
    return result


def collect_for_audit(orgs: list[str], networks: list[str], snapshot_out: Path | None,
                      base_url: str | None, config: Path | None = None, since: Path | None = None,
                      rate: float | None = None, secret_fingerprints: bool = False) -> Path:
    """Collect for `vpn-auditor audit --org ...`; returns the snapshot to audit.

    Failed calls do not stop the audit: what depends on them is reported as unknown. Usage errors exit 2.
    Without --snapshot-out the snapshot lives in a temporary directory removed when the process ends.
    """
    fqdns = _fqdns(config, snapshot_out)
    key = _api_key()
    stderr = Console(stderr=True)
    if snapshot_out is None:
        snapshot_out = Path(tempfile.mkdtemp(prefix="vpn-auditor-snapshot-"))
        atexit.register(shutil.rmtree, snapshot_out, ignore_errors=True)
    settings = CollectorConfig(out=snapshot_out, api_key=key, orgs=orgs, networks=networks,
                               base_url=base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL,
                               show_progress=stderr.is_terminal, max_body_mb=body_cap_mb(), since=since,
                               rate=ORG_RATE if rate is None else rate, secret_fingerprints=secret_fingerprints)
    result = _run(settings)
    _report(result, stderr)
    if result.unmatched_networks:
        raise typer.Exit(EXIT_USAGE)
    if result.failed and not result.ok:  # nothing reached (an invalid key: every call 401): nothing to audit
        first = result.failures[0] if result.failures else None
        status = "" if first is None else f" (first: {first.path}: " + (
            f"HTTP {first.status})" if first.status is not None else "no response)")
        typer.echo(f"error: nothing to audit: all {result.failed} Dashboard calls failed{status}; check "
                   f"{API_KEY_ENV} and --base-url", err=True)
        raise typer.Exit(EXIT_USAGE)
    if fqdns:  # failed queries are recorded; the audit reports what they leave unknown
        host, port = dns_from_env()
        _collect_dns(snapshot_out, fqdns, host, port, QUERY_TIMEOUT)
    return snapshot_out


def dns_from_env() -> tuple[list[str] | None, int]:
    """(the collecting host's resolvers, the port they are asked on) as `audit --org` and `fleet` take them:
    VPN_AUDITOR_DNS_RESOLVER (space-separated; unset: the system's) and VPN_AUDITOR_DNS_PORT (default 53)."""
    port = os.environ.get(DNS_PORT_ENV, "").strip()
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise CollectUsageError(f"{DNS_PORT_ENV}={port!r}: not a port (1-65535)")
    return os.environ.get(DNS_RESOLVER_ENV, "").split() or None, int(port) if port else 53


def _run(config: CollectorConfig) -> CollectResult:
    """run_collect, with what can go wrong outside the calls as one line: a usage error (2), an interruption
    (3: the manifest says interrupted), a manifest that could not be written (2)."""
    if config.base_url.lower().startswith("http://"):
        typer.echo(f"vpn-auditor collect: warning: --base-url {public_url(config.base_url)} is plain HTTP: the API "
                   "key and the configuration cross the network unencrypted", err=True)
    try:
        return run_collect(config)
    except KeyboardInterrupt:
        typer.echo(f"vpn-auditor collect: interrupted; the snapshot is incomplete ({config.out / 'manifest.json'} "
                   "says interrupted: true)", err=True)
        raise typer.Exit(EXIT_INCOMPLETE) from None


def _report(result: CollectResult, stderr: Console) -> None:
    """Say what went wrong (always) and how it went (on a terminal); quiet when all is well and piped."""
    if result.unmatched_networks:
        typer.echo(f"vpn-auditor collect: no network with ID or name {', '.join(result.unmatched_networks)} "
                   f"in organization(s) {', '.join(result.orgs) or '(none)'}", err=True)
    if result.failed:
        typer.echo(f"vpn-auditor collect: {result.failed} of {result.calls} calls failed; the snapshot is "
                   f"incomplete (details in {result.manifest})", err=True)
        for call in result.failures[:10]:
            status = f"HTTP {call.status}" if call.status is not None else "no response"
            typer.echo(clean(f"  {call.path}: {status} {call.error or ''}".rstrip()), err=True)  # a server's words
        if result.failed > 10:
            typer.echo(f"  ... and {result.failed - 10} more", err=True)
    if stderr.is_terminal:
        carried = f", {result.carried} carried over" if result.carried else ""
        stderr.print(f"{result.networks} networks, {result.calls} calls ({result.ok} ok, {result.absent} absent, "
                     f"{result.failed} failed{carried}), {result.rate_limited} x 429 absorbed, "
                     f"{result.elapsed:.1f} s", highlight=False)
