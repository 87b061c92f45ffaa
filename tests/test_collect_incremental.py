"""`collect meraki --since OLD` against the fake Dashboard: the real SDK on 127.0.0.1, edits logged in its change log.

The property: after any sequence of logged edits, the incremental snapshot is byte-identical to a full pull (the
manifest's times and provenance aside), and it made no request for a network it carried over.
"""

from __future__ import annotations

import asyncio
import fnmatch
import hashlib
import itertools
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from auditor.cli import app
from auditor.cli_collect import collect_app
from auditor.collect.fingerprints import derive_key, fingerprint, key_check
from auditor.vendors.meraki import incremental
from auditor.vendors.meraki.collect import CollectorConfig, CollectResult, collect

try:
    from tests.fakes.dashboard import FakeDashboard, build_org, segment
except ModuleNotFoundError:
    from fakes.dashboard import FakeDashboard, build_org, segment

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

API_KEY = "f00dfeedc0ffee0123456789abcdef0123456789"
ORG = "100"
TEMPLATE = "L_TPL_1"
N_NETWORKS = 10
BOUND = (0, 3)  # appliance and wireless networks bound to TEMPLATE


# --- the served organisation ----------------------------------------------------------------------------------
class Source:
    """The files the fake Dashboard serves, edited as an administrator would, each edit logged."""

    def __init__(self, root: Path, fake: FakeDashboard) -> None:
        self.root = root
        self.fake = fake

    def file(self, *parts: object) -> Path:
        return self.root.joinpath("meraki", *(segment(p) for p in parts[:-1]), segment(parts[-1]) + ".json")

    def load(self, *parts: object) -> Any:
        return json.loads(self.file(*parts).read_text(encoding="utf-8"))

    def save(self, body: Any, *parts: object) -> None:
        path = self.file(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body, indent=1), encoding="utf-8")

    @property
    def networks(self) -> list[dict[str, Any]]:
        return self.load("organizations", ORG, "networks")

    def set_networks(self, networks: list[dict[str, Any]]) -> None:
        self.save(networks, "organizations", ORG, "networks")
        self.fake.reload()

    def network(self, index: int) -> dict[str, Any]:
        networks = self.networks
        return networks[index % len(networks)]


def bind_templates(root: Path) -> None:
    path = root / "meraki" / "organizations" / ORG / "networks.json"
    networks = json.loads(path.read_text())
    for i in BOUND:
        networks[i].update(isBoundToConfigTemplate=True, configTemplateId=TEMPLATE)
    path.write_text(json.dumps(networks, indent=1))


@dataclass
class Expect:
    """What the edits should make the incremental run do."""

    networks: set[str] = field(default_factory=set)  # ids it must fetch
    full: bool = False  # it must pull the organisation in full


