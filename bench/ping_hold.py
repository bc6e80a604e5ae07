"""Benchmark: 10,000 Pings held at once; server RSS and the delay from SMTP delivery to the answer.

    .venv/bin/python bench/ping_hold.py [--users U] [--devices D] [--deliveries K] [--time-limit S]
                                        [--no-record] [--keep]

Setup: RLIMIT_NOFILE is raised (soft = hard = 65536 when allowed, else soft = hard) before
`easlab serve --port 0 --smtp-port 0 --db URL` starts, so the server inherits it.  U users (100)
are created through storage.users.add_user, each with D devices (100): U x D = 10,000 devices.
100 x 100 rather than 10,000 x 1 because every user costs an argon2 hash when created and an
argon2 verification on its first request (~35 ms each, 2 CPUs), and because one delivery then
wakes D Pings at once, the fan-out a shared mailbox or a heavy multi-device user produces.

Each user first logs in once: one FolderSync from its first device, users one after another, so
that each password is verified (argon2) once and cached, as after a first login; concurrent first
requests of one user each run their own argon2 verification (19 MiB apiece) and would measure the
authenticator, not the held Pings.  Every device then primes and syncs its Inbox (Sync SyncKey 0,
then Sync with the new key), so Ping has a SyncKey state to compare against; this runs over 100
keep-alive HTTP/1.1 connections in parallel, each taking devices from a queue, devices of all
users in turn.  Then every device opens its own TCP connection and
sends Ping{HeartbeatInterval 900, Folders{Folder{Id 1, Class Email}}}.  The client is raw asyncio
streams with a minimal HTTP/1.1 reader (bench/_common.py): httpx is too slow at this count.
"Held" is established by the server having answered none of them after its CPU use has fallen
to ~0 for a second (every request has been read and parked) plus a 2-second settle; then the
server's VmRSS is read from /proc/PID/status.

Then K messages (default: one per user, so all U x D Pings are woken) are sent by SMTP (smtplib,
in a thread), one at a time, each to one user.  For each, t0 is taken after the server's 354 to
DATA, just before the message and its final "." are written (the server stores the message and
wakes the Pings before it answers 250); each of that user's D Pings is timed from t0 to the moment
its whole HTTP response has been read, and its body must decode to Ping Status 2 listing folder 1.
p50 and p99 (nearest rank) are taken over all woken Pings.  The next delivery starts when every
Ping of the previous user has answered (or after 30 s).  Everything is then closed.

Bounded: the run keeps within --time-limit seconds (300).  On this 2-CPU machine the server
answers ~100 priming Syncs and ~75 Pings a second, so 10,000 devices need ~6-7 minutes; with the
default limit the priming stops after at most 45% of the time left (no device is started after
that), only the devices primed by then Ping, and the row says so.  `--time-limit 900` measures the
full 10,000.  Each phase also has its own timeout; only 127.0.0.1 is contacted.  A row is appended to bench/RESULTS.md unless --no-record.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

HEARTBEAT = 900
PRIME_CONNECTIONS = 100
CONNECT_CONCURRENCY = 256  # connections being opened at once (the listen backlog is 2048)
FD_MARGIN = 512
PRIME_SHARE = 0.45  # of the time left after the logins, at most, for the priming Syncs
DELIVERY_SHARE = 0.2  # of --time-limit, kept for the deliveries while the Pings are being held

TITLE = "bench/ping_hold.py — 10,000 held Pings: server RSS and delivery-to-answer delay"
INTRO = """\
`easlab serve` on SQLite, RLIMIT_NOFILE raised before it starts. U users x D devices (100 x 100).
Each user logs in once (one FolderSync, users one after another, so each password is verified
once); each device primes and syncs its Inbox (Sync 0, Sync key; 100 keep-alive connections),
then sends Ping{HeartbeatInterval 900, Folder 1 Email} on its own TCP connection (raw asyncio
client). Held = no answer after the server's CPU went idle + 2 s. RSS = server VmRSS at start /
after the logins / after the priming Syncs / with every Ping held. K messages by SMTP, one at a
time, one user each (K = U wakes every Ping); delay = from just before the message data and final
"." are written (after the 354) to the complete HTTP answer (Ping Status 2, checked) of each of
that user's D Pings; p50/p99 nearest rank over all woken Pings. Aim: 10,000 held in < 400 MB,
p99 < 100 ms. Setup = user creation / logins / priming Syncs / Pings sent until settled. The run
keeps within --time-limit (300 s): priming that would not fit is cut short (noted in the row) and
fewer Pings are held. "tree" = HEAD, +dirty when eas/, server/ or storage/ had uncommitted
changes (several people edit the tree)."""
COLUMNS = ["date (UTC)", "command", "tree", "held Pings (U x D)", "setup s (users / logins / priming / Pings)",
           "priming req/s", "server RSS MB start / logins / primed / held", "KB per held Ping", "woken",
           "delay p50 ms", "delay p99 ms", "delay max ms", "SMTP 250 median ms", "aim met (RSS / p99)", "python"]


def raise_nofile(want: int = 65536) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for target in ((want, want), (max(soft, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, target)
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())


async def login_all(host: str, port: int, users: list[str], device_of) -> float:
    """One FolderSync per user, one after another, from that user's first device: each user's
    password is verified (argon2) once and then cached by the server, as after a first login."""
    from easlab.eas.wbxml import E, decode, encode

    body = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0")))
    conn = await c.Connection(host, port).open()
    start = time.perf_counter()
    try:
        for user in users:
            status, _, data = await conn.request(c.query("FolderSync", user, device_of(user)), c.headers(user), body)
            if status != 200 or decode(data).text("FolderHierarchy:Status") != "1":
                raise RuntimeError(f"{user}: FolderSync answered HTTP {status} {data[:80]!r}")
    finally:
        await conn.close()
    return time.perf_counter() - start


async def prime_all(host: str, port: int, devices: list[tuple[str, str]], budget: float) -> list[tuple[str, str]]:
    """Sync 0 then Sync with the key, device after device, over PRIME_CONNECTIONS keep-alive
    connections; no device is started after `budget` seconds.  Returns the devices primed."""
    from easlab.eas.wbxml import decode

    queue: asyncio.Queue = asyncio.Queue()
    for item in devices:
        queue.put_nowait(item)
    sync0 = c.sync_request("0", "1")
    done: list[tuple[str, str]] = []
    stop_at = time.perf_counter() + budget

    async def worker() -> None:
        conn = await c.Connection(host, port).open()
        try:
            while time.perf_counter() < stop_at:
                try:
                    user, device = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                hdrs = c.headers(user)
                path = c.query("Sync", user, device)
                status, rh, body = await conn.request(path, hdrs, sync0)
                coll = c.sync_collection(decode(body)) if status == 200 and body else None
                if coll is None or coll.text("AirSync:Status") != "1":
                    raise RuntimeError(f"{user}/{device}: Sync 0 answered HTTP {status} {body[:80]!r}")
                status, rh2, body = await conn.request(path, hdrs, c.sync_request(coll.text("AirSync:SyncKey"), "1"))
                if status != 200:
                    raise RuntimeError(f"{user}/{device}: Sync answered HTTP {status}")
                if body:  # an empty Inbox: 12.1+ servers answer with an empty body, but a full one is fine
                    coll = c.sync_collection(decode(body))
                    if coll is None or coll.text("AirSync:Status") != "1":
                        raise RuntimeError(f"{user}/{device}: Sync answered {body[:80]!r}")
                done.append((user, device))
                if "close" in (rh.get("connection", "") + rh2.get("connection", "")).lower():
                    await conn.close()
                    await conn.open()
        finally:
            await conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(min(PRIME_CONNECTIONS, len(devices)))]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), budget + 60)
    finally:
        for task in workers:
            task.cancel()
    return done


class HeldPing:
    __slots__ = ("user", "device", "writer", "task", "arrived", "status", "body", "error")

    def __init__(self, user: str, device: str):
        self.user, self.device = user, device
        self.writer = None
        self.task: asyncio.Task | None = None
        self.arrived: float | None = None
        self.status: int | None = None
        self.body = b""
        self.error: str | None = None


async def ping(host: str, port: int, held: HeldPing, body: bytes, gate: asyncio.Semaphore, sent: list) -> None:
    try:
        async with gate:
            reader, writer = await asyncio.open_connection(host, port)
            held.writer = writer
            writer.write(c.build_request(host, port, c.query("Ping", held.user, held.device), c.headers(held.user), body))
            await writer.drain()
        sent.append(time.perf_counter())
        held.status, _, held.body = await c.read_response(reader)
        held.arrived = time.perf_counter()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # recorded, reported: a failed connection is not a held Ping
        held.error = f"{type(exc).__name__}: {exc}"
        held.arrived = time.perf_counter()


async def release(helds: list[HeldPing]) -> None:
    """Cancel the Pings still waiting and close every connection (the server sees them cut)."""
    for h in helds:
        if h.task is not None and not h.task.done():
            h.task.cancel()
    await asyncio.gather(*(h.task for h in helds if h.task is not None), return_exceptions=True)
    for h in helds:
        if h.writer is not None:
            h.writer.close()


def ping_ok(held: HeldPing) -> bool:
    from easlab.eas.wbxml import decode

    if held.status != 200 or not held.body:
        return False
    tree = decode(held.body)
    folders = tree.find("Ping:Folders")
    return tree.text("Ping:Status") == "2" and folders is not None and [f.value for f in folders.children] == ["1"]


async def run(args, server: c.Server, users: list[str], deadline: Deadline, report: dict) -> None:
    host, port = server.host, server.port
    # Round-robin over users, so that a priming cut short by the time budget leaves every user
    # with about as many devices as the others.
    devices = [(u, f"{u}d{d:03d}") for d in range(args.devices) for u in users]

    # 1. every user logs in once (FolderSync), then every device primes and syncs its Inbox
    report["rss_start"] = server.rss_kb()["VmRSS"]
    report["login_s"] = await login_all(host, port, users, lambda u: f"{u}d000")
    report["rss_login"] = server.rss_kb()["VmRSS"]
    print(f"{len(users)} users logged in (FolderSync, one after another) in {report['login_s']:.1f} s; server RSS "
          f"{report['rss_start'] / 1024:.0f} MB at start, {report['rss_login'] / 1024:.0f} MB after")
    t = time.perf_counter()
    primed = await prime_all(host, port, devices, PRIME_SHARE * deadline.left())
    report["prime_s"] = time.perf_counter() - t
    report["prime_rps"] = 2 * len(primed) / report["prime_s"]
    report["planned"] = len(devices)
    if len(primed) < len(devices):
        report["cut"] = (f"priming stopped by the time budget after {len(primed):,} of {len(devices):,} devices "
                         f"({report['prime_rps']:,.0f} requests/s)")
        print(report["cut"])
    await asyncio.to_thread(c.wait_cpu_idle, server.pid, 1.0, 30.0)
    report["rss_before"] = server.rss_kb()["VmRSS"]
    print(f"primed {len(primed):,} devices (2 Syncs each) in {report['prime_s']:.1f} s = {report['prime_rps']:,.0f} requests/s; "
          f"server RSS {report['rss_before'] / 1024:.0f} MB")
    devices = primed

    # 2. one Ping per device, each on its own connection
    body = c.ping_request(HEARTBEAT)
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    helds = [HeldPing(u, d) for u, d in devices]
    sent: list[float] = []
    start = time.perf_counter()
    for h in helds:
        h.task = asyncio.create_task(ping(host, port, h, body, gate, sent))
    try:
        while len(sent) + sum(1 for h in helds if h.arrived is not None) < len(helds):
            if deadline.left() < DELIVERY_SHARE * args.time_limit:
                print(f"only {len(sent):,} Pings written after {time.perf_counter() - start:.0f} s; going on with those")
                break
            await asyncio.sleep(0.1)
        sent_s = time.perf_counter() - start
        limit = max(5.0, deadline.left() - DELIVERY_SHARE * args.time_limit)
        idle_wait = await asyncio.to_thread(c.wait_cpu_idle, server.pid, 1.0, limit)
        if idle_wait >= limit:
            report["unsettled"] = f"server still busy after {idle_wait:.0f} s: some Pings may not have been parked yet"
            print(report["unsettled"])
        await asyncio.sleep(2.0)
        report["ping_s"] = time.perf_counter() - start
        early = [h for h in helds if h.arrived is not None]
        report["early"] = len(early)
        report["held"] = len(helds) - len(early)
        rss = server.rss_kb()
        report["rss_held"] = rss["VmRSS"]
        report["client_rss"] = c.proc_status_kb(os.getpid())["VmRSS"]
        print(f"{len(sent):,} Pings written in {sent_s:.1f} s; server busy {idle_wait:.1f} s more; "
              f"{report['held']:,} held, {len(early):,} answered early"
              + (f" (first: HTTP {early[0].status} {early[0].error or early[0].body[:60]!r})" if early else ""))
        print(f"server RSS with {report['held']:,} held: {rss['VmRSS'] / 1024:.0f} MB (peak {rss['VmHWM'] / 1024:.0f} MB); "
              f"{(rss['VmRSS'] - report['rss_before']) / max(1, report['held']):.1f} KB per held Ping; "
              f"client RSS {report['client_rss'] / 1024:.0f} MB")

        # 3. deliveries, one user at a time
        by_user: dict[str, list[HeldPing]] = {}
        for h in helds:
            if h.arrived is None:
                by_user.setdefault(h.user, []).append(h)
        delays: list[float] = []
        smtp_s: list[float] = []
        bad = 0
        woken = 0
        targets = [u for u in users if u in by_user][: args.deliveries]
        for n, user in enumerate(targets, 1):
            if deadline.left() < 15:
                print(f"time limit: stopping after {n - 1} deliveries")
                break
            mime = c.make_message(f"{user}@{c.DOMAIN}", f"Wake-up {n:04d} for {user}", 2048)
            t_data, t_done = await asyncio.to_thread(c.smtp_send, server.smtp_port, f"{user}@{c.DOMAIN}", mime)
            smtp_s.append(t_done - t_data)
            waiting = [h.task for h in by_user[user]]
            await asyncio.wait(waiting, timeout=30.0)
            for h in by_user[user]:
                if h.arrived is None:
                    bad += 1
                    continue
                woken += 1
                if ping_ok(h):
                    delays.append(h.arrived - t_data)
                else:
                    bad += 1
            if n % 10 == 0 or n == len(targets):
                print(f"  {n} deliveries: {len(delays):,} Pings answered with Status 2, {bad} not; "
                      f"p50 so far {c.percentile(delays, 50) * 1000:.1f} ms" if delays else f"  {n} deliveries")
        report.update(delays=delays, smtp=smtp_s, bad=bad, woken=woken, deliveries=len(smtp_s))
    finally:
        await release(helds)
        await asyncio.sleep(0.5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--devices", type=int, default=100, help="devices per user")
    parser.add_argument("--deliveries", type=int, default=None, help="messages to send, one user each (default: every user)")
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds for the whole run")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    args = parser.parse_args()
    args.deliveries = args.users if args.deliveries is None else args.deliveries
    deadline = Deadline(args.time_limit)
    began = time.perf_counter()
    tree = c.tree_state()

    limit = raise_nofile()
    wanted = args.users * args.devices
    note = ""
    if limit < wanted + FD_MARGIN:
        args.devices = max(1, (limit - FD_MARGIN) // args.users)
        note = (f"RLIMIT_NOFILE is {limit} and cannot be raised here: {wanted:,} connections need {wanted + FD_MARGIN:,} "
                f"descriptors in each process; measuring {args.users * args.devices:,}")
        print(note)
    print(f"RLIMIT_NOFILE {limit}; {args.users} users x {args.devices} devices = {args.users * args.devices:,} Pings")

    from easlab.storage import Database

    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-ping-"))
    report: dict = {}
    server = None
    try:
        db_url = f"sqlite:///{tmp / 'ping.db'}"
        db = Database(db_url)
        db.create_all()
        users = [f"u{n:03d}" for n in range(args.users)]
        t = time.perf_counter()
        c.create_users(db, users)
        users_s = time.perf_counter() - t
        db.dispose()
        print(f"created {len(users)} users in {users_s:.1f} s")
        server = c.Server(db_url, tmp / "easlab.server.log").start()
        print(f"server pid {server.pid} at {server.eas_url}, SMTP port {server.smtp_port}")
        asyncio.run(run(args, server, users, deadline, report))
        if server.proc.poll() is not None:
            raise SystemExit(f"the server exited ({server.proc.returncode}); log:\n{server.log_tail()}")
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    delays = report.get("delays") or []
    if not delays:
        raise SystemExit(f"no Ping was woken; log above. report: {report}")
    p50, p99 = c.percentile(delays, 50) * 1000, c.percentile(delays, 99) * 1000
    worst = max(delays) * 1000
    smtp_med = statistics.median(report["smtp"]) * 1000
    held = report["held"]
    rss_mb = report["rss_held"] / 1024
    per_ping = (report["rss_held"] - report["rss_before"]) / max(1, held)
    aim = f"{'yes' if held >= 10_000 and rss_mb < 400 else 'no'} / {'yes' if p99 < 100 else 'no'}"
    total = time.perf_counter() - began
    notes = [n for n in (note, report.get("cut"), report.get("unsettled")) if n]
    shape = (f"{held:,} ({args.users} x {args.devices})" if held == args.users * args.devices
             else f"{held:,} ({args.users} users x ~{held / args.users:.0f})")
    print(f"held {held:,} Pings: server RSS {rss_mb:.0f} MB ({per_ping:.1f} KB per Ping); "
          f"{len(delays):,} of {report['woken']:,} woken Pings answered Status 2 ({report['bad']} not) after "
          f"{report['deliveries']} deliveries: delay p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {worst:.1f} ms; "
          f"SMTP 250 median {smtp_med:.1f} ms; aim (10,000 in < 400 MB / p99 < 100 ms): {aim}; total {total:.0f} s")
    if not args.no_record:
        c.record(TITLE, INTRO, COLUMNS, [
            c.utc_now(), f"`{c.command_line('ping_hold.py')}`", tree, shape + "".join(f" [{n}]" for n in notes),
            f"{users_s:.1f} / {report['login_s']:.1f} / {report['prime_s']:.1f} / {report['ping_s']:.1f}",
            f"{report['prime_rps']:,.0f}",
            f"{report['rss_start'] / 1024:.0f} / {report['rss_login'] / 1024:.0f} / {report['rss_before'] / 1024:.0f} / {rss_mb:.0f}",
            f"{per_ping:.1f}",
            f"{len(delays):,} of {report['woken']:,}" + (f" ({report['bad']} bad)" if report["bad"] else ""),
            f"{p50:.1f}", f"{p99:.1f}", f"{worst:.1f}", f"{smtp_med:.1f}", aim, c.python_version(),
        ])
        print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
