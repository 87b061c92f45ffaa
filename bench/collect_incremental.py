"""Benchmark: an incremental Meraki pull (`collect meraki --since OLD`) against a full pull, on the fake Dashboard.

Serves a synthetic organisation from the tests' fake Dashboard at the Dashboard's budget (10 requests/s per
organisation) with a per-request latency. The organisation is the tests' generator (`build_org`: every file the
collector asks for, a mix of MX, MR and MX+MR networks; bench/synth.py lacks some of them). The benchmark:

1. pulls it in full (the old snapshot: the full pull's figures);
2. edits the MX L3 rules of a fraction of the networks (1 % by default, at least one), each edit in the
   Dashboard's change log;
3. pulls it again with `--since` the old snapshot (the incremental figures);
4. with --verify, pulls it in full once more and checks the incremental snapshot is byte-identical to it.

It prints the HTTP requests the server answered and the wall time of both pulls, and their ratio (target: at
most 5 % of the full pull's requests and time). The issue's setting is `--networks 500` (a full pull of about
12 minutes at 10 requests/s); the default of 100 networks keeps a run near 3 minutes.

    python bench/collect_incremental.py [--networks 100] [--changed 0.01] [--rate 10] [--latency 0.25] [--verify]

Measured on a 2-CPU machine shared with other jobs, 250 ms latency, 10 requests/s, 1 % of the networks edited:
500 networks, with secret fingerprints (the default here; `collect meraki --secret-fingerprints`): 7758 requests
in 778.6 s for the full pull, 144 requests (1.86 %) in 23.3 s (3.00 %) for the incremental one (2026-12-08; with
--verify before a scan was saved, 33.0 s, byte-identical). --without-secret-fingerprints: 734 requests (9.46 %)
in 78.8 s (10.13 %), calls whose old file holds a redacted secret being made again (2026-12-07, night; 590 of
them). Before that: 7758 requests in 778.0 s for the full pull, 144 requests (1.86 %) in 23.5 s (3.02 %) for the
incremental one (5 networks fetched; 395 carried over, the others having no calls of their own; 7615 of 7758
calls carried; 2026-12-07, earlier 19.1 s of 777.9 s); 100 networks (--verify):
1558 requests in 156.1 s, then 36 (2.31 %) in 4.4 s (2.79 %), byte-identical to a second full pull.
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
sys.path[:0] = [str(HERE.parent / "tests")]

from fakes.dashboard import FakeDashboard, build_org, segment  # noqa: E402

from auditor.vendors.meraki.collect import CollectorConfig, CollectResult, collect  # noqa: E402

API_KEY = "0000000000000000000000000000000000b3c4e7"


def make_source(root: Path, networks: int) -> tuple[str, list[dict[str, Any]]]:
    org_id = build_org(root, "100", networks).org_id
    nets = json.loads((root / "meraki" / "organizations" / org_id / "networks.json").read_text())
    return org_id, nets


def edit_networks(root: Path, server: FakeDashboard, org_id: str, networks: list[dict[str, Any]],
                  fraction: float) -> list[str]:
    """Add a rule to the MX L3 rules of evenly spread networks with an MX; log each edit."""
    with_mx = [n for n in networks if "appliance" in (n.get("productTypes") or [])]
    count = max(1, round(len(networks) * fraction))
    step = max(1, len(with_mx) // count)
    edited = []
    for network in with_mx[::step][:count]:
        path = root / "meraki" / "networks" / segment(network["id"]) / "appliance" / "firewall" / \
            "l3FirewallRules.json"
        body = json.loads(path.read_text(encoding="utf-8"))
        body["rules"].insert(0, {"comment": "bench edit", "policy": "deny", "protocol": "udp", "srcPort": "Any",
                                 "srcCidr": "Any", "destPort": "4500", "destCidr": "Any", "syslogEnabled": False})
        path.write_text(json.dumps(body), encoding="utf-8")
        server.log_change(org_id, network["id"], label="L3 firewall rules")
        edited.append(network["id"])
    return edited


def pull(server: FakeDashboard, out: Path, rate: float, since: Path | None = None,
         fingerprints: bool = True) -> tuple[CollectResult, int, float]:
    """(result, HTTP requests the server answered, wall seconds)."""
    before = len(server.requests)
    config = CollectorConfig(out=out, api_key=API_KEY, base_url=server.base_url, rate=rate, since=since,
                             secret_fingerprints=fingerprints)
    started = time.monotonic()
    result = asyncio.run(collect(config))
    return result, len(server.requests) - before, time.monotonic() - started


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in (root / "meraki").rglob("*.json")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--networks", type=int, default=100)
    parser.add_argument("--changed", type=float, default=0.01, help="fraction of networks edited (at least one)")
    parser.add_argument("--rate", type=float, default=10.0, help="requests/s per organisation (server and us)")
    parser.add_argument("--burst", type=int, default=10, help="the server's burst")
    parser.add_argument("--latency", type=float, default=0.25, help="seconds added to every answer")
    parser.add_argument("--verify", action="store_true", help="pull in full again and compare byte for byte")
    parser.add_argument("--without-secret-fingerprints", action="store_true",
                        help="collect without --secret-fingerprints: the SSID and iPSK lists are read again")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        src = Path(tmp) / "source"
        org_id, networks = make_source(src, args.networks)
        print(f"source: {args.networks} networks; server: {args.rate:g} requests/s per org, "
              f"burst {args.burst}, {args.latency * 1000:.0f} ms latency; secret fingerprints "
              f"{'off' if args.without_secret_fingerprints else 'on'}")
        with FakeDashboard(src, rate=args.rate, burst=args.burst, latency=args.latency) as server:
            prints = not args.without_secret_fingerprints
            full, full_requests, full_wall = pull(server, Path(tmp) / "old", args.rate, fingerprints=prints)
            edited = edit_networks(src, server, org_id, networks, args.changed)
            time.sleep(1.0)  # let the server's bucket refill as a nightly run would find it
            incr, incr_requests, incr_wall = pull(server, Path(tmp) / "new", args.rate, Path(tmp) / "old",
                                                  fingerprints=prints)
            info = json.loads((Path(tmp) / "new" / "manifest.json").read_text())["runs"][0]["incremental"]
            identical = None
            if args.verify:
                pull(server, Path(tmp) / "reference", args.rate, fingerprints=prints)
                identical = files(Path(tmp) / "new") == files(Path(tmp) / "reference")
            throttled = server.count(status=429)

    org = info["orgs"][0]
    print(f"edited: {len(edited)} network(s) ({len(edited) / max(1, args.networks):.1%}); the incremental run "
          f"fetched {len(org.get('fetched_networks') or {})} and carried over {org.get('carried_networks', 0)}"
          + (f"; full pull because {org['full_pull']}" if org.get("full_pull") else ""))
    print(f"\n{'':24}{'full pull':>12}{'incremental':>14}{'ratio':>9}")
    print(f"{'HTTP requests':24}{full_requests:>12}{incr_requests:>14}{incr_requests / full_requests:>9.2%}")
    print(f"{'API calls (manifest)':24}{full.calls:>12}{incr.calls - incr.carried:>14}"
          f"{(incr.calls - incr.carried) / full.calls:>9.2%}")
    print(f"{'wall time (s)':24}{full_wall:>12.1f}{incr_wall:>14.1f}{incr_wall / full_wall:>9.2%}")
    print(f"\ncarried over: {incr.carried} of {incr.calls} calls; change-log requests: "
          f"{org.get('change_log_requests')}; answered 429: {throttled}; exit codes {full.exit_code}, "
          f"{incr.exit_code}" + ("" if identical is None else
                                  f"; byte-identical to a full pull: {'yes' if identical else 'NO'}"))
    ok = incr_requests <= 0.05 * full_requests and incr_wall <= 0.05 * full_wall and identical is not False
    print(f"target (<= 5 % of the full pull's requests and time): {'met' if ok else 'NOT met'}")
    return 0 if ok and full.exit_code == incr.exit_code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