def edit(source: Source, op: tuple[str, int], expect: Expect) -> None:
    """One administrator edit (and its change-log entry, as the Dashboard writes one)."""
    kind, i = op
    fake = source.fake
    net = source.network(i)
    nid, types = net["id"], set(net["productTypes"])
    if kind == "mx-rule" and "appliance" in types:
        body = source.load("networks", nid, "appliance", "firewall", "l3FirewallRules")
        body["rules"].insert(0, {"comment": f"edit {i}", "policy": "deny", "protocol": "udp", "srcPort": "Any",
                                 "srcCidr": "Any", "destPort": "4500", "destCidr": "Any", "syslogEnabled": False})
        source.save(body, "networks", nid, "appliance", "firewall", "l3FirewallRules")
        fake.log_change(ORG, nid, label="L3 firewall rules")
        expect.networks.add(nid)
    elif kind == "ssid" and "wireless" in types:
        ssids = source.load("networks", nid, "wireless", "ssids")
        ssid = ssids[i % 6]
        ssid["enabled"] = not ssid["enabled"]
        source.save(ssids, "networks", nid, "wireless", "ssids")
        base = ("networks", nid, "wireless", "ssids", ssid["number"])
        if ssid["enabled"]:  # what the Dashboard has for an SSID once it is on
            for name, body in (("l3FirewallRules", {"allowLanAccess": True, "rules": [
                    {"comment": "Default rule", "policy": "allow", "protocol": "Any", "destPort": "Any",
                     "destCidr": "Any"}]}), ("l7FirewallRules", {"rules": []})):
                if not source.file(*base, "firewall", name).is_file():
                    source.save(body, *base, "firewall", name)
            if ssid.get("splashPage") not in (None, "None") and not source.file(*base, "splash", "settings").is_file():
                source.save({"splashPage": ssid["splashPage"]}, *base, "splash", "settings")
            if str(ssid.get("authMode")).startswith("ipsk") and not source.file(*base, "identityPsks").is_file():
                source.save([], *base, "identityPsks")
            if not source.file(*base, "deviceTypeGroupPolicies").is_file():
                source.save({"enabled": False, "deviceTypePolicies": []}, *base, "deviceTypeGroupPolicies")
        fake.log_change(ORG, nid, page="Access control", label="SSID enabled", ssidNumber=ssid["number"])
        expect.networks.add(nid)
    elif kind == "vlans" and "appliance" in types:
        settings_ = source.load("networks", nid, "appliance", "vlans", "settings")
        settings_["vlansEnabled"] = not settings_["vlansEnabled"]
        source.save(settings_, "networks", nid, "appliance", "vlans", "settings")
        if not settings_["vlansEnabled"] and not source.file("networks", nid, "appliance", "singleLan").is_file():
            source.save({"subnet": "192.168.9.0/24", "applianceIp": "192.168.9.1"},
                        "networks", nid, "appliance", "singleLan")
        if settings_["vlansEnabled"] and not source.file("networks", nid, "appliance", "vlans").is_file():
            source.save([{"id": 1, "name": "Default", "subnet": "192.168.9.0/24", "applianceIp": "192.168.9.1"}],
                        "networks", nid, "appliance", "vlans")
        fake.log_change(ORG, nid, page="Addressing & VLANs", label="VLANs enabled")
        expect.networks.add(nid)
    elif kind == "template":
        for network in source.networks:
            if network.get("configTemplateId") == TEMPLATE:
                policies = source.load("networks", network["id"], "groupPolicies")
                policies.append({"groupPolicyId": str(200 + len(policies)), "name": f"Template policy {i}"})
                source.save(policies, "networks", network["id"], "groupPolicies")
                expect.networks.add(network["id"])
        fake.log_change(ORG, TEMPLATE, page="Group policies", label="Group policy added")
    elif kind == "policy-objects":
        objects = source.load("organizations", ORG, "policyObjects")
        objects.append({"id": str(5000 + len(objects)), "name": f"new{i}", "category": "network", "type": "cidr",
                        "cidr": f"10.99.{i % 250}.0/24", "groupIds": []})
        source.save(objects, "organizations", ORG, "policyObjects")
        fake.log_change(ORG, None, page="Policy objects", label="Policy object added")
        expect.full = True  # an organisation-wide entry: which networks it touches is not documented
    elif kind == "vpn-firewall":  # org-wide, but edited from (and logged under) a network's page
        rules = source.load("organizations", ORG, "appliance", "vpn", "vpnFirewallRules")
        rules["rules"].insert(0, {"comment": f"vpn {i}", "policy": "deny", "protocol": "udp", "srcPort": "Any",
                                  "srcCidr": "Any", "destPort": "500", "destCidr": "Any", "syslogEnabled": False})
        source.save(rules, "organizations", ORG, "appliance", "vpn", "vpnFirewallRules")
        fake.log_change(ORG, nid, page="Site-to-site VPN", label="Firewall rules")
        expect.networks.add(nid)
    elif kind == "uplink":  # state, not configuration: no change-log entry
        statuses = source.load("organizations", ORG, "appliance", "uplink", "statuses")
        if statuses:
            statuses[i % len(statuses)]["uplinks"][0]["publicIp"] = f"203.0.113.{200 + i % 50}"
            source.save(statuses, "organizations", ORG, "appliance", "uplink", "statuses")
    elif kind == "rename":
        networks = source.networks
        networks[i % len(networks)]["name"] = f"Renamed {i}"
        source.set_networks(networks)
        fake.log_change(ORG, networks[i % len(networks)]["id"], page="General", label="Network name")
        expect.networks.add(networks[i % len(networks)]["id"])
    elif kind == "products" and "wireless" in types:  # an MR removed from a combined network
        networks = source.networks
        target = next(n for n in networks if n["id"] == nid)
        target["productTypes"] = [p for p in target["productTypes"] if p != "wireless"] or ["switch"]
        source.set_networks(networks)
        fake.log_change(ORG, nid, page="Network-wide", label="Devices")
        expect.networks.add(nid)
    elif kind == "bind" and types & {"appliance", "wireless"}:
        # Binding takes the template's settings; logged on the organisation's template page, not the network's.
        networks = source.networks
        target = next(n for n in networks if n["id"] == nid)
        if target.get("configTemplateId") == TEMPLATE:
            return
        target.update(isBoundToConfigTemplate=True, configTemplateId=TEMPLATE)
        source.set_networks(networks)
        source.save([{"groupPolicyId": "300", "name": "From the template"}], "networks", nid, "groupPolicies")
        fake.log_change(ORG, None, page="Configuration templates", label="Network bound")
        expect.full = True
    elif kind == "log-only":  # an entry whose change touches nothing the collector reads
        fake.log_change(ORG, nid, page="Switch ports", label="Port description")
        expect.networks.add(nid)
    elif kind == "add-network":
        networks = source.networks
        new_id = f"N_{ORG}_9{len(networks):03d}_{i}"
        if any(n["id"] == new_id for n in networks):
            return
        networks.append({"id": new_id, "organizationId": ORG, "name": f"New {i}", "productTypes": ["appliance"],
                         "timeZone": "Europe/Berlin", "tags": [], "isBoundToConfigTemplate": False})
        for name in ("l3FirewallRules", "l7FirewallRules", "inboundFirewallRules", "portForwardingRules",
                     "oneToOneNatRules", "oneToManyNatRules", "cellularFirewallRules"):
            source.save({"rules": []}, "networks", new_id, "appliance", "firewall", name)
        source.save({"vlansEnabled": False}, "networks", new_id, "appliance", "vlans", "settings")
        source.save({"subnet": "192.168.1.0/24", "applianceIp": "192.168.1.1"}, "networks", new_id, "appliance",
                    "singleLan")
        source.save({"mode": "none", "hubs": [], "subnets": []}, "networks", new_id, "appliance", "vpn",
                    "siteToSiteVpn")
        source.save({"deploymentMode": "routed"}, "networks", new_id, "appliance", "settings")
        source.save([], "networks", new_id, "groupPolicies")
        source.set_networks(networks)
        fake.log_change(ORG, None, page="Create network", label="Network created")
        expect.full = True
    elif kind == "remove-network":
        networks = source.networks
        gone = networks.pop(i % len(networks))
        shutil.rmtree(source.root / "meraki" / "networks" / segment(gone["id"]), ignore_errors=True)
        source.set_networks(networks)
        fake.log_change(ORG, None, page="Organization overview", label="Network deleted")
        expect.full = True
    elif kind == "unknown-id":  # an id that is neither a network nor a bound template: not provably harmless
        fake.log_change(ORG, f"L_GONE_{i}", page="General", label="Network name")
        expect.full = True


OPS = ("mx-rule", "ssid", "vlans", "template", "policy-objects", "vpn-firewall", "uplink", "rename", "products",
       "bind", "log-only", "add-network", "remove-network", "unknown-id")
RARE = ("add-network", "remove-network", "unknown-id")


# --- running and comparing pulls ------------------------------------------------------------------------------
def pull(fake: FakeDashboard, out: Path, since: Path | None = None, **kw: Any) -> CollectResult:
    """A collection as `collect meraki --secret-fingerprints` (the option is off by default: see
    test_without_the_option_no_fingerprint_is_written)."""
    kw.setdefault("secret_fingerprints", True)
    config = CollectorConfig(out=out, api_key=API_KEY, base_url=fake.base_url, rate=2000, global_rate=2000,
                             concurrency=10, since=since, **kw)
    return asyncio.run(collect(config))


