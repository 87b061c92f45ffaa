"""Filters on a Cisco device that the audit does not evaluate: unicast RPF (IOS `ip verify unicast source
reachable-via ...`, `ip verify unicast reverse-path`, `ipv6 verify unicast ...`; ASA `ip verify reverse-path
interface IF`) on an interface where VPN traffic enters the device. uRPF drops a packet whose source address the
routing table does not lead back to (strict: through that interface), which depends on routes the snapshot may not
hold; the verdicts do not cover it, so it is reported (docs/semantics/cisco.md, unicast RPF)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.config import split_enters
from auditor.vendors.cisco.adapter import CiscoDevice, cisco_devices_for
from auditor.vocab import Severity

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
        for front in cisco_devices_for(ctx.model, server):
            iface, _why = front.arrival(server)
            if iface is not None:
                arrivals.setdefault(front.name, {}).setdefault(iface.label, []).append(f"server '{server.name}'")
    for role in ctx.model.extra_roles:
        for variant in role.variants:
            entry = split_enters(variant.label) if ":" in variant.label else None
            name, label = (entry.device, entry.interface) if entry is not None else ("", "")
            device = ctx.model.devices.get(name)
            if isinstance(device, CiscoDevice):
                iface, _why = device.entry_interface(label)
                if iface is not None:
                    arrivals.setdefault(name, {}).setdefault(iface.label, []).append(f"source '{role.name}'")
    for name in sorted(arrivals):
        device = ctx.model.devices[name]
        assert isinstance(device, CiscoDevice)
        found = []
        for label, line, text in device.local.urpf:
            iface = device.config.interface(label)
            key = iface.label if iface is not None else label
            if key in arrivals[name]:
                found.append({"interface": key, "line": line, "text": text,
                              "traffic": sorted(set(arrivals[name][key]))})
        if not found:
            continue
        where = "; ".join(f"{f['interface']} (line {f['line']}: {f['text']})" for f in found)
        yield Finding(CHECK, f"{name}: unicast RPF on {where} is not evaluated (the verdicts do not cover it)",
                      CHECK.remediation, None, None, name, {"file": device.config.path, "filters": found})
