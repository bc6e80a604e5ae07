"""Change counters for the configuration a server keeps in memory.

A server answers every EAS request from in-memory snapshots of what rarely changes (today: which
devices are traced and which users a fault may hit) instead of querying those tables each time.
Whoever changes that configuration (this process, the CLI in another one, a second server on the
same PostgreSQL store) bumps its counter in the same transaction, so a reader compares one integer,
read by primary key, to know whether its snapshot is still current.  A counter never goes down;
a missing row reads as 0.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Field, Session, SQLModel

INSTRUMENT = "instrument"  # traces and faults (storage/faults.py)
ACCESS = "access"  # what access decisions and logons rest on (storage/access_watch.py)


class Generation(SQLModel, table=True):
    name: str = Field(primary_key=True, max_length=32)
    value: int = 0


# One statement on SQLite (3.24+) and PostgreSQL alike: two writers bumping a counter that does
# not exist yet cannot both insert it.
_BUMP = text("INSERT INTO generation (name, value) VALUES (:name, 1) "
             "ON CONFLICT (name) DO UPDATE SET value = generation.value + 1")
_READ = text("SELECT value FROM generation WHERE name = :name")


def bump(session: Session, name: str) -> None:
    """Mark `name`'s configuration changed, inside the caller's transaction."""
    session.connection().execute(_BUMP, {"name": name})


def current(connection: Connection, name: str) -> int:
    value = connection.execute(_READ, {"name": name}).scalar()
    return int(value or 0)


@contextmanager
def pooled_cursor(engine: Engine) -> Iterator[Any]:
    """A DBAPI cursor on a pooled connection of its own, for the reads a request with nothing to do
    makes (peek_many, driver_rows, storage/sync.py's quiet look): no SQLAlchemy Connection, transaction
    events or statement cache, which cost more than such a query.  SQLite reads in autocommit;
    the pool rolls PostgreSQL's implicit transaction back when the connection is returned."""
    connection = engine.raw_connection()
    try:
        with closing(connection.cursor()) as cursor:
            yield cursor
    finally:
        connection.close()


def peek(engine: Engine, name: str) -> int:
    """`current`, on a pooled DBAPI connection of its own, for a reader that asks on every request:
    one SELECT of one row, without a SQLAlchemy Connection, transaction events or statement cache
    (which cost more than the query).  SQLite runs it in autocommit; the pool rolls PostgreSQL's
    implicit transaction back when the connection is returned."""
    return peek_many(engine, (name,))[0]


def peek_many(engine: Engine, names: tuple[str, ...]) -> tuple[int, ...]:
    """`peek` of several counters in one statement (an EAS request reads `access` and `instrument`
    together), in the order named."""
    with pooled_cursor(engine) as cursor:
        cursor.execute(_peek_statement(engine.dialect.paramstyle, len(names)), names)
        rows = dict(cursor.fetchall())
    return tuple(int(rows.get(name) or 0) for name in names)


def driver_rows(engine: Engine, statement: str, params: tuple, cursor=None) -> list[tuple]:
    """The rows of one read, written with `?` marks, on `cursor` or a pooled DBAPI connection as
    `peek_many` reads: for the statements a request with nothing to do runs (storage/sync.py,
    storage/folders.py), where SQLAlchemy's cache key and result processing cost several times
    the query."""
    if engine.dialect.paramstyle != "qmark":
        statement = statement.replace("?", "%s")
    if cursor is None:
        with pooled_cursor(engine) as cursor:
            return driver_rows(engine, statement, params, cursor)
    cursor.execute(statement, params)
    return cursor.fetchall()


_MARKS = {"qmark": lambda n: "?", "format": lambda n: "%s", "pyformat": lambda n: "%s", "numeric": lambda n: f":{n}"}
_STATEMENTS: dict[tuple[str, int], str] = {}


def _peek_statement(paramstyle: str, count: int) -> str:
    statement = _STATEMENTS.get((paramstyle, count))
    if statement is None:
        marks = ", ".join(_MARKS[paramstyle](n + 1) for n in range(count))
        statement = _STATEMENTS[(paramstyle, count)] = f"SELECT name, value FROM generation WHERE name IN ({marks})"
    return statement
