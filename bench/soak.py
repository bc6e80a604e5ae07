"""Soak: held Pings, a steady SMTP stream and abrupt disconnects for minutes; RSS drift and errors.

    .venv/bin/python bench/soak.py [--users U] [--devices D] [--minutes M] [--smtp-rate R]
                                   [--churn C] [--no-record]

Setup as bench/ping_hold.py (whose login and priming it reuses): U users (100) with D devices
(100) each, every device primed (Sync 0, Sync).  Then every device runs a loop on its own
keep-alive connection, as a phone does: Ping (HeartbeatInterval 900, the Inbox); when the Ping
says the Inbox changed, Sync it with its key; Ping again.  Meanwhile:
- SMTP: R messages a second (100), each to a random user, over 4 sender threads;
- churn: C held Pings a second (10) are cut by the client (the socket aborted, no FIN handshake
  awaited), and the device reconnects and Pings again, as a phone changing networks does.

RSS is sampled every 10 s; the first sample after the warm-up minute is the baseline, and drift
is the last sample against it (aim: within +-10%).  Errors are answers that are not HTTP 200 with
the status the command should give (Ping 1 or 2, Sync 1), connections the server closed or
reset, and SMTP replies other than 250; with the server log's ERROR lines.  Aim: 0.
A row is appended to bench/RESULTS.md unless --no-record.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import ping_hold  # noqa: E402

TITLE = "soak: held Pings, SMTP and disconnects for minutes (bench/soak.py)"
INTRO = ("Every device loops Ping -> (Sync when told) -> Ping on its own connection while SMTP delivers a steady "
         "stream and the client cuts held Pings abruptly.  RSS baseline: the first sample after one warm-up minute.")
COLUMNS = ["date", "command", "tree", "devices", "minutes", "SMTP msg/s (sent)", "cuts", "Pings answered", "Syncs",
           "errors", "RSS MB baseline / end / max", "drift", "python"]


class Stats:
    def __init__(self):
        self.pings = self.syncs = self.cuts = self.errors = self.smtp = 0
        self.examples: list[str] = []

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

    async def run(self, stop: asyncio.Event, key: str) -> None:
        from easlab.eas.wbxml import decode

        self.key = key
        ping_body = c.ping_request(900)
        hdrs = c.headers(self.user)
        while not stop.is_set():
            try:
                if self.conn is None or self.conn.writer is None:
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
                    await self.sync(hdrs, decode)
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


def smtp_stream(port: int, users: list[str], rate: float, stop: threading.Event, stats: Stats) -> None:
    """One sender thread's share of the stream, paced on the monotonic clock."""
    rng = random.Random()
    step, due = 1.0 / rate, time.monotonic()
    while not stop.is_set():
        due += step
        user = rng.choice(users)
        try:
            c.smtp_send(port, f"{user}@{c.DOMAIN}", c.make_message(f"{user}@{c.DOMAIN}", "soak", 1024))
            stats.smtp += 1
        except Exception as exc:  # noqa: BLE001 - counted
            stats.error(f"SMTP: {exc}")
        stop.wait(max(0.0, due - time.monotonic()))


async def soak(args, server: c.Server, users: list[str], report: dict) -> None:
    from easlab.eas.wbxml import decode

    host, port = server.host, server.port
    devices = [(u, f"{u}d{d:03d}") for d in range(args.devices) for u in users]
    await ping_hold.login_all(host, port, users, lambda u: f"{u}d000")
    stats = Stats()
    stop, stop_smtp = asyncio.Event(), threading.Event()
    phones = [Phone(host, port, u, d, stats) for u, d in devices]
    gate = asyncio.Semaphore(ping_hold.PRIME_CONNECTIONS)
    primed: list[Phone] = []

    async def start(phone: Phone) -> None:
        async with gate:  # priming a hundred devices at a time, as ping_hold does
            phone.conn = await c.Connection(host, port).open()
            status, _, body = await phone.conn.request(c.query("Sync", phone.user, phone.device),
                                                       c.headers(phone.user), c.sync_request("0", "1"))
            phone.key = c.sync_collection(decode(body)).text("AirSync:SyncKey")
            await phone.sync(c.headers(phone.user), decode)
            primed.append(phone)
        await phone.run(stop, phone.key)

    tasks = [asyncio.create_task(start(p)) for p in phones]
    t = time.monotonic()
    while len(primed) < len(phones) and not all(task.done() for task in tasks):
        await asyncio.sleep(0.5)
    await asyncio.to_thread(c.wait_cpu_idle, server.pid, 1.0, 120.0)
    print(f"{len(primed):,} devices primed and Pinging in {time.monotonic() - t:.0f} s")
    senders = [threading.Thread(target=smtp_stream, args=(server.smtp_port, users, args.smtp_rate / 4, stop_smtp, stats),
                                daemon=True) for _ in range(4)]
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
    report.update(stats=stats, samples=samples, devices=len(primed))


