"""Test-wide settings.

`HYPOTHESIS_PROFILE=ci` (set by `.ci/run`) makes every property and fuzz test draw the same examples on each
run: a gate that passes or fails by the luck of the draw tells nothing about the change under review. Local
runs keep drawing new examples, which is how the fuzzers find new bugs (each one then gets a fixed regression
test in tests/robustness/test_regressions.py).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
