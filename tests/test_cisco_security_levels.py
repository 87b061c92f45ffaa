"""ASA security levels on the server's path (issue 27 item 2): interfaces at the same level pass nothing without
`same-security-traffic permit inter-interface`, access-list or not; a `nameif` without `security-level` takes the
documented default; a level the ASA would not take, or an interface the configuration lacks, is unknown."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.audit import AuditResult, run_audit

ASA = """ASA Version 9.12(4)
hostname lvl-asa
!
interface GigabitEthernet1/1
 nameif outside
 security-level 0
 ip address 198.51.100.2 255.255.255.0
!
interface GigabitEthernet1/2
 nameif inside
 security-level 100
 ip address 10.10.0.1 255.255.255.0
!
interface GigabitEthernet1/3
 nameif dmz
{level} ip address 10.20.0.1 255.255.255.0
!
object network VPN-SERVER
 host 10.20.0.10
 nat ({real},outside) static 198.51.100.10
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq isakmp
access-list OUTSIDE_IN extended permit udp any host 10.20.0.10 eq 4500
access-list OUTSIDE_IN extended deny ip any any
access-group OUTSIDE_IN in interface outside
{extra}route outside 0.0.0.0 0.0.0.0 198.51.100.1 1
: end
"""


def audit(tmp_path: Path, level: str = " security-level 0\n", extra: str = "", real: str = "dmz",
          sources: list[dict] | None = None, without: str = "") -> AuditResult:
    (tmp_path / "cisco").mkdir(parents=True)
    text = ASA.format(level=level, extra=extra, real=real)
    (tmp_path / "cisco" / "lvl-asa.cfg").write_text(text.replace(without, "") if without else text)
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2"]}],
        "sources": sources or [{"name": "remote", "prefixes": ["81.2.3.0/24"]}]}))
    return run_audit(tmp_path)


def verdicts(result: AuditResult, role: str = "remote") -> dict[str, str]:
    return {str(p.trace.flow): p.verdict for p in result.paths if p.role.name == role}


def test_same_level_is_blocked_although_the_access_list_permits(tmp_path: Path) -> None:
    """dmz at level 0, like outside: the access-list permits IKE, the ASA still passes nothing between them
    (it was allowed: levels were consulted only without an access-list)."""
    result = audit(tmp_path)
    assert verdicts(result) == {"udp/500": "blocked", "udp/4500": "blocked"}
    trace = next(p.trace for p in result.paths if str(p.trace.flow) == "udp/500")
    hop, seg = trace.blocked[0]
    assert hop.stage == "same-security-traffic from outside"
    assert "security-level 0 (outside) to security-level 0 (dmz): the same level" in seg.reason
    assert "an access-list cannot permit it" in seg.reason
    (finding,) = [f for f in result.findings if f.check.id == "VPN-BLOCKED-SERVER-SIDE"]
    assert "same-security-traffic permit inter-interface" in finding.remediation
    assert "give dmz a security level other than 0" in finding.remediation


def test_same_level_passes_with_same_security_traffic_or_another_level(tmp_path: Path) -> None:
    permitted = audit(tmp_path / "a", extra="same-security-traffic permit inter-interface\n")
    assert set(verdicts(permitted).values()) == {"allowed"}
    other = audit(tmp_path / "b", level=" security-level 50\n")
    assert set(verdicts(other).values()) == {"allowed"}
    assert not any(r.hop.stage.startswith("same-security") for p in other.paths for r in p.trace.hops)


def test_a_nameif_without_security_level_takes_the_default_zero(tmp_path: Path) -> None:
    result = audit(tmp_path, level="")
    assert set(verdicts(result).values()) == {"blocked"}
    seg = result.paths[0].trace.blocked[0][1]
    assert "security-level 0 (dmz: no security-level line, the ASA default)" in seg.reason


def test_a_level_the_asa_would_not_take_or_an_interface_not_configured_is_unknown(tmp_path: Path) -> None:
    result = audit(tmp_path / "a", level=" security-level 150\n")
    assert set(verdicts(result).values()) == {"unknown"}
    assert "('security-level 150') is not a security level (0 to 100)" in result.paths[0].trace.reason
    missing = audit(tmp_path / "b", real="dmz2")
    assert set(verdicts(missing).values()) == {"unknown"}
    assert "the interface dmz2 (a NAT line's) is not in the configuration" in missing.paths[0].trace.reason


def test_without_an_access_list_same_level_is_blocked_too(tmp_path: Path) -> None:
    result = audit(tmp_path, without="access-group OUTSIDE_IN in interface outside\n")
    assert set(verdicts(result).values()) == {"blocked"}
    seg = result.paths[0].trace.blocked[0][1]
    assert "same-security-traffic permit inter-interface is not configured" in seg.reason


def test_a_source_entering_at_an_interface_of_the_outside_level(tmp_path: Path) -> None:
    """Traffic entering at dmz (level 0, access-list bound) toward the internet leaves through outside, also 0."""
    extra = ("access-list DMZ_IN extended permit ip any any\naccess-group DMZ_IN in interface dmz\n")
    sources = [{"name": "dmz-lan", "prefixes": ["10.20.0.0/24"], "enters": "cisco/lvl-asa:dmz"}]
    (tmp_path / "cisco").mkdir(parents=True)
    (tmp_path / "cisco" / "lvl-asa.cfg").write_text(
        ASA.format(level=" security-level 0\n", extra=extra, real="dmz").replace(
            " nat (dmz,outside) static 198.51.100.10\n", ""))
    (tmp_path / "audit.yaml").write_text(json.dumps({
        "vpn_servers": [{"name": "vpn", "address": "203.0.113.10", "protocols": ["ikev2"]}], "sources": sources}))
    result = run_audit(tmp_path)
    assert set(verdicts(result, "dmz-lan").values()) == {"blocked"}
    hop = result.paths[0].trace.blocked[0][0]
    assert hop.stage == "same-security-traffic from dmz"
    fixed = tmp_path / "cisco" / "lvl-asa.cfg"
    fixed.write_text(fixed.read_text().replace("route outside", "same-security-traffic permit inter-interface\n"
                                                                "route outside"))
    assert set(verdicts(run_audit(tmp_path), "dmz-lan").values()) == {"allowed"}