async def _run_for(args, server: c.Server, phones: list[Phone], stats: Stats) -> list[tuple[float, int]]:
    """The soak itself: cuts every second, an RSS sample every ten."""
    rng = random.Random(7)
    samples: list[tuple[float, int]] = []
    began = time.monotonic()
    end, next_sample = began + args.minutes * 60, began
    while time.monotonic() < end:
        await asyncio.sleep(1.0)
        held = [p for p in phones if p.holding]
        for phone in rng.sample(held, min(len(held), args.churn)):
            stats.cuts += phone.cut()
        if time.monotonic() >= next_sample:
            rss = server.rss_kb()["VmRSS"]
            samples.append((time.monotonic() - began, rss))
            print(f"  {samples[-1][0]:5.0f} s: RSS {rss / 1024:.0f} MB, {len(held):,} held, Pings {stats.pings:,}, "
                  f"Syncs {stats.syncs:,}, SMTP {stats.smtp:,}, cuts {stats.cuts:,}, errors {stats.errors}")
            next_sample += 10.0
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--devices", type=int, default=100, help="devices per user")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--smtp-rate", type=float, default=100.0, help="messages a second")
    parser.add_argument("--churn", type=int, default=10, help="held Pings cut a second")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tree = c.tree_state()
    limit = ping_hold.raise_nofile()
    if limit < args.users * args.devices + ping_hold.FD_MARGIN:
        raise SystemExit(f"RLIMIT_NOFILE is {limit}: too few descriptors for {args.users * args.devices:,} devices")
    from easlab.storage import Database

    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-soak-"))
    report: dict = {}
    server = None
    try:
        db_url = f"sqlite:///{tmp / 'soak.db'}"
        db = Database(db_url)
        db.create_all()
        users = [f"u{n:03d}" for n in range(args.users)]
        c.create_users(db, users)
        db.dispose()
        server = c.Server(db_url, tmp / "easlab.server.log").start()
        asyncio.run(soak(args, server, users, report))
        alive = server.proc.poll() is None
        log_errors = [line for line in server.log_tail().splitlines() if " ERROR " in line or "Traceback" in line]
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return _report(args, tree, report, alive, log_errors)


def _report(args, tree: str, report: dict, alive: bool, log_errors: list[str]) -> int:
    stats: Stats = report["stats"]
    samples = report["samples"]
    warm = [rss for at, rss in samples if at >= 60.0] or [rss for _, rss in samples]
    baseline, last, peak = warm[0], samples[-1][1], max(rss for _, rss in samples)
    drift = (last - baseline) / baseline * 100
    errors = stats.errors + len(log_errors) + (0 if alive else 1)
    minutes = samples[-1][0] / 60
    print(f"{report['devices']:,} devices for {minutes:.1f} min: {stats.pings:,} Pings answered, {stats.syncs:,} Syncs, "
          f"{stats.smtp:,} messages ({stats.smtp / (minutes * 60):.0f}/s), {stats.cuts:,} cuts; errors {errors}; "
          f"RSS baseline {baseline / 1024:.0f} MB, end {last / 1024:.0f} MB, max {peak / 1024:.0f} MB, drift {drift:+.1f}%")
    for example in stats.examples + log_errors[:5]:
        print("  " + example)
    if not args.no_record:
        c.record(TITLE, INTRO, COLUMNS, [
            c.utc_now(), f"`{c.command_line('soak.py')}`", tree, f"{report['devices']:,}", f"{minutes:.1f}",
            f"{stats.smtp / (minutes * 60):.0f} ({stats.smtp:,})", f"{stats.cuts:,}", f"{stats.pings:,}", f"{stats.syncs:,}",
            str(errors), f"{baseline / 1024:.0f} / {last / 1024:.0f} / {peak / 1024:.0f}", f"{drift:+.1f}%", c.python_version()])
        print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    return 0 if errors == 0 and abs(drift) <= 10 else 1


if __name__ == "__main__":
    sys.exit(main())
