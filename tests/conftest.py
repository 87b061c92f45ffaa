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

import pytest
from hypothesis import settings

import auditor.vendors  # noqa: F401  (the shipped vendors, as the CLI installs them)

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


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
