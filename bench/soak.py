"""Soak: held Pings, a steady SMTP stream and abrupt disconnects for minutes; RSS drift and errors.

    .venv/bin/python bench/soak.py [--users U] [--devices D] [--minutes M] [--smtp-rate R]
                                   [--churn C] [--pg URL [--workers N]] [--profile FILE] [--no-record]

Issue 13's shape by default: U = 10,000 users with D = 1 device each, 100 messages a second, 10
held Pings a second cut, 10 minutes.  One device per user: a message wakes one Ping (a Sync and a
new Ping follow), so 100 msg/s is ~100 wake-ups a second; 100 users x 100 devices would turn each
message into 100 Syncs and Pings (10,000 requests a second).

Setup (bench/_clones.py, ~1-2 minutes for 10,000 on a quiet machine): the users are made by
storage.users.add_user with ONE precomputed argon2 hash, which the server's authenticator then
verifies once for all of them (its cache is keyed by the stored hash and the password); the
server starts; the first user's first device logs in and primes its Inbox over HTTP (FolderSync,
Sync 0, Sync), and is copied in the database to every other device (Device and SyncState rows,
its last Ping stored), so every phone starts synced, as after a restart of the server.

Then every device runs a loop on its own keep-alive connection, as a phone does: Ping
(HeartbeatInterval 900, the Inbox); when the Ping says the Inbox changed, Sync it with its key;
Ping again.  The first Pings go out at once (at most 256 connections being opened at a time);
the soak starts when the server's CPU has been idle for a second.  Meanwhile:
- SMTP: R messages a second (100), each to a random user, one connection each, over R/4 sender
  threads (each waits for its 250 before the next);
- churn: C held Pings a second (10) are cut by the client (the socket aborted, no FIN handshake
  awaited), and the device reconnects and Pings again, as a phone changing networks does.

RSS is sampled every 10 s; the first sample after the warm-up minute is the baseline, and drift
is the last sample against it (aim: within +-10%).  Errors are answers that are not HTTP 200 with
the status the command should give (Ping 1 or 2, Sync 1), connections the server closed or
reset, and SMTP replies other than 250; with the server log's ERROR lines.  Aim: 0.  Stalls
show as the SMTP 250 time (p50 / p99 / max) and the wake delay (from the 250 of a message to
the answer of its user's Ping, for users with one device).
--pg runs on a PostgreSQL database of its own (created next to URL, dropped at the end), where
--workers N serves with N processes (RSS and CPU are then summed over them).  --profile runs the
server under cProfile (its main thread, the event loop; the store's worker threads are not seen).
A row is appended to bench/RESULTS.md unless --no-record.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _clones as clones  # noqa: E402
import _common as c  # noqa: E402
import ping_hold  # noqa: E402
import workers  # noqa: E402

SENDER_RATE = 4.0  # messages a second per SMTP sender thread (one connection per message, as a relay hands them over)

TITLE = "soak: held Pings, SMTP and disconnects for minutes (bench/soak.py)"
INTRO = ("Every device loops Ping -> (Sync when told) -> Ping on its own connection while SMTP delivers a steady "
         "stream and the client cuts held Pings abruptly.  RSS baseline: the first sample after one warm-up minute.  "
         "Setup s: users made (one argon2 hash, copies) / the first Pings of every device until the server is idle.  "
         "SMTP ms: from the message data written to the 250; wake ms: from the message's SMTP connection to its "
         "user's Ping answer (one device per user).  Aims: drift within +-10%, 0 errors.")
COLUMNS = ["date", "command", "tree", "devices (U x D)", "setup s", "minutes", "SMTP msg/s (sent)",
           "SMTP 250 ms p50 / p99 / max", "wake ms p50 / p99 / max", "cuts", "Pings answered", "Syncs", "errors",
           "RSS MB baseline / end / max", "drift", "python"]


class Stats:
    def __init__(self):
        self.pings = self.syncs = self.cuts = self.errors = self.smtp = 0
        self.examples: list[str] = []
        self.smtp_s: list[float] = []  # SMTP 250 times (from the data written)
        self.wake_s: list[float] = []  # from a message's SMTP connection to its user's Ping answer
        self.pending: dict[str, float] = {}  # user -> perf_counter of its oldest unanswered message

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.examples) < 5:
            self.examples.append(what[:200])


class Phone:
    """One device's loop; `cut()` aborts its connection while a Ping is held."""

    def __init__(self, host: str, port: int, user: str, device: str, stats: Stats):
        self.host, self.port, self.user, self.device, self.stats = host, port, user, device, stats
        self.conn: c.Connection | None = None
        self.holding = False
        self.key = ""
        self.cut_pending = False

    def cut(self) -> bool:
        if not self.holding or self.conn is None or self.conn.writer is None:
            return False
        self.cut_pending = True
        self.conn.writer.transport.abort()
        return True

    async def run(self, stop: asyncio.Event, key: str, gate: asyncio.Semaphore) -> None:
        from easlab.eas.wbxml import decode

        self.key = key
        ping_body = c.ping_request(900)
        hdrs = c.headers(self.user)
        while not stop.is_set():
            try:
                if self.conn is None or self.conn.writer is None:
                    async with gate:
                        self.conn = await c.Connection(self.host, self.port).open()
                self.holding = True
                status, _, body = await self.conn.request(c.query("Ping", self.user, self.device), hdrs, ping_body)
                self.holding = False
                self.stats.pings += 1
                answer = decode(body).text("Ping:Status") if status == 200 and body else None
                if answer not in ("1", "2"):
                    self.stats.error(f"{self.device} Ping: HTTP {status} {body[:60]!r}")
                    await asyncio.sleep(1.0)
                    continue
                if answer == "2":
                    sent = self.stats.pending.pop(self.user, None)
                    if sent is not None:
                        self.stats.wake_s.append(time.perf_counter() - sent)
                    await self.sync(hdrs, decode)
                    # A message stored while the Sync ran came with it: its Ping will not be woken.
                    self.stats.pending.pop(self.user, None)
            except (ConnectionError, OSError, asyncio.IncompleteReadError, c.HTTPError) as exc:
                self.holding = False
                if self.conn is not None:
                    self.conn.writer = None
                if self.cut_pending:
                    self.cut_pending = False
                elif not stop.is_set():
                    self.stats.error(f"{self.device}: {type(exc).__name__}: {exc}")
                    await asyncio.sleep(1.0)

    async def sync(self, hdrs, decode) -> None:
        more = True
        while more:
            status, _, body = await self.conn.request(c.query("Sync", self.user, self.device), hdrs,
                                                      c.sync_request(self.key, "1", window=100))
            self.stats.syncs += 1
            coll = c.sync_collection(decode(body)) if status == 200 and body else None
            if status != 200 or (body and (coll is None or coll.text("AirSync:Status") != "1")):
                self.stats.error(f"{self.device} Sync: HTTP {status} {body[:60]!r}")
                return
            if coll is None:
                return  # the empty Sync answer: nothing more
            self.key = coll.text("AirSync:SyncKey") or self.key
            more = coll.find("AirSync:MoreAvailable") is not None


