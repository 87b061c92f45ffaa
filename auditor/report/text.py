"""The terminal report, read at a glance: the summary first; a table of the failing roles (one row per network,
role, phase and server, a column per protocol, where the failing flows stop and the findings that explain
it); one line per network naming the roles that pass; then one line per finding, numbered as in the JSON
report. Fixes are printed with `verbose` (and are in every other format)."""

from __future__ import annotations

import re
from collections import Counter
from operator import attrgetter

from rich import box
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from auditor.assumptions import header_line
from auditor.audit import AuditResult
from auditor.file_writes import write_text
from auditor.report.summary import (
    FailingRow,
    counts,
    failing_rows,
    headline,
    ordered_findings,
    passing_roles,
)
from auditor.untrusted import clean
from auditor.vocab import SEVERITY_REPORT_ORDER, Severity, Verdict
from auditor.wording import flows_text

VERDICT_STYLE = {Verdict.ALLOWED: "green", Verdict.BLOCKED: "bold red", Verdict.PARTIAL: "yellow",
                 Verdict.UNKNOWN: "magenta"}
SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_NETWORK_ID = attrgetter("role.network_id")


def header(result: AuditResult, rows: list[FailingRow]) -> list[Text]:
    servers = ", ".join(f"{s.name} {s.address}" for s in result.model.servers) or "none"
    networks = len(set(map(_NETWORK_ID, result.paths)) - {None, ""})  # in C: an org has a million paths
    # Text, never a markup string: names and comments come from configuration (see auditor/untrusted.py).
    lines = [Text(clean(f"VPN path audit of {result.snapshot}: {networks} networks, servers {servers}"),
                  style="bold"),
             Text(headline(counts(result, rows)))]
    if result.assumptions:  # the verdicts rest on these
        lines.append(Text(clean(f"Assumptions (audit.yaml assume:): {header_line(result.assumptions)}"),
                          style="bold"))
    lines.extend(Text(clean(f"Note: {note}"), style="cyan") for note in result.notes)
    return lines


def build_table(result: AuditResult, rows: list[FailingRow]) -> Table:
    servers = {row.server for row in rows}
    protocols = list(dict.fromkeys(name for row in rows for name in row.verdicts))
    table = Table(title="Failing roles", title_justify="left", title_style="bold", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)
    table.add_column("Network", no_wrap=True)
    table.add_column("Role", overflow="fold")
    if len(servers) > 1:
        table.add_column("Server", no_wrap=True)
    for protocol in protocols:
        spec = result.protocols.get(protocol)
        table.add_column(Text(clean(spec.title if spec else protocol)), no_wrap=True)
    table.add_column("Where the failing flows stop", overflow="fold", ratio=1)
    table.add_column("#", no_wrap=True)  # the findings that explain the row, numbered as below
    for row in rows:
        role = row.role
        label = f"{role.name} ({role.kind})" + (f" on {role.ssid}" if role.ssid and role.kind != "ssid" else "")
        if role.phase == "pre-auth":
            label += " before sign-on"
        cells: list[Text] = [Text(clean(role.network_name or "-")), Text(clean(label))]
        if len(servers) > 1:
            cells.append(Text(clean(row.server)))
        for protocol in protocols:
            verdict = row.verdicts.get(protocol)
            cells.append(Text(verdict, style=VERDICT_STYLE[verdict]) if verdict else Text("-"))
        cells.append(Text(clean("; ".join(f"{flows_text(flows)}: {where}" for where, flows in row.causes))))
        cells.append(Text(" ".join(f"#{n}" for n in row.findings)))
        table.add_row(*cells)
    return table


def build_passing(result: AuditResult, rows: list[FailingRow]) -> list[Text]:
    return [Text(clean(f"{network}: all protocols allowed for {len(names)} role(s): {', '.join(names)}"),
                 style="green")
            for network, names in passing_roles(result, rows).items()]


