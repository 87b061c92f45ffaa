"""Azure Load Balancer: az JSON and ARM templates, load distribution modes, NAT rules, address companions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.lb_model import UDP
from auditor.model import Decision, Model, VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.azure_lb import AzureLbAdapter, AzureLoadBalancer, ref_name

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "azure"


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory) -> dict[str, AzureLoadBalancer]:
    root = tmp_path_factory.mktemp("azure")
    shutil.copytree(FIXTURES, root / "azure")
    model = Model(snapshot=str(root))
    AzureLbAdapter().load(Snapshot(root), model)
    return {name: d for name, d in model.devices.items() if isinstance(d, AzureLoadBalancer)}


@pytest.mark.parametrize(("name", "verdict"), [
    ("azure/conditional-sourceip", "conditional"),
    ("azure/split-default", "split"),
    ("azure/sticky-ha-ports", "sticky"),
    ("azure/sticky-nat-rules-nics", "sticky"),
    ("azure/arm-template", "conditional"),
])
def test_distribution_verdicts(devices: dict[str, AzureLoadBalancer], name: str, verdict: str) -> None:
    (pair,) = devices[name].ike_pairs()
    assert pair.verdict == verdict, pair.reason


def test_details(devices: dict[str, AzureLoadBalancer]) -> None:
    (pair,) = devices["azure/conditional-sourceip"].ike_pairs()
    assert "not stated" in pair.verify and pair.ike.monitors[0].kind == "tcp"
    assert str(pair.ike.origin) == "azure/conditional-sourceip.json#loadBalancingRules[0]"
    (split,) = devices["azure/split-default"].ike_pairs()
    assert "loadDistribution Default" in split.reason
    nat = devices["azure/sticky-nat-rules-nics"]
    (pair,) = nat.ike_pairs()
    assert pair.vip == "203.0.113.60" and pair.ike.backends[0].address == "10.70.0.11"  # via the companions
    assert nat.owns(VpnServer("corp-vpn", "203.0.113.60", ["ikev2"]))
    (hop,) = nat.hops(VpnServer("corp-vpn", "203.0.113.60", ["ikev2"]))
    (seg,) = hop.apply(PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.60")], UDP, 4500))
    assert seg.decision is Decision.TRANSLATE
    assert seg.leaving == PacketSet.flow([ANY_ADDR], [address_interval("10.70.0.11")], UDP, 4500)
    assert "SourceIP" in devices["azure/split-default"].fix_split(split)


def test_unresolved_nic_pool_and_public_ip(tmp_path: Path) -> None:
    (tmp_path / "azure").mkdir()
    shutil.copy(FIXTURES / "sticky-nat-rules-nics.json", tmp_path / "azure" / "lb.json")
    model = Model(snapshot=str(tmp_path))
    AzureLbAdapter().load(Snapshot(tmp_path), model)
    device = model.devices["azure/lb"]
    assert all(s.address is None and s.problems for s in device.services)  # type: ignore[attr-defined]


def test_ref_names_and_bad_body(tmp_path: Path) -> None:
    assert ref_name({"id": "/subscriptions/x/loadBalancers/lb/frontendIPConfigurations/fe"}) == "fe"
    assert ref_name("[resourceId('Microsoft.Network/loadBalancers/probes', 'lb', 'p1')]") == "p1"
    (tmp_path / "azure").mkdir()
    (tmp_path / "azure" / "bad.json").write_text('"just a string"')
    with pytest.raises(SnapshotError):
        AzureLbAdapter().load(Snapshot(tmp_path), Model(snapshot=str(tmp_path)))
