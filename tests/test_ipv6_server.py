"""A VPN server at an IPv6 address: only a role's IPv6 sources can reach it, and the MX routes them without
translation (it translates IPv4 only). A role with no IPv6 address in the snapshot is unknown, never allowed."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.model import Decision, SourceNatHop
from auditor.packets import PacketSet, address_interval
from auditor.snapshot import SnapshotError
from tests.snapshot_builder import MerakiSnapshot, deny, path_for, verdicts

SERVER6 = "2001:db8:100::10"
PREFIX = "2001:db8:14:10::/64"


def snapshot(tmp_path: Path, ipv6: object = None, mx_rules: list | None = None) -> MerakiSnapshot:
    snap = MerakiSnapshot(tmp_path, servers=[{"name": "vpn6", "address": SERVER6, "protocols": ["ikev2"]}])
    vlan: dict = {"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"}
    if ipv6 is not None:
        vlan["ipv6"] = ipv6
    snap.network(vlans=[vlan], mx_rules=mx_rules)
    return snap


def static(prefix: str = PREFIX) -> dict:
    return {"enabled": True, "prefixAssignments": [
        {"autonomous": False, "staticPrefix": prefix, "origin": {"type": "internet", "interfaces": ["wan0"]}}]}


@pytest.mark.parametrize("ipv6", [None, {"enabled": False}, {"enabled": True, "prefixAssignments": []}])
def test_a_vlan_without_ipv6_cannot_be_called_allowed_to_an_ipv6_server(tmp_path: Path, ipv6: object) -> None:
    result = snapshot(tmp_path, ipv6).audit()
    assert verdicts(result, "Staff", kind="vlan") == {"udp/500": "unknown", "udp/4500": "unknown"}
    reason = path_for(result, "Staff", "udp/500").trace.reason
    assert reason.startswith("udp/500: vpn6 is at an IPv6 address (2001:db8:100::10) and the role has no IPv6 "
                             "address in the snapshot (only 10.0.10.0/24): IPv6 is disabled on its VLAN")
    assert {f.check.kind for f in result.findings} >= {"unknown-flow"}


def test_a_static_prefix_reaches_the_server_untranslated(tmp_path: Path) -> None:
    # A deny of the VLAN's IPv4 subnet does not touch its IPv6 clients.
    result = snapshot(tmp_path, static(), [deny("udp", "500", "Any", srcCidr="10.0.10.0/24")]).audit()
    # nothing translates IPv6 on the way: IKE uses plain ESP, not NAT-T (RFC 7296 section 2.23)
    assert verdicts(result, "Staff", kind="vlan") == {"udp/500": "allowed", "esp": "allowed"}
    trace = path_for(result, "Staff", "udp/500").trace
    nat = next(h for h in trace.hops if h.hop.stage == "uplink-nat")
    assert nat.decision is Decision.PERMIT
    assert nat.segments[0].reason.startswith("IPv6 is routed, not translated")
    assert trace.allowed.describe_sources() == PREFIX


def test_a_rule_on_the_ipv6_prefix_decides(tmp_path: Path) -> None:
    rules = [deny("udp", "500", f"{SERVER6}/128", srcCidr=PREFIX, comment="no IKE from staff v6")]
    result = snapshot(tmp_path, static(), rules).audit()
    assert verdicts(result, "Staff", kind="vlan") == {"udp/500": "blocked", "esp": "allowed"}
    reason = path_for(result, "Staff", "udp/500").trace.reason
    assert "by rule 1" in reason and '"no IKE from staff v6"' in reason


def test_a_delegated_prefix_is_some_global_prefix(tmp_path: Path) -> None:
    # The ISP delegates the prefix (no staticPrefix): a rule on one global block decides only for that block.
    ipv6 = {"enabled": True, "prefixAssignments": [{"autonomous": True, "origin": {"type": "internet"}}]}
    result = snapshot(tmp_path, ipv6, [deny("udp", "500", "Any", srcCidr="2001:db8::/32")]).audit()
    assert verdicts(result, "Staff", kind="vlan") == {"udp/500": "partial", "esp": "allowed"}
    assert "blocked for sources 2001:db8::/32" in path_for(result, "Staff", "udp/500").trace.reason


def test_nat_mode_clients_have_no_ipv6_but_tagged_ones_do(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, static())
    snap.ssid("N_1", 0, "Tagged")
    snap.ssid("N_1", 1, "Natted", ipAssignmentMode="NAT mode", useVlanTagging=False)
    result = snap.audit()
    assert verdicts(result, "Tagged", kind="ssid") == {"udp/500": "allowed", "esp": "allowed"}
    assert verdicts(result, "Natted", kind="ssid") == {"udp/500": "unknown", "udp/4500": "unknown"}
    assert "its SSID gives clients IPv4 only (NAT mode)" in path_for(result, "Natted", "udp/500").trace.reason


def test_untagged_clients_in_vlans_with_and_without_ipv6_are_unknown(tmp_path: Path) -> None:
    # Bridged and untagged: the AP's VLAN is not named, so every VLAN is a possible path. Clients in VLAN 10
    # reach the server over IPv6, clients in VLAN 20 have no IPv6 address: the paths disagree.
    snap = MerakiSnapshot(tmp_path, servers=[{"name": "vpn6", "address": SERVER6, "protocols": ["ikev2"]}])
    snap.network(vlans=[{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24", "ipv6": static()},
                        {"id": 20, "name": "POS", "subnet": "10.0.20.0/24"}])
    snap.ssid("N_1", 0, "Untagged", useVlanTagging=False)
    result = snap.audit()
    assert verdicts(result, "Untagged", kind="ssid") == {"udp/500": "unknown", "esp": "unknown"}
    trace = path_for(result, "Untagged", "udp/500").trace
    assert sorted((v.variant, v.verdict) for v in trace.variants) == [
        ("VLAN 10 (untagged: the AP's VLAN)", "allowed"), ("VLAN 20 (untagged: the AP's VLAN)", "unknown")]


def test_an_ipv4_server_is_unchanged_by_ipv6_prefixes(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, static())
    snap.config = MerakiSnapshot(tmp_path / "x").config  # the default IPv4 server
    trace = path_for(snap.audit(), "Staff", "udp/500").trace
    assert trace.verdict == "allowed"
    nat = next(h for h in trace.hops if h.hop.stage == "uplink-nat")
    assert nat.decision is Decision.TRANSLATE


@pytest.mark.parametrize(("ipv6", "message"), [
    ("yes", "'ipv6' to be an object"),
    ({"enabled": True, "prefixAssignments": {"staticPrefix": PREFIX}}, "'prefixAssignments' to be a list"),
    ({"enabled": True, "prefixAssignments": [{"staticPrefix": "10.9.0.0/16"}]}, "is not an IPv6 prefix"),
    ({"enabled": True, "prefixAssignments": [{"staticPrefix": "2001:db8::zz/64"}]}, "bad subnet"),
])
def test_malformed_ipv6_settings_name_the_vlan(tmp_path: Path, ipv6: object, message: str) -> None:
    with pytest.raises(SnapshotError) as err:
        snapshot(tmp_path, ipv6).audit()
    assert "appliance/vlans.json[0]" in str(err.value) and message in str(err.value)


def test_source_nat_translates_ipv4_and_routes_ipv6() -> None:
    public = [address_interval("192.0.2.14")]
    hop = SourceNatHop("Store / MX", "uplink-nat", None, public, "to the uplink")
    server_v4, server_v6 = address_interval("198.51.100.10"), address_interval(SERVER6)
    mixed = PacketSet.of(src=[address_interval("10.0.10.0/24")], dst=[server_v4]) | \
        PacketSet.of(src=[address_interval(PREFIX)], dst=[server_v6])
    translated, routed = hop.apply(mixed)
    assert translated.decision is Decision.TRANSLATE and routed.decision is Decision.PERMIT
    assert translated.leaving == PacketSet.of(src=public, dst=[server_v4])
    assert routed.packets == routed.leaving == PacketSet.of(src=[address_interval(PREFIX)], dst=[server_v6])
