"""Private sources that enter at a Cisco device, on their way on (issue 22 item 7): a device translates only what
its NAT lines say, a server behind it is reached without crossing the internet, and what leaves an edge router
untranslated is not "some public address" a NAT nobody configured gave it."""

from __future__ import annotations

from pathlib import Path

from auditor.audit import run_audit
from auditor.model import Decision
from auditor.trace import FlowTrace


def router(nat: str = "", lan_nat: str = "", uplink: str = "203.0.113.34 255.255.255.252",
           gateway: str = "203.0.113.33", srv_out: str = " 20 permit ip any any") -> str:
    return f"""hostname br-edge-03
!
interface GigabitEthernet0/0
 description WAN
 ip address {uplink}
{nat and " ip nat outside"}
!
interface GigabitEthernet0/1
 description Branch LAN
 ip address 192.168.10.1 255.255.255.0
{lan_nat}
!
interface GigabitEthernet0/2
 description Servers
 ip address 192.168.20.1 255.255.255.0
 ip access-group SRV-OUT out
!
{nat}
ip route 0.0.0.0 0.0.0.0 {gateway}
!
ip access-list standard NAT-LIST
 permit 192.168.10.0 0.0.0.127
!
ip access-list extended SRV-OUT
 10 deny udp host 198.51.100.77 eq 9202 host 192.168.20.10
{srv_out}
!
end
"""


def audit(tmp_path: Path, config: str, server: str, prefixes: str = "192.168.10.5/32") -> dict[str, FlowTrace]:
    (tmp_path / "cisco").mkdir(parents=True)
    (tmp_path / "cisco" / "br-edge-03.cfg").write_text(config)
    (tmp_path / "audit.yaml").write_text(
        f"vpn_servers:\n  - {{name: vpn, address: {server}, protocols: [ikev2, sstp]}}\n"
        f"sources:\n  - {{name: lan, prefixes: [{prefixes}], enters: 'cisco/br-edge-03:GigabitEthernet0/1'}}\n")
    return {str(p.trace.flow): p.trace for p in run_audit(tmp_path).paths}


def test_a_router_without_nat_translates_nothing_for_a_server_behind_it(tmp_path: Path) -> None:
    """No `ip nat` line, the server on a connected network: nothing translates the source (there was an invented
    "NAT to the internet" that gave it every public address, 198.51.100.77 among them, so the unrelated
    source-port entry on line 10 made IKE partial, naming addresses the source never has)."""
    traces = audit(tmp_path, router(), "192.168.20.10")
    assert {t.verdict for t in traces.values()} == {"allowed"}
    ike = traces["udp/500"]
    assert ike.allowed.describe_sources() == "192.168.10.5"
    last = ike.hops[-1]
    assert last.hop.stage == "nat to the internet" and last.decision is Decision.PERMIT
    assert last.segments[0].reason == "routed to a network behind cisco/br-edge-03, not to the internet: not translated"


def test_a_router_without_nat_and_a_public_uplink_blocks_private_sources_to_the_internet(tmp_path: Path) -> None:
    traces = audit(tmp_path, router(), "198.51.100.10")
    ike = traces["udp/500"]
    assert ike.verdict == "blocked"
    hop, seg = ike.blocked[0]
    assert (hop.device, hop.stage) == ("cisco/br-edge-03", "nat to the internet")
    assert seg.reason.startswith("cisco/br-edge-03 translates nothing (no `ip nat` line) and its internet interface "
                                 "GigabitEthernet0/0 (203.0.113.34) has a public address")
    # behind a private uplink some NAT beyond may translate them: every public address, as before
    behind = audit(tmp_path / "private", router(uplink="10.255.0.2 255.255.255.252", gateway="10.255.0.1"),
                   "198.51.100.10")
    assert behind["udp/500"].verdict == "allowed"
    assert behind["udp/500"].hops[-1].decision is Decision.TRANSLATE


def test_a_nat_list_covering_part_of_the_lan_leaves_the_rest_untranslated(tmp_path: Path) -> None:
    nat = "ip nat inside source list NAT-LIST interface GigabitEthernet0/0 overload"
    traces = audit(tmp_path, router(nat=nat, lan_nat=" ip nat inside"), "198.51.100.10", "192.168.10.0/24")
    ike = traces["udp/500"]
    assert ike.verdict == "partial"
    assert ike.allowed.describe_sources() == "203.0.113.34"  # what NAT-LIST (192.168.10.0/25) translates
    hop, seg = ike.blocked[0]
    assert hop.stage == "nat to the internet" and seg.packets.describe_sources() == "192.168.10.128/25"
    assert "no NAT line of cisco/br-edge-03 translates these private sources" in seg.reason
    # the server behind the router is reached untranslated by the whole LAN
    inside = audit(tmp_path / "inside", router(nat=nat, lan_nat=" ip nat inside"), "192.168.20.10",
                   "192.168.10.0/24")
    assert inside["udp/500"].verdict == "allowed"


def test_a_source_port_entry_catches_ike_only_when_the_source_port_matches(tmp_path: Path) -> None:
    """IKE leaves the client from the port it is sent to (500, or 4500 after NAT detection): an entry that matches
    another source port (9202) does not catch it (it made IKE partial); one that matches 500 does. After a NAT that
    maps ports (PAT), any source port is possible again."""
    other = router(srv_out=" 15 deny udp 192.168.10.0 0.0.0.255 eq 9202 host 192.168.20.10\n 20 permit ip any any")
    traces = audit(tmp_path, other, "192.168.20.10")
    assert {t.verdict for t in traces.values()} == {"allowed"}
    same = router(srv_out=" 15 deny udp 192.168.10.0 0.0.0.255 eq isakmp host 192.168.20.10\n 20 permit ip any any")
    traces = audit(tmp_path / "500", same, "192.168.20.10")
    assert traces["udp/500"].verdict == "blocked" and traces["tcp/443"].verdict == "allowed"
    nat = "ip nat inside source list NAT-LIST interface GigabitEthernet0/0 overload"
    translated = audit(tmp_path / "pat", router(nat=nat, lan_nat=" ip nat inside"), "198.51.100.10")
    assert {box[3] for box in translated["udp/500"].allowed.boxes} == {(0, 65535)}
