"""F5 BIG-IP: tmsh and iControl REST parsing, the research-table verdicts, the hop, and public configs."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from auditor.lb_model import SCOPE_ADDRESS, SCOPE_DEVICE, SCOPE_SERVICE, SOURCE_IP, UDP
from auditor.model import Decision, Model, VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.f5 import (
    F5Adapter,
    F5LoadBalancer,
    build_device,
    config_from_rest,
    config_from_tmsh,
    load_tmsh,
    monitor_names,
    parse_tmsh,
    split_destination,
    split_member,
)
from tests.environment import public_data, public_file

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb"


def fixture(name: str) -> F5LoadBalancer:
    path = FIXTURES / "f5" / f"{name}.conf"
    return load_tmsh(path.read_text(), f"f5/{name}.conf", f"f5/{name}")


def only_pair(device: F5LoadBalancer):
    pairs = device.ike_pairs()
    assert len(pairs) == 1, pairs
    return pairs[0]


# -- verdicts: one fixture per row of the F5 table in docs/semantics/load-balancers.md ---------------------------------
@pytest.mark.parametrize(("name", "verdict"), [
    ("sticky-match-across-services", "sticky"),
    ("sticky-match-across-virtuals", "sticky"),
    ("split-different-vips", "split"),
    ("split-builtin-source-addr", "split"),
    ("split-custom-disabled", "split"),
    ("unknown-different-profiles", "unknown"),
    ("split-different-nodes", "split"),
    ("sticky-wildcard", "sticky"),
    ("unknown-universal-irule", "unknown"),
    ("unknown-irule-steering", "unknown"),
    ("split-fallback-only", "split"),
    ("split-datagram-lb", "split"),
    ("snat-automap", "sticky"),
])
def test_research_table_verdicts(name: str, verdict: str) -> None:
    pair = only_pair(fixture(name))
    assert pair.verdict == verdict, pair.reason
    assert pair.vip == "203.0.113.10"
    assert pair.lines(), "every verdict names its config lines"


def test_match_across_services_is_inherited_through_defaults_from() -> None:
    pair = only_pair(fixture("sticky-match-across-services"))
    p = pair.ike.persistence
    assert p.kind == SOURCE_IP and p.scope == SCOPE_ADDRESS and p.table == "/Common/ike_persist"
    assert p.timeout == 3600  # from the parent profile
    assert p.settings["match-across-services"] == "enabled"
    assert p.settings["match-across-virtuals"] == "disabled"  # from the built-in /Common/source_addr
    # origins: the virtual's persist line, then the profile, then its parent
    assert [str(o) for o in p.origins] == ["f5/sticky-match-across-services.conf:46",
                                           "f5/sticky-match-across-services.conf:37",
                                           "f5/sticky-match-across-services.conf:31"]
    assert pair.ike.ports == ((500, 500),)  # `isakmp` resolved


def test_builtin_source_addr_defaults() -> None:
    pair = only_pair(fixture("split-builtin-source-addr"))
    p = pair.ike.persistence
    assert p.name == "/Common/source_addr" and p.scope == SCOPE_SERVICE and p.timeout == 180
    assert p.note == "built-in profile, default settings"
    assert "keeps each service's client-IP records apart" in pair.reason


def test_match_across_virtuals_scope_and_network_virtual() -> None:
    pair = only_pair(fixture("sticky-match-across-virtuals"))
    assert pair.natt.address == ipaddress.ip_network("203.0.113.0/24")
    assert pair.natt.persistence.scope == SCOPE_DEVICE
    split = only_pair(fixture("split-different-vips"))
    assert split.ike.address != split.natt.address
    assert "match-across-virtuals" in split.balancer.fix_split(split)


def test_different_nodes_reports_the_difference() -> None:
    pair = only_pair(fixture("split-different-nodes"))
    assert pair.backend_difference == {"only_udp_500": ["10.20.0.12"], "only_udp_4500": ["10.20.0.13"]}
    assert "10.20.0.12" in pair.reason


def test_unknown_cases_say_what_to_verify() -> None:
    assert "use one persistence object" in only_pair(fixture("unknown-different-profiles")).verify
    steering = only_pair(fixture("unknown-irule-steering"))
    assert "natt_select" in steering.reason
    universal = only_pair(fixture("unknown-universal-irule"))
    assert universal.ike.persistence.settings["rule"] == "/Common/ike_uie"


def test_fallback_only_and_datagram_reasons() -> None:
    assert "fallback-persistence /Common/source_addr" in only_pair(fixture("split-fallback-only")).reason
    pair = only_pair(fixture("split-datagram-lb"))
    assert pair.same_object and pair.ike.per_datagram
    assert "every datagram" in pair.reason


def test_snat_kinds() -> None:
    pair = only_pair(fixture("snat-automap"))
    assert pair.ike.snat.kind == "automap"
    assert pair.natt.snat.kind == "snat" and pair.natt.snat.detail == "/Common/vpn_snat"
    assert pair.ike.snat.origin is not None and pair.ike.snat.origin.line is not None
    assert only_pair(fixture("sticky-match-across-services")).ike.snat.kind == "none"


def test_fix_text_is_tmsh() -> None:
    pair = only_pair(fixture("split-builtin-source-addr"))
    fix = pair.balancer.fix_split(pair)
    assert "create ltm persistence source-addr /Common/ike_source_addr defaults-from /Common/source_addr " \
           "match-across-services enabled" in fix
    assert "modify ltm virtual /Common/vs_ike_500 persist replace-all-with" in fix
    assert "modify ltm virtual /Common/vs_ike_4500 persist replace-all-with" in fix
    custom = only_pair(fixture("split-custom-disabled"))
    assert "modify ltm persistence source-addr /Common/ike_persist match-across-services enabled" \
        in custom.balancer.fix_split(custom)


# -- the hop --------------------------------------------------------------------------------------------
def _flow(port: int, dst: str = "203.0.113.10", proto: int = UDP) -> PacketSet:
    return PacketSet.flow([ANY_ADDR], [address_interval(dst)], proto, port)


def test_hop_translates_vip_to_backends() -> None:
    device = fixture("sticky-match-across-services")
    server = VpnServer("corp-vpn", "203.0.113.10", ["ikev2"])
    assert device.owns(server)
    assert not device.owns(VpnServer("other", "203.0.113.11", ["ikev2"]))
    (hop,) = device.hops(server)
    (seg,) = hop.apply(_flow(4500))
    assert seg.decision is Decision.TRANSLATE
    assert seg.rule is not None and "/Common/vs_ike_4500" in seg.rule.text
    assert "f5/sticky-match-across-services.conf" in str(seg.rule.origin)
    expected = (PacketSet.flow([ANY_ADDR], [address_interval("10.20.0.11")], UDP, 4500)
                | PacketSet.flow([ANY_ADDR], [address_interval("10.20.0.12")], UDP, 4500))
    assert seg.leaving == expected


def test_hop_drops_ports_without_virtual_and_is_unknown_elsewhere() -> None:
    (hop,) = fixture("sticky-match-across-services").hops(VpnServer("v", "203.0.113.10", ["l2tp"]))
    (seg,) = hop.apply(_flow(1701))
    assert seg.decision is Decision.DENY and "no virtual service" in seg.reason
    (other,) = hop.apply(_flow(500, dst="192.0.2.99"))
    assert other.decision is Decision.UNKNOWN


def test_hop_wildcard_keeps_the_port_when_translate_port_is_disabled() -> None:
    (hop,) = fixture("sticky-wildcard").hops(VpnServer("v", "203.0.113.10", ["ikev2"]))
    (seg,) = hop.apply(_flow(4500))
    assert seg.decision is Decision.TRANSLATE
    assert seg.leaving == (PacketSet.flow([ANY_ADDR], [address_interval("10.20.0.11")], UDP, 4500)
                           | PacketSet.flow([ANY_ADDR], [address_interval("10.20.0.12")], UDP, 4500))


def test_hop_irule_steering_is_unknown() -> None:
    (hop,) = fixture("unknown-irule-steering").hops(VpnServer("v", "203.0.113.10", ["ikev2"]))
    assert hop.apply(_flow(500))[0].decision is Decision.TRANSLATE
    assert hop.apply(_flow(4500))[0].decision is Decision.UNKNOWN


# -- syntax ---------------------------------------------------------------------------------------------
def test_destination_and_member_forms() -> None:
    assert split_destination("/Common/192.0.2.7:80") == ("192.0.2.7", "80")
    assert split_destination("dead:beef::1.80") == ("dead:beef::1", "80")
    assert split_destination("/Common/2001:db8::5%2.4500") == ("2001:db8::5%2", "4500")
    assert split_destination("/Common/vip_name:isakmp") == ("vip_name", "isakmp")
    assert split_member("/Common/node1:isakmp") == ("/Common/node1", 500)
    assert split_member("/Common/10.0.0.20:0") == ("/Common/10.0.0.20", None)
    assert split_member("/Common/2001:db8::7.4500") == ("/Common/2001:db8::7", 4500)
    assert monitor_names("min 1 of { /Common/gateway_icmp /Common/tcp }") == ["/Common/gateway_icmp", "/Common/tcp"]
    assert monitor_names("/Common/http and /Common/tcp") == ["/Common/http", "/Common/tcp"]


def test_route_domains_named_virtual_addresses_and_ipv6() -> None:
    text = """
