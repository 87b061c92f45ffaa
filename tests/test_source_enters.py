"""audit.yaml sources that `enter` at a Cisco interface: the filters of that device decide first, and what
cannot be evaluated there is unknown, never allowed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.audit import AuditResult, run_audit
from auditor.cli import app
from auditor.model import Decision
from auditor.report.json_report import render
from auditor.snapshot import SnapshotError
from auditor.trace import FlowTrace

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
SERVER = "vpn_servers:\n  - {name: corp-vpn, address: 198.51.100.10, protocols: [ikev2, sstp]}\n"


def branch_router(lan_in: str = " 10 permit ip any any", wan_out: str = " 10 permit ip any any") -> str:
    """An IOS branch router: LAN on Gi0/1 (LAN-IN inbound), internet on Gi0/0 (WAN-OUT outbound)."""
    return f"""hostname br-edge-02
!
interface GigabitEthernet0/0
 description WAN
 ip address 203.0.113.34 255.255.255.252
 ip access-group WAN-OUT out
 ip nat outside
!
interface GigabitEthernet0/1
 description Branch LAN
 ip address 192.168.10.1 255.255.255.0
 ip access-group LAN-IN in
 ip nat inside
!
ip nat inside source list NAT-LIST interface GigabitEthernet0/0 overload
ip route 0.0.0.0 0.0.0.0 203.0.113.33
!
ip access-list standard NAT-LIST
 permit 192.168.10.0 0.0.0.255
