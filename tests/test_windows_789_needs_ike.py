"""789 (L2TP negotiation started, then failed) is kept on a finding only when UDP 500 gets through for the
role (docs/semantics/windows-errors.md); a finding on UDP 4500 of a role whose UDP 500 is blocked by another rule
must be 809, not 789: IKE never got an answer."""

from __future__ import annotations

from pathlib import Path

from tests.snapshot_builder import MerakiSnapshot, deny


def test_789_not_on_a_nat_t_finding_when_udp_500_is_blocked_by_another_rule(tmp_path: Path) -> None:
    snap = MerakiSnapshot(tmp_path)
    net = snap.network()
    snap.ssid(net, 0, "Guest", rules=[deny("udp", "500", comment="no IKE"), deny("udp", "4500", comment="no NAT-T")])
    result = snap.audit()
    blocked = [f for f in result.findings if f.check.id == "VPN-BLOCKED"]
    by_flows = {tuple(f.evidence["flows"]): f for f in blocked}
    assert set(by_flows) == {("udp/500",), ("udp/4500",)}, by_flows
    assert 789 not in by_flows[("udp/500",)].to_json()["windows_errors"]
    assert 789 not in by_flows[("udp/4500",)].to_json()["windows_errors"], by_flows[("udp/4500",)].to_json()
