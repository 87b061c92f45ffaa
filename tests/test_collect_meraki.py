"""`vpn-auditor collect meraki` against a local Dashboard: the real SDK, the real command, 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from auditor.cli import app
from auditor.cli_collect import collect_app
from auditor.collect.writer import (
    REDACTED,
    SnapshotWriter,
    UnsafePathError,
    check_relpath,
    quote_segment,
    redact_json,
)
from auditor.vendors.meraki.collect import (
    CollectorConfig,
    ReadOnlyViolation,
    RequestGate,
    TokenBucket,
    collect,
    open_dashboard,
)

try:  # `tests` is a package only when something puts the repository root on sys.path
    from tests.fakes.clock import FakeClock
    from tests.fakes.dashboard import VLANS_DISABLED, FakeDashboard, RecordedRequest, Reply, SyntheticOrg, build_org
except ModuleNotFoundError:
    from fakes.clock import FakeClock
    from fakes.dashboard import VLANS_DISABLED, FakeDashboard, RecordedRequest, Reply, SyntheticOrg, build_org

pytestmark = pytest.mark.slow  # collection end to end against the fake Dashboard

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"
FAST = ["--rate", "200"]  # the tests' server allows 200/s: keep runs short


# --- helpers ----------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.delenv("MERAKI_PYTHON_SDK_CALLER", raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.chdir(tmp_path)  # any stray SDK log file would land here, where a test can see it


@pytest.fixture
def org(tmp_path: Path) -> SyntheticOrg:
    return build_org(tmp_path / "source", "100", 12, policy_objects=25)


@pytest.fixture
def server(org: SyntheticOrg) -> Iterator[FakeDashboard]:
    with FakeDashboard(org.root, rate=200, burst=200, page_size=3, api_key=API_KEY) as fake:
        yield fake
        assert fake.non_get() == [], "the collector sent something other than GET"


def run(server: FakeDashboard, out: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(collect_app, ["meraki", "--out", str(out), "--base-url", server.base_url, *args],
                              env=env)


def collected(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*.json")} - {"manifest.json"}


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def calls_by_path(out: Path) -> dict[str, dict[str, Any]]:
    return {c["path"]: c for c in manifest(out)["calls"]}


# --- complete collection ------------------------------------------------------------------------------------
def test_collects_every_network_across_pages(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    result = run(server, out, *FAST)

    assert result.exit_code == 0, result.output
    assert collected(out) == org.files  # nothing missing, nothing extra
    # 12 networks and 25 policy objects at 3 per page: pagination was followed through relative Links.
    assert server.count(pattern="organizations/100/networks") == 4
    assert server.count(pattern="organizations/100/policyObjects") == 9
    networks = json.loads((out / "meraki/organizations/100/networks.json").read_text())
    assert [n["id"] for n in networks] == org.network_ids
    # An object-shaped list (`items`) arrives whole: the exclusions that decide a full tunnel's way out.
    rel = "meraki/organizations/100/appliance/trafficShaping/vpnExclusions/byNetwork.json"
    items = json.loads((out / rel).read_text())["items"]
    assert items and items == json.loads((org.root / rel).read_text())["items"]
    data = manifest(out)
    assert data["tool"]["name"] == "vpn-auditor"
    assert data["runs"][0]["orgs"] == ["100"]
    assert {c["outcome"] for c in data["calls"]} == {"ok"}
    assert all(c["status"] == 200 and c["written"] for c in data["calls"])
    assert len(data["calls"]) == len(org.files)
    assert not list(tmp_path.glob("meraki_api_*.log")), "the SDK wrote a log file"
    assert "User-Agent" not in result.output


def test_only_what_each_product_needs(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    run(server, tmp_path / "snap", *FAST)
    by_network: dict[str, set[str]] = {}
    for request in server.requests:
        parts = request.path.split("/")
        if parts[0] == "networks":
            by_network.setdefault(parts[1], set()).add("/".join(parts[2:]))
    camera_only = [n["id"] for n in org.networks if not {"appliance", "wireless"} & set(n["productTypes"])]
    wireless_only = [n["id"] for n in org.networks if n["productTypes"] == ["wireless"]]
    assert camera_only and wireless_only
    assert all(nid not in by_network for nid in camera_only)
    for nid in wireless_only:
        assert not any(p.startswith("appliance") for p in by_network[nid])
        # Disabled SSIDs (4: psk set, but disabled) are not followed up.
        assert not any(p.startswith("wireless/ssids/4/") for p in by_network[nid])


def test_network_and_org_selection(tmp_path: Path) -> None:
    a = build_org(tmp_path / "source", "100", 5)
    b = build_org(tmp_path / "source", "200", 5)
    disabled = build_org(tmp_path / "source", "300", 2)
    orgs_file = tmp_path / "source/meraki/organizations.json"
    orgs = json.loads(orgs_file.read_text())
    for o in orgs:
        if o["id"] == disabled.org_id:
            o["api"] = {"enabled": False}
    orgs_file.write_text(json.dumps(orgs))
    with FakeDashboard(tmp_path / "source", rate=None) as fake:
        every = run(fake, tmp_path / "all", *FAST)
        assert every.exit_code == 0, every.output
        assert collected(tmp_path / "all") >= a.files | b.files - {"meraki/organizations.json"}
        assert not fake.count(pattern="organizations/300/*"), "an org with API access disabled was called"
        assert manifest(tmp_path / "all")["runs"][0]["skipped_orgs"][0]["id"] == "300"

        picked = run(fake, tmp_path / "one", "--org", "200", "--network", b.networks[0]["name"],
                     "--network", b.network_ids[2], *FAST)
        assert picked.exit_code == 0, picked.output
        networks = {p.split("/")[2] for p in collected(tmp_path / "one") if p.startswith("meraki/networks/")}
        assert networks == {b.network_ids[0], b.network_ids[2]}
        assert not any("organizations/100" in p for p in collected(tmp_path / "one"))

        missing = run(fake, tmp_path / "none", "--org", "200", "--network", "No Such Store", *FAST)
        assert missing.exit_code == 2
        assert "No Such Store" in missing.output


def test_absolute_link_urls_are_followed(org: SyntheticOrg, tmp_path: Path) -> None:
    # The real Dashboard sends absolute Links; off meraki.com the SDK prefixes them with the base URL.
    with FakeDashboard(org.root, rate=None, page_size=3, absolute_links=True) as fake:
        result = run(fake, tmp_path / "snap", *FAST)
        assert fake.count(status=404) == 0
    assert result.exit_code == 0, result.output
    assert collected(tmp_path / "snap") == org.files
    assert fake.count(pattern="organizations/100/networks") == 4


def test_api_key_never_follows_a_redirect_to_another_host(org: SyntheticOrg, server: FakeDashboard,
                                                          tmp_path: Path) -> None:
    def elsewhere(request: Any) -> Reply | None:
        if request.path == "organizations/100/policyObjects":
            return Reply(302, {}, {"Location": "http://collector-trap.invalid/api/v1/organizations"})
        return None

    server.hooks.append(elsewhere)
    out = tmp_path / "snap"
    result = run(server, out, *FAST)
    assert result.exit_code == 3
    call = calls_by_path(out)["organizations/100/policyObjects"]
    assert call["outcome"] == "failed" and "refusing to send the API key" in call["error"]


# --- rate limiting --------------------------------------------------------------------------------------------
# On virtual time (tests/fakes/clock.py): the collector's buckets, the SDK's retry waits and the fake Dashboard's
# rate limit share one clock, so a storm and its Retry-After waits play out as they would, minus the waiting.
# A collector that did not wait would leave the Dashboard's bucket empty (time only moves when it waits) and
# meet 429s until it gave up. test_token_bucket_rate below keeps the system clock.
@pytest.mark.timeout(60)
def test_429_storm_is_absorbed(tmp_path: Path) -> None:
    org = build_org(tmp_path / "source", "100", 5, policy_objects=25)
    clock = FakeClock()
    # The server allows 20/s with almost no burst; we send at 60/s: most of the first requests meet 429s.
    with FakeDashboard(org.root, rate=20, burst=2, page_size=3, api_key=API_KEY, clock=clock.monotonic) as fake:
        # And one endpoint answers 429 more times than the SDK retries (2 attempts): the call is made again.
        fake.fail("organizations/100/policyObjects/groups", 429, times=3, headers={"Retry-After": "1"})
        # A non-integer Retry-After would crash the SDK's int(); it is normalised.
        fake.fail("networks/*/wireless/ssids", 429, times=1, headers={"Retry-After": "0.5"})
        out = tmp_path / "snap"
        result = asyncio.run(collect(CollectorConfig(out=out, api_key=API_KEY, base_url=fake.base_url, rate=60,
                                                     maximum_retries=2, clock=clock)))
        assert fake.non_get() == []

    assert result.exit_code == 0, result.failures
    assert collected(out) == org.files
    assert fake.count(status=429) >= 10
    run_info = manifest(out)["runs"][0]
    assert run_info["rate_limited"] == fake.count(status=429)
    assert run_info["summary"]["failed"] == 0
    assert calls_by_path(out)["organizations/100/policyObjects/groups"]["rate_limited"] >= 3
    # every request made again after a 429 waited out its Retry-After (1 s at least here), on the shared clock
    again: dict[tuple[str, str], list[RecordedRequest]] = {}
    for request in fake.requests:
        again.setdefault((request.path, request.query), []).append(request)
    retried = [(a, b) for same in again.values() for a, b in itertools.pairwise(same) if a.status == 429]
    assert len(retried) >= 10 and all(b.clock_at - a.clock_at >= 1 for a, b in retried), retried


def test_collector_paces_itself_to_the_rate(tmp_path: Path) -> None:
    org = build_org(tmp_path / "source", "100", 4)
    clock = FakeClock()
    with FakeDashboard(org.root, rate=10, burst=10, clock=clock.monotonic) as fake:
        started = clock.monotonic()
        result = asyncio.run(collect(CollectorConfig(out=tmp_path / "snap", api_key=API_KEY,
                                                     base_url=fake.base_url, rate=10, clock=clock)))
        elapsed = clock.monotonic() - started
    assert result.exit_code == 0, result.failures
    assert fake.count(status=429) == 0  # paced below the server's limit: no 429 at all
    requests = len(fake.requests)
    assert elapsed >= (requests - 5) / 10 - 0.2  # burst of 5, then 10/s
    assert elapsed <= requests / 10 * 1.3 + 1


def test_token_bucket_rate() -> None:
    async def take(n: int) -> float:
        bucket = TokenBucket(rate=50, burst=5)
        started = time.monotonic()
        for _ in range(n):
            await bucket.acquire()
        return time.monotonic() - started

    elapsed = asyncio.run(take(30))
    assert 25 / 50 - 0.02 <= elapsed <= 25 / 50 + 0.25


# --- failures and feature absence -----------------------------------------------------------------------
@pytest.mark.timeout(60)
def test_failing_endpoint_is_recorded_and_exit_3(org: SyntheticOrg, server: FakeDashboard,
                                                  tmp_path: Path) -> None:
    server.fail("networks/*/appliance/firewall/l7FirewallRules", 503)  # forever
    denied = org.network_ids[0]
    server.fail(f"networks/{denied}/groupPolicies", 403, body={"errors": ["Forbidden for this key"]})
    out = tmp_path / "snap"
    result = run(server, out, "--retries", "2", *FAST)

    assert result.exit_code == 3, result.output
    assert "failed" in result.output and "manifest.json" in result.output
    calls = calls_by_path(out)
    l7 = [c for p, c in calls.items() if p.endswith("appliance/firewall/l7FirewallRules")]
    assert l7 and all(c["outcome"] == "failed" and c["status"] == 503 and "injected 503" in c["error"]
                      and c["attempts"] == 2 and not c["written"] for c in l7)
    forbidden = calls[f"networks/{denied}/groupPolicies"]
    assert (forbidden["outcome"], forbidden["status"]) == ("failed", 403)
    assert forbidden["attempts"] == 1  # a 403 is not retried
    assert "Forbidden for this key" in forbidden["error"]
    # Failed calls leave no file; everything else is there.
    failed_files = {c["file"] for c in calls.values() if c["outcome"] == "failed"}
    assert collected(out) == org.files - failed_files
    assert manifest(out)["runs"][0]["summary"]["failed"] == len(failed_files)


UPLINKS = "organizations/100/appliance/uplink/statuses"


def test_uplink_statuses_collected_across_pages(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    out = tmp_path / "snap"
    result = run(server, out, *FAST)

    assert result.exit_code == 0, result.output
    served = json.loads((org.root / f"meraki/{UPLINKS}.json").read_text())
    appliances = [n["id"] for n in org.networks if "appliance" in n["productTypes"]]
    assert [s["networkId"] for s in served] == appliances and len(appliances) == 7
    # 7 MXs at 3 per page: three pages, the later ones asked for through the Link's startingAfter.
    pages = [r for r in server.requests if r.path == UPLINKS]
    assert [("startingAfter" in r.query, r.status) for r in pages] == [(False, 200), (True, 200), (True, 200)]
    written = json.loads((out / f"meraki/{UPLINKS}.json").read_text())
    assert written == served  # every page's items, in order, nothing redacted or reshaped
    assert {len(s["uplinks"]) for s in written} == {1, 2}
    assert all(ip.startswith(("203.0.113.", "198.51.100.")) for s in written for ip in
               (u["publicIp"] for u in s["uplinks"]))
    call = calls_by_path(out)[UPLINKS]
    assert (call["outcome"], call["status"], call["written"], call["file"]) == (
        "ok", 200, True, f"meraki/{UPLINKS}.json")
    assert call["attempts"] == 3  # one per page


@pytest.mark.timeout(60)
def test_uplink_statuses_failure_is_recorded_and_the_rest_collected(org: SyntheticOrg, server: FakeDashboard,
                                                                   tmp_path: Path) -> None:
    server.fail(UPLINKS, 503)  # forever
    out = tmp_path / "snap"
    result = run(server, out, "--retries", "2", *FAST)

    assert result.exit_code == 3, result.output
    calls = calls_by_path(out)
    failed = calls[UPLINKS]
    assert (failed["outcome"], failed["status"], failed["written"], failed["attempts"]) == ("failed", 503, False, 2)
    assert "injected 503" in failed["error"] and failed["file"] == f"meraki/{UPLINKS}.json"
    assert [p for p, c in calls.items() if c["outcome"] != "ok"] == [UPLINKS]
    assert collected(out) == org.files - {f"meraki/{UPLINKS}.json"}
    assert manifest(out)["runs"][0]["summary"]["failed"] == 1


def test_uplink_statuses_page_failure_writes_no_partial_list(org: SyntheticOrg, server: FakeDashboard,
                                                             tmp_path: Path) -> None:
    def second_page_fails(request: Any) -> Reply | None:
        if request.path == UPLINKS and "startingAfter" in request.query:
            return Reply(500, {"errors": ["page 2 exploded"]})
        return None

    server.hooks.append(second_page_fails)
    out = tmp_path / "snap"
    result = run(server, out, "--retries", "1", *FAST)

    assert result.exit_code == 3, result.output
    call = calls_by_path(out)[UPLINKS]
    assert (call["outcome"], call["status"]) == ("failed", 500) and "page 2 exploded" in call["error"]
    assert not (out / f"meraki/{UPLINKS}.json").exists()  # page 1 alone would pass for the whole list
    assert collected(out) == org.files - {f"meraki/{UPLINKS}.json"}


def test_uplink_statuses_per_org_at_the_encoded_org_path(tmp_path: Path) -> None:
    plain = build_org(tmp_path / "source", "100", 3)
    slashed = build_org(tmp_path / "source", "o/1", 5)
    with FakeDashboard(tmp_path / "source", rate=None) as fake:
        result = run(fake, tmp_path / "snap", *FAST)
        assert fake.non_get() == []
    assert result.exit_code == 0, result.output
    for built, folder in ((plain, "100"), (slashed, "o%2F1")):
        org_dir = tmp_path / "snap/meraki/organizations" / folder
        assert (org_dir / "policyObjects.json").is_file()  # the same folder as the other org files
        statuses = json.loads((org_dir / "appliance/uplink/statuses.json").read_text())
        assert [s["networkId"] for s in statuses] == [
            n["id"] for n in built.networks if "appliance" in n["productTypes"]]
    assert len({s["serial"] for folder in ("100", "o%2F1") for s in json.loads(
        (tmp_path / f"snap/meraki/organizations/{folder}/appliance/uplink/statuses.json").read_text())}) == 5


def test_vlans_disabled_is_feature_absent(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    # Settings claim VLANs are enabled but the network has a single LAN: the VLAN call answers 400
    # "VLANs are not enabled"; that is the feature being absent, and the single LAN is fetched instead.
    nid = next(n["id"] for i, n in enumerate(org.networks) if "appliance" in n["productTypes"] and i % 3 == 1)

    def claim_enabled(request: Any) -> Reply | None:
        if request.path == f"networks/{nid}/appliance/vlans/settings":
            return Reply(200, {"vlansEnabled": True})
        return None

    server.hooks.append(claim_enabled)
    out = tmp_path / "snap"
    result = run(server, out, *FAST)

    assert result.exit_code == 0, result.output
    vlans = calls_by_path(out)[f"networks/{nid}/appliance/vlans"]
    assert (vlans["outcome"], vlans["status"], vlans["written"]) == ("absent", 400, False)
    assert VLANS_DISABLED["errors"][0] in vlans["error"]
    assert (out / f"meraki/networks/{nid}/appliance/singleLan.json").is_file()
    assert not (out / f"meraki/networks/{nid}/appliance/vlans.json").exists()


@pytest.mark.timeout(60)
def test_timeouts_drops_and_bad_json(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    slow, dropped, broken, flaky = org.network_ids[0], org.network_ids[1], org.network_ids[2], org.network_ids[3]
    server.delay(f"networks/{slow}/groupPolicies", 3)
    server.drop(f"networks/{dropped}/wireless/ssids")
    server.invalid_json(f"networks/{broken}/appliance/vlans/settings")
    server.invalid_json(f"networks/{flaky}/groupPolicies", times=1)  # once: the retry gets good JSON
    out = tmp_path / "snap"
    result = run(server, out, "--timeout", "0.5", "--retries", "2", *FAST)

    assert result.exit_code == 3, result.output
    calls = calls_by_path(out)
    timed_out = calls[f"networks/{slow}/groupPolicies"]
    assert timed_out["outcome"] == "failed" and timed_out["status"] is None
    assert timed_out["error"].startswith("timeout")
    lost = calls[f"networks/{dropped}/wireless/ssids"]
    assert lost["outcome"] == "failed" and lost["status"] is None and "transport error" in lost["error"]
    bad = calls[f"networks/{broken}/appliance/vlans/settings"]
    assert (bad["outcome"], bad["status"]) == ("failed", 200) and "not valid JSON" in bad["error"]
    assert calls[f"networks/{flaky}/groupPolicies"]["outcome"] == "ok"
    assert calls[f"networks/{flaky}/groupPolicies"]["attempts"] == 2


# --- read-only ------------------------------------------------------------------------------------------------
def test_non_get_requests_are_refused_before_sending(org: SyntheticOrg, server: FakeDashboard,
                                                     tmp_path: Path) -> None:
    nid = org.network_ids[0]

    async def attempt() -> list[str]:
        refused: list[str] = []
        config = CollectorConfig(out=tmp_path / "unused", api_key=API_KEY, base_url=server.base_url)
        async with open_dashboard(config, RequestGate(rate=100)) as dashboard:
            writes = [
                lambda: dashboard.networks.updateNetwork(nid, name="pwned"),
                lambda: dashboard.appliance.updateNetworkApplianceFirewallL3FirewallRules(nid, rules=[]),
                lambda: dashboard.networks.deleteNetwork(nid),
                lambda: dashboard.organizations.createOrganizationNetwork("100", name="x", productTypes=["switch"]),
                # Below the SDK's session, straight at its httpx client: the transport hook refuses.
                lambda: dashboard._session._client.request("PATCH", f"{server.base_url}/networks/{nid}"),
            ]
            for write in writes:
                try:
                    await write()
                except ReadOnlyViolation as exc:
                    refused.append(str(exc))
            # Reads still work through the same client.
            assert await dashboard.networks.getNetworkGroupPolicies(nid)
        return refused

    refused = asyncio.run(attempt())
    assert len(refused) == 5
    assert server.non_get() == []
    assert server.count(method="GET") == 1


def test_fake_dashboard_refuses_and_records_writes(server: FakeDashboard) -> None:
    # The second line of defence in tests: had anything slipped through, the server would have seen it.
    answer = httpx.put(f"{server.base_url}/networks/N_100_0000", json={"name": "x"},
                       headers={"Authorization": f"Bearer {API_KEY}"})
    assert answer.status_code == 405
    assert [(r.method, r.status) for r in server.non_get()] == [("PUT", 405)]
    server._requests.clear()  # keep the fixture's own check about the collector meaningful


# --- secrets ----------------------------------------------------------------------------------------------
def test_no_secret_reaches_snapshot_manifest_logs_or_output(
        org: SyntheticOrg, server: FakeDashboard, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    leaked_in_error = org.secrets[0]
    server.fail(f"networks/{org.network_ids[1]}/groupPolicies", 500,
                body={"errors": ["boom"], "psk": leaked_in_error})
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "snap"
    result = run(server, out, "--retries", "1", *FAST)

    assert result.exit_code == 3
    assert len(org.secrets) >= 20
    everything = "\n".join(p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file())
    haystacks = {"snapshot": everything, "logs": caplog.text, "output": result.output}
    for where, text in haystacks.items():
        for secret in [*org.secrets, API_KEY]:
            assert secret not in text, f"secret {secret[:6]}... leaked into {where}"
    assert any(r.name.startswith("auditor.vendors.meraki.collect") for r in caplog.records)  # logs captured
    nid = next(n["id"] for n in org.networks if "wireless" in n["productTypes"])
    ssids = json.loads((out / f"meraki/networks/{nid}/wireless/ssids.json").read_text())
    assert ssids[0]["psk"] == REDACTED and ssids[4]["psk"] == REDACTED
    ipsks = json.loads((out / f"meraki/networks/{nid}/wireless/ssids/1/identityPsks.json").read_text())
    assert {k["passphrase"] for k in ipsks} == {REDACTED}
    radius = next(s for s in json.loads((out / "meraki/networks/N_100_0000/wireless/ssids.json").read_text())
                  if s["number"] == 3)
    assert radius["radiusServers"][0]["secret"] == REDACTED
    assert radius["radiusAccountingServers"][0]["secret"] == REDACTED
    assert radius["radiusServers"][0]["host"] == "10.0.0.5"  # only secrets go


def test_redact_json() -> None:
    body = {"psk": "a", "name": "Corp", "enabled": True, "radiusServers": [{"host": "h", "secret": "s"}],
            "nested": {"sharedSecret": "x", "authPassword": "y", "apiKey": "z", "privateKey": {"pem": "p"},
                       "passphrase": 12345678, "groupPolicyId": "101", "keyId": "7", "encryptionMode": "wpa"},
            "psk2": None, "password": "", "secret": False, "gre": {"key": 5}}
    red = redact_json(body)
    assert red["psk"] == REDACTED and red["radiusServers"][0] == {"host": "h", "secret": REDACTED}
    assert {k: v for k, v in red["nested"].items() if v == REDACTED}.keys() == {
        "sharedSecret", "authPassword", "apiKey", "privateKey", "passphrase"}
    assert red["nested"]["groupPolicyId"] == "101" and red["nested"]["keyId"] == "7"
    assert red["psk2"] is None and red["password"] == "" and red["secret"] is False
    assert red["gre"]["key"] == REDACTED
    assert body["psk"] == "a"  # the input is not modified


# --- path safety ----------------------------------------------------------------------------------------
# Position decides the product mix (see build_org): every fifth network has neither appliance nor wireless.
NETWORK_IDS = ["N_ok", ".", "..", "a/b", "N_cam1", "../../../escaped", "N_..", "..\\win", "%2e%2e", "N_cam2",
               "~", "x y?z#"]


def test_ids_with_path_syntax_stay_inside_the_snapshot(tmp_path: Path) -> None:
    org = build_org(tmp_path / "source", "100", network_ids=NETWORK_IDS)
    out = tmp_path / "inner" / "snap"
    with FakeDashboard(org.root, rate=None) as fake:
        result = run(fake, out, *FAST)
        assert fake.non_get() == []

    # Only the ids that HTTP clients would rewrite ("." and "..") could not be requested.
    assert result.exit_code == 3, result.output
    calls = manifest(out)["calls"]
    unsafe = [c for c in calls if c["outcome"] == "failed"]
    assert unsafe and all("not requested" in c["error"] for c in unsafe)
    assert {c["path"].split("/")[1] for c in unsafe} == {"..", "."}
    # Everything written is inside the snapshot, at the percent-encoded name.
    outside = [p for p in tmp_path.rglob("*") if p.is_file()
               and not p.is_relative_to(out) and not p.is_relative_to(org.root)]
    assert outside == []
    for nid in ["N_ok", "../../../escaped", "a/b", "N_..", "..\\win", "%2e%2e", "~", "x y?z#"]:
        assert (out / "meraki/networks" / quote_segment(nid) / "groupPolicies.json").is_file(), nid
    assert (out / "meraki/networks/a%2Fb").is_dir()
    assert not (out / "escaped").exists() and not (tmp_path / "escaped").exists()
    expected = {f for f in org.files if not f.startswith(("meraki/networks/%2E%2E/", "meraki/networks/%2E/"))}
    assert collected(out) == expected


def test_writer_refuses_paths_that_leave_the_root(tmp_path: Path) -> None:
    for bad in ["../x.json", "/etc/x.json", "a/../../x.json", "a//b.json", "a/./b.json", "a\\..\\b.json",
                "a/b\x00.json", ""]:
        with pytest.raises(UnsafePathError):
            check_relpath(bad)
    assert quote_segment("..") == "%2E%2E" and quote_segment(".") == "%2E"
    assert quote_segment("a/b") == "a%2Fb"
    with pytest.raises(UnsafePathError):
        quote_segment("")
    root = tmp_path / "snap"
    (tmp_path / "elsewhere").mkdir()
    writer = SnapshotWriter(root, "test")
    os.symlink(tmp_path / "elsewhere", root / "meraki")  # a planted symlink must not be followed out
    with pytest.raises(UnsafePathError):
        writer.write_json("meraki/organizations.json", [])
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_manifest_accumulates_runs_of_several_collectors(tmp_path: Path) -> None:
    with SnapshotWriter(tmp_path, "meraki", secrets=["hunter2-password"]) as first:
        first.write_json("meraki/organizations.json", [{"id": "1"}])
        first.record_call("organizations", "ok", status=200, file="meraki/organizations.json", written=True)
    with SnapshotWriter(tmp_path, "cisco") as second:
        second.write_text("cisco/hq.cfg", "hostname hq\n")
        second.record_call("show running-config", "failed", error="login as hunter2-password failed")
    data = manifest(tmp_path)
    assert [r["collector"] for r in data["runs"]] == ["meraki", "cisco"]
    assert [c["collector"] for c in data["calls"]] == ["meraki", "cisco"]
    # The second writer did not know the secret; the first would have scrubbed it. Both runs kept.
    assert data["calls"][0]["file"] == "meraki/organizations.json"


# --- command line -----------------------------------------------------------------------------------------
def test_usage_errors_exit_2(server: FakeDashboard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MERAKI_DASHBOARD_API_KEY")
    no_key = run(server, tmp_path / "a")
    assert no_key.exit_code == 2 and "MERAKI_DASHBOARD_API_KEY" in no_key.output
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)

    bad_url = CliRunner().invoke(collect_app, ["meraki", "--out", str(tmp_path / "b"), "--base-url", "ftp://x"])
    assert bad_url.exit_code == 2 and "--base-url" in bad_url.output

    used = tmp_path / "used"
    (used / "meraki").mkdir(parents=True)
    (used / "meraki/organizations.json").write_text("[]")
    again = run(server, used)
    assert again.exit_code == 2 and "already holds" in again.output

    assert CliRunner().invoke(collect_app, ["meraki"]).exit_code == 2  # --out is required
    assert server.requests == []


def test_base_url_from_environment(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    result = CliRunner().invoke(collect_app, ["meraki", "--out", str(tmp_path / "snap"), *FAST],
                                env={"MERAKI_BASE_URL": server.base_url})
    assert result.exit_code == 0, result.output
    assert collected(tmp_path / "snap") == org.files


def test_progress_bar_runs(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    config = CollectorConfig(out=tmp_path / "snap", api_key=API_KEY, base_url=server.base_url, rate=200,
                             show_progress=True)
    result = asyncio.run(collect(config))
    assert result.exit_code == 0 and result.networks == len(org.networks)


def test_mounted_as_vpn_auditor_collect(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["collect", "meraki", "--out", str(tmp_path / "snap"),
                                      "--base-url", server.base_url, *FAST])
    assert result.exit_code == 0, result.output
    assert collected(tmp_path / "snap") == org.files


def test_audit_org_collects_then_audits(org: SyntheticOrg, server: FakeDashboard, tmp_path: Path) -> None:
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    result = CliRunner().invoke(app, ["audit", "--org", "100", "--base-url", server.base_url, "--snapshot-out",
                                      str(tmp_path / "snap"), "--config", str(config), "--format", "json", *FAST])
    assert result.exit_code in (0, 1, 3), result.output
    assert collected(tmp_path / "snap") == org.files
    assert json.loads(result.stdout)["summary"]["paths"] > 0
    assert manifest(tmp_path / "snap")["runs"][0]["parameters"]["rate_per_org"] == 200  # --rate paced it


def test_audit_rate_without_org_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "fixtures/snapshots/retail-demo", "--rate", "5"])
    assert result.exit_code == 2
    assert "--rate needs --org" in result.output
