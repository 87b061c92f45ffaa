"""Whatever a load-balancer file holds, the adapters either model it or raise SnapshotError (file, line)."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.lb_model import LoadBalancer
from auditor.snapshot import SnapshotError
from auditor.vendors.lb.f5 import load_tmsh
from auditor.vendors.lb.ipvs import load_ipvsadm, load_keepalived
from auditor.vendors.lb.kemp import load_xml
from auditor.vendors.lb.netscaler import load_nsconf

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb"

TMSH_WORDS = [
    "ltm", "virtual", "pool", "/Common/a", "/Common/b", "destination", "/Common/10.0.0.1:500", "any", "any6",
    "1.2.3.4%2:isakmp", "dead::1.80", "mask", "255.255.255.0", "junk", "persist", "default", "yes", "members",
    "defaults-from", "/Common/source_addr", "address", "10.0.0.5", "monitor", "min", "1", "of", "{", "}", "{",
    "}", "\n", "\n", '"quoted { x"', "ip-protocol", "udp", "47", "source", "0.0.0.0/0", "bad/99", "rules",
    "source-address-translation", "type", "automap", "timeout", "indefinite", "match-across-services",
    "enabled", "persistence", "source-addr", "universal", "rule", "ltm rule /Common/r {", "fqdn", "ratio",
    "traffic-matching-criteria", "destination-address-inline", "ipsec-nat-t", "virtual-address", ":0", "%",
    "/Common/n:4500", "profile", "datagram-load-balancing", "node", "ip-forward", "reject", "disabled", "#",
]
NS_WORDS = [
    "add", "set", "bind", "lb", "vserver", "v1", "v2", "UDP", "ANY", "10.0.0.1", "::1", "0.0.0.0", "500", "4500",
    "*", "-persistenceType", "SOURCEIP", "RULE", "NONE", "-timeout", "abc", "60", "-lbMethod", "SOURCEIPHASH",
    "group", "g1", "service", "s1", "serviceGroup", "sg1", "server", "srv1", "host.example", "-usip", "YES",
    "NO", "-monitorName", "ping", "monitor", "HTTP", "-rule", '"x y"', '"open', "-state", "DISABLED", "cs",
    "-lbvserver", "enable", "ns", "mode", "USIP", "\n", "\n",
]
KEEPALIVED_WORDS = [
    "virtual_server", "fwmark", "group", "50", "203.0.113.50", "::1", "0", "500", "{", "}", "\n", "protocol", "UDP",
    "persistence_timeout", "abc", "lvs_sched", "sh", "real_server", "10.0.0.1", "weight", "UDP_CHECK", "ops",
    "virtual_server_group", "ike", "global_defs", "nftables_ipvs", "include", "!", "#", "lb_kind", "DR",
]
IPVSADM_WORDS = ["-A", "-a", "-u", "-t", "-f", "203.0.113.50:500", "[::1]:500", "x:y", "-r", "10.0.0.1:500", "-p",
                 "-s", "sh", "-w", "2", "-g", "\n", "5", "0x1", "zz", '"open']
IPTABLES = ["*mangle\n-A PREROUTING -d 203.0.113.50/32 -p udp --dport 500 -j MARK --set-mark 50\nCOMMIT\n",
            "*mangle\n-A PREROUTING -d bad -p udp --dport x -j MARK --set-mark zz\nCOMMIT\n", None]
KEMP_VALUES = ["abc", "-1", "0", "99999", "*", "500,4500", "4500-", "::1", "10.0.0.1%3", "", "src", "sh", "Y",
               "N", "udp", "https", "/sra_{x}/"]


def exercise(device: LoadBalancer) -> None:
    for svc in device.services:
        svc.describe()
        svc.text()
    for pair in device.ike_pairs():
        pair.evidence()
        device.fix_split(pair)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TMSH_WORDS), max_size=80))
def test_tmsh_never_crashes(words: list[str]) -> None:
    try:
        exercise(load_tmsh(" ".join(words), "f5/x.conf", "f5/x"))
    except SnapshotError as err:
        assert err.path == "f5/x.conf"


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(NS_WORDS), max_size=100))
def test_nsconf_never_crashes(words: list[str]) -> None:
    try:
        exercise(load_nsconf(" ".join(words), "netscaler/x.conf", "netscaler/x"))
    except SnapshotError as err:
        assert err.path == "netscaler/x.conf" and err.line is not None


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_kemp_values_never_crash(data: st.DataObject) -> None:
    text = (FIXTURES / "kemp" / "snat-monitor-timeout.xml").read_text(encoding="utf-8")

    def replace(match: re.Match[str]) -> str:
        value = data.draw(st.one_of(st.just(match.group(2)), st.sampled_from(KEMP_VALUES)))
        return f"{match.group(1)}{value}{match.group(3)}"

    exercise(load_xml(re.sub(r"(<[A-Za-z0-9.]+>)([^<]*)(</)", replace, text), "kemp/x.xml", "kemp/x"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(KEEPALIVED_WORDS), max_size=80), st.sampled_from(IPTABLES))
def test_keepalived_never_crashes(words: list[str], iptables: str | None) -> None:
    try:
        exercise(load_keepalived(" ".join(words), "keepalived/x.conf", "keepalived/x", iptables, "x.iptables"))
    except SnapshotError as err:
        assert err.path in ("keepalived/x.conf", "x.iptables")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(IPVSADM_WORDS), max_size=60), st.sampled_from(IPTABLES))
def test_ipvsadm_never_crashes(words: list[str], iptables: str | None) -> None:
    try:
        exercise(load_ipvsadm(" ".join(words), "ipvs/x.rules", "ipvs/x", iptables, "x.iptables"))
    except SnapshotError as err:
        assert err.path in ("ipvs/x.rules", "x.iptables")
