"""An F5 collected from an inventory whose collection partly failed must not be audited "allowed"
on what it did not read (docs/snapshot.md: "A file that is absent was not collected, and what depends on it is
unknown, never assumed")."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from auditor.audit import run_audit
from auditor.cli_collect import collect_app
from tests.fakes.lb_servers import FakeLoadBalancer, Fault

FIXTURES = Path(__file__).parents[1] / "fixtures"
LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}
VIP = "203.0.113.20"

# The REST file that fails, the body the device holds there (and what it decides), the full audit's verdict.
CASES = {
    "virtual-address disabled": (
        "ltm/virtual-address", {"items": [{"name": VIP, "partition": "Common", "address": VIP, "arp": "enabled",
                                           "enabled": "no"}]}, {}, "blocked"),
    "packet filter discards": (
        "net/packet-filter", {"items": [{"name": "pf_drop", "partition": "Common", "action": "discard",
                                         "order": 10, "rule": "udp"}]},
        {"sys/db/packetfilter": {"name": "packetfilter", "value": "enabled"}}, "unknown"),
    "AFM global policy": (
        "security/firewall/global-rules", {"enforcedPolicy": "/Common/global_fw", "name": "global-rules",
                                           "partition": "Common"}, {}, "unknown"),
}


def device_root(tmp_path: Path, failing: str, body: dict, extra: dict) -> Path:
    root = tmp_path / "device"
    shutil.copytree(FIXTURES / "lb" / "f5" / "rest-sticky", root)
    for rel, content in {failing: body, **extra}.items():
        (root / f"{rel}.json").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{rel}.json").write_text(json.dumps(content))
    return root


def collect_and_audit(tmp_path: Path, root: Path, faults: dict[str, Fault], tag: str) -> tuple[int, dict[str, str]]:
    with FakeLoadBalancer("f5", root, faults=faults) as lb:
        (tmp_path / f"hosts-{tag}.yaml").write_text(f'edge: {{hostname: "{lb.url}", platform: bigip}}\n')
        out = tmp_path / f"snap-{tag}"
        result = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path / f"hosts-{tag}.yaml"),
                                                  "--out", str(out), "--timeout", "5"], env=LB_ENV)
    (out / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": VIP, "protocols": ["ikev2"], "path": ["f5/edge"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    paths = run_audit(out).paths
    return result.exit_code, {str(p.trace.flow): p.verdict for p in paths if p.role.name == "internet"}


@pytest.mark.parametrize("case", list(CASES))
def test_a_failed_f5_call_is_never_read_as_nothing_configured(tmp_path: Path, case: str) -> None:
    failing, body, extra, truth = CASES[case]
    root = device_root(tmp_path, failing, body, extra)
    code, full = collect_and_audit(tmp_path, root, {}, "full")
    assert code == 0
    assert set(full.values()) == {truth}  # what the fresh, full collection proves
    code, partial = collect_and_audit(tmp_path, root, {f"/mgmt/tm/{failing}": Fault(status=500)}, "partial")
    assert code == 3  # the collector knows the snapshot is incomplete
    assert "allowed" not in partial.values(), partial  # ... the audit must not say "allowed"
