"""Each Meraki semantic of docs/semantics/meraki.md, on a small snapshot of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.snapshot import SnapshotError
from tests.snapshot_builder import SERVER, MerakiSnapshot, allow, deny, finding_kinds, path_for, verdicts

ALL_ALLOWED = {"udp/500": "allowed", "udp/4500": "allowed", "udp/1701": "allowed", "tcp/443": "allowed"}


@pytest.fixture
def snap(tmp_path: Path) -> MerakiSnapshot:
    return MerakiSnapshot(tmp_path)


def test_first_match_top_to_bottom_with_allow_all_default(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "Guest", rules=[
        allow("udp", "500", SERVER + "/32", "first match wins"),
        deny("udp", "500,4500"),
    ])
    result = snap.audit()
    got = verdicts(result, "Guest", kind="ssid")
    # udp/1701 travels inside IPsec: blocked with its carrier udp/4500
    assert got == {**ALL_ALLOWED, "udp/4500": "blocked", "udp/1701": "blocked"}
    blocked = path_for(result, "Guest", "udp/4500")
    hop, seg = blocked.trace.blocked[0]
    assert (hop.stage, seg.rule.position, seg.rule.text) == ("ssid-l3", 2, "deny udp -> Any:500,4500")
    # udp/500 is decided by rule 1, not by the later deny nor the default
    decided = path_for(result, "Guest", "udp/500").trace.hops[0].principal
    assert decided.rule.position == 1


def test_synthetic_rows_are_modelled_once(snap: MerakiSnapshot, tmp_path: Path) -> None:
    """The GET's trailing rows are the LAN rule and the default; a private server hits the LAN rule."""
    snap.config["vpn_servers"][0]["address"] = "10.50.0.10"
    net = snap.network()
    snap.ssid(net, 0, "NoLan", allow_lan=False)
    snap.ssid(net, 1, "Lan", allow_lan=True)
    result = snap.audit()
    assert set(verdicts(result, "NoLan", kind="ssid").values()) == {"blocked"}
    assert verdicts(result, "Lan", kind="ssid") == ALL_ALLOWED
    _hop, seg = path_for(result, "NoLan", "udp/500").trace.blocked[0]
    # position 1 = the LAN row (no user rules); the default row is position 2 and not a user rule
    assert seg.rule.position == 1 and seg.rule.synthetic
    rule_list = result.model.networks[0].rule_lists[0][1]
    assert [r.position for r in rule_list.rules] == [1] and rule_list.default.position == 2


def test_values_any_case_comma_lists_ranges_and_cidrs(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "Ranges", rules=[deny("UDP", "1000-2000, 4500", "203.0.113.0/24, 198.51.100.0/25")])
    snap.ssid(net, 1, "AnyCase", rules=[deny("ANY", "ANY", "198.51.100.10")])
    snap.ssid(net, 2, "Miss", rules=[deny("udp", "499,501-4499,4501-65535", "any")])
    result = snap.audit()
    assert verdicts(result, "Ranges", kind="ssid") == {**ALL_ALLOWED, "udp/4500": "blocked", "udp/1701": "blocked"}
    assert set(verdicts(result, "AnyCase", kind="ssid").values()) == {"blocked"}
    # a deny of plain udp/1701 decides nothing: L2TP/IPsec carries it inside udp/500 and udp/4500
    assert verdicts(result, "Miss", kind="ssid") == ALL_ALLOWED


def test_vlan_references_resolve_from_the_networks_vlans(snap: MerakiSnapshot) -> None:
    vlans = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
             {"id": 30, "name": "Guest", "subnet": "10.0.30.0/24"}]
    net = snap.network(vlans=vlans, mx_rules=[
        {"policy": "deny", "protocol": "udp", "srcCidr": "VLAN(30).*", "destPort": "4500", "destCidr": "Any"},
        {"policy": "deny", "protocol": "tcp", "srcCidr": "VLAN(10).5", "destPort": "443", "destCidr": "Any"},
    ])
    snap.ssid(net, 0, "Staff-Wifi", defaultVlanId=10)
    result = snap.audit()
    assert verdicts(result, "Guest", kind="vlan") == {**ALL_ALLOWED, "udp/4500": "blocked", "udp/1701": "blocked"}
    staff = verdicts(result, "Staff", kind="vlan")
    assert staff["tcp/443"] == "partial"  # only host .5 of VLAN 10
    reason = path_for(result, "Staff", "tcp/443").trace.reason
    assert "10.0.10.5" in reason


