"""Failed logons counted in the store, for servers that share one PostgreSQL store.

Each process of `easlab serve --workers N` (or several `easlab serve` on one store) would otherwise
count wrong passwords in its own memory, and N processes would allow N times the attempts before
a lockout.  A failure is rare and already costs an argon2 check, so each one is a short write
here; a successful logon writes nothing unless this process knows of a count to clear
(server/lockout.py's SharedLockout keeps what it learnt in memory and tells the others).

Times are the database's clock in seconds (one clock for every process); the rules (threshold,
window, duration) are the server's, applied to the row this module hands over locked.
"""
from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Field, Session, SQLModel, select

USER, ADDRESS = "user", "address"


class LogonFailure(SQLModel, table=True):
    kind: str = Field(primary_key=True, max_length=8)  # USER or ADDRESS
    key: str = Field(primary_key=True, max_length=320)  # the account's name or the client's address
    failures: int = 0  # in the current count
    since: float = 0.0  # when the current count began (database clock, epoch seconds)
    locked_until: float = 0.0  # refused until then (database clock)


_NOW = {"postgresql": "SELECT extract(epoch FROM clock_timestamp())::float8",
        "sqlite": "SELECT (julianday('now') - 2440587.5) * 86400.0"}
# A row per key must exist before it can be locked for update; two processes adding the first
# failure of one key at once must not both insert it.
_ENSURE = text("INSERT INTO logonfailure (kind, key, failures, since, locked_until) VALUES (:kind, :key, 0, 0, 0) "
               "ON CONFLICT (kind, key) DO NOTHING")


def now(session: Session) -> float:
    return float(session.connection().execute(text(_NOW[session.get_bind().dialect.name])).scalar_one())


def locked_rows(session: Session, keys: list[tuple[str, str]], create: bool) -> list[LogonFailure]:
    """The rows of `keys` ((kind, key) pairs), locked until the caller's transaction ends, in one
    order whatever the caller's (two processes locking the same two rows cannot deadlock); with
    `create`, a missing one is made first (empty)."""
    rows = []
    for kind, key in sorted(set(keys)):
        if create:
            session.connection().execute(_ENSURE, {"kind": kind, "key": key})
        row = session.exec(select(LogonFailure).where(LogonFailure.kind == kind, LogonFailure.key == key)
                           .with_for_update()).first()
        if row is not None:
            rows.append(row)
    return rows


def prune(session: Session, at: float, window: float) -> None:
    """Forget the counts that ended: the table holds what the last `window` seconds failed."""
    session.connection().execute(text("DELETE FROM logonfailure WHERE locked_until < :at AND since < :start"),
                                 {"at": at, "start": at - window})


def locked(session: Session, at: float) -> list[LogonFailure]:
    """The keys locked out now."""
    return list(session.exec(select(LogonFailure).where(LogonFailure.locked_until > at)))
