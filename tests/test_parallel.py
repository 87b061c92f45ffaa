"""An org audited by two processes (this one and a forked worker, auditor/parallel.py) gives the serial
audit's report byte for byte: the same paths, verdicts, hops, reasons, findings and order, data gaps and
refused reads included. A failure on either side falls back to the serial audit and its error."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from auditor.audit import AuditResult, run_audit
from auditor.checks import load_checks
from auditor.model import RuleList
from auditor.packets import PacketSet
from auditor.parallel import worth_forking
from auditor.report import FORMATS, json_report, render_format, text
from auditor.snapshot import SnapshotError
from auditor.trace import PathResult
from tests.environment import CAN_FORK, needs_fork

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "fixtures" / "snapshots" / "retail-demo"



def test_worth_forking_wherever_the_machine_can_fork() -> None:
    """The tests below skip only where the machine cannot fork (tests/environment.py); an audit that stopped
    forking where it can must fail here, not skip them all."""
    assert worth_forking() is CAN_FORK


def _synthetic(root: Path, networks: int) -> Path:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from synth import network_id, write_org
    finally:
        sys.path.remove(str(ROOT / "bench"))
    write_org(root, networks, seed=3, workers=1)
    nets = root / "meraki" / "networks"
    for index in (5, 41):  # data gaps in networks either process may take
        (nets / network_id(index) / "appliance" / "firewall" / "l7FirewallRules.json").unlink()
    shutil.rmtree(nets / network_id(17) / "wireless" / "ssids" / "2")
    outside = root.parent / "outside"
    outside.mkdir()
    os.symlink(outside, root / "meraki" / "organizations" / "999")  # refused: it leads outside the snapshot
    return root


def _report(result: AuditResult) -> str:
    return json_report.render(result).replace(result.generated_at, "GENERATED")


def _streamed(result: AuditResult) -> str:
    """The report as `vpn-auditor audit --format json` streams it (copying written network text)."""
    out = io.StringIO()
    json_report.write(result, out)
    return out.getvalue()


@pytest.mark.slow
@needs_fork
def test_synthetic_org_in_two_processes_matches_serial(tmp_path: Path) -> None:
    snap = _synthetic(tmp_path / "org", 90)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2)
    assert serial.networks_by_worker == 0
    assert 0 < forked.networks_by_worker < 90  # both processes audited networks
    assert _report(forked) == _report(serial)
    counts = serial.counts()
    assert counts["blocked"] and counts["unknown"] and counts["allowed"]  # not a trivial org
    gaps = [f for f in serial.findings if f.check.kind == "data-gap"]
    assert any("outside the snapshot" in f.title for f in gaps) and len(gaps) >= 3
    assert [n.id for n in forked.model.networks] == [n.id for n in serial.model.networks]
    assert forked.model.gaps == serial.model.gaps
    catalogue = [meta for meta, _run in load_checks()]
    assert all(any(f.check is meta for meta in catalogue) for f in forked.findings)


@pytest.mark.slow
@needs_fork
def test_an_org_shared_by_three_processes_matches_serial(tmp_path: Path) -> None:
    """On a machine with more CPUs the networks go to more workers (`workers`): each claims chunks from the
    same counter and writes its own report text, and the report is still the serial one, byte for byte."""
    snap = _synthetic(tmp_path / "org", 90)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=3, network_text=json_report.network_text)
    assert 0 < forked.networks_by_worker < 90
    # one spool per process that audited networks: this one's and each worker's
    assert len({id(text.spool) for text, _paths in forked.written.values()}) == 3
    assert _report(forked) == _report(serial)
    forked.generated_at = serial.generated_at
    assert _streamed(forked) == _streamed(serial)


@pytest.mark.slow
@needs_fork
def test_one_worker_of_several_killed_gives_the_serial_audit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A worker that dies mid-audit (here the second of two, SIGKILLed after its first network, as by the OOM
    killer) loses networks only it had claimed: the other worker is stopped and the org audited serially."""
    import multiprocessing
    import signal

    from auditor import parallel

    snap = _synthetic(tmp_path / "org", 80)
    serial = run_audit(snap, keep_model=False, workers=1)
    started = multiprocessing.get_context("fork").Value("i", 0)
    real_work = parallel._work

    def dying_work(snapshot: Any, model: Any, claims: Any, networks: Iterator[Any], *rest: Any) -> None:
        with started.get_lock():
            started.value += 1
            second = started.value == 2

        def then_die() -> Iterator[Any]:
            for count, net in enumerate(networks):
                if second and count == 1:
                    os.kill(os.getpid(), signal.SIGKILL)
                yield net

        real_work(snapshot, model, claims, then_die(), *rest)

    monkeypatch.setattr(parallel, "_work", dying_work)
    forked = run_audit(snap, keep_model=False, workers=3)
    assert started.value == 2  # both workers ran; the second died
    assert forked.networks_by_worker == 0  # audited again serially
    assert _report(forked) == _report(serial)


