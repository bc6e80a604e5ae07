"""Time, in one place, so tests can control it.

Everything time-based in the server — the DeviceDiscovery window, the policy refresh interval,
FilterType windows, Ping and Sync heartbeats, outbound retries — asks the app's clock.  The
SystemClock is the real one; ManualClock moves only when a test says `advance(...)`, firing
every timer that falls due on the way, so a test of a 14-minute window or a 59-minute heartbeat
takes no real time and never sleeps.  A ManualClock publishes a "timer" event on its own bus
each time a timer is set, so a test waits for the request under test to be asleep on the clock
before it advances, instead of polling `pending`.  `easlab serve --test-clock` runs a server
process on a ManualClock that /api/clock reads and advances (server/api/handlers_testing.py).
"""
from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from .events import EventBus


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]):
        """Run `callback` on the event loop after `delay` seconds; returns a handle with cancel()."""
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class _Timer:
    __slots__ = ("due", "callback", "cancelled")

    def __init__(self, due: float, callback: Callable[[], None]):
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that stands still until advanced."""

    def __init__(self, start: datetime | None = None, bus: EventBus | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        self._mono = 1000.0
        self._timers: list[tuple[float, int, _Timer]] = []
        self._order = itertools.count()
        self.bus = bus or EventBus()  # "timer" events: delay, due (monotonic seconds)

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def call_later(self, delay: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(self._mono + max(0.0, delay), callback)
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))
        self.bus.publish("timer", delay=delay, due=timer.due)
        return timer

    def advance(self, seconds: float = 0.0, **delta) -> None:
        """Move time forward (`advance(90)`, `advance(minutes=15)`), firing due timers in order."""
        step = seconds + timedelta(**delta).total_seconds()
        if step < 0:
            raise ValueError("time does not run backwards")
        target = self._mono + step
        while self._timers and self._timers[0][0] <= target:
            due, _, timer = heapq.heappop(self._timers)
            self._now += timedelta(seconds=due - self._mono)
            self._mono = due
            if not timer.cancelled:
                timer.callback()
        self._now += timedelta(seconds=target - self._mono)
        self._mono = target

    def set(self, when: datetime) -> None:
        """Move time forward to the instant `when` (aware), firing due timers on the way."""
        if when.tzinfo is None:
            raise ValueError("a time without a time zone names no instant")
        self.advance((when - self._now).total_seconds())

    @property
    def pending(self) -> int:
        return sum(1 for _, _, t in self._timers if not t.cancelled)


async def clock_sleep(clock, seconds: float) -> None:
    """Sleep on the server's clock (a ManualClock's `advance` ends it)."""
    if seconds <= 0:
        return
    future = asyncio.get_running_loop().create_future()

    def wake() -> None:
        if not future.done():
            future.set_result(None)

    handle = clock.call_later(seconds, wake)
    try:
        await future
    finally:
        handle.cancel()
