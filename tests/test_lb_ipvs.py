"""Linux IPVS: keepalived.conf, ipvsadm-save and iptables marks; the research-table verdicts."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from auditor.lb_model import SCOPE_DEVICE, UDP
from auditor.model import Decision, Model, VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.ipvs import (
    IpvsadmAdapter,
    IpvsLoadBalancer,
    KeepalivedAdapter,
    load_ipvsadm,
    load_keepalived,
    parse_iptables,
    parse_keepalived,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "ipvs"


def fixture(name: str) -> IpvsLoadBalancer:
    path = FIXTURES / name
    iptables = path.with_suffix(".iptables")
    loader = load_keepalived if path.suffix == ".conf" else load_ipvsadm
    return loader(path.read_text(), f"ipvs/{name}", f"ipvs/{path.stem}",
                  iptables.read_text() if iptables.is_file() else None, f"ipvs/{iptables.name}")


@pytest.mark.parametrize(("name", "verdict"), [
    ("sticky-fwmark.conf", "sticky"),
    ("sticky-port0.conf", "sticky"),
    ("sticky-port0.rules", "sticky"),
    ("split-two-services.conf", "split"),
    ("split-two-services.rules", "split"),
    ("sticky-group-nftables.conf", "sticky"),
    ("split-group.conf", "split"),
    ("split-ops.conf", "split"),
    ("conditional-sh.conf", "conditional"),
])
def test_research_table_verdicts(name: str, verdict: str) -> None:
    (pair,) = fixture(name).ike_pairs()
    assert pair.verdict == verdict, pair.reason
    assert pair.vip == "203.0.113.50"


def test_fwmark_listeners_come_from_the_mangle_rules() -> None:
    (pair,) = fixture("sticky-fwmark.conf").ike_pairs()
    svc = pair.ike
    assert pair.same_object and svc.ports == ((500, 500), (4500, 4500)) and svc.protocol == UDP
    assert svc.persistence.table == "fwmark 50" and svc.persistence.scope == SCOPE_DEVICE
    assert svc.persistence.timeout == 3600
    assert [m.kind for m in svc.monitors] == ["udp"]
    marks = parse_iptables((FIXTURES / "sticky-fwmark.iptables").read_text(), "x.iptables")
    assert [(m.mark, str(m.destination), m.ports) for m in marks] == [
        (50, "203.0.113.50/32", ((500, 500),)), (50, "203.0.113.50/32", ((4500, 4500),))]


def test_fwmark_without_rules_is_a_data_gap(tmp_path: Path) -> None:
    (tmp_path / "keepalived").mkdir()
    (tmp_path / "keepalived" / "lvs1.conf").write_text((FIXTURES / "gap-fwmark.conf").read_text())
    model = Model(snapshot=str(tmp_path))
    KeepalivedAdapter().load(Snapshot(tmp_path), model)
    device = model.devices["keepalived/lvs1"]
    assert isinstance(device, IpvsLoadBalancer) and device.ike_pairs() == []
    assert [g.path for g in model.gaps] == ["keepalived/lvs1.iptables"]
    (tmp_path / "keepalived" / "lvs1.iptables").write_text(
        (FIXTURES / "sticky-fwmark.iptables").read_text().replace("0x32/", "0x33/").replace("mark 50", "mark 51"))
    model = Model(snapshot=str(tmp_path))
    KeepalivedAdapter().load(Snapshot(tmp_path), model)
    assert model.devices["keepalived/lvs1"].ike_pairs()[0].verdict == "sticky"  # type: ignore[attr-defined]


def test_ipvsadm_adapter_and_hop(tmp_path: Path) -> None:
    (tmp_path / "ipvs").mkdir()
    (tmp_path / "ipvs" / "lvs2.rules").write_text((FIXTURES / "split-two-services.rules").read_text())
    model = Model(snapshot=str(tmp_path))
    IpvsadmAdapter().load(Snapshot(tmp_path), model)
    device = model.devices["ipvs/lvs2"]
    assert device.owns(VpnServer("v", "203.0.113.50", ["ikev2"]))
    (hop,) = device.hops(VpnServer("v", "203.0.113.50", ["ikev2"]))
    (seg,) = hop.apply(PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.50")], UDP, 4500))
    assert seg.decision is Decision.TRANSLATE
    assert seg.leaving == (PacketSet.flow([ANY_ADDR], [address_interval("10.60.0.11")], UDP, 4500)
                           | PacketSet.flow([ANY_ADDR], [address_interval("10.60.0.12")], UDP, 4500))
    sstp = device.sstp_services(["203.0.113.50"])  # type: ignore[attr-defined]
    assert [s.address for s in sstp] == [ipaddress.ip_network("203.0.113.50/32")] and not sstp[0].monitors


def test_fix_text() -> None:
    (pair,) = fixture("split-two-services.conf").ike_pairs()
    fix = pair.balancer.fix_split(pair)
    assert "--set-mark 50" in fix and "virtual_server fwmark 50" in fix


def test_keepalived_syntax_errors_name_the_line() -> None:
    with pytest.raises(SnapshotError) as err:
        parse_keepalived("virtual_server 1.2.3.4 500 {\n  protocol UDP\n", "k.conf")
    assert err.value.line == 1
    with pytest.raises(SnapshotError) as err:
        parse_keepalived("global_defs {\n}\n}\n", "k.conf")
    assert err.value.line == 3
    blocks = parse_keepalived("! comment\nvirtual_server 1.2.3.4 500 { # trailing\n real_server 10.0.0.1 500 {\n"
                              "  weight 2 }\n}\n", "k.conf")
    assert blocks[0].words == ["virtual_server", "1.2.3.4", "500"] and blocks[0].children[0].is_block
