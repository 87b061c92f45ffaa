"""`vpn-auditor fleet`: many Meraki orgs collected and audited as Dask jobs (auditor/fleet/, docs/fleet.md)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from auditor.collect.fingerprints import SECRET_FINGERPRINTS_ENV, SECRET_FINGERPRINTS_HELP
from auditor.errors import InputError
from auditor.untrusted import clean
from auditor.vocab import FailOn


# The values of `audit`'s --format (auditor/cli.py imports this module: no import back).
class ReportFormat(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    html = "html"
    markdown = "markdown"


def _usage(message: str) -> InputError:
    """A fleet option that cannot be used: exit 2 with one line (auditor/cli_exits.py)."""
    return InputError(message)


def fleet_command(
    fleet_file: Annotated[Path, typer.Argument(help="YAML list of org ids (each may name its own audit.yaml).")],
    out: Annotated[Path, typer.Option("--out", help="Shared folder for every org's snapshot and reports and the "
                                                    "fleet summary (new, or empty).")],
    config: Annotated[Path | None, typer.Option(
        "--config", help="audit.yaml for the orgs whose fleet entry names none.")] = None,
    since: Annotated[Path | None, typer.Option(
        "--since", help="An earlier fleet's --out: each org's snapshot there is its incremental starting point.")]
    = None,
    secret_fingerprints: Annotated[bool, typer.Option(
        "--secret-fingerprints", envvar=SECRET_FINGERPRINTS_ENV, help=SECRET_FINGERPRINTS_HELP)] = False,
    cache: Annotated[str | None, typer.Option(
        "--cache", metavar="DIR", help="Audit cache folder (docs/cache.md); on a cluster, one every worker sees.")]
    = None,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", metavar="ADDRESS", help="A running Dask scheduler (tcp://host:8786). Default: a "
                                                "LocalCluster started here.")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, help="LocalCluster: worker processes (default: CPUs, at most 4).")] = None,
    threads: Annotated[int | None, typer.Option(
        "--threads", min=1, help="LocalCluster: orgs at once per worker (default: enough to spend --host-rate).")]
    = None,
    source_address: Annotated[str | None, typer.Option(
        "--source-address", metavar="IP", help="LocalCluster: the local address Dashboard requests leave from. "
                                               "Cluster workers set their own (docs/fleet.md).")] = None,
    host_rate: Annotated[float, typer.Option(
        "--host-rate", min=1, help="Requests per second per worker host and source address, all its jobs "
                                   "together (the Dashboard allows 100); a worker's own setting wins.")] = 100.0,
    rate: Annotated[float, typer.Option(
        "--rate", min=1, help="Requests per second per org (the Dashboard allows 10).")] = 10.0,
    budget_dir: Annotated[Path | None, typer.Option(
        "--budget-dir", help="Host-local folder of the shared request budgets (default: under the runtime "
                             "or temp folder).")] = None,
    retries: Annotated[int, typer.Option(
        "--retries", min=0, help="Times a failed org is tried again.")] = 2,
    base_url: Annotated[str | None, typer.Option("--base-url", envvar="MERAKI_BASE_URL")] = None,
    fmt: Annotated[list[ReportFormat] | None, typer.Option(
        "--format", help="Report written per org; repeat for several (default: json and text).")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that makes an org exit 1.")]
    = FailOn.ERROR,
    allow_unknown: Annotated[bool, typer.Option("--allow-unknown", help="An org with unknown flows exits 0, not 3.")]
    = False,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds per Dashboard request.")] = 60.0,
    waivers: Annotated[Path | None, typer.Option(
        "--waivers", help="Accepted findings (YAML; docs/waivers.md), applied to every org's audit as `audit` "
                          "applies them.")] = None,
) -> None:
    """Collect and audit many Meraki orgs as jobs on a Dask cluster (or a local one).

    Per org: OUT/orgs/<org>/ with snapshot/, the reports and outcome.json, published whole or not at all;
    OUT/fleet-summary.json lists every org's status, exit code (as `audit`'s) and failure reason. The exit
    code is the worst org's: 2 (an org could not be audited), then 1, 3, 0. Each worker reads
    MERAKI_DASHBOARD_API_KEY from its own environment.
    """
    from rich.console import Console

    from auditor.fleet.plan import JobOptions, load_plan
    from auditor.vendors.meraki.collect import (
        BASE_URL_ENV,
        DEFAULT_BASE_URL,
        CollectUsageError,
        check_base_url,
        check_source_address,
    )
    from auditor.waivers import load_waivers

    plan = load_plan(fleet_file, config)  # FleetUsageError: exit 2
    accepted = load_waivers(waivers) if waivers is not None else None  # read here, sent with every job; exit 2
    _check_out(out)
    if since is not None and not since.is_dir():
        raise _usage(f"--since {since}: not a folder (an earlier fleet's --out)")
    url = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
    try:
        check_base_url(url)
        if scheduler is None and source_address:
            check_source_address(source_address)
    except CollectUsageError as exc:  # said as the fleet's own usage error, not in the collector's voice
        raise _usage(str(exc)) from None
    if scheduler is not None and source_address:
        raise _usage("--source-address is a worker host's own: start each worker with "
                     "--preload auditor.fleet.worker --source-address IP (docs/fleet.md)")
    if scheduler is None and not os.environ.get("MERAKI_DASHBOARD_API_KEY", "").strip():
        raise _usage("no Dashboard API key: set MERAKI_DASHBOARD_API_KEY (the local workers read it)")
    formats = tuple(dict.fromkeys(f.value for f in (fmt or [ReportFormat.json, ReportFormat.text])))
    from auditor.cli_collect import dns_from_env

    # Read here, on the driver, as `audit --org` reads them, and sent with every job: each worker asks the same
    # resolvers, whatever its own environment holds (docs/fleet.md).
    dns_resolvers, dns_port = dns_from_env()
    options = JobOptions(
        out=str(out.resolve()), base_url=url, org_rate=rate, host_rate=host_rate, source_address=source_address,
        budget_dir=str(budget_dir.resolve()) if budget_dir else None,
        since=str(since.resolve()) if since else None, secret_fingerprints=secret_fingerprints,
        cache=_cache(cache), formats=formats,
        fail_on=fail_on.value, allow_unknown=allow_unknown, request_timeout=timeout,
        dns_resolvers=tuple(dns_resolvers or ()), dns_port=dns_port,
        waivers=tuple(accepted) if accepted is not None else None)
    result = _run(plan, options, scheduler, workers, threads, retries)
    Console(width=max(160, Console().width)).print()  # a blank line between progress and the table
    from auditor.fleet.summary import render_table

    render_table(result.summary, Console(width=max(160, Console().width)))
    typer.echo(f"vpn-auditor fleet: summary in {result.path}; exit {result.exit_code}", err=True)
    raise typer.Exit(result.exit_code)


def _run(plan: Any, options: Any, scheduler: str | None, workers: int | None, threads: int | None,
         retries: int) -> Any:
    from auditor.fleet.engine import EngineOptions, run_fleet

    def done(outcome: dict[str, Any], count: int, total: int) -> None:
        attempts = len(outcome.get("attempts") or [])
        extra = f" after {attempts} attempts" if attempts > 1 else ""
        reason = f": {outcome['reason']}" if outcome.get("reason") else ""
        typer.echo(clean(f"[{count}/{total}] org {outcome['org']}: {outcome['status']}, exit {outcome['exit_code']}"
                         f"{extra} ({outcome.get('worker') or '-'}){reason}"), err=True)
        for line in outcome.get("waiver_warnings") or []:  # as `audit` says them
            typer.echo(clean(f"  warning: {line}"), err=True)

    engine = EngineOptions(scheduler=scheduler, workers=workers, threads=threads, retries=retries)
    try:
        return run_fleet(plan, options, engine, done)
    except OSError as exc:  # the scheduler cannot be reached, OUT cannot be written
        raise _usage(f"{'--scheduler ' + scheduler if scheduler else 'local cluster'}: {exc}") from None
    except TimeoutError as exc:
        raise _usage(f"--scheduler {scheduler}: {exc or 'no worker joined in time'}") from None


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise _usage(f"--out {out}: exists and is not a folder")
    if (out / "fleet-summary.json").exists() or ((out / "orgs").is_dir() and any((out / "orgs").iterdir())):
        raise _usage(f"--out {out}: already holds a fleet run; choose a new folder (pass this one as --since)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".vpn-auditor-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise _usage(f"--out {out}: cannot write there: {exc.strerror or exc}") from None


def _cache(cache: str | None) -> str | None:
    """A folder as an absolute path (workers run elsewhere); `auto` stays: each worker's own user cache."""
    if not cache:
        return None
    return cache if cache == "auto" else str(Path(cache).resolve())