def test_default_workers_follow_the_cpus_this_process_may_use(tmp_path: Path) -> None:
    from auditor import parallel

    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = tmp_path / "cpu.max"
    assert parallel.usable_cpus(tmp_path / "absent") == affinity
    quota.write_text("max 100000\n")  # no limit
    assert parallel.usable_cpus(quota) == affinity
    quota.write_text("150000 100000\n")  # `docker run --cpus 1.5`: two processes at most
    assert parallel.usable_cpus(quota) == min(affinity, 2)
    quota.write_text("50000 100000\n")  # half a CPU: one process
    assert parallel.usable_cpus(quota) == 1
    quota.write_text("garbage\n")
    assert parallel.usable_cpus(quota) == affinity
    expected = min(parallel.usable_cpus(), parallel.MAX_WORKERS) if CAN_FORK else 1
    assert parallel.default_workers() == expected


@pytest.mark.slow
@needs_fork
def test_worker_results_stay_compact_until_read(tmp_path: Path) -> None:
    """The worker's networks are held as encoded tables until something reads their hops (verdicts and counts
    need none); the streamed JSON report decodes each as it writes it and forgets it after, so none is left
    decoded, and its text is the serial audit's."""
    snap = _synthetic(tmp_path / "org", 80)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2)
    held = {id(tables): tables for p in forked.paths if (tables := getattr(p.trace, "_tables", None)) is not None}
    assert len(held) == forked.networks_by_worker > 0  # one set of tables per worker network
    assert forked.counts() == serial.counts()
    # the global checks read only the paths that blocked something or have inert rules: their networks
    read = {p.role.network_id for p in serial.paths if p.trace.blocked or p.trace.inert}
    assert sum(tables.filled for tables in held.values()) <= len(read) < 80 // 2
    forked.generated_at = serial.generated_at
    assert _streamed(forked) == _streamed(serial)
    assert not any(tables.filled for tables in held.values())


@pytest.mark.slow
@needs_fork
def test_worker_writes_its_networks_report_text(tmp_path: Path) -> None:
    """With the JSON report's `network_text`, both processes write their networks' part of the report as they
    audit them; the streamed report copies it and is the serial one's, also when a role filter has removed
    paths of a network since (that network is then written from its paths)."""
    from auditor import compact, gate

    snap = _synthetic(tmp_path / "org", 80)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2, network_text=json_report.network_text)
    # one text per network, written by whichever process audited it
    assert len(forked.written) == len(forked.model.networks) == 80 and forked.networks_by_worker > 0
    assert sum(isinstance(p.trace, compact.LazyTrace) for _text, (p, *_) in forked.written.values()) == \
        forked.networks_by_worker
    forked.generated_at = serial.generated_at
    assert _streamed(forked) == _streamed(serial) == _streamed(forked)
    for result in (serial, forked):
        gate.filter_roles(result, ["Store-Guest"])
    assert serial.paths and len(serial.paths) == len(forked.paths)
    assert _streamed(forked) == _streamed(serial)


@pytest.mark.slow
@needs_fork
def test_every_report_format_is_the_serial_one(tmp_path: Path) -> None:
    """The reports read roles, hops and rules by identity too (HTML rows per role, SARIF rules per check):
    rebuilt objects must be shared as the serial audit shares them."""
    snap = _synthetic(tmp_path / "org", 70)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2)
    assert forked.networks_by_worker > 0
    forked.generated_at = serial.generated_at  # the only thing that may differ: when each ran
    for name in FORMATS:
        assert render_format(forked, name) == render_format(serial, name), name

    def text_of(result: AuditResult) -> str:
        out = io.StringIO()
        text.render(result, Console(file=out, width=160, force_terminal=False))
        return out.getvalue()

    assert text_of(forked) == text_of(serial)


