"""fragment-drop: a device in front of the VPN server drops the non-initial fragments of IKE (IKE_AUTH with
certificates) that the first fragment gets past. IOS ACL `fragments` entries (Cisco "Access Control Lists and
IP Fragments"), ASA `fragment chain 1`; `explain 13801` lists the finding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from auditor.audit import AuditResult, run_audit
from auditor.checks import Finding
from auditor.cli import app
from auditor.model import VpnServer
from auditor.packets import PacketSet, address_interval
from auditor.vendors.cisco.adapter import CiscoDevice
from tests.environment import needs_public_data, public_files

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cisco"

SERVER = "203.0.113.10"
IOS = """hostname edge
!
interface GigabitEthernet0/0
 ip address 203.0.113.2 255.255.255.248
 ip access-group WAN-IN in
 ip nat outside
!
interface GigabitEthernet0/1
 ip address 192.168.50.1 255.255.255.0
 ip access-group LAN-OUT out
 ip nat inside
!
ip nat inside source static 192.168.50.10 203.0.113.10
ip route 0.0.0.0 0.0.0.0 203.0.113.1
!
ip access-list extended WAN-IN
{wan_in}
!
ip access-list extended LAN-OUT
{lan_out}
!
end
"""
IKE_PERMITS = [" permit udp any host 203.0.113.10 eq isakmp", " permit udp any host 203.0.113.10 eq non500-isakmp"]
LAN_OUT = [" permit udp any host 192.168.50.10 eq isakmp", " permit udp any host 192.168.50.10 eq non500-isakmp",
           " deny   ip any any"]
AUDIT = ("vpn_servers:\n  - name: corp-vpn\n    address: {address}\n    protocols: [ikev2, l2tp]\n"
         "sources:\n  - name: branch-lan\n    prefixes: [192.0.2.0/24]\n")


def ios_snapshot(root: Path, wan_in: list[str], lan_out: list[str] = LAN_OUT) -> Path:
    (root / "cisco").mkdir(parents=True)
    (root / "cisco" / "edge.cfg").write_text(IOS.format(wan_in="\n".join(wan_in), lan_out="\n".join(lan_out)))
    (root / "audit.yaml").write_text(AUDIT.format(address=SERVER))
    return root


def asa_snapshot(root: Path, extra: str) -> Path:
    (root / "cisco").mkdir(parents=True)
    text = (FIXTURES / "asa-vpn.cfg").read_text().replace("mtu dmz 1500\n", f"mtu dmz 1500\n{extra}")
    (root / "cisco" / "hq-asa.cfg").write_text(text)
    (root / "audit.yaml").write_text(AUDIT.format(address="198.51.100.10"))
    return root


def drops(result: AuditResult) -> list[Finding]:
    return [f for f in result.findings if f.check.kind == "fragment-drop"]


def ike_verdicts(result: AuditResult) -> set[str]:
    return {p.verdict for p in result.paths if str(p.trace.flow) in ("udp/500", "udp/4500")}


def line_of(text: str, wanted: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.strip() == wanted.strip())


@pytest.mark.parametrize("entry", [" deny   udp any any fragments", " deny   ip any host 203.0.113.10 fragments",
                                   " deny   udp any host 203.0.113.10 log fragments"])
def test_ios_fragments_deny_above_the_ike_permits_drops_ike_auth(tmp_path: Path, entry: str) -> None:
    snap = ios_snapshot(tmp_path, [entry, *IKE_PERMITS, " deny   ip any any"])
    result = run_audit(snap)
    # the first fragment is what the trace follows: IKE itself is allowed, as before
    assert ike_verdicts(result) == {"allowed"}
    (finding,) = drops(result)
    line = line_of((snap / "cisco" / "edge.cfg").read_text(), entry)
    assert finding.check.id == "IKE-FRAGMENT-DROP" and finding.effective_severity == "warning"
    assert finding.device == "cisco/edge"
    assert finding.to_json()["windows_errors"] == [809, 13801]
    assert finding.evidence["rule"] == {"index": 10, "text": entry.strip(), "comment": "",
                                        "source": f"cisco/edge.cfg:{line}"}
    assert finding.evidence["flows"] == ["udp/500", "udp/4500"] and finding.evidence["certain"] is True
    assert finding.evidence["servers"] == ["corp-vpn"] and finding.evidence["destinations"] == [SERVER]
    assert finding.evidence["sources"] == "192.0.2.0/24"
    assert f"cisco/edge.cfg:{line} ({entry.strip()}) drops the non-initial fragments" in finding.title
    assert "acl-in WAN-IN on GigabitEthernet0/0" in finding.title
    fix = finding.remediation
    assert f"remove line {line}" in fix and "`ip access-list extended WAN-IN` then `5 permit" in fix
    assert "host 203.0.113.10 fragments`" in fix
    assert "EnableServerFragmentation" in fix and "RFC 7383" in fix


def test_ios_fragments_line_that_cannot_drop_ike_fragments_is_not_reported(tmp_path: Path) -> None:
    cases = {
        "after the permits": [*IKE_PERMITS, " deny   udp any any fragments", " deny   ip any any"],
        "another host": [" deny   ip any host 203.0.113.99 fragments", *IKE_PERMITS, " deny   ip any any"],
        "sources that never arrive": [" deny   ip 10.0.0.0 0.255.255.255 any fragments", *IKE_PERMITS],
        "TCP only": [" deny   tcp any any fragments", *IKE_PERMITS],
        # a permit with ports lets a non-initial fragment through on its Layer 3 part alone
        "an earlier permit with other ports": [" permit udp any host 203.0.113.10 eq 1701",
                                               " deny   udp any any fragments", *IKE_PERMITS],
        # a deny with ports never denies a non-initial fragment: the next entry decides
        "a deny with ports only": [" deny   udp any any eq 1701", *IKE_PERMITS, " deny   ip any any"],
        "a fragments permit first": [" permit udp any host 203.0.113.10 fragments", " deny   ip any any fragments",
                                     *IKE_PERMITS],
    }
    for i, (label, wan_in) in enumerate(cases.items()):
        result = run_audit(ios_snapshot(tmp_path / str(i), wan_in))
        assert ike_verdicts(result) == {"allowed"}, label
        assert not drops(result), label


def test_ios_drop_on_the_outbound_list_names_the_real_address(tmp_path: Path) -> None:
    lan_out = [" 5 deny ip any 192.168.50.0 0.0.0.255 fragments", *LAN_OUT]
    snap = ios_snapshot(tmp_path, [*IKE_PERMITS, " deny   ip any any"], lan_out)
    (finding,) = drops(run_audit(snap))
    assert finding.evidence["destinations"] == ["192.168.50.10"]
    assert finding.evidence["stage"].startswith("acl-out")
    assert "permit udp any host 192.168.50.10 fragments" in finding.remediation
    assert "`ip access-list extended LAN-OUT` then `2 permit" in finding.remediation


def test_ios_a_blocked_flow_is_not_also_a_fragment_drop(tmp_path: Path) -> None:
    # IKE is denied outright: blocked-flow says so; the fragments of a packet that never passes are no news
    result = run_audit(ios_snapshot(tmp_path, [" deny   udp any any fragments", " deny   ip any any"]))
    assert ike_verdicts(result) == {"blocked"}
    assert not drops(result)


def test_ios_fragments_entry_with_ports_is_reported_as_uncertain(tmp_path: Path) -> None:
    # Cisco describes `fragments` on entries without Layer 4 information only
    entry = " deny   udp any host 203.0.113.10 eq isakmp fragments"
    (finding,) = drops(run_audit(ios_snapshot(tmp_path, [entry, *IKE_PERMITS])))
    assert finding.evidence["certain"] is False and "may drop" in finding.title
    assert any("not documented" in reason for reason in finding.evidence["reasons"])


def test_ios_fragment_view_keeps_the_trace_semantics() -> None:
    text = IOS.format(wan_in="\n".join([" deny   udp any any fragments", *IKE_PERMITS, " deny   ip any any"]),
                      lan_out="\n".join(LAN_OUT))
    device = CiscoDevice.from_text(text, "cisco/edge.cfg")
    ike = PacketSet.flow([address_interval("192.0.2.1")], [address_interval(SERVER)], 17, 500)
    plain = device.acl("WAN-IN")
    view = device.fragment_acl("WAN-IN")
    assert plain is not None and view is not None
    # the first fragment: the `fragments` entry never matches it, the isakmp permit does
    (seg,) = plain.evaluate(ike)
    assert seg.decision.value == "permit" and seg.rule is not None and seg.rule.position == 20
    # a non-initial fragment: the `fragments` entry matches it on addresses and protocol
    (seg,) = view.evaluate(ike)
    assert seg.decision.value == "deny" and seg.rule is not None and seg.rule.position == 10
    # lists without entries that treat fragments otherwise are the lists themselves
    server = VpnServer("corp-vpn", SERVER, ["ikev2"])
    assert [v.fragments.stage for v in device.fragment_views(server)] == [
        "acl-in WAN-IN on GigabitEthernet0/0", "acl-out (interface toward the server)"]


@pytest.mark.parametrize(("extra", "expected"), [
    ("fragment chain 1 outside\n", 1), ("fragment chain 1\n", 1), ("fragment chain 24 outside\n", 0),
    ("fragment chain 1 dmz\n", 0), ("", 0), ("fragment chain 1\nfragment chain 24 outside\n", 0),
])
def test_asa_fragment_chain_1_on_the_entry_interface(tmp_path: Path, extra: str, expected: int) -> None:
    snap = asa_snapshot(tmp_path, extra)
    result = run_audit(snap)
    assert ike_verdicts(result) == {"allowed"}
    found = drops(result)
    assert len(found) == expected
    if found:
        (finding,) = found
        chain = extra.splitlines()[0]
        line = line_of((snap / "cisco" / "hq-asa.cfg").read_text(), chain)
        assert finding.evidence["rule"]["source"] == f"cisco/hq-asa.cfg:{line}"
        assert finding.evidence["rule"]["text"] == chain
        assert finding.evidence["stage"] == "fragment chain on outside"
        assert finding.evidence["destinations"] == ["198.51.100.10"]  # on arrival, before NAT
        assert "`fragment chain 24 outside`" in finding.remediation and f"`no {chain}`" in finding.remediation


def test_explain_13801_lists_fragment_drop(tmp_path: Path) -> None:
    snap = ios_snapshot(tmp_path, [" deny   udp any any fragments", *IKE_PERMITS, " deny   ip any any"])
    result = CliRunner().invoke(app, ["explain", "13801", str(snap)])
    assert result.exit_code == 0, result.stderr  # a warning: below the default --fail-on error
    out = result.stdout
    assert "has no network cause" not in out
    assert "Network causes the audit checks:\n  - fragment-drop:" in out
    assert "Findings in the whole snapshot that can cause it (1):" in out
    assert "[warning] IKE-FRAGMENT-DROP (fragment-drop): cisco/edge" in out
    report = json.loads(CliRunner().invoke(app, ["explain", "13801", str(snap), "--format", "json"]).stdout)
    assert report["audited"] and [f["kind"] for f in report["findings"]] == ["fragment-drop"]
    report = json.loads(CliRunner().invoke(app, ["explain", "809", str(snap), "--format", "json"]).stdout)
    assert "fragment-drop" in {f["kind"] for f in report["findings"]}  # next to L2TP's blocked udp/1701


def test_report_formats_carry_the_finding(tmp_path: Path) -> None:
    snap = ios_snapshot(tmp_path, [" deny   udp any any fragments", *IKE_PERMITS, " deny   ip any any"])
    runner = CliRunner()
    report = json.loads(runner.invoke(app, ["audit", str(snap), "--format", "json"]).stdout)
    (finding,) = [f for f in report["findings"] if f["kind"] == "fragment-drop"]
    assert finding["severity"] == "warning" and finding["windows_errors"] == [809, 13801]
    sarif = json.loads(runner.invoke(app, ["audit", str(snap), "--format", "sarif"]).stdout)
    (res,) = [r for r in sarif["runs"][0]["results"] if r["properties"]["kind"] == "fragment-drop"]
    region = res["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"].endswith("cisco/edge.cfg")
    assert region["region"]["startLine"] == line_of((snap / "cisco" / "edge.cfg").read_text(),
                                                    " deny   udp any any fragments")
    for fmt, needle in (("junit", "checks.fragment-drop"), ("markdown", "IKE-FRAGMENT-DROP"),
                        ("html", "IKE-FRAGMENT-DROP"), ("text", "IKE-FRAGMENT-DROP")):
        out = runner.invoke(app, ["audit", str(snap), "--format", fmt, "--fail-on", "never"])
        assert out.exit_code == 0 and needle in out.stdout, fmt


PUBLIC_FILES = public_files("cisco-asa", "cisco-ios")


@pytest.mark.slow
@needs_public_data("cisco-asa", "cisco-ios")
def test_public_configs_in_front_of_a_server_do_not_flood(tmp_path: Path) -> None:
    """Every public ASA/IOS config placed in front of a server: the check runs, and says little (none of them
    drops fragments of traffic that gets in)."""
    for i, path in enumerate(PUBLIC_FILES):
        root = tmp_path / str(i)
        (root / "cisco").mkdir(parents=True)
        shutil.copy(path, root / "cisco" / "dev.cfg")
        (root / "audit.yaml").write_text(
            "vpn_servers:\n  - name: corp-vpn\n    address: 192.0.2.10\n    protocols: [ikev2, l2tp]\n"
            "    path: [cisco/dev]\nsources:\n  - name: branch-lan\n    prefixes: [198.18.0.0/24]\n")
        result = run_audit(root)
        assert len(drops(result)) <= 1, (path.name, [f.title for f in drops(result)])
