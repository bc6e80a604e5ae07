"""Benchmark: requests that change nothing, a second, in-process: FolderSync, Sync, Ping taken in.

    .venv/bin/python bench/no_change.py [--requests N] [--connections N] [--pings N] [--no-record]

One SQLite database, one user, `--connections` (8) devices that have each done FolderSync 0 and
FolderSync with the key it gave, Sync 0 of the Inbox and Sync with its key; then every device
repeats that last FolderSync (nothing to report) until `--requests` requests are answered, then the
last Sync (an empty answer) as many times, through the ASGI app (httpx.ASGITransport, no socket).
Ping: `--pings` (400) devices of 8 users, each past its first Sync of the Inbox and one Ping (the
gate's memory), send a Ping of the Inbox at once; the figure is Pings held a second, from the first
sent until the hub holds them all (one delivery then answers them).  Measured twice in one run:
"before", with every request passing the access gate and FolderSync in a writing transaction,
reading the rows, and the last-seen time stored on each request (the gate of the code before issue
16 point 3; the logon's memory and the command's primary-key loads are in both runs), and "after":
the gate decided from memory under the counters the request read once at the door
(server/traces.py), FolderSync answered from one statement (storage/folders.py
quick_folder_sync) and a Sync with nothing to say from one look at its keys and the folders'
change counters (storage/sync.py quiet_collections).  Over HTTP is not measured here (bench/sync_initial.py is).
Printed beside each rate: the process's CPU ms per request (all threads; the in-process client's
share included, the same in both), steadier than the rate on a shared machine.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # tests.server.eas_helpers

import _common as c  # noqa: E402

TITLE = "bench/no_change.py — no-change requests a second, in-process: FolderSync, Sync, Ping taken in"
INTRO = """\
One SQLite database, through the ASGI app in-process (no socket).  FolderSync and Sync: 8 devices of
one user repeating a FolderSync, then a Sync of the Inbox, that has nothing to report; Ping: 400
devices of 8 users (each past one Ping) send a Ping of the Inbox at once, the figure is Pings held a
second until the hub holds them all.  "before": the gate and FolderSync each in a writing
transaction reading the rows, last seen stored on every request (the old gate, switched on in the
same run; the logon's memory stays); "after": the gate decided from memory under the `access` and
`instrument` counters read once at the door, FolderSync from one statement, a quiet Sync from one
look at its keys and the folders' change counters."""
COLUMNS = ["date", "load (1 min)", "command", "requests", "before (req/s)", "after (req/s)", "ratio", "tree"]


def _originals():
    from easlab.server.store import access, sync

    return (access.AccessAdapter._from_memory, access.AccessAdapter._quick, sync.quick_folder_sync,
            sync.SyncAdapter.quiet_sync)


FROM_MEMORY, QUICK_GATE, QUICK, QUIET = _originals()


async def _never_quiet(self, ctx, requests, sent):
    return None


def fs(key: str) -> bytes:
    from easlab.eas.wbxml import E, encode

    return encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", key)))


def sync(key: str) -> bytes:
    from easlab.eas.wbxml import E, encode

    return encode(E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
                    E("AirSync:SyncKey", key), E("AirSync:CollectionId", "1")))))


def ping() -> bytes:
    from easlab.eas.wbxml import E, encode

    return encode(E("Ping:Ping", E("Ping:HeartbeatInterval", "600"),
                    E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email")))))


def _mode(mode: str) -> None:
    from easlab.storage import devices
    from easlab.server.store import access, sync as store_sync

    if mode == "before":
        devices.LAST_SEEN_EVERY = devices.timedelta(0)
        access.AccessAdapter._from_memory = lambda *args: None  # type: ignore[method-assign]
        access.AccessAdapter._quick = lambda *args: None  # type: ignore[method-assign]
        store_sync.quick_folder_sync = lambda *args: None
        store_sync.SyncAdapter.quiet_sync = _never_quiet  # type: ignore[method-assign]
    else:
        devices.LAST_SEEN_EVERY = devices.timedelta(seconds=60)
        access.AccessAdapter._from_memory = FROM_MEMORY  # type: ignore[method-assign]
        access.AccessAdapter._quick = QUICK_GATE  # type: ignore[method-assign]
        store_sync.quick_folder_sync = QUICK
        store_sync.SyncAdapter.quiet_sync = QUIET  # type: ignore[method-assign]


class Device:
    """One simulated device: its Raw client and the keys it holds."""

    def __init__(self, http, user: str, name: str):
        from tests.server.eas_helpers import Raw

        self.raw = Raw(http, user=user, password="pw", device=name)
        self.folder_key = self.sync_key = ""

    async def post(self, command: str, body: bytes):
        from easlab.eas.wbxml import decode

        r = await self.raw.post(command, raw=body)
        assert r.status_code == 200, r.status_code
        return decode(r.content) if r.content else None

    async def settle(self) -> None:
        """Provisioned, FolderSync and Sync of the Inbox done down to an answer with nothing new."""
        from tests.server.eas_helpers import provision

        await provision(self.raw)
        self.folder_key = (await self.post("FolderSync", fs("0"))).text("FolderHierarchy:SyncKey")
        await self.post("FolderSync", fs(self.folder_key))
        tree = await self.post("Sync", sync("0"))
        self.sync_key = tree.find("AirSync:Collections").find("AirSync:Collection").text("AirSync:SyncKey")
        assert await self.post("Sync", sync(self.sync_key)) is None

    async def catch_up(self) -> None:
        tree = await self.post("Sync", sync(self.sync_key))
        self.sync_key = tree.find("AirSync:Collections").find("AirSync:Collection").text("AirSync:SyncKey")


async def _repeat(devices: list[Device], requests: int, command: str) -> tuple[float, float]:
    """(requests a second, CPU ms a request: the process's, all threads, client included)."""
    left = [requests]

    async def worker(device: Device):
        while left[0] > 0:
            left[0] -= 1
            if command == "FolderSync":
                tree = await device.post("FolderSync", fs(device.folder_key))
                assert tree.text("FolderHierarchy:Status") == "1", tree
            else:
                assert await device.post("Sync", sync(device.sync_key)) is None  # nothing new: an empty answer

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(d) for d in devices))
    return requests / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / requests


