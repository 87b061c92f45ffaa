"""`vpn-auditor check-ssid`: proposals from fixtures/proposals audited against the retail-demo snapshot."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.snapshot import Snapshot
from auditor.vendors.meraki.check_ssid import REDACTED, ProposalError, check_ssid, find_network, load_proposal, place

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
PROPOSALS = ROOT / "fixtures" / "proposals"
STORE14 = "L_6468200000000001"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def check_json(network: str, proposal: Path, *extra: str) -> tuple[int, dict]:
    code, out, err = run("check-ssid", str(DEMO), "--network", network, "--proposed", str(proposal),
                         "--format", "json", *extra)
    assert code != 2, err
    return code, json.loads(out)


def verdicts(report: dict) -> dict[tuple[str, str, str, str], str]:
    return {(p["role"]["kind"], p["role"]["name"], p["phase"], f"{p['flow']['ip_protocol']}/{p['flow']['dst_port']}"):
            p["verdict"] for p in report["paths"]}


def test_a_guest_ssid_that_lets_the_vpn_through_passes_the_gate():
    code, report = check_json("Store 14", PROPOSALS / "guest-ok.yaml")
    assert code == 0
    assert report["proposal"]["ssid"] == {"number": 4, "name": "Store-Visitors"}  # first free slot
    assert report["proposal"]["replaces"] is None
    roles = {(p["role"]["kind"], p["role"]["name"], p["role"]["ssid"], p["phase"]) for p in report["paths"]}
    assert roles == {("ssid", "Store-Visitors", "Store-Visitors", "pre-auth"),
                     ("ssid", "Store-Visitors", "Store-Visitors", "post-auth")}
    assert set(verdicts(report).values()) == {"allowed"}
    assert report["findings"] == []


def test_a_rule_that_blocks_ike_fails_the_pipeline_and_names_the_rule():
    code, report = check_json("Store 14", PROPOSALS / "guest-blocks-ike.yaml")
    assert code == 1
    v = verdicts(report)
    assert v[("ssid", "Store-Visitors", "post-auth", "udp/500")] == "blocked"
    assert v[("ssid", "Store-Visitors", "post-auth", "udp/4500")] == "blocked"
    assert v[("ssid", "Store-Visitors", "post-auth", "tcp/443")] == "allowed"
    blocked = [f for f in report["findings"] if f["kind"] == "blocked-flow"]
    assert [f["evidence"]["protocols"] for f in blocked] == [["ikev2", "l2tp"]]  # one rule, one finding
    deciding = blocked[0]["evidence"]["deciding"][0]
    assert deciding["stage"] == "ssid-l3"
    assert deciding["rule"]["index"] == 1 and deciding["rule"]["comment"] == "block personal VPNs"
    assert deciding["rule"]["source"] == f"meraki/networks/{STORE14}/wireless/ssids/4/firewall/l3FirewallRules.json[0]"


def test_identity_psks_and_a_new_group_policy_become_roles():
    code, report = check_json("Store 14", PROPOSALS / "ipsk-contractors.json")
    assert code == 1
    v = verdicts(report)
    assert v[("ipsk", "Fabrikam Refrigeration", "post-auth", "udp/4500")] == "blocked"
    assert v[("ipsk", "Fabrikam Refrigeration", "post-auth", "udp/500")] == "allowed"
    assert v[("ipsk", "Shelf Sensors", "post-auth", "udp/4500")] == "allowed"  # existing policy 102
    finding = next(f for f in report["findings"] if f["role"]["name"] == "Fabrikam Refrigeration")
    assert "Vendors" in finding["evidence"]["deciding"][0]["rule"]["text"]
    # every role is on the proposed SSID; nothing from the network's other SSIDs or VLANs leaks in
    assert {p["role"]["ssid"] for p in report["paths"]} == {"Store-Partners"}


def test_splash_that_blocks_before_sign_on_is_a_warning():
    code, report = check_json("Store 14", PROPOSALS / "splash-blocks.yaml")
    assert code == 0  # preauth-blocked is a warning; the default gate is error
    assert {f["kind"] for f in report["findings"]} == {"preauth-blocked"}
    assert verdicts(report)[("ssid", "Store-Visitors", "pre-auth", "udp/500")] == "blocked"
    assert verdicts(report)[("ssid", "Store-Visitors", "post-auth", "udp/500")] == "allowed"
    code, _ = check_json("Store 14", PROPOSALS / "splash-blocks.yaml", "--fail-on", "warning")
    assert code == 1


def test_numbered_proposal_replaces_the_slot_and_keeps_omitted_fields():
    code, report = check_json("HQ", PROPOSALS / "replace-hq-guest.yaml", "--allow-unknown")
    assert code == 0
    assert report["proposal"]["replaces"] == "HQ-Guest"
    v = verdicts(report)
    assert v[("ssid", "HQ-Guest", "post-auth", "tcp/443")] == "allowed"  # the demo's planted SSTP block is gone
    # splash stays as it was (click-through, non-HTTP passes): the pre-auth phase is still audited
    assert ("ssid", "HQ-Guest", "pre-auth", "udp/500") in v


def test_secrets_never_reach_the_output():
    secret = "correct-horse-battery-staple"
    assert secret in (PROPOSALS / "psk-secret.yaml").read_text()
    for fmt in ("json", "text"):
        code, out, err = run("check-ssid", str(DEMO), "--network", "Store 22", "--proposed",
                             str(PROPOSALS / "psk-secret.yaml"), "--format", fmt)
        assert code == 0
        assert secret not in out + err
    outcome = check_ssid(DEMO, "Store 22", PROPOSALS / "psk-secret.yaml")
    ssids = outcome.placement.overlay["meraki/networks/L_6468200000000002/wireless/ssids.json"]
    assert ssids[3]["psk"] == REDACTED
    passphrases = check_ssid(DEMO, "Store 14", PROPOSALS / "ipsk-contractors.json").placement.overlay
    psks = passphrases[f"meraki/networks/{STORE14}/wireless/ssids/4/identityPsks.json"]
    assert {p["passphrase"] for p in psks} == {REDACTED}


@pytest.mark.parametrize(("name", "field", "words"), [
    ("bad-authmode.yaml", "authMode", "unknown authMode 'open-sesame'"),
    ("bad-splashpage.yaml", "splashPage", "unknown splashPage 'Captive portal'"),
    ("bad-cidr.yaml", "l3FirewallRules.rules[0].destCidr", "bad address '192.168.300.0/24'"),
    ("bad-port.yaml", "l3FirewallRules[0].destPort", "port out of range '70000'"),
    ("bad-field.yaml", "splashpage", "unknown field"),
    ("bad-psk.yaml", "psk", "8 to 63 characters"),
    ("bad-ipsk-policy.yaml", "identityPsks[0].groupPolicyId", "'999' is neither in network 'Store 14'"),
    ("bad-synthetic-row.json", "l3FirewallRules.rules[0]", "synthetic row"),
])
def test_invalid_dashboard_input_exits_2_with_one_line_naming_file_and_field(name: str, field: str, words: str):
    code, out, err = run("check-ssid", str(DEMO), "--network", "Store 14", "--proposed", str(PROPOSALS / name))
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert name in lines[0] and field in lines[0] and words in lines[0]
    assert "hunter2" not in err  # bad-psk: the rejected secret is not echoed


def test_more_dashboard_rules_are_enforced(tmp_path: Path):
    cases = {
        "vlan-tag-in-nat": ({"name": "x", "authMode": "open", "ipAssignmentMode": "NAT mode", "useVlanTagging": True,
                             "defaultVlanId": 30}, "useVlanTagging"),
        "number": ({"name": "x", "authMode": "open", "number": 15}, "number"),
        "l7-allow": ({"name": "x", "authMode": "open", "l7FirewallRules": [{"policy": "allow", "type": "port",
                                                                            "value": "443"}]},
                     "l7FirewallRules[0].policy"),
        "gp-source": ({"name": "x", "authMode": "open", "groupPolicies": [{"name": "g", "firewallAndTrafficShaping": {
            "settings": "custom", "l3FirewallRules": [{"policy": "deny", "srcCidr": "any", "destCidr": "any"}]}}]},
                      "groupPolicies[0].firewallAndTrafficShaping.l3FirewallRules[0].srcCidr"),
        "protocol": ({"name": "x", "authMode": "open", "l3FirewallRules": [{"policy": "deny", "protocol": "esp"}]},
                     "l3FirewallRules[0].protocol"),
        "garden": ({"name": "x", "authMode": "open", "walledGardenEnabled": True, "walledGardenRanges": ["not a host"]},
                   "walledGardenRanges"),
    }
    for label, (body, field) in cases.items():
        path = tmp_path / f"{label}.json"
        path.write_text(json.dumps(body))
        with pytest.raises(ProposalError) as info:
            load_proposal(path)
        assert str(info.value).startswith(f"{path}: {field}"), (label, str(info.value))


def test_a_same_named_ssid_elsewhere_does_not_leak_into_the_report(tmp_path: Path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: Store-Guest\nauthMode: open\n")  # Store 14 SSID 1 has this name too
    outcome = check_ssid(DEMO, "Store 14", path)
    assert outcome.placement.number == 4
    assert {p.role.phase for p in outcome.result.paths} == {"post-auth"}  # slot 1's splash phases are not ours
    assert all(p.verdict == "allowed" for p in outcome.result.paths)
    # nothing of slot 1 leaks in; the shared name itself is flagged (issue 19)
    assert [f.check.id for f in outcome.result.findings] == ["SSID-NAME-REUSED"]


def test_no_free_slot_and_unknown_network_are_usage_errors(tmp_path: Path):
    snapshot = tmp_path / "full"
    shutil.copytree(DEMO, snapshot)
    rel = snapshot / "meraki/networks/L_6468200000000004/wireless/ssids.json"
    ssids = json.loads(rel.read_text())
    for slot in ssids:
        slot["enabled"] = True
        slot["name"] = f"Used {slot['number']}"
    rel.write_text(json.dumps(ssids))
    result = CliRunner().invoke(app, ["check-ssid", str(snapshot), "--network", "HQ", "--proposed",
                                      str(PROPOSALS / "guest-ok.yaml")])
    assert result.exit_code == 2 and "no free SSID slot" in result.stderr
    result = CliRunner().invoke(app, ["check-ssid", str(DEMO), "--network", "Store 99", "--proposed",
                                      str(PROPOSALS / "guest-ok.yaml")])
    assert result.exit_code == 2 and "Store 99" in result.stderr


def test_the_snapshot_on_disk_is_not_touched():
    before = {p: p.read_bytes() for p in DEMO.rglob("*") if p.is_file()}
    check_ssid(DEMO, "Store 14", PROPOSALS / "ipsk-contractors.json")
    after = {p: p.read_bytes() for p in DEMO.rglob("*") if p.is_file()}
    assert before == after


def test_files_a_proposal_omits_start_empty_only_in_a_fresh_slot(tmp_path: Path):
    """A slot never enabled gets the Dashboard's empty defaults for what the proposal leaves out, and a note
    says so; an enabled slot the proposal replaces keeps its own files, and has none where it had none."""
    snapshot = Snapshot(DEMO)
    hq = f"meraki/networks/{find_network(snapshot, 'HQ').id}/wireless/ssids"
    no_l3 = "no l3FirewallRules proposed: the new SSID starts with no L3 rules (allow all)"
    no_psks = "no identityPsks proposed: the SSID has no identities yet (only its ssid role is audited)"
    for number, fresh in ((3, True), (1, False)):
        path = tmp_path / f"slot{number}.yaml"
        path.write_text(f"number: {number}\nname: Lobby\nauthMode: ipsk-without-radius\n")
        placement = place(snapshot, find_network(snapshot, "HQ"), load_proposal(path))
        l3, psks = f"{hq}/{number}/firewall/l3FirewallRules.json", f"{hq}/{number}/identityPsks.json"
        if fresh:
            assert placement.overlay[l3] == {"rules": []} and placement.overlay[psks] == []
            assert no_l3 in placement.notes and no_psks in placement.notes
        else:  # slot 1 has L3 rules and no identity PSKs on disk
            assert placement.replaces == "HQ-Guest" and snapshot.exists(l3) and not snapshot.exists(psks)
            assert l3 not in placement.overlay and psks not in placement.overlay
            assert no_l3 not in placement.notes and no_psks not in placement.notes
