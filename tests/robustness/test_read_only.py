"""No collector can change a device: every write the Meraki SDK offers, every HTTP method but GET on the
load-balancer client, every command but the allowlisted `show` commands on SSH is refused in this process,
and the fake servers and devices confirm that nothing but reads reached them."""

from __future__ import annotations

import asyncio
import inspect
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.vendors.cisco.collect import ALLOWED_COMMANDS, CommandNotAllowed, _ReadOnlyGuard, connect
from auditor.vendors.lb.collect import LbCollectConfig, ReadOnlyClient, WriteRefused, collect_lb
from auditor.vendors.meraki.collect import CollectorConfig, ReadOnlyViolation, RequestGate, open_dashboard
from tests.fakes.cisco_ssh import FakeCiscoDevice
from tests.fakes.dashboard import FakeDashboard, build_org
from tests.fakes.lb_servers import FakeLoadBalancer

pytestmark = pytest.mark.timeout(120)
FIXTURES = Path(__file__).parents[2] / "fixtures"
API_KEY = "0123456789abcdef0123456789abcdef01234567"
READS = re.compile(r"^get[A-Z]")


def _dummy(parameter: inspect.Parameter) -> Any:
    name = parameter.name.lower()
    if name.endswith("s") and name not in ("address", "status"):
        return ["x"]
    return "1"


def test_every_meraki_sdk_write_is_refused_before_sending(tmp_path: Path) -> None:
    """All create/update/delete/claim/... methods of every SDK section, with made-up arguments."""
    org = build_org(tmp_path / "source", "100", 2)

    async def attempt(base_url: str) -> tuple[int, list[str]]:
        config = CollectorConfig(out=tmp_path / "unused", api_key=API_KEY, base_url=base_url, maximum_retries=1)
        refused, escaped = 0, []
        async with open_dashboard(config, RequestGate(rate=1000, burst=1000)) as dashboard:
            sections = [getattr(dashboard, n) for n in dir(dashboard) if not n.startswith("_")
                        and hasattr(getattr(dashboard, n), "_session")]
            for section in sections:
                for name, method in inspect.getmembers(section, callable):
                    if name.startswith("_") or READS.match(name):
                        continue
                    params = [p for p in inspect.signature(method).parameters.values()
                              if p.default is inspect.Parameter.empty
                              and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                    try:
                        pending = method(*(_dummy(p) for p in params))
                        if inspect.isawaitable(pending):
                            await pending
                        escaped.append(f"{type(section).__name__}.{name}: returned")
                    except ReadOnlyViolation:
                        refused += 1
                    except Exception as exc:  # an SDK check before any request is fine; a request is not
                        escaped.append(f"{type(section).__name__}.{name}: {type(exc).__name__}")
        return refused, escaped

    with FakeDashboard(org.root, rate=None) as fake:
        refused, escaped = asyncio.run(attempt(fake.base_url))
        assert fake.non_get() == [], "a write reached the Dashboard"
        reads = {r.path for r in fake.requests}  # a few SDK reads are not named get...: they pass, as GETs
    assert refused > 400, refused  # the SDK has hundreds of write methods: all were tried and refused
    # The rest stopped at the SDK's own argument checks (assert on enum values), before any request.
    assert len([e for e in escaped if not e.endswith("AssertionError")]) == len(reads) < 10, (escaped, reads)


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "CONNECT", "TRACE"])
def test_meraki_transport_refuses_every_method_but_get(tmp_path: Path, method: str) -> None:
    org = build_org(tmp_path / "source", "100", 1)

    async def attempt(base_url: str) -> None:
        config = CollectorConfig(out=tmp_path / "unused", api_key=API_KEY, base_url=base_url)
        async with open_dashboard(config, RequestGate(rate=100)) as dashboard:
            with pytest.raises(ReadOnlyViolation):
                await dashboard._session._client.request(method, f"{base_url}/organizations")

    with FakeDashboard(org.root, rate=None) as fake:
        asyncio.run(attempt(fake.base_url))
        assert fake.requests == []


@pytest.mark.parametrize(("vendor", "fixture"), [("f5", "f5/rest-sticky"), ("kemp", "kemp/sticky-port-following.xml"),
                                                 ("netscaler", "netscaler/nitro-sticky")])
