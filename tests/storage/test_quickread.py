"""storage/quickread.py reads the users as the ORM does, on SQLite and PostgreSQL, and says
Unavailable (never an answer of its own) for anything but a current store that is there."""
from __future__ import annotations

import socket
import sqlite3
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from easlab.storage import Database, quickread
from easlab.storage.models import User
from easlab.storage.users import add_user, list_users


def test_users_read_as_the_orm_reads_them(database):
    with database.session() as session:
        add_user(session, "zoe", "pw", "Zoë Z", role="viewer", hashed="x")
        add_user(session, "adam", "pw", hashed="x")
        session.exec(select(User).where(User.name == "adam")).one().activesync_enabled = False
        session.exec(select(User).where(User.name == "zoe")).one().created_at = datetime(
            2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)
    with database.session() as session:
        expected = [quickread.UserRow(u.name, u.display_name, u.activesync_enabled, u.role, u.created_at)
                    for u in list_users(session)]
    rows = quickread.list_users(database.url)
    assert rows == expected
    assert [(r.name, r.display_name, r.activesync_enabled, r.role) for r in rows] == [
        ("adam", "adam", False, ""), ("zoe", "Zoë Z", True, "viewer")]
    assert rows[1].created_at == datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)


def test_a_missing_sqlite_file_is_unavailable_and_not_made(tmp_path):
    with pytest.raises(quickread.Unavailable):
        quickread.list_users(f"sqlite:///{tmp_path / 'none.db'}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("schema", [
    "CREATE TABLE other (id INTEGER)",  # a SQLite file, not easlab's
    'CREATE TABLE "user" (id INTEGER, name TEXT)',  # an older store: the ORM path migrates it
])
def test_a_store_without_the_columns_is_unavailable(tmp_path, schema):
    path = tmp_path / "x.db"
    with sqlite3.connect(path) as connection:
        connection.execute(schema)
    with pytest.raises(quickread.Unavailable, match="no such"):
        quickread.list_users(str(path))


def test_a_file_that_is_not_a_database_is_unavailable(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_text("not a database, but long enough to be read as a SQLite header" * 10)
    with pytest.raises(quickread.Unavailable, match="not a database"):
        quickread.list_users(str(junk))


def test_postgresql_not_reachable_is_unavailable():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(quickread.Unavailable):
        quickread.list_users(f"postgresql://lab:s3cret@127.0.0.1:{port}/easlab")


def test_user_list_on_postgresql_imports_psycopg_alone(pg_schema_url):
    from tests.server.test_cli_start import modules_after

    db = Database(pg_schema_url)
    db.create_all()
    db.dispose()
    loaded = modules_after("user", "list", "--db", pg_schema_url)
    assert "psycopg" in loaded
    assert not {"sqlalchemy", "sqlmodel", "pydantic", "easlab.storage.db", "easlab.storage.models"} & loaded
