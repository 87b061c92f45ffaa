"""Ctrl-C while the driver is still submitting the orgs' jobs (a large fleet takes a while) must end as
any Ctrl-C does (docs/fleet.md): the running jobs told to stop, every org recorded (failed "interrupted", or
published), `interrupted: true`, `finished: true`, no partial folder left; not a KeyboardInterrupt out of
run_fleet with a summary of pending orgs and the jobs already sent killed mid-write with their cluster."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import distributed
import pytest

from auditor.fleet.engine import EngineOptions, run_fleet
from auditor.fleet.plan import JobOptions, load_plan

try:
    from tests.fakes.dashboard import FakeDashboard, build_org
except ModuleNotFoundError:
    from fakes.dashboard import FakeDashboard, build_org

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="LocalCluster on loopback")


def test_ctrl_c_while_submitting_ends_as_any_ctrl_c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MERAKI_BASE_URL", "VPN_AUDITOR_DNS_RESOLVER", "VPN_AUDITOR_DNS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    ids = ["901", "902", "903"]
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text("orgs: [" + ", ".join(f"'{i}'" for i in ids) + "]\n")
    for org in ids:
        build_org(tmp_path / "source", org, 4)
    plan = load_plan(fleet_file, config)
    real_submit = distributed.Client.submit
    calls: list[int] = []

    def submit(self: distributed.Client, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:  # Ctrl-C after the first org's job was sent, before the others are
            raise KeyboardInterrupt
        return real_submit(self, *args, **kwargs)

    monkeypatch.setattr(distributed.Client, "submit", submit)
    with FakeDashboard(tmp_path / "source", rate=5, burst=5, api_key=API_KEY) as fake:  # slow: still collecting
        out = tmp_path / "out"
        options = JobOptions(out=str(out), base_url=fake.base_url, org_rate=5, host_rate=20,
                             budget_dir=str(tmp_path / "budgets"))
        escaped = False
        try:
            run_fleet(plan, options, EngineOptions(workers=1, threads=2, stop_timeout=30))
        except KeyboardInterrupt:
            escaped = True
    data = json.loads((out / "fleet-summary.json").read_text())
    leftovers = sorted(p.name for p in (out / "orgs").glob(".*partial*"))
    assert not escaped, (data["finished"], [o["status"] for o in data["orgs"]], leftovers)
    assert data["finished"] is True and data["interrupted"] is True and data["exit_code"] == 2
    assert [o["org"] for o in data["orgs"]] == ids and all(o["status"] != "pending" for o in data["orgs"])
    assert leftovers == []
