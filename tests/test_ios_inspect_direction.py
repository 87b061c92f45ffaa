"""CBAC `ip inspect NAME out` on the outside interface inspects only what leaves through it (Cisco
IOS Security Command Reference, `ip inspect`: "out Applies the inspection rules to outbound interface"; CBAC
"create[s] temporary openings in the firewall's access lists to allow return traffic"). It cannot decide new
sessions that enter there: the inbound list does. `in` (inspection of what enters) stays unknown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.audit import run_audit

CFG = """!
hostname edge
!
ip inspect name FW tcp
ip inspect name FW udp
!
interface GigabitEthernet0/0
 ip address 192.0.2.1 255.255.255.252
 ip access-group FROM-INTERNET in
INSPECT!
interface GigabitEthernet0/1
 ip address 203.0.113.1 255.255.255.0
!
ip access-list extended FROM-INTERNET
 permit udp any host 203.0.113.10 eq isakmp
 permit udp any host 203.0.113.10 eq non500-isakmp
 permit esp any host 203.0.113.10
 permit tcp any host 203.0.113.10 eq 443
 deny ip any any
!
ip route 0.0.0.0 0.0.0.0 192.0.2.2
!
end
"""


def verdicts(tmp_path: Path, inspect: str) -> set[str]:
    (tmp_path / "cisco").mkdir(parents=True)
    (tmp_path / "cisco" / "edge.cfg").write_text(CFG.replace("INSPECT", inspect))
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": "203.0.113.10", "protocols": ["ikev2", "sstp"],
                         "path": ["cisco/edge"]}],
        "sources": [{"name": "partners", "prefixes": ["198.51.100.0/24"]}]}))
    return {p.verdict for p in run_audit(tmp_path).paths}


@pytest.mark.parametrize(("inspect", "expected"), [
    ("", {"allowed"}),
    (" ip inspect FW out\n", {"allowed"}),  # outbound inspection: inbound sessions are the ACL's to decide
    (" ip inspect FW in\n", {"unknown"}),
])
def test_outbound_cbac_on_the_outside_interface_does_not_decide_inbound_vpn(tmp_path: Path, inspect: str,
                                                                            expected: set[str]) -> None:
    assert verdicts(tmp_path, inspect) == expected
