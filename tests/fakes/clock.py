"""Virtual time for rate-limit tests: the collector (`CollectorConfig.clock`) and the fake Dashboard
(`FakeDashboard(clock=...)`) read the same clock, and waiting on it costs no real time.

Time moves only when a coroutine sleeps: each sleeper waits until no earlier deadline is pending, then moves the
clock to its own. So waits that overlap in real code overlap here (a 1 s back-off and a 0.1 s pacing wait end
1 s later, not 1.1 s), and requests take no time at all: the server's token bucket refills exactly as fast as
the collector's pacing and Retry-After waits let time pass. Timeouts stay on the real clock (asyncio's loop).
"""

from __future__ import annotations

import asyncio
import itertools
import threading

TICK = 1e-6  # the least a sleep lets pass, in seconds


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._waiting: dict[int, float] = {}  # sleeper -> deadline
        self._ids = itertools.count()
        self._lock = threading.Lock()  # the fake Dashboard reads the clock from its own threads

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    async def sleep(self, seconds: float) -> None:
        me = next(self._ids)
        with self._lock:
            # A real sleep always takes some time: a wait shorter than a tick (a token bucket's rounding leftover,
            # 1e-15 s) would otherwise leave the clock where it is, and its waiter asking again forever.
            deadline = self._now + max(TICK, seconds)
            self._waiting[me] = deadline
        try:
            await asyncio.sleep(0)  # sleepers that are ready now register first
            while True:
                with self._lock:
                    if self._now >= deadline or deadline <= min(self._waiting.values()):
                        self._now = max(self._now, deadline)
                        return
                await asyncio.sleep(0.001)  # an earlier deadline goes first
        finally:
            with self._lock:
                del self._waiting[me]
