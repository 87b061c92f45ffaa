"""`vpn-auditor explain`: Windows VPN error codes to the findings that can cause them (retail-demo)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from auditor.checks import load_checks
from auditor.cli import app
from auditor.explain_errors import catalogue, explain

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
CONTRACT_KINDS = {"blocked-flow", "partial-flow", "unknown-flow", "preauth-blocked", "split-persistence",
                  "snat-on-ike", "missing-monitor", "nat-missing", "shadowed-vpn-rule", "data-gap"}


@pytest.fixture(scope="module")
def wifi_only(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo without the devices in front of the server (their F5 split persistence is an 809 cause for
    every role), for the tests about one role's own findings."""
    copy = tmp_path_factory.mktemp("demo") / "retail-demo"
    shutil.copytree(DEMO, copy, ignore=shutil.ignore_patterns("cisco", "f5"))
    config = yaml.safe_load((copy / "audit.yaml").read_text())
    config["vpn_servers"][0].pop("path", None)
    (copy / "audit.yaml").write_text(yaml.safe_dump(config))
    return str(copy)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["explain", *args])
    return result.exit_code, result.stdout, result.stderr


def as_json(*args: str) -> tuple[int, dict]:
    code, out, err = run(*args, "--format", "json")
    assert code != 2, err
    return code, json.loads(out)


def test_the_catalogue_covers_the_common_codes_with_known_finding_kinds():
    errors = catalogue()
    assert {809, 789, 800, 868, 628, 691, 812, 853, 13801, 13806} <= set(errors)
    known = CONTRACT_KINDS | {meta.kind for meta, _run in load_checks()}
    for code, error in errors.items():
        assert error.title and error.windows_says and error.other_causes, code
        for cause in error.network_causes:
            assert set(cause.kinds) <= known, (code, cause.kinds)
            assert set(cause.protocols) <= {"ikev2", "l2tp", "sstp"}
    for code in (691, 812, 853, 13806):
        assert errors[code].network_causes == [], code  # credentials, certificates
    # 868 (the name did not resolve) is the DNS findings' (issue 25); a splash page does not explain it
    assert {k for c in errors[868].network_causes for k in c.kinds} == {"dns-mismatch", "dns-unresolved",
                                                                       "dns-unknown"}
    # a certificate error, but the certificates travel in IKE_AUTH, which dropped fragments never deliver
    assert [c.kinds for c in errors[13801].network_causes] == [["fragment-drop"]]


def test_809_on_the_store_31_guest_ssid_names_the_mx_rule():
    code, report = as_json("809", str(DEMO), "--network", "Store 31", "--role", "Store-Guest")
    assert code == 1  # blocked-flow findings are errors
    assert report["audited"] and report["title"] == "The remote server is not responding"
    kinds = {(f["kind"], tuple(f["evidence"].get("protocols") or ())) for f in report["findings"]}
    assert ("blocked-flow", ("ikev2", "l2tp")) in kinds  # one finding: one rule blocks both protocols
    assert ("shadowed-vpn-rule", ()) in kinds  # the MX list the role crosses
    blocked = next(f for f in report["findings"] if f["kind"] == "blocked-flow")
    assert blocked["role"]["ssid"] == "Store-Guest" and "rule 2" in blocked["remediation"]
    assert "times out" in blocked["why"]
    # device findings (network None) concern every network; the rest are Store 31's
    assert all(f["network"] is None or f["network"]["name"] == "Store 31" for f in report["findings"])
    assert {f["kind"] for f in report["findings"] if f["network"] is None} == {"split-persistence",
                                                                                 "shadowed-vpn-rule"}


def test_789_only_counts_l2tp_findings():
    code, report = as_json("789", str(DEMO), "--network", "Store 22", "--role", "Contractors")
    assert code == 1
    assert report["findings"]
    role_findings = [f for f in report["findings"] if f["role"] is not None]
    # one finding per cause: the rule blocks IKEv2 and L2TP alike, and 789 is L2TP's error
    assert all("l2tp" in f["evidence"]["protocols"] for f in role_findings)
    assert all(789 in f["windows_errors"] for f in role_findings)
    assert all(f["role"]["name"] == "Contractors" for f in role_findings)


def test_800_on_hq_guest_is_the_blocked_sstp_fallback():
    _, report = as_json("800", str(DEMO), "--network", "HQ", "--role", "HQ-Guest")
    protocols = {f["evidence"]["protocol"] for f in report["findings"] if f["kind"] == "blocked-flow"}
    assert protocols == {"sstp"}


def test_no_network_cause_in_scope_says_so_and_lists_the_checks(wifi_only: str):
    code, out, _ = run("809", wifi_only, "--network", "HQ", "--role", "HQ-Corp")
    assert code == 0
    assert "None of these is present in network HQ, role HQ-Corp" in out
    assert "AssumeUDPEncapsulationContextOnSendRule" in out


@pytest.mark.parametrize(("code", "words"), [
    (691, "NPS event log"), (812, "Authentication Methods"), (853, "NTAuth"), (13806, "Client Authentication EKU"),
])
def test_codes_without_network_cause_name_what_to_check(code: int, words: str):
    exit_code, out, _ = run(str(code), str(DEMO))
    assert exit_code == 0
    assert f"Error {code} has no network cause" in out
    assert words in out
    assert not explain(code, DEMO).audited  # nothing to audit


def test_868_lists_the_demo_dns_mismatch_and_what_to_check():
    code, out, _ = run("868", str(DEMO))
    assert code == 1
    assert "has no network cause" not in out
    assert "DNS-MISMATCH (dns-mismatch): vpn.contoso-retail.example resolves to 198.51.100.20" in " ".join(out.split())
    assert "Resolve-DnsName" in out


def test_13801_names_its_one_network_cause_and_the_certificate_checks():
    # the demo drops no IKE fragments: 13801 is then about certificates, and the answer says so
    code, out, _ = run("13801", str(DEMO))
    assert code == 0
    assert "has no network cause" not in out
    assert "  - fragment-drop: The certificates travel in IKE_AUTH" in out
    assert "None of these is present in the whole snapshot" in out
    assert "Server Authentication EKU" in out
    assert explain(13801, DEMO).audited


def test_unknown_flows_exit_3_unless_allowed(wifi_only: str):
    code, report = as_json("809", wifi_only, "--network", "Store 14", "--role", "Store-Mobile")
    assert code == 3
    assert {f["kind"] for f in report["findings"]} == {"unknown-flow"}
    assert "L7 port rule" in report["findings"][0]["remediation"]
    code, _ = as_json("809", wifi_only, "--network", "Store 14", "--role", "Store-Mobile", "--allow-unknown")
    assert code == 0


def test_pre_auth_splash_block_is_found_for_809():
    _, report = as_json("809", str(DEMO), "--network", "Store 14", "--role", "Store-Guest")
    assert {f["kind"] for f in report["findings"] if f["role"] is not None} == {"preauth-blocked"}


def test_usage_errors():
    code, _, err = run("4242", str(DEMO))
    assert code == 2 and "known: 628" in err
    code, _, err = run("809", str(DEMO), "--network", "HQ", "--role", "Nobody")
    assert code == 2 and "Nobody" in err
    code, _, err = run("809", str(DEMO), "--network", "Store 99")
    assert code == 2 and "Store 99" in err
