"""Cisco ASA and IOS parsing and perimeter hops, on the project's VPN fixtures and small inline configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.model import Action, Decision, FilterHop, GapHop, VpnServer
from auditor.packets import ANY_ADDR, V4_BASE, PacketSet, address_interval
from auditor.snapshot import SnapshotError
from auditor.vendors.cisco.adapter import CiscoDevice, EgressHop, NatHop, detect_platform
from auditor.vendors.cisco.asa import AsaParser
from auditor.vendors.cisco.common import AceOptions, Unparsed, read_options, time_range_option, wildcard_intervals
from auditor.vendors.cisco.ios import IosParser

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cisco"
FLOWS = {"udp/500": (17, 500), "udp/4500": (17, 4500), "udp/1701": (17, 1701), "tcp/443": (6, 443),
         "esp": (50, None)}


def device(name: str) -> CiscoDevice:
    return CiscoDevice.from_text((FIXTURES / name).read_text(), f"cisco/{name}")


def inline(text: str, name: str = "dev.cfg") -> CiscoDevice:
    return CiscoDevice.from_text(text, f"cisco/{name}")


def walk(dev: CiscoDevice, address: str, flow: str, src: str | None = None):
    proto, port = FLOWS[flow]
    sources = [address_interval(src)] if src else [ANY_ADDR]
    packets = PacketSet.flow(sources, [address_interval(address)], proto, port)
    return dev.walk(VpnServer("srv", address, ["ikev2"]), packets)


def outcome(dev: CiscoDevice, address: str, flow: str, src: str | None = None) -> tuple[str, int | None, str]:
    """(final decision, file line of the deciding rule, stage) — what a person reads off the trace."""
    steps = walk(dev, address, flow, src)
    for hop, _reached, segments in steps:
        decisive = [s for s in segments if s.decision in (Decision.DENY, Decision.UNKNOWN)]
        if decisive:
            seg = decisive[0]
            line = seg.rule.origin.line if seg.rule and seg.rule.origin else None
            return seg.decision.value, line, hop.stage
    hop, _reached, segments = steps[-1]
    seg = segments[0]
    return "permit", seg.rule.origin.line if seg.rule and seg.rule.origin else None, hop.stage


# --- the ASA that statically NATs 198.51.100.10 to 10.20.0.10 -------------------------------------------
def test_asa_vpn_fixture_permits_ike_and_sstp_but_not_l2tp() -> None:
    asa = device("asa-vpn.cfg")
    assert asa.platform == "asa" and asa.name == "cisco/asa-vpn"
    assert outcome(asa, "198.51.100.10", "udp/500") == ("permit", 42, "acl-in OUTSIDE_IN (in) on outside")
    assert outcome(asa, "198.51.100.10", "udp/4500")[:2] == ("permit", 42)
    assert outcome(asa, "198.51.100.10", "tcp/443")[:2] == ("permit", 44)
    # udp/1701: the permit at line 46 is `inactive`, so the final deny (line 47) decides
    assert outcome(asa, "198.51.100.10", "udp/1701")[:2] == ("deny", 47)
    assert outcome(asa, "198.51.100.10", "esp")[:2] == ("deny", 47)


def test_asa_8_3_untranslates_before_the_acl_and_the_trace_shows_it() -> None:
    asa = device("asa-vpn.cfg")
    hops = asa.hops(VpnServer("srv", "198.51.100.10", ["ikev2"]))
    assert isinstance(hops[0], NatHop) and isinstance(hops[1], FilterHop)
    (_nat_hop, _, segments), *_ = walk(asa, "198.51.100.10", "udp/500")
    seg = segments[0]
    assert seg.decision is Decision.TRANSLATE
    assert seg.output == PacketSet.flow([ANY_ADDR], [address_interval("10.20.0.10")], 17, 500)
    assert seg.reason == "static NAT: 198.51.100.10 udp/500 -> 10.20.0.10 udp/500"
    assert seg.rule is not None and seg.rule.origin is not None and seg.rule.origin.line == 56
    assert "nat (dmz,outside) static 198.51.100.10" in seg.rule.text


def test_remarks_become_comments_and_positions_count_remarks_like_show_access_list() -> None:
    acl = device("asa-vpn.cfg").acl("OUTSIDE_IN")
    assert acl is not None
    first = acl.rules[0]
    assert first.position == 2 and first.comment == "== VPN server: IKE and NAT-T =="
    assert acl.default.synthetic and acl.default.action is Action.DENY


def test_asa_port_forward_on_the_interface_address_cannot_carry_esp() -> None:
    asa = device("asa-pat.cfg")
    assert outcome(asa, "198.51.100.20", "udp/500")[:2] == ("permit", 29)
    assert outcome(asa, "198.51.100.20", "tcp/443")[:2] == ("permit", 32)
    decision, _line, stage = outcome(asa, "198.51.100.20", "esp")
    assert (decision, stage) == ("deny", "nat")
    nat_segments = walk(asa, "198.51.100.20", "esp")[0][2]
    assert "ESP and other portless protocols cannot pass a port forward" in nat_segments[0].reason
    assert outcome(asa, "198.51.100.20", "udp/1701")[:1] == ("deny",)


def test_asa_twice_nat_with_service_objects_global_acl_and_out_acl() -> None:
    asa = device("asa-shadow.cfg")
    steps = walk(asa, "203.0.113.10", "udp/500")
    assert steps[0][2][0].rule.origin.line == 53  # the twice NAT with IKE-REAL/IKE-PUBLIC services
    assert outcome(asa, "203.0.113.10", "udp/500")[:2] == ("permit", 50)  # last hop: DMZ-OUT line 50
    assert [h.stage for h, _, _ in steps] == ["nat", "acl-in OUTSIDE (in) + GLOBAL (global) on outside",
                                              "acl-out (interface toward the server)"]
    assert isinstance(steps[2][0], EgressHop)
    # tcp-udp protocol group with a port (line 46) covers udp/4500
    assert walk(asa, "203.0.113.10", "udp/4500")[1][2][0].rule.origin.line == 46
    # the range deny at line 43 comes before the 1701 permit (line 44) and the global permit (line 48)
    assert outcome(asa, "203.0.113.10", "udp/1701")[:2] == ("deny", 43)


def test_asa_group_with_an_undefined_member_is_known_for_its_known_part() -> None:
    asa = device("asa-shadow.cfg")
    acl = asa.acl("OUTSIDE")
    assert acl is not None
    parts = [r for r in acl.rules if r.origin.line == 47]
    assert [r.certain for r in parts] == [True, False]
    assert "MISSING-GROUP" in parts[1].reason and "asa-shadow.cfg line 47" in parts[1].reason
    # ESP from the known blocked host is denied by line 47 for certain
    assert outcome(asa, "203.0.113.10", "esp", src="192.0.2.66")[:2] == ("deny", 47)


def test_pre_8_3_asa_filters_on_the_mapped_address_before_nat() -> None:
    pix = device("asa-legacy.cfg")
    assert pix.config.pre83
    steps = walk(pix, "192.0.2.50", "udp/500")
    assert [type(h) for h, _, _ in steps] == [FilterHop, NatHop]
    assert steps[1][2][0].output == PacketSet.flow([ANY_ADDR], [address_interval("10.1.1.50")], 17, 500)
    assert outcome(pix, "192.0.2.50", "udp/1701")[0] == "deny"


def test_asa_security_levels_without_acl() -> None:
    cfg = """ASA Version 9.9
