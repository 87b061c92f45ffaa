"""Test-wide settings.

`HYPOTHESIS_PROFILE=ci` (set by `.ci/run`) makes every property and fuzz test draw the same examples on each
run: a gate that passes or fails by the luck of the draw tells nothing about the change under review. Local
runs keep drawing new examples, which is how the fuzzers find new bugs (each one then gets a fixed regression
test in tests/robustness/test_regressions.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.testing
from hypothesis import settings

import auditor.vendors  # noqa: F401  (the shipped vendors, as the CLI installs them)

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# typer's CliRunner builds the Click command from the app's signatures on every invoke (34 ms for ours); the
# suite invokes the CLI in-process well over a thousand times. The command is the same each time (options are
# read from the functions when the app is defined, values and environment when it runs): built once per app.
# A private name of typer's: where a release renames it, the tests run as they are, only slower.
_build_command = getattr(typer.testing, "_get_command", None)
_commands: dict[int, tuple[typer.Typer, Any]] = {}


def _command_once(app: typer.Typer) -> Any:
    built = _commands.get(id(app))
    if built is None or built[0] is not app:
        assert _build_command is not None
        built = _commands[id(app)] = (app, _build_command(app))
    return built[1]


if _build_command is not None:
    typer.testing._get_command = _command_once  # type: ignore[assignment]


@pytest.fixture(autouse=True, scope="session")
def _known_hosts() -> Iterator[None]:
    """`collect cisco` verifies host keys against known_hosts: a file of the session's own, which each fake SSH
    device adds itself to when it starts (tests/fakes/cisco_ssh.py), never the user's ~/.ssh/known_hosts.
    Tests of unknown and changed keys give a file of their own (--known-hosts)."""
    folder = Path(tempfile.mkdtemp(prefix="vpn-auditor-known-hosts-"))
    path = folder / "known_hosts"
    path.touch()
    saved = os.environ.get("VPN_AUDITOR_SSH_KNOWN_HOSTS")
    os.environ["VPN_AUDITOR_SSH_KNOWN_HOSTS"] = str(path)
    yield
    if saved is None:
        os.environ.pop("VPN_AUDITOR_SSH_KNOWN_HOSTS", None)
    else:
        os.environ["VPN_AUDITOR_SSH_KNOWN_HOSTS"] = saved
    path.unlink(missing_ok=True)
    folder.rmdir()
