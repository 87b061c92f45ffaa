"""Large inputs, scaled down: memory and time grow linearly with the size of a snapshot, of a running-config
and of a rule list, so the full sizes (bench/robustness_sizes.py: 100 MB, 200,000 lines, 20,000 rules) are
processed in bounded memory. Each case is measured at n and 4n; linear growth gives a ratio near 4, a
quadratic one near 16."""

from __future__ import annotations

import importlib.util
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from auditor.audit import run_audit

BENCH = Path(__file__).parents[2] / "bench" / "robustness_sizes.py"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("robustness_sizes", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("robustness_sizes", module)
    spec.loader.exec_module(module)
    return module


sizes = _bench()


def _measure(tmp_path: Path, write: Callable[[Path, float], None], size: float) -> tuple[int, float, int]:
    """(peak bytes allocated during the audit, seconds, paths) for an input of `size`."""
    root = tmp_path / f"in-{size}"
    write(root, size)
    tracemalloc.start()
    started = time.perf_counter()
    result = run_audit(root, keep_model=False)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, seconds, len(result.paths)


def _linear(tmp_path: Path, write: Callable[[Path, float], None], small: float) -> tuple[float, float]:
    write(tmp_path / "warm", small / 4)  # imports and caches off the books
    run_audit(tmp_path / "warm")
    peak1, time1, _ = _measure(tmp_path, write, small)
    peak4, time4, _ = _measure(tmp_path, write, small * 4)
    return peak4 / peak1, time4 / max(time1, 1e-3)


def test_running_config_grows_linearly(tmp_path: Path) -> None:
    memory, seconds = _linear(tmp_path, sizes.write_config, 3000)
    assert memory < 6, memory
    assert seconds < 9, seconds


def test_rule_list_grows_linearly(tmp_path: Path) -> None:
    memory, seconds = _linear(tmp_path, sizes.write_rules, 1500)
    assert memory < 6, memory
    assert seconds < 9, seconds


def test_snapshot_of_many_networks_grows_linearly(tmp_path: Path) -> None:
    """Networks are built, traced and released one at a time: what stays is the results."""
    memory, seconds = _linear(tmp_path, sizes.write_snapshot, 0.8)  # MB: about 12 networks, then 50
    assert memory < 5.5, memory
    assert seconds < 8, seconds


def test_a_200000_line_config_fits_in_bounded_memory_figure(tmp_path: Path) -> None:
    """The figure of record (bench/robustness_sizes.py) extrapolated from 10,000 lines: per line, the audit
    allocates a few kilobytes at most, so 200,000 lines stay well under a gigabyte."""
    peak, seconds, paths = _measure(tmp_path, sizes.write_config, 10_000)
    assert paths == 12
    assert peak / 10_000 < 4_000, peak  # bytes per line
    assert seconds < 30