def smtp_stream(port: int, users: list[str], rate: float, stop: threading.Event, stats: Stats, one_device: bool) -> None:
    """One sender thread's share of the stream, paced on the monotonic clock (a late sender
    catches up by not waiting)."""
    rng = random.Random()
    step, due = 1.0 / rate, time.monotonic()
    while not stop.is_set():
        due += step
        user = rng.choice(users)
        try:
            if one_device:
                stats.pending.setdefault(user, time.perf_counter())
            t_data, t_done = c.smtp_send(port, f"{user}@{c.DOMAIN}", c.make_message(f"{user}@{c.DOMAIN}", "soak", 1024))
            stats.smtp += 1
            stats.smtp_s.append(t_done - t_data)
        except Exception as exc:  # noqa: BLE001 - counted
            stats.error(f"SMTP: {exc}")
        stop.wait(max(0.0, due - time.monotonic()))


async def setup_devices(server: c.Server, db_url: str, users: list[str], per_user: int) -> tuple[list, str, float]:
    """The first user's first device logs in and primes its Inbox over HTTP; every other device is
    copied from it in the database.  Returns the (user, DeviceId) pairs, the Inbox SyncKey, seconds."""
    from easlab.storage import Database

    t = time.perf_counter()
    template = (users[0], f"{users[0]}d000")
    await ping_hold.login_all(server.host, server.port, [template[0]], lambda u: template[1])
    primed = await ping_hold.prime_all(server.host, server.port, [template], 120)
    assert primed == [template], primed
    devices = [(u, f"{u}d{d:03d}") for d in range(per_user) for u in users]
    db = Database(db_url)
    try:
        keys = clones.clone_device_to_users(db, template, devices[1:], ping=(900, [["1", "Email"]]))
    finally:
        db.dispose()
    return devices, keys["1"], time.perf_counter() - t