def test_policy_objects_and_groups(snap: MerakiSnapshot, tmp_path: Path) -> None:
    snap.write("meraki/organizations/1/policyObjects.json", [
        {"id": "11", "name": "VPN", "category": "network", "type": "cidr", "cidr": "198.51.100.10/32"},
        {"id": "12", "name": "VPN name", "category": "network", "type": "fqdn", "fqdn": "other.example.net"}])
    snap.write("meraki/organizations/1/policyObjects/groups.json",
               [{"id": "21", "name": "VPN group", "category": "NetworkObjectGroup", "objectIds": [11]}])
    net = snap.network()
    snap.ssid(net, 0, "ByObj", rules=[deny("udp", "500", "OBJ(11)")])
    snap.ssid(net, 1, "ByGrp", rules=[deny("udp", "4500", "GRP(21)")])
    snap.ssid(net, 2, "Missing", rules=[deny("udp", "500", "OBJ(99)")])
    snap.ssid(net, 3, "FqdnObj", rules=[deny("udp", "500", "OBJ(12)")])
    result = snap.audit()
    assert verdicts(result, "ByObj", kind="ssid")["udp/500"] == "blocked"
    assert verdicts(result, "ByGrp", kind="ssid")["udp/4500"] == "blocked"
    missing = path_for(result, "Missing", "udp/500").trace
    assert missing.verdict == "unknown" and "OBJ(99)" in missing.reason
    assert verdicts(result, "FqdnObj", kind="ssid")["udp/500"] == "unknown"


def test_fqdn_destination_unknown_unless_dns_data_resolves_it(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "Unresolved", rules=[deny("udp", "500", "vpn.partner.example")])
    snap.ssid(net, 1, "Resolved", rules=[deny("udp", "500", "vpn.example.com")])  # audit.yaml names it
    snap.ssid(net, 2, "AllowByName", rules=[allow("udp", "500", "other.example.org"), deny("udp", "500")])
    result = snap.audit()
    unresolved = path_for(result, "Unresolved", "udp/500").trace
    assert unresolved.verdict == "unknown" and "vpn.partner.example" in unresolved.reason
    assert verdicts(result, "Resolved", kind="ssid")["udp/500"] == "blocked"
    # an uncertain allow before a certain deny: blocked or allowed, never "allowed"
    assert verdicts(result, "AllowByName", kind="ssid")["udp/500"] == "unknown"


def test_local_lan_is_rfc1918(snap: MerakiSnapshot) -> None:
    snap.config["vpn_servers"][0]["address"] = "172.20.1.1"
    net = snap.network()
    snap.ssid(net, 0, "Lan", rules=[deny("any", "any", "Local LAN")], allow_lan=True)
    result = snap.audit()
    assert set(verdicts(result, "Lan", kind="ssid").values()) == {"blocked"}


def test_esp_only_matches_protocol_any(snap: MerakiSnapshot) -> None:
    snap.config["protocols"] = {"ikev2-nonat": {"flows": ["udp/500", "esp"]}}
    snap.config["vpn_servers"][0]["protocols"] = ["ikev2-nonat"]
    net = snap.network()
    snap.ssid(net, 0, "UdpTcp", rules=[deny("udp", "any"), deny("tcp", "any")])
    snap.ssid(net, 1, "AnyPort500", rules=[deny("any", "500")])
    snap.ssid(net, 2, "AnyAny", rules=[allow("udp", "500"), deny("any", "any")])
    result = snap.audit()
    assert verdicts(result, "UdpTcp", kind="ssid") == {"udp/500": "blocked", "esp": "allowed"}
    assert verdicts(result, "AnyPort500", kind="ssid") == {"udp/500": "blocked", "esp": "allowed"}
    assert verdicts(result, "AnyAny", kind="ssid") == {"udp/500": "allowed", "esp": "blocked"}


def test_splash_blocks_before_sign_on_except_walled_garden(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "Closed", splashPage="Click-through splash page", walledGardenEnabled=True,
              walledGardenRanges=["203.0.113.5/32"], splash={"blockAllTrafficBeforeSignOn": True})
    snap.ssid(net, 1, "Garden", splashPage="Click-through splash page", walledGardenEnabled=True,
              walledGardenRanges=["vpn.example.com"], splash={"blockAllTrafficBeforeSignOn": True})
    snap.ssid(net, 2, "Open", splashPage="Click-through splash page",
              splash={"blockAllTrafficBeforeSignOn": False})
    result = snap.audit()
    assert set(verdicts(result, "Closed", kind="ssid", phase="pre-auth").values()) == {"blocked"}
    assert verdicts(result, "Closed", kind="ssid", phase="post-auth") == ALL_ALLOWED
    assert verdicts(result, "Garden", kind="ssid", phase="pre-auth") == ALL_ALLOWED
    # non-HTTP passes; TCP 443 before sign-on is undocumented
    assert verdicts(result, "Open", kind="ssid", phase="pre-auth") == {**ALL_ALLOWED, "tcp/443": "unknown"}
    assert "preauth-blocked" in finding_kinds(result)


