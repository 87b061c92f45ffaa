"""Audits of snapshots with a Cisco perimeter: traces through NAT and ACLs, nat-missing, shadowed ACEs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from auditor.audit import AuditResult, run_audit
from auditor.checks import Finding
from auditor.cli import app
from auditor.model import Decision

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cisco"


def snapshot(tmp_path: Path, fixture: str, name: str, audit_yaml: str) -> Path:
    (tmp_path / "cisco").mkdir(parents=True)
    shutil.copy(FIXTURES / fixture, tmp_path / "cisco" / f"{name}.cfg")
    (tmp_path / "audit.yaml").write_text(audit_yaml)
    return tmp_path


def server_yaml(address: str, protocols: str = "[ikev2, l2tp, sstp]", path: str = "", extra: str = "") -> str:
    return (f"vpn_servers:\n  - name: corp-vpn\n    address: {address}\n    protocols: {protocols}\n"
            + (f"    path: {path}\n" if path else "")
            + "sources:\n  - name: branch-lan\n    prefixes: [192.0.2.0/24]\n" + extra)


def findings(result: AuditResult, check_id: str) -> list[Finding]:
    return [f for f in result.findings if f.check.id == check_id]


def test_asa_blocks_l2tp_at_the_perimeter_and_the_trace_names_nat_and_ace(tmp_path: Path) -> None:
    """The ASA permits isakmp and 4500 but not 1701: L2TP/IPsec works (UDP 1701 travels inside the SA), while
    L2TP without IPsec (`l2tp-plain`) is blocked by the ACL's final deny."""
    snap = snapshot(tmp_path, "asa-vpn.cfg", "hq-asa", server_yaml("198.51.100.10", "[ikev2, l2tp, sstp]"))
    result = run_audit(snap)
    verdicts = {(p.protocol, str(p.trace.flow)): p.verdict for p in result.paths}
    assert verdicts[("l2tp", "udp/1701")] == "allowed"
    inner = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/1701")
    assert inner.reason.startswith("udp/1701 travels inside IPsec (udp/500 and udp/4500)")
    assert all(seg.rule is None and seg.reason.startswith("inside IPsec") for r in inner.hops for seg in r.segments)
    assert not findings(result, "VPN-BLOCKED-SERVER-SIDE") and not findings(result, "VPN-BLOCKED")

    snap = snapshot(tmp_path / "plain", "asa-vpn.cfg", "hq-asa",
                    server_yaml("198.51.100.10", "[ikev2, l2tp-plain, sstp]"))
    result = run_audit(snap)
    verdicts = {(p.protocol, str(p.trace.flow)): p.verdict for p in result.paths}
    assert verdicts[("ikev2", "udp/500")] == "allowed" and verdicts[("sstp", "tcp/443")] == "allowed"
    assert verdicts[("l2tp-plain", "udp/1701")] == "blocked"
    trace = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/1701")
    nat, acl = trace.hops
    assert nat.hop.device == "cisco/hq-asa" and nat.decision is Decision.TRANSLATE
    assert nat.segments[0].reason == "static NAT: 198.51.100.10 udp/1701 -> 10.20.0.10 udp/1701"
    hop, seg = trace.blocked[0]
    assert hop is acl.hop and str(seg.rule.origin) == "cisco/hq-asa.cfg:47"
    assert "cisco/hq-asa" in trace.reason and "deny ip any any" in trace.reason
    assert not findings(result, "VPN-NAT-MISSING")
    # a server-side block is one finding for every role it affects, naming the device
    (blocked,) = findings(result, "VPN-BLOCKED-SERVER-SIDE")
    assert blocked.evidence["flows"] == ["udp/1701"] and blocked.device == "cisco/hq-asa"
    assert blocked.check.kind == "blocked-flow" and "10.20.0.10" in blocked.remediation
    assert not findings(result, "VPN-BLOCKED")


def test_an_empty_port_group_is_unknown_never_any_port(tmp_path: Path) -> None:
    """Found by the fuzzer: with the port-objects of VPN-IKE deleted, the entry `permit udp any object
    VPN-SERVER object-group VPN-IKE` was read as permitting every UDP port, so plain L2TP (udp/1701, which the
    intact config denies) came out allowed. An empty group is not a port list: the entry is unknown."""
    text = (FIXTURES / "asa-vpn.cfg").read_text()
    emptied = text.replace(" port-object eq isakmp\n port-object eq 4500\n", "")
    assert emptied != text
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "asa-empty.cfg").write_text(emptied)
    snap = tmp_path / "snap"
    (snap / "cisco").mkdir(parents=True)
    shutil.copy(tmp_path / "src" / "asa-empty.cfg", snap / "cisco" / "hq-asa.cfg")
    (snap / "audit.yaml").write_text(server_yaml("198.51.100.10", "[ikev2, l2tp-plain]"))
    verdicts = {(p.protocol, str(p.trace.flow)): p for p in run_audit(snap).paths}
    for key in (("l2tp-plain", "udp/1701"), ("ikev2", "udp/500"), ("ikev2", "udp/4500")):
        assert verdicts[key].verdict == "unknown", (key, verdicts[key].verdict)
    assert "object-group VPN-IKE holds no port-object" in verdicts[("l2tp-plain", "udp/1701")].trace.reason


