"""Syntax seen in public ASA and IOS configurations (issue 22 item 5), each in a small configuration written here:
read as the device reads it, never as a reason to distrust the whole file."""

from __future__ import annotations

import ipaddress

import pytest

from auditor.model import Decision, VpnServer
from auditor.packets import ANY_ADDR, V4_BASE, PacketSet, address_interval
from auditor.vendors.cisco.adapter import CiscoDevice
from auditor.vendors.cisco.common import wildcard_intervals


def device(text: str) -> CiscoDevice:
    dev = CiscoDevice.from_text(text, "cisco/dev.cfg")
    assert dev.config.review is not None and dev.config.review.doubts == [], dev.config.review.doubts
    return dev


def flow(proto: int, port: int | None, dst: str, src: str | None = None) -> PacketSet:
    return PacketSet.flow([address_interval(src)] if src else [ANY_ADDR], [address_interval(dst)], proto, port)


def decide(dev: CiscoDevice, acl: str, packets: PacketSet) -> tuple[str, int | None]:
    rules = dev.acl(acl)
    assert rules is not None
    segments = rules.evaluate(packets)
    assert len({s.decision for s in segments}) == 1, [(s.decision, s.rule and s.rule.text) for s in segments]
    seg = segments[0]
    return seg.decision.value, None if seg.rule is None or seg.rule.synthetic else seg.rule.origin.line


ASA_HEAD = """ASA Version 9.12(4)
hostname fw
names
name 198.51.100.2 outside-ip
interface GigabitEthernet0/0
 nameif outside
 security-level 0
 ip address outside-ip 255.255.255.0
interface GigabitEthernet0/1
 nameif dmz
 security-level 50
 ip address 10.0.0.1 255.255.255.0
"""


def test_pix_access_list_without_extended() -> None:
    asa = device(ASA_HEAD + "access-list OUT permit udp any host 10.0.0.10 eq isakmp\n"
                            "access-list OUT deny ip any any\n: end\n")
    assert decide(asa, "OUT", flow(17, 500, "10.0.0.10")) == ("permit", 13)
    assert decide(asa, "OUT", flow(17, 4500, "10.0.0.10")) == ("deny", 14)


def test_names_in_interface_addresses_and_routes() -> None:
    asa = device(ASA_HEAD + "name 198.51.100.1 isp-gw\nroute outside 0 0 isp-gw 1\n: end\n")
    outside = asa.config.interface("outside")
    assert outside is not None and outside.addresses == [address_interval("198.51.100.2")]
    (route,) = asa.config.routes
    assert route.length == 0 and route.next_hop == address_interval("198.51.100.1")


def test_service_group_without_protocol_in_the_port_position() -> None:
    asa = device(ASA_HEAD + """object-group service VPN-PORTS
 service-object udp destination eq isakmp
 service-object udp destination eq 4500
 service-object tcp destination eq https
access-list OUT extended permit udp any host 10.0.0.10 object-group VPN-PORTS
access-list OUT extended permit tcp any host 10.0.0.10 object-group VPN-PORTS
: end
""")
    assert decide(asa, "OUT", flow(17, 4500, "10.0.0.10")) == ("permit", 17)
    assert decide(asa, "OUT", flow(6, 443, "10.0.0.10")) == ("permit", 18)
    assert decide(asa, "OUT", flow(17, 1701, "10.0.0.10")) == ("deny", None)
    assert decide(asa, "OUT", flow(6, 500, "10.0.0.10")) == ("deny", None)


def test_pre_8_3_policy_static_nat() -> None:
    asa = device(ASA_HEAD.replace("9.12(4)", "8.2(5)")
                 + "access-list POLICY extended permit ip host 10.0.0.10 203.0.113.0 255.255.255.0\n"
                 + "static (dmz,outside) 198.51.100.20 access-list POLICY\n: end\n")
    assert asa.config.pre83
    hop = asa.nat_hop(VpnServer("s", "198.51.100.20", []), asa.config.interface("outside"))
    (seg,) = hop.apply(flow(17, 500, "198.51.100.20", src="203.0.113.7"))
    assert seg.decision is Decision.TRANSLATE and seg.output == flow(17, 500, "10.0.0.10", src="203.0.113.7")
    assert seg.rule is not None and seg.rule.origin.line == 14
    (seg,) = hop.apply(flow(17, 500, "198.51.100.20", src="192.0.2.7"))  # not a destination the list names
    assert seg.decision is Decision.DENY
    assert asa.owns(VpnServer("s", "198.51.100.20", []))


