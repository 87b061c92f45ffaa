"""The name clients dial (issue 25): `collect meraki` records what each resolver a role can use answers for the VPN
server's fqdn (a real DNS server on loopback addresses, the fake Dashboard naming it as VLAN and SSID resolvers),
and `audit`, `explain` and `trace` turn the answers into dns-mismatch, dns-unresolved and dns-unknown findings."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.cli_collect import collect_app

try:  # `tests` is a package only when something puts the repository root on sys.path
    from tests.environment import needs_fork
    from tests.fakes.dashboard import FakeDashboard, build_org, set_dns
    from tests.fakes.dns_server import NXDOMAIN, SERVFAIL, SILENT, FakeDns, View
except ModuleNotFoundError:
    from environment import needs_fork
    from fakes.dashboard import FakeDashboard, build_org, set_dns
    from fakes.dns_server import NXDOMAIN, SERVFAIL, SILENT, FakeDns, View

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"
FQDN = "vpn.corp.test"
ADDRESS = "198.51.100.10"
DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
AUDIT_YAML = f"""vpn_servers:
  - name: corp-vpn
    address: {ADDRESS}
    fqdn: {FQDN}
    protocols: [ikev2, sstp]
"""

# One view per resolver address (split horizon: the same name, different answers).
VIEWS = {
    "127.0.0.1": View({FQDN: {"A": [ADDRESS]}}),  # the collecting host's: the public view
    "127.0.0.2": View({FQDN: {"A": ["10.20.0.10"]}}, ttl=3600),  # internal view
    "127.0.0.3": View({FQDN: NXDOMAIN}),  # a zone without the VPN name
    "127.0.0.4": View({FQDN: {"A": ["203.0.113.77"]}}),  # an old address
    "127.0.0.5": View({FQDN: SILENT}),  # never answers
    "127.0.0.6": View({FQDN: {"A": [ADDRESS], "AAAA": []}}, truncate={FQDN}),  # UDP truncated, TCP answers
    "127.0.0.7": View({FQDN: SERVFAIL}),  # named by no role: asked directly below
}
NAMED = set(VIEWS) - {"127.0.0.7"}


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.delenv("VPN_AUDITOR_DNS_RESOLVER", raising=False)
    monkeypatch.delenv("VPN_AUDITOR_DNS_PORT", raising=False)


@pytest.fixture(scope="module")
def resolvers() -> Iterator[FakeDns]:
    with FakeDns(VIEWS) as server:
        yield server


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An org of four networks; network 0 (MX + APs) and network 2 (MX) name the test resolvers."""
    root = tmp_path_factory.mktemp("org")
    org = build_org(root, "100", 4)
    first, third = org.network_ids[0], org.network_ids[2]
    # VLAN 10: the public view; VLAN 20: the internal view (split horizon); VLAN 30: NXDOMAIN.
    # SSID 0 (NAT mode) rewrites DNS to the internal view; SSID 1 is bridged to VLAN 10 and rewrites DNS to a
    # resolver with an old address.
    set_dns(root, first, vlans={10: "127.0.0.1", 20: "127.0.0.2", 30: "127.0.0.3"},
            rewrite={0: ["127.0.0.2"], 1: ["127.0.0.4"]}, tags={1: 10})
    set_dns(root, third, vlans={10: "127.0.0.5", 20: "127.0.0.6", 30: "upstream_dns"})
    return root


def _collect(source: Path, out: Path, resolvers: FakeDns, *args: str) -> Any:
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.yaml").write_text(AUDIT_YAML, encoding="utf-8")
    with FakeDashboard(source, rate=200, burst=200, api_key=API_KEY) as dashboard:
        return CliRunner().invoke(collect_app, [
            "meraki", "--out", str(out), "--base-url", dashboard.base_url, "--rate", "200",
            "--dns-resolver", "127.0.0.1", "--dns-port", str(resolvers.port), "--dns-timeout", "0.5", *args],
            env={"MERAKI_DASHBOARD_API_KEY": API_KEY, "MERAKI_BASE_URL": None})


