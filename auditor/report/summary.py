"""What every report format states, computed once: the counts, the failing rows (one per network, role,
phase and server, with a verdict per protocol and where each failing flow stops), the roles that pass, and the
findings in report order. Formats differ in layout only, so their numbers agree by construction.

Counting words, the same in every format:
- a *path* is one flow of one protocol from one role (and phase) to one server (JSON `paths`);
- a *failing role* is a (network, role, phase, server) with a path that is not allowed;
- a *failing protocol* is a (network, role, phase, server, protocol) with a path that is not allowed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import attrgetter, ne
from typing import Any

from auditor.audit import AuditResult
from auditor.checks import Finding
from auditor.model import Decision, Hop, Role, Rule, Segment
from auditor.trace import FlowTrace, PathResult
from auditor.vocab import SEVERITY_REPORT_ORDER, VERDICT_REPORT_ORDER, Severity, Verdict
from auditor.wording import place


def rule_ref(rule: Rule) -> str:
    """A rule named one way for people: 'rule 2 of FILE', 'line 28 of FILE' or 'default rule of FILE'. The
    0-based index of a JSON list (the `[1]` of `str(origin)`) stays in JSON, never beside 'rule 2'."""
    label = rule.label
    if rule.origin is None or rule.origin.line is not None:
        return label
    return f"{label} of {rule.origin.path}"


def decider(trace: FlowTrace) -> tuple[Hop, Segment] | None:
    """The hop and segment that stopped a failing flow (its first block), or left it undecided."""
    if trace.blocked:
        return trace.blocked[0]
    if trace.unknown:
        return trace.unknown[0]
    return None


def where(trace: FlowTrace, role: Role | None = None) -> str:
    """Where a failing flow stops, shortly: 'MX mx-l3 rule 2 "comment"', or why it cannot be decided."""
    found = decider(trace)
    if found is None:
        return trace.reason
    hop, seg = found
    rule = seg.rule
    if rule is not None:
        may = " may match" if seg.decision is Decision.UNKNOWN else ""
        comment = f' "{rule.comment}"' if rule.comment else f": {rule.text}"
        return f"{place(hop, rule, role)}{may}{comment}"
    return f"{place(hop, None, role)}: {seg.reason}" if seg.reason else place(hop, None, role)


def role_text(role: Role) -> str:
    """'Contractors (group_policy) on Store-Staff, before sign-on'."""
    label = f"{role.name} ({role.kind})"
    if role.ssid and role.kind != "ssid":
        label += f" on {role.ssid}"
    if role.phase == "pre-auth":
        label += ", before sign-on"
    return label


@dataclass(slots=True)
class FailingRow:
    """One (network, role, phase, server) with a path that is not allowed."""

    role: Role
    server: str
    verdicts: dict[str, Verdict]  # protocol -> worst verdict of its flows (every protocol the role has)
    causes: list[tuple[str, list[str]]]  # (where, flows) per distinct place the failing flows stop
    findings: list[int] = field(default_factory=list)  # 1-based numbers in `ordered_findings`

    @property
    def failing_protocols(self) -> list[str]:
        return [p for p, v in self.verdicts.items() if v != Verdict.ALLOWED]

    @property
    def worst(self) -> Verdict:
        return Verdict.worst(self.verdicts.values())


_ROLE, _VERDICT = attrgetter("role"), attrgetter("trace.verdict")


def groups(paths: list[PathResult]) -> dict[tuple[Role, str], dict[str, list[PathResult]]]:
    """Paths per (role, server), then per protocol, in audit order."""
    out: dict[tuple[Role, str], dict[str, list[PathResult]]] = {}
    for path in paths:
        out.setdefault((path.role, path.server.name), {}).setdefault(path.protocol, []).append(path)
    return out


def failing_rows(result: AuditResult, read: list[Verdict] | None = None) -> list[FailingRow]:
    """`read`: each path's verdict, in order, when the caller has read them (`counts`)."""
    # Only the paths of roles with a path that is not allowed are grouped: in a large org most roles pass,
    # and grouping a million paths costs more than the rows. Their groups keep audit order. Each pass over the
    # paths is made in C: a million paths and their traces are read from all over memory.
    paths = result.paths
    if read is None:
        read = list(map(_VERDICT, paths))
    failing = {(p.role, p.server.name) for p in compress(paths, map(ne, read, repeat(Verdict.ALLOWED)))}
    if not failing:
        return []
    roles = {role for role, _server in failing}
    rows = []
    for (role, server), protocols in groups([p for p in compress(paths, map(roles.__contains__, map(_ROLE, paths)))
                                             if (p.role, p.server.name) in failing]).items():
        verdicts = {name: Verdict.worst(p.verdict for p in paths) for name, paths in protocols.items()}
        if all(v == Verdict.ALLOWED for v in verdicts.values()):
            continue
        causes: dict[str, list[str]] = {}
        for paths in protocols.values():
            for path in paths:
                # an inner flow (UDP 1701 inside IPsec) fails with its carrier, whose own cause is listed
                if path.verdict != Verdict.ALLOWED and not path.trace.carried_by:
                    flows = causes.setdefault(where(path.trace, role), [])
                    if str(path.trace.flow) not in flows:
                        flows.append(str(path.trace.flow))
        rows.append(FailingRow(role, server, verdicts, list(causes.items())))
    _link_findings(rows, ordered_findings(result))
    return rows


