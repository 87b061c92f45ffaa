"""A Cisco router or ASA that is itself the VPN server (issue 27 item 1): it was left out of the path, so nothing
it filters was traced. Now the path ends at the device: IOS's inbound access-list and the ASA's control-plane
access-group filter what reaches it; a forward of the same address is unknown. Each in failing and passing form."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.audit import AuditResult, run_audit

IOS_CRYPTO_MAP = """hostname hub-rtr
!
crypto isakmp policy 10
 encr aes 256
 authentication pre-share
 group 14
crypto ipsec transform-set TS esp-aes 256 esp-sha256-hmac
 mode transport
crypto dynamic-map DYN 10
 set transform-set TS
crypto map VPN 10 ipsec-isakmp dynamic DYN
!
interface GigabitEthernet0/0
 ip address 203.0.113.2 255.255.255.248
 ip access-group WAN-IN in
 crypto map VPN
!
interface GigabitEthernet0/1
 ip address 192.168.50.1 255.255.255.0
!
ip route 0.0.0.0 0.0.0.0 203.0.113.1
!
ip access-list extended WAN-IN
 permit udp any host 203.0.113.2 eq isakmp
 permit udp any host 203.0.113.2 eq non500-isakmp
{esp} deny ip any any
!
{extra}end
"""


def audit(tmp_path: Path, configs: dict[str, str], server: str, protocols: list[str],
          sources: dict[str, list[str]] | None = None) -> AuditResult:
    (tmp_path / "cisco").mkdir(parents=True)
    for name, text in configs.items():
        (tmp_path / "cisco" / f"{name}.cfg").write_text(text)
    roles = sources or {"remote": ["81.2.3.0/24"]}
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": server, "protocols": protocols}],
        "sources": [{"name": name, "prefixes": prefixes} for name, prefixes in roles.items()]}))
    return run_audit(tmp_path)


def flows(result: AuditResult, role: str = "remote") -> dict[str, str]:
    return {f"{p.protocol} {p.trace.flow}": p.verdict for p in result.paths if p.role.name == role}


def test_ios_crypto_map_headend_is_filtered_by_its_inbound_access_list(tmp_path: Path) -> None:
    """WAN-IN permits IKE and NAT-T but not ESP: a client with a public address (no NAT, so ESP) is blocked at the
    router's own access-list, which was never traced (the router was left out of the path: all allowed)."""
    cfg = IOS_CRYPTO_MAP.format(esp="", extra="")
    result = audit(tmp_path, {"hub-rtr": cfg}, "203.0.113.2", ["ikev2", "l2tp", "sstp"])
    assert flows(result) == {"ikev2 udp/500": "allowed", "ikev2 esp": "blocked", "l2tp udp/500": "allowed",
                             "l2tp esp": "blocked", "l2tp udp/1701": "blocked", "sstp tcp/443": "blocked"}
    esp = next(p.trace for p in result.paths if str(p.trace.flow) == "esp")
    hop, seg = esp.blocked[0]
    assert hop.stage == "acl-in WAN-IN on GigabitEthernet0/0" and seg.rule.text == "deny ip any any"
    ike = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/500")
    acl, headend = ike.hops
    assert acl.hop.stage == "acl-in WAN-IN on GigabitEthernet0/0"
    assert headend.hop.stage == "headend on GigabitEthernet0/0" and type(headend.hop).terminates_ipsec
    assert "it terminates IKE and IPsec on 203.0.113.2 (GigabitEthernet0/0) itself (line 16 (crypto map VPN))" \
        in headend.segments[0].reason
    assert not [f for f in result.findings if f.check.kind == "nat-missing"]
    # the fix is the access-list entry, above the deny
    (finding,) = [f for f in result.findings if f.check.id == "VPN-BLOCKED-SERVER-SIDE"]
    assert finding.evidence["flows"] == ["esp", "tcp/443"]
    assert "insert an allow esp and tcp port 443 to 203.0.113.2 above line 26" in finding.remediation


def test_ios_crypto_map_headend_with_esp_permitted_is_allowed(tmp_path: Path) -> None:
    cfg = IOS_CRYPTO_MAP.format(esp=" permit esp any host 203.0.113.2\n", extra="")
    result = audit(tmp_path, {"hub-rtr": cfg}, "203.0.113.2", ["ikev2", "l2tp"])
    assert set(flows(result).values()) == {"allowed"}
    # clients behind NAT use NAT-T instead, which the list permits too
    natted = audit(tmp_path / "nat", {"hub-rtr": cfg}, "203.0.113.2", ["ikev2"], {"home": ["10.1.0.0/16"]})
    assert flows(natted, "home") == {"ikev2 udp/500": "allowed", "ikev2 udp/4500": "allowed"}


