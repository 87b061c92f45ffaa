"""A --base-url with user information (a proxy's Basic credentials): the manifest records it without
them (collect.py `public_url`); stderr must not print them either."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli_collect import collect_app

PLANTED = "BasePw-5x9Q"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("url", ["http://proxy-user:{pw}@127.0.0.1:{port}/api/v1",
                                 "http://proxy-user:{pw}@127.0.0.1:{port}/api/v0"])
def test_base_url_credentials_are_never_printed(tmp_path: Path, url: str) -> None:
    out = tmp_path / "snap"
    result = CliRunner().invoke(collect_app, ["meraki", "--out", str(out), "--base-url",
                                              url.format(pw=PLANTED, port=closed_port()), "--retries", "1",
                                              "--timeout", "2"],
                                env={"MERAKI_DASHBOARD_API_KEY": "f00dfeedc0ffee0123456789abcdef0123456789"})
    assert result.exit_code in (2, 3), result.output
    assert PLANTED not in result.output, result.output
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and PLANTED in p.read_text(errors="replace")]
