"""Cellular failover: while an MX uses its cellular uplink, its cellular failover rules are appended to its
L3 outbound rules (before the default allow). An MX that can fail over is audited both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.snapshot_builder import MX_DEFAULT_ROW, MerakiSnapshot, deny, path_for, verdicts

NET = "N_1"
CELLULAR = f"meraki/networks/{NET}/appliance/firewall/cellularFirewallRules.json"
STATUSES = "meraki/organizations/1/appliance/uplink/statuses.json"


def org(tmp_path: Path, *, cellular_rules: list[dict[str, Any]] | None, uplinks: list[dict[str, Any]] | None,
        mx_rules: list[dict[str, Any]] | None = None) -> MerakiSnapshot:
    snap = MerakiSnapshot(tmp_path / "org")
    snap.network(NET, "Store", products=("appliance",), mx_rules=mx_rules)
    if cellular_rules is not None:
        snap.write(CELLULAR, {"rules": [*[{"srcCidr": "Any", "srcPort": "Any", **r} for r in cellular_rules],
                                        MX_DEFAULT_ROW]})
    if uplinks is not None:
        snap.write(STATUSES, [{"networkId": NET, "uplinks": uplinks}])
    else:
        snap.remove(STATUSES)
    return snap


WAN = {"interface": "wan1", "status": "active", "publicIp": "192.0.2.10"}
LTE = {"interface": "cellular", "status": "ready", "publicIp": "100.70.1.2"}
NO_IKE = [deny("udp", "500", comment="cellular: no IKE")]


def test_cellular_rules_that_deny_vpn_leave_the_path_unknown(tmp_path: Path) -> None:
    result = org(tmp_path, cellular_rules=NO_IKE, uplinks=[WAN, LTE]).audit()
    assert verdicts(result, "Staff") == {"udp/500": "unknown", "udp/4500": "allowed", "udp/1701": "unknown",
                                         "tcp/443": "allowed"}
    trace = path_for(result, "Staff", "udp/500").trace
    assert "VLAN 10: allowed; VLAN 10, on cellular failover: blocked" in trace.reason
    assert "by rule 1 (deny udp Any:Any -> Any:500) \"cellular: no IKE\"" in trace.reason
    role = next(p.role for p in result.paths if p.role.name == "Staff")
    assert any("cellular uplink" in note for note in role.notes)


def test_cellular_rules_come_after_the_l3_rules(tmp_path: Path) -> None:
    # The L3 list already denies IKE: on cellular too, so the verdict is decided.
    result = org(tmp_path, cellular_rules=NO_IKE, uplinks=[WAN, LTE], mx_rules=[deny("udp", "500")]).audit()
    assert verdicts(result, "Staff")["udp/500"] == "blocked"


def test_no_cellular_uplink_no_cellular_way(tmp_path: Path) -> None:
    result = org(tmp_path, cellular_rules=NO_IKE, uplinks=[WAN]).audit()
    assert set(verdicts(result, "Staff").values()) == {"allowed"}
    assert not path_for(result, "Staff", "udp/500").trace.variants


def test_without_uplink_statuses_the_cellular_rules_count(tmp_path: Path) -> None:
    result = org(tmp_path, cellular_rules=NO_IKE, uplinks=None).audit()
    assert verdicts(result, "Staff")["udp/500"] == "unknown"
    # No cellular rule: nothing is unknown on cellular's account. (The IPsec flows are unknown all the same:
    # without the statuses the server may be this very MX, whose Client VPN its own LAN cannot use.)
    result = org(tmp_path / "none", cellular_rules=[], uplinks=None).audit()
    assert verdicts(result, "Staff") == {"udp/500": "unknown", "udp/4500": "unknown", "udp/1701": "unknown",
                                         "tcp/443": "allowed"}
    assert not path_for(result, "Staff", "udp/4500").trace.variants
    assert path_for(result, "Staff", "udp/4500").trace.unknown[0][0].stage == "client-vpn-from-lan"


def test_a_cellular_uplink_without_its_rules_is_unknown(tmp_path: Path) -> None:
    result = org(tmp_path, cellular_rules=None, uplinks=[WAN, LTE]).audit()
    assert set(verdicts(result, "Staff").values()) == {"unknown"}
    assert any(g.path == CELLULAR for n in result.model.networks for g in n.gaps)
