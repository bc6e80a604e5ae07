"""The SyncPort: FolderSync, Sync, GetItemEstimate, Ping's checks and waits, and the cached Sync and
Ping requests a device may leave out next time.

Storage keeps the answer that handed out a Sync key as opaque bytes: this adapter encodes the
Collection the command renders, and decodes the kept bytes when the device resends the previous
key (the lost answer is given again, byte for byte).

A wait never misses a change made while its request was checking: the check notes the push hub's
tick first and the wait is woken at once for a folder notified since.  When the hub asks for a
`recheck` (notifications from other processes may have been lost), the wait reads the watched
folders again as Ping's check does and goes on holding only when nothing is pending.
"""
from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlalchemy import update as core_update
from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from easlab.eas.commands.sync import SyncOptions
from easlab.eas.records import CollectionOutcome, PingCheck
from easlab.eas.wbxml import Element, decode
from easlab.eas.wbxml.codec import encode_once
from easlab.storage import changes
from easlab.storage import sync as queries
from easlab.storage.driver import PerDialect
from easlab.storage.folders import QuietRoll, folder_sync_with_echoes, quick_folder_sync, roll_quietly
from easlab.storage.models import Device, Folder, User
from easlab.storage.users import lock_mailboxes

from .. import trips
from .context import READ_AHEAD, StoreContext
from .gate_cache import MAX_DEVICES
from .sending import Sending


class KeptPing:
    """A device's kept Ping (heartbeat, folders) and the check of those folders, read ahead."""

    __slots__ = ("key", "ids", "tick", "row", "check")

    def __init__(self, key: tuple[str, str], ids: tuple[int, int], tick: int, row, check):
        self.key, self.ids, self.tick, self.row, self.check = key, ids, tick, row, check


