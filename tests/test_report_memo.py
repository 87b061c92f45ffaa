"""The report memo (auditor/report_memo.py): `audit --cache DIR -o FILE` writes a kept report again, its timestamp
now, only while every read its audit made reads the same; then the report, the exit code and the summary line are
those of an audit without the cache. Any change, option or damaged memo, and the command audits."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import auditor.audit
from auditor import cache as audit_cache
from auditor import cli, file_writes, report_memo
from auditor.cli import app
from auditor.report import json_report
from auditor.snapshot import Snapshot
from auditor.vocab import FailOn
from tests.environment import CAN_FORK
from tests.snapshot_builder import deny
from tests.test_cache import _edit, _Payload, _synthetic

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"
LATER = "2031-01-02T03:04:05+00:00"  # the replay's time, so that its stamps are told from the kept ones
STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\+00:00|Z)")


class Run:
    """`vpn-auditor audit SNAPSHOT --cache CACHE -o FILE ...` in this process."""

    def __init__(self, tmp_path: Path, snapshot: Path, cache: Path | None) -> None:
        self.tmp_path, self.snapshot, self.cache = tmp_path, snapshot, cache
        self.count = 0

    def __call__(self, *options: str, cache: bool = True) -> tuple[int, str, str]:
        """(exit code, report, what it said: its warnings and summary line, the report's file name taken out)."""
        self.count += 1
        out = self.tmp_path / f"report{self.count}"
        command = ["audit", str(self.snapshot), "-o", str(out), *options]
        if cache and self.cache is not None:
            command += ["--cache", str(self.cache)]
        done = CliRunner().invoke(app, command)
        if done.exit_code == 2:  # an input error: no report, its one line
            assert not out.exists(), done.output
            return 2, "", done.output.strip().replace(str(out), "FILE")
        assert done.exit_code in (0, 1, 3), done.output
        said = [line for line in done.output.splitlines() if line.startswith(("vpn-auditor:", "warning:"))]
        assert said and said[-1].startswith("vpn-auditor:"), done.output
        return done.exit_code, out.read_text(encoding="utf-8"), "\n".join(said).replace(str(out), "FILE")


def _memos(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.is_file() and p.parent.name == "reports")


def _no_audit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any audit now fails the test: the command must write the kept report."""
    def refused(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("audited, where the report memo should have been written again")
    monkeypatch.setattr(auditor.audit, "run_audit", refused)


def _audits(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each audit the command runs, recorded (the audit still runs)."""
    audits: list[object] = []
    real = auditor.audit.run_audit

    def counted(*args: Any, **kwargs: Any) -> Any:
        audits.append(args)
        return real(*args, **kwargs)
    monkeypatch.setattr(auditor.audit, "run_audit", counted)
    return audits


def _stamped(report: str, stamp: str) -> str:
    return STAMP.sub(lambda m: stamp if m.group(1) == "+00:00" else stamp.replace("+00:00", "Z"), report)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "html", "markdown"])
