"""A --host / --base-url with an unbalanced or non-address IPv6 bracket is a usage error (exit 2, one
line naming the option), not "internal error, a bug in vpn-auditor" (urllib's ValueError escaping)."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app

LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}


@pytest.mark.parametrize("host", ["https://[::1", "[2001:db8::1", "https://lb1]", "https://[lb1]:443"])
def test_lb_host_with_bad_brackets_is_a_usage_error(tmp_path: Path, host: str) -> None:
    result = CliRunner().invoke(app, ["collect", "f5", "--host", host, "--out", str(tmp_path / "s")], env=LB_ENV)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output, result.output
    assert "--host" in result.output, result.output


@pytest.mark.parametrize("url", ["https://[::1/api/v1", "https://[dashboard]/api/v1"])
def test_meraki_base_url_with_bad_brackets_is_a_usage_error(tmp_path: Path, url: str) -> None:
    result = CliRunner().invoke(app, ["collect", "meraki", "--base-url", url, "--out", str(tmp_path / "s")],
                                env={"MERAKI_DASHBOARD_API_KEY": "k" * 40})
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output, result.output
    assert "--base-url" in result.output, result.output
