"""IPsec as it really travels: UDP 1701 of L2TP/IPsec rides inside the SA, NAT-T (udp/4500) where something
translates addresses and plain ESP where nothing does, both where that is unsure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.audit import AuditResult, run_audit
from auditor.cli import app
from auditor.protocols import load_protocols
from auditor.snapshot import SnapshotError
from tests.snapshot_builder import MerakiSnapshot, allow, deny, path_for, verdicts

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
SERVER = "203.0.113.10"


def inert(result: AuditResult) -> list:
    return [f for f in result.findings if f.check.kind == "inert-rule"]


# -- inner flows -------------------------------------------------------------------------------------------

def test_an_ssid_rule_on_plain_1701_is_inert_and_leaves_l2tp_allowed(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path)
    net = snap.network()
    snap.ssid(net, 0, "Guest", rules=[deny("udp", "1701", comment="no L2TP")])
    result = snap.audit()
    assert verdicts(result, "Guest", kind="ssid") == {
        "udp/500": "allowed", "udp/4500": "allowed", "udp/1701": "allowed", "tcp/443": "allowed"}
    trace = path_for(result, "Guest", "udp/1701").trace
    assert trace.carried_by and [str(f) for f in trace.carried_by] == ["udp/500", "udp/4500"]
    assert all(seg.rule is None and "inside IPsec" in seg.reason for r in trace.hops for seg in r.segments)
    (finding,) = inert(result)
    assert finding.effective_severity == "info" and finding.evidence["rule"]["rule"]["comment"] == "no L2TP"
    assert finding.title == "Store / SSID 0 (Guest) ssid-l3 rule 1: inert, udp/1701 travels inside IPsec"
    assert "only affects L2TP without IPsec" in finding.remediation
    assert "wireless/ssids/0/firewall/l3FirewallRules.json" in finding.evidence["rule"]["rule"]["source"]
    assert not [f for f in result.findings if f.check.kind == "blocked-flow"]


def test_an_mx_rule_on_plain_1701_is_inert_once_for_every_role(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path)
    net = snap.network(vlans=[{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
                              {"id": 20, "name": "POS", "subnet": "10.0.20.0/24"}],
                       mx_rules=[allow("udp", "1701", srcCidr="Any", comment="L2TP"),
                                 deny("udp", "1701", srcCidr="Any", comment="never reached")])
    snap.ssid(net, 0, "Staff-Wifi", defaultVlanId=10)
    result = snap.audit()
    assert all(p.verdict == "allowed" for p in result.paths)
    (finding,) = inert(result)  # the deciding allow, once; the deny behind it never decides plain 1701
    assert finding.evidence["rule"]["rule"]["comment"] == "L2TP"
    assert finding.network == {"id": "N_1", "name": "Store"}


def test_a_blocked_nat_t_blocks_l2tp_over_ipsec(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path)
    net = snap.network()
    snap.ssid(net, 0, "Guest", rules=[deny("udp", "4500", comment="no NAT-T")])
    result = snap.audit()
    got = verdicts(result, "Guest", kind="ssid")
    assert got["udp/4500"] == "blocked" and got["udp/1701"] == "blocked" and got["udp/500"] == "allowed"
    reason = path_for(result, "Guest", "udp/1701").trace.reason
    assert reason.startswith("udp/1701 travels inside IPsec (udp/500 and udp/4500), so it needs its carriers: "
                             "udp/4500 is blocked at Store / SSID 0 (Guest) (ssid-l3) by rule 1")
    # the finding and its fix name the carrier only: nothing tells an admin to open 1701
    (finding,) = [f for f in result.findings if f.check.id == "VPN-BLOCKED" and "l2tp" in f.evidence["protocols"]]
    assert finding.evidence["flows"] == ["udp/4500"] and "1701" not in finding.remediation


def test_an_unknown_carrier_makes_the_inner_flow_unknown(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path)
    net = snap.network()
    snap.ssid(net, 0, "L7", l7=[{"policy": "deny", "type": "port", "value": "4500"}])
    result = snap.audit()
    assert verdicts(result, "L7", kind="ssid")["udp/1701"] == "unknown"


def test_plain_l2tp_is_opt_in_and_decided_by_every_hop(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path, servers=[{"name": "vpn", "address": SERVER, "protocols": ["l2tp-plain"]}])
    net = snap.network()
    snap.ssid(net, 0, "Guest", rules=[deny("udp", "1701", comment="no L2TP")])
    result = snap.audit()
    assert verdicts(result, "Guest", kind="ssid") == {"udp/1701": "blocked"}
    trace = path_for(result, "Guest", "udp/1701").trace
    assert not trace.carried_by and trace.blocked[0][1].rule.comment == "no L2TP"
    assert not inert(result)  # on the wire, the rule is not inert
    assert "l2tp-plain" in load_protocols() and "l2tp-plain" not in ("ikev2", "sstp")  # not a default


def test_the_demo_reports_the_edge_and_load_balancer_1701_rules_as_inert() -> None:
    result = run_audit(DEMO)
    by_device = {f.device: f for f in inert(result)}
    assert set(by_device) == {"cisco/hq-edge", "f5/hq-bigip"}
    assert by_device["cisco/hq-edge"].evidence["rule"]["rule"]["source"] == "cisco/hq-edge.cfg:32"
    assert "eq 1701" in by_device["cisco/hq-edge"].remediation
    # the ASA's service group holds 500 and 4500 too: that line is needed, so not inert
    assert "cisco/hq-asa" not in by_device


# -- ESP where nothing translates ------------------------------------------------------------------------------

IOS_ACL_ONLY = """!
hostname edge
!
interface GigabitEthernet0/0
 ip address 192.0.2.1 255.255.255.252
 ip access-group FROM-INTERNET in
