"""An MX in passthrough mode (appliance/settings.json `deploymentMode`) neither routes nor translates: the
site's own edge gives its clients' traffic a public address the snapshot does not have, and whether the MX's
rules filter what passes through it is not shown (inline, or a one-armed concentrator off the path). Its
L3/L7 denies are unknown, never a decided block, and the server's side meets every public address, never
the MX's uplink address alone (which would make a source-restricted perimeter look open)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from auditor.audit import AuditResult, run_audit
from auditor.snapshot import SnapshotError
from tests.snapshot_builder import MerakiSnapshot, deny, path_for, verdicts
from tests.test_autovpn import HUB, org

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
STORE14 = "meraki/networks/L_6468200000000001"
EDGE = "cisco/hq-edge.cfg"


def settings(mode: str) -> dict:
    return {"clientTrackingMethod": "MAC address", "deploymentMode": mode,
            "dynamicDns": {"enabled": False, "prefix": "", "url": ""}}


def demo_with_store14_only(tmp_path: Path) -> Path:
    """The demo, with the edge router letting IKE in from Store 14's uplink address (192.0.2.14) only."""
    root = tmp_path / "demo"
    shutil.copytree(DEMO, root)
    edge = root / EDGE
    text = edge.read_text(encoding="utf-8")
    old = " 20 permit udp any host 198.51.100.10 eq isakmp"
    assert text.count(old) == 1
    edge.write_text(text.replace(old, " 20 permit udp host 192.0.2.14 host 198.51.100.10 eq isakmp"), encoding="utf-8")
    return root


def ike(result: AuditResult, network: str) -> dict[str, str]:
    return {f"{p.role.kind} {p.role.name} {p.role.phase}": p.verdict for p in result.paths
            if p.role.network_name == network and str(p.trace.flow) == "udp/500" and p.protocol == "ikev2"}


def test_a_routed_store_is_let_in_by_its_uplink_address_a_passthrough_one_is_not_known(tmp_path: Path) -> None:
    root = demo_with_store14_only(tmp_path)
    (root / STORE14 / "appliance" / "settings.json").write_text(json.dumps(settings("routed")))
    routed = ike(run_audit(root), "Store 14")
    assert "allowed" in routed.values()
    (root / STORE14 / "appliance" / "settings.json").write_text(json.dumps(settings("passthrough")))
    result = run_audit(root)
    passthrough = ike(result, "Store 14")
    assert set(passthrough) == set(routed)
    # What the uplink address let in now depends on the upstream gateway's address: allowed from
    # 192.0.2.14 only, so partial; never allowed.
    assert {k: v for k, v in passthrough.items() if routed[k] == "allowed"} == \
        {k: "partial" for k, v in routed.items() if v == "allowed"}
    assert ike(result, "Store 22") == ike(run_audit(demo_with_store14_only(tmp_path / "again")), "Store 22")
    path = next(p for p in result.paths if p.role.network_name == "Store 14" and p.verdict == "partial"
                and str(p.trace.flow) == "udp/500")
    assert "(Store 14 / MX, upstream-nat)" in path.trace.reason
    # Two edge rules block (a host deny and the final deny): what passes is 192.0.2.14 alone, not "any other".
    assert path.trace.reason.startswith(
        "udp/500 is allowed only if the public address it is translated to (Store 14 / MX, upstream-nat) is "
        "192.0.2.14, and blocked from any other (at cisco/hq-edge")
    # file lines, one way (the IOS sequence numbers 10 and 80 are in the quoted lines)
    assert "by line 28 of cisco/hq-edge.cfg" in path.trace.reason and "by line 38 of cisco/hq-edge.cfg" in \
        path.trace.reason
    nat = next(h for h in path.trace.hops if h.hop.stage == "upstream-nat")
    assert "does not translate" in nat.segments[0].reason
    assert not [h for h in path.trace.hops if h.hop.stage == "uplink-nat"]


def store(tmp_path: Path, mode: str | None, *, rules: list[dict] | None = None) -> MerakiSnapshot:
    """A store MX in `mode` (None: its settings file not collected)."""
    snap = MerakiSnapshot(tmp_path / "org")
    snap.network("N_1", "Store", products=("appliance",), mx_rules=rules)
    if mode is None:
        (snap.root / "meraki/networks/N_1/appliance/settings.json").unlink()
    else:
        snap.write("meraki/networks/N_1/appliance/settings.json", settings(mode))
    return snap


