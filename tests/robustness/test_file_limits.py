"""Issue 20 item 10: offline inputs have a size cap (VPN_AUDITOR_MAX_FILE_MB). A file past it is refused by its
size before a byte is read (a 2 GB sparse file took 4 GB before failing) and is a data gap naming the file:
what it decides is unknown, a device it holds stays in front of the server as unknown, and no path that was
blocked turns allowed."""

from __future__ import annotations

import shutil
import time
import tracemalloc
from pathlib import Path

import pytest

from auditor.audit import run_audit
from tests.robustness.helpers import newly_allowed, verdicts

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
pytestmark = pytest.mark.timeout(120)


def _gaps(result: object) -> dict[str, str]:
    return {str(f.evidence.get("file")): str(f.evidence.get("reason")) for f in result.findings  # type: ignore[attr-defined]
            if f.check.kind == "data-gap"}


def test_a_2_gb_sparse_file_is_a_data_gap_in_bounded_memory(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    rel = "meraki/networks/L_6468200000000001/appliance/firewall/l3FirewallRules.json"
    with (snap / rel).open("r+b") as handle:
        handle.truncate(2 << 30)  # holes: nothing on disk
    clean = run_audit(DEMO)
    tracemalloc.start()
    started = time.monotonic()
    result = run_audit(snap)
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 << 20, peak
    assert elapsed < 60, elapsed
    assert _gaps(result)[rel].startswith(f"{rel} is larger than the 256.0 MB cap on snapshot files (2048.0 MB")
    assert newly_allowed(verdicts(clean), verdicts(result)) == []
    changed = {k for k, v in verdicts(result).items() if verdicts(clean).get(k) != v}
    assert changed and all(verdicts(result)[k] == "unknown" for k in changed)


def test_the_cap_is_set_by_the_environment_and_a_device_past_it_stays_unknown(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snap = tmp_path / "snap"
    (snap / "cisco").mkdir(parents=True)
    shutil.copy(ROOT / "fixtures" / "cisco" / "asa-vpn.cfg", snap / "cisco" / "hq-asa.cfg")
    (snap / "audit.yaml").write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n"
                                     "    protocols: [ikev2, l2tp-plain, sstp]\n"
                                     "sources:\n  - name: branch-lan\n    prefixes: [192.0.2.0/24]\n")
    before = run_audit(snap)
    assert "blocked" in {p.verdict for p in before.paths}
    monkeypatch.setenv("VPN_AUDITOR_MAX_FILE_MB", "0.001")  # about 1 kB: the config is larger
    after = run_audit(snap)
    assert {p.verdict for p in after.paths} == {"unknown"}
    assert _gaps(after)["cisco/hq-asa.cfg"].startswith("cisco/hq-asa.cfg is larger than the 1.0 kB cap")
    assert newly_allowed(verdicts(before), verdicts(after)) == []


@pytest.mark.parametrize("option", ["--config", "--waivers"])
def test_an_input_file_past_the_cap_is_one_line_exit_2(tmp_path: Path, option: str) -> None:
    from typer.testing import CliRunner

    from auditor.cli import app

    big = tmp_path / "big.yaml"
    with big.open("wb") as handle:
        handle.truncate(3 << 30)  # sparse: 3 GB that cost nothing unless read
    args = ["audit", str(DEMO), option, str(big)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines()[-1].endswith(
        f"{big}: larger than the 256.0 MB cap on input files (3072.0 MB; VPN_AUDITOR_MAX_FILE_MB): not read")
