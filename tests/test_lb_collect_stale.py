"""Collecting again into the same --out (a nightly `collect f5 --inventory inv --out snap`) when the
device now fails: the manifest's last word on every file is "failed", yet the audit reads the files an earlier
run left and says "allowed", without a data gap. A fresh collection of the same device says "unknown"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from auditor.audit import run_audit
from auditor.cli_collect import collect_app
from tests.fakes.lb_servers import FakeLoadBalancer

FIXTURES = Path(__file__).parents[1] / "fixtures"
LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}
VIP = "203.0.113.20"


def collect(tmp_path: Path, root: Path, out: Path, password: str) -> int:
    with FakeLoadBalancer("f5", root, password=password) as lb:
        (tmp_path / "hosts.yaml").write_text(f'edge: {{hostname: "{lb.url}", platform: bigip}}\n')
        return CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path / "hosts.yaml"), "--out", str(out),
                                                "--timeout", "5"], env=LB_ENV).exit_code


def verdicts(out: Path) -> set[str]:
    (out / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": VIP, "protocols": ["ikev2"], "path": ["f5/edge"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    return {p.verdict for p in run_audit(out).paths if p.role.name == "internet"}


def test_a_device_that_fails_today_is_not_audited_on_yesterday_s_files(tmp_path: Path) -> None:
    root = tmp_path / "device"
    shutil.copytree(FIXTURES / "lb" / "f5" / "rest-sticky", root)
    out = tmp_path / "snap"
    assert collect(tmp_path, root, out, LB_ENV["VPN_AUDITOR_LB_PASSWORD"]) == 0  # yesterday: collected
    # today the virtual address is disabled, and the device refuses the collector (its password changed)
    (root / "ltm" / "virtual-address.json").write_text(json.dumps({"items": [
        {"name": VIP, "partition": "Common", "address": VIP, "arp": "enabled", "enabled": "no"}]}))
    assert collect(tmp_path, root, out, "rotated") == 3
    fresh = tmp_path / "fresh"
    assert collect(tmp_path, root, fresh, "rotated") == 3
    assert verdicts(fresh) == {"unknown"}
    assert verdicts(out) == verdicts(fresh)  # today: {"allowed"}, from the files of yesterday's run


def test_a_cisco_device_that_fails_today_is_a_gap_not_yesterday_s_config(tmp_path: Path) -> None:
    from auditor.snapshot import Snapshot
    from tests.fakes.cisco_ssh import FakeCiscoDevice

    ios = (FIXTURES / "cisco" / "ios-vpn.cfg").read_text()
    out = tmp_path / "snap"
    for password, code in (("audit-pw", 0), ("rotated", 3)):
        with FakeCiscoDevice(ios, hostname="br-edge", password=password) as dev:
            (tmp_path / "hosts.yaml").write_text(
                f"br-edge: {{hostname: 127.0.0.1, port: {dev.port}, platform: ios, username: audit}}\n")
            result = CliRunner().invoke(collect_app, ["cisco", "--inventory", str(tmp_path / "hosts.yaml"), "--out",
                                                      str(out), "--timeout", "5"],
                                        env={"VPN_AUDITOR_SSH_PASSWORD": "audit-pw",
                                             "VPN_AUDITOR_SSH_SECRET": "enable-pw"})
        assert result.exit_code == code, result.output
    # today's authentication failure is what the audit must see: not yesterday's running-config
    assert [c["file"] for c in Snapshot(out).failed_calls()] == ["cisco/br-edge.cfg"]


def test_one_call_that_fails_today_is_not_read_from_yesterday_s_file(tmp_path: Path) -> None:
    """Yesterday every body was collected (the virtual address enabled: allowed); today the virtual address is
    disabled and only its call fails. The file yesterday's run left must be gone (the manifest's last word on it
    is "failed"), so the audit says "unknown", as for a fresh collection -- never yesterday's "allowed"."""
    from tests.fakes.lb_servers import Fault

    root = tmp_path / "device"
    shutil.copytree(FIXTURES / "lb" / "f5" / "rest-sticky", root)
    address = root / "ltm" / "virtual-address.json"
    address.write_text(json.dumps({"items": [{"name": VIP, "partition": "Common", "address": VIP, "arp": "enabled",
                                              "enabled": "yes"}]}))
    out = tmp_path / "snap"

    def run(faults: dict[str, Fault], into: Path) -> int:
        with FakeLoadBalancer("f5", root, faults=faults) as lb:
            (tmp_path / "hosts.yaml").write_text(f'edge: {{hostname: "{lb.url}", platform: bigip}}\n')
            return CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path / "hosts.yaml"), "--out",
                                                    str(into), "--timeout", "5"], env=LB_ENV).exit_code

    assert run({}, out) == 0
    assert verdicts(out) == {"allowed"}  # yesterday
    address.write_text(json.dumps({"items": [{"name": VIP, "partition": "Common", "address": VIP, "arp": "enabled",
                                              "enabled": "no"}]}))
    today = {"/mgmt/tm/ltm/virtual-address": Fault(status=500)}
    assert run(today, out) == 3
    fresh = tmp_path / "fresh"
    assert run(today, fresh) == 3
    assert verdicts(fresh) == {"unknown"}
    assert not (out / "f5" / "edge" / "ltm" / "virtual-address.json").exists()
    assert verdicts(out) == verdicts(fresh)
