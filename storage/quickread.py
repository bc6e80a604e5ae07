"""Reads for short-lived commands (`easlab user list`) through the database's own driver.

Importing SQLAlchemy, SQLModel and the models costs several times the 0.3 s of CPU the whole of
`easlab user list` may take (issue 16; bench/cli_start.py), for one SELECT.  So this module reads
with sqlite3 or psycopg alone, and only the plain case: a store that is not there, is not
easlab's, cannot be reached or lacks a column read here (made by an older easlab) raises
Unavailable, and the caller takes the ORM path (storage/users.py), which opens, migrates and
refuses with the same one-line messages as every other command.

The table and column names are the models' (storage/models.py); tests/storage/test_quickread.py
compares what is read here with what the ORM reads, on SQLite and PostgreSQL.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from .urls import normalise_url

SQLITE = "sqlite:///"
POSTGRESQL = "postgresql+psycopg://"
USERS = 'SELECT name, display_name, activesync_enabled, role, created_at FROM "user" ORDER BY name'
# The schema's revision first: a store at another one (older: to be upgraded; newer: to be
# refused) is not the plain case, whatever its columns.
REVISION = "SELECT version_num FROM alembic_version"


class Unavailable(Exception):
    """Not the plain case this module reads: the ORM path must (and says why, if anything is wrong)."""


@dataclass(frozen=True)
class UserRow:
    name: str
    display_name: str
    activesync_enabled: bool
    role: str
    created_at: datetime  # aware, UTC (as storage/types.py's UTCDateTime reads it)


def list_users(url: str) -> list[UserRow]:
    """The users by name, as storage/users.py's list_users orders them."""
    from .migrations import HEAD

    revisions, users = _select(normalise_url(url), REVISION, USERS)
    if revisions != [(HEAD,)]:
        raise Unavailable(f"schema revision {revisions}, not {HEAD}")
    return [UserRow(name, display_name, bool(active), role, _utc(created))
            for name, display_name, active, role, created in users]


def _utc(value) -> datetime:
    # SQLAlchemy keeps a DateTime in SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff'; psycopg hands back a
    # datetime, naive for easlab's `timestamp without time zone` columns.
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise Unavailable(f"created_at is {type(value).__name__}")
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _select(url: str, *sql: str) -> list[list[tuple]]:
    """The rows of each statement, read on one connection."""
    if url.startswith(SQLITE) and "?" not in url:
        return _sqlite(url[len(SQLITE):], sql)
    if url.startswith(POSTGRESQL):
        return _postgresql("postgresql://" + url[len(POSTGRESQL):], sql)
    raise Unavailable(url.partition("://")[0])


def _sqlite(path: str, sql: tuple[str, ...]) -> list[list[tuple]]:
    import sqlite3
    from urllib.parse import quote

    # mode=rw: a missing file stays missing (plain connect would create an empty database).
    try:
        connection = sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=10)
    except sqlite3.Error as exc:
        raise Unavailable(str(exc)) from None
    try:
        return [connection.execute(each).fetchall() for each in sql]
    except sqlite3.Error as exc:
        raise Unavailable(str(exc)) from None
    finally:
        connection.close()


def _postgresql(conninfo: str, sql: tuple[str, ...]) -> list[list[tuple]]:
    import psycopg

    try:
        with psycopg.connect(conninfo) as connection:
            return [connection.execute(each).fetchall() for each in sql]
    except psycopg.Error as exc:
        raise Unavailable(str(exc)) from None
