"""Benchmark: `easlab serve --workers 2` against one process on PostgreSQL, in the same run.

    .venv/bin/python bench/workers.py [--pg URL] [--users U] [--messages M] [--per-user K] [--window W]
                                      [--ping-users P] [--ping-devices D] [--rounds R] [--no-record] [--keep]

Issue 16 point 7: "2 workers against 1 on PostgreSQL in the same run (Sync items/s and wake
latency p99 across processes, 10,000 held Pings split over two processes: total RSS)".

A database of its own is created next to --pg's (same server, name + `_wb<pid>`) and dropped at
the end.  U users (8) each get an Inbox of M small messages (1,500: ~2 KB HTML part and its plain
text, written as Core rows as _common.fill_with_core does); P users (100) with empty Inboxes get D
devices each (100): the first of each logs in and syncs over HTTP, the others are copied from it
in the database (_common.clone_devices, the last Ping stored).  Then, for each server in turn
(1 process, then --workers 2; R rounds alternate them):

- Sync: U x K devices (24) at once, each on its own keep-alive connection, do FolderSync 0 (not
  timed: it also warms each process's password cache), then, timed from the first to the last
  page of all of them, Sync 0 and Sync WindowSize W (100) until no MoreAvailable.  items/s = all
  Adds / wall seconds.  Aim: 2 workers >= 1.7 x 1 process.
- Pings (first round only): P x D Pings (ping_hold.ping, one connection each) are sent; held =
  unanswered once every server process went idle.  The serving process of each Ping's connection
  is read from `ss -tnp`.  Total RSS = VmRSS of the parent and every worker, before and with the
  Pings held.  Then one message per user by SMTP (its process read the same way), one at a time;
  each of that user's Pings is timed from the message data to its answer (Status 2): p50/p99 over
  all and over those held by another process than the one that took the mail.  The devices then
  catch up (their sync states are moved to the folder's head in the database, as a Sync would) so
  the next server's Pings are held again.  Aim: cross-process p99 <= 100 ms with 10,000 held.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import ping_hold as ph  # noqa: E402

DEFAULT_PG = os.environ.get("EASLAB_BENCH_PG_URL", "postgresql://easlab@127.0.0.1:55433/easlab_e")
HTML_SIZE = 2048

TITLE = "bench/workers.py — `easlab serve --workers 2` vs one process on PostgreSQL"
INTRO = """\
PostgreSQL, a database of its own.  Sync: U users with an Inbox of M small messages, U x K devices
at once (one keep-alive connection each; FolderSync 0 first, not timed), timed from their first
Sync 0 to their last page at WindowSize W; items/s = all Adds / wall s; ratio = 2 workers / 1
process in the same run (aim >= 1.7).  Pings: P users x D devices (copied in the database from one
synced device per user), one connection each; held = unanswered after every server process went
idle; total RSS = parent + workers.  One SMTP message per user, one at a time; delay = message data
to each of that user's Ping answers (Status 2); "cross" = Pings held by another process than the
one whose SMTP took the mail (from `ss -tnp`).  Aim: cross-process p99 <= 100 ms with 10,000 held."""
COLUMNS = ["date (UTC)", "command", "tree", "server", "Sync devices x items", "Sync items/s", "ratio 2/1",
           "held Pings (per process)", "total RSS MB before / held", "wake p50 / p99 ms (all)",
           "cross-process p50 / p99 ms (n)", "SMTP 250 median ms", "aims (1.7x / 100 ms)", "python"]


# -- the database ---------------------------------------------------------------------------------
def create_database(base: str) -> str:
    from sqlalchemy import create_engine, text

    from easlab.storage.db import normalise_url

    base = normalise_url(base)
    stem, _, rest = base.rpartition("/")
    name = f"{rest.split('?')[0]}_wb{os.getpid()}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{stem}/{name}"


def drop_database(base: str, url: str) -> None:
    from sqlalchemy import create_engine, text

    from easlab.storage.db import normalise_url

    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def fill(url: str, sync_users: list[str], ping_users: list[str], messages: int) -> None:
    from sqlalchemy import text

    from easlab.storage import Database

    db = Database(url)
    try:
        db.create_all()
        c.create_users(db, sync_users + ping_users)
        template = c.Template(f"{sync_users[0]}@{c.DOMAIN}", HTML_SIZE)
        for user in sync_users:
            c.fill_with_core(db, user, messages, template)
            with db.engine.begin() as conn:  # the rows were given their ids: the sequence catches up
                conn.execute(text("SELECT setval(pg_get_serial_sequence('item', 'id'), (SELECT max(id) FROM item))"))
    finally:
        db.dispose()


def catch_up(url: str) -> None:
    """Every device's sync states at their folder's head, as if each had synced what came."""
    from sqlalchemy import text

    from easlab.storage import Database

    db = Database(url)
    try:
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE syncstate s SET seq = f.change_seq FROM device d, folder f "
                              "WHERE s.device_pk = d.id AND f.user_id = d.user_id AND f.server_id = s.collection_id"))
    finally:
        db.dispose()


# -- processes ------------------------------------------------------------------------------------
def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += c.proc_cpu_seconds(pid)
        except OSError:
            pass
    return total


def wait_idle(pids: list[int], quiet: float = 1.0, limit: float = 300.0) -> float:
    start = time.monotonic()
    last = cpu_of(pids)
    while time.monotonic() - start < limit:
        time.sleep(quiet)
        now = cpu_of(pids)
        if now - last < 0.03:
            break
        last = now
    return time.monotonic() - start


def owners(port: int) -> dict[int, int]:
    """Client port -> pid of the server process holding the other end, for connections to `port`."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, timeout=60).stdout
    found = {}
    for m in re.finditer(r"127\.0\.0\.1:(\d+)\s+127\.0\.0\.1:(\d+)\s+users:\(\(\"[^\"]*\",pid=(\d+)", out):
        if int(m.group(1)) == port:
            found[int(m.group(2))] = int(m.group(3))
    return found


