"""A VPN server behind a Meraki MX: only a port forward (on an uplink address), a 1:1 NAT or a 1:many NAT lets
internet traffic in, from its allowed remote IPs, translated to the server's LAN address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditResult, run_audit
from auditor.fixplan import fix_plan
from auditor.snapshot import Snapshot, SnapshotError
from tests.snapshot_builder import MerakiSnapshot, path_for, verdicts

STORE, HQ = "N_STORE", "N_HQ"
FW = f"meraki/networks/{HQ}/appliance/firewall"
HQ_UPLINK, STORE_UPLINK = "203.0.113.100", "192.0.2.10"


def org(tmp_path: Path, server: str, *, forwards: list[dict[str, Any]] | None = None,
        one_to_one: list[dict[str, Any]] | None = None, one_to_many: list[dict[str, Any]] | None = None,
        inbound: list[dict[str, Any]] | None = None, path: list[str] | None = None) -> MerakiSnapshot:
    snap = MerakiSnapshot(tmp_path / "org", servers=[{"name": "vpn", "address": server,
                                                      "protocols": ["ikev2", "l2tp", "sstp"],
                                                      **({"path": path} if path else {})}])
    snap.network(STORE, "Store", products=("appliance",))
    snap.network(HQ, "HQ", products=("appliance",), vlans=[{"id": 100, "name": "Servers", "subnet": "10.100.0.0/24"}])
    snap.write(f"{FW}/portForwardingRules.json", {"rules": forwards or []})
    snap.write(f"{FW}/oneToOneNatRules.json", {"rules": one_to_one or []})
    snap.write(f"{FW}/oneToManyNatRules.json", {"rules": one_to_many or []})
    snap.write(f"{FW}/inboundFirewallRules.json", {"rules": [
        *[{"srcPort": "Any", "syslogEnabled": False, **r} for r in inbound or []],
        {"comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any", "srcCidr": "Any",
         "destPort": "Any", "destCidr": "Any", "syslogEnabled": False}], "syslogDefaultRule": False})
    snap.write("meraki/organizations/1/appliance/uplink/statuses.json", [
        {"networkId": STORE, "uplinks": [{"interface": "wan1", "status": "active", "publicIp": STORE_UPLINK}]},
        {"networkId": HQ, "uplinks": [{"interface": "wan1", "status": "active", "publicIp": HQ_UPLINK}]}])
    return snap


def forward(protocol: str, port: str, local: str | None = None, allowed: list[str] | None = None,
            uplink: str = "both", name: str = "") -> dict[str, Any]:
    return {"lanIp": "10.100.0.10", "allowedIps": allowed or ["any"], "name": name or f"VPN {protocol} {port}",
            "protocol": protocol, "publicPort": port, "localPort": local or port, "uplink": uplink}


def stages(result: AuditResult, flow: str) -> list[str]:
    return [f"{h.hop.device}: {h.hop.stage}" for h in path_for(result, "Staff", flow).trace.hops]


def test_port_forwards_on_the_uplink_address_let_the_vpn_in(tmp_path: Path) -> None:
    result = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "500"), forward("udp", "4500"),
                                                 forward("tcp", "443")]).audit()
    # udp/1701 travels inside IPsec (udp/500, udp/4500): no forward of its own is needed
    assert verdicts(result, "Staff", network="Store") == {"udp/500": "allowed", "udp/4500": "allowed",
                                                          "udp/1701": "allowed", "tcp/443": "allowed"}
    assert stages(result, "udp/500")[-2:] == ["HQ / MX: port-forwarding", "HQ / MX: inbound-firewall"]
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.allowed.destinations() == [((1 << 128) + (10 << 24) + (100 << 16) + 10,) * 2]  # 10.100.0.10
    # The HQ's own VLAN reaches its own public address only by hairpin NAT, which is not modelled.
    assert set(verdicts(result, "Servers").values()) == {"unknown"}
    assert "hairpin NAT" in path_for(result, "Servers", "udp/500").trace.reason


def test_allowed_remote_ips_decide_per_store_address(tmp_path: Path) -> None:
    result = org(tmp_path, HQ_UPLINK, forwards=[
        forward("udp", "500", allowed=["198.18.0.0/15"]), forward("udp", "4500"), forward("tcp", "443"),
        forward("udp", "1701")]).audit()
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.verdict == "unknown"  # not forwarded from the store's address: the MX may answer itself
    assert verdicts(result, "Staff")["udp/4500"] == "allowed"


def test_a_forward_on_the_other_uplink_does_not_take_it(tmp_path: Path) -> None:
    result = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "4500", uplink="internet2")]).audit()
    assert verdicts(result, "Staff")["udp/4500"] == "unknown"


def test_one_to_one_nat_allows_only_what_its_inbound_list_names(tmp_path: Path) -> None:
    rule = {"name": "RRAS", "publicIp": "203.0.113.20", "lanIp": "10.100.0.10", "uplink": "internet1",
            "allowedInbound": [{"protocol": "udp", "destinationPorts": ["500", "4500"], "allowedIps": ["any"]}]}
    result = org(tmp_path, "203.0.113.20", one_to_one=[rule]).audit()
    assert verdicts(result, "Staff") == {"udp/500": "allowed", "udp/4500": "allowed", "udp/1701": "allowed",
                                         "tcp/443": "blocked"}
    assert path_for(result, "Staff", "tcp/443").trace.reason == (
        "tcp/443 is blocked at HQ / MX (one-to-one-nat): the 1:1 NAT of 203.0.113.20 (RRAS) allows no other "
        "inbound traffic (protocol, port or remote IP).")


def test_one_to_many_nat_translates_ports(tmp_path: Path) -> None:
    rule = {"publicIp": "203.0.113.21", "uplink": "internet1", "portRules": [
        {"name": "SSTP", "protocol": "tcp", "publicPort": "443", "localIp": "10.100.0.10", "localPort": "8443",
         "allowedIps": ["any"]}]}
    result = org(tmp_path, "203.0.113.21", one_to_many=[rule]).audit()
    assert verdicts(result, "Staff")["tcp/443"] == "allowed"
    assert verdicts(result, "Staff")["udp/500"] == "blocked"
    allowed = path_for(result, "Staff", "tcp/443").trace.allowed
    assert {box[4] for box in allowed.boxes} == {(8443, 8443)}


def test_an_inbound_firewall_deny_is_unknown(tmp_path: Path) -> None:
    result = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "500")],
                 inbound=[{"comment": "no IKE", "policy": "deny", "protocol": "udp", "srcCidr": "Any",
                           "destPort": "500", "destCidr": "10.100.0.0/24"}]).audit()
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.verdict == "unknown"
    assert "whether the inbound firewall also filters what a port forward or NAT rule lets in" in trace.reason


def test_an_mx_that_holds_no_server_address_is_not_placed(tmp_path: Path) -> None:
    result = org(tmp_path, "198.51.100.10", forwards=[forward("udp", "500")]).audit()
    assert "HQ / MX: port-forwarding" not in stages(result, "udp/500")
    assert set(verdicts(result, "Staff").values()) == {"allowed"}


def test_named_in_path_without_a_nat_rule_for_the_address(tmp_path: Path) -> None:
    result = org(tmp_path, "198.51.100.10", path=["meraki/HQ"]).audit()
    assert stages(result, "udp/500")[-1] == "HQ / MX: inbound-nat"  # blocked there: nothing further
    assert set(verdicts(result, "Staff").values()) == {"blocked"}
    assert path_for(result, "Staff", "udp/500").trace.reason == (
        "udp/500 is blocked at HQ / MX (inbound-nat): 198.51.100.10 is not an uplink address of this MX and no "
        "1:1 or 1:many NAT rule maps it.")
    snap = org(tmp_path / "gap", "198.51.100.10", path=["meraki/HQ"])
    snap.remove(f"{FW}/oneToOneNatRules.json")
    assert set(verdicts(snap.audit(), "Staff").values()) == {"unknown"}


@pytest.mark.parametrize(("rule", "message"), [
    (forward("gre", "500"), "protocol 'gre' is not tcp or udp"),
    (forward("udp", "500-510", local="600-605"), "cannot map to local 600-605"),
    (forward("udp", "x"), "bad port 'x'"),
    (forward("udp", "500", allowed=["nowhere"]), "bad allowed IP 'nowhere'"),
])
def test_malformed_forwards_name_the_file_and_rule(tmp_path: Path, rule: dict[str, Any], message: str) -> None:
    with pytest.raises(SnapshotError) as caught:
        org(tmp_path, HQ_UPLINK, forwards=[rule]).audit()
    assert f"{FW}/portForwardingRules.json rules[0]" in str(caught.value) and message in str(caught.value)


def test_fix_plan_opens_the_one_to_one_nat_and_is_verified(tmp_path: Path) -> None:
    rule = {"name": "RRAS", "publicIp": "203.0.113.20", "lanIp": "10.100.0.10", "uplink": "internet1",
            "allowedInbound": [{"protocol": "udp", "destinationPorts": ["500", "4500"], "allowedIps": ["any"]}]}
    snap = org(tmp_path, "203.0.113.20", one_to_one=[rule])
    snap.audit()
    result = fix_plan(snap.root)
    change = result.changes[f"PUT /networks/{HQ}/appliance/firewall/oneToOneNatRules"]
    # SSTP only: L2TP's 1701 travels inside IPsec, so the NAT is not opened for it
    assert change.body["rules"][0]["allowedInbound"][1:] == [
        {"protocol": "tcp", "allowedIps": ["any"], "destinationPorts": ["443"]}]
    blocking = [p for p in result.plans if p.finding.check.kind == "blocked-flow"]
    assert blocking and all(p.verified is True for p in blocking)
    with Snapshot.overlaid(snap.root, result.overlay):
        assert set(verdicts(run_audit(snap.root), "Staff").values()) == {"allowed"}


@pytest.mark.parametrize(("mode", "why"), [
    ("passthrough", "HQ / MX is in passthrough mode (meraki/networks/N_HQ/appliance/settings.json): it forwards "
                    "and translates nothing"),
    (None, "whether HQ / MX is routed (its port forwards and NAT reach the server) or in passthrough mode "
           "(they do nothing) is unknown"),
    ("bridge", "deploymentMode 'bridge' is not understood"),
])
def test_an_mx_that_may_not_forward_leaves_the_server_unknown(tmp_path: Path, mode: str | None, why: str) -> None:
    snap = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "500"), forward("udp", "4500"), forward("tcp", "443")])
    settings = snap.root / f"meraki/networks/{HQ}/appliance/settings.json"
    if mode is None:
        settings.unlink()
    else:
        snap.write(f"meraki/networks/{HQ}/appliance/settings.json", {"deploymentMode": mode})
    result = snap.audit()
    assert set(verdicts(result, "Staff", network="Store").values()) == {"unknown"}
    assert stages(result, "udp/500")[-1] == "HQ / MX: deployment-mode"
    assert why in path_for(result, "Staff", "udp/500").trace.reason
    gaps = [f.evidence["reason"] for f in result.findings if f.check.kind == "data-gap"
            and f.evidence["file"] == f"meraki/networks/{HQ}/appliance/settings.json"]
    # Missing, it is a gap of the MX in front of the server (and, separately, of HQ's own clients' way out).
    assert any(why in reason for reason in gaps) == (mode is None)


# -- named in `path`: in front of the server, not the IPsec endpoint --------------------------------------
def test_a_path_named_mx_blocks_the_flow_it_does_not_forward(tmp_path: Path) -> None:
    """Error 809's classic cause: UDP 500 forwarded to the server, UDP 4500 not (was: unknown, "the MX may be
    the VPN server itself")."""
    snap = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "500")], path=["meraki/HQ"])
    result = snap.audit()
    assert verdicts(result, "Staff", network="Store") == {"udp/500": "allowed", "udp/4500": "blocked",
                                                          "udp/1701": "blocked", "tcp/443": "blocked"}
    assert path_for(result, "Staff", "udp/4500").trace.reason == (
        "udp/4500 is blocked at HQ / MX (port-forwarding): udp/4500 to 203.0.113.100 is not forwarded: no port "
        "forwarding, 1:1 or 1:many NAT rule on MX 'HQ' takes it; add a port forward of UDP 4500 to 10.100.0.10.")
    found = [f for f in result.findings if f.check.kind == "blocked-flow" and f.device == "HQ / MX"
             and f.evidence["flows"] == ["udp/4500"]]
    assert found and found[0].remediation == \
        "At HQ / MX (port-forwarding): add a port forward of UDP 4500 to 10.100.0.10."
    # HQ's own VLAN reaches its own public address only by hairpin NAT: still not modelled, still unknown.
    assert set(verdicts(result, "Servers").values()) == {"unknown"}


