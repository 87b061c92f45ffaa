"""A director's packet-filter line that cannot touch the VPN flows (an SSH rule) must not make them unknown."""

from __future__ import annotations

from pathlib import Path

import auditor.vendors  # noqa: F401  # installs the shipped vendors for run_audit
from tests.lb_audit import audit_flows, why

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "ipvs"
VIP = "203.0.113.50"


def _flows(tmp_path: Path, iptables: str) -> dict:
    conf = (FIXTURES / "sticky-fwmark.conf").read_text()
    return audit_flows(tmp_path, {"keepalived/lvs1.conf": conf, "keepalived/lvs1.iptables": iptables}, VIP,
                       ("ikev2",))


def test_an_ssh_drop_on_the_director_does_not_make_ike_unknown(tmp_path: Path) -> None:
    base = (FIXTURES / "sticky-fwmark.iptables").read_text()
    before = {flow: path.trace.verdict for flow, path in _flows(tmp_path / "a", base).items()}
    assert before["udp/500"] == "allowed" and before["udp/4500"] == "allowed", before
    # SSH hardening, as on most Linux hosts: only TCP 22 from elsewhere than 10/8 is dropped.
    hardened = base.replace("-A INPUT -p udp -m udp --dport 500 -j ACCEPT\n",
                            "-A INPUT -p udp -m udp --dport 500 -j ACCEPT\n"
                            "-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT\n"
                            "-A INPUT -p tcp -m tcp --dport 22 -j DROP\n")
    after = _flows(tmp_path / "b", hardened)
    for flow in ("udp/500", "udp/4500"):
        assert after[flow].trace.verdict == "allowed", why(after[flow])
