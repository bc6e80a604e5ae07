"""SQLite's single writer under fifty devices (issue 13, point 3): the writes a device makes on
every cycle hold the writer for one statement each, and no request reads everything twice."""
from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlmodel import select

from easlab.eas.wbxml import E, decode
from easlab.storage.models import Device
from tests.server.eas_helpers import collection, commands, message, provisioned_alice

pytestmark = pytest.mark.anyio


@pytest.fixture
async def lab(settings, db):
    async with provisioned_alice(settings, db) as pair:
        yield pair


class Transactions:
    """The statements run on `db`'s engine, grouped by transaction (from each BEGIN; the commit
    is the driver's, not a statement)."""

    def __init__(self, db):
        self.seen: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda c, cur, statement, *rest: self.seen.append(statement))

    def take(self) -> list[list[str]]:
        seen, self.seen = self.seen, []
        groups: list[list[str]] = []
        for statement in seen:
            if statement.startswith("BEGIN") or not groups:
                groups.append([])
            groups[-1].append(statement)
        return groups


def writing(groups: list[list[str]]) -> list[list[str]]:
    return [g for g in groups if g[0] == "BEGIN IMMEDIATE"]


def storing_cached_sync(groups: list[list[str]]) -> list[list[str]]:
    return [g for g in writing(groups) if any(s.startswith("UPDATE device SET") and "cached_sync" in s for s in g)]


def device_row(db) -> Device:
    with db.session(write=False) as session:
        return session.exec(select(Device).where(Device.device_id == "dev1")).one()


async def test_a_foldersync_with_the_current_key_and_nothing_new_writes_one_statement(lab, db):
    app, dev = lab
    key = (await dev.folder_sync()).text("FolderHierarchy:SyncKey")
    key = (await dev.folder_sync(key)).text("FolderHierarchy:SyncKey")  # the gate's memory is filled
    seen = Transactions(db)
    answer = await dev.folder_sync(key)
    groups = seen.take()
    assert answer.text("FolderHierarchy:Status") == "1"
    assert answer.text("FolderHierarchy:Changes") is None
    assert answer.text("FolderHierarchy:SyncKey") == str(int(key) + 1)
    # One writing transaction, and its only statement is the guarded UPDATE of the keys.
    [turn] = writing(groups)
    assert len(turn) == 2 and turn[1].startswith("UPDATE device SET hierarchy_key="), turn
    # Beside it nothing: the quick read and the counters at the door are on the driver's own
    # connection, outside SQLAlchemy (generations.driver_rows, peek_many).
    assert len([s for g in groups for s in g if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]) == 1, groups
    row = device_row(db)
    assert (row.hierarchy_key, row.hierarchy_prev_key) == (str(int(key) + 1), key)
    # The previous key is answered again, the new one rolls on.
    again = await dev.folder_sync(key)
    assert again.text("FolderHierarchy:SyncKey") == str(int(key) + 1)
    assert (await dev.folder_sync(str(int(key) + 1))).text("FolderHierarchy:SyncKey") == str(int(key) + 2)


async def test_a_sync_with_a_change_keeps_its_request_in_the_collections_one_writer_turn(lab, db):
    app, dev = lab
    await app.state.store.deliver(message(subject="old"), ["alice@easlab.test"])
    sync_key = collection(await dev.sync("0")).text("AirSync:SyncKey")
    response = await dev.sync(sync_key)  # the initial download
    [(_, server_id, _)] = commands(response)
    sync_key = collection(response).text("AirSync:SyncKey")
    seen = Transactions(db)
    change = E("AirSync:Commands", E("AirSync:Change", E("AirSync:ServerId", server_id),
                                     E("AirSync:ApplicationData", E("Email:Read", 1))))
    answer = collection(await dev.sync(sync_key, "1", change))
    assert answer.find("AirSync:Responses") is None  # a Change that succeeds is not answered
    # One writer turn: the new request is kept in the collection's transaction, by one UPDATE of
    # its column, beside the item's change (it took a turn of its own before).
    [turn] = writing(seen.take())
    assert "UPDATE device SET cached_sync=? WHERE device.id = ?" in turn, turn
    assert any(s.startswith("UPDATE item SET read=?") for s in turn), turn
    kept = decode(device_row(db).cached_sync).find("AirSync:Collections").find("AirSync:Collection")
    assert kept.text("AirSync:SyncKey") == sync_key
    assert kept.find("AirSync:Commands").find("AirSync:Change").text("AirSync:ServerId") == server_id
    new_key = answer.text("AirSync:SyncKey")
    assert new_key == str(int(sync_key) + 1)
    # The same request again (the device lost the answer): given again, and not stored again.
    again = collection(await dev.sync(sync_key, "1", change))
    assert again.text("AirSync:SyncKey") == new_key
    assert storing_cached_sync(seen.take()) == []


