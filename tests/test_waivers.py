"""`audit --waivers FILE` through the CLI: waived findings are reported as waived and do not fail the gate,
SARIF suppresses them (schema-valid), JUnit skips them; an expired waiver is an error finding, an unmatched
one a warning line, and a bad file one line naming the file and entry, exit 2."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from tests.snapshot_builder import MerakiSnapshot, deny

ROOT = Path(__file__).resolve().parents[1]
SARIF_SCHEMA = json.loads((ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
REPORT_SCHEMA = json.loads((ROOT / "auditor" / "report" / "report.schema.json").read_text(encoding="utf-8"))
runner = CliRunner()
FUTURE, PAST = "2999-12-31", "2001-01-01"


@pytest.fixture(scope="module")
def snap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two blocked SSIDs (two VPN-BLOCKED causes) and one whose L7 port rule leaves udp/4500 unknown."""
    root = tmp_path_factory.mktemp("waivers") / "snap"
    snap = MerakiSnapshot(root)
    net = snap.network()
    snap.ssid(net, 0, "Guest", rules=[deny("udp", "500,4500", comment="no personal VPNs")])
    snap.ssid(net, 1, "Lab", rules=[deny("tcp", "443", comment="lab: no HTTPS out")])
    snap.ssid(net, 2, "Mobile", l7=[{"policy": "deny", "type": "port", "value": "4500"}])
    (root / "audit.yaml").write_text(yaml.safe_dump(snap.config), encoding="utf-8")
    return root


def _waivers(tmp: Path, entries: Any, name: str = "waivers.yaml") -> Path:
    path = tmp / name
    path.write_text(entries if isinstance(entries, str) else yaml.safe_dump(entries, sort_keys=False),
                    encoding="utf-8")
    return path


def _run(snap: Path, waivers: Path | None, fmt: str = "json", *extra: str) -> tuple[int, str, Any]:
    out = waivers.parent / f"report-{fmt}" if waivers is not None else snap.parent / f"plain-{fmt}"
    args = ["audit", str(snap), "--format", fmt, "-o", str(out), *extra]
    if waivers is not None:
        args += ["--waivers", str(waivers)]
    result = runner.invoke(app, args)
    return result.exit_code, out.read_text(encoding="utf-8") if out.exists() else "", result


def _waiver(**fields: str) -> dict[str, str]:
    return {**fields, "reason": fields.get("reason", "accepted risk"), "owner": fields.get("owner", "netops"),
            "expires": fields.get("expires", FUTURE)}


def _findings(body: str) -> list[dict[str, Any]]:
    doc = json.loads(body)
    jsonschema.validate(doc, REPORT_SCHEMA)
    return doc["findings"]


def test_findings_carry_a_stable_fingerprint(snap: Path) -> None:
    _code, first, _ = _run(snap, None)
    _code, again, _ = _run(snap, None)
    prints = [f["fingerprint"] for f in _findings(first)]
    assert prints == [f["fingerprint"] for f in _findings(again)]
    blocked = {f["role"]["name"]: f["fingerprint"] for f in _findings(first) if f["id"] == "VPN-BLOCKED"}
    assert blocked["Guest"] != blocked["Lab"]  # different causes


def test_waived_findings_are_reported_and_do_not_fail_the_gate(snap: Path, tmp_path: Path) -> None:
    assert _run(snap, None)[0] == 1
    code, body, _ = _run(snap, _waivers(tmp_path, [_waiver(finding="VPN-BLOCKED", reason="guests: policy")]))
    findings = _findings(body)
    blocked = [f for f in findings if f["id"] == "VPN-BLOCKED"]
    assert len(blocked) >= 2 and all(f["waived"] == {"reason": "guests: policy", "owner": "netops",
                                                     "expires": FUTURE} for f in blocked)
    assert all("waived" not in f for f in findings if f["id"] != "VPN-BLOCKED")
    assert code == 3  # the unknown udp/4500 of Mobile still stops the gate
    both = _waivers(tmp_path, [_waiver(finding="VPN-BLOCKED"), _waiver(finding="VPN-UNKNOWN")], "both.yaml")
    assert _run(snap, both)[0] == 0
    assert _run(snap, both, "json", "--fail-on", "warning")[0] == 0


