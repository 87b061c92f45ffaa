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
        "vpn_servers": [spec], "sources": [{"name": "remote", "prefixes": prefixes or ["198.51.100.0/24"]}]}))
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
