"""Fix plans: the change for each blocking finding, never applied, verified by re-auditing in memory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.audit import run_audit
from auditor.cli import app
from auditor.fixplan import FixPlanResult, Plan, fix_plan
from auditor.snapshot import Snapshot
from auditor.vendors.meraki.check_ssid import GroupPolicyL3Rule, L3Body

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
IOS = ROOT / "fixtures" / "snapshots" / "fixplan-ios"
BEFORE = ROOT / "fixtures" / "snapshots" / "diff-before"
ASA = ROOT / "fixtures" / "cisco" / "retail-demo-hq-asa.cfg"
STORE14, STORE22, STORE31, HQ = (f"L_646820000000000{i}" for i in range(1, 5))
SYNTHETIC = {"Default rule", "Wireless clients accessing LAN"}


@pytest.fixture(scope="module")
def demo() -> FixPlanResult:
    return fix_plan(DEMO)


def plans_for(result: FixPlanResult, network: str, role_name: str, phase: str = "post-auth") -> list[Plan]:
    return [p for p in result.plans if (p.finding.network or {}).get("id") == network
            and (p.finding.role or {}).get("name") == role_name and p.finding.evidence.get("phase") == phase]


def verdicts_with(result: FixPlanResult, network: str, role: str, phase: str) -> dict[str, str]:
    """Audit the demo again with the plan's overlay, independently of the planner's own check."""
    with Snapshot.overlaid(DEMO, result.overlay):
        audit = run_audit(DEMO)
    return {f"{p.protocol} {p.trace.flow}": p.verdict for p in audit.paths
            if p.role.network_id == network and p.role.name == role and p.role.phase == phase}


def test_planted_1_walled_garden_gets_the_server(demo: FixPlanResult):
    plans = plans_for(demo, STORE14, "Store-Guest", "pre-auth")
    # one finding (and plan) for the portal, whichever protocols it blocks
    assert {p.finding.check.kind for p in plans} == {"preauth-blocked"} and len(plans) == 1
    assert all(p.verified for p in plans)
    change = demo.changes[f"PUT /networks/{STORE14}/wireless/ssids/1"]
    assert change.body == {"walledGardenEnabled": True,
                           "walledGardenRanges": ["203.0.113.80/32", "203.0.113.81/32", "198.51.100.10/32"]}
    assert "blockAllTrafficBeforeSignOn false" in change.summaries[0]  # the alternative is named, not chosen
    assert set(verdicts_with(demo, STORE14, "Store-Guest", "pre-auth").values()) == {"allowed"}


def test_planted_2_contractors_policy_gets_an_allow_above_its_deny(demo: FixPlanResult):
    for role in ("Northwind Facilities", "Contractors"):
        plans = plans_for(demo, STORE22, role)
        assert plans and all(p.verified for p in plans), role
    change = demo.changes[f"PUT /networks/{STORE22}/groupPolicies/201"]
    rules = change.body["firewallAndTrafficShaping"]["l3FirewallRules"]
    assert rules[0] == {"comment": "Allow VPN to corp-vpn (vpn-auditor fix plan)", "policy": "allow",
                        "protocol": "udp", "destPort": "500,4500", "destCidr": "198.51.100.10/32"}
    assert rules[1]["comment"] == "block personal VPNs" and len(rules) == 4
    assert change.body["firewallAndTrafficShaping"]["settings"] == "custom"
    for rule in rules:
        GroupPolicyL3Rule.model_validate(rule)  # valid Dashboard input
    verdicts = verdicts_with(demo, STORE22, "Northwind Facilities", "post-auth")
    assert verdicts["ikev2 udp/500"] == verdicts["ikev2 udp/4500"] == "allowed"


def test_planted_3_the_shadowed_corporate_rule_moves_above_the_guest_deny(demo: FixPlanResult):
    for kind_name in ("Guest", "Store-Guest"):
        plans = plans_for(demo, STORE31, kind_name)
        assert plans and all(p.verified for p in plans)
    change = demo.changes[f"PUT /networks/{STORE31}/appliance/firewall/l3FirewallRules"]
    comments = [r["comment"] for r in change.body["rules"]]
    assert comments[:3] == ["Guest VLAN isolation", "Corporate VPN (IKE, NAT-T)",
                            "Guests: block personal VPN apps (NAT-T)"]
    assert not SYNTHETIC & set(comments)  # PUT rejects the synthetic rows
    assert len(comments) == 7  # moved, nothing added
    assert "move rule 3" in change.summaries[0]
    for phase in ("pre-auth", "post-auth"):
        assert set(verdicts_with(demo, STORE31, "Store-Guest", phase).values()) == {"allowed"}


def test_planted_4_sstp_allow_above_the_retired_portal_rule(demo: FixPlanResult):
    (plan,) = plans_for(demo, HQ, "HQ-Guest")
    assert plan.verified and plan.after == {"tcp/443": "allowed"}
    change = demo.changes[f"PUT /networks/{HQ}/wireless/ssids/1/firewall/l3FirewallRules"]
    body = change.body
    assert body["allowLanAccess"] is False
    assert [r["comment"] for r in body["rules"]][1:3] == ["Allow VPN to corp-vpn (vpn-auditor fix plan)",
                                                          "Retired extranet portal"]
    assert body["rules"][1]["destCidr"] == "198.51.100.10/32" and body["rules"][1]["destPort"] == "443"
    L3Body.model_validate(body)  # valid Dashboard input, synthetic rows gone
    assert verdicts_with(demo, HQ, "HQ-Guest", "post-auth")["sstp tcp/443"] == "allowed"
    # the pre-auth phase had no finding of its own; the change shows up as a side effect
    assert any(c.role["name"] == "HQ-Guest" and c.phase == "pre-auth" for c in demo.side_effects)


def test_unknown_and_data_gap_findings_get_no_plan(demo: FixPlanResult):
    kinds = {p.finding.check.kind for p in demo.plans}
    assert "unknown-flow" not in kinds and "data-gap" not in kinds
    assert not plans_for(demo, STORE14, "Store-Mobile")  # planted 6 is unknown, not blocked


def test_load_balancer_split_is_printed_with_vendor_commands_but_not_verified(demo: FixPlanResult):
    lb = [p for p in demo.plans if p.finding.check.kind == "split-persistence"]
    assert lb, "the demo's BIG-IP splits IKE persistence (fixtures/snapshots/retail-demo/f5): it needs a plan"
    change = demo.changes[lb[0].changes[0]]
    assert change.vendor == "f5" and change.file is None
    assert any("match-across-services enabled" in line for line in change.lines)
    assert lb[0].verified is None


def test_the_snapshot_is_never_touched():
    before = {p: p.read_bytes() for p in DEMO.rglob("*") if p.is_file()}
    result = CliRunner().invoke(app, ["fix-plan", str(DEMO), "--format", "json"])
    after = {p: p.read_bytes() for p in DEMO.rglob("*") if p.is_file()}
    assert before == after
    report = json.loads(result.stdout)
    assert report["schema"] == "vpn-auditor.fix-plan/1" and report["applied"] is False
    assert report["summary"]["verified"] >= 6  # one finding per cause: IKEv2 and L2TP share theirs


def _plain_l2tp(snapshot: Path) -> None:
    """Audit L2TP without IPsec (UDP 1701 in the clear, which middle boxes decide) instead of L2TP/IPsec."""
    config = snapshot / "audit.yaml"
    config.write_text(config.read_text().replace("[ikev2, l2tp, sstp]", "[ikev2, l2tp-plain, sstp]"))


def test_asa_lines_name_the_real_address_and_the_line(tmp_path: Path):
    snapshot = tmp_path / "demo"
    shutil.copytree(DEMO, snapshot)
    (snapshot / "cisco").mkdir(exist_ok=True)
    shutil.copy(ASA, snapshot / "cisco" / "hq-asa.cfg")
    # L2TP/IPsec: the ASA without 1701 passes it (inside NAT-T), so nothing is proposed there
    assert not [k for k in fix_plan(snapshot, network="HQ").changes if k.startswith("cisco/hq-asa")]
    _plain_l2tp(snapshot)
    result = fix_plan(snapshot, network="HQ")
    change = result.changes["cisco/hq-asa access-list OUTSIDE_IN"]
    assert change.vendor == "cisco-asa"
    assert change.lines == ["access-list OUTSIDE_IN line 5 extended permit udp any host 172.20.0.10 eq 1701"]
    l2tp = [p for p in result.plans if p.finding.evidence.get("protocol") == "l2tp-plain"]
    assert l2tp and all(p.verified for p in l2tp)
    text = result.overlay["cisco/hq-asa.cfg"].splitlines()
    deny = text.index("access-list OUTSIDE_IN extended deny ip any any log")
    assert text[deny - 1] == "access-list OUTSIDE_IN extended permit udp any host 172.20.0.10 eq 1701"


def test_ios_sequence_numbers_and_a_second_round_for_the_outbound_list(tmp_path: Path):
    result = fix_plan(IOS)  # L2TP/IPsec: only SSTP is blocked, and 1701 is never opened on the router
    assert all(p.verified for p in result.plans) and len(result.plans) == 1
    assert result.changes["cisco/br-edge access-list WAN-IN"].lines == [
        "ip access-list extended WAN-IN", " 41 permit tcp any host 203.0.113.2 eq 443"]
    assert "cisco/br-edge access-list 120" not in result.changes
    code = CliRunner().invoke(app, ["fix-plan", str(IOS)]).exit_code
    assert code == 0  # every finding has a verified plan
    snapshot = tmp_path / "ios"
    shutil.copytree(IOS, snapshot)
    _plain_l2tp(snapshot)
    result = fix_plan(snapshot)
    # one finding for WAN-IN's deny, which blocks plain L2TP and SSTP alike; list 120 in the second round
    assert all(p.verified for p in result.plans) and len(result.plans) == 1
    assert result.changes["cisco/br-edge access-list WAN-IN"].lines == [
        "ip access-list extended WAN-IN",
        " 41 permit tcp any host 203.0.113.2 eq 443",  # one plan for both flows (one finding): flows in order
        " 42 permit udp any host 203.0.113.2 eq 1701",
    ]
    assert result.changes["cisco/br-edge access-list 120"].lines == [
        "ip access-list extended 120", " 31 permit udp any host 192.168.50.10 eq 1701"]


def test_a_snapshot_with_only_meraki_blocks_is_fully_fixed():
    result = CliRunner().invoke(app, ["fix-plan", str(BEFORE)])
    assert result.exit_code == 0, result.stdout
    assert "[NOT FIXED]" not in result.stdout and "[fixed]" in result.stdout
    assert "PUT https://api.meraki.com/api/v1/networks/L_910000000000001/groupPolicies/103" in result.stdout


def test_network_option_and_usage_errors():
    result = fix_plan(DEMO, network="Store 31")
    assert {(p.finding.network or {}).get("name") for p in result.plans} <= {"Store 31", None}
    run = CliRunner().invoke(app, ["fix-plan", str(DEMO), "--network", "Store 99"])
    assert run.exit_code == 2 and "Store 99" in run.stderr


SNAPSHOTS = sorted(p for p in (ROOT / "fixtures" / "snapshots").iterdir() if (p / "audit.yaml").is_file())


@pytest.mark.parametrize("snapshot", SNAPSHOTS, ids=lambda p: p.name)
def test_no_fixture_plan_opens_udp_1701_on_a_middle_box(snapshot: Path):
    """UDP 1701 of L2TP/IPsec travels inside IPsec: no firewall, SSID or load balancer is ever told to open
    it (that would open a port for nothing, and L2TP without IPsec is opt-in)."""
    result = fix_plan(snapshot)
    assert result.plans  # every fixture has something to fix, so this looks at real plans
    for key, change in result.changes.items():
        text = json.dumps([change.lines, change.summaries])  # what the plan adds (a body repeats the list)
        assert "1701" not in text, (key, text)
