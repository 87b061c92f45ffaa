"""The words results are told in: a path's verdict, a finding's severity, a load balancer's persistence verdict.

Each is a StrEnum, so a member is its string everywhere a string was (JSON, f-strings, dict keys, equality
with the plain word a report or snapshot file holds). Each has one ranking, written here once; comparison
operators stay those of strings (sorting by name keeps reports' order), so code ranks with `rank`/`worst`.
This module imports nothing of the tool's: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Verdict(StrEnum):
    """What happened to a flow on its way to the server. Members are listed from best to worst as a report
    ranks them (`rank`): a known failure outranks a path the configuration does not settle."""

    ALLOWED = "allowed"  # every packet reaches the server, with certainty
    UNKNOWN = "unknown"  # the configuration does not say for some packets (never read as allowed)
    PARTIAL = "partial"  # some packets are blocked, the rest allowed
    BLOCKED = "blocked"  # no packet reaches the server

    @property
    def rank(self) -> int:
        return _VERDICT_RANK[self]

    @staticmethod
    def rank_of(verdict: str) -> int:
        """`rank` of a verdict held as a plain string (a report read back, a test's expectation)."""
        return _VERDICT_RANK[verdict]

    @staticmethod
    def worst(verdicts: Iterable[str], default: str | None = None) -> Verdict:
        """The highest-ranked verdict; `default` when there is none."""
        found = max(verdicts, key=_VERDICT_RANK.__getitem__, default=default)
        if found is None:
            raise ValueError("worst() of no verdicts and no default")
        return Verdict(found)

    @staticmethod
    def doubt_of(verdict: str) -> int:
        """How far from proven allowed (allowed < partial < unknown < blocked): what a flow riding inside
        others (L2TP inside IPsec) inherits from its carriers, since it needs them all. Unlike `rank`, an
        unsettled carrier outranks one that passes some sources: the inner flow is then unsettled too."""
        return _VERDICT_DOUBT[verdict]


# Keyed by member, read with plain strings too (a StrEnum member hashes and compares as its value).
_VERDICT_RANK: dict[str, int] = {verdict: rank for rank, verdict in enumerate(Verdict)}
_VERDICT_DOUBT: dict[str, int] = {Verdict.ALLOWED: 0, Verdict.PARTIAL: 1, Verdict.UNKNOWN: 2, Verdict.BLOCKED: 3}

# The order reports count and list verdicts in (the JSON summary's keys): not the ranking.
VERDICT_REPORT_ORDER: tuple[Verdict, ...] = (Verdict.ALLOWED, Verdict.BLOCKED, Verdict.PARTIAL, Verdict.UNKNOWN)


class Severity(StrEnum):
    """A finding's severity, listed from least to most severe (`rank`); `--fail-on` names the lowest that
    exits 1."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @staticmethod
    def rank_of(severity: str) -> int:
        """`rank` of a severity held as a plain string (a CLI option's value)."""
        return _SEVERITY_RANK[severity]

    @staticmethod
    def fails_at(severity: str, fail_on: str) -> bool:
        """Whether a finding of `severity` exits 1 at `--fail-on fail_on`: a severity, or "never" (none does)."""
        return fail_on != FailOn.NEVER and _SEVERITY_RANK[severity] >= _SEVERITY_RANK[fail_on]


_SEVERITY_RANK: dict[str, int] = {severity: rank for rank, severity in enumerate(Severity)}


class FailOn(StrEnum):
    """`--fail-on`: the lowest severity that exits 1 (audit, check-ssid, explain, fleet), or never."""

    ERROR = Severity.ERROR.value
    WARNING = Severity.WARNING.value
    INFO = Severity.INFO.value
    NEVER = "never"  # report only: no finding exits 1 (an unknown path still exits 3)

# The order reports count findings in (the JSON summary's keys), most severe first.
SEVERITY_REPORT_ORDER: tuple[Severity, ...] = (Severity.ERROR, Severity.WARNING, Severity.INFO)


class PersistenceVerdict(StrEnum):
    """Whether one client's UDP 500 and UDP 4500 reach the same backend of a load balancer
    (docs/semantics/load-balancers.md), from sound to broken."""

    STICKY = "sticky"  # shared client-IP persistence (or one service for both ports)
    CONDITIONAL = "conditional"  # deterministic client-IP hashing over identical backend lists
    UNKNOWN = "unknown"  # decided by a script or undocumented behaviour: what to verify is said
    SPLIT = "split"  # the two ports may reach different backends
