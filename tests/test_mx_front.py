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
    assert verdicts(result, "Staff", network="Store") == {"udp/500": "allowed", "udp/4500": "allowed",
                                                          "udp/1701": "unknown", "tcp/443": "allowed"}
    assert stages(result, "udp/500")[-2:] == ["HQ / MX: port-forwarding", "HQ / MX: inbound-firewall"]
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.allowed.destinations() == [((1 << 128) + (10 << 24) + (100 << 16) + 10,) * 2]  # 10.100.0.10
    # The HQ's own VLAN reaches its own public address only by hairpin NAT, which is not modelled.
    assert set(verdicts(result, "Servers").values()) == {"unknown"}
    assert "hairpin NAT" in path_for(result, "Servers", "udp/500").trace.reason
    # Nothing forwards udp/1701: the MX may be the server itself (Client VPN), so it is unknown, not blocked.
    reason = path_for(result, "Staff", "udp/1701").trace.reason
    assert "no port forward on 203.0.113.100 takes it; the MX may be the VPN server itself" in reason


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
    assert verdicts(result, "Staff") == {"udp/500": "allowed", "udp/4500": "allowed", "udp/1701": "blocked",
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
    assert sorted(change.body["rules"][0]["allowedInbound"][1:], key=lambda e: e["protocol"]) == [
        {"protocol": "tcp", "allowedIps": ["any"], "destinationPorts": ["443"]},
        {"protocol": "udp", "allowedIps": ["any"], "destinationPorts": ["1701"]}]
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
