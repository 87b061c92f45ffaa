"""`vpn-auditor`: wires collect -> snapshot -> audit -> report. No logic of its own lives here."""

from __future__ import annotations

import logging
import os
import sys
import threading
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

import auditor.vendors  # noqa: F401  (installs the shipped vendors: the CLI is where they are wired in)
from auditor import __version__, file_writes
from auditor.cli_exits import EXIT_USAGE, ExitCodes, exit_on, writing
from auditor.cli_fleet import fleet_command
from auditor.collect.fingerprints import SECRET_FINGERPRINTS_ENV, SECRET_FINGERPRINTS_HELP
from auditor.errors import AuditorError, InputError, OutputError
from auditor.gate import EXIT_FINDINGS, EXIT_OK, EXIT_UNKNOWN, exit_code
from auditor.untrusted import clean, clean_lines, markup
from auditor.vocab import SEVERITY_REPORT_ORDER, FailOn, Severity, Verdict

if TYPE_CHECKING:  # imported where used: `vpn-auditor --help` need not load the engine
    from auditor.audit import AuditResult
    from auditor.report_memo import Outcome, ReportMemo
    from auditor.vendors.meraki.check_ssid import ProposalResult

# click's base error, found through typer's public BadParameter (typer >= 0.17 bundles its own click). Any: the
# class differs between typer versions, so its methods (show, format_message) are not typed here.
_CLICK_ERROR: Any = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


DEBUG_ENV = "VPN_AUDITOR_DEBUG"  # set: a bug shows its traceback instead of one line


