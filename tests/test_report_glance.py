"""Reports a person reads at a glance (issue 19, item 4), through the CLI on the retail demo: the summary first,
one row per failing role, one finding per cause, the same counts in every format, rule positions said one way,
policy groups by name, the right advice for a shadowed ACE, and a diff whose count is what it lists."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli import app

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
FORMATS = ("text", "json", "markdown", "html", "sarif", "junit")


def audit(*args: str) -> str:
    run = CliRunner().invoke(app, ["audit", str(DEMO), *args], env={"COLUMNS": "160"}, terminal_width=160)
    assert run.exit_code == 1, run.output  # the demo's planted problems are errors
    return run.stdout


@pytest.fixture(scope="module")
def reports() -> dict[str, str]:
    return {fmt: audit("--format", fmt) for fmt in FORMATS}


@pytest.fixture(scope="module")
def report(reports: dict[str, str]) -> dict[str, Any]:
    return json.loads(reports["json"])


# ---------------------------------------------------------------------------------------------------------
# The same counts in every format


def _headline_counts(text: str) -> dict[str, int]:
    """The summary sentence text, Markdown and HTML share."""
    match = re.search(r"(\d+) failing roles \((\d+) failing protocols\); (\d+) of (\d+) paths not allowed: "
                      r"(\d+) blocked, (\d+) partial, (\d+) unknown; findings: (\d+) error, (\d+) warning, (\d+) info",
                      " ".join(text.split()))
    assert match, text[:400]
    keys = ("failing_roles", "failing_protocols", "not_allowed", "paths", "blocked", "partial", "unknown",
            "error", "warning", "info")
    return dict(zip(keys, map(int, match.groups()), strict=True))


def _from_json(summary: dict[str, Any]) -> dict[str, int]:
    return {"failing_roles": summary["failing_roles"], "failing_protocols": summary["failing_protocols"],
            "not_allowed": summary["paths"] - summary["allowed"], "paths": summary["paths"],
            "blocked": summary["blocked"], "partial": summary["partial"], "unknown": summary["unknown"],
            **summary["findings"]}


def _from_html(page: str) -> tuple[dict[str, int], dict[str, int]]:
    cards: dict[str, int] = {}

    class Cards(HTMLParser):
        current: str | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs).get("data-count")
            if found:
                self.current = found
            elif tag == "b" and self.current:
                pass

        def handle_data(self, data: str) -> None:
            if self.current and data.strip().isdigit():
                cards[self.current] = int(data.strip())
                self.current = None

    Cards().feed(page)
    sentence = re.sub(r"<[^>]+>", " ", page.split('<p class="headline"', 1)[1].split("</p>", 1)[0].split(">", 1)[1])
    return cards, _headline_counts(sentence)


def _from_sarif(sarif: dict[str, Any]) -> tuple[dict[str, int], Counter]:
    run = sarif["runs"][0]
    levels = Counter({"note": "info"}.get(r["level"], r["level"]) for r in run["results"])
    return _from_json(run["properties"]["summary"]), levels


def _from_junit(text: str) -> dict[str, int]:
    """Read the way a CI system reads it: failing test cases are failing protocols, failures by type the
    paths that are not allowed, and each suite's findings by severity in its properties."""
    root = ET.fromstring(text.split("\n", 1)[1])
    out: Counter = Counter()
    roles = set()
    for suite in root.iter("testsuite"):
        for prop in suite.iter("property"):
            out[prop.get("name", "").rsplit(".", 1)[-1]] += int(prop.get("value", "0"))
        if suite.get("name") == "configuration checks":
            continue
        for case in suite.iter("testcase"):
            failures = case.findall("failure")
            out["paths"] += 0
            if failures:
                out["failing_protocols"] += 1
                roles.add((suite.get("name"), case.get("name", "").rsplit(" / ", 1)[0]))
            for failure in failures:
                out[failure.get("type", "")] += 1
                out["not_allowed"] += 1
    out["failing_roles"] = len(roles)
    return dict(out)


