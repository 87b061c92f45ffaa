"""`vpn-auditor audit` does not load the collectors (SSH, Dashboard, HTTP and DNS clients: about a third of a
second of every run); `collect` and the main help still find them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"

_PROBE = """
import sys
from typer.testing import CliRunner
from auditor.cli import app
done = CliRunner().invoke(app, sys.argv[1:])
loaded = sorted(name for name in ("paramiko", "netmiko", "meraki", "auditor.collect.dns", "auditor.cli_collect",
                                  "auditor.vendors.cisco.collect", "auditor.vendors.meraki.collect")
                if name in sys.modules)
print(done.exit_code, ",".join(loaded))
print(done.output)
"""


def _run(*args: str) -> tuple[str, str]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120,
                          check=True)
    head, _, output = done.stdout.partition("\n")
    return head, output


def test_an_audit_loads_no_collector(tmp_path: Path) -> None:
    head, _output = _run("audit", str(DEMO), "--format", "json", "-o", str(tmp_path / "report.json"))
    assert head == "1 "  # the demo's errors; nothing of the collectors loaded
    assert (tmp_path / "report.json").stat().st_size > 1000


@pytest.mark.slow
def test_collect_is_loaded_when_asked_for() -> None:
    head, output = _run("collect", "--help")
    assert head.startswith("0 ") and "auditor.cli_collect" in head
    for command in ("cisco", "f5", "kemp", "netscaler", "meraki"):
        assert f" {command} " in output
    head, output = _run("--help")
    assert head.startswith("0 ") and "collect " in output and "Pull configuration from live systems" in output