def build_findings(result: AuditResult, verbose: bool = False) -> RenderableType:
    """One line per finding under its severity, numbered as in the JSON report (`#3` is its third finding)."""
    findings = ordered_findings(result)
    if not findings:
        return Text("No findings.", style="green")
    c = Counter(f.effective_severity for f in findings)
    more = "" if verbose else " (each one's fix: --verbose, or --format json, markdown or html)"
    parts: list[RenderableType] = [Text(f"Findings: {', '.join(f'{c[s]} {s}' for s in SEVERITY_REPORT_ORDER)}{more}",
                                        style="bold")]
    table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("Id", no_wrap=True)
    table.add_column("Finding", overflow="fold")
    current = None
    for number, finding in enumerate(findings, 1):
        severity = finding.effective_severity
        if severity != current:
            current = severity
            table.add_row("", Text(severity, style=SEVERITY_STYLE[severity]), "")
        table.add_row(Text(f"#{number}"), Text(clean(finding.check.id), style=SEVERITY_STYLE[severity]),
                      Text(clean(finding.title)))
        if finding.waived is not None:
            waived = finding.waived
            table.add_row("", Text("(waived)", style="dim"), Text(
                clean(f"by {waived['owner']} until {waived['expires']}: {waived['reason']}"), style="dim"))
        if verbose:
            table.add_row("", "", Text(clean(f"fix: {finding.remediation}"), style="dim"))
    parts.append(table)
    return Group(*parts)


def print_lines(console: Console, lines: list[Text]) -> None:
    """Lines printed as `console.print` prints each. A line of printable ASCII on a console without colour is
    wrapped here as rich wraps it (`_wrapped`) and written: rich takes about 70 us a line, and an org of
    10,000 networks has a passing line for each. Any other line, or any console with colour, goes through
    rich (tests/test_report_text_lines.py compares the two)."""
    if console.color_system is not None or console.record or console.legacy_windows or console.is_jupyter:
        console.print(Group(*lines))
        return
    width = console.width
    plain: list[str] = []
    for line in lines:
        words = line.plain
        if words.isascii() and words.isprintable() and line.end == "\n" and line.justify is None and \
                line.overflow is None and not line.no_wrap:
            plain.append(words + "\n" if len(words) <= width else _wrapped(words, width))
            continue
        write_text(console.file, "".join(plain))
        plain = []
        console.print(line)
    write_text(console.file, "".join(plain))


_WORD = re.compile(r" *[^ ]+ *")  # printable ASCII: the only white space is the space


def _wrapped(words: str, width: int) -> str:
    """`words` (printable ASCII) wrapped to `width` as rich's Text.wrap does by default: a word (with the spaces
    after it) goes to the next line when its letters do not fit; a word longer than a line is folded; spaces
    past the end of a line are dropped."""
    breaks: list[int] = []
    used = 0
    for match in _WORD.finditer(words):
        start, word = match.start(), match.group()
        letters = len(word.rstrip(" "))
        if width - used >= letters:
            used += len(word)
        elif letters > width:  # folded into pieces of `width`, the last one continued
            pieces = [word[i:i + width] for i in range(0, len(word), width)]
            for piece in pieces[:-1]:
                if start:
                    breaks.append(start)
                start += len(piece)
            if start:
                breaks.append(start)
            used = len(pieces[-1])
        else:  # to the next line (the first word of a line always fits or is folded)
            breaks.append(start)
            used = len(word)
    # what lies beyond the width is only the spaces after a word
    lines = [words[begin:end][:width] for begin, end in zip([0, *breaks], [*breaks, len(words)], strict=True)]
    return "\n".join(lines) + "\n"


def render(result: AuditResult, console: Console, verbose: bool = False) -> None:
    rows = failing_rows(result)
    parts: list[RenderableType] = [*header(result, rows), Text("")]
    parts.append(build_table(result, rows) if rows else Text("No path has a problem.", style="green"))
    passing = build_passing(result, rows)
    if passing and rows:
        parts.append(Text(""))
    console.print(Group(*parts))
    print_lines(console, passing)
    console.print(Group(Text(""), build_findings(result, verbose)))
