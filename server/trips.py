"""Thread trips taken together: the reads of many requests that arrived at once done on one trip.

Each request's own trip to a worker thread (run_in_threadpool) costs the event loop a hand-off:
it wakes a thread (a futex) and the thread then waits for the GIL the loop holds.  In a storm of
10,000 Pings that hand-off was a third of the loop's time holding the GIL (py-spy --gil: the loop
in Condition.notify waking a worker, switched out right there on the busy 2-core machine), and
forty threads took turns at one GIL.  Here a request's work joins a list; one trip at a time (at
most `concurrent`) takes the whole list to a worker thread and back, so a storm's requests cost
one hand-off per trip, not one each; a lone request still makes its own trip at once.

Work that several requests of a trip would each read (the door's counters) is read once per trip
through `once`, and their reads share one connection and one read transaction (`reading`): every
request of a trip arrived before the trip began, so what the trip reads is as fresh as reads of
their own.  (A Ping's wait hears of a change notified after the hub tick its request noted on the
loop, before the trip; a change committed before the trip's read is in what it read.)
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from starlette.concurrency import run_in_threadpool

_trip = threading.local()  # the memo of the trip this thread runs (`once`)


def once(key: Any, read: Callable[[], Any]) -> Any:
    """`read()`, done once per trip for `key` (each time outside a trip)."""
    memo = getattr(_trip, "memo", None)
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


@contextmanager
def reading(engine) -> Iterator[Any]:
    """A connection to read on: the trip's, begun once for all its requests (a connection checked
    out, BEGIN and ROLLBACK were a quarter of a cold Ping's thread time), or outside a trip a
    connection of its own.  A failure in the block closes the trip's: the next request opens
    another rather than read on a transaction in doubt."""
    memo = getattr(_trip, "memo", None)
    if memo is None:
        with engine.connect() as connection:
            yield connection
        return
    key = (_READING, engine)
    connection = memo.get(key)
    if connection is None:
        connection = memo[key] = engine.connect()
    try:
        yield connection
    except BaseException:
        memo.pop(key, None)
        connection.close()
        raise


_READING = object()  # memo keys of the trip's connections (`reading`)


class Trips:
    """Work for worker threads, taken a list at a time (see the module's text)."""

    def __init__(self, concurrent: int = 2, most: int = 256):
        self.concurrent = concurrent  # trips out at once: a slow request holds back only its own
        self.most = most  # requests per trip: bounds the wait of the last one in the list
        self._waiting: list[tuple[Callable, tuple, asyncio.Future]] = []
        self._out = 0
        self._tasks: set[asyncio.Task] = set()  # the trips out, kept from the garbage collector

    async def run(self, fn: Callable, *args) -> Any:
        """fn(*args) in a worker thread, with the requests that wait for a trip at the same time."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append((fn, args, future))
        if self._out < self.concurrent:
            self._out += 1
            task = loop.create_task(self._trips())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _trips(self) -> None:
        batch: list = []
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[:self.most], self._waiting[self.most:]
                outcomes = await run_in_threadpool(_run_all, batch)
                for (_, _, future), (failed, value) in zip(batch, outcomes):
                    if future.done():  # its request was cancelled meanwhile
                        continue
                    if failed:
                        future.set_exception(value)
                    else:
                        future.set_result(value)
                batch = []
        except BaseException as exc:  # the trip itself failed or was cancelled: its requests learn it
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("thread trip cancelled"))
            raise
        finally:
            self._out -= 1


def _run_all(batch: list) -> list[tuple[bool, Any]]:
    """In the worker thread: each request's work in turn, its outcome or its exception."""
    _trip.memo = {}
    outcomes: list[tuple[bool, Any]] = []
    try:
        for fn, args, _ in batch:
            try:
                outcomes.append((False, fn(*args)))
            except Exception as exc:  # this request's failure, not the others'
                outcomes.append((True, exc))
    finally:
        memo, _trip.memo = _trip.memo, None
        for key, value in memo.items():
            if isinstance(key, tuple) and key[0] is _READING:
                value.close()
    return outcomes
