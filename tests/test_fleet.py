"""`vpn-auditor fleet`: many orgs on Dask, against the fake Dashboard serving several orgs (auditor/fleet/).

Real components: a real Dask scheduler and two worker processes (each sending from its own loopback address,
127.0.0.2 and 127.0.0.3), the real SDK, the real audit. One worker is killed while it collects an org: every
org must still end complete or with a recorded failure, and the summary must say which. Loopback only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.fleet.job import run_org
from auditor.fleet.plan import JobOptions, load_plan

try:  # `tests` is a package only when something puts the repository root on sys.path
    from tests.fakes.dashboard import FakeDashboard, Incoming, Reply, build_org
    from tests.fakes.dns_server import FakeDns, View
except ModuleNotFoundError:
    from fakes.dashboard import FakeDashboard, Incoming, Reply, build_org
    from fakes.dns_server import FakeDns, View

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"
AUDIT_YAML = "vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n"
HOST_RATE = 30  # per worker host and source address, in the cluster test
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="binds 127.0.0.2-3, which only Linux routes to lo")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.delenv("VPN_AUDITOR_DNS_RESOLVER", raising=False)
    monkeypatch.delenv("VPN_AUDITOR_DNS_PORT", raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.chdir(tmp_path)


def orgs_source(root: Path, ids: list[str], networks: int = 3) -> Path:
    for org in ids:
        build_org(root, org, networks)
    return root


def fleet_files(tmp_path: Path, ids: list[str]) -> tuple[Path, Path]:
    config = tmp_path / "audit.yaml"
    config.write_text(AUDIT_YAML)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("orgs:\n" + "".join(f"  - \"{org}\"\n" for org in ids))
    return fleet, config


def summary(out: Path) -> dict[str, Any]:
    return json.loads((out / "fleet-summary.json").read_text())


def fleet(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["fleet", *args])
    return result.exit_code, result.output


def assert_every_org_accounted_for(out: Path, data: dict[str, Any], ids: list[str]) -> None:
    """Complete (a published folder with a whole snapshot and reports) or failed with a reason: no gap."""
    assert data["finished"] is True
    assert [o["org"] for o in data["orgs"]] == ids
    for org in data["orgs"]:
        folder = out / "orgs" / org["org"]
        if org["status"] in ("complete", "incomplete"):
            assert (folder / "outcome.json").is_file() and (folder / "snapshot" / "manifest.json").is_file()
            assert json.loads((folder / "snapshot" / "manifest.json").read_text())["runs"][0]["orgs"] == [org["org"]]
            assert (folder / "report.json").is_file() and (folder / "report.txt").is_file()
            assert org["exit_code"] in (0, 1, 3)
        else:
            assert org["status"] == "failed" and org["exit_code"] == 2 and org["reason"]
            assert not folder.exists()  # nothing half-written is left where a finished org would be
    assert not list((out / "orgs").glob(".*partial*"))


# --- a real scheduler, two worker processes, one killed mid-org ------------------------------------------------
@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`dask scheduler` and two `dask worker` processes with the fleet preload, each with its own source address.

    allowed-failures 0: the first worker lost with a job makes the job fail (KilledWorker), so the fleet's own
    retry is what must bring the org back (Dask's default would quietly rerun it three times)."""
    env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0", "MERAKI_DASHBOARD_API_KEY": API_KEY,
           "PYTHONPATH": os.pathsep.join(sys.path)}
    scheduler_file = tmp_path / "scheduler.json"
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "dask.log").open("wb")
    try:
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(scheduler_file)], env=env, stdout=log, stderr=log))
        deadline = time.monotonic() + 30
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        workers = {}
        for source in ("127.0.0.2", "127.0.0.3"):
            proc = subprocess.Popen(
                [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "2", "--no-nanny",
                 "--no-dashboard", "--host", "127.0.0.1", "--preload", "auditor.fleet.worker",
                 "--source-address", source, "--host-rate", str(HOST_RATE), "--budget-dir",
                 str(tmp_path / "budgets")], env=env, stdout=log, stderr=log)
            procs.append(proc)
            workers[source] = proc
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=30)
        yield {"address": address, "workers": workers}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        log.close()


