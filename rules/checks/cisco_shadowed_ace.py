"""A Cisco ACE that permits VPN traffic but is never reached for it: earlier lines of the same list (or,
on an ASA, of the interface list before the global one) already decide every VPN packet it would match.

The generic shadowed-rule check covers Meraki rule lists; this one walks the perimeter hops a server's
flows cross, so ASA lists are checked with real (untranslated) addresses and IOS lists with public ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Action, Decision, FilterHop, Rule, RuleList, VpnServer
from auditor.packets import ANY_ADDR, EMPTY, PROTO_NUMBERS, PacketSet, address_interval
from auditor.vendors.cisco.adapter import CiscoDevice, EgressHop, cisco_devices_for
from auditor.vocab import Severity

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
        for device in cisco_devices_for(ctx.model, server):
            # One flow at a time: what is left of a single flow after many lines stays cheap to work with
            # (sorted by source); a union of flows through a long list would cost the square of its length.
            by_list: dict[str, tuple[RuleList, list[PacketSet]]] = {}
            for flow in flows:
                for label, rules, part in _lists(device, server, flow):
                    by_list.setdefault(label, (rules, []))[1].append(part)
            for label, (rules, reached) in by_list.items():
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


# Each shadowed line is explained by one pass of its list; in configurations with thousands of them that
# would take the square of the list's length, so past this many per list the rest are summed up in one finding.
MAX_EXACT = 200


def _shadowed(device: CiscoDevice, label: str, rules: RuleList, flows: list[PacketSet],
              server: VpnServer) -> Iterator[tuple[Finding, tuple[str, int | None, int]]]:
    vpn = EMPTY
    for flow in flows:
        vpn = vpn | flow
    remaining = list(flows)  # per flow, the VPN packets no earlier certain line decided: one pass in all
    maybe = [EMPTY for _ in flows]  # per flow, what an earlier uncertain line may have let through
    unexamined: list[Rule] = []  # candidates past the cap on exact looks (each one costs a pass of the list)
    examined = 0
    for rule in rules.rules:
        before = remaining
        if rule.certain:
            remaining = [left - rule.match if left else left for left in remaining]
        else:
            maybe = [m | (left & rule.match) if left else m for m, left in zip(maybe, before, strict=True)]
        if rule.action is not Action.PERMIT or not rule.certain or rule.synthetic:
            continue
        hits = [rule.match & flow for flow in flows]
        if not any(hits) or any(w and (left & w or m & w) for w, left, m in zip(hits, before, maybe, strict=True)):
            continue  # no VPN packet for it, or some (may) reach it: only the others need the exact look below
        if examined >= MAX_EXACT:
            unexamined.append(rule)
            continue
        examined += 1
        wanted = rule.match & vpn
        line = rule.origin.line if rule.origin else None
        # The list itself (its index, its cache) decides `wanted`: nothing gets past this rule, which
        # matches all of it, so what decides it is what comes before (a part of the same line counts as it).
        segments = rules.evaluate(wanted)
        if any(s.rule is rule or s.decision is Decision.UNKNOWN or _same_line(s.rule, line) for s in segments):
            continue  # reached for some VPN packet, or an uncertain line may let it be reached
        shadows = [s for s in segments if s.rule is not None]
        # Every earlier line that takes part of it, in list order: a narrow deny (one abusive host) and a
        # permit of the rest are both why it is never reached, and the fix differs for each.
        by_line = {id(s.rule): s.rule for s in shadows if s.rule is not None}
        denying = {id(s.rule): s.rule for s in shadows if s.rule is not None and s.decision is Decision.DENY}
        ordered = sorted(by_line.values(), key=lambda r: r.position)
        named = " and ".join(_where(r) for r in ordered[:3]) + (f" and {len(ordered) - 3} more" if len(ordered) > 3
                                                                else "")
        title = (f"{_where(rule, full=True)} never permits VPN traffic to '{server.name}': {named} "
                 f"{'decide' if len(ordered) > 1 else 'decides'} it first")
        denied = bool(denying)
        fix = _advice(rule, label, ordered, denying, server, only_vpn=not (rule.match - vpn))
        evidence: dict[str, Any] = {
            "server": server.name, "list": label,
            "rule": _rule_json(rule),
            "shadowed_by": [{**_rule_json(s.rule), "decision": s.decision.value} for s in shadows
                            if s.rule is not None],
        }
        finding = Finding(CHECK, title, fix, None, None, device.name, evidence,
                          severity=None if denied else Severity.INFO)
        yield finding, (device.name, line, rule.position)
    if unexamined:
        lines = [r.origin.line if r.origin else r.position for r in unexamined]
        title = (f"{device.name} ({label}): {len(unexamined)} more lines that permit VPN traffic to "
                 f"'{server.name}' are never reached for it (not examined one by one: more than {MAX_EXACT} in "
                 "this list)")
        evidence = {"server": server.name, "list": label, "lines": lines[:200], "count": len(unexamined)}
        yield (Finding(CHECK, title, "Review these lines: each is decided by an earlier line for VPN traffic.",
                       None, None, device.name, evidence, severity=Severity.INFO), (device.name, None, -len(lines)))



_SEQ = re.compile(r"^\s*(\d+)\s+(?=permit\b|deny\b)", re.IGNORECASE)


def _seq(rule: Rule) -> int | None:
    """An IOS access-list entry's sequence number, as written at the start of the line (IOS numbers entries
    on its own; ASA lines have none)."""
    match = _SEQ.match(rule.text)
    return int(match.group(1)) if match else None


def _body(rule: Rule) -> str:
    """The entry without its sequence number, spaces as one: 'deny ip host 203.0.113.66 any'."""
    return " ".join(_SEQ.sub("", rule.text).split())


def _where(rule: Rule, full: bool = False) -> str:
    """'line 37 (seq 70)', or with the file 'line 37 of cisco/x.cfg (seq 70)': a file line and an IOS sequence
    number are different counts, each named for what it is."""
    if rule.origin is None or rule.origin.line is None:
        return f"rule {rule.position}"
    seq = _seq(rule)
    where = rule.origin.human() if full else f"line {rule.origin.line}"
    return where + (f" (seq {seq})" if seq is not None else "")


def _quoted(rule: Rule) -> str:
    return f"{_where(rule)} `{_body(rule)}`"


def _advice(rule: Rule, label: str, shadows: list[Rule], denying: dict[int, Rule], server: VpnServer,
            only_vpn: bool) -> str:
    """Delete a permit that earlier lines make redundant; never move it above a deny (that would let through
    what the deny is there to stop), and leave a deny's scope to whoever wrote it."""
    permits = [r for r in shadows if id(r) not in denying]
    denies = [r for r in shadows if id(r) in denying]
    parts = [f"Delete {_where(rule, full=True)} `{_body(rule)}` ({label})" +
             ("" if only_vpn else f" unless traffic other than the VPN flows to '{server.name}' needs it") + ":"]
    why = []
    if permits:
        why.append(f"{' and '.join(_quoted(r) for r in permits[:3])} already "
                   f"{'permits' if len(permits) == 1 else 'permit'} that VPN traffic")
    if denies:
        why.append(f"{' and '.join(_quoted(r) for r in denies[:3])} "
                   f"{'denies' if len(denies) == 1 else 'deny'} the rest of it first")
    parts.append(" and ".join(why) + ", so for it the line is never reached.")
    if denies:
        parts.append(f"Do not move it above {' or '.join(_where(r) for r in denies[:3])}: that would permit what "
                     f"{'that line denies' if len(denies) == 1 else 'those lines deny'}. If VPN clients must "
                     "pass there, narrow the deny instead.")
    return " ".join(parts)


def _rule_json(rule: Rule) -> dict:
    """`index` is the entry's 1-based position in its list, `line` the file line, `seq` the IOS sequence number."""
    out = {"index": rule.position, "text": rule.text, "comment": rule.comment,
           "source": str(rule.origin) if rule.origin else None}
    if rule.origin is not None and rule.origin.line is not None:
        out["line"] = rule.origin.line
    seq = _seq(rule)
    if seq is not None:
        out["seq"] = seq
    return out


def _same_line(rule: Rule | None, line: int | None) -> bool:
    return rule is not None and line is not None and rule.origin is not None and rule.origin.line == line
