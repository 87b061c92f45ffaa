"""`collect f5 --host` interrupted (SIGINT) mid-plan records only the call in flight: the calls never
made (packet filters, firewall policies) are in no file and no call, so the audit reads the device as if they
held nothing. Every call of the plan must be in the interrupted run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fakes.lb_servers import FakeLoadBalancer, Fault

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]
ROOT = Path(__file__).resolve().parents[1]


def test_an_interrupted_device_records_every_call_it_did_not_make(tmp_path: Path) -> None:
    from auditor.vendors.lb.collect import f5_plan

    device = tmp_path / "device"
    shutil.copytree(ROOT / "fixtures" / "lb" / "f5" / "rest-sticky", device)
    out = tmp_path / "snap"
    with FakeLoadBalancer("f5", device, faults={"/mgmt/tm/ltm/rule": Fault(delay=4)}) as lb:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from auditor.cli import main; sys.argv[0] = 'vpn-auditor'; main()",
             "collect", "f5", "--host", lb.url, "--name", "edge", "--out", str(out), "--timeout", "10"],
            cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT), "VPN_AUDITOR_LB_USERNAME": "auditor",
                 "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"})
        deadline = time.monotonic() + 60
        while not any(path == "/mgmt/tm/ltm/rule" for _, path, _ in lb.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and "Traceback" not in err, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["runs"][0]["interrupted"] is True
    recorded = {c["file"] for c in manifest["calls"]}
    assert recorded == {c.file for c in f5_plan("edge")}, sorted({c.file for c in f5_plan("edge")} - recorded)
    assert any(c["file"] == "f5/edge/net/packet-filter.json" and c["outcome"] == "failed" for c in manifest["calls"])
