"""Benchmark: parse a generated 50,000-line ASA config into the model, beside ciscoconfparse's bare parse.

    /tmp/venv/bin/python bench/parse_cisco.py [--lines 50000] [--aces 5000] [--repeat 3] [--seed 1]

Prints the time ciscoconfparse alone takes to build its line tree from the text, and the time we take
from the same text to a `CiscoDevice` whose hops for a VPN server are ready (line tree + our parsing of
names, objects, object-groups, ACEs, NAT, routes + rule lists and hops). Best of --repeat runs each. Also
prints, for information, the time to trace the VPN flows through the device. Target ratio: <= 1.5.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.model import VpnServer
from auditor.packets import ANY_ADDR, PacketSet, address_interval
from auditor.vendors.cisco.adapter import CiscoDevice
from auditor.vendors.cisco.common import _silence_loguru

SERVER = "198.51.100.10"


def generate(lines: int, aces: int, seed: int) -> str:
    """A realistic-shaped ASA config: interfaces, names, objects, nested groups, ACLs, NAT, routes, filler."""
    rnd = random.Random(seed)
    out: list[str] = [": Saved", ":", "ASA Version 9.16(4)", "!", "hostname bench-asa", "names"]

    def ip(a: int, b: int | None = None) -> str:
        return f"10.{a % 250}.{(b if b is not None else rnd.randrange(250))}.{rnd.randrange(1, 254)}"

    ifaces = [("outside", 0, "198.51.100.2 255.255.255.0")] + [
        (f"dmz{i}", 50, f"10.{i}.0.1 255.255.0.0") for i in range(1, 20)]
    for n, (name, level, addr) in enumerate(ifaces):
        out += [f"interface GigabitEthernet0/{n}", f" nameif {name}", f" security-level {level}",
                f" ip address {addr}", "!"]
    for i in range(300):
        out.append(f"name {ip(i)} host-{i} description generated")
    n_objects = 2500
    for i in range(n_objects):
        out.append(f"object network OBJ-{i}")
        if i % 5 == 0:
            out.append(f" subnet 10.{i % 250}.{i % 200}.0 255.255.255.0")
        elif i % 7 == 0:
            out.append(f" range 10.{i % 250}.1.10 10.{i % 250}.1.20")
        else:
            out.append(f" host {ip(i)}")
        out.append(" description generated object")
    n_groups = 1800
    for g in range(n_groups):
        out.append(f"object-group network NG-{g}")
        out.append(" description generated group")
        for _ in range(rnd.randrange(4, 9)):
            choice = rnd.random()
            if choice < 0.4:
                out.append(f" network-object object OBJ-{rnd.randrange(n_objects)}")
            elif choice < 0.7:
                out.append(f" network-object host {ip(g)}")
            else:
                out.append(f" network-object 10.{g % 250}.{rnd.randrange(250)}.0 255.255.255.0")
        if g > 10 and rnd.random() < 0.3:
            out.append(f" group-object NG-{rnd.randrange(g)}")
    n_svc = 400
    for s in range(n_svc):
        if s % 2:
            out.append(f"object-group service SG-{s} tcp-udp")
            for _ in range(rnd.randrange(2, 6)):
                out.append(f" port-object eq {rnd.choice(['domain', 'www', '8080', '9000', '1234'])}")
        else:
            out.append(f"object-group service SG-{s}")
            for _ in range(rnd.randrange(2, 6)):
                out.append(f" service-object {rnd.choice(['tcp', 'udp'])} destination eq {rnd.randrange(1, 65535)}")
    out += ["object network VPN-SERVER", " host 10.1.0.10", "object-group service VPN-UDP udp",
            " port-object eq isakmp", " port-object eq 4500"]
    acls = ["outside_access_in", *[f"dmz{i}_access_in" for i in range(1, 20)]]
    out.append("access-list outside_access_in extended permit udp any object VPN-SERVER object-group VPN-UDP")
    for a in range(aces - 1):
        acl = "outside_access_in" if a % 3 == 0 else rnd.choice(acls)
        if a % 25 == 0:
            out.append(f"access-list {acl} remark change {a}: generated")
        action = "deny" if rnd.random() < 0.2 else "permit"
        form = rnd.random()
        if form < 0.3:
            src = f"object-group NG-{rnd.randrange(n_groups)}"
            dst = f"object OBJ-{rnd.randrange(n_objects)}"
            out.append(f"access-list {acl} extended {action} tcp {src} {dst} eq {rnd.choice(['https', 'www', '8443'])}")
        elif form < 0.55:
            out.append(f"access-list {acl} extended {action} object-group SG-{rnd.randrange(0, n_svc, 2)} "
                       f"any object-group NG-{rnd.randrange(n_groups)} log")
        elif form < 0.8:
            out.append(f"access-list {acl} extended {action} udp host {ip(a)} host {ip(a)} range 1000 2000")
        else:
            out.append(f"access-list {acl} extended {action} ip 10.{a % 250}.{rnd.randrange(250)}.0 "
                       "255.255.255.0 any4 log disable")
    for acl in acls:
        out.append(f"access-list {acl} extended deny ip any any log")
    for i, acl in enumerate(acls):
        out.append(f"access-group {acl} in interface {'outside' if i == 0 else f'dmz{i}'}")
    out += ["object network VPN-SERVER", f" nat (dmz1,outside) static {SERVER}"]
    for i in range(1, 600, 3):  # published servers: object static NAT to public addresses
        out += [f"object network OBJ-{i}", f" nat (dmz{1 + i % 19},outside) static 203.0.{i // 250}.{i % 250}"]
    for i in range(0, n_objects, 3):
        out += [f"object network OBJ-{i}", f" nat (dmz{1 + i % 19},outside) dynamic interface"]
    for i in range(150):
        out.append(f"nat (dmz{1 + i % 19},outside) source static OBJ-{i} OBJ-{i} destination static NG-{i} "
                   f"NG-{i} no-proxy-arp route-lookup")
    out.append("route outside 0.0.0.0 0.0.0.0 198.51.100.1 1")
    for i in range(400):
        out.append(f"route dmz{1 + i % 19} 10.{100 + i % 150}.{i % 250}.0 255.255.255.0 10.{1 + i % 19}.0.254 1")
    # filler: group policies, tunnel groups and logging, as real configs have (children, no ACL effect)
    k = 0
    while len(out) < lines - 2:
        out += [f"group-policy GP-{k} internal", f"group-policy GP-{k} attributes",
                f" dns-server value 10.0.0.{k % 250} 10.0.1.{k % 250}", " vpn-tunnel-protocol ikev2 ssl-client",
                f" split-tunnel-network-list value SPLIT-{k}", f" default-domain value corp{k}.example",
                f"logging message {100000 + k} level informational"]
        k += 1
    return "\n".join([*out[:lines - 1], ": end", ""])


def bare_parse(text: str) -> tuple[float, float]:
    """(wall, CPU) seconds for ciscoconfparse alone, with the arguments our adapter uses."""
    from ciscoconfparse import CiscoConfParse

    wall, cpu = time.perf_counter(), time.process_time()
    CiscoConfParse(config=text.splitlines(), syntax="asa", ignore_blank_lines=False, factory=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def ours(text: str) -> tuple[float, float, CiscoDevice]:
    """(wall, CPU) seconds from text to a device whose hops for a VPN server are built."""
    wall, cpu = time.perf_counter(), time.process_time()
    device = CiscoDevice.from_text(text, "cisco/bench-asa.cfg")
    device.rule_lists()
    device.hops(VpnServer("vpn", SERVER, ["ikev2", "l2tp", "sstp"]))
    return time.perf_counter() - wall, time.process_time() - cpu, device


def trace(device: CiscoDevice) -> float:
    server = VpnServer("vpn", SERVER, ["ikev2", "l2tp", "sstp"])
    started = time.perf_counter()
    for proto, port in ((17, 500), (17, 4500), (17, 1701), (6, 443), (50, None)):
        device.walk(server, PacketSet.flow([ANY_ADDR], [address_interval(SERVER)], proto, port))
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=50_000)
    ap.add_argument("--aces", type=int, default=5_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    _silence_loguru()
    text = generate(args.lines, args.aces, args.seed)
    n_lines = text.count("\n")
    n_aces = sum(1 for line in text.splitlines() if " extended " in line)
    # Interleaved, so both sides see the same machine load; CPU time is the steadier figure on a busy box.
    bare: list[tuple[float, float]] = []
    mine: list[tuple[float, float]] = []
    device = None
    for _ in range(args.repeat):
        bare.append(bare_parse(text))
        wall, cpu, device = ours(text)
        mine.append((wall, cpu))
    assert device is not None
    rules = sum(len(acl.rules) for acl in device.config.acls.values())
    unknown = sum(1 for acl in device.config.acls.values() for r in acl.rules if not r.certain)
    print(f"config: {n_lines} lines, {n_aces} ACEs ({rules} rules, {unknown} uncertain), "
          f"{len(device.config.nat)} static NAT entries, {len(device.config.interfaces)} interfaces")
    for label, runs in (("ciscoconfparse bare parse ", bare), ("ours, parse to model+hops ", mine)):
        print(f"{label}: CPU best {min(c for _, c in runs):.2f} s, median {statistics.median(c for _, c in runs):.2f} s"
              f" | wall best {min(w for w, _ in runs):.2f} s")
    cpu_ratio = min(c for _, c in mine) / min(c for _, c in bare)
    wall_ratio = min(w for w, _ in mine) / min(w for w, _ in bare)
    print(f"ratio ours/bare           : CPU {cpu_ratio:.2f}, wall {wall_ratio:.2f}  (target <= 1.5)")
    print(f"trace 5 VPN flows         : {trace(device) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
