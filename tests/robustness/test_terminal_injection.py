"""Terminal injection (issue 20, item 8): rich markup and control characters in configuration are data.

A rule comment, an SSID name and a network name carry `[/]` (which crashed the text report), valid markup
(`[bold red]`), escape sequences (ESC[2J clears the screen, ESC[8m hides what follows, OSC 0 retitles the
window), a carriage return and a right-to-left override. Every command that prints them must neither crash
nor pass a control character through: they are shown as visible escapes, and the markup as its text.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from auditor.cli import app
from auditor.untrusted import clean, clean_lines, markup

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

DEMO = Path(__file__).resolve().parents[2] / "fixtures" / "snapshots" / "retail-demo"
STORE31 = "L_6468200000000003"
PAYLOAD = "[/] [bold red]red[/] \x1b[2J\x1b[8mhidden\x1b]0;pwned\x07\rallowed \u202eevil\x9b31m"
# What may reach a terminal: no C0/C1 control (ESC, BEL, CR, CSI) and no bidi override.
FORBIDDEN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# With colour on, the only escapes are rich's own SGR styles, and never "conceal" (8).
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def _hostile(tmp_path: Path) -> Path:
    snap = tmp_path / "hostile"
    shutil.copytree(DEMO, snap)
    rules = snap / "meraki" / "networks" / STORE31 / "appliance" / "firewall" / "l3FirewallRules.json"
    body = json.loads(rules.read_text())
    for rule in body["rules"]:
        if rule.get("comment", "").startswith("Guests: block personal VPN apps"):
            rule["comment"] = f"Guests {PAYLOAD}"
    rules.write_text(json.dumps(body))
    ssids = snap / "meraki" / "networks" / STORE31 / "wireless" / "ssids.json"
    body = json.loads(ssids.read_text())
    body[1]["name"] = f"Store-Guest {PAYLOAD}"
    ssids.write_text(json.dumps(body))
    networks = next((snap / "meraki" / "organizations").glob("*/networks.json"))
    body = json.loads(networks.read_text())
    for network in body:
        if network["id"] == STORE31:
            network["name"] = f"Store 31 {PAYLOAD}"
    networks.write_text(json.dumps(body))
    asa = snap / "cisco" / "hq-asa.cfg"
    asa.write_text(asa.read_text().replace("hostname hq-asa", "hostname hq-asa\n! [/] \x1b[2J"))
    return snap


def _commands(snap: Path, proposal: Path) -> list[list[str]]:
    audit = [["audit", str(snap), "--format", fmt, "--verbose"] if fmt == "text" else
             ["audit", str(snap), "--format", fmt] for fmt in ("text", "markdown", "html", "junit", "sarif", "json")]
    return [*audit,
            ["trace", str(snap), "--network", STORE31, "--role", "Guest", "--flow", "udp/4500"],
            ["trace", str(snap), "--network", STORE31, "--role", f"Store-Guest {PAYLOAD}", "--flow", "udp/500"],
            ["explain", "809", str(snap)],
            ["diff", str(DEMO), str(snap)],
            ["diff", str(snap), str(DEMO)],
            ["fix-plan", str(snap)],
            ["check-ssid", str(snap), "--network", STORE31, "--proposed", str(proposal)]]


def _proposal(tmp_path: Path) -> Path:
    proposal = tmp_path / "proposal.yaml"
    proposal.write_text(yaml.safe_dump({
        "name": "V [/][b]\x1b[2J\x1b[8m\r\u202e", "authMode": "open", "ipAssignmentMode": "NAT mode",
        "l3FirewallRules": [{"comment": f"no VPN {PAYLOAD}", "policy": "deny", "protocol": "udp",
                             "destPort": "500,4500", "destCidr": "any"}]}))
    return proposal


def test_markup_and_control_characters_in_configuration_are_printed_as_text(tmp_path: Path) -> None:
    snap = _hostile(tmp_path)
    proposal = _proposal(tmp_path)
    runner = CliRunner()
    for command in _commands(snap, proposal):
        run = runner.invoke(app, command)
        out = run.stdout + run.stderr
        assert run.exception is None or isinstance(run.exception, SystemExit), (command, run.exception)
        assert run.exit_code in (0, 1, 3), (command, run.exit_code, out[-2000:])
        assert "MarkupError" not in out and "Traceback" not in out, command
        leaked = sorted({repr(c) for c in FORBIDDEN.findall(out)})
        assert not leaked, f"{command[0]}: {leaked} reached the output"
        if command[0] in ("audit", "trace", "fix-plan", "diff", "check-ssid") and command[-1] != "json":
            assert "[2J" in out, command  # the data is still there, the escape made visible (\x1b or U+FFFD)
        if command[:4] == ["audit", str(snap), "--format", "text"] or command[0] == "trace":
            assert "[/]" in out and "[bold red]" in out, command


def test_with_colour_on_only_the_reports_own_styles_reach_the_terminal(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    snap = _hostile(tmp_path)
    runner = CliRunner()
    coloured = 0
    for command in _commands(snap, _proposal(tmp_path)):
        if command[0] == "audit" and command[3] != "text":
            continue
        out = runner.invoke(app, command).stdout
        styles = SGR.findall(out)
        coloured += len(styles)
        rest = SGR.sub("", out)
        assert not FORBIDDEN.findall(rest), (command, sorted({repr(c) for c in FORBIDDEN.findall(rest)}))
        assert all("8" not in code.split(";") for code in styles), command  # no concealed text
    assert coloured, "rich printed no colour: the test would prove nothing"


def test_the_escaping_helpers() -> None:
    assert clean("a\x1b[2Jb\rc\nd\te\u202ef\x9b") == "a\\x1b[2Jb\\rc\\nd\\te\\u202ef\\x9b"
    assert clean_lines("a\nb\tc\x1bd") == "a\nb\tc\\x1bd"
    assert markup("[/] [bold]x\x07") == "\\[/] \\[bold]x\\x07"
    assert clean("Store 31 — café ✓") == "Store 31 — café ✓"  # printable text, any script, untouched


def test_an_organisation_name_in_the_collection_progress_is_text(capsys: pytest.CaptureFixture[str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The live progress of `collect meraki` shows each organisation's name from the Dashboard."""
    from auditor.vendors.meraki.collect import _Progress

    monkeypatch.setenv("FORCE_COLOR", "1")
    progress = _Progress(True)
    with progress.shown():
        progress.org("1", f"Org {PAYLOAD} [/] (1)")
        progress.networks("1", 2)
    shown = capsys.readouterr().err
    assert "[/] [bold red]red[/]" in shown and "\\x1b[2J" in shown  # as text, the escapes made visible
    # rich's own live-display controls (cursor, line erase, styles) are there; none of the name's
    for injected in ("\x1b[2J", "\x1b[8m", "\x1b]0;", "\x07", "\u202e", "\x9b"):
        assert injected not in shown, repr(injected)
