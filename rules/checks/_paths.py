"""Helpers shared by the path checks (not a check itself: it defines no CHECK)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from auditor.checks import AuditContext, CheckMeta, Finding
from auditor.model import AssumedRule, Hop, Role, Rule, Segment, VpnServer
from auditor.packets import format_address_interval
from auditor.trace import PathResult
from auditor.vocab import Verdict
from auditor.wording import place

Groups = dict[tuple[Role, VpnServer, str], list[PathResult]]
_GROUPS: dict[int, tuple[list, Groups | None, Groups]] = {}
_ALLOWED = Verdict.ALLOWED  # read once: an enum member lookup costs several attribute reads (every path)
_VERDICT = attrgetter("trace.verdict")


def grouped(ctx: AuditContext) -> Groups:
    """Paths per (role, server, protocol): a protocol fails when any of its flows fails. Computed once per
    audit and shared by the path checks. Inner flows (UDP 1701 inside IPsec) are left out: they fail only
    with a carrier, whose own path names the rule to change, and no middle box can be told to open them."""
    groups = _grouped(ctx, True)[0]
    assert groups is not None
    return groups


def failing_groups(ctx: AuditContext) -> Groups:
    """The groups of `grouped` with a path that is not allowed, in the same order: the only ones the blocked,
    partial, unknown and pre-auth checks look into (in most networks, none)."""
    return _grouped(ctx, False)[1]


def _grouped(ctx: AuditContext, whole: bool) -> tuple[Groups | None, Groups]:
    """(`grouped`, `failing_groups`); the first is None until asked for when every path is allowed (then
    nothing fails, which the verdicts say in C: most networks)."""
    cached = _GROUPS.get(id(ctx))
    if cached is not None and cached[0] is ctx.paths and (cached[1] is not None or not whole):
        return cached[1], cached[2]
    paths = ctx.paths
    if not whole and list(map(_VERDICT, paths)).count(_ALLOWED) == len(paths):
        _GROUPS.clear()
        _GROUPS[id(ctx)] = (paths, None, {})
        return None, {}
    groups: Groups = defaultdict(list)
    failing: set[tuple[Role, VpnServer, str]] = set()
    for path in paths:
        trace = path.trace
        if not trace.carried_by:
            key = (path.role, path.server, path.protocol)
            groups[key].append(path)
            if trace.verdict != _ALLOWED:
                failing.add(key)
    failed = {key: paths for key, paths in groups.items() if key in failing} if failing else {}
    _GROUPS.clear()
    _GROUPS[id(ctx)] = (ctx.paths, groups, failed)
    return groups, failed


@dataclass(slots=True)
class Cause:
    """Failing flows of one role to one server that one thing decided (a hop and its rule, or a reason): one
    finding, whatever protocols those flows belong to (udp/500 fails IKEv2 and L2TP alike)."""

    role: Role
    server: VpnServer
    hop: Hop | None
    seg: Segment | None
    paths: list[PathResult] = field(default_factory=list)

    @property
    def protocols(self) -> list[str]:
        return list(dict.fromkeys(p.protocol for p in self.paths))

    @property
    def flows(self) -> list[str]:
        return list(dict.fromkeys(str(p.trace.flow) for p in self.paths))

    def distinct(self) -> list[PathResult]:
        """One path per flow (protocols share a flow's trace)."""
        return list({str(p.trace.flow): p for p in reversed(self.paths)}.values())[::-1]


def rule_key(rule: Rule | None) -> tuple | None:
    """A rule by what it is, not by object: rows parsed on demand are built again for each process that
    audits part of the org (auditor/parallel.py), and are the same rule."""
    return None if rule is None else (rule.origin, rule.position, rule.text, rule.synthetic)


def by_cause(items: Iterable[tuple[PathResult, Hop | None, Segment | None]]) -> list[Cause]:
    """Failing paths, each with the hop and segment that decided it, grouped per (role, server, cause), in
    the order first seen. Without a hop the path's reason is the cause."""
    causes: dict[tuple, Cause] = {}
    for path, hop, seg in items:
        if hop is None or seg is None:
            what: tuple = (None, None, path.trace.reason)
        else:
            what = (hop.device, hop.stage, rule_key(seg.rule) if seg.rule is not None else seg.reason)
        key = (path.role.key, path.server.name, what)
        cause = causes.get(key)
        if cause is None:
            cause = causes[key] = Cause(path.role, path.server, hop, seg)
        cause.paths.append(path)
    return list(causes.values())


def windows_errors_of(ctx: AuditContext, protocols: list[str], default: tuple[int, ...]) -> tuple[int, ...]:
    """The union of the protocols' Windows errors, in first-seen order (the check's own when none has any)."""
    out: dict[int, None] = {}
    for name in protocols:
        spec = ctx.protocols.get(name)
        for code in (spec.windows_errors if spec else ()) or default:
            out[code] = None
    return tuple(out) or default


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
        out["rule"] = rule_json(rule)
        if isinstance(rule, AssumedRule) and rule.assumed:  # decided only by an audit.yaml assumption
            out["assumed"] = rule.assumed
    if seg.reason:
        out["reason"] = seg.reason
    out["sources"] = seg.packets.describe_sources()
    return out


def rule_json(rule: Rule) -> dict[str, Any]:
    """A rule in evidence: `index` is its 1-based position (what reports call "rule 3"); `file_index` the
    0-based entry of the file's JSON list and `line` the config file's line, where the origin has them."""
    out: dict[str, Any] = {"index": rule.position, "text": rule.text, "comment": rule.comment,
                           "source": str(rule.origin) if rule.origin else None, "default": rule.synthetic,
                           "label": rule.label}
    if rule.origin is not None and rule.origin.index is not None:
        out["file_index"] = rule.origin.index
    if rule.origin is not None and rule.origin.line is not None:
        out["line"] = rule.origin.line
    return out


def headline(ctx: AuditContext, protocols: list[str], server: VpnServer) -> str:
    """'IKEv2, L2TP/IPsec' (and ' to corp-vpn' when the audit has more than one server)."""
    text = ", ".join(ctx.protocols[p].title if p in ctx.protocols else p for p in protocols)
    return text + (f" to {server.name}" if len(ctx.model.servers) > 1 else "")


def at(hop: Hop, seg: Segment | None, role: Role | None = None) -> str:
    return place(hop, seg.rule if seg is not None else None, role)


def allow_text(flows: list[str], target: str) -> str:
    """'allow udp port 500,4500 and esp to 198.51.100.10': ports per IP protocol, portless flows by name."""
    ports: dict[str, list[int]] = {}
    for flow in flows:
        proto, _, port = flow.partition("/")
        ports.setdefault(proto, [])
        if port.isdigit() and int(port) not in ports[proto]:
            ports[proto].append(int(port))
    parts = [f"{proto} port {','.join(map(str, sorted(p)))}" if p else proto for proto, p in ports.items()]
    return f"allow {' and '.join(parts)} to {target}"


def fix_for(hop: Hop, seg: Segment, flows: list[str], server: VpnServer) -> str:
    remedy = getattr(hop, "remedy", None)  # a hop that knows what to change better than "allow the flow"
    if remedy is not None and (text := remedy(seg, flows)):
        return str(text)
    rule = seg.rule
    # The address as this hop sees it: behind a NAT (ASA 8.3+ ACLs, load balancers) it is the real one.
    seen = seg.packets.destinations()
    target = format_address_interval(seen[0]) if len(seen) == 1 else server.address
    want = allow_text(flows, target)
    if rule is None:
        return f"At {hop.device} ({hop.stage}): {want}."
    if hop.stage == "splash":
        return (f"At {hop.device}: add {server.address}/32 to the walled garden, or set "
                "blockAllTrafficBeforeSignOn to false, or tell users to sign on before connecting the VPN.")
    if rule.synthetic:
        return f"At {hop.device} ({hop.stage}): the default rule ({rule.text}) denies it; add an {want} rule."
    line = rule.origin.line if rule.origin else None
    short = f"line {line}" if line is not None else f"rule {rule.position}"
    where = f" in {rule.origin.path}" if rule.origin and line is None else ""
    comment = f' "{rule.comment}"' if rule.comment else ""
    return (f"At {hop.device} ({hop.stage}), {rule.label} ({rule.text}){comment}{where} denies it: insert an "
            f"{want} above {short}, or narrow {short} so it does not match.")


def make(check: CheckMeta, role: Role, server: VpnServer, protocols: str | list[str], title: str, remediation: str,
         evidence: dict[str, Any], windows_errors: tuple[int, ...] | None = None) -> Finding:
    """A role's finding. `evidence.protocol` is the first protocol concerned (the contract's field) and
    `evidence.protocols` all of them."""
    names = [protocols] if isinstance(protocols, str) else list(protocols)
    evidence = {"server": server.name, "protocol": names[0], "protocols": names, "phase": role.phase, **evidence}
    return Finding(check, title, remediation, network_of(role), role.describe(), None, evidence,
                   windows_errors=windows_errors)
