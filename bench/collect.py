"""Benchmark: live Meraki collection against the local Dashboard, versus the rate-limit lower bound.

Serves a synthetic organisation (bench/synth.py, or the tests' generator with --source fake) from the
tests' fake Dashboard with the Dashboard's budget (10 requests/s per organisation) and a per-request
latency, runs the collector, and prints: requests made, requests per network, wall time, the lower bound
(requests / rate), their ratio, and missing files (source files the snapshot lacks).

Then it runs what a hand-written script does, a plain sequential loop over the same SDK calls with the
synchronous client (SDK defaults, logging off), on a subset of the networks against a fresh server, and
extrapolates its time to all networks to give our speed-up.

    python bench/collect.py [--networks 500] [--rate 10] [--latency 0.05] [--baseline-networks 25]

Measured on a 2-CPU machine: 500 networks, 10/s, 50 ms: 10004 requests in 1002.1 s against a lower bound
of 1000.4 s (ratio 1.002), no 429, no missing file. A sequential script is itself near the rate limit at
50 ms latency (9.2-9.9 requests/s), so the speed-up there is only 1.05-1.09x; at 300 ms latency (100
networks) it manages 3.1 requests/s while the collector stays at the limit (ratio 1.005): 3.1-3.2x.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

import meraki  # noqa: E402
from fakes.dashboard import FakeDashboard, build_org  # noqa: E402

from auditor.vendors.meraki.collect import CollectorConfig, collect  # noqa: E402

API_KEY = "0000000000000000000000000000000000b3c4e7"


def make_source(root: Path, networks: int, source: str) -> tuple[str, list[dict[str, Any]]]:
    """Write the organisation to serve; returns its id and networks."""
    if source == "synth":
        import synth

        synth.write_org(root, networks, 0)
        org_id = synth.ORG_ID
    else:
        org_id = build_org(root, "100", networks).org_id
    nets = json.loads((root / "meraki" / "organizations" / org_id / "networks.json").read_text())
    return org_id, nets


def source_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in (root / "meraki").rglob("*.json")}


def run_collector(src: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    with FakeDashboard(src, rate=args.rate, burst=args.burst, latency=args.latency) as server:
        config = CollectorConfig(out=out, api_key=API_KEY, base_url=server.base_url, rate=args.rate)
        started = time.monotonic()
        result = asyncio.run(collect(config))
        wall = time.monotonic() - started
        requests = len(server.requests)
        throttled = server.count(status=429)
        writes = len(server.non_get())
    return {"result": result, "wall": wall, "requests": requests, "throttled": throttled, "writes": writes}


def sequential_script(base_url: str, org_id: str, networks: list[dict[str, Any]], smart_flow: bool) -> float:
    """What a hand-written script does: one call after the other with the synchronous client.

    Returns the seconds the organisation-level calls took (the rest is per network).
    """
    started = time.monotonic()
    d = meraki.DashboardAPI(API_KEY, base_url=base_url, output_log=False, print_console=False,
                            suppress_logging=True, smart_flow_enabled=smart_flow, smart_flow_cache_path="")
    d.organizations.getOrganizations(total_pages="all")
    d.organizations.getOrganizationNetworks(org_id, total_pages="all")
    d.organizations.getOrganizationPolicyObjects(org_id, total_pages="all")
    d.organizations.getOrganizationPolicyObjectsGroups(org_id, total_pages="all")
    d.appliance.getOrganizationApplianceUplinkStatuses(org_id, total_pages="all")
    org_level = time.monotonic() - started
    for net in networks:
        nid, products = net["id"], set(net.get("productTypes") or [])
        if "appliance" in products:
            fw = d.appliance
            fw.getNetworkApplianceFirewallL3FirewallRules(nid)
            fw.getNetworkApplianceFirewallL7FirewallRules(nid)
            fw.getNetworkApplianceFirewallInboundFirewallRules(nid)
            fw.getNetworkApplianceFirewallPortForwardingRules(nid)
            fw.getNetworkApplianceFirewallOneToOneNatRules(nid)
            fw.getNetworkApplianceFirewallOneToManyNatRules(nid)
            if d.appliance.getNetworkApplianceVlansSettings(nid).get("vlansEnabled"):
                d.appliance.getNetworkApplianceVlans(nid)
            else:
                d.appliance.getNetworkApplianceSingleLan(nid)
        if products & {"appliance", "wireless"}:
            d.networks.getNetworkGroupPolicies(nid)
        if "wireless" in products:
            for ssid in d.wireless.getNetworkWirelessSsids(nid):
                if not ssid.get("enabled"):
                    continue
                n = ssid["number"]
                d.wireless.getNetworkWirelessSsidFirewallL3FirewallRules(nid, n)
                d.wireless.getNetworkWirelessSsidFirewallL7FirewallRules(nid, n)
                if ssid.get("splashPage") not in (None, "None"):
                    d.wireless.getNetworkWirelessSsidSplashSettings(nid, n)
                if str(ssid.get("authMode", "")).startswith("ipsk"):
                    d.wireless.getNetworkWirelessSsidIdentityPsks(nid, n)
    return org_level


def run_baseline(src: Path, org_id: str, networks: list[dict[str, Any]], args: argparse.Namespace,
                 count: int, smart_flow: bool) -> dict[str, Any]:
    with FakeDashboard(src, rate=args.rate, burst=args.burst, latency=args.latency) as server:
        started = time.monotonic()
        org_level = sequential_script(server.base_url, org_id, networks[:count], smart_flow)
        wall = time.monotonic() - started
        requests = len(server.requests)
        throttled = server.count(status=429)
    per_network = (wall - org_level) / max(1, count)
    return {"wall": wall, "requests": requests, "throttled": throttled,
            "extrapolated": org_level + per_network * args.networks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=500)
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per organisation (server and us)")
    parser.add_argument("--burst", type=int, default=10, help="the server's burst")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every answer")
    parser.add_argument("--baseline-networks", type=int, default=25,
                        help="networks the sequential script pulls (its time is extrapolated); 0 to skip")
    parser.add_argument("--source", choices=("synth", "fake"), default="synth")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-collect-") as tmp:
        src, out = Path(tmp) / "source", Path(tmp) / "snapshot"
        org_id, networks = make_source(src, args.networks, args.source)
        expected = source_files(src)
        print(f"source: {args.networks} networks ({args.source}), {len(expected)} files; server: "
              f"{args.rate:g} requests/s per org, burst {args.burst}, {args.latency * 1000:.0f} ms latency")

        run = run_collector(src, out, args)
        result = run["result"]
        got = {p.relative_to(out).as_posix() for p in (out / "meraki").rglob("*.json")}
        missing = expected - got
        lower = run["requests"] / args.rate
        ratio = run["wall"] / lower
        print("\ncollector (vpn-auditor collect meraki)")
        print(f"  calls made            {run['requests']} HTTP requests ({result.calls} API calls, "
              f"{run['throttled']} answered 429, {run['writes']} non-GET)")
        print(f"  calls per network     {run['requests'] / max(1, args.networks):.2f}")
        print(f"  wall time             {run['wall']:.1f} s")
        print(f"  lower bound           {lower:.1f} s  (requests / {args.rate:g} per second)")
        print(f"  ratio                 {ratio:.3f}  (target <= 1.15)")
        print(f"  missing files         {len(missing)}")
        print(f"  exit code             {result.exit_code}  ({result.ok} ok, {result.absent} absent, "
              f"{result.failed} failed)")
        for rel in sorted(missing)[:10]:
            print(f"    missing: {rel}")

        count = min(args.baseline_networks, args.networks)
        for smart_flow in (True, False) if count > 0 else ():
            base = run_baseline(src, org_id, networks, args, count, smart_flow)
            label = "SDK defaults: smart flow on" if smart_flow else "smart flow off, as scripts for SDK < 4"
            print(f"\nsequential script (meraki.DashboardAPI, {label}; one call after another), "
                  f"measured on {count} networks, time extrapolated to {args.networks}")
            print(f"  measured              {base['requests']} requests in {base['wall']:.1f} s "
                  f"({base['requests'] / base['wall']:.2f} requests/s, {base['throttled']} answered 429)")
            print(f"  extrapolated          {base['extrapolated']:.1f} s for {args.networks} networks")
            print(f"  our speed-up          {base['extrapolated'] / run['wall']:.2f}x")
    return 0 if not missing and result.exit_code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
