"""Exchange's request budget per user, kept in the store for servers that share one PostgreSQL
store (server/throttling.py's SharedBudgets): N processes each keeping a budget in memory would
grant a user N times EasMaxBurst.  The rule (a token bucket) is eas/throttling.py's; this module
hands over the user's row locked, so two processes charging one user at once take turns."""
from __future__ import annotations

from sqlalchemy import text
from sqlmodel import Field, Session, SQLModel, select

FULL = -1.0  # `at` of a bucket never charged: it starts full (EasMaxBurst)


class ThrottleBudget(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=64)  # the user's
    balance: float = 0.0  # ms
    at: float = FULL  # when `balance` was true (the server clock, epoch seconds)


# The row must exist before it can be locked; two processes charging a user's first request at
# once must not both insert it.
_ENSURE = text("INSERT INTO throttlebudget (name, balance, at) VALUES (:name, 0, :full) ON CONFLICT (name) DO NOTHING")


def locked(session: Session, name: str) -> ThrottleBudget:
    """The user's bucket, locked until the caller's transaction ends (made full when missing)."""
    session.connection().execute(_ENSURE, {"name": name, "full": FULL})
    return session.exec(select(ThrottleBudget).where(ThrottleBudget.name == name).with_for_update()).one()
