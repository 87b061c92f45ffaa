"""What one Dashboard call leaves behind, shared by the collector (collect.py) and the incremental reader
(incremental.py, which the collector uses): the call's outcome, the request accounting the rate gate charges
to it, and (from auditor.errors) the usage error both raise. Its own module so the two need not import each other."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

# The collectors' one usage error (exit 2), importable from here as before.
from auditor.errors import CollectUsageError as CollectUsageError


@dataclass
class CallStats:
    attempts: int = 0
    rate_limited: int = 0
    transport_error: str | None = None
    # This round's pages (a round: one SDK call; fetch makes it again after a run of 429s): the loop guards.
    redirects: int = 0
    pages: int = 0
    body_bytes: int = 0
    page_urls: set[str] = field(default_factory=set)
    page_digests: dict[int, str] = field(default_factory=dict)

    def new_round(self) -> None:
        self.redirects = self.pages = self.body_bytes = 0
        self.page_urls.clear()
        self.page_digests.clear()


CALL: ContextVar[CallStats | None] = ContextVar("meraki_call", default=None)  # the call a task is making


@dataclass
class Fetched:
    outcome: str
    body: Any = None

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"
