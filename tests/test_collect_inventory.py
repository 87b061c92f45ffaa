"""`collect cisco|f5|kemp|netscaler --inventory FILE`: a Nornir SimpleInventory, devices collected concurrently.

Cisco devices are fake SSH devices driven by the real netmiko; load balancers are fake REST servers. Every
device runs on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli_collect import collect_app
from auditor.collect.inventory import InventoryError, load_inventory, select
from auditor.snapshot import Snapshot
from auditor.vendors.cisco.collect import FLEET as CISCO
from auditor.vendors.lb.collect import FLEETS
from tests.fakes.cisco_ssh import FakeCiscoDevice
from tests.fakes.lb_servers import FakeLoadBalancer

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

FIXTURES = Path(__file__).parents[1] / "fixtures"
IOS = (FIXTURES / "cisco" / "ios-vpn.cfg").read_text()
ASA = (FIXTURES / "cisco" / "asa-vpn.cfg").read_text()
SSH_ENV = {"VPN_AUDITOR_SSH_PASSWORD": "audit-pw", "VPN_AUDITOR_SSH_SECRET": "enable-pw"}
LB_ENV = {"VPN_AUDITOR_LB_USERNAME": "auditor", "VPN_AUDITOR_LB_PASSWORD": "s3cret-pass"}


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text())


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- reading the inventory -----------------------------------------------------------------------------------
def test_attributes_come_from_host_groups_then_defaults(tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", """
hq-asa:
  hostname: 10.0.0.1
  groups: [asa, site-a]
  password: never-read
br-01:
  groups: [site-a]
  platform: ios
  connection_options:
    netmiko:
      platform: cisco_xe
      port: 2222
lone: {}
""")
    write(tmp_path, "groups.yaml", """
asa:
  platform: cisco_asa
  username: fw-audit
site-a:
  port: 8022
  groups: [emea]
emea:
  username: emea-audit
  data: {region: emea}
""")
    write(tmp_path, "defaults.yaml", "username: audit\nport: 22\n")
    inventory = load_inventory(tmp_path)  # the folder: hosts.yaml in it
    hq, br, lone = inventory.devices
    assert (hq.name, hq.hostname, hq.platform, hq.username, hq.port) == ("hq-asa", "10.0.0.1", "cisco_asa",
                                                                          "fw-audit", 8022)
    assert hq.groups == ("asa", "site-a", "emea")  # each group, then the groups it is in
    # For SSH, connection_options.netmiko overrides field by field; hostname defaults to the host's name.
    ssh = br.connected_by("netmiko")
    assert (ssh.hostname, ssh.platform, ssh.port, ssh.username) == ("br-01", "cisco_xe", 2222, "emea-audit")
    # Any other collector (REST) sees the plain attributes only.
    assert (br.hostname, br.platform, br.port, br.username) == ("br-01", "ios", 8022, "emea-audit")
    assert br.connected_by(None) == br
    assert (lone.hostname, lone.platform, lone.port, lone.username, lone.groups) == ("lone", None, 22, "audit", ())
    assert inventory.with_password == ["hq-asa"]
    assert inventory.files == [str(tmp_path / f) for f in ("hosts.yaml", "groups.yaml", "defaults.yaml")]


@pytest.mark.parametrize(("hosts", "groups", "words"), [
    ("a:\n  groups: [nope]\n", None, "is in group 'nope', which is not defined"),
    ("a:\n  groups: [x]\n", "x:\n  groups: [y]\ny:\n  groups: [x]\n", "form a cycle"),
    ("a:\n  port: 70000\n", None, "port 70000 is not a TCP port"),
    ("a: [1, 2]\n", None, "expected a mapping"),
    ("- a\n- b\n", None, "expected a mapping of names"),
    ("a:\n  hostname: [x\n", None, "line 3: malformed YAML"),
    ("a:\n  groups: web\n", None, "groups must be a list"),
])
def test_unusable_inventories_name_the_file_and_host(tmp_path: Path, hosts: str, groups: str | None,
                                                     words: str) -> None:
    write(tmp_path, "hosts.yaml", hosts)
    if groups is not None:
        write(tmp_path, "groups.yaml", groups)
    with pytest.raises(InventoryError, match=words) as info:
        load_inventory(tmp_path / "hosts.yaml")
    assert "hosts.yaml" in str(info.value) or "groups.yaml" in str(info.value)


@pytest.mark.parametrize(("file", "text", "said"), [
    ("hosts.yaml", "hq-asa:\n  hostname: 10.0.0.1\nbr-01: {}\nhq-asa:\n  hostname: 10.0.0.2\n",
     "hosts.yaml line 4: 'hq-asa' is defined twice (first on line 1)"),
    ("groups.yaml", "branch:\n  platform: ios\nbranch:\n  platform: cisco_xe\n",
     "groups.yaml line 3: 'branch' is defined twice (first on line 1)"),
    ("defaults.yaml", "username: audit\nport: 22\nusername: other\n",
     "defaults.yaml line 3: 'username' is defined twice (first on line 1)"),
    ("hosts.yaml", "a: {hostname: x, port: 22, port: 2222}\n", "hosts.yaml line 1: 'port' is defined twice"),
])
def test_a_name_given_twice_is_refused_not_dropped(tmp_path: Path, file: str, text: str, said: str) -> None:
    """YAML keeps the last of two equal keys: a host or group listed twice would vanish without a word."""
    write(tmp_path, "hosts.yaml", "hq-asa: {platform: cisco_asa, groups: [branch]}\nbr-01: {groups: [branch]}\n")
    write(tmp_path, "groups.yaml", "branch: {}\n")
    write(tmp_path, file, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(tmp_path)
    assert said in str(info.value) and str(tmp_path / file) in str(info.value)
    result = CliRunner().invoke(collect_app, ["cisco", "--inventory", str(tmp_path), "--out", str(tmp_path / "snap")],
                                env=SSH_ENV)
    assert result.exit_code == 2 and said in result.output, result.output


def test_a_password_or_secret_under_any_connection_option_is_named_never_shown(tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", """
r1:
  hostname: 127.0.0.9
  platform: ios
  groups: [lab]
  connection_options:
    napalm: {password: napalm-pw-1}
    netmiko:
      extras: {secret: enable-pw-2}