def test_a_path_named_mx_forwarding_both_ike_ports_lets_ikev2_in(tmp_path: Path) -> None:
    result = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "500"), forward("udp", "4500")],
                 path=["meraki/N_HQ"]).audit()  # named by id this time
    # udp/1701 travels inside IPsec: the two IKE forwards carry it
    assert verdicts(result, "Staff", network="Store") == {"udp/500": "allowed", "udp/4500": "allowed",
                                                          "udp/1701": "allowed", "tcp/443": "blocked"}


def test_a_path_named_forward_from_other_remote_ips_says_so(tmp_path: Path) -> None:
    result = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "500", allowed=["198.18.0.0/15"]),
                                                 forward("udp", "4500")], path=["meraki/HQ"]).audit()
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.verdict == "blocked"
    assert "udp/500 to 203.0.113.100 from 192.0.2.10 is not forwarded: port forward VPN udp 500 (udp 500 -> " \
           "10.100.0.10:500) takes it only from its allowed remote IPs" in trace.reason


def test_a_path_named_mx_with_missing_data_is_never_allowed_nor_blocked(tmp_path: Path) -> None:
    # No uplink statuses and no 1:1 NAT file: 203.0.113.100 may be a 1:1 public address the snapshot lacks.
    snap = org(tmp_path, HQ_UPLINK, path=["meraki/HQ"])
    snap.remove("meraki/organizations/1/appliance/uplink/statuses.json")
    snap.remove(f"{FW}/oneToOneNatRules.json")
    result = snap.audit()
    assert set(verdicts(result, "Staff", network="Store").values()) == {"unknown"}
    assert "whether a 1:1 or 1:many NAT of this MX takes it is unknown" in \
        path_for(result, "Staff", "udp/4500").trace.reason
    # Without the uplink statuses alone the address can only be reached through a forward: blocked.
    snap = org(tmp_path / "statuses", HQ_UPLINK, path=["meraki/HQ"], forwards=[forward("udp", "500")])
    snap.remove("meraki/organizations/1/appliance/uplink/statuses.json")
    assert verdicts(snap.audit(), "Staff", network="Store") == {
        "udp/500": "allowed", "udp/4500": "blocked", "udp/1701": "blocked", "tcp/443": "blocked"}
    # No port forwarding file: unknown.
    snap = org(tmp_path / "forwards", HQ_UPLINK, path=["meraki/HQ"])
    snap.remove(f"{FW}/portForwardingRules.json")
    assert set(verdicts(snap.audit(), "Staff", network="Store").values()) == {"unknown"}