def test_port_forwards_leave_esp_unexposed_and_carry_l2tp_inside_nat_t(tmp_path: Path) -> None:
    extra = "protocols:\n  ipsec-native:\n    flows: [udp/500, esp]\n"
    snap = snapshot(tmp_path, "asa-pat.cfg", "shop-asa",
                    server_yaml("198.51.100.20", "[ikev2, l2tp, ipsec-native]", extra=extra))
    result = run_audit(snap)
    (finding,) = findings(result, "VPN-NAT-MISSING")
    assert finding.device == "cisco/shop-asa" and finding.check.kind == "nat-missing"
    # L2TP/IPsec needs udp/500 and udp/4500 here (the port forward is NAT): 1701 rides inside, ESP is not used
    assert finding.evidence["missing"] == {"ipsec-native": ["esp"]}
    assert finding.evidence["esp_port_forward"] is True
    assert "ESP cannot pass a port forward" in finding.title
    assert any("cannot pass a port forward" in r for r in finding.evidence["reasons"])
    verdicts = {(p.protocol, str(p.trace.flow)): p.verdict for p in result.paths}
    assert verdicts[("ikev2", "udp/4500")] == "allowed" and verdicts[("ipsec-native", "esp")] == "blocked"


def test_device_on_the_path_without_nat_for_the_server(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, "ios-nonat.cfg", "edge-rtr",
                    server_yaml("198.51.100.10", "[ikev2]", path="[cisco/edge-rtr]"))
    result = run_audit(snap)
    (finding,) = findings(result, "VPN-NAT-MISSING")
    assert finding.evidence["missing"] == {"ikev2": ["udp/500", "udp/4500"]}
    assert "no static NAT" in finding.title
    # not on the path (no audit.yaml path, owns nothing): not placed, so nothing to say about it
    other = snapshot(tmp_path / "b", "ios-nonat.cfg", "edge-rtr", server_yaml("198.51.100.10", "[ikev2]"))
    assert not findings(run_audit(other), "VPN-NAT-MISSING")


def test_shadowed_vpn_ace_names_the_shadowing_line(tmp_path: Path) -> None:
    # l2tp-plain: the L2TP permits (44, 49) matter only to UDP 1701 in the clear; inside IPsec nothing sees it
    snap = snapshot(tmp_path, "asa-shadow.cfg", "dc-asa", server_yaml("203.0.113.10", "[ikev2, l2tp-plain, sstp]"))
    result = run_audit(snap)
    shadowed = findings(result, "CISCO-SHADOWED-ACE")
    by_line = {f.evidence["rule"]["source"]: f for f in shadowed}
    # 44 (L2TP permit) and 49 (global L2TP permit) sit behind the range deny at 43; 48 repeats line 41
    assert set(by_line) == {"cisco/dc-asa.cfg:44", "cisco/dc-asa.cfg:48", "cisco/dc-asa.cfg:49"}
    l2tp = by_line["cisco/dc-asa.cfg:44"]
    assert l2tp.check.kind == "shadowed-vpn-rule" and l2tp.effective_severity == "warning"
    assert l2tp.evidence["shadowed_by"][0]["source"] == "cisco/dc-asa.cfg:43"
    assert "line 43" in l2tp.title and l2tp.device == "cisco/dc-asa"
    assert by_line["cisco/dc-asa.cfg:49"].evidence["shadowed_by"][0]["source"] == "cisco/dc-asa.cfg:43"
    redundant = by_line["cisco/dc-asa.cfg:48"]
    assert redundant.effective_severity == "info"
    assert redundant.evidence["shadowed_by"][0]["source"] == "cisco/dc-asa.cfg:41"


def test_redundant_permit_is_info(tmp_path: Path) -> None:
    cfg = (FIXTURES / "asa-vpn.cfg").read_text().replace(
        "access-list OUTSIDE_IN extended permit icmp any4 host 10.20.0.10 echo\n",
        "access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq isakmp\n")
    (tmp_path / "cisco").mkdir()
    (tmp_path / "cisco" / "hq-asa.cfg").write_text(cfg)
    (tmp_path / "audit.yaml").write_text(server_yaml("198.51.100.10", "[ikev2]"))
    (finding,) = findings(run_audit(tmp_path), "CISCO-SHADOWED-ACE")
    assert finding.effective_severity == "info" and finding.evidence["rule"]["source"] == "cisco/hq-asa.cfg:45"


def test_json_report_on_stdout_is_clean(tmp_path: Path) -> None:
    snap = snapshot(tmp_path, "ios-vpn.cfg", "br-edge-01", server_yaml("203.0.113.2"))
    res = CliRunner().invoke(app, ["audit", str(snap), "--format", "json"])
    report = json.loads(res.stdout)  # nothing but the report: ciscoconfparse's logging is silenced
    hops = next(p["hops"] for p in report["paths"] if p["protocol"] == "sstp")
    assert any(h["device"] == "cisco/br-edge-01" and h["decision"] == "deny" for h in hops)