def test_every_format_states_the_same_counts(reports: dict[str, str], report: dict[str, Any]) -> None:
    expected = _from_json(report["summary"])
    # the numbers themselves, counted from the paths and findings of the JSON report
    paths = report["paths"]
    rows = {(json.dumps(p["network"]), json.dumps(p["role"]), p["phase"], p["server"])
            for p in paths if p["verdict"] != "allowed"}
    protocols = {(json.dumps(p["network"]), json.dumps(p["role"]), p["phase"], p["server"], p["protocol"])
                 for p in paths if p["verdict"] != "allowed"}
    severities = Counter(f["severity"] for f in report["findings"])
    assert expected == {"failing_roles": len(rows), "failing_protocols": len(protocols),
                        "not_allowed": sum(p["verdict"] != "allowed" for p in paths), "paths": len(paths),
                        "blocked": sum(p["verdict"] == "blocked" for p in paths),
                        "partial": sum(p["verdict"] == "partial" for p in paths),
                        "unknown": sum(p["verdict"] == "unknown" for p in paths),
                        "error": severities["error"], "warning": severities["warning"], "info": severities["info"]}
    assert (expected["failing_roles"], expected["failing_protocols"], expected["blocked"], expected["unknown"]) == \
        (11, 23, 27, 15)

    assert _headline_counts(reports["text"]) == expected
    assert len(re.findall(r"^\s*#\d+ ", reports["text"], re.M)) == len(report["findings"])
    assert _headline_counts(reports["markdown"]) == expected
    assert f"### Failing roles ({expected['failing_roles']})" in reports["markdown"]
    assert reports["markdown"].count("\n#### ") == len(report["findings"])

    cards, sentence = _from_html(reports["html"])
    assert sentence == expected
    assert {k: cards[k] for k in ("failing_roles", "failing_protocols", "paths", "blocked", "partial", "unknown",
                                  "error", "warning", "info")} == {k: expected[k] for k in (
        "failing_roles", "failing_protocols", "paths", "blocked", "partial", "unknown", "error", "warning", "info")}
    assert reports["html"].count('<article class="finding') == len(report["findings"])

    summary, levels = _from_sarif(json.loads(reports["sarif"]))
    assert summary == expected
    assert {s: levels[s] for s in ("error", "warning", "info")} == {s: expected[s] for s in ("error", "warning",
                                                                                              "info")}

    junit = _from_junit(reports["junit"])
    assert {k: junit.get(k, 0) for k in ("failing_roles", "failing_protocols", "not_allowed", "blocked", "partial",
                                         "unknown", "error", "warning", "info")} == \
        {k: expected[k] for k in ("failing_roles", "failing_protocols", "not_allowed", "blocked", "partial",
                                  "unknown", "error", "warning", "info")}


# ---------------------------------------------------------------------------------------------------------
# The text report: summary first, on two screens, nothing lost


def test_text_report_fits_two_screens_with_the_summary_first_and_every_finding_on_one_line(
        reports: dict[str, str], report: dict[str, Any]) -> None:
    lines = reports["text"].rstrip("\n").splitlines()
    assert len(lines) <= 80, len(lines)
    assert all(len(line.rstrip()) <= 160 for line in lines)
    assert lines[0].startswith("VPN path audit of ")
    assert lines[1].startswith("11 failing roles (23 failing protocols); 42 of 366 paths not allowed")
    by_number = {int(m.group(1)): line for line in lines if (m := re.match(r"\s*#(\d+) ", line))}
    assert sorted(by_number) == list(range(1, len(report["findings"]) + 1))
    for number, finding in enumerate(report["findings"], 1):
        line = by_number[number]
        assert finding["id"] in line and line.rstrip().endswith(finding["title"]), (number, line)
    # each fix is a flag away: the same numbering, with the remediation under each finding
    verbose = CliRunner().invoke(app, ["audit", str(DEMO), "--verbose"], terminal_width=160)
    text = " ".join(verbose.stdout.split())
    assert all(" ".join(f["remediation"].split()) in text for f in report["findings"])


def test_a_role_blocked_before_sign_on_is_never_listed_as_all_allowed(reports: dict[str, str]) -> None:
    text = " ".join(reports["text"].split())
    store14 = re.search(r"Store 14: all protocols allowed for \d+ role\(s\): (.*?) Store 22:", text)
    assert store14 is not None
    names = store14.group(1).split(", ")
    assert "Store-Guest" not in names and "Store-Guest (after sign-on)" in names
    # and its failing row says before sign-on, blocked on every protocol, by the captive portal
    # (udp/1701 of L2TP/IPsec is blocked with its carriers, whose cause this is)
    assert re.search(r"Store 14 Store-Guest \(ssid\) before sign-on blocked blocked blocked udp/500,4500 "
                     r"tcp/443: splash default rule", text)


# ---------------------------------------------------------------------------------------------------------
# One finding per cause


def test_one_finding_per_cause_lists_every_protocol_it_fails(report: dict[str, Any]) -> None:
    keys = [(f["id"], json.dumps(f["network"]), json.dumps(f["role"]), f["evidence"].get("phase"),
             f["evidence"].get("server"), json.dumps(f["evidence"].get("deciding", [{}])[0].get("rule")),
             f["device"], f["title"] if f["role"] is None else "")
            for f in report["findings"]]
    assert len(keys) == len(set(keys))  # no finding repeats another's cause for a second protocol
    contractors = [f for f in report["findings"] if f["id"] == "VPN-BLOCKED" and f["role"]["name"] == "Contractors"]
    assert len(contractors) == 1
    (finding,) = contractors
    assert finding["evidence"]["protocol"] == "ikev2" and finding["evidence"]["protocols"] == ["ikev2", "l2tp"]
    assert finding["evidence"]["flows"] == ["udp/500", "udp/4500"]
    # a drop of UDP 500 is a timeout (809), not L2TP's negotiation error (789); SSTP still works (no 800)
    assert 809 in finding["windows_errors"] and not {789, 800} & set(finding["windows_errors"])
    portal = [f for f in report["findings"] if f["id"] == "VPN-PREAUTH-BLOCKED"]
    assert [f["evidence"]["protocols"] for f in portal] == [["ikev2", "l2tp", "sstp"]]