r2: {platform: ios, connection_options: {netmiko: {extras: {Secret: enable-pw-3}}}}
r3: {platform: ios, connection_options: {custom: {extras: {nested: [{password: deep-pw-4}]}}}}
r4: {platform: ios, connection_options: {netmiko: {extras: {secret: "", password: null}}}}
clean: {platform: ios, connection_options: {netmiko: {port: 22, extras: {fast_cli: false}}}}
""")
    write(tmp_path, "groups.yaml", "lab:\n  connection_options:\n    paramiko:\n      extras: {password: grp-pw-5}\n")
    write(tmp_path, "defaults.yaml", "connection_options:\n  netmiko:\n    secret: dflt-pw-6\n")
    assert load_inventory(tmp_path).with_password == ["r1", "r2", "r3", "lab", "defaults"]
    # --group of no host: the warning is said before any device would be contacted, then exit 2.
    result = CliRunner().invoke(collect_app, ["cisco", "--inventory", str(tmp_path), "--out", str(tmp_path / "snap"),
                                              "--group", "none-such"], env=SSH_ENV)
    assert result.exit_code == 2, result.output
    warning = next(line for line in result.output.splitlines() if "passwords in the inventory" in line)
    assert "(r1, r2, r3, lab, defaults)" in warning, result.output
    assert not any(f"-pw-{n}" in result.output for n in range(1, 7)), result.output


def test_each_command_takes_its_platforms(tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", """
asa1: {platform: cisco_asa, groups: [dc]}
rtr1: {platform: ios}
sw1: {platform: arista_eos}
lb1: {platform: bigip, groups: [dc]}
lb2: {platform: kemp}
ns1: {platform: citrix_netscaler}
bare: {}
""")
    write(tmp_path, "groups.yaml", "dc: {}\n")
    inventory = load_inventory(tmp_path / "hosts.yaml")
    cisco, skipped = select(inventory, CISCO)
    assert [(t.device.name, t.device_type, t.problem) for t in cisco] == [
        ("asa1", "cisco_asa", None), ("rtr1", "cisco_ios", None),
        ("bare", None, "no platform in the inventory and no --device-type")]
    assert {d.name for d in skipped} == {"sw1", "lb1", "lb2", "ns1"}
    cisco, _ = select(inventory, CISCO, device_type="cisco_xe")
    assert cisco[-1].device_type == "cisco_xe" and cisco[-1].problem is None
    assert [t.device.name for t in select(inventory, FLEETS["f5"])[0]] == ["lb1", "bare"]
    assert [t.device.name for t in select(inventory, FLEETS["netscaler"])[0]] == ["ns1", "bare"]
    assert [t.device.name for t in select(inventory, CISCO, ["dc"])[0]] == ["asa1"]


# --- Cisco over SSH ------------------------------------------------------------------------------------------
class Gauge:
    """How many sessions are sending their configuration at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.peak = 0

    def slow(self, text: str, seconds: float) -> Any:
        def pieces() -> Iterator[str]:
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(seconds)
            yield text
            with self.lock:
                self.active -= 1
        return pieces


