"""The gate decides a no-change request from memory (server/store/gate_cache.py) while the `access`
generation stands, and an administrator's change made elsewhere (another process's admin service,
which this server never hears of) reaches the device's very next request."""
from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.admin import SHELL, Admin
from easlab.server.config import Settings
from easlab.storage import Database, generations
from easlab.storage import folders as storage_folders
from easlab.storage import sync as storage_sync
from easlab.storage.models import Device
from tests.conftest import until_held
from tests.server.eas_helpers import collection, message, provisioned_alice

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test")


@pytest.fixture
async def lab(settings, db):
    async with provisioned_alice(settings, db) as pair:
        yield pair


@pytest.fixture
def elsewhere(settings):
    """The admin service of another process: its own engine, and no way to tell this server."""
    other = Database(settings.db_url)
    yield Admin(other, lambda event: None, "easlab.test")
    other.dispose()


class Statements:
    def __init__(self, db):
        self.seen: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda c, cur, statement, *rest: self.seen.append(statement))

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return [s for s in seen if not s.startswith(("BEGIN", "ROLLBACK", "COMMIT"))]


def stored(db):
    with db.session(write=False) as session:
        d = session.exec(select(Device).where(Device.device_id == "dev1")).one()
        return d.access_state, d.access_reason


async def settled(app, dev) -> str:
    """The device's FolderSync key once its next FolderSync has nothing to report."""
    key = (await dev.folder_sync()).text("FolderHierarchy:SyncKey")
    await dev.folder_sync(key)
    app.state.clock.advance(1)
    return key


class Peeks:
    """The counter reads that bypass SQLAlchemy (generations.peek_many on a raw DBAPI cursor)."""

    def __init__(self, monkeypatch):
        self.seen: list[tuple[str, ...]] = []
        peek_many = generations.peek_many

        def counted(engine, names):
            self.seen.append(tuple(names))
            return peek_many(engine, names)

        monkeypatch.setattr(generations, "peek_many", counted)

    def take(self) -> list[tuple[str, ...]]:
        seen, self.seen = self.seen, []
        return seen


class DriverReads:
    """The command's reads on the driver's own connection (generations.driver_rows)."""

    def __init__(self, monkeypatch):
        self.seen: list[str] = []
        for module in (storage_folders, storage_sync):
            def counted(engine, statement, params, cursor=None, read=module.driver_rows):
                self.seen.append(statement)
                return read(engine, statement, params, cursor)

            monkeypatch.setattr(module, "driver_rows", counted)


DOOR = [(generations.ACCESS, generations.INSTRUMENT)]  # one statement: both counters, once a request


async def test_a_no_change_foldersync_reads_both_counters_once_and_one_row(lab, db, monkeypatch):
    app, dev = lab
    key = await settled(app, dev)
    await dev.folder_sync(key)  # the gate's memory is filled
    peeks = Peeks(monkeypatch)
    reads = DriverReads(monkeypatch)
    seen = Statements(db)
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    statements = seen.take()
    text = " ".join(statements).lower()
    # No user by name, no rules, organisation, policy or device lookup: the door reads the `access`
    # and `instrument` counters in one statement, which the logon, the gate and the traces share;
    # FolderSync reads the device's hierarchy position, the user's counter and its oldest echo in one.
    assert peeks.take() == DOOR
    assert not any(f"from {table} " in text for table in ("accessrule", "orgsettings", "policy"))
    assert "user.name =" not in text
    assert sum("from generation" in s.lower() for s in statements) == 0
    assert statements == []
    assert len(reads.seen) == 1 and "hierarchy_echo" in reads.seen[0], reads.seen


SYNC1 = lambda key: E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",  # noqa: E731
                      E("AirSync:SyncKey", key), E("AirSync:CollectionId", "1"))))
PING = E("Ping:Ping", E("Ping:HeartbeatInterval", "60"),
         E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))


async def synced(app, dev) -> str:
    """The Inbox's SyncKey once a Sync of it has nothing to report."""
    await settled(app, dev)
    key = collection(await dev.call("Sync", SYNC1("0"))).text("AirSync:SyncKey")
    assert (await dev.post("Sync", SYNC1(key))).content == b""
    return key


