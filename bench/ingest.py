"""Ingestion: SMTP delivery over 4 connections at once, and `easlab import` of an mbox.

SMTP: `easlab serve` on a fresh SQLite store; N small text messages (one recipient) sent over C
connections at once, each connection kept open; messages/s over the whole run and the 250
latency (from the start of `sendmail` to its 250) p50/p99.  Import: an mbox of M small messages
written to a temporary folder, `easlab import` timed (progress bar included).  `--tree PATH`
runs another checkout's venv and code (the "before" of a change: `--tree /work/main`); `--warmup W`
sends W messages over one connection first, outside the measure (start-up's full collection and
the first deliveries are a tenth of a 2,000-message run's server CPU).  A row
is appended to bench/RESULTS.md unless --no-record.  Only 127.0.0.1 is contacted.
"""
from __future__ import annotations

import argparse
import os
import resource
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as c  # noqa: E402  (puts the tree first on sys.path)
from easlab.storage import Database  # noqa: E402

TITLE = "bench/ingest.py — SMTP delivery and easlab import, messages a second"
INTRO = """
Small text messages (5 headers, 40 lines of text) into one user's Inbox on SQLite (local disk).
SMTP: N messages over C connections at once (each connection kept open), messages/s over the
run, and the 250 latency (start of `sendmail` to its 250) p50/p99 in ms. Import: `easlab import`
of an mbox of M messages, messages/s (wall clock, progress bar on). "msg/CPU-s": messages per
CPU-second of the server process (SMTP, all its threads) or of the import process (start-up
included): the rate one process reaches with a core to itself, which the shared machine's load
moves far less than the wall-clock rate. "tree" = the checkout run (HEAD, +dirty when eas/,
server/ or storage/ had uncommitted changes). Aim: >= 1,000 msg/s each.
"""
COLUMNS = ["date (UTC)", "command", "tree", "SMTP N x C", "SMTP msg/s", "SMTP msg/CPU-s", "250 p50 ms", "250 p99 ms",
           "import M", "import msg/s", "import msg/CPU-s", "load", "python"]


def small(n: int, to: str) -> bytes:
    return (f"From: Alex Example <alex@example.net>\r\nTo: {to}\r\nSubject: message {n}\r\n"
            f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\nMessage-ID: <m{n}@example.net>\r\n\r\n").encode() + b"hello world\r\n" * 40


def smtp_run(tmp: Path, count: int, connections: int, warmup: int = 0) -> tuple[float, float, list[float]]:
    url = f"sqlite:///{tmp / 'smtp.db'}"
    db = Database(url)
    db.create_all()
    c.create_users(db, ["bench"])
    db.dispose()
    rcpt = f"bench@{c.DOMAIN}"
    latencies: list[float] = []
    lock = threading.Lock()

    def sender(first: int, port: int) -> None:
        mine = []
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as smtp:
            for n in range(first, count, connections):
                t = time.perf_counter()
                smtp.sendmail("alex@example.net", [rcpt], small(n, rcpt))
                mine.append((time.perf_counter() - t) * 1000)
        with lock:
            latencies.extend(mine)

    with c.Server(url, tmp / "serve.log") as server:
        if warmup:  # steady state: start-up's collection (server/heap.py) and first deliveries left out
            with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=120) as smtp:
                for n in range(warmup):
                    smtp.sendmail("alex@example.net", [rcpt], small(count + n, rcpt))
            time.sleep(1.0)
        threads = [threading.Thread(target=sender, args=(k, server.smtp_port)) for k in range(connections)]
        cpu = server.cpu_seconds()
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        cpu = server.cpu_seconds() - cpu
    assert len(latencies) == count, f"{len(latencies)} of {count} sent"
    return count / elapsed, count / max(cpu, 1e-9), latencies


def import_run(tmp: Path, count: int) -> tuple[float, float]:
    url = f"sqlite:///{tmp / 'import.db'}"
    db = Database(url)
    db.create_all()
    c.create_users(db, ["bench"])
    db.dispose()
    mbox = tmp / "bench.mbox"
    with mbox.open("wb") as out:
        for n in range(count):
            out.write(b"From alex@example.net Mon Jan  1 00:00:00 2024\n" + small(n, f"bench@{c.DOMAIN}").replace(b"\r\n", b"\n") + b"\n")
    env = {**os.environ, "PYTHONPATH": str(c.ROOT), "EASLAB_HOME": str(tmp / "home")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(c.EASLAB), "import", "bench", str(mbox), "--db", url], env=env, cwd=str(c.ROOT),
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode != 0 or f"imported {count} messages" not in done.stdout:
        raise RuntimeError(f"easlab import failed: {done.stdout} {done.stderr[-2000:]}")
    return count / elapsed, count / max(cpu, 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="SMTP messages (0: skip)")
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=0, help="SMTP messages sent first, not measured")
    parser.add_argument("--import-messages", type=int, default=100_000, help="mbox size (0: skip)")
    parser.add_argument("--tree", type=Path, default=c.ROOT, help="checkout whose .venv and code run")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    tree = args.tree.resolve()
    c.ROOT, c.EASLAB = tree, tree / ".venv" / "bin" / "easlab"
    load0 = os.getloadavg()[0]
    rate, rate_cpu, lat, imp, imp_cpu = 0.0, 0.0, [0.0], 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if args.messages:
            rate, rate_cpu, lat = smtp_run(Path(tmp), args.messages, args.connections, args.warmup)
            print(f"SMTP {args.messages} x {args.connections}: {rate:.0f} msg/s ({rate_cpu:.0f} per server CPU-s), "
                  f"250 p50 {c.percentile(lat, 50):.1f} ms p99 {c.percentile(lat, 99):.1f} ms")
        if args.import_messages:
            imp, imp_cpu = import_run(Path(tmp), args.import_messages)
            print(f"import {args.import_messages}: {imp:.0f} msg/s ({args.import_messages / imp:.1f} s; {imp_cpu:.0f} per CPU-s)")
    if not args.no_record:
        c.record(TITLE, INTRO, COLUMNS, [
            c.utc_now(), f"`{c.command_line('ingest.py')}`", c.tree_state() + ("" if tree == Path(__file__).resolve().parents[1] else f" ({tree})"),
            f"{args.messages} x {args.connections}", f"{rate:.0f}", f"{rate_cpu:.0f}", f"{c.percentile(lat, 50):.1f}",
            f"{c.percentile(lat, 99):.1f}", str(args.import_messages), f"{imp:.0f}", f"{imp_cpu:.0f}",
            f"{load0:.1f}-{os.getloadavg()[0]:.1f}", c.python_version()])


if __name__ == "__main__":
    main()
