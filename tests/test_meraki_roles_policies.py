"""Issue 21: Meraki roles and policies that a first audit missed, each one a false `allowed` before. Every test
builds the configuration twice, as it blocks (or cannot be decided) and as it passes, and checks verdicts and
reasons (docs/semantics/meraki.md, "Roles and policies: VLAN group policy L7, three readings, schedules,
VLAN variants, full tunnel, device types")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.snapshot_builder import MerakiSnapshot, path_for, verdicts


@pytest.fixture
def snap(tmp_path: Path) -> MerakiSnapshot:
    return MerakiSnapshot(tmp_path)


def _vlan_policy(l7: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"groupPolicyId": "7", "name": "Lab", "firewallAndTrafficShaping": {
        "settings": "custom", "l3FirewallRules": [], "l7FirewallRules": l7}}]


VLANS = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
         {"id": 50, "name": "Lab", "subnet": "10.0.50.0/24", "groupPolicyId": "7"}]


# -- item 1: a VLAN's group policy carries L7 rules too ---------------------------------------------------
def test_vlan_group_policy_l7_applies_at_the_mx(snap: MerakiSnapshot) -> None:
    net = snap.network(vlans=VLANS, policies=_vlan_policy(
        [{"policy": "deny", "type": "ipRange", "value": "198.51.100.0/24"}]))
    snap.ssid(net, 0, "Lab-Wifi", defaultVlanId=50)
    result = snap.audit()
    # The policy's ipRange deny may match the server: every flow of the VLAN is unknown, never allowed.
    assert set(verdicts(result, "Lab", kind="vlan").values()) == {"unknown"}
    assert set(verdicts(result, "Lab-Wifi", kind="ssid").values()) == {"unknown"}
    trace = path_for(result, "Lab", "udp/500").trace
    hop, seg = trace.unknown[0]
    assert (hop.device, hop.stage) == ("Store / MX", "group-policy-l7")
    assert "group policy 'Lab' L7 rule 1" in seg.rule.text and "198.51.100.0/24" in trace.reason
    assert seg.rule.origin.path == "meraki/networks/N_1/groupPolicies.json" and seg.rule.origin.index == 0
    assert set(verdicts(result, "Staff", kind="vlan").values()) == {"allowed"}


def test_vlan_group_policy_l7_elsewhere_passes(snap: MerakiSnapshot) -> None:
    net = snap.network(vlans=VLANS, policies=_vlan_policy(
        [{"policy": "deny", "type": "ipRange", "value": "203.0.113.0/24"},
         {"policy": "deny", "type": "port", "value": "4500"}]))
    snap.ssid(net, 0, "Lab-Wifi", defaultVlanId=50)
    result = snap.audit()
    got = verdicts(result, "Lab", kind="vlan")
    assert (got["udp/500"], got["udp/4500"], got["tcp/443"]) == ("allowed", "unknown", "allowed")
    assert "group-policy-l7" in path_for(result, "Lab", "udp/4500").trace.reason