@pytest.mark.slow
@needs_fork
def test_the_cli_report_on_stdout_is_the_serial_one(tmp_path: Path) -> None:
    """The real command, forking by default (an org of 64 networks or more on two cores): the worker writes
    nothing into the JSON report on stdout."""
    snap = _synthetic(tmp_path / "org", 70)
    run = subprocess.run([sys.executable, "-c", "from auditor.cli import main; main()", "audit", str(snap),
                          "--format", "json"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr  # error findings: the planted VPN blocks
    printed = json.loads(run.stdout)
    expected = json.loads(_report(run_audit(snap, keep_model=False, workers=1)))
    assert printed["generated_at"]
    printed["generated_at"] = expected["generated_at"] = "GENERATED"
    assert printed == expected
    three = subprocess.run([sys.executable, "-c", "from auditor.cli import main; main()", "audit", str(snap),
                            "--format", "json", "--workers", "3"], capture_output=True, text=True, timeout=300)
    assert three.returncode == 1, three.stderr
    assert {**json.loads(three.stdout), "generated_at": "GENERATED"} == expected


@pytest.mark.slow
@needs_fork
def test_server_side_devices_in_two_processes_match_serial(tmp_path: Path) -> None:
    """The demo has a Cisco edge, an ASA and an F5 in front of its server; here the ASA also denies plain L2TP.
    Hops both processes built before the fork stay one object each, so the finding grouped by the deciding
    rule is one, for the roles of every network, whichever process audited them."""
    snap = tmp_path / "demo"
    shutil.copytree(DEMO, snap)
    asa = snap / "cisco" / "hq-asa.cfg"
    lines = asa.read_text().splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("access-list OUTSIDE_IN extended permit udp"))
    lines.insert(at, "access-list OUTSIDE_IN extended deny udp any any eq 1701\n")
    asa.write_text("".join(lines))
    config = snap / "audit.yaml"  # plain L2TP: UDP 1701 in the clear, which the ASA now denies
    config.write_text(config.read_text().replace("[ikev2, l2tp, sstp]", "[ikev2, l2tp, l2tp-plain, sstp]"))
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2)
    assert forked.networks_by_worker > 0
    assert _report(forked) == _report(serial)
    server_side = [f for f in forked.findings if f.check.id == "VPN-BLOCKED-SERVER-SIDE"]
    assert len(server_side) == 1, [f.title for f in server_side]
    assert len(server_side[0].evidence["networks"]) == len(forked.model.networks)
    asa_hops = {id(h.hop) for p in forked.paths for h in p.trace.hops if h.hop.device == "cisco/hq-asa"}
    serial_asa_hops = {id(h.hop) for p in serial.paths for h in p.trace.hops if h.hop.device == "cisco/hq-asa"}
    assert asa_hops and len(asa_hops) == len(serial_asa_hops)


@pytest.mark.slow
@needs_fork
@pytest.mark.parametrize("broken", [(2,), (61,), (8, 70)])
def test_malformed_input_raises_the_serial_error(tmp_path: Path, broken: tuple[int, ...]) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from synth import network_id
    finally:
        sys.path.remove(str(ROOT / "bench"))
    snap = _synthetic(tmp_path / "org", 80)
    for index in broken:
        path = snap / "meraki" / "networks" / network_id(index) / "appliance" / "firewall" / "l3FirewallRules.json"
        path.write_text('{"rules": [\n  {"policy": "deny",\n')  # truncated
    with pytest.raises(SnapshotError) as serial:
        run_audit(snap, keep_model=False, workers=1)
    with pytest.raises(SnapshotError) as forked:
        run_audit(snap, keep_model=False, workers=2)
    assert str(forked.value) == str(serial.value)
    assert network_id(broken[0]) in str(serial.value)


@pytest.mark.slow
@needs_fork
def test_small_scoped_and_kept_audits_stay_serial(tmp_path: Path) -> None:
    snap = _synthetic(tmp_path / "org", 70)
    assert run_audit(DEMO, keep_model=False).networks_by_worker == 0  # a few networks: not worth a process
    assert run_audit(snap, keep_model=True).networks_by_worker == 0  # live rule lists stay in this process
    assert run_audit(snap, keep_model=False).networks_by_worker > 0  # 64 or more networks: shared