class _OneLineErrors(ExitCodes):
    """Usage errors (a bad option value, a missing option) as one line on stderr with exit 2, like every
    other input error: click's own box spans several lines, which CI logs and scripts cannot grep. The
    tool's own errors exit by kind (cli_exits.exit_on)."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.pop("standalone_mode", True)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _CLICK_ERROR as exc:
            if not standalone:
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":  # the help text, as click shows it
                exc.show()
            else:
                context = getattr(exc, "ctx", None)
                where = f"{context.command_path}: " if context is not None else ""
                hint = f" (see {context.command_path} --help)" if context is not None else ""
                typer.echo(f"error: {where}{' '.join(exc.format_message().split())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            if not standalone:
                raise
            typer.echo("Aborted!", err=True)
            sys.exit(1)
        except AuditorError as exc:
            if not standalone:
                raise
            exit_on(exc)
        except Exception as exc:
            # A bug, not the input: one line all the same (a traceback on a CI log or a user's terminal may
            # quote their configuration and tells them nothing), and exit 2 so that no gate reads it as a pass.
            if not standalone or os.environ.get(DEBUG_ENV):
                raise
            typer.echo(f"error: internal error, a bug in vpn-auditor ({type(exc).__name__}: {clean(str(exc))}); "
                       f"run again with {DEBUG_ENV}=1 for the traceback and report it", err=True)
            sys.exit(EXIT_USAGE)
        if not standalone:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    # `collect` is loaded when asked for: its collectors import SSH, HTTP and DNS clients (about a third of a
    # second) that no other command needs.
    def list_commands(self, ctx: Any) -> list[str]:
        names = super().list_commands(ctx)
        return names if COLLECT in names else [*names, COLLECT]

    def get_command(self, ctx: Any, name: str) -> Any:
        if name == COLLECT and COLLECT not in self.commands:
            from auditor.cli_collect import collect_app

            group = typer.main.get_command(collect_app)
            group.name, group.help = COLLECT, "Pull configuration from live systems (read-only)."
            self.add_command(group, COLLECT)
        return super().get_command(ctx, name)


COLLECT = "collect"


app = typer.Typer(name="vpn-auditor", no_args_is_help=True, add_completion=False, cls=_OneLineErrors,
                  help="Can VPN traffic from every Wi-Fi role reach the VPN server? Audit it from configuration.")


class Format(StrEnum):
    text = "text"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    html = "html"
    markdown = "markdown"


def _silence_libraries() -> None:
    """ciscoconfparse logs through loguru to stdout on every parse; JSON on stdout must stay clean."""
    logging.getLogger("meraki").setLevel(logging.WARNING)
    try:
        from loguru import logger

        logger.remove()
    except ImportError:
        pass


def _check_output(output: Path | None) -> None:
    """-o must be writable before any work is done (an audit of an org takes minutes): one line, exit 2."""
    if output is None:
        return
    folder = output.parent
    if output.is_dir():
        raise OutputError(f"-o {output}: is a folder; give a file name")
    if not folder.is_dir():
        raise OutputError(f"-o {output}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK) or (output.exists() and not os.access(output, os.W_OK)):
        raise OutputError(f"-o {output}: not writable")


def _outcome(result: AuditResult, code: int, warnings: list[str]) -> Outcome:
    """The exit code and the figures of the summary line."""
    from auditor.report_memo import Outcome
    from auditor.waivers import gate_findings

    severities = dict.fromkeys(SEVERITY_REPORT_ORDER, 0)
    counted = gate_findings(result.findings)
    for finding in counted:
        severities[finding.effective_severity] += 1
    return Outcome(code=code, paths=len(result.paths), verdicts={str(k): v for k, v in result.counts().items()},
                   severities={str(k): v for k, v in severities.items()}, waived=len(result.findings) - len(counted),
                   warnings=warnings)


def _summary(outcome: Outcome, output: Path) -> None:
    """With -o the terminal shows nothing else: one line to stderr says what the report holds."""
    counts, severities, waived = outcome.verdicts, outcome.severities, outcome.waived
    typer.echo(f"vpn-auditor: {outcome.paths} paths ({counts[Verdict.ALLOWED]} allowed, "
               f"{counts[Verdict.BLOCKED]} blocked, {counts[Verdict.PARTIAL]} partial, {counts[Verdict.UNKNOWN]} "
               f"unknown), findings: {severities[Severity.ERROR]} error, {severities[Severity.WARNING]} warning, "
               f"{severities[Severity.INFO]} info{f', {waived} waived' if waived else ''}; "
               f"report in {output}; exit {outcome.code}", err=True)


def _render(result: AuditResult, fmt: Format, output: Path | None, verbose: bool = False) -> None:
    from auditor.audit import results_held

    with results_held():
        _render_held(result, fmt, output, verbose)


def _render_held(result: AuditResult, fmt: Format, output: Path | None, verbose: bool) -> None:
    if fmt is Format.text:
        from auditor.report import text

        if output is None:
            console = Console()
            if not console.is_terminal:
                console = Console(width=160)  # pipes and CI logs: wide enough that tables stay readable
            text.render(result, console, verbose)
        else:
            with file_writes.open_text(output) as handle:
                text.render(result, Console(file=handle, width=160, force_terminal=False), verbose)
        return
    if fmt is Format.json:
        from auditor.report import json_report

        if output is None:
            json_report.write(result, sys.stdout)
        else:
            with file_writes.open_text(output) as handle:
                json_report.write(result, handle)
        return
    from auditor.report import render_format

    try:
        body = render_format(result, fmt.value)
    except KeyError:
        raise InputError(f"format '{fmt.value}' is not available in this version") from None
    if output is None:
        file_writes.write_text(sys.stdout, body)
    else:
        file_writes.write_text_file(output, body)


@app.command()
def audit(
    snapshot: Annotated[Path | None, typer.Argument(help="Snapshot directory to audit.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="audit.yaml (default: SNAPSHOT/audit.yaml).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.text,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to a file.")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that exits 1.")] = FailOn.ERROR,
    allow_unknown: Annotated[bool, typer.Option("--allow-unknown", help="Do not exit 3 on unknown flows.")] = False,
    org: Annotated[list[str] | None, typer.Option("--org", help="Collect this org live first.")] = None,
    network: Annotated[list[str] | None, typer.Option(
        "--network", help="Only this network (id or name; repeat for several): offline, in place of audit.yaml "
                          "scope; with --org, what is collected.")] = None,
    role: Annotated[list[str] | None, typer.Option(
        "--role", help="Only this role (SSID, identity PSK, group policy, VLAN or source name; repeat for "
                       "several).")] = None,
    snapshot_out: Annotated[Path | None, typer.Option("--snapshot-out", help="Keep the live snapshot here.")] = None,
    since: Annotated[Path | None, typer.Option(
        "--since", help="With --org: an older snapshot; fetch only what the change log shows changed since.")]
    = None,
    base_url: Annotated[str | None, typer.Option("--base-url", envvar="MERAKI_BASE_URL")] = None,
    rate: Annotated[float | None, typer.Option(
        "--rate", min=0.1, help="With --org: requests per second per organization (default 10, what the Dashboard "
                                "allows; less leaves budget to other tools using the same org).")] = None,
    secret_fingerprints: Annotated[bool, typer.Option(
        "--secret-fingerprints", envvar=SECRET_FINGERPRINTS_ENV, help=f"With --org: {SECRET_FINGERPRINTS_HELP}")]
    = False,
    waivers: Annotated[Path | None, typer.Option("--waivers", help="Accepted findings (YAML; docs/waivers.md).")]
    = None,
    verbose: Annotated[bool, typer.Option("--verbose", help="Text report: each finding's fix under it.")] = False,
    cache: Annotated[str | None, typer.Option(
        "--cache", envvar="VPN_AUDITOR_CACHE", metavar="DIR",
        help="Reuse the results of networks whose inputs did not change since an audit with the same DIR "
             "(`auto`: the user's cache directory); the report is the same as without it (docs/cache.md).")]
    = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", min=1, envvar="VPN_AUDITOR_WORKERS",
        help="Processes that audit an org's networks (1: this one alone). Default: one per CPU this process may "
             "use, up to 8, for orgs of 64 networks or more; the report is the same whatever the number.")]
    = None,
) -> None:
    """Audit a snapshot offline (or collect an org live with --org, then audit it)."""
    _silence_libraries()
    from auditor import gate
    from auditor.audit import resolve_config, run_audit
    from auditor.cache import cache_dir
    from auditor.snapshot import Snapshot
    from auditor.waivers import apply_waivers, load_waivers

    accepted = load_waivers(waivers) if waivers is not None else []
    _check_output(output)
    if since is not None and not org:
        raise InputError("--since needs --org: it names the snapshot a live collection starts from")
    if rate is not None and not org:
        raise InputError("--rate needs --org: it paces a live collection")
    if secret_fingerprints and not org:
        raise InputError("--secret-fingerprints needs --org: it is written by a live collection")
    if org:
        snapshot = _collect_for_audit(org, network, snapshot_out, base_url, config, since, rate,
                                      secret_fingerprints)
    if snapshot is None:
        raise InputError("give a SNAPSHOT directory or --org")
    settings = resolve_config(Snapshot(snapshot), config)
    offline_networks = bool(network) and not org
    if offline_networks:  # the networks asked for replace audit.yaml's scope
        settings = settings.model_copy(deep=True)
        settings.scope.networks = list(network or [])
    memo = None
    if cache and output is not None and not org:  # a report kept with every read it rests on, written again
        memo = _report_memo(cache_dir(cache), snapshot, settings, output, fmt, verbose, role, waivers, fail_on,
                            allow_unknown)
        with writing(output):
            outcome = memo.replay(output, _now()) if memo is not None else None
        if outcome is not None:
            for line in outcome.warnings:
                typer.echo(f"warning: {clean(line)}", err=True)
            _summary(outcome, output)
            raise typer.Exit(outcome.code)
    network_text = None
    if fmt is Format.json:  # a forked worker then writes its networks' part of the report as it audits them
        from auditor.report import json_report

        network_text = json_report.network_text
    result = run_audit(snapshot, config, config=settings, keep_model=False, workers=workers,
                       cache_dir=cache_dir(cache) if cache else None, network_text=network_text,
                       verified_reads=memo.verified if memo is not None else None)
    gate.unmatched_networks(Snapshot(snapshot), result.model, list(settings.scope.networks),
                            "--network" if offline_networks else "audit.yaml scope.networks")
    gate.filter_roles(result, role or [])
    warnings = apply_waivers(result, accepted) if waivers is not None else []
    for line in warnings:
        typer.echo(f"warning: {clean(line)}", err=True)
    if not result.paths:  # a gate that passes on nothing audited is worse than none
        raise InputError(gate.nothing_audited(result))
    with writing(output):
        _render(result, fmt, output, verbose)
    code = exit_code(result, fail_on, allow_unknown)
    if output is not None:
        outcome = _outcome(result, code, list(warnings))
        _summary(outcome, output)
        run_deps = result.cache.run_deps if result.cache is not None else None
        deps = run_deps() if run_deps is not None else None
        if memo is not None and deps is not None:  # without the report's copy where networks changed
            memo.keep(deps, output, result.generated_at, outcome,
                      whole=result.cache is None or not result.cache.misses)
    raise typer.Exit(code)


def _now() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _report_memo(cache: Path, snapshot: Path, settings: Any, output: Path, fmt: Format, verbose: bool,
                 role: list[str] | None, waivers: Path | None, fail_on: FailOn, allow_unknown: bool
                 ) -> ReportMemo | None:
    """The memo of this report (auditor/report_memo.py), keyed on every option that shapes it or the exit code,
    when the report goes to a regular file (or a new one). Waivers count with their content and today's date
    (a waiver expires)."""
    import datetime as dt
    import hashlib
    from importlib import metadata

    from auditor.report_memo import ReportMemo
    from auditor.snapshot import Snapshot

    if output.is_symlink() or (output.exists() and not output.is_file()):
        return None
    options: dict[str, Any] = {"format": fmt.value, "verbose": verbose, "roles": tuple(role or ()),
                               "fail_on": str(fail_on), "allow_unknown": allow_unknown, "snapshot": str(snapshot),
                               # where the snapshot's links lead and where the command runs: SARIF names its
                               # files by their real paths, relative to the working directory
                               "real_snapshot": os.path.realpath(snapshot), "cwd": os.getcwd(),
                               # the libraries that lay out the text and HTML reports (the cache namespace has the
                               # tool's own code)
                               "renderers": tuple(metadata.version(name) for name in ("rich", "jinja2"))}
    if waivers is not None:
        try:
            content = waivers.read_bytes()
        except OSError:
            return None
        # and its name as given and its real path: a warning names the file as given, an expired waiver's
        # finding by its real path (the same content elsewhere is another report)
        options["waivers"] = (hashlib.blake2b(content).hexdigest(), dt.date.today().isoformat(), str(waivers),
                              str(waivers.resolve()))
    return ReportMemo(cache, Snapshot(snapshot), settings, options)


def _collect_for_audit(org: list[str], network: list[str] | None, snapshot_out: Path | None,
                       base_url: str | None, config: Path | None = None, since: Path | None = None,
                       rate: float | None = None, secret_fingerprints: bool = False) -> Path:
    from auditor.cli_collect import collect_for_audit

    return collect_for_audit(org, network or [], snapshot_out, base_url, config, since, rate, secret_fingerprints)


@app.command()
def trace(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory.")],
    role: Annotated[str, typer.Option("--role", help="Role name (SSID, identity PSK, group policy, VLAN, or an "
                                                     "audit.yaml source).")],
    flow: Annotated[str, typer.Option("--flow", help="udp/500, udp/4500, udp/1701, tcp/443, esp ...")],
    network: Annotated[str | None, typer.Option("--network", help="Network id or name (leave out for an "
                                                                  "audit.yaml source).")] = None,
    server: Annotated[str | None, typer.Option("--server", help="VPN server name (default: all).")] = None,
    config: Annotated[Path | None, typer.Option("--config")] = None,
    phase: Annotated[str | None, typer.Option("--phase", help="pre-auth or post-auth (default: both).")] = None,
) -> None:
    """Explain one path hop by hop: what each enforcement point did and which rule decided."""
    _silence_libraries()
    from auditor.report.trace_view import DNS_ERROR, explain_trace

    lines, verdicts = explain_trace(snapshot, config, network, role, flow, server, phase)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    for line in lines:  # markup whose values trace_view escaped; controls escaped once more, whatever made them
        console.print(clean_lines(line), highlight=False, emoji=False)
    if Verdict.BLOCKED in verdicts or Verdict.PARTIAL in verdicts or DNS_ERROR in verdicts:
        raise typer.Exit(EXIT_FINDINGS)
    if Verdict.UNKNOWN in verdicts:
        raise typer.Exit(EXIT_UNKNOWN)


@app.command("check-ssid")
def check_ssid(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory (the network as it is).")],
    network: Annotated[str, typer.Option("--network", help="Network id or name that gets the SSID.")],
    proposed: Annotated[Path, typer.Option("--proposed", help="Proposed SSID, Dashboard API shape (JSON or YAML).")],
    config: Annotated[Path | None, typer.Option("--config", help="audit.yaml (default: SNAPSHOT/audit.yaml).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Report format.")] = Format.text,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to a file.")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity that exits 1.")] = FailOn.ERROR,
    allow_unknown: Annotated[bool, typer.Option("--allow-unknown", help="Do not exit 3 on unknown flows.")] = False,
) -> None:
    """Pre-deployment: audit a proposed SSID (rules, splash, iPSKs, group policies) in a network as it stands."""
    _silence_libraries()
    from auditor.vendors.meraki import check_ssid as proposals

    _check_output(output)
    outcome = proposals.check_ssid(snapshot, network, proposed, config)
    if not outcome.result.paths:  # a gate, like `audit`: never 0 on nothing audited
        from auditor.gate import nothing_audited

        raise InputError(nothing_audited(outcome.result))
    with writing(output):
        _render_proposal(outcome, fmt, output)
    raise typer.Exit(exit_code(outcome.result, fail_on, allow_unknown))


def _render_proposal(outcome: ProposalResult, fmt: Format, output: Path | None) -> None:
    from auditor.vendors.meraki import check_ssid as proposals

    if fmt is Format.json:
        body = proposals.render_json(outcome)
        if output is None:
            file_writes.write_text(sys.stdout, body)
        else:
            file_writes.write_text_file(output, body)
    elif fmt is Format.text:
        if output is None:
            console = Console()
            proposals.render_text(outcome, console if console.is_terminal else Console(width=160))
        else:
            with file_writes.open_text(output) as handle:
                proposals.render_text(outcome, Console(file=handle, width=160, force_terminal=False))
    else:
        _render(outcome.result, fmt, output)


class TextOrJson(StrEnum):
    text = "text"
    json = "json"


def _print_lines(lines: list[str], output: Path | None) -> None:
    if output is None:
        console = Console()
        console = console if console.is_terminal else Console(width=160)
    else:
        handle = file_writes.open_text(output)
        console = Console(file=handle, width=160, force_terminal=False)
    for line in lines:
        # one line per fact: greppable in CI logs; markup whose values the caller escaped
        console.print(clean_lines(line), highlight=False, soft_wrap=True, emoji=False)
    if output is not None:
        handle.close()


def _write_body(body: str, output: Path | None) -> None:
    if output is None:
        file_writes.write_text(sys.stdout, body)
    else:
        file_writes.write_text_file(output, body)


@app.command()
def diff(
    old: Annotated[Path, typer.Argument(help="The earlier snapshot.")],
    new: Annotated[Path, typer.Argument(help="The later snapshot.")],
    config: Annotated[Path | None, typer.Option("--config", help="audit.yaml for both (default: each snapshot's).")]
    = None,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = TextOrJson.text,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
) -> None:
    """Which verdicts changed between two snapshots, and the configuration change that caused each.
    Exits 1 when a flow that was allowed is no longer allowed."""
    _silence_libraries()
    from auditor.diff import diff_snapshots
    from auditor.report import diff_view

    _check_output(output)
    result = diff_snapshots(old, new, config)
    with writing(output):
        if fmt is TextOrJson.json:
            _write_body(diff_view.render_json(result), output)
        else:
            _print_lines(diff_view.text_lines(result), output)
    raise typer.Exit(EXIT_FINDINGS if result.regressions else EXIT_OK)


@app.command(context_settings={"ignore_unknown_options": True})  # a negative code is not an option
def explain(
    code: Annotated[str, typer.Argument(help="Windows VPN error code as shown: 809, 0x80092013 or -2146885613.")],
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory.")],
    network: Annotated[str | None, typer.Option("--network", help="Network id or name.")] = None,
    role: Annotated[str | None, typer.Option("--role", help="Role or SSID name the user is on.")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="audit.yaml (default: SNAPSHOT/audit.yaml).")] = None,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = TextOrJson.text,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Lowest severity of a matching finding that exits 1.")]
    = FailOn.ERROR,
    allow_unknown: Annotated[bool, typer.Option("--allow-unknown", help="Do not exit 3 on unknown flows.")] = False,
) -> None:
    """Triage: which findings in scope can cause a Windows VPN error, and what to check when none can."""
    _silence_libraries()
    from auditor.explain_errors import explain as explain_code
    from auditor.explain_errors import render_json, text_lines

    result = explain_code(code, snapshot, config, network, role)
    if fmt is TextOrJson.json:
        _write_body(render_json(result), None)
    else:
        for line in text_lines(result):  # plain lines quoting configuration: one printed line each
            typer.echo(clean(line))
    if any(Severity.fails_at(m.finding.effective_severity, fail_on) for m in result.matches):
        raise typer.Exit(EXIT_FINDINGS)
    if not allow_unknown and result.unknown:
        raise typer.Exit(EXIT_UNKNOWN)


@app.command("fix-plan")
def fix_plan(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory.")],
    network: Annotated[str | None, typer.Option("--network", help="Only this network (id or name).")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="audit.yaml (default: SNAPSHOT/audit.yaml).")] = None,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="Output format.")] = TextOrJson.text,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file.")] = None,
) -> None:
    """The smallest change that fixes each blocking or split finding: Dashboard API bodies, ASA/IOS lines,
    load-balancer commands. Printed, never applied; re-audited in memory. Exits 1 when a finding has no
    verified plan."""
    _silence_libraries()
    from auditor import fixplan

    _check_output(output)
    result = fixplan.fix_plan(snapshot, config, network)
    with writing(output):
        if fmt is TextOrJson.json:
            _write_body(fixplan.render_json(result), output)
        else:
            _print_lines([markup(line) for line in fixplan.text_lines(result)], output)
    raise typer.Exit(EXIT_OK if all(p.verified for p in result.plans) else EXIT_FINDINGS)


@app.command()
def init(
    snapshot: Annotated[Path, typer.Argument(help="Snapshot directory, as collect wrote it.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write here instead of SNAPSHOT/audit.yaml.")]
    = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Write a commented audit.yaml: VPN servers guessed from NAT, ACL, virtual-server and uplink addresses,
    each marked REVIEW with the file and line behind it."""
    _silence_libraries()
    from auditor.init_config import write_config

    result = write_config(snapshot, output, force)
    for line in result.messages:
        typer.echo(clean(line), err=True)


app.command("fleet")(fleet_command)  # part of every build (distributed is a dependency): nothing to swallow


@app.callback(invoke_without_command=True)
def _version(version: Annotated[bool, typer.Option("--version", help="Show the version.")] = False) -> None:
    if version:
        typer.echo(f"vpn-auditor {__version__}")
        raise typer.Exit()


def main() -> None:
    try:
        app()
    except SystemExit as done:
        _leave(done)


def _leave(done: SystemExit) -> None:
    """Exit without freeing the heap object by object: an audit of 10,000 networks leaves millions of objects,
    which teardown walks for seconds while the OS reclaims the memory at once. Exit handlers still run (a live
    collection's temporary snapshot is removed by one) and the standard streams are flushed; where anything
    could still want a normal teardown (another thread running, a message to print, a stream that cannot be
    flushed) the exit is the usual one."""
    code = done.code
    if not (code is None or isinstance(code, int)) or threading.active_count() > 1:
        raise done
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed pipe or stream: Python's own exit says so
        raise done from None
    os._exit(code or 0)
