"""An error-severity DNS finding about a role must fail something in the JUnit report.

The demo's DNS-MISMATCH (Store 31 vlan 'Back Office' resolves the VPN name to 198.51.100.20) is an error: the audit
exits 1 for it. Its role's path test cases all pass (the paths go to the audited address), and role findings get no
case of their own, so the JUnit report the CI widget shows has no failure for it at all."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from auditor.audit import run_audit
from auditor.report import render_format

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"


def test_an_error_dns_finding_of_a_role_is_a_junit_failure() -> None:
    result = run_audit(DEMO)
    dns = [f for f in result.findings if f.check.id == "DNS-MISMATCH" and f.role is not None]
    assert dns and dns[0].effective_severity == "error"
    root = ET.fromstring(render_format(result, "junit"))
    messages = [failure.get("message", "") + " " + (failure.text or "") for failure in root.iter("failure")]
    assert any("198.51.100.20" in m and "Back Office" in m for m in messages), \
        "the DNS-MISMATCH error finding has no <failure> in the JUnit report"