# -- Sync -----------------------------------------------------------------------------------------
async def one_device(host: str, port: int, user: str, device: str, window: int, go: asyncio.Event,
                     ready: list) -> int:
    from easlab.eas.wbxml import E, decode, encode

    conn = await c.Connection(host, port).open()
    hdrs, path = c.headers(user), c.query("FolderSync", user, device)
    try:
        status, _, body = await conn.request(path, hdrs, encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))))
        if status != 200:
            raise RuntimeError(f"{device}: FolderSync HTTP {status}")
        ready.append(device)
        await go.wait()
        path = c.query("Sync", user, device)
        status, _, body = await conn.request(path, hdrs, c.sync_request("0", "1", options=c.html_options(512)))
        key, adds = c.sync_collection(decode(body)).text("AirSync:SyncKey"), 0
        while True:
            status, _, body = await conn.request(path, hdrs, c.sync_request(key, "1", window=window))
            if status == 200 and not body:
                return adds  # nothing more (the last page was full)
            coll = c.sync_collection(decode(body)) if status == 200 else None
            if coll is None or coll.text("AirSync:Status") != "1":
                raise RuntimeError(f"{device}: Sync answered HTTP {status} {body[:60]!r}")
            key = coll.text("AirSync:SyncKey")
            found = coll.find("AirSync:Commands")
            adds += sum(1 for cmd in (found.children if found is not None else []) if cmd.name == "Add")
            if coll.find("AirSync:MoreAvailable") is None:
                return adds
    finally:
        await conn.close()


async def sync_phase(server: c.Server, users: list[str], per_user: int, window: int, tag: str) -> dict:
    go, ready = asyncio.Event(), []
    tasks = [asyncio.create_task(one_device(server.host, server.port, u, f"{u}{tag}k{k}", window, go, ready))
             for k in range(per_user) for u in users]
    while len(ready) < len(tasks):
        await asyncio.sleep(0.05)
        for t in tasks:
            if t.done() and t.exception():
                raise t.exception()
    await asyncio.to_thread(wait_idle, server.pids(), 0.5, 60)
    start, own, served, busy = time.perf_counter(), time.process_time(), cpu_of(server.pids()), _machine_busy()
    go.set()
    adds = await asyncio.gather(*tasks)
    seconds = time.perf_counter() - start
    # Who used the cores meanwhile: this process (the devices: HTTP and WBXML decoding on one loop),
    # the server's processes, and the machine as a whole (PostgreSQL and other tenants included).
    cores = {"client": (time.process_time() - own) / seconds, "server": (cpu_of(server.pids()) - served) / seconds,
             "machine": (_machine_busy() - busy) / seconds}
    return {"devices": len(tasks), "adds": sum(adds), "seconds": seconds, "rate": sum(adds) / seconds, "cores": cores}


def _machine_busy() -> float:
    """CPU seconds all cores spent not idle since boot (/proc/stat)."""
    with open("/proc/stat") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


