"""A URL with credentials as an inventory host's hostname: refused, but its password must reach neither
the manifest nor stderr."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from auditor.cli_collect import collect_app

PLANTED = "InvUrlPw-7Qz9"
LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}


def test_ssh_hostnames_with_credentials_are_neither_used_nor_written(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text(f'r1: {{hostname: "admin:{PLANTED}@127.0.0.1", platform: ios, '
                                         'username: u}\n')
    (tmp_path / "known_hosts").write_text("")
    out = tmp_path / "snap"
    result = CliRunner().invoke(collect_app, ["cisco", "--inventory", str(tmp_path), "--out", str(out),
                                              "--timeout", "2", "--known-hosts", str(tmp_path / "known_hosts")],
                                env={"VPN_AUDITOR_SSH_PASSWORD": "audit-pw"})
    assert result.exit_code == 3, result.output
    leaked = [str(p) for p in out.rglob("*") if p.is_file() and PLANTED in p.read_text(errors="replace")]
    assert not leaked, leaked
    assert PLANTED not in result.output, result.output
