"""`vpn-auditor diff`: verdict changes between snapshots and the configuration change behind each."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.audit import AuditResult
from auditor.cli import app
from auditor.diff import _Explainer, diff_rule_lists, diff_snapshots
from auditor.model import Action, FilterHop, Model, Origin, Rule, RuleList
from auditor.packets import ALL, PacketSet

ROOT = Path(__file__).resolve().parents[1]
BEFORE = ROOT / "fixtures" / "snapshots" / "diff-before"
AFTER = ROOT / "fixtures" / "snapshots" / "diff-after"
A, B = "L_910000000000001", "L_910000000000002"


@pytest.fixture(scope="module")
def report() -> dict:
    result = CliRunner().invoke(app, ["diff", str(BEFORE), str(AFTER), "--format", "json"])
    assert result.exit_code == 1, result.stderr  # flows went from allowed to worse
    return json.loads(result.stdout)


def changes(report: dict, network: str, kind: str, name: str, phase: str = "post-auth") -> dict[str, dict]:
    """flow -> change, for one role (protocols share the flow's verdict; the first is enough)."""
    out: dict[str, dict] = {}
    for change in report["changes"]:
        if (change["network"]["id"], change["role"]["kind"], change["role"]["name"], change["phase"]) == \
                (network, kind, name, phase):
            out.setdefault(change["flow"], change)
    return out


def kinds(change: dict) -> list[str]:
    return [c["kind"] for c in change["causes"]]


def test_only_the_networks_with_changed_files_are_audited_and_the_files_are_listed(report: dict):
    assert report["schema"] == "vpn-auditor.diff/1"
    assert report["summary"]["audited_networks"] == 2
    files = {f["file"] for f in report["changed_files"]}
    assert files == {
        "EXPECTED.md",  # read by no adapter: listed, but it makes no network audited
        f"meraki/networks/{A}/appliance/firewall/l3FirewallRules.json",
        f"meraki/networks/{A}/wireless/ssids.json",
        f"meraki/networks/{A}/wireless/ssids/2/identityPsks.json",
        f"meraki/networks/{B}/wireless/ssids/0/firewall/l3FirewallRules.json",
        f"meraki/networks/{B}/wireless/ssids/1/firewall/l3FirewallRules.json",
        f"meraki/networks/{B}/wireless/ssids.json",
    }


def test_a_moved_mx_rule_unblocks_the_guest_vlan(report: dict):
    for kind, name in (("vlan", "Guest"), ("ssid", "Guest")):
        found = changes(report, A, kind, name)
        assert set(found) == {"udp/4500", "udp/1701"}  # 1701 rides inside IPsec: it follows udp/4500
        change = found["udp/4500"]
        assert (change["old"], change["new"], change["regression"]) == ("blocked", "allowed", False)
        assert change["decided_old"]["rule"]["comment"] == "Guests: no NAT-T"
        cause = change["causes"][0]
        assert cause["kind"] == "rule-moved" and cause["deciding"]
        assert (cause["old"]["index"], cause["new"]["index"]) == (2, 1)
        assert cause["file"] == f"meraki/networks/{A}/appliance/firewall/l3FirewallRules.json"


def test_walled_garden_removal_blocks_before_sign_on(report: dict):
    found = changes(report, A, "ssid", "Guest", "pre-auth")
    # udp/4500 was blocked at the MX before, and still is (and so is udp/1701, which it carries)
    assert set(found) == {"udp/500", "tcp/443"}
    for change in found.values():
        assert (change["old"], change["new"]) == ("allowed", "blocked")
        assert kinds(change) == ["walled-garden-changed"]  # the MX move does not change these flows
        assert "198.51.100.10/32" in change["causes"][0]["detail"]
        assert change["decided_new"]["stage"] == "splash"


def test_ipsk_mapped_to_another_policy(report: dict):
    found = changes(report, A, "ipsk", "Scanners")
    assert set(found) == {"udp/500", "udp/4500", "udp/1701"}
    change = found["udp/500"]
    assert change["regression"]
    assert kinds(change) == ["ipsk-mapping-changed"]
    assert "101 -> 103" in change["causes"][0]["detail"]
    assert "Quarantine" in change["decided_new"]["rule"]["text"]


def test_added_and_edited_ssid_rules(report: dict):
    corp = changes(report, B, "ssid", "Corp")
    assert set(corp) == {"udp/500", "udp/4500", "udp/1701"}
    cause = corp["udp/500"]["causes"][0]
    assert cause["kind"] == "rule-added" and cause["new"]["index"] == 1
    assert cause["new"]["comment"] == "No personal VPNs"
    guest2 = changes(report, B, "ssid", "Guest2")
    assert set(guest2) == {"tcp/443"}
    cause = guest2["tcp/443"]["causes"][0]
    assert cause["kind"] == "rule-edited"
    assert cause["old"]["text"] == "deny tcp -> any:25" and cause["new"]["text"] == "deny tcp -> 198.51.100.0/24:443"


def test_vlan_change_makes_the_kiosk_unknown(report: dict):
    found = changes(report, B, "ssid", "Kiosk")
    # the MX has no VLAN 20, so whether anything translates is unknown too: ESP is traced beside NAT-T
    assert set(found) == {"udp/500", "udp/4500", "esp", "udp/1701", "tcp/443"}
    change = found["tcp/443"]
    assert (change["old"], change["new"]) == ("allowed", "unknown")
    assert kinds(change)[0] == "vlan-changed"
    assert "VLAN 10 (SSID VLAN tag) -> VLAN 20" in change["causes"][0]["detail"]


def test_nothing_else_changed(report: dict):
    roles = {(c["network"]["id"], c["role"]["kind"], c["role"]["name"], c["phase"]) for c in report["changes"]}
    assert roles == {(A, "vlan", "Guest", "post-auth"), (A, "ssid", "Guest", "post-auth"),
                     (A, "ssid", "Guest", "pre-auth"), (A, "ipsk", "Scanners", "post-auth"),
                     (B, "ssid", "Corp", "post-auth"), (B, "ssid", "Guest2", "post-auth"),
                     (B, "ssid", "Kiosk", "post-auth")}


def test_text_output_names_changes_on_one_line_each():
    result = CliRunner().invoke(app, ["diff", str(BEFORE), str(AFTER)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("REGRESSION Branch B / ssid 'Corp' (post-auth) -> corp-vpn udp/500 (ikev2, l2tp): "
                               "allowed -> blocked") for line in lines)
    assert any("rule-moved at Branch A / MX [mx-l3]: rule moved from position 2 to 1" in line for line in lines)


def test_identical_snapshots_exit_0(tmp_path: Path):
    copy = tmp_path / "copy"
    shutil.copytree(BEFORE, copy, copy_function=shutil.copyfile)  # new file times: bytes are compared
    result = CliRunner().invoke(app, ["diff", str(BEFORE), str(copy)])
    assert result.exit_code == 0
    assert "0 flow verdicts changed" in result.stdout and "No verdict changed." in result.stdout


def test_a_change_of_equal_length_and_equal_file_times_is_found(tmp_path: Path):
    """Two snapshots unpacked with one time on every file (a `git archive` of one commit) and an edit that
    keeps the length (udp 500 -> udp 501): equal size and time must not pass for unchanged, or the network is
    never re-audited and its new block goes unreported."""
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(BEFORE, old)
    shutil.copytree(BEFORE, new)
    ssid = f"meraki/networks/{B}/wireless/ssids/0/firewall/l3FirewallRules.json"
    rules = json.loads((new / ssid).read_text())
    rules["rules"].insert(0, {"policy": "deny", "protocol": "udp", "destPort": "500", "destCidr": "Any",
                              "comment": "x"})
    (new / ssid).write_text(json.dumps(rules))
    (old / ssid).write_text(json.dumps(rules).replace('"destPort": "500"', '"destPort": "501"'))
    for root in (old, new):
        for path in root.rglob("*"):
            os.utime(path, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    assert (old / ssid).stat().st_size == (new / ssid).stat().st_size
    result = diff_snapshots(old, new)
    assert result.changed_files == {ssid: "modified"} and result.audited_networks == [B]
    assert result.regressions and {c.new for c in result.regressions} == {"blocked"}


def test_an_improvement_alone_exits_0():
    result = diff_snapshots(AFTER, BEFORE)  # reversed: the moved rule now blocks, the rest recovers
    assert result.regressions and any(c.new == "allowed" for c in result.changes)
    swapped = diff_snapshots(BEFORE, BEFORE)
    assert swapped.changes == []


def test_a_missing_file_is_a_data_gap_cause(tmp_path: Path):
    new = tmp_path / "new"
    shutil.copytree(BEFORE, new)
    (new / f"meraki/networks/{B}/wireless/ssids/0/firewall/l3FirewallRules.json").unlink()
    result = diff_snapshots(BEFORE, new)
    assert result.audited_networks == [B]
    assert {c.new for c in result.changes} == {"unknown"}
    cause = result.changes[0].causes[0]
    assert cause.kind == "data-gap" and "l3FirewallRules.json" in cause.detail


def test_a_change_of_global_reach_audits_everything(tmp_path: Path):
    new = tmp_path / "new"
    shutil.copytree(BEFORE, new)
    audit = new / "audit.yaml"
    audit.write_text(audit.read_text().replace("[ikev2, l2tp, sstp]", "[ikev2, sstp]"))
    result = diff_snapshots(BEFORE, new)
    assert result.audited_networks is None and result.notes
    assert {c.protocol for c in result.changes} == {"l2tp"} and {c.new for c in result.changes} == {None}
    assert not result.regressions  # a path that disappears is not a flow that broke


def _rule(position: int, action: Action, port: int, comment: str) -> Rule:
    text = f"{action.value} udp -> any:{port}"
    return Rule(position, action, PacketSet.of(proto=[(17, 17)], dport=[(port, port)]), text, comment,
                Origin("f.json", position - 1))


def test_rule_list_differences_by_position_text_and_comment():
    default = Rule(9, Action.PERMIT, ALL, "default rule: allow any", synthetic=True)
    old = RuleList("x", [_rule(1, Action.DENY, 500, "a"), _rule(2, Action.PERMIT, 4500, "b"),
                         _rule(3, Action.DENY, 25, "c"), _rule(4, Action.DENY, 53, "d")], default)
    new = RuleList("x", [_rule(1, Action.PERMIT, 4500, "b"), _rule(2, Action.DENY, 500, "a"),
                         _rule(3, Action.DENY, 26, "c"), _rule(4, Action.DENY, 1701, "e")], default)
    found = {(c.kind, c.detail) for c, _packets in diff_rule_lists(old, new, "dev", "ssid-l3")}
    assert ("rule-moved", "rule moved from position 2 to 1: permit udp -> any:4500 \"b\"") in found \
        or ("rule-moved", "rule moved from position 1 to 2: deny udp -> any:500 \"a\"") in found
    assert ("rule-edited", "rule 3 edited: 'deny udp -> any:25' -> 'deny udp -> any:26'") in found
    assert any(kind == "rule-edited" and "comment \"d\" -> \"e\"" in detail for kind, detail in found)
    assert not any(kind in ("rule-added", "rule-removed") for kind, _ in found)


DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
ASA = ROOT / "fixtures" / "cisco" / "retail-demo-hq-asa.cfg"


def _demo_with_asa(path: Path) -> Path:
    """The demo with an ASA that does not permit UDP 1701, audited for L2TP without IPsec too (`l2tp-plain`):
    inside IPsec the ASA never sees 1701, in the clear it decides it."""
    shutil.copytree(DEMO, path)
    (path / "cisco").mkdir(exist_ok=True)
    shutil.copy(ASA, path / "cisco" / "hq-asa.cfg")
    config = path / "audit.yaml"
    config.write_text(config.read_text().replace("[ikev2, l2tp, sstp]", "[ikev2, l2tp, l2tp-plain, sstp]"))
    return path


def test_server_side_changes_name_the_device_rule_and_config_lines(tmp_path: Path):
    old = _demo_with_asa(tmp_path / "old")
    new = _demo_with_asa(tmp_path / "new")
    asa = new / "cisco" / "hq-asa.cfg"
    asa.write_text(asa.read_text().replace(" port-object eq 4500\n", " port-object eq 4500\n port-object eq 1701\n"))
    f5 = new / "f5" / "hq-bigip.conf"
    # the demo's load balancer: give both IKE virtuals one shared source-address table
    text = f5.read_text().replace("ltm virtual /Common/corp_vpn_ike500 {", (
        "ltm persistence source-addr /Common/ike_source_addr {\n    defaults-from /Common/source_addr\n"
        "    match-across-services enabled\n    timeout 3600\n}\nltm virtual /Common/corp_vpn_ike500 {"), 1)
    for name in ("corp_vpn_ike500", "corp_vpn_ike4500"):
        at = text.index(f"ltm virtual /Common/{name} {{")
        hit = text.index("/Common/source_addr {", at)
        text = text[:hit] + "/Common/ike_source_addr {" + text[hit + len("/Common/source_addr {"):]
    f5.write_text(text)
    result = diff_snapshots(old, new)
    assert result.audited_networks is None  # a device in front of the server: every path may change
    l2tp = [c for c in result.changes if c.flow == "udp/1701"]
    assert {c.protocol for c in l2tp} == {"l2tp-plain"}  # L2TP/IPsec never saw the ASA's 1701
    assert l2tp and {(c.old, c.new) for c in l2tp} <= {("blocked", "allowed"), ("blocked", "unknown")}
    cause = l2tp[0].causes[0]
    assert cause.kind == "rule-edited" and cause.device == "cisco/hq-asa" and cause.deciding
    assert "object-group VPN-UDP" in cause.detail and "+ port-object eq 1701" in cause.detail
    assert not result.regressions
    (resolved,) = [f for f in result.findings if f.finding["kind"] == "split-persistence"]
    assert resolved.status == "resolved"
    lines = resolved.causes[0].new["lines"]
    assert any("match-across-services enabled" in line for line in lines)


def test_a_layer_pairs_its_hops_in_order_and_names_those_only_one_path_has():
    """One enforcement layer (device, stage) with a hop more in the old path than in the new: the hops both
    have are compared rule by rule, the extra one is reported as gone from the path."""
    default = Rule(9, Action.PERMIT, ALL, "default rule: allow any", synthetic=True)

    def hop(device: str, action: Action, comment: str = "ike") -> FilterHop:
        return FilterHop(device, "ssid-l3", Origin("f.json"), RuleList(device, [_rule(1, action, 500, comment)],
                                                                       default))

    empty = AuditResult("s", "", Model(snapshot="s"), [], [], {})
    explainer = _Explainer(empty, empty, {})
    ike = PacketSet.of(proto=[(17, 17)], dport=[(500, 500)])
    causes: list = []
    quiet: list = []
    explainer._layer_causes([hop("ap", Action.PERMIT), hop("mx", Action.PERMIT)], [hop("ap", Action.DENY)], ike,
                            causes, quiet)
    assert [(c.kind, c.device) for c in causes] == [("rule-edited", "ap"), ("hop-removed", "mx")] and not quiet
    causes.clear()
    explainer._layer_causes([], [hop("ap", Action.DENY)], ike, causes, quiet)
    assert [(c.kind, c.detail) for c in causes] == [("hop-added", "ap (ssid-l3) is now on the path")]
    # an edit that leaves the flow treated as before is kept aside; one the flow does not meet is neither
    causes.clear()
    explainer._layer_causes([hop("ap", Action.PERMIT)], [hop("ap", Action.PERMIT, "IKE")], ike, causes, quiet)
    assert causes == [] and [(c.kind, c.device) for c in quiet] == [("rule-edited", "ap")]
    quiet.clear()
    explainer._layer_causes([hop("ap", Action.PERMIT)], [hop("ap", Action.DENY)],
                            PacketSet.of(proto=[(17, 17)], dport=[(4500, 4500)]), causes, quiet)
    assert causes == [] and quiet == []
