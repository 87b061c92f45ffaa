"""F5 BIG-IP states and listeners that decide whether VPN traffic reaches a server, audited end to end (issue 27:
disabled members and nodes, VLAN-limited listeners, firewalls, iRules that drop, NAT-T sent to the IKE port, route
domains, datagram balancing; issue 22: an HTTP profile without client SSL on the SSTP virtual). Each case is
written twice: the configuration that drops (or cannot be decided) and the one that passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lb_audit import audit_flows, why

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
