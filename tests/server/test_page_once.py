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


async def three_mails_past_key_0(app, dev) -> str:
    """Three mails in alice's Inbox, her device past FolderSync and Sync 0: the Inbox's key."""
    for n in range(3):
        await app.state.store.deliver(message(subject=f"m{n}"), ["alice@easlab.test"])
    await dev.folder_sync()
    return collection(await dev.sync("0")).text("AirSync:SyncKey")


async def test_each_page_of_an_initial_and_an_incremental_sync_is_built_once(settings, db, monkeypatch):
    built = []
    for name in ("initial_page", "log_page"):
        original = getattr(sync, name)

        def counted(*args, original=original, name=name, **kw):
            built.append((name, probing()))
            return original(*args, **kw)

        monkeypatch.setattr(sync, name, counted)
    async with provisioned_alice(settings, db) as (app, dev):
        key = await three_mails_past_key_0(app, dev)
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


async def test_a_page_is_looked_at_and_built_on_one_trip_to_a_worker_thread(settings, db, monkeypatch):
    """Whether the Sync will write (the look) and the page's transaction share one hand-off to a
    worker thread: a page of an initial Sync made a trip for each, and one more for the quick look
    for a quiet Sync, which a page after MoreAvailable now skips."""
    import anyio.to_thread

    trips = []
    real = anyio.to_thread.run_sync

    async def counted(func, *args, **kw):
        inner = func
        while hasattr(inner, "func"):  # functools.partial, as Starlette's run_in_threadpool passes it
            inner = inner.func
        trips.append(getattr(inner, "__qualname__", ""))
        return await real(func, *args, **kw)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    async with provisioned_alice(settings, db) as (app, dev):
        key = await three_mails_past_key_0(app, dev)
        trips.clear()
        page = await dev.call("Sync", request(key, 2))
        assert len(commands(page)) == 2
        assert [t for t in trips if "_owed" in t or "sync_collection" in t or "_turn" in t] == ["SyncAdapter._turn"]
        assert "quiet_collections" in trips  # after SyncKey 0's answer, the quick look may find it quiet
        trips.clear()
        last = await dev.call("Sync", request(collection(page).text("AirSync:SyncKey"), 2))
        assert len(commands(last)) == 1
        # After an answer that said MoreAvailable the next page is owed: no look for a quiet Sync.
        assert "quiet_collections" not in trips and trips.count("SyncAdapter._turn") == 1
        trips.clear()
        for _ in range(2):  # (the first keeps the new request; the same again is answered by the look)
            quiet = await dev.call("Sync", request(collection(last).text("AirSync:SyncKey"), 2))
            assert quiet is None or not commands(quiet)
        assert trips.count("quiet_collections") == 2 and trips.count("SyncAdapter._turn") == 1
