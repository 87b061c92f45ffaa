"""`vpn-auditor explain`: Windows VPN error codes to the findings that can cause them (retail-demo), through the
CLI: which findings each code lists (from the findings' own tags), codes as users see them, families, the CRL
host as a traced destination, and the remedies' sources."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from auditor import crl
from auditor.audit import run_audit
from auditor.checks import load_checks
from auditor.cli import app
from auditor.explain_errors import catalogue, code_text, families, parse_code
from auditor.protocols import load_protocols
from rules.checks._windows import NOT_A_DROP

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
SNAPSHOTS = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots"
# Kinds the catalogue may name before their checks exist (declared here, so no other kind can slip in).
PENDING_KINDS: set[str] = set()
# Checks whose findings take their codes from their protocols' catalogue entries (rules/protocols.yaml, and the
# CRL protocol of auditor/crl.py) on top of their own.
PROTOCOL_TAGGED = {"blocked-flow", "partial-flow", "unknown-flow", "preauth-blocked", "nat-missing"}
IN_WALLED_GARDEN = "203.0.113.80"  # Store 14's splash walled garden holds it (PLANTED.md #1)
OUTSIDE = "192.0.2.80"


def copy_demo(tmp_path: Path, edit: Any = None, drop: tuple[str, ...] = ()) -> str:
    copy = tmp_path / "retail-demo"
    shutil.copytree(DEMO, copy, ignore=shutil.ignore_patterns(*drop) if drop else None)
    config = yaml.safe_load((copy / "audit.yaml").read_text())
    if edit is not None:
        edit(config["vpn_servers"][0])
    (copy / "audit.yaml").write_text(yaml.safe_dump(config))
    return str(copy)


@pytest.fixture(scope="module")
def wifi_only(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo without the devices in front of the server (their F5 split persistence is an 809 cause for
    every role), for the tests about one role's own findings."""
    return copy_demo(tmp_path_factory.mktemp("demo"), lambda s: s.pop("path", None), drop=("cisco", "f5"))


