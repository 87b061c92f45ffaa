"""The fleet driver: one Dask job per org, on an existing cluster or on a LocalCluster started in-process.

Why Dask distributed (docs/fleet.md): a scheduler and its workers are plain Python processes (`dask scheduler`,
`dask worker tcp://host:8786`) with no broker service to run and secure, and a LocalCluster started here
behaves like a cluster of one host, so one machine needs nothing else at all.

Every org ends with an outcome: the job's own (`auditor.fleet.job.run_org` never raises), or, when the job
never returned (its worker died each time Dask ran it: KilledWorker; the scheduler went away), a failure
naming why. A failed org is submitted again, up to `retries` more times, as a new attempt. The summary is
rewritten as each org ends, so a reader always sees which orgs are still pending.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditor.fleet.job import run_org
from auditor.fleet.plan import FleetPlan, JobOptions, OrgEntry
from auditor.fleet.summary import now, summary_dict, write_summary

DEFAULT_RETRIES = 2


@dataclass(frozen=True)
class EngineOptions:
    scheduler: str | None = None  # tcp://host:8786; None: a LocalCluster in-process
    workers: int | None = None  # LocalCluster worker processes (default: CPUs, at most 4)
    threads: int | None = None  # orgs at once per LocalCluster worker (default: enough to use the host budget)
    retries: int = DEFAULT_RETRIES
    connect_timeout: float = 30.0
    stop_timeout: float = 30.0  # Ctrl-C: how long the running jobs are given to stop and clear their folders


@dataclass
class FleetResult:
    summary: dict[str, Any]
    path: Path
    exit_code: int
    orgs: list[dict[str, Any]] = field(default_factory=list)


def local_shape(options: JobOptions, engine: EngineOptions) -> tuple[int, int]:
    """(worker processes, threads each) of the LocalCluster: enough orgs at once to spend the host budget
    (each org spends at most its own rate), spread over the CPUs for the audits."""
    workers = engine.workers or max(1, min(os.cpu_count() or 1, 4))
    threads = engine.threads or max(1, math.ceil(options.host_rate / options.org_rate / workers))
    return workers, threads


def run_fleet(plan: FleetPlan, options: JobOptions, engine: EngineOptions,
              on_done: Callable[[dict[str, Any], int, int], None] | None = None) -> FleetResult:
    """Run every org of `plan`; returns the summary (also written to OUT/fleet-summary.json)."""
    from distributed import Client, Event, LocalCluster, as_completed

    out = Path(options.out)
    (out / "orgs").mkdir(parents=True, exist_ok=True)
    started_at = now()
    token = uuid.uuid4().hex[:8]
    outcomes: dict[str, dict[str, Any]] = {e.org_id: _pending(e) for e in plan.orgs}
    attempts: dict[str, list[dict[str, Any]]] = {e.org_id: [] for e in plan.orgs}
    where = engine.scheduler or "local"

    def write(finished: bool, interrupted: bool = False) -> dict[str, Any]:
        data = summary_dict(list(outcomes.values()), started_at=started_at, engine=where, finished=finished,
                            interrupted=interrupted)
        write_summary(out, data)
        return data

    interrupted = False
    with contextlib.ExitStack() as stack:
        if engine.scheduler:
            client = stack.enter_context(Client(engine.scheduler, timeout=engine.connect_timeout))
            client.wait_for_workers(1, timeout=engine.connect_timeout)  # no worker: nothing would ever run
        else:
            workers, threads = local_shape(options, engine)
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=threads, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
            where = f"local ({workers} workers x {threads} threads)"
        write(False)  # once there is a cluster: a scheduler that cannot be reached is a usage error, no run
        running: dict[Any, tuple[OrgEntry, int]] = {}
        queue = as_completed()
        # Set on Ctrl-C: every job of this run asks it between its steps and while it collects (job.py), stops,
        # removes its partial folder and publishes nothing. Kept by the scheduler once set.
        cancel = Event(f"vpn-auditor-fleet-{token}-stop", client=client)

        def submit(entry: OrgEntry, attempt: int) -> None:
            future = client.submit(run_org, entry, options, attempt, cancel, pure=False,
                                   key=f"vpn-auditor-fleet-{token}-{entry.folder}-{attempt}")
            running[future] = (entry, attempt)
            queue.add(future)

        done = 0
        try:
            for entry in plan.orgs:  # inside the try: a Ctrl-C while a large fleet is being sent is any Ctrl-C
                submit(entry, 1)
            for future in queue:
                entry, attempt = running.pop(future)
                outcome = _result(future, entry, attempt)
                attempts[entry.org_id].append(_brief(outcome))
                if outcome["status"] == "failed" and attempt <= engine.retries:
                    submit(entry, attempt + 1)
                    continue
                outcome["attempts"] = attempts[entry.org_id]
                outcomes[entry.org_id] = outcome
                done += 1
                write(False)
                if on_done is not None:
                    on_done(outcome, done, len(plan.orgs))
        except KeyboardInterrupt:
            interrupted = True
            _stop_jobs(cancel, list(running), engine.stop_timeout)
            for future, (entry, attempt) in list(running.items()):
                if future.done():  # stopped (failed, nothing published), or finished and published first
                    outcome = _result(future, entry, attempt)
                    attempts[entry.org_id].append(_brief(outcome))
                    if outcome["status"] != "failed":
                        outcome["attempts"] = attempts[entry.org_id]
                        outcomes[entry.org_id] = outcome
                future.cancel()
            for org_id, outcome in outcomes.items():
                if outcome["status"] == "pending":
                    outcome.update(status="failed", exit_code=2, attempts=attempts[org_id],
                                   reason="the fleet was interrupted (SIGINT) before this org finished")
    _remove_leftovers(out, plan)
    data = write(True, interrupted)
    return FleetResult(data, out / "fleet-summary.json", data["exit_code"], list(outcomes.values()))


def _stop_jobs(cancel: Any, futures: list[Any], timeout: float) -> None:
    """Ctrl-C: tell every job to stop (the Event), then give the running ones `timeout` seconds to do so, so that
    the summary says what is on disk. A second Ctrl-C, or a scheduler that cannot be told, ends the wait."""
    from distributed import wait

    try:
        cancel.set()
        wait(futures, timeout=timeout)
    except (KeyboardInterrupt, Exception):  # TimeoutError: those jobs stop at their next step, unpublished
        pass


def _pending(entry: OrgEntry) -> dict[str, Any]:
    return {"org": entry.org_id, "status": "pending", "exit_code": None, "reason": None,
            "folder": f"orgs/{entry.folder}", "config": entry.config_path}


def _result(future: Any, entry: OrgEntry, attempt: int) -> dict[str, Any]:
    """The job's outcome, or the failure of a job that never returned one."""
    try:
        outcome = future.result()
    except Exception as exc:  # KilledWorker, a lost scheduler, a job that could not be sent
        name = type(exc).__name__
        why = ("its worker died each time it ran (KilledWorker): the worker was lost mid-org" if name == "KilledWorker"
               else f"the job did not return: {name}: {' '.join(str(exc).split())[:300]}")
        outcome = {**_pending(entry), "status": "failed", "exit_code": 2, "attempt": attempt, "reason": why,
                   "snapshot": None, "reports": {}}
    if not isinstance(outcome, dict):
        outcome = {**_pending(entry), "status": "failed", "exit_code": 2, "attempt": attempt,
                   "reason": f"the job returned {type(outcome).__name__}, not an outcome"}
    return outcome


def _brief(outcome: dict[str, Any]) -> dict[str, Any]:
    return {k: outcome.get(k) for k in ("attempt", "status", "exit_code", "worker", "reason",
                                        "interrupted_attempts", "seconds")}


def _remove_leftovers(out: Path, plan: FleetPlan) -> None:
    """Partial folders of attempts whose worker was lost and that no later attempt cleared."""
    orgs = out / "orgs"
    for entry in plan.orgs:
        for path in orgs.glob(f".{entry.folder}.partial-*"):
            shutil.rmtree(path, ignore_errors=True)