# -- Pings ----------------------------------------------------------------------------------------
async def ping_phase(server: c.Server, devices: list[tuple[str, str]], users: list[str], deliveries: int) -> dict:
    pids = server.pids()
    await asyncio.to_thread(wait_idle, pids, 1.0, 60)
    report = {"rss_before": server.total_rss_kb()}
    body = c.ping_request(ph.HEARTBEAT)
    gate = asyncio.Semaphore(ph.CONNECT_CONCURRENCY)
    helds = [ph.HeldPing(u, d) for u, d in devices]
    sent: list[float] = []
    start = time.perf_counter()
    for h in helds:
        h.task = asyncio.create_task(ph.ping(server.host, server.port, h, body, gate, sent))
    try:
        while len(sent) + sum(1 for h in helds if h.arrived is not None) < len(helds):
            await asyncio.sleep(0.1)
        await asyncio.to_thread(wait_idle, pids, 1.0, 300)
        await asyncio.sleep(2.0)
        report["hold_s"] = time.perf_counter() - start
        report["rss_held"] = server.total_rss_kb()
        owner = await asyncio.to_thread(owners, server.port)
        held = [h for h in helds if h.arrived is None]
        where: dict[int, int] = {}
        for h in held:
            pid = owner.get(h.writer.get_extra_info("sockname")[1])
            where[pid] = where.get(pid, 0) + 1
        report.update(held=len(held), where=where, early=len(helds) - len(held))
        by_user: dict[str, list] = {}
        for h in held:
            by_user.setdefault(h.user, []).append(h)
        delays, cross, smtp = [], [], []
        for user in [u for u in users if u in by_user][:deliveries]:
            took = {}

            def on_open(smtp_client, took=took):
                took["pid"] = owners(server.smtp_port).get(smtp_client.sock.getsockname()[1])

            mime = c.make_message(f"{user}@{c.DOMAIN}", f"Wake-up for {user}", 2048)
            t_data, t_done = await asyncio.to_thread(c.smtp_send, server.smtp_port, f"{user}@{c.DOMAIN}", mime,
                                                     on_open=on_open)
            smtp.append(t_done - t_data)
            await asyncio.wait([h.task for h in by_user[user]], timeout=30)
            for h in by_user[user]:
                if h.arrived is None or not ph.ping_ok(h):
                    continue
                delays.append(h.arrived - t_data)
                if owner.get(h.writer.get_extra_info("sockname")[1]) != took.get("pid"):
                    cross.append(h.arrived - t_data)
        report.update(delays=delays, cross=cross, smtp=smtp)
    finally:
        await ph.release(helds)
        await asyncio.sleep(0.5)
    return report


async def prepare_pings(server: c.Server, url: str, users: list[str], per_user: int) -> list[tuple[str, str]]:
    from easlab.storage import Database

    await ph.login_all(server.host, server.port, users, lambda u: f"{u}d000")
    primed = await ph.prime_all(server.host, server.port, [(u, f"{u}d000") for u in users], 600)
    assert len(primed) == len(users)
    db = Database(url)
    try:
        c.clone_devices(db, {u: f"{u}d000" for u in users}, lambda u: [f"{u}d{d:03d}" for d in range(1, per_user)],
                        ping=(ph.HEARTBEAT, [["1", "Email"]]))
    finally:
        db.dispose()
    return [(u, f"{u}d{d:03d}") for d in range(per_user) for u in users]


