"""docs/snapshot.md: "A REST body the manifest records as failed ... makes every flow through that
device `unknown`". Without audit.yaml `path` (the common form: devices are placed by the VIP they own), an F5
whose `ltm/virtual.json` failed has no services, so it owns nothing and `may_own` says nothing: it is left off
the path and the server is reported reachable straight from the internet, "allowed". A fresh snapshot where
the whole device failed is an AbsentDevice, which is placed (unknown)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from typer.testing import CliRunner

from auditor.audit import run_audit
from auditor.cli_collect import collect_app
from tests.fakes.lb_servers import FakeLoadBalancer, Fault

FIXTURES = Path(__file__).parents[1] / "fixtures"
LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}
VIP = "203.0.113.20"


def collect_and_audit(tmp_path: Path, root: Path, faults: dict[str, Fault], tag: str) -> tuple[int, set[str]]:
    with FakeLoadBalancer("f5", root, faults=faults) as lb:
        (tmp_path / f"hosts-{tag}.yaml").write_text(f'edge: {{hostname: "{lb.url}", platform: bigip}}\n')
        out = tmp_path / f"snap-{tag}"
        result = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path / f"hosts-{tag}.yaml"),
                                                  "--out", str(out), "--timeout", "5"], env=LB_ENV)
    (out / "audit.yaml").write_text(yaml.safe_dump({  # no `path`: the device is placed by the VIP it owns
        "vpn_servers": [{"name": "vpn", "address": VIP, "protocols": ["ikev2"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    return result.exit_code, {p.verdict.value for p in run_audit(out).paths if p.role.name == "internet"}


def test_an_f5_whose_virtual_list_failed_is_not_left_off_the_path(tmp_path: Path) -> None:
    root = tmp_path / "device"
    shutil.copytree(FIXTURES / "lb" / "f5" / "rest-sticky", root)
    (root / "ltm" / "virtual-address.json").write_text(json.dumps({"items": [
        {"name": VIP, "partition": "Common", "address": VIP, "arp": "enabled", "enabled": "no"}]}))
    code, full = collect_and_audit(tmp_path, root, {}, "full")
    assert code == 0 and full == {"blocked"}, full   # the device takes no traffic for its VIP
    code, partial = collect_and_audit(tmp_path, root, {"/mgmt/tm/ltm/virtual": Fault(status=500)}, "partial")
    assert code == 3
    assert partial == {"unknown"}, partial           # today: {"allowed"}: the device was left out


def test_a_failed_body_that_lists_no_service_leaves_other_servers_alone(tmp_path: Path) -> None:
    """A failed body other than the virtual-server list (here `net/packet-filter`) leaves the device unknown where
    it fronts the server, and nowhere else: a server at an address none of its virtual servers listens on is not
    behind it, so the failure says nothing of that server's paths (an unknown there would be a line that cannot
    affect the path)."""
    root = tmp_path / "device"
    shutil.copytree(FIXTURES / "lb" / "f5" / "rest-sticky", root)
    with FakeLoadBalancer("f5", root, faults={"/mgmt/tm/net/packet-filter": Fault(status=500)}) as lb:
        (tmp_path / "hosts.yaml").write_text(f'edge: {{hostname: "{lb.url}", platform: bigip}}\n')
        out = tmp_path / "snap"
        result = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path / "hosts.yaml"), "--out", str(out),
                                                  "--timeout", "5"], env=LB_ENV)
    assert result.exit_code == 3
    (out / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": VIP, "protocols": ["ikev2"]},
                        {"name": "elsewhere", "address": "198.51.100.77", "protocols": ["ikev2"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    verdicts: dict[str, set[str]] = {}
    for path in run_audit(out).paths:
        verdicts.setdefault(path.server.name, set()).add(path.verdict.value)
    assert verdicts == {"vpn": {"unknown"}, "elsewhere": {"allowed"}}, verdicts
