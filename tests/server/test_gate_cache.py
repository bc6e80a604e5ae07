"""A request that changes nothing writes nothing (issue 16 point 3): the access gate decides on a
read when the device, its lists, the rules and the organisation are as the last request left them,
so no-change FolderSync, Sync and Ping requests never queue for SQLite's single writer."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.admin import SHELL, Admin
from easlab.server.config import Settings
from easlab.storage.models import Device
from tests.conftest import until_held
from tests.server.eas_helpers import collection, provisioned_alice

pytestmark = pytest.mark.anyio
FS0 = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))
WRITES = ("insert", "update", "delete", "begin immediate")


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test", heartbeat_min=1)


@pytest.fixture
async def lab(settings, db):
    async with provisioned_alice(settings, db) as pair:
        yield pair


class Writes:
    """Every statement the engine runs that writes or takes SQLite's write lock."""

    def __init__(self, db):
        self.seen: list[str] = []
        event.listen(db.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *rest):
        self.seen.append(statement.lower())

    def take(self) -> list[str]:
        writes = [s for s in self.seen if s.lstrip().startswith(WRITES)]
        self.seen.clear()
        return writes


async def synced(dev) -> tuple[str, str]:
    """(FolderSync key, Inbox Sync key) of a device that has fetched everything."""
    key = (await dev.folder_sync()).text("FolderHierarchy:SyncKey")
    sync_key = collection(await dev.sync("0", "1")).text("AirSync:SyncKey")
    resp = await dev.sync(sync_key, "1")
    return key, collection(resp).text("AirSync:SyncKey") if resp is not None else sync_key


def ping(heartbeat, folder):
    return E("Ping:Ping", E("Ping:HeartbeatInterval", heartbeat),
             E("Ping:Folders", E("Ping:Folder", E("Ping:Id", folder), E("Ping:Class", "Email"))))


def stored(db, column):
    with db.session(write=False) as session:
        return session.exec(select(getattr(Device, column)).where(Device.device_id == "dev1")).one()


async def test_no_change_foldersync_sync_and_ping_write_nothing(lab, db):
    app, dev = lab
    key, sync_key = await synced(dev)
    # A FolderSync with the current key hands out a new one (a write); the device's next
    # FolderSync with that same key again, as after a lost answer, changes nothing.
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert (await dev.sync(sync_key, "1")) is None
    held = asyncio.create_task(dev.call("Ping", ping(10, "1")))
    await until_held(app)
    app.state.clock.advance(10)
    await asyncio.wait_for(held, 5)
    app.state.clock.advance(1)  # the server's clock moves between requests, as it does
    writes = Writes(db)
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert writes.take() == []
    app.state.clock.advance(1)
    assert (await dev.sync(sync_key, "1")) is None
    assert writes.take() == []
    held = asyncio.create_task(dev.call("Ping", ping(10, "1")))
    await until_held(app)
    assert writes.take() == []  # taken in and held without a write
    app.state.clock.advance(10)
    assert (await asyncio.wait_for(held, 5)).text("Ping:Status") == "1"


async def test_an_admin_block_and_a_new_user_agent_still_reach_the_row(lab, db):
    app, dev = lab
    key, sync_key = await synced(dev)
    await dev.folder_sync(key)
    writes = Writes(db)
    await dev.folder_sync(key)
    assert writes.take() == []
    admin = Admin(db, app.state.hub.handle_event, "easlab.test")
    admin.org_set(SHELL, blocked_delay=0)
    assert writes.take()  # the admin's own transaction
    admin.device_block(SHELL, "alice", "dev1")
    r = await dev.post("Sync", E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
                       E("AirSync:SyncKey", sync_key), E("AirSync:CollectionId", "1")))))
    assert r.headers["X-MS-ASThrottle"] == "Individual"
    assert (stored(db, "access_state"), stored(db, "access_reason")) == ("Blocked", "Individual")
    admin.device_unblock(SHELL, "alice", "dev1")
    dev.user_agent = "easlab-tests/2"
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert (stored(db, "user_agent"), stored(db, "access_state")) == ("easlab-tests/2", "Allowed")


async def test_last_seen_is_stored_once_a_minute_or_with_a_write(lab, db):
    app, dev = lab
    key, _ = await synced(dev)
    first = stored(db, "last_sync")
    app.state.clock.advance(59)
    await dev.folder_sync(key)
    assert stored(db, "last_sync") == first  # within the documented granularity
    app.state.clock.advance(1)
    await dev.folder_sync(key)
    assert stored(db, "last_sync") == app.state.clock.now()
    app.state.clock.advance(5)
    dev.user_agent = "easlab-tests/3"  # the row is written anyway: the time goes with it
    await dev.folder_sync(key)
    assert stored(db, "last_sync") == app.state.clock.now()
