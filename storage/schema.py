"""The schema's revision (Alembic, storage/migrations/): every open brings a database to the head.

What is done follows from two facts, easlab's tables and the alembic_version row:
- at the head: nothing is written, and Alembic is not even imported (migrations.HEAD);
- no tables: a new database, created from the models and stamped at the head;
- tables without a revision: made before migrations.  storage/migrate.py's additive steps (which
  know every older easlab's database) bring it to the baseline (migrations/baseline.py, frozen),
  it is stamped there and then upgraded like any other;
- an older revision: upgraded through migrations/versions/, in one transaction.
A revision this easlab does not know (a newer easlab upgraded the database) is refused with
SchemaTooNew: older code over a newer schema would lose what it cannot see, quietly.

On PostgreSQL several processes may open one database at once (`serve --workers`, a command
beside a server): an advisory lock makes them take turns, and the later one finds the work done.
On SQLite a revision that rebuilds a table (Alembic's batch mode) would, with foreign keys
enforced, delete the children of the old table it drops (ON DELETE CASCADE), so revisions run with
enforcement off and the foreign key check before the commit, as storage/migrate.py's rebuild does.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import MetaData, inspect, text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from .migrate import add_missing_columns, add_missing_foreign_keys, tighten
from .migrations import BASELINE, HEAD

MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "alembic_version"
FIRST_TABLE = "user"  # every easlab database ever made has it
LOCK_KEY = 0x6561736C61620001  # "easlab" + 1: the advisory lock of schema upgrades on PostgreSQL
# Alembic says at INFO what it sets up (on import) and runs; `serve`'s INFO is for easlab's own lines.
logging.getLogger("alembic").setLevel(logging.WARNING)


class SchemaTooNew(RuntimeError):
    """The database is at a revision this easlab's migrations do not contain."""

    def __init__(self, revisions: frozenset[str]):
        self.revisions = revisions
        super().__init__(f"its schema is at revision {', '.join(sorted(revisions))}, which this easlab does not know "
                         f"(its newest is {HEAD}): a newer easlab upgraded it; run that one, or upgrade easlab")


class State(NamedTuple):
    tables: bool  # easlab's tables are there
    revisions: frozenset[str] | None  # alembic_version's rows; None without that table


class Outcome(NamedTuple):
    action: str  # "current", "created", "adopted" (made before migrations) or "upgraded"
    before: frozenset[str]  # the revisions it was at


def models_metadata() -> MetaData:
    """The models' tables, every module that declares some imported."""
    from . import (  # noqa: F401  (registers the tables)
        budgets, generations, logonfailures, models, models_compose, models_directory, models_documents, models_faults,
        models_items, rights,
    )

    return SQLModel.metadata


def config(connection: Connection | None = None):
    """Alembic's configuration, made here: an installed easlab has no alembic.ini."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(config()).walk_revisions()}


def read_state(conn: Connection) -> State:
    inspector = inspect(conn)
    if not inspector.has_table(VERSION_TABLE):
        return State(inspector.has_table(FIRST_TABLE), None)
    rows = frozenset(row[0] for row in conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")))
    return State(True if rows else inspector.has_table(FIRST_TABLE), rows)


def current(engine: Engine) -> State:
    with engine.connect() as conn:
        return read_state(conn)


def upgrade(engine: Engine, writer: Engine | None = None) -> Outcome:
    """Bring the database to HEAD (see the module's text); SchemaTooNew if it is past it.  The
    changes go through `writer` when given (on SQLite: the engine that begins IMMEDIATE)."""
    state = current(engine)
    if state.revisions == {HEAD}:
        return Outcome("current", state.revisions)
    with _turn(engine):
        state = current(engine)  # again: another process may have done it meanwhile
        before = state.revisions or frozenset()
        if before == {HEAD}:
            return Outcome("current", before)
        if before - known_revisions():
            raise SchemaTooNew(before)
        writer = writer or engine
        if not state.tables:
            _transaction(writer, lambda conn: (models_metadata().create_all(conn), _stamp(conn, HEAD)))
            return Outcome("created", before)
        if not before:
            bring_to_baseline(engine)  # its steps open transactions of their own, on the engine as given
            _transaction(writer, lambda conn: (_stamp(conn, BASELINE), _run(conn)))
            return Outcome("adopted", before)
        _transaction(writer, _run)
        return Outcome("upgraded", before)


def bring_to_baseline(engine: Engine) -> None:
    """A database made before migrations, given the baseline's tables, columns and cascades."""
    from .migrations.baseline import metadata

    metadata.create_all(engine)  # only the tables it lacks
    add_missing_columns(engine, metadata)
    add_missing_foreign_keys(engine, metadata)
    tighten(engine, metadata)


def _stamp(conn: Connection, revision: str) -> None:
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory

    MigrationContext.configure(conn).stamp(ScriptDirectory.from_config(config()), revision)


def _run(conn: Connection) -> None:
    from alembic import command

    command.upgrade(config(conn), "head")


@contextmanager
def _turn(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as lock:
        lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        lock.commit()
        try:
            yield
        finally:
            lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            lock.commit()


def _transaction(engine: Engine, work: Callable[[Connection], object]) -> None:
    with engine.connect() as conn:
        if conn.dialect.name != "sqlite":
            with conn.begin():
                work(conn)
            return
        driver = conn.connection.driver_connection
        driver.execute("PRAGMA foreign_keys=OFF")  # takes effect only outside a transaction
        try:
            with conn.begin():
                work(conn)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"foreign keys broken by the schema upgrade: {broken[:5]}")
        finally:
            driver.execute("PRAGMA foreign_keys=ON")
