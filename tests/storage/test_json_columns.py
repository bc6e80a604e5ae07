"""The JSON columns typed JSONList/JSONDict read what older easlab wrote by hand and write the same
text back, on SQLite and PostgreSQL, and in an old SQLite file rebuilt by storage/migrate.py.

Each case: a column, the text the hand-written code put there (its json.dumps call named), and
the value the typed column gives for it.
"""
from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import select

from easlab.eas.commands.sync import SyncOptions
from easlab.eas.policy import PolicySettings
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.models import Device, Item, Policy, SyncState
from easlab.storage.models_faults import Fault, TraceEntry
from easlab.storage.users import add_user, get_user

from .test_migration import OLD_SCHEMA, opened

MOMENT = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)
PREFERENCE = {"type": 2, "truncation_size": 5120, "all_or_none": False, "preview": None}
OPTIONS = {"class_name": None, "filter_type": 3, "conflict": 1, "mime_support": 2, "mime_truncation": None,
           "truncation": None, "body_preferences": [PREFERENCE]}
PIM = [["Calendar:Subject", "Réunion ☕"],
       ["Calendar:Attendees", [["Calendar:Attendee", [["Calendar:Email", "bob@easlab.test"], ["Calendar:Name", "Bøb"]]]]]]
SETTINGS = {**PolicySettings(MinPasswordLength=6, ApprovedApplicationList=["ab12"]).__dict__}

OLD = [
    # storage/sync.py: state.options = options.to_json(), json.dumps(asdict(options))
    ("syncstate", "options", '{"class_name": null, "filter_type": 3, "conflict": 1, "mime_support": 2, "mime_truncation": null, '
     '"truncation": null, "body_preferences": [{"type": 2, "truncation_size": 5120, "all_or_none": false, "preview": null}]}',
     OPTIONS),
    ("syncstate", "options", "{}", {}),  # the column's default
    # storage/sync.py: json.dumps(supported) if supported is not None else ""
    ("syncstate", "supported", "", None),
    ("syncstate", "supported", "[]", []),  # an empty Supported: every property ghosted
    ("syncstate", "supported", '["Body", "Reminder"]', ["Body", "Reminder"]),
    # storage/pim.py write_nodes: json.dumps(nodes, ensure_ascii=False); "" for a plain mail
    ("item", "pim", "", None),
    ("item", "pim", '[["Calendar:Subject", "Réunion ☕"], ["Calendar:Attendees", [["Calendar:Attendee", '
     '[["Calendar:Email", "bob@easlab.test"], ["Calendar:Name", "Bøb"]]]]]]', PIM),
    # server/store/sync.py cache_request: json.dumps(cached["folders"]); "" before the first Ping
    ("device", "ping_folders", "", None),
    ("device", "ping_folders", '[["5", "Email"], ["2", "Calendar"]]', [["5", "Email"], ["2", "Calendar"]]),
    # eas/policy.py PolicySettings.to_json: json.dumps(self.__dict__, sort_keys=True)
    ("policy", "settings", json.dumps(SETTINGS, sort_keys=True), SETTINGS),
    ("policy", "settings", "{}", {}),
    # storage/faults.py add_fault: json.dumps(check_params(kind, params)), in the order given
    ("fault", "params", '{"retry_after": 30, "reason": "CommandFrequency", "status": 503}',
     {"retry_after": 30, "reason": "CommandFrequency", "status": 503}),
    # storage/faults.py record_trace: json.dumps(record.request_headers), ASCII escapes
    ("traceentry", "request_headers", '[["host", "easlab.test"], ["user-agent", "Caf\\u00e9/1.0"]]',
     [["host", "easlab.test"], ["user-agent", "Café/1.0"]]),
    ("traceentry", "response_headers", "[]", []),
]
MODELS = {"syncstate": SyncState, "item": Item, "device": Device, "policy": Policy, "fault": Fault, "traceentry": TraceEntry}


def _row(db, table: str, **fields) -> int:
    """A new row of `table` with `fields` set, its other columns at their defaults; its id."""
    with db.session() as s:
        user = get_user(s, "alice") or add_user(s, "alice", "pw")
        count = len(s.exec(select(Device)).all())
        device = Device(user_id=user.id, device_id=f"dev{count}", **(fields if table == "device" else {}))
        s.add(device)
        s.flush()
        if table == "device":
            return device.id
        if table == "item":
            row = store_message(s, folder_by_type(s, user, 2), b"Subject: m\r\n\r\nx", received=MOMENT)
            for name, value in fields.items():
                setattr(row, name, value)
        else:
            required = {"syncstate": {"device_pk": device.id, "collection_id": "5", "sync_key": "1"},
                        "policy": {"name": f"P{count}"}, "fault": {"kind": "throttle"},
                        "traceentry": {"user": "alice", "device_id": "dev1"}}[table]
            row = MODELS[table](**required, **fields)
        s.add(row)
        s.flush()
        return row.id


def _raw(db, table: str, column: str, pk: int) -> str:
    with db.engine.connect() as conn:
        return conn.execute(text(f"SELECT {column} FROM {table} WHERE id = :pk"), {"pk": pk}).scalar()


