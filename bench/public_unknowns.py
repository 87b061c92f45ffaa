"""Share of public Cisco configs whose interface ACL verdicts are `unknown`, per source (file name prefix).

    /tmp/venv/bin/python bench/public_unknowns.py DIR [--server 203.0.113.10] [--complete PREFIX ...] [-v]

DIR holds `cisco-asa/` and `cisco-ios/` (the public configs). Each file is read as the audit reads a snapshot's
`cisco/NAME.cfg` (same decoding, same doubts about the configuration as a whole); then every access-list bound
to an interface (in or out, and an ASA global list) is evaluated for the VPN flows (udp/500, udp/4500, esp,
tcp/443) from any IPv4 address to the test server. A list's verdict is `unknown` when the device's
configuration as a whole is in doubt (the audit then makes every path through it unknown) or when any of those
packets meets an unknown entry. A config counts as unknown when any of its bound lists is; configs without a
bound list count as unknown only when the device as a whole is in doubt. `--complete batfish-` declares the
files of that source complete, as audit.yaml `devices: {NAME: {complete: true}}` would (Batfish's test inputs
carry no `end` and no collector header).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditor.model import Decision, Model
from auditor.packets import ANY_V4, PacketSet, address_interval
from auditor.snapshot import Snapshot
from auditor.vendors.cisco.adapter import CiscoAdapter, CiscoDevice

FLOWS = ((17, 500), (17, 4500), (50, None), (6, 443))


def verdicts(path: Path, server: str, complete: bool = False) -> tuple[bool, int, int, str]:
    """(device in doubt, bound lists, unknown lists, first reason) for one config file."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "cisco").mkdir()
        (Path(tmp) / "cisco" / path.name).write_bytes(path.read_bytes())
        model = Model(tmp)
        if complete:
            model.device_settings = {f"cisco/{path.name.removesuffix('.cfg')}": {"complete": True}}
        CiscoAdapter().load(Snapshot(tmp), model)
    devices = [d for d in model.devices.values() if isinstance(d, CiscoDevice)]
    if not devices:
        return True, 0, 0, "; ".join(g.reason for g in model.gaps)[:160] or "not read"
    device = devices[0]
    doubt = bool(device.doubts)
    bound = device.rule_lists()
    dst = [address_interval(server)]
    unknown, why = 0, device.doubts[0] if doubt else ""
    for _label, rules in bound:
        reasons = [seg.reason for proto, port in FLOWS
                   for seg in rules.evaluate(PacketSet.flow([ANY_V4], dst, proto, port))
                   if seg.decision is Decision.UNKNOWN]
        if doubt or reasons:
            unknown += 1
            why = why or reasons[0]
    return doubt, len(bound), unknown, why


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--server", default="203.0.113.10")
    ap.add_argument("--complete", action="append", default=[], metavar="PREFIX",
                    help="declare the files of this source complete (audit.yaml devices: complete: true)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    files = sorted([*args.dir.glob("cisco-asa/*"), *args.dir.glob("cisco-ios/*")])
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # files, with lists, unknown, device doubt
    for path in files:
        source = path.name.split("-", 1)[0]
        doubt, bound, unknown, why = verdicts(path, args.server, path.name.startswith(tuple(args.complete or ["\0"])))
        row = per[source]
        row[0] += 1
        row[1] += bound > 0
        row[2] += bool(unknown) or (doubt and not bound)
        row[3] += doubt
        if args.verbose:
            print(f"{path.name}: lists={bound} unknown={unknown} doubt={doubt} {why[:150]}")
    print(f"{'source':16} {'configs':>7} {'with ACLs':>9} {'unknown':>8} {'share':>6} {'device doubt':>12}")
    total = [0, 0, 0, 0]
    for source, (n, with_acls, unknown, doubt) in sorted(per.items()):
        print(f"{source + '-':16} {n:7} {with_acls:9} {unknown:8} {unknown / n:6.0%} {doubt:12}")
        total = [a + b for a, b in zip(total, (n, with_acls, unknown, doubt), strict=True)]
    n, with_acls, unknown, doubt = total
    print(f"{'all':16} {n:7} {with_acls:9} {unknown:8} {unknown / n:6.0%} {doubt:12}")


if __name__ == "__main__":
    main()