hostname lvl
interface Gi0/0
 nameif outside
 security-level 0
 ip address 192.0.2.1 255.255.255.0
interface Gi0/1
 nameif inside
 ip address 10.0.0.1 255.255.255.0
interface Gi0/2
 nameif dmz
 security-level 0
 ip address 10.5.0.1 255.255.255.0
object network SRV
 host 10.0.0.10
 nat (inside,outside) static 192.0.2.10
object network DMZSRV
 host 10.5.0.10
 nat (dmz,outside) static 192.0.2.11
"""
    asa = inline(cfg)
    decision, _line, stage = outcome(asa, "192.0.2.10", "udp/500")
    assert (decision, stage) == ("deny", "security-level from outside")  # 0 -> 100 without an ACL
    seg = walk(asa, "192.0.2.10", "udp/500")[1][2][0]
    assert seg.rule.synthetic and "lower to higher is denied" in seg.rule.text
    assert outcome(asa, "192.0.2.11", "udp/500")[0] == "deny"  # equal levels, no same-security-traffic
    same = inline(cfg + "same-security-traffic permit inter-interface\n")
    assert outcome(same, "192.0.2.11", "udp/500")[0] == "permit"


def test_asa_unparsed_ace_is_unknown_with_file_and_line() -> None:
    cfg = """ASA Version 9.9
hostname unk
interface Gi0/0
 nameif outside
 ip address 192.0.2.1 255.255.255.0
