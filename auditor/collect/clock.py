"""The clock a collector paces itself by: what its rate limiting reads and waits on.

Collection takes it as a parameter (`CollectorConfig.clock`) so the same code, the SDK's retry waits
included, can run on another clock; a test gives it virtual time, in which a Retry-After of a second costs
none. The default is the system's: `time.monotonic()` and `asyncio.sleep()`.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` pass on this clock."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
