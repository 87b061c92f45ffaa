"""Issue 21: Meraki roles and policies that a first audit missed, each one a false `allowed` before. Every test
builds the configuration twice, as it blocks (or cannot be decided) and as it passes, and checks verdicts and
reasons (docs/semantics/meraki.md, "Roles and policies: VLAN group policy L7, three readings, schedules,
VLAN variants, full tunnel, device types")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.vendors.meraki.check_ssid import ProposalError, ProposalResult, check_ssid
from tests.snapshot_builder import MX_DEFAULT_ROW, MerakiSnapshot, allow, deny, path_for, verdicts


@pytest.fixture
def snap(tmp_path: Path) -> MerakiSnapshot:
    return MerakiSnapshot(tmp_path / "snap")


def check(snap: MerakiSnapshot, proposal: dict[str, Any]) -> ProposalResult:
    """`check-ssid` of a proposed SSID (Dashboard PUT body plus extras) against the snapshot's network N_1."""
    (snap.root / "audit.yaml").write_text(yaml.safe_dump(snap.config), encoding="utf-8")
    path = snap.root.parent / "proposal.json"
    path.write_text(json.dumps(proposal), encoding="utf-8")
    return check_ssid(snap.root, "N_1", path)


def proposal_verdicts(outcome: ProposalResult, role: str) -> dict[str, str]:
    return {str(p.trace.flow): p.verdict for p in outcome.result.paths
            if p.role.name == role and p.role.phase == "post-auth"}


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


# -- item 4: a custom policy's allow does not reliably override a layer's deny; the layer's L7 may be dropped ---
def _custom(rules: list[dict[str, Any]], l7: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    return [{"groupPolicyId": "1", "name": "Staff", "firewallAndTrafficShaping": {
        "settings": "custom", "l3FirewallRules": rules, "l7FirewallRules": l7 or []}}]


def test_policy_allow_against_ssid_deny_is_unknown_under_three_readings(snap: MerakiSnapshot) -> None:
    """The SSID denies UDP 4500 and the policy allows it: first-then-layer and instead-of-layer both allow,
    both-must-pass blocks; three readings disagree, so the flow is unknown, never allowed."""
    net = snap.network(policies=_custom([allow("udp", "4500", "any", "vpn ok")]))
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", rules=[deny("udp", "4500", comment="no nat-t")])
    result = snap.audit()
    assert verdicts(result, "Staff", kind="group_policy")["udp/4500"] == "unknown"
    reason = path_for(result, "Staff", "udp/4500").trace.reason
    for reading in ("read as policy rules first, then the layer's: permit",
                    "read as policy rules replace the layer's: permit",
                    "read as policy rules and the layer's both apply: deny"):
        assert reading in reason
    assert "must both pass" in reason


def test_policy_allow_with_no_ssid_deny_passes(snap: MerakiSnapshot) -> None:
    net = snap.network(policies=_custom([allow("udp", "4500", "any", "vpn ok")]))
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", rules=[deny("udp", "5000", comment="other")])
    result = snap.audit()
    got = verdicts(result, "Staff", kind="group_policy")
    assert (got["udp/500"], got["udp/4500"], got["tcp/443"]) == ("allowed", "allowed", "allowed")


def test_ssid_l7_deny_may_be_dropped_for_a_custom_policy(snap: MerakiSnapshot) -> None:
    """With `port` rules read as matching UDP (assumed), the SSID's L7 deny of port 4500 blocks its plain
    clients for sure; for a custom policy's clients it holds only if the SSID's L7 rules still apply to
    them, which Meraki does not say: unknown, naming both readings. Stating the layering settles it."""
    net = snap.network(policies=_custom([]))
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", l7=[{"policy": "deny", "type": "port", "value": "4500"}])
    snap.config["assume"] = {"meraki-l7-port-matches-udp": True}
    result = snap.audit()
    assert verdicts(result, "Corp", kind="ssid")["udp/4500"] == "blocked"
    assert verdicts(result, "Staff", kind="group_policy")["udp/4500"] == "unknown"
    trace = path_for(result, "Staff", "udp/4500").trace
    assert trace.unknown[0][0].stage == "ssid-l7+group-policy"
    assert "read as layer L7 rules still apply: deny" in trace.reason
    assert "read as layer L7 rules dropped for the policy's clients: permit" in trace.reason
    snap.config["assume"]["meraki-group-policy-layering"] = "policy-first"
    settled = snap.audit()
    assert verdicts(settled, "Staff", kind="group_policy")["udp/4500"] == "blocked"
    reason = path_for(settled, "Staff", "udp/4500").trace.reason
    assert "(assumed: meraki-group-policy-layering = policy-first" in reason


def test_ssid_l7_rules_that_cannot_match_vpn_change_nothing_for_a_policy(snap: MerakiSnapshot) -> None:
    net = snap.network(policies=_custom([]))
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", l7=[
        {"policy": "deny", "type": "application", "value": {"id": "meraki:layer7/application/67",
                                                            "name": "BitTorrent"}}])
    result = snap.audit()
    got = verdicts(result, "Staff", kind="group_policy")
    assert (got["udp/500"], got["udp/4500"], got["tcp/443"]) == ("allowed", "allowed", "allowed")


