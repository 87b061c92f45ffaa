"""Whatever a load-balancer file holds, the adapters either model it or raise SnapshotError (file, line); and
garbage that declares no listener lets nothing through the device."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.lb_model import LoadBalancer
from auditor.model import Decision, VpnServer
from auditor.packets import ALL, EMPTY, PacketSet
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


def let_through(device: LoadBalancer) -> PacketSet:
    """Every packet the device passes on (permitted or translated), through all its hops in order."""
    packets = ALL
    for hop in device.hops(VpnServer("vpn", "203.0.113.50", [])):  # hops do not depend on the server here
        passed = EMPTY
        for segment in hop.apply(packets):
            if segment.decision in (Decision.PERMIT, Decision.TRANSLATE):
                passed = passed | segment.leaving
        packets = passed
    return packets


# Without the words that declare a listener, the same garbage can form no virtual server: a device with no
# listener drops or leaves unknown everything (lb_model.LoadBalancerHop), so nothing may get through. Filters,
# pools, profiles and stray `destination` words must not make a listener of their own.
NO_LISTENER = {
    "tmsh": [w for w in TMSH_WORDS if w not in ("virtual", "ltm rule /Common/r {")],
    "nsconf": [w for w in NS_WORDS if w != "vserver"],
    "keepalived": [w for w in KEEPALIVED_WORDS if not w.startswith("virtual_server")],
    "ipvsadm": [w for w in IPVSADM_WORDS if w != "-A"],
}


def _without_listener(kind: str, words: list[str], iptables: str | None) -> LoadBalancer | None:
    text = " ".join(words)
    try:
        if kind == "tmsh":
            return load_tmsh(text, "f5/x.conf", "f5/x")
        if kind == "nsconf":
            return load_nsconf(text, "netscaler/x.conf", "netscaler/x")
        if kind == "keepalived":
            return load_keepalived(text, "keepalived/x.conf", "keepalived/x", iptables, "x.iptables")
        return load_ipvsadm(text, "ipvs/x.rules", "ipvs/x", iptables, "x.iptables")
    except SnapshotError:
        return None


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_garbage_without_a_listener_lets_nothing_through(data: st.DataObject) -> None:
    kind = data.draw(st.sampled_from(sorted(NO_LISTENER)), label="format")
    words = data.draw(st.lists(st.sampled_from(NO_LISTENER[kind]), max_size=80), label="words")
    device = _without_listener(kind, words, data.draw(st.sampled_from(IPTABLES), label="iptables"))
    if device is not None:
        assert let_through(device).is_empty(), [s.text() for s in device.services]


def test_a_listener_lets_its_flows_through() -> None:
    """The property above can fail: one virtual server built from the same words gets traffic through."""
    text = ("ltm virtual /Common/a {\n destination /Common/10.0.0.1:500\n ip-protocol udp\n pool /Common/b\n}\n"
            "ltm pool /Common/b {\n members {\n /Common/n:500 {\n address 10.0.0.5\n }\n }\n}\n")
    device = load_tmsh(text, "f5/x.conf", "f5/x")
    assert device.services and not let_through(device).is_empty()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TMSH_WORDS), max_size=80))
def test_tmsh_never_crashes(words: list[str]) -> None:
    try:
        exercise(load_tmsh(" ".join(words), "f5/x.conf", "f5/x"))
    except SnapshotError as err:
        assert err.path == "f5/x.conf"


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(NS_WORDS), max_size=100))
def test_nsconf_never_crashes(words: list[str]) -> None:
    try:
        exercise(load_nsconf(" ".join(words), "netscaler/x.conf", "netscaler/x"))
    except SnapshotError as err:
        assert err.path == "netscaler/x.conf" and err.line is not None


@pytest.mark.slow
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