# -- the MX is the VPN server (Client VPN) ----------------------------------------------------------------
L2TP_ONLY = ["l2tp"]


def client_vpn_org(tmp_path: Path, *, protocols: list[str] | None = None, hq_rules: list[dict[str, Any]] | None = None,
                   hq_uplinks: list[dict[str, Any]] | None = None, forwards: list[dict[str, Any]] | None = None,
                   inbound: list[dict[str, Any]] | None = None) -> MerakiSnapshot:
    """HQ's MX is the Client VPN server (its uplink address); HQ also has Wi-Fi bridged into its VLAN 100."""
    snap = org(tmp_path, HQ_UPLINK, forwards=forwards, inbound=inbound)
    snap.config["vpn_servers"][0]["protocols"] = protocols or L2TP_ONLY
    snap.networks = [n for n in snap.networks if n["id"] != HQ]
    snap.network(HQ, "HQ", products=("appliance", "wireless"), mx_rules=hq_rules,
                 vlans=[{"id": 100, "name": "Servers", "subnet": "10.100.0.0/24"}])
    snap.ssid(HQ, 0, "Corp", defaultVlanId=100)
    snap.write("meraki/organizations/1/appliance/uplink/statuses.json", [
        {"networkId": STORE, "uplinks": [{"interface": "wan1", "status": "active", "publicIp": STORE_UPLINK}]},
        {"networkId": HQ, "uplinks": hq_uplinks or [{"interface": "wan1", "status": "active", "publicIp": HQ_UPLINK}]}])
    return snap