# -- item 3: group policy schedules -------------------------------------------------------------------------
WEEKDAYS = {day: {"active": True, "from": "8:00", "to": "18:00"}
            for day in ("monday", "tuesday", "wednesday", "thursday", "friday")}
WEEKEND = {day: {"active": False, "from": "00:00", "to": "24:00"} for day in ("saturday", "sunday")}
STAFF_VLANS = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
               {"id": 30, "name": "Guest", "subnet": "10.0.30.0/24"}]
NO_IKE_FROM_GUEST = [deny("udp", "500,4500", srcCidr="VLAN(30).*", comment="guests: no personal VPN")]


def _tagging_policy(scheduling: Any) -> list[dict[str, Any]]:
    """'Weekday staff' moves its clients to VLAN 10 (where the VPN passes) while it is in force."""
    return [{"groupPolicyId": "3", "name": "Weekday staff", "scheduling": scheduling,
             "vlanTagging": {"settings": "custom", "vlanId": "10"},
             "firewallAndTrafficShaping": {"settings": "network default"}}]


def test_scheduled_policy_is_partial_saying_when_it_passes(snap: MerakiSnapshot) -> None:
    """In force: VLAN 10, allowed. Outside Mon–Fri 08:00–18:00: the SSID's VLAN 30, blocked by the MX. Before,
    the policy counted as always in force: allowed ("VPN works in the office, fails at night")."""
    net = snap.network(vlans=STAFF_VLANS, mx_rules=NO_IKE_FROM_GUEST,
                       policies=_tagging_policy({"enabled": True, **WEEKDAYS, **WEEKEND}))
    snap.networks[-1]["timeZone"] = "Europe/Berlin"
    snap.write("meraki/organizations/1/networks.json", snap.networks)
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", defaultVlanId=30)
    result = snap.audit()
    got = verdicts(result, "Weekday staff", kind="group_policy")
    assert (got["udp/500"], got["udp/4500"], got["tcp/443"]) == ("partial", "partial", "allowed")
    reason = path_for(result, "Weekday staff", "udp/500").trace.reason
    assert "udp/500 is allowed only while 'Weekday staff' is active: Mon–Fri 08:00–18:00 (Europe/Berlin)" in reason
    assert "Otherwise (while 'Weekday staff' is not active): udp/500 is blocked at Store / MX" in reason
    assert "guests: no personal VPN" in reason
    kinds = {(f.check.kind, f.role["name"] if f.role else None) for f in result.findings}
    assert ("partial-flow", "Weekday staff") in kinds


def test_unscheduled_or_always_active_policy_is_not_split(snap: MerakiSnapshot) -> None:
    always = {day: {"active": True, "from": "00:00", "to": "24:00"} for day in WEEKDAYS | WEEKEND}
    net = snap.network(vlans=STAFF_VLANS, mx_rules=NO_IKE_FROM_GUEST, policies=[
        *_tagging_policy({"enabled": True, **always}),
        {**_tagging_policy({"enabled": False, **WEEKDAYS, **WEEKEND})[0], "groupPolicyId": "4", "name": "Off"}])
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", defaultVlanId=30)
    result = snap.audit()
    for name in ("Weekday staff", "Off"):
        got = verdicts(result, name, kind="group_policy")
        assert (got["udp/500"], got["udp/4500"]) == ("allowed", "allowed")


