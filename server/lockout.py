"""Back-off after repeated failed logons, as Active Directory does for Exchange: after `threshold`
wrong passwords for one account within `window` seconds, the account is locked out for `duration`
seconds, and every logon to it is refused with 401 without checking the password (the right one
included, as AD's lockout does); a client address that fails `address_threshold` times, for any
names, is refused the same way.  A successful logon clears the account's count (AD resets
badPwdCount).  The lab can switch all of it off (`easlab serve --no-auth-lockout`).

Both tables are bounded: the least recently touched entries go first, so a client cycling through
names or addresses cannot grow them without end.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int = 5  # AD's "Account lockout threshold" (failed logons)
    window: float = 600.0  # AD's "Reset account lockout counter after" (seconds)
    duration: float = 600.0  # AD's "Account lockout duration" (seconds)
    address_threshold: int = 20  # failed logons from one client address, any names
    max_entries: int = 10_000  # per table


@dataclass
class _Count:
    failures: int
    since: float  # start of the current window
    locked_until: float = 0.0


class _Table:
    """key -> failure count, least recently touched first, at most `limit` entries."""

    def __init__(self, threshold: int, policy: LockoutPolicy):
        self.threshold = threshold
        self.policy = policy
        self.entries: OrderedDict[str, _Count] = OrderedDict()

    def locked(self, key: str, now: float) -> bool:
        entry = self.entries.get(key)
        return entry is not None and entry.locked_until > now

    def fail(self, key: str, now: float) -> None:
        entry = self.entries.get(key)
        if entry is None or now - entry.since > self.policy.window:
            entry = self.entries[key] = _Count(0, now, entry.locked_until if entry else 0.0)
        entry.failures += 1
        if entry.failures >= self.threshold:
            entry.locked_until = now + self.policy.duration
            entry.failures, entry.since = 0, now  # a new count starts once the lockout ends
        self.entries.move_to_end(key)
        while len(self.entries) > self.policy.max_entries:
            self.entries.popitem(last=False)

    def clear(self, key: str) -> None:
        self.entries.pop(key, None)


class Lockout:
    def __init__(self, policy: LockoutPolicy | None = None, clock: Callable[[], float] = time.monotonic):
        self.policy = policy or LockoutPolicy()
        self.clock = clock
        self._users = _Table(self.policy.threshold, self.policy)
        self._addresses = _Table(self.policy.address_threshold, self.policy)
        self._guard = threading.Lock()

    def refused(self, name: str, address: str | None) -> bool:
        """Whether a logon to `name` from `address` is refused without looking at its password."""
        now = self.clock()
        with self._guard:
            return self._users.locked(name, now) or (address is not None and self._addresses.locked(address, now))

    def failed(self, name: str, address: str | None) -> None:
        now = self.clock()
        with self._guard:
            self._users.fail(name, now)
            if address is not None:
                self._addresses.fail(address, now)

    def succeeded(self, name: str) -> None:
        with self._guard:
            self._users.clear(name)

    def sizes(self) -> tuple[int, int]:
        """(accounts, addresses) with an entry: bounded by the policy's max_entries."""
        with self._guard:
            return len(self._users.entries), len(self._addresses.entries)