def test_ios_headend_that_also_port_forwards_ike_is_unknown(tmp_path: Path) -> None:
    """The router terminates IKE on its address and forwards UDP 500 of the same address inside: which wins is
    not documented, so that flow is unknown, saying why; the rest is decided."""
    cfg = IOS_CRYPTO_MAP.format(
        esp=" permit esp any host 203.0.113.2\n",
        extra="ip nat inside source static udp 192.168.50.10 500 interface GigabitEthernet0/0 500\n!\n")
    cfg = cfg.replace(" crypto map VPN\n", " crypto map VPN\n ip nat outside\n")
    result = audit(tmp_path, {"hub-rtr": cfg}, "203.0.113.2", ["ikev2"])
    # NAT on the path is unsure now (the forward may take IKE): NAT-T and ESP are both traced, both pass
    assert flows(result) == {"ikev2 udp/500": "unknown", "ikev2 udp/4500": "allowed", "ikev2 esp": "allowed"}
    reason = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/500").reason
    assert "terminates IKE on 203.0.113.2 (GigabitEthernet0/0) itself (line 16 (crypto map VPN))" in reason
    assert "forwards 203.0.113.2 udp/500 on the same address" in reason and "not documented" in reason


def test_ios_nat_t_turned_off_is_unknown_on_udp_4500(tmp_path: Path) -> None:
    cfg = IOS_CRYPTO_MAP.format(esp="", extra="no crypto ipsec nat-transparency udp-encapsulation\n")
    result = audit(tmp_path, {"hub-rtr": cfg}, "203.0.113.2", ["ikev2"], {"home": ["10.1.0.0/16"]})
    assert flows(result, "home") == {"ikev2 udp/500": "allowed", "ikev2 udp/4500": "unknown"}


IOS_FLEX = """hostname flex-hub
!
crypto ikev2 profile FLEX
 match identity remote any
{local} authentication remote eap query-identity
 authentication local rsa-sig
 virtual-template 1
!
interface Loopback0
 ip address 198.51.100.77 255.255.255.255
!
interface GigabitEthernet0/0
 ip address 203.0.113.2 255.255.255.248
 ip access-group WAN-IN in
!
interface Virtual-Template1 type tunnel
 ip unnumbered Loopback0
 tunnel mode ipsec ipv4
 tunnel protection ipsec profile FLEX-IPSEC
!
ip route 0.0.0.0 0.0.0.0 203.0.113.1
!
ip access-list extended WAN-IN
 permit udp any host 198.51.100.77 eq isakmp
 permit udp any host 198.51.100.77 eq non500-isakmp
 deny ip any any
!
end
"""


def test_flexvpn_on_a_loopback_is_filtered_where_the_traffic_arrives(tmp_path: Path) -> None:
    """A FlexVPN server (IKEv2 profile with a virtual template) answers on the loopback its profile names; the
    traffic arrives on the internet-facing interface, whose inbound list decides it."""
    local = " match address local interface Loopback0\n"
    result = audit(tmp_path, {"flex-hub": IOS_FLEX.format(local=local)}, "198.51.100.77", ["ikev2"],
                   {"home": ["10.1.0.0/16"]})
    assert flows(result, "home") == {"ikev2 udp/500": "allowed", "ikev2 udp/4500": "allowed"}
    hops = [r.hop.stage for r in next(p.trace for p in result.paths if str(p.trace.flow) == "udp/500").hops]
    assert hops[-2:] == ["acl-in WAN-IN on GigabitEthernet0/0", "headend on Loopback0"]
    # its own outside address: no IKEv2 profile answers there (the profile names the loopback), so not a headend;
    # the router is placed, and nothing forwards the address: blocked
    other = audit(tmp_path / "b", {"flex-hub": IOS_FLEX.format(local=local)}, "203.0.113.2", ["ikev2"])
    assert set(flows(other).values()) == {"blocked"}
    # without `match address local` the profile answers on every address; WAN-IN then blocks IKE to 203.0.113.2
    every = audit(tmp_path / "c", {"flex-hub": IOS_FLEX.format(local="")}, "203.0.113.2", ["ikev2"])
    assert set(flows(every).values()) == {"blocked"}
    trace = next(p.trace for p in every.paths if str(p.trace.flow) == "udp/500")
    assert trace.blocked[0][0].stage == "acl-in WAN-IN on GigabitEthernet0/0"


ASA_HEADEND = """ASA Version 9.16(4)
hostname ra-asa
!
interface GigabitEthernet0/0
 nameif outside
 security-level 0
 ip address 192.0.2.1 255.255.255.0
!
interface GigabitEthernet0/1
 nameif inside
 security-level 100
 ip address 10.0.0.1 255.255.255.0
!
access-list OUTSIDE_IN extended deny ip any any
access-group OUTSIDE_IN in interface outside
{cp}route outside 0.0.0.0 0.0.0.0 192.0.2.254 1
{vpn}: end
"""
CONTROL_PLANE = """access-list TO_ASA extended permit udp 81.2.3.0 255.255.255.0 any eq isakmp
access-list TO_ASA extended permit udp 81.2.3.0 255.255.255.0 any eq 4500
access-list TO_ASA extended permit esp 81.2.3.0 255.255.255.0 any
access-group TO_ASA in interface outside control-plane
"""


