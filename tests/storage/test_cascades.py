"""Removing a device partnership removes every row keyed by it, in the database itself."""
from __future__ import annotations

import pytest
from sqlalchemy import func, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from easlab.storage.access import record_state
from easlab.storage.devices import remove_device, touch_device
from easlab.storage.mailbox import folder_by_type
from easlab.storage.models import Device, DeviceAccessChange, SyncState
from easlab.storage.models_compose import SentClientId
from easlab.storage.models_items import FindSearch, HierarchyEcho
from easlab.storage.users import add_user, get_user

CHILDREN = (SyncState, DeviceAccessChange, SentClientId, HierarchyEcho, FindSearch)


def with_children(db, device_id: str) -> int:
    """A device with one row in every child table; returns its pk."""
    with db.session() as s:
        user = get_user(s, "alice") or add_user(s, "alice", "pw")
        device = touch_device(s, user, device_id, "iPhone", "Apple-iPhone", "14.1")
        inbox = folder_by_type(s, user, 2)
        record_state(s, device, "Allowed", "Global", None, "Default")
        s.add(SyncState(device_pk=device.id, collection_id=inbox.server_id, sync_key="1"))
        s.add(SentClientId(device_pk=device.id, client_id="c1", command="SendMail"))
        s.add(HierarchyEcho(device_pk=device.id, folder_id=inbox.id, seq=1, kind="create"))
        s.add(FindSearch(device_pk=device.id, search_id="s1"))
        return device.id


def counts(db, pk: int) -> dict[str, int]:
    with db.session() as s:
        return {t.__name__: s.exec(select(func.count()).select_from(t).where(t.device_pk == pk)).one() for t in CHILDREN}


def test_every_device_pk_column_cascades(database):
    inspector = inspect(database.engine)
    for table in ("syncstate", "deviceaccesschange", "sentclientid", "hierarchy_echo", "find_search"):
        keys = [fk for fk in inspector.get_foreign_keys(table) if fk["constrained_columns"] == ["device_pk"]]
        assert [(k["referred_table"], k["options"].get("ondelete")) for k in keys] == [("device", "CASCADE")], table


def test_remove_device_takes_its_rows_and_no_others(database):
    gone, kept = with_children(database, "dev1"), with_children(database, "dev2")
    assert counts(database, gone) == dict.fromkeys(counts(database, gone), 1)
    with database.session() as s:
        remove_device(s, s.get(Device, gone))
    assert counts(database, gone) == dict.fromkeys(counts(database, gone), 0)
    assert counts(database, kept) == dict.fromkeys(counts(database, kept), 1)
    with database.session() as s:
        assert [d.device_id for d in s.exec(select(Device))] == ["dev2"]


def test_the_database_cascades_a_plain_delete(database):
    # Not the ORM: the rule holds for any client of the database, psql or sqlite3 included.
    pk = with_children(database, "dev1")
    with database.engine.begin() as conn:
        conn.execute(text("DELETE FROM device WHERE id = :pk"), {"pk": pk})
    assert counts(database, pk) == dict.fromkeys(counts(database, pk), 0)


def test_a_new_partnership_starts_clean(database):
    old = with_children(database, "dev1")
    with database.session() as s:
        remove_device(s, s.get(Device, old))
    with database.session() as s:
        new = touch_device(s, get_user(s, "alice"), "dev1", "iPhone").id
    assert counts(database, new) == dict.fromkeys(counts(database, new), 0)
    with database.session() as s:
        assert all(s.exec(select(func.count()).select_from(t)).one() == 0 for t in CHILDREN)


def test_a_child_of_no_device_is_refused(database):
    with pytest.raises(IntegrityError):
        with database.session() as s:
            s.add(FindSearch(device_pk=424242, search_id="s1"))
