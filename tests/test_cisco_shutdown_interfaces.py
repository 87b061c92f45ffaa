"""An interface that is `shutdown` passes no traffic (Cisco IOS Interface and Hardware Component
Command Reference, `shutdown (interface)`: "To disable an interface"; Cisco ASA Series Command Reference,
`shutdown`: "To disable an interface"). The parser reads the line (docs/semantics/cisco.md counts `shutdown` among
the interface sub-commands that can change a verdict) but only `enters` used it: a path through a shut-down
interface was reported allowed."""

from __future__ import annotations

import json
from pathlib import Path

import auditor.vendors  # noqa: F401  (installs the shipped vendors)
from auditor.audit import run_audit

ASA = """ASA Version 9.12(4)
hostname sd-asa
interface GigabitEthernet1/1
 nameif outside
 security-level 0
{out_down} ip address 198.51.100.2 255.255.255.0
interface GigabitEthernet1/3
 nameif dmz
 security-level 50
{dmz_down} ip address 10.20.0.1 255.255.255.0
object network VPN-SERVER
 host 10.20.0.10
 nat (dmz,outside) static 198.51.100.10
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq isakmp
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq 4500
access-group OUTSIDE_IN in interface outside
route outside 0.0.0.0 0.0.0.0 198.51.100.1 1
: end
"""

IOS = """hostname sd-edge
interface GigabitEthernet0/0
 ip address 198.51.100.2 255.255.255.0
 ip nat outside
 ip access-group OUT_IN in
interface GigabitEthernet0/1
 ip address 10.20.0.1 255.255.255.0
 ip nat inside
{in_down}ip nat inside source static 10.20.0.10 198.51.100.10
ip access-list extended OUT_IN
 permit udp any host 198.51.100.10 eq isakmp
 permit udp any host 198.51.100.10 eq non500-isakmp
ip route 0.0.0.0 0.0.0.0 198.51.100.1
end
"""


def audit(tmp_path: Path, name: str, text: str, server: str = "198.51.100.10") -> dict[str, str]:
    (tmp_path / "cisco").mkdir(parents=True)
    (tmp_path / "cisco" / f"{name}.cfg").write_text(text)
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": server, "protocols": ["ikev2"]}],
        "sources": [{"name": "remote", "prefixes": ["81.2.3.0/24"]}]}))
    result = run_audit(tmp_path)
    return {str(p.trace.flow): str(getattr(p.verdict, "value", p.verdict)) for p in result.paths}


def test_asa_interfaces_up_allow(tmp_path: Path) -> None:
    assert set(audit(tmp_path, "sd-asa", ASA.format(out_down="", dmz_down="")).values()) == {"allowed"}


def test_asa_server_interface_shut_down_is_not_allowed(tmp_path: Path) -> None:
    assert set(audit(tmp_path, "sd-asa", ASA.format(out_down="", dmz_down=" shutdown\n")).values()) == {"blocked"}


def test_asa_outside_interface_shut_down_is_not_allowed(tmp_path: Path) -> None:
    assert set(audit(tmp_path, "sd-asa", ASA.format(out_down=" shutdown\n", dmz_down="")).values()) == {"blocked"}


def test_ios_inside_interface_shut_down_is_not_allowed(tmp_path: Path) -> None:
    assert set(audit(tmp_path / "a", "sd-edge", IOS.format(in_down="")).values()) == {"allowed"}
    assert set(audit(tmp_path / "b", "sd-edge", IOS.format(in_down=" shutdown\n")).values()) == {"blocked"}


def test_asa_headend_on_a_shut_down_interface_is_not_allowed(tmp_path: Path) -> None:
    head = ASA.format(out_down="{out_down}", dmz_down="").replace(
        "route outside", "crypto ikev2 enable outside\nroute outside")
    up = audit(tmp_path / "a", "sd-asa", head.format(out_down=""), server="198.51.100.2")
    assert set(up.values()) == {"allowed"}
    down = audit(tmp_path / "b", "sd-asa", head.format(out_down=" shutdown\n"), server="198.51.100.2")
    assert set(down.values()) == {"blocked"}
