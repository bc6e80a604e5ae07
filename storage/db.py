"""The engine: a SQLite file by default (WAL mode), PostgreSQL by URL."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from .schema import Outcome, upgrade
from .urls import SCHEMES, SQLITE_SUFFIXES, DatabaseUrlError, normalise_url  # noqa: F401  (their home before urls.py)

T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (held Pings, the web UI) proceed while a delivery writes; busy_timeout
    # makes a second writer wait instead of failing with "database is locked".
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()
    # pysqlite would BEGIN (deferred) by itself before the first write; it must not, so that
    # _sqlite_begin decides how each transaction starts.
    dbapi_connection.isolation_level = None


BUSY_TIMEOUT_MS = 10_000
BEGIN_OPTION = "easlab_sqlite_begin"


def _sqlite_begin(connection) -> None:
    """BEGIN IMMEDIATE for a writing transaction, BEGIN (deferred) for a reading one.  A deferred
    transaction that read and then writes must upgrade its lock, and in WAL mode SQLite refuses
    that at once ("database is locked", busy_timeout or not) when another writer committed since
    the read; taking the write lock at BEGIN makes a second writer wait in busy_timeout instead."""
    connection.exec_driver_sql(connection.get_execution_options().get(BEGIN_OPTION, "BEGIN"))


class WriteNeeded(Exception):
    """A read-first transaction (`Database.read_first`) reached a write: it is rolled back before
    the statement runs and the work is done again in a writing transaction."""


_probing = threading.local()
_WRITES = ("INSERT", "UPDATE", "DELETE")


def _refuse_writes(conn, cursor, statement, parameters, context, executemany) -> None:
    if getattr(_probing, "on", False) and statement.lstrip()[:6].upper() in _WRITES:
        raise WriteNeeded(statement)


def probing() -> bool:
    """Whether this thread runs a read-first transaction (a write there raises WriteNeeded)."""
    return getattr(_probing, "on", False)


class WriterLock:
    """The process's SQLite writers, one at a time, first come first served: the next writer is
    woken as soon as the last commits, where SQLite's busy handler polls with growing sleeps (tens
    of ms) and lets late arrivals overtake (a delivery could wait behind fifty devices' turns).

    Each queued writer sleeps on a lock of its own, and a writer leaving wakes the next one only:
    one Condition for all woke every queued thread at each commit (forty under the concurrency
    bench), to take the GIL and the Condition's lock in turn, look and sleep again, while the one
    whose turn it was waited among them."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._next = 0  # the ticket handed to the next writer that asks
        self._serving = 0  # the ticket whose turn it is
        self._parked: dict[int, threading.Lock] = {}  # ticket -> the lock (held) its writer sleeps on
        self._owner = threading.local()
        self._abandoned: set[int] = set()  # tickets of writers that gave up waiting

    @property
    def waiting(self) -> int:
        """Writers queued now, the one writing not counted (tests look at it)."""
        with self._mutex:
            return max(0, self._next - self._serving - 1)

    def held(self) -> bool:
        """Whether this thread is inside a writing transaction."""
        return getattr(self._owner, "held", False)

    def __enter__(self) -> WriterLock:
        with self._mutex:
            ticket = self._next
            self._next += 1
            gate = None
            if ticket != self._serving:
                gate = self._parked[ticket] = threading.Lock()
                gate.acquire()
        if gate is not None and not gate.acquire(timeout=self.timeout):
            with self._mutex:
                # The turn may have come between the timeout and here: then it is this writer's.
                if self._serving != ticket:
                    # Give the turn up when it comes, so the writers behind this one are not stuck.
                    del self._parked[ticket]
                    self._abandoned.add(ticket)
                    raise TimeoutError(f"no SQLite write lock within {self.timeout:g} s")
        self._owner.held = True
        return self

    def __exit__(self, *exc) -> None:
        self._owner.held = False
        with self._mutex:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            gate = self._parked.pop(self._serving, None)
        if gate is not None:
            gate.release()


class Database:
    def __init__(self, url: str):
        from . import access_watch  # noqa: F401  (the hook that keeps the `access` generation)

        self.url = normalise_url(url)
        if self.url.startswith("sqlite"):
            # As many connections as the server has worker threads (anyio's 40), so a transaction
            # never queues for a connection, and none is closed and re-opened under load.  The one
            # returned last is handed out first (LIFO): a connection's page cache is dropped when
            # another connection wrote since its last transaction, so taking them in turn (FIFO)
            # read every page of a small write again (four preads in five of a delivery's).
            self.engine: Engine = create_engine(self.url, connect_args={"check_same_thread": False},
                                                pool_size=40, max_overflow=20, pool_use_lifo=True)
            event.listen(self.engine, "connect", _sqlite_pragmas)
            event.listen(self.engine, "begin", _sqlite_begin)
            self._write_engine = self.engine.execution_options(**{BEGIN_OPTION: "BEGIN IMMEDIATE"})
            self.writer: WriterLock | None = WriterLock(timeout=BUSY_TIMEOUT_MS / 1000)
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True, pool_size=20, max_overflow=20)
            self._write_engine = self.engine
            self.writer = None
        event.listen(self.engine, "before_cursor_execute", _refuse_writes)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> Outcome:
        """The database brought to this easlab's schema revision (storage/schema.py: created,
        upgraded, or left alone when it is there), with its default policy."""
        from .policies import ensure_default

        outcome = upgrade(self.engine, writer=self._write_engine)
        with self.session() as session:
            ensure_default(session)
        return outcome

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises.

        On SQLite a writing transaction (the default) holds the write lock from its first
        statement to its commit, so it never fails half-way for a lock; `write=False` promises
        a read only, which runs beside writers (WAL) and must not write."""
        # A transaction opened inside a writing one of the same thread cannot have the write
        # lock its caller holds: it reads (deferred), as every transaction did before.
        if self.writer is None or not write or self.writer.held():
            with self._transaction(self.engine, write) as session:
                yield session
            return
        with self.writer, self._transaction(self._write_engine, write) as session:
            yield session

    def read_first(self, work: Callable[[Session], T]) -> T:
        """`work` in a reading transaction, done again in a writing one if it turns out to write.

        A request that changes nothing (most of a device's requests) so never queues for SQLite's
        single writer; one that does write reads everything again under the write lock, so what
        it decides rests on what it writes over, as before."""
        if (self.writer is not None and self.writer.held()) or probing():
            return self._work(work, write=True)
        try:
            _probing.on = True
            try:
                return self._work(work, write=False)
            finally:
                _probing.on = False
        except WriteNeeded:
            return self._work(work, write=True)

    def _work(self, work: Callable[[Session], T], write: bool) -> T:
        with self.session(write=write) as session:
            return work(session)

    @contextmanager
    def _transaction(self, bind, write: bool) -> Iterator[Session]:
        with Session(bind, expire_on_commit=False, info={"write": write}) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()

