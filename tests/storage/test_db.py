import pytest
from sqlalchemy import text

from easlab.storage import Database
from easlab.storage.db import normalise_url
from easlab.storage.passwords import verify_password
from easlab.storage.users import UserError, add_user, get_user, list_users, set_password


def test_sqlite_file_in_wal_mode(tmp_path):
    db = Database(str(tmp_path / "x.db"))  # a bare path means a SQLite file
    db.create_all()
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    assert (tmp_path / "x.db").exists()


def test_sqlite_hands_out_the_connection_returned_last(tmp_path):
    db = Database(str(tmp_path / "x.db"))
    try:
        first, second = db.engine.raw_connection(), db.engine.raw_connection()
        warm = first.dbapi_connection
        second.close()
        first.close()  # returned last: its page cache holds what it just wrote
        again = db.engine.raw_connection()
        assert again.dbapi_connection is warm
        again.close()
    finally:
        db.dispose()


def test_urls_people_type():
    assert normalise_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalise_url("sqlite:///a.db") == "sqlite:///a.db"


def test_users_hashed_and_case_insensitive(db):
    with db.session() as s:
        add_user(s, "Carol", "pw1", "Carol C")
    with db.session() as s:
        user = get_user(s, "CAROL")
        assert user.name == "carol"
        assert user.password_hash.startswith("$argon2id$")
        assert "pw1" not in user.password_hash
        assert verify_password("pw1", user.password_hash)
        assert not verify_password("pw2", user.password_hash)
        with pytest.raises(UserError):
            add_user(s, "carol", "x")
        with pytest.raises(UserError):
            add_user(s, "bad name", "x")


def test_failed_transaction_leaves_nothing(db):
    with pytest.raises(RuntimeError):
        with db.session() as s:
            add_user(s, "dave", "pw")
            raise RuntimeError("half-way")
    with db.session() as s:
        assert get_user(s, "dave") is None


def test_postgresql_url_works(pg_schema_url):
    db = Database(pg_schema_url.replace("postgresql+psycopg://", "postgres://"))  # the form people type
    assert db.dialect == "postgresql"
    db.create_all()
    with db.session() as s:
        add_user(s, "erin", "pw")
    with db.session() as s:
        set_password(s, "ERIN", "pw2")
    with db.session() as s:
        assert [u.name for u in list_users(s)] == ["erin"]
        assert verify_password("pw2", get_user(s, "erin").password_hash)
    db.dispose()


def test_an_old_file_gains_the_device_xmswl_column(tmp_path):
    from sqlalchemy import inspect

    from .test_schema_revisions import as_before_migrations

    from easlab.storage.devices import touch_device

    db = Database(str(tmp_path / "old.db"))
    db.create_all()
    with db.engine.begin() as conn:
        conn.execute(text('ALTER TABLE device DROP COLUMN ms_wl'))  # a file from before the column
        as_before_migrations(conn)  # and so from before migrations
    assert "ms_wl" not in {c["name"] for c in inspect(db.engine).get_columns("device")}
    db.create_all()
    assert "ms_wl" in {c["name"] for c in inspect(db.engine).get_columns("device")}
    with db.session() as s:
        add_user(s, "dave", "pw")
    with db.session() as s:
        assert touch_device(s, get_user(s, "dave"), "dev1", "iPhone").ms_wl == ""
    db.dispose()
