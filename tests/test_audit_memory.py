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
