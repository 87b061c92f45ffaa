"""Pre-8.3 dynamic NAT/PAT (`nat (inside) 1 0.0.0.0 0.0.0.0` with `global (outside) 1
interface`) and NAT exemption (`nat (inside) 0 access-list ACL`) translate connections that start inside, or
nothing: they expose no server and translate no client (docs/semantics/cisco.md: "`dynamic` NAT and PAT are
outbound only and expose nothing", `global` "pre-8.3 PAT, outbound only"). They made every flow the static NATs
do not take `unknown`. Outside NAT (`nat (outside) N ... outside`) translates clients: still unknown."""

from __future__ import annotations

import json
from pathlib import Path

import auditor.vendors  # noqa: F401  (installs the shipped vendors)
from auditor.audit import run_audit

ASA = """: Saved
:
ASA Version 8.2(5)
!
hostname old-asa
!
interface Ethernet0/0
 nameif outside
 security-level 0
 ip address 192.0.2.2 255.255.255.0
!
interface Ethernet0/1
 nameif inside
 security-level 100
 ip address 10.1.1.1 255.255.255.0
!
interface Ethernet0/2
 nameif dmz
 security-level 50
 ip address 198.51.100.1 255.255.255.0
!
access-list inside_nat0_outbound extended permit ip 10.1.1.0 255.255.255.0 172.16.0.0 255.255.0.0
access-list outside_in extended permit udp any host 198.51.100.10 eq isakmp
access-list outside_in extended permit udp any host 198.51.100.10 eq 4500
access-group outside_in in interface outside
{nat}route outside 0.0.0.0 0.0.0.0 192.0.2.1 1
: end
"""


def audit(tmp_path: Path, nat: str) -> dict[str, str]:
    (tmp_path / "cisco").mkdir(parents=True)
    (tmp_path / "cisco" / "old-asa.cfg").write_text(ASA.format(nat=nat))
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2"],
                         "path": ["cisco/old-asa"]}],
        "sources": [{"name": "remote", "prefixes": ["81.2.3.0/24"]}]}))
    result = run_audit(tmp_path)
    return {str(p.trace.flow): str(getattr(p.verdict, "value", p.verdict)) for p in result.paths}


def test_outbound_pat_and_nat_exemption_change_nothing_inbound(tmp_path: Path) -> None:
    plain = audit(tmp_path / "a", "")
    assert plain["udp/500"] == "allowed"
    pat = audit(tmp_path / "b", "global (outside) 1 interface\nnat (inside) 0 access-list inside_nat0_outbound\n"
                                "nat (inside) 1 0.0.0.0 0.0.0.0\nnat (dmz) 1 198.51.100.0 255.255.255.0 tcp 0 0\n")
    assert pat == plain


def test_outside_nat_translates_the_clients_and_stays_unknown(tmp_path: Path) -> None:
    got = audit(tmp_path, "global (dmz) 5 198.51.100.200\nnat (outside) 5 0.0.0.0 0.0.0.0 outside\n")
    assert got["udp/500"] == "unknown"
