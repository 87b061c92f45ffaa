"""One test per bug the robustness suite found, each on the smallest input that showed it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.audit import run_audit
from auditor.snapshot import Snapshot, SnapshotError
from tests.robustness.meraki_base import build
from tests.snapshot_builder import MerakiSnapshot, deny, verdicts


def _rewrite(root: Path, rel: str, edit) -> None:  # type: ignore[no-untyped-def]
    body = json.loads((root / rel).read_text())
    edit(body)
    (root / rel).write_text(json.dumps(body))


def test_ids_are_read_at_the_percent_encoded_names_the_collector_writes(tmp_path: Path) -> None:
    # A NUL byte in an SSID number crashed path resolution (ValueError); ids with "/" were read at the raw
    # name while the collector writes the percent-encoded one, so their files were never found.
    snap = MerakiSnapshot(tmp_path, org_id="o/1")
    snap.networks.append({"id": "N/1", "organizationId": "o/1", "name": "Slash", "productTypes": ["wireless"]})
    snap.write("meraki/organizations/o%2F1/networks.json", snap.networks)
    snap.write("meraki/organizations/o%2F1/policyObjects.json", [])
    snap.write("meraki/organizations/o%2F1/policyObjects/groups.json", [])
    base = "meraki/networks/N%2F1"
    snap.write(f"{base}/groupPolicies.json", [])
    snap.write(f"{base}/wireless/ssids.json", [{"number": "0\x00", "name": "Odd", "enabled": True,
                                                 "authMode": "open", "splashPage": "None"}])
    snap.write(f"{base}/wireless/ssids/0%00/firewall/l3FirewallRules.json", {"rules": [deny("udp", "500")]})
    snap.write(f"{base}/wireless/ssids/0%00/firewall/l7FirewallRules.json", {"rules": []})
    result = snap.audit()
    assert verdicts(result, "Odd")["udp/500"] == "blocked"
    assert len(result.model.networks) == 1  # the org folder and organizations.json name one org, not two


def test_a_nul_byte_in_a_snapshot_path_is_an_input_error(tmp_path: Path) -> None:
    from auditor.snapshot import Snapshot

    with pytest.raises(SnapshotError, match="NUL"):
        Snapshot(tmp_path).read_json("meraki/a\x00b.json")


@pytest.mark.parametrize(("rel", "edit"), [
    ("meraki/networks/N_1/groupPolicies.json", lambda b: b[1].update(firewallAndTrafficShaping=[["x"], 7])),
    ("meraki/networks/N_1/groupPolicies.json", lambda b: b[0].update(groupPolicyId={"x": 1})),
    ("meraki/networks/N_1/groupPolicies.json", lambda b: b[2].update(vlanTagging=["x"])),
    ("meraki/networks/N_1/groupPolicies.json",
     lambda b: b[0]["firewallAndTrafficShaping"].update(l3FirewallRules="deny all")),
    ("meraki/organizations/1/networks.json", lambda b: b[0].update(productTypes=1e308)),
    ("meraki/organizations/1/networks.json", lambda b: b[0].update(productTypes=[{"x": 1}])),
])
def test_type_confused_meraki_fields_are_input_errors_not_crashes(tmp_path: Path, rel: str, edit) -> None:  # type: ignore[no-untyped-def]
    build(tmp_path).audit()
    _rewrite(tmp_path, rel, edit)
    with pytest.raises(SnapshotError) as err:
        run_audit(tmp_path)
    assert err.value.path.startswith(rel)


def test_unreadable_policy_group_members_are_unknown(tmp_path: Path) -> None:
    snap = build(tmp_path)
    snap.audit()
    mx = "meraki/networks/N_1/appliance/firewall/l3FirewallRules.json"
    _rewrite(tmp_path, mx, lambda b: b["rules"][1].update(policy="deny"))  # deny tcp/443 to GRP(21)
    assert verdicts(run_audit(tmp_path), "Staff", kind="vlan")["tcp/443"] == "blocked"
    _rewrite(tmp_path, "meraki/organizations/1/policyObjects/groups.json", lambda b: b[0].update(objectIds=1.5))
    result = run_audit(tmp_path)  # was: TypeError 'float' object is not iterable
    assert verdicts(result, "Staff", kind="vlan")["tcp/443"] == "unknown"


@pytest.mark.parametrize("tagging", [{"unexpected": 1}, {"settings": "custom"}, {"settings": "sometimes"}])
def test_unreadable_group_policy_vlan_tag_is_unknown_not_the_ssid_default(tmp_path: Path, tagging: dict) -> None:
    # The Quiet policy tags VLAN 20, whose group policy blocks IKE. An unreadable tag fell back to the SSID's
    # VLAN 10, where IKE passes: "allowed" from data that does not say so.
    snap = build(tmp_path)
    assert verdicts(snap.audit(), "Quiet", kind="group_policy")["udp/500"] == "blocked"
    _rewrite(tmp_path, "meraki/networks/N_1/groupPolicies.json", lambda b: b[2].update(vlanTagging=tagging))
    assert verdicts(run_audit(tmp_path), "Quiet", kind="group_policy")["udp/500"] == "unknown"


def test_unknown_ip_assignment_mode_is_unknown(tmp_path: Path) -> None:
    snap = build(tmp_path)
    snap.audit()
    _rewrite(tmp_path, "meraki/networks/N_1/wireless/ssids.json", lambda b: b[0].update(ipAssignmentMode="Mesh"))
    result = run_audit(tmp_path)
    assert set(verdicts(result, "Corp").values()) == {"unknown"}
    assert "Mesh" in next(p for p in result.paths if p.role.name == "Corp").trace.reason


def test_missing_policy_objects_are_a_data_gap(tmp_path: Path) -> None:
    snap = build(tmp_path)
    snap.remove("meraki/organizations/1/policyObjects.json")
    result = snap.audit()
    assert "meraki/organizations/1/policyObjects.json" in {g.path for g in result.model.gaps}
    assert any(f.check.kind == "data-gap" and "policyObjects.json" in f.evidence["file"] for f in result.findings)


@pytest.mark.parametrize("value", [0, "", [], {}, "false"])
def test_non_boolean_splash_block_setting_is_unknown(tmp_path: Path, value: object) -> None:
    # `if not block` read 0, "" and [] as "false": non-HTTP traffic passes before sign-on, so IKE was allowed.
    snap = build(tmp_path)
    assert verdicts(snap.audit(), "Guest", phase="pre-auth")["udp/4500"] == "allowed"  # walled garden
    rel = "meraki/networks/N_1/wireless/ssids.json"
    _rewrite(tmp_path, rel, lambda b: b[1].update(walledGardenEnabled=False))
    assert verdicts(run_audit(tmp_path), "Guest", phase="pre-auth")["udp/4500"] == "blocked"
    splash = "meraki/networks/N_1/wireless/ssids/1/splash/settings.json"
    _rewrite(tmp_path, splash, lambda b: b.update(blockAllTrafficBeforeSignOn=value))
    assert verdicts(run_audit(tmp_path), "Guest", phase="pre-auth")["udp/4500"] == "unknown"


def test_non_boolean_allow_lan_access_falls_back_on_the_lan_row(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path, servers=[{"name": "vpn", "address": "10.9.9.9", "protocols": ["ikev2"]}])
    snap.network("N_1", "Store", products=("wireless",))
    snap.ssid("N_1", 0, "Corp", allow_lan=False)
    assert verdicts(snap.audit(), "Corp")["udp/500"] == "blocked"  # the server sits on the LAN
    _rewrite(tmp_path, "meraki/networks/N_1/wireless/ssids/0/firewall/l3FirewallRules.json",
             lambda b: b.update(allowLanAccess={"x": 1}))  # was truthy: LAN access allowed
    assert verdicts(run_audit(tmp_path), "Corp")["udp/500"] == "blocked"


# --- Cisco ------------------------------------------------------------------------------------------------
CISCO = Path(__file__).parents[2] / "fixtures" / "cisco"


def _cisco_audit(tmp_path: Path, fixture: str, address: str, edit) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """flow -> verdict for an internet source reaching `address` through cisco/edge.cfg after `edit`."""
    import yaml

    (tmp_path / "cisco").mkdir(exist_ok=True)
    (tmp_path / "cisco" / "edge.cfg").write_text(edit((CISCO / fixture).read_text()))
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": address, "protocols": ["ikev2", "l2tp", "sstp"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    result = run_audit(tmp_path)
    return {str(p.trace.flow): p.verdict for p in result.paths}


def test_cisco_intact_fixtures_allow_ike(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "i").mkdir()
    assert _cisco_audit(tmp_path / "a", "asa-vpn.cfg", "198.51.100.10", str)["udp/500"] == "allowed"
    assert _cisco_audit(tmp_path / "i", "ios-vpn.cfg", "203.0.113.2", str)["udp/500"] == "allowed"


@pytest.mark.parametrize(("fixture", "address", "edit"), [
    # a transfer cut short: the NAT and access-group lines at the end are gone, so the ASA owned nothing
    ("asa-vpn.cfg", "198.51.100.10", lambda t: t[:t.index("pager lines")]),
    # an undefined IOS list filters nothing: when the list was cut off, that read "allowed"
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t[:t.index("ip access-list extended WAN-IN")]),
    # a mangled interface header: its address, ACL binding and NAT role were dropped without a word
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t.replace("interface GigabitEthernet0/0", "%% GigabitEthernet0/0")),
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t.replace("ip access-list extended WAN-IN", "eq- access-list WAN-IN")),
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t.replace(" ip address 203.0.113.2", " %% address 203.0.113.2")),
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t.replace(" ip address 203.0.113.2", " ip %% 203.0.113.2")),
    # unreadable values the parsers skipped: an interface address, a NAT keyword, a binding direction
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t.replace("ip address 203.0.113.2", "ip address 300.1.1.1")),
    ("asa-vpn.cfg", "198.51.100.10", lambda t: t.replace("nat (dmz,outside) static", "nat %% static")),
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t.replace("ip access-group WAN-IN in", "ip access-group WAN-IN 1")),
    ("ios-vpn.cfg", "203.0.113.2", lambda t: t.replace("ip access-group WAN-IN in", "ip access-group 99999 in")),
])
def test_unreadable_cisco_lines_never_read_as_allowed(tmp_path: Path, fixture: str, address: str, edit) -> None:  # type: ignore[no-untyped-def]
    verdict = _cisco_audit(tmp_path, fixture, address, edit)
    assert verdict["udp/500"] == "unknown", verdict  # allowed by the intact configuration


def test_undefined_but_valid_ios_list_still_filters_nothing(tmp_path: Path) -> None:
    verdict = _cisco_audit(tmp_path, "ios-vpn.cfg", "203.0.113.2",
                           lambda t: t.replace("ip access-group WAN-IN in", "ip access-group NOT-THERE in"))
    assert verdict["tcp/443"] == "allowed"  # IOS semantics, on a complete configuration


def test_truncation_is_a_data_gap_naming_the_file(tmp_path: Path) -> None:
    _cisco_audit(tmp_path, "asa-vpn.cfg", "198.51.100.10", lambda t: t[: t.index(": end")])
    result = run_audit(tmp_path)
    assert any(g.path == "cisco/edge.cfg" and "does not end with `end`" in g.reason for g in result.model.gaps)


def test_unbalanced_brace_line_is_read_not_a_crash(tmp_path: Path) -> None:
    # ciscoconfparse raised ValueError on a `}` line without an opening `{` (a banner or a pasted script).
    verdict = _cisco_audit(tmp_path, "ios-vpn.cfg", "203.0.113.2",
                           lambda t: t.replace("hostname br-edge-01\n", "hostname br-edge-01\n}\n"))
    assert verdict["udp/500"] == "allowed"  # the line is read as the comment it is


# --- load balancers ----------------------------------------------------------------------------------------
LB = Path(__file__).parents[2] / "fixtures" / "lb"


def _lb_snapshot(tmp_path: Path, rel: str, fixture: str, vip: str) -> Path:
    import shutil

    import yaml

    source = LB / fixture
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, tmp_path / rel)
    else:
        shutil.copy(source, tmp_path / rel)
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump({
        "vpn_servers": [{"name": "vpn", "address": vip, "protocols": ["ikev2", "l2tp", "sstp"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    return tmp_path


def test_lb_service_with_an_unreadable_port_is_unknown_even_with_backends(tmp_path: Path) -> None:
    # An unreadable VSPort made the service listen on every port; with real servers behind it, udp/1701
    # (no listener in the intact file: dropped) was translated and reported allowed.
    # (plain L2TP: UDP 1701 in the clear, which only a listener on 1701 would take)
    root = _lb_snapshot(tmp_path, "kemp/lb1.xml", "kemp/sticky-port-following.xml", "203.0.113.30")
    config = root / "audit.yaml"
    config.write_text(config.read_text().replace("- l2tp\n", "- l2tp-plain\n"))
    assert {str(p.trace.flow): p.verdict for p in run_audit(root).paths}["udp/1701"] == "blocked"
    xml = root / "kemp/lb1.xml"
    xml.write_text(xml.read_text().replace("<VSPort>4500</VSPort>", "<VSPort>%%</VSPort>", 1))
    verdict = {str(p.trace.flow): p.verdict for p in run_audit(root).paths}
    assert verdict["udp/1701"] == "unknown" and verdict["udp/4500"] == "unknown"


def test_f5_rest_body_that_is_no_collection_is_an_input_error(tmp_path: Path) -> None:
    # Read as an empty collection, it hid every virtual server: the device fronted nothing, paths "allowed".
    root = _lb_snapshot(tmp_path, "f5/lb1", "f5/rest-sticky", "203.0.113.20")
    (root / "f5/lb1/ltm/virtual.json").write_text('{"unexpected": [1]}')
    with pytest.raises(SnapshotError) as err:
        run_audit(root)
    assert err.value.path == "f5/lb1/ltm/virtual.json"
    (root / "f5/lb1/ltm/virtual.json").write_text('{"kind": "tm:ltm:virtual:virtualcollectionstate"}')
    run_audit(root)  # an empty collection, as iControl REST sends it, is fine


@pytest.mark.parametrize(("resource", "body"), [
    ("lbvserver", {"errorcode": 0, "lbvserver": [{"servicetype": "UDP", "ipv46": "203.0.113.41"}]}),
    ("lbgroup", {"errorcode": 0, "lbgroup": [{"persistencetype": "SOURCEIP"}]}),
    ("servicegroup", {"errorcode": 0, "servicegroup": [{"servicegroupname": ["x"]}]}),
    ("lbvserver", {"unexpected": [1]}),
])
def test_nitro_rows_without_names_are_input_errors(tmp_path: Path, resource: str, body: dict) -> None:
    root = _lb_snapshot(tmp_path, "netscaler/lb1", "netscaler/nitro-sticky", "203.0.113.41")
    (root / f"netscaler/lb1/{resource}.json").write_text(json.dumps(body))
    with pytest.raises(SnapshotError) as err:  # was: KeyError 'name' / TypeError unhashable
        run_audit(root)
    assert err.value.path.startswith(f"netscaler/lb1/{resource}.json")


@pytest.mark.parametrize(("rel", "fixture", "vip", "old", "new"), [
    ("kemp/lb1.xml", "kemp/sticky-port-following.xml", "203.0.113.30", "<VSAddress>203.0.113.30<", "<VSAddress>%%<"),
    ("f5/lb1.conf", "f5/split-builtin-source-addr.conf", "203.0.113.10", "/Common/203.0.113.10:", "/Common/%%:"),
])
def test_lb_with_an_unreadable_vip_stays_in_front(tmp_path: Path, rel: str, fixture: str, vip: str, old: str,
                                                 new: str) -> None:
    # Owning nothing it could read, the device was left off the path: tcp/443 and udp/1701 read "allowed".
    root = _lb_snapshot(tmp_path, rel, fixture, vip)
    (root / rel).write_text((root / rel).read_text().replace(old, new))
    verdict = {str(p.trace.flow): p.verdict for p in run_audit(root).paths}
    assert "allowed" not in verdict.values(), verdict


# --- audit.yaml --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "line"), [(b"\x80vpn_servers: []\n", None), (b"vpn_servers:\n  - \x00\n", 2)])
def test_unreadable_audit_yaml_is_one_line_naming_the_file(tmp_path: Path, raw: bytes, line: int | None) -> None:
    # Non-UTF-8 bytes raised UnicodeDecodeError; a NUL gave a message spanning several lines.
    from typer.testing import CliRunner

    from auditor.cli import app

    build(tmp_path).audit()
    (tmp_path / "audit.yaml").write_bytes(raw)
    with pytest.raises(SnapshotError) as err:
        run_audit(tmp_path)
    assert err.value.path.endswith("audit.yaml") and err.value.line == line
    result = CliRunner().invoke(app, ["audit", str(tmp_path)])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize(("line", "secret"), [
    ("snmp-server host 10.0.0.7 version 2c TrapComm1", "TrapComm1"),  # IOS: the community has no keyword
    ("snmp-server host 10.0.0.7 vrf M informs version 2c TrapComm2 tty", "TrapComm2"),
    (" standby 1 authentication md5 key-string HsrpKey1", "HsrpKey1"),  # `key-string` itself was redacted
    (" standby 1 authentication HsrpKey2", "HsrpKey2"),
    (" vrrp 1 authentication text VrrpKey1", "VrrpKey1"),
    (" ip nhrp authentication NhrpKey1", "NhrpKey1"),
])
def test_cisco_redaction_of_positional_secrets(line: str, secret: str) -> None:
    from auditor.vendors.cisco.collect import redact_config

    text, count = redact_config(line + "\n")
    assert secret not in text and count == 1 and text.count("<redacted>") == 1


def test_asa_snmp_host_keeps_its_address() -> None:
    from auditor.vendors.cisco.collect import redact_config

    assert redact_config("snmp-server host inside 10.0.0.8 poll\n") == ("snmp-server host inside 10.0.0.8 poll\n", 0)


# --- collectors --------------------------------------------------------------------------------------------
def test_a_secret_met_in_a_body_is_scrubbed_from_error_texts(tmp_path: Path) -> None:
    # A server that echoes a PSK in an error (before or after the body that holds it) put it in the manifest.
    from auditor.collect.writer import SnapshotWriter

    with SnapshotWriter(tmp_path, "meraki") as writer:
        writer.record_call("networks/N_1/groupPolicies", "failed", status=500, error="psk Wifi-Psk-123 rejected")
        writer.write_json("meraki/networks/N_1/wireless/ssids.json", [{"number": 0, "psk": "Wifi-Psk-123"}])
    manifest = (tmp_path / "manifest.json").read_text()
    assert "Wifi-Psk-123" not in manifest and "psk <redacted> rejected" in manifest


def test_netmiko_session_transcript_stays_out_of_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    # netmiko logs every byte read at DEBUG: the running-config before redaction.
    import logging

    from auditor.vendors.cisco.collect import _quiet_transcript

    caplog.set_level(logging.DEBUG)
    with _quiet_transcript():
        logging.getLogger("netmiko").debug("read_channel: crypto isakmp key Sup3r address 0.0.0.0")
    logging.getLogger("netmiko").debug("after the session")
    assert "Sup3r" not in caplog.text and "after the session" in caplog.text


# --- pathological sizes and shapes -------------------------------------------------------------------------
@pytest.mark.parametrize(("rel", "text", "message"), [
    ("meraki/networks/N_1/wireless/ssids.json", "[" * 100_000 + "]" * 100_000, "nested too deeply"),  # RecursionError
    ("meraki/networks/N_1/wireless/ssids.json", '[{"number": 1' + "0" * 5000 + "}]", "digits"),  # ValueError
    ("audit.yaml", "vpn_servers: " + "[" * 5000 + "]" * 5000, "nested too deeply"),  # RecursionError
    ("f5/lb.conf", "ltm virtual /Common/v {\n" * 5000 + "}\n" * 5000, "nested more than"),  # RecursionError
])
def test_deeply_nested_or_oversized_values_are_input_errors(tmp_path: Path, rel: str, text: str,
                                                            message: str) -> None:
    build(tmp_path).audit()
    (tmp_path / rel).parent.mkdir(exist_ok=True)
    (tmp_path / rel).write_text(text)
    with pytest.raises(SnapshotError, match=message) as err:
        run_audit(tmp_path)
    assert err.value.path.endswith(rel)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_an_ace_between_two_huge_object_groups_is_bounded_and_uncertain(tmp_path: Path) -> None:
    # 4,000 x 4,000 hosts built 16 million boxes: 20 s and gigabytes for one access-list line.
    import time

    groups = ["object-group network SRC",  # every other address: nothing merges
              *(f" network-object host 172.16.{i // 128}.{2 * (i % 128)}" for i in range(4000)),
              "object-group network DST",
              *(f" network-object host 10.20.{i // 125}.{2 * (i % 125)}" for i in range(4000))]
    acl = "!\naccess-list OUTSIDE_IN remark"

    def edit(text: str) -> str:
        text = text.replace(acl, "\n".join(groups) + "\n" + acl)
        return text.replace("access-list OUTSIDE_IN remark == VPN server: IKE and NAT-T ==",
                            "access-list OUTSIDE_IN extended deny udp object-group SRC object-group DST eq 500", 1)

    started = time.monotonic()
    verdict = _cisco_audit(tmp_path, "asa-vpn.cfg", "198.51.100.10", edit)
    assert time.monotonic() - started < 20
    assert verdict["udp/500"] == "unknown"  # the deny's bounds cover the server: it may or may not match
    assert verdict["udp/4500"] == "allowed"  # other ports are not touched by it


@pytest.mark.timeout(60)
def test_a_meraki_rule_with_huge_comma_lists_on_both_sides_is_bounded(tmp_path: Path) -> None:
    import time

    snap = build(tmp_path)
    snap.audit()
    srcs = ",".join(f"10.{i // 256}.{i % 256}.1/32" for i in range(0, 20000, 2))
    dsts = ",".join(f"198.51.{50 + i // 256}.{i % 256}/32" for i in range(1, 20000, 2))  # around the server
    rel = "meraki/networks/N_1/appliance/firewall/l3FirewallRules.json"
    _rewrite(tmp_path, rel, lambda b: b["rules"].insert(0, {"policy": "deny", "protocol": "udp", "srcCidr": srcs,
                                                             "srcPort": "any", "destCidr": dsts, "destPort": "500"}))
    started = time.monotonic()
    result = run_audit(tmp_path)
    assert time.monotonic() - started < 20
    assert verdicts(result, "Staff", kind="vlan")["udp/500"] == "unknown"  # was allowed; may now be denied


def test_thousands_of_shadowed_aces_are_explained_up_to_a_cap_then_summed_up(tmp_path: Path) -> None:
    # Each shadowed line was explained by a pass over all earlier lines: quadratic in a long list.
    denies = [f"access-list OUTSIDE_IN extended deny ip 172.16.{k}.0 255.255.255.0 any4" for k in range(210)]
    permits = [f"access-list OUTSIDE_IN extended permit ip 172.16.{k}.0 255.255.255.0 any4" for k in range(210)]
    anchor = "access-list OUTSIDE_IN remark == VPN server: IKE and NAT-T =="
    _cisco_audit(tmp_path, "asa-vpn.cfg", "198.51.100.10",
                 lambda t: t.replace(anchor, "\n".join([*denies, *permits, anchor])))
    found = [f for f in run_audit(tmp_path).findings if f.check.id == "CISCO-SHADOWED-ACE"]
    summary = [f for f in found if "count" in f.evidence]
    assert len(found) == 201 and len(summary) == 1 and summary[0].evidence["count"] == 10


@pytest.mark.parametrize(("rel", "fixture", "vip", "key"), [
    ("f5/lb1", "f5/rest-sticky", "203.0.113.20", "ltm/virtual.json:items"),
    ("netscaler/lb1", "netscaler/nitro-sticky", "203.0.113.41", "lbvserver.json:lbvserver"),
])
def test_rest_items_that_are_not_objects_are_input_errors(tmp_path: Path, rel: str, fixture: str, vip: str,
                                                          key: str) -> None:
    # Skipped, they hid every virtual server: the device fronted nothing and paths read "allowed".
    root = _lb_snapshot(tmp_path, rel, fixture, vip)
    name, field = key.split(":")
    _rewrite(root, f"{rel}/{name}", lambda b: b.update({field: [["nested"], 7]}))
    with pytest.raises(SnapshotError) as err:
        run_audit(root)
    assert err.value.path == f"{rel}/{name}[0]"


# --- snapshot reads ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "text"), [
    (b"interface Gi0/1\r\n ip access-group IN in\r\n", "interface Gi0/1\n ip access-group IN in\n"),
    (b"a\rb\r\nc\n", "a\nb\nc\n"),  # old Mac line ends too, as a text-mode read gives them
    ("caf\u00e9\n".encode(), "caf\u00e9\n"),
])
def test_snapshot_text_has_universal_newlines(tmp_path: Path, raw: bytes, text: str) -> None:
    # Files are read as bytes and decoded once; line ends must still read as in text mode, or a CRLF
    # config would carry a '\r' into every parsed token.
    (tmp_path / "cisco").mkdir()
    (tmp_path / "cisco" / "edge.cfg").write_bytes(raw)
    assert Snapshot(tmp_path).read_text("cisco/edge.cfg") == text


def test_snapshot_decode_error_names_the_byte(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_bytes(b'{"a": "' + b"x" * 10 + b'\xff"}')
    with pytest.raises(SnapshotError) as err:
        Snapshot(tmp_path).read_json("x.json")
    assert "not UTF-8 text (byte 17)" in str(err.value)


# --- group policies ----------------------------------------------------------------------------------------
def test_policy_firewall_without_settings_is_unknown_not_network_default(tmp_path: Path) -> None:
    # Found by the fuzzer: firewallAndTrafficShaping without 'settings' read as "network default", which
    # dropped the policy's deny and opened the VLAN's path.
    assert verdicts(build(tmp_path).audit(), "Guests", kind="vlan")["udp/500"] == "blocked"  # by the deny
    rel = tmp_path / "meraki/networks/N_1/groupPolicies.json"
    policies = json.loads(rel.read_text())
    assert policies[0]["firewallAndTrafficShaping"]["settings"] == "custom"
    del policies[0]["firewallAndTrafficShaping"]["settings"]
    rel.write_text(json.dumps(policies))
    result = run_audit(tmp_path)
    guests = verdicts(result, "Guests", kind="vlan")
    assert guests["udp/500"] == guests["udp/4500"] == guests["tcp/443"] == "unknown", guests
    reasons = {p.trace.reason for p in result.paths if p.role.kind == "vlan" and p.role.name == "Guests"}
    assert all("group policy 'Guests' has firewallAndTrafficShaping without 'settings'" in r for r in reasons)


@pytest.mark.parametrize("value", [1e308, "203.0.113.80/32", {"a": 1}])
def test_walled_garden_that_is_not_a_list_is_an_input_error(tmp_path: Path, value: object) -> None:
    # Found by the fuzzer: a number where the list belongs raised TypeError (a traceback, not an error line).
    snap = build(tmp_path)
    snap.audit()
    rel = tmp_path / "meraki/networks/N_1/wireless/ssids.json"
    ssids = json.loads(rel.read_text())
    splash = next(i for i, s in enumerate(ssids) if s.get("walledGardenEnabled"))
    ssids[splash]["walledGardenRanges"] = value
    rel.write_text(json.dumps(ssids))
    with pytest.raises(SnapshotError) as err:
        run_audit(tmp_path)
    assert err.value.path == "meraki/networks/N_1/wireless/ssids.json"
    assert "expected 'walledGardenRanges' to be a list" in str(err.value)


@pytest.mark.parametrize("told", [0, 10, 4999, 6000])
def test_a_file_that_changed_since_its_status_is_read_to_its_end(tmp_path: Path, told: int,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A file is read in one call when it holds exactly the size its status gave; one that grew or shrank
    between the two (as a collector still writing it) is read on to its end, and one that grew past the cap
    is refused as too large, never cut short."""
    import os

    import auditor.snapshot as snapshot_module

    body = json.dumps({"rules": [{"comment": "x" * 40, "policy": "allow"}] * 100}).encode()  # ~6 KB
    target = tmp_path / "rules.json"
    target.write_bytes(body[:5000] if told == 6000 else body)
    real_fstat = os.fstat

    def stale_fstat(fd: int) -> os.stat_result:  # the size as it was when the status was taken
        status = real_fstat(fd)
        return os.stat_result((*status[:6], told, *status[7:]))

    monkeypatch.setattr(snapshot_module.os, "fstat", stale_fstat)
    snap = Snapshot(tmp_path)
    data, _status = snap._read_file("rules.json")
    assert data == target.read_bytes()
    snap.max_file_bytes = 1000  # a file told small that has grown past the cap
    data, _status = snap._read_file("rules.json")
    assert data is None and snap.oversized["rules.json"] > 1000
