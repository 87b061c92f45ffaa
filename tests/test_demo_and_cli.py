"""The shipped demo snapshot through the real CLI: planted problems found, JSON valid, exit codes as documented."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli import app

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"
runner = CliRunner()


@pytest.fixture(scope="module")
def report() -> dict:
    result = runner.invoke(app, ["audit", str(DEMO), "--format", "json"])
    assert result.exit_code == 1, result.output  # the demo has planted errors
    return json.loads(result.stdout)


def _verdicts(report: dict, network: str, role: str, phase: str = "post-auth", kind: str | None = None) -> dict:
    out = {}
    for p in report["paths"]:
        if p["network"]["name"] == network and p["role"]["name"] == role and p["phase"] == phase and \
                (kind is None or p["role"]["kind"] == kind):
            out[f"{p['flow']['ip_protocol']}/{p['flow']['dst_port']}"] = p["verdict"]
    assert out, f"no path for {network}/{role}/{phase}"
    return out


def test_report_validates_against_the_contract_schema(report: dict) -> None:
    schema = json.loads(resources.files("auditor.report").joinpath("report.schema.json").read_text())
    jsonschema.validate(report, schema, format_checker=jsonschema.FormatChecker())
    summary = report["summary"]
    assert summary["paths"] == len(report["paths"])
    assert sum(summary[v] for v in ("allowed", "blocked", "partial", "unknown")) == summary["paths"]


def test_planted_1_splash_blocks_before_sign_on(report: dict) -> None:
    pre = _verdicts(report, "Store 14", "Store-Guest", "pre-auth", kind="ssid")
    assert set(pre.values()) == {"blocked"}
    assert set(_verdicts(report, "Store 14", "Store-Guest", kind="ssid").values()) == {"allowed"}
    preauth = [f for f in report["findings"] if f["kind"] == "preauth-blocked"]
    assert {f["network"]["name"] for f in preauth} == {"Store 14"}
    assert "walled garden" in preauth[0]["remediation"]


def test_planted_2_ipsk_group_policy_blocks_ike(report: dict) -> None:
    got = _verdicts(report, "Store 22", "Northwind Facilities", kind="ipsk")
    # udp/1701 travels inside IPsec: it is blocked with its carriers
    assert got == {"udp/500": "blocked", "udp/4500": "blocked", "udp/1701": "blocked", "tcp/443": "allowed"}
    path = next(p for p in report["paths"] if p["role"]["name"] == "Northwind Facilities"
                and p["verdict"] == "blocked")
    deny = next(h for h in path["hops"] if h["decision"] == "deny")
    assert deny["rule"]["comment"] == "block personal VPNs" and deny["rule"]["index"] == 1
    blocked = [f for f in report["findings"] if f["kind"] == "blocked-flow" and f["role"]["kind"] == "ipsk"]
    assert blocked and 809 in blocked[0]["windows_errors"]


def test_planted_3_guest_vlan_rule_shadows_vpn_allow(report: dict) -> None:
    for kind, role in (("vlan", "Guest"), ("ssid", "Store-Guest")):
        got = _verdicts(report, "Store 31", role, kind=kind)
        assert got["udp/4500"] == "blocked" and got["udp/500"] == "allowed", (role, got)
    assert set(_verdicts(report, "Store 31", "Staff", kind="vlan").values()) == {"allowed"}
    shadowed = [f for f in report["findings"] if f["id"] == "VPN-SHADOWED-RULE"]
    assert len(shadowed) == 1
    assert shadowed[0]["evidence"]["rule"]["index"] == 3
    assert shadowed[0]["evidence"]["shadowed_by"][0]["index"] == 2


def test_planted_4_ssid_rule_blocks_sstp(report: dict) -> None:
    got = _verdicts(report, "HQ", "HQ-Guest", kind="ssid")
    assert got == {"udp/500": "allowed", "udp/4500": "allowed", "udp/1701": "allowed", "tcp/443": "blocked"}


def test_planted_5_missing_rules_file_is_unknown_and_a_gap(report: dict) -> None:
    got = _verdicts(report, "Store 22", "Store-Guest", kind="ssid")
    assert set(got.values()) == {"unknown"}
    gaps = [f for f in report["findings"] if f["kind"] == "data-gap"]
    assert any("ssids/1/firewall/l3FirewallRules.json" in f["evidence"]["file"] for f in gaps)


def test_planted_6_l7_port_rule_makes_4500_unknown(report: dict) -> None:
    got = _verdicts(report, "Store 14", "Store-Mobile", kind="ssid")
    assert got["udp/4500"] == "unknown" and got["tcp/443"] == "allowed"


def test_planted_7_load_balancer_splits_ike(report: dict) -> None:
    (split,) = [f for f in report["findings"] if f["kind"] == "split-persistence"]
    assert split["device"] == "f5/hq-bigip" and split["severity"] == "error" and 809 in split["windows_errors"]
    assert [s["name"] for s in split["evidence"]["services"]] == ["/Common/corp_vpn_ike500", "/Common/corp_vpn_ike4500"]


def test_planted_8_edge_router_ace_never_reached(report: dict) -> None:
    (ace,) = [f for f in report["findings"] if f["id"] == "CISCO-SHADOWED-ACE"]
    assert ace["device"] == "cisco/hq-edge"
    # File lines and IOS sequence numbers are each named for what they are; both earlier lines are named:
    # the abuse-host deny takes one source, line 30's permit all the others.
    assert ace["title"] == ("line 37 of cisco/hq-edge.cfg (seq 70) never permits VPN traffic to 'corp-vpn': "
                            "line 28 (seq 10) and line 31 (seq 30) decide it first")
    assert (ace["evidence"]["rule"]["line"], ace["evidence"]["rule"]["seq"]) == (37, 70)
    # The right fix for a redundant permit is deleting it; moving it above the abuse deny would let that host in.
    assert ace["remediation"].startswith("Delete line 37 of cisco/hq-edge.cfg (seq 70) `permit udp any 198.51.100.0 "
                                         "0.0.0.255 eq non500-isakmp`")
    assert "Do not move it above line 28 (seq 10)" in ace["remediation"] and "Move line" not in ace["remediation"]


def test_paths_cross_the_perimeter_and_load_balancer_with_explained_hops(report: dict) -> None:
    path = next(p for p in report["paths"] if p["network"]["name"] == "HQ" and p["role"]["name"] == "HQ-Corp"
                and p["flow"]["dst_port"] == 4500)
    server_side = [(h["device"], h["decision"]) for h in path["hops"] if not h["device"].startswith("HQ")]
    assert server_side == [("cisco/hq-edge", "permit"), ("cisco/hq-edge", "permit"), ("cisco/hq-asa", "translate"),
                           ("cisco/hq-asa", "permit"), ("f5/hq-bigip", "translate")]
    edge_acl = next(h for h in path["hops"] if h["device"] == "cisco/hq-edge" and h["rule"])
    assert edge_acl["rule"]["text"] == "30 permit udp any host 198.51.100.10 eq non500-isakmp"
    assert edge_acl["rule"]["source"] == "cisco/hq-edge.cfg:31"


def test_nothing_else_fails(report: dict) -> None:
    """Every failing path belongs to a planted problem."""
    planted = {("Store 14", "Store-Guest"), ("Store 22", "Northwind Facilities"), ("Store 22", "Contractors"),
               ("Store 31", "Guest"), ("Store 31", "Store-Guest"), ("HQ", "HQ-Guest"), ("Store 22", "Store-Guest"),
               ("Store 14", "Store-Mobile")}
    failing = {(p["network"]["name"], p["role"]["name"]) for p in report["paths"] if p["verdict"] != "allowed"}
    assert failing <= planted, failing - planted
    assert report["summary"]["partial"] == 0


def test_text_report_is_a_table_with_verdicts() -> None:
    result = runner.invoke(app, ["audit", str(DEMO)])
    assert result.exit_code == 1
    for needle in ("Store 22", "Northwind Facilities", "blocked", "block personal VPNs", "VPN-BLOCKED"):
        assert needle in result.stdout


def test_exit_codes_follow_fail_on_and_allow_unknown() -> None:
    assert runner.invoke(app, ["audit", str(DEMO), "--fail-on", "never", "--format", "json"]).exit_code == 3
    assert runner.invoke(app, ["audit", str(DEMO), "--fail-on", "never", "--allow-unknown",
                               "--format", "json"]).exit_code == 0


def test_trace_explains_hops_with_the_deciding_rule() -> None:
    result = runner.invoke(app, ["trace", str(DEMO), "--network", "Store 31", "--role", "Guest", "--flow",
                                 "udp/4500"])
    assert result.exit_code == 1, result.output
    assert "mx-l3" in result.stdout and "rule 2" in result.stdout
    assert "Guests: block personal VPN apps (NAT-T)" in result.stdout and "blocked" in result.stdout


def test_trace_unknown_role_is_a_usage_error() -> None:
    result = runner.invoke(app, ["trace", str(DEMO), "--network", "HQ", "--role", "Nope", "--flow", "udp/500"])
    assert result.exit_code == 2 and "Nope" in result.output


def _copy_demo(tmp_path: Path) -> Path:
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target)
    return target


def test_malformed_json_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    snap = _copy_demo(tmp_path)
    rel = "meraki/networks/L_6468200000000004/wireless/ssids.json"
    (snap / rel).write_text('[\n{"number": 0,\n "name": oops}\n]')
    result = runner.invoke(app, ["audit", str(snap)])
    assert result.exit_code == 2
    assert f"{rel}:3" in result.output and "Traceback" not in result.output


def test_unknown_audit_yaml_key_exits_2_naming_the_key(tmp_path: Path) -> None:
    snap = _copy_demo(tmp_path)
    with (snap / "audit.yaml").open("a") as handle:
        handle.write("vpn_sever_typo: 1\n")
    result = runner.invoke(app, ["audit", str(snap)])
    assert result.exit_code == 2 and "vpn_sever_typo" in result.output


def test_missing_snapshot_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "not found" in result.output


def test_symlink_out_of_the_snapshot_is_refused(tmp_path: Path) -> None:
    snap = _copy_demo(tmp_path)
    outside = tmp_path / "outside.json"
    outside.write_text("[]")
    target = snap / "meraki/networks/L_6468200000000004/wireless/ssids.json"
    target.unlink()
    target.symlink_to(outside)
    result = runner.invoke(app, ["audit", str(snap)])
    assert result.exit_code == 2 and "outside the snapshot" in result.output


def _synthetic_org(root: Path) -> Path:
    """A small bench org (bench/synth.py) with a missing L7 file (unknown hops) beside its planted blocks."""
    import sys

    bench = str(Path(__file__).resolve().parents[1] / "bench")
    sys.path.insert(0, bench)
    try:
        from synth import network_id, write_org
    finally:
        sys.path.remove(bench)
    write_org(root, 20, seed=3, workers=1)  # network 14 has a planted block (synth.planted)
    (root / "meraki" / "networks" / network_id(4) / "appliance" / "firewall" / "l7FirewallRules.json").unlink()
    return root


@pytest.mark.parametrize("which", ["demo", "synthetic"])
def test_streamed_json_is_the_same_document_as_the_rendered_one(which: str, tmp_path: Path) -> None:
    import io

    from auditor.audit import run_audit
    from auditor.report import json_report

    result = run_audit(DEMO if which == "demo" else _synthetic_org(tmp_path / "org"))
    rendered = json.loads(json_report.render(result))
    buffer = io.StringIO()
    json_report.write(result, buffer)
    assert json.loads(buffer.getvalue()) == rendered
    # each path line is the plain encoding of that path, key order included (the writer puts it together
    # from its role's, trace's, hop records' and rules' encodings)
    lines = [line.strip().rstrip(",") for line in buffer.getvalue().splitlines() if line.startswith('    {"network"')]
    assert lines == [json.dumps(json_report.path_json(p)) for p in result.paths]
    verdicts = {p.verdict for p in result.paths}
    assert {"allowed", "blocked", "unknown"} <= verdicts  # hops with reasons, rules and none, unknown ones
    assert any(p.trace.carried_by for p in result.paths) and any(p.trace.variants for p in result.paths)




@pytest.mark.slow
def test_the_command_exits_without_teardown_after_its_exit_handlers(tmp_path: Path) -> None:
    """`vpn-auditor` leaves without freeing its results object by object (seconds for a large org): what is
    still alive is never finalised, but exit handlers run, printed output is complete and the exit code is
    the command's. Where another thread still runs, or the exit carries a message, Python's own exit stays."""
    import subprocess
    import sys

    program = (
        "import atexit, sys, threading, time\n"
        "from auditor import cli\n"
        "class Held:\n"
        "    def __del__(self): print('finalised', file=sys.stderr)\n"
        "kept = Held()\n"
        "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
        "mode, sys.argv = sys.argv[1], ['vpn-auditor'] + sys.argv[2:]\n"
        "if mode == 'thread':\n"
        "    threading.Thread(target=time.sleep, args=(600,), daemon=True).start()  # alive at the exit\n"
        "if mode == 'message':\n"
        "    cli._leave(SystemExit('bye'))\n"
        "cli.main()\n"
    )

    def run(mode: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", program, mode, *args], capture_output=True, text=True,
                              timeout=120)

    audited = run("plain", "audit", str(DEMO), "--format", "json")
    assert audited.returncode == 1, audited.stderr  # the demo's planted errors
    assert json.loads(audited.stdout)["summary"]  # the whole report, flushed
    assert "handler ran" in audited.stderr and "finalised" not in audited.stderr
    usage = run("plain", "audit", str(tmp_path / "missing"))
    assert usage.returncode == 2 and "handler ran" in usage.stderr and "finalised" not in usage.stderr
    threaded = run("thread", "audit", str(DEMO), "--format", "json")
    assert threaded.returncode == 1 and "handler ran" in threaded.stderr and "finalised" in threaded.stderr
    message = run("message")
    assert message.returncode == 1 and "bye" in message.stderr and "finalised" in message.stderr