def test_text_written_by_hand_reads_as_its_value(database):
    for table, column, old, value in OLD:
        pk = _row(database, table)
        with database.engine.begin() as conn:
            conn.execute(text(f"UPDATE {table} SET {column} = :old WHERE id = :pk"), {"old": old, "pk": pk})
        with database.session() as s:
            got = getattr(s.get(MODELS[table], pk), column)
        assert (got, type(got)) == (value, type(value)), (table, column, old)


def test_the_value_is_written_as_the_same_text(database):
    for table, column, old, value in OLD:
        assert _raw(database, table, column, _row(database, table, **{column: value})) == old, (table, column, value)


def test_a_new_row_holds_the_old_default_text(database):
    for table, column, old in [("syncstate", "options", "{}"), ("syncstate", "supported", ""), ("item", "pim", ""),
                               ("device", "ping_folders", ""), ("policy", "settings", "{}"), ("fault", "params", "{}")]:
        assert _raw(database, table, column, _row(database, table)) == old, (table, column)


def test_the_code_writes_what_it_wrote_by_hand(database):
    """The writers, not just the column: Sync options and policy settings go through to_dict."""
    state_pk, policy_pk = _row(database, "syncstate"), _row(database, "policy")
    with database.session() as s:
        s.get(SyncState, state_pk).options = SyncOptions.from_dict(OPTIONS).to_dict()
        s.get(Policy, policy_pk).settings = PolicySettings.from_dict(SETTINGS).to_dict()
    assert _raw(database, "syncstate", "options", state_pk) == OLD[0][2]
    assert _raw(database, "policy", "settings", policy_pk) == json.dumps(SETTINGS, sort_keys=True)


def test_reading_options_and_settings_leaves_the_row_value_alone(database):
    """from_dict copies: editing what it gives must not edit the loaded value, which would then
    compare equal to the new one and not be written."""
    pk = _row(database, "policy", settings=SETTINGS)
    with database.session() as s:
        policy = s.get(Policy, pk)
        settings = PolicySettings.from_dict(policy.settings)
        settings.ApprovedApplicationList.append("cd34")
        options = SyncOptions.from_dict(OPTIONS)
        assert policy.settings["ApprovedApplicationList"] == ["ab12"] and OPTIONS["body_preferences"] == [PREFERENCE]
        policy.settings = settings.to_dict()
    with database.session() as s:
        assert s.get(Policy, pk).settings["ApprovedApplicationList"] == ["ab12", "cd34"]
    assert options.body_preferences[0].truncation_size == 5120


def test_a_json_dict_column_refuses_text(database):
    with pytest.raises(StatementError, match="JSONDict takes a dict"):
        _row(database, "fault", params='{"status": 503}')  # the old hand-encoded form


def test_an_old_file_reads_the_same_after_its_rebuild(tmp_path):
    """cb5e698's SQLite file, its JSON columns filled as that code filled them: the tables rebuilt
    for the cascades (syncstate among them) keep the text, and the new types read it."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA.read_text())
        conn.execute("INSERT INTO policy VALUES (1, 'P', 0, '{}', '2026-01-05 09:00:00')")
        conn.execute("INSERT INTO fault VALUES (1, NULL, NULL, NULL, 'throttle', '{}', NULL, NULL, '2026-01-05 09:00:00', 0, NULL)")
        conn.execute("INSERT INTO traceentry VALUES (1, 'alice', 'phonea', '2026-01-05 09:00:00', 1.0, 'POST', '/x', "
                     "'Sync', '[]', X'', 200, '[]', X'', '', 0)")
    by_column: dict[tuple[str, str], list] = {}
    for table, column, old, value in OLD:
        by_column.setdefault((table, column), []).append((old, value))
    assert {table for table, _ in by_column} == set(MODELS)
    for n in range(max(len(cases) for cases in by_column.values())):  # one file per round of cases
        round_ = {key: cases[n] for key, cases in by_column.items() if n < len(cases)}
        copy = tmp_path / f"round{n}.db"
        copy.write_bytes(path.read_bytes())
        with sqlite3.connect(copy) as conn:
            for (table, column), (old, _) in round_.items():
                conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = 1", (old,))
        db = opened(copy)
        with db.session() as s:
            for (table, column), (old, value) in round_.items():
                assert getattr(s.get(MODELS[table], 1), column) == value, (table, column, old)
        for (table, column), (old, _) in round_.items():
            assert _raw(db, table, column, 1) == old
        db.dispose()


def test_a_column_select_reads_the_value(database):
    """server/store/directory.py selects Item.pim alone: the type applies there too."""
    pk = _row(database, "item")
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE item SET pim = :old WHERE id = :pk"), {"old": OLD[6][2], "pk": pk})
    with database.session() as s:
        assert s.exec(select(Item.pim).where(Item.id == pk)).all() == [PIM]


def test_statements_naming_a_json_column_have_a_cache_key():
    """Without one, SQLAlchemy compiles the statement again at every execution."""
    for column in (Item.pim, SyncState.options, Policy.settings, TraceEntry.request_headers, Device.ping_folders):
        assert select(column)._generate_cache_key() is not None, column
