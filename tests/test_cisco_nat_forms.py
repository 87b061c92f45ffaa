"""Cisco NAT forms that publish a VPN server (issue 27): IOS NAT Virtual Interface, ASA static NAT without proxy
ARP, ASA inbound twice NAT that hides the clients' addresses. Each in the configuration that fails and the one
that passes, audited end to end."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.audit import AuditResult, run_audit


def audit(tmp_path: Path, configs: dict[str, str], server: str, protocols: list[str] | None = None,
          path: list[str] | None = None, prefixes: list[str] | None = None) -> AuditResult:
    (tmp_path / "cisco").mkdir(parents=True)
    for name, text in configs.items():
        (tmp_path / "cisco" / f"{name}.cfg").write_text(text)
    spec: dict = {"name": "vpn", "address": server, "protocols": protocols or ["ikev2", "sstp"]}
    if path:
        spec["path"] = path
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [spec], "sources": [{"name": "remote", "prefixes": prefixes or ["81.2.3.0/24"]}]}))
    return run_audit(tmp_path)


def flows(result: AuditResult) -> dict[str, str]:
    return {f"{p.protocol} {p.trace.flow}": p.verdict for p in result.paths}


def kinds(result: AuditResult, kind: str) -> list:
    return [f for f in result.findings if f.check.kind == kind]


# -- item 12: IOS NAT Virtual Interface ------------------------------------------------------------------------

IOS_NVI = """hostname nvi-edge
!
interface GigabitEthernet0/0
 ip address 203.0.113.2 255.255.255.248
 ip access-group WAN-IN in
 ip nat {outside}
!
interface GigabitEthernet0/1
 ip address 192.168.50.1 255.255.255.0
 ip nat enable
!
ip nat source static 192.168.50.10 203.0.113.5
ip route 0.0.0.0 0.0.0.0 203.0.113.1
!
ip access-list extended WAN-IN
 permit udp any host 203.0.113.5 eq isakmp
 permit udp any host 203.0.113.5 eq non500-isakmp
 permit tcp any host 203.0.113.5 eq 443
 deny ip any any
!
end
"""


def test_ios_nvi_static_nat_publishes_the_server(tmp_path: Path) -> None:
    """`ip nat source static` between `ip nat enable` interfaces translates like domain NAT (it was dropped:
    nat-missing and every flow blocked)."""
    result = audit(tmp_path, {"nvi-edge": IOS_NVI.format(outside="enable")}, "203.0.113.5")
    assert set(flows(result).values()) == {"allowed"}
    assert not kinds(result, "nat-missing")
    trace = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/500")
    acl, nat = trace.hops
    assert acl.hop.stage == "acl-in WAN-IN on GigabitEthernet0/0" and acl.decision.value == "permit"
    assert nat.segments[0].reason == "static NAT: 203.0.113.5 udp/500 -> 192.168.50.10 udp/500"
    assert nat.segments[0].rule.origin.line == 12
    # placed by audit.yaml `path` the same
    placed = audit(tmp_path / "path", {"nvi-edge": IOS_NVI.format(outside="enable")}, "203.0.113.5",
                   path=["cisco/nvi-edge"])
    assert set(flows(placed).values()) == {"allowed"} and not kinds(placed, "nat-missing")


def test_ios_nvi_static_nat_needs_ip_nat_enable_where_traffic_enters(tmp_path: Path) -> None:
    """The same entry on an interface that is `ip nat outside` (domain NAT), not `ip nat enable`: whether NVI
    translates there is not documented, so unknown, naming the interface; never allowed."""
    result = audit(tmp_path, {"nvi-edge": IOS_NVI.format(outside="outside")}, "203.0.113.5")
    assert set(flows(result).values()) == {"unknown"}
    trace = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/500")
    assert "GigabitEthernet0/0 is not 'ip nat enable'" in trace.reason


# -- item 8: ASA static NAT without proxy ARP ------------------------------------------------------------------

ASA_NO_ARP = """ASA Version 9.12(4)
hostname arp-asa
!
interface GigabitEthernet1/1
 nameif outside
 security-level 0
 ip address 198.51.100.2 255.255.255.0
