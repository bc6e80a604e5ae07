"""The push hub: held Pings and Wait/Heartbeat Syncs are awaits here, woken by changes.

One asyncio loop holds every waiting request as a future; a delivery or another device's change
calls `notify` with the folders it touched, which resolves exactly the waiters on those folders.
Nothing polls and no request holds a thread, so ten thousand held Pings cost ten thousand small
objects.  Changes made in worker threads (database transactions) reach the loop through
`call_soon_threadsafe`.

On PostgreSQL several processes may serve one store: what this hub is told is also handed to
`relay` (server/pgnotify.py sends it to the others), and what the others send comes back through
`handle_event(event, remote=True)`, which wakes the waiters here and relays nothing.  A waiter
that registers after the notification for a change its check did not see is woken at once
(`since`), and `recheck` makes every held request read the database again when notifications may
have been lost.
"""
from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field

from .events import EventBus


class Connection:
    """The client connection a request came on, as far as a held request needs it: the HTTP layer
    (server/connections.py) calls `lost` when the client goes away before its answer, and a wait
    that registered here ends at once.  Without it a phone that lost its network left its Ping
    held until the heartbeat ran out (up to an hour): counted as held, its connection's objects
    kept, and another storm's wait for "all held" fooled.  One slot on the request's scope and
    no task per held request: nothing reads the socket while the request is held."""

    __slots__ = ("on_lost", "gone")
    SCOPE_KEY = "easlab.connection"

    def __init__(self) -> None:
        self.on_lost: Callable[[], None] | None = None
        self.gone = False  # lost already: a wait that comes later has no one to answer

    def lost(self) -> None:
        self.gone = True
        callback, self.on_lost = self.on_lost, None
        if callback is not None:
            callback()


# The request's Connection, set by the EAS endpoint (server/activesync.py) for the hub's waits.
CONNECTION: ContextVar[Connection | None] = ContextVar("easlab_connection", default=None)


@dataclass(slots=True)  # one per held request: no instance dict
class Wake:
    """Why a wait ended: folders with new items, a hierarchy change, or a newer request."""

    folders: set[int] = field(default_factory=set)
    hierarchy: bool = False
    superseded: bool = False
    policy: bool = False
    recheck: bool = False  # notifications may have been lost: read the database again


class _Waiter:
    __slots__ = ("future", "folders", "user_id", "device_id", "wake", "expired")

    def __init__(self, loop: asyncio.AbstractEventLoop, folders: set[int], user_id: int, device_id: str):
        self.future: asyncio.Future = loop.create_future()
        self.folders = folders
        self.user_id = user_id
        self.device_id = device_id
        self.wake = Wake()
        self.expired = False

    def fire(self) -> None:
        if not self.future.done():
            self.future.set_result(None)

    def expire(self) -> None:
        if not self.future.done():
            self.expired = True
            self.future.set_result(None)