class SyncAdapter:
    def __init__(self, store: StoreContext, sending: Sending):
        self.store = store
        self.sending = sending
        # device: (id of the request, hub tick at its first check); an id, not the request, so a
        # device's last request is not kept alive (an id reused makes a wait wake early, no worse)
        self._since: dict[tuple[str, str], tuple[int, int]] = {}
        # device: (id of the Ping, the folders it watched last time, their check), read with the
        # kept Ping for the request that watches the same folders again
        self._checked: dict[tuple[str, str], tuple] = {}
        # (user, device, collection) whose last answer said MoreAvailable: its next Sync is the
        # next page, which the quick look (quiet_sync) would only find is not quiet; a hint, so
        # it is dropped wholesale past MAX_DEVICES (the look is then made, as for any device).
        self._paging: set[tuple[str, str, str]] = set()

    def _checking(self, ctx) -> None:
        """A check of `ctx`'s request starts: its wait must hear of what is notified from now on."""
        key = (ctx.user, ctx.request.device_id)
        if self._since.get(key, (None,))[0] != id(ctx):
            self._since[key] = (id(ctx), self.store.hub.tick)

    async def folder_sync(self, ctx, sync_key):
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        if ids is not None:
            outcome = await run_in_threadpool(quick_folder_sync, self.store.db.engine, *ids, ctx.request.device_id, sync_key)
            if isinstance(outcome, QuietRoll):
                # The writer's whole turn is one guarded UPDATE (a device's usual FolderSync).
                roll = outcome
                outcome = await self.store.run(lambda session: roll_quietly(session.connection(), roll))
            if outcome is not None:
                return outcome

        def work(session):
            user, device = self.store.who(session, ctx)
            return folder_sync_with_echoes(session, user, device, sync_key)

        # What the quick path could not answer reports or stores something: straight to the writer.
        # Without the gate's ids, a FolderSync with nothing to report writes nothing: read first.
        return await (self.store.run if ids is not None else self.store.read_first)(work)

    async def sync_collection(self, ctx, request, render: Callable[[CollectionOutcome], Element],
                              keep: bytes | None = None) -> CollectionOutcome:
        added: set[int] = set()
        drafts = self.sending.draft_context(ctx.version)
        rewind = request.room.attempt() if request.room is not None else (lambda: None)

        def encoded(outcome: CollectionOutcome) -> list[bytes]:
            # Encoded once: these bytes are kept for a resent key (compressed piece by piece,
            # storage/sync.py) and written as they are into the answer (wbxml Encoded).
            outcome.rendered = encode_once(render(outcome))
            return outcome.rendered.document()

        def work(session):
            added.clear()  # a read-first attempt that turned out to write is done again,
            rewind()  # with the answer's room as it was before the first
            user, device, cached, notice = self._sync_rows(session, ctx)
            if keep is not None and cached != keep:
                # A Core UPDATE of the one column: no ORM flush of the device (access_watch).
                session.connection().execute(core_update(Device).where(Device.id == device.id).values(cached_sync=keep))
            return queries.sync_collection(session, user, device, request, SyncOptions, encoded, self.store.clock.now(),
                                           added, restricted=ctx.restricted, notice_id=notice, drafts=drafts)

        # A Sync that sends no changes of its own and gets none writes nothing: it is answered in
        # a read (Database.read_first); one with client changes writes anyway, and so does one
        # that will be handed changes (a new key) or keeps a new request, which a cheap look tells.
        owed = (lambda: True) if request.commands else self._owed(ctx, request, keep)
        self._checking(ctx)
        outcome, replay = await run_in_threadpool(self._turn, work, owed)
        if replay is not None:
            outcome.replay = decode(replay)
        self._note_paging(ctx, request.collection_id, outcome.more_available)
        if added:
            self.store.hub.notify(added)
        drafts.finish()
        return outcome

    def _note_paging(self, ctx, collection_id: str, more: bool) -> None:
        key = (ctx.user, ctx.request.device_id, collection_id)
        if not more:
            self._paging.discard(key)
            return
        if len(self._paging) >= MAX_DEVICES:
            self._paging.clear()
        self._paging.add(key)

    def _sync_rows(self, session, ctx) -> tuple[User, Device | queries.DeviceKey, bytes | None, int | None]:
        """(user, device, its kept Sync request, its quarantine notice) for a Sync's transaction.
        For a device the gate knows, its row is not loaded: the kept request is read by the
        gate's ids on the session's DBAPI cursor (an ORM load of the row was a tenth of a Sync's
        writer turn); a restricted device's notice needs the row."""
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        if ids is not None and not ctx.restricted:
            if session.info.get("write", True):
                lock_mailboxes(session, [ctx.user])
            user = session.get(User, ids[0])
            # A removed user or device may leave its id to another row: only the same pair counts.
            row = _KEPT_SYNC.first(session, {"pk": ids[1], "user_id": ids[0], "device_id": ctx.request.device_id}) \
                if user is not None and user.name == ctx.user else None
            if row is not None:
                return user, queries.DeviceKey(ids[1]), None if row[0] is None else bytes(row[0]), None
        user, device = self.store.who(session, ctx)
        return user, device, device.cached_sync, device.quarantine_notice_id if ctx.restricted else None

    async def quiet_sync(self, ctx, requests, sent):
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        if ids is None or ctx.restricted:  # a restricted device may be owed the access notice
            return None
        if any((ctx.user, ctx.request.device_id, r.collection_id) in self._paging for r in requests):
            return None  # the next page of a download: not quiet, and no trip to a thread to find so
        now = self.store.clock.now()

        self._checking(ctx)
        return await run_in_threadpool(queries.quiet_collections, self.store.db.engine, *ids, ctx.request.device_id, sent,
                                       requests, SyncOptions, now)

    def _turn(self, work, owed: Callable[[], bool]):
        """In a worker thread: `work` in a writing transaction when `owed()` says it will write,
        else read first.  The look and the work on one trip: a page of an initial Sync made two,
        and each hand-off to a thread and back is a few hundred microseconds of the loop's and
        the thread's time, more when the machine is busy."""
        return self.store.transaction(work) if owed() else self.store.db.read_first(work)

    def _owed(self, ctx, request, keep: bytes | None) -> Callable[[], bool]:
        """The cheap look (for a worker thread) that tells whether a Sync without client changes will write."""
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        if ids is None or ctx.restricted:  # a restricted device's position stays put
            return lambda: False

        def look():
            with self.store.db.engine.connect() as connection:
                if keep is not None and connection.execute(_CACHED_SYNC, {
                        "pk": ids[1], "user_id": ids[0], "device_id": ctx.request.device_id}).scalar() != keep:
                    return True
                return queries.likely_writes(connection, *ids, request)

        return look

    async def estimate(self, ctx, collection):
        def work(session):
            user, device = self.store.who(session, ctx)
            return changes.estimate(session, user, device, collection.collection_id, collection.sync_key,
                                    collection.filter_type, self.store.clock.now(),
                                    restricted=ctx.restricted, notice_id=device.quarantine_notice_id,
                                    conversation_mode=collection.conversation_mode)

        return await self.store.read(work)

    def read_kept_ping(self, user: str, device_id: str, tick: int) -> KeptPing | None:
        """In a worker thread on another's trip (READ_AHEAD): the device's kept Ping and the check
        of the folders it watched, for a device the gate knows (None otherwise).  `tick`: the hub's,
        noted on the loop before the trip, so the wait hears of what was notified since."""
        ids = self.store.ids.get((user, device_id))
        if ids is None:
            return None
        row, check = self._read_kept(ids, device_id, True)
        return KeptPing((user, device_id), ids, tick, row, check)

    def _read_kept(self, ids, device_id: str, check: bool):
        """The kept Ping by the gate's ids and, when `check`, the check of the folders it watched."""
        with trips.reading(self.store.db.engine) as connection:  # a storm's Pings read on one (server/trips.py)
            row = connection.execute(_CACHED_PING, {"pk": ids[1], "user_id": ids[0], "device_id": device_id}).first()
            if row is None or not row[0] or not row[1] or not check:
                return row, None
            watched = [str(f[0]) for f in row[1]]
            return row, (watched, changes.quick_pending_adds(connection, *ids, device_id, watched))

    async def _cached_ping(self, ctx, ids) -> bytes | None:
        """Every Ping asks for the last one: one Core read by the gate's ids, and in the same
        worker thread the check of the folders it watched, which the device mostly watches again
        (`pending_adds` takes it); both read ahead on the door's or the gate's trip when they
        could be.  b"": no Ping kept; None: the ids name no such device."""
        key = (ctx.user, ctx.request.device_id)
        ahead = READ_AHEAD.get()
        if ahead is not None:
            READ_AHEAD.set(None)
        if isinstance(ahead, KeptPing) and ahead.key == key and ahead.ids == ids:
            self._since[key] = (id(ctx), ahead.tick)  # the check read ahead is this request's
            row, check = ahead.row, None if ctx.restricted else ahead.check
        else:
            self._checking(ctx)  # the check below is this request's: its wait hears of what follows
            row, check = await run_in_threadpool(self._read_kept, ids, ctx.request.device_id, not ctx.restricted)
        if check is not None and check[1] is not None:
            self._checked[key] = (id(ctx), *check)
        if row is None:
            return None
        heartbeat, folders = row
        return json.dumps({"heartbeat": heartbeat, "folders": folders or []}).encode() if heartbeat else b""

    async def pending_adds(self, ctx, collection_ids):
        checked = self._checked.pop((ctx.user, ctx.request.device_id), None)
        if checked is not None and checked[0] == id(ctx) and checked[1] == list(collection_ids):
            return PingCheck(*checked[2])
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        if ids is not None and not ctx.restricted:  # a Ping of a device the gate knows: Core reads
            def quick():
                with self.store.db.engine.connect() as connection:
                    return changes.quick_pending_adds(connection, *ids, ctx.request.device_id, list(collection_ids))

            self._checking(ctx)
            found = await run_in_threadpool(quick)
            if found is not None:
                return PingCheck(*found)

        def work(session):
            user, device = self.store.who(session, ctx)
            status, changed, watch = changes.pending_adds(session, user, device, collection_ids, restricted=ctx.restricted,
                                                          notice_id=device.quarantine_notice_id)
            return PingCheck(status, changed, watch)

        self._checking(ctx)
        return await self.store.read(work)

    async def wait(self, ctx, watch, timeout):
        # The gate this request passed noted the user's id (StoreContext.ids); a map cleared since
        # costs one read.  Not kept here: a user removed and added again has a new id.
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        user_id = ids[0] if ids is not None else await self.store.read(
            lambda session: session.exec(select(User.id).where(User.name == ctx.user)).one())
        entry = self._since.pop((ctx.user, ctx.request.device_id), None)
        since = entry[1] if entry is not None and entry[0] == id(ctx) else None
        clock = self.store.clock
        deadline = clock.monotonic() + timeout
        while True:
            wake = await self.store.hub.wait(user_id, ctx.request.device_id, watch, timeout, since=since)
            if wake is None or not wake.recheck or wake.folders or wake.hierarchy or wake.policy or wake.superseded:
                return wake
            since = self.store.hub.tick
            found = await self._recheck(ctx, watch)
            if found is not None:
                return found
            timeout = max(0.0, deadline - clock.monotonic())

    async def _recheck(self, ctx, watch: list[int]):
        """What a wait woken to read again should answer: the watched folders with pending changes
        (or a hierarchy change for one that is gone); None to go on holding."""
        from ..push import Wake

        def work(session):
            user, device = self.store.who(session, ctx)
            handles = dict(session.exec(select(Folder.server_id, Folder.id).where(Folder.id.in_(watch))).all())
            if len(handles) < len(set(watch)):
                return Wake(hierarchy=True)
            status, changed, _ = changes.pending_adds(session, user, device, list(handles), restricted=ctx.restricted,
                                                      notice_id=device.quarantine_notice_id)
            if status == 7:
                return Wake(hierarchy=True)
            return Wake(folders={handles[cid] for cid in changed}) if changed else None

        return await self.store.read(work)

    async def cached_request(self, ctx, kind):
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        if kind == "ping" and ids is not None:
            found = await self._cached_ping(ctx, ids)
            if found is not None:
                return found or None

        def work(session):
            _, device = self.store.who(session, ctx)
            if kind == "sync":
                return device.cached_sync or None
            if kind == "ping":
                if not device.ping_heartbeat:
                    return None
                return json.dumps({"heartbeat": device.ping_heartbeat, "folders": device.ping_folders or []}).encode()
            raise ValueError(kind)

        return await self.store.read(work)

    async def cache_request(self, ctx, kind, data):
        ids = self.store.ids.get((ctx.user, ctx.request.device_id))
        if kind == "sync" and ids is not None:
            # Every Sync with a new key sends a new request: a Core read outside the writer, and
            # the writer held for one UPDATE only when it differs (no ORM flush: access_watch).
            def kept():
                with self.store.db.engine.connect() as connection:
                    return connection.execute(_CACHED_SYNC, {"pk": ids[1], "user_id": ids[0],
                                                             "device_id": ctx.request.device_id}).first()

            row = await run_in_threadpool(kept)
            if row is not None:
                if row[0] != data:
                    await self.store.run(lambda session: session.connection().execute(
                        core_update(Device).where(Device.id == ids[1]).values(cached_sync=data)))
                return

        def work(session):
            _, device = self.store.who(session, ctx)
            if kind == "sync":
                device.cached_sync = data
            elif kind == "ping":
                cached = json.loads(data)
                device.ping_heartbeat = cached["heartbeat"]
                device.ping_folders = cached["folders"]
            session.add(device)

        await self.store.read_first(work)  # the same request as last time changes nothing


# The device's cached Sync request, by the ids the gate noted (a reused id names another row: None).
_CACHED_SYNC = core_select(Device.cached_sync).where(
    Device.id == bindparam("pk"), Device.user_id == bindparam("user_id"), Device.device_id == bindparam("device_id"))
_KEPT_SYNC = PerDialect(_CACHED_SYNC)
_CACHED_PING = core_select(Device.ping_heartbeat, Device.ping_folders).where(
    Device.id == bindparam("pk"), Device.user_id == bindparam("user_id"), Device.device_id == bindparam("device_id"))