def test_vlan_policy_schedule_blocks_only_in_its_window(snap: MerakiSnapshot) -> None:
    """A VLAN's policy that denies IKE at the MX, in force at weekends only: the VLAN is partial, allowed
    while the policy is not active."""
    weekend = {**{d: {"active": False, "from": "00:00", "to": "24:00"} for d in WEEKDAYS},
               "saturday": {"active": True, "from": "00:00", "to": "24:00"},
               "sunday": {"active": True, "from": "00:00", "to": "24:00"}}
    policies = [{"groupPolicyId": "9", "name": "Weekend lockdown", "scheduling": {"enabled": True, **weekend},
                 "firewallAndTrafficShaping": {"settings": "custom", "l3FirewallRules": [
                     deny("udp", "500,4500", comment="no vpn at weekends")]}}]
    vlans = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24", "groupPolicyId": "9"}]
    snap.network(vlans=vlans, policies=policies)
    result = snap.audit()
    assert verdicts(result, "Staff", kind="vlan")["udp/500"] == "partial"
    reason = path_for(result, "Staff", "udp/500").trace.reason
    assert reason.startswith("udp/500 is allowed only while 'Weekend lockdown' is not active. Otherwise (while "
                             "'Weekend lockdown' is active: Sat–Sun 00:00–24:00)")


@pytest.mark.parametrize("scheduling", [
    {"enabled": "yes"}, {"enabled": True, **WEEKDAYS}, {"enabled": True, **WEEKDAYS, **WEEKEND,
                                                        "friday": {"active": True, "from": "18:00", "to": "8:00"}},
    "garbage"])
def test_unreadable_schedule_is_unknown_never_allowed(snap: MerakiSnapshot, scheduling: Any) -> None:
    net = snap.network(vlans=STAFF_VLANS, mx_rules=NO_IKE_FROM_GUEST, policies=_tagging_policy(scheduling))
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", defaultVlanId=30)
    result = snap.audit()
    assert verdicts(result, "Weekday staff", kind="group_policy")["udp/500"] == "unknown"
    reason = path_for(result, "Weekday staff", "udp/500").trace.reason
    assert "'Weekday staff' not in force (its schedule is not understood" in reason


def test_check_ssid_takes_a_policy_schedule(snap: MerakiSnapshot) -> None:
    snap.network(vlans=STAFF_VLANS, mx_rules=NO_IKE_FROM_GUEST)
    policy = {**_tagging_policy({"enabled": True, **WEEKDAYS, **WEEKEND})[0]}
    del policy["groupPolicyId"]
    outcome = check(snap, {"name": "Corp", "authMode": "8021x-radius", "ipAssignmentMode": "Bridge mode",
                           "useVlanTagging": True, "defaultVlanId": 30, "groupPolicies": [policy]})
    assert proposal_verdicts(outcome, "Weekday staff")["udp/500"] == "partial"
    policy["scheduling"] = {"enabled": True, **WEEKDAYS, **WEEKEND, "friday": {"active": True, "from": "18:00",
                                                                               "to": "8:00"}}
    with pytest.raises(ProposalError, match=r"groupPolicies\[0\]\.scheduling\.friday: from '18:00' is not before"):
        check(snap, {"name": "Corp", "authMode": "8021x-radius", "groupPolicies": [policy]})


# -- item 2: RADIUS, named VLANs and AP-tag VLANs are variants of the role ------------------------------------
THREE_VLANS = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
               {"id": 20, "name": "Voice", "subnet": "10.0.20.0/24"},
               {"id": 30, "name": "Guest", "subnet": "10.0.30.0/24"}]


