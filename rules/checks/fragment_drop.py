"""A device in front of a VPN server drops the non-initial IP fragments of IKE traffic that its first fragment
gets past.

IKE_AUTH carries the certificates and is larger than the path MTU, so unless both ends use IKEv2
fragmentation (RFC 7383) it travels as IP fragments: IKE_SA_INIT (small, unfragmented) gets through, IKE_AUTH
never arrives, and the client gives up. The adapters say where fragments fare otherwise than their first
fragment (`Device.fragment_views`: Cisco IOS ACLs, the ASA's fragment chain); this check feeds each such place
what the traced IKE flows bring to it and reports what the fragments lose there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Decision, FragmentView, Hop, Rule, VpnServer
from auditor.packets import EMPTY, PROTO_NAMES, PacketSet, format_address_interval
from auditor.trace import PathResult
from auditor.vocab import Severity
from rules.checks._devices import in_front
from rules.checks._windows import IKE_FLOWS, device_tags, protocols_over

CHECK = CheckMeta(
    id="IKE-FRAGMENT-DROP",
    kind="fragment-drop",
    severity=Severity.WARNING,
    title="Non-initial fragments of IKE are dropped in front of the VPN server",
    windows_errors=(809, 13801),  # 13801 where IKEv2 is affected (rules/checks/_windows.py)
    remediation="Let the fragments of UDP 500/4500 to the VPN server through, or enable IKEv2 fragmentation "
                "(RFC 7383) on the VPN server.",
)

IKE_PORTS = frozenset({500, 4500})  # IKE and IKE over NAT-T: IKE_AUTH takes the latter behind NAT

SERVER_SIDE = (
    "Or keep IKE from being IP-fragmented: with IKEv2 fragmentation (RFC 7383) on both ends, IKE splits IKE_AUTH "
    "itself. Windows 10 clients support it from version 1803; on a Windows RRAS server (Windows Server 1803 and "
    r"later) set the DWORD EnableServerFragmentation = 1 under HKLM\SYSTEM\CurrentControlSet\Services\RemoteAccess"
    r"\Parameters\Ikev2 and restart the RemoteAccess service."
)


def run(ctx: AuditContext) -> Iterator[Finding]:
    found: dict[tuple, dict[str, Any]] = {}
    for server in ctx.model.servers:
        views = [(device.name, view) for device in in_front(ctx.model, server)
                 for view in device.fragment_views(server)]
        if not views:
            continue
        reached = _reached(ctx.paths, server, {id(view.hop) for _name, view in views})
        for name, view in views:
            packets = reached.get(id(view.hop))
            if packets:
                for rule, dropped, certain, reason in _drops(view, packets):
                    key = (name, view.fragments.stage, rule.origin, rule.position, rule.text)
                    entry = found.setdefault(key, {"device": name, "view": view, "rule": rule, "servers": {},
                                                   "certain": certain, "reasons": []})
                    entry["servers"][server.name] = entry["servers"].get(server.name, EMPTY) | dropped
                    entry["certain"] = entry["certain"] and certain
                    if reason and reason not in entry["reasons"]:
                        entry["reasons"].append(reason)
    for entry in found.values():
        yield _finding(ctx, entry)


def _reached(paths: list[PathResult], server: VpnServer, wanted: set[int]) -> dict[int, PacketSet]:
    """What the traced IKE flows to `server` bring to each wanted hop: the role's packets as they arrive there
    (after the client side's NAT), whichever role they come from."""
    pieces: dict[int, dict[tuple, list[tuple[int, int]]]] = {}
    seen: set[int] = set()
    for path in paths:
        flow = path.trace.flow
        if path.server is not server or flow.ip_protocol != "udp" or flow.dst_port not in IKE_PORTS:
            continue
        for trace in path.trace.variants or (path.trace,):
            for record in trace.hops:
                if id(record.hop) not in wanted or id(record) in seen:
                    continue
                seen.add(id(record))  # traces share the records of hops they reach with the same packets
                tails = pieces.setdefault(id(record.hop), {})
                for seg in record.segments:
                    for box in seg.packets:
                        tails.setdefault(box[1:], []).append(box[0])
    out: dict[int, PacketSet] = {}
    for hop_id, tails in pieces.items():
        total = EMPTY  # one set per destination and service, all its sources at once: roles are many
        for (dst, proto, sport, dport), sources in tails.items():
            total = total | PacketSet.of(sources, [dst], [proto], [sport], [dport])
        out[hop_id] = total
    return out


def _drops(view: FragmentView, packets: PacketSet) -> Iterator[tuple[Rule, PacketSet, bool, str]]:
    """(rule, packets whose fragments it drops, certainly?, why uncertain) where the fragments lose what the
    first fragment keeps: a drop of packets the hop does not drop, or an undecidable line over packets the hop
    certainly lets through."""
    denied, passed = EMPTY, EMPTY
    for seg in view.hop.apply(packets):
        if seg.decision is Decision.DENY:
            denied = denied | seg.packets
        elif seg.decision in (Decision.PERMIT, Decision.TRANSLATE):
            passed = passed | seg.packets
    for seg in view.fragments.apply(packets):
        rule = seg.rule
        if rule is None or rule.synthetic:
            continue
        if seg.decision is Decision.DENY:
            lost = seg.packets - denied if denied else seg.packets
            if lost:
                yield rule, lost, True, ""
        elif seg.decision is Decision.UNKNOWN:
            lost = seg.packets & passed
            if lost:
                yield rule, lost, False, seg.reason


def _finding(ctx: AuditContext, entry: dict[str, Any]) -> Finding:
    view: FragmentView = entry["view"]
    rule: Rule = entry["rule"]
    hop: Hop = view.fragments
    servers: dict[str, PacketSet] = entry["servers"]
    every = EMPTY
    for packets in servers.values():
        every = every | packets
    flows = sorted({_flow(box) for box in every}, key=lambda f: (len(f), f))  # udp/500 before udp/4500
    where = str(rule.origin) if rule.origin else hop.device
    verb = "drops" if entry["certain"] else "may drop"
    names = ", ".join(f"'{name}'" for name in sorted(servers))
    title = (f"{entry['device']} ({hop.stage}): {where} ({rule.text}) {verb} the non-initial fragments of IKE "
             f"({', '.join(flows)}) to {names}, which the first fragment gets past: IKE_AUTH with certificates "
             "is fragmented and never arrives")
    evidence: dict[str, Any] = {
        "servers": sorted(servers), "stage": hop.stage, "flows": flows, "certain": entry["certain"],
        "rule": {"index": rule.position, "text": rule.text, "comment": rule.comment,
                 "source": str(rule.origin) if rule.origin else None},
        "destinations": sorted({format_address_interval(box[1]) for box in every}),
        "sources": every.describe_sources(),
    }
    if entry["reasons"]:
        evidence["reasons"] = entry["reasons"]
    affected = [s for s in ctx.model.servers if s.name in servers]
    protocols = protocols_over(ctx, affected, IKE_FLOWS)
    if protocols:
        evidence["protocols"] = protocols
    return Finding(CHECK, title, f"{view.fix(rule, every)} {SERVER_SIDE}", None, None, entry["device"], evidence,
                   windows_errors=device_tags(CHECK.windows_errors, protocols, affected))


def _flow(box: tuple) -> str:
    proto, dport = box[2], box[4]
    name = PROTO_NAMES.get(proto[0], str(proto[0])) if proto[0] == proto[1] else "ip"
    return f"{name}/{dport[0]}" if dport[0] == dport[1] else name
