"""Opening a database made by an older easlab: its data stays, it gains the new columns and the
cascading foreign keys (storage/migrate.py)."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.schema import CreateTable
from sqlmodel import SQLModel, select

from easlab.storage import Database
from easlab.storage.devices import remove_device
from easlab.storage.migrate import add_missing_foreign_keys
from easlab.storage.models import Device, DeviceAccessChange, Item, SyncState, User
from easlab.storage.models_compose import SentClientId
from easlab.storage.models_items import FindSearch, HierarchyEcho

OLD_SCHEMA = Path(__file__).with_name("schema_cb5e698.sql")
UTC = timezone.utc
CASCADING = ("syncstate", "deviceaccesschange", "sentclientid", "hierarchy_echo", "find_search")


@pytest.fixture
def old_file(tmp_path) -> Path:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA.read_text())
    return path


def opened(path: Path) -> Database:
    db = Database(str(path))
    db.create_all()
    return db


def ids(db, table) -> list[int]:
    with db.session() as s:
        return sorted(r.id for r in s.exec(select(table)))


def test_the_fixture_is_the_old_schema(old_file):
    with sqlite3.connect(old_file) as conn:
        ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'find_search'").fetchone()[0]
    assert "FOREIGN KEY" not in ddl  # cb5e698 had none here; the test below would prove nothing otherwise


def test_an_old_file_keeps_its_data(old_file):
    db = opened(old_file)
    with db.session() as s:
        alice = s.exec(select(User)).one()
        assert (alice.name, alice.allowed_device_ids, alice.blocked_device_ids) == ("alice", ["PhoneA"], [])
        assert alice.created_at == datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        item = s.exec(select(Item)).one()
        assert item.attachments == [{"name": "a.txt", "size": 3}]
        assert item.date_received == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
        state = s.get(SyncState, 1)
        assert (state.sync_key, state.prev_key, state.presented, state.options) == ("2", "1", [7], {"filter_type": 3})
        assert state.window_start == datetime(2025, 12, 29, 9, 0, tzinfo=UTC)
        phone = s.get(Device, 1)
        assert (phone.device_id, phone.access_state, phone.access_changed_at) == (
            "PhoneA", "Allowed", datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    assert ids(db, Device) == [1, 2] and ids(db, SyncState) == [1, 2]
    assert ids(db, DeviceAccessChange) == [1] and ids(db, SentClientId) == [1]
    db.dispose()


def test_an_old_file_gains_the_cascades(old_file):
    db = opened(old_file)
    inspector = inspect(db.engine)
    for table in CASCADING:
        keys = [fk for fk in inspector.get_foreign_keys(table) if fk["constrained_columns"] == ["device_pk"]]
        assert [k["options"].get("ondelete") for k in keys] == ["CASCADE"], table
    assert {i["name"] for i in inspector.get_indexes("hierarchy_echo")} == {"ix_hierarchy_echo_device"}
    with db.session() as s:
        remove_device(s, s.get(Device, 1))  # sent a ClientId: this raised IntegrityError before
    assert ids(db, Device) == [2] and ids(db, SyncState) == [2]
    for table in (DeviceAccessChange, SentClientId, HierarchyEcho, FindSearch):
        assert ids(db, table) == [], table.__name__
    db.dispose()


def test_rows_of_devices_removed_long_ago_are_dropped(old_file):
    db = opened(old_file)
    assert ids(db, HierarchyEcho) == [1] and ids(db, FindSearch) == [1]  # id 2 of each: device 9, gone
    db.dispose()


def test_the_rebuild_runs_once(old_file):
    opened(old_file).dispose()
    db = opened(old_file)
    assert add_missing_foreign_keys(db.engine, SQLModel.metadata) == []
    assert ids(db, Device) == [1, 2]
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA foreign_key_check")).all() == []
    db.dispose()


def test_a_missing_column_comes_back_with_its_default(old_file):
    with sqlite3.connect(old_file) as conn:  # as if made before these columns existed
        conn.execute("ALTER TABLE device DROP COLUMN access_step")
        conn.execute("ALTER TABLE syncstate DROP COLUMN presented")
    db = opened(old_file)
    with db.session() as s:
        assert [(d.id, d.access_step) for d in s.exec(select(Device))] == [(1, ""), (2, "")]
        assert [st.presented for st in s.exec(select(SyncState))] == [[], []]
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT presented FROM syncstate WHERE id = 1")).scalar() == "[]"
    db.dispose()


def test_postgresql_gains_the_cascades_with_its_data(pg_schema_url):
    db = Database(pg_schema_url)
    db.create_all()
    with db.engine.begin() as conn:  # back to cb5e698: keys without cascade, or none at all
        for table in CASCADING:
            for fk in inspect(conn).get_foreign_keys(table):
                if fk["referred_table"] == "device":
                    conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{fk["name"]}"'))
        conn.execute(text("ALTER TABLE syncstate ADD FOREIGN KEY (device_pk) REFERENCES device (id)"))
        conn.execute(text("INSERT INTO \"user\" (id, name, display_name, password_hash, created_at, hierarchy_seq,"
                          " activesync_enabled, allowed_device_ids, blocked_device_ids, role)"
                          " VALUES (1, 'alice', 'Alice', 'x', now(), 0, true, '[]', '[]', '')"))
        conn.execute(text("INSERT INTO device (id, user_id, device_id, device_type, user_agent, protocol_version,"
                          " first_sync, last_sync, hierarchy_key, hierarchy_prev_key, hierarchy_seq, hierarchy_prev_seq,"
                          " cached_sync, ping_heartbeat, ping_folders, model, imei, friendly_name, os, os_language,"
                          " phone_number, mobile_operator, info_user_agent, recovery_password, policy_name, policy_status,"
                          " wipe_state, wipe_account_only, wipe_notify, access_state, access_reason, access_rule, access_step,"
                          " ms_wl) VALUES (1, 1, 'PhoneA', '', '', '14.1', now(), now(), '', '', 0, 0, '', 0, '', '', '', '',"
                          " '', '', '', '', '', '', '', 'Unknown', 'none', false, '[]', 'Allowed', '', '', '', '')"))
        conn.execute(text("INSERT INTO syncstate (id, device_pk, collection_id, sync_key, prev_key, seq, snapshot_seq,"
                          " options, supported, last_response, presented) VALUES (1, 1, '1', '1', '0', 0, 0, '{}', '', '', '[]')"))
        conn.execute(text("INSERT INTO sentclientid (id, device_pk, client_id, command, sent_at) VALUES (1, 1, 'c1', 'SendMail', now())"))
        conn.execute(text("INSERT INTO find_search (id, device_pk, search_id, started_at) VALUES (1, 9, 's9', now())"))
    assert sorted(add_missing_foreign_keys(db.engine, SQLModel.metadata)) == sorted(CASCADING)
    assert ids(db, FindSearch) == [] and ids(db, SentClientId) == [1] and ids(db, SyncState) == [1]
    for table in CASCADING:
        keys = [fk for fk in inspect(db.engine).get_foreign_keys(table) if fk["constrained_columns"] == ["device_pk"]]
        assert [k["options"].get("ondelete") for k in keys] == ["CASCADE"], table
    with db.session() as s:
        remove_device(s, s.get(Device, 1))
    assert ids(db, SentClientId) == [] and ids(db, SyncState) == []
    db.dispose()
    # The models are untouched: a database created after this one still gets its keys inline.
    assert "ON DELETE CASCADE" in str(CreateTable(SyncState.__table__).compile(dialect=db.engine.dialect))
