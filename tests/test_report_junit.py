"""`--format junit` on the retail demo, read back with junitparser the way CI systems read it."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, TestCase, TestSuite
from typer.testing import CliRunner

from auditor.audit import AuditResult, run_audit
from auditor.cli import app
from auditor.report import render_format

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return run_audit(DEMO)


@pytest.fixture(scope="module")
def xml(demo: AuditResult, tmp_path_factory: pytest.TempPathFactory) -> JUnitXml:
    path = tmp_path_factory.mktemp("junit") / "report.xml"
    path.write_text(render_format(demo, "junit"), encoding="utf-8")
    return JUnitXml.fromfile(str(path))


def cases(xml: JUnitXml) -> dict[tuple[str, str], TestCase]:
    out: dict[tuple[str, str], TestCase] = {}
    for suite in xml:
        assert isinstance(suite, TestSuite)
        for case in suite:
            key = (suite.name, case.name)
            assert key not in out, f"duplicate test case {key}"
            out[key] = case
    return out


def failures(case: TestCase) -> list[Failure]:
    return [r for r in case.result if isinstance(r, Failure)]


def test_one_case_per_network_role_protocol(xml: JUnitXml, demo: AuditResult) -> None:
    expected = {(p.role.key, p.server.name, p.protocol) for p in demo.paths}
    all_cases = cases(xml)
    path_cases = {k: c for k, c in all_cases.items() if k[0] != "configuration checks"}
    assert len(path_cases) == len(expected) == 183
    assert [s.name for s in xml] == ["Store 14", "Store 22", "Store 31", "HQ", "configuration checks"]
    loose = [f for f in demo.findings if f.role is None or f.check.kind.startswith("dns-")]  # no path carries them
    assert xml.tests == 183 + len(loose)
    assert xml.failures == 23 + sum(f.effective_severity != "info" for f in loose)  # 23 failing (role, protocol)


def test_blocked_flows_fail_with_the_deciding_rule(xml: JUnitXml) -> None:
    all_cases = cases(xml)
    contractors = all_cases[("Store 22", "group_policy Contractors on Store-Staff / IKEv2 to corp-vpn")]
    found = failures(contractors)
    assert [f.type for f in found] == ["blocked", "blocked"]
    assert [f.message.split(" ")[0] for f in found] == ["udp/500", "udp/4500"]
    assert "deny udp -> any:500,4500" in found[0].message
    assert '"block personal VPNs"' in found[0].text  # the hop-by-hop body names the rule and its comment
    # the rule is "rule 1" (1-based) and its file is named without the 0-based index of the JSON list
    assert "by rule 1: group policy 'Contractors'" in found[0].text
    assert "(meraki/networks/L_6468200000000002/groupPolicies.json)" in found[0].text
    assert all_cases[("Store 22", "group_policy Contractors on Store-Staff / SSTP to corp-vpn")].is_passed
    l2tp = all_cases[("Store 22", "ipsk Northwind Facilities on Store-Devices / L2TP/IPsec to corp-vpn")]
    # udp/1701 travels inside IPsec: it fails with its carriers, saying so
    assert [f.message.split(" ")[0] for f in failures(l2tp)] == ["udp/500", "udp/4500", "udp/1701"]
    assert "travels inside IPsec" in failures(l2tp)[2].message

    hq = all_cases[("HQ", "ssid HQ-Guest / SSTP to corp-vpn")]
    (sstp,) = failures(hq)
    assert "tcp/443 is blocked" in sstp.message and "Retired extranet portal" in sstp.text
    assert all_cases[("HQ", "ssid HQ-Guest / IKEv2 to corp-vpn")].is_passed


def test_pre_auth_phase_is_in_the_name(xml: JUnitXml) -> None:
    all_cases = cases(xml)
    pre = all_cases[("Store 14", "ssid Store-Guest [pre-auth] / SSTP to corp-vpn")]
    (failure,) = failures(pre)
    assert failure.type == "blocked" and "splash" in failure.message
    assert "blockAllTrafficBeforeSignOn: true" in failure.text
    assert all_cases[("Store 14", "ssid Store-Guest / SSTP to corp-vpn")].is_passed


def test_unknown_flows_fail_with_the_reason(xml: JUnitXml) -> None:
    all_cases = cases(xml)
    mobile = failures(all_cases[("Store 14", "ssid Store-Mobile / IKEv2 to corp-vpn")])
    assert [(f.type, f.message.split(" ")[0]) for f in mobile] == [("unknown", "udp/4500")]
    assert "not documented" in mobile[0].message
    gap = failures(all_cases[("Store 22", "ssid Store-Guest / L2TP/IPsec to corp-vpn")])
    assert {f.type for f in gap} == {"unknown"} and len(gap) == 3
    assert "l3FirewallRules.json is not in the snapshot" in gap[0].message


def test_findings_without_a_path_are_cases_of_their_own(xml: JUnitXml, demo: AuditResult) -> None:
    suite = next(s for s in xml if s.name == "configuration checks")
    by_name = {c.name.split(":")[0]: c for c in suite}
    assert len(by_name) == len([f for f in demo.findings if f.role is None or f.check.kind.startswith("dns-")])
    assert by_name["DATA-GAP Store 22"].name.startswith("DATA-GAP Store 22: Missing data: meraki/networks/")
    (shadow,) = failures(by_name["VPN-SHADOWED-RULE Store 31"])
    assert shadow.type == "VPN-SHADOWED-RULE"
    # never "move the allow above the deny": insert an allow for exactly the VPN flows, or narrow the deny
    assert "insert an allow for exactly the VPN flows above rule 2 or narrow rule 2" in shadow.text
    assert "Move rule" not in shadow.text


def test_untrusted_text_cannot_break_the_xml(demo: AuditResult) -> None:
    role = demo.paths[0].role
    saved = role.name
    role.name = 'evil <x> & "q" \x00\x1b]'
    try:
        text = render_format(demo, "junit")
    finally:
        role.name = saved
    parsed = JUnitXml.fromstring(text)
    names = [c.name for s in parsed for c in s]
    assert 'ssid evil <x> & "q" \ufffd\ufffd] / IKEv2 to corp-vpn' in names


def test_cli_junit_output(tmp_path: Path, xml: JUnitXml) -> None:
    out = tmp_path / "junit.xml"
    run = CliRunner().invoke(app, ["audit", str(DEMO), "--format", "junit", "-o", str(out)])
    assert run.exit_code == 1, run.output
    assert JUnitXml.fromfile(str(out)).failures == xml.failures
