"""Filters on a Cisco device that the audit does not evaluate: unicast RPF (IOS `ip verify unicast source
reachable-via ...`, `ip verify unicast reverse-path`, `ipv6 verify unicast ...`; ASA `ip verify reverse-path
interface IF`) on an interface where VPN traffic enters the device. uRPF drops a packet whose source address the
routing table does not lead back to (strict: through that interface), which depends on routes the snapshot may not
hold; the verdicts do not cover it, so it is reported (docs/semantics/cisco.md, unicast RPF)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.config import split_enters
from auditor.model import InterfaceLine
from auditor.vocab import Severity
from rules.checks._devices import in_front

CHECK = CheckMeta(
    id="CISCO-FILTER-NOT-MODELLED",
    kind="unmodelled-filter",
    severity=Severity.INFO,
    title="Unicast RPF where VPN traffic enters a Cisco device: not evaluated",
    remediation="Check by hand that unicast RPF lets the VPN clients' packets in: strict mode (`reachable-via rx`, "
                "`ip verify reverse-path`) drops a packet unless the route back to its source leaves through the "
                "interface it arrived on (on IOS a default route counts only with `allow-default`); loose mode "
                "(`reachable-via any`) drops it when no route leads to its source. The verdicts of this audit do "
                "not cover it.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    arrivals: dict[str, dict[str, list[str]]] = {}  # device -> interface label -> what arrives there
    for server in ctx.model.servers:
        for device in in_front(ctx.model, server):
            label = device.arrival_label(server)
            if label is not None:
                arrivals.setdefault(device.name, {}).setdefault(label, []).append(f"server '{server.name}'")
    for role in ctx.model.extra_roles:
        for variant in role.variants:
            entry = split_enters(variant.label) if ":" in variant.label else None
            if entry is None:
                continue
            entered = ctx.model.devices.get(entry.device)
            label = entered.entry_label(entry.interface) if entered is not None else None
            if label is not None:
                arrivals.setdefault(entry.device, {}).setdefault(label, []).append(f"source '{role.name}'")
    for name in sorted(arrivals):
        device = ctx.model.devices[name]
        found = [line for line in device.unicast_rpf() if line.interface in arrivals[name]]
        if not found:
            continue
        filters = [_filter(line, arrivals[name][line.interface]) for line in found]
        where = "; ".join(f"{f['interface']} (line {f['line']}: {f['text']})" for f in filters)
        yield Finding(CHECK, f"{name}: unicast RPF on {where} is not evaluated (the verdicts do not cover it)",
                      CHECK.remediation, None, None, name, {"file": found[0].origin.path, "filters": filters})


def _filter(line: InterfaceLine, traffic: list[str]) -> dict[str, Any]:
    return {"interface": line.interface, "line": line.origin.line, "text": line.text, "traffic": sorted(set(traffic))}