@pytest.fixture(scope="module")
def snapshot(source: Path, resolvers: FakeDns, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("snap")
    started = time.monotonic()
    result = _collect(source, out, resolvers)
    assert result.exit_code == 3, result.output  # 127.0.0.5 never answers: failed calls, snapshot written
    assert time.monotonic() - started < 30
    return out


def _audit(snapshot: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["audit", str(snapshot), "--format", "json", *args])
    assert result.exit_code in (0, 1, 3), result.output
    return result.exit_code, json.loads(result.stdout)


def _dns_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["kind"].startswith("dns-")]


def _by_role(report: dict[str, Any], network: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(f["role"]["kind"], f["role"]["name"]): f for f in _dns_findings(report)
            if f["network"] and f["network"]["name"] == network}


# --- collection -------------------------------------------------------------------------------------------
def test_collect_records_each_resolvers_answer(snapshot: Path, resolvers: FakeDns) -> None:
    data = json.loads((snapshot / "dns" / f"{FQDN}.json").read_text(encoding="utf-8"))
    assert data["schema"] == "vpn-auditor.dns/1" and data["fqdn"] == FQDN
    by = {r["address"]: r for r in data["resolvers"]}
    assert set(by) == NAMED  # the host's, the VLANs' and the SSIDs' rewrite servers, each once
    assert by["127.0.0.1"]["host"] is True and by["127.0.0.2"]["host"] is False
    assert by["127.0.0.1"]["answers"]["A"] == {**by["127.0.0.1"]["answers"]["A"], "status": "ok",
                                               "addresses": [ADDRESS], "ttl": 300}
    assert by["127.0.0.1"]["answers"]["AAAA"]["status"] == "nodata"
    assert by["127.0.0.2"]["answers"]["A"]["addresses"] == ["10.20.0.10"]
    assert by["127.0.0.2"]["answers"]["A"]["ttl"] == 3600
    assert by["127.0.0.3"]["answers"]["A"]["status"] == "nxdomain"
    assert by["127.0.0.5"]["answers"]["A"]["status"] == "timeout"
    truncated = by["127.0.0.6"]["answers"]["A"]
    assert truncated["truncated"] is True and truncated["addresses"] == [ADDRESS]  # asked again over TCP
    assert ("127.0.0.6", "tcp", FQDN, "A") in resolvers.queries
    assert any("vlans.json, VLAN 20 dnsNameservers" in n for n in by["127.0.0.2"]["named_by"])
    assert any(n.endswith("SSID 1 dnsRewrite") for n in by["127.0.0.4"]["named_by"])
    assert all(isinstance(r["answers"]["A"]["elapsed_ms"], float) for r in data["resolvers"])


def test_collect_records_every_query_in_the_manifest(snapshot: Path) -> None:
    manifest = json.loads((snapshot / "manifest.json").read_text(encoding="utf-8"))
    calls = [c for c in manifest["calls"] if c["collector"] == "dns"]
    assert len(calls) == 2 * len(NAMED)  # A and AAAA at each resolver
    failed = [c for c in calls if c["outcome"] == "failed"]
    assert {c["path"].split("@")[1].split(":")[0] for c in failed} == {"127.0.0.5"}
    assert all(c["error"].startswith("timeout") for c in failed)
    assert all(c["file"] == f"dns/{FQDN}.json" for c in calls)
    run = next(r for r in manifest["runs"] if r["collector"] == "dns")
    assert run["summary"]["failed"] == 2 and run["parameters"]["host_resolvers"] == ["127.0.0.1"]


