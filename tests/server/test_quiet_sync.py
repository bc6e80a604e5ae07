"""A Sync that changes nothing (issue 16, point 3): answered from one look at the keys and the
folders' change counters, with the bytes the long way gives, nothing written and no row loaded;
anything the look cannot vouch for still goes the long way."""
from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from easlab.eas.wbxml import E, decode, encode
from easlab.server.store.sync import SyncAdapter
from easlab.storage import sync as sync_queries
from easlab.storage.mailbox import change_item
from easlab.storage.models import Device, Folder, Item, SyncState
from tests.server.eas_helpers import collection, commands, message, provision, provisioned_alice

pytestmark = pytest.mark.anyio
A = "AirSync"


@pytest.fixture
async def lab(settings, db):
    async with provisioned_alice(settings, db) as pair:
        yield pair


def sync_tree(key: str, *extra, class_name: str | None = None):
    head = [E(f"{A}:Class", class_name)] if class_name else []
    return E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", *head, E(f"{A}:SyncKey", key),
                                                  E(f"{A}:CollectionId", "1"), *extra)))


async def settled(app, dev, *extra, class_name=None) -> str:
    """The Inbox past its initial download (one mail) and one quiet Sync that kept its request."""
    await app.state.store.deliver(message(subject="old"), ["alice@easlab.test"])
    key = collection(await dev.call("Sync", sync_tree("0", *extra, class_name=class_name))).text(f"{A}:SyncKey")
    answer = await dev.call("Sync", sync_tree(key, class_name=class_name))
    assert [c[2] for c in commands(answer)] == ["old"]
    key = collection(answer).text(f"{A}:SyncKey")
    await dev.post("Sync", sync_tree(key, class_name=class_name))  # this request is now the kept one
    return key


class Statements:
    """Every statement on `db`'s engine, and SQLite's data_version as another connection sees it
    (it moves when any connection commits a change to the file)."""

    def __init__(self, db):
        self.seen: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda c, cur, statement, *rest: self.seen.append(statement))
        self.watcher = sqlite3.connect(db.engine.url.database)
        self.version = self._data_version()

    def _data_version(self) -> int:
        return self.watcher.execute("PRAGMA data_version").fetchone()[0]

    def written(self) -> bool:
        return self._data_version() != self.version

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        self.version = self._data_version()
        return seen


class Looks:
    """What each call of storage/sync.py quiet_collections answered: [(collection, key)] or None."""

    def __init__(self, monkeypatch):
        self.answers: list[list[tuple[str, str | None]] | None] = []
        look = sync_queries.quiet_collections

        def counted(*args):
            outcomes = look(*args)
            self.answers.append(None if outcomes is None else [(o.collection_id, o.sync_key) for o in outcomes])
            return outcomes

        monkeypatch.setattr(sync_queries, "quiet_collections", counted)


def quiet_off(monkeypatch) -> None:
    async def never(self, ctx, requests, sent):
        return None

    monkeypatch.setattr(SyncAdapter, "quiet_sync", never)


@pytest.mark.parametrize("version, class_name", [("14.1", None), ("12.0", "Email")])
async def test_a_quiet_sync_gives_the_long_ways_bytes_and_writes_and_loads_nothing(lab, db, monkeypatch, version,
                                                                                   class_name):
    app, dev = lab
    if version != dev.version:
        dev.version = version
        await provision(dev)
    key = await settled(app, dev, class_name=class_name)
    seen = Statements(db)
    with monkeypatch.context() as patch:
        quiet_off(patch)
        long_way = await dev.post("Sync", raw=encode(sync_tree(key, class_name=class_name)))
    assert not seen.written()
    assert any(s.startswith("SELECT syncstate.id") for s in seen.take())  # the long way loads the state
    looks = Looks(monkeypatch)
    quick = await dev.post("Sync", raw=encode(sync_tree(key, class_name=class_name)))
    statements = seen.take()
    assert looks.answers == [[("1", key)]]  # told from the one look
    assert (quick.status_code, quick.content, dict(quick.headers)) == (
        long_way.status_code, long_way.content, dict(long_way.headers))
    if version == "14.1":
        assert quick.content == b""  # the empty Sync response
    else:
        assert decode(quick.content) == E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:Class", "Email"),
                                          E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1"), E(f"{A}:Status", 1))))
    assert not seen.written()
    # Beside the look (on the driver's own connection), no statement at all: nothing written, no
    # transaction begun, no row loaded, no item read.
    assert statements == []


async def test_a_change_between_two_quiet_syncs_is_reported(lab, db):
    app, dev = lab
    key = await settled(app, dev)
    assert await dev.call("Sync", sync_tree(key)) is None
    await app.state.store.deliver(message(subject="new"), ["alice@easlab.test"])
    answer = await dev.call("Sync", sync_tree(key))
    assert [(c[0], c[2]) for c in commands(answer)] == [("Add", "new")]
    key = collection(answer).text(f"{A}:SyncKey")
    await dev.call("Sync", sync_tree(key))
    assert await dev.call("Sync", sync_tree(key)) is None  # quiet again, with the new key kept
    with db.session() as session:  # the item changes, as another device marking it read would
        item = session.exec(select(Item).where(Item.subject == "new")).one()
        item.read = True
        change_item(session, session.get(Folder, item.folder_id), item)
    changed = await dev.post("Sync", raw=encode(sync_tree(key)))
    assert [(c[0], c[2]) for c in commands(decode(changed.content))] == [("Change", "new")]
    # The key just answered is the previous one now: the same answer again, byte for byte.
    assert (await dev.post("Sync", raw=encode(sync_tree(key)))).content == changed.content