@pytest.mark.parametrize(("tag_vlan", "expected"), [(30, "partial"), (20, "allowed")])
def test_vlan_by_ap_tag_is_a_case_of_the_role(snap: MerakiSnapshot, tag_vlan: int, expected: str) -> None:
    """Clients of APs tagged 'lobby' land in the AP-tag VLAN; the rest in VLAN 10. Before, only VLAN 10 was
    traced: allowed, although the lobby's clients are blocked."""
    net = snap.network(vlans=THREE_VLANS, mx_rules=NO_IKE_FROM_GUEST)
    snap.ssid(net, 0, "Corp", defaultVlanId=10, apTagsAndVlanIds=[{"tags": ["lobby"], "vlanId": tag_vlan}])
    result = snap.audit()
    assert verdicts(result, "Corp", kind="ssid")["udp/500"] == expected
    if expected == "partial":
        reason = path_for(result, "Corp", "udp/500").trace.reason
        assert reason.startswith("udp/500 is allowed only for clients of other APs. Otherwise (for clients of APs "
                                 "tagged 'lobby'): udp/500 is blocked at Store / MX (mx-l3) by rule 1")
        assert any(v.variant.startswith("VLAN 30 (VLAN by AP tag, apTagsAndVlanIds[0])")
                   for v in path_for(result, "Corp", "udp/500").trace.variants)


@pytest.mark.parametrize(("override", "expected"), [(True, "unknown"), (False, "allowed")])
def test_radius_override_makes_every_vlan_possible(snap: MerakiSnapshot, override: bool, expected: str) -> None:
    net = snap.network(vlans=THREE_VLANS, mx_rules=NO_IKE_FROM_GUEST,
                       policies=[{"groupPolicyId": "1", "name": "Staff",
                                  "firewallAndTrafficShaping": {"settings": "network default"}}])
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", defaultVlanId=10, radiusOverride=override)
    result = snap.audit()
    assert verdicts(result, "Corp", kind="ssid")["udp/500"] == expected
    assert verdicts(result, "Staff", kind="group_policy")["udp/500"] == expected
    if override:
        reason = path_for(result, "Corp", "udp/500").trace.reason
        assert "VLAN 30 (RADIUS may assign it (radiusOverride)): blocked" in reason
        assert "VLAN 10 (SSID VLAN tag): allowed" in reason


@pytest.mark.parametrize(("guest_vlan", "expected"), [(30, "partial"), (20, "allowed")])
def test_radius_guest_vlan_is_a_case_of_the_ssid_role(snap: MerakiSnapshot, guest_vlan: int, expected: str) -> None:
    net = snap.network(vlans=THREE_VLANS, mx_rules=NO_IKE_FROM_GUEST,
                       policies=[{"groupPolicyId": "1", "name": "Staff",
                                  "firewallAndTrafficShaping": {"settings": "network default"}}])
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", defaultVlanId=10, radiusGuestVlanEnabled=True,
              radiusGuestVlanId=guest_vlan)
    result = snap.audit()
    assert verdicts(result, "Corp", kind="ssid")["udp/500"] == expected
    # clients RADIUS gave a policy were accepted: the guest VLAN is not theirs
    assert verdicts(result, "Staff", kind="group_policy")["udp/500"] == "allowed"
    if expected == "partial":
        reason = path_for(result, "Corp", "udp/500").trace.reason
        assert reason.startswith("udp/500 is allowed only for clients RADIUS accepts. Otherwise (for clients "
                                 "RADIUS rejects or cannot reach): udp/500 is blocked")


def test_named_vlans_are_any_vlan_of_the_mx(snap: MerakiSnapshot) -> None:
    net = snap.network(vlans=THREE_VLANS, mx_rules=NO_IKE_FROM_GUEST)
    snap.ssid(net, 0, "Named", defaultVlanId=10, namedVlans={"tagging": {"enabled": True, "defaultVlanName": "staff"}})
    snap.ssid(net, 1, "Plain", defaultVlanId=10, namedVlans={"tagging": {"enabled": False}})
    result = snap.audit()
    assert verdicts(result, "Named", kind="ssid")["udp/500"] == "unknown"
    assert "named VLAN 'staff'" in path_for(result, "Named", "udp/500").trace.reason
    assert verdicts(result, "Plain", kind="ssid")["udp/500"] == "allowed"


@pytest.mark.parametrize("entries", ["lobby", [{"tags": ["lobby"]}], [{"tags": ["lobby"], "vlanId": True}]])
def test_unreadable_ap_tag_vlans_are_unknown(snap: MerakiSnapshot, entries: Any) -> None:
    net = snap.network(vlans=THREE_VLANS)
    snap.ssid(net, 0, "Corp", defaultVlanId=10, apTagsAndVlanIds=entries)
    result = snap.audit()
    assert verdicts(result, "Corp", kind="ssid")["udp/500"] == "unknown"