@pytest.mark.parametrize("workers", [1, 3])
def test_cisco_devices_concurrently_one_failure_stops_nothing(tmp_path: Path, workers: int) -> None:
    gauge = Gauge()
    with FakeCiscoDevice(gauge.slow(IOS, 0.8), platform="ios", hostname="br-edge-01") as r1, \
            FakeCiscoDevice(gauge.slow(IOS, 0.8), platform="ios", hostname="br-edge-02") as r2, \
            FakeCiscoDevice(gauge.slow(ASA, 0.8), platform="asa", hostname="hq-asa") as fw, \
            FakeCiscoDevice(IOS, platform="ios", hostname="locked", password="other-pw") as locked:
        write(tmp_path / "inv", "hosts.yaml", f"""
store-1: {{hostname: 127.0.0.1, port: {r1.port}, groups: [branch]}}
store-2: {{hostname: 127.0.0.1, port: {r2.port}, groups: [branch]}}
hq-asa: {{hostname: 127.0.0.1, port: {fw.port}, platform: cisco_asa}}
locked: {{hostname: 127.0.0.1, port: {locked.port}, groups: [branch]}}
gone: {{hostname: 127.0.0.1, port: {closed_port()}, groups: [branch]}}
mystery: {{hostname: 127.0.0.1}}
core-sw: {{hostname: 127.0.0.1, platform: arista_eos}}
""")
        write(tmp_path / "inv", "groups.yaml", "branch:\n  platform: ios\n  password: in-the-file\n")
        write(tmp_path / "inv", "defaults.yaml", "username: audit\n")
        out = tmp_path / "snap"
        started = time.monotonic()
        result = CliRunner().invoke(collect_app, ["cisco", "--inventory", str(tmp_path / "inv" / "hosts.yaml"),
                                                  "--out", str(out), "--workers", str(workers), "--timeout", "5"],
                                    env=SSH_ENV)
        elapsed = time.monotonic() - started

    assert result.exit_code == 3, result.output
    assert {p.name for p in (out / "cisco").iterdir()} == {"store-1.cfg", "store-2.cfg", "hq-asa.cfg"}
    lines = [line for line in result.output.splitlines() if line.startswith("[")]
    assert sorted(line.split("]")[0] for line in lines) == [f"[{k}/6" for k in range(1, 7)]
    by_name = {line.split(" ", 2)[1]: line for line in lines}
    assert "ok: cisco/store-1.cfg" in by_name["cisco/store-1"] and "ok: cisco/hq-asa.cfg" in by_name["cisco/hq-asa"]
    assert "failed: authentication failed" in by_name["cisco/locked"]
    assert "failed:" in by_name["cisco/gone"]
    assert "no platform in the inventory and no --device-type" in by_name["cisco/mystery"]
    assert "1 host(s) of other platforms or groups skipped: core-sw" in result.output
    assert "passwords in the inventory are not read (branch)" in result.output and "in-the-file" not in result.output
    data = manifest(out)
    runs = {r["parameters"]["inventory"]["host"]: r for r in data["runs"]}
    assert sorted(runs) == ["gone", "hq-asa", "locked", "mystery", "store-1", "store-2"]  # one entry per device
    assert runs["store-1"]["parameters"]["inventory"]["groups"] == ["branch"]
    assert runs["store-1"]["summary"]["ok"] == 1 and runs["locked"]["summary"]["failed"] == 1
    failed = {c["file"] for c in data["calls"] if c["outcome"] == "failed"}
    assert failed == {"cisco/locked.cfg", "cisco/gone.cfg", "cisco/mystery.cfg"}
    assert "in-the-file" not in json.dumps(data) and "audit-pw" not in json.dumps(data)
    # The audit reads what was collected, and names what was not.
    assert {c["file"] for c in Snapshot(out).failed_calls()} == failed
    # A bounded pool: never more sessions at once than workers, and as many as it allows.
    assert gauge.peak == min(workers, 3)
    if workers == 1:
        assert elapsed >= 3 * 0.8


