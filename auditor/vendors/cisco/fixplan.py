"""Cisco ASA / IOS fix plans: the access-list entries that let a blocked VPN flow through an interface ACL.

The permit goes directly above the deciding deny (ASA `access-list NAME line N`; IOS a sequence number between
the deny's and the entry before it), or at the end of the list when the implicit deny decided. It names the
address the ACL sees: on ASA 8.3+ the real (untranslated) server address, on IOS the address on the wire at
that interface; both are the destination of the denied packets in the trace. The same entries are inserted
into the configuration text of the snapshot for the re-audit.
"""

from __future__ import annotations

import re
from typing import Any

from auditor.checks import Finding
from auditor.fixplan import Blocked, Change, PlanContext
from auditor.model import Action, Rule
from auditor.packets import format_address_interval
from auditor.vendors.cisco.adapter import CiscoDevice

_SEQ = re.compile(r"^\s*(\d+)\s+(permit|deny|remark)\b")
Edit = tuple[int, list[str]]  # insert these lines before this 1-based line of the original file


def _destination(blocked: Blocked) -> str:
    intervals = blocked.segment.packets.destinations()
    if len(intervals) == 1 and intervals[0][0] == intervals[0][1]:
        return f"host {format_address_interval(intervals[0])}"
    return "any"  # several destinations: the entry is still limited to the VPN ports


def _aces(blocked: Blocked) -> list[str]:
    dst = _destination(blocked)
    out = []
    for flow in blocked.flows:
        proto, _, port = flow.partition("/")
        out.append(f"permit {proto} any {dst}" + (f" eq {port}" if port else ""))
    return out


class CiscoPlanner:
    def plan_finding(self, ctx: PlanContext, finding: Finding) -> list[Change] | None:
        return None  # nat-missing and the like: the finding's remediation names the NAT statement

    def plan_hop(self, ctx: PlanContext, blocked: Blocked) -> list[Change] | None:
        device = ctx.device(blocked.hop.device)
        rule = blocked.segment.rule
        if not isinstance(device, CiscoDevice) or not blocked.hop.stage.startswith("acl-"):
            return None
        if rule is None or rule.action is not Action.DENY:
            return None
        acl = _acl_name(device, rule, blocked.hop.stage)
        if acl is None:
            return None
        cfg = device.config
        rel = cfg.path
        original = ctx.base_text(rel).splitlines()
        done: set[str] = ctx.workspace.state.setdefault(("cisco-aces", rel, acl, rule.origin), set())
        aces = [ace for ace in _aces(blocked) if ace not in done]
        if not aces:
            return [ctx.change(f"{device.name} access-list {acl}", vendor=f"cisco-{cfg.platform}",
                               device=f"{device.name} access-list {acl}", file=rel)]
        done.update(aces)
        state = ctx.workspace.state
        if cfg.platform == "asa":
            commands, edit = _asa(original, acl, rule, aces, state, ctx.round)
        else:
            commands, edit = _ios(original, acl, rule, aces, device, state)
        _apply(ctx, rel, edit)
        where = "at the end of the list" if rule.synthetic else f"above line {rule.position} ({rule.text})"
        change = ctx.change(f"{device.name} access-list {acl}", vendor=f"cisco-{cfg.platform}",
                            device=f"{device.name} access-list {acl}", file=rel)
        if commands and commands[0].startswith("ip access-list extended ") and commands[0] in change.lines:
            commands = commands[1:]  # already in configuration mode for this list
        change.summaries.append(f"permit {', '.join(blocked.flows)} to {_destination(blocked)} in access-list "
                                f"{acl} {where} (for {blocked.server.name})")
        change.lines.extend(commands)
        return [change]


def _acl_name(device: Any, rule: Rule, stage: str) -> str | None:
    if rule.origin is not None and rule.origin.line is not None and not rule.synthetic:
        for name, acl in device.config.acls.items():
            if any(r.origin is not None and r.origin.line == rule.origin.line for r in acl.rules):
                return name
    found = re.match(r"acl-(?:in|out) (\S+)", stage)
    if found and found.group(1) in device.config.acls:
        return found.group(1)
    return None


