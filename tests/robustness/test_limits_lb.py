"""Issue 20 items 9 and 11, load balancers: a hostile REST server (tests/fakes/hostile_http.py) cannot hang
`collect f5|kemp|netscaler`, fill its memory or loop its pagination; each trip is a failed call naming the
bound, and the other calls go on. Bad command lines (a missing CA bundle, an --out that cannot be written) are
one-line usage errors before any request; plain HTTP warns; --insecure is in the manifest."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from auditor.cli_collect import collect_app
from auditor.collect.limits import mb_bytes
from auditor.vendors.lb.collect import LbCollectConfig, LbCollectResult, collect_lb
from tests.fakes.hostile_http import Drip, Endless, HostileServer, Huge, Reply, Request, gzip_bomb

VIRTUAL = "/mgmt/tm/ltm/virtual"
NEXT = "https://localhost/mgmt/tm/ltm/virtual"
pytestmark = pytest.mark.timeout(60)


def _script(attack: Any, where: str = VIRTUAL):  # type: ignore[no-untyped-def]
    def script(request: Request) -> Any:
        if request.path == where:
            return attack(request) if callable(attack) else attack
        return Reply(404, '{"code": 404, "message": "not found"}')
    return script


def _collect(server: HostileServer, out: Path, vendor: str = "f5", **kw: Any) -> tuple[LbCollectResult, dict[str, Any],
                                                                                         float]:
    options: dict[str, Any] = {"timeout": 1.0, "max_body": mb_bytes(1.0)}
    options.update(kw)
    started = time.monotonic()
    result = collect_lb(LbCollectConfig(vendor, server.url, out, "auditor", "s3cret-pass", name="lb1", **options))
    elapsed = time.monotonic() - started
    calls = {c["path"].split("?")[0]: c for c in json.loads((out / "manifest.json").read_text())["calls"]}
    return result, calls, elapsed


def _failed(calls: dict[str, Any], path: str, words: str) -> None:
    call = calls[path]
    assert call["outcome"] == "failed" and words in (call["error"] or ""), call
    assert not call["written"]


@pytest.mark.slow
def test_a_body_sent_one_byte_a_second_meets_the_total_deadline(tmp_path: Path) -> None:
    with HostileServer(_script(Drip(0.2))) as server:
        result, calls, elapsed = _collect(server, tmp_path / "snap")
    _failed(calls, VIRTUAL, "no complete answer within 1 s")
    assert elapsed < 6, elapsed  # one deadline, then the other 39 calls
    assert result.exit_code == 3 and result.absent >= 30


@pytest.mark.parametrize("attack", [Endless(), Huge(400 << 20), gzip_bomb(64 << 20)],
                         ids=["endless-chunked", "400-mb", "gzip-bomb"])
def test_a_body_past_the_cap_is_a_failed_call_in_bounded_memory(tmp_path: Path, attack: object) -> None:
    with HostileServer(_script(attack)) as server:
        tracemalloc.start()
        result, calls, elapsed = _collect(server, tmp_path / "snap")
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    _failed(calls, VIRTUAL, "larger than the 1.0 MB cap")
    assert peak < 40 << 20, peak
    assert elapsed < 10, elapsed
    assert not (tmp_path / "snap/f5/lb1/ltm/virtual.json").exists()
    assert result.exit_code == 3


def test_kemp_and_netscaler_bodies_are_capped_too(tmp_path: Path) -> None:
    with HostileServer(lambda request: Endless()) as server:
        _, kemp, _ = _collect(server, tmp_path / "kemp", "kemp")
        _, nitro, _ = _collect(server, tmp_path / "nitro", "netscaler")
    _failed(kemp, "/access/listvs", "larger than the 1.0 MB cap")
    _failed(nitro, "/nitro/v1/config/lbvserver", "larger than the 1.0 MB cap")


def _page(items: list[Any], link: str | None) -> Reply:
    return Reply(200, json.dumps({"kind": "tm:ltm:virtual:virtualcollectionstate", "items": items,
                                  **({"nextLink": link} if link else {})}))


def test_an_f5_next_link_to_a_page_already_read_stops_the_call(tmp_path: Path) -> None:
    """It used to read 1,000 copies of the page and record the call as ok."""
    def pages(request: Request) -> Reply:
        skip = int(request.query.get("$skip", "0"))
        return _page([{"name": f"vs{skip}"}], f"{NEXT}?$skip=1")  # page 1 links to itself

    with HostileServer(_script(pages)) as server:
        _, calls, _ = _collect(server, tmp_path / "snap")
        assert server.count(VIRTUAL) == 2
    _failed(calls, VIRTUAL, "pagination loop: nextLink leads back to a page already read")


def test_f5_pages_that_repeat_items_under_new_links_stop_the_call(tmp_path: Path) -> None:
    def pages(request: Request) -> Reply:
        skip = int(request.query.get("$skip", "0"))
        return _page([{"name": "vs1"}], f"{NEXT}?$skip={skip + 1}")

    with HostileServer(_script(pages)) as server:
        _, calls, _ = _collect(server, tmp_path / "snap")
        assert server.count(VIRTUAL) == 2
    _failed(calls, VIRTUAL, "page 2 repeats items already read")


def test_endless_distinct_f5_pages_stop_at_the_page_cap(tmp_path: Path) -> None:
    def pages(request: Request) -> Reply:
        skip = int(request.query.get("$skip", "0"))
        return _page([{"name": f"vs{skip}"}], f"{NEXT}?$skip={skip + 1}")

    with HostileServer(_script(pages)) as server:
        _, calls, _ = _collect(server, tmp_path / "snap", max_pages=5)
        assert server.count(VIRTUAL) == 5
    _failed(calls, VIRTUAL, "more than 5 pages")


def test_f5_pages_are_capped_together(tmp_path: Path) -> None:
    def pages(request: Request) -> Reply:
        skip = int(request.query.get("$skip", "0"))
        return _page([{"name": f"vs{skip}", "description": "x" * 300_000}], f"{NEXT}?$skip={skip + 1}")

    with HostileServer(_script(pages)) as server:
        _, calls, _ = _collect(server, tmp_path / "snap")
    _failed(calls, VIRTUAL, "the answer (all its pages) is larger than the 1.0 MB cap")


@pytest.mark.parametrize("second", ["[1, 2, 3]", '"text"', '{"items": "none"}', "not json"])
def test_an_f5_page_that_is_not_a_collection_is_a_failed_call(tmp_path: Path, second: str) -> None:
    """It used to end in AttributeError: 'list' object has no attribute 'get'."""
    def pages(request: Request) -> Reply:
        return Reply(200, second) if "$skip" in request.query else _page([], f"{NEXT}?$skip=1")

    with HostileServer(_script(pages)) as server:
        result, calls, _ = _collect(server, tmp_path / "snap")
    call = calls[VIRTUAL]
    assert call["outcome"] == "failed" and ("not a collection" in call["error"] or "not JSON" in call["error"])
    assert result.exit_code == 3


def test_a_500_deep_body_is_a_failed_call(tmp_path: Path) -> None:
    with HostileServer(_script(Reply(200, '{"items": ' + "[" * 500 + "]" * 500 + "}"))) as server:
        _, calls, _ = _collect(server, tmp_path / "snap")
    _failed(calls, VIRTUAL, "nests deeper than 64 levels")


# --- the command line -----------------------------------------------------------------------------------------
def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    monkeypatch.setenv("VPN_AUDITOR_LB_USERNAME", "auditor")
    monkeypatch.setenv("VPN_AUDITOR_LB_PASSWORD", "s3cret-pass")
    return CliRunner().invoke(collect_app, list(args))


def test_a_missing_ca_bundle_is_one_line_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(_script(Reply(200, '{"items": []}'))) as server:
        result = _cli(monkeypatch, "f5", "--host", server.url, "--out", str(tmp_path / "snap"), "--ca-bundle",
                      str(tmp_path / "nope.pem"))
        assert server.count() == 0
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [f"vpn-auditor collect: --ca-bundle {tmp_path / 'nope.pem'}: "
                                                  "no such file"]


def test_a_ca_bundle_without_certificates_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "empty.pem"
    bundle.write_text("no certificate here\n")
    result = _cli(monkeypatch, "f5", "--host", "https://127.0.0.1:9", "--out", str(tmp_path / "snap"),
                  "--ca-bundle", str(bundle))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and f"--ca-bundle {bundle}" in result.output


@pytest.mark.parametrize("kind", ["file", "below-a-file"])
def test_an_out_that_cannot_be_written_is_found_before_any_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   kind: str) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file\n")
    out = blocker if kind == "file" else blocker / "snap"
    with HostileServer(_script(Reply(200, '{"items": []}'))) as server:
        result = _cli(monkeypatch, "f5", "--host", server.url, "--out", str(out))
        assert server.count() == 0
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith(f"vpn-auditor collect: --out {out}: ")


def test_plain_http_warns_and_insecure_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with HostileServer(_script(Reply(200, '{"items": []}'))) as server:
        plain = _cli(monkeypatch, "f5", "--host", server.url, "--out", str(tmp_path / "a"))
        _cli(monkeypatch, "f5", "--host", server.url, "--out", str(tmp_path / "b"), "--insecure")
    assert "warning: --host http://127.0.0.1" in plain.output and "plain HTTP" in plain.output
    runs = json.loads((tmp_path / "a/manifest.json").read_text())["runs"]
    assert runs[-1]["parameters"]["insecure"] is False
    runs = json.loads((tmp_path / "b/manifest.json").read_text())["runs"]
    assert runs[-1]["parameters"]["insecure"] is True


def test_the_cli_takes_the_body_cap_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VPN_AUDITOR_MAX_BODY_MB", "0.25")
    with HostileServer(_script(Huge(1 << 20))) as server:
        result = _cli(monkeypatch, "f5", "--host", server.url, "--out", str(tmp_path / "snap"), "--timeout", "5")
    assert result.exit_code == 3
    calls = {c["path"].split("?")[0]: c for c in json.loads((tmp_path / "snap/manifest.json").read_text())["calls"]}
    _failed(calls, VIRTUAL, "larger than the 256.0 kB cap")
