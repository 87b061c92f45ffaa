"""KEMP LoadMaster: listvs XML (untrusted, defusedxml), port following and the research-table verdicts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from auditor.checks import AuditContext
from auditor.lb_model import SCOPE_ADDRESS, SOURCE_IP, UDP
from auditor.model import Decision, Model, VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.kemp import KempAdapter, KempLoadBalancer, load_xml
from rules.checks import missing_monitor, persistence_timeout, snat_on_ike, split_persistence

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "kemp"


def fixture(name: str) -> KempLoadBalancer:
    return load_xml((FIXTURES / f"{name}.xml").read_text(encoding="utf-8"), f"kemp/{name}.xml", f"kemp/{name}")


@pytest.mark.parametrize(("name", "verdict"), [
    ("sticky-port-following", "sticky"),
    ("unknown-one-sided-following", "unknown"),
    ("split-following-timeouts-differ", "split"),
    ("split-following-rs-differ", "split"),
    ("split-following-vips-differ", "split"),
    ("split-no-following", "split"),
    ("conditional-source-hash", "conditional"),
    ("unknown-extraports", "unknown"),
    ("snat-monitor-timeout", "sticky"),
])
def test_research_table_verdicts(name: str, verdict: str) -> None:
    (pair,) = fixture(name).ike_pairs()
    assert pair.verdict == verdict, pair.reason
    assert pair.vip == "203.0.113.30"


def test_port_following_model_and_lines() -> None:
    (pair,) = fixture("sticky-port-following").ike_pairs()
    p = pair.ike.persistence
    assert p.kind == SOURCE_IP and p.scope == SCOPE_ADDRESS and p.require_identical
    assert p.table == pair.natt.persistence.table == "port following VS 1 <-> VS 2"
    assert p.timeout == 3600 and p.settings["FollowVSID"] == "2"
    assert pair.ike.origin is not None and pair.ike.origin.line == 6
    assert [str(o) for o in p.origins] == ["kemp/sticky-port-following.xml:39",
                                           "kemp/sticky-port-following.xml:40",
                                           "kemp/sticky-port-following.xml:35"]
    assert pair.ike.listener() == "udp 203.0.113.30:500"
    assert [(b.address, b.port) for b in pair.natt.backends] == [("10.40.0.11", 4500), ("10.40.0.12", 4500)]
    assert pair.ike.monitors[0].kind == "icmp"
    assert pair.ike.snat.kind == "none"


def test_reasons_name_what_differs() -> None:
    (pair,) = fixture("split-following-timeouts-differ").ike_pairs()
    assert "identical persistence options" in pair.reason
    (pair,) = fixture("split-following-vips-differ").ike_pairs()
    assert "another IP address" in pair.reason
    (pair,) = fixture("unknown-one-sided-following").ike_pairs()
    assert "set on VS 1 only" in pair.verify
    (pair,) = fixture("conditional-source-hash").ike_pairs()
    assert "Schedule=sh" in pair.reason
    (pair,) = fixture("unknown-extraports").ike_pairs()
    assert pair.same_object and pair.ike.ports == ((500, 500), (4500, 4500)) and "ExtraPorts" in pair.verify


def test_fix_text_names_both_services_and_port_following() -> None:
    (pair,) = fixture("split-no-following").ike_pairs()
    fix = pair.balancer.fix_split(pair)
    assert "Port Following" in fix and "followvsid=2" in fix and "followvsid=1" in fix
    assert "persist=src" in fix


def test_hop() -> None:
    device = fixture("sticky-port-following")
    server = VpnServer("corp-vpn", "203.0.113.30", ["ikev2"])
    assert device.owns(server)
    (hop,) = device.hops(server)
    (seg,) = hop.apply(PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.30")], UDP, 500))
    assert seg.decision is Decision.TRANSLATE and "VS IKE 500" in (seg.rule.text if seg.rule else "")
    (drop,) = hop.apply(PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.30")], UDP, 1701))
    assert drop.decision is Decision.DENY


def test_checks_on_kemp() -> None:
    model = Model(snapshot="t")
    model.servers = [VpnServer("corp-vpn", "203.0.113.30", ["ikev2", "sstp"])]
    model.devices["kemp/lm1"] = fixture("snat-monitor-timeout")
    ctx = AuditContext(model, [], {})
    snat = list(snat_on_ike.run(ctx))
    assert len(snat) == 2 and all(f.effective_severity == "info" for f in snat)  # L4 UDP: verify
    assert "Verify on the device" in snat[0].remediation
    monitors = list(missing_monitor.run(ctx))
    assert sum("has no health monitor" in f.title for f in monitors) == 2
    assert any("SSTP" in f.title and "CheckType=https" in f.title for f in monitors)
    assert len(list(persistence_timeout.run(ctx))) == 2
    assert list(split_persistence.run(ctx)) == []


# -- untrusted XML -----------------------------------------------------------------------------------------
def test_entities_and_dtds_are_refused() -> None:
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>\n'
            '<Response stat="200"><Success><Data>&b;</Data></Success></Response>')
    with pytest.raises(SnapshotError) as err:
        load_xml(bomb, "kemp/x.xml", "kemp/x")
    assert "refused XML construct" in err.value.message
    external = ('<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
                '<Response><Success><Data>&e;</Data></Success></Response>')
    with pytest.raises(SnapshotError):
        load_xml(external, "kemp/x.xml", "kemp/x")


def test_malformed_xml_and_error_responses_name_file_and_line() -> None:
    with pytest.raises(SnapshotError) as err:
        load_xml('<Response stat="200">\n<Success>\n<Data>\n<VS></Data>', "kemp/x.xml", "kemp/x")
    assert err.value.path == "kemp/x.xml" and err.value.line == 4
    with pytest.raises(SnapshotError) as err:
        load_xml('<Response stat="401" code="fail"><Error>Incorrect Password</Error></Response>', "kemp/x.xml", "k")
    assert "Incorrect Password" in err.value.message


def test_adapter_and_odd_values(tmp_path: Path) -> None:
    (tmp_path / "kemp").mkdir()
    text = (FIXTURES / "split-no-following.xml").read_text(encoding="utf-8")
    text = text.replace("<VSAddress>203.0.113.30</VSAddress>", "<VSAddress>not-an-ip</VSAddress>", 1)
    (tmp_path / "kemp" / "lm1.xml").write_text(text, encoding="utf-8")
    model = Model(snapshot=str(tmp_path))
    KempAdapter().load(Snapshot(tmp_path), model)
    device = model.devices["kemp/lm1"]
    assert isinstance(device, KempLoadBalancer) and device.tier == 1
    first, second = device.services  # type: ignore[attr-defined]
    assert first.address is None and first.problems
    assert second.address == ipaddress.ip_network("203.0.113.30/32")
