"""One org of a fleet, run on a worker: collect, audit, report, then publish the org's folder in one rename.

Everything is written into `OUT/orgs/.<org>.partial-<host>-<pid>-<random>/` and renamed to `OUT/orgs/<org>/`
only when the snapshot, the reports and `outcome.json` are whole: a folder `OUT/orgs/<org>/` is always a
finished org. A worker killed mid-org leaves its partial folder behind; the next attempt (Dask reschedules
the job, or the fleet retries it) notes it as an interrupted attempt and removes it. If two attempts of one
org both finish (a worker taken for dead that was not), the first rename wins and the other is discarded.

`run_org` never raises: whatever goes wrong is the org's recorded failure (status `failed`, exit 2, reason).
When the driver is interrupted it sets its cancel Event: the job stops (its collection cancelled), removes its
partial folder and publishes nothing.
Only the Meraki collection (`collect_org`) knows the vendor.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import shutil
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor import file_writes
from auditor.collect.budget import BudgetUnavailable, SharedBudget, budget_dir
from auditor.errors import JobFailed
from auditor.fleet import settings as worker_settings
from auditor.fleet.plan import JobOptions, OrgEntry
from auditor.vocab import SEVERITY_REPORT_ORDER

API_KEY_ENV = "MERAKI_DASHBOARD_API_KEY"
OUTCOME = "outcome.json"
REPORT_FILES = {"text": "report.txt", "json": "report.json", "sarif": "report.sarif", "junit": "report.junit.xml",
                "html": "report.html", "markdown": "report.md"}


@dataclass
class Collected:
    calls: int
    ok: int
    absent: int
    failed: int
    carried: int
    requests: int
    rate_limited: int
    seconds: float
    failures: list[str] = field(default_factory=list)  # the first few failed calls, as "path: status error"

    @property
    def nothing_reached(self) -> bool:
        return bool(self.failed) and not self.ok


class OrgFailed(JobFailed, RuntimeError):
    """The org cannot be audited this attempt; the message is the recorded reason."""


STOPPED = "the fleet was interrupted (SIGINT): this attempt stopped, its partial folder removed, nothing published"
POLL_SECONDS = 0.5  # how often a collecting job asks whether the fleet was interrupted


class Stopped(OrgFailed):
    """The driver was interrupted (its cancel event is set): stop, publish nothing."""

    def __init__(self) -> None:
        super().__init__(STOPPED)


def _stop_check(cancel: Any) -> Callable[[], bool]:
    """Whether the driver asked the jobs to stop: its Dask `Event` (engine.py) is set. Without one (a job run
    in-process), never. A scheduler that cannot be asked is no request to stop (the job goes on as before)."""
    if cancel is None:
        return lambda: False
    with contextlib.suppress(Exception):
        _ = cancel.client  # this task's worker client, found now, in the task's thread, for the asks below

    def stopped() -> bool:
        try:
            return bool(cancel.is_set())
        except Exception:  # the scheduler gone, a closed client: not a stop
            return False

    return stopped


def _check(stopped: Callable[[], bool]) -> None:
    if stopped():
        raise Stopped


def _here() -> tuple[str, str]:
    """(the Dask worker's address, or "in-process"; this host's name)."""
    try:
        from distributed import get_worker

        address = get_worker().address
    except (ImportError, ValueError):
        address = "in-process"
    return address, socket.gethostname()


def run_org(entry: OrgEntry, options: JobOptions, attempt: int = 1, cancel: Any = None) -> dict[str, Any]:
    """Collect and audit one org into OUT/orgs/<org>/; the outcome (also OUT/orgs/<org>/outcome.json).

    `cancel`: the driver's Dask `Event`, set when the fleet is interrupted. The job then stops (the collection
    is cancelled as Ctrl-C cancels a local one; otherwise at the next step), removes its partial folder and
    publishes nothing: its outcome is failed with STOPPED as the reason."""
    started = time.monotonic()
    stopped = _stop_check(cancel)
    worker, host = _here()
    settings = worker_settings.SETTINGS
    source = settings.source_address or options.source_address
    host_rate = settings.host_rate or options.host_rate
    orgs = Path(options.out) / "orgs"
    final = orgs / entry.folder
    outcome: dict[str, Any] = {
        "org": entry.org_id, "status": "failed", "exit_code": 2, "reason": None, "folder": f"orgs/{entry.folder}",
        "snapshot": None, "reports": {}, "attempt": attempt, "worker": worker, "host": host,
        "source_address": source, "host_rate": host_rate, "config": entry.config_path, "interrupted_attempts": 0}
    if (final / OUTCOME).is_file():  # another attempt of this org finished first
        return _published(final, outcome)
    work = orgs / f".{entry.folder}.partial-{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        _check(stopped)  # a job that starts after the fleet was interrupted does nothing
        orgs.mkdir(parents=True, exist_ok=True)
        earlier = sorted(orgs.glob(f".{entry.folder}.partial-*"))  # left by attempts whose worker was lost
        outcome["interrupted_attempts"] = len(earlier)
        work.mkdir()
        snapshot = work / "snapshot"
        snapshot.mkdir()
        (snapshot / "audit.yaml").write_text(entry.config_text, encoding="utf-8")
        since = _since(options, entry, outcome)
        budget = SharedBudget(Path(settings.budget_dir or options.budget_dir or budget_dir()),
                              {f"source:{source or 'default'}": max(1, int(host_rate)),
                               f"org:{entry.org_id}": max(1, int(options.org_rate))})
        collected = collect_org(entry.org_id, snapshot, options, source, host_rate, budget, since, stopped)
        _check(stopped)
        outcome["collect"] = {k: v for k, v in collected.__dict__.items() if k != "failures"}
        if collected.failures:
            outcome["collect"]["first_failures"] = collected.failures
        if collected.nothing_reached:
            raise OrgFailed(f"nothing to audit: all {collected.failed} Dashboard calls failed"
                            + (f" (first: {collected.failures[0]})" if collected.failures else ""))
        _collect_dns(snapshot, entry, options)
        _check(stopped)
        audit_org(work, outcome, options)  # raises OrgFailed where `audit` would exit 2
        _check(stopped)  # the last moment before the org is published
        outcome["status"] = "incomplete" if collected.failed else "complete"
        if collected.failed and outcome["reason"] is None:
            outcome["reason"] = f"{collected.failed} of {collected.calls} Dashboard calls failed: what they decide " \
                                "is unknown (snapshot/manifest.json)"
        outcome["seconds"] = round(time.monotonic() - started, 3)
        (work / OUTCOME).write_text(json.dumps(outcome, indent=1), encoding="utf-8")
        try:
            os.rename(work, final)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            shutil.rmtree(work, ignore_errors=True)  # another attempt published first: its result stands
            return _published(final, outcome)
        for path in earlier:
            shutil.rmtree(path, ignore_errors=True)
        return outcome
    except Exception as exc:  # recorded, never raised: the org's failure is its outcome
        shutil.rmtree(work, ignore_errors=True)
        outcome.update(status="failed", exit_code=2, snapshot=None, reports={},
                       reason=_scrub(str(exc) if isinstance(exc, OrgFailed | BudgetUnavailable)
                                     else f"{type(exc).__name__}: {exc}"),
                       seconds=round(time.monotonic() - started, 3))
        return outcome


def _published(final: Path, ours: dict[str, Any]) -> dict[str, Any]:
    theirs = json.loads((final / OUTCOME).read_text(encoding="utf-8"))
    theirs["duplicate_attempt"] = {"worker": ours["worker"], "attempt": ours["attempt"]}
    return theirs


def _scrub(text: str) -> str:
    key = os.environ.get(API_KEY_ENV, "").strip()
    return text.replace(key, "[REDACTED]") if key else text


def _since(options: JobOptions, entry: OrgEntry, outcome: dict[str, Any]) -> Path | None:
    """The org's snapshot in the earlier fleet run (--since), when it has a finished one."""
    if options.since is None:
        return None
    old = Path(options.since) / "orgs" / entry.folder / "snapshot"
    if (old / "manifest.json").is_file():
        outcome["since"] = str(old)
        return old
    outcome["since"] = None
    outcome["full_pull"] = f"no finished snapshot of this org in {options.since}"
    return None