async def soak(args, server: c.Server, db_url: str, users: list[str], report: dict) -> None:
    devices, key, took = await setup_devices(server, db_url, users, args.devices)
    print(f"{len(devices):,} devices primed in {took:.0f} s (one over HTTP, the others copied)", flush=True)
    stats = Stats()
    stop, stop_smtp = asyncio.Event(), threading.Event()
    phones = [Phone(server.host, server.port, u, d, stats) for u, d in devices]
    gate = asyncio.Semaphore(ping_hold.CONNECT_CONCURRENCY)
    t = time.monotonic()
    tasks = [asyncio.create_task(phone.run(stop, key, gate)) for phone in phones]
    await asyncio.sleep(2.0)
    await asyncio.to_thread(_wait_idle, server, 600.0)
    held = sum(p.holding for p in phones)
    report["storm_s"] = time.monotonic() - t
    print(f"{held:,} Pings sent and the server idle after {report['storm_s']:.0f} s; errors so far {stats.errors}",
          flush=True)
    count = max(4, math.ceil(args.smtp_rate / SENDER_RATE))
    senders = [threading.Thread(target=smtp_stream, daemon=True,
                                args=(server.smtp_port, users, args.smtp_rate / count, stop_smtp, stats, args.devices == 1))
               for _ in range(count)]
    for sender in senders:
        sender.start()
    samples = await _run_for(args, server, phones, stats)
    stop.set()
    stop_smtp.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for phone in phones:
        if phone.conn is not None and phone.conn.writer is not None:
            phone.conn.writer.transport.abort()
    for sender in senders:
        await asyncio.to_thread(sender.join, 70)
    report.update(stats=stats, samples=samples, devices=len(phones))


async def _run_for(args, server: c.Server, phones: list[Phone], stats: Stats) -> list[tuple[float, int]]:
    """The soak itself: cuts every second, an RSS sample every ten."""
    rng = random.Random(7)
    samples: list[tuple[float, int]] = []
    began = time.monotonic()
    end, next_sample = began + args.minutes * 60, began
    cpu = (began, _cpu(server), time.process_time())
    while time.monotonic() < end:
        await asyncio.sleep(1.0)
        held = [p for p in phones if p.holding]
        for phone in rng.sample(held, min(len(held), args.churn)):
            stats.cuts += phone.cut()
        if time.monotonic() >= next_sample:
            rss = server.total_rss_kb()
            samples.append((time.monotonic() - began, rss))
            now = (time.monotonic(), _cpu(server), time.process_time())
            busy = [(now[k] - cpu[k]) / max(1e-3, now[0] - cpu[0]) * 100 for k in (1, 2)]
            cpu = now
            print(f"  {samples[-1][0]:5.0f} s: RSS {rss / 1024:.0f} MB, {len(held):,} held, Pings {stats.pings:,}, "
                  f"Syncs {stats.syncs:,}, SMTP {stats.smtp:,}, cuts {stats.cuts:,}, errors {stats.errors}; "
                  f"CPU server {busy[0]:.0f}%, bench {busy[1]:.0f}%", flush=True)
            next_sample += 10.0
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--devices", type=int, default=1, help="devices per user")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--smtp-rate", type=float, default=100.0, help="messages a second")
    parser.add_argument("--churn", type=int, default=10, help="held Pings cut a second")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--pg", help="a PostgreSQL URL: the soak runs on a database of its own created next to it "
                        "(dropped at the end) instead of a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=1, help="easlab serve --workers N (PostgreSQL only)")
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, its stats written here at the end")
    args = parser.parse_args()
    if args.workers > 1 and not args.pg:
        parser.error("--workers above 1 needs --pg: SQLite takes one writing process")
    tree = c.tree_state()
    n = args.users * args.devices
    limit = ping_hold.raise_nofile()
    if limit < n + ping_hold.FD_MARGIN:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}: too few descriptors for {n:,} devices")
    # Every device connects from 127.0.0.1: the server's cap per address is raised past them.
    os.environ.setdefault("EASLAB_MAX_CONNECTIONS_PER_ADDRESS", str(n + ping_hold.FD_MARGIN))
    from easlab.storage import Database

    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-soak-"))
    report: dict = {}
    server = None
    db_url = workers.create_database(args.pg) if args.pg else f"sqlite:///{tmp / 'soak.db'}"
    try:
        db = Database(db_url)
        db.create_all()
        users = [f"u{k:05d}" for k in range(args.users)]
        report["users_s"] = clones.clone_users(db, users)
        db.dispose()
        print(f"{len(users):,} users made in {report['users_s']:.0f} s", flush=True)
        if args.profile:
            _profiled(tmp, args.profile.resolve())
        extra = ["--workers", str(args.workers)] if args.workers > 1 else []
        server = c.Server(db_url, tmp / "easlab.server.log", extra_args=extra).start()
        print(f"server pids {server.pids()}", flush=True)
        asyncio.run(soak(args, server, db_url, users, report))
        alive = server.proc.poll() is None
        log = server.log_tail(100_000).splitlines()
    finally:
        if server is not None:
            if args.profile and server.proc.poll() is None:
                server.proc.send_signal(signal.SIGINT)  # a second one: uvicorn stops waiting for open requests
                time.sleep(1.0)
                server.proc.send_signal(signal.SIGINT)
                server.proc.wait(60)
            server.stop()
        if args.pg:
            workers.drop_database(args.pg, db_url)
        shutil.rmtree(tmp, ignore_errors=True)
    return _report(args, tree, report, alive, log)


