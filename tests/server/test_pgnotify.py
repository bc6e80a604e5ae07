"""Wake-ups between processes through LISTEN/NOTIFY (server/pgnotify.py), and why a lost
notification costs latency, never a change: a wait registered after a notification its check
missed is woken at once, and a listener that reconnects makes every held request read again."""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from easlab.eas.wbxml import E
from easlab.server.clock import ManualClock
from easlab.server.config import Settings
from easlab.server.events import EventBus
from easlab.server.pgnotify import PgRelay, payloads
from easlab.server.push import PushHub
from easlab.server.store import MailStore
from easlab.storage import Database
from easlab.storage.db import normalise_url
from tests.conftest import until_held
from tests.server.eas_helpers import collection, message, provisioned_alice

pytestmark = pytest.mark.anyio
PING = E("Ping:Ping", E("Ping:HeartbeatInterval", 300),
         E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))


@pytest.fixture
def pg_db():
    base = normalise_url(os.environ["EASLAB_TEST_PG_URL"])
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    db = Database(f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}")
    db.create_all()
    yield db
    db.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


async def test_a_wait_registered_after_a_notification_it_missed_wakes_at_once():
    clock = ManualClock()
    hub = PushHub(clock, EventBus())
    since = hub.tick  # the check starts: it reads before the delivery commits
    hub.notify([7])  # the delivery's notification comes before the wait is registered
    wake = await asyncio.wait_for(hub.wait(1, "dev1", [7, 8], 300, since=since), 5)
    assert wake is not None and wake.folders == {7}
    # A check that began after the notification saw the change itself: no wake for it.
    later = asyncio.create_task(hub.wait(1, "dev1", [7, 8], 300, since=hub.tick))
    await asyncio.sleep(0)
    assert hub.is_held(1, "dev1") and not later.done()
    clock.advance(300)
    assert await later is None


async def test_events_relay_to_other_processes_but_not_back():
    sent = []
    hub = PushHub(ManualClock(), EventBus())
    hub.relay = sent.append
    hub.notify([3, 1])
    hub.notify_hierarchy(5, except_device="d")
    hub.handle_event({"event": "policy", "users": [5]})  # the admin service of this process
    hub.handle_event({"event": "folders", "ids": [9]}, remote=True)  # another process's: not sent back
    hub.handle_event({"event": "throttling"})
    assert sent == [{"event": "folders", "ids": [1, 3]}, {"event": "hierarchy", "user": 5, "except_device": "d"},
                    {"event": "policy", "users": [5]}, {"event": "throttling"}]


def test_a_long_folder_list_is_split_under_postgresql_payload_limit():
    ids = list(range(100_000, 102_000))
    parts = payloads({"event": "folders", "ids": ids}, "o")
    assert len(parts) > 1 and all(len(p) < 8000 for p in parts)
    assert [i for p in parts for i in json.loads(p)["ids"]] == ids


async def test_a_lost_notification_is_made_good_when_the_listener_reconnects(pg_db):
    settings = Settings(db_url=pg_db.url, domain="easlab.test")
    async with provisioned_alice(settings, pg_db) as (app, dev):
        relay = PgRelay(pg_db.url, app.state.hub)
        app.state.hub.relay = relay.send
        await relay.start()
        try:
            await dev.folder_sync("0")
            key = collection(await dev.call("Sync", E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
                E("AirSync:SyncKey", "0"), E("AirSync:CollectionId", "1")))))).text("AirSync:SyncKey")
            assert key
            assert (await dev.post("Sync", E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
                E("AirSync:SyncKey", key), E("AirSync:CollectionId", "1")))))).content == b""
            ping = asyncio.create_task(dev.call("Ping", PING))
            await until_held(app)
            # Another process delivers, and its notification is lost: a store whose hub tells no one.
            silent = MailStore(pg_db, PushHub(ManualClock(), EventBus()), "easlab.test")
            await silent.deliver(message(subject="unheard"), ["alice@easlab.test"])
            assert app.state.hub.is_held(1, "dev1") and not ping.done()
            # The LISTEN connection drops; once it is back, the held Ping reads the database again.
            with pg_db.engine.begin() as conn:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": relay.listener_pid})
            answer = await asyncio.wait_for(ping, 20)
            assert answer.text("Ping:Status") == "2"
            assert [f.value for f in answer.find("Ping:Folders").children] == ["1"]
            assert relay.connections == 2
        finally:
            await relay.stop()
