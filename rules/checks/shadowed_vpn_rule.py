"""An allow rule written for VPN traffic that earlier rules make (partly) unreachable."""

from __future__ import annotations

from collections.abc import Iterator

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Action, Decision, Rule, RuleList
from auditor.packets import ANY_ADDR, EMPTY, PROTO_NUMBERS, PacketSet, address_interval

CHECK = CheckMeta(
    id="VPN-SHADOWED-RULE",
    kind="shadowed-vpn-rule",
    severity="warning",
    title="VPN allow rule shadowed by an earlier deny",
    windows_errors=(809,),
    remediation="Move the allow rule above the deny that shadows it, or narrow the deny.",
)


def _vpn_packets(ctx: AuditContext) -> PacketSet:
    out = EMPTY
    for server in ctx.model.servers:
        for name in server.protocols:
            for flow in ctx.protocols[name].flows:
                out = out | PacketSet.flow([ANY_ADDR], [address_interval(server.address)],
                                           PROTO_NUMBERS[flow.ip_protocol], flow.dst_port)
    return out


def run(ctx: AuditContext) -> Iterator[Finding]:
    vpn = _vpn_packets(ctx)
    for net in ctx.model.networks:
        for hop, rules in net.rule_lists:
            yield from _shadowed(hop, rules, vpn, {"id": net.id, "name": net.name})


def _shadowed(hop, rules: RuleList, vpn: PacketSet, network: dict[str, str]) -> Iterator[Finding]:
    for i, rule in enumerate(rules.rules):
        if rule.action is not Action.PERMIT or not rule.certain or rule.synthetic:
            continue
        wanted = rule.match & vpn
        if not wanted:
            continue
        earlier = [r for r in rules.rules[:i] if r.position < rule.position]
        marker = Rule(rule.position, Action.PERMIT, rule.match, rule.text, rule.comment, rule.origin)
        segments = RuleList("shadow", earlier, marker).evaluate(wanted)
        denied = [s for s in segments if s.decision is Decision.DENY]
        if not denied:
            continue
        reached = any(s.rule is marker for s in segments)
        shadow = denied[0].rule
        assert shadow is not None
        extent = "partly" if reached else "entirely"
        title = (f"{hop.device} ({hop.stage}): rule {rule.position} ({rule.text}) allows VPN traffic but is "
                 f"{extent} shadowed by rule {shadow.position} ({shadow.text})")
        yield Finding(CHECK, title,
                      f"Move rule {rule.position} above rule {shadow.position}, or narrow rule {shadow.position} "
                      "so it no longer matches the VPN flows.",
                      network, None, hop.device,
                      {"rule": {"index": rule.position, "text": rule.text, "comment": rule.comment,
                                "source": str(rule.origin) if rule.origin else None},
                       "shadowed_by": [{"index": s.rule.position, "text": s.rule.text, "comment": s.rule.comment,
                                        "sources": s.packets.describe_sources()}
                                       for s in denied if s.rule is not None],
                       "extent": extent})
