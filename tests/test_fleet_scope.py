"""a fleet org whose audit.yaml scope names a network the org lacks is failed, as `audit --org` exits 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.fleet.job import run_org
from auditor.fleet.plan import JobOptions, load_plan

try:
    from tests.fakes.dashboard import FakeDashboard, build_org
except ModuleNotFoundError:
    from fakes.dashboard import FakeDashboard, build_org

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("MERAKI_BASE_URL", "VPN_AUDITOR_DNS_RESOLVER", "VPN_AUDITOR_DNS_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.chdir(tmp_path)


def test_a_scope_network_that_matches_nothing_fails_the_org_as_audit_does(tmp_path: Path) -> None:
    """audit.yaml scope.networks names a network the org does not have (a typo): `audit --org` exits 2 naming it;
    the fleet must not record the org as complete with the typo'd network silently left unaudited."""
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n"
                      "scope:\n  networks: [\"Store 0000\", \"Store 00001\"]\n")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text("orgs: ['301']\n")
    build_org(tmp_path / "source", "301", 2)
    entry = load_plan(fleet_file, config).orgs[0]
    with FakeDashboard(tmp_path / "source", rate=200, burst=200, api_key=API_KEY) as fake:
        alone = CliRunner().invoke(app, ["audit", "--org", "301", "--config", str(config), "--base-url",
                                         fake.base_url, "--format", "json", "--rate", "100"])
        options = JobOptions(out=str(tmp_path / "out"), base_url=fake.base_url, org_rate=100, host_rate=100,
                             budget_dir=str(tmp_path / "budgets"))
        outcome = run_org(entry, options)
    assert alone.exit_code == 2 and "no network named 'Store 00001'" in alone.output
    assert (outcome["status"], outcome["exit_code"]) == ("failed", 2), outcome
    assert "Store 00001" in (outcome["reason"] or "")
