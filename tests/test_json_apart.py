"""A large JSON report whose networks have no text yet (the audit cache's hits, a serial audit) is written by this
process and a forked child, each half of the networks (auditor/report/json_report.py `_RenderedApart`): the
report is the one this process alone writes, byte for byte, to a file (sendfile) or to a text stream, with
a role filter, and when the child fails or dies part way (this process then writes what it did not)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from auditor import gate
from auditor.audit import AuditResult, run_audit
from auditor.report import json_report
from tests.environment import needs_fork

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 12-network synthetic org and an audit cache filled for it."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from synth import write_org
    finally:
        sys.path.remove(str(ROOT / "bench"))
    root = tmp_path_factory.mktemp("apart")
    snap = write_org(root / "org", 12, seed=5, workers=1)
    run_audit(snap, keep_model=False, workers=1, cache_dir=root / "cache")
    return snap, root / "cache"


@pytest.fixture(autouse=True)
def taken(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Networks this process took from a child. Threads earlier tests left behind (idle test servers) are not
    the point here: the fork is judged without them (test_no_child_is_forked_beside_another_thread runs in an
    interpreter of its own)."""
    monkeypatch.setattr(json_report, "_other_threads", lambda: False)
    taken: list[int] = []
    real = json_report._RenderedApart.take

    def take(self, at):  # type: ignore[no-untyped-def]
        entry = real(self, at)
        if entry is not None:
            taken.append(at)
        return entry

    monkeypatch.setattr(json_report._RenderedApart, "take", take)
    return taken


def _warm(cached: tuple[Path, Path]) -> AuditResult:
    snap, cache = cached
    result = run_audit(snap, keep_model=False, workers=1, cache_dir=cache)
    assert result.cache is not None and result.cache.hits == 12
    result.generated_at = "fixed"
    return result


def _alone(result: AuditResult, monkeypatch: pytest.MonkeyPatch) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(json_report, "APART_MIN_PATHS", 10**9)
        out = io.StringIO()
        json_report.write(result, out)
    return out.getvalue()


def _shared(result: AuditResult, monkeypatch: pytest.MonkeyPatch, file: Path | None = None) -> str:
    with monkeypatch.context() as patch:
        patch.setattr(json_report, "APART_MIN_PATHS", 100)  # the org has about 1,200 paths
        patch.setattr(json_report, "APART_BATCH", 2)
        if file is None:
            out = io.StringIO()
            json_report.write(result, out)
            return out.getvalue()
        with file.open("w", encoding="utf-8") as handle:
            json_report.write(result, handle)
    return file.read_text(encoding="utf-8")


@needs_fork
def test_the_child_writes_the_later_half_of_the_networks(cached: tuple[Path, Path],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    result = _warm(cached)
    monkeypatch.setattr(json_report, "APART_MIN_PATHS", 100)
    apart = json_report._RenderedApart.start(result.paths, {})
    assert apart is not None
    try:
        starts = list(apart.mine)
        assert 4 <= len(starts) <= 8 and starts[-1] > starts[0] > 0  # the later networks, about half of them
        for start, end in apart.mine.items():
            entry = apart.take(start)
            assert entry is not None
            spool, span, paths = entry
            assert paths == result.paths[start:end] and spool.read(span) == json_report.network_text(paths)
        assert apart.take(0) is None  # the first network is this process's
    finally:
        apart.close()


@needs_fork
def test_the_report_is_the_one_this_process_writes_alone(cached: tuple[Path, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, taken: list[int]) -> None:
    result = _warm(cached)
    alone = _alone(result, monkeypatch)
    assert alone.count('"protocol":') == len(result.paths) > 1000 and not taken
    assert _shared(result, monkeypatch) == alone  # read back from the spool
    assert len(taken) >= 4
    assert _shared(result, monkeypatch, tmp_path / "report.json") == alone  # sent to the file
    assert len(taken) >= 8
    gate.filter_roles(result, ["Store-Guest"])  # some networks' paths are gone from the middle
    assert _shared(result, monkeypatch, tmp_path / "guest.json") == _alone(result, monkeypatch)
    assert len(taken) >= 12


@needs_fork
@pytest.mark.parametrize("how", ["raises", "dies"])
def test_a_child_that_stops_part_way_leaves_the_rest_to_this_process(cached: tuple[Path, Path], tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     how: str, taken: list[int]) -> None:
    result = _warm(cached)
    alone = _alone(result, monkeypatch)
    parent, calls = os.getpid(), []
    real = json_report.network_text

    def failing(paths):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:  # in the child: two networks written, then a failure
            calls.append(1)
            if len(calls) > 2:
                if how == "dies":
                    os._exit(3)
                raise RuntimeError("planted")
        return real(paths)

    monkeypatch.setattr(json_report, "network_text", failing)
    assert _shared(result, monkeypatch, tmp_path / "report.json") == alone
    assert 1 <= len(taken) <= 2  # the two the child wrote; this process wrote the rest
    assert _shared(result, monkeypatch) == alone


_THREADS = """
import sys, threading
import auditor.vendors
from auditor.audit import run_audit
from auditor.report import json_report
json_report.APART_MIN_PATHS = 100
result = run_audit(sys.argv[1], keep_model=False, workers=1, cache_dir=sys.argv[2])
release = threading.Event()
other = threading.Thread(target=release.wait)
other.start()
beside = json_report._RenderedApart.start(result.paths, {})
release.set()
other.join()
lone = threading.active_count()
alone = json_report._RenderedApart.start(result.paths, {})
print(lone, beside is None, alone is not None)
alone.close()
"""


@needs_fork
def test_no_child_is_forked_beside_another_thread(cached: tuple[Path, Path]) -> None:
    """A fork copies only the forking thread (a fleet job writes its report in a Dask worker's thread): in an
    interpreter with no other thread a child is forked, beside one none is."""
    import subprocess

    snap, cache = cached
    done = subprocess.run([sys.executable, "-c", _THREADS, str(snap), str(cache)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.stdout.split() == ["1", "True", "True"], done.stderr


@needs_fork
def test_the_cli_report_on_stdout_is_the_same(cached: tuple[Path, Path]) -> None:
    """The command itself, warm, its JSON report on a pipe (the child's part is copied onto it)."""
    import json
    import subprocess

    snap, cache = cached
    outputs = []
    for least in (100, 10**9):  # shared with a child, then written alone
        child = (f"import sys; import auditor.report.json_report as j; j.APART_MIN_PATHS = {least}; "
                 "sys.argv[0] = 'vpn-auditor'; from auditor.cli import main; main()")
        done = subprocess.run([sys.executable, "-c", child, "audit", str(snap), "--cache", str(cache),
                               "--format", "json"], capture_output=True, text=True, timeout=300)
        assert done.returncode in (0, 1), done.stderr
        assert json.loads(done.stdout)["paths"]
        outputs.append([line for line in done.stdout.splitlines() if not line.startswith('  "generated_at"')])
    assert outputs[0] == outputs[1] and sum(line.count('"protocol":') for line in outputs[0]) > 1000