def test_a_kept_report_is_written_again_only_when_nothing_changed(tmp_path: Path, fmt: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    run = Run(tmp_path, DEMO, cache)
    cold = run("--format", fmt)
    # the networks were audited by this process (a small org: no worker), which knows what each one read
    assert len(_memos(cache)) == 1 and cold[0] == 1  # the demo's planted findings
    with monkeypatch.context() as patched:
        _no_audit(patched)
        warm = run("--format", fmt)
    assert warm[2] == cold[2] and _stamped(warm[1], "T") == _stamped(cold[1], "T")
    with monkeypatch.context() as patched:
        _no_audit(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        again = run("--format", fmt)
    assert again[0] == warm[0] and again[2] == warm[2]
    assert again[1] == _stamped(warm[1], LATER)  # the report, its timestamps now
    if fmt != "text":  # the text report has no timestamp
        assert LATER[:19] in again[1]
    plain = run("--format", fmt, cache=False)
    assert (again[0], _stamped(again[1], "T"), again[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])


def _checked_by(checks: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`statuses`: a file's status stands for its bytes at once (the fast path); `bytes`: the default slack (the
    test's files being just written, their bytes are hashed again); `forked`: as `statuses`, with half the reads
    checked by a forked child (as for an org of thousands of networks)."""
    if checks != "bytes":
        monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)
    if checks == "forked":
        if not CAN_FORK:
            pytest.skip("the forked check needs Linux, fork and two CPUs")
        monkeypatch.setattr(report_memo, "FORK_FROM", 2)


def _copy_demo(tmp_path: Path) -> Path:
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    return snap


def _deny_ike(snap: Path, network: str = "L_6468200000000001") -> None:
    rules = snap / "meraki" / "networks" / network / "appliance" / "firewall" / "l3FirewallRules.json"
    body = json.loads(rules.read_text())
    body["rules"].insert(0, deny("udp", "500", comment="memo test"))
    rules.write_text(json.dumps(body))


def _same_size_asa_edit(snap: Path) -> None:
    """An ASA config's bytes change, not its size or modification time: only its change time tells."""
    config = snap / "cisco" / "hq-asa.cfg"
    status = config.stat()
    text = config.read_text()
    at = text.index("permit udp any")
    config.write_text(text[:at] + "deny   udp any" + text[at + len("permit udp any"):])
    os.utime(config, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert config.stat().st_size == status.st_size


def _link_outside(snap: Path) -> None:
    outside = snap.parent / "elsewhere.cfg"
    outside.write_text("hostname elsewhere\n")
    os.symlink(outside, snap / "cisco" / "elsewhere.cfg")  # refused: a data gap the report names


def _audit_yaml(snap: Path) -> None:
    config = snap / "audit.yaml"
    config.write_text(config.read_text().replace("ikev2", "IKEv2", 1).replace("sstp", "ikev2", 1))


def _device_gone(snap: Path) -> None:
    """Every Cisco config gone with its folder: the ASA in front of the server is absent, so what it let through is
    no longer proven (and the vendor's adapter no longer runs: its folder's existence is a read)."""
    shutil.rmtree(snap / "cisco")


def _device_back(snap: Path) -> None:
    """The load balancer's folder, away when the memo was kept, is back: its adapter runs again (no listing of
    the snapshot's top folder tells it: only the folder's existence, a read of its own)."""
    shutil.move(snap.parent / "f5-away", snap / "f5")


def _device_away(snap: Path) -> None:
    """The load balancer's folder away, and out of the server's path (which would name a device absent)."""
    config = snap / "audit.yaml"
    config.write_text(config.read_text().replace(", f5/hq-bigip]", "]", 1))
    shutil.move(snap / "f5", snap.parent / "f5-away")


# what a change needs done before the first command
PREPARE = {"a vendor's folder back (a device present)": _device_away}

CHANGES = {"a network's rules": _deny_ike, "a vendor's folder gone (a device absent)": _device_gone,
           "a vendor's folder back (a device present)": _device_back,
           # the last network's reads are the last the memo lists: the forked child checks them
           "the last network's rules": lambda snap: _deny_ike(snap, "L_6468200000000004"),
           "an ASA config, same size and time": _same_size_asa_edit,
           "a link leading outside in a listed folder": _link_outside, "audit.yaml": _audit_yaml,
           "a network's file deleted": lambda snap: (snap / "meraki" / "networks" / "L_6468200000000002" / "wireless"
                                                     / "ssids.json").unlink()}


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["statuses", "bytes", "forked"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_after_the_memo_is_audited(tmp_path: Path, change: str, checks: str,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Each change alters the report; the command after it must give the uncached report, never the kept one
    (`checks`: see _checked_by)."""
    _checked_by(checks, monkeypatch)
    snap = _copy_demo(tmp_path)
    if change in PREPARE:
        PREPARE[change](snap)
    run = Run(tmp_path, snap, tmp_path / "cache")
    for _ in range(2):  # cold, then warm: the memo is kept
        before = run("--format", "json")
    assert len(_memos(tmp_path / "cache")) == 1
    time.sleep(0.02)  # past the file system's timestamp granularity
    CHANGES[change](snap)
    after = run("--format", "json")
    plain = run("--format", "json", cache=False)
    assert _stamped(plain[1], "T") != _stamped(before[1], "T"), "the change must show in the report"
    assert (after[0], _stamped(after[1], "T"), after[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    # never a path allowed that the audit of the changed snapshot does not prove allowed
    assert _allowed(after[1]) <= _allowed(plain[1])


def _two_nights(tmp_path: Path, change: str) -> tuple[Path, Run]:
    """A copy of the demo prepared for `change`, audited twice with the cache (the memo kept), a timestamp tick
    ago: the snapshot and its runner."""
    snap = _copy_demo(tmp_path)
    if change in PREPARE:
        PREPARE[change](snap)
    run = Run(tmp_path, snap, tmp_path / "cache")
    for _ in range(2):
        run("--format", "json")
    time.sleep(0.02)  # past the file system's timestamp granularity
    return snap, run


@pytest.mark.slow
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_the_night_after_a_change_writes_the_memo_the_change_kept(tmp_path: Path, change: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that audits networks in this process (a change, on an org too small for workers) keeps the memo
    of its report, with those networks' reads as their new entries list them: the next command, nothing changed
    since, writes it again without auditing, and it is the uncached report of the changed snapshot. A change
    that is an input error (exit 2) keeps nothing: that command is audited again."""
    monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)
    snap, run = _two_nights(tmp_path, change)
    CHANGES[change](snap)
    changed = run("--format", "json")
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        after = run("--format", "json")
    plain = run("--format", "json", cache=False)
    assert (after[0], _stamped(after[1], "T"), after[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    assert _allowed(after[1]) <= _allowed(plain[1])
    assert len(audits) == (1 if changed[0] == 2 else 0)  # written from the memo the change's command kept


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["statuses", "forked"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_after_a_memo_of_hits_and_audited_networks_is_audited(tmp_path: Path, change: str, checks: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A memo kept by a night that took some networks from the cache and audited another (its reads as recorded
    for its new entry, no copy of the report), then each change of test_a_change_after_the_memo_is_audited (data
    missing, a device absent or back, a line changed unseen by size and time, a link leading outside, audit.yaml):
    the next command, to a new name (where the last report would be copied), audits; its report is the uncached
    one, and no path is allowed that the audit of the changed snapshot does not prove."""
    _checked_by(checks, monkeypatch)
    _in_place("forked" if checks == "forked" else "here", monkeypatch)
    snap, run = _two_nights(tmp_path, change)
    _deny_ike(snap, "L_6468200000000003")  # audited that night, the others hits: the memo kept holds both kinds
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        run("--format", "json")
    assert len(audits) == 1 and len(_memos(tmp_path / "cache")) == 1
    time.sleep(0.02)
    CHANGES[change](snap)
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        whole = _whole_writes(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        after = run("--format", "json")
    assert len(audits) == 1 and not whole and not _left_over(tmp_path)  # audited, not written from the memo
    plain = run("--format", "json", cache=False)
    assert (after[0], _stamped(after[1], "T"), after[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    assert _allowed(after[1]) <= _allowed(plain[1])


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["statuses", "bytes", "forked"])
def test_a_network_changed_again_after_the_memo_its_audit_kept_is_audited(tmp_path: Path, checks: str,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The memo kept by the command that audited a changed network holds that network's reads: the same network
    changed again (its rules, then its rules put back) is audited, and each report is the uncached one."""
    _checked_by(checks, monkeypatch)
    snap = _copy_demo(tmp_path)
    rules = snap / "meraki" / "networks" / "L_6468200000000001" / "appliance" / "firewall" / "l3FirewallRules.json"
    original = rules.read_text()
    run = Run(tmp_path, snap, tmp_path / "cache")
    for edit in (lambda: _deny_ike(snap), lambda: rules.write_text(original)):
        run("--format", "json")
        time.sleep(0.02)  # past the file system's timestamp granularity
        edit()
        got = run("--format", "json")  # audits the network, keeps the memo with its reads
        plain = run("--format", "json", cache=False)
        assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    first = _allowed(run("--format", "json")[1])
    time.sleep(0.02)
    _deny_ike(snap)
    got = run("--format", "json")
    plain = run("--format", "json", cache=False)
    assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    assert _allowed(got[1]) < first, "the deny must block a path the memo's report allowed"


def _reads(part: bytes) -> set[tuple]:
    """What a network (or the audit outside networks) read: each file or view and its digest (its status, which
    records when it was read relative to its change, left out)."""
    return {event[:3] for event in audit_cache.deps_of(part)}


@pytest.mark.slow
def test_networks_audited_by_a_worker_keep_their_reads_for_the_memo(tmp_path: Path) -> None:
    """A network audited by a forked worker comes back with the reads the worker recorded for its entry, and the
    worker's reads outside any network with them: the audit gives a memo's reads whoever audited each network,
    each network's those of the entry written for it and the same as a serial audit records, and the reads
    outside networks the serial audit's."""
    if not CAN_FORK:
        pytest.skip("forked workers need Linux, fork and two CPUs")
    snap = _synthetic(tmp_path / "org", 12)
    serial = auditor.audit.run_audit(snap, keep_model=False, workers=1, cache_dir=tmp_path / "serial")
    assert serial.cache is not None and serial.cache.run_deps is not None
    expected = serial.cache.run_deps()
    assert expected is not None and len(expected) == 1 + 12
    by_worker = []
    for attempt in range(3):
        result = auditor.audit.run_audit(snap, keep_model=False, workers=2, cache_dir=tmp_path / f"cache{attempt}")
        assert result.cache is not None and result.cache.run_deps is not None
        parts = result.cache.run_deps()
        by_worker.append(result.networks_by_worker)
        assert parts is not None and len(parts) == 1 + 12, attempt
        cache = result.cache.run_deps.__self__  # type: ignore[attr-defined]
        for position, item in enumerate(cache._plan):  # as the entry written for it lists them, here or there
            read = cache._read_entry(cache._path(item.identity))
            assert read is not None and read[0][2] == parts[1 + position], (attempt, position)
        assert [_reads(part) for part in parts] == [_reads(part) for part in expected], attempt
    assert any(by_worker), "a worker audited none of the networks in three audits"


def _forked_audits(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Each forked audit run, recorded: what it gave (None: it failed; the audit then runs serially)."""
    found: list[Any] = []
    real = auditor.audit.audit_forked

    def recorded(*args: Any, **kwargs: Any) -> Any:
        found.append(real(*args, **kwargs))
        return found[-1]
    monkeypatch.setattr(auditor.audit, "audit_forked", recorded)
    return found


def _forked_night(tmp_path: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """The JSON command with an empty cache and two processes, again until the forked worker audited some networks
    (the shared counter's race): what it gave; the memo of its report is kept."""
    with monkeypatch.context() as patched:
        forked = _forked_audits(patched)
        for _attempt in range(5):
            shutil.rmtree(tmp_path / "cache", ignore_errors=True)
            night = run("--format", "json", "--workers", "2")
            if forked and forked[-1] is not None and any(r.by_worker for r in forked[-1][0]):
                break
        else:
            raise AssertionError(f"the worker audited none of the networks in five audits: {forked}")
    assert len(_memos(tmp_path / "cache")) == 1
    return night


@pytest.mark.slow
def test_a_memo_kept_by_a_forked_audit_is_written_again_and_each_networks_change_is_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cold night audited by this process and a forked worker keeps the memo of its report (its reads from both
    processes). The next command, nothing changed, writes it again without auditing, the uncached report. Then
    each network's rules get a deny of IKE in turn, whichever process audited it: every command after a change
    audits and gives the uncached report, with no path allowed that the changed snapshot's audit does not
    prove."""
    if not CAN_FORK:
        pytest.skip("forked workers need Linux, fork and two CPUs")
    monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)
    snap = _synthetic(tmp_path / "org", 12)
    run = Run(tmp_path, snap, tmp_path / "cache")
    _forked_night(tmp_path, run, monkeypatch)
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        again = run("--format", "json", "--workers", "2")
    plain = run("--format", "json", cache=False)
    assert not audits  # written from the memo the forked night kept
    assert (again[0], _stamped(again[1], "T"), again[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    for net in sorted((snap / "meraki" / "networks").iterdir()):
        time.sleep(0.02)  # past the file system's timestamp granularity
        rules = net / "appliance" / "firewall" / "l3FirewallRules.json"
        body = json.loads(rules.read_text())
        body["rules"].insert(0, deny("udp", "500,4500", "Any", "block IKE", srcPort="Any", srcCidr="Any"))
        rules.write_text(json.dumps(body))
        with monkeypatch.context() as patched:
            audits = _audits(patched)
            after = run("--format", "json", "--workers", "2")
        plain = run("--format", "json", cache=False)
        assert len(audits) == 1, net.name
        assert (after[0], _stamped(after[1], "T"), after[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
        assert _allowed(after[1]) <= _allowed(plain[1]), net.name


def _unread_asa_line(snap: Path) -> None:
    """A line the ASA parser does not understand, before the rule that lets IKE through to the server: what it
    does to that traffic is not known, so no path through the ASA is proven allowed any more."""
    config = snap / "cisco" / "hq-asa.cfg"
    text = config.read_text()
    at = text.index("access-list OUTSIDE_IN extended permit udp any object CORP-VPN")
    config.write_text(text[:at] + "access-list OUTSIDE_IN extended deny udp any object CORP-VPN frobnicate 500\n"
                      + text[at:])


@pytest.mark.slow
@pytest.mark.parametrize("change", sorted({**CHANGES, "an ASA line not understood": _unread_asa_line}))
def test_a_change_after_a_forked_nights_memo_is_audited(tmp_path: Path, change: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A memo kept by a night whose networks a forked worker audited in part (the reads it sent back), then each
    change: data missing, a device absent or back, a line changed unseen by size and time, a line not understood,
    a link leading outside, audit.yaml. The next command audits, gives the uncached report, and allows no path the
    audit of the changed snapshot does not prove."""
    if not CAN_FORK:
        pytest.skip("forked workers need Linux, fork and two CPUs")
    changes = {**CHANGES, "an ASA line not understood": _unread_asa_line}
    snap = _copy_demo(tmp_path)
    if change in PREPARE:
        PREPARE[change](snap)
    run = Run(tmp_path, snap, tmp_path / "cache")
    before = _forked_night(tmp_path, run, monkeypatch)
    time.sleep(0.02)  # past the file system's timestamp granularity
    changes[change](snap)
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        after = run("--format", "json", "--workers", "2")
    plain = run("--format", "json", cache=False)
    assert _stamped(plain[1], "T") != _stamped(before[1], "T"), "the change must show in the report"
    assert after[0] == 2 or len(audits) == 1  # audited (an input error is one, before any audit)
    assert (after[0], _stamped(after[1], "T"), after[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    assert _allowed(after[1]) <= _allowed(plain[1])


def _allowed(report: str) -> set[str]:
    """The paths a JSON report says are allowed (none without a report: an input error)."""
    keys = ("network", "role", "phase", "server", "protocol", "flow", "variant")
    return {json.dumps([p.get(k) for k in keys], sort_keys=True) for p in json.loads(report or '{"paths": []}')["paths"]
            if p["verdict"] == "allowed"}


@pytest.mark.slow
def test_each_option_that_shapes_the_report_or_the_exit_has_its_own_memo(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("- finding: DNS-MISMATCH\n  reason: accepted for the memo test\n  owner: a@example.com\n"
                       "  expires: 2099-01-01\n"
                       "- finding: LB-SPLIT-PERSISTENCE\n  reason: expired\n  owner: a@example.com\n"
                       "  expires: 2020-01-01\n")
    run = Run(tmp_path, DEMO, tmp_path / "cache")
    variants = [("--format", "text"), ("--format", "text", "--verbose"), ("--format", "text", "--fail-on", "never"),
                ("--format", "text", "--fail-on", "never", "--allow-unknown"),
                ("--format", "json", "--waivers", str(waivers))]
    for options in variants:
        for _ in range(3):  # cold or warm (the memo kept), then written again
            got = run(*options)
        plain = run(*options, cache=False)
        assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2]), options
    assert len(_memos(tmp_path / "cache")) == len(variants)
    waivers.write_text(waivers.read_text().replace("2020", "2098"))  # the waivers' content is in the key
    got, plain = run("--format", "json", "--waivers", str(waivers)), run("--format", "json", "--waivers",
                                                                         str(waivers), cache=False)
    assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])



def test_the_same_waivers_at_another_path_is_another_memo(tmp_path: Path) -> None:
    """A warning names the waivers file as given and an expired waiver's finding by its real path: the same
    content elsewhere is another report."""
    content = ("- finding: DNS-MISMATCH\n  reason: accepted\n  owner: a@example.com\n  expires: 2099-01-01\n"
               "- finding: LB-SPLIT-PERSISTENCE\n  reason: expired\n  owner: a@example.com\n  expires: 2020-01-01\n"
               "- finding: NO-SUCH-CHECK\n  reason: unmatched\n  owner: a@example.com\n  expires: 2099-01-01\n")
    first, second = tmp_path / "a" / "waivers.yaml", tmp_path / "b" / "waivers.yaml"
    for path in (first, second):
        path.parent.mkdir()
        path.write_text(content)
    run = Run(tmp_path, DEMO, tmp_path / "cache")
    run("--format", "json", "--waivers", str(first))
    got = run("--format", "json", "--waivers", str(second))
    plain = run("--format", "json", "--waivers", str(second), cache=False)
    assert str(second) in got[2] and str(second.resolve()) in got[1]
    assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])


def test_sarif_names_a_linked_file_by_its_name_in_the_snapshot(tmp_path: Path) -> None:
    """A snapshot file that is a link to another inside it (a de-duplicating store), repointed to another copy
    of the same bytes: where the link leads is no read of the audit's, so SARIF names the file by its name in
    the snapshot (under the snapshot's real folder), and the memo's report stays the fresh run's."""
    snap = tmp_path / "snap"
    shutil.copytree(DEMO, snap)
    for version in ("v1", "v2"):
        (snap / ".store" / version).mkdir(parents=True)
        shutil.copy(snap / "cisco" / "hq-asa.cfg", snap / ".store" / version / "hq-asa.cfg")
    asa = snap / "cisco" / "hq-asa.cfg"
    asa.unlink()
    asa.symlink_to(Path("..") / ".store" / "v1" / "hq-asa.cfg")
    run = Run(tmp_path, snap, tmp_path / "cache")
    run("--format", "sarif")
    asa.unlink()
    asa.symlink_to(Path("..") / ".store" / "v2" / "hq-asa.cfg")
    got = run("--format", "sarif")
    plain = run("--format", "sarif", cache=False)
    assert "cisco/hq-asa.cfg" in got[1] and ".store" not in got[1]
    assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])

@pytest.mark.slow
@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "empty", "another key's", "report gone"])
def test_a_damaged_memo_is_audited_and_kept_again(tmp_path: Path, damage: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    run = Run(tmp_path, DEMO, cache)
    run("--format", "json")
    warm = run("--format", "json")
    run("--format", "json", "--fail-on", "never")
    run("--format", "json", "--fail-on", "never")
    mine, other = [p for p in _memos(cache)]  # which is which does not matter: both are damaged alike
    data = mine.read_bytes()
    if damage == "flipped byte":
        at = random.Random(7).randrange(len(data) // 2, len(data))
        mine.write_bytes(data[:at] + bytes([data[at] ^ 0x20]) + data[at + 1:])
    elif damage == "truncated":
        mine.write_bytes(data[:len(data) // 3])
    elif damage == "empty":
        mine.write_bytes(b"")
    elif damage == "another key's":
        shutil.copy(other, mine)
    else:
        mine.unlink()
    for options in (("--format", "json"), ("--format", "json", "--fail-on", "never")):
        got = run(*options)
        plain = run(*options, cache=False)
        assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])
    assert len(_memos(cache)) == 2
    with monkeypatch.context() as patched:  # kept again: written again from here on
        _no_audit(patched)
        again = run("--format", "json")
    assert again[0] == warm[0] and _stamped(again[1], "T") == _stamped(warm[1], "T")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_random_edits_after_the_memo(tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A generated org edited at random between commands: each report equals the uncached one, and with nothing
    changed the kept report is written again."""
    monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)
    snap = _synthetic(tmp_path / "org", 12)
    run = Run(tmp_path, snap, tmp_path / "cache")
    rng = random.Random(seed)
    run("--format", "json")
    done: list[str] = []
    for _round in range(3):
        # nothing changed since the command before, which kept a memo (its networks hits, or audited here)
        got = run("--format", "json")
        plain = run("--format", "json", cache=False)
        assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2]), done
        time.sleep(0.02)
        nets = sorted((snap / "meraki" / "networks").iterdir())
        done = [_edit(rng, net) for net in rng.sample(nets, rng.randint(1, 2))]
        got = run("--format", "json")
        plain = run("--format", "json", cache=False)
        assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"), plain[2]), done
    with monkeypatch.context() as patched:
        _no_audit(patched)
        again = run("--format", "json")
    plain = run("--format", "json", cache=False)
    assert (again[0], _stamped(again[1], "T"), again[2]) == (plain[0], _stamped(plain[1], "T"), plain[2])


def test_a_report_to_a_link_or_a_device_keeps_no_memo(tmp_path: Path) -> None:
    target = tmp_path / "target.json"
    link = tmp_path / "link.json"
    os.symlink(target, link)
    runner = CliRunner()
    for _ in range(2):
        done = runner.invoke(app, ["audit", str(DEMO), "--cache", str(tmp_path / "cache"), "--format", "json",
                                   "-o", str(link)])
        assert done.exit_code == 1, done.output
    assert not _memos(tmp_path / "cache") and json.loads(target.read_text())["summary"]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["fields", "reads"])
def test_a_memo_that_names_code_is_never_run(tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crafted memo with a valid checksum whose fields, or one of whose parts of reads, would call a function
    when loaded: refused, the command audits, and the function never runs (in this process or the checker)."""
    monkeypatch.setattr(report_memo, "FORK_FROM", 2)  # the checking child loads its parts too
    cache = tmp_path / "cache"
    run = Run(tmp_path, DEMO, cache)
    run("--format", "json")
    warm = run("--format", "json")
    (memo,) = _memos(cache)
    marker = tmp_path / "ran"
    (key, fields, parts, stamps, *kept), frame = _fields(memo)
    if where == "fields":
        _rewritten(memo, (key, _Payload(marker), parts, stamps, *kept), frame)
    else:
        _rewritten(memo, (key, fields, [*parts[:-1], pickle.dumps(_Payload(marker))], stamps, *kept), frame)
    again = run("--format", "json")
    assert not marker.exists()
    assert (again[0], _stamped(again[1], "T"), again[2]) == (warm[0], _stamped(warm[1], "T"), warm[2])


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["statuses", "forked"])
def test_reads_a_stale_memo_found_unchanged_are_not_checked_again_and_the_change_is_seen(
        tmp_path: Path, checks: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A night with a change: the memo's check found the networks before the change unchanged, and the audit
    that follows takes those networks' entries without checking their files again. The changed network is
    never among them: the report is the uncached one."""
    _checked_by(checks, monkeypatch)
    snap = _copy_demo(tmp_path)
    cache = tmp_path / "cache"
    run = Run(tmp_path, snap, cache)
    run("--format", "json")
    run("--format", "json")
    time.sleep(0.02)
    _deny_ike(snap, "L_6468200000000004")  # the last network: the others are checked before it
    settings = auditor.audit.resolve_config(Snapshot(snap), None)
    output = tmp_path / "night.json"
    memo = cli._report_memo(cache, snap, settings, output, cli.Format.json, False, None, None, FailOn.ERROR, False)
    assert memo is not None and memo.replay(output, LATER) is None and not output.exists()
    assert memo.verified, "the networks checked before the change"
    night = auditor.audit.run_audit(snap, keep_model=False, workers=1, cache_dir=cache,
                                    verified_reads=memo.verified)
    plain = auditor.audit.run_audit(snap, keep_model=False, workers=1)
    assert night.cache is not None and night.cache.verified >= 1 and night.cache.misses == 1
    blocked = {p.role.network_id for p in night.paths if p.trace.verdict != "allowed"}
    assert "L_6468200000000004" in blocked
    assert json_report.render(night).replace(night.generated_at, "T") == \
        json_report.render(plain).replace(plain.generated_at, "T")


def _fields(memo: Path) -> tuple[tuple, bytes]:
    """A memo's fields and its report's frame."""
    data = memo.read_bytes()
    head = len(report_memo.MAGIC) + 1 + 16
    size = int.from_bytes(data[head:head + 8], "big")
    return pickle.loads(data[head + 8:head + 8 + size]), data[head + 8 + size:]


def _rewritten(memo: Path, fields: tuple, frame: bytes) -> None:
    """The memo with these fields and frame, the frame's size and digest and the checksum made valid again."""
    *kept, _size, _digest = fields
    crafted = pickle.dumps((*kept, len(frame), hashlib.blake2b(frame, digest_size=16).digest()))
    body = len(crafted).to_bytes(8, "big") + crafted
    memo.write_bytes(report_memo.MAGIC + bytes([audit_cache.FORMAT]) + hashlib.blake2b(body, digest_size=16).digest()
                     + body + frame)


def _recrafted(memo: Path, change: Any) -> None:
    """The memo with its fields changed by `change` and its checksum made valid again."""
    (key, fields, parts, stamps, *kept), frame = _fields(memo)
    key, fields, parts, stamps, frame = change(key, fields, parts, stamps, frame)
    _rewritten(memo, (key, fields, parts, stamps, *kept), frame)


CRAFTED = {
    "exit code not a number": lambda k, f, p, s, fr: (k, {**f, "code": "0"}, p, s, fr),
    "a verdict's figure missing": lambda k, f, p, s, fr: (k, {**f, "verdicts": {"allowed": 1}}, p, s, fr),
    "a stamp past the report's end": lambda k, f, p, s, fr: (k, f, p, [(10**12, 25, b"+00:00")], fr),
    "a stamp of another shape": lambda k, f, p, s, fr: (k, f, p, [("x",)], fr),
    "the report not a zstd frame": lambda k, f, p, s, fr: (k, f, p, s, b"not zstd" + fr[8:]),
    "the report's frame damaged": lambda k, f, p, s, fr: (k, f, p, s, fr[:len(fr) // 2] + bytes(8)
                                                            + fr[len(fr) // 2 + 8:]),
}


@pytest.mark.slow
@pytest.mark.parametrize("craft", sorted(CRAFTED))
def test_a_memo_with_a_valid_checksum_and_content_not_as_kept_is_audited(tmp_path: Path, craft: str) -> None:
    """Content a memo never holds, under a checksum made to match: the command audits and writes the report an
    audit writes, with no traceback and the report not left half written."""
    cache = tmp_path / "cache"
    run = Run(tmp_path, DEMO, cache)
    run("--format", "json")
    warm = run("--format", "json")
    (memo,) = _memos(cache)
    _recrafted(memo, CRAFTED[craft])
    again = run("--format", "json")
    assert (again[0], _stamped(again[1], "T"), again[2]) == (warm[0], _stamped(warm[1], "T"), warm[2])


# -- a report already in place: only its timestamps are written -----------------------------------------------

def _to(tmp_path: Path, out: Path, *options: str, cache: bool = True, snapshot: Path = DEMO
        ) -> tuple[int, str, str]:
    """`vpn-auditor audit SNAPSHOT -o OUT --format json [--cache]`: (exit code, report, its summary line)."""
    command = ["audit", str(snapshot), "-o", str(out), "--format", "json", *options]
    if cache:
        command += ["--cache", str(tmp_path / "cache")]
    done = CliRunner().invoke(app, command)
    if done.exit_code == 2:  # an input error: its one line, the file left as it was
        return 2, "", done.output.strip().replace(str(out), "FILE")
    assert done.exit_code == 1, done.output  # the demo's planted findings
    return done.exit_code, out.read_text(encoding="utf-8"), done.output.strip().replace(str(out), "FILE")


def _whole_writes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each report the memo writes whole (not in place), recorded."""
    whole: list[Path] = []
    write = report_memo._write

    def counted(output: Path, *args: Any) -> Any:
        whole.append(output)
        return write(output, *args)
    monkeypatch.setattr(report_memo, "_write", counted)
    return whole


def _in_place(checks: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`forked`: the report's bytes are read by a forked child while the reads are checked; `here`: by this
    process, after them (where there is no fork)."""
    if checks == "forked" and not CAN_FORK:
        pytest.skip("the forked read needs Linux, fork and two CPUs")
    monkeypatch.setattr(report_memo, "worth_forking", lambda: checks == "forked")


def _whole_memo(tmp_path: Path, out: Path) -> tuple[int, str, str]:
    """The report written to `out` with a memo that keeps a copy of it: the first command on the demo audits its
    networks in this process and keeps its memo without the copy; that memo removed, the next command (all hits)
    keeps a whole one. Its output."""
    _to(tmp_path, out)
    for memo in _memos(tmp_path / "cache"):
        memo.unlink()
    return _to(tmp_path, out)


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["forked", "here"])
def test_a_report_in_place_gets_its_new_timestamps_only(tmp_path: Path, checks: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The kept report already in its file, as the memo last left it: the command writes only its timestamps
    (the same file, not a new one renamed onto it), and the report is the one an audit writes."""
    _in_place(checks, monkeypatch)
    out = tmp_path / "report.json"
    _to(tmp_path, out)
    warm = _to(tmp_path, out)  # keeps the memo, and where its report is
    inode = out.stat().st_ino
    for later in (LATER, "2031-01-03T03:04:05+00:00"):
        with monkeypatch.context() as patched:
            _no_audit(patched)
            whole = _whole_writes(patched)
            patched.setattr(cli, "_now", lambda later=later: later)
            again = _to(tmp_path, out)
        assert not whole and out.stat().st_ino == inode  # in place
        assert again == (warm[0], _stamped(warm[1], later), warm[2])
    plain = _to(tmp_path, tmp_path / "plain.json", cache=False)
    assert (again[0], _stamped(again[1], "T"), again[2]) == (plain[0], _stamped(plain[1], "T"),
                                                             plain[2].replace("plain.json", "FILE"))


def _record(tmp_path: Path, change: Any = None) -> None:
    """The memo's record of where its report is, `change`d, and its status taken again from the report as it now
    is (as when another process wrote the report within the timestamp tick of the memo's write): only its bytes
    then tell."""
    (placed,) = (tmp_path / "cache").rglob("placed/*")
    data = placed.read_bytes()
    head = len(report_memo.PLACED_MAGIC)
    record = json.loads(data[head + 16:])
    status = (tmp_path / "report.json").stat()
    record["status"] = [status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns]
    if change is not None:
        change(record)
    body = json.dumps(record).encode()
    placed.write_bytes(report_memo.PLACED_MAGIC + hashlib.blake2b(body, digest_size=16).digest() + body)


def _rewrite(out: Path, edit: Any) -> None:
    """The report's bytes edited in place (the same file)."""
    data = out.read_bytes()
    with out.open("r+b") as handle:
        handle.write(edit(data))


def _retimed(data: bytes) -> bytes:
    at = re.search(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", data)
    assert at is not None
    return data[:at.start()] + b"1999-01-01T00:00:00" + data[at.end():]


def _flipped(data: bytes) -> bytes:
    at = data.index(b'"allowed"')
    return data[:at] + b'"blocked"' + data[at + 9:]


IN_PLACE_CHANGES: dict[str, Any] = {
    # written within the tick of the memo's write: the status recorded is the edited report's
    "a verdict edited, the status as recorded": lambda tmp, out: (_rewrite(out, _flipped), _record(tmp)),
    "its timestamp edited, the status as recorded": lambda tmp, out: (_rewrite(out, _retimed), _record(tmp)),
    "a byte added at the end, the status as recorded": lambda tmp, out: (
        out.write_bytes(out.read_bytes() + b" "), _record(tmp)),
    "a verdict edited": lambda tmp, out: _rewrite(out, _flipped),
    "another file renamed onto it": lambda tmp, out: (
        (tmp / "other.json").write_bytes(out.read_bytes()), os.replace(tmp / "other.json", out)),
    "linked twice": lambda tmp, out: os.link(out, tmp / "second-name.json"),
    "the record damaged": lambda tmp, out: next((tmp / "cache").rglob("placed/*")).write_bytes(b"damaged"),
    "the record of another memo": lambda tmp, out: _record(tmp, lambda r: r.update(memo="00" * 16)),
    "the record of another file": lambda tmp, out: _record(tmp, lambda r: r.update(output=str(tmp / "x.json"))),
    "the record of another timestamp": lambda tmp, out: _record(
        tmp, lambda r: r.update(written="2030-01-01T00:00:00+00:00")),
}


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["forked", "here"])
@pytest.mark.parametrize("change", sorted(IN_PLACE_CHANGES))
def test_a_report_in_place_that_is_not_the_kept_one_is_written_whole(tmp_path: Path, change: str, checks: str,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The report's file not as the memo left it (its bytes, its status, the record of it): the kept report is
    written whole, and the report is the one an audit writes; the next command finds it in place again."""
    _in_place(checks, monkeypatch)
    out = tmp_path / "report.json"
    warm = _whole_memo(tmp_path, out)
    IN_PLACE_CHANGES[change](tmp_path, out)
    with monkeypatch.context() as patched:
        _no_audit(patched)
        whole = _whole_writes(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        again = _to(tmp_path, out)
    assert whole == [out]
    assert again == (warm[0], _stamped(warm[1], LATER), warm[2])
    inode = out.stat().st_ino
    with monkeypatch.context() as patched:
        _no_audit(patched)
        whole = _whole_writes(patched)
        later = _to(tmp_path, out)
    assert (whole, out.stat().st_ino) == (([out], inode) if change == "linked twice" else ([], inode))
    assert _stamped(later[1], "T") == _stamped(warm[1], "T")


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["forked", "here"])
@pytest.mark.parametrize("where", ["in place", "a new file"])
@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_change_with_the_report_in_place_is_audited(tmp_path: Path, change: str, where: str, checks: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The report in place as the memo left it (found in place on the night before), then each change of
    test_a_change_after_the_memo_is_audited (data missing, a device absent or back, a line changed unseen by
    size and time, a link leading outside, audit.yaml): the command, to the same file or to a new one (where the
    last report would be copied), audits and writes the changed snapshot's report, never the kept one with new
    timestamps, and no path is allowed that the audit of the changed snapshot does not prove. Where the change
    is an input error (exit 2), the old report is left as it was, its timestamps too: nothing makes it look
    current, and no new file is left."""
    _in_place(checks, monkeypatch)
    monkeypatch.setattr(audit_cache, "STAT_SLACK_NS", 0)
    snap = _copy_demo(tmp_path)
    if change in PREPARE:
        PREPARE[change](snap)
    out = tmp_path / "report.json"
    kept = _to(tmp_path, out, snapshot=snap)
    for _night in range(2):  # keeps the memo, then finds its report in place
        with monkeypatch.context() as patched:
            whole = _whole_writes(patched)
            kept = _to(tmp_path, out, snapshot=snap)
    assert not whole and len(_memos(tmp_path / "cache")) == 1  # in place before the change
    before = out.read_bytes()
    time.sleep(0.02)  # past the file system's timestamp granularity
    CHANGES[change](snap)
    target = out if where == "in place" else tmp_path / "dated.json"
    with monkeypatch.context() as patched:
        whole = _whole_writes(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        got = _to(tmp_path, target, snapshot=snap)
    assert not whole  # audited, not written from the memo
    assert not _left_over(tmp_path)
    plain = _to(tmp_path, tmp_path / "plain.json", cache=False, snapshot=snap)
    assert (got[0], _stamped(got[1], "T"), got[2]) == (plain[0], _stamped(plain[1], "T"),
                                                       plain[2].replace("plain.json", "FILE"))
    if got[0] == 2:
        assert out.read_bytes() == before and LATER[:19].encode() not in before
        assert where == "in place" or not target.exists()
    else:
        assert _stamped(got[1], "T") != _stamped(kept[1], "T"), "the change must show in the report"
        assert _allowed(got[1]) <= _allowed(plain[1])


# -- the report to a new file each night: the last one copied -------------------------------------------------

def _left_over(folder: Path) -> list[Path]:
    """New files the memo made beside a report and did not rename onto it."""
    return sorted(folder.glob(".*.tmp"))


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["forked", "here"])
def test_a_report_to_a_new_file_is_the_last_one_copied(tmp_path: Path, checks: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """The report to a new file each night (a dated name): the last night's, as the memo left it, is copied to
    the new file and gets its new timestamps there (the memo's report is not written whole); the last night's
    file is left as it was; the report is the one an audit writes. A file already at the new name is replaced,
    its permissions kept. The night after, the new file is the one copied, and the same name again is in place."""
    _in_place(checks, monkeypatch)
    out = tmp_path / "report.json"
    _to(tmp_path, out)
    warm = _to(tmp_path, out)  # keeps the memo, and where its report is
    last, before = out, out.read_bytes()
    (tmp_path / "night-2.json").write_text("an older file under the name", encoding="utf-8")
    (tmp_path / "night-2.json").chmod(0o640)
    for night, later in ((1, LATER), (2, "2031-01-03T03:04:05+00:00")):
        dated = tmp_path / f"night-{night}.json"
        with monkeypatch.context() as patched:
            _no_audit(patched)
            whole = _whole_writes(patched)
            patched.setattr(cli, "_now", lambda later=later: later)
            again = _to(tmp_path, dated)
        assert not whole and not _left_over(tmp_path)
        assert again == (warm[0], _stamped(warm[1], later), warm[2])
        assert last.read_bytes() == before  # the file copied is left as it was
        last, before = dated, dated.read_bytes()
    assert (tmp_path / "night-2.json").stat().st_mode & 0o777 == 0o640
    inode = last.stat().st_ino
    with monkeypatch.context() as patched:
        _no_audit(patched)
        whole = _whole_writes(patched)
        _to(tmp_path, last)
    assert not whole and last.stat().st_ino == inode  # in place
    plain = _to(tmp_path, tmp_path / "plain.json", cache=False)
    assert (again[0], _stamped(again[1], "T"), again[2]) == (plain[0], _stamped(plain[1], "T"),
                                                             plain[2].replace("plain.json", "FILE"))


COPY_CHANGES: dict[str, Any] = {
    **{f"the last report: {change}": edit for change, edit in IN_PLACE_CHANGES.items()},
    "the last report gone": lambda tmp, out: out.unlink(),
    "the new name another name of a file": lambda tmp, out: (
        (tmp / "elsewhere.json").write_text("x", encoding="utf-8"), os.link(tmp / "elsewhere.json",
                                                                              tmp / "dated.json")),
}


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["forked", "here"])
@pytest.mark.parametrize("change", sorted(COPY_CHANGES))
def test_a_last_report_that_is_not_the_kept_one_is_not_copied(tmp_path: Path, change: str, checks: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The last night's report not as the memo left it (its bytes, even under the status recorded; its status;
    the record of it; gone), or a new name that may not be replaced by a copy (a file of two names): the
    kept report is written whole to the new file, the report is the one an audit writes, and no copy is left
    beside it. A last report longer than the kept report (the status recorded as it is) is still copied: it is only
    read, as far as the kept report's length, and the copy's bytes are what is checked."""
    _in_place(checks, monkeypatch)
    out = tmp_path / "report.json"
    warm = _whole_memo(tmp_path, out)
    COPY_CHANGES[change](tmp_path, out)
    dated = tmp_path / "dated.json"
    with monkeypatch.context() as patched:
        _no_audit(patched)
        whole = _whole_writes(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        again = _to(tmp_path, dated)
    copied = change == "the last report: a byte added at the end, the status as recorded"
    assert whole == ([] if copied else [dated])
    assert not _left_over(tmp_path)
    assert again == (warm[0], _stamped(warm[1], LATER), warm[2])


@pytest.mark.slow
@pytest.mark.parametrize("checks", ["forked", "here"])
def test_a_memo_kept_where_networks_were_audited_holds_no_copy_of_the_report(tmp_path: Path, checks: str,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A command that audited networks keeps its memo without a copy of the report (compressing it is most of
    keeping): the next command writes its report again from the file as left (in place, or copied to a new
    name); with that file gone it audits, its report the uncached one, and keeps a whole memo, from which the
    command after writes the report whole."""
    _in_place(checks, monkeypatch)
    cache, out, dated = tmp_path / "cache", tmp_path / "report.json", tmp_path / "dated.json"
    cold = _to(tmp_path, out)
    (memo,) = _memos(cache)
    assert _fields(memo)[1] == b"" and _fields(memo)[0][-2] == 0  # no frame
    with monkeypatch.context() as patched:
        _no_audit(patched)
        whole = _whole_writes(patched)
        patched.setattr(cli, "_now", lambda: LATER)
        copied = _to(tmp_path, dated)
    assert not whole and copied == (cold[0], _stamped(cold[1], LATER), cold[2].replace("report.json", "dated.json"))
    out.unlink()
    dated.unlink()
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        whole = _whole_writes(patched)
        audited = _to(tmp_path, out)
    assert len(audits) == 1 and not whole  # no copy to write from: audited
    plain = _to(tmp_path, tmp_path / "plain.json", cache=False)
    assert (audited[0], _stamped(audited[1], "T"), audited[2]) == (
        plain[0], _stamped(plain[1], "T"), plain[2].replace("plain.json", "FILE"))
    (memo,) = _memos(cache)
    assert len(_fields(memo)[1]) == _fields(memo)[0][-2] > 0  # all hits: kept whole
    out.unlink()
    with monkeypatch.context() as patched:
        _no_audit(patched)
        whole = _whole_writes(patched)
        again = _to(tmp_path, out)
    assert whole == [out] and _stamped(again[1], "T") == _stamped(plain[1], "T")


@pytest.mark.slow
def test_an_audit_whose_worker_died_gives_each_networks_reads_from_its_serial_audit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A forked worker that dies: the org is audited again in this process, and the reads a memo would keep are
    each network's as the entry written by that serial audit lists them (none left from the forked attempt)."""
    if not CAN_FORK:
        pytest.skip("forked workers need Linux, fork and two CPUs")
    from auditor import parallel

    def dying(*_args: object) -> None:
        os._exit(1)  # as the OOM killer would: nothing sent

    monkeypatch.setattr(parallel, "_work", dying)
    forked = _forked_audits(monkeypatch)
    snap = _synthetic(tmp_path / "org", 12)
    result = auditor.audit.run_audit(snap, keep_model=False, workers=2, cache_dir=tmp_path / "cache")
    assert forked == [None]  # the forked audit failed: audited again here
    assert result.networks_by_worker == 0 and result.cache is not None and result.cache.run_deps is not None
    parts = result.cache.run_deps()
    cache = result.cache.run_deps.__self__  # type: ignore[attr-defined]
    assert parts is not None and len(parts) == 1 + 12
    for position, item in enumerate(cache._plan):
        read = cache._read_entry(cache._path(item.identity))
        assert read is not None and read[0][2] == parts[1 + position], position
    plain = auditor.audit.run_audit(snap, keep_model=False, workers=1)
    assert len(result.paths) == len(plain.paths)


@pytest.mark.slow
def test_short_writes_leave_no_entry_memo_or_report_short_and_a_change_is_audited(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel may write fewer bytes than asked (a full disk, a signal): every output goes out in pieces
    (auditor/file_writes.py) and each piece's rest is written again. With every write cut to 1,000 bytes at most,
    the cache's entries and texts and the memo are whole (the third night is written from the memo, no audit),
    the reports are the uncached ones, and a change after the memo is audited, no path allowed beyond it."""
    real_write = os.write
    monkeypatch.setattr(file_writes.os, "write", lambda fd, data: real_write(fd, memoryview(data)[:1000]))
    monkeypatch.setattr(file_writes, "PIECE", 1000)  # the report files' own writes (PiecewiseFile)
    monkeypatch.setattr(report_memo, "PIECE", 1000)  # the memo's copy of the report
    snap = _copy_demo(tmp_path)
    run = Run(tmp_path, snap, tmp_path / "cache")
    plain = run("--format", "json", cache=False)
    for _ in range(2):  # cold, then warm: the memo is kept
        assert _stamped(run("--format", "json")[1], "T") == _stamped(plain[1], "T")
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        again = run("--format", "json")
    assert not audits and _stamped(again[1], "T") == _stamped(plain[1], "T")  # the memo read back whole
    time.sleep(0.02)  # past the file system's timestamp granularity
    _deny_ike(snap)
    with monkeypatch.context() as patched:
        audits = _audits(patched)
        after = run("--format", "json")
    changed = run("--format", "json", cache=False)
    assert len(audits) == 1 and _stamped(changed[1], "T") != _stamped(plain[1], "T")
    assert (after[0], _stamped(after[1], "T")) == (changed[0], _stamped(changed[1], "T"))
    assert _allowed(after[1]) <= _allowed(changed[1]) < _allowed(plain[1])