def test_check_ssid_takes_ap_tag_and_guest_vlans(snap: MerakiSnapshot) -> None:
    snap.network(vlans=THREE_VLANS, mx_rules=NO_IKE_FROM_GUEST)
    body = {"name": "Corp", "authMode": "8021x-radius", "ipAssignmentMode": "Bridge mode", "useVlanTagging": True,
            "defaultVlanId": 10, "apTagsAndVlanIds": [{"tags": ["lobby"], "vlanId": 30}]}
    assert proposal_verdicts(check(snap, body), "Corp")["udp/500"] == "partial"
    assert proposal_verdicts(check(snap, {**body, "apTagsAndVlanIds": [{"tags": ["lobby"], "vlanId": 20}]}),
                             "Corp")["udp/500"] == "allowed"
    with pytest.raises(ProposalError, match=r"apTagsAndVlanIds\[0\]\.vlanId: VLAN 99 is not a VLAN of the MX"):
        check(snap, {**body, "apTagsAndVlanIds": [{"tags": ["lobby"], "vlanId": 99}]})
    with pytest.raises(ProposalError, match=r"radiusGuestVlanEnabled"):
        check(snap, {**body, "radiusGuestVlanEnabled": "yes"})
    guest = {**body, "apTagsAndVlanIds": [], "radiusGuestVlanEnabled": True, "radiusGuestVlanId": 30}
    assert proposal_verdicts(check(snap, guest), "Corp")["udp/500"] == "partial"


# -- item 6: full tunnel: the site-to-site VPN firewall decides, not the spoke's outbound rules ---------------
def _full_tunnel(snap: MerakiSnapshot, spoke_rules: list[dict[str, Any]], s2s: list[dict[str, Any]],
                 policies: list[dict[str, Any]] | None = None) -> None:
    """A store whose VLAN 10 sends its internet traffic to hub HQ (default route); its VPN exclusions are
    collected and take nothing, so the tunnel is the only way."""
    vlans = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24", **({"groupPolicyId": "5"} if policies else {})}]
    snap.network("N_1", "Store", products=("appliance",), vlans=vlans, mx_rules=spoke_rules, policies=policies)
    snap.network("N_HUB", "HQ", products=("appliance",), vlans=[{"id": 100, "name": "Servers",
                                                                 "subnet": "10.100.0.0/24"}])
    snap.write("meraki/networks/N_1/appliance/vpn/siteToSiteVpn.json", {
        "mode": "spoke", "hubs": [{"hubId": "N_HUB", "useDefaultRoute": True}],
        "subnets": [{"localSubnet": "10.0.10.0/24", "useVpn": True}]})
    snap.write("meraki/networks/N_HUB/appliance/vpn/siteToSiteVpn.json", {"mode": "hub", "hubs": [], "subnets": []})
    snap.write("meraki/organizations/1/appliance/vpn/vpnFirewallRules.json", {"rules": [
        *({"srcCidr": "Any", "srcPort": "Any", "syslogEnabled": False, **r} for r in s2s), MX_DEFAULT_ROW]})
    snap.write("meraki/organizations/1/appliance/trafficShaping/vpnExclusions/byNetwork.json", {"items": []})
    snap.write("meraki/organizations/1/appliance/vpn/thirdPartyVPNPeers.json", {"peers": []})


def test_full_tunnel_spoke_deny_does_not_decide_the_vpn_firewall_does(snap: MerakiSnapshot) -> None:
    """The spoke's outbound deny of UDP 500 was "may apply" (unknown); the traffic goes into the tunnel, where
    Meraki applies the site-to-site VPN firewall: with a deny there, blocked by it."""
    _full_tunnel(snap, [deny("udp", "500", comment="spoke: no IKE")], [deny("udp", "500", comment="s2s: no IKE")])
    result = snap.audit()
    assert verdicts(result, "Staff", kind="vlan")["udp/500"] == "blocked"
    trace = path_for(result, "Staff", "udp/500").trace
    hop, seg = trace.blocked[0]
    assert (hop.stage, seg.rule.comment) == ("s2s-firewall", "s2s: no IKE")
    assert "Store / MX (s2s-firewall) by rule 1" in trace.reason