# --- load balancers over REST --------------------------------------------------------------------------------
def test_load_balancers_from_one_inventory(tmp_path: Path) -> None:
    with FakeLoadBalancer("f5", FIXTURES / "lb" / "f5" / "rest-sticky") as lb1, \
            FakeLoadBalancer("f5", FIXTURES / "lb" / "f5" / "rest-sticky", password="other") as lb2, \
            FakeLoadBalancer("kemp", FIXTURES / "lb" / "kemp" / "sticky-port-following.xml") as km:
        write(tmp_path, "hosts.yaml", f"""
edge-lb1: {{hostname: "{lb1.url}", platform: bigip}}
edge-lb2: {{hostname: "{lb2.url}", platform: f5_ltm}}
edge-lb3: {{hostname: "http://127.0.0.1:{closed_port()}", platform: f5}}
km1: {{hostname: "{km.url}", platform: kemp}}
""")
        out = tmp_path / "snap"
        f5 = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path / "hosts.yaml"), "--out", str(out),
                                              "--timeout", "5"], env=LB_ENV)
        kemp = CliRunner().invoke(collect_app, ["kemp", "--inventory", str(tmp_path / "hosts.yaml"), "--out",
                                                str(out)], env=LB_ENV)
    assert f5.exit_code == 3, f5.output
    assert kemp.exit_code == 0, kemp.output
    assert (out / "f5" / "edge-lb1" / "ltm" / "virtual.json").is_file()
    assert not (out / "f5" / "edge-lb2").exists() or not list((out / "f5" / "edge-lb2").rglob("*.json"))
    assert (out / "kemp" / "km1.xml").is_file()
    assert "host(s) of other platforms or groups skipped: km1" in f5.output
    assert "warning: plain HTTP for edge-lb1, edge-lb2, edge-lb3" in f5.output
    runs = manifest(out)["runs"]
    assert [r["parameters"]["inventory"]["host"] for r in runs if r["collector"] == "f5"] \
        and sorted(r["parameters"]["inventory"]["host"] for r in runs) == ["edge-lb1", "edge-lb2", "edge-lb3", "km1"]
    assert {m for lb in (lb1, lb2, km) for m, _, _ in lb.requests} == {"GET"}


def test_netmiko_options_are_for_ssh_only_rest_takes_the_host_s_own(tmp_path: Path) -> None:
    """connection_options.netmiko (here on the host and on its group) is what an SSH session uses: a REST
    collector goes to the host's own URL, port included, as the host's own user (inherited from its group)."""
    with FakeLoadBalancer("f5", FIXTURES / "lb" / "f5" / "rest-sticky", username="lb-audit") as lb:
        write(tmp_path, "hosts.yaml", f"""
edge-lb1:
  hostname: "{lb.url}"
  platform: bigip
  groups: [lbs]
  connection_options:
    netmiko: {{hostname: 127.0.0.5, port: {closed_port()}, username: root, platform: f5_tmsh}}
""")
        write(tmp_path, "groups.yaml", "lbs:\n  username: lb-audit\n  connection_options:\n"
                                       "    netmiko: {username: netmiko-user}\n")
        (target,), _ = select(load_inventory(tmp_path), FLEETS["f5"])
        assert (target.device.hostname, target.device.username, target.device.platform) == (lb.url, "lb-audit",
                                                                                          "bigip")
        assert select(load_inventory(tmp_path), CISCO)[0] == []  # f5_tmsh for SSH: not a Cisco host
        out = tmp_path / "snap"
        result = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path), "--out", str(out),
                                                  "--timeout", "5"],
                                    env={"VPN_AUDITOR_LB_PASSWORD": LB_ENV["VPN_AUDITOR_LB_PASSWORD"],
                                         "VPN_AUDITOR_LB_USERNAME": None})
    assert result.exit_code == 0, result.output
    assert lb.requests and {m for m, _, _ in lb.requests} == {"GET"}
    assert (out / "f5" / "edge-lb1" / "ltm" / "virtual.json").is_file()
    assert manifest(out)["runs"][0]["parameters"]["host"] == lb.url


