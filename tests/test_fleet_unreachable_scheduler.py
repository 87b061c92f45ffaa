"""a --scheduler that cannot be reached is a usage error before any job (docs/fleet.md); it must not
leave OUT/fleet-summary.json saying every org is pending in an unfinished run (which also makes the same --out
refused as "already holds a fleet run")."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from auditor.fleet.engine import EngineOptions, run_fleet
from auditor.fleet.plan import JobOptions, load_plan


def test_an_unreachable_scheduler_leaves_no_summary(tmp_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text("orgs: ['1']\n")
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    out.mkdir()
    options = JobOptions(out=str(out), base_url="http://127.0.0.1:9/api/v1")
    with pytest.raises((OSError, TimeoutError)):
        run_fleet(load_plan(fleet_file, config), options,
                  EngineOptions(scheduler=f"tcp://127.0.0.1:{port}", connect_timeout=2))
    assert not (out / "fleet-summary.json").exists()