@pytest.mark.slow
@needs_fork
def test_a_silent_worker_is_taken_as_stuck(monkeypatch: pytest.MonkeyPatch) -> None:
    """Waiting for the worker's last messages is bounded: a worker that neither writes nor ends (a pipe
    held open and silent) makes the caller give up, kill it and audit serially."""
    from auditor import parallel

    monkeypatch.setattr(parallel, "SILENCE_LIMIT", 2.0)
    read_fd, write_fd = os.pipe()
    inbox = parallel._Inbox(read_fd)
    try:
        started = time.monotonic()
        with pytest.raises(parallel._WorkerFailed, match="no message from the worker for 2 s"):
            list(inbox.rest())
        assert 1.5 < time.monotonic() - started < 10
    finally:
        os.close(write_fd)
        inbox.close()


@pytest.mark.slow
@needs_fork
def test_the_fuzz_seed_with_every_kind_of_hop_in_two_processes_matches_serial(tmp_path: Path) -> None:
    """The fuzzers' seed: splash, iPSKs, group-policy readings, gaps, a full-tunnel spoke and its hub, a 1:1
    NAT, policy objects: every kind of hop, segment and variant travels from the worker and back."""
    from tests.robustness.meraki_base import build

    seed = build(tmp_path / "seed")
    seed.audit()  # writes its audit.yaml
    snap = seed.root
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2)
    assert forked.networks_by_worker > 0
    assert len(serial.model.networks) >= 3
    assert set(serial.counts().values()) != {0} and serial.counts()["unknown"] and serial.counts()["blocked"]
    assert _report(forked) == _report(serial)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="F_SETPIPE_SZ is Linux's")
def test_results_pipe_holds_a_whole_message() -> None:
    import fcntl

    from auditor.parallel import _widen

    read_fd, write_fd = os.pipe()
    try:
        before = fcntl.fcntl(write_fd, fcntl.F_GETPIPE_SZ)
        _widen(write_fd)
        assert before < 1 << 20 <= fcntl.fcntl(write_fd, fcntl.F_GETPIPE_SZ)
        os.set_blocking(write_fd, False)
        assert os.write(write_fd, b"x" * (512 << 10)) == 512 << 10  # a large message goes in, unread
    finally:
        os.close(read_fd)
        os.close(write_fd)


def _same(a: Any, b: Any, pairs: dict[int, int], back: dict[int, int]) -> int:
    """Assert `b` (rebuilt from a worker's tables) is `a` (the serial audit's): the same values, and the
    same objects where `a` has the same object (a network's hops, rules, segments and packets, which reports
    group by identity), counted in pairs/back. Returns how many of those were met again."""
    frozen = dataclasses.is_dataclass(a) and a.__dataclass_params__.frozen
    if isinstance(a, str | int | float | bool | Enum) or a is None or frozen:  # values (a Flow too)
        assert type(b) is type(a) and b == a
        return 0
    if isinstance(a, list | tuple):
        assert type(b) is type(a) and len(b) == len(a)
        return sum(_same(x, y, pairs, back) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        assert type(b) is dict and list(b) == list(a)
        return sum(_same(a[k], b[k], pairs, back) for k in a)
    if id(a) in pairs or id(b) in back:
        assert pairs.get(id(a)) == id(b) and back.get(id(b)) == id(a)  # shared as the serial audit shares it
        return 1
    pairs[id(a)], back[id(b)] = id(b), id(a)
    if isinstance(a, PacketSet):
        assert type(b) is PacketSet and b.state() == a.state()
        return 0
    if isinstance(a, RuleList):  # released: what describes it travels (a vendor's subclass as a RuleList)
        assert isinstance(b, RuleList)
        return sum(_same(getattr(a, n), getattr(b, n), pairs, back) for n in ("name", "default", "origin"))
    assert dataclasses.is_dataclass(a) and isinstance(b, type(a)), (a, b)  # a LazyTrace is a FlowTrace
    return sum(_same(getattr(a, f.name), getattr(b, f.name), pairs, back) for f in dataclasses.fields(a))


@pytest.mark.slow
@needs_fork
def test_worker_networks_are_the_serial_objects_shared_as_serial(tmp_path: Path) -> None:
    """Every path a worker audited, read back from its tables, is the serial audit's: each value, and within
    a network each object the serial audit shares (a hop in every role's ways and every record of it, a
    segment in a hop's record and the trace's blocked list, a rule in several segments) shared likewise."""
    snap = _synthetic(tmp_path / "org", 80)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2)
    assert forked.networks_by_worker > 0 and len(forked.paths) == len(serial.paths)
    by_network: dict[str | None, list[tuple[PathResult, PathResult]]] = {}
    for ours, theirs in zip(serial.paths, forked.paths, strict=True):
        by_network.setdefault(ours.role.network_id, []).append((ours, theirs))
    met_again = 0
    for pairs in by_network.values():
        seen: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for ours, theirs in pairs:
            assert (ours.protocol, ours.server.name) == (theirs.protocol, theirs.server.name)
            met_again += _same(ours.role, theirs.role, *seen) + _same(ours.trace, theirs.trace, *seen)
    assert met_again > len(serial.paths)  # sharing was there to keep