def ms(values, p) -> str:
    return f"{c.percentile(values, p) * 1000:.0f}" if values else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default=DEFAULT_PG, help="a PostgreSQL URL; a database next to it is created")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--per-user", type=int, default=3, help="devices syncing each Inbox at once")
    parser.add_argument("--window", type=int, default=100)
    parser.add_argument("--ping-users", type=int, default=100)
    parser.add_argument("--ping-devices", type=int, default=100, help="Ping devices per user (0: no Ping phase)")
    parser.add_argument("--deliveries", type=int, default=None, help="SMTP messages, one per user (default: all)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    limit = ph.raise_nofile()
    if limit < args.ping_users * args.ping_devices + ph.FD_MARGIN:
        raise SystemExit(f"RLIMIT_NOFILE {limit}: too low for {args.ping_users * args.ping_devices:,} Pings")
    tree = c.tree_state()
    sync_users = [f"s{n:02d}" for n in range(args.users)]
    ping_users = [f"p{n:03d}" for n in range(args.ping_users)] if args.ping_devices else []
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-workers-"))
    url = create_database(args.pg)
    results: dict[int, dict] = {1: {"sync": []}, 2: {"sync": []}}
    devices: list[tuple[str, str]] = []
    try:
        t = time.perf_counter()
        fill(url, sync_users, ping_users, args.messages)
        print(f"database {url.rsplit('/', 1)[1]}: {args.users} x {args.messages:,} messages, {len(ping_users)} Ping users "
              f"in {time.perf_counter() - t:.0f} s", flush=True)
        for rnd in range(args.rounds):
            for workers in (1, 2):
                extra = ["--workers", "2"] if workers == 2 else []
                server = c.Server(url, tmp / f"server-{workers}-{rnd}.log", extra_args=extra).start()
                try:
                    print(f"[{workers} worker(s), round {rnd + 1}] pids {server.pids()}", flush=True)
                    if ping_users and not devices:
                        devices = asyncio.run(prepare_pings(server, url, ping_users, args.ping_devices))
                    s = asyncio.run(sync_phase(server, sync_users, args.per_user, args.window, f"w{workers}r{rnd}"))
                    results[workers]["sync"].append(s)
                    print(f"  Sync: {s['devices']} devices, {s['adds']:,} items in {s['seconds']:.1f} s = {s['rate']:,.0f} items/s; "
                          f"cores busy: client {s['cores']['client']:.2f}, server {s['cores']['server']:.2f}, "
                          f"machine {s['cores']['machine']:.2f} of {os.cpu_count()}", flush=True)
                    if devices and rnd == 0:
                        deliveries = args.deliveries if args.deliveries is not None else len(ping_users)
                        p = asyncio.run(ping_phase(server, devices, ping_users, deliveries))
                        results[workers]["ping"] = p
                        catch_up(url)
                        print(f"  Pings: {p['held']:,} held ({p['where']}), {p['early']} answered early; total RSS "
                              f"{p['rss_before'] / 1024:.0f} -> {p['rss_held'] / 1024:.0f} MB; wake p50/p99 "
                              f"{ms(p['delays'], 50)}/{ms(p['delays'], 99)} ms over {len(p['delays']):,}, cross-process "
                              f"{ms(p['cross'], 50)}/{ms(p['cross'], 99)} ms over {len(p['cross']):,}", flush=True)
                finally:
                    server.stop()
    finally:
        drop_database(args.pg, url)
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    best = {w: max(s["rate"] for s in results[w]["sync"]) for w in (1, 2)}
    ratio = best[2] / best[1]
    print(f"Sync items/s: 1 process {best[1]:,.0f}, 2 workers {best[2]:,.0f}: ratio {ratio:.2f} (aim 1.7)")
    if not args.no_record:
        for w in (1, 2):
            s = results[w]["sync"]
            p = results[w].get("ping")
            cells = [c.utc_now(), f"`{c.command_line('workers.py')}`", tree, "1 process" if w == 1 else "--workers 2",
                     f"{s[0]['devices']} x {s[0]['adds'] // s[0]['devices']:,} (W {args.window})",
                     f"{best[w]:,.0f}" + (f" (best of {len(s)})" if len(s) > 1 else ""),
                     f"{ratio:.2f}" if w == 2 else ""]
            if p:
                scale = "" if p["held"] >= 10_000 else " [scaled down]"
                cells += [f"{p['held']:,} ({' / '.join(f'{n:,}' for n in p['where'].values())}){scale}",
                          f"{p['rss_before'] / 1024:.0f} / {p['rss_held'] / 1024:.0f}",
                          f"{ms(p['delays'], 50)} / {ms(p['delays'], 99)}",
                          f"{ms(p['cross'], 50)} / {ms(p['cross'], 99)} ({len(p['cross']):,})" if w == 2 else "- (one process)",
                          f"{sorted(p['smtp'])[len(p['smtp']) // 2] * 1000:.0f}" if p["smtp"] else "-"]
                aim_wake = bool(p["cross"]) and c.percentile(p["cross"], 99) <= 0.1 and p["held"] >= 10_000
            else:
                cells += ["-"] * 5
                aim_wake = False
            cells += [(f"{'yes' if ratio >= 1.7 else 'no'} / {'yes' if aim_wake else 'no'}") if w == 2 else "",
                      c.python_version()]
            c.record(TITLE, INTRO, COLUMNS, cells)
        print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
