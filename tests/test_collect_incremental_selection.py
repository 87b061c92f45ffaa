"""With --network, the manifest's `incremental.fetched_networks` lists only networks this run collected,
never one it left out (it names no fetch that happened)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from auditor.vendors.meraki.collect import CollectorConfig, collect

try:
    from tests.fakes.dashboard import FakeDashboard, build_org
except ModuleNotFoundError:
    from fakes.dashboard import FakeDashboard, build_org

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"


def pull(fake: FakeDashboard, out: Path, since: Path | None = None, networks: tuple[str, ...] = ()) -> None:
    asyncio.run(collect(CollectorConfig(out=out, api_key=API_KEY, base_url=fake.base_url, rate=2000,
                                        global_rate=2000, since=since, networks=networks)))


def test_fetched_networks_names_only_networks_the_run_collected(tmp_path: Path) -> None:
    org = build_org(tmp_path / "source", "100", 4)
    with FakeDashboard(tmp_path / "source", rate=None, api_key=API_KEY) as fake:
        old = tmp_path / "old"
        pull(fake, old)
        time.sleep(1.1)
        edited, selected = org.networks[0]["id"], org.networks[2]
        fake.log_change("100", edited)  # an edit of a network this run does not select
        new = tmp_path / "new"
        pull(fake, new, old, networks=(selected["name"],))
    manifest = json.loads((new / "manifest.json").read_text())
    fetched = manifest["runs"][0]["incremental"]["orgs"][0]["fetched_networks"]
    collected = {c["path"].split("/")[1] for c in manifest["calls"] if c["path"].startswith("networks/")}
    assert edited not in collected
    assert set(fetched) <= collected, fetched
