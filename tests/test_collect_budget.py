"""`collect meraki --source-address` and the request budgets a host's processes share (auditor/collect/budget.py).

Real components only: the real SDK against the local fake Dashboard, real processes sharing real budget files.
Everything on loopback (127.0.0.1-3: Linux routes all of 127.0.0.0/8 to lo).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli_collect import collect_app
from auditor.collect.budget import SharedBudget, key_file

try:  # `tests` is a package only when something puts the repository root on sys.path
    from tests.fakes.dashboard import FakeDashboard, SyntheticOrg, build_org
except ModuleNotFoundError:
    from fakes.dashboard import FakeDashboard, SyntheticOrg, build_org

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(sys.platform != "linux", reason="binds 127.0.0.2, which only Linux routes to lo")]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def org(tmp_path: Path) -> SyntheticOrg:
    return build_org(tmp_path / "source", "100", 4)


@pytest.fixture
def server(org: SyntheticOrg) -> Iterator[FakeDashboard]:
    with FakeDashboard(org.root, rate=200, burst=200, api_key=API_KEY) as fake:
        yield fake


def collect(server: FakeDashboard, out: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(collect_app, ["meraki", "--out", str(out), "--base-url", server.base_url,
                                              "--rate", "200", *args])
    return result.exit_code, result.output


# --- --source-address ---------------------------------------------------------------------------------------
def test_source_address_binds_every_connection(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    code, output = collect(server, tmp_path / "snap", "--source-address", "127.0.0.2")
    assert code == 0, output
    assert server.sources() == {"127.0.0.2"}
    assert len(server.requests) >= len(org.files)
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["runs"][0]["parameters"]["source_address"] == "127.0.0.2"
    # Without it, connections leave from the address the route gives (here 127.0.0.1).
    code, output = collect(server, tmp_path / "snap2")
    assert code == 0, output
    assert server.sources() == {"127.0.0.2", "127.0.0.1"}


@pytest.mark.parametrize(("address", "said"), [("192.0.2.77", "cannot send from it"),
                                               ("dashboard.example", "expected an IP address")])
def test_source_address_that_is_not_ours_is_a_usage_error(server: FakeDashboard, tmp_path: Path, address: str,
                                                          said: str) -> None:
    code, output = collect(server, tmp_path / "snap", "--source-address", address)
    assert code == 2
    assert said in output
    assert server.requests == []  # found before any request


# --- shared budgets ------------------------------------------------------------------------------------------
def test_window_admits_the_limit_then_waits_for_the_oldest_to_leave(tmp_path: Path) -> None:
    budget = SharedBudget(tmp_path, {"source:127.0.0.2": 3}, window=1.0, guard=0.05)
    assert [budget.try_acquire(now=100.0 + i / 10) for i in range(3)] == [0.0, 0.0, 0.0]
    wait = budget.try_acquire(now=100.3)
    assert wait == pytest.approx(100.0 + 1.05 - 100.3 + 0.001)
    assert budget.try_acquire(now=101.04) > 0  # still inside window + guard
    assert budget.try_acquire(now=101.06) == 0.0
    assert budget.try_acquire(now=101.07) > 0  # the second (100.1) is still inside


def test_a_request_is_charged_to_every_key_or_to_none(tmp_path: Path) -> None:
    org = SharedBudget(tmp_path, {"org:1": 1, "source:a": 5})
    other = SharedBudget(tmp_path, {"org:2": 1, "source:a": 5})
    assert org.try_acquire(now=10.0) == 0.0
    assert org.try_acquire(now=10.1) > 0  # org 1 is out of budget: the source is not charged for it
    assert [other.try_acquire(now=10.2), other.try_acquire(now=10.3)] == [0.0, pytest.approx(1.001)]
    times = (tmp_path / key_file("source:a")).read_bytes()
    assert len(times) == 2 * 8  # org 1's first and org 2's first: nothing for the refused ones


def _hammer(directory: str, limit: int, count: int, out: str) -> None:
    import asyncio

    async def run() -> list[float]:
        budget = SharedBudget(Path(directory), {"source:127.0.0.3": limit})
        admitted = []
        for _ in range(count):
            await budget.acquire()
            admitted.append(budget.last_admitted)  # as recorded: a stamp taken after may come late
        return admitted

    Path(out).write_text(json.dumps(asyncio.run(run())))


def test_processes_sharing_a_budget_never_exceed_it_together(tmp_path: Path) -> None:
    limit, per_process, processes = 12, 12, 3
    context = multiprocessing.get_context("spawn")
    outs = [tmp_path / f"out{i}.json" for i in range(processes)]
    workers = [context.Process(target=_hammer, args=(str(tmp_path / "budgets"), limit, per_process, str(o)))
               for o in outs]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    times = sorted(t for o in outs for t in json.loads(o.read_text()))
    assert len(times) == limit * processes
    # Any limit + 1 admissions span at least window + guard: the budget held across processes ...
    assert min(times[i + limit] - times[i] for i in range(len(times) - limit)) >= 1.1
    # ... and was used: 36 requests at 12 per 1.1 s take about 2.2 s after the first burst, not 36 s.
    assert time.monotonic() - started < 20


def test_a_process_killed_holding_the_lock_does_not_block_the_others(tmp_path: Path) -> None:
    budget = SharedBudget(tmp_path, {"source:127.0.0.2": 5})
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(tmp_path / key_file('source:127.0.0.2'))!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        started = time.monotonic()
        assert budget.try_acquire() == 0.0
        assert time.monotonic() - started < 1
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=10)


def test_a_collection_charges_each_request_to_the_budget_as_it_is_written(tmp_path: Path) -> None:
    import asyncio

    from auditor.vendors.meraki.collect import CollectorConfig, collect

    source = build_org(tmp_path / "source", "300", 2)
    budget = SharedBudget(tmp_path / "budgets", {"source:127.0.0.3": 8, "org:300": 10})
    with FakeDashboard(source.root, rate=200, burst=200, api_key=API_KEY) as fake:
        config = CollectorConfig(out=tmp_path / "snap", api_key=API_KEY, orgs=["300"], base_url=fake.base_url,
                                 rate=10, source_address="127.0.0.3", budget=budget)
        result = asyncio.run(collect(config))
        assert result.exit_code == 0
        assert budget.admitted == len(fake.requests) == result.requests  # every request charged, once
        assert fake.sources() == {"127.0.0.3"}
        # Charged at the socket: what the server saw in any second is what the budget let through.
        assert fake.peak_rate("127.0.0.3") <= 8