ltm virtual-address /Common/vpn_vip {
    address 198.51.100.7%3
}
ltm pool /Common/p {
    members {
        /Common/10.0.0.5%3:500 {
            address 10.0.0.5%3
        }
    }
}
ltm virtual /Common/v4 {
    destination /Common/vpn_vip:isakmp
    ip-protocol udp
    pool /Common/p
}
ltm virtual /Common/v6 {
    destination /Common/2001:db8::10.500
    ip-protocol udp
    pool p
}
"""
    device = load_tmsh(text, "f5/t.conf", "f5/t")
    v4, v6 = device.services
    assert v4.address == ipaddress.ip_network("198.51.100.7/32") and v4.ports == ((500, 500),)
    assert v4.backends[0].address == "10.0.0.5"
    assert v6.address == ipaddress.ip_network("2001:db8::10/128") and v6.pool == "/Common/p"
    assert v6.listener() == "udp [2001:db8::10]:500"


def test_quoted_strings_comments_and_raw_irules() -> None:
    text = '''#TMSH-VERSION: 15.1.0
ltm rule /Common/r {
when CLIENT_ACCEPTED {
    # a comment with a quote " and an escaped brace in a string
    set x "\\}"
}
}
ltm monitor https /Common/m {
    send "HEAD /sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/ HTTP/1.1\\r\\nHost: r
Connection: Close"
    description "two words { not a block }"
}
'''
    nodes = parse_tmsh(text, "x.conf")
    assert [n.words[:2] for n in nodes] == [["ltm", "rule"], ["ltm", "monitor"]]
    assert 'set x "\\}"' in (nodes[0].raw or "")
    config = config_from_tmsh(text, "x.conf")
    monitor = config.of_kind("ltm", "monitor", "https")["/Common/m"]
    assert monitor.block.get("send", "").startswith("HEAD /sra_{BA195980")
    assert monitor.block.get("description") == "two words { not a block }"
    assert monitor.origin.line == 8


@pytest.mark.parametrize(("text", "line", "message"), [
    ('ltm virtual /Common/v {\n    description "never closed\n}\n', 2, "unterminated quoted string"),
    ("ltm virtual /Common/v {\n    pool /Common/p\n", 1, "never closed"),
    ("ltm pool /Common/p {\n}\n}\n", 3, "unexpected '}'"),
    ("ltm rule /Common/r {\nwhen X {\n", 1, "never closed"),
])
def test_broken_structure_names_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(SnapshotError) as err:
        parse_tmsh(text, "f5/bad.conf")
    assert err.value.path == "f5/bad.conf" and err.value.line == line and message in err.value.message


# -- iControl REST ---------------------------------------------------------------------------------------
def test_rest_json_sticky_and_split() -> None:
    snap = Snapshot(FIXTURES)
    sticky = build_device("f5/rest-sticky", config_from_rest(snap, "f5/rest-sticky"))
    pair = only_pair(sticky)
    assert pair.verdict == "sticky" and pair.ike.persistence.table == "/Common/ike_persist"
    assert str(pair.ike.origin) == "f5/rest-sticky/ltm/virtual.json[0]"
    assert pair.natt.address == ipaddress.ip_network("203.0.113.20/32")  # %0 route domain stripped
    assert [m.name for m in pair.ike.monitors] == ["/Common/gateway_icmp"]
    split = build_device("f5/rest-split", config_from_rest(snap, "f5/rest-split"))
    pair = only_pair(split)
    assert pair.verdict == "split"
    assert pair.ike.node_addresses() == {"10.30.0.11", "10.30.0.12"}  # members from sub-collection files
    assert pair.ike.snat.kind == "automap"


def test_adapter_loads_conf_and_rest_folders(tmp_path: Path) -> None:
    (tmp_path / "f5").mkdir()
    (tmp_path / "f5" / "edge.conf").write_text((FIXTURES / "f5" / "split-builtin-source-addr.conf").read_text())
    model = Model(snapshot=str(tmp_path))
    F5Adapter().load(Snapshot(tmp_path), model)
    assert list(model.devices) == ["f5/edge"]
    device = model.devices["f5/edge"]
    assert isinstance(device, F5LoadBalancer) and device.tier == 1


def test_malformed_rest_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "f5" / "dev" / "ltm").mkdir(parents=True)
    (tmp_path / "f5" / "dev" / "ltm" / "virtual.json").write_text('{"items": [\n  {"name": }\n]}')
    with pytest.raises(SnapshotError) as err:
        F5Adapter().load(Snapshot(tmp_path), Model(snapshot=str(tmp_path)))
    assert err.value.path == "f5/dev/ltm/virtual.json" and err.value.line == 2


# -- public configurations (the public data's f5/, tests/environment.py) --------------------------------
def public(name: str) -> F5LoadBalancer:
    path = public_file(f"f5/{name}")
    return load_tmsh(path.read_text(), f"f5/{name}", f"f5/{path.stem}")


def test_every_public_f5_config_parses() -> None:
    files = sorted(public_data("f5").glob("*.conf"))
    assert files
    for path in files:
        device = load_tmsh(path.read_text(), f"f5/{path.name}", f"f5/{path.stem}")
        assert device.services, path.name


def test_public_corkscrew_udp_virtual_as_a_person_reads_it() -> None:
    device = public("corkscrew-archive1-partition-foo-bigip.conf")
    svc = {s.name: s for s in device.services}["/foo/defaultsUDP_5555/serviceMain"]
    assert svc.protocol == UDP and svc.listener() == "udp 192.50.2.1:5555"
    assert svc.persistence.name == "/Common/source_addr" and svc.persistence.scope == SCOPE_SERVICE
    assert svc.persistence.timeout == 180
    assert svc.snat.kind == "automap"
    assert [(b.address, b.port) for b in svc.backends] == [("192.50.2.2", 5555)]
    assert [m.name for m in svc.monitors] == ["/Common/gateway_icmp"] and svc.monitors[0].kind == "icmp"
    tmc = {s.name: s for s in device.services}["/foo/wiffle_redirect_vs"]
    assert tmc.listener() == "tcp 10.1.1.9:80"  # from its traffic-matching-criteria


def test_public_corkscrew_test_conf_as_a_person_reads_it() -> None:
    device = public("corkscrew-f5_corkscrew_test.conf")
    by_name = {s.name: s for s in device.services}
    assert len(by_name) == 9
    app3 = by_name["/Common/app3_t8443_vs"]
    assert app3.persistence.name == "/Common/app3_cookie" and app3.persistence.vendor_type == "cookie"
    assert "fallback-persistence /Common/app3_srcAddr_persist" in app3.persistence.note
    assert app3.snat.kind == "snat" and app3.snat.detail == "/Common/app3_snat_pool"
    assert app3.node_addresses() == {"192.168.1.52", "192.168.1.53"}
    forwarder = by_name["/Common/forwarder_net_0.0.0.0"]
    assert forwarder.action == "forward" and forwarder.address == ipaddress.ip_network("0.0.0.0/0")
    app4 = by_name["/Common/app4_t80_vs"]
    assert app4.backends[0].address is None and app4.backends[0].fqdn == "api.chucknorris.io"
    assert any(s.steers and "app4_pool_rule" in s.name for s in app4.scripts)


def test_public_batfish_configs_as_a_person_reads_them() -> None:
    ltm = public("batfish-f5_bigip_structured_ltm.conf")
    (svc,) = ltm.services
    assert svc.listener() == "tcp 192.0.2.7:80"
    assert svc.snat.kind == "snat" and svc.snat.detail == "/Common/SOME_SNATPOOL"
    assert svc.persistence.name == "/Common/SOME_PROFILE" and svc.persistence.uncertain  # not defined
    assert any("SOME_POOL" in p for p in svc.problems)
    cases = {s.name: s for s in public("batfish-f5_bigip_structured_ltm_virtual_cases.conf").services}
    assert cases["/Common/ipv6_dest"].address == ipaddress.ip_network("dead:beef::1/128")
    assert cases["/Common/missing_dest"].address is None and "no destination" in cases["/Common/missing_dest"].problems
    translation = {s.name: s for s in public("batfish-f5_bigip_structured_virtual_pool_translation_options.conf")
                   .services}
    assert not translation["/Common/virtual_translate_neither"].translate_address
    assert not translation["/Common/virtual_translate_address"].translate_port


def test_rest_folder_without_pools_is_a_data_gap(tmp_path: Path) -> None:
    import shutil
    shutil.copytree(FIXTURES / "f5" / "rest-sticky", tmp_path / "f5" / "edge")
    (tmp_path / "f5" / "edge" / "ltm" / "pool.json").unlink()
    model = Model(snapshot=str(tmp_path))
    F5Adapter().load(Snapshot(tmp_path), model)
    assert [g.path for g in model.gaps][:1] == ["f5/edge/ltm/pool.json"]
    assert "not collected" in model.gaps[0].reason
    (pair,) = model.devices["f5/edge"].ike_pairs()  # type: ignore[attr-defined]
    assert pair.ike.problems == ["pool /Common/ike500_pool is not in the configuration"]
    assert pair.verdict == "unknown" and "could not be fully resolved" in pair.reason