!
ip access-list extended LAN-IN
{lan_in}
!
ip access-list extended WAN-OUT
{wan_out}
!
end
"""


def write_snapshot(root: Path, configs: dict[str, str], sources: str, servers: str = SERVER) -> Path:
    (root / "cisco").mkdir(parents=True)
    for name, text in configs.items():
        (root / "cisco" / f"{name}.cfg").write_text(text, encoding="utf-8")
    (root / "audit.yaml").write_text(servers + "sources:\n" + sources, encoding="utf-8")
    return root


def traces(result: AuditResult, source: str) -> dict[str, FlowTrace]:
    return {str(p.trace.flow): p.trace for p in result.paths if p.role.name == source}


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_lan_inbound_acl_denying_ike_blocks_the_source_and_names_the_line(tmp_path: Path) -> None:
    config = branch_router(" 10 deny udp 192.168.10.0 0.0.0.255 any eq isakmp\n 20 permit ip any any")
    snap = write_snapshot(tmp_path, {"br-edge-02": config},
                          "  - {name: branch-lan, prefixes: [192.168.10.0/24], "
                          "enters: 'cisco/br-edge-02:GigabitEthernet0/1'}\n"
                          "  - {name: lab, prefixes: [192.168.10.0/24]}\n")
    result = run_audit(snap)
    branch = traces(result, "branch-lan")
    ike = branch["udp/500"]
    assert ike.verdict == "blocked" and ike.variant == "cisco/br-edge-02:GigabitEthernet0/1"
    hop, seg = ike.blocked[0]
    assert (hop.device, hop.stage) == ("cisco/br-edge-02", "acl-in LAN-IN on GigabitEthernet0/1")
    assert seg.rule is not None and seg.rule.position == 10
    assert str(seg.rule.origin) == f"cisco/br-edge-02.cfg:{line_of(config, '10 deny udp')}"
    assert ike.reason == ("udp/500 is blocked at cisco/br-edge-02 (acl-in LAN-IN on GigabitEthernet0/1) by line "
                          f"{line_of(config, '10 deny udp')} of cisco/br-edge-02.cfg "
                          "(10 deny udp 192.168.10.0 0.0.0.255 any eq isakmp).")
    assert branch["udp/4500"].verdict == "allowed" and branch["tcp/443"].verdict == "allowed"
    (finding,) = [f for f in result.findings if f.check.id == "VPN-BLOCKED"]
    assert finding.role == {"kind": "source", "name": "branch-lan", "ssid": None}
    assert finding.evidence["flows"] == ["udp/500"]
    # the same addresses from the internet never meet the branch router
    assert {t.verdict for t in traces(result, "lab").values()} == {"allowed"}
    assert traces(result, "lab")["udp/500"].variant == "internet"


def test_lan_acl_permitting_allows_with_the_entry_hops_in_the_trace_and_json(tmp_path: Path) -> None:
    config = branch_router(" 10 permit udp 192.168.10.0 0.0.0.255 any eq isakmp\n"
                           " 20 permit udp 192.168.10.0 0.0.0.255 any eq non500-isakmp\n"
                           " 30 permit tcp 192.168.10.0 0.0.0.255 any eq 443\n 40 deny ip any any")
    snap = write_snapshot(tmp_path, {"br-edge-02": config},
                          "  - {name: branch-lan, prefixes: [192.168.10.0/24], enters: 'cisco/br-edge-02:gi0/1'}\n")
    result = run_audit(snap)
    ike = traces(result, "branch-lan")["udp/500"]
    assert ike.verdict == "allowed" and ike.reason == "udp/500 passes every hop."
    lan, nat, wan, internet = ike.hops
    assert (lan.hop.stage, lan.decision) == ("acl-in LAN-IN on GigabitEthernet0/1", Decision.PERMIT)
    # IOS translates (ip nat inside source list NAT-LIST interface Gi0/0 overload) before the outbound list
    assert (nat.hop.stage, nat.decision) == ("nat inside GigabitEthernet0/1", Decision.TRANSLATE)
    assert nat.segments[0].reason == f"translated by line {line_of(config, 'ip nat inside source')} to 203.0.113.34"
    assert ike.allowed.describe_sources() == "203.0.113.34"
    # ... so the source is public already, and the NAT on the way to the internet leaves it as it is
    assert (internet.hop.stage, internet.decision) == ("nat to the internet", Decision.PERMIT)
    assert lan.segments[0].rule is not None and lan.segments[0].rule.text.startswith("10 permit udp")
    assert (wan.hop.stage, wan.decision) == ("acl-out (interface toward the server)", Decision.PERMIT)
    assert wan.segments[0].rule is not None and wan.segments[0].rule.text == "10 permit ip any any"
    assert {str(p.trace.flow): p.verdict for p in result.paths} == {"udp/500": "allowed", "udp/4500": "allowed",
                                                                     "tcp/443": "allowed"}
    report = json.loads(render(result))
    path = next(p for p in report["paths"] if p["flow"]["dst_port"] == 500)
    assert path["role"] == {"kind": "source", "name": "branch-lan", "ssid": None} and path["network"] is None
    assert [(h["device"], h["stage"], h["decision"]) for h in path["hops"]] == [
        ("cisco/br-edge-02", "acl-in LAN-IN on GigabitEthernet0/1", "permit"),
        ("cisco/br-edge-02", "nat inside GigabitEthernet0/1", "translate"),
        ("cisco/br-edge-02", "acl-out (interface toward the server)", "permit"),
        ("cisco/br-edge-02", "nat to the internet", "permit")]
    assert path["hops"][0]["rule"]["source"] == f"cisco/br-edge-02.cfg:{line_of(config, '10 permit udp')}"


def test_wan_outbound_acl_denying_nat_t_blocks_there(tmp_path: Path) -> None:
    config = branch_router(wan_out=" 10 deny udp any any eq non500-isakmp\n 20 permit ip any any")
    snap = write_snapshot(tmp_path, {"br-edge-02": config},
                          "  - {name: branch-lan, prefixes: [192.168.10.0/24], "
                          "enters: 'cisco/br-edge-02:GigabitEthernet0/1'}\n")
    branch = traces(run_audit(snap), "branch-lan")
    natt = branch["udp/4500"]
    assert natt.verdict == "blocked"
    hop, seg = natt.blocked[0]
    assert hop.stage == "acl-out (interface toward the server)" and seg.rule is not None
    assert seg.rule.text == "10 deny udp any any eq non500-isakmp"
    assert str(seg.rule.origin) == f"cisco/br-edge-02.cfg:{line_of(config, '10 deny udp any any')}"
    assert ("blocked at cisco/br-edge-02 (acl-out (interface toward the server)) by line "
            f"{line_of(config, '10 deny udp any any')} of cisco/br-edge-02.cfg") in natt.reason
    assert branch["udp/500"].verdict == "allowed" and branch["tcp/443"].verdict == "allowed"



EGRESS_PAT_ONLY = " 10 permit udp host 203.0.113.34 any\n 20 permit tcp host 203.0.113.34 any\n 30 deny ip any any"
ANTI_LEAK = " 10 deny ip 192.168.0.0 0.0.255.255 any\n 20 permit ip any any"


def branch_source(tmp_path: Path, config: str) -> dict[str, FlowTrace]:
    snap = write_snapshot(tmp_path, {"br-edge-02": config}, "  - {name: branch-lan, prefixes: [192.168.10.0/24], "
                                                           "enters: 'cisco/br-edge-02:GigabitEthernet0/1'}\n")
    return traces(run_audit(snap), "branch-lan")


def verdicts_of(branch: dict[str, FlowTrace]) -> dict[str, str]:
    return {flow: t.verdict for flow, t in branch.items()}


@pytest.mark.parametrize("wan_out", [EGRESS_PAT_ONLY, ANTI_LEAK])
def test_outbound_acl_sees_the_source_inside_nat_translated_it_to(tmp_path: Path, wan_out: str) -> None:
    # Egress filtering that permits only the router's own (PAT) address, and an anti-leak deny of RFC 1918:
    # IOS applies inside NAT before the outbound list, so both pass the branch's traffic.
    branch = branch_source(tmp_path, branch_router(wan_out=wan_out))
    assert verdicts_of(branch) == {"udp/500": "allowed", "udp/4500": "allowed", "tcp/443": "allowed"}


def test_sources_the_nat_list_does_not_match_leave_untranslated(tmp_path: Path) -> None:
    config = branch_router(wan_out=ANTI_LEAK).replace(" permit 192.168.10.0 0.0.0.255",
                                                      " permit 192.168.99.0 0.0.0.255")
    branch = branch_source(tmp_path, config)
    assert verdicts_of(branch) == {"udp/500": "blocked", "udp/4500": "blocked", "tcp/443": "blocked"}
    nat = branch["udp/500"].hops[1]
    assert nat.decision is Decision.PERMIT
    assert nat.segments[0].reason == "no `ip nat inside source` line matches: leaves with its own address"
    assert (f"by line {line_of(config, '10 deny ip 192.168.0.0')} of cisco/br-edge-02.cfg "
            "(10 deny ip 192.168.0.0 0.0.255.255 any)") in branch["udp/500"].reason


def test_static_nat_of_one_host_comes_before_the_overload(tmp_path: Path) -> None:
    config = branch_router(wan_out=EGRESS_PAT_ONLY).replace(
        "ip nat inside source list", "ip nat inside source static 192.168.10.5 203.0.113.35\nip nat inside source list")
    branch = branch_source(tmp_path, config)
    assert verdicts_of(branch) == {"udp/500": "partial", "udp/4500": "partial", "tcp/443": "partial"}
    assert branch["udp/500"].reason == (
        "udp/500 is blocked for the translated address (cisco/br-edge-02, nat inside GigabitEthernet0/1) "
        "203.0.113.35 at cisco/br-edge-02 (acl-out (interface toward the server)) by line "
        f"{line_of(config, '30 deny ip any any')} of cisco/br-edge-02.cfg (30 deny ip any any); "
        "allowed for 203.0.113.34.")


def test_inside_nat_applies_only_toward_an_outside_interface(tmp_path: Path) -> None:
    # The server is reached through a private link (Gi0/2, not `ip nat outside`): no translation there.
    config = branch_router(wan_out=EGRESS_PAT_ONLY).replace(
        "ip route 0.0.0.0 0.0.0.0 203.0.113.33",
        "interface GigabitEthernet0/2\n ip address 10.99.0.1 255.255.255.0\n!\n"
        "ip route 0.0.0.0 0.0.0.0 203.0.113.33\nip route 198.51.100.0 255.255.255.0 10.99.0.2")
    branch = branch_source(tmp_path, config)
    assert verdicts_of(branch)["udp/500"] == "allowed"  # Gi0/2 has no outbound list
    nat = branch["udp/500"].hops[1]
    assert (nat.decision, nat.segments[0].reason) == (
        Decision.PERMIT, "routed out of an interface that is not `ip nat outside`: not translated")
    # With no route at all, neither the translation nor the outbound list can be told
    unrouted = branch_source(tmp_path / "unrouted", config.replace("ip route 0.0.0.0 0.0.0.0 203.0.113.33\n", "")
                             .replace("ip route 198.51.100.0 255.255.255.0 10.99.0.2", ""))
    assert unrouted["udp/500"].verdict == "unknown"
    assert unrouted["udp/500"].unknown[0][1].reason.startswith("no route says which interface")


def test_pool_nat_translates_to_the_pool(tmp_path: Path) -> None:
    config = branch_router(wan_out=" 10 permit ip 198.18.0.0 0.0.0.255 any\n 20 deny ip any any").replace(
        "ip nat inside source list NAT-LIST interface GigabitEthernet0/0 overload",
        "ip nat pool BRANCH 198.18.0.10 198.18.0.11 netmask 255.255.255.0\n"
        "ip nat inside source list NAT-LIST pool BRANCH overload")
    branch = branch_source(tmp_path, config)
    assert verdicts_of(branch)["udp/500"] == "allowed"
    assert branch["udp/500"].hops[1].segments[0].reason.endswith("to 198.18.0.10/31")
    # 198.18.0.0/15 is benchmarking space, not public: the way to the internet translates it again
    assert branch["udp/500"].hops[3].decision is Decision.TRANSLATE


@pytest.mark.parametrize(("nat_line", "reason"), [
    ("ip nat inside source route-map BRANCH-RM interface GigabitEthernet0/0 overload",
     "route-map dynamic NAT is not modelled"),
    ("ip nat inside source list NO-SUCH-LIST interface GigabitEthernet0/0 overload",
     "access-list NO-SUCH-LIST is not defined"),
])
def test_nat_that_cannot_be_read_is_unknown_not_untranslated(tmp_path: Path, nat_line: str, reason: str) -> None:
    config = branch_router(wan_out=EGRESS_PAT_ONLY).replace(
        "ip nat inside source list NAT-LIST interface GigabitEthernet0/0 overload", nat_line)
    branch = branch_source(tmp_path, config)
    assert set(verdicts_of(branch).values()) == {"unknown"}
    hop, seg = branch["udp/500"].unknown[0]
    assert hop.stage == "nat inside GigabitEthernet0/1" and reason in seg.reason


def test_nat_to_a_dhcp_address_is_some_public_address(tmp_path: Path) -> None:
    config = branch_router(wan_out=EGRESS_PAT_ONLY).replace(
        " ip address 203.0.113.34 255.255.255.252", " ip address dhcp").replace(
        "ip route 0.0.0.0 0.0.0.0 203.0.113.33", "ip route 0.0.0.0 0.0.0.0 GigabitEthernet0/0")
    branch = branch_source(tmp_path, config)
    assert verdicts_of(branch) == {"udp/500": "partial", "udp/4500": "partial", "tcp/443": "partial"}
    assert branch["udp/500"].hops[1].segments[0].reason == (
        f"translated by line {line_of(config, 'ip nat inside source')} to GigabitEthernet0/0's address, which is "
        "dhcp: not in the snapshot")
    assert "if the public address it is translated to (cisco/br-edge-02, nat inside GigabitEthernet0/1)" in \
        branch["udp/500"].reason

ASA = """: Saved
ASA Version 9.12(4)
!
hostname br-asa
!
interface GigabitEthernet1/1
 nameif outside
 security-level 0
 ip address 203.0.113.50 255.255.255.248