def files(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def core_calls(out: Path) -> list[tuple[Any, ...]]:
    """The manifest's calls without times, attempts and provenance: what a reader of the snapshot relies on."""
    return sorted((c["path"], c["file"], c["written"], c["status"], c["outcome"], c["error"])
                  for c in manifest(out)["calls"])


def run_info(out: Path) -> dict[str, Any]:
    return manifest(out)["runs"][0]["incremental"]


@dataclass
class Env:
    base: Path
    pristine: Path
    fake: FakeDashboard
    old: Path
    counter: Iterator[int]

    def fresh(self) -> Source:
        """A new copy of the organisation as the old snapshot saw it, served by the fake Dashboard."""
        root = self.base / f"serve-{next(self.counter)}"
        shutil.copytree(self.pristine, root)
        self.fake.root = root
        self.fake.change_log.clear()
        self.fake.faults.clear()
        self.fake.reload()
        return Source(root, self.fake)

    def out(self, name: str) -> Path:
        return self.base / f"{name}-{next(self.counter)}"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("incremental")
    pristine = base / "pristine"
    build_org(pristine, ORG, N_NETWORKS, policy_objects=7)
    bind_templates(pristine)
    with FakeDashboard(pristine, rate=None, page_size=3, api_key=API_KEY) as fake:
        environment = Env(base, pristine, fake, base / "old", itertools.count())
        environment.fresh()
        result = pull(fake, environment.old)
        assert result.exit_code == 0 and result.failed == 0
        yield environment
        assert fake.non_get() == [], "the collector sent something other than GET"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MERAKI_BASE_URL", raising=False)
    monkeypatch.setenv("MERAKI_DASHBOARD_API_KEY", API_KEY)


# Calls whose bodies hold a secret (redacted in OLD): carried over with the fingerprints OLD recorded
# (collect/fingerprints.py), made again only when OLD has none or was collected under another API key.
SECRET_BEARING = ("networks/*/wireless/ssids", "networks/*/wireless/ssids/*/identityPsks",
                  "organizations/*/appliance/vpn/thirdPartyVPNPeers")


def secret_bearing(path: str) -> bool:
    return any(fnmatch.fnmatchcase(path, p) and path.count("/") == p.count("/") for p in SECRET_BEARING)


def network_requests(fake: FakeDashboard, since: int) -> set[str]:
    return {r.path.split("/")[1] for r in fake.requests[since:] if r.path.startswith("networks/")}


# --- the property ---------------------------------------------------------------------------------------------
op_strategy = st.tuples(st.sampled_from(OPS), st.integers(0, 40)).filter(
    lambda op: op[0] not in RARE or op[1] % 4 == 0)  # whole-org fallbacks: in some examples, not most


@settings(max_examples=9, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(ops=st.lists(op_strategy, min_size=0, max_size=6))
# Always, beside the drawn ones (a review found the CI profile's 12 draws changed no SSID of a wireless network,
# drew no template edit, and an unknown id only beside an op that forced a full pull anyway); 9 draws beside them
# keep the examples at the 12 the suite's time was set for:
@example(ops=[("ssid", 0), ("ssid", 1), ("ssid", 2), ("ssid", 3)])
@example(ops=[("template", 0)])
@example(ops=[("unknown-id", 0)])
def test_incremental_is_a_full_pull_after_any_logged_edits(env: Env, ops: list[tuple[str, int]]) -> None:
    source = env.fresh()
    expect = Expect()
    for op in ops:
        edit(source, op, expect)
    mark = len(env.fake.requests)
    incremental = env.out("incr")
    result = pull(env.fake, incremental, env.old)
    fetched = network_requests(env.fake, mark)
    full = env.out("full")
    reference = pull(env.fake, full)

    assert result.exit_code == reference.exit_code == 0
    assert files(incremental) == files(full)  # byte for byte
    assert core_calls(incremental) == core_calls(full)
    info = run_info(incremental)["orgs"][0]
    if expect.full:
        assert info.get("full_pull"), info
        assert result.carried == 0
        return
    assert not info.get("full_pull"), info
    expected = {segment(n) for n in expect.networks if any(n == x["id"] for x in source.networks)}
    collected = {segment(n) for n, _ in info["fetched_networks"].items()}
    assert collected == expected
    assert fetched <= expected  # nothing requested for a network carried over
    calls = manifest(incremental)["calls"]
    for call in calls:
        carried = call["origin"] == "carried"
        if call["path"].startswith("networks/"):
            assert carried == (call["path"].split("/")[1] not in expected), call
    if not ops or all(kind == "uplink" for kind, _ in ops):
        assert info["org_files"] == "carried"


# --- examples -------------------------------------------------------------------------------------------------
def test_nothing_changed_makes_only_the_listing_calls(env: Env) -> None:
    source = env.fresh()
    old_start = manifest(env.old)["runs"][0]["started_at"]
    started = datetime.fromisoformat(old_start.replace("Z", "+00:00"))
    # An entry from before the old pull (and its margin) is not a change since it: the Dashboard filters on t0.
    source.fake.log_change(ORG, source.networks[0]["id"], ts=started - timedelta(hours=2))
    mark = len(env.fake.requests)
    out = env.out("same")
    result = pull(env.fake, out, env.old)

    made = sorted({r.path for r in env.fake.requests[mark:]})
    assert made == ["organizations", f"organizations/{ORG}/appliance/uplink/statuses",
                    f"organizations/{ORG}/configurationChanges", f"organizations/{ORG}/networks"]
    assert files(out) == files(env.old)
    assert core_calls(out) == core_calls(env.old)
    by_path = {c["path"]: c for c in manifest(out)["calls"]}
    assert by_path["organizations"]["origin"] == "fetched"
    carried = [c for c in by_path.values() if c["origin"] == "carried"]
    assert len(carried) == result.carried == len(by_path) - 3
    assert sum(map(secret_bearing, by_path)) == 13  # the SSID lists, iPSK lists and VPN peers: carried too
    assert all(c["secret_fingerprints"] for c in carried if secret_bearing(c["path"]) and "ssids" in c["path"]
               and "identityPsks" not in c["path"])
    assert all(c["carried_from"] == {"snapshot": str(env.old), "fetched_at": old_start} and c["attempts"] == 0
               for c in carried)
    info = run_info(out)
    assert info["since"] == str(env.old) and info["since_started_at"] == old_start and info["full_pull"] == []
    org = info["orgs"][0]
    assert org["changes"] == 0 and org["org_files"] == "carried" and org["fetched_networks"] == {}
    # the networks with calls of their own (those with an MX or access points), each of them carried over
    assert org["carried_networks"] == len({c["path"].split("/")[1] for c in carried
                                          if c["path"].startswith("networks/")}) == 8
    offset = manifest(env.old)["runs"][0]["dashboard_clock_offset_s"]
    assert -5 < offset <= 0  # the test Dashboard keeps this host's time; its `Date` is in whole seconds
    on_dashboard = started + timedelta(seconds=offset) - timedelta(minutes=15)
    assert org["t0"] == on_dashboard.isoformat(timespec="seconds").replace("+00:00", "Z")
    assert manifest(out)["runs"][0]["parameters"]["since"] == str(env.old)


def test_change_log_pages_are_followed(env: Env) -> None:
    source = env.fresh()
    ids = [n["id"] for n in source.networks]
    for k in range(7):  # the fake pages the log 3 at a time, newest first, older ones behind rel=prev
        source.fake.log_change(ORG, ids[k % 4])
    mark = len(env.fake.requests)
    out = env.out("pages")
    pull(env.fake, out, env.old)
    assert env.fake.count(pattern=f"organizations/{ORG}/configurationChanges") >= 3
    assert len([r for r in env.fake.requests[mark:] if r.path.endswith("configurationChanges")]) == 3
    org = run_info(out)["orgs"][0]
    assert org["changes"] == 7 and org["org_level_changes"] == 0 and org["change_log_requests"] == 3
    assert set(org["fetched_networks"]) == set(ids[:4])
    assert org["org_files"] == "fetched"


def test_template_change_recollects_every_bound_network(env: Env) -> None:
    source = env.fresh()
    expect = Expect()
    edit(source, ("template", 1), expect)
    mark = len(env.fake.requests)
    out = env.out("tpl")
    pull(env.fake, out, env.old)
    bound = {source.networks[i]["id"] for i in BOUND}
    assert expect.networks == bound
    assert network_requests(env.fake, mark) == bound
    org = run_info(out)["orgs"][0]
    assert org["fetched_networks"] == {n: f"its configuration template {TEMPLATE} changed" for n in sorted(bound)}


def test_failed_call_in_the_old_snapshot_is_made_again(env: Env) -> None:
    source = env.fresh()
    victim = source.networks[2]["id"]  # MX only
    fault = env.fake.fail(f"networks/{victim}/appliance/settings", 403)
    old = env.out("old-failed")
    assert pull(env.fake, old).failed == 1
    env.fake.faults.remove(fault)
    mark = len(env.fake.requests)
    out = env.out("after-failed")
    result = pull(env.fake, out, old)
    assert result.exit_code == 0 and result.failed == 0
    assert network_requests(env.fake, mark) == {victim}
    assert run_info(out)["orgs"][0]["fetched_networks"] == {victim: "a call failed there in the old snapshot"}
    full = env.out("full")
    pull(env.fake, full)
    assert files(out) == files(full)


@pytest.mark.parametrize("damage", ["version", "interrupted", "two-runs", "base-url", "no-manifest"])
def test_an_old_snapshot_it_cannot_vouch_for_is_pulled_in_full(env: Env, damage: str) -> None:
    env.fresh()
    old = env.out("damaged")
    shutil.copytree(env.old, old)
    data = manifest(old)
    run = data["runs"][0]
    if damage == "version":
        run["tool"]["version"] = "0.0.1"
    elif damage == "interrupted":
        run["interrupted"] = True
    elif damage == "two-runs":
        data["runs"].append(dict(run))
    elif damage == "base-url":
        run["parameters"]["base_url"] = "https://api.meraki.com/api/v1"
    (old / "manifest.json").write_text(json.dumps(data))
    if damage == "no-manifest":
        (old / "manifest.json").unlink()
    mark = len(env.fake.requests)
    out = env.out("after-damage")
    result = pull(env.fake, out, old)
    assert result.carried == 0 and result.exit_code == 0
    assert len(network_requests(env.fake, mark)) == 8  # every network with an MX or access points
    info = run_info(out)
    assert info["full_pull"] and info["orgs"][0]["full_pull"] == info["full_pull"]
    assert not any(r.path.endswith("configurationChanges") for r in env.fake.requests[mark:])  # not even asked
    assert files(out) == files(env.old)


def test_a_change_log_that_does_not_reach_back_is_a_full_pull(env: Env) -> None:
    env.fresh()
    env.fake.change_log_days = 1 / 24 / 60  # the Dashboard answers 400 for a t0 it no longer holds
    try:
        out = env.out("short-log")
        result = pull(env.fake, out, env.old)
    finally:
        env.fake.change_log_days = 365.0
    assert result.carried == 0 and result.exit_code == 0
    reason = run_info(out)["orgs"][0]["full_pull"]
    assert len(reason) == 1 and reason[0].startswith("the change log could not be read (HTTP 400")

    # An old snapshot from before the lookback: not even asked.
    old = env.out("ancient")
    shutil.copytree(env.old, old)
    data = manifest(old)
    data["runs"][0]["started_at"] = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    (old / "manifest.json").write_text(json.dumps(data))
    before = env.fake.count(pattern="*/configurationChanges")
    out = env.out("after-ancient")
    assert pull(env.fake, out, old).carried == 0
    assert env.fake.count(pattern="*/configurationChanges") == before
    assert run_info(out)["orgs"][0]["full_pull"][0].startswith("the change log reaches back 365 days")


@pytest.mark.parametrize("kind", ["add-network", "remove-network"])
def test_networks_added_or_removed_pull_the_org_in_full(env: Env, kind: str) -> None:
    source = env.fresh()
    edit(source, (kind, 4), Expect())
    out = env.out(kind)
    result = pull(env.fake, out, env.old)
    assert result.carried == 0
    words = "networks added" if kind == "add-network" else "networks removed"
    assert run_info(out)["orgs"][0]["full_pull"][0].startswith(words)
    full = env.out("full")
    pull(env.fake, full)
    assert files(out) == files(full)


def test_a_chain_of_incremental_pulls_keeps_when_each_file_was_fetched(env: Env) -> None:
    source = env.fresh()
    first = env.out("first")
    edit(source, ("mx-rule", 2), Expect())
    pull(env.fake, first, env.old)
    # Time passes: the entry that made the first run fetch network 2 falls before the next run's t0 and margin.
    for entry in env.fake.change_log[ORG]:
        entry["ts"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    edit(source, ("mx-rule", 5), Expect())
    second = env.out("second")
    pull(env.fake, second, first)
    old_start = manifest(env.old)["runs"][0]["started_at"]
    first_start = manifest(first)["runs"][0]["started_at"]
    by_path = {c["path"]: c for c in manifest(second)["calls"]}
    n2, n5, n6 = (source.networks[i]["id"] for i in (2, 5, 6))
    # Network 2 was fetched by the first incremental run, network 6 by the original full pull.
    assert by_path[f"networks/{n2}/appliance/settings"]["carried_from"] == {"snapshot": str(first),
                                                                           "fetched_at": first_start}
    assert by_path[f"networks/{n6}/groupPolicies"]["carried_from"] == {"snapshot": str(first), "fetched_at": old_start}
    assert by_path[f"networks/{n5}/groupPolicies"]["origin"] == "fetched"
    full = env.out("full")
    pull(env.fake, full)
    assert files(second) == files(full)


@dataclass
class _SkewedPulls:
    old: Path
    incremental: Path
    full: Path
    mx: int  # the network whose MX rules were edited
    expect: Expect
    source: Source


def _skewed_pulls(env: Env, minutes: int, tag: str) -> _SkewedPulls:
    """With the Dashboard's clock `minutes` off this host's: a pull, a deny of udp/4500 put first in one MX's rules
    (logged at the Dashboard's now: before the old run's start less the 15-minute margin when it is behind), then
    an incremental pull from the first and a full one."""
    source = env.fresh()
    env.fake.clock_offset = timedelta(minutes=minutes)
    try:
        old = env.out(f"{tag}-old")
        pull(env.fake, old)
        mx = next(i for i in range(N_NETWORKS) if "appliance" in source.network(i)["productTypes"])
        expect = Expect()
        edit(source, ("mx-rule", mx), expect)
        incremental = env.out(tag)
        pull(env.fake, incremental, old)
        full = env.out(f"{tag}-full")
        pull(env.fake, full)
    finally:
        env.fake.clock_offset = timedelta(0)
    return _SkewedPulls(old, incremental, full, mx, expect, source)


@pytest.mark.parametrize("skew_minutes", [-20, 20])
def test_the_change_log_is_read_on_the_dashboards_clock(env: Env, skew_minutes: int) -> None:
    """The Dashboard's clock 20 minutes behind this host's (or ahead), beyond the 15-minute margin: an edit
    made after the old pull is still found, because t0 is placed on the Dashboard's clock."""
    pulls = _skewed_pulls(env, skew_minutes, "skewed")
    offset = manifest(pulls.old)["runs"][0]["dashboard_clock_offset_s"]
    assert skew_minutes * 60 - 5 < offset <= skew_minutes * 60
    assert set(run_info(pulls.incremental)["orgs"][0]["fetched_networks"]) == pulls.expect.networks
    assert files(pulls.incremental) == files(pulls.full)


def test_an_edit_hidden_by_clock_skew_never_audits_as_allowed(env: Env, tmp_path: Path) -> None:
    """What a stale carried file would cost: the Dashboard's clock 20 minutes behind this host's, a deny of UDP
    4500 added to one MX after the old pull. The audit of the incremental snapshot blocks udp/4500 there, as the
    audit of a full pull does; none of that network's udp/4500 paths is allowed."""
    from auditor.audit import run_audit

    pulls = _skewed_pulls(env, -20, "skew-audit")
    incremental, full, mx, source = pulls.incremental, pulls.full, pulls.mx, pulls.source
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    name = source.network(mx)["name"]

    def udp4500(snapshot: Path) -> list[str]:
        result = run_audit(snapshot, config_path=config, keep_model=False, workers=1)
        return sorted(str(p.trace.verdict) for p in result.paths
                      if p.role.network_name == name and p.trace.flow.ip_protocol == "udp"
                      and p.trace.flow.dst_port == 4500)

    verdicts = udp4500(incremental)
    assert verdicts and "allowed" not in verdicts
    assert verdicts == udp4500(full)


@pytest.mark.parametrize("offset", [None, "-5", -1e300], ids=["absent", "text", "beyond-any-clock"])
def test_an_old_run_without_a_usable_dashboard_clock_is_pulled_in_full(env: Env, offset: object) -> None:
    env.fresh()
    old = env.out("no-clock")
    shutil.copytree(env.old, old)
    data = manifest(old)
    if offset is None:
        del data["runs"][0]["dashboard_clock_offset_s"]
    else:
        data["runs"][0]["dashboard_clock_offset_s"] = offset  # a manifest edited by hand
    (old / "manifest.json").write_text(json.dumps(data))
    out = env.out("after-no-clock")
    result = pull(env.fake, out, old)
    assert result.carried == 0 and result.exit_code == 0
    reason = run_info(out)["full_pull"][0]
    assert ("which no clock has" if offset == -1e300 else "did not record the Dashboard's clock") in reason
    assert files(out) == files(env.old)


def test_an_organisation_wide_entry_pulls_the_org_in_full(env: Env) -> None:
    """An entry naming no network (here a configuration sync) may have changed any network's files: an SSID's
    rules changed with it, and only a full pull finds them."""
    source = env.fresh()
    ap = next(i for i in range(N_NETWORKS) if "wireless" in source.network(i)["productTypes"])
    nid = source.network(ap)["id"]
    ssid = next(s for s in source.load("networks", nid, "wireless", "ssids")
                if source.file("networks", nid, "wireless", "ssids", s["number"], "firewall",
                               "l3FirewallRules").is_file())
    parts = ("networks", nid, "wireless", "ssids", ssid["number"], "firewall", "l3FirewallRules")
    rules = source.load(*parts)
    rules["rules"].insert(0, {"comment": "synced", "policy": "deny", "protocol": "udp", "destPort": "4500",
                              "destCidr": "Any"})
    source.save(rules, *parts)
    env.fake.log_change(ORG, None, page="Configuration sync", label="SSID firewall")
    out = env.out("org-wide")
    result = pull(env.fake, out, env.old)
    full = env.out("org-wide-full")
    pull(env.fake, full)
    assert result.carried == 0
    org = run_info(out)["orgs"][0]
    assert org["org_level_changes"] == 1
    assert org["full_pull"] == ["the change log holds 1 organization-wide change(s), naming no network "
                                "(Configuration sync / SSID firewall): which networks they change is not "
                                "documented"]
    assert files(out) == files(full)
    assert b'"synced"' in (out / "meraki" / Path(*map(str, parts[:-1])) / "l3FirewallRules.json").read_bytes()


def test_a_change_log_of_a_full_page_or_more_is_a_full_pull(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages are followed one way (`prev`); were the Dashboard to page the other way, only the first page would be
    read: a log that fills one (5,000 entries; 3 here, the test Dashboard's page) is not trusted to be whole."""
    source = env.fresh()
    monkeypatch.setattr(incremental, "CHANGE_LOG_PAGE", 3)
    ids = [n["id"] for n in source.networks]
    for k in range(3):
        source.fake.log_change(ORG, ids[k])
    out = env.out("full-page")
    result = pull(env.fake, out, env.old)
    assert result.carried == 0
    reason = run_info(out)["orgs"][0]["full_pull"]
    assert len(reason) == 1 and reason[0].startswith("the change log holds 3 entries since")
    monkeypatch.setattr(incremental, "CHANGE_LOG_PAGE", 4)  # one entry short of a page: trusted
    out = env.out("short-of-a-page")
    assert pull(env.fake, out, env.old).carried > 0
    assert set(run_info(out)["orgs"][0]["fetched_networks"]) == set(ids[:3])


def test_carried_networks_counts_the_networks_carried_over(env: Env) -> None:
    source = env.fresh()
    some = next(n for n in source.networks if "appliance" in n["productTypes"])
    out = env.out("one-network")
    pull(env.fake, out, env.old, networks=[some["name"]])
    org = run_info(out)["orgs"][0]
    assert org["carried_networks"] == 1 and org["fetched_networks"] == {}
    assert {c["path"].split("/")[1] for c in manifest(out)["calls"]
            if c["origin"] == "carried" and c["path"].startswith("networks/")} == {segment(some["id"])}


def test_networks_the_old_run_did_not_select_are_collected(env: Env) -> None:
    source = env.fresh()
    some = source.networks[0]["name"]
    old = env.out("selected")
    pull(env.fake, old, networks=[some])
    out = env.out("all")
    pull(env.fake, out, old)
    fetched = run_info(out)["orgs"][0]["fetched_networks"]
    assert source.networks[0]["id"] not in fetched
    assert set(fetched) == {n["id"] for n in source.networks[1:]}
    assert files(out) == files(env.old)


# --- the command line -----------------------------------------------------------------------------------------
def test_collect_meraki_since_on_the_command_line(env: Env) -> None:
    source = env.fresh()
    edit(source, ("mx-rule", 0), Expect())
    out = env.out("cli")
    result = CliRunner().invoke(collect_app, ["meraki", "--out", str(out), "--base-url", env.fake.base_url,
                                              "--since", str(env.old), "--rate", "500"])
    assert result.exit_code == 0, result.output
    assert list(run_info(out)["orgs"][0]["fetched_networks"]) == [source.networks[0]["id"]]
    assert "secret_fingerprint" not in manifest(out)["runs"][0]  # opt-in
    mark = len(env.fake.requests)
    opted = env.out("cli-fp")
    result = CliRunner().invoke(collect_app, ["meraki", "--out", str(opted), "--base-url", env.fake.base_url,
                                              "--since", str(env.old), "--rate", "500", "--secret-fingerprints"])
    assert result.exit_code == 0, result.output
    edited = f"networks/{segment(source.networks[0]['id'])}/"
    assert {r for r in secret_requests(env.fake, mark) if not r.startswith(edited)} == set()  # carried
    assert files(opted) == files(out)

    empty = env.out("empty")
    empty.mkdir()
    for out_dir, since, words in ((env.out("x"), env.base / "no-such", "not a snapshot directory"),
                                  (empty, empty, "is the --out directory"),
                                  (out, env.old, "already holds a Meraki snapshot")):
        bad = CliRunner().invoke(collect_app, ["meraki", "--out", str(out_dir), "--base-url", env.fake.base_url,
                                               "--since", str(since)])
        assert bad.exit_code == 2, bad.output
        assert words in bad.output


def test_audit_org_since(env: Env, tmp_path: Path) -> None:
    env.fresh()
    config = tmp_path / "audit.yaml"
    config.write_text("vpn_servers:\n  - name: corp-vpn\n    address: 198.51.100.10\n")
    out = env.out("audit")
    mark = len(env.fake.requests)
    result = CliRunner().invoke(app, ["audit", "--org", ORG, "--base-url", env.fake.base_url, "--since",
                                      str(env.old), "--snapshot-out", str(out), "--config", str(config),
                                      "--format", "json", "--rate", "200"],
                                env={"VPN_AUDITOR_SECRET_FINGERPRINTS": "1"})
    assert secret_requests(env.fake, mark) == set()  # the option, from the environment
    assert result.exit_code in (0, 1, 3), result.output
    assert json.loads(result.stdout)["summary"]["paths"] > 0
    assert run_info(out)["orgs"][0]["carried_networks"] == 8  # every network with calls of its own
    assert files(out) == files(env.old)


def _psk_network(source: Source) -> tuple[dict[str, Any], str]:
    """A wireless network and the PSK of one of its SSIDs."""
    for n in source.networks:
        if "wireless" in n["productTypes"]:
            ssids = source.load("networks", n["id"], "wireless", "ssids")
            psk = next(s["psk"] for s in ssids if s.get("psk"))
            return n, psk
    raise AssertionError


def test_a_carried_networks_psk_is_never_written_elsewhere(env: Env) -> None:
    """A PSK of a carried network's SSID, quoted in another network's notes (networks.json, always fetched).
    A full pull learns the PSK from the SSID list and scrubs it everywhere; the incremental pull carries the
    (redacted) SSID list without reading it and must scrub the PSK through OLD's fingerprints (before those, it
    wrote it in clear)."""
    _wifi, psk, old = _quoted_psk_org(env, "psk")
    assert not any(psk.encode() in body for body in files(old).values())  # the full pull scrubbed it
    new = env.out("psk-new")
    mark = len(env.fake.requests)
    pull(env.fake, new, old)
    assert secret_requests(env.fake, mark) == set()  # scrubbed through OLD's fingerprints, not by reading it
    full = env.out("psk-full")
    pull(env.fake, full)
    assert not any(psk.encode() in body for body in files(full).values())
    leaked = sorted(rel for rel, body in files(new).items() if psk.encode() in body)
    assert leaked == [], f"PSK written in clear to {leaked}"
    assert files(new) == files(full)


def test_a_carried_networks_psk_quoted_in_a_fetched_rule_is_never_written(env: Env) -> None:
    """The same through a rule comment of a network fetched because it was edited (logged)."""
    source = env.fresh()
    wifi, psk = _psk_network(source)
    mx = next(n for n in source.networks if n["id"] != wifi["id"] and "appliance" in n["productTypes"])
    rules = source.load("networks", mx["id"], "appliance", "firewall", "l3FirewallRules")
    rules["rules"][0]["comment"] = f"old guest key {psk}"
    source.save(rules, "networks", mx["id"], "appliance", "firewall", "l3FirewallRules")
    old = env.out("psk2-old")
    pull(env.fake, old)
    env.fake.log_change(ORG, mx["id"], label="L3 firewall rules")
    new = env.out("psk2-new")
    mark = len(env.fake.requests)
    pull(env.fake, new, old)
    assert f"networks/{segment(wifi['id'])}/wireless/ssids" not in secret_requests(env.fake, mark)
    full = env.out("psk2-full")
    pull(env.fake, full)
    leaked = sorted(rel for rel, body in files(new).items() if psk.encode() in body)
    assert leaked == [], f"PSK written in clear to {leaked}"
    assert files(new) == files(full)


def secret_requests(fake: FakeDashboard, since: int) -> set[str]:
    """Secret-bearing requests for networks (org-level files are fetched whenever the change log has entries)."""
    return {r.path for r in fake.requests[since:] if secret_bearing(r.path) and r.path.startswith("networks/")}


def _quoted_psk_org(env: Env, tag: str) -> tuple[dict[str, Any], str, Path]:
    """A served org where another network's notes quote a wireless network's PSK, and a full pull of it."""
    source = env.fresh()
    wifi, psk = _psk_network(source)
    networks = source.networks
    other = next(n for n in networks if n["id"] != wifi["id"] and "appliance" in n["productTypes"])
    other["notes"] = f"guest wifi key: {psk}"
    source.set_networks(networks)
    old = env.out(f"{tag}-old")
    pull(env.fake, old)
    return wifi, psk, old


def _another_key(data: dict[str, Any]) -> None:
    """OLD as a run under another API key leaves it: another key check, fingerprints under that key."""
    data["runs"][0]["secret_fingerprint_check"] = key_check(derive_key("0123456789abcdef0123456789abcdef01234567"))


OLD_FINGERPRINTS = {
    "from-an-older-version": lambda m: [c.pop("secret_fingerprints", None) for c in m["calls"]],
    "malformed": lambda m: [c.__setitem__("secret_fingerprints", ["12:beef"]) for c in m["calls"]
                            if "secret_fingerprints" in c],
    "no-key-check": lambda m: m["runs"][0].pop("secret_fingerprint_check"),
    "another-api-key": _another_key,
}


@pytest.mark.parametrize("variant", sorted(OLD_FINGERPRINTS))
def test_without_usable_fingerprints_the_secret_calls_are_made_again(env: Env, variant: str) -> None:
    wifi, psk, old = _quoted_psk_org(env, f"nofp-{variant}")
    data = manifest(old)
    OLD_FINGERPRINTS[variant](data)
    (old / "manifest.json").write_text(json.dumps(data))
    new = env.out(f"nofp-{variant}-new")
    mark = len(env.fake.requests)
    pull(env.fake, new, old)
    assert f"networks/{segment(wifi['id'])}/wireless/ssids" in secret_requests(env.fake, mark)
    full = env.out(f"nofp-{variant}-full")
    pull(env.fake, full)
    leaked = sorted(rel for rel, body in files(new).items() if psk.encode() in body)
    assert leaked == [], f"PSK written in clear to {leaked}"
    assert files(new) == files(full)
    assert not run_info(new)["orgs"][0].get("full_pull")  # only those calls: the rest is still carried


def test_without_the_option_no_fingerprint_is_written(env: Env) -> None:
    """Fingerprints are opt-in (--secret-fingerprints): by default the manifest holds nothing derived from a
    secret, and an incremental run reads the secret-bearing calls again (and still scrubs the quoted PSK)."""
    wifi, psk, _ = _quoted_psk_org(env, "optin")
    old = env.out("optin-old")
    pull(env.fake, old, secret_fingerprints=False)
    text = (old / "manifest.json").read_text(encoding="utf-8")
    assert "secret_fingerprint" not in text
    new = env.out("optin-new")
    mark = len(env.fake.requests)
    pull(env.fake, new, old, secret_fingerprints=False)
    assert f"networks/{segment(wifi['id'])}/wireless/ssids" in secret_requests(env.fake, mark)
    assert not any(psk.encode() in body for body in files(new).values())
    assert "secret_fingerprint" not in (new / "manifest.json").read_text(encoding="utf-8")
    mark = len(env.fake.requests)
    after = env.out("optin-on")  # turned on later: this run reads them again and records their fingerprints
    pull(env.fake, after, new)
    assert f"networks/{segment(wifi['id'])}/wireless/ssids" in secret_requests(env.fake, mark)
    assert "secret_fingerprints" in (after / "manifest.json").read_text(encoding="utf-8")


def test_fingerprints_carry_through_a_chain_of_incremental_pulls(env: Env) -> None:
    """OLD -> FIRST (nothing changed: the SSID lists carried with their fingerprints) -> SECOND, after another
    network's notes came to quote a PSK: SECOND scrubs it through the fingerprints FIRST carried."""
    source = env.fresh()
    wifi, psk = _psk_network(source)
    old = env.out("chain-fp-old")
    pull(env.fake, old)
    first = env.out("chain-fp-first")
    pull(env.fake, first, old)
    networks = source.networks
    other = next(n for n in networks if n["id"] != wifi["id"] and "appliance" in n["productTypes"])
    other["notes"] = f"the key is {psk}!"
    source.set_networks(networks)
    second = env.out("chain-fp-second")
    mark = len(env.fake.requests)
    pull(env.fake, second, first)
    assert secret_requests(env.fake, mark) == set()
    full = env.out("chain-fp-full")
    pull(env.fake, full)
    assert not any(psk.encode() in body for body in files(second).values())
    assert psk not in (second / "manifest.json").read_text(encoding="utf-8")
    assert files(second) == files(full)


def test_a_psk_known_by_fingerprint_is_scrubbed_from_the_manifest_parameters(env: Env) -> None:
    """A network named like another network's PSK, selected by name (`--network NAME`). A full pull learns the
    PSK and scrubs it from the whole manifest (`parameters.networks` included); the incremental pull, which
    carries the SSID list and knows the PSK by fingerprint only, must scrub this run's entry too (a review
    found it written in clear there)."""
    source = env.fresh()
    wifi, psk = _psk_network(source)
    networks = source.networks
    other = next(n for n in networks if n["id"] != wifi["id"] and "appliance" in n["productTypes"])
    other["name"] = psk
    source.set_networks(networks)
    selection = [wifi["id"], psk]
    old = env.out("fp-param-old")
    pull(env.fake, old, networks=selection)
    assert psk not in (old / "manifest.json").read_text(encoding="utf-8")  # the full pull scrubbed it
    new = env.out("fp-param-new")
    mark = len(env.fake.requests)
    pull(env.fake, new, old, networks=selection)
    assert f"networks/{segment(wifi['id'])}/wireless/ssids" not in secret_requests(env.fake, mark)  # carried
    assert not any(psk.encode() in body for body in files(new).values())
    assert psk not in (new / "manifest.json").read_text(encoding="utf-8"), "PSK written in clear to manifest.json"


def test_fingerprints_let_no_one_without_the_api_key_test_a_guess(env: Env) -> None:
    """The manifest holds the PSK's fingerprint under a key derived from the API key, and nothing an unkeyed
    hash of the PSK (or one under another key) would match: a correct guess cannot be confirmed offline."""
    source = env.fresh()
    wifi, psk = _psk_network(source)
    old = env.out("fp-guess")
    pull(env.fake, old)
    text = (old / "manifest.json").read_text(encoding="utf-8")
    call = next(c for c in manifest(old)["calls"] if c["path"] == f"networks/{segment(wifi['id'])}/wireless/ssids")
    assert fingerprint(derive_key(API_KEY), psk) in call["secret_fingerprints"]  # the check below means something
    assert fingerprint(derive_key("0123456789abcdef0123456789abcdef01234567"), psk) not in text
    raw = psk.encode()
    for name in ("md5", "sha1", "sha256", "sha512", "sha3_256", "blake2b", "blake2s"):
        digest = hashlib.new(name, raw).hexdigest()
        assert digest[:32] not in text and digest[-32:] not in text, name
    assert hashlib.blake2b(raw, digest_size=16).hexdigest() not in text
    assert psk not in text and API_KEY not in text


HAND_EDITS = {
    "tool-is-text": lambda m: m["runs"][0].__setitem__("tool", "vpn-auditor"),
    "parameters-is-text": lambda m: m["runs"][0].__setitem__("parameters", "x"),
    "orgs-is-number": lambda m: m["runs"][0].__setitem__("orgs", 100),
    "calls-is-number": lambda m: m.__setitem__("calls", 1),
    "runs-is-number": lambda m: m.__setitem__("runs", 1),
    "carried-from-is-text": lambda m: [c.update(origin="carried", carried_from="x") for c in m["calls"]],
    "selection-is-number": lambda m: m["runs"][0]["parameters"].__setitem__("networks", 5),
    "started-in-year-1": lambda m: m["runs"][0].update(started_at="0001-01-01T00:00:00Z",
                                                       dashboard_clock_offset_s=0),
}


@pytest.mark.parametrize("variant", sorted(HAND_EDITS))
def test_a_hand_edited_old_manifest_is_a_full_pull_not_a_crash(env: Env, variant: str) -> None:
    env.fresh()
    old = env.out(f"edited-{variant}")
    shutil.copytree(env.old, old)
    data = manifest(old)
    HAND_EDITS[variant](data)
    (old / "manifest.json").write_text(json.dumps(data))
    out = env.out(f"after-{variant}")
    result = pull(env.fake, out, old)  # raised AttributeError / TypeError / OverflowError
    assert result.exit_code == 0
    assert files(out) == files(env.old)
    if variant != "carried-from-is-text":  # a provenance field: the call is simply made
        assert result.carried == 0 and run_info(out)["full_pull"]


def test_an_old_run_that_started_after_now_is_pulled_in_full(env: Env) -> None:
    source = env.fresh()
    old = env.out("future")
    shutil.copytree(env.old, old)
    data = manifest(old)
    data["runs"][0]["started_at"] = (datetime.now(UTC) + timedelta(days=2)).isoformat(timespec="seconds")
    (old / "manifest.json").write_text(json.dumps(data))
    expect = Expect()
    edit(source, ("mx-rule", 2), expect)
    out = env.out("after-future")
    pull(env.fake, out, old)
    full = env.out("future-full")
    pull(env.fake, full)
    assert files(out) == files(full)  # the deny of udp/4500 added to network 2 was carried over stale
    assert run_info(out)["orgs"][0]["full_pull"][0].startswith("its run started at ")


def test_an_entry_of_the_network_list_changed_without_a_log_entry_recollects_the_network(env: Env) -> None:
    """A network bound to the template with no change-log entry naming it (nor any other): its entry in the
    network list differs from the old snapshot's, so its files are not proven unchanged and are fetched; the org
    files too. The snapshot is the full pull's."""
    source = env.fresh()
    networks = source.networks
    target = next(n for n in networks if "appliance" in n["productTypes"] and not n.get("configTemplateId"))
    target.update(isBoundToConfigTemplate=True, configTemplateId=TEMPLATE)
    source.set_networks(networks)
    source.save([{"groupPolicyId": "300", "name": "From the template"}], "networks", target["id"], "groupPolicies")
    out = env.out("entry-changed")
    pull(env.fake, out, env.old)
    full = env.out("entry-changed-full")
    pull(env.fake, full)
    org = run_info(out)["orgs"][0]
    assert org["fetched_networks"] == {target["id"]: "its entry in the network list changed"}
    assert org["org_files"] == "fetched"
    assert files(out) == files(full)


def test_a_log_entry_naming_an_unknown_id_pulls_the_org_in_full(env: Env) -> None:
    """An entry naming an id that is neither a network nor the template of one (a network since deleted and
    re-added under another id, a template since unbound): which files it changed is not known."""
    source = env.fresh()
    env.fake.log_change(ORG, "L_GONE_1", page="General", label="Network name")
    mx = next(n for n in source.networks if "appliance" in n["productTypes"])
    out = env.out("unknown-id")
    result = pull(env.fake, out, env.old)
    assert result.carried == 0
    assert run_info(out)["orgs"][0]["full_pull"] == [
        "the change log names L_GONE_1, neither a network nor the template of one"]
    assert mx["id"] not in run_info(out)["orgs"][0].get("fetched_networks", {})