def test_fingerprint_waives_one_finding(snap: Path, tmp_path: Path) -> None:
    _code, body, _ = _run(snap, None)
    guest = next(f for f in _findings(body) if f["id"] == "VPN-BLOCKED" and f["role"]["name"] == "Guest")
    code, body, _ = _run(snap, _waivers(tmp_path, [_waiver(fingerprint=guest["fingerprint"])]))
    assert code == 1  # Lab is still blocked
    waived = {(f["role"]["name"], f["id"]) for f in _findings(body) if "waived" in f}
    assert waived == {("Guest", "VPN-BLOCKED")}


def test_sarif_marks_waived_results_suppressed(snap: Path, tmp_path: Path) -> None:
    _code, body, _ = _run(snap, _waivers(tmp_path, [_waiver(finding="VPN-BLOCKED", reason="known", owner="ann")]),
                          "sarif")
    doc = json.loads(body)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(doc)
    results = doc["runs"][0]["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert suppressed and all(r["ruleId"] == "VPN-BLOCKED" for r in suppressed)
    (suppression,) = suppressed[0]["suppressions"]
    assert suppression["kind"] == "external" and suppression["status"] == "accepted"
    assert suppression["justification"] == f"known (owner: ann; expires {FUTURE})"
    assert suppression["properties"]["owner"] == "ann" and len(suppression["properties"]["fingerprint"]) == 16
    others = [r for r in results if r["ruleId"] != "VPN-BLOCKED"]
    assert others and all(not r.get("suppressions") for r in others)


def test_junit_shows_waived_failures_as_skipped(snap: Path, tmp_path: Path) -> None:
    _code, body, _ = _run(snap, _waivers(tmp_path, [_waiver(finding="VPN-BLOCKED", reason="known")]), "junit")
    root = ET.fromstring(body)
    cases = {c.get("name"): c for c in root.iter("testcase")}
    guest = cases["ssid Guest / IKEv2 to vpn"]
    assert guest.find("failure") is None and "known" in guest.find("skipped").get("message")
    assert cases["ssid Lab / SSTP to vpn"].find("skipped") is not None
    assert cases["ssid Mobile / IKEv2 to vpn"].find("failure") is not None  # unknown, not waived
    suite = next(root.iter("testsuite"))
    assert int(suite.get("skipped")) == sum(1 for c in suite.iter("testcase") if c.find("skipped") is not None) >= 3


def test_text_markdown_html_mark_waived_findings(snap: Path, tmp_path: Path) -> None:
    waivers = _waivers(tmp_path, [_waiver(finding="VPN-BLOCKED", reason="known risk", owner="ann")])
    assert "(waived)" in _run(snap, waivers, "text")[1]
    assert "· waived ·" in _run(snap, waivers, "markdown")[1] and "**Waived** by ann" in _run(snap, waivers,
                                                                                            "markdown")[1]
    assert '<span class="waived">waived</span>' in _run(snap, waivers, "html")[1]


def test_expired_waiver_is_an_error_finding_and_waives_nothing(snap: Path, tmp_path: Path) -> None:
    path = _waivers(tmp_path, [_waiver(finding="VPN-UNKNOWN"),
                               _waiver(finding="VPN-BLOCKED", expires=PAST, owner="bob")])
    code, body, _ = _run(snap, path)
    assert code == 1
    findings = _findings(body)
    expired = [f for f in findings if f["id"] == "WAIVER-EXPIRED"]
    assert len(expired) == 1 and expired[0]["severity"] == "error"
    assert PAST in expired[0]["title"] and "bob" in expired[0]["title"]
    assert expired[0]["evidence"]["source"] == f"{path.resolve()}:5" and expired[0]["evidence"]["entry"] == 2
    assert all("waived" not in f for f in findings if f["id"] == "VPN-BLOCKED")
    # even with every finding it named waived otherwise, the expired waiver alone fails the gate
    assert _run(snap, _waivers(tmp_path, [_waiver(finding="VPN-UNKNOWN"), _waiver(finding="VPN-BLOCKED"),
                                         _waiver(finding="VPN-BLOCKED", expires=PAST)], "x.yaml"))[0] == 1
    _code, sarif, _ = _run(snap, path, "sarif")
    result = next(r for r in json.loads(sarif)["runs"][0]["results"] if r["ruleId"] == "WAIVER-EXPIRED")
    location = result["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"].endswith("waivers.yaml") and location["region"]["startLine"] == 5


def test_unmatched_waiver_is_a_warning_line(snap: Path, tmp_path: Path) -> None:
    path = _waivers(tmp_path, [_waiver(finding="VPN-BLOCKED"), _waiver(finding="VPN-UNKNOWN"),
                               _waiver(finding="LB-SPLIT-PERSISTENCE"), _waiver(finding="VPN-BLOKED")])
    code, _body, result = _run(snap, path)
    assert code == 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert f"{path}:9: entry 3:" in warnings[0] and "LB-SPLIT-PERSISTENCE matches no finding" in warnings[0]
    assert "VPN-BLOKED matches no finding (no check has that id" in warnings[1]


@pytest.mark.parametrize(("text", "where", "words"), [
    ([{"finding": "VPN-BLOCKED", "reason": "r", "expires": FUTURE}], ":1: entry 1:", "'owner' is required"),
    ([_waiver(finding="VPN-BLOCKED"), {**_waiver(finding="X"), "expires": "31/12/2030"}], ":5: entry 2:",
     "'expires' must be a date (YYYY-MM-DD)"),
    ([{**_waiver(finding="VPN-BLOCKED"), "expiry": FUTURE}], ":1: entry 1:", "unknown key 'expiry'"),
    ([_waiver(finding="VPN-BLOCKED", fingerprint="0123456789abcdef")], ":1: entry 1:", "exactly one of"),
    ([_waiver(fingerprint="xyz")], ":1: entry 1:", "16 hex digits"),
    ([{"reason": "r", "owner": "o", "expires": FUTURE}], ":1: entry 1:", "exactly one of"),
    ([_waiver(finding="VPN-BLOCKED", expires="")], ":1: entry 1:", "'expires' must be a date"),
    ({"finding": "VPN-BLOCKED"}, ": ", "expected a list of waivers"),
    (["VPN-BLOCKED"], ":1: entry 1:", "expected a mapping"),
    ("- finding: VPN-BLOCKED\n  reason: [unclosed\n", ":3: ", "malformed YAML"),
])
def test_bad_waiver_file_is_one_line_exit_2(snap: Path, tmp_path: Path, text: Any, where: str, words: str) -> None:
    path = _waivers(tmp_path, text)
    code, _body, result = _run(snap, path)
    assert code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}{where}") and words in lines[0], lines


