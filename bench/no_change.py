"""Benchmark: FolderSync requests that change nothing, a second, in-process.

    .venv/bin/python bench/no_change.py [--requests N] [--connections N] [--no-record]

One SQLite database, one user, `--connections` (8) devices that have each done FolderSync 0 and
FolderSync with the key it gave; then every device repeats that last FolderSync (nothing to
report) until `--requests` requests are answered, through the ASGI app (httpx.ASGITransport, no
socket).  Measured twice in one run: "before", with every request passing the access gate and
FolderSync in a writing transaction, reading the rows, and the last-seen time stored on each
request (the gate of the code before issue 16 point 3; the logon's memory and the command's
primary-key loads are in both runs), and "after": the gate decided from memory after one counter
read (server/store/gate_cache.py) and FolderSync answered from one statement
(storage/folders.py quick_folder_sync).  Over HTTP is not measured yet.
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

TITLE = "bench/no_change.py — no-change requests: FolderSync a second, in-process"
INTRO = """\
One SQLite database, 8 devices of one user repeating a FolderSync that has nothing to report, through
the ASGI app in-process.  "before": the gate and FolderSync each in a writing transaction reading the
rows, last seen stored on every request (the old behaviour, switched on in the same run); "after":
read first (up to ff8587e); from fc9e280 "after" is the gate decided from memory after one counter
read and FolderSync from one statement, and "before" keeps the logon's memory."""


def _originals():
    from easlab.server.store import access, sync

    return access.AccessAdapter._from_memory, sync.quick_folder_sync


FROM_MEMORY, QUICK = _originals()


def fs(key: str) -> bytes:
    from easlab.eas.wbxml import E, encode

    return encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", key)))


async def run(mode: str, requests: int, connections: int) -> float:
    import httpx

    from easlab.eas.wbxml import decode
    from easlab.server.app import create_app
    from easlab.server.config import Settings
    from easlab.storage import Database, devices
    from easlab.storage.users import add_user

    folder = tempfile.mkdtemp(prefix="easlab-nochange-")
    url = f"sqlite:///{folder}/easlab.db"
    db = Database(url)
    db.create_all()
    with db.session() as session:
        add_user(session, "bench", "pw", "Bench")
    from easlab.server.store import access, sync

    if mode == "before":
        db.read_first = lambda work: db._work(work, write=True)  # type: ignore[method-assign]
        devices.LAST_SEEN_EVERY = devices.timedelta(0)
        access.AccessAdapter._from_memory = lambda *args: None  # type: ignore[method-assign]
        sync.quick_folder_sync = lambda *args: None
    else:
        devices.LAST_SEEN_EVERY = devices.timedelta(seconds=60)
        access.AccessAdapter._from_memory = FROM_MEMORY  # type: ignore[method-assign]
        sync.quick_folder_sync = QUICK
    app = create_app(Settings(db_url=url, domain="easlab.test"), db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
        from tests.server.eas_helpers import Raw, provision

        raws = {}

        async def post(device, key):
            r = await raws[device].post("FolderSync", raw=fs(key))
            assert r.status_code == 200, r.status_code
            return decode(r.content)

        keys = {}
        for i in range(connections):
            raws[f"d{i}"] = Raw(http, user="bench", password="pw", device=f"d{i}")
            await provision(raws[f"d{i}"])
            key = (await post(f"d{i}", "0")).text("FolderHierarchy:SyncKey")
            await post(f"d{i}", key)
            keys[f"d{i}"] = key
        left = [requests]

        async def worker(device):
            while left[0] > 0:
                left[0] -= 1
                tree = await post(device, keys[device])
                assert tree.text("FolderHierarchy:Status") == "1", tree

        started = time.perf_counter()
        await asyncio.gather(*(worker(d) for d in keys))
        elapsed = time.perf_counter() - started
    db.dispose()
    return requests / elapsed


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
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    load = os.getloadavg()[0]  # the machines are shared: a figure means little under load
    before = asyncio.run(run("before", args.requests, args.connections))
    after = asyncio.run(run("after", args.requests, args.connections))
    print(f"no-change FolderSync in-process: before {before:.0f}/s, after {after:.0f}/s ({after / before:.2f}x)")
    if not args.no_record:
        c.record(TITLE, INTRO, ["date", "load (1 min)", "requests", "before (req/s)", "after (req/s)", "ratio", "tree"],
                 [c.utc_now(), f"{load:.1f}", str(args.requests), f"{before:.0f}", f"{after:.0f}", f"{after / before:.2f}",
                  c.tree_state()])


if __name__ == "__main__":
    main()
