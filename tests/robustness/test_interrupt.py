"""Issue 20 items 2 and 11: a collection stopped by SIGINT or SIGTERM writes its manifest, marked
`interrupted: true`, with the calls in flight failed, and exits 3; the audit of what it wrote never turns a
blocked path allowed and is incomplete (exit 3). A manifest that cannot be written is one line and exit 2.
Each collector runs as the CLI in a child process, so the signal is a real one."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.audit import run_audit
from auditor.gate import unaudited
from auditor.vendors.lb.collect import PLANS
from auditor.vendors.meraki.collect import CollectorConfig, collect
from tests.fakes.cisco_ssh import FakeCiscoDevice
from tests.fakes.dashboard import FakeDashboard, Incoming, Reply, build_org
from tests.fakes.hostile_http import Drip, HostileServer
from tests.fakes.hostile_http import Reply as HttpReply
from tests.robustness.helpers import newly_allowed, verdicts

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "0123456789abcdef0123456789abcdef01234567"
CHILD = "import sys; from auditor.cli import main; sys.argv[0] = 'vpn-auditor'; main()"
SERVER = {"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2", "sstp"]}
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _sigint_as_a_terminal_gives_it() -> None:
    """A job started in the background by a non-interactive shell (a CI runner may be one) inherits SIGINT
    ignored, and Python then never raises KeyboardInterrupt: the child gets it as a user's Ctrl-C would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start(args: list[str], env: dict[str, str], **kw: Any) -> subprocess.Popen[str]:
    if "preexec_fn" not in kw:
        kw["preexec_fn"] = _sigint_as_a_terminal_gives_it
    return subprocess.Popen([sys.executable, "-c", CHILD, *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT), **env}, **kw)


def _stop_when(proc: subprocess.Popen[str], ready: threading.Event, sig: signal.Signals,
               settle: float = 0.3) -> tuple[int, str, float]:
    assert ready.wait(30), proc.stderr.read() if proc.stderr else ""
    time.sleep(settle)  # well inside the held call (and, for the Dashboard, after the other networks' calls)
    sent = time.monotonic()
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err, time.monotonic() - sent


def _last_run(out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    manifest = json.loads((out / "manifest.json").read_text())
    return manifest["runs"][-1], manifest["calls"]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("org")
    build_org(root, "100", 4, seed=5)
    return root


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_meraki_collection_audits_incomplete_never_allowed(org: Path, tmp_path: Path,
                                                                          sig: signal.Signals) -> None:
    clean = tmp_path / "clean"
    with FakeDashboard(org, rate=None) as fake:
        asyncio.run(collect(CollectorConfig(out=clean, api_key=API_KEY, base_url=fake.base_url, rate=200)))
    (clean / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [SERVER]}))

    listed = threading.Event()

    def hold(request: Incoming) -> Reply | None:  # Ctrl-C while one network's SSID list is in flight
        if request.path == "networks/N_100_0001/wireless/ssids":
            listed.set()
            time.sleep(5)
        return None

    out = tmp_path / "snap"
    with FakeDashboard(org, rate=None) as fake:
        fake.hooks.append(hold)
        proc = _start(["collect", "meraki", "--out", str(out), "--base-url", fake.base_url],
                      {"MERAKI_DASHBOARD_API_KEY": API_KEY})
        code, err, took = _stop_when(proc, listed, sig, settle=1.0)
    assert code == 3, err
    assert "Traceback" not in err and "interrupted; the snapshot is incomplete" in err
    assert took < 5, took  # the held calls were not waited for
    run, calls = _last_run(out)
    assert run["interrupted"] is True
    assert any(c["outcome"] == "failed" and c["error"].startswith("interrupted") for c in calls)
    assert not list(out.rglob(".tmp-*"))  # no half-written file left behind

    (out / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [SERVER]}))
    before, after = run_audit(clean), run_audit(out)
    assert after.paths and newly_allowed(verdicts(before), verdicts(after)) == []
    assert any("had not collected when it was interrupted" in gap for gap in unaudited(after))
    audit = _start(["audit", str(out), "--fail-on", "never"], {})
    _, audit_err = audit.communicate(timeout=60)
    assert audit.returncode == 3, audit_err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_lb_collection_writes_its_manifest(tmp_path: Path, sig: signal.Signals) -> None:
    reached = threading.Event()

    def script(request: Any) -> Any:
        if request.path == "/mgmt/tm/ltm/pool":
            reached.set()
            return Drip(0.5)
        return HttpReply(200, '{"items": []}')

    out = tmp_path / "snap"
    with HostileServer(script) as server:
        proc = _start(["collect", "f5", "--host", server.url, "--out", str(out), "--name", "lb1"],
                      {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"})
        code, err, took = _stop_when(proc, reached, sig)
    assert code == 3 and "Traceback" not in err, err
    assert took < 5, took
    run, calls = _last_run(out)
    assert run["interrupted"] is True and run["device"] == "f5/lb1"
    interrupted = [c for c in calls if c["outcome"] == "failed"]
    # the call in flight, then every call of the plan not made, each failed as interrupted (none left out: a body
    # not read is unknown, not nothing configured)
    assert interrupted[0]["path"] == "/mgmt/tm/ltm/pool?expandSubcollections=true" and len(interrupted) > 1
    assert all(c["error"].startswith("interrupted") for c in interrupted)
    assert calls[-len(interrupted):] == interrupted and len(calls) == len(PLANS["f5"]("lb1"))
    assert (out / "f5/lb1/ltm/virtual.json").is_file()  # what was read before stays


def test_an_interrupted_cisco_collection_writes_its_manifest(tmp_path: Path) -> None:
    started = threading.Event()

    def trickle() -> Any:
        started.set()
        while True:
            time.sleep(0.2)
            yield "!\n"

    out = tmp_path / "snap"
    with FakeCiscoDevice(trickle, start_privileged=True) as dev:
        proc = _start(["collect", "cisco", "--host", "127.0.0.1", "--port", str(dev.port), "--device-type",
                       "cisco_ios", "--username", "audit", "--out", str(out), "--name", "rtr1"],
                      {"VPN_AUDITOR_SSH_PASSWORD": "audit-pw", "VPN_AUDITOR_SSH_SECRET": "enable-pw"})
        code, err, _ = _stop_when(proc, started, signal.SIGTERM)
    assert code == 3 and "Traceback" not in err, err
    run, calls = _last_run(out)
    assert run["interrupted"] is True
    assert calls[-1]["outcome"] == "failed" and calls[-1]["file"] == "cisco/rtr1.cfg"
    (out / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [SERVER]}))
    result = run_audit(out)
    assert {p.verdict for p in result.paths} <= {"unknown"} or not result.paths
    assert unaudited(result)


def _small_files() -> None:  # in the child: a file past 4 kB fails to grow (EFBIG), as on a full disk
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_a_manifest_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    """It was a traceback (ENOSPC while writing the manifest)."""
    out = tmp_path / "snap"
    with HostileServer(lambda request: HttpReply(404, '{"code": 404}')) as server:
        proc = _start(["collect", "f5", "--host", server.url, "--out", str(out), "--name", "lb1"],
                      {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"},
                      preexec_fn=_small_files)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"vpn-auditor collect: cannot write {out / 'manifest.json'}: ") and "large" in last
    assert "Traceback" not in err
    assert not (out / "manifest.json").exists() and not list(out.glob(".tmp-*"))
