"""Benchmark: 50 devices of 10 users syncing at once while mail arrives — write contention.

    .venv/bin/python bench/concurrency.py [--duration S] [--devices N] [--users N] [--mail-rate R]
                                          [--pg URL] [--tree PATH] [--no-record] [--keep]

`easlab serve` as a subprocess on a fresh SQLite file (or, with --pg, on the PostgreSQL database
at URL, whose easlab tables are dropped and created again).  `--users` users, each with 20 messages
in the Inbox; `--devices` devices spread over them round-robin (5 per user by default), each on
its own keep-alive HTTP/1.1 connection.  Every device first sends FolderSync 0 and Sync 0 for the
Inbox, then loops until the time is up: Sync with its key (WindowSize 50, answering the Adds it
received), every other cycle a Change of one of its items (Read toggled, so the devices of one
user write the same rows), and a FolderSync with its key; no Ping.  Meanwhile messages arrive by
SMTP at `--mail-rate` per second to random users.

Reported: requests, requests/s, HTTP 5xx, other HTTP errors, protocol errors (a Sync or FolderSync
Status other than 1, which restart that device's sync), "database is locked" lines in the server's
log, p50/p99/max latency of all requests (each timed from the first byte written to the last read),
and the messages delivered.  `--tree PATH` runs another checkout's venv and server code (the
"before" of a change: `--tree /work/main`); the database is prepared with this tree's code.  A
row is appended to bench/RESULTS.md unless --no-record.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

PREFILL = 20
WINDOW = 50
TITLE = "bench/concurrency.py — 50 devices of 10 users syncing while mail arrives (write contention)"
INTRO = """\
`easlab serve` as a subprocess (SQLite file, or PostgreSQL with --pg). U users with 20 messages
each, D devices round-robin over them, each on its own keep-alive connection: FolderSync 0 and
Sync 0 of the Inbox, then until the time is up: Sync with its key (WindowSize 50), every other
cycle a Change toggling Read on one of its items (the devices of one user write the same rows),
FolderSync with its key; no Ping. Mail arrives by SMTP at the given rate to random users
meanwhile. errors = HTTP 5xx + other HTTP errors + protocol errors (Status ≠ 1) + "database is
locked" lines in the server log; latency from the first byte written to the last read, all
requests. Aim (issue 13): 0 errors and p99 < 1 s on SQLite. "tree" = HEAD, +dirty when eas/,
server/ or storage/ had uncommitted changes. "load" = 1-minute load average at start / end (2
cores, shared)."""
COLUMNS = ["date (UTC)", "command", "tree", "engine", "devices / users", "s", "requests", "req/s", "5xx",
           "other HTTP", "protocol", "locked in log", "p50 ms", "p99 ms", "max ms", "mails", "load", "python"]


class Stats:
    def __init__(self):
        self.latencies: list[float] = []
        self.http5xx = 0
        self.http_other = 0
        self.protocol = 0
        self.mails = 0
        self.mail_errors = 0
        self.examples: list[str] = []

    def note(self, what: str) -> None:
        if len(self.examples) < 5:
            self.examples.append(what)


class Device:
    """One phone: its connection, Sync and FolderSync keys, and the ServerIds it holds."""

    def __init__(self, server: c.Server, user: str, device_id: str, stats: Stats):
        self.server, self.user, self.device_id, self.stats = server, user, device_id, stats
        self.hdrs = c.headers(user)
        self.conn = c.Connection(server.host, server.port)
        self.sync_key = "0"
        self.folder_key = "0"
        self.items: list[str] = []
        self.read: dict[str, int] = {}

    async def post(self, command: str, body: bytes):
        from easlab.eas.wbxml import decode

        start = time.perf_counter()
        status, _, content = await self.conn.request(c.query(command, self.user, self.device_id), self.hdrs, body)
        self.stats.latencies.append(time.perf_counter() - start)
        if status >= 500:
            self.stats.http5xx += 1
            self.stats.note(f"{self.device_id} {command}: HTTP {status}")
            return None
        if status != 200:
            self.stats.http_other += 1
            self.stats.note(f"{self.device_id} {command}: HTTP {status}")
            return None
        return decode(content) if content else None

    async def folder_sync(self) -> None:
        from easlab.eas.wbxml import E, encode

        tree = await self.post("FolderSync", encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", self.folder_key))))
        if tree is None:
            return
        if tree.text("FolderHierarchy:Status") != "1":
            self.stats.protocol += 1
            self.stats.note(f"{self.device_id} FolderSync: Status {tree.text('FolderHierarchy:Status')}")
            self.folder_key = "0"
            return
        self.folder_key = tree.text("FolderHierarchy:SyncKey")

    def change(self):
        """A Commands element toggling Read on one of this device's items, or None."""
        from easlab.eas.wbxml import E

        if not self.items:
            return None
        server_id = random.choice(self.items)
        self.read[server_id] = 1 - self.read.get(server_id, 0)
        return E("AirSync:Commands", E("AirSync:Change", E("AirSync:ServerId", server_id),
                                       E("AirSync:ApplicationData", E("Email:Read", self.read[server_id]))))

    async def sync(self, with_change: bool) -> None:
        from easlab.eas.wbxml import E, encode

        commands = self.change() if with_change and self.sync_key != "0" else None
        window = E("AirSync:WindowSize", WINDOW) if self.sync_key != "0" else None
        body = encode(E("AirSync:Sync", E("AirSync:Collections", E(
            "AirSync:Collection", E("AirSync:SyncKey", self.sync_key), E("AirSync:CollectionId", "1"), window, commands))))
        coll = c.sync_collection(await self.post("Sync", body))
        if coll is None:
            return  # an empty answer: nothing new (or an HTTP error, counted)
        if coll.text("AirSync:Status") != "1":
            self.stats.protocol += 1
            self.stats.note(f"{self.device_id} Sync: Status {coll.text('AirSync:Status')}")
            self.sync_key, self.items = "0", []
            return
        self.sync_key = coll.text("AirSync:SyncKey")
        found = coll.find("AirSync:Commands")
        for cmd in found.children if found is not None else []:
            server_id = cmd.text("AirSync:ServerId")
            if cmd.name.endswith("Add"):
                self.items.append(server_id)
            elif cmd.name.endswith("Delete") and server_id in self.items:
                self.items.remove(server_id)

    async def run(self, deadline: float) -> None:
        await self.conn.open()
        try:
            await self.folder_sync()
            await self.sync(False)
            cycle = 0
            while time.monotonic() < deadline:
                cycle += 1
                await self.sync(cycle % 2 == 0)
                await self.folder_sync()
                await asyncio.sleep(random.uniform(0, 0.1))  # a phone's think time, not in the figures
        finally:
            await self.conn.close()


