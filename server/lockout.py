"""Back-off after repeated failed logons, as Active Directory does for Exchange: after `threshold`
wrong passwords for one account within `window` seconds, the account is locked out for `duration`
seconds, and every logon to it is refused with 401 without checking the password (the right one
included, as AD's lockout does); a client address that fails `address_threshold` times, for any
names, is refused the same way.  A successful logon clears the account's count (AD resets
badPwdCount).  The lab can switch all of it off (`easlab serve --no-auth-lockout`).

Both tables are bounded: the least recently touched entries go first, so a client cycling through
names or addresses cannot grow them without end.

`Lockout` counts in this process's memory (SQLite: one serving process); `SharedLockout` counts
in the store, so processes sharing a PostgreSQL store lock an account out at the same count as one.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from easlab.storage import logonfailures as store

log = logging.getLogger("easlab.lockout")


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


def counted(entry: _Count | None, now: float, threshold: int, policy: LockoutPolicy) -> _Count:
    """`entry` with one more failure at `now`: a new count after `window`, a lockout at `threshold`."""
    if entry is None or now - entry.since > policy.window:
        entry = _Count(0, now, entry.locked_until if entry else 0.0)
    entry.failures += 1
    if entry.failures >= threshold:
        entry.locked_until = now + policy.duration
        entry.failures, entry.since = 0, now  # a new count starts once the lockout ends
    return entry


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
        self.put(key, counted(self.entries.get(key), now, self.threshold, self.policy))

    def put(self, key: str, entry: _Count) -> None:
        self.entries[key] = entry
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

    def succeeded(self, name: str) -> bool:
        """A right password: the account's count starts again.  True: the logon stands (a
        SharedLockout may learn here that another process locked the account)."""
        with self._guard:
            self._users.clear(name)
        return True

    def sizes(self) -> tuple[int, int]:
        """(accounts, addresses) with an entry: bounded by the policy's max_entries."""
        with self._guard:
            return len(self._users.entries), len(self._addresses.entries)


class SharedLockout(Lockout):
    """The same rules over every process serving one PostgreSQL store (`--workers N`, or several
    `easlab serve`): N processes counting in their own memory would allow N times the attempts.

    Each failure is counted in the store (storage/logonfailures.py) under a row lock, so the
    threshold trips at the same count however the attempts are spread; what the count says is
    kept here and told to the other processes through the push hub's relay (server/pgnotify.py).
    The refusal check of every logon stays in memory, and a right password reads the store only
    when this process knows of a count for the account (it clears it there, or finds that another
    process locked the account: refused).  A lost notification costs this much: until its next
    failure for that account or address (which reads the row), or the relay reconnecting (which
    reloads every lockout), this process does not know of a lockout set elsewhere for an account
    it saw no failure of, and lets that account's right password in.
    """

    def __init__(self, db, policy: LockoutPolicy | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(policy, clock)
        self.db = db
        self.tell: Callable[[dict], None] = lambda event: None  # to the other processes (the hub sets it)

    def _table(self, kind: str) -> _Table:
        return self._users if kind == store.USER else self._addresses

    def failed(self, name: str, address: str | None) -> None:
        keys = [(store.USER, name)] + ([(store.ADDRESS, address)] if address is not None else [])
        events = []
        with self.db.session() as session:
            at = store.now(session)
            store.prune(session, at, self.policy.window)
            for row in store.locked_rows(session, keys, create=True):
                if row.locked_until <= at:  # a failure during a lockout (another process's) counts nothing
                    entry = counted(_Count(row.failures, row.since, row.locked_until), at,
                                    self._table(row.kind).threshold, self.policy)
                    row.failures, row.since, row.locked_until = entry.failures, entry.since, entry.locked_until
                    session.add(row)
                events.append(_event(row, at))
        for event in events:
            self.heard(event)
            self.tell(event)

    def succeeded(self, name: str) -> bool:
        now = self.clock()
        with self._guard:
            entry = self._users.entries.get(name)
            if entry is None or now - entry.since > self.policy.window:
                self._users.clear(name)  # no count this process knows of: nothing to write
                return True
        with self.db.session() as session:
            at = store.now(session)
            rows = store.locked_rows(session, [(store.USER, name)], create=False)
            if rows and rows[0].locked_until > at:
                event = _event(rows[0], at)
            else:
                event = None
                for row in rows:
                    session.delete(row)
        if event is not None:
            self.heard(event)
            return False
        with self._guard:
            self._users.clear(name)
        return True

    def heard(self, event: dict | None) -> None:
        """A count another process (or this one) wrote; None: notifications may have been lost,
        read every lockout again (in a thread: the hub calls this on its loop)."""
        if event is None:
            threading.Thread(target=self.reload, name="easlab-lockout-reload", daemon=True).start()
            return
        now = self.clock()
        entry = _Count(int(event["failures"]), now - float(event["age"]), now + float(event["locked"]))
        with self._guard:
            self._table(event["kind"]).put(str(event["key"]), entry)

    def reload(self) -> None:
        try:
            with self.db.session(write=False) as session:
                at = store.now(session)
                events = [_event(row, at) for row in store.locked(session, at)]
        except Exception:  # the relay reconnects while the store is away: its next failure reads the row
            log.warning("could not read the lockouts from the store", exc_info=True)
            return
        for event in events:
            self.heard(event)


def _event(row, at: float) -> dict:
    """A row's count as the hub relays it: ages and remaining times, not the database's clock."""
    return {"event": "lockout", "kind": row.kind, "key": row.key, "failures": row.failures,
            "age": at - row.since, "locked": row.locked_until - at}
