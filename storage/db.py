"""The engine: a SQLite file by default (WAL mode), PostgreSQL by URL."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine

from .migrate import add_missing_columns, add_missing_foreign_keys

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")  # a bare path is taken as a SQLite file only with one
SCHEMES = ("sqlite", "postgres", "postgresql", "postgresql+psycopg")


class DatabaseUrlError(ValueError):
    """A --db value that names no database easlab can store in."""


def normalise_url(url: str) -> str:
    """Accept the URLs people type: a path ending in .db (.sqlite, .sqlite3) means SQLite,
    postgres:// and postgresql:// mean psycopg 3.  Anything else is refused: a typo must not
    become a new SQLite file, nor another driver a ModuleNotFoundError."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if not url.lower().endswith(SQLITE_SUFFIXES):
            raise DatabaseUrlError(f"--db {url!r} is not a database URL: use sqlite:///PATH, "
                                   "postgresql://USER@HOST/DB, or a file path ending in .db")
        return f"sqlite:///{os.path.abspath(url)}"
    if scheme.lower() not in SCHEMES:
        raise DatabaseUrlError(f"--db: easlab cannot store in {scheme}://; use sqlite:///PATH or "
                               "postgresql://USER@HOST/DB")
    if scheme.lower() == "sqlite" and not rest.startswith("/"):
        raise DatabaseUrlError(f"--db {url!r}: a SQLite URL is sqlite:///PATH (three slashes, then the path)")
    if scheme.lower() in ("postgres", "postgresql"):
        return "postgresql+psycopg://" + rest
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (held Pings, the web UI) proceed while a delivery writes; busy_timeout
    # makes a second writer wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class Database:
    def __init__(self, url: str):
        self.url = normalise_url(url)
        if self.url.startswith("sqlite"):
            # As many connections as the server has worker threads (anyio's 40), so a transaction
            # never queues for a connection, and none is closed and re-opened under load.
            self.engine: Engine = create_engine(self.url, connect_args={"check_same_thread": False},
                                                pool_size=40, max_overflow=20)
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=20, max_overflow=20)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> None:
        from . import generations, models, models_compose, models_directory, models_faults, models_items  # noqa: F401  (registers the tables)
        from .policies import ensure_default

        SQLModel.metadata.create_all(self.engine)
        add_missing_columns(self.engine, SQLModel.metadata)
        add_missing_foreign_keys(self.engine, SQLModel.metadata)
        with self.session() as session:
            ensure_default(session)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

