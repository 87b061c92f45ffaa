"""Site-to-site VPN (AutoVPN): a full-tunnel spoke sends its internet traffic, VPN clients' included, to a
hub. On that way the org's site-to-site outbound firewall decides, the hub's own rules may (undocumented),
and the VPN server sees the hub's public address. VPN exclusions are not read, so the local way stays
possible: verdicts stand where both ways agree and are unknown where they differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditResult, run_audit
from auditor.diff import affected_networks, changed_files, diff_snapshots
from auditor.fixplan import fix_plan
from auditor.snapshot import Snapshot, SnapshotError
from tests.snapshot_builder import MX_DEFAULT_ROW, MerakiSnapshot, deny, finding_kinds, path_for, verdicts

SPOKE, HUB = "N_SPOKE", "N_HUB"
S2S = "meraki/organizations/1/appliance/vpn/vpnFirewallRules.json"
SPOKE_S2S = f"meraki/networks/{SPOKE}/appliance/vpn/siteToSiteVpn.json"
EXCLUSIONS = "meraki/organizations/1/appliance/trafficShaping/vpnExclusions/byNetwork.json"
LOCAL = "VLAN 10, local breakout (VPN exclusions not in the snapshot)"
PEERS = "meraki/organizations/1/appliance/vpn/thirdPartyVPNPeers.json"
ZSCALER = {"name": "Zscaler", "publicIp": "165.225.0.1", "privateSubnets": ["0.0.0.0/0"], "secret": "<redacted>",
           "networkTags": ["all"]}


def org(tmp_path: Path, *, spoke: dict[str, Any] | None = None, s2s: list[dict[str, Any]] | None = None,
        spoke_rules: list[dict[str, Any]] | None = None, hub_rules: list[dict[str, Any]] | None = None,
        use_vpn: bool | None = True) -> MerakiSnapshot:
    """A store (VLAN 10, 10.0.10.0/24) that is a full-tunnel spoke of HQ unless `spoke` says otherwise."""
    snap = MerakiSnapshot(tmp_path / "org")
    snap.network(SPOKE, "Store", products=("appliance",), mx_rules=spoke_rules)
    snap.network(HUB, "HQ", products=("appliance",), mx_rules=hub_rules,
                 vlans=[{"id": 100, "name": "Servers", "subnet": "10.100.0.0/24"}])
    subnets = [] if use_vpn is None else [{"localSubnet": "10.0.10.0/24", "useVpn": use_vpn}]
    snap.write(SPOKE_S2S, spoke if spoke is not None else
               {"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": True}], "subnets": subnets})
    snap.write(f"meraki/networks/{HUB}/appliance/vpn/siteToSiteVpn.json", {"mode": "hub", "hubs": [], "subnets": []})
    snap.write(S2S, {"rules": [*[{"srcCidr": "Any", "srcPort": "Any", "syslogEnabled": False, **r} for r in s2s or []],
                               MX_DEFAULT_ROW]})
    snap.write(PEERS, {"peers": []})
    snap.write("meraki/organizations/1/appliance/uplink/statuses.json", [
        {"networkId": SPOKE, "uplinks": [{"interface": "wan1", "status": "active", "publicIp": "192.0.2.10"}]},
        {"networkId": HUB, "uplinks": [{"interface": "wan1", "status": "active", "publicIp": "203.0.113.100"}]}])
    return snap


def stages(result: AuditResult, flow: str, variant: str) -> list[str]:
    trace = path_for(result, "Staff", flow).trace
    found = [t for t in trace.variants or (trace,) if variant in t.variant]
    assert found, [t.variant for t in trace.variants]
    return [f"{h.hop.device}: {h.hop.stage}" for h in found[0].hops]


def test_full_tunnel_spoke_reaches_the_server_through_the_hub_and_from_its_address(tmp_path: Path) -> None:
    result = org(tmp_path).audit()
    assert set(verdicts(result, "Staff").values()) == {"allowed"}
    # the spoke's own L3 (outbound) rules are not on the tunnel's way (issue 21 item 6)
    assert stages(result, "udp/4500", "via hub HQ") == [
        "Store / MX: mx-l7", "Store / MX: autovpn", "Store / MX: s2s-firewall",
        "HQ / MX (hub): mx-l3", "HQ / MX (hub): mx-l7", "HQ / MX (hub): uplink-nat"]
    trace = path_for(result, "Staff", "udp/4500").trace
    by_label = {t.variant: t for t in trace.variants}
    assert set(by_label) == {"VLAN 10, via hub HQ", LOCAL}
    assert by_label["VLAN 10, via hub HQ"].allowed.describe_sources() == "203.0.113.100"
    assert by_label[LOCAL].allowed.describe_sources() == "192.0.2.10"
    role = next(p.role for p in result.paths if p.role.name == "Staff")
    assert any("full-tunnel VPN: traffic to the internet goes to a default-route hub" in note for note in role.notes)


def test_site_to_site_deny_blocks_the_tunnel_and_leaves_the_path_unknown(tmp_path: Path) -> None:
    result = org(tmp_path, s2s=[deny("udp", "500", comment="no IKE over the tunnel")]).audit()
    assert verdicts(result, "Staff") == {"udp/500": "unknown", "udp/4500": "allowed", "udp/1701": "unknown",
                                         "tcp/443": "allowed"}
    trace = path_for(result, "Staff", "udp/500").trace
    assert "depends on which of 2 possible paths" in trace.reason
    assert "VLAN 10, via hub HQ: blocked" in trace.reason and f"{LOCAL}: allowed" in trace.reason
    tunnel = next(t for t in trace.variants if "via hub" in t.variant)
    assert tunnel.reason == ("udp/500 is blocked at Store / MX (s2s-firewall) by rule 1 (deny udp Any:Any -> Any:500) "
                             "\"no IKE over the tunnel\".")
    assert tunnel.blocked[0][1].rule.origin.path == S2S


@pytest.mark.parametrize(("entry", "local"), [
    (None, ""),
    ({"custom": [], "majorApplications": []}, ""),
    ({"custom": [{"protocol": "udp", "destination": "203.0.113.0/24", "port": "any"}], "majorApplications": []}, ""),
    ({"custom": [{"protocol": "udp", "destination": "8.8.8.8", "port": "53"},
                 {"protocol": "any", "destination": "198.51.100.0/24", "port": "any"}], "majorApplications": []},
     "VPN exclusion 2 (any 198.51.100.0/24:any) may match"),
    ({"custom": [{"protocol": "tcp", "destination": "*.example.com", "port": "443"}], "majorApplications": []},
     "VPN exclusion 1 (tcp *.example.com:443) may match"),
    ({"custom": [], "majorApplications": [{"id": "meraki:vpnExclusion/application/3", "name": "AWS"}]},
     "an application VPN exclusion may match"),
], ids=["no-entry", "empty", "other-destination", "server-prefix", "host-name", "application"])
def test_vpn_exclusions_decide_whether_the_local_way_is_possible(tmp_path: Path, entry: dict[str, Any] | None,
                                                                  local: str) -> None:
    snap = org(tmp_path, s2s=[deny("udp", "500")])
    items = [] if entry is None else [{"networkId": SPOKE, "networkName": "Store", **entry}]
    snap.write(EXCLUSIONS, {"items": items, "meta": {"counts": {"items": {"total": len(items), "remaining": 0}}}})
    trace = path_for(snap.audit(), "Staff", "udp/500").trace
    if not local:  # only the hub: its site-to-site deny decides
        assert trace.verdict == "blocked" and not trace.variants
        assert trace.variant == "VLAN 10, via hub HQ"
        assert trace.blocked[0][0].stage == "s2s-firewall"
    else:
        assert trace.verdict == "unknown"
        assert [t.variant for t in trace.variants] == ["VLAN 10, via hub HQ", f"VLAN 10, local breakout ({local})"]


def test_the_spokes_own_l3_rules_do_not_apply_to_tunnelled_traffic(tmp_path: Path) -> None:
    """Issue 21 item 6: Meraki's outbound (L3) rules do not apply to traffic sent over the VPN; the site-to-site
    VPN firewall does. The tunnel's way passes the spoke's deny; the local breakout's way still meets it, and
    which way the traffic takes is not known here (exclusions not collected): unknown overall."""
    result = org(tmp_path, spoke_rules=[deny("udp", "500", comment="no IKE")]).audit()
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.verdict == "unknown"
    by_label = {t.variant: t for t in trace.variants}
    assert by_label[LOCAL].verdict == "blocked"
    tunnel = by_label["VLAN 10, via hub HQ"]
    assert tunnel.verdict == "allowed"
    assert "Store / MX: mx-l3" not in [f"{h.hop.device}: {h.hop.stage}" for h in tunnel.hops]


def test_the_hubs_rules_may_apply_what_they_deny_is_unknown(tmp_path: Path) -> None:
    result = org(tmp_path, hub_rules=[deny("udp", "4500")]).audit()
    trace = path_for(result, "Staff", "udp/4500").trace
    tunnel = next(t for t in trace.variants if "via hub" in t.variant)
    assert tunnel.verdict == "unknown"
    assert tunnel.unknown[0][0].device == "HQ / MX (hub)"
    assert "whether a hub's MX firewall rules apply" in tunnel.reason
    assert verdicts(result, "Staff")["udp/500"] == "allowed"
    # The hub's own VLAN leaves by its own uplink: its rule is certain there.
    assert verdicts(result, "Servers")["udp/4500"] == "blocked"


@pytest.mark.parametrize("spoke", [
    {"mode": "none", "hubs": [], "subnets": []},
    {"mode": "hub", "hubs": [], "subnets": []},
    {"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": False}], "subnets": []},
], ids=["not-in-vpn", "hub", "split-tunnel-spoke"])
def test_traffic_that_leaves_locally_never_meets_the_vpn_firewall(tmp_path: Path, spoke: dict[str, Any]) -> None:
    result = org(tmp_path, spoke=spoke, s2s=[deny("any", "Any")]).audit()
    assert set(verdicts(result, "Staff").values()) == {"allowed"}
    assert stages(result, "udp/500", "VLAN 10") == ["Store / MX: mx-l3", "Store / MX: mx-l7", "Store / MX: uplink-nat"]


def test_a_subnet_outside_the_vpn_leaves_locally(tmp_path: Path) -> None:
    result = org(tmp_path, s2s=[deny("any", "Any")], use_vpn=False).audit()
    assert set(verdicts(result, "Staff").values()) == {"allowed"}
    # Not listed at all: the snapshot does not say, so both ways count.
    result = org(tmp_path / "unlisted", s2s=[deny("any", "Any")], use_vpn=None).audit()
    assert set(verdicts(result, "Staff").values()) == {"unknown"}


def test_missing_site_to_site_settings_make_the_mx_paths_unknown(tmp_path: Path) -> None:
    snap = org(tmp_path)
    snap.remove(SPOKE_S2S)
    result = snap.audit()
    assert set(verdicts(result, "Staff").values()) == {"unknown"}
    assert set(verdicts(result, "Servers").values()) == {"allowed"}  # the hub's file is there
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.unknown[0][0].stage == "site-to-site-vpn"
    assert "whether this MX sends internet traffic to a hub over site-to-site VPN" in trace.reason
    assert "data-gap" in finding_kinds(result)
    assert any(f.path == SPOKE_S2S for f in result.model.networks[0].gaps)


def test_missing_vpn_firewall_and_unknown_hub_are_unknown_on_the_tunnel(tmp_path: Path) -> None:
    snap = org(tmp_path)
    snap.remove(S2S)
    result = snap.audit()
    tunnel = next(t for t in path_for(result, "Staff", "udp/500").trace.variants if "via hub" in t.variant)
    assert tunnel.verdict == "unknown" and tunnel.unknown[0][0].stage == "s2s-firewall"
    assert any(g.path == S2S for n in result.model.networks for g in n.gaps)

    snap = org(tmp_path / "elsewhere", spoke={"mode": "spoke", "subnets": [],
                                              "hubs": [{"hubId": "N_OTHER_ORG", "useDefaultRoute": True}]})
    tunnel = next(t for t in path_for(snap.audit(), "Staff", "udp/500").trace.variants if "via hub" in t.variant)
    assert tunnel.verdict == "unknown"
    assert "hub network N_OTHER_ORG is not among the organisation's networks" in tunnel.reason


def test_every_default_route_hub_is_a_possible_way(tmp_path: Path) -> None:
    snap = org(tmp_path, spoke={"mode": "spoke", "subnets": [], "hubs": [
        {"hubId": HUB, "useDefaultRoute": True}, {"hubId": "N_DR", "useDefaultRoute": True}]})
    snap.network("N_DR", "DR", products=("appliance",), mx_rules=[])
    trace = path_for(snap.audit(), "Staff", "udp/500").trace
    assert [t.variant for t in trace.variants] == ["VLAN 10, via hub HQ", "VLAN 10, via hub DR",
                                                   "VLAN 10, local breakout (subnet not in the site-to-site settings)"]


def test_malformed_vpn_exclusions_name_the_file(tmp_path: Path) -> None:
    snap = org(tmp_path)
    snap.write(EXCLUSIONS, {"items": [{"networkId": SPOKE, "custom": {"protocol": "udp"}}]})
    with pytest.raises(SnapshotError) as caught:
        snap.audit()
    assert EXCLUSIONS in str(caught.value) and "expected 'custom'" in str(caught.value)


@pytest.mark.parametrize(("body", "message"), [
    ({"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": True}], "subnets": [{"useVpn": True}]},
     "expected localSubnet, a boolean useVpn"),
    ({"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": True}],
      "subnets": [{"localSubnet": "10.0.10.0/24", "useVpn": "yes"}]}, "expected localSubnet, a boolean useVpn"),
    ({"mode": "spoke", "hubs": {"hubId": HUB}}, "expected 'hubs'"),
    ({"mode": "spoke", "hubs": ["N_HUB"]}, "hubs[0]: expected a hub object"),
    ([], "expected a site-to-site VPN settings object"),
    ({"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": True}], "subnets": [{"localSubnet": "10.0.10/x"}]},
     "bad subnet '10.0.10/x'"),
])
def test_malformed_site_to_site_settings_name_the_file(tmp_path: Path, body: Any, message: str) -> None:
    snap = org(tmp_path, spoke=body)
    with pytest.raises(SnapshotError) as caught:
        snap.audit()
    assert SPOKE_S2S in str(caught.value) and message in str(caught.value)


def test_settings_that_are_not_understood_are_unknown_not_guessed(tmp_path: Path) -> None:
    for body in ({"mode": "mesh"}, {"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": "yes"}]}):
        result = org(tmp_path / str(len(str(body))), spoke=body).audit()
        assert set(verdicts(result, "Staff").values()) == {"unknown"}
        assert "not understood" in path_for(result, "Staff", "udp/500").trace.reason


def test_vpn_subnet_translation_changes_what_the_vpn_firewall_sees(tmp_path: Path) -> None:
    spoke = {"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": True}], "subnets": [
        {"localSubnet": "10.0.10.0/24", "useVpn": True, "nat": {"enabled": True, "remoteSubnet": "172.31.10.0/24"}}]}
    result = org(tmp_path, spoke=spoke, s2s=[deny("udp", "500", srcCidr="172.31.10.0/24")]).audit()
    tunnel = next(t for t in path_for(result, "Staff", "udp/500").trace.variants if "via hub" in t.variant)
    assert tunnel.verdict == "blocked"
    assert "vpn-subnet-nat" in [h.hop.stage for h in tunnel.hops]


def test_diff_audits_the_spokes_of_a_changed_hub(tmp_path: Path) -> None:
    old = org(tmp_path / "a")
    new = org(tmp_path / "b", hub_rules=[deny("udp", "500")])
    old.audit(), new.audit()  # writes audit.yaml in both
    files = changed_files(old.root, new.root)
    assert set(files) == {f"meraki/networks/{HUB}/appliance/firewall/l3FirewallRules.json"}
    assert affected_networks(Snapshot(old.root), Snapshot(new.root), files, False) == {HUB, SPOKE}


def test_fix_plan_for_a_site_to_site_deny_edits_the_org_list_and_is_verified(tmp_path: Path) -> None:
    snap = org(tmp_path, s2s=[deny("udp", "500,4500", comment="no IPsec over the tunnel")])
    snap.write(EXCLUSIONS, {"items": []})
    assert verdicts(snap.audit(), "Staff")["udp/500"] == "blocked"
    result = fix_plan(snap.root)
    change = result.changes["PUT /organizations/1/appliance/vpn/vpnFirewallRules"]
    assert change.endpoint == "/organizations/1/appliance/vpn/vpnFirewallRules" and change.file == S2S
    blocking = [p for p in result.plans if p.finding.check.kind == "blocked-flow"]
    assert blocking and all(p.verified is True for p in blocking)
    rows = change.body["rules"]  # the PUT body: no synthetic default row
    assert [(r["policy"], r["protocol"], r["destCidr"], r["destPort"]) for r in rows] == [
        ("allow", "udp", "198.51.100.10/32", "500,4500"), ("deny", "udp", "Any", "500,4500")]
    assert rows[-1]["comment"] == "no IPsec over the tunnel"
    with Snapshot.overlaid(snap.root, result.overlay):
        after = run_audit(snap.root)
    assert set(verdicts(after, "Staff").values()) == {"allowed"}


def test_diff_names_the_hub_rule_that_changed_a_spokes_verdict(tmp_path: Path) -> None:
    old = org(tmp_path / "a", s2s=[])
    new = org(tmp_path / "b", s2s=[deny("udp", "4500", comment="no NAT-T over the tunnel")])
    for snap in (old, new):
        snap.write(EXCLUSIONS, {"items": []})
        snap.audit()
    result = diff_snapshots(old.root, new.root)
    changed = [c for c in result.changes if c.flow == "udp/4500" and c.role["name"] == "Staff"]
    assert changed and {(c.old, c.new) for c in changed} == {("allowed", "blocked")}
    assert any(S2S in json.dumps(cause.to_json()) for c in changed for cause in c.causes)


def tag(snap: MerakiSnapshot, net_id: str, *tags: str) -> None:
    for network in snap.networks:
        if network["id"] == net_id:
            network["tags"] = list(tags)
    snap.write("meraki/organizations/1/networks.json", snap.networks)


def test_a_non_meraki_peer_with_a_default_route_carries_internet_traffic(tmp_path: Path) -> None:
    split = {"mode": "spoke", "hubs": [{"hubId": HUB, "useDefaultRoute": False}], "subnets": []}
    snap = org(tmp_path, spoke=split)
    snap.write(PEERS, {"peers": [ZSCALER]})
    snap.write(EXCLUSIONS, {"items": []})
    result = snap.audit()
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.verdict == "unknown" and trace.variant == "VLAN 10, via non-Meraki peer Zscaler"
    assert "non-Meraki VPN peer Zscaler (165.225.0.1), whose policies and NAT are not in the snapshot" in trace.reason
    assert [h.hop.stage for h in trace.hops][-2:] == ["s2s-firewall", "non-meraki-vpn"]
    # The hub sends its own internet traffic there too.
    assert set(verdicts(result, "Servers").values()) == {"unknown"}


def test_peer_network_tags_choose_the_networks_it_carries(tmp_path: Path) -> None:
    snap = org(tmp_path, spoke={"mode": "spoke", "hubs": [], "subnets": []})
    snap.write(PEERS, {"peers": [dict(ZSCALER, networkTags=["dc"]),
                                 dict(ZSCALER, name="Partner", privateSubnets=["10.250.0.0/24"])]})
    tag(snap, HUB, "dc")
    tag(snap, SPOKE, "store", "east")
    result = snap.audit()
    assert set(verdicts(result, "Staff").values()) == {"allowed"}  # not tagged dc; the partner has no default
    assert set(verdicts(result, "Servers").values()) == {"unknown"}


def test_missing_peers_make_vpn_networks_unknown_but_not_others(tmp_path: Path) -> None:
    snap = org(tmp_path, spoke={"mode": "none"})
    snap.remove(PEERS)
    result = snap.audit()
    assert set(verdicts(result, "Staff").values()) == {"allowed"}  # not in site-to-site VPN at all
    trace = path_for(result, "Servers", "udp/500").trace
    assert trace.verdict == "unknown"
    assert "via non-Meraki peer (peers not in the snapshot)" in trace.variant
    assert "thirdPartyVPNPeers.json is not in the snapshot" in trace.reason


def test_vlan_references_in_the_hubs_rules_mean_the_hubs_vlans(tmp_path: Path) -> None:
    # HQ denies UDP 4500 from its own server VLAN only: a spoke's tunnelled traffic is not from there.
    rule = deny("udp", "4500", srcCidr="VLAN(100).*", comment="servers no NAT-T")
    snap = org(tmp_path, hub_rules=[rule])
    snap.write(EXCLUSIONS, {"items": []})
    result = snap.audit()
    assert verdicts(result, "Staff")["udp/4500"] == "allowed"
    assert verdicts(result, "Servers")["udp/4500"] == "blocked"
    snap.remove(f"meraki/networks/{HUB}/appliance/vlans.json")
    snap.remove(f"meraki/networks/{HUB}/appliance/vlans/settings.json")
    tunnel = path_for(snap.audit(), "Staff", "udp/4500").trace
    assert tunnel.verdict == "unknown" and "the VLANs of hub HQ are not in the snapshot" in tunnel.reason