def deliver(server: c.Server, users: list[str], rate: float, deadline: float, stats: Stats, stop: threading.Event) -> None:
    """Messages by SMTP to random users, `rate` a second, until `deadline` (a thread)."""
    n = 0
    next_at = time.monotonic()
    while not stop.is_set() and time.monotonic() < deadline:
        user = random.choice(users)
        n += 1
        try:
            c.smtp_send(server.smtp_port, f"{user}@{c.DOMAIN}", c.make_message(f"{user}@{c.DOMAIN}", f"Arrival {n}", 1024))
            stats.mails += 1
        except (OSError, RuntimeError) as exc:
            stats.mail_errors += 1
            stats.note(f"SMTP to {user}: {exc}")
        next_at += 1 / rate
        stop.wait(max(0.0, next_at - time.monotonic()))


def prepare(db_url: str, users: list[str], pg: bool) -> None:
    from sqlmodel import SQLModel

    from easlab.storage import Database

    db = Database(db_url)
    try:
        if pg:
            from easlab.storage import models, models_compose, models_directory, models_faults, models_items  # noqa: F401

            SQLModel.metadata.drop_all(db.engine)
        db.create_all()
        c.create_users(db, users)
        for user in users:
            c.fill_with_store(db, user, PREFILL, c.Template(f"{user}@{c.DOMAIN}", 1024))
    finally:
        db.dispose()


async def load(server: c.Server, users: list[str], args, stats: Stats) -> float:
    devices = [Device(server, users[i % len(users)], f"conc{i:03d}", stats) for i in range(args.devices)]
    start = time.monotonic()
    deadline = start + args.duration
    stop = threading.Event()
    mailer = threading.Thread(target=deliver, args=(server, users, args.mail_rate, deadline, stats, stop), daemon=True)
    mailer.start()
    try:
        results = await asyncio.gather(*[d.run(deadline) for d in devices], return_exceptions=True)
    finally:
        stop.set()
        mailer.join(60)
    for d, result in zip(devices, results):
        if isinstance(result, Exception):
            stats.http_other += 1
            stats.note(f"{d.device_id}: {type(result).__name__}: {result}")
    return time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--mail-rate", type=float, default=5.0, help="SMTP messages a second")
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL database to use (its easlab tables are recreated)")
    parser.add_argument("--tree", type=Path, default=c.ROOT, help="checkout whose .venv and server code run")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    args = parser.parse_args()

    own = c.ROOT
    c.ROOT, c.EASLAB = args.tree.resolve(), args.tree.resolve() / ".venv" / "bin" / "easlab"
    tree = c.tree_state() + ("" if c.ROOT == own else f" ({c.ROOT})")
    load_start = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-concurrency-"))
    users = [f"conc{i:02d}" for i in range(args.users)]
    db_url = args.pg or f"sqlite:///{tmp / 'easlab.db'}"
    stats = Stats()
    try:
        prepare(db_url, users, bool(args.pg))
        with c.Server(db_url, tmp / "server.log") as server:
            print(f"server pid {server.pid} at {server.eas_url}; {args.devices} devices of {args.users} users "
                  f"for {args.duration:g} s, {args.mail_rate:g} mails/s")
            seconds = asyncio.run(load(server, users, args, stats))
        log = (tmp / "server.log").read_text("utf-8", "replace")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    locked = log.count("database is locked")
    engine = "PostgreSQL" if args.pg else "SQLite"
    n = len(stats.latencies)
    p50, p99, worst = (c.percentile(stats.latencies, p) * 1000 for p in (50, 99, 100)) if n else (0.0, 0.0, 0.0)
    errors = stats.http5xx + stats.http_other + stats.protocol + locked
    print(f"{engine}: {n:,} requests in {seconds:.1f} s ({n / seconds:,.0f}/s); errors {errors}: 5xx {stats.http5xx}, "
          f"other HTTP {stats.http_other}, protocol {stats.protocol}, 'database is locked' in log {locked}; "
          f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms; {stats.mails} mails ({stats.mail_errors} failed)")
    for example in stats.examples:
        print("  e.g.", example)
    if not args.no_record:
        c.record(TITLE, INTRO, COLUMNS, [
            c.utc_now(), f"`{c.command_line('concurrency.py')}`", tree, engine, f"{args.devices} / {args.users}",
            f"{seconds:.0f}", f"{n:,}", f"{n / seconds:,.0f}", str(stats.http5xx), str(stats.http_other),
            str(stats.protocol), str(locked), f"{p50:.1f}", f"{p99:.1f}", f"{worst:.1f}", str(stats.mails),
            f"{load_start:.1f} / {os.getloadavg()[0]:.1f}", c.python_version()])
        print(f"appended to {c.RESULTS.relative_to(own)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