def test_lb_collectors_only_read(tmp_path: Path, vendor: str, fixture: str) -> None:
    with FakeLoadBalancer(vendor, FIXTURES / "lb" / fixture, page_size=1 if vendor == "f5" else None) as fake:
        result = collect_lb(LbCollectConfig(vendor, fake.url, tmp_path, "auditor", "s3cret-pass", name="lb1",
                                            timeout=5))
    assert result.ok > 0
    assert {method for method, _, _ in fake.requests} == {"GET"}
    assert not any("login" in path or "logout" in path for _, path, _ in fake.requests)  # no NITRO session


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_lb_client_refuses_every_method_but_get(method: str) -> None:
    client = ReadOnlyClient("http://127.0.0.1:9")
    assert [n for n in dir(client) if not n.startswith("_")] == ["close", "get"]
    with FakeLoadBalancer("f5", FIXTURES / "lb" / "f5" / "rest-sticky") as fake:
        inner = ReadOnlyClient(fake.url)._client
        with pytest.raises(WriteRefused):
            inner.request(method, "/mgmt/tm/ltm/virtual")
        with pytest.raises(WriteRefused):
            inner.send(httpx.Request(method, f"{fake.url}/mgmt/tm/ltm/virtual"))
        assert fake.requests == []
    client.close()


def test_lb_client_does_not_follow_redirects(tmp_path: Path) -> None:
    """A 307 keeps the method and a 303 turns it into GET elsewhere: no redirect is followed at all."""
    root = tmp_path / "f5"
    shutil.copytree(FIXTURES / "lb" / "f5" / "rest-sticky", root)
    with FakeLoadBalancer("f5", root) as fake:
        from tests.fakes.lb_servers import Fault

        fake.faults["/mgmt/tm/ltm/virtual"] = Fault(307, body="")
        result = collect_lb(LbCollectConfig("f5", fake.url, tmp_path / "snap", "auditor", "s3cret-pass",
                                            name="lb1", timeout=5))
    assert any(f.status == 307 for f in result.failures)
    assert [p for _, p, _ in fake.requests].count("/mgmt/tm/ltm/virtual") == 1


# --- Cisco ------------------------------------------------------------------------------------------------
class _Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def write_channel(self, out_data: str) -> None:
        self.sent.append(out_data)


class _Guarded(_ReadOnlyGuard, _Recorder):
    _credentials = frozenset({"audit-pw", "enable-pw"})


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60), st.sampled_from(["\n", "\r\n", "\r", ""]))
def test_guard_passes_only_allowlisted_show_commands(command: str, newline: str) -> None:
    guard = _Guarded()
    normal = " ".join(command.split())
    try:
        guard.write_channel(command + newline)
    except CommandNotAllowed:
        assert guard.sent == []
        return
    pieces = [" ".join(p.split()) for p in re.split(r"[\r\n]+", command + newline)]
    session = {"", "terminal length 0", "terminal pager 0", "terminal width 511", "show curpriv", "enable",
               "login", "exit"}
    assert all(p in ALLOWED_COMMANDS | session | _Guarded._credentials for p in pieces), normal


@pytest.mark.parametrize("payload", ["configure terminal\n", "show running-config\nconfigure terminal\n",
                                     "conf t\n", "write memory\n", "copy running-config startup-config\n",
                                     "reload\n", "show running-config | redirect flash:x\n", "no logging\n",
                                     "show running-config\rclear configure all\r", "debug all\n"])
def test_guard_refuses_configuration_in_any_framing(payload: str) -> None:
    guard = _Guarded()
    with pytest.raises(CommandNotAllowed):
        guard.write_channel(payload)
    assert guard.sent == []


@pytest.mark.slow
@pytest.mark.parametrize(("platform", "device_type"), [("ios", "cisco_ios"), ("asa", "cisco_asa")])
def test_live_session_cannot_enter_configuration_mode(platform: str, device_type: str) -> None:
    text = (FIXTURES / "cisco" / ("ios-vpn.cfg" if platform == "ios" else "asa-vpn.cfg")).read_text()
    with FakeCiscoDevice(text, platform=platform, hostname="r1") as device:
        conn = connect(device_type, "127.0.0.1", device.port, "audit", "audit-pw", "enable-pw", 10)
        try:
            attempts = [lambda: conn.send_config_set(["hostname pwned"]), lambda: conn.config_mode(),
                        lambda: conn.send_command("reload"), lambda: conn.send_command_timing("conf t"),
                        lambda: conn.save_config(), lambda: conn.write_channel("write erase\n")]
            for attempt in attempts:
                with pytest.raises((CommandNotAllowed, NotImplementedError)):
                    attempt()
            assert conn.send_command("show version")  # reads still work on the same session
        finally:
            conn.disconnect()
        received = [c for c in device.received if c]
    assert not any(c.startswith(("conf", "hostname", "reload", "write", "copy")) for c in received), received
