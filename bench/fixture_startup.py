"""Start-up of the pytest plugin's server: in-process to the first Sync, and a real process to ready.

What a test pays before it does anything.  In-process (testing/plugin/inprocess.py InProcessEaslab): a
fresh SQLite store, the app with a ManualClock, `make_user`, `make_device` (connected: Provision and
FolderSync) and the first `Sync` of the Inbox answered — aim: under 0.2 s.  "cold" is the first
such start in the process (lazy imports, first argon2 hash), after `easlab.testing.plugin` itself is
imported, as pytest imports it once per session.  Process (ProcessEaslab): `easlab serve --port 0
--smtp-port 0` on a fresh store until its addresses are printed and one HTTP request is answered —
aim: under 1 s; "to first Sync" adds a user, a connected device and its first Sync over the port.
Best of N (median in brackets).  Only 127.0.0.1 is contacted.  A row is appended to
bench/RESULTS.md unless --no-record.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402  (puts the tree first on sys.path)

TITLE = "bench/fixture_startup.py — the easlab fixture: in-process to first Sync, process to ready"
INTRO = """
The pytest plugin's server (testing/plugin/) from nothing: in-process = fresh SQLite
store, the app with a ManualClock, `make_user`, `make_device` (Provision + FolderSync over
httpx.ASGITransport) and the first Sync of the Inbox answered (aim < 0.2 s); "cold" = the first
start in the process, after importing the plugin. Process = `easlab serve --port 0 --smtp-port 0`
on a fresh store until its URLs are printed and one HTTP request is answered (aim < 1 s); "to
first Sync" adds a user, a connected device and its first Sync over the real port. Best of N
(median in brackets). "load" = the 1-minute load average when the run started and ended (2 cores:
others' test runs and benchmarks share the machine). "tree" = HEAD, +dirty when eas/, server/ or
storage/ had uncommitted changes.
"""
COLUMNS = ["date (UTC)", "command", "tree", "N in-process", "in-process to first Sync ms", "cold ms",
           "N process", "process to ready s", "process to first Sync s", "aims met", "load", "python"]
COMMAND = ".venv/bin/python bench/fixture_startup.py"


async def first_sync(mode: str) -> tuple[float, float]:
    """(seconds to ready, seconds to the first Sync answered), from nothing."""
    from easlab.testing.plugin import start

    t0 = time.perf_counter()
    server = start(mode)
    ready = time.perf_counter() - t0
    try:
        alice = server.make_user("alice")
        device = await server.make_device(alice)
        result = await device.sync("Inbox")
        done = time.perf_counter() - t0
        if result.status != 1:
            raise SystemExit(f"FAIL: the first Sync answered status {result.status}")
    finally:
        await server.aclose_clients()
        server.close()
    return ready, done


async def run(args) -> dict:
    import easlab.testing.plugin  # noqa: F401  (what pytest imports once, at plugin load)

    _, cold = await first_sync("inprocess")
    print(f"in-process cold (first in this process): {cold * 1000:.1f} ms")
    inproc = []
    for _ in range(args.inprocess):
        inproc.append((await first_sync("inprocess"))[1])
    print(f"in-process to first Sync: best {min(inproc) * 1000:.1f} ms, median {statistics.median(inproc) * 1000:.1f} ms "
          f"(N={len(inproc)}; aim < 200 ms)")
    ready, synced = [], []
    for _ in range(args.process):
        r, s = await first_sync("process")
        ready.append(r)
        synced.append(s)
    print(f"process to ready: best {min(ready):.3f} s, median {statistics.median(ready):.3f} s; to first Sync: "
          f"best {min(synced):.3f} s, median {statistics.median(synced):.3f} s (N={len(ready)}; aim < 1 s)")
    return {"cold": cold, "inproc": inproc, "ready": ready, "synced": synced}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inprocess", type=int, default=20, help="in-process starts counted (after the cold one)")
    parser.add_argument("--process", type=int, default=5, help="process starts counted")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tree = c.tree_state()
    load_before = os.getloadavg()[0]
    figures = asyncio.run(run(args))
    load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
    best_in, med_in = min(figures["inproc"]), statistics.median(figures["inproc"])
    best_ready, med_ready = min(figures["ready"]), statistics.median(figures["ready"])
    best_sync, med_sync = min(figures["synced"]), statistics.median(figures["synced"])
    aims = best_in < 0.2 and best_ready < 1.0
    print(("aims met" if aims else "ABOVE AIM: in-process < 0.2 s and process < 1 s") + f" (load average {load})")
    if not args.no_record:
        c.record(TITLE, INTRO, COLUMNS, [
            c.utc_now(), f"`{COMMAND}`", tree, str(len(figures["inproc"])),
            f"{best_in * 1000:.1f} ({med_in * 1000:.1f})", f"{figures['cold'] * 1000:.0f}", str(len(figures["ready"])),
            f"{best_ready:.3f} ({med_ready:.3f})", f"{best_sync:.3f} ({med_sync:.3f})", "yes" if aims else "no",
            load, c.python_version(),
        ])
        print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
