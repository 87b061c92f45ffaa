"""A Cisco ACE that permits VPN traffic but is never reached for it: earlier lines of the same list (or,
on an ASA, of the interface list before the global one) already decide every VPN packet it would match.

The generic shadowed-rule check covers Meraki rule lists; this one asks each device in front of a server for
the access lists its flows cross (`Device.access_lists`: ASA lists with real, untranslated addresses, IOS lists
with public ones). Both find what earlier rules take with `RuleList.shadowed`.
"""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Decision, Device, Rule, RuleList, Segment, VpnServer
from auditor.packets import ANY_ADDR, EMPTY, PROTO_NUMBERS, PacketSet, address_interval
from auditor.vocab import Severity
from rules.checks._devices import in_front

CHECK = CheckMeta(
    id="CISCO-SHADOWED-ACE",
    kind="shadowed-vpn-rule",
    severity=Severity.WARNING,
    title="Cisco ACE permitting VPN traffic is shadowed by an earlier line",
    windows_errors=(809,),
    remediation="Delete the permit that earlier lines make redundant; never move a permit above a deny.",
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    seen: set[tuple[str, int | None, int]] = set()
    for server in ctx.model.servers:
        flows = _vpn_flows(ctx, server)
        if not flows:
            continue
        for device in in_front(ctx.model, server):
            for label, (rules, reached) in _lists(device, server, flows).items():
                for finding, key in _shadowed(device, label, rules, reached, server):
                    if key not in seen:
                        seen.add(key)
                        yield finding


def _vpn_flows(ctx: AuditContext, server: VpnServer) -> list[PacketSet]:
    try:
        public = address_interval(server.address)
    except ValueError:
        return []
    out: list[PacketSet] = []
    for name in server.protocols:
        protocol = ctx.protocols.get(name)
        for flow in protocol.wire_flows if protocol else ():  # inner flows never meet them
            packets = PacketSet.flow([ANY_ADDR], [public], PROTO_NUMBERS[flow.ip_protocol], flow.dst_port)
            if packets not in out:
                out.append(packets)
    return out


def _lists(device: Device, server: VpnServer, flows: list[PacketSet]) -> dict[str, tuple[RuleList, list[PacketSet]]]:
    """Each access list on the server's path through the device, with what of each VPN flow reaches it. One flow
    at a time: what is left of a single flow after many lines stays cheap to work with (sorted by source); a
    union of flows through a long list would cost the square of its length."""
    by_list: dict[str, tuple[RuleList, list[PacketSet]]] = {}
    for flow in flows:
        for met in device.access_lists(server, flow):
            by_list.setdefault(met.where, (met.rules, []))[1].append(met.packets)
    return by_list


# Each shadowed line is explained by one pass of its list; in configurations with thousands of them that
# would take the square of the list's length, so past this many per list the rest are summed up in one finding.
MAX_EXACT = 200

Keyed = tuple[Finding, tuple[str, int | None, int]]  # a finding, and what it is about: (device, file line, index)


def _shadowed(device: Device, label: str, rules: RuleList, flows: list[PacketSet],
              server: VpnServer) -> Iterator[Keyed]:
    """Every permit of the list that earlier lines decide for each VPN packet it matches."""
    vpn = EMPTY
    for flow in flows:
        vpn = vpn | flow
    unexamined: list[Rule] = []  # candidates past the cap on exact looks
    examined = 0
    for shadow in rules.shadowed(flows):
        if not shadow.whole:
            continue  # some VPN packet (may) reach it
        if examined >= MAX_EXACT:
            unexamined.append(shadow.rule)
            continue
        examined += 1
        found = _explained(device, label, rules, shadow.rule, vpn, server)
        if found is not None:
            yield found
    if unexamined:
        yield _summary(device, label, unexamined, server)


def _explained(device: Device, label: str, rules: RuleList, rule: Rule, vpn: PacketSet,
               server: VpnServer) -> Keyed | None:
    """The finding for one permit never reached for VPN traffic, naming the earlier lines that decide it."""
    line = rule.origin.line if rule.origin else None
    # The list itself (its index, its cache) decides `wanted`: nothing gets past this rule, which matches all
    # of it, so what decides it is what comes before, each deciding line once, in list order.
    segments = rules.evaluate(rule.match & vpn)
    if any(s.rule is rule or s.decision is Decision.UNKNOWN or _same_line(s.rule, line) for s in segments):
        return None  # reached for some VPN packet, or an uncertain line may let it be; a part of its line counts as it
    shadows = [s for s in segments if s.rule is not None]
    # Every earlier line that takes part of it, in list order: a narrow deny (one abusive host) and a
    # permit of the rest are both why it is never reached, and the fix differs for each.
    by_line = {id(s.rule): s.rule for s in shadows if s.rule is not None}
    denying = {id(s.rule): s.rule for s in shadows if s.rule is not None and s.decision is Decision.DENY}
    ordered = sorted(by_line.values(), key=lambda r: r.position)
    fix = _advice(device, rule, label, ordered, denying, server, only_vpn=not (rule.match - vpn))
    finding = Finding(CHECK, _title(device, rule, ordered, server), fix, None, None, device.name,
                      _evidence(device, rule, label, shadows, server), severity=None if denying else Severity.INFO)
    return finding, (device.name, line, rule.position)


def _title(device: Device, rule: Rule, ordered: list[Rule], server: VpnServer) -> str:
    named = " and ".join(_where(device, r) for r in ordered[:3]) + (f" and {len(ordered) - 3} more"
                                                                   if len(ordered) > 3 else "")
    return (f"{_where(device, rule, full=True)} never permits VPN traffic to '{server.name}': {named} "
            f"{'decide' if len(ordered) > 1 else 'decides'} it first")


def _evidence(device: Device, rule: Rule, label: str, shadows: list[Segment], server: VpnServer) -> dict:
    return {
        "server": server.name, "list": label,
        "rule": _rule_json(device, rule),
        "shadowed_by": [{**_rule_json(device, s.rule), "decision": s.decision.value} for s in shadows
                        if s.rule is not None],
    }


def _summary(device: Device, label: str, unexamined: list[Rule], server: VpnServer) -> Keyed:
    """One finding for the candidates past the cap, their lines listed."""
    lines = [r.origin.line if r.origin else r.position for r in unexamined]
    title = (f"{device.name} ({label}): {len(unexamined)} more lines that permit VPN traffic to "
             f"'{server.name}' are never reached for it (not examined one by one: more than {MAX_EXACT} in "
             "this list)")
    evidence = {"server": server.name, "list": label, "lines": lines[:200], "count": len(unexamined)}
    return (Finding(CHECK, title, "Review these lines: each is decided by an earlier line for VPN traffic.",
                    None, None, device.name, evidence, severity=Severity.INFO), (device.name, None, -len(lines)))


def _where(device: Device, rule: Rule, full: bool = False) -> str:
    """'line 37 (seq 70)', or with the file 'line 37 of cisco/x.cfg (seq 70)': a file line and an IOS sequence
    number are different counts, each named for what it is."""
    if rule.origin is None or rule.origin.line is None:
        return f"rule {rule.position}"
    seq = device.entry_number(rule)
    where = rule.origin.human() if full else f"line {rule.origin.line}"
    return where + (f" (seq {seq})" if seq is not None else "")


def _quoted(device: Device, rule: Rule) -> str:
    return f"{_where(device, rule)} `{device.entry_text(rule)}`"


def _advice(device: Device, rule: Rule, label: str, shadows: list[Rule], denying: dict[int, Rule],
            server: VpnServer, only_vpn: bool) -> str:
    """Delete a permit that earlier lines make redundant; never move it above a deny (that would let through
    what the deny is there to stop), and leave a deny's scope to whoever wrote it."""
    permits = [r for r in shadows if id(r) not in denying]
    denies = [r for r in shadows if id(r) in denying]
    parts = [f"Delete {_where(device, rule, full=True)} `{device.entry_text(rule)}` ({label})" +
             ("" if only_vpn else f" unless traffic other than the VPN flows to '{server.name}' needs it") + ":"]
    why = []
    if permits:
        why.append(f"{' and '.join(_quoted(device, r) for r in permits[:3])} already "
                   f"{'permits' if len(permits) == 1 else 'permit'} that VPN traffic")
    if denies:
        why.append(f"{' and '.join(_quoted(device, r) for r in denies[:3])} "
                   f"{'denies' if len(denies) == 1 else 'deny'} the rest of it first")
    parts.append(" and ".join(why) + ", so for it the line is never reached.")
    if denies:
        parts.append(f"Do not move it above {' or '.join(_where(device, r) for r in denies[:3])}: that would "
                     f"permit what {'that line denies' if len(denies) == 1 else 'those lines deny'}. If VPN "
                     "clients must pass there, narrow the deny instead.")
    return " ".join(parts)


def _rule_json(device: Device, rule: Rule) -> dict:
    """`index` is the entry's 1-based position in its list, `line` the file line, `seq` the IOS sequence number."""
    out = {"index": rule.position, "text": rule.text, "comment": rule.comment,
           "source": str(rule.origin) if rule.origin else None}
    if rule.origin is not None and rule.origin.line is not None:
        out["line"] = rule.origin.line
    seq = device.entry_number(rule)
    if seq is not None:
        out["seq"] = seq
    return out


def _same_line(rule: Rule | None, line: int | None) -> bool:
    return rule is not None and line is not None and rule.origin is not None and rule.origin.line == line
