"""A Sync page that hands out changes is built once: the read-first attempt (Database.read_first)
stops as soon as it knows the device's position moves, before building the page, and the page is
built in the writing transaction that follows."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from easlab.storage import sync
from easlab.storage.db import probing
from tests.server.eas_helpers import collection, commands, message, provisioned_alice

pytestmark = pytest.mark.anyio


def request(key: str, window: int):
    return E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection", E("AirSync:SyncKey", key),
             E("AirSync:CollectionId", "1"), E("AirSync:WindowSize", window))))


async def test_each_page_of_an_initial_and_an_incremental_sync_is_built_once(settings, db, monkeypatch):
    built = []
    for name in ("initial_page", "log_page"):
        original = getattr(sync, name)

        def counted(*args, original=original, name=name, **kw):
            built.append((name, probing()))
            return original(*args, **kw)

        monkeypatch.setattr(sync, name, counted)
    async with provisioned_alice(settings, db) as (app, dev):
        for n in range(3):
            await app.state.store.deliver(message(subject=f"m{n}"), ["alice@easlab.test"])
        await dev.folder_sync()
        key = collection(await dev.sync("0")).text("AirSync:SyncKey")
        built.clear()
        first = await dev.call("Sync", request(key, 2))
        assert len(commands(first)) == 2
        assert built == [("initial_page", False)]
        built.clear()
        second = await dev.call("Sync", request(collection(first).text("AirSync:SyncKey"), 2))
        assert sorted(s for _, _, s in commands(first) + commands(second)) == ["m0", "m1", "m2"]
        assert ("initial_page", True) not in built and built.count(("initial_page", False)) == 1
        await app.state.store.deliver(message(subject="later"), ["alice@easlab.test"])
        built.clear()
        third = await dev.call("Sync", request(collection(second).text("AirSync:SyncKey"), 2))
        assert [s for _, _, s in commands(third)] == ["later"]
        # The change log's page: the folder's counter past the device's position sends the Sync
        # straight to the writing transaction (storage.sync.likely_writes), where it is built once.
        assert built == [("log_page", False)]
