"""Large inputs in bounded memory: peak memory and time of an audit, each size in a fresh process.

Three cases, each at a quarter, half and all of its size so growth can be read off the figures:

- `snapshot`: a synthetic Meraki organisation (bench/synth.py) of about 100 MB on disk;
- `config`:   an ASA running-config of 200,000 lines (objects, object-groups, a 50,000-entry access-list,
              static NAT for the VPN server, group-policy filler) in front of the server;
- `rules`:    one network whose MX L3 list and SSID L3 list hold 20,000 rules each.

Peak memory is the child process's ru_maxrss; `base` is its resident size once the auditor is imported, so
`peak - base` is what the audit itself used. tests/robustness/test_sizes.py runs the same generators at
small sizes and checks that memory grows linearly.

    /tmp/venv/bin/python bench/robustness_sizes.py [--scale 1.0] [--cases snapshot config rules]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = "198.51.100.10"
SIZES = {"snapshot": 100, "config": 200_000, "rules": 20_000}  # MB, lines, rules
UNITS = {"snapshot": "MB", "config": "lines", "rules": "rules"}

CHILD = """
import json, resource, sys, time
import auditor.vendors  # noqa: F401  (installs the shipped vendors)
from auditor.audit import run_audit
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started = time.perf_counter()
result = run_audit(sys.argv[1], keep_model=False)
print(json.dumps({"seconds": time.perf_counter() - started, "base_mb": base,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "paths": len(result.paths), "counts": result.counts()}))
"""


def _audit_yaml(root: Path, sources: bool = False) -> None:
    lines = ["vpn_servers:", f"  - {{name: vpn, address: {SERVER}, protocols: [ikev2, l2tp, sstp]}}"]
    if sources:
        lines += ["sources:", "  - {name: internet, prefixes: [0.0.0.0/0]}",
                  "  - {name: partner, prefixes: [192.0.2.0/24]}"]
    (root / "audit.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_snapshot(root: Path, megabytes: float) -> None:
    """A synthetic organisation of about `megabytes` MB (64 kB per network)."""
    sys.path.insert(0, str(HERE))
    from synth import write_org

    write_org(root, max(1, round(megabytes * 1e6 / 64_000)), seed=1, workers=1)


def asa_config(lines: int, seed: int = 1) -> str:
    """An ASA running-config of `lines` lines: a quarter objects and groups, a quarter access-list entries,
    the rest group-policy filler; the VPN server is statically NATed and its IKE ports permitted first."""
    rnd = random.Random(seed)
    out = [": Saved", ":", "ASA Version 9.16(4)", "!", "hostname big-asa", "interface GigabitEthernet0/0",
           " nameif outside", " security-level 0", " ip address 198.51.100.2 255.255.255.0",
           "interface GigabitEthernet0/1", " nameif dmz", " security-level 50", " ip address 10.1.0.1 255.255.0.0",
           "object network VPN-SERVER", " host 10.1.0.10",
           "object-group service VPN-UDP udp", " port-object eq isakmp", " port-object eq 4500"]
    groups = max(1, lines // 4 // 6)
    for g in range(groups):
        out.append(f"object-group network NG-{g}")
        out += [f" network-object host 10.{2 + g % 200}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}" for _ in range(5)]
    out.append("access-list OUTSIDE_IN extended permit udp any object VPN-SERVER object-group VPN-UDP")
    for a in range(max(1, lines // 4)):
        action = "deny" if rnd.random() < 0.2 else "permit"
        if a % 3 == 0:
            out.append(f"access-list OUTSIDE_IN extended {action} tcp object-group NG-{rnd.randrange(groups)} "
                       f"object-group NG-{rnd.randrange(groups)} eq {rnd.choice(['https', 'www', '8443'])}")
        elif a % 3 == 1:
            out.append(f"access-list OUTSIDE_IN extended {action} udp host 192.0.2.{a % 250} host "
                       f"10.{2 + a % 200}.{a % 250}.{1 + a % 253} range 1000 2000")
        else:
            out.append(f"access-list OUTSIDE_IN extended {action} ip 172.{16 + a % 16}.{a % 250}.0 255.255.255.0 "
                       "any4 log disable")
    out += ["access-list OUTSIDE_IN extended deny ip any any log", "access-group OUTSIDE_IN in interface outside",
            "object network VPN-SERVER", f" nat (dmz,outside) static {SERVER}",
            "route outside 0.0.0.0 0.0.0.0 198.51.100.1 1"]
    k = 0
    while len(out) < lines - 1:
        out += [f"group-policy GP-{k} internal", f"group-policy GP-{k} attributes",
                f" dns-server value 10.0.0.{k % 250} 10.0.1.{k % 250}", " vpn-tunnel-protocol ikev2 ssl-client"]
        k += 1
    return "\n".join([*out[: lines - 1], ": end"]) + "\n"


def write_config(root: Path, lines: float) -> None:
    (root / "cisco").mkdir(parents=True, exist_ok=True)
    (root / "cisco" / "big-asa.cfg").write_text(asa_config(int(lines)), encoding="utf-8")
    _audit_yaml(root, sources=True)


def rule_rows(count: int, seed: int = 1, *, with_source: bool) -> list[dict]:
    """`count` varied Meraki L3 rows, none of which touches a VPN flow to the server."""
    rnd = random.Random(seed)
    rows = []
    for i in range(count):
        proto = rnd.choice(["tcp", "udp", "any", "icmp"])
        port = "Any" if proto in ("any", "icmp") else rnd.choice(["80", "443", "8080-8090", "53,123", "3389"])
        if proto == "udp" and port == "443":
            port = "3478"
        row = {"comment": f"rule {i}", "policy": rnd.choice(["allow", "deny"]), "protocol": proto,
               "destPort": port, "destCidr": f"{rnd.choice([8, 13, 20, 52, 104])}.{i % 256}.{rnd.randrange(256)}.0/24"}
        if with_source:
            row.update(srcCidr=rnd.choice(["Any", f"10.0.{i % 256}.0/24", "VLAN(10).*"]), srcPort="Any")
        rows.append(row)
    return rows


def write_rules(root: Path, count: float) -> None:
    """One network with an MX and one SSID, both L3 lists `count` rules long."""
    count = int(count)
    def put(rel: str, body: object) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(body), encoding="utf-8")

    put("meraki/organizations.json", [{"id": "1", "name": "Org"}])
    put("meraki/organizations/1/networks.json",
        [{"id": "N_1", "name": "Store", "productTypes": ["appliance", "wireless"]}])
    put("meraki/organizations/1/policyObjects.json", [])
    put("meraki/organizations/1/policyObjects/groups.json", [])
    base = "meraki/networks/N_1"
    put(f"{base}/groupPolicies.json", [])
    put(f"{base}/appliance/vlans/settings.json", {"vlansEnabled": True})
    put(f"{base}/appliance/vlans.json", [{"id": 10, "name": "Staff", "subnet": "10.0.10.0/24"}])
    put(f"{base}/appliance/firewall/l3FirewallRules.json", {"rules": [*rule_rows(count, with_source=True), {
        "comment": "Default rule", "policy": "allow", "protocol": "Any", "srcPort": "Any", "srcCidr": "Any",
        "destPort": "Any", "destCidr": "Any"}]})
    put(f"{base}/appliance/firewall/l7FirewallRules.json", {"rules": []})
    put(f"{base}/wireless/ssids.json", [{"number": 0, "name": "Corp", "enabled": True, "authMode": "psk",
                                         "splashPage": "None", "ipAssignmentMode": "NAT mode"}])
    put(f"{base}/wireless/ssids/0/firewall/l3FirewallRules.json",
        {"allowLanAccess": True, "rules": rule_rows(count, seed=2, with_source=False)})
    put(f"{base}/wireless/ssids/0/firewall/l7FirewallRules.json", {"rules": []})
    _audit_yaml(root)


WRITERS = {"snapshot": write_snapshot, "config": write_config, "rules": write_rules}


def measure(root: Path) -> dict:
    """Audit `root` in a fresh process; its time, resident memory before and at the peak, and paths."""
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def disk_mb(root: Path) -> float:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full sizes (default 1.0)")
    parser.add_argument("--cases", nargs="+", choices=sorted(WRITERS), default=list(WRITERS))
    args = parser.parse_args()
    print(f"{'case':>8} {'size':>16} {'on disk':>9} {'audit s':>8} {'base MB':>8} {'peak MB':>8} "
          f"{'audit MB':>9} {'paths':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.cases:
            for fraction in (0.25, 0.5, 1.0):
                size = SIZES[case] * args.scale * fraction
                size = size if case == "snapshot" else int(size)
                root = Path(tmp) / f"{case}-{fraction}"
                WRITERS[case](root, size)
                figures = measure(root)
                label = f"{size:,.0f} {UNITS[case]}"
                print(f"{case:>8} {label:>16} {disk_mb(root):>7.1f}MB {figures['seconds']:>8.2f} "
                      f"{figures['base_mb']:>8.0f} {figures['peak_mb']:>8.0f} "
                      f"{figures['peak_mb'] - figures['base_mb']:>9.0f} {figures['paths']:>7}", flush=True)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"(wall time {time.perf_counter() - started:.0f} s, including writing the inputs)")
