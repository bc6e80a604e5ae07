"""Turns to write to SQLite, waited for on the event loop instead of in worker threads.

SQLite has one writer at a time (storage/db.py WriterLock).  A request that waits for it inside a
worker thread holds one of the thread pool's 40 threads while it waits: with fifty devices
writing, every thread ended up parked on the writer's lock, and requests that only read (the
gate, a FolderSync with nothing new, a held Ping's checks) queued for a thread behind them.  Here
the writers queue as coroutines, first come first served, and only `WIDTH` of them at a time are
handed to threads: the one writing and the next, ready to start the moment the lock is free.

The turns may be awaited from several event loops (test clients run their own): each waiter is
woken on its own loop.
"""
from __future__ import annotations

import asyncio
import threading
from collections import deque

WIDTH = 2  # writers in worker threads at once: one in its transaction, one waiting for the lock


class WriterTurns:
    """First come first served turns; `async with turns:` around one writing transaction."""

    def __init__(self, width: int = WIDTH):
        self._guard = threading.Lock()
        self._free = width
        self._queue: deque[asyncio.Future] = deque()

    @property
    def queued(self) -> int:
        """Writers waiting for a turn (tests look at it)."""
        with self._guard:
            return len(self._queue)

    async def __aenter__(self) -> WriterTurns:
        with self._guard:
            if self._free and not self._queue:
                self._free -= 1
                return self
            turn = asyncio.get_running_loop().create_future()
            self._queue.append(turn)
        try:
            await turn
        except BaseException:
            with self._guard:
                if turn in self._queue:  # still waiting: it simply leaves the queue
                    self._queue.remove(turn)
                    raise
            self._release()  # the turn was handed over as the waiter gave up: pass it on
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        self._release()

    def _release(self) -> None:
        while True:
            with self._guard:
                if not self._queue:
                    self._free += 1
                    return
                turn = self._queue.popleft()  # the turn is the waiter's from here
            try:
                turn.get_loop().call_soon_threadsafe(_hand, turn)
                return
            except RuntimeError:  # its loop is closed: nobody will take it
                continue


def _hand(turn: asyncio.Future) -> None:
    if not turn.done():
        turn.set_result(None)