@pytest.mark.slow
def test_a_worker_killed_mid_org_leaves_no_gap(tmp_path: Path, cluster: dict[str, Any]) -> None:
    ids = ["101", "102", "103", "104", "105"]
    fleet_file, config = fleet_files(tmp_path, ids)
    killed: list[str] = []

    def kill_mid_org(request: Incoming) -> Reply | None:
        # Org 102's networks are being collected: kill the worker process that is collecting them.
        if not killed and request.path.startswith("networks/N_102_0001/"):
            killed.append(request.source)
            os.kill(cluster["workers"][request.source].pid, signal.SIGKILL)
        return None

    with FakeDashboard(orgs_source(tmp_path / "source", ids), rate=50, burst=50, api_key=API_KEY) as fake:
        fake.hooks.append(kill_mid_org)
        fake.fail("organizations/104/*", 403)  # an org the key may not read: fails on every attempt
        out = tmp_path / "out"
        code, output = fleet(str(fleet_file), "--out", str(out), "--config", str(config), "--scheduler",
                             cluster["address"], "--base-url", fake.base_url, "--rate", "50", "--retries", "1")
        assert killed, "the worker collecting org 102 was never killed"
        data = summary(out)
        assert_every_org_accounted_for(out, data, ids)
        by_org = {o["org"]: o for o in data["orgs"]}
        # Org 102 was lost with its worker, then completed by the fleet's retry on the surviving worker.
        assert by_org["102"]["status"] == "complete"
        first, *later = by_org["102"]["attempts"]
        assert "KilledWorker" in first["reason"] and first["status"] == "failed"
        assert later[-1]["status"] == "complete"
        assert by_org["102"]["interrupted_attempts"] == 1  # it found and cleared the killed attempt's folder
        assert by_org["102"]["source_address"] != killed[0]
        # Org 104 failed on both attempts (--retries 1): recorded, with the reason, never a silent gap.
        assert by_org["104"]["status"] == "failed"
        assert len(by_org["104"]["attempts"]) == 2
        # An attempt running beside org 102 on the killed worker dies with it (KilledWorker): which org shares
        # that worker is Dask's choice. One kill takes one attempt at most, so the other met the 403s.
        reasons = [a["reason"] for a in by_org["104"]["attempts"]]
        assert all(a["status"] == "failed" for a in by_org["104"]["attempts"])
        assert sum("nothing to audit" in r for r in reasons) >= 1, reasons
        assert all("nothing to audit" in r or "KilledWorker" in r for r in reasons), reasons
        assert by_org["104"]["reason"] == reasons[-1]
        for org in ("101", "103", "105"):
            assert by_org[org]["status"] == "complete"
        # The fleet exits with its worst org's code: 2, an org could not be audited.
        assert code == data["exit_code"] == 2, output
        assert "org 104: failed" in output
        # Each worker sent from its own address, never faster than its host budget in any second.
        assert fake.sources() == {"127.0.0.2", "127.0.0.3"}
        assert {o["source_address"] for o in data["orgs"] if o["status"] == "complete"} <= {"127.0.0.2", "127.0.0.3"}
        for source in ("127.0.0.2", "127.0.0.3"):
            assert 0 < fake.peak_rate(source) <= HOST_RATE
        assert fake.non_get() == []


