"""Item 7 of issue 20: the SSH host key is verified before the password is sent.

netmiko added any unknown host key, so whoever answered on the device's address (a man in the middle)
received the SSH password and the enable secret. Now the key must be in known_hosts (`--known-hosts FILE`);
`--accept-new-host-key` accepts a host that is not there yet (first contact), adds it, and the manifest says
so; a key that differs from the known one is refused whatever the options. A refusal sends no password.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest

from auditor.vendors.cisco.collect import CiscoCollectConfig, collect_cisco
from tests.fakes.cisco_ssh import FakeCiscoDevice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

CONFIG = (Path(__file__).parents[2] / "fixtures" / "cisco" / "ios-vpn.cfg").read_text()
SSH = {"username": "audit", "password": "Ssh-Pa55word-9f2", "secret": "Enable-S3cret-7c1"}
CLI = [sys.executable, "-c", "from auditor.cli import main; main()"]


def _fingerprint(key: paramiko.PKey) -> str:
    """As `ssh-keygen -lf` prints it, computed here apart from the collector's own."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _collect(device: FakeCiscoDevice, out: Path, known_hosts: Path, accept_new: bool = False):  # type: ignore[no-untyped-def]
    return collect_cisco(CiscoCollectConfig(host="127.0.0.1", port=device.port, device_type="cisco_ios", out=out,
                                            name="edge", timeout=10, read_timeout=20, known_hosts=known_hosts,
                                            accept_new_host_key=accept_new, **SSH))


def _call(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())["calls"][-1]


def test_an_unknown_host_is_refused_before_the_password(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    with FakeCiscoDevice(CONFIG, hostname="edge", **SSH) as device:
        result = _collect(device, tmp_path / "snap", known)
        assert device.logins == [] and device.received == []  # no password, no command reached it
    assert not result.ok and result.exit_code == 3
    assert "is not in" in (result.error or "") and "--accept-new-host-key" in (result.error or "")
    assert _fingerprint(device.host_key) in (result.error or "")
    call = _call(tmp_path / "snap")
    assert call["outcome"] == "failed" and call["host_key"].startswith("not verified")
    assert not (tmp_path / "snap" / "cisco").exists()
    assert known.read_text() == ""  # nothing added without --accept-new-host-key


def test_first_contact_is_accepted_only_when_asked_and_recorded(tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # neither the folder nor the file exist yet
    with FakeCiscoDevice(CONFIG, hostname="edge", **SSH) as device:
        first = _collect(device, tmp_path / "snap", known, accept_new=True)
        assert first.ok, first.error
        again = _collect(device, tmp_path / "again", known)  # known now: verified without the option
        assert again.ok, again.error
    fingerprint = _fingerprint(device.host_key)
    manifest = json.loads((tmp_path / "snap" / "manifest.json").read_text())
    assert manifest["runs"][-1]["parameters"]["accept_new_host_key"] is True
    assert manifest["runs"][-1]["parameters"]["known_hosts"] == str(known)
    assert manifest["calls"][-1]["host_key"] == \
        f"accepted on first contact (--accept-new-host-key), added to {known}: ssh-rsa {fingerprint}"
    assert _call(tmp_path / "again")["host_key"] == f"verified against {known}: ssh-rsa {fingerprint}"
    assert known.read_text() == device.known_hosts_line
    assert oct(known.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("accept_new", [False, True])
def test_a_changed_host_key_is_refused_whatever_the_options(tmp_path: Path, accept_new: bool) -> None:
    """The device's address answered by another key: a man in the middle, or a replaced device."""
    known = tmp_path / "known_hosts"
    with FakeCiscoDevice(CONFIG, hostname="edge", **SSH) as real:
        known.write_text(real.known_hosts_line)
        port = real.port
    impostor_key = paramiko.RSAKey.generate(1024)
    impostor = FakeCiscoDevice(CONFIG, hostname="edge", host_key=impostor_key, **SSH)
    known.write_text(known.read_text().replace(f"[127.0.0.1]:{port}", f"[127.0.0.1]:{impostor.port}"))
    with impostor:
        result = _collect(impostor, tmp_path / "snap", known, accept_new=accept_new)
        assert impostor.logins == [] and impostor.received == []
    assert not result.ok
    assert "man in the middle" in (result.error or "") and _fingerprint(impostor_key) in (result.error or "")
    assert known.read_text().count("\n") == 1  # never replaced


def test_a_host_known_with_another_key_type_is_refused(tmp_path: Path) -> None:
    other = paramiko.ECDSAKey.generate()
    with FakeCiscoDevice(CONFIG, hostname="edge", **SSH) as device:
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{device.port} {other.get_name()} {other.get_base64()}\n")
        result = _collect(device, tmp_path / "snap", known, accept_new=True)
        assert device.logins == []
    assert not result.ok and "man in the middle" in (result.error or "")


def test_cli_known_hosts_and_first_contact(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VPN_AUDITOR_SSH_KNOWN_HOSTS"}
    env |= {"VPN_AUDITOR_SSH_PASSWORD": SSH["password"], "VPN_AUDITOR_SSH_SECRET": SSH["secret"],
            "HOME": str(tmp_path / "home")}
    known = tmp_path / "kh"
    with FakeCiscoDevice(CONFIG, hostname="edge", **SSH) as device:
        base = [*CLI, "collect", "cisco", "--host", "127.0.0.1", "--port", str(device.port), "--device-type",
                "cisco_ios", "--username", SSH["username"]]
        # the default: ~/.ssh/known_hosts, which does not know the device
        default = subprocess.run([*base, "--out", str(tmp_path / "a")], capture_output=True, text=True, env=env,
                                 timeout=120)
        missing = subprocess.run([*base, "--out", str(tmp_path / "b"), "--known-hosts", str(known)],
                                 capture_output=True, text=True, env=env, timeout=120)
        first = subprocess.run([*base, "--out", str(tmp_path / "c"), "--known-hosts", str(known),
                                "--accept-new-host-key"], capture_output=True, text=True, env=env, timeout=120)
        known_now = subprocess.run([*base, "--out", str(tmp_path / "d"), "--known-hosts", str(known)],
                                   capture_output=True, text=True, env=env, timeout=120)
        assert device.logins == [SSH["username"]] * 2  # the two runs that knew the key, and only they
    assert default.returncode == 3 and str(tmp_path / "home" / ".ssh" / "known_hosts") in default.stderr
    assert "--accept-new-host-key" in default.stderr
    assert missing.returncode == 2 and "no such file" in missing.stderr
    assert first.returncode == 0, first.stderr
    assert f"accepted on first contact (--accept-new-host-key), added to {known}: ssh-rsa " \
           f"{_fingerprint(device.host_key)}" in first.stderr
    assert known_now.returncode == 0, known_now.stderr
