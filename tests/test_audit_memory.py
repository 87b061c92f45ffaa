"""The audit keeps its results out of the collector's way while it runs (gc.freeze after each network) and
leaves nothing frozen behind: a process that audits again and again (check-ssid, diff, tests) must be able
to free what an earlier audit made."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from auditor.audit import run_audit
from auditor.trace import PathResult

DEMO = Path(__file__).resolve().parents[1] / "fixtures" / "snapshots" / "retail-demo"


@pytest.mark.slow
def test_audit_leaves_nothing_frozen_and_its_results_can_be_freed() -> None:
    assert gc.get_freeze_count() == 0
    thresholds = gc.get_threshold()
    result = run_audit(DEMO, keep_model=False)
    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == thresholds  # the audit's own young-generation threshold is undone
    assert result.counts() == {"allowed": 324, "blocked": 27, "partial": 0, "unknown": 15}
    del result
    gc.collect()
    assert not [o for o in gc.get_objects() if isinstance(o, PathResult)]


def test_objects_frozen_by_the_host_stay_frozen() -> None:
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        thresholds = gc.get_threshold()
        run_audit(DEMO, keep_model=False)
        assert gc.get_threshold() == thresholds
        # still frozen (a few of the host's frozen objects may have been freed meanwhile), and nothing added
        assert before * 0.99 <= gc.get_freeze_count() <= before
    finally:
        gc.unfreeze()


def test_what_networks_repeat_is_kept_once(tmp_path: Path) -> None:
    """A large org keeps a million paths: the words every network repeats (role and SSID names, ways, inner
    flows' reasons and carriers, hops' stages, the texts of rows) are one object each, and a released rule list keeps
    no rules (those that decided something stay with the traces), as a list from a forked worker does."""
    import sys

    from auditor.model import FilterHop

    bench = str(Path(__file__).resolve().parents[1] / "bench")
    sys.path.insert(0, bench)
    try:
        from synth import write_org
    finally:
        sys.path.remove(bench)
    result = run_audit(write_org(tmp_path / "org", 6, seed=3, workers=1), keep_model=False, workers=1)

    def distinct(values: list) -> tuple[int, int]:
        """(distinct values, distinct objects) among `values`."""
        return len(set(values)), len({id(v) for v in values})

    roles = {id(p.role): p.role for p in result.paths}.values()
    traces = [p.trace for p in result.paths]
    records = [r for t in traces for r in t.hops]
    rules = [s.rule for r in records for s in r.segments if s.rule is not None and not s.rule.synthetic]
    for values in ([r.name for r in roles], [r.ssid for r in roles], [t.variant for t in traces],
                   [t.reason for t in traces], [t.carried_by for t in traces if t.carried_by],
                   [r.hop.stage for r in records], [s.reason for r in records for s in r.segments],
                   [rule.text for rule in rules]):
        assert len(values) > 6 and distinct(values)[0] == distinct(values)[1], values[:3]
    hops = [r.hop for r in records if isinstance(r.hop, FilterHop) and r.hop.rules is not None]
    assert hops and all(hop.rules.rules == [] for hop in hops)


def test_the_json_report_leaves_nothing_frozen(tmp_path: Path) -> None:
    """The JSON writer keeps results the audit cache decodes while it writes out of the collector's way, as
    the audit does, and undoes it: nothing frozen, the thresholds as they were."""
    import io

    from auditor.report import json_report

    thresholds = gc.get_threshold()
    result = run_audit(DEMO, keep_model=False, cache_dir=tmp_path / "cache")
    cached = run_audit(DEMO, keep_model=False, cache_dir=tmp_path / "cache")
    assert cached.cache is not None and cached.cache.hits
    for audited in (result, cached):
        json_report.write(audited, io.StringIO())
        assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds


@pytest.mark.parametrize("fmt", ["text", "json", "markdown"])
def test_the_cli_reads_the_results_frozen_and_releases_them(fmt: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`vpn-auditor audit` renders its report with the audit's results out of the collector's walks (else each
    collection of the oldest generation walks millions of results again while rendering makes its objects), and
    leaves nothing frozen behind."""
    from typer.testing import CliRunner

    import auditor.report as reports
    from auditor.cli import app
    from auditor.report import json_report, text

    seen: list[int] = []

    def spying(render):  # type: ignore[no-untyped-def]
        def wrapped(*args, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(gc.get_freeze_count())
            return render(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(text, "render", spying(text.render))
    monkeypatch.setattr(json_report, "write", spying(json_report.write))
    monkeypatch.setattr(reports, "render_format", spying(reports.render_format))
    assert gc.get_freeze_count() == 0
    done = CliRunner().invoke(app, ["audit", str(DEMO), "--format", fmt, "-o", str(tmp_path / "report")])
    assert done.exit_code == 1, done.output  # the demo has errors
    assert len(seen) == 1 and seen[0] > 10_000  # the results (and what else was alive) were frozen
    assert gc.get_freeze_count() == 0
    assert (tmp_path / "report").stat().st_size > 1000
