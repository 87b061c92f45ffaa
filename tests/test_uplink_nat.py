"""The MX's NAT to its uplink address: rules in front of the VPN server see the store's public address, never
its VLAN address (the internet does not carry RFC 1918 sources)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from auditor.audit import AuditResult, run_audit
from auditor.snapshot import SnapshotError

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
EDGE = "cisco/hq-edge.cfg"
UPLINKS = "meraki/organizations/549236/appliance/uplink/statuses.json"
ANTI_SPOOF = (" 5 deny   ip 10.0.0.0 0.255.255.255 any\n 6 deny   ip 172.16.0.0 0.15.255.255 any\n"
              " 7 deny   ip 192.168.0.0 0.0.255.255 any\n")


def demo(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(DEMO, root)
    return root


def edit(root: Path, rel: str, old: str, new: str) -> None:
    text = (root / rel).read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    (root / rel).write_text(text.replace(old, new), encoding="utf-8")


def by_network(result: AuditResult, network: str) -> Counter:
    return Counter(p.verdict for p in result.paths if p.role.network_name == network)


def test_anti_spoofing_denies_on_the_perimeter_do_not_block_natted_stores(tmp_path: Path) -> None:
    before = run_audit(DEMO).counts()
    root = demo(tmp_path)
    edit(root, EDGE, " 10 deny   ip host 203.0.113.66 any\n", ANTI_SPOOF + " 10 deny   ip host 203.0.113.66 any\n")
    assert run_audit(root).counts() == before == {"allowed": 324, "blocked": 27, "partial": 0, "unknown": 15}
    # Without the uplink file the public address is unknown, but it is still public: RFC 1918 denies never
    # decide; the one public host line 10 denies leaves the paths partial, saying so.
    (root / UPLINKS).unlink()
    result = run_audit(root)
    assert result.counts() == {"allowed": 0, "blocked": 27, "partial": 324, "unknown": 15}
    reasons = {p.trace.reason for p in result.paths if p.verdict == "partial" and str(p.trace.flow) == "udp/500"}
    assert reasons == {
        "udp/500 is blocked at cisco/hq-edge (acl-in INTERNET-IN on GigabitEthernet0/0/0) by line 31 of "
        "cisco/hq-edge.cfg (10 deny   ip "  # line 28 of the demo, after the three anti-spoofing lines
        f"host 203.0.113.66 any) if the public address it is translated to ({network} / MX, uplink-nat) is "
        "203.0.113.66, and allowed from any other: that address is not in the snapshot."
        for network in ("Store 14", "Store 22", "Store 31", "HQ")}


def test_perimeter_permitting_one_store_address_decides_per_store(tmp_path: Path) -> None:
    root = demo(tmp_path)
    edit(root, EDGE, " 20 permit udp any host 198.51.100.10 eq isakmp",
         " 20 permit udp host 192.0.2.14 host 198.51.100.10 eq isakmp")
    result = run_audit(root)

    def ike(audit: AuditResult) -> dict[tuple, str]:
        return {(p.role.network_name, p.role.key, p.server.name): p.verdict for p in audit.paths
                if str(p.trace.flow) == "udp/500" and p.protocol == "ikev2"}

    now, before = ike(result), ike(run_audit(DEMO))
    assert {k: v for k, v in now.items() if k[0] == "Store 14"} == {k: v for k, v in before.items()
                                                                    if k[0] == "Store 14"}
    others = {k: (before[k], v) for k, v in now.items() if k[0] != "Store 14"}
    assert {b for b, _ in others.values()} >= {"allowed"}
    assert all(v == "blocked" for b, v in others.values() if b == "allowed"), others
    blocked = next(p for p in result.paths if p.role.network_name == "Store 31" and p.verdict == "blocked"
                   and str(p.trace.flow) == "udp/500" and p.role.kind == "vlan" and p.role.name == "Staff")
    assert blocked.trace.reason == ("udp/500 is blocked at cisco/hq-edge (acl-in INTERNET-IN on "
                                    "GigabitEthernet0/0/0) by line 38 of cisco/hq-edge.cfg (80 deny   ip any any "
                                    "log).")
    nat = next(h for h in blocked.trace.hops if h.hop.stage == "uplink-nat")
    assert nat.segments[0].reason == "sources translated to the MX's uplink address 192.0.2.31, 192.0.2.131"


def test_standby_uplink_on_a_denied_address_makes_the_store_partial(tmp_path: Path) -> None:
    root = demo(tmp_path)
    edit(root, UPLINKS, '"publicIp": "192.0.2.131"', '"publicIp": "203.0.113.66"')
    result = run_audit(root)
    assert by_network(result, "Store 14") == by_network(run_audit(DEMO), "Store 14")
    store31 = by_network(result, "Store 31")
    assert store31["partial"] > 0 and store31["allowed"] == 0
    path = next(p for p in result.paths if p.role.network_name == "Store 31" and p.verdict == "partial"
                and str(p.trace.flow) == "tcp/443")
    assert path.trace.reason == (
        "tcp/443 is blocked for the translated address (Store 31 / MX, uplink-nat) 203.0.113.66 at cisco/hq-edge "
        "(acl-in INTERNET-IN on "
        "GigabitEthernet0/0/0) by line 28 of cisco/hq-edge.cfg (10 deny   ip host 203.0.113.66 any) \"Abuse source "
        "from the 2025 "
        "incident\"; allowed for 192.0.2.31.")


@pytest.mark.parametrize(("old", "new", "message"), [
    ('"publicIp": "192.0.2.22"', '"publicIp": "192.0.2.x"', "bad publicIp '192.0.2.x'"),
    ('"uplinks": [\n      {"interface": "wan1", "status": "active", "ip": "192.0.2.22"',
     '"uplinks": {"wan1": [{"interface": "wan1", "status": "active", "ip": "192.0.2.22"', None),
])
def test_malformed_uplink_statuses_name_the_file(tmp_path: Path, old: str, new: str, message: str | None) -> None:
    root = demo(tmp_path)
    if message is None:  # 'uplinks' an object, not a list
        body = json.loads((root / UPLINKS).read_text())
        body[1]["uplinks"] = {"wan1": body[1]["uplinks"]}
        (root / UPLINKS).write_text(json.dumps(body))
    else:
        edit(root, UPLINKS, old, new)
    with pytest.raises(SnapshotError) as err:
        run_audit(root)
    assert UPLINKS in str(err.value)
    if message:
        assert message in str(err.value)


def test_private_source_prefixes_reach_the_server_side_translated(tmp_path: Path) -> None:
    root = demo(tmp_path)
    edit(root, EDGE, " 10 deny   ip host 203.0.113.66 any\n", ANTI_SPOOF)  # only the anti-spoofing denies
    with (root / "audit.yaml").open("a", encoding="utf-8") as handle:
        handle.write("sources:\n  - {name: branch-lan, prefixes: [192.168.10.0/24]}\n"
                     "  - {name: partner, prefixes: [192.0.2.128/25]}\n")
    result = run_audit(root)
    lan = {str(p.trace.flow): p.trace for p in result.paths if p.role.name == "branch-lan"}
    assert {t.verdict for t in lan.values()} == {"allowed"}  # not blocked by the deny of 192.168.0.0/16
    nat = lan["udp/500"].hops[0]
    assert (nat.hop.device, nat.hop.stage) == ("audit.yaml source 'branch-lan'", "nat to the internet")
    partner = {str(p.trace.flow): p.trace for p in result.paths if p.role.name == "partner"}
    assert {t.verdict for t in partner.values()} == {"allowed"}
    assert partner["udp/500"].hops[0].hop.device == "cisco/hq-edge"  # a public prefix is not translated


def test_network_without_an_mx_reaches_the_server_side_from_an_unknown_public_address(tmp_path: Path) -> None:
    root = demo(tmp_path)
    edit(root, EDGE, " 10 deny   ip host 203.0.113.66 any\n", ANTI_SPOOF)
    networks = root / "meraki/organizations/549236/networks.json"
    body = json.loads(networks.read_text())
    next(n for n in body if n["name"] == "Store 22")["productTypes"] = ["switch", "wireless"]
    networks.write_text(json.dumps(body))
    result = run_audit(root)
    store22 = [p for p in result.paths if p.role.network_name == "Store 22"]
    assert store22 and {p.role.kind for p in store22} == {"ssid", "ipsk", "group_policy"}  # no MX: no VLAN roles
    # the gateway's public address is unknown, but it is public: the RFC 1918 denies never decide
    assert {p.verdict for p in store22} == {"allowed", "blocked", "unknown"}
    assert not any(hop.device == "cisco/hq-edge" for p in store22 for hop, _ in p.trace.blocked)
    allowed = next(p for p in store22 if p.verdict == "allowed")
    stages = [(r.hop.device, r.hop.stage, r.decision.value) for r in allowed.trace.hops]
    at = stages.index(("Store 22", "gateway", "permit"))
    assert stages[at + 1:at + 3] == [("Store 22", "gateway-nat", "translate"),
                                     ("cisco/hq-edge", "acl-in INTERNET-IN on GigabitEthernet0/0/0", "permit")]
