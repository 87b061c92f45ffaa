"""A pool member port written as a service name the tool does not know (`ms-wbt-server`, any /etc/services
name not in its table; `l2f`, the name of 1701, was such a name until it was added) was read as "no port", so
the member seemed to keep the client's port. Behind the BIG-IP a router that passes only UDP 500/4500 to the
servers then looked passable: the numeric form of the same member port (1701) is blocked, the named form was
reported allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from auditor.audit import run_audit
from tests.test_lb_f5_paths import VIP, conf

INNER = """!
hostname inner
!
interface GigabitEthernet0/0
 ip address 10.20.1.1 255.255.255.0
!
interface GigabitEthernet0/1
 ip address 10.20.0.1 255.255.255.0
 ip access-group TO-VPN out
!
ip access-list extended TO-VPN
 permit udp any 10.20.0.0 0.0.0.255 eq isakmp
 permit udp any 10.20.0.0 0.0.0.255 eq non500-isakmp
 permit tcp any 10.20.0.0 0.0.0.255 eq 443
 deny ip any any
!
ip route 0.0.0.0 0.0.0.0 10.20.1.2
!
end
"""


def natt_verdict(root: Path, member_port: str) -> str:
    (root / "f5").mkdir(parents=True)
    (root / "cisco").mkdir()
    (root / "f5" / "edge.conf").write_text(conf(pool4500_port=member_port))
    (root / "cisco" / "inner.cfg").write_text(INNER)
    (root / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": VIP, "protocols": ["ikev2"], "path": ["f5/edge", "cisco/inner"]}],
        "sources": [{"name": "internet", "prefixes": ["0.0.0.0/0"]}]}))
    return next(p.verdict for p in run_audit(root).paths if str(p.trace.flow) == "udp/4500")


@pytest.mark.parametrize(("member_port", "expected"), [
    ("4500", "allowed"),
    ("ipsec-nat-t", "allowed"),
    ("1701", "blocked"),
    ("l2f", "blocked"),  # was "allowed": the name was read as the client's port (4500); now 1701, as tmsh names it
    ("ms-wbt-server", "unknown"),  # a name not in the table: unknown, never the client's port
])
def test_member_port_names_the_tool_cannot_read_are_not_the_clients_port(tmp_path: Path, member_port: str,
                                                                         expected: str) -> None:
    assert natt_verdict(tmp_path, member_port) == expected
