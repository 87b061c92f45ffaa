"""The IPVS director's own packet filter (auditor/vendors/lb/iptables.py): filter INPUT evaluated rule by rule
before IPVS sees a client's packet (Linux ip_vs_core.c: "after packet filtering"), what it cannot evaluate left
`unknown`, never `allowed`."""

from __future__ import annotations

from pathlib import Path

import pytest

import auditor.vendors  # noqa: F401  # installs the shipped vendors for run_audit
from tests.lb_audit import audit_flows, why

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb" / "ipvs"
VIP = "203.0.113.50"
MANGLE = (FIXTURES / "sticky-fwmark.iptables").read_text().split("*filter")[0]


def verdicts(tmp_path: Path, filter_table: str, *, raw: str = "") -> dict[str, str]:
    iptables = f"{raw}{MANGLE}*filter\n{filter_table}COMMIT\n"
    found = audit_flows(tmp_path, {"keepalived/lvs1.conf": (FIXTURES / "sticky-fwmark.conf").read_text(),
                                   "keepalived/lvs1.iptables": iptables}, VIP, ("ikev2",))
    return {flow: str(path.trace.verdict) for flow, path in found.items()
            if flow in ("udp/500", "udp/4500")} | {"why": why(found["udp/4500"])}


HARDENED = """:INPUT DROP [0:0]
-A INPUT -i lo -j ACCEPT
-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -p udp -m multiport --dports 500,4500 -m comment --comment "IKE and NAT-T" -j ACCEPT
-A INPUT -j LOG --log-prefix "dropped: "
"""


def test_a_hardened_director_that_accepts_ike_and_nat_t_is_allowed(tmp_path: Path) -> None:
    got = verdicts(tmp_path, HARDENED)
    assert (got["udp/500"], got["udp/4500"]) == ("allowed", "allowed"), got["why"]


def test_a_drop_policy_that_accepts_only_udp_500_blocks_nat_t(tmp_path: Path) -> None:
    got = verdicts(tmp_path, ":INPUT DROP [0:0]\n-A INPUT -p udp -m udp --dport 500 -j ACCEPT\n")
    assert (got["udp/500"], got["udp/4500"]) == ("allowed", "blocked"), got["why"]
    assert ":INPUT DROP" in got["why"] or "INPUT" in got["why"]


def test_an_explicit_drop_of_nat_t_blocks_it(tmp_path: Path) -> None:
    got = verdicts(tmp_path, ":INPUT ACCEPT [0:0]\n-A INPUT -p udp --dport 4500 -j REJECT --reject-with "
                             "icmp-port-unreachable\n")
    assert (got["udp/500"], got["udp/4500"]) == ("allowed", "blocked"), got["why"]


@pytest.mark.parametrize("rule", [
    "-A INPUT -i eth0 -p udp -m multiport --dports 500,4500 -j ACCEPT",  # which interface: not known
    "-A INPUT -p udp -m multiport --dports 500,4500 -m recent --rcheck -j ACCEPT",  # a module not read
    "-A INPUT ! -s 10.0.0.0/8 -p udp -m multiport --dports 500,4500 -j ACCEPT",  # negation
    "-A INPUT -p udp -j VPN_IN",  # a user-defined chain
    "-A INPUT -p udp -m multiport --dports isakmp,ipsec-nat-t -j ACCEPT",  # port names (/etc/services)
    "-A INPUT -p udp -m conntrack --ctstate DNAT -j ACCEPT",  # a state other than NEW: not read
    "-A INPUT -j ACCEPT -p tcp --dport 22",  # a match after the target (hand-written, not iptables-save's order)
])
def test_what_is_not_evaluated_before_a_drop_policy_is_unknown(tmp_path: Path, rule: str) -> None:
    got = verdicts(tmp_path, f":INPUT DROP [0:0]\n{rule}\n")
    assert got["udp/500"] == got["udp/4500"] == "unknown", got


def test_an_established_only_rule_never_admits_a_new_flow(tmp_path: Path) -> None:
    got = verdicts(tmp_path, ":INPUT DROP [0:0]\n-A INPUT -p udp -m conntrack --ctstate ESTABLISHED -j ACCEPT\n")
    assert got["udp/500"] == got["udp/4500"] == "blocked", got


def test_state_matches_are_unknown_where_the_raw_table_leaves_packets_untracked(tmp_path: Path) -> None:
    raw = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -j CT --notrack\nCOMMIT\n"
    got = verdicts(tmp_path, ":INPUT DROP [0:0]\n-A INPUT -p udp -m state --state NEW -j ACCEPT\n", raw=raw)
    assert got["udp/500"] == got["udp/4500"] == "unknown", got


def test_a_drop_in_the_raw_table_may_drop_before_the_filter(tmp_path: Path) -> None:
    raw = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p udp -m udp --dport 4500 -m limit --limit 5/s -j DROP\n" \
          "COMMIT\n"
    got = verdicts(tmp_path, ":INPUT ACCEPT [0:0]\n", raw=raw)
    assert got["udp/4500"] == "unknown", got  # `-m limit` is not read: it may drop
    assert got["udp/500"] == "allowed", got  # a drop of UDP 4500 cannot touch it


def test_counters_from_iptables_save_c_are_read(tmp_path: Path) -> None:
    got = verdicts(tmp_path, ":INPUT DROP [12:345]\n[3:120] -A INPUT -p udp -m udp --dport 500 -j ACCEPT\n")
    assert (got["udp/500"], got["udp/4500"]) == ("allowed", "blocked"), got["why"]


def test_a_raw_table_drop_of_other_traffic_leaves_ike_alone(tmp_path: Path) -> None:
    raw = "*raw\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp -m tcp --dport 22 -m recent --update -j DROP\nCOMMIT\n"
    got = verdicts(tmp_path, ":INPUT ACCEPT [0:0]\n", raw=raw)
    assert got["udp/500"] == got["udp/4500"] == "allowed", got


@pytest.mark.parametrize(("ports", "expected"), [
    ("1000:", ("allowed", "blocked")),  # 1000 to 65535 (iptables-extensions(8)), not port 1000 alone
    (":600", ("blocked", "allowed")),  # 0 to 600
    ("400:4499", ("blocked", "allowed")),
])
def test_open_and_closed_port_ranges_of_a_drop(tmp_path: Path, ports: str, expected: tuple[str, str]) -> None:
    got = verdicts(tmp_path, f":INPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport {ports} -j DROP\n")
    assert (got["udp/500"], got["udp/4500"]) == expected, got["why"]
