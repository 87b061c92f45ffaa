"""`--format sarif` on the retail demo: valid SARIF 2.1.0 whose results point at the rules PLANTED.md names."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.audit import AuditResult, run_audit
from auditor.checks import CheckMeta, Finding, load_checks
from auditor.cli import app
from auditor.model import Model
from auditor.report import render_format
from auditor.report.sarif import sarif_dict

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
NET = "meraki/networks/L_64682000000000{:02d}"


def validate(doc: dict[str, Any]) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(doc)


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return run_audit(DEMO)


@pytest.fixture()
def sarif(demo: AuditResult, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(ROOT)  # the CI case: audit a snapshot committed in the repository, from its root
    return json.loads(render_format(demo, "sarif"))


def by_rule(sarif: dict[str, Any], rule_id: str) -> list[dict[str, Any]]:
    return [r for r in sarif["runs"][0]["results"] if r["ruleId"] == rule_id]


def where(result: dict[str, Any]) -> tuple[str, str | None]:
    location = result["locations"][0]
    uri = location["physicalLocation"]["artifactLocation"]["uri"]
    logical = location.get("logicalLocations", [{}])[0].get("name")
    return uri, logical


def test_demo_validates_against_the_official_schema(sarif: dict[str, Any]) -> None:
    validate(sarif)
    assert sarif["version"] == "2.1.0"
    assert len(sarif["runs"]) == 1
    assert sarif["runs"][0]["results"], "the demo has findings: an empty SARIF run validates, and says nothing"


def test_one_rule_per_finding_id_and_indexes_agree(sarif: dict[str, Any], demo: AuditResult) -> None:
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    assert {meta.id for meta, _ in load_checks()} <= set(ids)
    assert {f.check.id for f in demo.findings} <= set(ids)
    assert run["results"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    blocked = rules[ids.index("VPN-BLOCKED")]
    assert blocked["defaultConfiguration"]["level"] == "error"
    assert blocked["properties"]["kind"] == "blocked-flow"


def test_result_counts_and_levels_match_the_findings(sarif: dict[str, Any], demo: AuditResult) -> None:
    results = sarif["runs"][0]["results"]
    assert len(results) == len(demo.findings)
    assert len(by_rule(sarif, "VPN-BLOCKED")) == 5  # one per cause: IKEv2 and L2TP blocked by one rule are one
    assert {r["level"] for r in by_rule(sarif, "VPN-BLOCKED")} == {"error"}
    assert len(by_rule(sarif, "VPN-PREAUTH-BLOCKED")) == 1
    assert len(by_rule(sarif, "VPN-UNKNOWN")) == 3
    assert {r["level"] for r in by_rule(sarif, "VPN-UNKNOWN")} == {"warning"}
    assert len(by_rule(sarif, "DATA-GAP")) == len(by_rule(sarif, "VPN-SHADOWED-RULE")) == 1
    levels = {"error": "error", "warning": "warning", "info": "note"}
    assert sorted(r["level"] for r in results) == sorted(levels[f.effective_severity] for f in demo.findings)
    n = Counter(f.effective_severity for f in demo.findings)
    assert sarif["runs"][0]["properties"]["summary"] == {
        "paths": 366, "allowed": 324, "blocked": 27, "partial": 0, "unknown": 15, "failing_roles": 11,
        "failing_protocols": 23, "findings": {s: n[s] for s in ("error", "warning", "info")}, "waived": 0}
    fingerprints = [r["partialFingerprints"]["vpnAuditorFinding/v1"] for r in results]
    assert len(set(fingerprints)) == len(fingerprints)
    # code scanning rejects results without a file: every result has one
    assert all(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results)


def test_results_point_at_the_file_and_entry_holding_the_deciding_rule(sarif: dict[str, Any]) -> None:
    base = "fixtures/snapshots/retail-demo/"
    found = {where(r) for r in by_rule(sarif, "VPN-BLOCKED")}
    assert found == {
        (base + NET.format(2) + "/groupPolicies.json", "groupPolicies.json[1]"),  # #2 Contractors policy
        (base + NET.format(3) + "/appliance/firewall/l3FirewallRules.json", "l3FirewallRules.json[1]"),  # #3
        (base + NET.format(4) + "/wireless/ssids/1/firewall/l3FirewallRules.json", "l3FirewallRules.json[1]"),
    }
    contractors = next(r for r in by_rule(sarif, "VPN-BLOCKED")
                       if r["properties"]["role"]["name"] == "Contractors")
    assert "deny udp -> any:500,4500" in contractors["locations"][0]["message"]["text"]
    assert "Remediation:" in contractors["message"]["text"]
    assert contractors["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"

    preauth = {where(r) for r in by_rule(sarif, "VPN-PREAUTH-BLOCKED")}
    assert preauth == {(base + NET.format(1) + "/wireless/ssids/1/splash/settings.json", None)}
    gap = by_rule(sarif, "DATA-GAP")
    assert [where(r) for r in gap] == [(base + NET.format(2) + "/wireless/ssids/1/firewall/l3FirewallRules.json",
                                        None)]
    l7 = [where(r) for r in by_rule(sarif, "VPN-UNKNOWN") if r["properties"]["role"]["name"] == "Store-Mobile"]
    assert set(l7) == {(base + NET.format(1) + "/wireless/ssids/3/firewall/l7FirewallRules.json",
                        "l7FirewallRules.json[0]")}
    shadow = by_rule(sarif, "VPN-SHADOWED-RULE")
    assert [where(r) for r in shadow] == [(base + NET.format(3) + "/appliance/firewall/l3FirewallRules.json",
                                           "l3FirewallRules.json[2]")]


def test_snapshot_outside_the_working_directory_gets_absolute_file_uris(
        demo: AuditResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    doc = sarif_dict(demo)
    validate(doc)
    assert doc["runs"][0]["results"]
    for result in doc["runs"][0]["results"]:
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]
        assert uri["uri"].startswith(DEMO.as_uri() + "/") and "uriBaseId" not in uri


def test_config_origins_carry_a_line_region(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cisco and load-balancer configs are text: the result points at the line of the deciding ACE."""
    monkeypatch.chdir(tmp_path)
    check = CheckMeta("VPN-BLOCKED", "blocked-flow", "error", "VPN flow blocked", (809,), "Allow it.")
    evidence = {"server": "corp-vpn", "protocol": "ikev2", "phase": "post-auth", "flows": ["udp/500"],
                "deciding": [{"device": "cisco/hq-asa", "stage": "acl-in outside", "decision": "deny",
                              "rule": {"index": 4, "text": "access-list OUTSIDE_IN extended deny udp any any eq isakmp",
                                       "comment": None, "source": "cisco/hq-asa.cfg:42", "default": False}}]}
    finding = Finding(check, "IKEv2 blocked at cisco/hq-asa", "Allow udp/500 above line 42.",
                      {"id": "N_1", "name": "Lab"}, {"kind": "source", "name": "branch-lan", "ssid": None},
                      "cisco/hq-asa", evidence)
    result = AuditResult("snap", "2025-01-01T00:00:00+00:00", Model(snapshot="snap"), [], [finding], {})
    doc = sarif_dict(result)
    validate(doc)
    (res,) = doc["runs"][0]["results"]
    physical = res["locations"][0]["physicalLocation"]
    assert physical["region"] == {"startLine": 42}
    assert physical["artifactLocation"]["uri"] == "snap/cisco/hq-asa.cfg"
    assert "logicalLocations" not in res["locations"][0]
    assert "eq isakmp" in res["locations"][0]["message"]["text"]
    assert doc["runs"][0]["invocations"][0]["endTimeUtc"] == "2025-01-01T00:00:00Z"


def test_cli_writes_sarif_and_keeps_the_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  demo: AuditResult) -> None:
    monkeypatch.chdir(ROOT)
    out = tmp_path / "report.sarif"
    run = CliRunner().invoke(app, ["audit", "fixtures/snapshots/retail-demo", "--format", "sarif", "-o", str(out)])
    assert run.exit_code == 1, run.output  # docs/exit-codes.md: findings at or above error
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate(doc)
    assert len(doc["runs"][0]["results"]) == len(demo.findings) > 0