def test_missing_waiver_file_exit_2(snap: Path, tmp_path: Path) -> None:
    code, _body, result = _run(snap, tmp_path / "nope.yaml")
    assert code == 2 and result.output.strip() == f"error: {tmp_path / 'nope.yaml'}: waiver file not found"


def test_docs_example_loads(tmp_path: Path) -> None:
    from auditor.waivers import load_waivers

    text = (ROOT / "docs" / "waivers.md").read_text(encoding="utf-8")
    path = tmp_path / "waivers.yaml"
    path.write_text(text.split("```yaml\n", 1)[1].split("```", 1)[0], encoding="utf-8")
    waivers = load_waivers(path)
    assert [(w.finding, w.fingerprint, w.line) for w in waivers] == [
        ("VPN-PREAUTH-BLOCKED", None, 2), (None, "5076bda93b5c4812", 6)]


def test_an_expired_waiver_names_its_file_where_it_was_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`fleet --waivers` reads the file on its driver and applies it on workers in other directories: the expired
    waiver's finding names the file the driver read, not one under the worker's directory."""
    from auditor.waivers import _expired, load_waivers

    driver, worker = tmp_path / "driver", tmp_path / "worker"
    driver.mkdir()
    worker.mkdir()
    _waivers(driver, [_waiver(finding="VPN-BLOCKED", expires=PAST)], "w.yaml")
    monkeypatch.chdir(driver)
    waivers = load_waivers(Path("w.yaml"))
    monkeypatch.chdir(worker)
    assert _expired(waivers[0], []).evidence["source"] == f"{driver / 'w.yaml'}:1"