class PushHub:
    def __init__(self, clock, bus: EventBus) -> None:
        self.clock = clock
        self.bus = bus  # the app's event bus: "held" goes out here
        self._loop: asyncio.AbstractEventLoop | None = None
        self._by_folder: dict[int, set[_Waiter]] = defaultdict(set)
        self._by_user: dict[int, set[_Waiter]] = defaultdict(set)
        self._by_device: dict[tuple[int, str], _Waiter] = {}
        # Observers see every notification (the test plugin's waits hang off this).
        self._listeners: list[asyncio.Queue] = []
        self.on_throttling = lambda: None  # the throttling settings changed (server/throttling.py)
        self.on_lockout = lambda event: None  # another process's logon failure count (server/lockout.py)
        self.relay = None  # callable(event dict): tells the other processes (server/pgnotify.py)
        self._remote = False  # applying another process's event: relay nothing
        # A count of notifications and, per folder, the count at its last one: a waiter that
        # registers after a notification its check could not see is woken at once.
        self.tick = 0
        self._notified: dict[int, int] = {}

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def handle_event(self, event: dict, remote: bool = False) -> None:
        """An event from the admin service, the CLI (server/control.py) or, `remote`, another
        serving process (server/pgnotify.py); only events of this process are relayed."""
        kind = event.get("event")
        self._remote = remote
        try:
            if kind == "folders":
                self.notify(int(i) for i in event.get("ids", []))
            elif kind == "hierarchy":
                self.notify_hierarchy(int(event["user"]), event.get("except_device"))
            elif kind == "policy":
                users = event.get("users")
                self.notify_policy(None if users is None else [int(u) for u in users])
            elif kind == "throttling":
                self.on_throttling()
                self._tell({"event": "throttling"})
            elif kind == "lockout" and remote:
                self.on_lockout(event)
        finally:
            self._remote = False

    def _tell(self, event: dict) -> None:
        if self.relay is not None and not self._remote:
            self.relay(event)

    def tell_threadsafe(self, event: dict) -> None:
        """From a worker thread: relay `event` to the other processes (nothing here wakes)."""
        if self._loop is not None and self.relay is not None:
            self._loop.call_soon_threadsafe(self._tell, event)

    @property
    def held(self) -> int:
        return len(self._by_device)

    def is_held(self, user_id: int, device_id: str) -> bool:
        return (user_id, device_id) in self._by_device

    # -- producers ------------------------------------------------------------------------------
    def notify(self, folder_ids: Iterable[int]) -> None:
        """Items were added to these folders (call on the loop)."""
        ids = set(folder_ids)
        self.tick += 1
        for fid in ids:
            self._notified[fid] = self.tick
            for waiter in list(self._by_folder.get(fid, ())):
                waiter.wake.folders.add(fid)
                waiter.fire()
        for queue in self._listeners:
            queue.put_nowait(("folders", ids))
        if ids:
            self._tell({"event": "folders", "ids": sorted(ids)})

    def notify_hierarchy(self, user_id: int, except_device: str | None = None) -> None:
        self._tell({"event": "hierarchy", "user": user_id, "except_device": except_device})
        for waiter in list(self._by_user.get(user_id, ())):
            if waiter.device_id == except_device:
                continue
            waiter.wake.hierarchy = True
            waiter.fire()

    def notify_policy(self, user_ids: Iterable[int] | None = None) -> None:
        """A policy changed: end held requests so devices re-provision (None: every user)."""
        users = set(self._by_user) if user_ids is None else set(user_ids)
        self._tell({"event": "policy", "users": None if user_ids is None else sorted(users)})
        for uid in users:
            for waiter in list(self._by_user.get(uid, ())):
                waiter.wake.policy = True
                waiter.fire()

    def recheck(self) -> None:
        """Notifications may have been lost (server/pgnotify.py reconnected): every held request
        reads the database again (server/store/sync.py), and so do the lockouts."""
        self.on_lockout(None)
        for waiter in list(self._by_device.values()):
            waiter.wake.recheck = True
            waiter.fire()

    def notify_threadsafe(self, folder_ids: Iterable[int]) -> None:
        ids = list(folder_ids)
        if self._loop is not None and ids:
            self._loop.call_soon_threadsafe(self.notify, ids)

    # -- consumers ------------------------------------------------------------------------------
    async def wait(self, user_id: int, device_id: str, folder_ids: Iterable[int], timeout: float,
                   since: int | None = None) -> Wake | None:
        """Hold until one of `folder_ids` gets an item, the hierarchy changes, or the same device
        starts a newer wait; None when `timeout` seconds pass first.  `since`: the hub's `tick`
        when the caller's check began; a folder notified after it wakes the wait at once."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        connection = CONNECTION.get()
        if connection is not None and connection.gone:
            # The client left while its request was being checked: nothing to hold, and the
            # device's newer request, if it reconnected, is not to be superseded by this one.
            return None
        waiter = _Waiter(loop, set(folder_ids), user_id, device_id)
        key = (user_id, device_id)
        older = self._by_device.get(key)
        if older is not None:
            older.wake.superseded = True
            older.fire()
        self._by_device[key] = waiter
        self._by_user[user_id].add(waiter)
        for fid in waiter.folders:
            self._by_folder[fid].add(waiter)
        if since is not None:
            missed = {fid for fid in waiter.folders if self._notified.get(fid, 0) > since}
            if missed:
                waiter.wake.folders |= missed
                waiter.fire()
        self.bus.publish("held", user_id=user_id, device_id=device_id)
        # The heartbeat is a timer on the clock, not a sleeping task: one handle per held request,
        # and a test's ManualClock expires it without real time passing.
        timer = self.clock.call_later(timeout, waiter.expire)
        if connection is not None:
            connection.on_lost = waiter.expire  # the client left: no one is waiting for the answer
        try:
            await waiter.future
            return None if waiter.expired else waiter.wake
        finally:
            timer.cancel()
            if connection is not None and connection.on_lost == waiter.expire:
                connection.on_lost = None
            for fid in waiter.folders:
                bucket = self._by_folder.get(fid)
                if bucket is not None:
                    bucket.discard(waiter)
                    if not bucket:
                        del self._by_folder[fid]
            users = self._by_user.get(user_id)
            if users is not None:
                users.discard(waiter)
                if not users:
                    del self._by_user[user_id]
            if self._by_device.get(key) is waiter:
                del self._by_device[key]

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue()
        self._listeners.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        if queue in self._listeners:
            self._listeners.remove(queue)
