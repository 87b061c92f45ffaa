"""Public ASA and IOS configurations (Batfish test configs, ciscoconfparse samples) from the public data
(tests/environment.py: not shipped with the repository).

Every file must parse without error (and without printing: ciscoconfparse's logger is silenced); for a few,
the verdicts are the ones a person reading the configuration would give.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.model import Decision, VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.vendors.cisco.adapter import CiscoDevice
from tests.environment import needs_public_data, public_file, public_files

FILES = public_files("cisco-asa", "cisco-ios")

pytestmark = needs_public_data("cisco-asa", "cisco-ios")


def load(rel: str) -> CiscoDevice:
    path = public_file(rel)
    return CiscoDevice.from_text(path.read_text(), f"cisco/{path.name}")


def flow(proto: int, port: int | None, dst: str, src: str | None = None) -> PacketSet:
    return PacketSet.flow([address_interval(src)] if src else [ANY_ADDR], [address_interval(dst)], proto, port)


def decide(device: CiscoDevice, acl: str, packets: PacketSet) -> tuple[str, int | None]:
    """The decision on the whole set (asserted uniform) and the file line of the deciding rule."""
    rules = device.acl(acl)
    assert rules is not None, f"{acl} not parsed"
    segments = rules.evaluate(packets)
    assert len({s.decision for s in segments}) == 1, [(s.decision, s.rule.text) for s in segments]
    seg = segments[0]
    line = None if seg.rule is None or seg.rule.synthetic or seg.rule.origin is None else seg.rule.origin.line
    return seg.decision.value, line


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_public_config_parses(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    device = CiscoDevice.from_text(path.read_text(), f"cisco/{path.name}")
    assert device.platform == ("asa" if path.parent.name == "cisco-asa" else "ios")
    lines = path.read_text().splitlines()
    for acl in device.config.acls.values():
        for rule in acl.rules:
            assert rule.origin is not None and rule.origin.path == f"cisco/{path.name}"
            source = lines[rule.origin.line - 1]
            assert rule.text.strip() in source or source.strip() in rule.text, (rule.text, source)
            if not rule.certain:
                assert f"line {rule.origin.line}" in rule.reason
    for entry in device.config.nat:
        assert entry.line >= 1 and entry.text.split(":")[-1].strip() in lines[entry.line - 1]
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # JSON on stdout stays clean


FLOWS = ((17, 500), (17, 4500), (50, None), (6, 443))
# Entries of bound access-lists that are unknown for VPN flows, by file: each is the entry's own unreadable text.
UNKNOWN_ENTRIES = {"ciscoconfparse-sample_01.ios.cfg": {348}}  # `permit esp host any any`


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_line_is_read_or_reported(path: Path) -> None:
    """Issue 22: every line is understood (read into the model) or reported (not modelled: information; or a
    doubt), none is lost; lines that cannot affect the path make nothing unknown; only Batfish's test inputs
    (no `end`, no collector header) lack a proof of completeness."""
    device = CiscoDevice.from_text(path.read_text(), f"cisco/{path.name}")
    review = device.config.review
    assert review is not None
    accounted = device.config.read | set(review.doubtful) | {n for lines in review.not_modelled.values() for n in lines}
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip() and not text.strip().startswith("!"):
            assert number in accounted, (number, text)
    assert review.doubts == []
    assert bool(review.complete) == (not path.name.startswith("batfish-")), review.complete
    unknown: set[int] = set()
    for _label, rules in device.rule_lists():
        for proto, port in FLOWS:
            for seg in rules.evaluate(PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.10")], proto, port)):
                if seg.decision is Decision.UNKNOWN:
                    assert seg.rule is not None and seg.rule.origin is not None
                    unknown.add(seg.rule.origin.line)
    assert unknown == UNKNOWN_ENTRIES.get(path.name, set())


# --- verdicts a reader gives ----------------------------------------------------------------------------------
def test_ciscoconfparse_asa_outside_acl() -> None:
    asa = load("cisco-asa/ciscoconfparse-sample_01.asa.cfg")
    assert decide(asa, "OUTSIDE_in", flow(17, 500, "192.0.2.10", src="198.18.0.1")) == ("deny", 282)
    assert decide(asa, "OUTSIDE_in", flow(6, 443, "192.0.2.10", src="4.2.2.2")) == ("deny", 279)
    assert decide(asa, "OUTSIDE_in", flow(50, None, "192.0.2.10", src="198.18.0.1")) == ("deny", 282)


def test_ciscoconfparse_asa_inside_acl_with_service_groups() -> None:
    asa = load("cisco-asa/ciscoconfparse-sample_01.asa.cfg")
    # https to Google's blocks: GOOGLE_svc (line 262); elsewhere: WEB_svc (line 269)
    assert decide(asa, "INSIDE_in", flow(6, 443, "173.194.1.1", src="192.0.2.5")) == ("permit", 262)
    assert decide(asa, "INSIDE_in", flow(6, 443, "8.8.8.8", src="10.9.9.9")) == ("permit", 269)
    assert decide(asa, "INSIDE_in", flow(17, 5555, "8.8.8.8", src="192.0.2.5")) == ("deny", 261)  # SKYPE
    assert decide(asa, "INSIDE_in", flow(17, 500, "8.8.8.8", src="192.0.2.5")) == ("deny", 273)
    # TSUNAMI_addrs is never defined: SMTP on 2525 from outside INSIDE_addrs cannot be decided
    assert decide(asa, "INSIDE_in", flow(6, 2525, "8.8.8.8", src="172.16.0.1"))[0] == "unknown"
    assert decide(asa, "INSIDE_in", flow(6, 443, "8.8.8.8", src="172.16.0.1")) == ("deny", 273)


def test_ciscoconfparse_ios_external_acl() -> None:
    ios = load("cisco-ios/ciscoconfparse-sample_01.ios.cfg")
    assert decide(ios, "EXT_IN", flow(6, 1415, "198.51.100.1")) == ("permit", 345)
    assert decide(ios, "EXT_IN", flow(17, 500, "198.51.100.1", src="198.18.0.1")) == ("deny", 356)
    # ...except from 1.1.1.1 with source port ntp (line 350), which a reader can easily miss
    ntp = PacketSet.of([address_interval("1.1.1.1")], [address_interval("198.51.100.1")], [(17, 17)],
                       [(123, 123)], [(500, 500)])
    assert decide(ios, "EXT_IN", ntp) == ("permit", 350)
    # `permit esp host any any` (line 348) is not valid IOS: ESP is unknown, never allowed or denied
    assert decide(ios, "EXT_IN", flow(50, None, "198.51.100.1")) == ("unknown", 348)
    assert decide(ios, "ETH0_0_IN", flow(6, 80, "207.46.248.5")) == ("deny", 336)
    assert decide(ios, "ETH0_0_IN", flow(6, 443, "207.46.248.5")) == ("permit", 338)


def test_ciscoconfparse_ios_port_forward_on_a_negotiated_address_is_unknown() -> None:
    ios = load("cisco-ios/ciscoconfparse-sample_01.ios.cfg")
    dialer = ios.config.interface("Dialer1")
    assert dialer is not None
    hop = ios.nat_hop(VpnServer("ssh", "198.51.100.1", []), dialer)
    (seg,) = hop.apply(flow(6, 1415, "198.51.100.1"))
    assert seg.decision is Decision.UNKNOWN and "negotiated" in seg.reason


def test_ciscoconfparse_ios_numbered_acl_with_neq() -> None:
    ios = load("cisco-ios/ciscoconfparse-sample_03.ios.cfg")
    assert decide(ios, "111", flow(6, 443, "10.0.0.1")) == ("permit", 130)
    assert decide(ios, "111", flow(6, 23, "10.0.0.1")) == ("deny", None)  # implicit deny
    assert decide(ios, "111", flow(17, 500, "10.0.0.1")) == ("deny", None)


def test_batfish_acl_netmask_and_wildcard_forms_agree() -> None:
    asa, ios = load("cisco-asa/batfish-aclAsa.cfg"), load("cisco-ios/batfish-aclIos.cfg")
    for device in (asa, ios):
        assert decide(device, "acl", flow(17, 500, "4.3.9.9", src="1.2.3.77")) == ("permit", 6 if device is asa
                                                                                  else 7)
        assert decide(device, "acl", flow(17, 500, "4.4.0.1", src="1.2.3.77")) == ("deny", None)


def test_batfish_asa_interface_and_global_filters() -> None:
    asa = load("cisco-asa/batfish-asa-filters.cfg")
    assert decide(asa, "FILTER_IN4", flow(6, 123, "192.168.1.5")) == ("permit", 39)
    assert decide(asa, "FILTER_IN4", flow(17, 500, "192.168.1.5")) == ("deny", None)
    glob = load("cisco-asa/batfish-asa-filters-global.cfg")
    server = VpnServer("s", "192.168.1.10", ["ikev2"])
    outside, why = glob.outside_interface(server)
    assert outside is not None and outside.nameif == "name2" and "lowest security level" in why
    steps = glob.walk(server, flow(6, 123, "192.168.1.10"))
    assert steps[-1][2][0].rule.origin.line == 19
    steps = glob.walk(server, flow(17, 500, "192.168.1.10"))
    assert steps[-1][2][0].decision is Decision.DENY and steps[-1][2][0].rule.synthetic


def test_batfish_asa_security_levels() -> None:
    asa = load("cisco-asa/batfish-asa-security-level.cfg")
    levels = {i.nameif: i.security_level for i in asa.config.interfaces}
    assert levels == {"all-trust": 100, "inside": 100, "some-trust": 45, "outside": 1}
    steps = asa.walk(VpnServer("s", "3.0.1.10", []), flow(17, 500, "3.0.1.10"))
    (seg,) = steps[-1][2]
    assert seg.decision is Decision.DENY and "security-level 1 (outside) to security-level 100 (inside" in seg.rule.text


def test_batfish_asa_object_nat() -> None:
    asa = load("cisco-asa/batfish-asa-nat-object-static.cfg")
    outside = asa.config.interface("outside")
    hop = asa.nat_hop(VpnServer("s", "192.168.1.1", []), outside)
    (seg,) = hop.apply(flow(17, 500, "192.168.1.1"))
    assert seg.decision is Decision.TRANSLATE and seg.output == flow(17, 500, "1.1.1.1")
    (seg,) = hop.apply(flow(17, 500, "192.168.3.0"))  # (inside,any): applies on outside too
    assert seg.output == flow(17, 500, "3.3.3.3")
    assert asa.owns(VpnServer("s", "192.168.4.111", []))


def test_batfish_asa_twice_nat() -> None:
    asa = load("cisco-asa/batfish-asa-nat-twice-static.cfg")
    hop = asa.nat_hop(VpnServer("s", "2.2.2.2", []), asa.config.interface("outside"))
    (seg,) = hop.apply(flow(17, 4500, "2.2.2.2"))
    assert seg.decision is Decision.TRANSLATE and seg.rule.origin.line == 37
    assert seg.output == flow(17, 4500, "1.1.1.1")
    (seg,) = hop.apply(flow(17, 4500, "2.2.2.5"))  # two scattered hosts onto two: not modelled -> unknown
    assert seg.decision is Decision.UNKNOWN and seg.rule.origin.line == 38
    (seg,) = hop.apply(flow(17, 4500, "6.6.6.7"))  # line 40 maps to an undefined object: may be anything
    assert seg.decision is Decision.UNKNOWN and seg.rule.origin.line == 40


def test_batfish_ios_static_nat_most_specific_first() -> None:
    ios = load("cisco-ios/batfish-ios-nat-static.cfg")
    hop = ios.nat_hop(VpnServer("s", "2.2.3.9", []), ios.config.interface("Ethernet2"))
    (seg,) = hop.apply(flow(17, 500, "2.2.3.9"))
    assert seg.rule.origin.line == 29 and seg.output == flow(17, 500, "1.1.3.9")
    (seg,) = hop.apply(flow(17, 500, "2.3.0.1"))
    assert seg.rule.origin.line == 28 and seg.output == flow(17, 500, "1.3.0.1")
    (seg,) = hop.apply(flow(17, 500, "2.2.2.2"))  # route-map condition: not evaluated
    assert seg.decision is Decision.UNKNOWN and "route-map 10" in seg.reason


def test_batfish_ios_undefined_acl_filters_nothing() -> None:
    ios = load("cisco-ios/batfish-ios-acl.cfg")
    eth2 = ios.config.interface("Ethernet2")
    assert eth2 is not None and eth2.acl_in is not None and ios.acl("AL_IF_UNDEF") is None
    hop = ios.ingress_hop(eth2)
    segments = hop.apply(flow(17, 500, "1.1.1.1"))
    assert {s.decision for s in segments} == {Decision.PERMIT}
    assert decide(ios, "AL_IF", flow(17, 1701, "1.1.1.1")) == ("permit", 24)


def test_batfish_nested_groups_keep_known_members() -> None:
    from auditor.vendors.cisco.asa import AsaParser

    path = public_file("cisco-asa/batfish-asa-nested-network-object-group.cfg")
    parser = AsaParser(path.read_text(), "cisco/x.cfg")
    parser.parse()
    mixed = parser.network("mixed_group")
    assert len(mixed.intervals) == 2 and "UNDEFINED_GROUP_MIXED" in mixed.unknown
    services = public_file("cisco-asa/batfish-asa-nested-service-object-group.cfg")
    parser = AsaParser(services.read_text(), "cisco/y.cfg")
    parser.parse()
    assert parser.port_group("service1") == ([(53, 53)], "tcp-udp", "")
    assert parser.port_group("service2") == ([(1234, 1234), (2345, 2345)], "udp", "")
    protos = AsaParser(public_file("cisco-asa/batfish-asa-nested-protocol-object-group.cfg").read_text(), "z")
    protos.parse()
    got = protos.service_group("mixed_group")
    assert {s.protos for s in got.items} == {((2, 2),), ((47, 47),)} and "UNDEFINED_GROUP_MIXED" in got.unknown
