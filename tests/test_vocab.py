"""The typed vocabulary (auditor/vocab.py): each ranking as the audit relies on it, and members that read as the
plain words every report and file format has always held."""

from __future__ import annotations

import json
import pickle

import pytest

from auditor.lb_model import CONDITIONAL, SPLIT, STICKY, UNKNOWN
from auditor.vocab import (
    SEVERITY_REPORT_ORDER,
    VERDICT_REPORT_ORDER,
    FailOn,
    PersistenceVerdict,
    Severity,
    Verdict,
)


def test_a_failure_the_report_knows_outranks_one_it_cannot_settle() -> None:
    assert Verdict.worst(["allowed", "unknown"]) is Verdict.UNKNOWN
    assert Verdict.worst(["unknown", "partial", "allowed"]) is Verdict.PARTIAL
    assert Verdict.worst([Verdict.PARTIAL, Verdict.BLOCKED, Verdict.UNKNOWN]) is Verdict.BLOCKED
    assert Verdict.worst([], default=Verdict.ALLOWED) is Verdict.ALLOWED
    with pytest.raises(ValueError):
        Verdict.worst([])
    assert [v.rank for v in Verdict] == sorted(v.rank for v in Verdict)


def test_an_inner_flow_inherits_an_unsettled_carrier_before_a_partly_blocked_one() -> None:
    # L2TP inside IPsec needs every carrier: one that may be dropped anywhere leaves it unsettled, which a
    # carrier blocked for some sources only does not outweigh. The report's ranking says the opposite.
    carriers = ["allowed", "partial", "unknown"]
    assert max(carriers, key=Verdict.doubt_of) == "unknown"
    assert Verdict.worst(carriers) is Verdict.PARTIAL
    assert Verdict.doubt_of("blocked") > Verdict.doubt_of("unknown") > Verdict.doubt_of("allowed")


def test_members_are_the_words_reports_have_always_written() -> None:
    counts = dict.fromkeys(VERDICT_REPORT_ORDER, 0) | {Verdict.BLOCKED: 2}
    assert json.dumps(counts) == '{"allowed": 0, "blocked": 2, "partial": 0, "unknown": 0}'
    assert json.dumps({"severity": Severity.WARNING, "verdict": PersistenceVerdict.SPLIT}) == \
        '{"severity": "warning", "verdict": "split"}'
    assert f"{Verdict.PARTIAL} {Severity.ERROR}" == "partial error"
    assert [str(s) for s in SEVERITY_REPORT_ORDER] == ["error", "warning", "info"]
    assert {"unknown": 1}[Verdict.UNKNOWN] == 1  # read back from a report: the plain word finds the member
    assert pickle.loads(pickle.dumps(Verdict.BLOCKED)) is Verdict.BLOCKED  # the audit cache and forked workers


def test_fail_on_counts_findings_at_or_above_its_severity_and_never_counts_none() -> None:
    assert [s for s in Severity if Severity.fails_at(s, FailOn.WARNING)] == [Severity.WARNING, Severity.ERROR]
    assert [s for s in Severity if Severity.fails_at(s, "info")] == list(Severity)
    assert not any(Severity.fails_at(s, FailOn.NEVER) for s in Severity)
    assert [f.value for f in FailOn if f is not FailOn.NEVER] == [s.value for s in reversed(Severity)]


def test_the_load_balancer_model_decides_in_the_persistence_vocabulary() -> None:
    assert {STICKY, CONDITIONAL, SPLIT, UNKNOWN} == set(PersistenceVerdict)
    assert all(isinstance(v, PersistenceVerdict) for v in (STICKY, CONDITIONAL, SPLIT, UNKNOWN))
