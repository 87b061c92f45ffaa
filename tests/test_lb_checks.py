"""The load-balancer checks (rules/checks): which findings each fixture produces, with evidence and fixes."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.checks import AuditContext, Finding
from auditor.lb_model import LoadBalancer
from auditor.model import Model, VpnServer
from auditor.vendors.lb.f5 import load_tmsh
from rules.checks import backend_mismatch, missing_monitor, persistence_timeout, snat_on_ike, split_persistence

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb"
CHECKS = {"split-persistence": split_persistence, "snat-on-ike": snat_on_ike, "missing-monitor": missing_monitor,
          "backend-mismatch": backend_mismatch, "persistence-timeout": persistence_timeout}


def f5(name: str) -> LoadBalancer:
    return load_tmsh((FIXTURES / "f5" / f"{name}.conf").read_text(), f"f5/{name}.conf", "f5/bigip1")


def context(*devices: LoadBalancer, servers: list[VpnServer] | None = None) -> AuditContext:
    model = Model(snapshot="test")
    model.servers = servers if servers is not None else [VpnServer("corp-vpn", "203.0.113.10", ["ikev2", "sstp"])]
    for device in devices:
        model.devices[device.name] = device
    return AuditContext(model, [], {})


def findings(ctx: AuditContext, kind: str) -> list[Finding]:
    return list(CHECKS[kind].run(ctx))


def test_split_persistence_finding_has_both_services_lines_and_the_fix() -> None:
    (finding,) = findings(context(f5("split-builtin-source-addr")), "split-persistence")
    data = finding.to_json()
    assert data["id"] == "LB-SPLIT-PERSISTENCE" and data["kind"] == "split-persistence"
    assert data["severity"] == "error" and data["windows_errors"] == [809]
    assert data["device"] == "f5/bigip1"
    evidence = data["evidence"]
    assert evidence["udp_500"] == "/Common/vs_ike_500" and evidence["udp_4500"] == "/Common/vs_ike_4500"
    assert evidence["servers"] == ["corp-vpn"]
    for svc in evidence["services"]:
        assert svc["persistence"]["name"] == "/Common/source_addr"
        assert svc["persistence"]["settings"]["match-across-services"] == "disabled"
        assert svc["persistence"]["lines"]
        assert svc["origin"].startswith("f5/split-builtin-source-addr.conf:")
    assert "match-across-services enabled" in data["remediation"]


@pytest.mark.parametrize(("name", "severity"), [
    ("sticky-match-across-services", None), ("sticky-wildcard", None), ("split-datagram-lb", "error"),
    ("unknown-different-profiles", "warning"), ("unknown-irule-steering", "warning"),
])
def test_split_persistence_severity_by_verdict(name: str, severity: str | None) -> None:
    found = findings(context(f5(name)), "split-persistence")
    if severity is None:
        assert found == []
    else:
        (finding,) = found
        assert finding.effective_severity == severity


def test_unknown_verdict_says_what_to_verify() -> None:
    (finding,) = findings(context(f5("unknown-different-profiles")), "split-persistence")
    assert finding.remediation.startswith("Verify on the device:")
    assert "cannot prove" in finding.title


def test_snat_on_ike_with_windows_mitigations() -> None:
    ctx = context(f5("snat-automap"), servers=[VpnServer("corp-vpn", "203.0.113.10", ["ikev2", "l2tp"])])
    found = findings(ctx, "snat-on-ike")
    assert [f.evidence["source_translation"]["kind"] for f in found] == ["automap", "snat"]
    text = found[0].remediation
    assert "source-address-translation { type none }" in text
    assert "IkeNumEstablishedForInitialQuery" in text
    assert "AssumeUDPEncapsulationContextOnSendRule" in text  # l2tp is among the server's protocols
    assert found[0].to_json()["severity"] == "warning"
    ikev2_only = findings(context(f5("snat-automap")), "snat-on-ike")
    assert "AssumeUDPEncapsulationContextOnSendRule" not in ikev2_only[0].remediation
    assert findings(context(f5("sticky-match-across-services")), "snat-on-ike") == []


def test_missing_monitors_for_ike_and_generic_https_on_sstp() -> None:
    found = findings(context(f5("monitors-timeout")), "missing-monitor")
    titles = [f.title for f in found]
    assert sum("has no health monitor" in t for t in titles) == 2  # both IKE pools
    (sstp,) = [f for f in found if "SSTP" in f.title]
    assert "/Common/https (https)" in sstp.title and "does not test the SSTP endpoint" in sstp.title
    assert "sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}" in sstp.remediation
    assert not [f for f in findings(context(f5("sstp-good-monitor")), "missing-monitor") if "SSTP" in f.title]


def test_backend_mismatch_and_timeout() -> None:
    (mismatch,) = findings(context(f5("split-different-nodes")), "backend-mismatch")
    assert "10.20.0.12 only behind /Common/vs_ike_500" in mismatch.title
    assert "Add 10.20.0.12 to /Common/ike4500_pool" in mismatch.remediation
    assert findings(context(f5("sticky-match-across-services")), "backend-mismatch") == []
    timeouts = findings(context(f5("monitors-timeout")), "persistence-timeout")
    assert len(timeouts) == 2 and "30 s" in timeouts[0].title
    assert "modify ltm persistence source-addr /Common/ike_persist timeout 3600" in timeouts[0].remediation


def test_checks_are_found_by_the_catalogue_loader() -> None:
    from auditor.checks import load_checks
    kinds = {meta.kind for meta, _ in load_checks()}
    assert set(CHECKS) <= kinds