def _apply(ctx: PlanContext, rel: str, edit: Edit) -> None:
    """Insert lines into the working text before a line of the round's base text, after what earlier edits of
    the round put there."""
    inserted: dict[int, int] = ctx.workspace.state.setdefault(("cisco-inserted", rel, ctx.round), {})
    line, new = edit
    text = ctx.workspace.text(rel).splitlines()
    at = line - 1 + sum(n for where, n in inserted.items() if where <= line)
    text[at:at] = new
    inserted[line] = inserted.get(line, 0) + len(new)
    ctx.workspace.set_text(rel, "\n".join(text) + "\n")


def _asa(original: list[str], acl: str, rule: Rule, aces: list[str], state: dict,
         round_number: int) -> tuple[list[str], Edit]:
    prefix = f"access-list {acl} "
    entries = [f"access-list {acl} extended {ace}" for ace in aces]
    if rule.synthetic or rule.origin is None or rule.origin.line is None:
        last = max((i + 1 for i, line in enumerate(original) if line.startswith(prefix)), default=len(original))
        return entries, (last + 1, entries)
    # ASA numbers every line of an access-list, remarks included; earlier edits above this deny moved it down.
    key = ("asa-above", acl, rule.origin.line, round_number)
    before = state.setdefault(key, 0)
    number = sum(1 for line in original[:rule.origin.line] if line.startswith(prefix)) + before
    state[key] = before + len(aces)
    commands = [f"access-list {acl} line {number + i} extended {ace}" for i, ace in enumerate(aces)]
    return commands, (rule.origin.line, entries)


def _ios(original: list[str], acl: str, rule: Rule, aces: list[str], device: Any,
         state: dict) -> tuple[list[str], Edit]:
    numbered = acl.isdigit()
    header = f"ip access-list extended {acl}"
    definition = device.config.acls[acl]
    entries = [f"access-list {acl} {ace}" for ace in aces] if numbered else [f" {ace}" for ace in aces]
    if rule.synthetic or rule.origin is None or rule.origin.line is None:
        if numbered:
            last = max((i + 1 for i, line in enumerate(original) if line.startswith(f"access-list {acl} ")),
                       default=len(original))
            return entries, (last + 1, entries)
        end = definition.line
        while end < len(original) and original[end].startswith(" "):
            end += 1
        return [header, *entries], (end + 1, entries)
    # Sequence numbers: explicit ones from the text, else IOS's default 10, 20, ...
    lines = [r.origin.line for r in definition.rules if r.origin is not None and r.origin.line is not None]
    lines = sorted(set(lines))
    ordinal = lines.index(rule.origin.line) + 1 if rule.origin.line in lines else 1

    def seq(line: int, nth: int) -> int:
        found = _SEQ.match(original[line - 1])
        return int(found.group(1)) if found else nth * 10

    deny_seq = seq(rule.origin.line, ordinal)
    previous = seq(lines[ordinal - 2], ordinal - 1) if ordinal > 1 else 0
    used: set[int] = state.setdefault(("ios-seq", acl), set())
    free = [n for n in range(previous + 1, deny_seq) if n not in used]
    commands = [header]
    if len(free) < len(aces):
        commands.insert(0, f"ip access-list resequence {acl} 100 100")
        deny_seq, previous = ordinal * 100, (ordinal - 1) * 100
        free = [n for n in range(previous + 1, deny_seq) if n not in used]
    picks = free[:len(aces)]  # lowest free numbers: entries keep the order they are written in
    used.update(picks)
    commands += [f" {n} {ace}" for n, ace in zip(picks, aces, strict=True)]
    if not numbered:
        entries = [f" {n} {ace}" for n, ace in zip(picks, aces, strict=True)]
    return commands, (rule.origin.line, entries)
