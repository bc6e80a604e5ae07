"""Events for observers: what the server did, so that a wait needs no sleep and no polling.

The push hub (server/push.py) wakes held requests when mail arrives; its observers see those
("folders", ids) notifications.  This bus carries the other things a test waits for:

    "device"    a device's stored access state changed   user, device_id, state, reason
                (server/store/access.py, right after record_state)
    "outbound"  mail for another domain was queued        recipients, subject
                (server/mailer.py, Mailer.send)
    "held"      a Ping or long-poll Sync is being held     user_id, device_id
                (server/push.py, PushHub.wait)
    "timer"     a ManualClock timer was set                delay, due
                (server/clock.py, on the clock's own bus)

Each app has its own bus (`app.state.bus`, made by create_app and handed to the push hub and the
mailer), so two apps in one process do not see each other's events.  Its observers are the test
plugin (testing/plugin/) and the long-poll endpoints of server/api (GET /api/wait/...).  An event published inside a database transaction (`session=`) is delivered
after that transaction commits and dropped if it rolls back, so an observer that re-reads the
database when the event arrives always finds the change.  Events carry hints, never state: an
observer subscribes first, then checks, then re-checks on every event, which cannot miss a change
that lands between its check and its subscription.

Publishing is safe from any thread: a subscriber's queue is filled on the subscriber's own loop.
With no subscriber, an event costs one list check at commit time.
"""
from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event as sa_event

KINDS = ("device", "outbound", "held", "folders", "timer")
_PENDING = "easlab.events.pending"  # key in Session.info: events waiting for the commit


@dataclass(frozen=True)
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


class WaitTimeout(TimeoutError):
    """The condition did not hold within the timeout."""


class Subscription:
    """A queue of events on the loop that subscribed; close it (or use `with`) when done."""

    def __init__(self, bus: EventBus, kinds: Iterable[str] | None):
        self.bus = bus
        self.kinds = frozenset(kinds) if kinds else None
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()
        self.queue: asyncio.Queue[Event] = asyncio.Queue()

    def deliver(self, event: Event) -> None:
        """Any thread."""
        if self.kinds is not None and event.kind not in self.kinds:
            return
        try:
            if threading.get_ident() == self.thread:
                self.queue.put_nowait(event)
            else:
                self.loop.call_soon_threadsafe(self.queue.put_nowait, event)
        except RuntimeError:  # that loop is closed: nobody is waiting any more
            self.close()

    async def get(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        self.bus.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, *kinds: str) -> Subscription:
        """Events of `kinds` (all when none named) from now on; call on the loop that will read."""
        sub = Subscription(self, kinds)
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def publish(self, kind: str, *, session=None, **data: Any) -> None:
        """Tell the subscribers; with `session`, once that transaction has committed."""
        event = Event(kind, data)
        if session is None:
            self.dispatch(event)
            return
        # Deferred even when no one subscribes yet: an observer that subscribes before the
        # commit must get the event, since its check may have run before the commit.
        pending = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = []
            sa_event.listen(session, "after_commit", _after_commit)
            sa_event.listen(session, "after_rollback", _after_rollback)
        pending.append((self, event))

    def dispatch(self, event: Event) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.deliver(event)


def _after_commit(session) -> None:
    for bus, event in session.info.pop(_PENDING, None) or ():
        bus.dispatch(event)
    session.info[_PENDING] = []  # the listeners stay on the session; later commits reuse them


def _after_rollback(session) -> None:
    session.info[_PENDING] = []


async def _next_events(queues: list[asyncio.Queue]) -> list[Any]:
    """Wait until one of `queues` has something; return everything they hold now."""
    if not any(q.qsize() for q in queues):
        if len(queues) == 1:
            first = [await queues[0].get()]
        else:
            getters = [asyncio.ensure_future(q.get()) for q in queues]
            try:
                await asyncio.wait(getters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for getter in getters:
                    if not getter.done():
                        getter.cancel()
            first = [g.result() for g in getters if g.done() and not g.cancelled()]
    else:
        first = []
    for q in queues:
        while q.qsize():
            first.append(q.get_nowait())
    return first


def _as_event(item: Any) -> Event:
    if isinstance(item, Event):
        return item
    kind, ids = item  # the push hub's ("folders", {ids})
    return Event(kind, {"ids": set(ids)})


async def wait_until(check: Callable[[], Any] | Callable[[], Awaitable[Any]], timeout: float, *,
                     kinds: Iterable[str] = (), hub=None, relevant: Callable[[Event], bool] | None = None,
                     bus: EventBus | None = None, what: str = "the condition") -> Any:
    """Evaluate `check()` now and again after each event of `kinds` on the bus (and each push-hub
    notification when `hub` is given) until it returns something truthy, and return that.

    `check` is a coroutine function, or a plain function run in a worker thread (so it may read
    the database).  `relevant(event)` skips re-checks for events that cannot matter.  Raises
    WaitTimeout after `timeout` seconds; never sleeps and never polls."""
    if kinds and bus is None:
        raise ValueError("wait_until needs the bus that carries the event kinds")
    sub = bus.subscribe(*kinds) if kinds else None
    hub_queue = hub.subscribe() if hub is not None else None
    queues = [q for q in (sub.queue if sub else None, hub_queue) if q is not None]
    if not queues:
        raise ValueError("wait_until needs event kinds or a hub to wait on")
    is_async = inspect.iscoroutinefunction(check)

    async def evaluate():
        return await check() if is_async else await asyncio.to_thread(check)

    deadline = asyncio.timeout(timeout)
    try:
        result = await evaluate()  # a condition that holds already holds, whatever the timeout
        if result:
            return result
        async with deadline:
            while True:
                while True:
                    events = [_as_event(item) for item in await _next_events(queues)]
                    if relevant is None or any(relevant(e) for e in events):
                        break
                result = await evaluate()
                if result:
                    return result
    except TimeoutError:
        if not deadline.expired():
            raise  # a TimeoutError of the check's own
        raise WaitTimeout(f"{what} did not happen within {timeout:g} s") from None
    finally:
        if sub is not None:
            sub.close()
        if hub_queue is not None:
            hub.unsubscribe(hub_queue)
