"""a fleet file that YAML would read with an org silently dropped, or that nests too deeply, is a
usage error naming the file (exit 2), never an org missing from the summary or an internal error."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app


@pytest.mark.parametrize(("text", "said"), [
    ("orgs:\n  - '1'\n  - '2'\norgs:\n  - '3'\n", "'orgs' is defined twice"),  # orgs 1 and 2 would be dropped
    ("orgs:\n  - id: '549236'\n    id: '681155'\n", "'id' is defined twice"),  # org 549236 would be dropped
    ("orgs: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
])
def test_a_fleet_file_yaml_would_misread_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          text: str, said: str) -> None:
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", "f00dfeedc0ffee0123456789abcdef0123456789")
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(text)
    result = CliRunner().invoke(app, ["fleet", str(fleet_file), "--out", str(tmp_path / "out"), "--config",
                                      str(config), "--base-url", "http://127.0.0.1:9/api/v1"])  # never reached
    assert result.exit_code == 2 and said in result.output and str(fleet_file) in result.output, result.output
    assert "internal error" not in result.output
    assert not (tmp_path / "out").exists()