def test_the_inventory_s_username_wins_over_the_environment_s_and_says_so(tmp_path: Path) -> None:
    """A host's username in the inventory is the one used; VPN_AUDITOR_LB_USERNAME is for hosts without one. When
    both are set and differ, one warning line names the device and the user it is collected as."""
    rest = FIXTURES / "lb" / "f5" / "rest-sticky"
    with FakeLoadBalancer("f5", rest, username="lb-audit") as own, FakeLoadBalancer("f5", rest) as bare:
        write(tmp_path, "hosts.yaml", f"""
edge-lb1: {{hostname: "{own.url}", platform: bigip, groups: [lbs]}}
edge-lb2: {{hostname: "{bare.url}", platform: bigip}}
""")
        write(tmp_path, "groups.yaml", "lbs: {username: lb-audit}\n")
        out = tmp_path / "snap"
        result = CliRunner().invoke(collect_app, ["f5", "--inventory", str(tmp_path), "--out", str(out),
                                                  "--timeout", "5"], env=LB_ENV)  # VPN_AUDITOR_LB_USERNAME=auditor
    assert result.exit_code == 0, result.output  # each fake accepts only its own user
    assert (out / "f5" / "edge-lb1" / "ltm" / "virtual.json").is_file()
    assert (out / "f5" / "edge-lb2" / "ltm" / "virtual.json").is_file()
    warnings = [line for line in result.output.splitlines() if "username" in line]
    assert warnings == ["vpn-auditor collect: warning: the inventory's username is used, not "
                        "VPN_AUDITOR_LB_USERNAME (auditor), for edge-lb1 (lb-audit)"], result.output
    assert LB_ENV["VPN_AUDITOR_LB_PASSWORD"] not in result.output


# --- the command line ------------------------------------------------------------------------------------------
def test_inventory_usage_errors(tmp_path: Path) -> None:
    write(tmp_path, "hosts.yaml", "sw1: {platform: arista_eos}\n")
    runner = CliRunner()
    cases = [
        (["cisco", "--inventory", str(tmp_path / "hosts.yaml"), "--host", "10.0.0.1"], "leave out --host"),
        (["cisco", "--inventory", str(tmp_path / "none.yaml")], "no such file"),
        (["cisco", "--inventory", str(tmp_path / "hosts.yaml")], "no host for `collect cisco`"),
        (["f5", "--inventory", str(tmp_path / "hosts.yaml"), "--name", "x"], "leave out --host and --name"),
        (["cisco"], "give --host, --device-type and --username (or --inventory)"),
        (["netscaler"], "give --host (or --inventory)"),
    ]
    for args, words in cases:
        result = runner.invoke(collect_app, [*args, "--out", str(tmp_path / "snap")], env={**SSH_ENV, **LB_ENV})
        assert result.exit_code == 2, (args, result.output)
        assert words in result.output, (args, result.output)


def test_an_interrupted_inventory_records_every_device(tmp_path: Path) -> None:
    """SIGTERM: the device in progress finishes (its read timeout bounds it), the others are never contacted,
    and every device has its run in the manifest."""
    import os
    import signal
    import subprocess
    import sys

    started = threading.Event()

    def trickle() -> Iterator[str]:
        started.set()
        while True:
            time.sleep(0.2)
            yield "!\n"

    root = Path(__file__).resolve().parents[1]
    with FakeCiscoDevice(trickle, start_privileged=True) as slow, FakeCiscoDevice(IOS) as second, \
            FakeCiscoDevice(IOS) as third:
        write(tmp_path, "hosts.yaml", "".join(
            f"{name}: {{hostname: 127.0.0.1, port: {dev.port}, platform: ios, username: audit}}\n"
            for name, dev in (("slow", slow), ("second", second), ("third", third))))
        out = tmp_path / "snap"
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from auditor.cli import main; sys.argv[0] = 'vpn-auditor'; main()",
             "collect", "cisco", "--inventory", str(tmp_path / "hosts.yaml"), "--out", str(out), "--workers", "1",
             "--read-timeout", "2"],
            cwd=root, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(root), **SSH_ENV})
        assert started.wait(30)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert second.received == [] and third.received == []  # never contacted
    assert proc.returncode == 3 and "Traceback" not in err, err
    assert "interrupted: 1 device(s) in progress finish first" in err
    runs = {r["parameters"]["inventory"]["host"]: r for r in manifest(out)["runs"]}
    assert sorted(runs) == ["second", "slow", "third"]
    assert runs["second"]["interrupted"] is True and runs["third"]["interrupted"] is True
    assert runs["slow"]["summary"]["failed"] == 1  # its read timeout
    calls = {c["file"]: c for c in manifest(out)["calls"]}
    assert calls["cisco/second.cfg"]["error"].startswith("interrupted (SIGINT or SIGTERM) before the device")
