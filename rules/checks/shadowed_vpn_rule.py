"""An allow rule written for VPN traffic that earlier rules make (partly) unreachable."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Action, Decision, Hop, Rule, RuleList, Segment
from auditor.packets import PacketSet
from auditor.vocab import Severity

CHECK = CheckMeta(
    id="VPN-SHADOWED-RULE",
    kind="shadowed-vpn-rule",
    severity=Severity.WARNING,
    title="VPN allow rule shadowed by an earlier deny",
    windows_errors=(809,),
    remediation="Insert an allow for exactly the VPN flows above the deny, or narrow the deny, if it is not meant "
                "for those clients.",
    scope="network",
)

_DENY_ACTION = Action.DENY  # read once: an enum member lookup is slow on Python 3.11


def run(ctx: AuditContext) -> Iterator[Finding]:
    flows = list(ctx.vpn_flows())
    for net in ctx.model.networks:
        for hop, rules in net.rule_lists:
            yield from _shadowed(hop, rules, flows, {"id": net.id, "name": net.name})


def _shadowed(hop: Hop, rules: RuleList, flows: list[PacketSet], network: dict[str, str]) -> Iterator[Finding]:
    # Only a certain deny rule written by the admin can shadow an allow after it (a default rule comes last):
    # with none among any flow's candidates, which the trace has already found, there is nothing to evaluate.
    if not any(rule.action is _DENY_ACTION and rule.certain and not rule.synthetic
               for flow in flows for rule in rules.relevant(flow)):
        return
    # First match is decided packet by packet, so one evaluation of each flow through the whole list says,
    # for every allow rule, which of its VPN packets an earlier rule takes (the deny segments before it) and
    # whether any reach it (a segment decided by the rule itself). The trace has usually evaluated these
    # flows already (for any source), so this mostly reads the list's cache.
    evaluated = [(flow, rules.evaluate(flow)) for flow in flows]
    if not any(seg.decision is Decision.DENY and seg.rule is not None for _, segments in evaluated
               for seg in segments):
        return  # no rule denies a VPN flow here, so none can shadow an allow (the usual case)
    reported: dict[int, tuple[Rule, list, bool]] = {}
    for flow, segments in evaluated:
        for rule in rules.relevant(flow):
            if rule.action is not Action.PERMIT or not rule.certain or rule.synthetic:
                continue
            wanted = rule.match & flow
            if not wanted:
                continue
            denied = [Segment(part, Decision.DENY, seg.rule, seg.reason) for seg in segments
                      if seg.decision is Decision.DENY and seg.rule is not None
                      and seg.rule.position < rule.position and (part := seg.packets & wanted)]
            reached = any(seg.rule is rule for seg in segments)
            entry = reported.setdefault(id(rule), (rule, [], False))
            reported[id(rule)] = (rule, entry[1] + denied, entry[2] or reached)
    for rule, denied, reached in reported.values():
        if not denied:
            continue
        shadow = denied[0].rule
        assert shadow is not None
        extent = "partly" if reached else "entirely"
        by_rule = {}
        for seg in denied:
            if seg.rule is not None:
                by_rule.setdefault(seg.rule.position, seg)
        sources = ", ".join(dict.fromkeys(s.packets.describe_sources() for s in by_rule.values()))
        comment = f' "{shadow.comment}"' if shadow.comment else ""
        title = (f"{hop.device} ({hop.stage}): rule {rule.position} allows VPN traffic but rule {shadow.position}"
                 f"{comment} denies {'part' if reached else 'all'} of it first")
        # Never "move the allow above the deny": that lets the deny's sources through for everything the
        # allow matches. The deny is either meant (the allow is redundant for those sources) or too wide.
        fix = (f"Rule {rule.position} ({rule.text}) is never reached for VPN traffic from {sources}: rule "
               f"{shadow.position} ({shadow.text}){comment} denies it first. If those clients must reach the VPN, "
               f"insert an allow for exactly the VPN flows above rule {shadow.position} or narrow rule "
               f"{shadow.position}; if not, nothing needs to change.")
        yield Finding(CHECK, title, fix, network, None, hop.device,
                      {"rule": _rule_json(rule),
                       "shadowed_by": [{**_rule_json(s.rule), "sources": s.packets.describe_sources()}
                                       for s in by_rule.values() if s.rule is not None],
                       "extent": extent})


def _rule_json(rule: Rule) -> dict:
    out = {"index": rule.position, "text": rule.text, "comment": rule.comment,
           "source": str(rule.origin) if rule.origin else None}
    if rule.origin is not None and rule.origin.index is not None:
        out["file_index"] = rule.origin.index
    return out