def test_a_client_vpn_mx_is_reached_from_other_sites(tmp_path: Path) -> None:
    result = client_vpn_org(tmp_path).audit()
    assert verdicts(result, "Staff", network="Store") == {"udp/500": "allowed", "udp/4500": "allowed",
                                                          "udp/1701": "allowed"}
    trace = path_for(result, "Staff", "udp/4500").trace
    assert [f"{h.hop.device}: {h.hop.stage}" for h in trace.hops][-2:] == ["Store / MX: uplink-nat",
                                                                          "HQ / MX: client-vpn"]
    assert "the VPN terminates on the MX (Client VPN), so its outbound and inbound firewall rules do not " \
           "decide it" in trace.hops[-1].segments[0].reason


def test_a_client_vpn_mx_blocks_its_own_lan(tmp_path: Path) -> None:
    result = client_vpn_org(tmp_path).audit()
    for role in ("Servers", "Corp"):  # its VLAN, and the SSID bridged into it
        assert verdicts(result, role, network="HQ") == {"udp/500": "blocked", "udp/4500": "blocked",
                                                        "udp/1701": "blocked"}
    reason = path_for(result, "Corp", "udp/500").trace.reason
    assert reason.startswith("udp/500 is blocked at HQ / MX (client-vpn-from-lan): the MX of this network is "
                             "itself the VPN server 'vpn' (203.0.113.100)")
    assert "'Client VPN Overview' (documentation.meraki.com/MX/Client_VPN/Client_VPN_Overview) states that " \
           "connecting to Client VPN from a client on the MX's LAN is not supported" in reason
    finding = next(f for f in result.findings if f.check.id == "VPN-BLOCKED" and f.role["name"] == "Servers")
    assert "clients on this MX's own LAN cannot use its Client VPN" in finding.remediation


