"""The change log's error body goes into manifest.json (`incremental.orgs[].full_pull`) as the other
calls' errors do (writer `error_text`): secret-named fields redacted, credential headers scrubbed whoever's."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

from auditor.vendors.meraki.collect import CollectorConfig, collect
from tests.fakes.dashboard import FakeDashboard, build_org

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"
ECHOED = {"errors": ["upstream failure"], "password": "EchoedPw-0x77",
          "request": "GET /api/v1/... Proxy-Authorization: Basic cHJveHktdXNlcjpQcm94eVB3LTk5"}
LEAKS = ("EchoedPw-0x77", "cHJveHktdXNlcjpQcm94eVB3LTk5")


def pull(fake: FakeDashboard, out: Path, since: Path | None = None) -> None:
    asyncio.run(collect(CollectorConfig(out=out, api_key=API_KEY, base_url=fake.base_url, rate=2000,
                                        global_rate=2000, since=since)))


def test_a_change_log_error_body_is_redacted_as_any_call_s(tmp_path: Path) -> None:
    build_org(tmp_path / "serve", "100", 2)
    with FakeDashboard(tmp_path / "serve", rate=None, api_key=API_KEY) as fake:
        pull(fake, tmp_path / "old")
        fake.fail("organizations/*/configurationChanges", 500, body=ECHOED)
        fake.fail("organizations/*/policyObjects", 500, body=ECHOED)  # the same body on an ordinary call
        pull(fake, tmp_path / "new", since=tmp_path / "old")
    manifest = json.loads((tmp_path / "new" / "manifest.json").read_text())
    ordinary = next(c["error"] for c in manifest["calls"] if c["path"] == "organizations/100/policyObjects")
    assert not any(leak in ordinary for leak in LEAKS), ordinary  # as it should be
    reasons = json.dumps(manifest["runs"][0]["incremental"])
    assert "the change log could not be read (HTTP 500" in reasons
    assert not [leak for leak in LEAKS if leak in reasons], reasons