@pytest.mark.slow
@needs_fork
def test_what_is_not_proven_is_never_allowed_whichever_process_or_cache(tmp_path: Path) -> None:
    """Rules not collected, and a rule naming an object the snapshot lacks, leave the flows they may decide
    unknown, never allowed: in one process, in several (a worker's networks travel encoded), and from the audit
    cache, cold and warm (entries decoded). Checked against the planted facts, not against the serial audit,
    which a bug shared by every way of auditing would make agree."""
    from auditor.vocab import Verdict
    from tests.snapshot_builder import deny

    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from synth import network_id
    finally:
        sys.path.remove(str(ROOT / "bench"))
    snap = _synthetic(tmp_path / "org", 80)
    nets = snap / "meraki" / "networks"
    missing = {network_id(i) for i in (3, 30, 62)}  # the MX's L3 rules were not collected
    unread = {network_id(i) for i in (11, 47, 75)}  # its first rule denies udp/500 to an object nobody defined
    for net in missing:
        (nets / net / "appliance" / "firewall" / "l3FirewallRules.json").unlink()
    for net in unread:
        rules = nets / net / "appliance" / "firewall" / "l3FirewallRules.json"
        body = json.loads(rules.read_text())
        body["rules"].insert(0, deny("udp", "500", dest="OBJ(424242)"))
        rules.write_text(json.dumps(body))
    cache = tmp_path / "cache"
    runs = {
        "serial": run_audit(snap, keep_model=False, workers=1),
        "three processes": run_audit(snap, keep_model=False, workers=3, network_text=json_report.network_text),
        "cache cold": run_audit(snap, keep_model=False, workers=3, cache_dir=cache),
        "cache warm": run_audit(snap, keep_model=False, workers=3, cache_dir=cache),
    }
    assert runs["three processes"].networks_by_worker > 0
    assert runs["cache warm"].cache is not None and runs["cache warm"].cache.hits == 80
    for how, result in runs.items():
        planted = [p for p in result.paths if p.role.network_id in missing | unread]
        assert {p.role.network_id for p in planted} == missing | unread, how
        for path in planted:
            port_500 = path.trace.flow.ip_protocol == "udp" and path.trace.flow.dst_port == 500
            if path.role.network_id in missing or port_500:
                assert path.trace.verdict != Verdict.ALLOWED, (how, path.role.name, path.protocol)
        assert any(p.trace.verdict == Verdict.UNKNOWN and "l3FirewallRules.json" in p.trace.reason
                   for p in planted if p.role.network_id in missing), how
        assert any(p.trace.verdict == Verdict.UNKNOWN and p.trace.flow.dst_port == 500
                   for p in planted if p.role.network_id in unread), how
        # the networks nothing was planted in still pass: the check above is not met by everything failing
        assert sum(p.trace.verdict == Verdict.ALLOWED for p in result.paths) > len(result.paths) // 2, how


def _bare(result: AuditResult) -> dict[str, Any]:
    """The worker's networks that came without their tables (every trace plainly allowed), by network id."""
    return {p.role.network_id: tables for p in result.paths
            if (tables := getattr(p.trace, "_tables", None)) is not None and tables.tables is None}