def test_full_tunnel_spoke_deny_alone_passes(snap: MerakiSnapshot) -> None:
    _full_tunnel(snap, [deny("udp", "500", comment="spoke: no IKE")], [])
    result = snap.audit()
    got = verdicts(result, "Staff", kind="vlan")
    assert (got["udp/500"], got["udp/4500"]) == ("allowed", "allowed")
    assert "mx-l3" not in [h.hop.stage for h in path_for(result, "Staff", "udp/500").trace.hops
                           if h.hop.device == "Store / MX"]


def test_full_tunnel_vlan_policy_rules_may_apply(snap: MerakiSnapshot) -> None:
    """Whether a VLAN's group policy rules apply to what the spoke tunnels is not documented: unknown."""
    _full_tunnel(snap, [], [], policies=[{"groupPolicyId": "5", "name": "Tills", "firewallAndTrafficShaping": {
        "settings": "custom", "l3FirewallRules": [deny("udp", "4500", comment="tills: no NAT-T")]}}])
    result = snap.audit()
    got = verdicts(result, "Staff", kind="vlan")
    assert (got["udp/500"], got["udp/4500"]) == ("allowed", "unknown")
    reason = path_for(result, "Staff", "udp/4500").trace.reason
    assert "not whether a VLAN's group policy rules do" in reason
    assert "If it applies, rule 1 (group policy 'Tills' rule 1" in reason


# -- item 5: policies by device type and by sign-on splash ---------------------------------------------------
CONTRACTORS = [{"groupPolicyId": "201", "name": "Contractors", "firewallAndTrafficShaping": {
    "settings": "custom", "l3FirewallRules": [deny("udp", "500,4500", comment="block personal VPNs")]}},
               {"groupPolicyId": "202", "name": "Signage", "firewallAndTrafficShaping": {
                   "settings": "network default"}}]


def _device_types(*entries: dict[str, Any], enabled: Any = True) -> dict[str, Any]:
    return {"enabled": enabled, "deviceTypePolicies": list(entries)}


WINDOWS_CONTRACTORS = {"deviceType": "Windows", "devicePolicy": "Group policy", "groupPolicyId": 201}


def test_device_type_policy_is_a_role_of_the_ssid(snap: MerakiSnapshot) -> None:
    """Windows clients of a PSK SSID get 'Contractors', which blocks IKE. Before, no role had the policy:
    those clients counted as the SSID's own, allowed."""
    net = snap.network(policies=CONTRACTORS)
    snap.ssid(net, 0, "Shop", device_types=_device_types(
        WINDOWS_CONTRACTORS, {"deviceType": "Android", "devicePolicy": "Allowed"},
        {"deviceType": "iPad", "devicePolicy": "Blocked"}))
    result = snap.audit()
    got = verdicts(result, "Contractors", kind="group_policy")
    assert (got["udp/500"], got["udp/4500"], got["tcp/443"]) == ("blocked", "blocked", "allowed")
    assert verdicts(result, "Shop", kind="ssid")["udp/500"] == "allowed"
    roles = {(p.role.kind, p.role.name) for p in result.paths}
    assert ("group_policy", "Signage") not in roles  # no device type maps to it
    path = path_for(result, "Contractors", "udp/500")
    assert path.role.describe() == {"kind": "group_policy", "name": "Contractors", "ssid": "Shop",
                                    "assigned_by": "device type 'Windows'"}
    assert any("Windows clients on this SSID get group policy 'Contractors'" in n for n in path.role.notes)
    blocked = [f for f in result.findings if f.check.kind == "blocked-flow"]
    assert [f.title for f in blocked] == [
        "IKEv2, L2TP/IPsec blocked for Store group_policy 'Contractors' on 'Shop' for device type 'Windows': "
        "udp/500,4500 at ssid-l3+group-policy rule 1"]


