"""connection_options.netmiko resolved as Nornir 3 resolves it (Host._get_connection_options_recursively):
the host's own, then each of its groups in turn *each with its own parents and then the defaults*, then the
defaults. So the defaults' netmiko settings come before those of a second group. Expected values below are what
nornir 3.6.0's SimpleInventory + get_connection_parameters("netmiko") gives for this inventory."""

from __future__ import annotations

from pathlib import Path

from auditor.collect.inventory import load_inventory, select
from auditor.vendors.cisco.collect import FLEET as CISCO


def test_netmiko_options_resolve_as_nornir_s_do(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("""
store-1:
  hostname: 10.0.0.1
  groups: [branch, emea]
store-2:
  hostname: 10.0.0.2
  groups: [emea-lab]
""")
    (tmp_path / "groups.yaml").write_text("""
branch:
  platform: ios
emea:
  connection_options:
    netmiko:
      port: 2222
      platform: cisco_asa
emea-lab:
  groups: [lab, emea]
lab: {}
""")
    (tmp_path / "defaults.yaml").write_text("""
username: audit
connection_options:
  netmiko:
    port: 22
    platform: cisco_ios
""")
    store1, store2 = load_inventory(tmp_path).devices
    for device in (store1, store2):  # nornir 3.6.0: port 22, platform cisco_ios for both
        ssh = device.connected_by("netmiko")
        assert (ssh.port, ssh.username, ssh.platform) == (22, "audit", "cisco_ios"), device.name
    targets, _ = select(load_inventory(tmp_path), CISCO)
    assert [t.device_type for t in targets] == ["cisco_ios", "cisco_ios"]


def test_a_group_s_netmiko_options_reach_its_hosts(tmp_path: Path) -> None:
    """The case above gives every host the defaults' values, which a resolution ignoring groups gives too: here
    the group's own options must win over the defaults' (nornir 3: the host, then its groups, then defaults)."""
    (tmp_path / "hosts.yaml").write_text("fw-1:\n  hostname: 10.0.0.9\n  groups: [emea]\n"
                                         "fw-2:\n  hostname: 10.0.0.10\n  groups: [emea-lab]\n")
    (tmp_path / "groups.yaml").write_text("emea:\n  connection_options:\n    netmiko:\n      port: 2222\n"
                                          "      platform: cisco_asa\nemea-lab:\n  groups: [emea]\n")
    (tmp_path / "defaults.yaml").write_text("connection_options:\n  netmiko:\n    port: 22\n    platform: cisco_ios\n")
    for device in load_inventory(tmp_path).devices:
        ssh = device.connected_by("netmiko")
        assert (ssh.port, ssh.platform) == (2222, "cisco_asa"), device.name
    targets, _ = select(load_inventory(tmp_path), CISCO)
    assert [t.device_type for t in targets] == ["cisco_asa", "cisco_asa"]