@pytest.fixture(scope="module")
def with_crl(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo with the server certificate's CRL URLs: one host inside Store 14's walled garden, one outside
    it, and one given by a name the snapshot has no address for."""
    return copy_demo(tmp_path_factory.mktemp("crl"), lambda s: s.__setitem__("crl_urls", [
        f"http://{IN_WALLED_GARDEN}/pki/issuing.crl", f"http://{OUTSIDE}/pki/root.crl",
        "http://pki.contoso-retail.example/crl/root.crl"]))


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["explain", *args])
    return result.exit_code, result.stdout, result.stderr


def as_json(*args: str) -> tuple[int, dict]:
    code, out, err = run(*args, "--format", "json")
    assert code != 2, err
    return code, json.loads(out)


# ---------------------------------------------------------------------------------------------------------
# The catalogue and the tags agree (item 2)

def test_the_catalogue_covers_the_common_codes_and_cites_every_remedy():
    errors = catalogue()
    assert {809, 789, 800, 827, 868, 628, 691, 812, 853, 13801, 13806, 0x800704C9, 0x80092013} <= set(errors)
    for code, error in errors.items():
        assert error.title and error.windows_says and error.other_causes and error.sources, code
        assert set(error.protocols) <= {"ikev2", "l2tp", "sstp"}, code
        for other in error.other_causes:
            assert other.source, (code, other.cause)  # every remedy names its source
    for family in families():
        assert family.first < family.last and family.checks and all(c.source for c in family.checks)
    for code in (628, 691, 812, 853, 13806, 827, 0x800704C9):
        assert errors[code].network_causes == [], code  # credentials, certificates, server policy
    # a certificate error, but the certificates travel in IKE_AUTH, which dropped fragments never deliver
    assert [c.kinds for c in errors[13801].network_causes] == [["fragment-drop"]]


def _emittable() -> dict[int, set[str]]:
    """Per code, the finding kinds some check can tag with it."""
    protocol_codes = ({c for p in load_protocols().values() for c in p.windows_errors} | set(crl.CODES)) - NOT_A_DROP
    out: dict[int, set[str]] = {}
    for meta, _run in load_checks():
        codes = set(meta.windows_errors) | (protocol_codes if meta.kind in PROTOCOL_TAGGED else set())
        for code in codes:
            out.setdefault(code, set()).add(meta.kind)
    return out


def test_every_code_a_check_can_set_says_why_for_that_kind_and_every_listed_kind_can_carry_it():
    errors = catalogue()
    emittable = _emittable()
    for code, kinds in emittable.items():
        assert code in errors, code_text(code)
        for kind in kinds:
            assert errors[code].why(kind), (code_text(code), kind)  # explain has its mechanism
    for code, error in errors.items():
        for cause in error.network_causes:
            for kind in cause.kinds:
                assert kind in emittable.get(code, set()) or kind in PENDING_KINDS, (code_text(code), kind)


@pytest.mark.parametrize("snapshot", ["demo", "crl", *sorted(p.name for p in SNAPSHOTS.iterdir()
                                                            if (p / "audit.yaml").is_file()
                                                            and p.name != "retail-demo")])
def test_explain_code_lists_every_finding_tagged_with_it(snapshot: str, with_crl: str):
    path = {"demo": str(DEMO), "crl": with_crl}.get(snapshot, str(SNAPSHOTS / snapshot))
    findings = [f.to_json() for f in run_audit(path).findings]
    tagged: dict[int, set[str]] = {}
    for finding in findings:
        for code in finding["windows_errors"]:
            tagged.setdefault(code, set()).add(finding["fingerprint"])
    assert tagged, snapshot
    for code, prints in tagged.items():
        _, report = as_json(code_text(code), path, "--allow-unknown")
        listed = {f["fingerprint"] for f in report["findings"]}
        assert prints <= listed, (snapshot, code_text(code))
        assert all(code in f["windows_errors"] for f in report["findings"])  # and nothing it is not tagged with
        assert all(f["why"] and not f["why"].startswith("Its check tags it") for f in report["findings"])


# ---------------------------------------------------------------------------------------------------------
# 809, 13801: timeouts are 809, certificates 13801 (item 1)

def test_809_on_the_store_31_guest_ssid_names_the_mx_rule():
    code, report = as_json("809", str(DEMO), "--network", "Store 31", "--role", "Store-Guest")
    assert code == 1  # blocked-flow findings are errors
    assert report["audited"] and report["title"] == "The remote server is not responding"
    kinds = {(f["kind"], tuple(f["evidence"].get("protocols") or ())) for f in report["findings"]}
    assert ("blocked-flow", ("ikev2", "l2tp")) in kinds  # one finding: one rule blocks both protocols
    assert ("shadowed-vpn-rule", ()) in kinds  # the MX list the role crosses
    assert ("split-persistence", ("ikev2", "l2tp")) in kinds  # the F5: the IKE protocols of the server behind
    blocked = next(f for f in report["findings"] if f["kind"] == "blocked-flow")
    assert blocked["role"]["ssid"] == "Store-Guest" and "rule 2" in blocked["remediation"]
    assert "times out" in blocked["why"]
    assert all(f["network"] is None or f["network"]["name"] == "Store 31" for f in report["findings"])


def test_blocked_ike_is_a_timeout_not_a_certificate_error():
    _, report = as_json("809", str(DEMO))
    ike = [f for f in report["findings"] if f["kind"] in PROTOCOL_TAGGED and "ikev2" in f["evidence"]["protocols"]]
    assert ike and all(809 in f["windows_errors"] and 13801 not in f["windows_errors"] for f in ike)
    code, out, _ = run("13801", str(DEMO))
    assert code == 0  # the demo drops no IKE fragments: nothing on the network explains 13801
    assert "  - fragment-drop: The certificates travel in IKE_AUTH" in out
    assert "None of these is present in the whole snapshot" in out
    assert "VPN-BLOCKED" not in out and "firewall" not in out.split("Other causes")[0]
    # the certificate causes, with the expired certificate and the wrong device certificate
    for words in ("Server Authentication EKU", "has expired", "IP security IKE intermediate EKU (1.3.6.1.5.5.8.2.2)"):
        assert words in out


# ---------------------------------------------------------------------------------------------------------
# 789 is L2TP's, after negotiation started (item 3)

def test_789_lists_l2tp_causes_where_udp_500_got_through():
    code, report = as_json("789", str(DEMO), "--network", "Store 31", "--role", "Store-Guest")
    assert code == 1
    by_kind = {f["kind"]: f for f in report["findings"]}
    assert set(by_kind) == {"blocked-flow", "split-persistence"}
    assert by_kind["blocked-flow"]["evidence"]["flows"] == ["udp/4500"]  # UDP 500 passes, NAT-T is dropped
    assert all("l2tp" in f["evidence"]["protocols"] and 789 in f["windows_errors"] for f in report["findings"])


def test_a_plain_drop_of_udp_500_is_809_not_789(wifi_only: str):
    code, report = as_json("789", wifi_only, "--network", "Store 22", "--role", "Contractors")
    assert (code, report["findings"]) == (0, [])
    _, report = as_json("809", wifi_only, "--network", "Store 22", "--role", "Contractors")
    (blocked,) = [f for f in report["findings"] if f["kind"] == "blocked-flow"]
    assert blocked["evidence"]["flows"] == ["udp/500", "udp/4500"] and 789 not in blocked["windows_errors"]


def test_load_balancer_findings_carry_the_protocols_they_affect(tmp_path: Path):
    no_l2tp = copy_demo(tmp_path, lambda s: s.__setitem__("protocols", ["ikev2", "sstp"]))
    code, report = as_json("789", no_l2tp)
    assert (code, report["findings"]) == (0, [])  # the F5's split persistence concerns IKEv2 only there
    _, report = as_json("809", no_l2tp)
    (split,) = [f for f in report["findings"] if f["kind"] == "split-persistence"]
    assert split["evidence"]["protocols"] == ["ikev2"] and split["windows_errors"] == [809]
    _, report = as_json("789", str(DEMO))
    (split,) = [f for f in report["findings"] if f["kind"] == "split-persistence"]
    assert split["evidence"]["protocols"] == ["ikev2", "l2tp"] and split["windows_errors"] == [809, 789]


def test_789_names_the_services_the_key_and_the_machine_certificate():
    _, out, _ = run("789", str(DEMO))
    assert "IKEEXT" in out and "BFE" in out and "RasMan" in out and "(PolicyAgent)" not in out
    assert "pre-shared key" in out and "RRAS server's computer certificate" in out
    assert "reports 827 instead" in out
    code, out, _ = run("827", str(DEMO))
    assert code == 0 and "Error 827 has no network cause" in out and "Get-Service IKEEXT, BFE" in out


# ---------------------------------------------------------------------------------------------------------
# 800 per role (item 4)

def test_800_is_not_raised_for_a_role_with_a_working_protocol():
    # HQ-Guest: SSTP is blocked at the SSID, IKEv2 and L2TP get through: Windows falls back, no 800
    code, report = as_json("800", str(DEMO), "--network", "HQ", "--role", "HQ-Guest")
    assert (code, report["findings"]) == (0, [])
    _, report = as_json("809", str(DEMO), "--network", "HQ", "--role", "HQ-Guest")
    sstp = [f for f in report["findings"] if f["kind"] == "blocked-flow"]
    assert [f["evidence"]["protocols"] for f in sstp] == [["sstp"]] and 800 not in sstp[0]["windows_errors"]


def test_800_when_every_protocol_the_server_offers_fails_for_the_role(wifi_only: str, tmp_path: Path):
    _, report = as_json("800", wifi_only, "--network", "Store 14", "--role", "Store-Guest")
    assert [f["kind"] for f in report["findings"]] == ["preauth-blocked"]  # the portal holds every protocol
    ipsec_only = copy_demo(tmp_path, lambda s: (s.pop("path", None), s.__setitem__("protocols", ["ikev2", "l2tp"])),
                           drop=("cisco", "f5"))
    _, report = as_json("800", ipsec_only, "--network", "Store 22", "--role", "Contractors")
    (blocked,) = report["findings"]  # without SSTP, the rule on UDP 500/4500 leaves nothing to fall back on
    assert blocked["kind"] == "blocked-flow" and 800 in blocked["windows_errors"]


# ---------------------------------------------------------------------------------------------------------
# 628, 868, codes without a network cause (items 5, 6)

@pytest.mark.parametrize(("code", "words"), [
    (691, "NPS event log"), (812, "Authentication Methods"), (853, "NTAuth"), (13806, "Client Authentication EKU"),
    (628, "Authentication Methods"), ("0x800704C9", "WAN Miniport (SSTP)"),
])
def test_codes_without_network_cause_name_what_to_check(code: int | str, words: str):
    exit_code, out, _ = run(str(code), str(DEMO))
    assert exit_code == 0
    assert f"Error {code} has no network cause" in out
    assert words in out


def test_628_has_no_firewall_cause_and_sends_port_exhaustion_to_0x800704c9():
    _, out, _ = run("628", str(DEMO))
    assert "has no network cause" in out and "0x800704C9" in out and "blocked-flow" not in out


def test_no_network_cause_in_scope_says_so_and_lists_the_checks(wifi_only: str):
    code, out, _ = run("809", wifi_only, "--network", "HQ", "--role", "HQ-Corp")
    assert code == 0
    assert "None of these is present in network HQ, role HQ-Corp" in out
    assert "AssumeUDPEncapsulationContextOnSendRule" in out


def test_868_lists_the_demo_dns_mismatch_not_the_captive_portal():
    code, out, _ = run("868", str(DEMO))
    assert code == 1
    assert "has no network cause" not in out
    assert "DNS-MISMATCH (dns-mismatch): vpn.contoso-retail.example resolves to 198.51.100.20" in " ".join(out.split())
    assert "Resolve-DnsName" in out
    _, report = as_json("868", str(DEMO))
    kinds = {k for c in report["network_causes"] for k in c["kinds"]}
    assert kinds == {"dns-unresolved", "dns-mismatch", "dns-unknown"}
    assert report["findings"] and all(f["kind"].startswith("dns-") for f in report["findings"])


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


# ---------------------------------------------------------------------------------------------------------
# Codes as users see them, families (item 7)

@pytest.mark.parametrize(("given", "code"), [
    ("809", 809), ("0x80092013", 0x80092013), ("0X80092013", 0x80092013), ("-2146885613", 0x80092013),
    ("2148081683", 0x80092013), (" 13801 ", 13801),
])
def test_codes_are_read_as_users_copy_them(given: str, code: int):
    assert parse_code(given) == code


def test_hex_and_negative_decimal_reach_the_same_answer():
    answers = [as_json(given, str(DEMO))[1] for given in ("0x80092013", "-2146885613")]
    assert answers[0] == answers[1]
    assert answers[0]["code"] == 0x80092013 and answers[0]["code_text"] == "0x80092013"
    code, out, _ = run("-2146885613", str(DEMO))
    assert code == 0
    assert out.startswith("Windows error 0x80092013: The revocation server was offline")
    _, out, _ = run("0x80070329", str(DEMO))  # 809 as an HRESULT
    assert out.startswith("Windows error 809 (0x80070329 is Windows error 809 as an HRESULT)")


@pytest.mark.parametrize(("given", "family", "words"), [
    ("13868", "IKE and IPsec negotiation", "IPsec Main Mode"),
    ("0x800735EC", "IKE and IPsec negotiation", "IPsec Main Mode"),  # 13804 as an HRESULT
    ("720", "PPP and authentication", "ppp.log"),
    ("0x800B0109", "Certificate chain and trust", "certutil -verify -urlfetch"),
    ("-2146762495", "Certificate chain and trust", "TLS inspection"),  # 0x800B0101, CERT_E_EXPIRED
])
def test_codes_not_in_the_catalogue_are_answered_by_family(given: str, family: str, words: str):
    code, out, err = run(given, str(DEMO))
    assert code == 0, err
    assert "not in the catalogue; it is in the family" in out and family in out and words in out
    _, report = as_json(given, str(DEMO))
    assert report["family"]["name"] == family and not report["audited"]


@pytest.mark.parametrize("given", ["4242", "0x12345678", "abc", "0x1FFFFFFFF"])
def test_codes_in_no_family_are_input_errors(given: str):
    code, _, err = run(given, str(DEMO))
    assert code == 2 and given.strip() in err
    assert len(err.strip().splitlines()) == 1


def test_usage_errors():
    code, _, err = run("809", str(DEMO), "--network", "HQ", "--role", "Nobody")
    assert code == 2 and "Nobody" in err
    code, _, err = run("809", str(DEMO), "--network", "Store 99")
    assert code == 2 and "Store 99" in err


# ---------------------------------------------------------------------------------------------------------
# 0x80092013: the CRL host as a flow (item 7)

def test_without_crl_urls_0x80092013_says_what_to_add():
    code, out, _ = run("0x80092013", str(DEMO))
    assert code == 0
    assert "Note: audit.yaml lists no CRL URL" in out and "crl_urls" in out


def test_crl_host_outside_the_walled_garden_is_found_per_role(with_crl: str):
    code, report = as_json("0x80092013", with_crl, "--network", "Store 14", "--role", "Store-Guest")
    assert code == 3  # the CRL host given by name is unknown, and says so
    (portal,) = report["findings"]
    assert portal["kind"] == "preauth-blocked" and portal["windows_errors"] == [0x80092013]
    assert portal["evidence"]["server"] == f"corp-vpn CRL {OUTSIDE}" and portal["evidence"]["protocols"] == ["crl"]
    assert f"add {OUTSIDE}/32 to the walled garden" in portal["remediation"]
    (unresolved,) = report["crl_unresolved"]
    assert unresolved["host"] == "pki.contoso-retail.example" and "no address" in unresolved["reason"]
    code, out, _ = run("0x80092013", with_crl, "--network", "Store 14", "--role", "Store-Guest", "--allow-unknown")
    assert code == 0  # a warning, and the unknown allowed
    assert "[unknown] CRL host pki.contoso-retail.example of 'corp-vpn'" in out
    assert IN_WALLED_GARDEN not in out.split("Other causes")[0]  # inside the walled garden: reached


def test_a_rule_that_blocks_cleartext_web_breaks_the_crl_check(with_crl: str):
    code, report = as_json("0x80092013", with_crl, "--network", "Store 31", "--allow-unknown")
    assert code == 1
    scanners = [f for f in report["findings"] if f["kind"] == "blocked-flow"]
    assert scanners and all(f["role"]["name"] == "Handheld Scanners" for f in scanners)
    assert all(f["evidence"]["flows"] == ["tcp/80"] and "Cleartext web blocked" in f["remediation"] for f in scanners)
    # and the VPN's own errors do not list the CRL's findings
    _, report = as_json("809", with_crl, "--network", "Store 31", "--allow-unknown")
    assert all("crl" not in (f["evidence"].get("protocols") or []) for f in report["findings"])


def test_the_audit_traces_the_crl_hosts_and_says_which_it_cannot(with_crl: str):
    result = CliRunner().invoke(app, ["audit", with_crl, "--format", "json"])
    report = json.loads(result.stdout)
    servers = {p["server"] for p in report["paths"]}
    assert {"corp-vpn", f"corp-vpn CRL {IN_WALLED_GARDEN}", f"corp-vpn CRL {OUTSIDE}"} <= servers
    gaps = [f for f in report["findings"] if f["kind"] == "data-gap" and "pki.contoso-retail.example" in f["title"]]
    assert len(gaps) == 1 and gaps[0]["evidence"]["file"] == "audit.yaml"


def test_a_crl_url_that_is_not_one_is_an_input_error(tmp_path: Path):
    snap = copy_demo(tmp_path, lambda s: s.__setitem__("crl_urls", ["ftp://crl.example.com/x.crl"]))
    code, _, err = run("0x80092013", snap)
    assert code == 2 and "crl_urls" in err and "ftp://crl.example.com/x.crl" in err


# ---------------------------------------------------------------------------------------------------------
# Exact remedies (item 8)

def test_remedies_name_registry_values_versions_and_sources():
    _, out, _ = run("809", str(DEMO))
    assert "AssumeUDPEncapsulationContextOnSendRule under HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent" in out
    assert "0 = no SAs with servers behind NAT" in out and "1 = SAs with servers behind NAT" in out and "2 = " in out
    assert "Restart the computer" in out and "source: Microsoft KB 926179" in out and "947234" not in out
    assert "HKLM\\SYSTEM\\CurrentControlSet\\Services\\RemoteAccess\\Parameters\\Ikev2" in out
    assert "EnableServerFragmentation = 1" in out and "Windows Server 1803" in out
    assert "IKEV2_FRAGMENTATION_SUPPORTED" in out and "IKE_SA_INIT" in out
    _, out, _ = run("853", str(DEMO))
    assert "KB5014754" in out and "reason code 16" in out and "February 2025" in out
    _, out, _ = run("812", str(DEMO))
    assert "reason code 258" in out and "IgnoreNoRevocationCheck" in out
