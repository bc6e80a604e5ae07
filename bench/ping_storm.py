"""Benchmark: a Ping storm on one process (SQLite): N Pings sent at once, time until all are held.

    .venv/bin/python bench/ping_storm.py [--users U] [--devices D] [--before TREE] [--no-record] [--keep]

Issue 16 point 3: "10,000 Pings sent at once are all held within 20 s, and a delivery during that
storm wakes its Pings within 1 s.  20,000 held Pings in at most 400 MB."

Setup (not timed): U users (100) are created; each user's first device logs in (FolderSync) and
primes its Inbox (Sync 0, Sync) over HTTP (bench/ping_hold.py's login_all and prime_all); then
its D-1 other devices (100 x 100 = 10,000) are copied from it in the database
(_common.clone_devices), with the last Ping (heartbeat 900, folder 1) stored as a device that
Pinged before has it.  The devices are known, synced and last seen seconds ago, but the serving
process has never seen the copies: the storm after a restart, when every phone reconnects.

Storm: every device opens its own connection and sends Ping{HeartbeatInterval 900, Folder 1}
(ping_hold.ping: at most 256 connections being opened at once).  The server's count of held
requests (GET /api/wait/ping's held_total, polled every 0.25 s on a keep-alive connection as an
org-admin) gives the time from the first Ping sent to all N held (held + answered = N).  When half
of them are held, one message is sent by SMTP to the first user; each of that user's D Pings is
timed from just before the message data is written to its answer (Status 2, checked): some were
held, the others were still waiting to be taken in.  RSS: the server's VmRSS before the storm and
with every Ping held; KB per held Ping; 20,000 is projected from it (the machine allows ~10,000
sockets for the bench at once).  A second storm ("again") follows on the same server after every
connection was closed and the server went idle: the same devices, now seen by this process.

--before TREE runs the same storms first against the code of another checkout (its own .venv,
e.g. /work/main), each on a fresh database, so before/after are measured in the same run.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import ping_hold as ph  # noqa: E402

ADMIN = "ops"
POLL = 0.25
STORM_LIMIT = 150.0  # seconds a storm may take before the run gives up on it

TITLE = "bench/ping_storm.py — a Ping storm: N Pings sent at once, time until all are held (SQLite, one process)"
INTRO = """\
`easlab serve` on SQLite.  U users x D devices, known to the database (first device of each user
primed over HTTP, the others copied from it with its last Ping stored) but never seen by the
serving process: the storm after a restart.  Every device sends Ping{HeartbeatInterval 900,
Folder 1} on its own connection at once.  "all held s" = from the first Ping sent until the
server's held count (/api/wait/ping held_total) plus the answered ones reaches N.  When half are
held, one SMTP delivery to the first user: its D Pings timed from the message data to their
answer (Status 2).  "again" = a second storm of the same devices on the same server (gate warm).
RSS: server VmRSS before the storm / with all held; 20,000 projected linearly.  "code" = the tree
that served (`before` = --before TREE, same run).  Aims: all held <= 20 s, wake <= 1 s, 20,000
held <= 400 MB.  "server CPU ms per Ping": the server process's CPU time (utime + stime, all
threads) from the first Ping sent to all held, over N (the client shares the cores)."""
COLUMNS = ["date (UTC)", "command", "tree", "code", "Pings (U x D)", "storm", "all held s", "Pings/s taken in",
           "delivery at held", "wake p50 / p99 / max ms", "SMTP 250 ms", "RSS MB before / held", "KB per held Ping",
           "20,000 projected MB", "aims (20 s / 1 s / 400 MB)", "python",
           "server CPU ms per Ping"]


class Poller:
    """held_total of the server, read through its API as an org-admin on one keep-alive connection."""

    def __init__(self, server: c.Server, user: str, device: str):
        self.server, self.user, self.device = server, user, device
        token = base64.b64encode(f"{ADMIN}:{c.PASSWORD}".encode()).decode()
        self.hdrs = {"Authorization": f"Basic {token}"}
        self.conn = c.Connection(server.host, server.port)

    async def held(self) -> int:
        if self.conn.writer is None:
            await self.conn.open()
        path = f"/api/wait/ping?user={self.user}&device_id={self.device}&timeout=0.05"
        req = (f"GET {path} HTTP/1.1\r\nHost: {self.server.host}:{self.server.port}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in self.hdrs.items()) + "\r\n").encode()
        self.conn.writer.write(req)
        await self.conn.writer.drain()
        status, _, body = await c.read_response(self.conn.reader)
        if status != 200:
            return 0  # not held yet (a timeout answer)
        import json

        return int(json.loads(body)["held_total"])


async def storm(server: c.Server, devices: list[tuple[str, str]], target: str, report: dict, skip=()) -> None:
    """Send one Ping per device at once; fill `report` with the figures.  `skip`: users whose Pings
    answer at once (an earlier storm's delivery is still unsynced for them)."""
    body = c.ping_request(ph.HEARTBEAT)
    gate = asyncio.Semaphore(ph.CONNECT_CONCURRENCY)
    helds = [ph.HeldPing(u, d) for u, d in devices]
    poller = Poller(server, *next(d for d in devices if d[0] != target and d[0] not in skip))
    sent: list[float] = []
    n = len(helds)
    report["rss_before"] = server.rss_kb()["VmRSS"]
    cpu = server.cpu_seconds()
    start = time.perf_counter()
    for h in helds:
        h.task = asyncio.create_task(ph.ping(server.host, server.port, h, body, gate, sent))
    delivery = None
    try:
        while True:
            await asyncio.sleep(POLL)
            held = await poller.held()
            answered = sum(1 for h in helds if h.arrived is not None)
            if delivery is None and held >= n // 2:
                report["delivery_at"] = held
                mime = c.make_message(f"{target}@{c.DOMAIN}", "During the storm", 2048)
                delivery = asyncio.create_task(asyncio.to_thread(c.smtp_send, server.smtp_port, f"{target}@{c.DOMAIN}", mime))
            if held + answered >= n and delivery is not None and delivery.done():
                break
            if time.perf_counter() - start > STORM_LIMIT:
                report["cut"] = f"{held:,} held, {answered:,} answered after {STORM_LIMIT:.0f} s"
                if delivery is None:  # never half held: the delivery comes now
                    report["delivery_at"] = held
                    mime = c.make_message(f"{target}@{c.DOMAIN}", "During the storm", 2048)
                    delivery = asyncio.create_task(asyncio.to_thread(c.smtp_send, server.smtp_port, f"{target}@{c.DOMAIN}", mime))
                break
        report["all_held_s"] = time.perf_counter() - start
        report["cpu_ms"] = (server.cpu_seconds() - cpu) * 1000 / n  # the server's, not the client's share of the cores
        report["held"] = held
        mine = [h for h in helds if h.user == target]
        try:
            t_data, t_done = await delivery
        except Exception as exc:  # the old code's SMTP timed out under the storm: say so
            report.update(smtp_ms=float("nan"), woken=f"SMTP failed: {type(exc).__name__}", delays=[])
        else:
            report["smtp_ms"] = (t_done - t_data) * 1000
            await asyncio.wait([h.task for h in mine], timeout=30)
            ok = [h for h in mine if h.arrived is not None and ph.ping_ok(h)]
            report["woken"] = f"{len(ok)} of {len(mine)}"
            report["delays"] = sorted(h.arrived - t_data for h in ok)
        others = [h for h in helds if h.user != target and h.user not in skip and h.arrived is not None]
        report["early"] = len(others)
        if others:
            first = others[0]
            report["early_note"] = f"{len(others)} other Pings answered: HTTP {first.status} {first.error or first.body[:40]!r}"
        await asyncio.to_thread(c.wait_cpu_idle, server.pid, 1.0, 30.0)
        report["rss_held"] = server.rss_kb()["VmRSS"]
    finally:
        await ph.release(helds)
        await poller.conn.close()
    await asyncio.to_thread(c.wait_cpu_idle, server.pid, 1.0, 60.0)


async def setup(server: c.Server, db_url: str, users: list[str], per_user: int) -> list[tuple[str, str]]:
    from easlab.storage import Database

    await ph.login_all(server.host, server.port, users, lambda u: f"{u}d000")
    primed = await ph.prime_all(server.host, server.port, [(u, f"{u}d000") for u in users], 600)
    assert len(primed) == len(users), primed
    db = Database(db_url)
    try:
        t = time.perf_counter()
        c.clone_devices(db, {u: f"{u}d000" for u in users}, lambda u: [f"{u}d{d:03d}" for d in range(1, per_user)],
                        ping=(ph.HEARTBEAT, [["1", "Email"]]))
        print(f"copied {len(users) * (per_user - 1):,} devices in {time.perf_counter() - t:.1f} s")
    finally:
        db.dispose()
    return [(u, f"{u}d{d:03d}") for d in range(per_user) for u in users]


def one_server(args, root: Path | None, label: str, tmp: Path) -> list[dict]:
    from easlab.storage import Database
    from easlab.storage.users import add_user

    db_url = f"sqlite:///{tmp / f'storm-{label}.db'}"
    db = Database(db_url)
    db.create_all()
    users = [f"u{n:03d}" for n in range(args.users)]
    c.create_users(db, users)
    with db.session() as session:
        add_user(session, ADMIN, c.PASSWORD, "Ops", role="org-admin")
    db.dispose()
    server = c.Server(db_url, tmp / f"server-{label}.log", root=root).start()
    print(f"[{label}] server pid {server.pid}", flush=True)
    reports = []
    try:
        devices = asyncio.run(setup(server, db_url, users, args.devices))
        for n, kind in enumerate(("restart", "again")):
            report = {"code": label, "storm": kind, "n": len(devices)}
            asyncio.run(storm(server, devices, users[n], report, skip=users[:n]))
            print(summary(report))
            reports.append(report)
    finally:
        server.stop()
    return reports


def summary(r: dict) -> str:
    d = r["delays"]
    wake = (f"{c.percentile(d, 50) * 1000:.0f} / {c.percentile(d, 99) * 1000:.0f} / {d[-1] * 1000:.0f}" if d else "none")
    per = (r["rss_held"] - r["rss_before"]) / max(1, r["held"])
    r.update(wake=wake, per=per, proj=(r["rss_before"] + 20_000 * per) / 1024)
    return (f"[{r['code']} {r['storm']}] {r['held']:,} of {r['n']:,} held after {r['all_held_s']:.1f} s "
            f"({r['n'] / r['all_held_s']:.0f}/s, server CPU {r['cpu_ms']:.2f} ms per Ping); delivery at {r.get('delivery_at', 0):,} held: woke {r['woken']} "
            f"p50/p99/max {wake} ms, SMTP 250 {r['smtp_ms']:.0f} ms; RSS {r['rss_before'] / 1024:.0f} -> "
            f"{r['rss_held'] / 1024:.0f} MB, {per:.1f} KB per Ping, 20,000 -> {r['proj']:.0f} MB"
            + (f"; {r['cut']}" if r.get("cut") else "") + (f"; {r['early_note']}" if r.get("early_note") else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--devices", type=int, default=100, help="devices per user")
    parser.add_argument("--before", type=Path, default=None, help="another checkout whose code is measured first")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    limit = ph.raise_nofile()
    if limit < args.users * args.devices + ph.FD_MARGIN:
        raise SystemExit(f"RLIMIT_NOFILE {limit} is too low for {args.users * args.devices:,} connections")
    # Every device connects from 127.0.0.1: the server's cap per address (half its connections by
    # default) is raised past them (a tree that does not read it keeps its own).
    os.environ.setdefault("EASLAB_MAX_CONNECTIONS_PER_ADDRESS", str(args.users * args.devices + ph.FD_MARGIN))
    tree = c.tree_state()
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-storm-"))
    reports = []
    try:
        if args.before is not None:
            reports += one_server(args, args.before.resolve(), "before", tmp)
        reports += one_server(args, None, "this tree", tmp)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    for r in reports:
        d = r["delays"]
        aims = " / ".join("yes" if ok else "no" for ok in (
            r["all_held_s"] <= 20 and not r.get("cut"), bool(d) and d[-1] <= 1.0, r["proj"] <= 400))
        code = f"before ({args.before})" if r["code"] == "before" else "this tree"
        if not args.no_record:
            c.record(TITLE, INTRO, COLUMNS, [
                c.utc_now(), f"`{c.command_line('ping_storm.py')}`", tree, code,
                f"{r['n']:,} ({args.users} x {args.devices})" + (f" [{r['cut']}]" if r.get("cut") else ""), r["storm"],
                f"{r['all_held_s']:.1f}", f"{r['n'] / r['all_held_s']:.0f}", f"{r.get('delivery_at', 0):,}",
                r["wake"] + f" ({r['woken']})", f"{r['smtp_ms']:.0f}",
                f"{r['rss_before'] / 1024:.0f} / {r['rss_held'] / 1024:.0f}", f"{r['per']:.1f}", f"{r['proj']:.0f}",
                aims, c.python_version(), f"{r['cpu_ms']:.2f}"])
    if not args.no_record:
        print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