async def test_new_options_are_stored_the_long_way(lab, db):
    app, dev = lab
    key = await settled(app, dev)
    options = E(f"{A}:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1),
                                  E("AirSyncBase:TruncationSize", 100)))
    assert await dev.call("Sync", sync_tree(key, options)) is None
    with db.session(write=False) as session:
        device = session.exec(select(Device).where(Device.device_id == "dev1")).one()
        state = session.exec(select(SyncState).where(SyncState.device_pk == device.id)).one()
        assert decode(device.cached_sync) == sync_tree(key, options)
        assert state.options["body_preferences"] == [{"type": 1, "truncation_size": 100, "all_or_none": False,
                                                      "preview": None}]


async def test_a_filtertype_window_that_moved_past_nothing_is_answered_quietly(lab, db, monkeypatch):
    """A FilterType window moves with the clock; while no item lies between the start kept and the
    new one, the Sync has nothing to store: the look answers it (the long way's bytes), and nothing
    is written, the start kept included."""
    app, dev = lab
    key = await settled(app, dev, E(f"{A}:Options", E(f"{A}:FilterType", 3)))  # one week
    with db.session(write=False) as session:
        kept = session.exec(select(SyncState).where(SyncState.collection_id == "1")).one().window_start
    app.state.clock.advance(10)  # (under LAST_SEEN_EVERY: the device's last seen is not due)
    seen = Statements(db)
    with monkeypatch.context() as patch:
        quiet_off(patch)
        long_way = await dev.post("Sync", raw=encode(sync_tree(key)))
    assert seen.written()  # the long way stores the moved start
    with db.session(write=False) as session:  # put the start back, as the quiet Sync will find it
        state = session.exec(select(SyncState).where(SyncState.collection_id == "1")).one()
        assert state.window_start == app.state.clock.now() - timedelta(days=7)
    with db.session() as session:
        state = session.exec(select(SyncState).where(SyncState.collection_id == "1")).one()
        state.window_start = kept
        session.add(state)
    seen.take()
    looks = Looks(monkeypatch)
    app.state.clock.advance(10)
    quick = await dev.post("Sync", raw=encode(sync_tree(key)))
    assert looks.answers == [[("1", key)]]
    assert (quick.status_code, quick.content) == (long_way.status_code, long_way.content) == (200, b"")
    assert not seen.written()
    with db.session(write=False) as session:
        assert session.exec(select(SyncState).where(SyncState.collection_id == "1")).one().window_start == kept


async def test_a_mail_the_window_left_behind_is_soft_deleted_the_long_way(lab, db, monkeypatch):
    """Once the window's start passes an item the device holds, the look leaves the Sync to the long
    way, which answers the SoftDelete (MS-ASCMD 2.2.3.161) and stores the new start; a mail that
    arrives already older than the window is not sent, nor soft-deleted after."""
    app, dev = lab
    key = await settled(app, dev, E(f"{A}:Options", E(f"{A}:FilterType", 3)))  # one week
    app.state.clock.advance(3600)
    assert await dev.call("Sync", sync_tree(key)) is None  # quiet: "old" still inside
    app.state.clock.advance(8 * 86400)
    looks = Looks(monkeypatch)
    answer = await dev.call("Sync", sync_tree(key))
    assert looks.answers == [None]
    with db.session(write=False) as session:
        old = session.exec(select(Item).where(Item.subject == "old")).one()
        state = session.exec(select(SyncState).where(SyncState.collection_id == "1")).one()
    assert [(c[0], c[1]) for c in commands(answer)] == [("SoftDelete", old.server_id)]
    assert state.window_start == app.state.clock.now() - timedelta(days=7)
    key = collection(answer).text(f"{A}:SyncKey")
    assert await dev.call("Sync", sync_tree(key)) is None  # the long way: keeps this request
    app.state.clock.advance(2 * 86400)
    looks = Looks(monkeypatch)
    assert await dev.call("Sync", sync_tree(key)) is None
    assert looks.answers == [[("1", key)]]  # quiet: the start stays where it was
    with db.session(write=False) as session:
        assert session.exec(select(SyncState).where(SyncState.collection_id == "1")).one().window_start == state.window_start
    await app.state.store.deliver(message(subject="late"), ["alice@easlab.test"])
    with db.session() as session:  # older than the window, between the start kept and today's
        item = session.exec(select(Item).where(Item.subject == "late")).one()
        item.date_received = app.state.clock.now() - timedelta(days=7, hours=1)
        session.add(item)
    assert await dev.call("Sync", sync_tree(key)) is None  # outside the window: not sent
    with db.session(write=False) as session:
        assert session.exec(select(SyncState).where(SyncState.collection_id == "1")).one().window_start == (
            app.state.clock.now() - timedelta(days=7))
    app.state.clock.advance(3600)
    assert await dev.call("Sync", sync_tree(key)) is None  # nor soft-deleted after
