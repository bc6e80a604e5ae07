"""Statements run on the DBAPI cursor itself, for the few hot writes where SQLAlchemy's execution
machinery costs many times the statement (SMTP delivery of plain mail, storage/plain_mail.py).

A `Prepared` is a Core statement compiled once per dialect: SQLAlchemy's own SQL text and its
column types' bind processors (UTCDateTime, JSONList, booleans, binaries), so what reaches the
database is what the ORM or a Core `execute` would send, without the per-statement cache lookup,
execution context and result wrapping (about 110 us a statement on SQLite, against 7 us for the
statement itself).  `writing` is one writing transaction as `Database.session` opens it: the
process's SQLite writer turn, BEGIN IMMEDIATE, commit or rollback.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, nullcontext
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlmodel import Session

from .db import Database


class Prepared:
    """`statement` compiled for `dialect`; `keys`: the columns an INSERT is given (every row
    gives each of them, so no column default is filled in here)."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: Sequence[str] | None = None):
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        names = list(compiled.positiontup or ()) if self.positional else list(by_name)
        self._names = names
        # The dialect's own form of each type (dialect_impl), as SQLAlchemy's execution takes it:
        # the generic DateTime has no processor and leaves sqlite3 to write "12:00:00" where the
        # SQLite DATETIME writes "12:00:00.000000", a text that sorts apart from the other.
        self._binds = [(name, by_name[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names]
        # Values the statement carries itself (a literal argument of a function, say).
        self._fixed = {name: by_name[name].value for name in names if by_name[name].value is not None}

    def params(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The DBAPI parameters for `values` (by bind name), each through its type's processor."""
        if self._fixed:
            values = {**self._fixed, **values}
        out = [values[name] if process is None else process(values[name]) for name, process in self._binds]
        return out if self.positional else dict(zip(self._names, out))

    def one(self, cursor, values: Mapping[str, Any]) -> tuple | None:
        cursor.execute(self.sql, self.params(values))
        return cursor.fetchone()

    def all(self, cursor, values: Mapping[str, Any]) -> list[tuple]:
        cursor.execute(self.sql, self.params(values))
        return cursor.fetchall()

    def many(self, cursor, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            cursor.executemany(self.sql, [self.params(row) for row in rows])


class PerDialect:
    """`statement` as a `Prepared` for each kind of dialect it is run on, compiled at its first run
    there (every engine has a dialect object of its own; its kind is what the SQL depends on)."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None):
        self.statement, self.keys = statement, keys
        self._compiled: dict[tuple[str, str, str], Prepared] = {}

    def on(self, dialect: Dialect) -> Prepared:
        key = (dialect.name, dialect.driver, dialect.paramstyle)
        prepared = self._compiled.get(key)
        if prepared is None:
            prepared = self._compiled[key] = Prepared(self.statement, dialect, self.keys)
        return prepared

    def rows(self, session: Session, values: Mapping[str, Any]) -> Iterator[tuple]:
        """The statement's rows in `session`'s transaction, on its DBAPI cursor.  Nothing the
        session holds is written first (no autoflush): the caller flushes what the read must see."""
        prepared = self.on(session.get_bind().dialect)
        with closing(session.connection().connection.cursor()) as cursor:
            cursor.execute(prepared.sql, prepared.params(values))
            yield from cursor

    def first(self, session: Session, values: Mapping[str, Any]) -> tuple | None:
        """`rows`' first row, or None."""
        prepared = self.on(session.get_bind().dialect)
        with closing(session.connection().connection.cursor()) as cursor:
            cursor.execute(prepared.sql, prepared.params(values))
            return cursor.fetchone()


@contextmanager
def writing(db: Database) -> Iterator[Any]:
    """A DBAPI cursor in one writing transaction: committed when the block ends, rolled back if it
    raises.  On SQLite the writer turn and BEGIN IMMEDIATE of `Database.session(write=True)`, so it
    queues with every other writer of the process and never fails half-way for a lock."""
    writer = db.writer
    with writer if writer is not None else nullcontext():
        connection = db.engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                if writer is not None:
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                connection.commit()
            except BaseException:
                connection.rollback()
                raise
            finally:
                cursor.close()
        finally:
            connection.close()
