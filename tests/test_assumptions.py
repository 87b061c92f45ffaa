"""audit.yaml `assume:` through the CLI: each named assumption turns its own `unknown` into a verdict, leaves
certain verdicts and other roles alone, is listed in every report format, and is validated."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from auditor.audit import run_audit
from auditor.cli import app
from auditor.report import json_report
from tests.environment import needs_fork
from tests.snapshot_builder import MerakiSnapshot, allow, deny

ROOT = Path(__file__).resolve().parents[1]
REPORT_SCHEMA = json.loads((ROOT / "auditor" / "report" / "report.schema.json").read_text(encoding="utf-8"))
runner = CliRunner()
VLANS = [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"},
         {"id": 20, "name": "Lab", "subnet": "10.0.20.0/24"},
         {"id": 30, "name": "Guest", "subnet": "10.0.30.0/24"}]
L7_PORT_4500 = {"policy": "deny", "type": "port", "value": "4500"}


def _snapshot(root: Path) -> MerakiSnapshot:
    """One network whose roles each hit one documented uncertainty, plus controls that are certain."""
    snap = MerakiSnapshot(root)
    policies = [{"groupPolicyId": "1", "name": "Contractors", "firewallAndTrafficShaping": {
        "settings": "custom", "l3FirewallRules": [allow("udp", "4500", "any"), deny("udp", "500", "any")]}}]
    net = snap.network(vlans=VLANS, policies=policies, mx_rules=[
        {"policy": "deny", "protocol": "udp", "srcCidr": "10.0.30.0/24", "destPort": "500", "destCidr": "Any"},
        {"policy": "deny", "protocol": "udp", "srcCidr": "10.0.20.0/24", "destPort": "4500", "destCidr": "Any"}])
    # NAT mode: the AP's VLAN decides udp/500 (VLAN 30 blocks it); udp/4500 passes from every VLAN but 20
    snap.ssid(net, 0, "Nat-Wifi", ipAssignmentMode="NAT mode")
    # custom group policy: tcp/443 denied by the SSID and not named by the policy -> the readings disagree
    snap.ssid(net, 1, "Corp", authMode="8021x-radius", rules=[deny("udp", "4500"), deny("tcp", "443")])
    snap.ssid(net, 2, "L7Port", l7=[L7_PORT_4500])
    # certain: the SSID's own L3 rule blocks udp/4500 before the L7 rule is reached
    snap.ssid(net, 3, "L7Denied", rules=[deny("udp", "4500")], l7=[L7_PORT_4500])
    # certain: the MX blocks udp/4500 from VLAN 20 after the L7 rule
    snap.ssid(net, 4, "L7Lab", defaultVlanId=20, l7=[L7_PORT_4500])
    snap.ssid(net, 5, "Open", splashPage="Click-through splash page", splash={"blockAllTrafficBeforeSignOn": False})
    snap.ssid(net, 6, "Closed", splashPage="Click-through splash page", splash={"blockAllTrafficBeforeSignOn": True})
    snap.ssid(net, 7, "Guest-Wifi", defaultVlanId=30)  # tagged: no AP VLAN to assume
    return snap


@pytest.fixture(scope="module")
def snap_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("assume")
    _snapshot(root)
    return root


def _audit(root: Path, assume: dict[str, Any] | None, *extra: str, fmt: str = "json",
           out_name: str = "report") -> tuple[int, str, str]:
    config = {"vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2", "l2tp", "sstp"]}]}
    if assume is not None:
        config["assume"] = assume
    tag = hashlib.sha256(json.dumps(assume, sort_keys=True).encode()).hexdigest()[:12]
    config_path = root.parent / f"{root.name}-{tag}.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    out = root.parent / f"{root.name}-{tag}-{out_name}.{fmt}"
    result = runner.invoke(app, ["audit", str(root), "--config", str(config_path), "--format", fmt, "-o", str(out),
                                 *extra])
    body = out.read_text(encoding="utf-8") if out.exists() else ""
    return result.exit_code, body, result.output


def _paths(root: Path, assume: dict[str, Any] | None) -> dict[tuple[str, str, str], dict[str, Any]]:
    code, body, output = _audit(root, assume)
    assert code in (0, 1, 3), output
    doc = json.loads(body)
    jsonschema.validate(doc, REPORT_SCHEMA)
    return {(p["role"]["name"], p["phase"], f"{p['flow']['ip_protocol']}/{p['flow']['dst_port']}"): p
            for p in doc["paths"]}


def _verdict(paths: dict, role: str, flow: str, phase: str = "post-auth") -> tuple[str, str]:
    path = paths[(role, phase, flow)]
    return path["verdict"], path["reason"]


@pytest.fixture(scope="module")
def plain(snap_root: Path) -> dict:
    return _paths(snap_root, None)


def test_without_assumptions_each_uncertainty_is_unknown(plain: dict) -> None:
    assert _verdict(plain, "Nat-Wifi", "udp/500")[0] == "unknown"
    assert _verdict(plain, "Contractors", "tcp/443")[0] == "unknown"
    assert _verdict(plain, "L7Port", "udp/4500")[0] == "unknown"
    assert _verdict(plain, "Open", "tcp/443", "pre-auth")[0] == "unknown"
    assert not any("(assumed:" in p["reason"] for p in plain.values())


@pytest.mark.parametrize(("value", "verdict"), [(True, "blocked"), (False, "allowed")])
def test_l7_port_matches_udp_settles_udp_only(snap_root: Path, plain: dict, value: bool, verdict: str) -> None:
    paths = _paths(snap_root, {"meraki-l7-port-matches-udp": value})
    got, reason = _verdict(paths, "L7Port", "udp/4500")
    assert got == verdict
    assert reason.endswith(f"(assumed: meraki-l7-port-matches-udp = {str(value).lower()}).")
    # certain blocks stay blocked, whichever way: before the L7 rule (SSID L3) and after it (MX, VLAN 20)
    assert _verdict(paths, "L7Denied", "udp/4500")[0] == "blocked"
    assert _verdict(paths, "L7Lab", "udp/4500")[0] == "blocked"
    assert "(assumed:" not in _verdict(paths, "L7Denied", "udp/4500")[1]
    # nothing else changes: other flows of the role, other uncertainties
    assert _verdict(paths, "L7Port", "udp/500") == _verdict(plain, "L7Port", "udp/500")
    for key in [("Nat-Wifi", "post-auth", "udp/500"), ("Contractors", "post-auth", "tcp/443"),
                ("Open", "pre-auth", "tcp/443")]:
        assert paths[key]["verdict"] == "unknown"


@pytest.mark.parametrize(("value", "tcp_443", "udp_4500"), [
    ("policy-first", "blocked", "allowed"),     # the SSID's deny follows the policy's rules
    ("policy-replaces", "allowed", "allowed"),  # only the policy's rules: it says nothing of 443
    ("both-apply", "blocked", "blocked"),       # a policy allow does not override the SSID's deny
])
def test_group_policy_layering_settles_the_readings(snap_root: Path, plain: dict, value: str, tcp_443: str,
                                                    udp_4500: str) -> None:
    paths = _paths(snap_root, {"meraki-group-policy-layering": value})
    got, reason = _verdict(paths, "Contractors", "tcp/443")
    assert got == tcp_443
    assert f"(assumed: meraki-group-policy-layering = {value})" in reason
    assert _verdict(paths, "Contractors", "udp/4500")[0] == udp_4500
    # the policy's own deny blocks under every reading: still blocked, not by the assumption
    got, reason = _verdict(paths, "Contractors", "udp/500")
    assert got == "blocked" and "(assumed:" not in reason
    # roles without the policy are not touched
    assert _verdict(paths, "Corp", "tcp/443") == _verdict(plain, "Corp", "tcp/443")
    assert _verdict(paths, "L7Port", "udp/4500")[0] == "unknown"


def test_group_policy_layering_agrees_where_readings_agreed(snap_root: Path, plain: dict) -> None:
    """policy-first and policy-replaces are the two readings weighed without the assumption: where they
    agreed, stating either changes nothing."""
    for value in ("policy-first", "policy-replaces"):
        paths = _paths(snap_root, {"meraki-group-policy-layering": value})
        for key, path in plain.items():
            if path["verdict"] != "unknown":
                assert paths[key]["verdict"] == path["verdict"], (value, key)


@pytest.mark.parametrize(("vlan", "verdict"), [(10, "allowed"), (30, "blocked")])
def test_ap_management_vlan_settles_nat_mode(snap_root: Path, plain: dict, vlan: int, verdict: str) -> None:
    paths = _paths(snap_root, {"meraki-ap-management-vlan": vlan})
    got, reason = _verdict(paths, "Nat-Wifi", "udp/500")
    assert got == verdict
    assert f"(assumed: meraki-ap-management-vlan = {vlan})" in reason
    # a flow all VLANs agreed on is not said to rest on the assumption
    if vlan == 10:
        got, reason = _verdict(paths, "Nat-Wifi", "tcp/443")
        assert got == "allowed" and "(assumed:" not in reason
    # a tagged SSID has no AP VLAN to assume
    assert _verdict(paths, "Guest-Wifi", "udp/500") == _verdict(plain, "Guest-Wifi", "udp/500")


def test_ap_management_vlan_that_the_network_lacks_changes_nothing(snap_root: Path, plain: dict) -> None:
    paths = _paths(snap_root, {"meraki-ap-management-vlan": 99})
    assert {k: p["verdict"] for k, p in paths.items()} == {k: p["verdict"] for k, p in plain.items()}


@pytest.mark.parametrize(("value", "verdict"), [(True, "allowed"), (False, "blocked")])
def test_splash_https_before_signon(snap_root: Path, plain: dict, value: bool, verdict: str) -> None:
    paths = _paths(snap_root, {"meraki-splash-allows-https-before-signon": value})
    got, reason = _verdict(paths, "Open", "tcp/443", "pre-auth")
    assert got == verdict
    assert f"(assumed: meraki-splash-allows-https-before-signon = {str(value).lower()})" in reason
    # blockAllTrafficBeforeSignOn true stays blocked; after sign-on and other flows are untouched
    assert _verdict(paths, "Closed", "tcp/443", "pre-auth")[0] == "blocked"
    assert _verdict(paths, "Open", "tcp/443") == _verdict(plain, "Open", "tcp/443")
    assert _verdict(paths, "Open", "udp/500", "pre-auth") == _verdict(plain, "Open", "udp/500", "pre-auth")


ALL = {"meraki-l7-port-matches-udp": False, "meraki-group-policy-layering": "policy-first",
       "meraki-ap-management-vlan": 10, "meraki-splash-allows-https-before-signon": True}
SHOWN = ["meraki-ap-management-vlan = 10", "meraki-group-policy-layering = policy-first",
         "meraki-l7-port-matches-udp = false", "meraki-splash-allows-https-before-signon = true"]


@pytest.mark.slow
def test_listed_in_every_format(snap_root: Path) -> None:
    _code, body, _ = _audit(snap_root, ALL, out_name="list")
    doc = json.loads(body)
    assert [(a["name"], a["value"]) for a in doc["assumptions"]] == sorted(ALL.items())
    assert all(a["settles"] for a in doc["assumptions"])
    jsonschema.validate(doc, REPORT_SCHEMA)
    for fmt in ("text", "markdown", "html"):
        _code, body, _ = _audit(snap_root, ALL, fmt=fmt, out_name="list")
        head = body[:body.index("Failing") if fmt != "text" else 2000]
        for item in SHOWN:
            name, value = item.split(" = ")
            assert item in head or f"<b>{name}</b> = {value}" in head, (fmt, item)
    _code, body, _ = _audit(snap_root, ALL, fmt="sarif", out_name="list")
    run = json.loads(body)["runs"][0]
    assert [(a["name"], a["value"]) for a in run["properties"]["assumptions"]] == sorted(ALL.items())
    _code, body, _ = _audit(snap_root, ALL, fmt="junit", out_name="list")
    for suite in ET.fromstring(body).iter("testsuite"):
        props = {p.get("name"): p.get("value") for p in suite.iter("property")
                 if p.get("name", "").startswith("assume.")}
        assert props == {f"assume.{item.split(' = ')[0]}": item.split(" = ")[1] for item in SHOWN}


def test_no_assumptions_lists_an_empty_array(snap_root: Path) -> None:
    _code, body, _ = _audit(snap_root, None, out_name="empty")
    assert json.loads(body)["assumptions"] == []
    _code, body, _ = _audit(snap_root, None, fmt="text", out_name="empty")
    assert "Assumptions" not in body


@pytest.mark.parametrize(("assume", "words"), [
    ({"meraki-l7-port-matches-tcp": True},
     ["unknown assumption 'meraki-l7-port-matches-tcp'", "meraki-l7-port-matches-udp", "meraki-ap-management-vlan"]),
    ({"meraki-group-policy-layering": "policy-last"},
     ["assume.meraki-group-policy-layering", "'policy-last'", "policy-first, policy-replaces, both-apply"]),
    ({"meraki-ap-management-vlan": 5000}, ["assume.meraki-ap-management-vlan", "1-4094"]),
    ({"meraki-l7-port-matches-udp": "maybe"}, ["assume.meraki-l7-port-matches-udp", "'maybe'", "true, false"]),
    ({"meraki-splash-allows-https-before-signon": 1}, ["assume.meraki-splash-allows-https-before-signon",
                                                        "true, false"]),
    (["meraki-l7-port-matches-udp"], ["assume: expected a mapping"]),
])
def test_bad_assumption_is_one_line_exit_2(snap_root: Path, assume: Any, words: list[str]) -> None:
    code, _body, output = _audit(snap_root, assume, out_name="bad")
    assert code == 2
    lines = output.strip().splitlines()
    # names the file and the line of `assume`
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(r"\.yaml:\d+: assume", lines[0])
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_other_unknown_keys_are_still_errors(tmp_path: Path) -> None:
    snap = _snapshot(tmp_path / "snap")
    (snap.root / "audit.yaml").write_text(yaml.safe_dump({**snap.config, "assumptions": {}}), encoding="utf-8")
    result = runner.invoke(app, ["audit", str(snap.root)])
    assert result.exit_code == 2 and "unknown key 'assumptions'" in result.output


@pytest.mark.slow
@needs_fork
def test_forked_audit_applies_assumptions_like_a_serial_one(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path / "org")
    for i in range(6):
        net = snap.network(f"N_{i}", f"Store {i}", vlans=VLANS)
        snap.ssid(net, 0, "Nat-Wifi", ipAssignmentMode="NAT mode", l7=[L7_PORT_4500])
    snap.config["assume"] = {"meraki-l7-port-matches-udp": True}
    (snap.root / "audit.yaml").write_text(yaml.safe_dump(snap.config), encoding="utf-8")
    serial = run_audit(snap.root, keep_model=False, workers=1)
    forked = run_audit(snap.root, keep_model=False, workers=2)
    assert forked.networks_by_worker > 0
    render = json_report.render
    assert render(forked).replace(forked.generated_at, "T") == render(serial).replace(serial.generated_at, "T")
    assert "(assumed: meraki-l7-port-matches-udp = true)" in render(serial)


def test_docs_example_loads(tmp_path: Path) -> None:
    from auditor.config import load_config

    text = (ROOT / "docs" / "assumptions.md").read_text(encoding="utf-8")
    path = tmp_path / "audit.yaml"
    path.write_text(text.split("```yaml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    assert load_config(path).assume == ALL


def test_a_finding_decided_by_an_assumption_names_it_in_its_evidence(snap_root: Path) -> None:
    _code, body, _ = _audit(snap_root, {"meraki-l7-port-matches-udp": True}, out_name="evidence")
    findings = json.loads(body)["findings"]
    l7 = [f for f in findings if f["id"] == "VPN-BLOCKED" and f["role"]["name"] == "L7Port"]
    assert l7 and all(d["assumed"] == "meraki-l7-port-matches-udp = true"
                      for f in l7 for d in f["evidence"]["deciding"])
    denied = [d for f in findings if f["id"] == "VPN-BLOCKED" and f["role"]["name"] == "L7Denied"
              for d in f["evidence"]["deciding"]]
    assert denied and all("assumed" not in d for d in denied)