interface Gi0/1
 nameif inside
 ip address 10.0.0.1 255.255.255.0
object network SRV
 host 10.0.0.10
 nat (inside,outside) static 192.0.2.10
access-list IN extended permit udp any host 10.0.0.10 eq isakmp
access-list IN extended permit udp any host 10.0.0.10 frobnicate 4500
access-list IN extended deny ip any any
access-group IN in interface outside
"""
    asa = inline(cfg)
    assert outcome(asa, "192.0.2.10", "udp/500")[:2] == ("permit", 12)
    decision, line, _stage = outcome(asa, "192.0.2.10", "udp/4500")
    assert (decision, line) == ("unknown", 13)
    seg = walk(asa, "192.0.2.10", "udp/4500")[1][2][0]
    assert "cisco/dev.cfg line 13 not understood" in seg.reason
    # the unknown line is udp only: TCP is still decided
    assert outcome(asa, "192.0.2.10", "tcp/443")[:2] == ("deny", 14)


def test_asa_names_fqdn_objects_port_operators_and_icmp_types() -> None:
    cfg = """ASA Version 9.9
hostname misc
names
name 10.0.0.10 vpnbox
interface Gi0/0
 nameif outside
 ip address 192.0.2.1 255.255.255.0
interface Gi0/1
 nameif inside
 ip address 10.0.0.1 255.255.255.0
object network CLOUD
 fqdn v4 vpn.example.com
object network SRV
 host 10.0.0.10
 nat (inside,outside) static 192.0.2.10
access-list IN extended deny udp object CLOUD any
access-list IN extended permit udp any host vpnbox range isakmp 501
access-list IN extended permit udp any host vpnbox gt 4499
access-list IN extended deny tcp any any neq 443
access-list IN extended permit tcp any any lt 444
access-group IN in interface outside
"""
    asa = inline(cfg)
    # the FQDN deny may match any source: an earlier uncertain deny makes a later permit unknown
    assert outcome(asa, "192.0.2.10", "udp/500")[:2] == ("unknown", 16)
    assert outcome(asa, "192.0.2.10", "tcp/443")[:2] == ("permit", 20)
    assert outcome(asa, "192.0.2.10", "tcp/443", src="198.18.0.1")[:2] == ("permit", 20)


def test_ios_fixture_established_fragments_time_range_and_port_forwards() -> None:
    ios = device("ios-vpn.cfg")
    assert ios.platform == "ios"
    assert outcome(ios, "203.0.113.2", "udp/500") == ("permit", 52, "acl-out (interface toward the server)")
    steps = walk(ios, "203.0.113.2", "udp/4500")
    assert [h.stage for h, _, _ in steps][:2] == ["acl-in WAN-IN on GigabitEthernet0/0", "nat"]
    assert steps[1][2][0].reason == "static NAT: 203.0.113.2 udp/4500 -> 192.168.50.10 udp/4500"
    # `established` never matches the SYN of a new SSTP connection; `fragments` never an initial packet
    assert outcome(ios, "203.0.113.2", "tcp/443")[:2] == ("deny", 49)
    assert outcome(ios, "203.0.113.2", "udp/1701")[:2] == ("deny", 49)
    acl = ios.acl("WAN-IN")
    assert acl is not None
    established = next(r for r in acl.rules if r.position == 30)
    assert not established.match and "established" in established.comment
    timed = next(r for r in acl.rules if r.position == 50)
    assert not timed.certain and "time-range OFFICE" in timed.reason


def test_ios_implicit_deny_undefined_acl_and_ipv6_pass() -> None:
    cfg = """hostname r1
interface Gi0/0
 ip address 192.0.2.1 255.255.255.0
 ip access-group NOPE in
 ip nat outside
interface Gi0/1
 ip address 10.0.0.1 255.255.255.0
 ip nat inside
ip nat inside source static 10.0.0.10 192.0.2.10
"""
    ios = inline(cfg)
    decision, _line, _stage = outcome(ios, "192.0.2.10", "esp")
    assert decision == "permit"  # 1:1 static NAT carries ESP; the undefined ACL filters nothing
    seg = walk(ios, "192.0.2.10", "esp")[0][2][0]
    assert "not defined" in seg.rule.comment


def test_ios_zone_based_firewall_makes_the_interface_unknown() -> None:
    cfg = """hostname zbf
interface Gi0/0
 ip address 192.0.2.1 255.255.255.0
 zone-member security OUTSIDE
 ip nat outside
interface Gi0/1
 ip address 10.0.0.1 255.255.255.0
 ip nat inside
