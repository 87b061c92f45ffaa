"""Fix-plan must not open more than the VPN flows.

HQ's guest SSID denies SSTP to the VPN server by rule 2 ("Retired extranet portal", deny tcp -> 198.51.100.0/24:443),
then denies outbound mail and BitTorrent, and ends with a user row "Allow everything else" (allow any -> any, a common
explicit last row). That row "already allows the VPN", so the plan moves it above rule 2: every deny below, and rule 2
for the rest of 198.51.100.0/24, stop matching anything. The plan is reported "fixed" with no side effect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from auditor.fixplan import fix_plan

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
HQ = "L_6468200000000004"


def test_a_broad_allow_is_not_moved_above_the_deny(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    rel = snap / "meraki" / "networks" / HQ / "wireless" / "ssids" / "1" / "firewall" / "l3FirewallRules.json"
    data = json.loads(rel.read_text())
    data["rules"].insert(4, {"comment": "Allow everything else", "policy": "allow", "protocol": "any",
                             "destPort": "Any", "destCidr": "Any", "ipVer": "ipv4"})
    rel.write_text(json.dumps(data))

    result = fix_plan(snap, network="HQ")
    change = result.changes[f"PUT /networks/{HQ}/wireless/ssids/1/firewall/l3FirewallRules"]
    comments = [r["comment"] for r in change.body["rules"]]
    plan = next(p for p in result.plans if p.finding.check.id == "VPN-BLOCKED")
    assert plan.verified
    # the denies the user wrote still come before the catch-all allow: only the VPN flow is opened
    everything = comments.index("Allow everything else")
    assert everything > comments.index("Guests: no outbound mail"), (change.summaries, comments)
    assert everything > comments.index("Retired extranet portal"), (change.summaries, comments)
