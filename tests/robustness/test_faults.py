"""Collection under fire: 429 storms, 5xx bursts, timeouts, connections dropped mid-body, invalid JSON in a
200 and an organisation whose second page of networks errors. The collector finishes, records each failure in
the manifest, and the audit of what it wrote marks exactly the roles that depend on a failed call unknown:
every other verdict is the one a clean collection gives."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from auditor.audit import AuditResult, run_audit
from auditor.vendors.meraki.collect import CollectorConfig, collect
from tests.fakes.clock import FakeClock
from tests.fakes.dashboard import FakeDashboard, Incoming, Reply, build_org
from tests.robustness.helpers import verdicts

API_KEY = "0123456789abcdef0123456789abcdef01234567"
SERVER = {"name": "vpn", "address": "198.51.100.10", "protocols": ["ikev2", "l2tp", "sstp"]}
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _collect(source: Path, out: Path, dashboard: FakeDashboard, **kw: Any) -> Any:
    config = CollectorConfig(out=out, api_key=API_KEY, base_url=dashboard.base_url, **kw)
    result = asyncio.run(collect(config))
    (out / "audit.yaml").write_text(yaml.safe_dump({"vpn_servers": [SERVER]}))
    return result


def _role_verdicts(result: AuditResult) -> dict[tuple[str | None, str, str], set[str]]:
    out: dict[tuple[str | None, str, str], set[str]] = {}
    for key, verdict in verdicts(result).items():
        out.setdefault((key[0], key[1], key[2]), set()).add(verdict)
    return out


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("source")
    build_org(root, "100", 8, seed=3)
    build_org(root, "200", 5, seed=4)  # its network list comes in pages of 3; the second page fails
    return root


@pytest.fixture(scope="module")
def clean(source: Path, tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    out = tmp_path_factory.mktemp("clean") / "snap"
    with FakeDashboard(source, rate=None, page_size=3) as fake:
        assert _collect(source, out, fake, rate=200).exit_code == 0
    return run_audit(out)


def test_faults_are_recorded_and_only_affected_roles_turn_unknown(source: Path, clean: AuditResult,
                                                                  tmp_path: Path) -> None:
    nets = {i: f"N_100_{i:04d}" for i in range(8)}
    # Product mix by position (build_org): 0, 5 appliance+wireless; 1, 6 wireless; 2, 7 appliance; 3 appliance+
    # wireless (VLANs 10/20/30, VLAN 30 with group policy 101); 4 neither.
    # The storm on virtual time (tests/fakes/clock.py), shared by the collector, the SDK's retry waits and the
    # Dashboard's rate limit: its Retry-After and 5xx waits cost nothing. Timeouts stay on the real clock.
    clock = FakeClock()
    with FakeDashboard(source, rate=20, burst=2, page_size=3, clock=clock.monotonic) as fake:  # we send at 60/s
        fake.fail(f"networks/{nets[6]}/wireless/ssids", 503, times=2)  # a 5xx burst the retries ride out
        fake.fail(f"networks/{nets[1]}/wireless/ssids/2/firewall/l3FirewallRules", 502)  # 5xx for good
        fake.delay(f"networks/{nets[2]}/appliance/firewall/l3FirewallRules", 3)  # longer than the timeout
        fake.cut_body(f"networks/{nets[3]}/groupPolicies")  # dropped mid-body, every attempt
        fake.invalid_json(f"networks/{nets[5]}/wireless/ssids/0/firewall/l7FirewallRules")  # 200, not JSON

        def second_page_fails(request: Incoming) -> Reply | None:
            if request.path == "organizations/200/networks" and "startingAfter" in request.query:
                return Reply(500, {"errors": ["page 2 exploded"]})
            return None

        fake.hooks.append(second_page_fails)
        out = tmp_path / "snap"
        # 6 attempts: a 429 of the storm on top of the two planned 503s must not exhaust that call
        result = _collect(source, out, fake, rate=60, timeout=0.5, maximum_retries=6, clock=clock)
        assert fake.non_get() == []
        assert fake.count(status=429) >= 5

    # The collector finished, exit 3, every failure in the manifest with what happened.
    assert result.exit_code == 3
    calls = {c["path"]: c for c in json.loads((out / "manifest.json").read_text())["calls"]}
    failed = {path: (c["status"], c["error"]) for path, c in calls.items() if c["outcome"] == "failed"}
    assert set(failed) == {f"networks/{nets[1]}/wireless/ssids/2/firewall/l3FirewallRules",
                           f"networks/{nets[2]}/appliance/firewall/l3FirewallRules",
                           f"networks/{nets[3]}/groupPolicies",
                           f"networks/{nets[5]}/wireless/ssids/0/firewall/l7FirewallRules",
                           "organizations/200/networks"}, failed
    assert failed[f"networks/{nets[1]}/wireless/ssids/2/firewall/l3FirewallRules"][0] == 502
    assert failed[f"networks/{nets[2]}/appliance/firewall/l3FirewallRules"][1].startswith("timeout")
    assert failed[f"networks/{nets[3]}/groupPolicies"][0] is None  # no usable answer
    assert "not valid JSON" in failed[f"networks/{nets[5]}/wireless/ssids/0/firewall/l7FirewallRules"][1]
    assert failed["organizations/200/networks"][0] == 500
    assert calls[f"networks/{nets[6]}/wireless/ssids"]["outcome"] == "ok"  # the burst was ridden out
    assert not (out / "meraki/organizations/200/networks.json").exists()  # no half list (page 1 only)
    assert not (out / f"meraki/networks/{nets[3]}/groupPolicies.json").exists()

    audited = run_audit(out)
    before, after = _role_verdicts(clean), _role_verdicts(audited)
    # iPhones on Staff-iPSK get policy 102 by device type (issue 21): without the group policies its role is
    # still audited, named by the policy's id
    before[(nets[3], "group_policy", "102")] = before.pop((nets[3], "group_policy", "Staff"))
    affected = {
        (nets[1], "ssid", "Guest"),  # its SSID L3 rules failed
        *((nets[2], "vlan", f"VLAN {v}") for v in (10, 20, 30)),  # its MX L3 rules timed out
        # no group policies: VLAN 30 (policy 101), the iPSKs (policy 101), and every wireless role, since NAT
        # mode and untagged bridging may land in VLAN 30; VLANs 10 and 20 are untouched
        (nets[3], "vlan", "VLAN 30"), (nets[3], "ssid", "Corp"), (nets[3], "ssid", "Guest"),
        (nets[3], "ssid", "Staff-iPSK"), (nets[3], "ipsk", "device-0"), (nets[3], "ipsk", "device-1"),
        (nets[3], "group_policy", "102"),
        (nets[5], "ssid", "Corp"),  # its SSID L7 rules were not JSON
    }
    org_200 = {key for key in before if key[0] and key[0].startswith("N_200_")}
    assert org_200 and not {key for key in after if key[0] and key[0].startswith("N_200_")}
    assert set(after) == set(before) - org_200  # no role appears or disappears elsewhere
    for key, was in before.items():
        if key in org_200:
            continue
        if key in affected:
            assert "unknown" in after[key] and "allowed" not in after[key] - was, (key, was, after[key])
        else:
            assert after[key] == was, (key, was, after[key])
    # ...and every failure is a data-gap finding that names its file.
    gap_files = {f.evidence["file"] for f in audited.findings if f.check.kind == "data-gap"}
    assert {f"meraki/networks/{nets[1]}/wireless/ssids/2/firewall/l3FirewallRules.json",
            f"meraki/networks/{nets[2]}/appliance/firewall/l3FirewallRules.json",
            f"meraki/networks/{nets[3]}/groupPolicies.json",
            f"meraki/networks/{nets[5]}/wireless/ssids/0/firewall/l7FirewallRules.json",
            "meraki/organizations/200/networks.json"} <= gap_files
