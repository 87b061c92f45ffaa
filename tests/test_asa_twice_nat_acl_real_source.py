"""On an ASA 8.3+ the inbound access-list names real (untranslated) addresses ([ASA-ACL],
"IP Addresses Used for Access Lists When You Use NAT"): the server's real address, and the client's own address
as it arrives. A twice NAT whose `destination static MAPPED_DST REAL_DST` translates the clients (inbound: REAL_DST ->
MAPPED_DST) must not show the access-list the mapped client addresses."""

from __future__ import annotations

import json
from pathlib import Path

import auditor.vendors  # noqa: F401  (installs the shipped vendors)
from auditor.audit import run_audit

ASA = """ASA Version 9.12(4)
hostname tw-asa
interface GigabitEthernet1/1
 nameif outside
 security-level 0
 ip address 198.51.100.2 255.255.255.0
interface GigabitEthernet1/2
 nameif inside
 security-level 100
 ip address 10.10.0.1 255.255.255.0
object network SRV
 host 10.10.0.10
object network PUB
 host 198.51.100.10
object network CLI_REAL
 subnet 81.2.3.0 255.255.255.0
object network CLI_MAPPED
 subnet 10.99.0.0 255.255.255.0
nat (inside,outside) source static SRV PUB destination static CLI_MAPPED CLI_REAL
access-list OUTSIDE_IN extended permit udp {clients} host 10.10.0.10 eq isakmp
access-list OUTSIDE_IN extended permit udp {clients} host 10.10.0.10 eq 4500
access-group OUTSIDE_IN in interface outside
route outside 0.0.0.0 0.0.0.0 198.51.100.1 1
: end
"""


def audit(tmp_path: Path, clients: str) -> dict[str, str]:
    (tmp_path / "cisco").mkdir(parents=True)
    (tmp_path / "cisco" / "tw-asa.cfg").write_text(ASA.format(clients=clients))
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2"]}],
        "sources": [{"name": "remote", "prefixes": ["81.2.3.0/24"]}]}))
    result = run_audit(tmp_path)
    return {str(p.trace.flow): str(getattr(p.verdict, "value", p.verdict)) for p in result.paths}


def test_the_access_list_sees_the_clients_real_addresses_not_the_twice_nat_mapped_ones(tmp_path: Path) -> None:
    # The list permits only the mapped client addresses: the ASA checks the clients' real ones, 81.2.3.0/24.
    assert set(audit(tmp_path / "a", "10.99.0.0 255.255.255.0").values()) == {"blocked"}
    # The list names the clients' real addresses: permitted.
    assert set(audit(tmp_path / "b", "81.2.3.0 255.255.255.0").values()) == {"allowed"}
