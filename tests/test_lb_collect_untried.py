"""A load balancer of an inventory that could not be tried (an unusable URL) or was never contacted
(SIGINT/SIGTERM) is a failed call of its own run, "so the audit reports what depends on it as unknown"
(docs/inventory.md) -- under the device's inventory name, the name audit.yaml `path` uses."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from auditor.audit import run_audit
from auditor.cli_collect import collect_app
from auditor.collect.inventory import load_inventory, record_failure, select
from auditor.vendors.lb.collect import FLEETS

FIXTURES = Path(__file__).parents[1] / "fixtures"
LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}
VIP = "203.0.113.20"


def audit_through(out: Path, device: str) -> dict[str, str]:
    (out / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": VIP, "protocols": ["ikev2"], "path": [device]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    return {str(p.trace.flow): p.verdict for p in run_audit(out).paths if p.role.name == "internet"}


@pytest.mark.parametrize("vendor", ["f5", "kemp", "netscaler"])
def test_a_load_balancer_that_could_not_be_tried_is_unknown_by_its_name(tmp_path: Path, vendor: str) -> None:
    (tmp_path / "hosts.yaml").write_text(f'edge-lb1: {{hostname: "ftp://lb1.example.com", platform: {vendor}}}\n')
    out = tmp_path / "snap"
    result = CliRunner().invoke(collect_app, [vendor, "--inventory", str(tmp_path / "hosts.yaml"), "--out", str(out)],
                                env=LB_ENV)
    assert result.exit_code == 3, result.output
    assert f"{vendor}/edge-lb1" in result.output and "failed" in result.output
    verdicts = audit_through(out, f"{vendor}/edge-lb1")  # today: SnapshotError "... is not in the snapshot"
    assert set(verdicts.values()) == {"unknown"}


@pytest.mark.parametrize("vendor", ["f5", "kemp", "netscaler"])
def test_a_load_balancer_never_contacted_after_sigint_is_unknown_by_its_name(tmp_path: Path, vendor: str) -> None:
    (tmp_path / "hosts.yaml").write_text(f'edge-lb2: {{hostname: "https://lb2.example.com", platform: {vendor}}}\n')
    (target,), _ = select(load_inventory(tmp_path / "hosts.yaml"), FLEETS[vendor])
    out = tmp_path / "snap"
    # what run_pool records for a device it never started when SIGINT or SIGTERM arrives
    record_failure(out, FLEETS[vendor], target, str(tmp_path / "hosts.yaml"), "interrupted", interrupted=True)
    verdicts = audit_through(out, f"{vendor}/edge-lb2")
    assert set(verdicts.values()) == {"unknown"}
