"""Issue 20 item 9, Dashboard: a hostile Dashboard (tests/fakes/hostile_http.py) cannot hang the collector, fill
its memory or make it loop. Each bound trips as a failed call in the manifest naming the bound, in seconds, and
the collection goes on with the other calls. Caps are set small through CollectorConfig (the CLI's options)."""

from __future__ import annotations

import asyncio
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from auditor.vendors.meraki.collect import CollectorConfig, CollectResult, collect
from tests.fakes.hostile_http import Drip, Endless, HostileServer, Huge, Reply, Request, gzip_bomb

API_KEY = "0123456789abcdef0123456789abcdef01234567"
ORGS = "/api/v1/organizations"
ORG_LIST = '[{"id": "1", "name": "Org"}]'
pytestmark = pytest.mark.timeout(60)


def _collect(server: HostileServer, out: Path, **kw: Any) -> tuple[CollectResult, dict[str, dict[str, Any]], float]:
    options: dict[str, Any] = {"timeout": 2.0, "maximum_retries": 1, "max_body_mb": 1.0, "rate": 200}
    options.update(kw)
    config = CollectorConfig(out=out, api_key=API_KEY, base_url=f"{server.url}/api/v1", **options)
    started = time.monotonic()
    result = asyncio.run(collect(config))
    elapsed = time.monotonic() - started
    calls = {c["path"]: c for c in json.loads((out / "manifest.json").read_text())["calls"]}
    return result, calls, elapsed


def _failed(calls: dict[str, dict[str, Any]], path: str, words: str) -> None:
    call = calls[path]
    assert call["outcome"] == "failed" and words in (call["error"] or ""), call
    assert not call["written"]


def _orgs_then(attack: object, where: str = "/api/v1/organizations/1/networks"):  # type: ignore[no-untyped-def]
    """An org list that is fine, then the attack on `where`; every other call is an empty answer."""
    def script(request: Request) -> object:
        if request.path == ORGS:
            return Reply(200, ORG_LIST)
        if request.path == where:
            return attack(request) if callable(attack) else attack
        if request.path == "/api/v1/organizations/1/networks":
            return Reply(200, "[]")
        return Reply(404, '{"errors": ["Not found"]}')
    return script


@pytest.mark.slow
def test_a_body_sent_one_byte_a_second_meets_the_total_deadline(tmp_path: Path) -> None:
    with HostileServer(_orgs_then(Drip(0.2))) as server:
        result, calls, elapsed = _collect(server, tmp_path / "snap", timeout=1.0)
    assert elapsed < 8, elapsed  # a per-read timeout never trips on a byte every 0.2 s
    _failed(calls, "organizations/1/networks", "timeout")
    assert calls["organizations/1/policyObjects"]["outcome"] == "absent" or calls[
        "organizations/1/policyObjects"]["outcome"] == "failed"  # the others went on
    assert result.exit_code == 3


@pytest.mark.parametrize("attack", [Endless(), Huge(400 << 20), gzip_bomb(64 << 20)],
                         ids=["endless-chunked", "400-mb", "gzip-bomb"])
def test_a_body_past_the_cap_is_a_failed_call_in_bounded_memory(tmp_path: Path, attack: object) -> None:
    with HostileServer(_orgs_then(attack)) as server:
        tracemalloc.start()
        result, calls, elapsed = _collect(server, tmp_path / "snap")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    _failed(calls, "organizations/1/networks", "larger than the 1.0 MB cap")
    assert peak < 40 << 20, peak
    assert elapsed < 10, elapsed
    assert not (tmp_path / "snap/meraki/organizations/1/networks.json").exists()  # never a truncated list
    assert result.exit_code == 3


def test_a_link_to_the_page_itself_stops_the_call(tmp_path: Path) -> None:
    page = Reply(200, '[{"id": "N_1", "name": "a"}]', {"Link": "</organizations/1/networks>; rel=next"})
    with HostileServer(_orgs_then(page)) as server:
        _, calls, elapsed = _collect(server, tmp_path / "snap")
        assert server.count("/api/v1/organizations/1/networks") == 1
    _failed(calls, "organizations/1/networks", "pagination loop: Link rel=next leads back")
    assert elapsed < 5


def test_pages_that_repeat_under_new_links_stop_the_call(tmp_path: Path) -> None:
    def page(request: Request) -> Reply:
        after = int(request.query.get("startingAfter", "0"))
        return Reply(200, '[{"id": "N_1", "name": "a"}]',
                     {"Link": f"</organizations/1/networks?startingAfter={after + 1}>; rel=next"})

    with HostileServer(_orgs_then(page)) as server:
        _, calls, _ = _collect(server, tmp_path / "snap")
        assert server.count("/api/v1/organizations/1/networks") == 2
    _failed(calls, "organizations/1/networks", "page 2 repeats an earlier page")


