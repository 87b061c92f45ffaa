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
    """Cells of the failing-role table, split on unescaped pipes as a GFM renderer does."""
    section = md.split("### Failing roles", 1)[1].split("### Findings", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[1:]]


def test_summary_counts(md: str, demo: AuditResult) -> None:
    assert "**366 paths:** ✅ 324 allowed · ❌ 27 blocked · ⚠️ 0 partial · ❓ 15 unknown" in md
    n = Counter(f.effective_severity for f in demo.findings)
    assert f"**Findings:** {n['error']} error · {n['warning']} warning · {n['info']} info" in md
    # one finding per cause: the planted problems at least (6 errors, 7 warnings), each once
    assert n["error"] >= 6 and n["warning"] >= 7
    assert ("**Summary:** 11 failing roles (23 failing protocols); 42 of 366 paths not allowed: 27 blocked, "
            f"0 partial, 15 unknown; findings: {n['error']} error, {n['warning']} warning, {n['info']} info") in md


def test_failing_roles_table(md: str) -> None:
    # one row per (network, role, phase), a column per protocol: 11 rows holding 23 failing protocols
    assert "### Failing roles (11)" in md
    rows = table_rows(md)
    assert len(rows) == 11
    assert all(len(r) == 7 for r in rows)
    assert sum(c.endswith(("blocked", "unknown", "partial")) for r in rows for c in r[2:5]) == 23
    by_key = {(r[0], r[1]): r for r in rows}
    contractors = by_key[("Store 22", r"group\_policy Contractors on Store-Staff")]
    assert contractors[2:5] == ["❌ blocked", "❌ blocked", "✅ allowed"]
    assert contractors[5] == 'udp/500,4500: ssid-l3+group-policy rule 1 "block personal VPNs"'
    guest31 = by_key[("Store 31", "vlan Guest")]
    assert guest31[5] == 'udp/4500: MX mx-l3 rule 2 "Guests: block personal VPN apps (NAT-T)"'
    assert by_key[("HQ", r"ssid HQ-Guest \[pre-auth\]")][4] == "❌ blocked"
    mobile = by_key[("Store 14", "ssid Store-Mobile")]
    assert mobile[2] == "❓ unknown" and mobile[4] == "✅ allowed" and "may match" in mobile[5]
    # the row names the finding that explains it, numbered as in the findings below and in JSON
    assert contractors[6] == "#3" and "#3 `VPN-BLOCKED`" in md
    # the post-auth phase of a role blocked before sign-on passes: said so, never "all allowed" for the role
    assert "Store-Guest (after sign-on)" in md


def test_findings_with_windows_errors_and_remediation(md: str, demo: AuditResult) -> None:
    assert f"### Findings ({len(demo.findings)})" in md
    headings = [line for line in md.splitlines() if line.startswith("#### ")]
    assert len(headings) == len(demo.findings)
    assert sum("`VPN-BLOCKED`" in h for h in headings) == 5
    assert sum("`VPN-UNKNOWN`" in h for h in headings) == 3
    assert headings[0].startswith("#### ❌ error · #1 `")
    assert "#### ❌ error · #7 `VPN-BLOCKED` · SSTP blocked for HQ ssid 'HQ-Guest': tcp/443 at ssid-l3 rule 2" in md
    assert any("`DATA-GAP`" in h and h.startswith("#### ⚠️ warning") for h in headings)
    assert "**Windows errors:** 809 (The remote server is not responding), 800 (Unable to establish the VPN" in md
    assert "789 (L2TP security layer failed during negotiation)" in md
    assert "**Protocols:** IKEv2, L2TP/IPsec" in md
    assert "- **Remediation:** Rule 3 (allow udp Any:Any -&gt; GRP(2001) \"VPN Concentrators\":500,4500)" in md
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
    assert all(len(r) == 7 for r in rows)  # no pipe from the config split a row
    hq = [r for r in rows if r[0] == "HQ"]
    assert len(hq) == 2
    assert hq[0][1].startswith(r"ssid HQ\|Guest &lt;script&gt;")
    assert r"Retired \| extranet &lt;img src=x onerror=alert(1)&gt; \[click\](http://evil.example)" in hq[0][5]
    assert "<script>" not in md and "<img" not in md
    assert "@netops" not in md and "@\u200bnetops" in md
