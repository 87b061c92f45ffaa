"""A Cisco ACE that permits VPN traffic but is never reached for it: earlier lines of the same list (or,
on an ASA, of the interface list before the global one) already decide every VPN packet it would match.

The generic shadowed-rule check covers Meraki rule lists; this one walks the perimeter hops a server's
flows cross, so ASA lists are checked with real (untranslated) addresses and IOS lists with public ones.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.adapters.cisco import CiscoDevice, EgressHop, cisco_devices_for
from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Action, Decision, FilterHop, Rule, RuleList, VpnServer
from auditor.packets import ANY_ADDR, EMPTY, PROTO_NUMBERS, PacketSet, address_interval

CHECK = CheckMeta(
    id="CISCO-SHADOWED-ACE",
    kind="shadowed-vpn-rule",
    severity="warning",
    title="Cisco ACE permitting VPN traffic is shadowed by an earlier line",
    windows_errors=(809,),
    remediation="Move the permit above the line that shadows it, or narrow that line.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    seen: set[tuple[str, int | None, int]] = set()
    for server in ctx.model.servers:
        vpn = _vpn_packets(ctx, server)
        if not vpn:
            continue
        for device in cisco_devices_for(ctx.model, server):
            for label, rules, reached in _lists(device, server, vpn):
                for finding, key in _shadowed(device, label, rules, reached, server):
                    if key not in seen:
                        seen.add(key)
                        yield finding


def _vpn_packets(ctx: AuditContext, server: VpnServer) -> PacketSet:
    try:
        public = address_interval(server.address)
    except ValueError:
        return EMPTY
    out = EMPTY
    for name in server.protocols:
        protocol = ctx.protocols.get(name)
        for flow in protocol.flows if protocol else ():
            out = out | PacketSet.flow([ANY_ADDR], [public], PROTO_NUMBERS[flow.ip_protocol], flow.dst_port)
    return out


def _lists(device: CiscoDevice, server: VpnServer, vpn: PacketSet) -> Iterator[tuple[str, RuleList, PacketSet]]:
    """Each rule list on the server's path with the VPN packets that reach it (translated where NAT ran)."""
    for hop, reached, _segments in device.walk(server, vpn):
        if isinstance(hop, FilterHop) and hop.rules is not None:
            yield hop.stage, hop.rules, reached
        elif isinstance(hop, EgressHop):
            for label, region in hop.regions:
                rules = hop.lists.get(label)
                part = reached & region
                if rules is not None and part:
                    yield f"{hop.stage}: {label}", rules, part


def _shadowed(device: CiscoDevice, label: str, rules: RuleList, vpn: PacketSet,
              server: VpnServer) -> Iterator[tuple[Finding, tuple[str, int | None, int]]]:
    for i, rule in enumerate(rules.rules):
        if rule.action is not Action.PERMIT or not rule.certain or rule.synthetic:
            continue
        wanted = rule.match & vpn
        if not wanted:
            continue
        line = rule.origin.line if rule.origin else None
        earlier = [r for r in rules.rules[:i] if r.origin is None or r.origin.line != line]
        marker = Rule(rule.position, Action.PERMIT, rule.match, rule.text)
        segments = RuleList("shadow", earlier, marker).evaluate(wanted)
        if any(s.rule is marker or s.decision is Decision.UNKNOWN for s in segments):
            continue  # reached for some VPN packet, or an uncertain line may let it be reached
        shadows = [s for s in segments if s.rule is not None]
        denied = any(s.decision is Decision.DENY for s in shadows)
        first = shadows[0].rule
        assert first is not None
        where = f"line {first.origin.line}" if first.origin and first.origin.line else f"rule {first.position}"
        title = (f"{device.name} ({label}): line {line} ({rule.text}) permits VPN traffic to '{server.name}' but "
                 f"is never reached for it: {where} ({first.text}) matches it first")
        fix = (f"Move line {line} above {where}, or narrow {where} so it no longer matches the VPN flows."
               if denied else f"Line {line} is redundant for VPN traffic; nothing to fix unless it was meant "
                              "to be the deciding line.")
        evidence = {
            "server": server.name, "list": label,
            "rule": {"index": rule.position, "text": rule.text, "comment": rule.comment,
                     "source": str(rule.origin) if rule.origin else None},
            "shadowed_by": [{"index": s.rule.position, "text": s.rule.text, "decision": s.decision.value,
                             "source": str(s.rule.origin) if s.rule.origin else None}
                            for s in shadows if s.rule is not None],
        }
        finding = Finding(CHECK, title, fix, None, None, device.name, evidence,
                          severity=None if denied else "info")
        yield finding, (device.name, line, rule.position)