def test_endless_distinct_pages_stop_at_the_page_cap(tmp_path: Path) -> None:
    def page(request: Request) -> Reply:
        after = int(request.query.get("startingAfter", "0"))
        return Reply(200, json.dumps([{"id": f"N_{after}", "name": "a"}]),
                     {"Link": f"</organizations/1/networks?startingAfter={after + 1}>; rel=next"})

    with HostileServer(_orgs_then(page)) as server:
        _, calls, _ = _collect(server, tmp_path / "snap", max_pages=5)
        assert server.count("/api/v1/organizations/1/networks") == 6
    _failed(calls, "organizations/1/networks", "more than 5 pages")


@pytest.mark.parametrize(("target", "words"), [("self", "redirect to the URL itself"),
                                               ("ping-pong", "more than 5 redirects")])
def test_redirect_loops_stop_the_call(tmp_path: Path, target: str, words: str) -> None:
    where = "/api/v1/organizations/1/networks"

    def script(request: Request) -> Reply:
        if request.path == ORGS:
            return Reply(200, ORG_LIST)
        if request.path in (where, where + "-b"):
            other = where if target == "self" or request.path != where else where + "-b"
            return Reply(302, "", {"Location": f"http://{request.headers['Host']}{other}"})
        return Reply(404, '{"errors": ["Not found"]}')

    with HostileServer(script) as server:
        _, calls, elapsed = _collect(server, tmp_path / "snap")
        assert server.count(where) + server.count(where + "-b") <= 6
    _failed(calls, "organizations/1/networks", words)
    assert elapsed < 5


def test_a_huge_retry_after_fails_the_call_without_pausing_the_others(tmp_path: Path) -> None:
    slow_down = Reply(429, '{"errors": ["slow down"]}', {"Retry-After": "1000000000"})
    with HostileServer(_orgs_then(slow_down, "/api/v1/organizations/1/policyObjects")) as server:
        result, calls, elapsed = _collect(server, tmp_path / "snap", max_retry_after=5)
    _failed(calls, "organizations/1/policyObjects", "asked to wait 1e+09 s (Retry-After), more than the 5 s cap")
    assert elapsed < 5, elapsed
    assert calls["organizations/1/networks"]["outcome"] != "failed"  # the org's bucket was not paused
    assert result.exit_code == 3


def test_a_500_deep_body_is_a_failed_call_and_collection_goes_on(tmp_path: Path) -> None:
    """It used to end in RecursionError in redact_json, with a manifest saying every call was fine."""
    deep = Reply(200, "[" * 500 + "]" * 500)
    with HostileServer(_orgs_then(deep, "/api/v1/organizations/1/policyObjects")) as server:
        result, calls, _ = _collect(server, tmp_path / "snap")
    _failed(calls, "organizations/1/policyObjects", "nests deeper than 64 levels")
    assert "organizations/1/appliance/uplink/statuses" in calls  # the org's other calls were made
    assert result.exit_code == 3


@pytest.mark.slow
def test_the_cli_takes_the_caps_from_options_and_the_environment(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from auditor.cli_collect import collect_app

    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)
    monkeypatch.setenv("VPN_AUDITOR_MAX_BODY_MB", "0.5")
    with HostileServer(_orgs_then(Huge(2 << 20))) as server:
        base = ["meraki", "--base-url", f"{server.url}/api/v1", "--timeout", "2", "--retries", "1"]
        from_env = CliRunner().invoke(collect_app, [*base, "--out", str(tmp_path / "a")])
        from_option = CliRunner().invoke(collect_app, [*base, "--out", str(tmp_path / "b"), "--max-body-mb", "4"])
    assert from_env.exit_code == 3, from_env.output
    calls = {c["path"]: c for c in json.loads((tmp_path / "a/manifest.json").read_text())["calls"]}
    _failed(calls, "organizations/1/networks", "larger than the 512.0 kB cap")
    assert "organizations/1/networks: no response the answer (all its pages) is larger" not in from_env.output
    assert from_option.exit_code == 3  # 2 MB fits under 4 MB; the body is not a list, so the org's list fails
    calls = {c["path"]: c for c in json.loads((tmp_path / "b/manifest.json").read_text())["calls"]}
    assert "cap" not in (calls["organizations/1/networks"]["error"] or "")
