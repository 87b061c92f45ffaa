"""F5 BIG-IP states and listeners that decide whether VPN traffic reaches a server, audited end to end (issue 27:
disabled members and nodes, VLAN-limited listeners, firewalls, iRules that drop, NAT-T sent to the IKE port, route
domains, datagram balancing; issue 22: an HTTP profile without client SSL on the SSTP virtual). Each case is
written twice: the configuration that drops (or cannot be decided) and the one that passes."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.lb_audit import audit, audit_flows, flows, why, write_snapshot

VIP = "203.0.113.10"


def conf(*, member1: str = "", member2: str = "", node1: str = "", node2: str = "", v500: str = "",
         v4500: str = "", v443: str = "", pool4500_port: str = "4500", extra: str = "",
         va: str = "    arp enabled\n", profiles443: str = "        /Common/tcp { }\n",
         persist: str = "/Common/ike_persist", udp_profile: str = "/Common/udp") -> str:
    """A BIG-IP publishing IKE (UDP 500, 4500) and SSTP (TCP 443) on one VIP, two VPN servers behind it."""
    return f"""#TMSH-VERSION: 15.1.8
ltm node /Common/vpn1 {{
    address 10.20.0.11
{node1}}}
ltm node /Common/vpn2 {{
    address 10.20.0.12
{node2}}}
ltm pool /Common/ike500_pool {{
    members {{
        /Common/vpn1:500 {{
            address 10.20.0.11
{member1}        }}
        /Common/vpn2:500 {{
            address 10.20.0.12
{member2}        }}
    }}
    monitor /Common/gateway_icmp
}}
ltm pool /Common/ike4500_pool {{
    members {{
        /Common/vpn1:{pool4500_port} {{
            address 10.20.0.11
{member1}        }}
        /Common/vpn2:{pool4500_port} {{
            address 10.20.0.12
{member2}        }}
    }}
    monitor /Common/gateway_icmp
}}
ltm pool /Common/sstp_pool {{
    members {{
        /Common/vpn1:443 {{
            address 10.20.0.11
{member1}        }}
        /Common/vpn2:443 {{
            address 10.20.0.12
{member2}        }}
    }}
    monitor /Common/gateway_icmp
}}
ltm persistence source-addr /Common/ike_persist {{
    defaults-from /Common/source_addr
    match-across-services enabled
    timeout 3600
}}
ltm virtual /Common/vs_ike_500 {{
    destination /Common/{VIP}:500
    ip-protocol udp
    mask 255.255.255.255
    persist {{
        {persist} {{
            default yes
        }}
    }}
    pool /Common/ike500_pool
    profiles {{
        {udp_profile} {{ }}
    }}
    source 0.0.0.0/0
    translate-address enabled
    translate-port enabled
{v500}}}
ltm virtual /Common/vs_ike_4500 {{
    destination /Common/{VIP}:4500
    ip-protocol udp
    mask 255.255.255.255
    persist {{
        {persist} {{
            default yes
        }}
    }}
    pool /Common/ike4500_pool
    profiles {{
        {udp_profile} {{ }}
    }}
    source 0.0.0.0/0
    translate-address enabled
    translate-port enabled
{v4500}}}
ltm virtual /Common/vs_sstp {{
    destination /Common/{VIP}:443
    ip-protocol tcp
    mask 255.255.255.255
    pool /Common/sstp_pool
    profiles {{
{profiles443}    }}
    source 0.0.0.0/0
    translate-address enabled
    translate-port enabled
{v443}}}
ltm virtual-address /Common/{VIP} {{
    address {VIP}
{va}    mask 255.255.255.255
}}
{extra}"""


def run(tmp_path: Path, text: str, **config: object) -> dict[str, str]:
    paths = audit_flows(tmp_path, {"f5/edge.conf": text}, VIP, **config)
    return {flow: path.verdict for flow, path in paths.items()}


def reasons(tmp_path: Path, text: str, **config: object) -> dict[str, str]:
    paths = audit_flows(tmp_path, {"f5/edge.conf": text}, VIP, **config)
    return {flow: why(path) for flow, path in paths.items()}


ALL_ALLOWED = {"udp/500": "allowed", "udp/4500": "allowed", "tcp/443": "allowed"}


def test_the_base_configuration_passes(tmp_path: Path) -> None:
    assert run(tmp_path, conf()) == ALL_ALLOWED


# -- item 3: members and nodes that take no new connections ------------------------------------------------------
@pytest.mark.parametrize("setting", ["            session user-disabled\n",
                                     "            session user-disabled\n            state user-down\n"])
def test_all_members_disabled_or_forced_offline_block_new_clients(tmp_path: Path, setting: str) -> None:
    text = conf(member1=setting, member2=setting)
    assert run(tmp_path / "a", text) == {f: "blocked" for f in ALL_ALLOWED}
    said = reasons(tmp_path / "b", text)["udp/4500"]
    assert "no backend that takes new clients" in said and "10.20.0.11:4500 pool member" in said


def test_one_member_still_enabled_passes(tmp_path: Path) -> None:
    assert run(tmp_path, conf(member1="            session user-disabled\n",
                              member2="            session user-enabled\n")) == ALL_ALLOWED


@pytest.mark.parametrize("setting", ["    session user-disabled\n", "    state user-down\n"])
def test_disabled_or_forced_offline_nodes_block_every_pool(tmp_path: Path, setting: str) -> None:
    text = conf(node1=setting, node2=setting)
    assert run(tmp_path / "a", text) == {f: "blocked" for f in ALL_ALLOWED}
    assert "node /Common/vpn2" in reasons(tmp_path / "b", text)["tcp/443"]
    assert run(tmp_path / "c", conf(node1=setting)) == ALL_ALLOWED  # vpn2 still takes clients


# -- item 7: iRules whose commands can discard the flow -----------------------------------------------------------
def irule(body: str) -> str:
    return f"ltm rule /Common/vpn_rule {{\n{body}\n}}\n"


@pytest.mark.parametrize(("flow", "virtual", "body"), [
    ("udp/4500", "v4500", 'when CLIENT_ACCEPTED {\n    if { [IP::client_addr] starts_with "198." } { UDP::drop }\n}'),
    ("tcp/443", "v443", "when CLIENT_ACCEPTED {\n    if { [active_members /Common/sstp_pool] < 1 } { TCP::close }\n}"),
    ("udp/500", "v500", "when CLIENT_DATA {\n    ::reject\n}"),
    ("tcp/443", "v443", 'when HTTP_REQUEST {\n    HTTP::respond 403 content "closed"\n}'),
    ("udp/500", "v500", "when CLIENT_ACCEPTED {\n    call /Common/lib::check\n}"),
])
def test_irule_that_can_discard_makes_the_flow_unknown(tmp_path: Path, flow: str, virtual: str, body: str) -> None:
    text = conf(extra=irule(body), **{virtual: "    rules {\n        /Common/vpn_rule\n    }\n"})
    verdicts = run(tmp_path / "a", text)
    assert verdicts[flow] == "unknown"
    assert all(v == "allowed" for f, v in verdicts.items() if f != flow)
    assert "vpn_rule" in reasons(tmp_path / "b", text)[flow]


def test_irule_that_only_logs_passes(tmp_path: Path) -> None:
    body = 'when CLIENT_ACCEPTED {\n    log local0. "IKE from [IP::client_addr]:[UDP::client_port]"\n}'
    text = conf(extra=irule(body), v4500="    rules {\n        /Common/vpn_rule\n    }\n")
    assert run(tmp_path, text) == ALL_ALLOWED


# -- item 9: NAT-T delivered to the IKE port -------------------------------------------------------------------
def test_natt_translated_to_backend_port_500_is_blocked(tmp_path: Path) -> None:
    text = conf(pool4500_port="500")
    assert run(tmp_path / "a", text) == {"udp/500": "allowed", "udp/4500": "blocked", "tcp/443": "allowed"}
    assert "non-ESP marker" in reasons(tmp_path / "b", text)["udp/4500"]


WILDCARD = """ltm pool /Common/ike_pool {
    members {
        /Common/10.20.0.11:PORT1 {
            address 10.20.0.11
        }
        /Common/10.20.0.12:PORT2 {
            address 10.20.0.12
        }
    }
}
ltm virtual /Common/vs_ike_any {
    destination /Common/VIP:0
    ip-protocol udp
    mask 255.255.255.255
    persist {
        /Common/source_addr {
            default yes
        }
    }
    pool /Common/ike_pool
    source 0.0.0.0/0
    translate-address enabled
    translate-port TRANSLATE
}
"""


@pytest.mark.parametrize(("port", "port2", "translate", "expected"), [
    ("500", "500", "enabled", {"udp/500": "allowed", "udp/4500": "blocked"}),
    ("500", "0", "enabled", {"udp/500": "allowed", "udp/4500": "unknown"}),  # only clients sent to .11 fail
    ("0", "0", "enabled", {"udp/500": "allowed", "udp/4500": "allowed"}),
    ("500", "500", "disabled", {"udp/500": "allowed", "udp/4500": "allowed"}),  # the client's port is kept
])
def test_wildcard_virtual_and_member_ports(tmp_path: Path, port: str, port2: str, translate: str,
                                           expected: dict[str, str]) -> None:
    text = "#TMSH-VERSION: 15.1.8\n" + (WILDCARD.replace("PORT1", port).replace("PORT2", port2)
                                       .replace("TRANSLATE", translate).replace("VIP", VIP))
    paths = audit_flows(tmp_path, {"f5/edge.conf": text}, VIP, protocols=("ikev2",))
    assert {flow: p.verdict for flow, p in paths.items()} == expected


# -- item 10: route-domain notation --------------------------------------------------------------------------------
def test_route_domain_addresses_are_read_without_the_domain(tmp_path: Path) -> None:
    text = (conf().replace(f"/Common/{VIP}:", f"/Common/{VIP}%1:").replace("address 10.20.0.1", "address 10.20.0.1")
            .replace("source 0.0.0.0/0", "source 0.0.0.0%1/0").replace("10.20.0.11\n", "10.20.0.11%1\n"))
    assert "0.0.0.0%1/0" in text and f"{VIP}%1:500" in text
    assert run(tmp_path, text) == ALL_ALLOWED


def test_route_domain_source_that_excludes_clients(tmp_path: Path) -> None:
    text = conf().replace("source 0.0.0.0/0", "source 10.0.0.0%1/8")
    paths = audit_flows(tmp_path, {"f5/edge.conf": text}, VIP)
    assert {flow: p.verdict for flow, p in paths.items()} == {f: "partial" for f in ALL_ALLOWED}
    assert paths["udp/500"].trace.reason.endswith("allowed for 10.0.0.0/8.")  # only those pass


# -- also: per-datagram balancing with source-address persistence ------------------------------------------------
DATAGRAM_UDP = """ltm profile udp /Common/udp_dlb {
    defaults-from /Common/udp
    datagram-load-balancing enabled
}
"""


def persistence_verdicts(tmp_path: Path, text: str) -> list[str]:
    result = audit(write_snapshot(tmp_path, {"f5/edge.conf": text}, VIP))
    return [f.evidence["verdict"] for f in result.findings if f.check.kind == "split-persistence"]


def test_datagram_balancing_with_source_persistence_is_unknown(tmp_path: Path) -> None:
    assert persistence_verdicts(tmp_path / "a", conf(udp_profile="/Common/udp_dlb", extra=DATAGRAM_UDP)) \
        == ["unknown"]
    assert persistence_verdicts(tmp_path / "b", conf(extra=DATAGRAM_UDP)) == []  # sticky: no finding


# -- issue 22 item 7: an HTTP profile without client SSL on the SSTP virtual --------------------------------------
CUSTOM_CLIENTSSL = """ltm profile client-ssl /Common/vpn_clientssl {
    defaults-from /Common/clientssl
    cert-key-chain {
        vpn { cert /Common/vpn.crt key /Common/vpn.key }
    }
}
"""


@pytest.mark.parametrize(("profiles", "extra", "expected"), [
    ("        /Common/http { }\n        /Common/tcp { }\n", "", "blocked"),
    ("        /Common/http { }\n        /Common/tcp { }\n        /Common/clientssl {\n"
     "            context clientside\n        }\n", "", "allowed"),
    ("        /Common/http { }\n        /Common/tcp { }\n        /Common/vpn_clientssl {\n"
     "            context clientside\n        }\n", CUSTOM_CLIENTSSL, "allowed"),
    ("        /Common/http { }\n        /Common/vpn_profile { }\n", "", "unknown"),  # its type is not known
    ("        /Common/tcp { }\n", "", "allowed"),  # TLS passes through to the VPN servers
])
def test_http_profile_without_client_ssl_breaks_sstp(tmp_path: Path, profiles: str, extra: str,
                                                     expected: str) -> None:
    text = conf(profiles443=profiles, extra=extra)
    assert run(tmp_path / "a", text) == {"udp/500": "allowed", "udp/4500": "allowed", "tcp/443": expected}
    if expected == "blocked":
        assert "without a client-ssl profile" in reasons(tmp_path / "b", text)["tcp/443"]


# -- item 6: listeners limited by VLAN, virtual-address state, firewalls and packet filters --------------------------
VLANS_ON_INTERNAL = "    vlans {\n        /Common/internal\n    }\n    vlans-enabled\n"
VLANS_NOT_EXTERNAL = "    vlans {\n        /Common/external\n    }\n    vlans-disabled\n"


def on_every_virtual(setting: str) -> dict[str, str]:
    return {"v500": setting, "v4500": setting, "v443": setting}


@pytest.mark.parametrize(("setting", "ingress", "expected"), [
    (VLANS_ON_INTERNAL, None, "unknown"),  # which VLAN clients arrive on is not in a BIG-IP config
    (VLANS_ON_INTERNAL, "/Common/external", "blocked"),
    (VLANS_ON_INTERNAL, "internal", "allowed"),  # a name without a folder is in /Common
    (VLANS_NOT_EXTERNAL, "/Common/external", "blocked"),
    (VLANS_NOT_EXTERNAL, "/Common/internal", "allowed"),
    ("", "/Common/external", "allowed"),  # a virtual on every VLAN
])
def test_vlan_limited_listeners(tmp_path: Path, setting: str, ingress: str | None, expected: str) -> None:
    config = {"devices": {"f5/edge": {"ingress_vlan": ingress}}} if ingress else {}
    verdicts = run(tmp_path / "a", conf(**on_every_virtual(setting)), **config)
    assert verdicts == {f: expected for f in ALL_ALLOWED}
    if expected == "unknown":
        assert "ingress_vlan" in reasons(tmp_path / "b", conf(**on_every_virtual(setting)))["udp/500"]


def test_a_wildcard_virtual_on_every_vlan_takes_what_a_vlan_limited_one_does_not(tmp_path: Path) -> None:
    wildcard = f"""ltm virtual /Common/vs_any {{
    destination /Common/{VIP}:0
    ip-protocol udp
    mask 255.255.255.255
    pool /Common/ike4500_pool
    translate-port disabled
}}
"""
    text = conf(v500=VLANS_ON_INTERNAL, extra=wildcard)
    config = {"devices": {"f5/edge": {"ingress_vlan": "/Common/external"}}}
    paths = audit_flows(tmp_path, {"f5/edge.conf": text}, VIP, **config)
    assert paths["udp/500"].verdict == "allowed"
    assert "/Common/vs_any" in why(paths["udp/500"])


@pytest.mark.parametrize(("va", "expected"), [
    ("    arp enabled\n    enabled no\n", "blocked"),
    ("    arp disabled\n", "unknown"),  # reached only where a route sends it to the BIG-IP
    ("    arp enabled\n    enabled yes\n", "allowed"),
])
def test_virtual_address_state(tmp_path: Path, va: str, expected: str) -> None:
    assert run(tmp_path, conf(va=va)) == {f: expected for f in ALL_ALLOWED}


def test_afm_policy_on_a_virtual_is_unknown(tmp_path: Path) -> None:
    assert run(tmp_path / "a", conf(v4500="    fw-enforced-policy /Common/vpn_fw\n")) == \
        {"udp/500": "allowed", "udp/4500": "unknown", "tcp/443": "allowed"}
    assert run(tmp_path / "b", conf(v4500="    fw-staged-policy /Common/vpn_fw\n")) == ALL_ALLOWED  # logs only


@pytest.mark.parametrize(("extra", "expected"), [
    ('net packet-filter /Common/pf_drop {\n    action discard\n    order 10\n    rule "udp dst port 4500"\n}\n'
     'sys db packetfilter {\n    value "enabled"\n}\n', "unknown"),
    ('net packet-filter /Common/pf_drop {\n    action discard\n    order 10\n    rule "udp dst port 4500"\n}\n',
     "unknown"),  # packet filtering may be on: the db setting lives outside bigip.conf
    ('net packet-filter /Common/pf_drop {\n    action discard\n    order 10\n    rule "udp dst port 4500"\n}\n'
     'sys db packetfilter {\n    value "disabled"\n}\n', "allowed"),
    ('net packet-filter /Common/pf_ok {\n    action accept\n    order 10\n    rule "udp"\n}\n'
     'sys db packetfilter {\n    value "enabled"\n}\n', "allowed"),
    ("security firewall global-rules {\n    enforced-policy /Common/global_fw\n}\n", "unknown"),
    ("net route-domain /Common/0 {\n    id 0\n    fw-enforced-policy /Common/rd_fw\n}\n", "unknown"),
    ("net route-domain /Common/0 {\n    id 0\n}\n", "allowed"),
])
def test_device_wide_packet_filters_and_firewalls(tmp_path: Path, extra: str, expected: str) -> None:
    assert run(tmp_path, conf(extra=extra)) == {f: expected for f in ALL_ALLOWED}


# -- the same states in iControl REST bodies -----------------------------------------------------------------------
REST = Path(__file__).parent.parent / "fixtures" / "lb" / "f5" / "rest-sticky"


def rest_verdicts(root: Path, edit: Callable[[Path], None], **config: object) -> dict[str, str]:
    folder = root / "f5" / "edge"
    shutil.copytree(REST, folder)
    edit(folder)
    paths = flows(audit(write_snapshot(root, {}, "203.0.113.20", protocols=("ikev2",), **config)))
    return {f: p.verdict for f, p in paths.items()}


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


def test_rest_members_disabled(tmp_path: Path) -> None:
    def disable(body: dict) -> None:
        for pool in body["items"]:
            for member in pool["membersReference"]["items"]:
                member["session"] = "user-disabled"
    assert rest_verdicts(tmp_path / "a", lambda f: edit_json(f / "ltm" / "pool.json", disable)) == \
        {"udp/500": "blocked", "udp/4500": "blocked"}
    assert rest_verdicts(tmp_path / "b", lambda f: None) == {"udp/500": "allowed", "udp/4500": "allowed"}


def test_rest_vlans_and_virtual_address(tmp_path: Path) -> None:
    def vlans(body: dict) -> None:
        for virtual in body["items"]:
            virtual["vlansEnabled"] = True
            virtual["vlans"] = ["/Common/internal"]
    config = {"devices": {"f5/edge": {"ingress_vlan": "/Common/external"}}}
    assert rest_verdicts(tmp_path / "a", lambda f: edit_json(f / "ltm" / "virtual.json", vlans), **config) == \
        {"udp/500": "blocked", "udp/4500": "blocked"}
    assert rest_verdicts(tmp_path / "b", lambda f: edit_json(f / "ltm" / "virtual.json", vlans)) == \
        {"udp/500": "unknown", "udp/4500": "unknown"}

    def address(enabled: str) -> Callable[[Path], None]:
        return lambda f: (f / "ltm" / "virtual-address.json").write_text(json.dumps({"items": [
            {"name": "203.0.113.20", "partition": "Common", "address": "203.0.113.20", "arp": "enabled",
             "enabled": enabled}]}))
    assert rest_verdicts(tmp_path / "c", address("no")) == {"udp/500": "blocked", "udp/4500": "blocked"}
    assert rest_verdicts(tmp_path / "d", address("yes")) == {"udp/500": "allowed", "udp/4500": "allowed"}
