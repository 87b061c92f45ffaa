"""A dns/<fqdn>.json whose "fqdn" field is not a host name is an input error naming the file
(exit 2, one line), not "internal error, a bug in vpn-auditor"."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
REL = "dns/vpn.contoso-retail.example.json"


@pytest.mark.parametrize("value", ["not a name!", "vpn.contoso-retail.example/../x", 7])
def test_a_dns_file_whose_fqdn_is_not_a_name_is_an_input_error(tmp_path: Path, value: object) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    data = json.loads((snap / REL).read_text())
    data["fqdn"] = value
    (snap / REL).write_text(json.dumps(data))
    result = CliRunner().invoke(app, ["audit", str(snap)])
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output
    assert REL in result.output
