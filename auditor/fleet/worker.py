"""A worker host's own fleet settings, given when its Dask worker starts (docs/fleet.md):

    dask worker tcp://scheduler:8786 --nthreads 10 \\
        --preload auditor.fleet.worker --source-address 203.0.113.7 --host-rate 100

The egress address and the host's Dashboard budget belong to the host, not to the fleet run: a job takes them
from here (kept in auditor/fleet/settings.py) and falls back on the `vpn-auditor fleet` options only where the
worker set none (the in-process LocalCluster sets none). Dask runs `dask_setup` in the worker process when the
worker starts; its options are the `dask worker` arguments it does not know itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click

from auditor.fleet import settings


@click.command()
@click.option("--source-address", default=None, help="Local IP address this host's Dashboard requests leave from.")
@click.option("--host-rate", type=click.FloatRange(min=1), default=None,
              help="Requests per second this host sends from that address, all jobs together (Dashboard: 100).")
@click.option("--budget-dir", default=None, help="Host-local folder of the shared request budgets.")
def dask_setup(worker: Any, source_address: str | None, host_rate: float | None, budget_dir: str | None) -> None:
    if source_address:
        from auditor.vendors.meraki.collect import CollectUsageError, check_source_address

        try:  # a worker that cannot send from its address must not take jobs: Dask only logs a failed preload
            check_source_address(source_address)
        except CollectUsageError as exc:
            reason = f"vpn-auditor: {exc}"
            asyncio.get_running_loop().call_soon(
                lambda: asyncio.ensure_future(worker.close(nanny=True, reason=reason)))
            raise click.BadParameter(str(exc)) from None
    settings.SETTINGS = settings.WorkerSettings(source_address, host_rate, budget_dir)
    # Imported now, not in the first org's time.
    import auditor.fleet.job
    import auditor.vendors.meraki.collect  # noqa: F401