# ---------------------------------------------------------------------------------------------------------
# Rule positions one way, policy groups by name


def test_rule_positions_are_said_one_way_and_the_file_index_is_in_the_json(reports: dict[str, str],
                                                                             report: dict[str, Any]) -> None:
    # people read 1-based "rule 2"; the 0-based index of a JSON list ("l3FirewallRules.json[1]") never
    # appears beside it in a human format
    for fmt in ("text", "markdown", "html", "junit"):
        shown = re.sub(r'<pre class="evidence">.*?</pre>', "", reports[fmt], flags=re.S)  # the JSON evidence
        assert not re.search(r"\.json\[\d+\]", shown), fmt
    guest31 = next(p for p in report["paths"] if p["network"]["name"] == "Store 31" and p["role"]["name"] == "Guest"
                   and p["flow"]["dst_port"] == 4500)
    rule = next(h["rule"] for h in guest31["hops"] if h["stage"] == "mx-l3")
    assert (rule["index"], rule["file_index"], rule["label"]) == (2, 1, "rule 2")
    assert rule["source"].endswith("l3FirewallRules.json[1]")  # unchanged: the machine form keeps its index
    trace = CliRunner().invoke(app, ["trace", str(DEMO), "--network", "Store 31", "--role", "Guest", "--flow",
                                     "udp/4500"], terminal_width=200)
    assert "deny by rule 2: deny udp VLAN(30).*:Any -> Any:4500" in trace.stdout
    assert "l3FirewallRules.json[" not in trace.stdout


def test_policy_groups_are_shown_by_name(reports: dict[str, str], report: dict[str, Any]) -> None:
    (shadow,) = [f for f in report["findings"] if f["id"] == "VPN-SHADOWED-RULE"]
    assert shadow["evidence"]["rule"]["text"] == 'allow udp Any:Any -> GRP(2001) "VPN Concentrators":500,4500'
    assert 'GRP(2001) "VPN Concentrators"' in shadow["remediation"]
    # and never advise moving an allow above a deny
    assert "Move rule" not in shadow["remediation"]


# ---------------------------------------------------------------------------------------------------------
# CISCO-SHADOWED-ACE: delete the redundant permit; file lines and IOS sequence numbers apart


def test_shadowed_ace_advice_deletes_the_redundant_permit_and_names_lines_one_way(report: dict[str, Any]) -> None:
    (ace,) = [f for f in report["findings"] if f["id"] == "CISCO-SHADOWED-ACE"]
    fix = ace["remediation"]
    assert fix.startswith("Delete line 37 of cisco/hq-edge.cfg (seq 70) `permit udp any 198.51.100.0 0.0.0.255 eq "
                          "non500-isakmp`")
    assert not re.search(r"\bmove (line|it) \d* ?above\b", fix.replace("Do not move it above", ""), re.I)
    assert "Do not move it above line 28 (seq 10)" in fix
    # every line is "line N" (a file line) with its IOS sequence number apart as "seq N", never mixed
    for text in (ace["title"], fix):
        assert not re.search(r"line \d+ \(\d+ (permit|deny)", text), text
        assert all(seq in ("10", "30", "70") for seq in re.findall(r"seq (\d+)", text))
    assert ace["title"] == ("line 37 of cisco/hq-edge.cfg (seq 70) never permits VPN traffic to 'corp-vpn': "
                            "line 28 (seq 10) and line 31 (seq 30) decide it first")
    assert [(s["line"], s["seq"], s["decision"]) for s in ace["evidence"]["shadowed_by"]] == \
        [(28, 10, "deny"), (31, 30, "permit")]


# ---------------------------------------------------------------------------------------------------------
# diff: the summary counts what it lists


def test_diff_summary_counts_the_entries_it_lists() -> None:
    before = ROOT / "fixtures" / "snapshots" / "diff-before"
    after = ROOT / "fixtures" / "snapshots" / "diff-after"
    run = CliRunner().invoke(app, ["diff", str(before), str(after)], terminal_width=400)
    assert run.exit_code == 1, run.output
    lines = run.stdout.splitlines()
    head = re.match(r".*: (\d+) flow verdicts changed .*?, (\d+) from allowed to worse", lines[0])
    assert head is not None, lines[0]
    entries = [line for line in lines if re.search(r" -> \S+ \S+ \([a-z0-9, ]+\): ", line)]
    # 14 before UDP 1701 followed its carriers (four more 1701 changes, one fewer) and ESP was traced where NAT
    # is unsure (the kiosk's VLAN is gone: one more)
    assert int(head.group(1)) == len(entries) == 18
    assert int(head.group(2)) == sum(line.startswith("REGRESSION ") for line in entries)
    data = json.loads(CliRunner().invoke(app, ["diff", str(before), str(after), "--format", "json"]).stdout)
    assert data["summary"]["changed_flows"] == len(entries)
    assert data["summary"]["changed_verdicts"] == len(data["changes"])  # per protocol, as the list it counts