def test_device_type_mapping_switched_off_gives_no_role(snap: MerakiSnapshot) -> None:
    net = snap.network(policies=CONTRACTORS)
    snap.ssid(net, 0, "Shop", device_types=_device_types(WINDOWS_CONTRACTORS, enabled=False))
    result = snap.audit()
    assert {p.role.kind for p in result.paths} == {"ssid", "vlan"}
    assert set(verdicts(result, "Shop", kind="ssid").values()) == {"allowed"}


def test_device_type_file_missing_or_unreadable_is_never_allowed(snap: MerakiSnapshot) -> None:
    net = snap.network(policies=CONTRACTORS)
    snap.ssid(net, 0, "Shop", device_types=_device_types(
        {"deviceType": "Windows", "devicePolicy": "Quarantine", "groupPolicyId": 201}))
    snap.ssid(net, 1, "Other")
    snap.remove("meraki/networks/N_1/wireless/ssids/1/deviceTypeGroupPolicies.json")
    result = snap.audit()
    assert set(verdicts(result, "Windows devices", kind="group_policy").values()) == {"unknown"}
    assert "devicePolicy 'Quarantine' for Windows clients is not understood" in \
        path_for(result, "Windows devices", "udp/500").trace.reason
    gaps = [f for f in result.findings if f.check.kind == "data-gap"]
    assert any(f.evidence["file"] == "meraki/networks/N_1/wireless/ssids/1/deviceTypeGroupPolicies.json"
               and "device-type group policy roles of Store / SSID 1 (Other)" in f.evidence.get("unaudited", "")
               for f in gaps)


def test_device_type_on_a_radius_ssid_notes_the_existing_role(snap: MerakiSnapshot) -> None:
    net = snap.network(policies=CONTRACTORS)
    snap.ssid(net, 0, "Corp", authMode="8021x-radius", device_types=_device_types(WINDOWS_CONTRACTORS))
    result = snap.audit()
    roles = list({id(p.role): p.role for p in result.paths if p.role.name == "Contractors"}.values())
    assert len(roles) == 1 and roles[0].via == ""
    assert any("Windows clients on this SSID get group policy 'Contractors'" in n for n in roles[0].notes)


@pytest.mark.parametrize(("splash", "roles"), [
    ("Password-protected with custom RADIUS", {"Contractors", "Signage"}),
    ("Password-protected with Active Directory", {"Contractors", "Signage"}),
    ("Click-through splash page", set())])
def test_sign_on_splash_with_radius_or_ad_assigns_policies(snap: MerakiSnapshot, splash: str,
                                                           roles: set[str]) -> None:
    net = snap.network(policies=CONTRACTORS)
    snap.ssid(net, 0, "Guest", authMode="open", splashPage=splash,
              splash={"blockAllTrafficBeforeSignOn": False})
    result = snap.audit()
    found = {p.role.name for p in result.paths if p.role.kind == "group_policy"}
    assert found == roles
    if roles:
        # assigned at sign-on: only the post-auth phase is the policy's (before it, the SSID's role)
        assert {p.role.phase for p in result.paths if p.role.kind == "group_policy"} == {"post-auth"}
        assert verdicts(result, "Contractors", kind="group_policy")["udp/500"] == "blocked"


def test_check_ssid_takes_device_type_policies(snap: MerakiSnapshot) -> None:
    snap.network(policies=CONTRACTORS)
    body = {"name": "Shop", "authMode": "open", "ipAssignmentMode": "Bridge mode", "useVlanTagging": True,
            "defaultVlanId": 10, "deviceTypeGroupPolicies": _device_types(WINDOWS_CONTRACTORS)}
    assert proposal_verdicts(check(snap, body), "Contractors")["udp/500"] == "blocked"
    with pytest.raises(ProposalError, match=r"deviceTypeGroupPolicies\.deviceTypePolicies\[0\]\.groupPolicyId: "
                                            r"group policy '999'"):
        check(snap, {**body, "deviceTypeGroupPolicies": _device_types(
            {"deviceType": "Windows", "devicePolicy": "Group policy", "groupPolicyId": 999})})
    with pytest.raises(ProposalError, match=r"devicePolicy"):
        check(snap, {**body, "deviceTypeGroupPolicies": _device_types(
            {"deviceType": "Windows", "devicePolicy": "Quarantine"})})