async def test_a_no_change_sync_reads_both_counters_once(lab, db, monkeypatch):
    app, dev = lab
    key = await synced(app, dev)
    assert (await dev.post("Sync", SYNC1(key))).content == b""  # the gate's memory is filled
    peeks = Peeks(monkeypatch)
    reads = DriverReads(monkeypatch)
    seen = Statements(db)
    assert (await dev.post("Sync", SYNC1(key))).content == b""  # nothing to report: an empty answer
    statements = seen.take()
    assert peeks.take() == DOOR
    assert len(reads.seen) == 1 and "FROM syncstate" in reads.seen[0], reads.seen
    assert sum("from generation" in s.lower() for s in statements) == 0, statements
    assert not any(s.lower().startswith(("insert", "update", "delete")) for s in statements), statements
    assert len(statements) == SYNC_STATEMENTS, statements


# The command's own reads through SQLAlchemy: none.  One look at the kept request, the collection's
# key and its folder's change counter tells it, on the driver's own connection (storage/sync.py
# quiet_collections; issue 16, point 3).
SYNC_STATEMENTS = 0


async def test_a_ping_is_taken_in_on_both_counters_read_once(lab, db, monkeypatch):
    app, dev = lab
    await synced(app, dev)
    first = asyncio.create_task(dev.call("Ping", PING))  # the gate's memory is filled
    await until_held(app)
    peeks = Peeks(monkeypatch)
    seen = Statements(db)
    ping = asyncio.create_task(dev.call("Ping", PING))  # takes the first one's place
    assert (await asyncio.wait_for(first, 10)) is not None
    await until_held(app)
    statements = seen.take()
    assert peeks.take() == DOOR
    assert sum("from generation" in s.lower() for s in statements) == 0, statements
    assert not any(s.lower().startswith(("insert", "update", "delete")) for s in statements), statements
    assert len(statements) == PING_STATEMENTS, statements
    await app.state.store.deliver(message(subject="wake"), ["alice@easlab.test"])
    assert (await asyncio.wait_for(ping, 10)).text("Ping:Status") == "2"


# The command's own reads, by the ids the gate noted: the cached request, and the check of the
# folders it watched (the folder, its sync state and the changes in one statement).  The same
# Ping again is not stored again, and the wait takes the user's id from the gate's note.
PING_STATEMENTS = 2


async def test_an_allowed_device_blocked_from_another_process_is_refused_at_once(lab, db, elsewhere):
    app, dev = lab
    elsewhere.org_set(SHELL, blocked_delay=0)
    key = await settled(app, dev)
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert stored(db) == ("Allowed", "Global")
    elsewhere.device_block(SHELL, "alice", "dev1")
    r = await dev.post("FolderSync", None)
    assert r.headers.get("X-MS-ASThrottle") == "Individual"
    assert stored(db) == ("Blocked", "Individual")
    elsewhere.device_unblock(SHELL, "alice", "dev1")
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert stored(db) == ("Allowed", "Global")


async def test_a_quarantined_device_allowed_from_another_process_is_let_through_at_once(lab, db, elsewhere):
    app, dev = lab
    key = await settled(app, dev)
    elsewhere.rule_add(SHELL, "DeviceType", "iPhone", "Quarantine")
    await dev.folder_sync(key)
    assert stored(db) == ("Quarantined", "DeviceRule")
    await dev.folder_sync(key)  # decided from memory now
    assert stored(db) == ("Quarantined", "DeviceRule")
    elsewhere.device_allow(SHELL, "alice", "dev1")
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert stored(db) == ("Allowed", "Individual")


async def test_only_what_can_change_a_decision_bumps_the_counter(lab, db, elsewhere):
    app, dev = lab
    key = await settled(app, dev)

    def generation():
        with db.engine.connect() as connection:
            return generations.current(connection, generations.ACCESS)

    before = generation()
    app.state.clock.advance(120)  # last seen is stored again: no decision rests on it
    await dev.folder_sync(key)
    assert generation() == before
    elsewhere.user_passwd(SHELL, "alice", "another-secret")
    assert generation() == before + 1
    r = await dev.post("FolderSync", None)
    assert r.status_code == 401  # the logon's memory of the old password is gone with it


async def test_a_policy_changed_from_another_process_makes_the_next_request_provision(lab, db, elsewhere):
    app, dev = lab
    key = await settled(app, dev)
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"  # decided from memory
    elsewhere.policy_update(SHELL, "Default", {"AllowCamera": False})
    # The key the device holds no longer names the policy's document: 144 InvalidPolicyKey (14.1).
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "144"
