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
    # The trace has usually evaluated these flows already (for any source), so this mostly reads the list's cache.
    if not any(seg.decision is Decision.DENY and seg.rule is not None for flow in flows
               for seg in rules.evaluate(flow)):
        return  # no rule denies a VPN flow here, so none can shadow an allow (the usual case)
    # Flow by flow, in the order the allows first meet a VPN flow: the deny segments before each allow.
    reported: dict[int, tuple[Rule, list[Segment], bool]] = {}
    for flow in flows:
        for shadow in rules.shadowed([flow]):
            rule = shadow.rule
            denied = [seg for seg in shadow.earlier(Decision.DENY)
                      if seg.rule is not None and seg.rule.position < rule.position]
            entry = reported.setdefault(id(rule), (rule, [], False))
            reported[id(rule)] = (rule, entry[1] + denied, entry[2] or shadow.reached)
    for rule, denied, reached in reported.values():
        if denied:
            yield _finding(hop, rule, denied, reached, network)


def _finding(hop: Hop, rule: Rule, denied: list[Segment], reached: bool, network: dict[str, str]) -> Finding:
    """An allow whose VPN packets earlier denies take (`denied`, flow by flow), some of them or all."""
    shadow = denied[0].rule
    assert shadow is not None
    extent = "partly" if reached else "entirely"
    by_rule: dict[int, Segment] = {}  # by position: the first flow's part of each shadowing rule
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
    return Finding(CHECK, title, fix, network, None, hop.device,
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