ip nat inside source static 10.0.0.10 192.0.2.10
zone-pair security OUT-IN source OUTSIDE destination INSIDE
"""
    decision, line, _stage = outcome(inline(cfg), "192.0.2.10", "udp/500")
    assert (decision, line) == ("unknown", 4)


def test_ios_port_forward_on_dynamic_interface_is_unknown() -> None:
    cfg = """hostname home
interface Dialer1
 ip address negotiated
 ip nat outside
interface Vlan1
 ip address 192.168.1.1 255.255.255.0
 ip nat inside
ip nat inside source static udp 192.168.1.5 500 interface Dialer1 500
"""
    ios = inline(cfg)
    decision, line, stage = outcome(ios, "198.51.100.7", "udp/500")
    assert (decision, line, stage) == ("unknown", 8, "nat")
    seg = walk(ios, "198.51.100.7", "udp/500")[1][2][0]
    assert "assigned at run time (negotiated)" in seg.reason


def test_ios_numbered_and_sequenced_acls_wildcards_and_object_groups() -> None:
    cfg = """hostname og
object-group network VPN-SERVERS
 host 192.0.2.10
 192.0.2.64 255.255.255.192
object-group service IKE
 udp eq isakmp
 udp eq non500-isakmp
interface Gi0/0
 ip address 192.0.2.1 255.255.255.0
 ip access-group 101 in
access-list 101 remark VPN
access-list 101 permit object-group IKE any object-group VPN-SERVERS
access-list 101 permit tcp any 192.0.2.0 0.0.0.255 eq 443 log
access-list 101 deny   ip any any
"""
    ios = inline(cfg)
    # one interface, no NAT, no default route: which side faces the internet is not in the config
    hops = ios.hops(VpnServer("srv", "192.0.2.70", ["ikev2"]))
    assert isinstance(hops[0], GapHop) and "faces the internet" in hops[0].reason
    acl = ios.acl("101")
    assert acl is not None and [r.position for r in acl.rules] == [10, 20, 30]
    assert acl.rules[0].comment == "VPN"
    vpn = PacketSet.flow([ANY_ADDR], [address_interval("192.0.2.70")], 17, 4500)
    assert acl.evaluate(vpn)[0].rule.position == 10


def test_ios_empty_port_group_is_unknown_never_any_port() -> None:
    """An `object-group ip port` with no member, read as "no port given", would permit every UDP port."""
    cfg = """hostname og
object-group ip port IKE-PORTS
%s
interface Gi0/0
 ip address 192.0.2.1 255.255.255.0
 ip access-group 101 in