!
interface GigabitEthernet1/2
 nameif inside
 security-level 100
 ip address 10.30.0.1 255.255.255.0
!
access-list INSIDE_IN extended deny tcp any any eq https
access-list INSIDE_IN extended permit ip any any
access-group INSIDE_IN in interface inside
route outside 0.0.0.0 0.0.0.0 203.0.113.49 1
: end
"""


def test_asa_entry_by_nameif_applies_the_inside_access_group(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path, {"br-asa": ASA},
                          "  - {name: asa-lan, prefixes: [10.30.0.0/24], enters: 'cisco/br-asa:inside'}\n")
    branch = traces(run_audit(snap), "asa-lan")
    sstp = branch["tcp/443"]
    assert sstp.verdict == "blocked"
    hop, seg = sstp.blocked[0]
    assert hop.stage == "acl-in INSIDE_IN (in) on inside" and seg.rule is not None
    assert seg.rule.text == "access-list INSIDE_IN extended deny tcp any any eq https"
    assert branch["udp/500"].verdict == "allowed" and branch["udp/4500"].verdict == "allowed"


def test_entry_device_missing_from_the_snapshot_is_unknown_and_a_data_gap(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path, {"br-edge-02": branch_router()},
                          "  - {name: branch-lan, prefixes: [192.168.10.0/24], enters: 'cisco/br-edge-09:Gi0/1'}\n")
    result = run_audit(snap)
    branch = traces(result, "branch-lan")
    assert {t.verdict for t in branch.values()} == {"unknown"}
    why = ("audit.yaml source 'branch-lan' enters at device 'cisco/br-edge-09', which is not in the snapshot: "
           "collect its configuration, or correct `enters` (devices: cisco/br-edge-02)")
    assert branch["udp/500"].reason == f"udp/500 is unknown at cisco/br-edge-09 (entry): {why}."
    gaps = [f for f in result.findings if f.check.id == "DATA-GAP"]
    assert [(f.evidence["file"], f.evidence["reason"]) for f in gaps] == [("audit.yaml", why)]


def test_interface_not_on_the_device_is_unknown(tmp_path: Path) -> None:
    snap = write_snapshot(tmp_path, {"br-edge-02": branch_router()},
                          "  - {name: branch-lan, prefixes: [192.168.10.0/24], "
                          "enters: 'cisco/br-edge-02:GigabitEthernet0/9'}\n")
    branch = traces(run_audit(snap), "branch-lan")
    assert {t.verdict for t in branch.values()} == {"unknown"}
    record, nat = branch["udp/4500"].hops
    assert record.decision is Decision.UNKNOWN and record.hop.stage == "entry at GigabitEthernet0/9"
    assert nat.unknown_in and nat.hop.stage == "nat to the internet"
    assert record.segments[0].reason == (
        "audit.yaml `enters` names interface 'GigabitEthernet0/9', which cisco/br-edge-02 does not have "
        "(cisco/br-edge-02.cfg defines: GigabitEthernet0/0, GigabitEthernet0/1)")


def test_entry_device_with_an_incomplete_configuration_is_unknown(tmp_path: Path) -> None:
    cut = branch_router(" 10 permit ip any any").removesuffix("end\n")
    snap = write_snapshot(tmp_path, {"br-edge-02": cut},
                          "  - {name: branch-lan, prefixes: [192.168.10.0/24], "
                          "enters: 'cisco/br-edge-02:GigabitEthernet0/1'}\n")
    branch = traces(run_audit(snap), "branch-lan")
    assert {t.verdict for t in branch.values()} == {"unknown"}
    assert "cisco/br-edge-02.cfg does not end with `end`" in branch["tcp/443"].reason


EDGE = """hostname br-edge-01
!
interface GigabitEthernet0/0
 description Internet uplink
 ip address 203.0.113.2 255.255.255.248
 ip access-group WAN-IN in
 ip nat outside
