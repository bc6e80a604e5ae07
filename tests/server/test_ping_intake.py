"""A Ping taken in by a known, synced device reads little and writes nothing (issue 16 point 3):
ten thousand devices reconnecting at once must be held within seconds, not queue one by one for
SQLite's writer."""
from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.config import Settings
from easlab.storage.models import Device
from tests.conftest import until_held
from tests.server.eas_helpers import collection, provisioned_alice
from tests.server.test_gate_memory import Statements

pytestmark = pytest.mark.anyio
P, A = "Ping", "AirSync"


def ping(heartbeat: int = 300) -> E:
    return E(f"{P}:Ping", E(f"{P}:HeartbeatInterval", heartbeat),
             E(f"{P}:Folders", E(f"{P}:Folder", E(f"{P}:Id", "1"), E(f"{P}:Class", "Email"))))


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test")


@pytest.fixture
async def lab(settings, db):
    """(app, device) with the Inbox synced and one Ping held and ended: the device's usual Ping is known."""
    async with provisioned_alice(settings, db) as (app, dev):
        await dev.folder_sync("0")
        key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
        await dev.sync(key, "1")
        await held_and_dropped(app, dev)
        yield app, dev


async def held_and_dropped(app, dev, body: E | None = None) -> None:
    """A Ping held, then its connection dropped (the hub lets the waiter go)."""
    task = asyncio.create_task(dev.call("Ping", body or ping()))
    await until_held(app)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    while app.state.hub.held:
        await asyncio.sleep(0)


def last_seen(db):
    with db.session(write=False) as session:
        return session.exec(select(Device.last_sync).where(Device.device_id == "dev1")).one()


async def test_the_same_ping_again_is_held_after_eight_reads_and_no_write(lab, db):
    app, dev = lab
    seen = Statements(db)
    await held_and_dropped(app, dev)
    statements = [re.search(r"\bFROM\s+(\w+)", s).group(1) if s.startswith("SELECT") else s for s in seen.take()]
    # The cached Ping (user, device); the check (user, device, folder, its sync state, the change
    # log).  The counters were read once at the door, outside the ORM (test_gate_memory counts
    # that read), the gate decided from memory; the unchanged Ping is not stored again.
    assert statements == ["user", "device", "user", "device", "folder", "syncstate", "itemchange"]


async def test_a_new_interval_is_still_stored(lab, db):
    app, dev = lab
    await held_and_dropped(app, dev, ping(600))
    with db.session(write=False) as session:
        assert session.exec(select(Device.ping_heartbeat).where(Device.device_id == "dev1")).one() == 600


async def test_a_due_last_seen_time_is_written_alone_not_with_the_gate_reads(lab, db):
    app, dev = lab
    before = last_seen(db)
    app.state.clock.advance(120)  # last seen two minutes ago: the time is due again
    seen = Statements(db)
    seen.seen = []
    await held_and_dropped(app, dev)
    everything = seen.seen
    start = everything.index("BEGIN IMMEDIATE")  # the only writing transaction
    assert everything.count("BEGIN IMMEDIATE") == 1
    assert [s.split()[0] for s in everything[start + 1:start + 3]] == ["UPDATE", "BEGIN"]
    assert everything[start + 1].startswith("UPDATE device SET last_sync=")
    assert last_seen(db) - before == timedelta(seconds=120)
