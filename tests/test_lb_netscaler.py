"""NetScaler: ns.conf and NITRO parsing, lb groups and the research-table verdicts, public ns.conf files."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from auditor.checks import AuditContext
from auditor.lb_model import RULE, SCOPE_DEVICE, SCOPE_SERVICE, SOURCE_IP, UDP
from auditor.model import Decision, Model, VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.snapshot import Snapshot, SnapshotError
from auditor.vendors.lb.netscaler import (
    NetScalerAdapter,
    NetScalerLoadBalancer,
    build_device,
    config_from_nitro,
    load_nsconf,
    split_command,
)
from rules.checks import missing_monitor, snat_on_ike, split_persistence
from tests.environment import public_data, public_file

FIXTURES = Path(__file__).parent.parent / "fixtures" / "lb"


def fixture(name: str) -> NetScalerLoadBalancer:
    path = FIXTURES / "netscaler" / f"{name}.conf"
    return load_nsconf(path.read_text(), f"netscaler/{name}.conf", f"netscaler/{name}")


@pytest.mark.parametrize(("name", "verdict"), [
    ("sticky-lb-group", "sticky"),
    ("sticky-set-lb-group", "sticky"),
    ("split-group-none", "split"),
    ("split-no-group", "split"),
    ("unknown-group-rule", "unknown"),
    ("sticky-wildcard", "sticky"),
    ("conditional-sourceiphash", "conditional"),
    ("split-sessionless", "split"),
    ("split-different-servers", "split"),
    ("findings-usip-monitor-timeout", "sticky"),
])
def test_research_table_verdicts(name: str, verdict: str) -> None:
    (pair,) = fixture(name).ike_pairs()
    assert pair.verdict == verdict, pair.reason
    assert pair.vip == "203.0.113.40"


def test_lb_group_model() -> None:
    (pair,) = fixture("sticky-lb-group").ike_pairs()
    p = pair.ike.persistence
    assert p.kind == SOURCE_IP and p.scope == SCOPE_DEVICE and p.table == "lb group ike_grp"
    assert p.timeout == 3600  # 60 minutes
    assert [str(o) for o in p.origins] == ["netscaler/sticky-lb-group.conf:17", "netscaler/sticky-lb-group.conf:18"]
    assert pair.natt.node_addresses() == {"10.50.0.11", "10.50.0.12"}
    assert pair.ike.snat.kind == "none" and [m.kind for m in pair.ike.monitors] == ["icmp"]
    saved = fixture("sticky-set-lb-group").ike_pairs()[0]
    assert saved.ike.persistence.timeout == 1800


def test_group_none_keeps_vserver_persistence_and_says_so() -> None:
    (pair,) = fixture("split-group-none").ike_pairs()
    assert pair.ike.persistence.scope == SCOPE_SERVICE and pair.ike.persistence.kind == SOURCE_IP
    assert "persistence NONE" in pair.ike.persistence.note
    (rule,) = fixture("unknown-group-rule").ike_pairs()
    assert rule.ike.persistence.kind == RULE and rule.ike.persistence.settings["rule"] == "CLIENT.IP.SRC"


def test_fix_uses_lb_group_commands() -> None:
    (pair,) = fixture("split-no-group").ike_pairs()
    fix = pair.balancer.fix_split(pair)
    assert "add lb group ike_grp -persistenceType SOURCEIP" in fix
    assert "bind lb group ike_grp vs_ike500" in fix and "bind lb group ike_grp vs_ike4500" in fix
    (pair,) = fixture("split-group-none").ike_pairs()
    assert "set lb group ike_grp -persistenceType SOURCEIP" in pair.balancer.fix_split(pair)


def test_hop_and_wildcard() -> None:
    device = fixture("sticky-wildcard")
    (hop,) = device.hops(VpnServer("v", "203.0.113.40", ["ikev2"]))
    (seg,) = hop.apply(PacketSet.flow([ANY_ADDR], [address_interval("203.0.113.40")], UDP, 4500))
    assert seg.decision is Decision.TRANSLATE
    assert seg.leaving == (PacketSet.flow([ANY_ADDR], [address_interval("10.50.0.11")], UDP, 4500)
                           | PacketSet.flow([ANY_ADDR], [address_interval("10.50.0.12")], UDP, 4500))


def test_checks_on_netscaler() -> None:
    model = Model(snapshot="t")
    model.servers = [VpnServer("corp-vpn", "203.0.113.40", ["ikev2", "sstp"])]
    model.devices["netscaler/adc1"] = fixture("findings-usip-monitor-timeout")
    ctx = AuditContext(model, [], {})
    snat = list(snat_on_ike.run(ctx))
    assert len(snat) == 2 and snat[0].evidence["source_translation"]["kind"] == "snat"
    assert "-usip YES" in snat[0].remediation
    monitors = list(missing_monitor.run(ctx))
    implicit = [f for f in monitors if "default monitor" in f.title]
    assert len(implicit) == 2 and all(f.effective_severity == "info" for f in implicit)
    (sstp,) = [f for f in monitors if "SSTP" in f.title]
    assert "https_generic (https)" in sstp.title and "HTTP-ECV" in sstp.remediation
    assert list(split_persistence.run(ctx)) == []


def test_split_command() -> None:
    words, options = split_command('add lb group g -persistenceType RULE -rule "CLIENT.IP.SRC.EQ(\\"1.2.3.4\\")" '
                                   '-timeout 5')
    assert words == ["add", "lb", "group", "g"]
    assert options == {"persistencetype": ["RULE"], "rule": ['CLIENT.IP.SRC.EQ("1.2.3.4")'], "timeout": ["5"]}
    _, options = split_command("add serviceGroup sg HTTP -cip ENABLED X-Forwarded-For -usip NO")
    assert options["cip"] == ["ENABLED", "X-Forwarded-For"] and options["usip"] == ["NO"]


def test_unclosed_quote_names_the_line() -> None:
    with pytest.raises(SnapshotError) as err:
        load_nsconf('add server a 10.0.0.1\nadd lb vserver v UDP 10.0.0.2 500 -comment "open\n', "netscaler/x.conf",
                    "netscaler/x")
    assert err.value.path == "netscaler/x.conf" and err.value.line == 2


def test_nitro_json() -> None:
    device = build_device("netscaler/nitro-sticky", config_from_nitro(Snapshot(FIXTURES), "netscaler/nitro-sticky"))
    (pair,) = device.ike_pairs()
    assert pair.verdict == "sticky" and pair.vip == "203.0.113.41"
    assert str(pair.ike.origin) == "netscaler/nitro-sticky/lbvserver.json[0]"
    assert [m.name for m in pair.ike.monitors] == ["ping"]


def test_nitro_error_body(tmp_path: Path) -> None:
    (tmp_path / "netscaler" / "adc").mkdir(parents=True)
    (tmp_path / "netscaler" / "adc" / "lbvserver.json").write_text('{"errorcode": 354, "message": "Invalid"}')
    with pytest.raises(SnapshotError) as err:
        NetScalerAdapter().load(Snapshot(tmp_path), Model(snapshot=str(tmp_path)))
    assert "354" in err.value.message and err.value.path == "netscaler/adc/lbvserver.json"


def test_adapter_loads_nsconf(tmp_path: Path) -> None:
    (tmp_path / "netscaler").mkdir()
    (tmp_path / "netscaler" / "adc1.conf").write_text((FIXTURES / "netscaler" / "split-no-group.conf").read_text())
    model = Model(snapshot=str(tmp_path))
    NetScalerAdapter().load(Snapshot(tmp_path), model)
    assert list(model.devices) == ["netscaler/adc1"] and model.devices["netscaler/adc1"].tier == 1


# -- public ns.conf files (the public data's netscaler/, tests/environment.py) --------------------------
def public(name: str) -> NetScalerLoadBalancer:
    path = public_file(f"netscaler/{name}")
    return load_nsconf(path.read_text(), f"netscaler/{name}", f"netscaler/{path.stem}")


def test_every_public_nsconf_parses() -> None:
    files = sorted(public_data("netscaler").glob("*.conf"))
    assert files
    for path in files:
        device = load_nsconf(path.read_text(), f"netscaler/{path.name}", f"netscaler/{path.stem}")
        assert device.services, path.name
        assert not device.issues, (path.name, device.issues)


def test_public_udp_ntp_as_a_person_reads_it() -> None:
    (svc,) = public("flipper-udpNtp.ns.conf").services
    assert svc.listener() == "udp 192.168.1.10:123" and svc.persistence.kind == "none"
    assert sorted(svc.node_addresses()) == ["10.1.1.148", "10.1.2.24", "10.2.1.24"]
    assert svc.pool == "ntp_east_sg, ntp_west_sg"
    assert svc.snat.kind == "snat"  # -usip NO
    assert svc.monitors[0].implicit


def test_public_any_protocol_and_persistence_as_a_person_reads_them() -> None:
    (svc,) = public("flipper-anyProtocol.ns.conf").services
    assert svc.protocol is None and svc.ports is None and svc.address == ipaddress.ip_network("192.168.1.41/32")
    assert len(svc.backends) == 8 and all(b.port is None for b in svc.backends)
    assert [m.name for m in svc.monitors] == ["ping"]
    by_name = {s.name: s for s in public("flipper-persistence.ns.conf").services}
    source = by_name["vs_sourceip"].persistence
    assert source.kind == SOURCE_IP and source.timeout == 3600
    assert by_name["vs_cookie"].persistence.vendor_type == "COOKIEINSERT"
    assert by_name["vs_urlpassive"].persistence.timeout == 120  # default 2 minutes


def test_public_bren_and_production_as_a_person_reads_them() -> None:
    by_name = {s.name: s for s in public("flipper-bren.ns.conf").services}
    syslog = by_name["syslog-splunk-13514-514"]
    assert syslog.per_datagram and syslog.listener() == "udp 20.15.3.116:514" and len(syslog.backends) == 4
    assert syslog.snat.kind == "none"  # -usip YES
    assert not by_name["tkb6prd-9402"].enabled
    assert by_name["vip-sharepoint-redirect-80"].address is None  # 0.0.0.0 0: not directly addressable
    cs = by_name["vip-sharepoint-443"]
    assert cs.kind == "cs vserver" and any(s.steers for s in cs.scripts)
    prod = {s.name: s for s in public("flipper-productionWeb.ns.conf").services}
    api = prod["lb_api_https"]
    assert api.persistence.kind == SOURCE_IP and api.persistence.timeout == 300 * 60
    assert api.method == "ROUNDROBIN" and [m.name for m in api.monitors] == ["api_health"]
    monitored = {s.name: s for s in public("flipper-customMonitors.ns.conf").services}["lb_monitored_vs"]
    assert [(m.name, m.kind) for m in monitored.monitors] == [("http_custom", "http"), ("tcp_custom", "tcp")]