@pytest.mark.slow
@needs_fork
def test_worker_networks_sent_without_tables_are_rebuilt_as_the_serial_ones(tmp_path: Path) -> None:
    """Streaming the JSON report without the cache, a worker sends a network whose traces are all plainly
    allowed without its tables; read, they are rebuilt here, and every path is then the serial audit's,
    value for value and shared as the serial audit shares (as test_worker_networks_are_the_serial_objects...),
    the report unchanged."""
    snap = _synthetic(tmp_path / "org", 80)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2, network_text=json_report.network_text)
    bare = _bare(forked)
    assert bare and len(bare) < forked.networks_by_worker + 1 and not any(t.filled for t in bare.values())
    forked.generated_at = serial.generated_at
    assert _streamed(forked) == _streamed(serial)
    by_network: dict[str | None, list[tuple[PathResult, PathResult]]] = {}
    for ours, theirs in zip(serial.paths, forked.paths, strict=True):
        by_network.setdefault(ours.role.network_id, []).append((ours, theirs))
    for pairs in by_network.values():
        seen: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for ours, theirs in pairs:
            _same(ours.role, theirs.role, *seen)
            _same(ours.trace, theirs.trace, *seen)
    assert all(t.filled for t in bare.values())  # each was rebuilt to be read


@pytest.mark.slow
@needs_fork
@pytest.mark.parametrize("change", ["verdict", "comment", "nothing"])
def test_a_network_changed_since_its_worker_audited_it_is_not_rebuilt_silently(tmp_path: Path, change: str
                                                                               ) -> None:
    """A network sent without its tables whose files changed after the worker read them (a deny rule added:
    its verdicts change; a rule's comment changed: only the report text does) stops the reader with an error
    naming the network, rather than answering from a second reading of the snapshot; a file rewritten with
    the same content is rebuilt."""
    snap = _synthetic(tmp_path / "org", 80)
    forked = run_audit(snap, keep_model=False, workers=2, network_text=json_report.network_text)
    serial = run_audit(snap, keep_model=False, workers=1)
    network_id, tables = next(iter(_bare(forked).items()))
    rules = snap / "meraki" / "networks" / str(network_id) / "appliance" / "firewall" / "l3FirewallRules.json"
    body = json.loads(rules.read_text())
    if change == "verdict":
        body["rules"].insert(0, {"comment": "late edit", "policy": "deny", "protocol": "udp", "srcPort": "Any",
                                 "srcCidr": "Any", "destPort": "500", "destCidr": "Any"})
    elif change == "comment":  # of a rule of that file the report shows (one that decided a flow)
        shown = {seg.rule.origin.index for p in serial.paths if p.role.network_id == network_id
                 for record in p.trace.hops for seg in record.segments
                 if seg.rule is not None and seg.rule.origin is not None and seg.rule.origin.index is not None
                 and seg.rule.origin.path.endswith("appliance/firewall/l3FirewallRules.json")}
        assert shown
        body["rules"][min(shown)]["comment"] = "edited since"
    rules.write_text(json.dumps(body))
    trace = tables.traces[0]
    if change == "nothing":
        assert trace.hops and tables.filled
        return
    with pytest.raises(SnapshotError, match=f"{network_id}.*changed while the audit ran"):
        trace.hops  # noqa: B018 - the read is the test
    assert not tables.filled


@pytest.mark.slow
@needs_fork
def test_spooled_text_copied_as_bytes_only_where_the_handle_writes_it_unchanged(tmp_path: Path) -> None:
    """A streamed report copies the processes' spooled text into the file as bytes (sendfile) where the handle
    writes UTF-8 unchanged; a handle that translates newlines, another encoding, a file opened to append (which
    refuses sendfile) and a handle with no descriptor get the text through the handle: every file is what the
    handle makes of the serial report."""
    snap = _synthetic(tmp_path / "org", 80)
    serial = run_audit(snap, keep_model=False, workers=1)
    forked = run_audit(snap, keep_model=False, workers=2, network_text=json_report.network_text)
    forked.generated_at = serial.generated_at
    expected = _streamed(serial)
    assert len(forked.written) == 80
    cases = {"plain": ("w", "utf-8", None), "crlf": ("w", "utf-8", "\r\n"), "latin-1": ("w", "latin-1", None),
             "append": ("a", "utf-8", None)}
    for name, (mode, encoding, newline) in cases.items():
        target = tmp_path / f"{name}.json"
        with target.open(mode, encoding=encoding, newline=newline) as handle:
            json_report.write(forked, handle)
        assert target.read_bytes() == expected.replace("\n", newline or "\n").encode(encoding), name
    assert _streamed(forked) == expected  # no descriptor: the text itself