!
interface GigabitEthernet0/1
 description Server LAN
 ip address 192.168.50.1 255.255.255.0
 ip nat inside
!
interface GigabitEthernet0/2
 description Staff LAN
 ip address 192.168.10.1 255.255.255.0
 ip nat inside
!
ip nat inside source static tcp 192.168.50.10 443 interface GigabitEthernet0/0 443
ip route 0.0.0.0 0.0.0.0 203.0.113.1
!
ip access-list extended WAN-IN
 10 deny ip any any
!
end
"""


def test_source_entering_the_device_in_front_of_the_server_is_unknown_not_blocked(tmp_path: Path) -> None:
    servers = ("vpn_servers:\n  - {name: corp-vpn, address: 203.0.113.2, protocols: [sstp]}\n"
               "  - {name: cloud-vpn, address: 198.51.100.10, protocols: [sstp]}\n")
    snap = write_snapshot(tmp_path, {"br-edge-01": EDGE},
                          "  - {name: staff-lan, prefixes: [192.168.10.0/24], "
                          "enters: 'cisco/br-edge-01:GigabitEthernet0/2'}\n"
                          "  - {name: lab, prefixes: [10.0.0.0/24]}\n", servers)
    result = run_audit(snap)
    by_server = {p.server.name: p.trace for p in result.paths if p.role.name == "staff-lan"}
    corp = by_server["corp-vpn"]
    # WAN-IN denies everything from the internet, but staff traffic never crosses it
    assert corp.verdict == "unknown" and not corp.blocked
    (record,) = corp.hops
    assert (record.hop.device, record.hop.stage) == ("cisco/br-edge-01", "entry at GigabitEthernet0/2")
    assert ("enters at cisco/br-edge-01, which is placed in front of VPN server corp-vpn: traffic from its inside "
            "reaches a server directly or by hairpin NAT, neither of which is modelled") in corp.reason
    # one variant serves every server: the server br-edge-01 does not front is left unknown too, with the reason
    assert by_server["cloud-vpn"].verdict == "unknown" and by_server["cloud-vpn"].reason == corp.reason
    lab = {p.server.name: p.trace for p in result.paths if p.role.name == "lab"}
    assert lab["corp-vpn"].verdict == "blocked" and "10 deny ip any any" in lab["corp-vpn"].reason


@pytest.mark.parametrize("value", ["br-edge-02", "cisco/br-edge-02:", ":GigabitEthernet0/1"])
def test_enters_not_device_colon_interface_is_an_audit_yaml_error(tmp_path: Path, value: str) -> None:
    snap = write_snapshot(tmp_path, {"br-edge-02": branch_router()},
                          f"  - {{name: branch-lan, prefixes: [192.168.10.0/24], enters: '{value}'}}\n")
    with pytest.raises(SnapshotError) as caught:
        run_audit(snap)
    assert caught.value.path.endswith("audit.yaml")
    assert (f"invalid value for sources[0].enters: '{value}' is not <device>:<interface>"
            in str(caught.value))
    run = CliRunner().invoke(app, ["audit", str(snap), "--format", "json"])
    assert run.exit_code == 2 and "audit.yaml" in run.stderr and "sources[0].enters" in run.stderr


def test_trace_command_shows_the_entry_hop_of_a_source(tmp_path: Path) -> None:
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    config = branch_router(" 10 deny udp 192.168.10.0 0.0.0.255 any eq isakmp\n 20 permit ip any any")
    (snap / "cisco" / "br-edge-02.cfg").write_text(config, encoding="utf-8")
    with (snap / "audit.yaml").open("a", encoding="utf-8") as handle:
        handle.write("sources:\n  - {name: branch-lan, prefixes: [192.168.10.0/24], "
                     "enters: 'cisco/br-edge-02:GigabitEthernet0/1'}\n")
    run = CliRunner().invoke(app, ["trace", str(snap), "--network", "Store 14", "--role", "branch-lan",
                                   "--flow", "udp/500"], terminal_width=300)
    assert run.exit_code == 1, run.output
    lines = [" ".join(line.split()) for line in run.stdout.splitlines()]
    assert lines[0] == "audit.yaml / source 'branch-lan' (post-auth) -> corp-vpn 198.51.100.10, udp/500"
    assert lines[1:4] == ["path via cisco/br-edge-02:GigabitEthernet0/1:",
                          "1. cisco/br-edge-02 [acl-in LAN-IN on GigabitEthernet0/1]: deny",
                          f"deny by line {line_of(config, '10 deny udp')} of cisco/br-edge-02.cfg: 10 deny udp "
                          "192.168.10.0 0.0.0.255 any eq isakmp"]
    assert lines[4].startswith("verdict: blocked: udp/500 is blocked at cisco/br-edge-02")


def test_entry_at_a_load_balancer_is_unknown_with_the_reason(tmp_path: Path) -> None:
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    with (snap / "audit.yaml").open("a", encoding="utf-8") as handle:
        handle.write("sources:\n  - {name: dc-lan, prefixes: [10.200.0.0/16], enters: 'f5/hq-bigip:internal'}\n")
    dc = traces(run_audit(snap), "dc-lan")
    assert {t.verdict for t in dc.values()} == {"unknown"}
    (record,) = dc["tcp/443"].hops  # the server's side is not appended after an entry that is not modelled
    assert record.hop.device == "f5/hq-bigip" and record.decision is Decision.UNKNOWN
    assert record.segments[0].reason == ("traffic that enters f5/hq-bigip from its own networks is not modelled "
                                         "for this kind of device (entry at Cisco ASA and IOS devices is)")


def test_trace_of_a_source_at_a_cisco_only_site_needs_no_network(tmp_path: Path) -> None:
    config = branch_router(wan_out=" 10 deny udp any any eq non500-isakmp\n 20 permit ip any any")
    snap = write_snapshot(tmp_path, {"br-edge-02": config},
                          "  - {name: branch-lan, prefixes: [192.168.10.0/24], "
                          "enters: 'cisco/br-edge-02:GigabitEthernet0/1'}\n")
    run = CliRunner().invoke(app, ["trace", str(snap), "--role", "branch-lan", "--flow", "udp/4500"],
                             terminal_width=300)
    assert run.exit_code == 1, run.output
    lines = [" ".join(line.split()) for line in run.stdout.splitlines()]
    assert lines[0] == "audit.yaml / source 'branch-lan' (post-auth) -> corp-vpn 198.51.100.10, udp/4500"
    assert " ".join(lines).endswith(
        "verdict: blocked: udp/4500 is blocked at cisco/br-edge-02 (acl-out (interface toward the server)) by line "
        f"{line_of(config, '10 deny udp any any')} of cisco/br-edge-02.cfg (10 deny udp any any eq non500-isakmp). ")
    # A network's role is not a source: without --network the error says what is missing
    demo = CliRunner().invoke(app, ["trace", str(DEMO), "--role", "Store-Guest", "--flow", "udp/500"])
    assert demo.exit_code == 2
    assert "no audit.yaml source here; a network's roles need --network" in " ".join(demo.stderr.split())
