"""A fleet org's reports name the snapshot where it is published (OUT/orgs/<org>/snapshot), never the
partial folder the job wrote it in, which is renamed away (or removed) before anyone reads the reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.fleet.job import run_org
from auditor.fleet.plan import JobOptions, load_plan

try:
    from tests.fakes.dashboard import FakeDashboard, build_org
except ModuleNotFoundError:
    from fakes.dashboard import FakeDashboard, build_org

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.chdir(tmp_path)


def test_fleet_reports_name_the_published_snapshot_not_the_partial_folder(tmp_path: Path) -> None:
    build_org(tmp_path / "source", "301", 3)
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text('orgs:\n  - "301"\n')
    entry = load_plan(fleet_file, config).orgs[0]
    out = tmp_path / "out"
    with FakeDashboard(tmp_path / "source", rate=None, api_key=API_KEY) as fake:
        options = JobOptions(out=str(out), base_url=fake.base_url, org_rate=1000, host_rate=1000,
                             budget_dir=str(tmp_path / "budgets"), formats=("json", "sarif", "text"))
        outcome = run_org(entry, options)
    assert outcome["status"] == "complete", outcome
    published = out / "orgs" / "301" / "snapshot"
    report = json.loads((out / outcome["reports"]["json"]).read_text())
    assert report["snapshot"] == str(published)
    for fmt in ("json", "sarif", "text"):
        assert ".partial-" not in (out / outcome["reports"][fmt]).read_text(), fmt
    sarif = json.loads((out / outcome["reports"]["sarif"]).read_text())
    uris = [loc["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]
            for loc in r["locations"]]
    assert uris and all((tmp_path / uri).is_file() for uri in uris if not uri.startswith("file:")), uris[:3]
