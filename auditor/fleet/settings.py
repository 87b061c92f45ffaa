"""This worker process's own fleet settings (egress address, host budget): set by the `--preload
auditor.fleet.worker` hook when the Dask worker starts, read by each job. A module of its own so that the hook
(which loads the job module ahead of the first org) and the jobs need not import each other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerSettings:
    source_address: str | None = None
    host_rate: float | None = None
    budget_dir: str | None = None


SETTINGS = WorkerSettings()  # this worker process's (one Dask worker per process)
