"""REST hosts given as an IPv6 literal (as inventories commonly hold them) or with a port that is not
one: a usable base URL, else a one-line usage error -- never "internal error, a bug in vpn-auditor"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli_collect import collect_app
from auditor.vendors.lb.collect import base_url

LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}


def test_a_bare_ipv6_address_is_the_host_not_a_host_and_port() -> None:
    assert base_url("2001:db8::1") == "https://[2001:db8::1]"
    assert base_url("[2001:db8::1]:8443") == "https://[2001:db8::1]:8443"


@pytest.mark.parametrize("host", ["https://lb1:abc", "https://2001:db8::1"])
def test_an_unusable_port_is_a_usage_error(tmp_path: Path, host: str) -> None:
    result = CliRunner().invoke(collect_app, ["f5", "--host", host, "--out", str(tmp_path / "snap")], env=LB_ENV)
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "port" in result.output, result.output
