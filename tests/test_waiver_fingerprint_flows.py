"""A waiver by fingerprint accepts one finding (docs/waivers.md). When the rule at the waived position is
edited into a different rule that blocks other flows (here: SSTP accepted as blocked, then the same row turned into
a deny of everything), the new finding must not inherit the waiver: it is another block, which the waiver does not
name, and the gate must fail."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from auditor.gate import exit_code
from auditor.waivers import Waiver, apply_waivers
from tests.snapshot_builder import SERVER, MerakiSnapshot, deny


def _audit(root: Path, rule: dict):  # type: ignore[no-untyped-def]
    snap = MerakiSnapshot(root)
    net = snap.network()
    snap.ssid(net, 0, "Guest", rules=[rule])
    return snap.audit()


def test_a_fingerprint_waiver_does_not_follow_a_different_rule_into_its_row(tmp_path: Path) -> None:
    before = _audit(tmp_path / "a", deny("tcp", "443", f"{SERVER}/32", comment="no SSTP from guests"))
    (sstp,) = [f for f in before.findings if f.check.id == "VPN-BLOCKED"]
    assert sstp.evidence["flows"] == ["tcp/443"]
    waiver = Waiver("w.yaml", 1, 1, None, sstp.fingerprint, "SSTP is not offered to guests", "netops",
                    dt.date.today() + dt.timedelta(days=30))
    apply_waivers(before, [waiver])
    assert exit_code(before, "error", False) == 0  # accepted, as intended

    # the same row edited: now it denies every protocol to the server (IKE, NAT-T, SSTP)
    after = _audit(tmp_path / "b", deny("any", "any", f"{SERVER}/32", comment="no SSTP from guests"))
    blocked = [f for f in after.findings if f.check.id == "VPN-BLOCKED"]
    assert {flow for f in blocked for flow in f.evidence["flows"]} == {"udp/500", "udp/4500", "tcp/443"}
    apply_waivers(after, [waiver])
    assert exit_code(after, "error", False) == 1, [(f.evidence["flows"], f.waived) for f in blocked]