def test_twice_nat_with_destination_service_objects() -> None:
    """The first object holds the real source and mapped destination ports, the second the mapped source and
    real destination ports: with destination ports only, the NAT matches clients sending from that port."""
    asa = device(ASA_HEAD + """object network SRV
 host 10.0.0.10
object network SRV-PUB
 host 198.51.100.10
object service IKE-PEER
 service udp destination eq isakmp
object service NATT-SRC
 service udp source eq 4500
object service NATT-PUB
 service udp source eq 14500
nat (dmz,outside) source static SRV SRV-PUB service IKE-PEER IKE-PEER
nat (dmz,outside) source static SRV SRV-PUB service NATT-SRC NATT-PUB
: end
""")
    hop = asa.nat_hop(VpnServer("s", "198.51.100.10", []), asa.config.interface("outside"))
    ike = PacketSet.of([ANY_ADDR], [address_interval("198.51.100.10")], [(17, 17)], [(500, 500)], [(500, 500)])
    (seg,) = hop.apply(ike)
    assert seg.decision is Decision.TRANSLATE and seg.rule.origin.line == 23
    assert seg.output == PacketSet.of([ANY_ADDR], [address_interval("10.0.0.10")], [(17, 17)], [(500, 500)],
                                      [(500, 500)])
    natt = PacketSet.of([ANY_ADDR], [address_interval("198.51.100.10")], [(17, 17)], [(4500, 4500)],
                        [(14500, 14500)])
    (seg,) = hop.apply(natt)
    assert seg.decision is Decision.TRANSLATE and seg.rule.origin.line == 24
    assert seg.output == PacketSet.of([ANY_ADDR], [address_interval("10.0.0.10")], [(17, 17)], [(4500, 4500)],
                                      [(4500, 4500)])


IOS_HEAD = """hostname r1
interface GigabitEthernet0/0
 description: uplink (oxidized writes descriptions like this)
 ip address 203.0.113.2/29
 ip nat outside
 ip access-group WAN-IN in
interface GigabitEthernet0/1
 description: servers
 ip address 192.168.50.1 255.255.255.0
 ip nat inside
 ipv6 address 2001:db8:50::1/64
"""


def test_cidr_interface_addresses_ipv6_routes_and_network_static_nat() -> None:
    ios = device(IOS_HEAD + """ipv6 route ::/0 GigabitEthernet0/0 2001:db8::1
ipv6 route 2001:db8:99::/48 2001:db8:50::99
ip route 0.0.0.0 0.0.0.0 203.0.113.1
ip nat inside source static network 192.168.50.0 203.0.113.0 /29
ip access-list extended WAN-IN
 10 permit udp any 203.0.113.0 0.0.0.7 eq isakmp non500-isakmp
end
""")
    wan = ios.config.interface("GigabitEthernet0/0")
    assert wan is not None and wan.addresses == [address_interval("203.0.113.2")]
    assert wan.subnets == [address_interval("203.0.113.0/29")]
    assert [(r.length, r.iface) for r in ios.config.routes] == [(0, "GigabitEthernet0/0"), (48, None),
                                                                (0, None)]
    hop = ios.nat_hop(VpnServer("s", "203.0.113.5", []), wan)
    (seg,) = hop.apply(flow(17, 4500, "203.0.113.5"))
    assert seg.decision is Decision.TRANSLATE and seg.output == flow(17, 4500, "192.168.50.5")


@pytest.mark.slow
def test_non_contiguous_wildcards_are_evaluated_exactly() -> None:
    ios = device(IOS_HEAD + """ip access-list extended WAN-IN
 10 deny udp 10.0.0.1 0.255.255.0 any eq isakmp
 20 permit udp any 203.0.113.0 0.0.0.7 eq isakmp
end
""")
    for src, expected in (("10.7.9.1", "deny"), ("10.255.0.1", "deny"), ("10.7.9.2", "permit"),
                          ("11.7.9.1", "permit")):
        assert decide(ios, "WAN-IN", flow(17, 500, "203.0.113.2", src=src))[0] == expected, src
    ranges = wildcard_intervals("10.0.0.1", "0.255.255.0")  # 16 scattered bits: 65,536 single addresses
    assert len(ranges) == 1 << 16
    every = {V4_BASE + int(ipaddress.IPv4Address(f"10.{b}.{c}.1")) for b in (0, 3, 255) for c in (0, 77, 255)}
    assert every <= {lo for lo, hi in ranges if lo == hi}


def test_an_interface_in_another_vrf_is_unknown_not_routed() -> None:
    """`vrf forwarding` puts an interface in another routing table: from the outside interface (global table)
    to a network in VRF SERVERS, nothing is known to route it (route leaking is not modelled)."""
    text = """hostname r1
interface GigabitEthernet0/0
 ip address 203.0.113.2 255.255.255.248
 ip nat outside
interface GigabitEthernet0/1
 vrf forwarding SERVERS
 ip address 192.168.50.1 255.255.255.0
 ip nat inside
interface GigabitEthernet0/2
 ip address 192.168.60.1 255.255.255.0
ip route 0.0.0.0 0.0.0.0 203.0.113.1
end
"""
    ios = device(text)
    assert ios.config.interface("GigabitEthernet0/1").vrf == "SERVERS"
    hop = ios.nat_hop(VpnServer("s", "192.168.50.10", []), ios.config.interface("GigabitEthernet0/0"))
    (seg,) = hop.apply(flow(17, 500, "192.168.50.10"))
    assert seg.decision is Decision.UNKNOWN and "VRF SERVERS" in seg.reason and "global routing table" in seg.reason
    (seg,) = hop.apply(flow(17, 500, "192.168.60.10"))  # same table: routed as before
    assert seg.decision is Decision.PERMIT
