"""Issue 20 items 9 and 11, Cisco: a hostile SSH device (tests/fakes/cisco_ssh.py with an endless or trickling
running-config) cannot fill the collector's memory or hold it for netmiko's fixed 120 s: the output has a size
cap and the command a deadline (--max-output-mb, --read-timeout), and either trip is a failed call in the
manifest, not a traceback. An --out that cannot be written is found before the device is contacted."""

from __future__ import annotations

import json
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.collect.limits import mb_bytes
from auditor.vendors.cisco.collect import CiscoCollectConfig, CiscoCollectResult, collect_cisco
from tests.fakes.cisco_ssh import FakeCiscoDevice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]
ENV = {"VPN_AUDITOR_SSH_PASSWORD": "audit-pw", "VPN_AUDITOR_SSH_SECRET": "enable-pw"}


def endless() -> Iterator[str]:
    block = ("interface GigabitEthernet0/0\n description " + "x" * 60 + "\n") * 500
    while True:
        yield block


def trickle() -> Iterator[str]:
    yield "hostname rtr1\n"
    while True:
        time.sleep(0.2)
        yield "!\n"


def _collect(dev: FakeCiscoDevice, out: Path, **kw: Any) -> tuple[CiscoCollectResult, dict[str, Any], float]:
    options: dict[str, Any] = {"host": "127.0.0.1", "port": dev.port, "device_type": "cisco_ios",
                               "username": "audit", "password": "audit-pw", "secret": "enable-pw", "out": out,
                               "timeout": 10.0, "read_timeout": 20.0, "max_output": mb_bytes(1.0)}
    options.update(kw)
    started = time.monotonic()
    result = collect_cisco(CiscoCollectConfig(**options))
    elapsed = time.monotonic() - started
    call = json.loads((out / "manifest.json").read_text())["calls"][0]
    return result, call, elapsed


def test_an_endless_running_config_is_capped(tmp_path: Path) -> None:
    """It grew to 1.7 GB: netmiko's channel read loops as long as data keeps arriving."""
    with FakeCiscoDevice(endless, start_privileged=True) as dev:
        tracemalloc.start()
        result, call, elapsed = _collect(dev, tmp_path / "snap")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert not result.ok and result.exit_code == 3
    assert call["outcome"] == "failed"
    assert "show running-config' is larger than the 1.0 MB cap (--max-output-mb)" in call["error"]
    assert not list((tmp_path / "snap").glob("cisco/*"))  # never a config cut short
    assert peak < 48 << 20, peak
    assert elapsed < 30, elapsed


def test_a_running_config_that_never_ends_meets_the_read_timeout(tmp_path: Path) -> None:
    """It raised netmiko's ReadTimeout after a fixed 120 s, unrecorded."""
    with FakeCiscoDevice(trickle, start_privileged=True) as dev:
        result, call, elapsed = _collect(dev, tmp_path / "snap", read_timeout=2.0)
    assert not result.ok and result.exit_code == 3
    assert call["outcome"] == "failed" and call["error"] == "no prompt after 2 s of output (--read-timeout)"
    assert elapsed < 15, elapsed


def test_the_cli_takes_the_read_timeout_and_the_cap(tmp_path: Path) -> None:
    runner = CliRunner()
    with FakeCiscoDevice(endless, start_privileged=True) as dev:
        base = ["collect", "cisco", "--host", "127.0.0.1", "--port", str(dev.port), "--device-type", "cisco_ios",
                "--username", "audit"]
        capped = runner.invoke(app, [*base, "--out", str(tmp_path / "a"), "--max-output-mb", "0.5"], env=ENV)
        from_env = runner.invoke(app, [*base, "--out", str(tmp_path / "b")],
                                 env={**ENV, "VPN_AUDITOR_MAX_BODY_MB": "0.25"})
    assert capped.exit_code == 3 and from_env.exit_code == 3 and "Traceback" not in capped.output
    assert "512.0 kB cap" in json.loads((tmp_path / "a/manifest.json").read_text())["calls"][0]["error"]
    assert "256.0 kB cap" in json.loads((tmp_path / "b/manifest.json").read_text())["calls"][0]["error"]
    with FakeCiscoDevice(trickle, start_privileged=True) as dev:
        slow = runner.invoke(app, [*base[:5], str(dev.port), *base[6:], "--out", str(tmp_path / "c"),
                                   "--read-timeout", "1"], env=ENV)
    assert slow.exit_code == 3 and "no prompt after 1 s of output" in slow.output


def test_an_out_that_is_a_file_is_refused_before_connecting(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("a file\n")
    with FakeCiscoDevice("hostname rtr1\n", start_privileged=True) as dev:
        result = CliRunner().invoke(app, ["collect", "cisco", "--host", "127.0.0.1", "--port", str(dev.port),
                                          "--device-type", "cisco_ios", "--username", "audit", "--out",
                                          str(taken)], env=ENV)
        assert dev.received == []
    assert result.exit_code == 2
    assert result.output.strip() == f"vpn-auditor collect: --out {taken}: exists and is not a directory"