def test_group_policy_bypass_skips_splash(snap: MerakiSnapshot) -> None:
    policies = [{"groupPolicyId": "101", "name": "Kiosk", "splashAuthSettings": "bypass",
                 "firewallAndTrafficShaping": {"settings": "network default"}}]
    net = snap.network(policies=policies)
    snap.ssid(net, 0, "Guest", authMode="open-with-radius", splashPage="Click-through splash page",
              splash={"blockAllTrafficBeforeSignOn": True})
    result = snap.audit()
    phases = {p.role.phase for p in result.paths if p.role.name == "Kiosk"}
    assert phases == {"post-auth"}
    assert verdicts(result, "Kiosk", kind="group_policy") == ALL_ALLOWED
    assert set(verdicts(result, "Guest", kind="ssid", phase="pre-auth").values()) == {"blocked"}


def test_ipsk_role_through_its_group_policy_custom_rules(snap: MerakiSnapshot) -> None:
    policies = [{"groupPolicyId": "201", "name": "Contractors", "firewallAndTrafficShaping": {
        "settings": "custom", "l3FirewallRules": [deny("udp", "500,4500", "any", "no vpn")]}}]
    net = snap.network(policies=policies)
    snap.ssid(net, 0, "Devices", authMode="ipsk-without-radius",
              ipsks=[{"id": "1", "name": "Vendor A", "groupPolicyId": "201", "passphrase": "<redacted>"},
                     {"id": "2", "name": "Vendor B", "passphrase": "<redacted>"}])
    result = snap.audit()
    # the deny decides under both readings (prepended or replacing), so it is not ambiguous
    assert verdicts(result, "Vendor A", kind="ipsk") == {**ALL_ALLOWED, "udp/500": "blocked", "udp/4500": "blocked",
                                                         "udp/1701": "blocked"}
    assert verdicts(result, "Vendor B", kind="ipsk") == ALL_ALLOWED
    _hop, seg = path_for(result, "Vendor A", "udp/500").trace.blocked[0]
    assert seg.rule.comment == "no vpn" and "Contractors" in seg.rule.text


def test_custom_policy_combination_unknown_when_readings_disagree(snap: MerakiSnapshot) -> None:
    """SSID denies 4500; the policy allows it. Prepended: allowed. Replacing: allowed. Both must pass: blocked
    -> unknown (issue 21 item 4: the third reading). SSID denies tcp/443 and the policy says nothing: prepended:
    blocked; replacing: allowed -> unknown."""
    policies = [{"groupPolicyId": "1", "name": "Staff", "firewallAndTrafficShaping": {
        "settings": "custom", "l3FirewallRules": [allow("udp", "4500", "any")]}}]
    net = snap.network(policies=policies)
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", rules=[deny("udp", "4500"), deny("tcp", "443")])
    result = snap.audit()
    got = verdicts(result, "Staff", kind="group_policy")
    assert got["udp/4500"] == "unknown"
    assert got["tcp/443"] == "unknown"
    assert "does not document" in path_for(result, "Staff", "tcp/443").trace.reason
    assert verdicts(result, "Corp", kind="ssid")["udp/4500"] == "blocked"


def test_ignore_policy_is_ambiguous_only_where_it_matters(snap: MerakiSnapshot) -> None:
    policies = [{"groupPolicyId": "1", "name": "VIP", "firewallAndTrafficShaping": {"settings": "ignore"}}]
    net = snap.network(policies=policies)
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", rules=[deny("tcp", "443")])
    result = snap.audit()
    assert verdicts(result, "VIP", kind="group_policy") == {**ALL_ALLOWED, "tcp/443": "unknown"}


def test_mx_rules_apply_to_bridged_ssid_through_its_vlan(snap: MerakiSnapshot) -> None:
    vlans = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
             {"id": 30, "name": "Guest", "subnet": "10.0.30.0/24"}]
    net = snap.network(vlans=vlans, mx_rules=[
        {"policy": "deny", "protocol": "udp", "srcCidr": "10.0.30.0/24", "destPort": "500", "destCidr": "Any"}])
    snap.ssid(net, 0, "Guest-Wifi", defaultVlanId=30)
    snap.ssid(net, 1, "Staff-Wifi", defaultVlanId=10)
    snap.ssid(net, 2, "Nat-Wifi", ipAssignmentMode="NAT mode")
    result = snap.audit()
    assert verdicts(result, "Guest-Wifi", kind="ssid")["udp/500"] == "blocked"
    assert verdicts(result, "Staff-Wifi", kind="ssid")["udp/500"] == "allowed"
    # NAT mode: the MX sees the AP's address, in a VLAN the snapshot does not name
    nat = path_for(result, "Nat-Wifi", "udp/500").trace
    assert nat.verdict == "unknown" and len(nat.variants) == 2


