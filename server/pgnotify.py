"""Wake-ups between processes on one PostgreSQL store, through PostgreSQL's LISTEN/NOTIFY.

Each serving process keeps one LISTEN connection and one connection to send on.  What its push hub
is told after a commit (folders that got items, a hierarchy change, a policy or access change,
new throttling settings) goes out as a NOTIFY on the channel `easlab`, and what the others send
comes into the hub as if it had happened here.  A notification is a hint, never state: the waiter
it wakes reads the database again, so one that is lost (a dropped connection, a send that failed)
costs latency, never a change.  After the listener reconnects the hub re-checks every held
request against the durable per-folder counters (`PushHub.recheck`), since notifications sent
while it was away are gone.  SQLite has no such channel and stays single-process.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets

log = logging.getLogger("easlab.pgnotify")

CHANNEL = "easlab"
_PAYLOAD_MAX = 7900  # PostgreSQL refuses payloads of 8000 bytes and more
_RETRY_FIRST, _RETRY_MAX = 0.05, 5.0  # reconnect back-off, seconds


def libpq_url(db_url: str) -> str:
    """The SQLAlchemy URL as libpq takes it (no `+psycopg` driver suffix)."""
    scheme, sep, rest = db_url.partition("://")
    return "postgresql" + sep + rest if scheme.startswith("postgres") else db_url


def payloads(event: dict, origin: str) -> list[str]:
    """`event` as NOTIFY payloads under 8000 bytes: a long folder list is split in several."""
    body = dict(event, origin=origin)
    text = json.dumps(body, separators=(",", ":"))
    ids = event.get("ids")
    if len(text) <= _PAYLOAD_MAX or event.get("event") != "folders" or len(ids) < 2:
        return [text]
    half = len(ids) // 2
    return payloads(dict(event, ids=ids[:half]), origin) + payloads(dict(event, ids=ids[half:]), origin)


def notify_now(db, event: dict) -> None:
    """Send `event` from a process that serves nothing (the CLI) through `db`'s engine."""
    from sqlalchemy import text

    with db.engine.begin() as connection:
        for payload in payloads(event, origin="cli"):
            connection.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload})


class PgRelay:
    """One process's end of the channel: `send` hands the hub's events to the others, and what
    they send is applied to `hub` with `hub.handle_event(event, remote=True)`."""

    def __init__(self, db_url: str, hub) -> None:
        self.url = libpq_url(db_url)
        self.hub = hub
        self.origin = f"{os.getpid()}-{secrets.token_hex(4)}"  # own notifications come back: skip them
        self.connected = asyncio.Event()  # the LISTEN is in place (tests and start-up wait on it)
        self.connections = 0  # LISTEN connections made so far: more than one means it reconnected
        self.listener_pid: int | None = None  # the LISTEN connection's server process
        self._outbox: asyncio.Queue[dict] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []

    async def start(self, timeout: float = 10.0) -> None:
        self._tasks = [asyncio.create_task(self._listen(), name="easlab-pg-listen"),
                       asyncio.create_task(self._send(), name="easlab-pg-send")]
        try:  # a first connection before serving, so no change made meanwhile goes unheard
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            log.warning("LISTEN on PostgreSQL not ready within %g s; other processes' changes reach held "
                        "requests once it is", timeout)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def send(self, event: dict) -> None:
        """On the loop: queue `event` for the other processes."""
        self._outbox.put_nowait(event)

    async def _connect(self):
        import psycopg

        return await psycopg.AsyncConnection.connect(self.url, autocommit=True)

    async def _listen(self) -> None:
        delay = _RETRY_FIRST
        while True:
            try:
                async with await self._connect() as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.listener_pid = connection.info.backend_pid
                    self.connections += 1
                    # What was sent while no LISTEN was in place is lost: held requests read again.
                    self.hub.recheck()
                    self.connected.set()
                    delay = _RETRY_FIRST
                    async for note in connection.notifies():
                        self._receive(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection, a restarted server: listen again
                log.warning("LISTEN connection lost (%s); reconnecting", exc)
            self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RETRY_MAX)

    def _receive(self, payload: str) -> None:
        try:
            event = json.loads(payload)
        except ValueError:
            log.warning("ignoring a notification that is not JSON")
            return
        if event.pop("origin", None) == self.origin:
            return
        try:
            self.hub.handle_event(event, remote=True)
        except Exception:  # one bad event must not stop the listener
            log.exception("notification %r failed", event)

    async def _send(self) -> None:
        connection = None
        while True:
            event = await self._outbox.get()
            batch = [event]
            while not self._outbox.empty():  # what queued meanwhile goes out in the same round trip
                batch.append(self._outbox.get_nowait())
            texts = [p for each in _merged(batch) for p in payloads(each, self.origin)]
            try:
                if connection is None or connection.closed:
                    connection = await self._connect()
                async with connection.cursor() as cursor:
                    await cursor.executemany("SELECT pg_notify(%s, %s)", [(CHANNEL, t) for t in texts])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the hint is lost, not the change: the waiters' next read finds it
                log.warning("NOTIFY failed (%s); other processes see the change at their next read", exc)
                if connection is not None:
                    await connection.close()
                connection = None


def _merged(batch: list[dict]) -> list[dict]:
    """The folders events of `batch` as one; the others as they are, in order."""
    ids: dict[int, None] = {}
    others = []
    for event in batch:
        if event.get("event") == "folders":
            ids.update(dict.fromkeys(event.get("ids", [])))
        else:
            others.append(event)
    return ([{"event": "folders", "ids": list(ids)}] if ids else []) + others