def _cpu(server: c.Server) -> float:
    """CPU seconds of the serving process and its workers."""
    total = 0.0
    for pid in server.pids():
        try:
            total += c.proc_cpu_seconds(pid)
        except OSError:
            pass  # a worker that just ended
    return total


def _wait_idle(server: c.Server, limit: float) -> None:
    """Until the server (all its processes) used under 2% of a CPU over a second, at most `limit` s."""
    end, last = time.monotonic() + limit, _cpu(server)
    while time.monotonic() < end:
        time.sleep(1.0)
        now = _cpu(server)
        if now - last < 0.02 * len(server.pids()):
            return
        last = now


def _profiled(tmp: Path, out: Path) -> None:
    """`easlab` replaced by a script that runs it under cProfile (its main thread: the event loop)."""
    script = tmp / "easlab-profiled"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m cProfile -o "{out}" "{c.EASLAB}" "$@"\n')
    script.chmod(0o755)
    c.EASLAB = script


def _report(args, tree: str, report: dict, alive: bool, log: list[str]) -> int:
    stats: Stats = report["stats"]
    samples = report["samples"]
    log_errors = [line for line in log if " ERROR " in line or "Traceback" in line]
    warnings = [line for line in log if " WARNING " in line]
    warm = [rss for at, rss in samples if at >= 60.0] or [rss for _, rss in samples]
    baseline, last, peak = warm[0], samples[-1][1], max(rss for _, rss in samples)
    drift = (last - baseline) / baseline * 100
    errors = stats.errors + len(log_errors) + (0 if alive else 1)
    minutes = samples[-1][0] / 60
    smtp = _ms(stats.smtp_s)
    wake = _ms(stats.wake_s)
    print(f"{report['devices']:,} devices for {minutes:.1f} min: {stats.pings:,} Pings answered, {stats.syncs:,} Syncs, "
          f"{stats.smtp:,} messages ({stats.smtp / (minutes * 60):.0f}/s), {stats.cuts:,} cuts; errors {errors}; "
          f"RSS baseline {baseline / 1024:.0f} MB, end {last / 1024:.0f} MB, max {peak / 1024:.0f} MB, drift {drift:+.1f}%; "
          f"SMTP 250 p50/p99/max {smtp} ms; wake p50/p99/max {wake} ms; {len(warnings)} warnings in the log")
    for example in stats.examples + log_errors[:5] + warnings[:5]:
        print("  " + example)
    if not args.no_record:
        c.record(TITLE, INTRO, COLUMNS, [
            c.utc_now(), f"`{c.command_line('soak.py')}`", tree, f"{report['devices']:,} ({args.users:,} x {args.devices})",
            f"{report['users_s']:.0f} / {report['storm_s']:.0f}", f"{minutes:.1f}",
            f"{stats.smtp / (minutes * 60):.0f} ({stats.smtp:,})", smtp, wake, f"{stats.cuts:,}", f"{stats.pings:,}",
            f"{stats.syncs:,}", str(errors), f"{baseline / 1024:.0f} / {last / 1024:.0f} / {peak / 1024:.0f}",
            f"{drift:+.1f}%", c.python_version()])
        print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    return 0 if errors == 0 and abs(drift) <= 10 else 1


def _ms(values: list[float]) -> str:
    if not values:
        return "none"
    return " / ".join(f"{v * 1000:.0f}" for v in (c.percentile(values, 50), c.percentile(values, 99), max(values)))


if __name__ == "__main__":
    sys.exit(main())
