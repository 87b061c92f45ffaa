"""Helpers shared by the path checks (not a check itself: it defines no CHECK)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import Hop, Role, Segment, VpnServer
from auditor.packets import format_address_interval
from auditor.trace import PathResult

_GROUPS: dict[int, tuple[list, dict]] = {}


def grouped(ctx: AuditContext) -> dict[tuple[Role, VpnServer, str], list[PathResult]]:
    """Paths per (role, server, protocol): a protocol fails when any of its flows fails. Computed once per
    audit and shared by the path checks."""
    cached = _GROUPS.get(id(ctx))
    if cached is not None and cached[0] is ctx.paths:
        return cached[1]
    groups: dict[tuple[Role, VpnServer, str], list[PathResult]] = defaultdict(list)
    for path in ctx.paths:
        groups[(path.role, path.server, path.protocol)].append(path)
    _GROUPS.clear()
    _GROUPS[id(ctx)] = (ctx.paths, groups)
    return groups


def client_side(role: Role, hop: Hop) -> bool:
    """Whether a hop is one of the role's own (Wi-Fi, MX) hops rather than a server-side device's, which
    every role crosses and which is reported once for all of them (server_side_blocked)."""
    return any(hop is h for variant in role.variants for h in variant.hops)


def first_block(path: PathResult) -> tuple[Hop, Segment]:
    return path.trace.blocked[0]


def network_of(role: Role) -> dict[str, str] | None:
    if role.network_id is None:
        return None
    return {"id": role.network_id, "name": role.network_name or role.network_id}


def rule_evidence(hop: Hop, seg: Segment) -> dict[str, Any]:
    rule = seg.rule
    out: dict[str, Any] = {"device": hop.device, "stage": hop.stage, "decision": seg.decision.value}
    if rule is not None:
        out["rule"] = {"index": rule.position, "text": rule.text, "comment": rule.comment,
                       "source": str(rule.origin) if rule.origin else None, "default": rule.synthetic}
        if getattr(rule, "assumed", ""):  # decided only by an audit.yaml assumption (AssumedRule)
            out["assumed"] = rule.assumed  # type: ignore[attr-defined]
    if seg.reason:
        out["reason"] = seg.reason
    out["sources"] = seg.packets.describe_sources()
    return out


def role_label(role: Role) -> str:
    label = f"{role.kind} '{role.name}'"
    if role.ssid and role.kind != "ssid":
        label += f" on SSID '{role.ssid}'"
    if role.network_name:
        label = f"{role.network_name}: {label}"
    if role.phase == "pre-auth":
        label += " before splash sign-on"
    return label


def fix_for(hop: Hop, seg: Segment, flows: list[str], server: VpnServer) -> str:
    remedy = getattr(hop, "remedy", None)  # a hop that knows what to change better than "allow the flow"
    if remedy is not None and (text := remedy(seg, flows)):
        return str(text)
    rule = seg.rule
    ports = ",".join(sorted({f.split("/")[1] for f in flows if "/" in f}, key=int))
    protos = "/".join(sorted({f.split("/")[0] for f in flows}))
    # The address as this hop sees it: behind a NAT (ASA 8.3+ ACLs, load balancers) it is the real one.
    seen = seg.packets.destinations()
    target = format_address_interval(seen[0]) if len(seen) == 1 else server.address
    want = f"allow {protos} to {target} port {ports}" if ports else f"allow {protos} to {target}"
    if rule is None:
        return f"At {hop.device} ({hop.stage}): {want}."
    if hop.stage == "splash":
        return (f"At {hop.device}: add {server.address}/32 to the walled garden, or set "
                "blockAllTrafficBeforeSignOn to false, or tell users to sign on before connecting the VPN.")
    if rule.synthetic:
        return f"At {hop.device} ({hop.stage}): the default rule ({rule.text}) denies it; add an {want} rule."
    where = f" in {rule.origin}" if rule.origin else ""
    comment = f' "{rule.comment}"' if rule.comment else ""
    return (f"At {hop.device} ({hop.stage}), rule {rule.position} ({rule.text}){comment}{where} denies it: "
            f"insert an {want} "
            f"above rule {rule.position}, or narrow rule {rule.position} so it does not match.")


def make(check: CheckMeta, role: Role, server: VpnServer, protocol: str, title: str, remediation: str,
         evidence: dict[str, Any], windows_errors: tuple[int, ...] | None = None) -> Finding:
    evidence = {"server": server.name, "protocol": protocol, "phase": role.phase, **evidence}
    return Finding(check, title, remediation, network_of(role), role.describe(), None, evidence,
                   windows_errors=windows_errors)