@pytest.mark.slow
def test_collect_without_fqdn_writes_no_dns(source: Path, resolvers: FakeDns, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    out.mkdir()
    (out / "audit.yaml").write_text(AUDIT_YAML.replace(f"    fqdn: {FQDN}\n", ""), encoding="utf-8")
    with FakeDashboard(source, rate=200, burst=200, api_key=API_KEY) as dashboard:
        result = CliRunner().invoke(collect_app, ["meraki", "--out", str(out), "--base-url", dashboard.base_url,
                                                  "--rate", "200", "--dns-port", str(resolvers.port)])
    assert result.exit_code == 0, result.output
    assert not (out / "dns").exists()


def test_servfail_and_closed_ports_are_recorded_as_no_answer(resolvers: FakeDns) -> None:
    from auditor.collect.dns import query

    assert query(FQDN, "A", "127.0.0.7", resolvers.port, 1.0)["status"] == "servfail"
    started = time.monotonic()
    silent = query(FQDN, "AAAA", "127.0.0.5", resolvers.port, 0.3)
    assert silent["status"] == "timeout" and silent["error"] == "no answer within 0.3 s"
    assert time.monotonic() - started < 2


# --- findings ---------------------------------------------------------------------------------------------
def test_split_horizon_two_resolvers_two_answers(snapshot: Path) -> None:
    _code, report = _audit(snapshot)
    found = _by_role(report, "Store 0000")
    mismatch = found[("vlan", "VLAN 20")]  # asks 127.0.0.2, the internal view
    assert mismatch["kind"] == "dns-mismatch" and mismatch["severity"] == "error"
    assert set(mismatch["windows_errors"]) == {809, 868}
    assert mismatch["title"] == (f"{FQDN} resolves to 10.20.0.10, not {ADDRESS}, for Store 0000 vlan 'VLAN 20' "
                                 "(VLAN 20 resolvers)")
    assert "127.0.0.2 answers 10.20.0.10 (TTL 3600 s)" in mismatch["remediation"]
    assert mismatch["evidence"]["answers"] == ["10.20.0.10"]
    assert mismatch["evidence"]["ways"][0]["source"].endswith("vlans.json, VLAN 20 dnsNameservers")
    # its clients dial the internal address: traced there too, and said so
    traced = mismatch["evidence"]["traced"]["10.20.0.10"]
    assert {t["flow"] for t in traced} == {"udp/500", "udp/4500", "tcp/443"}
    assert "its clients dial 10.20.0.10 instead, traced there" in mismatch["remediation"]
    assert ("vlan", "VLAN 10") not in found  # asks 127.0.0.1, the public view: the audited address


def test_nat_mode_ssid_rewriting_dns_to_another_resolver_is_a_mismatch(snapshot: Path) -> None:
    _code, report = _audit(snapshot)
    corp = _by_role(report, "Store 0000")[("ssid", "Corp")]  # NAT mode: the AP forwards to the rewrite server
    assert corp["kind"] == "dns-mismatch"
    assert corp["evidence"]["ways"][0]["way"] == "SSID 0 DNS rewrite"


def test_bridged_ssid_whose_rewrite_disagrees_with_its_vlan_is_unknown(snapshot: Path) -> None:
    _code, report = _audit(snapshot)
    found = _by_role(report, "Store 0000")
    staff = found[("ssid", "Staff-iPSK")]
    assert staff["kind"] == "dns-unknown" and staff["severity"] == "warning"
    assert staff["title"].endswith("is unknown: its possible resolvers disagree (DNS rewrite)")
    assert "203.0.113.77" in staff["remediation"]
    assert "DNS rewrite" in staff["remediation"] and f"Resolve-DnsName {FQDN}" in staff["remediation"]
    assert staff["evidence"]["traced"]["203.0.113.77"]  # the address it may dial is traced too
    assert found[("ipsk", "device-0")]["kind"] == "dns-unknown"  # the SSID's identity PSKs land there too


def test_nxdomain_is_unresolved(snapshot: Path) -> None:
    _code, report = _audit(snapshot)
    guest = _by_role(report, "Store 0000")[("vlan", "VLAN 30")]
    assert guest["kind"] == "dns-unresolved" and guest["windows_errors"] == [868]
    assert "does not resolve for Store 0000 vlan 'VLAN 30'" in guest["title"]
    assert "127.0.0.3 answers NXDOMAIN" in guest["remediation"]


def test_resolver_that_does_not_answer_is_unknown_and_truncation_is_followed(snapshot: Path) -> None:
    _code, report = _audit(snapshot)
    found = _by_role(report, "Store 0002")
    silent = found[("vlan", "VLAN 10")]
    assert silent["kind"] == "dns-unknown"
    assert silent["title"].endswith("is unknown: VLAN 10 resolvers could not be queried")
    assert "127.0.0.5 could not be queried from the collecting host (A timeout" in silent["remediation"]
    assert "-Server" in silent["remediation"]
    assert ("vlan", "VLAN 20") not in found  # truncated over UDP, the audited address over TCP
    assert ("vlan", "VLAN 30") not in found  # upstream DNS: the host's answer stands in, and it is right
    assert not [f for f in _dns_findings(report) if f["network"] is None]  # the public answer is right


@pytest.mark.slow
def test_public_answer_that_differs_is_one_finding(source: Path, resolvers: FakeDns, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    result = _collect(source, out, resolvers, "--dns-resolver", "127.0.0.4")  # the host's: an old address
    assert result.exit_code == 3, result.output
    _code, report = _audit(out)
    public = [f for f in _dns_findings(report) if f["network"] is None]
    assert len(public) == 1 and public[0]["kind"] == "dns-mismatch" and public[0]["role"] is None
    assert public[0]["id"] == "DNS-PUBLIC-MISMATCH"
    assert "203.0.113.77" in public[0]["title"] and "collecting host" in public[0]["title"]


def test_offline_snapshot_without_dns_data_has_no_dns_finding_and_one_note(snapshot: Path, tmp_path: Path) -> None:
    offline = tmp_path / "offline"
    shutil.copytree(snapshot, offline)
    shutil.rmtree(offline / "dns")
    _code, report = _audit(offline)
    assert _dns_findings(report) == []
    assert report["notes"] == [f"corp-vpn: its fqdn {FQDN} was not checked: the snapshot has no dns/{FQDN}.json "
                               "(`collect meraki` records the resolvers' answers when audit.yaml names the fqdn)"]
    text = CliRunner().invoke(app, ["audit", str(offline)])
    assert f"Note: corp-vpn: its fqdn {FQDN} was not checked" in " ".join(text.stdout.split())


def test_reports_carry_the_note_and_validate(snapshot: Path, tmp_path: Path) -> None:
    import jsonschema

    offline = tmp_path / "offline"
    shutil.copytree(snapshot, offline)
    shutil.rmtree(offline / "dns")
    schema = json.loads((Path(__file__).resolve().parents[1] / "auditor" / "report" / "report.schema.json")
                        .read_text(encoding="utf-8"))
    for snap in (snapshot, offline):
        jsonschema.validate(_audit(snap)[1], schema)
    html = CliRunner().invoke(app, ["audit", str(offline), "--format", "html"]).stdout
    assert f"Note: corp-vpn: its fqdn {FQDN} was not checked" in html
    md = CliRunner().invoke(app, ["audit", str(offline), "--format", "markdown"]).stdout
    assert f"**Note:** corp-vpn: its fqdn {FQDN} was not checked" in md


def test_malformed_dns_file_is_an_input_error(snapshot: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(snapshot, bad)
    (bad / "dns" / f"{FQDN}.json").write_text('{"resolvers": [{"address": "not-an-ip", "answers": {}}]}')
    result = CliRunner().invoke(app, ["audit", str(bad)])
    assert result.exit_code == 2
    assert f"dns/{FQDN}.json" in result.output and "not-an-ip" in result.output


def test_explain_868_and_809_list_the_dns_findings(snapshot: Path) -> None:
    for code, kinds in ((868, {"dns-mismatch", "dns-unresolved", "dns-unknown"}),
                        (809, {"dns-mismatch", "dns-unknown"})):
        result = CliRunner().invoke(app, ["explain", str(code), str(snapshot), "--format", "json"])
        report = json.loads(result.stdout)
        assert {f["kind"] for f in report["findings"]} >= kinds, code
    unresolved = CliRunner().invoke(app, ["explain", "809", str(snapshot), "--format", "json"])
    assert "dns-unresolved" not in {f["kind"] for f in json.loads(unresolved.stdout)["findings"]}


@pytest.mark.slow
def test_audit_org_collects_the_answers_too(source: Path, resolvers: FakeDns, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text(AUDIT_YAML, encoding="utf-8")
    monkeypatch.setenv("VPN_AUDITOR_DNS_RESOLVER", "127.0.0.1")
    monkeypatch.setenv("VPN_AUDITOR_DNS_PORT", str(resolvers.port))
    out = tmp_path / "live"
    with FakeDashboard(source, rate=200, burst=200, api_key=API_KEY) as dashboard:
        result = CliRunner().invoke(app, ["audit", "--org", "100", "--config", str(config), "--base-url",
                                          dashboard.base_url, "--snapshot-out", str(out), "--format", "json",
                                          "--rate", "200"])  # the fake allows 200/s: keep the run short
    assert (out / "dns" / f"{FQDN}.json").is_file(), result.output
    report = json.loads(result.stdout)
    assert _by_role(report, "Store 0000")[("vlan", "VLAN 20")]["kind"] == "dns-mismatch"


@pytest.mark.slow
@needs_fork
def test_dns_findings_of_an_org_in_two_processes_are_the_serial_ones(tmp_path: Path) -> None:
    import sys

    from auditor.audit import run_audit
    from auditor.report import json_report

    bench = Path(__file__).resolve().parents[1] / "bench"
    sys.path.insert(0, str(bench))
    try:
        from synth import SERVER_FQDN, network_id, write_org
    finally:
        sys.path.remove(str(bench))
    root = tmp_path / "org"
    write_org(root, 80, seed=5, workers=1)
    stale = [network_id(i) for i in (3, 70)]  # networks either process may take
    for net in stale:
        path = root / "meraki" / "networks" / net / "appliance" / "vlans.json"
        vlans = json.loads(path.read_text(encoding="utf-8"))
        vlans[0]["dnsNameservers"] = "10.9.9.9"
        path.write_text(json.dumps(vlans), encoding="utf-8")
    (root / "dns").mkdir()
    answer = {"A": {"status": "ok", "addresses": ["198.51.100.99"], "ttl": 60},
              "AAAA": {"status": "nodata", "addresses": []}}
    (root / "dns" / f"{SERVER_FQDN}.json").write_text(json.dumps({"resolvers": [
        {"address": "192.0.2.53", "host": True, "answers": {**answer, "A": {**answer["A"],
                                                                            "addresses": ["198.51.100.10"]}}},
        {"address": "10.9.9.9", "answers": answer}]}), encoding="utf-8")
    serial = run_audit(root, keep_model=False, workers=1)
    forked = run_audit(root, keep_model=False, workers=2)
    assert forked.networks_by_worker > 0
    render = lambda r: json_report.render(r).replace(r.generated_at, "T")  # noqa: E731
    assert render(forked) == render(serial)
    found = {f.network["id"] for f in serial.findings if f.check.kind == "dns-mismatch"}
    assert found == set(stale)


# --- the demo ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_demo_planted_dns_problem_is_found_by_audit_explain_and_trace() -> None:
    _code, report = _audit(DEMO)
    found = _dns_findings(report)
    assert [(f["kind"], f["network"]["name"], f["role"]["kind"], f["role"]["name"]) for f in found] == [
        ("dns-mismatch", "Store 31", "vlan", "Back Office")]
    assert found[0]["title"] == ("vpn.contoso-retail.example resolves to 198.51.100.20, not 198.51.100.10, for "
                                 "Store 31 vlan 'Back Office' (VLAN 50 resolvers)")
    assert "10.31.50.5 answers 198.51.100.20" in found[0]["remediation"]
    assert "notes" not in report
    explained = CliRunner().invoke(app, ["explain", "809", str(DEMO)])
    assert "DNS-MISMATCH (dns-mismatch)" in explained.stdout
    traced = CliRunner().invoke(app, ["trace", str(DEMO), "--network", "Store 31", "--role", "Back Office",
                                      "--flow", "udp/500"])
    text = " ".join(traced.stdout.split())
    assert "name: dns-mismatch: vpn.contoso-retail.example resolves to 198.51.100.20" in text
    assert "udp/500 to 198.51.100.20, where the name leads (traced too): allowed" in text
    assert traced.exit_code == 1  # its clients do not reach the audited server


@pytest.mark.parametrize("value", ["99999", "0", "fifty-three", "-1"])
def test_a_dns_port_that_is_not_a_port_is_a_usage_error(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`audit --org` and `fleet` take VPN_AUDITOR_DNS_PORT alike: refused in one line (fleet: before any job),
    not used as 53 nor sent to every worker to fail there."""
    from auditor.cli_collect import DNS_PORT_ENV, dns_from_env
    from auditor.errors import CollectUsageError

    monkeypatch.setenv(DNS_PORT_ENV, value)
    with pytest.raises(CollectUsageError, match="not a port"):
        dns_from_env()
    monkeypatch.setenv(DNS_PORT_ENV, "5353")
    assert dns_from_env()[1] == 5353
    monkeypatch.delenv(DNS_PORT_ENV)
    assert dns_from_env()[1] == 53