# --- the vendor ------------------------------------------------------------------------------------------------
def collect_org(org_id: str, snapshot: Path, options: JobOptions, source: str | None, host_rate: float,
                budget: SharedBudget, since: Path | None,
                stopped: Callable[[], bool] = lambda: False) -> Collected:
    """Pull one Meraki org into `snapshot` through the host's shared budget. The key is this worker's own
    (its environment): it never travels through the scheduler. `stopped` is asked every POLL_SECONDS: when it
    says so, the collection is cancelled as SIGINT cancels a local one (the calls in flight recorded, the
    manifest marked interrupted) and Stopped is raised."""
    from auditor.collect.limits import max_body_mb
    from auditor.vendors.meraki.collect import CollectorConfig, CollectUsageError

    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise OrgFailed(f"no Dashboard API key on this worker: set {API_KEY_ENV} in its environment")
    config = CollectorConfig(out=snapshot, api_key=key, orgs=[org_id], base_url=options.base_url,
                             rate=options.org_rate, global_rate=host_rate, timeout=options.request_timeout,
                             max_body_mb=max_body_mb(), since=since, source_address=source, budget=budget,
                             secret_fingerprints=options.secret_fingerprints)
    try:
        result = _collect_until(config, stopped)
    except CollectUsageError as exc:
        raise OrgFailed(str(exc)) from None
    failures = [f"{c.path}: " + (f"HTTP {c.status}" if c.status is not None else "no response")
                + (f" {c.error}" if c.error else "") for c in result.failures[:3]]
    return Collected(calls=result.calls, ok=result.ok, absent=result.absent, failed=result.failed,
                     carried=result.carried, requests=result.requests, rate_limited=result.rate_limited,
                     seconds=round(result.elapsed, 3), failures=[_scrub(f)[:300] for f in failures])


