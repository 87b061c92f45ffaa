"""Text and JSON views of a `DiffResult` (`vpn-auditor diff`)."""

from __future__ import annotations

import json

from auditor.diff import DiffResult, VerdictChange
from auditor.untrusted import markup as escape
from auditor.vocab import Verdict

# keyed by verdict text: a diff's verdicts are read back from the two reports
STYLE: dict[str | None, str] = {Verdict.ALLOWED: "green", Verdict.BLOCKED: "bold red", Verdict.PARTIAL: "yellow",
                                 Verdict.UNKNOWN: "magenta", None: "dim"}


def render_json(result: DiffResult) -> str:
    return json.dumps(result.to_json(), indent=2) + "\n"


def _role_label(change: VerdictChange) -> str:
    role = change.role
    label = f"{role['kind']} '{role['name']}'"
    if role.get("ssid") and role["kind"] != "ssid":
        label += f" on '{role['ssid']}'"
    network = (change.network or {}).get("name", "-")
    return escape(f"{network} / {label} ({change.phase})")


def _verdict(value: str | None) -> str:
    return f"[{STYLE[value]}]{value or 'absent'}[/]"


def _decided(where: dict | None) -> str:
    if where is None:
        return "passes every hop"
    text = f"{where['device']} [{where['stage']}]:"
    rule = where.get("rule")
    if rule:
        label = rule.get("label") or ("default rule" if rule.get("default") else f"rule {rule['index']}")
        comment = f' "{rule["comment"]}"' if rule.get("comment") else ""
        text += f" {label}: {rule['text']}{comment}"
    elif where.get("reason"):
        text += f" {where['reason']}"
    return escape(text)


def text_lines(result: DiffResult) -> list[str]:
    """Lines with rich markup: one block per (path, flow, verdict change), protocols that share it merged; the
    first line counts exactly the blocks listed below it."""
    groups = result.flow_changes()
    regressions = sum(group[0].regression for group in groups)
    protocols = f" ({len(result.changes)} protocol verdicts)" if len(result.changes) != len(groups) else ""
    n = len(result.findings)
    findings = f", {n} device finding{'' if n == 1 else 's'} new or resolved" if n else ""
    lines = [f"[bold]{escape(result.old)} -> {escape(result.new)}[/]: {len(groups)} flow verdicts changed"
             f"{protocols}, {regressions} from allowed to worse{findings}; {len(result.changed_files)} files differ"]
    if result.audited_networks is not None:
        lines.append(f"  audited {len(result.audited_networks)} networks whose files differ; the others are "
                     "unchanged by construction")
    lines.extend(f"  note: {escape(note)}" for note in result.notes)
    if not groups:
        lines.append("[green]No verdict changed.[/]")
    for changes in groups:
        first = changes[0]
        names = ", ".join(c.protocol for c in changes)
        marker = "[bold red]REGRESSION[/] " if first.regression else ""
        lines.append("")
        lines.append(f"{marker}[bold]{_role_label(first)}[/] -> {escape(first.server)} {escape(first.flow)} "
                     f"({escape(names)}): {_verdict(first.old)} -> {_verdict(first.new)}")
        if first.old is not None:
            lines.append(f"    was: {_decided(first.decided_old)}")
        if first.new is not None:
            lines.append(f"    now: {_decided(first.decided_new)}")
        for cause in first.causes:
            where = f" ({cause.file})" if cause.file else ""
            star = "*" if cause.deciding else "-"
            lines.append(escape(f"    {star} {cause.kind} at {cause.device} [{cause.stage}]: {cause.detail}{where}"))
    for change in result.findings:
        f = change.finding
        lines.append("")
        lines.append(escape(f"{change.status.upper()} finding {f['id']} ({f['severity']}) on {f.get('device') or '-'}: "
                            f"{f['title']}"))
        for cause in change.causes:
            lines.append(escape(f"    * {cause.kind} at {cause.device}: {cause.detail}"))
    return lines
