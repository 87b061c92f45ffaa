"""`collect cisco` against a fake Cisco SSH device (paramiko server on 127.0.0.1) driven by the real netmiko."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.snapshot import Snapshot
from auditor.vendors.cisco.adapter import CiscoDevice
from auditor.vendors.cisco.collect import (
    CiscoCollectConfig,
    CommandNotAllowed,
    check_command,
    collect_cisco,
    connect,
    redact_config,
    run_show,
)
from tests.fakes.cisco_ssh import FakeCiscoDevice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(60)]

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cisco"
IOS = (FIXTURES / "ios-vpn.cfg").read_text()
ASA = (FIXTURES / "asa-vpn.cfg").read_text()
SECRETS = ["$1$mERr$hx5rVt7rPNoS4wqbXKX7m0", "n0tPubl1c", "060506324F41584B56", "Sup3rS3cretPSK",
           "094F471A1A0A", "8Ry2YjIyt7RRXU24", "Z4ch0dgqr0mb9L8v", "R4d1usS3cret", "s3cr3tCommunity",
           "MyPr3Shar3dK3y", "$9$nhEmQVczB7dqsO"]


def config(dev: FakeCiscoDevice, out: Path, device_type: str, **kw: object) -> CiscoCollectConfig:
    base = {"host": "127.0.0.1", "port": dev.port, "device_type": device_type, "username": "audit",
            "password": "audit-pw", "secret": "enable-pw", "out": out, "timeout": 10.0, "read_timeout": 20.0}
    base.update(kw)
    return CiscoCollectConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("device_type", ["cisco_ios", "cisco_xe"])
def test_ios_running_config_is_saved_redacted_and_parses(tmp_path: Path, device_type: str) -> None:
    with FakeCiscoDevice(IOS, platform="ios", hostname="br-edge-01") as dev:
        result = collect_cisco(config(dev, tmp_path, device_type))
    assert result.ok and result.exit_code == 0
    assert result.file == "cisco/br-edge-01.cfg"
    saved = (tmp_path / result.file).read_text()
    for secret in SECRETS:
        assert secret not in saved
    assert "enable secret 5 <redacted>" in saved
    assert "crypto isakmp key <redacted> address 0.0.0.0 0.0.0.0" in saved  # the line stays
    assert saved.startswith("!\nversion 15.7")  # IOS's "Building configuration..." preamble dropped
    # pager off and privilege raised before the show command; nothing else reached the device
    assert dev.received.index("terminal length 0") < dev.received.index("show running-config")
    assert "enable" in dev.received
    assert {c for c in dev.received if c} <= {"terminal width 511", "terminal length 0", "enable",
                                              "show running-config", "exit"}
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    call = manifest["calls"][0]
    assert (call["collector"], call["path"], call["outcome"], call["file"]) == \
        ("cisco", "show running-config", "ok", "cisco/br-edge-01.cfg")
    assert "enable-pw" not in json.dumps(manifest) and "audit-pw" not in json.dumps(manifest)
    # what was collected is what the adapter reads
    device = CiscoDevice.from_text(saved, result.file)
    assert device.acl("WAN-IN") is not None and Snapshot(tmp_path).outcome(result.file).outcome == "ok"


def test_asa_pager_off_without_configuration_mode(tmp_path: Path) -> None:
    with FakeCiscoDevice(ASA, platform="asa", hostname="hq-asa") as dev:
        result = collect_cisco(config(dev, tmp_path, "cisco_asa", name="hq-asa"))
    assert result.ok, result.error
    saved = (tmp_path / "cisco/hq-asa.cfg").read_text()
    assert " ikev1 pre-shared-key <redacted>" in saved and "MyPr3Shar3dK3y" not in saved
    assert "terminal pager 0" in dev.received
    assert "configure terminal" not in dev.received  # netmiko's own ASA setup would have sent it


def test_asa_login_path_without_enable_secret(tmp_path: Path) -> None:
    with FakeCiscoDevice(ASA, platform="asa", hostname="hq-asa") as dev:
        result = collect_cisco(config(dev, tmp_path, "cisco_asa", secret=""))
    assert result.ok, result.error
    assert "login" in dev.received and "enable" not in dev.received


def test_a_command_outside_the_allowlist_never_leaves_the_process() -> None:
    with pytest.raises(CommandNotAllowed):
        check_command("configure terminal")
    with FakeCiscoDevice(IOS, platform="ios", start_privileged=True) as dev:
        conn = connect("cisco_ios", "127.0.0.1", dev.port, "audit", "audit-pw", "", 10.0)
        try:
            before = list(dev.received)
            with pytest.raises(CommandNotAllowed):
                run_show(conn, "clear counters")
            with pytest.raises(CommandNotAllowed):
                conn.send_command("reload")  # even netmiko's own API goes through the guard
            with pytest.raises(CommandNotAllowed):
                conn.send_config_set(["no ip access-list extended WAN-IN"])
            assert "hostname br-edge-01" in run_show(conn, "show running-config")  # still usable
        finally:
            conn.disconnect()
    sent = dev.received[len(before):]
    assert not any(c.startswith(("clear", "reload", "configure", "no ")) for c in sent)


def test_wrong_password_is_recorded_as_failed(tmp_path: Path) -> None:
    with FakeCiscoDevice(IOS, platform="ios") as dev:
        result = collect_cisco(config(dev, tmp_path, "cisco_ios", password="wrong", name="br-edge-01"))
    assert not result.ok and result.exit_code == 3
    assert result.error == "authentication failed"
    call = json.loads((tmp_path / "manifest.json").read_text())["calls"][0]
    assert call["outcome"] == "failed" and "wrong" not in json.dumps(call)
    assert not (tmp_path / "cisco").exists()


def test_unprivileged_without_secret_fails_cleanly(tmp_path: Path) -> None:
    with FakeCiscoDevice(IOS, platform="ios") as dev:
        result = collect_cisco(config(dev, tmp_path, "cisco_ios", secret=""))
    assert not result.ok and "enable secret" in (result.error or "")


def test_cli_reads_the_password_from_the_environment(tmp_path: Path) -> None:
    runner = CliRunner()
    with FakeCiscoDevice(IOS, platform="ios", hostname="br-edge-01") as dev:
        res = runner.invoke(app, ["collect", "cisco", "--host", "127.0.0.1", "--port", str(dev.port),
                                  "--device-type", "cisco_ios", "--username", "audit", "--out", str(tmp_path)],
                            env={"VPN_AUDITOR_SSH_PASSWORD": "audit-pw", "VPN_AUDITOR_SSH_SECRET": "enable-pw"})
    assert res.exit_code == 0, res.output
    assert (tmp_path / "cisco" / "br-edge-01.cfg").is_file()
    bad = runner.invoke(app, ["collect", "cisco", "--host", "127.0.0.1", "--device-type", "cisco_nxos",
                              "--username", "u", "--out", str(tmp_path)], env={"VPN_AUDITOR_SSH_PASSWORD": "x"})
    assert bad.exit_code == 2
    missing = runner.invoke(app, ["collect", "cisco", "--host", "127.0.0.1", "--device-type", "cisco_ios",
                                  "--username", "u", "--out", str(tmp_path)], env={"VPN_AUDITOR_SSH_PASSWORD": ""})
    assert missing.exit_code == 2



@pytest.mark.parametrize("variable", ["VPN_AUDITOR_SSH_PASSWORD", "VPN_AUDITOR_SSH_SECRET"])
@pytest.mark.parametrize("mode", ["host", "inventory"])
def test_a_password_with_a_line_break_is_refused_unshown(tmp_path: Path, variable: str, mode: str) -> None:
    """Typed at the device's prompt, a line break would make the rest of the password a command line (which the
    read-only guard refuses, printing it): refused before any connection, its value never shown."""
    env = {"VPN_AUDITOR_SSH_PASSWORD": "audit-pw", "VPN_AUDITOR_SSH_SECRET": "enable-pw"}
    env[variable] = "first-Part\nshow-Hidden-Tail"
    if mode == "host":
        target = ["--host", "127.0.0.1", "--port", "9"]
    else:
        inventory = tmp_path / "hosts.yaml"
        inventory.write_text("edge:\n  hostname: 127.0.0.1\n  port: 9\n  platform: cisco_ios\n")
        target = ["--inventory", str(inventory)]
    result = CliRunner().invoke(app, ["collect", "cisco", *target, "--device-type", "cisco_ios", "--username", "u",
                                      "--out", str(tmp_path / "out")], env=env)
    assert result.exit_code == 2, result.output
    assert "line break" in result.output and variable in result.output
    assert "Hidden-Tail" not in result.output and "first-Part" not in result.output
    assert not (tmp_path / "out" / "manifest.json").exists()

def test_redaction_keeps_lines_and_policy() -> None:
    text = ("username bob privilege 15 password 0 hunter22\n"
            "snmp-server user mon grp v3 auth sha AuthPass1 priv aes 128 PrivPass1\n"
            "ntp authentication-key 1 md5 NtpKey99 7\n"
            "key chain OSPF-KEYS\n"
            " key-string 7 0123ABCD\n"
            "tunnel-group T ipsec-attributes\n"
            " ikev2 remote-authentication pre-shared-key RemotePSK\n"
            "crypto keyring KR\n"
            " pre-shared-key address 0.0.0.0 0.0.0.0 key KeyringPSK\n"
            "object network key\n"
            "access-list OUT remark password policy: see wiki\n"
            " ip ospf message-digest-key 1 md5 7 0822455D0A16\n"
            " wpa-psk ascii 0 WifiPass\n")
    redacted, count = redact_config(text)
    for secret in ("hunter22", "AuthPass1", "PrivPass1", "NtpKey99", "0123ABCD", "RemotePSK", "KeyringPSK",
                   "0822455D0A16", "WifiPass"):
        assert secret not in redacted
    assert count == 9
    assert "key chain OSPF-KEYS" in redacted and "object network key" in redacted
    assert "access-list OUT remark password policy: see wiki" in redacted
    assert len(redacted.splitlines()) == len(text.splitlines())
    assert "ntp authentication-key 1 md5 <redacted> 7" in redacted