def _collect_until(config: Any, stopped: Callable[[], bool]) -> Any:
    """`run_collect`, in this worker thread's own event loop, cancelled when `stopped()` says so."""
    from auditor.vendors.meraki.collect import collect

    async def main() -> Any:
        task = asyncio.ensure_future(collect(config))
        while True:
            done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
            if done:
                return task.result()
            if await asyncio.to_thread(stopped):
                task.cancel()  # as Ctrl-C cancels a local run: calls in flight recorded, manifest interrupted
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise Stopped

    return asyncio.run(main())


def _collect_dns(snapshot: Path, entry: OrgEntry, options: JobOptions) -> None:
    """The servers' fqdn at each role's resolvers, as `audit --org` does (failed queries are recorded)."""
    from auditor.collect.dns import collect_dns
    from auditor.config import load_config

    fqdns = list(dict.fromkeys(s.fqdn for s in load_config(snapshot / "audit.yaml").vpn_servers if s.fqdn))
    if fqdns:
        collect_dns(snapshot, fqdns, list(options.dns_resolvers) or None, options.dns_port)


# --- the audit ---------------------------------------------------------------------------------------------------
def audit_org(work: Path, outcome: dict[str, Any], options: JobOptions) -> None:
    """Audit work/snapshot, write the reports into `work`, and set the outcome's exit code as `audit` would
    (OrgFailed where it would exit 2: the snapshot is unusable)."""
    from rich.console import Console

    from auditor import gate
    from auditor.audit import resolve_config, run_audit
    from auditor.cache import cache_dir
    from auditor.report import json_report, render_format, text
    from auditor.snapshot import Snapshot, SnapshotError
    from auditor.waivers import apply_waivers, gate_findings

    snapshot = work / "snapshot"
    outcome["snapshot"] = f"{outcome['folder']}/snapshot"
    try:
        settings = resolve_config(Snapshot(snapshot), snapshot / "audit.yaml")
        # One process per org: the worker already runs orgs side by side (and a fork in a threaded worker is unsafe)
        result = run_audit(snapshot, snapshot / "audit.yaml", config=settings, keep_model=False, workers=1,
                           cache_dir=cache_dir(options.cache) if options.cache else None)
        # As `audit` does: a scope.networks name that matches no network is exit 2, not a network left out.
        gate.unmatched_networks(Snapshot(snapshot), result.model, list(settings.scope.networks),
                                "audit.yaml scope.networks")
    except SnapshotError as exc:
        raise OrgFailed(f"audit: {exc}") from None
    if options.waivers is not None:  # as `audit --waivers` applies them: marked, not counted, expired ones errors
        outcome["waiver_warnings"] = apply_waivers(result, list(options.waivers))
    if not result.paths:
        raise OrgFailed(f"audit: {gate.nothing_audited(result)}")
    # The reports name the snapshot where it is published (OUT/orgs/<org>/snapshot, the same files: the folder is
    # renamed, not copied), not this attempt's partial folder, which is gone by the time anyone reads them.
    result.snapshot = str(Path(options.out) / outcome["folder"] / "snapshot")
    for fmt in options.formats:
        name = REPORT_FILES[fmt]
        if fmt == "text":
            with file_writes.open_text(work / name) as handle:
                text.render(result, Console(file=handle, width=160, force_terminal=False))
        elif fmt == "json":
            with file_writes.open_text(work / name) as handle:
                json_report.write(result, handle)
        else:
            file_writes.write_text_file(work / name, render_format(result, fmt))
        outcome["reports"][fmt] = f"{outcome['folder']}/{name}"
    severities = dict.fromkeys(SEVERITY_REPORT_ORDER, 0)
    counted = gate_findings(result.findings)
    for finding in counted:
        severities[finding.effective_severity] += 1
    outcome["audit"] = {"paths": len(result.paths), **result.counts(), "findings": severities,
                        "waived": len(result.findings) - len(counted)}
    outcome["exit_code"] = gate.exit_code(result, options.fail_on, options.allow_unknown)  # as `audit`'s
    if result.cache is not None:
        stats = result.cache
        outcome["audit"]["cache"] = {"hits": stats.hits, "misses": stats.misses, "written": stats.written,
                                     "unreadable": stats.unreadable}
