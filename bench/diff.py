"""Benchmark `vpn-auditor diff`: two 1,000-network snapshots that differ in 10 places.

Writes OLD with bench/synth.py's `write_org`, copies it to NEW (with new file times), changes 10 files in 10
different networks (one kind of change each: SSID rule added, SSID rule edited, MX rule added, group policy rule
added, iPSK mapping, walled garden, a missing file, an SSID VLAN, the splash gate, an L7 rule), runs the diff,
checks that every one of the 10 is named with the right kind of cause, and prints the wall time (target: under
10 s).

    python bench/diff.py [--networks 1000] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synth import SERVER, network_id, planted, write_org

import auditor.vendors  # noqa: F401  (installs the shipped vendors)
from auditor.diff import diff_snapshots

TARGET_SECONDS = 10.0
Edit = Callable[[Path], None]


def _json_edit(rel: str, change: Callable[[Any], None]) -> tuple[str, Edit]:
    def apply(base: Path) -> None:
        path = base / rel
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return rel, apply


def _delete(rel: str) -> tuple[str, Edit]:
    return rel, lambda base: (base / rel).unlink()


def _ssid(number: int, **fields: Any) -> Callable[[Any], None]:
    def change(ssids: list[dict]) -> None:
        ssids[number].update(fields)
    return change


def _policy_rule(gid: str, rule: dict) -> Callable[[Any], None]:
    def change(policies: list[dict]) -> None:
        policy = next(p for p in policies if p["groupPolicyId"] == gid)
        policy["firewallAndTrafficShaping"]["l3FirewallRules"].insert(0, rule)
    return change


def _remap(name: str, gid: str) -> Callable[[Any], None]:
    def change(psks: list[dict]) -> None:
        next(p for p in psks if p["name"] == name)["groupPolicyId"] = gid
    return change


# (expected cause kind, snapshot-relative path under the network folder, edit)
CHANGES: list[tuple[str, str, Callable[[str], tuple[str, Edit]]]] = [
    ("rule-added", "SSID 3 L3: deny udp 500,4500 inserted first", lambda base: _json_edit(
        f"{base}/wireless/ssids/3/firewall/l3FirewallRules.json", lambda d: d["rules"].insert(0, {
            "comment": "No personal VPNs", "policy": "deny", "protocol": "udp", "destPort": "500,4500",
            "destCidr": "any", "ipVer": "ipv4"}))),
    ("rule-edited", "SSID 1 L3: rule 6 rewritten to deny tcp 443 to the server's /24", lambda base: _json_edit(
        f"{base}/wireless/ssids/1/firewall/l3FirewallRules.json", lambda d: d["rules"].__setitem__(5, {
            **d["rules"][5], "policy": "deny", "protocol": "tcp", "destPort": "443", "destCidr": "198.51.100.0/24"}))),
    ("rule-added", "MX L3: deny udp VLAN(30).* -> any:4500 inserted at 11", lambda base: _json_edit(
        f"{base}/appliance/firewall/l3FirewallRules.json", lambda d: d["rules"].insert(10, {
            "comment": "Guests: no NAT-T", "policy": "deny", "protocol": "udp", "srcPort": "Any",
            "srcCidr": "VLAN(30).*", "destPort": "4500", "destCidr": "Any", "syslogEnabled": False}))),
    ("rule-added", "group policy 102: deny udp 500,4500 inserted first", lambda base: _json_edit(
        f"{base}/groupPolicies.json", _policy_rule("102", {
            "comment": "block personal VPNs", "policy": "deny", "protocol": "udp", "destPort": "500,4500",
            "destCidr": "any"}))),
    ("ipsk-mapping-changed", "iPSK 'Contractors' mapped to group policy 999 (absent)", lambda base: _json_edit(
        f"{base}/wireless/ssids/2/identityPsks.json", _remap("Contractors", "999"))),
    ("walled-garden-changed", "Store-Guest walled garden without the VPN server", lambda base: _json_edit(
        f"{base}/wireless/ssids.json", _ssid(1, walledGardenRanges=["203.0.113.80/32"]))),
    ("data-gap", "SSID 3 L3 file missing", lambda base: _delete(
        f"{base}/wireless/ssids/3/firewall/l3FirewallRules.json")),
    ("vlan-changed", "Store-Staff tagged into VLAN 99 (not on the MX)", lambda base: _json_edit(
        f"{base}/wireless/ssids.json", _ssid(0, defaultVlanId=99))),
    ("splash-changed", "splash: blockAllTrafficBeforeSignOn true -> false", lambda base: _json_edit(
        f"{base}/wireless/ssids/1/splash/settings.json", lambda d: d.update(blockAllTrafficBeforeSignOn=False))),
    ("rule-added", "SSID 3 L7: deny port 4500", lambda base: _json_edit(
        f"{base}/wireless/ssids/3/firewall/l7FirewallRules.json",
        lambda d: d["rules"].insert(0, {"policy": "deny", "type": "port", "value": "4500"}))),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write OLD and NEW here and keep them")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="vpn-diff-bench-"))
    old, new = work / "old", work / "new"
    try:
        for folder in (old, new):
            if folder.exists():
                shutil.rmtree(folder)
        start = time.perf_counter()
        write_org(old, args.networks, args.seed)
        # copyfile, not copy2: fresh modification times, as two separate collections would have, so the diff
        # compares every file's bytes instead of trusting (size, mtime)
        shutil.copytree(old, new, copy_function=shutil.copyfile)
        print(f"wrote two {args.networks}-network snapshots in {time.perf_counter() - start:.1f} s", file=sys.stderr)

        skip = set(planted(args.networks, args.seed))  # keep clear of networks that already block the VPN
        candidates = [i for i in range(args.networks) if network_id(i) not in skip]
        step = max(1, len(candidates) // len(CHANGES))
        expected: dict[str, tuple[str, str]] = {}
        for n, (kind, label, make) in enumerate(CHANGES):
            nid = network_id(candidates[n * step])
            rel, edit = make(f"meraki/networks/{nid}")
            edit(new)
            expected[nid] = (kind, f"{label} ({rel})")

        start = time.perf_counter()
        result = diff_snapshots(old, new)
        elapsed = time.perf_counter() - start

        missing = 0
        for nid, (kind, label) in expected.items():
            changes = [c for c in result.changes if (c.network or {}).get("id") == nid]
            kinds = {cause.kind for c in changes for cause in c.causes}
            ok = kind in kinds
            missing += not ok
            verdicts = sorted({f"{c.old}->{c.new}" for c in changes})
            print(f"{'ok  ' if ok else 'MISS'} {nid} {kind:22} {len(changes):3} verdicts {','.join(verdicts):28} "
                  f"{label}")
        stray = {(c.network or {}).get("id") for c in result.changes} - set(expected)
        print(f"diff of {args.networks} networks (server {SERVER}): {len(result.changes)} changed verdicts, "
              f"{len(result.regressions)} regressions, {len(result.changed_files)} files differ; "
              f"{len(expected) - missing}/{len(expected)} changes named; {len(stray)} networks changed unexpectedly")
        print(f"wall time: {elapsed:.2f} s (target < {TARGET_SECONDS:.0f} s: "
              f"{'met' if elapsed < TARGET_SECONDS else 'NOT met'})")
        return 1 if missing or stray else 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
