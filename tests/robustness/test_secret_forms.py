"""Item 3 of issue 20: a secret is scrubbed in every spelling, not only as typed.

A load balancer that echoes the request (its Authorization header, the NITRO password header) in error bodies,
as JSON (which doubles a backslash), as text with the password URL-encoded, and a password holding a backslash,
a quote, a space, a slash, a percent sign and a non-ASCII letter: no spelling reaches the snapshot, the
manifest, a log record, the collector's stderr or any report of the snapshot.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import urllib.parse
from pathlib import Path

import pytest
import yaml

from auditor.vendors.lb.collect import LbCollectConfig, collect_lb
from tests.fakes.lb_servers import FakeLoadBalancer, Fault
from tests.robustness.leaks import assert_absent, forms, report_outputs, snapshot_text

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FIXTURES = Path(__file__).parents[2] / "fixtures" / "lb"
CLI = [sys.executable, "-c", "from auditor.cli import main; main()"]
USER = "auditor"
F5_PASSWORD = 'Lb\\Pa"ss w/o%rd-\u00e9-4e8'  # backslash, quote, space, slash, percent, non-ASCII
NS_PASSWORD = 'Ns\\Pa"ss w/o%rd-7c1'  # NITRO sends it in a header: ASCII only


def _lower_hex(text: str) -> str:
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _echoes(password: str) -> dict[str, Fault]:
    """Error answers that quote the request back, each in another spelling."""
    token = base64.b64encode(f"{USER}:{password}".encode()).decode()
    return {
        # JSON: the header and the password, backslashes doubled by the encoder
        "/mgmt/tm/ltm/snat": Fault(500, body=json.dumps({
            "code": 500, "message": f"login {USER}:{password} refused",
            "request": {"headers": {"Authorization": f"Basic {token}", "Accept": "application/json"}},
            "password": password})),
        # text: the header line, and the password as a query string carries it
        "/mgmt/tm/ltm/node": Fault(401, body=f"denied\r\nAuthorization: Basic {token}\r\n"
                                            f"GET /login?user={USER}&pass={urllib.parse.quote_plus(password)}"
                                            f"&p2={_lower_hex(urllib.parse.quote(password, safe=''))}"),
        # Python's repr of the request (what str(dict) writes)
        "/mgmt/tm/ltm/rule": Fault(403, body=repr({"auth": (USER, password), "header": f"Basic {token}"})),
        # NITRO: the password header echoed, as JSON and as text
        "/nitro/v1/config/lbvserver": Fault(500, body=json.dumps({
            "errorcode": 354, "message": f"Invalid X-NITRO-PASS: {password}", "severity": "ERROR"})),
        "/nitro/v1/config/server": Fault(400, body=f"X-NITRO-USER: {USER}\nX-NITRO-PASS: {password}\n"),
    }


def test_every_spelling_of_a_load_balancer_password_is_scrubbed(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    snap = tmp_path / "snap"
    stderr: list[str] = []
    for vendor, fixture, password, name in (("f5", "f5/rest-sticky", F5_PASSWORD, "bigip1"),
                                            ("netscaler", "netscaler/nitro-sticky", NS_PASSWORD, "ns1")):
        with FakeLoadBalancer(vendor, FIXTURES / fixture, username=USER, password=password,
                              faults=_echoes(password)) as fake:
            result = collect_lb(LbCollectConfig(vendor, fake.url, snap, USER, password, name=name, timeout=5))
            assert len(result.failures) >= 2 and result.ok >= 3, result.failures
            env = {**os.environ, "VPN_AUDITOR_LB_USERNAME": USER, "VPN_AUDITOR_LB_PASSWORD": password}
            run = subprocess.run([*CLI, "collect", vendor, "--host", fake.url, "--out", str(tmp_path / f"cli-{vendor}"),
                                  "--timeout", "5"], capture_output=True, text=True, env=env, timeout=120)
            assert run.returncode == 3, run.stderr
            stderr.append(run.stderr)
    manifest = json.loads((snap / "manifest.json").read_text())
    errors = [c["error"] for c in manifest["calls"] if c["outcome"] == "failed"]
    assert len(errors) >= 4 and all(errors), errors
    assert sum("<redacted>" in e for e in errors) >= 4, errors  # what was quoted is replaced, the rest kept
    (snap / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [
        {"name": "vpn", "address": "203.0.113.20", "protocols": ["ikev2", "sstp"]}],
        "sources": [{"name": "home-workers", "prefixes": ["0.0.0.0/0"]}]}))
    haystacks = {"snapshot files": snapshot_text(snap), "CLI snapshots": snapshot_text(tmp_path / "cli-f5")
                 + snapshot_text(tmp_path / "cli-netscaler"), "logs": caplog.text, "collector stderr": "".join(stderr),
                 **report_outputs(snap, tmp_path)}
    secrets = {"F5 password": forms(F5_PASSWORD, USER), "NetScaler password": forms(NS_PASSWORD, USER)}
    assert len(secrets["F5 password"]) >= 9
    assert_absent(secrets, haystacks)
    assert any(r.name.startswith("httpx") for r in caplog.records)


def test_a_credential_header_is_scrubbed_whoever_it_belongs_to(tmp_path: Path) -> None:
    """A server echoing another client's Authorization or Cookie: the value is not a known secret, but the
    header says what it is."""
    other = base64.b64encode(b"admin:OtherAdminPw-551").decode()
    faults = {"/mgmt/tm/ltm/snat": Fault(500, body=json.dumps({"log": [
        f"Authorization: Basic {other}", "Cookie: BIGIPAuthCookie=Zx81Qk2cookieval", "Proxy-Authorization: "
        "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"]}))}
    with FakeLoadBalancer("f5", FIXTURES / "f5" / "rest-sticky", faults=faults) as fake:
        collect_lb(LbCollectConfig("f5", fake.url, tmp_path, "auditor", "s3cret-pass", name="b", timeout=5))
    text = (tmp_path / "manifest.json").read_text()
    for value in (other, "Zx81Qk2cookieval", "eyJhbGciOiJIUzI1NiJ9"):
        assert value not in text
    assert "Authorization: Basic <redacted>" in text and "Bearer <redacted>" in text