!
interface GigabitEthernet1/2
 nameif dmz
 security-level 50
 ip address 10.20.0.1 255.255.255.0
!
object network VPN-SERVER
 host 10.20.0.10
 nat (dmz,outside) static {mapped}{flag}
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq isakmp
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq 4500
access-list OUTSIDE_IN extended deny ip any any
access-group OUTSIDE_IN in interface outside
route outside 0.0.0.0 0.0.0.0 198.51.100.1 1
{extra}: end
"""


def test_asa_no_proxy_arp_on_the_outside_network_is_unknown(tmp_path: Path) -> None:
    """`no-proxy-arp` on a mapped address of the outside subnet: the ASA does not answer the upstream router's ARP,
    so whether traffic arrives depends on a static route upstream (was allowed)."""
    cfg = ASA_NO_ARP.format(mapped="198.51.100.10", flag=" no-proxy-arp", extra="")
    result = audit(tmp_path, {"arp-asa": cfg}, "198.51.100.10", ["ikev2"])
    assert flows(result) == {"ikev2 udp/500": "unknown", "ikev2 udp/4500": "unknown"}
    trace = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/500")
    assert "line 16 (`no-proxy-arp`)" in trace.reason and "does not answer ARP for 198.51.100.10" in trace.reason
    assert "static route for 198.51.100.10" in trace.reason
    assert not kinds(result, "nat-missing")
    # the flows the ACL denies are blocked whether the packets arrive or not
    plain = audit(tmp_path / "sstp", {"arp-asa": cfg}, "198.51.100.10", ["sstp"])
    assert flows(plain) == {"sstp tcp/443": "blocked"}


def test_asa_sysopt_noproxyarp_on_the_outside_interface_is_unknown(tmp_path: Path) -> None:
    cfg = ASA_NO_ARP.format(mapped="198.51.100.10", flag="", extra="sysopt noproxyarp outside\n")
    result = audit(tmp_path, {"arp-asa": cfg}, "198.51.100.10", ["ikev2"])
    assert set(flows(result).values()) == {"unknown"}
    assert "line 22 (`sysopt noproxyarp outside`)" in result.paths[0].trace.reason


def test_asa_proxy_arp_or_a_mapped_address_off_the_outside_network_is_allowed(tmp_path: Path) -> None:
    """With proxy ARP (the default), or with a mapped address on another network (the upstream routes it to
    the ASA anyway: it is not reached by ARP on the outside network), the NAT publishes the server."""
    default = ASA_NO_ARP.format(mapped="198.51.100.10", flag="", extra="")
    assert set(flows(audit(tmp_path / "a", {"arp-asa": default}, "198.51.100.10", ["ikev2"])).values()) == {"allowed"}
    routed = ASA_NO_ARP.format(mapped="192.0.2.10", flag=" no-proxy-arp", extra="")
    assert set(flows(audit(tmp_path / "b", {"arp-asa": routed}, "192.0.2.10", ["ikev2"])).values()) == {"allowed"}


def test_ios_no_alias_on_the_outside_network_is_unknown(tmp_path: Path) -> None:
    cfg = (IOS_NVI.format(outside="outside").replace("ip nat enable", "ip nat inside")
           .replace("ip nat source static 192.168.50.10 203.0.113.5",
                    "ip nat inside source static 192.168.50.10 203.0.113.5{flag}"))
    assert set(flows(audit(tmp_path / "a", {"e": cfg.format(flag="")}, "203.0.113.5")).values()) == {"allowed"}
    result = audit(tmp_path / "b", {"e": cfg.format(flag=" no-alias")}, "203.0.113.5")
    assert set(flows(result).values()) == {"unknown"}
    assert "(`no-alias`)" in result.paths[0].trace.reason


# -- item 11: ASA inbound twice NAT ----------------------------------------------------------------------------

ASA_TWICE = """ASA Version 9.12(4)
hostname twice-asa
!
interface GigabitEthernet1/1
 nameif outside
 security-level 0
 ip address 198.51.100.2 255.255.255.0
