"""Schema revisions (storage/schema.py, storage/migrations/): a database from before migrations,
with data in it, is upgraded on SQLite and PostgreSQL and then matches the models exactly; so does
one built by the revisions alone (this is the test that fails when a model changes without a
revision); a revision this easlab does not know is refused; a second start writes nothing."""
from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, event, inspect, text
from sqlmodel import select

from easlab.server.cli import main
from easlab.storage import Database, schema
from easlab.storage.migrations import BASELINE, HEAD
from easlab.storage.migrations.baseline import metadata as baseline
from easlab.storage.models import Device, Item, SyncState, User
from easlab.storage.models_compose import SentClientId

from .test_migration import OLD_SCHEMA

UTC = timezone.utc
WRITES = ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "REPLACE")



def as_before_migrations(conn) -> None:
    """Turn a database this easlab made into one made before migrations: no alembic_version, and
    none of the tables later revisions created (an older easlab never had them)."""
    for name in set(inspect(conn).get_table_names()) - set(baseline.tables) - {schema.VERSION_TABLE}:
        conn.execute(text(f'DROP TABLE "{name}"'))
    conn.execute(text(f"DROP TABLE {schema.VERSION_TABLE}"))

def differences(engine) -> list:
    """What Alembic's autogenerate would write into a new revision: [] when the database is the models'."""
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), schema.models_metadata())