def test_the_client_vpn_mx_rules_do_not_decide_what_terminates_on_it(tmp_path: Path) -> None:
    """HQ's outbound deny of UDP 500 and its inbound deny do not stop other sites (the traffic terminates on
    the MX); its own clients are stopped by Client VPN's limit before those rules."""
    deny_ike = {"comment": "no IKE out", "policy": "deny", "protocol": "udp", "destPort": "500", "destCidr": "Any"}
    result = client_vpn_org(tmp_path, hq_rules=[deny_ike],
                            inbound=[{"comment": "no IKE in", "policy": "deny", "protocol": "udp",
                                      "srcCidr": "Any", "destPort": "500", "destCidr": "Any"}]).audit()
    assert verdicts(result, "Staff", network="Store")["udp/500"] == "allowed"
    blocked = path_for(result, "Servers", "udp/500").trace
    assert blocked.verdict == "blocked" and blocked.blocked[0][0].stage == "client-vpn-from-lan"
    # The deny still applies to HQ's clients going anywhere else: another server beyond HQ's uplink.
    snap = client_vpn_org(tmp_path / "two", hq_rules=[deny_ike])
    snap.config["vpn_servers"].append({"name": "other", "address": "198.51.100.10", "protocols": ["l2tp"]})
    other = [p for p in snap.audit().paths if p.server.name == "other" and p.role.name == "Servers"
             and str(p.trace.flow) == "udp/500"]
    assert [p.verdict for p in other] == ["blocked"] and other[0].trace.blocked[0][0].stage == "mx-l3"


