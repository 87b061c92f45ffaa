"""`--format markdown` on the retail demo: summary, failing-path table, findings; hostile text stays inert."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from auditor.audit import AuditResult, run_audit
from auditor.report import render_format
from auditor.report.markdown import cell, escape

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
HQ = "meraki/networks/L_6468200000000004"
HOSTILE_COMMENT = "Retired | extranet <img src=x onerror=alert(1)> [click](http://evil.example) @netops *x*"
HOSTILE_SSID = "HQ|Guest <script>alert(2)</script>"


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return run_audit(DEMO)


@pytest.fixture(scope="module")
def md(demo: AuditResult) -> str:
    return render_format(demo, "markdown")


def hostile_snapshot(root: Path) -> Path:
    """The demo with a rule comment and an SSID name written by an attacker (both are free text in Meraki)."""
    snap = root / "hostile"
    shutil.copytree(DEMO, snap)
    rules_file = snap / HQ / "wireless/ssids/1/firewall/l3FirewallRules.json"
    rules = json.loads(rules_file.read_text(encoding="utf-8"))
    rules["rules"][1]["comment"] = HOSTILE_COMMENT
    rules_file.write_text(json.dumps(rules), encoding="utf-8")
    ssids_file = snap / HQ / "wireless/ssids.json"
    ssids = json.loads(ssids_file.read_text(encoding="utf-8"))
    ssids[1]["name"] = HOSTILE_SSID
    ssids_file.write_text(json.dumps(ssids), encoding="utf-8")
    return snap


def table_rows(md: str) -> list[list[str]]:
    """Cells of the failing-path table, split on unescaped pipes as a GFM renderer does."""
    section = md.split("### Failing paths", 1)[1].split("### Findings", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[1:]]


def test_summary_counts(md: str, demo: AuditResult) -> None:
    assert "**366 paths:** ✅ 330 allowed · ❌ 22 blocked · ⚠️ 0 partial · ❓ 14 unknown" in md
    n = Counter(f.effective_severity for f in demo.findings)
    assert f"**Findings:** {n['error']} error · {n['warning']} warning · {n['info']} info" in md
    assert n["error"] >= 9 and n["warning"] >= 13  # the planted ones at least


def test_failing_paths_table(md: str) -> None:
    assert "### Failing paths (23)" in md
    rows = table_rows(md)
    assert len(rows) == 23
    assert all(len(r) == 6 for r in rows)
    by_key = {(r[0], r[1], r[3]): r for r in rows}
    contractors = by_key[("Store 22", r"group\_policy Contractors on Store-Staff", "IKEv2")]
    assert contractors[4] == "❌ blocked"
    assert "udp/500, udp/4500:" in contractors[5]
    assert "deny udp -&gt; any:500,4500 \"block personal VPNs\"" in contractors[5]
    guest31 = by_key[("Store 31", "vlan Guest", "L2TP/IPsec")]
    assert guest31[5].startswith("udp/4500: Store 31 / MX (mx-l3) rule 2: deny udp VLAN(30).\\*")
    assert by_key[("HQ", r"ssid HQ-Guest \[pre-auth\]", "SSTP")][4] == "❌ blocked"
    mobile = by_key[("Store 14", "ssid Store-Mobile", "IKEv2")]
    assert mobile[4] == "❓ unknown" and "not documented" in mobile[5]
    assert ("Store 14", "ssid Store-Mobile", "SSTP") not in by_key  # allowed protocols are not listed


def test_findings_with_windows_errors_and_remediation(md: str, demo: AuditResult) -> None:
    assert f"### Findings ({len(demo.findings)})" in md
    headings = [line for line in md.splitlines() if line.startswith("#### ")]
    assert len(headings) == len(demo.findings)
    assert sum("`VPN-BLOCKED`" in h for h in headings) == 9
    assert sum("`VPN-UNKNOWN`" in h for h in headings) == 8
    assert headings[0].startswith("#### ❌ error · `")
    assert "#### ❌ error · `VPN-BLOCKED` · SSTP to corp-vpn is blocked for HQ: ssid 'HQ-Guest'" in md
    assert any("`DATA-GAP`" in h and h.startswith("#### ⚠️ warning") for h in headings)
    assert "**Windows errors:** 809 (The remote server is not responding), 800 (Unable to establish the VPN" in md
    assert "789 (L2TP security layer failed during negotiation)" in md
    assert "- **Remediation:** Move rule 3 above rule 2" in md
    assert "**Role:** ssid Store-Guest \\[pre-auth\\]" in md


def test_escaping_helpers() -> None:
    assert escape("a|b") == r"a\|b"
    assert escape("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    assert escape("[a](http://x)") == r"\[a\](http://x)"
    assert escape("line\nbreak") == "line break"
    assert cell("one\ntwo|three") == r"one<br>two\|three"
    assert "@\u200bnetops" in escape("ask @netops")


def test_hostile_rule_comment_and_ssid_cannot_break_the_table(tmp_path: Path) -> None:
    md = render_format(run_audit(hostile_snapshot(tmp_path)), "markdown")
    rows = table_rows(md)
    assert all(len(r) == 6 for r in rows)  # no pipe from the config split a row
    hq = [r for r in rows if r[0] == "HQ"]
    assert len(hq) == 2
    assert hq[0][1].startswith(r"ssid HQ\|Guest &lt;script&gt;")
    assert r"Retired \| extranet &lt;img src=x onerror=alert(1)&gt; \[click\](http://evil.example)" in hq[0][5]
    assert "<script>" not in md and "<img" not in md
    assert "@netops" not in md and "@\u200bnetops" in md