!
interface GigabitEthernet1/2
 nameif dmz
 security-level 50
 ip address 10.20.0.1 255.255.255.0
!
object network VPN-PUBLIC
 host 198.51.100.10
object network VPN-SERVER
 host 10.20.0.10
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq isakmp
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq 4500
access-list OUTSIDE_IN extended deny ip any any
access-group OUTSIDE_IN in interface outside
nat (outside,dmz) source {source} destination static VPN-PUBLIC VPN-SERVER
route outside 0.0.0.0 0.0.0.0 198.51.100.1 1
: end
"""


def test_asa_inbound_twice_nat_publishes_the_server_and_hides_the_clients(tmp_path: Path) -> None:
    """`nat (outside,dmz) source dynamic any interface destination static PUB REAL`: connections from outside to
    PUB reach REAL from the dmz interface's address. It was read as outbound-only dynamic NAT: nat-missing and
    blocked. Now the server is published, and the source translation is snat-on-ike."""
    result = audit(tmp_path, {"twice-asa": ASA_TWICE.format(source="dynamic any interface")}, "198.51.100.10",
                   ["ikev2", "l2tp"])
    assert set(flows(result).values()) == {"allowed"}
    assert not kinds(result, "nat-missing")
    trace = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/4500")
    nat = trace.hops[0]
    assert nat.segments[0].reason == "static NAT: 198.51.100.10 udp/4500 -> 10.20.0.10 udp/4500"
    (snat,) = kinds(result, "snat-on-ike")
    assert snat.check.id == "CISCO-SNAT-ON-IKE" and snat.device == "cisco/twice-asa"
    assert snat.evidence["flows"] == ["udp/4500", "udp/500"] and snat.evidence["protocols"] == ["ikev2", "l2tp"]
    assert "the dmz interface address" in snat.title and "line 22 of cisco/twice-asa.cfg" in snat.title
    assert ("`nat (outside,dmz) source static any any destination static VPN-PUBLIC VPN-SERVER`"
            in snat.remediation)
    assert "AssumeUDPEncapsulationContextOnSendRule" in snat.remediation  # L2TP/IPsec is offered


def test_asa_inbound_twice_nat_keeping_the_clients_is_not_snat(tmp_path: Path) -> None:
    result = audit(tmp_path, {"twice-asa": ASA_TWICE.format(source="static any any")}, "198.51.100.10")
    assert flows(result) == {"ikev2 udp/500": "allowed", "ikev2 udp/4500": "allowed", "sstp tcp/443": "blocked"}
    assert not kinds(result, "snat-on-ike") and not kinds(result, "nat-missing")


def test_asa_twice_nat_translating_no_destination_publishes_nothing(tmp_path: Path) -> None:
    """The failing form: the destination translation missing (an outbound PAT rule only): nat-missing, blocked."""
    cfg = ASA_TWICE.format(source="dynamic any interface").replace(
        " destination static VPN-PUBLIC VPN-SERVER", "")
    result = audit(tmp_path, {"twice-asa": cfg}, "198.51.100.10", ["ikev2"], path=["cisco/twice-asa"])
    assert set(flows(result).values()) == {"blocked"}
    assert kinds(result, "nat-missing") and not kinds(result, "snat-on-ike")


def test_asa_inbound_twice_nat_without_interfaces_applies_on_every_interface(tmp_path: Path) -> None:
    cfg = ASA_TWICE.format(source="static any any").replace("nat (outside,dmz) source", "nat source")
    cfg = cfg.replace("VPN-SERVER\nroute", "VPN-SERVER description publishes the inactive destination\nroute")
    result = audit(tmp_path, {"twice-asa": cfg}, "198.51.100.10", ["ikev2"])
    assert set(flows(result).values()) == {"allowed"}