async def _pings(app, devices: list[Device], users: list[str]) -> tuple[float, float]:
    """Every device's Ping sent at once: Pings held a second until the hub holds them all; one
    delivery to each user then answers them."""
    from tests.server.eas_helpers import message

    hub = app.state.hub
    base = hub.held
    started, cpu = time.perf_counter(), time.process_time()
    tasks = [asyncio.create_task(d.post("Ping", ping())) for d in devices]
    while hub.held < base + len(devices):
        await asyncio.sleep(0.002)
        if any(t.done() for t in tasks):
            raise SystemExit(f"a Ping answered before it was held: {[t.result() for t in tasks if t.done()][0]}")
    rate = len(devices) / (time.perf_counter() - started), (time.process_time() - cpu) * 1000 / len(devices)
    for user in users:
        await app.state.store.deliver(message(subject="wake", to=f"{user}@easlab.test"), [f"{user}@easlab.test"])
    for tree in await asyncio.gather(*tasks):
        assert tree.text("Ping:Status") == "2", tree
    for start in range(0, len(devices), 16):  # each takes the new mail, so its next Ping is held again
        await asyncio.gather(*(d.catch_up() for d in devices[start:start + 16]))
    return rate


async def run(mode: str, requests: int, connections: int, pings: int) -> dict[str, tuple[float, float]]:
    import httpx

    from easlab.server.app import create_app
    from easlab.server.config import Settings
    from easlab.storage import Database
    from easlab.storage.users import add_user

    folder = tempfile.mkdtemp(prefix="easlab-nochange-")
    url = f"sqlite:///{folder}/easlab.db"
    db = Database(url)
    db.create_all()
    users = [f"bench{i}" for i in range(8)]
    with db.session() as session:
        for user in users:
            add_user(session, user, "pw", user.title())
    _mode(mode)
    app = create_app(Settings(db_url=url, domain="easlab.test"), db)
    rates = {}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
        repeating = [Device(http, users[0], f"d{i}") for i in range(connections)]
        for device in repeating:
            await device.settle()
        rates["FolderSync"] = await _repeat(repeating, requests, "FolderSync")
        rates["Sync"] = await _repeat(repeating, requests, "Sync")
        held = [Device(http, users[i % len(users)], f"p{i}") for i in range(pings)]
        for start in range(0, pings, 16):
            await asyncio.gather(*(d.settle() for d in held[start:start + 16]))
        await _pings(app, held, users)  # the first Ping of each: the gate's memory of the device
        rates["Ping"] = await _pings(app, held, users)
    db.dispose()
    return rates


def main() -> None:
    try:
        import sniffio  # noqa: F401
    except ImportError:
        # httpx's in-process transport tries this import on every request (is_running_trio): without
        # the package each try searches sys.path again, the client's cost and not the server's.
        sys.modules["sniffio"] = None  # type: ignore[assignment]
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--pings", type=int, default=400)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--after-only", action="store_true", help="skip the 'before' run (profiling)")
    args = parser.parse_args()
    load = os.getloadavg()[0]  # the machines are shared: a figure means little under load
    before = None if args.after_only else asyncio.run(run("before", args.requests, args.connections, args.pings))
    after = asyncio.run(run("after", args.requests, args.connections, args.pings))
    tree = c.tree_state()
    for command, (rate, cpu) in after.items():
        was, cpu_was = before[command] if before else (float("nan"), float("nan"))
        print(f"no-change {command} in-process: before {was:.0f}/s, after {rate:.0f}/s ({rate / was:.2f}x); "
              f"CPU ms per request (process, client included) before {cpu_was:.2f}, after {cpu:.2f}")
        if not args.no_record and before:
            count = args.pings if command == "Ping" else args.requests
            c.record(TITLE, INTRO, COLUMNS, [c.utc_now(), f"{load:.1f}", command, str(count), f"{was:.0f}", f"{rate:.0f}",
                                             f"{rate / was:.2f}", tree])


if __name__ == "__main__":
    main()
