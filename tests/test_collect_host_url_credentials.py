"""An inventory hostname URL with credentials must never leak its password (manifest, stderr),
whatever else is wrong with the URL (a bad port) and whatever the password holds ('@', '/')."""
from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli_collect import collect_app

PLANTED = "InvUrlPw7Qz9"
LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}


@pytest.mark.parametrize("hostname", [
    f"https://admin:{PLANTED}@127.0.0.1:9",        # refused, never contacted: the password in no file nor line
    f"https://admin:{PLANTED}@127.0.0.1:99999",   # a port out of range
    f"https://admin:{PLANTED}/x@127.0.0.1:9",      # a '/' in the password
    f"https://admin:p@{PLANTED}@127.0.0.1:9",      # an '@' in the password
])
def test_lb_inventory_hostname_password_never_written(tmp_path: Path, hostname: str) -> None:
    (tmp_path / "hosts.yaml").write_text(f'edge-lb1: {{hostname: "{hostname}", platform: bigip}}\n')
    out = tmp_path / "snap"
    result = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path), "--out", str(out),
                                              "--timeout", "2"], env=LB_ENV)
    assert result.exit_code == 3, result.output
    leaked = [str(p) for p in out.rglob("*") if p.is_file() and PLANTED in p.read_text(errors="replace")]
    assert not leaked, leaked
    assert PLANTED not in result.output, result.output


def test_meraki_base_url_password_with_a_slash_is_never_recorded() -> None:
    from auditor.vendors.meraki.collect import public_url

    shown = public_url(f"https://proxyuser:Pw/{PLANTED}@dash.example/api/v1")
    assert PLANTED not in shown, shown
    assert shown == "https://dash.example/api/v1"
    assert public_url("https://api.meraki.com/api/v1") == "https://api.meraki.com/api/v1"
