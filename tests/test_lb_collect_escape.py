"""An answer that makes the F5 pagination code raise something other than an HTTP error or a limit
(here `{"items": 7, "nextLink": ...}`) escapes `_run_call`: the device's run is closed as if complete, the calls
after it (packet filters, firewall policies) are never made nor recorded, and the audit says "allowed"."""

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


def test_a_malformed_page_fails_its_call_and_the_device_goes_on(tmp_path: Path) -> None:
    root = tmp_path / "device"
    shutil.copytree(FIXTURES / "lb" / "f5" / "rest-sticky", root)
    bodies = {"ltm/rule": {"items": 7, "nextLink": "https://localhost/mgmt/tm/ltm/rule?$skip=1"},
              "net/packet-filter": {"items": [{"name": "pf_drop", "partition": "Common", "action": "discard",
                                               "order": 10, "rule": "udp"}]},
              "sys/db/packetfilter": {"name": "packetfilter", "value": "enabled"}}
    for rel, body in bodies.items():
        (root / f"{rel}.json").parent.mkdir(parents=True, exist_ok=True)
        (root / f"{rel}.json").write_text(json.dumps(body))
    out = tmp_path / "snap"
    with FakeLoadBalancer("f5", root) as lb:
        (tmp_path / "hosts.yaml").write_text(f'edge: {{hostname: "{lb.url}", platform: bigip}}\n')
        result = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path / "hosts.yaml"), "--out",
                                                  str(out), "--timeout", "5"], env=LB_ENV)
    assert result.exit_code == 3, result.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["runs"]) == 1, [r["summary"] for r in manifest["runs"]]  # one run for the one device
    # every call of the plan was made: the packet filter after the malformed answer was read
    assert (out / "f5" / "edge" / "net" / "packet-filter.json").is_file()
    (out / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": VIP, "protocols": ["ikev2"], "path": ["f5/edge"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    verdicts = {p.verdict for p in run_audit(out).paths if p.role.name == "internet"}
    assert verdicts == {"unknown"}, verdicts