def _role_id(network: dict[str, Any] | None, role: dict[str, Any] | None) -> tuple:
    return ((network or {}).get("id"), (role or {}).get("kind"), (role or {}).get("name"), (role or {}).get("ssid"))


def _link_findings(rows: list[FailingRow], findings: list[Finding]) -> None:
    """Each row's findings: those of its role, phase and server; a phase without one of its own (blocked before
    sign-on by the rule that blocks after it too) points to the other phase's."""
    exact: dict[tuple, list[int]] = {}
    any_phase: dict[tuple, list[int]] = {}
    for number, finding in enumerate(findings, 1):
        if finding.role is None:
            continue
        base = (*_role_id(finding.network, finding.role), finding.evidence.get("server"))
        exact.setdefault((*base, finding.evidence.get("phase")), []).append(number)
        any_phase.setdefault(base, []).append(number)
    for row in rows:
        role = row.role
        base = (role.network_id, role.kind, role.name, role.ssid, row.server)
        row.findings = exact.get((*base, role.phase)) or any_phase.get(base, [])


def passing_roles(result: AuditResult, rows: list[FailingRow] | None = None) -> dict[str, list[str]]:
    """Network name -> labels of the roles whose every path (to every server) is allowed. A role that fails in
    its other phase is named with the phase that passes ('Store-Guest (after sign-on)'): a line of passing
    roles never claims a role whose traffic is blocked before sign-on."""
    rows = failing_rows(result) if rows is None else rows
    failing_keys = {r.role.key for r in rows}
    failing = {(r.role.network_id, r.role.kind, r.role.name, r.role.ssid) for r in rows}
    out: dict[str, list[str]] = {}
    # each role once, in audit order, picked out in C: an org has a million paths and a hundred thousand roles
    for role in dict.fromkeys(map(_ROLE, result.paths)):
        if role.key in failing_keys:
            continue
        label = role.name
        if (role.network_id, role.kind, role.name, role.ssid) in failing:
            label += " (after sign-on)" if role.phase == "post-auth" else " (before sign-on)"
        names = out.setdefault(role.network_name or "sources (audit.yaml)", [])
        if label not in names:
            names.append(label)
    return {network: sorted(names, key=str.lower) for network, names in out.items()}


def ordered_findings(result: AuditResult) -> list[Finding]:
    """Findings in report order (severity, then check id), the order of JSON `findings`: '#3' is the third."""
    return sorted(result.findings, key=lambda f: (-Severity.rank_of(f.effective_severity), f.check.id))


def counts(result: AuditResult, rows: list[FailingRow] | None = None) -> dict[str, Any]:
    """The summary every format states: paths by verdict, failing roles and protocols, findings by severity
    (waived ones included, and counted apart: they stay in every report, marked)."""
    read = list(map(_VERDICT, result.paths))  # one pass for the rows and the counts
    rows = failing_rows(result, read) if rows is None else rows
    verdicts = Counter(read)
    severities = Counter(f.effective_severity for f in result.findings)
    return {"paths": len(result.paths), **{v: verdicts.get(v, 0) for v in VERDICT_REPORT_ORDER},
            "failing_roles": len(rows), "failing_protocols": sum(len(r.failing_protocols) for r in rows),
            "findings": {s: severities.get(s, 0) for s in SEVERITY_REPORT_ORDER},
            "waived": sum(1 for f in result.findings if f.waived is not None)}


def headline(c: dict[str, Any]) -> str:
    """The summary as one sentence, word for word the same in text, Markdown and HTML."""
    failing = c["paths"] - c[Verdict.ALLOWED]
    f = c["findings"]
    return (f"{c['failing_roles']} failing roles ({c['failing_protocols']} failing protocols); "
            f"{failing} of {c['paths']} paths not allowed: {c[Verdict.BLOCKED]} blocked, {c[Verdict.PARTIAL]} "
            f"partial, {c[Verdict.UNKNOWN]} unknown; findings: {f[Severity.ERROR]} error, {f[Severity.WARNING]} "
            f"warning, {f[Severity.INFO]} info"
            + (f" ({c['waived']} waived)" if c["waived"] else ""))