def revisions(engine) -> set[str]:
    with engine.connect() as conn:
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def sqlite_before_migrations(tmp_path) -> str:
    """A file as easlab cb5e698 made it (tests/storage/schema_cb5e698.sql): columns and cascades missing."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA.read_text())
    return str(path)


def postgresql_before_migrations(url: str) -> str:
    """Today's tables without alembic_version, less a column, with a VARCHAR(16) access reason and
    syncstate's device key without its cascade (as easlab made them before), and rows in them."""
    engine = create_engine(url)
    baseline.create_all(engine)
    db = Database(url)  # rows written as the code writes them (create_all left out: no revision)
    with db.session() as s:
        alice = User(name="alice", display_name="Alice", password_hash="x", allowed_device_ids=["PhoneA"],
                     created_at=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        s.add(alice)
        s.flush()
        phone = Device(user_id=alice.id, device_id="PhoneA", access_state="Allowed",
                       first_sync=datetime(2026, 1, 5, 9, 0, tzinfo=UTC), last_sync=datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        s.add(phone)
        s.flush()
        s.add(SyncState(device_pk=phone.id, collection_id="1", sync_key="2", prev_key="1", presented=[7],
                        options={"filter_type": 3}))
    db.dispose()
    with engine.begin() as conn:  # then the schema made old
        conn.execute(text("ALTER TABLE device DROP COLUMN ms_wl"))
        conn.execute(text("ALTER TABLE device ALTER COLUMN access_reason TYPE VARCHAR(16)"))
        conn.execute(text('ALTER TABLE "user" ALTER COLUMN session_generation DROP NOT NULL'))  # added so before
        conn.execute(text('UPDATE "user" SET session_generation = NULL'))
        for fk in inspect(conn).get_foreign_keys("syncstate"):
            conn.execute(text(f'ALTER TABLE syncstate DROP CONSTRAINT "{fk["name"]}"'))
        conn.execute(text("ALTER TABLE syncstate ADD FOREIGN KEY (device_pk) REFERENCES device (id)"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def old_database(request, tmp_path) -> str:
    if request.param == "sqlite":
        return sqlite_before_migrations(tmp_path)
    return postgresql_before_migrations(request.getfixturevalue("pg_schema_url"))


def test_a_database_from_before_migrations_keeps_its_data_and_reaches_the_head(old_database):
    db = Database(old_database)
    assert schema.current(db.engine) == schema.State(True, None)
    assert db.create_all() == schema.Outcome("adopted", frozenset())
    assert revisions(db.engine) == {HEAD}
    assert differences(db.engine) == []
    with db.session() as s:
        alice = s.exec(select(User)).one()
        assert alice.session_generation == 0  # NULL where an older easlab added it: the default, NOT NULL now
        assert (alice.name, alice.allowed_device_ids, alice.created_at) == (
            "alice", ["PhoneA"], datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
        phone = s.exec(select(Device).where(Device.device_id == "PhoneA")).one()
        assert (phone.access_state, phone.ms_wl) == ("Allowed", "")  # the column it lacked, with its default
        state = s.exec(select(SyncState).where(SyncState.device_pk == phone.id)).one()
        assert (state.sync_key, state.prev_key, state.presented, state.options) == ("2", "1", [7], {"filter_type": 3})
        phone.access_reason = "UserAgentsChanges"  # 17 characters: the widened column takes them
    with db.session() as s:
        s.delete(s.exec(select(Device).where(Device.device_id == "PhoneA")).one())
    with db.session() as s:  # the cascade it gained
        assert s.exec(select(SyncState).where(SyncState.collection_id == "1")).all() == []
    db.dispose()


def test_the_old_sqlite_file_keeps_every_row(tmp_path):
    db = Database(sqlite_before_migrations(tmp_path))
    db.create_all()
    with db.session() as s:
        assert s.exec(select(Item)).one().attachments == [{"name": "a.txt", "size": 3}]
        assert [d.id for d in s.exec(select(Device))] == [1, 2]
        assert [c.id for c in s.exec(select(SentClientId))] == [1]
    db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "easlab.db")
    return request.getfixturevalue("pg_schema_url")


def test_the_revisions_alone_build_the_models_schema(url):
    """An empty database upgraded by Alembic itself, as a developer's scratch database is: the
    baseline and every revision after it give exactly what the models declare."""
    db = Database(url)
    with db.engine.begin() as conn:
        command.upgrade(schema.config(conn), "head")
    assert revisions(db.engine) == {HEAD}
    assert differences(db.engine) == []
    db.dispose()


def test_a_new_database_is_created_at_the_head(url):
    db = Database(url)
    assert db.create_all() == schema.Outcome("created", frozenset())
    assert revisions(db.engine) == {HEAD} and differences(db.engine) == []
    db.dispose()


def test_head_names_the_newest_revision():
    assert ScriptDirectory.from_config(schema.config()).get_heads() == [HEAD]
    assert ScriptDirectory.from_config(schema.config()).get_base() == BASELINE


def test_a_second_start_writes_nothing(url):
    db = Database(url)
    db.create_all()
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda conn, cursor, statement, *rest: seen.append(statement))
    assert db.create_all() == schema.Outcome("current", frozenset({HEAD}))
    assert seen and [s for s in seen if s.lstrip().upper().startswith(WRITES)] == []
    assert revisions(db.engine) == {HEAD}
    db.dispose()


def newer(url: str) -> Database:
    db = Database(url)
    db.create_all()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dcafe0002'"))
    return db


def test_a_revision_this_easlab_does_not_know_is_refused(url):
    db = newer(url)
    with pytest.raises(schema.SchemaTooNew) as refused:
        db.create_all()
    assert str(refused.value) == ("its schema is at revision f00dcafe0002, which this easlab does not know "
                                  f"(its newest is {HEAD}): a newer easlab upgraded it; run that one, or upgrade easlab")
    assert revisions(db.engine) == {"f00dcafe0002"}  # left as it was
    db.dispose()


def test_the_cli_refuses_it_in_one_line(tmp_path):
    path = tmp_path / "newer.db"
    newer(str(path)).dispose()
    for args in (["user", "list"], ["db", "upgrade"], ["db", "current"]):
        result = CliRunner().invoke(main, [*args, "--db", str(path)])
        assert result.exit_code == 2, (args, result.output)
        assert len(result.output.splitlines()) == 1 and "Traceback" not in result.output
        assert "f00dcafe0002" in result.output and "a newer easlab upgraded" in result.output
        assert "run that one, or upgrade easlab" in result.output


def test_the_cli_says_where_the_database_is(tmp_path):
    path = sqlite_before_migrations(tmp_path)
    run = CliRunner().invoke
    assert run(main, ["db", "current", "--db", path]).output.startswith("none: made before migrations;")
    assert run(main, ["db", "upgrade", "--db", path]).output == (
        f"easlab: database {path} made before migrations: brought to the baseline and upgraded to revision {HEAD}\n")
    assert run(main, ["db", "current", "--db", path]).output == f"{HEAD} (head)\n"
    assert run(main, ["db", "upgrade", "--db", path]).output == f"easlab: database {path} already at revision {HEAD}\n"


TEST_REVISION = '''"""A test's own revision (never shipped): a column on device, the table SQLite rebuilds."""
from alembic import op
import sqlalchemy as sa

revision = "t0002"
down_revision = "{head}"
RECREATE = {{"sqlite": "always", "postgresql": "auto"}}  # SQLite: the table is copied, dropped, renamed


def upgrade():
    with op.batch_alter_table("device", recreate=RECREATE[op.get_bind().dialect.name]) as batch:
        batch.add_column(sa.Column("nickname", sa.String(32), nullable=False, server_default="none"))


def downgrade():
    with op.batch_alter_table("device", recreate=RECREATE[op.get_bind().dialect.name]) as batch:
        batch.drop_column("nickname")
'''


def test_an_older_revision_is_upgraded_with_its_data(url, tmp_path, monkeypatch):
    """A later revision that rebuilds a table with children (SQLite's batch mode drops the old
    one): the children stay, because the rebuild runs with foreign key enforcement off."""
    db = Database(url)
    db.create_all()
    with db.session() as s:
        alice = User(name="alice", display_name="Alice", password_hash="x", created_at=datetime.now(UTC))
        s.add(alice)
        s.flush()
        phone = Device(user_id=alice.id, device_id="PhoneA", first_sync=datetime.now(UTC), last_sync=datetime.now(UTC))
        s.add(phone)
        s.flush()
        s.add(SyncState(device_pk=phone.id, collection_id="1", sync_key="2", prev_key="1"))
    scripts = tmp_path / "migrations"
    shutil.copytree(schema.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "t0002_test.py").write_text(TEST_REVISION.format(head=HEAD))
    monkeypatch.setattr(schema, "MIGRATIONS", scripts)
    monkeypatch.setattr(schema, "HEAD", "t0002")
    assert db.create_all() == schema.Outcome("upgraded", frozenset({HEAD}))
    assert revisions(db.engine) == {"t0002"}
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT nickname FROM device")).scalars().all() == ["none"]
        assert conn.execute(text("SELECT sync_key FROM syncstate")).scalars().all() == ["2"]
    db.dispose()