async def test_a_quiet_sync_with_a_new_request_writes_it_in_one_turn_and_the_same_one_writes_nothing(lab, db):
    app, dev = lab
    sync_key = collection(await dev.sync("0")).text("AirSync:SyncKey")
    assert await dev.sync(sync_key) is None  # an empty Inbox: nothing to say
    seen = Transactions(db)
    assert await dev.sync(sync_key, "1", E("AirSync:WindowSize", 7)) is None  # nothing to say
    # One writing transaction, the cached request its only write; the collection read in it once
    # (a cheap look told it would write: no read-only attempt done again under the writer).
    groups = seen.take()
    assert [g[0] for g in groups if any(s.startswith("SELECT syncstate.id") for s in g)] == ["BEGIN IMMEDIATE"], groups
    [turn] = writing(groups)
    assert [s for s in turn if s.startswith(("UPDATE", "INSERT", "DELETE"))] == [
        "UPDATE device SET cached_sync=? WHERE device.id = ?"], turn
    kept = decode(device_row(db).cached_sync).find("AirSync:Collections").find("AirSync:Collection")
    assert (kept.text("AirSync:SyncKey"), kept.text("AirSync:WindowSize")) == (sync_key, "7")
    assert await dev.sync(sync_key, "1", E("AirSync:WindowSize", 7)) is None
    assert writing(seen.take()) == []


async def test_a_sync_handed_changes_goes_to_the_writer_at_once_and_a_quiet_one_writes_nothing(lab, db):
    app, dev = lab
    await app.state.store.deliver(message(subject="old"), ["alice@easlab.test"])
    sync_key = collection(await dev.sync("0")).text("AirSync:SyncKey")
    sync_key = collection(await dev.sync(sync_key)).text("AirSync:SyncKey")  # the initial download
    await app.state.store.deliver(message(subject="new"), ["alice@easlab.test"])
    seen = Transactions(db)
    response = await dev.sync(sync_key)
    assert [c[2] for c in commands(response)] == ["new"]
    answer = collection(response)
    groups = seen.take()
    # The collection is read once, under the writer: no read-only attempt done again.
    reading_state = [g for g in groups if any(s.startswith("SELECT syncstate.id") for s in g)]
    assert [g[0] for g in reading_state] == ["BEGIN IMMEDIATE"], groups
    await dev.sync(answer.text("AirSync:SyncKey"))  # the new request is cached
    seen.take()
    assert await dev.sync(answer.text("AirSync:SyncKey")) is None  # nothing to say: an empty answer
    groups = seen.take()
    assert writing(groups) == [], groups
    # Told from one look at the keys and counters on the driver's own connection (issue 16, point
    # 3): no row loaded.
    assert [s for g in groups for s in g if "syncstate" in s] == [], groups


async def test_a_sync_with_a_change_and_a_new_mail_stores_its_position_in_one_update(lab, db):
    """The change log is read on the session's DBAPI cursor (storage/changes.py): the device's own
    log row is written before it is read, and the position it steps over and the new key go in
    one UPDATE of the partnership at commit (the ORM's autoflush before the read wrote it twice)."""
    from easlab.storage.models import Folder, Item, ItemChange, SyncState

    app, dev = lab
    for n in range(3):
        await app.state.store.deliver(message(subject=f"old{n}"), ["alice@easlab.test"])
    sync_key = collection(await dev.sync("0")).text("AirSync:SyncKey")
    response = await dev.sync(sync_key, "1", E("AirSync:WindowSize", 50))
    server_id = commands(response)[0][1]
    sync_key = collection(response).text("AirSync:SyncKey")
    await app.state.store.deliver(message(subject="new"), ["alice@easlab.test"])
    seen = Transactions(db)
    change = E("AirSync:Commands", E("AirSync:Change", E("AirSync:ServerId", server_id),
                                     E("AirSync:ApplicationData", E("Email:Read", 1))))
    response = await dev.sync(sync_key, "1", E("AirSync:WindowSize", 50), change)
    assert [c[2] for c in commands(response)] == ["new"]  # its own change is not echoed
    [turn] = writing(seen.take())
    # The device's row is not loaded: its kept request is read by the gate's ids on the cursor.
    assert not any(s.startswith("SELECT device.") for s in turn), turn
    assert [s for s in turn if s.startswith("UPDATE syncstate")] == [
        "UPDATE syncstate SET sync_key=?, prev_key=?, seq=?, last_response=? WHERE syncstate.id = ?"], turn
    with db.session(write=False) as session:
        inbox = session.exec(select(Folder).where(Folder.server_id == collection(response).text("AirSync:CollectionId"))).one()
        state = session.exec(select(SyncState).where(SyncState.collection_id == inbox.server_id)).one()
        log = session.exec(select(ItemChange.seq, ItemChange.kind, ItemChange.server_id).where(
            ItemChange.folder_id == inbox.id).order_by(ItemChange.seq)).all()
        read = session.exec(select(Item.read).where(Item.server_id == server_id)).one()
    new_id = commands(response)[0][1]
    assert [(kind, sid) for _, kind, sid in log[-2:]] == [("add", new_id), ("change", server_id)]
    assert (state.seq, state.snapshot_seq, state.initial_cursor) == (inbox.change_seq, 3, None) == (5, 3, None)
    assert (state.sync_key, state.prev_key) == (collection(response).text("AirSync:SyncKey"), sync_key)
    assert read is True