access-list 101 permit udp any host 192.0.2.10 portgroup IKE-PORTS
access-list 101 deny   ip any any
"""
    vpn = PacketSet.flow([ANY_ADDR], [address_interval("192.0.2.10")], 17, 1701)
    full = inline(cfg % " eq isakmp").acl("101")
    assert full is not None and full.evaluate(vpn)[0].rule.position == 20  # the deny: 1701 is not in the group
    empty = inline(cfg % "").acl("101")
    assert empty is not None
    first = empty.evaluate(vpn)[0]
    assert first.decision is Decision.UNKNOWN and "IKE-PORTS holds no port" in first.reason, first


def test_wildcards_expand_exactly() -> None:
    assert wildcard_intervals("10.0.0.0", "0.0.0.255") == [(V4_BASE + 0x0A000000, V4_BASE + 0x0A0000FF)]
    scattered = wildcard_intervals("10.0.0.1", "0.0.255.0")  # 10.0.x.1 for every x
    assert len(scattered) == 256 and scattered[5] == (V4_BASE + 0x0A000501, V4_BASE + 0x0A000501)


def test_platform_detection_and_unusable_input() -> None:
    assert detect_platform((FIXTURES / "asa-vpn.cfg").read_text()) == "asa"
    assert detect_platform((FIXTURES / "ios-vpn.cfg").read_text()) == "ios"
    with pytest.raises(SnapshotError) as err:
        inline("")
    assert err.value.path == "cisco/dev.cfg"
    with pytest.raises(SnapshotError):
        inline("just some text\nthat is not a config\n")


def test_owns_by_nat_or_interface_address() -> None:
    asa = device("asa-vpn.cfg")
    assert asa.owns(VpnServer("s", "198.51.100.10", []))
    # its outside address terminates a site-to-site tunnel (crypto ikev1 enable outside): the ASA is the server
    # there, and on its path (issue 27 item 1: it was left out)
    outside = VpnServer("s", "198.51.100.2", [])
    assert asa.owns(outside) and asa.headend(outside) is not None
    assert device("asa-pat.cfg").owns(VpnServer("s", "198.51.100.20", []))  # port forwards on the interface
    assert not asa.owns(VpnServer("s", "198.51.100.99", []))


@pytest.mark.slow
def test_mangled_lines_never_crash_the_parser() -> None:
    """Deleted, inserted and truncated tokens (a cut-off paste, a typo) give unknown rules, not crashes."""
    import random

    rnd = random.Random(7)
    words = ["any", "host", "eq", "range", "object", "object-group", "interface", "10.0.0.1", "255.255.255.0",
             "0.0.0.255", "udp", "esp", "isakmp", "65536", "nat", "static", "(inside,outside)", "service",
             "inactive", "established", "lt", "0", "fqdn", "source", "any6", "2001:db8::/64", "deny", "/33"]
    sources = sorted(FIXTURES.glob("*.cfg"))
    for _ in range(300):
        lines = rnd.choice(sources).read_text().splitlines()
        for _ in range(rnd.randrange(1, 5)):
            i = rnd.randrange(len(lines))
            tokens = lines[i].split(" ")
            roll = rnd.random()
            if roll < 0.3 and len(tokens) > 1:
                del tokens[rnd.randrange(len(tokens))]
            elif roll < 0.7:
                tokens.insert(rnd.randrange(len(tokens) + 1), rnd.choice(words))
            else:
                tokens = tokens[:rnd.randrange(len(tokens) + 1)]
            lines[i] = " ".join(tokens)
        try:
            dev = inline("\n".join(lines))
        except SnapshotError:
            continue
        for address in ("198.51.100.10", "203.0.113.2"):
            walk(dev, address, "udp/500")


def test_a_device_that_terminates_the_vpn_itself_is_the_end_of_the_path() -> None:
    """Issue 27 item 1 changes this: the headend was left out of the path (and, placed by `path`, denied its own
    address); it is now placed, and its hops end at the headend (tests/test_cisco_headend.py)."""
    cfg = """ASA Version 9.16
hostname ra-asa
interface Gi0/0
 nameif outside
 ip address 192.0.2.1 255.255.255.0
interface Gi0/1
 nameif inside
 ip address 10.0.0.1 255.255.255.0
crypto ikev2 enable outside
"""
    asa = inline(cfg)
    assert asa.owns(VpnServer("ra", "192.0.2.1", []))  # the ASA is the server: the path ends there
    steps = walk(asa, "192.0.2.1", "udp/500")
    ((hop, _reached, (seg,)),) = steps
    assert hop.stage == "headend on outside" and hop.terminates_ipsec
    assert seg.decision is Decision.PERMIT and "line 9 (crypto ikev2 enable outside)" in seg.reason
    plain = inline(cfg.replace("crypto ikev2 enable outside\n", ""))
    assert plain.owns(VpnServer("x", "192.0.2.1", [])) and plain.headend(VpnServer("x", "192.0.2.1", [])) is None


def test_asa_and_ios_read_the_words_after_an_entry_alike() -> None:
    """The reading both platforms share (common.read_endpoints, read_options): ports follow each address, a
    time-range narrows the entry (uncertain), a word neither grammar knows makes the entry unknown."""
    entries = ["permit udp any host 198.51.100.10 eq 500 time-range WORK", "permit udp any host 198.51.100.10 eq 500",
               "deny udp any host 198.51.100.10 eq 4500 bogus"]
    asa = AsaParser("".join(f"access-list OUT extended {e}\n" for e in entries), "cisco/a.cfg").parse()
    ios = IosParser("ip access-list extended OUT\n" + "".join(f" {e}\n" for e in entries), "cisco/i.cfg").parse()
    ike = PacketSet.flow([ANY_ADDR], [address_interval("198.51.100.10")], 17, 500)
    for cfg in (asa, ios):
        timed, plain, bogus = cfg.acls["OUT"].rules
        assert not timed.certain and "active only during time-range WORK" in timed.reason
        assert timed.match == plain.match == ike and plain.certain
        assert bogus.action is Action.UNKNOWN and "unexpected 'bogus'" in bogus.reason
    options = AceOptions()
    with pytest.raises(Unparsed, match="unexpected 'log'"):
        read_options(["time-range", "WORK", "log"], 0, (time_range_option,), options)
    assert options.narrower == options.layer3 == ["active only during time-range WORK"]