@pytest.mark.slow
def test_the_driver_s_dns_resolvers_are_every_worker_s_as_for_audit_org(
        tmp_path: Path, cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """VPN_AUDITOR_DNS_RESOLVER and _PORT are read on the driver, as `audit --org` reads them, and sent with the
    jobs: the workers (started without them) ask the same resolver, and record what `audit --org` records."""
    fqdn = "vpn.corp.test"
    ids = ["601"]
    fleet_file, config = fleet_files(tmp_path, ids)
    config.write_text(AUDIT_YAML + f"    fqdn: {fqdn}\n")
    with FakeDns({"127.0.0.1": View({fqdn: {"A": ["198.51.100.10"]}})}) as dns, \
            FakeDashboard(orgs_source(tmp_path / "source", ids), rate=200, burst=200, api_key=API_KEY) as fake:
        monkeypatch.setenv("VPN_AUDITOR_DNS_RESOLVER", "127.0.0.1")
        monkeypatch.setenv("VPN_AUDITOR_DNS_PORT", str(dns.port))
        out = tmp_path / "out"
        code, output = fleet(str(fleet_file), "--out", str(out), "--config", str(config), "--scheduler",
                             cluster["address"], "--base-url", fake.base_url, "--rate", "50")
        org = summary(out)["orgs"][0]
        assert org["status"] == "complete", output
        asked = len(dns.queries)
        alone = CliRunner().invoke(app, ["audit", "--org", "601", "--config", str(config), "--base-url",
                                         fake.base_url, "--snapshot-out", str(tmp_path / "alone"), "--format",
                                         "json", "--rate", "50"])
    assert asked > 0 and {q[0] for q in dns.queries} == {"127.0.0.1"}

    def answers(snapshot: Path) -> list[tuple[str, Any]]:
        data = json.loads((snapshot / "dns" / f"{fqdn}.json").read_text())
        return [(r["address"], r["answers"]["A"]["addresses"]) for r in data["resolvers"]]

    assert answers(out / org["snapshot"]) == answers(tmp_path / "alone") == [("127.0.0.1", ["198.51.100.10"])]
    assert code == org["exit_code"] == alone.exit_code, (output, alone.output)


@pytest.mark.slow
def test_ctrl_c_stops_the_jobs_running_on_the_workers(tmp_path: Path, cluster: dict[str, Any]) -> None:
    """SIGINT to the driver while two orgs are being collected on the workers: the jobs stop (no request after
    the driver has exited), remove their partial folders and publish nothing; the summary says so."""
    ids = ["801", "802"]
    fleet_file, config = fleet_files(tmp_path, ids)
    root = Path(__file__).resolve().parents[1]
    with FakeDashboard(orgs_source(tmp_path / "source", ids, 4), rate=50, burst=50, api_key=API_KEY) as fake:
        out = tmp_path / "out"
        driver = subprocess.Popen(
            [sys.executable, "-c", "import sys; from auditor.cli import main; sys.argv[0] = 'vpn-auditor'; main()",
             "fleet", str(fleet_file), "--out", str(out), "--config", str(config), "--scheduler",
             cluster["address"], "--base-url", fake.base_url, "--rate", "2"],  # slow: still collecting at SIGINT
            cwd=root, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 60
        while not {r.org for r in fake.requests} >= set(ids):
            assert time.monotonic() < deadline and driver.poll() is None, "the orgs never started"
            time.sleep(0.1)
        driver.send_signal(signal.SIGINT)
        output, _ = driver.communicate(timeout=60)
        sent = len(fake.requests)
        time.sleep(3)  # at --rate 2 a job still collecting would send about 6 requests in this time
        assert len(fake.requests) == sent, [r.path for r in fake.requests[sent:]]
    data = summary(out)
    assert driver.returncode == 2 and data["interrupted"] is True, output
    assert_every_org_accounted_for(out, data, ids)  # no partial folder, no published folder of a failed org
    assert [o["status"] for o in data["orgs"]] == ["failed", "failed"]
    reasons = [a["reason"] for o in data["orgs"] for a in o["attempts"]]
    assert reasons and all("this attempt stopped, its partial folder removed" in r for r in reasons), reasons
    assert sorted(p.name for p in (out / "orgs").iterdir()) == []


# --- no cluster: a LocalCluster started in-process ----------------------------------------------------------------
@pytest.mark.slow
def test_without_a_scheduler_a_local_cluster_does_the_same(tmp_path: Path) -> None:
    ids = ["201", "202", "203"]
    fleet_file, config = fleet_files(tmp_path, ids)
    with FakeDashboard(orgs_source(tmp_path / "source", ids), rate=50, burst=50, api_key=API_KEY) as fake:
        out = tmp_path / "out"
        code, output = fleet(str(fleet_file), "--out", str(out), "--config", str(config), "--base-url",
                             fake.base_url, "--rate", "50", "--host-rate", "25", "--source-address", "127.0.0.2",
                             "--workers", "2", "--budget-dir", str(tmp_path / "budgets"), "--format", "json",
                             "--format", "text", "--format", "sarif")
        data = summary(out)
        assert_every_org_accounted_for(out, data, ids)
        assert all(o["status"] == "complete" for o in data["orgs"])
        assert data["engine"].startswith("local (2 workers")
        assert fake.sources() == {"127.0.0.2"}
        assert fake.peak_rate("127.0.0.2") <= 25
    # Each org's exit code is the one `vpn-auditor audit` gives its snapshot; the fleet's is the worst.
    for org in data["orgs"]:
        assert (out / org["reports"]["sarif"]).is_file()
        audited = CliRunner().invoke(app, ["audit", str(out / org["snapshot"]), "--format", "json"])
        assert audited.exit_code == org["exit_code"]
        report = json.loads((out / org["reports"]["json"]).read_text())
        assert report["summary"] == json.loads(audited.stdout)["summary"]
    assert code == data["exit_code"] == 1, output  # the synthetic orgs have error findings
    assert "fleet: 3 orgs, exit 1" in output


@pytest.mark.slow
def test_waivers_apply_to_every_org_as_audit_applies_them(tmp_path: Path) -> None:
    """`fleet --waivers W` and `audit --org X --waivers W` agree: an org whose findings are all waived exits 0 in
    the fleet summary as in `audit`; a waiver that matches nothing is said as `audit` says it."""
    ids = ["501"]
    fleet_file, config = fleet_files(tmp_path, ids)  # its unknown flows are allowed below: findings decide
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("".join(f"- finding: {check}\n  reason: accepted for the test\n  owner: netops\n"
                               f"  expires: 2999-01-01\n" for check in ("VPN-BLOCKED", "NO-SUCH")))
    with FakeDashboard(orgs_source(tmp_path / "source", ids), rate=200, burst=200, api_key=API_KEY) as fake:
        plain = CliRunner().invoke(app, ["audit", "--org", "501", "--config", str(config), "--base-url",
                                         fake.base_url, "--format", "json", "--rate", "100", "--allow-unknown"])
        alone = CliRunner().invoke(app, ["audit", "--org", "501", "--config", str(config), "--base-url",
                                         fake.base_url, "--format", "json", "--rate", "100", "--allow-unknown",
                                         "--waivers", str(waivers)])
        out = tmp_path / "out"
        code, output = fleet(str(fleet_file), "--out", str(out), "--config", str(config), "--base-url",
                             fake.base_url, "--rate", "100", "--workers", "1", "--allow-unknown", "--waivers",
                             str(waivers))
    assert plain.exit_code == 1  # the synthetic org has error findings: the waivers are what makes it 0
    org = summary(out)["orgs"][0]
    assert org["status"] == "complete", output
    assert (org["exit_code"], alone.exit_code, code) == (0, 0, 0), (output[-600:], alone.stderr[-300:])
    report = json.loads((out / org["reports"]["json"]).read_text())
    assert report["summary"] == json.loads(alone.stdout)["summary"] and report["summary"]["waived"] > 0
    assert org["audit"]["waived"] == report["summary"]["waived"]
    assert "entry 2: the waiver of finding NO-SUCH matches no finding" in output
    assert org["waiver_warnings"] and "NO-SUCH" in org["waiver_warnings"][0]


def test_an_unusable_waiver_file_is_a_usage_error_before_any_job(tmp_path: Path) -> None:
    fleet_file, config = fleet_files(tmp_path, ["1"])
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("- finding: VPN-BLOCKED\n  owner: netops\n  expires: 2999-01-01\n")
    code, output = fleet(str(fleet_file), "--out", str(tmp_path / "out"), "--config", str(config), "--waivers",
                         str(waivers))
    assert code == 2 and "entry 1: 'reason' is required" in output
    assert not (tmp_path / "out").exists()


# --- one org's job, without Dask ----------------------------------------------------------------------------------
@pytest.fixture
def one_org(tmp_path: Path) -> Iterator[tuple[FakeDashboard, Any, JobOptions]]:
    fleet_file, config = fleet_files(tmp_path, ["301"])
    entry = load_plan(fleet_file, config).orgs[0]
    with FakeDashboard(orgs_source(tmp_path / "source", ["301"], 2), rate=200, burst=200, api_key=API_KEY) as fake:
        options = JobOptions(out=str(tmp_path / "out"), base_url=fake.base_url, org_rate=100, host_rate=100,
                             budget_dir=str(tmp_path / "budgets"))
        yield fake, entry, options


def test_an_interrupted_attempt_is_noted_and_cleared_and_the_first_finished_attempt_stands(
        tmp_path: Path, one_org: tuple[FakeDashboard, Any, JobOptions]) -> None:
    fake, entry, options = one_org
    left = tmp_path / "out" / "orgs" / ".301.partial-deadhost-1-abcd"
    (left / "snapshot" / "meraki").mkdir(parents=True)  # what a worker killed mid-org leaves
    outcome = run_org(entry, options)
    assert outcome["status"] == "complete" and outcome["interrupted_attempts"] == 1
    assert not left.exists()
    assert (tmp_path / "out" / "orgs" / "301" / "snapshot" / "audit.yaml").read_text() == AUDIT_YAML
    requests = len(fake.requests)
    again = run_org(entry, options, attempt=2)  # a duplicate attempt (a worker taken for dead that was not)
    assert again["attempt"] == 1 and again["duplicate_attempt"]["attempt"] == 2
    assert len(fake.requests) == requests  # it saw the finished org and sent nothing


@pytest.mark.slow
def test_since_an_earlier_fleet_each_org_carries_over_what_did_not_change(
        tmp_path: Path, one_org: tuple[FakeDashboard, Any, JobOptions]) -> None:
    fake, entry, options = one_org
    assert run_org(entry, options)["status"] == "complete"
    first = len(fake.requests)
    time.sleep(1.1)  # the change log is read from the earlier snapshot's time on
    second = JobOptions(**{**options.__dict__, "out": str(tmp_path / "out2"), "since": str(tmp_path / "out")})
    outcome = run_org(entry, second)
    assert outcome["status"] == "complete"
    assert outcome["since"] == str(tmp_path / "out" / "orgs" / "301" / "snapshot")
    assert outcome["collect"]["carried"] > 0
    assert len(fake.requests) - first < first / 2
    ssid_lists = [r for r in fake.requests[first:] if r.path.endswith("/wireless/ssids")]
    assert ssid_lists  # fingerprints are opt-in: without them the SSID lists are read again


@pytest.mark.slow
def test_fleet_secret_fingerprints_reach_every_org_s_collection(
        tmp_path: Path, one_org: tuple[FakeDashboard, Any, JobOptions]) -> None:
    fake, entry, options = one_org
    with_prints = JobOptions(**{**options.__dict__, "secret_fingerprints": True})
    assert run_org(entry, with_prints)["status"] == "complete"
    manifest = (tmp_path / "out" / "orgs" / "301" / "snapshot" / "manifest.json").read_text()
    assert "secret_fingerprint_check" in manifest
    first = len(fake.requests)
    time.sleep(1.1)
    second = JobOptions(**{**with_prints.__dict__, "out": str(tmp_path / "out2"), "since": str(tmp_path / "out")})
    assert run_org(entry, second)["status"] == "complete"
    assert not [r for r in fake.requests[first:] if r.path.endswith("/wireless/ssids")]


def test_a_failed_org_leaves_a_reason_not_a_folder(tmp_path: Path,
                                                   one_org: tuple[FakeDashboard, Any, JobOptions]) -> None:
    fake, entry, options = one_org
    fake.fail("*", 401)
    outcome = run_org(entry, options)
    assert outcome["status"] == "failed" and outcome["exit_code"] == 2
    assert "all" in outcome["reason"] and "HTTP 401" in outcome["reason"]
    assert API_KEY not in json.dumps(outcome)
    assert list((tmp_path / "out" / "orgs").iterdir()) == []


# --- usage errors (exit 2, one line, before any job) ----------------------------------------------------------------
@pytest.mark.parametrize(("text", "said"), [
    ("orgs: []\n", "expected a list of org ids"),
    ("orgs: ['1', '1']\n", "org 1 is listed twice"),
    ("orgs: [{id: '1', cfg: x}]\n", "unknown key(s) cfg"),
    ("orgz: ['1']\n", "unknown key(s) orgz"),
    ("orgs: [{id: '1', config: missing.yaml}]\n", "missing.yaml: audit.yaml not found"),
    ("orgs: ['..']\n", "is not an org id"),
])
def test_an_unusable_fleet_file_is_a_usage_error(tmp_path: Path, text: str, said: str) -> None:
    fleet_file, config = fleet_files(tmp_path, ["1"])
    fleet_file.write_text(text)
    code, output = fleet(str(fleet_file), "--out", str(tmp_path / "out"), "--config", str(config))
    assert code == 2 and said in output
    assert not (tmp_path / "out").exists()


def test_options_that_cannot_work_are_usage_errors(tmp_path: Path) -> None:
    fleet_file, config = fleet_files(tmp_path, ["1"])
    code, output = fleet(str(fleet_file), "--out", str(tmp_path / "o"), "--config", str(config), "--scheduler",
                         "tcp://127.0.0.1:1", "--source-address", "127.0.0.2")
    assert code == 2 and "--preload auditor.fleet.worker --source-address" in output
    done = tmp_path / "done"
    done.mkdir()
    (done / "fleet-summary.json").write_text("{}")
    code, output = fleet(str(fleet_file), "--out", str(done), "--config", str(config))
    assert code == 2 and "already holds a fleet run" in output
    code, output = fleet(str(fleet_file), "--out", str(tmp_path / "o"))
    assert code == 2 and "has no audit.yaml" in output