def test_a_passthrough_mx_deny_is_unknown_not_blocked(tmp_path: Path) -> None:
    rules = [deny("udp", "500", comment="no IKE")]
    assert verdicts(store(tmp_path / "r", "routed", rules=rules).audit(), "Staff")["udp/500"] == "blocked"
    result = store(tmp_path / "p", "passthrough", rules=rules).audit()
    trace = path_for(result, "Staff", "udp/500").trace
    assert trace.verdict == "unknown"
    assert "is in passthrough mode" in trace.reason and "If it applies, rule 1" in trace.reason
    assert verdicts(result, "Staff")["udp/4500"] == "allowed"  # what the rules permit passes either way


def test_an_unknown_deployment_mode_is_unknown_and_a_malformed_file_an_input_error(tmp_path: Path) -> None:
    result = store(tmp_path / "u", "bridge").audit()
    trace = path_for(result, "Staff", "udp/4500").trace
    assert trace.verdict == "unknown"
    assert "deploymentMode 'bridge' is not understood" in trace.reason
    snap = store(tmp_path / "m", None)
    snap.write("meraki/networks/N_1/appliance/settings.json", ["routed"])
    with pytest.raises(SnapshotError, match=r"appliance/settings\.json.*expected an object"):
        snap.audit()


def test_a_passthrough_hub_hands_tunnelled_traffic_to_its_upstream_gateway(tmp_path: Path) -> None:
    snap = org(tmp_path)
    snap.write(f"meraki/networks/{HUB}/appliance/settings.json", settings("passthrough"))
    trace = path_for(snap.audit(), "Staff", "udp/4500").trace
    tunnel = next(t for t in trace.variants if "via hub" in t.variant)
    assert [h.hop.stage for h in tunnel.hops][-1] == "upstream-nat"
    assert tunnel.allowed.describe_sources() != "203.0.113.100"  # not the hub's uplink address alone


def test_a_passthrough_spoke_rule_is_not_on_the_tunnel(tmp_path: Path) -> None:
    """The spoke's L3 rules do not apply to what it sends into the VPN (issue 21 item 6), in passthrough mode
    too: the tunnel's way does not cross them; its local way keeps the passthrough doubt."""
    snap = org(tmp_path, spoke_rules=[deny("udp", "500", comment="no IKE")])
    snap.write("meraki/networks/N_SPOKE/appliance/settings.json", settings("passthrough"))
    trace = path_for(snap.audit(), "Staff", "udp/500").trace
    tunnel = next(t for t in trace.variants if "via hub" in t.variant)
    assert tunnel.verdict == "allowed"
    assert "mx-l3" not in [h.hop.stage for h in tunnel.hops if not h.hop.device.endswith("(hub)")]
    local = next(t for t in trace.variants if "local" in t.variant)
    first = local.hops[0]
    assert first.hop.stage == "mx-l3" and first.decision.value == "unknown"
    assert "is in passthrough mode" in first.principal.reason


def test_without_the_settings_file_the_mx_may_be_either_so_only_what_both_decide_stands(tmp_path: Path) -> None:
    """Not collected is not routed: a deny that only a routed MX would surely apply is unknown, the address
    the server's side sees may be any public one, and the missing file is a data gap."""
    result = store(tmp_path, None, rules=[deny("udp", "500", comment="no IKE")]).audit()
    assert verdicts(result, "Staff") == {"udp/500": "unknown", "udp/4500": "allowed", "udp/1701": "unknown",
                                         "tcp/443": "allowed"}
    trace = path_for(result, "Staff", "udp/500").trace
    assert "whether Store / MX routes and translates its clients' traffic (routed) or passes it through" in \
        trace.reason
    nat = next(h for h in trace.hops if h.hop.stage == "upstream-nat")
    assert nat.segments[0].reason.startswith("deployment mode not collected (meraki/networks/N_1/appliance/")
    gaps = [f for f in result.findings if f.check.kind == "data-gap"]
    assert [f.evidence["file"] for f in gaps] == ["meraki/networks/N_1/appliance/settings.json"]