!
interface GigabitEthernet0/1
 ip address 203.0.113.1 255.255.255.0
!
ip access-list extended FROM-INTERNET
 permit udp any host 203.0.113.10 eq isakmp
 permit udp any host 203.0.113.10 eq non500-isakmp
{esp} permit tcp any host 203.0.113.10 eq 443
 deny ip any any
!
ip route 0.0.0.0 0.0.0.0 192.0.2.2
!
end
"""


def routed_snapshot(tmp_path: Path, prefixes: list[str], esp: bool) -> Path:
    """A server behind an IOS router that filters but does not translate, and remote users with the given
    prefixes coming from the internet."""
    (tmp_path / "cisco").mkdir(parents=True)
    (tmp_path / "cisco" / "edge.cfg").write_text(
        IOS_ACL_ONLY.format(esp=" permit esp any host 203.0.113.10\n" if esp else ""))
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": SERVER, "protocols": ["ikev2", "l2tp"], "path": ["cisco/edge"]}],
        "sources": [{"name": "partners", "prefixes": prefixes}]}))
    return tmp_path


def flows(result: AuditResult, protocol: str) -> dict[str, str]:
    return {str(p.trace.flow): p.verdict for p in result.paths if p.protocol == protocol}


def test_esp_is_traced_where_nothing_translates(tmp_path: Path) -> None:
    result = run_audit(routed_snapshot(tmp_path, ["198.51.100.0/24"], esp=False))
    # public sources, a router that only filters: IKE finds no NAT, so ESP, not NAT-T
    assert flows(result, "ikev2") == {"udp/500": "allowed", "esp": "blocked"}
    assert flows(result, "l2tp") == {"udp/500": "allowed", "esp": "blocked", "udp/1701": "blocked"}
    esp = next(p for p in result.paths if str(p.trace.flow) == "esp")
    assert "by line 15 of cisco/edge.cfg (deny ip any any)" in esp.trace.reason
    allowed = run_audit(routed_snapshot(tmp_path / "ok", ["198.51.100.0/24"], esp=True))
    assert set(flows(allowed, "ikev2").values()) == {"allowed"}


def test_esp_paths_in_the_json_report_have_no_port(tmp_path: Path) -> None:
    root = routed_snapshot(tmp_path, ["198.51.100.0/24"], esp=True)
    run = CliRunner().invoke(app, ["audit", str(root), "--format", "json"])
    report = json.loads(run.stdout)
    esp = [p for p in report["paths"] if p["flow"]["ip_protocol"] == "esp"]
    assert esp and all(p["flow"]["dst_port"] is None for p in esp)
    assert not [p for p in report["paths"] if p["flow"] == {"ip_protocol": "udp", "dst_port": 4500}]
    (inner,) = [p for p in report["paths"] if p["flow"] == {"ip_protocol": "udp", "dst_port": 1701}]
    assert inner["carried_by"] == ["udp/500", "esp"] and inner["protocol"] == "l2tp"


def passthrough_store(tmp_path: Path, ssid_rules: list[dict]) -> MerakiSnapshot:
    """An MX in passthrough mode (it neither routes nor translates) with a private and a public VLAN, and an
    untagged SSID whose clients may sit in either."""
    snap = MerakiSnapshot(tmp_path, servers=[{"name": "vpn", "address": SERVER, "protocols": ["ikev2", "l2tp"]}])
    snap.network(vlans=[{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
                        {"id": 20, "name": "Public", "subnet": "81.2.3.0/24"}])
    snap.write("meraki/networks/N_1/appliance/settings.json", {"deploymentMode": "passthrough"})
    snap.ssid("N_1", 0, "Untagged", useVlanTagging=False, rules=ssid_rules)
    return snap


def test_a_passthrough_mx_with_public_clients_uses_esp(tmp_path: Path) -> None:
    result = passthrough_store(tmp_path, []).audit()
    public = {(p.protocol, str(p.trace.flow)) for p in result.paths if p.role.name == "Public"}
    assert public == {("ikev2", "udp/500"), ("ikev2", "esp"), ("l2tp", "udp/500"), ("l2tp", "esp"),
                      ("l2tp", "udp/1701")}
    inner = path_for(result, "Public", "udp/1701").trace
    assert [str(f) for f in inner.carried_by] == ["udp/500", "esp"]
    staff = {str(p.trace.flow) for p in result.paths if p.role.name == "Staff" and p.protocol == "ikev2"}
    assert staff == {"udp/500", "udp/4500"}  # private clients are translated upstream: NAT-T


def test_where_nat_is_unsure_both_are_traced_and_a_lone_block_is_unknown(tmp_path: Path) -> None:
    rules = [allow("udp", "500,4500", f"{SERVER}/32"), deny("any", "any", f"{SERVER}/32", comment="nothing else")]
    result = passthrough_store(tmp_path, rules).audit()
    got = {str(p.trace.flow): p.verdict for p in result.paths if p.role.name == "Untagged" and p.protocol == "ikev2"}
    assert got == {"udp/500": "allowed", "udp/4500": "allowed", "esp": "unknown"}
    reason = next(p for p in result.paths if p.role.name == "Untagged" and str(p.trace.flow) == "esp").trace.reason
    assert reason.startswith("esp is needed only if nothing on the path translates addresses (plain ESP), which "
                             "the snapshot does not settle (udp/4500 allowed)")
    assert path_for(result, "Untagged", "udp/1701").trace.verdict == "unknown"


def test_where_nat_is_unsure_and_both_are_blocked_both_are_blocked(tmp_path: Path) -> None:
    rules = [allow("udp", "500", f"{SERVER}/32"), deny("any", "any", f"{SERVER}/32", comment="nothing else")]
    result = passthrough_store(tmp_path, rules).audit()
    got = {str(p.trace.flow): p.verdict for p in result.paths if p.role.name == "Untagged" and p.protocol == "ikev2"}
    assert got == {"udp/500": "allowed", "udp/4500": "blocked", "esp": "blocked"}
    assert path_for(result, "Untagged", "udp/1701").trace.verdict == "blocked"


def test_a_static_nat_in_front_of_the_server_is_nat_for_ike(tmp_path: Path) -> None:
    """Destination NAT counts too: IKE compares the addresses each end saw (RFC 7296 section 2.23)."""
    (tmp_path / "cisco").mkdir()
    (tmp_path / "cisco" / "asa.cfg").write_text((ROOT / "fixtures" / "cisco" / "asa-vpn.cfg").read_text())
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2"]}],
        "sources": [{"name": "partners", "prefixes": ["198.51.100.0/24"]}]}))
    assert set(flows(run_audit(tmp_path), "ikev2")) == {"udp/500", "udp/4500"}


# -- the catalogue ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("flows_spec", "message"), [
    ([{"flow": "udp/4500", "when": "sometimes"}], "`when` of udp/4500 must be 'nat' or 'no-nat'"),
    (["udp/500", {"flow": "udp/1701", "inside": ["udp/4500"]}], "carried by udp/4500, which is not one of its"),
    (["udp/500", "udp/500"], "a flow is listed twice"),
])
def test_bad_carrier_declarations_are_input_errors(tmp_path: Path, flows_spec: list, message: str) -> None:
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": SERVER, "protocols": ["custom"]}],
        "protocols": {"custom": {"flows": flows_spec}}}))
    with pytest.raises(SnapshotError) as caught:
        run_audit(tmp_path)
    assert message in str(caught.value)


def test_a_custom_protocol_can_declare_its_own_carriers(tmp_path: Path) -> None:
    root = routed_snapshot(tmp_path, ["198.51.100.0/24"], esp=True)
    config = json.loads((root / "audit.yaml").read_text())
    config["vpn_servers"][0]["protocols"] = ["gre-over-ipsec"]
    config["protocols"] = {"gre-over-ipsec": {"flows": [
        "udp/500", {"flow": "udp/4500", "when": "nat"}, {"flow": "esp", "when": "no-nat"},
        {"flow": "gre", "inside": ["udp/500", "udp/4500", "esp"]}]}}
    (root / "audit.yaml").write_text(json.dumps(config))
    got = flows(run_audit(root), "gre-over-ipsec")
    assert got == {"udp/500": "allowed", "esp": "allowed", "gre": "allowed"}


def test_an_asa_deny_of_plain_1701_is_inert(tmp_path: Path) -> None:
    lines = (ROOT / "fixtures" / "cisco" / "asa-vpn.cfg").read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("access-list OUTSIDE_IN extended permit udp"))
    lines.insert(at, "access-list OUTSIDE_IN extended deny udp any any eq 1701\n")
    (tmp_path / "cisco").mkdir()
    (tmp_path / "cisco" / "asa.cfg").write_text("".join(lines))
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "protocols": ["l2tp"]}],
        "sources": [{"name": "partners", "prefixes": ["198.51.100.0/24"]}]}))
    result = run_audit(tmp_path)
    assert set(flows(result, "l2tp").values()) == {"allowed"}
    (finding,) = inert(result)
    assert finding.device == "cisco/asa" and finding.evidence["rule"]["rule"]["source"] == f"cisco/asa.cfg:{at + 1}"