def test_vlan_group_policy_applies_at_the_mx(snap: MerakiSnapshot) -> None:
    policies = [{"groupPolicyId": "5", "name": "Restricted", "firewallAndTrafficShaping": {
        "settings": "custom", "l3FirewallRules": [deny("udp", "500,4500", "any")]}}]
    vlans = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
             {"id": 50, "name": "Lab", "subnet": "10.0.50.0/24", "groupPolicyId": "5"}]
    net = snap.network(vlans=vlans, policies=policies)
    snap.ssid(net, 0, "x")
    result = snap.audit()
    assert verdicts(result, "Lab", kind="vlan")["udp/500"] == "blocked"
    assert verdicts(result, "Staff", kind="vlan")["udp/500"] == "allowed"


def test_l7_rules_that_could_match_vpn_make_it_unknown(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "L7Port", l7=[{"policy": "deny", "type": "port", "value": "4500"}])
    snap.ssid(net, 1, "L7App", l7=[{"policy": "deny", "type": "applicationCategory",
                                    "value": {"id": "meraki:layer7/category/9", "name": "VPN and tunneling"}}])
    snap.ssid(net, 2, "L7Other", l7=[{"policy": "deny", "type": "host", "value": "games.example.net"},
                                     {"policy": "deny", "type": "applicationCategory",
                                      "value": {"id": "meraki:layer7/category/1", "name": "Gaming"}}])
    result = snap.audit()
    assert verdicts(result, "L7Port", kind="ssid") == {**ALL_ALLOWED, "udp/4500": "unknown", "udp/1701": "unknown"}
    assert set(verdicts(result, "L7App", kind="ssid").values()) == {"unknown"}
    assert verdicts(result, "L7Other", kind="ssid") == ALL_ALLOWED


def test_missing_file_is_a_data_gap_never_allowed(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "Gap")
    snap.remove(f"meraki/networks/{net}/wireless/ssids/0/firewall/l3FirewallRules.json")
    snap.remove(f"meraki/networks/{net}/appliance/firewall/l3FirewallRules.json")
    result = snap.audit()
    assert set(verdicts(result, "Gap", kind="ssid").values()) == {"unknown"}
    assert set(verdicts(result, "Staff", kind="vlan").values()) == {"unknown"}
    gaps = [f for f in result.findings if f.check.kind == "data-gap"]
    assert {f.evidence["file"].rsplit("/", 2)[-1] for f in gaps} == {"l3FirewallRules.json"}
    assert len(gaps) == 2


def test_malformed_rule_value_is_an_input_error_not_skipped(snap: MerakiSnapshot) -> None:
    """A value the Dashboard would not accept is corrupt input: one error naming file, row and field (issue
    19), not an unknown rule over every path of the list, and never a skipped rule."""
    net = snap.network()
    snap.ssid(net, 0, "Bad", rules=[{"policy": "allow", "protocol": "udp", "destPort": "5OO", "destCidr": "any"},
                                    deny("udp", "500")])
    with pytest.raises(SnapshotError) as info:
        snap.audit()
    assert str(info.value) == (f"meraki/networks/{net}/wireless/ssids/0/firewall/l3FirewallRules.json rules[0]: "
                               "destPort: bad port '5OO'")


def test_malformed_json_names_file_and_line(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "x")
    rel = f"meraki/networks/{net}/wireless/ssids/0/firewall/l3FirewallRules.json"
    (snap.root / rel).write_text('{"rules": [\n  {"policy": "deny",,}\n]}')
    with pytest.raises(SnapshotError) as info:
        snap.audit()
    assert info.value.path == rel and info.value.line == 2


def test_wrong_shape_names_the_file(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.write(f"meraki/networks/{net}/appliance/vlans.json", {"id": 1})
    with pytest.raises(SnapshotError) as info:
        snap.audit()
    assert info.value.path.endswith("appliance/vlans.json") and "list" in info.value.message


def test_disabled_ssids_have_no_roles(snap: MerakiSnapshot) -> None:
    net = snap.network()
    snap.ssid(net, 0, "Off", enabled=False)
    snap.ssid(net, 1, "On")
    result = snap.audit()
    names = {p.role.name for p in result.paths if p.role.kind == "ssid"}
    assert names == {"On"}
