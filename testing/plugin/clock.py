"""The clock of a server process started with `--test-clock`, as a test holds it: a ManualClock's
face (now, monotonic, pending, advance, set) over the server's /api/clock, so a test moves time
with the same calls in both modes.  Every call is one blocking request as the fixture's org-admin;
the server fires the timers that fall due (held Pings, outbound retries, tarpits) before it answers.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta


class ServerClock:
    def __init__(self, api: Callable[..., tuple[int, dict]]):
        self._api = api  # ProcessEaslab._api: (method, path, json_body=...) -> (status, body)

    def _state(self, method: str = "GET", path: str = "/api/clock", body: dict | None = None) -> dict:
        return self._api(method, path, json_body=body)[1]

    def now(self) -> datetime:
        return datetime.fromisoformat(self._state()["now"])

    def monotonic(self) -> float:
        return float(self._state()["monotonic"])

    @property
    def pending(self) -> int:
        """Timers asleep on the server's clock."""
        return int(self._state()["pending"])

    def advance(self, seconds: float = 0.0, **delta) -> None:
        """Move the server's time forward (`advance(90)`, `advance(minutes=15)`), as ManualClock.advance."""
        step = seconds + timedelta(**delta).total_seconds()
        if step < 0:
            raise ValueError("time does not run backwards")
        self._state("POST", "/api/clock/advance", {"seconds": step})

    def set(self, when: datetime) -> None:
        """Move the server's time forward to the instant `when` (aware), as ManualClock.set."""
        if when.tzinfo is None:
            raise ValueError("a time without a time zone names no instant")
        self._state("POST", "/api/clock/set", {"now": when.isoformat()})

    def __repr__(self) -> str:
        return "<ServerClock of a --test-clock server process>"