def test_a_client_vpn_mx_answers_only_l2tp_ipsec(tmp_path: Path) -> None:
    result = client_vpn_org(tmp_path, protocols=["sstp"]).audit()
    trace = path_for(result, "Staff", "tcp/443").trace
    assert trace.verdict == "unknown" and "whether the MX answers tcp/443" in trace.reason


def test_a_client_vpn_mx_with_two_uplinks_depends_on_which_is_primary(tmp_path: Path) -> None:
    snap = client_vpn_org(tmp_path, hq_uplinks=[
        {"interface": "wan1", "status": "active", "publicIp": HQ_UPLINK},
        {"interface": "wan2", "status": "active", "publicIp": "203.0.113.200"}])
    result = snap.audit()
    assert set(verdicts(result, "Staff", network="Store").values()) == {"unknown"}
    assert "only established on the primary uplink" in path_for(result, "Staff", "udp/500").trace.reason
    assert set(verdicts(result, "Servers", network="HQ").values()) == {"blocked"}  # from its LAN: never


@pytest.mark.parametrize("change", ["forward-ike", "no-forward-file", "passthrough", "no-settings", "no-statuses"])
def test_a_client_vpn_mx_without_the_data_to_say_so_is_never_allowed_from_its_lan(tmp_path: Path,
                                                                                  change: str) -> None:
    snap = client_vpn_org(tmp_path, forwards=[forward("udp", "4500")] if change == "forward-ike" else None)
    if change == "no-forward-file":
        snap.remove(f"{FW}/portForwardingRules.json")
    elif change == "passthrough":
        snap.write(f"meraki/networks/{HQ}/appliance/settings.json", {"deploymentMode": "passthrough"})
    elif change == "no-settings":
        snap.remove(f"meraki/networks/{HQ}/appliance/settings.json")
    elif change == "no-statuses":
        snap.remove("meraki/organizations/1/appliance/uplink/statuses.json")
    result = snap.audit()
    hq = {v for role in ("Servers", "Corp") for v in verdicts(result, role, network="HQ").values()}
    store = set(verdicts(result, "Staff", network="Store").values())
    assert "allowed" not in hq and "HQ / MX: client-vpn" not in stages(result, "udp/500")
    if change == "no-statuses":
        # No MX's address is known: the server may be any MX of the org, each site's own (was: allowed).
        assert hq == store == {"unknown"}
        reason = path_for(result, "Staff", "udp/500").trace.reason
        assert reason.startswith("udp/500 is unknown at Store / MX (client-vpn-from-lan): ")
        assert "whether VPN server 'vpn' (203.0.113.100) is this network's own MX" in reason
        assert any(f.check.kind == "data-gap" and "statuses.json" in f.evidence["file"] for f in result.findings)
        return
    if change == "forward-ike":  # a forward of NAT-T says the server may be behind the MX: unknown, as before
        assert verdicts(result, "Staff", network="Store") == {"udp/500": "unknown", "udp/4500": "allowed",
                                                              "udp/1701": "unknown"}
    else:
        assert store == {"unknown"}


def test_fix_plan_adds_the_missing_port_forward_and_is_verified(tmp_path: Path) -> None:
    snap = org(tmp_path, HQ_UPLINK, forwards=[forward("udp", "500", allowed=["198.18.0.0/15"])],
               path=["meraki/HQ"])
    snap.config["vpn_servers"][0]["protocols"] = ["ikev2"]
    snap.audit()
    result = fix_plan(snap.root)
    change = result.changes[f"PUT /networks/{HQ}/appliance/firewall/portForwardingRules"]
    rules = change.body["rules"]
    assert rules[0]["allowedIps"] == ["any"]  # the forward of UDP 500 now takes the store's address too
    assert [(r["protocol"], r["publicPort"], r["lanIp"], r["allowedIps"]) for r in rules[1:]] == [
        ("udp", "4500", "10.100.0.10", ["any"])]
    blocking = [p for p in result.plans if p.finding.check.kind == "blocked-flow"]
    assert blocking and all(p.verified is True for p in blocking)
    with Snapshot.overlaid(snap.root, result.overlay):
        assert set(verdicts(run_audit(snap.root), "Staff", network="Store").values()) == {"allowed"}
