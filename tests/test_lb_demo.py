"""The retail-demo snapshot's HQ BIG-IP: the planted split persistence, alone and behind the HQ ASA."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from auditor.audit import AuditResult, run_audit
from auditor.model import Decision
from auditor.packets import address_interval

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
ASA = ROOT / "fixtures" / "cisco" / "retail-demo-hq-asa.cfg"
LB_KINDS = {"split-persistence", "snat-on-ike", "missing-monitor", "backend-mismatch", "persistence-timeout"}


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return run_audit(DEMO)


def test_demo_shows_the_planted_split_persistence(demo: AuditResult) -> None:
    lb = [f.to_json() for f in demo.findings if f.check.kind in LB_KINDS]
    assert [f["kind"] for f in lb] == ["split-persistence"], [f["title"] for f in lb]
    (finding,) = lb
    assert finding["severity"] == "error" and finding["device"] == "f5/hq-bigip"
    # the server behind offers IKEv2 and L2TP over these services (and SSTP, so not every protocol fails: no 800)
    assert finding["windows_errors"] == [809, 789] and finding["evidence"]["protocols"] == ["ikev2", "l2tp"]
    evidence = finding["evidence"]
    assert evidence["vip"] == "172.20.0.10" and evidence["verdict"] == "split"
    names = [s["name"] for s in evidence["services"]]
    assert names == ["/Common/corp_vpn_ike500", "/Common/corp_vpn_ike4500"]
    for svc in evidence["services"]:
        persistence = svc["persistence"]
        assert persistence["name"] == "/Common/source_addr" and persistence["scope"] == "service"
        assert persistence["settings"]["match-across-services"] == "disabled"
        assert all(line.startswith("f5/hq-bigip.conf:") for line in persistence["lines"])
        assert [b["address"] for b in svc["backends"]] == ["172.20.0.11", "172.20.0.12"]
    assert "match-across-services enabled" in finding["remediation"]
    assert "modify ltm virtual /Common/corp_vpn_ike4500 persist replace-all-with" in finding["remediation"]


def test_demo_paths_cross_the_bigip_after_the_perimeter(demo: AuditResult) -> None:
    # audit.yaml puts the BIG-IP behind the HQ ASA, whose static NAT sends 198.51.100.10 to its VIP
    path = next(p for p in demo.paths if str(p.trace.flow) == "udp/4500" and p.verdict == "allowed")
    devices = [h.hop.device for h in path.trace.hops if "/" in h.hop.device and " / " not in h.hop.device]
    assert devices[-1] == "f5/hq-bigip" and "cisco/hq-asa" in devices
    last = path.trace.hops[-1]
    assert last.decision is Decision.TRANSLATE
    assert {iv for seg in last.segments for iv in seg.leaving.destinations()} == {
        (address_interval("172.20.0.11")[0], address_interval("172.20.0.12")[0])}


def test_behind_the_asa_the_bigip_balances_corp_vpn(tmp_path: Path) -> None:
    copy = tmp_path / "retail-demo"
    shutil.copytree(DEMO, copy)
    (copy / "cisco").mkdir(exist_ok=True)
    shutil.copy(ASA, copy / "cisco" / "hq-asa.cfg")
    config = yaml.safe_load((copy / "audit.yaml").read_text())
    config["vpn_servers"][0]["path"] = ["cisco/hq-asa", "f5/hq-bigip"]
    (copy / "audit.yaml").write_text(yaml.safe_dump(config))
    result = run_audit(copy)
    sstp = next(p for p in result.paths if p.protocol == "sstp" and p.verdict == "allowed")
    assert [(h.hop.device, h.decision) for h in sstp.trace.hops[-3:]] == [
        ("cisco/hq-asa", Decision.TRANSLATE), ("cisco/hq-asa", Decision.PERMIT),
        ("f5/hq-bigip", Decision.TRANSLATE)]
    ike = next(p for p in result.paths if str(p.trace.flow) == "udp/4500" and p.verdict == "allowed")
    last = ike.trace.hops[-1]
    assert last.hop.device == "f5/hq-bigip"
    (segment,) = last.segments
    assert "/Common/corp_vpn_ike4500" in (segment.rule.text if segment.rule else "")
    assert [f"{lo}-{hi}" for lo, hi in segment.leaving.destinations()] == [
        f"{(1 << 128) + 0xAC14000B}-{(1 << 128) + 0xAC14000C}"]  # 172.20.0.11-172.20.0.12
    (split,) = [f for f in result.findings if f.check.kind == "split-persistence"]
    assert split.evidence["servers"] == ["corp-vpn"]