def test_asa_headend_is_filtered_by_its_control_plane_access_group(tmp_path: Path) -> None:
    """`access-group ... control-plane` filters traffic to the ASA itself (it was discarded, and the ASA left out
    of the path: every client allowed). The interface's own access-list (deny ip any any) is for traffic through
    the ASA and does not decide IKE to it."""
    cfg = ASA_HEADEND.format(cp=CONTROL_PLANE, vpn="crypto ikev2 enable outside\n")
    result = audit(tmp_path, {"ra-asa": cfg}, "192.0.2.1", ["ikev2"],
                   {"partner": ["81.2.3.0/24"], "stranger": ["81.2.4.0/24"]})
    assert flows(result, "partner") == {"ikev2 udp/500": "allowed", "ikev2 esp": "allowed"}
    assert flows(result, "stranger") == {"ikev2 udp/500": "blocked", "ikev2 esp": "blocked"}
    trace = next(p.trace for p in result.paths if p.role.name == "stranger" and str(p.trace.flow) == "udp/500")
    hop, seg = trace.blocked[0]
    assert hop.stage == "acl-in TO_ASA (control-plane) on outside" and seg.rule.synthetic
    # without the control-plane access-group nothing filters IKE to the ASA
    open_asa = ASA_HEADEND.format(cp="", vpn="crypto ikev2 enable outside\n")
    assert set(flows(audit(tmp_path / "b", {"ra-asa": open_asa}, "192.0.2.1", ["ikev2"],
                           {"stranger": ["81.2.4.0/24"]}), "stranger").values()) == {"allowed"}


def test_asa_with_ssl_vpn_only_does_not_answer_ike(tmp_path: Path) -> None:
    """`webvpn` / `enable outside` without IKE on outside: IKE to the ASA is blocked (IKE must be enabled on the
    interface), and TCP 443 reaches AnyConnect, not SSTP: unknown."""
    cfg = ASA_HEADEND.format(cp="", vpn="webvpn\n enable outside\n")
    result = audit(tmp_path, {"ra-asa": cfg}, "192.0.2.1", ["ikev2", "sstp"])
    assert flows(result) == {"ikev2 udp/500": "blocked", "ikev2 esp": "blocked", "sstp tcp/443": "unknown"}
    sstp = next(p.trace for p in result.paths if str(p.trace.flow) == "tcp/443")
    assert "which is not Microsoft's SSTP" in sstp.reason
    (finding,) = [f for f in result.findings if f.check.id == "VPN-BLOCKED-SERVER-SIDE"]
    assert "crypto ikev2 enable IF" in finding.remediation
    # with IKE enabled too, IKE passes
    both = ASA_HEADEND.format(cp="", vpn="crypto ikev2 enable outside\nwebvpn\n enable outside\n")
    assert flows(audit(tmp_path / "b", {"ra-asa": both}, "192.0.2.1", ["ikev2"])) == {
        "ikev2 udp/500": "allowed", "ikev2 esp": "allowed"}


# -- Also: unicast RPF is reported as not modelled where traffic enters ------------------------------------------

def test_urpf_where_vpn_traffic_enters_is_reported_not_modelled(tmp_path: Path) -> None:
    fixtures = Path(__file__).parents[1] / "fixtures" / "cisco"
    ios = (fixtures / "ios-vpn.cfg").read_text()
    plain = audit(tmp_path / "a", {"edge": ios}, "203.0.113.2", ["ikev2"])
    strict = ios.replace(" ip access-group WAN-IN in\n",
                         " ip access-group WAN-IN in\n ip verify unicast source reachable-via rx\n")
    result = audit(tmp_path / "b", {"edge": strict}, "203.0.113.2", ["ikev2"])
    assert flows(result) == flows(plain)  # decides nothing
    (finding,) = [f for f in result.findings if f.check.id == "CISCO-FILTER-NOT-MODELLED"]
    assert finding.check.kind == "unmodelled-filter" and finding.effective_severity == "info"
    assert finding.title == ("cisco/edge: unicast RPF on GigabitEthernet0/0 (line 18: ip verify unicast source "
                             "reachable-via rx) is not evaluated (the verdicts do not cover it)")
    assert finding.evidence["filters"][0]["traffic"] == ["server 'vpn'"]
    assert "allow-default" in finding.remediation
    # on an interface no VPN traffic enters: nothing to say
    elsewhere = ios.replace(" description Staff LAN\n", " description Staff LAN\n ip verify unicast reverse-path\n")
    quiet = audit(tmp_path / "c", {"edge": elsewhere}, "203.0.113.2", ["ikev2"])
    assert not [f for f in quiet.findings if f.check.id == "CISCO-FILTER-NOT-MODELLED"]


def test_asa_urpf_on_the_outside_interface_is_reported(tmp_path: Path) -> None:
    cfg = ASA_HEADEND.format(cp="", vpn="crypto ikev2 enable outside\nip verify reverse-path interface outside\n")
    result = audit(tmp_path, {"ra-asa": cfg}, "192.0.2.1", ["ikev2"])
    (finding,) = [f for f in result.findings if f.check.id == "CISCO-FILTER-NOT-MODELLED"]
    assert "outside (line 18: ip verify reverse-path interface outside)" in finding.title
