"""An org whose collection had failed calls is published `incomplete` (docs/fleet.md), never `complete`: the
summary is what an operator reads to know which orgs' reports rest on a whole snapshot."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.fleet.job import run_org
from auditor.fleet.plan import JobOptions, load_plan
from tests.fakes.dashboard import FakeDashboard, build_org

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"


def test_an_org_with_failed_calls_is_incomplete_not_complete(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "audit.yaml").write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    (tmp_path / "fleet.yaml").write_text('orgs:\n  - "301"\n')
    entry = load_plan(tmp_path / "fleet.yaml", tmp_path / "audit.yaml").orgs[0]
    build_org(tmp_path / "source", "301", 2)
    with FakeDashboard(tmp_path / "source", rate=200, burst=200, api_key=API_KEY) as fake:
        fake.fail("networks/*/appliance/firewall/l3FirewallRules", 403)
        options = JobOptions(out=str(tmp_path / "out"), base_url=fake.base_url, org_rate=100, host_rate=100,
                             budget_dir=str(tmp_path / "budgets"))
        outcome = run_org(entry, options)
    assert outcome["collect"]["failed"] > 0, outcome
    assert outcome["status"] == "incomplete", outcome
    assert "Dashboard calls failed" in outcome["reason"]
    published = json.loads((tmp_path / "out" / "orgs" / "301" / "outcome.json").read_text())
    assert published["status"] == "incomplete"
