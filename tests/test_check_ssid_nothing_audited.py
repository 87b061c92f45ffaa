"""`check-ssid` is a gate too: a proposal audited with no path (no server offers a protocol) must not
exit 0, as `audit` does not (docs/exit-codes.md "Never 0 on nothing")."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from auditor.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
PROPOSAL = ROOT / "fixtures" / "proposals" / "guest-blocks-ike.yaml"


def test_check_ssid_with_nothing_audited_is_not_a_pass(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    text = (snap / "audit.yaml").read_text()
    (snap / "audit.yaml").write_text(text.replace("protocols: [ikev2, l2tp, sstp]", "protocols: []"))
    audit = CliRunner().invoke(app, ["audit", str(snap)])
    assert audit.exit_code == 2  # `audit` refuses to pass on nothing
    checked = CliRunner().invoke(app, ["check-ssid", str(snap), "--network", "Store 14", "--proposed", str(PROPOSAL)])
    assert "no roles to audit" not in checked.stdout or checked.exit_code != 0, checked.stdout
    assert checked.exit_code == 2, (checked.exit_code, checked.stdout)
    assert "nothing to audit" in checked.stderr and "internal error" not in checked.stderr, checked.stderr
