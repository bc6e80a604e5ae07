"""One user tries to exhaust the server; the server's peak RSS and another user's latency.

    .venv/bin/python bench/exhaust.py [--no-record]

`easlab serve` of this tree on a SQLite file.  A second user ("bystander") sends FolderSync
requests one after another on a keep-alive connection the whole time; its latency p99 is taken
with no attack (baseline) and during each attack.  The attacks, each against a server of its own
(so each peak starts from a fresh process), from the attacker's own connection (issue 13's three):
- chunked: a 200 MB request body in 64 KB chunks with no Content-Length (answer: 413);
- bomb: 24 MB of WBXML that opens empty tags, within the body limit (answer: 400, malformed);
- fetch: one 2.6 KB ItemOperations of 100 Fetches of one 5 MB attachment (answer: 200, the
  Fetches past the answer's size cap get Status 11).
The server's VmRSS is sampled every 20 ms; each attack's peak is the highest sample from its start
until the answer.  Aim: every peak under 200 MB and the bystander's p99 within 1.5x its baseline.
With --attacker-process the attacker is a process of its own at nice 5 (as a remote client, not
sharing the bystander's event loop: decoding the fetch's 7 MB answer held that loop ~10 ms, and
sending 72 MB took 0.3 s of its CPU); its CPU seconds are printed.  With --repeat N each attack
runs N times in a row (the attacker processes started before the baseline): one attack lasts
0.2-0.5 s, some 20 bystander requests, so its p99 is that window's single worst stall.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

TITLE = "exhaust: one user's hostile requests, the server's peak RSS and another user's p99 (bench/exhaust.py)"
COLUMNS = ["date", "command", "tree", "attack", "answer", "seconds", "peak RSS MB (start)", "bystander p99 ms (baseline)",
           "aim met", "python"]
ATTACHMENT = 5 * 1024 * 1024


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, c.proc_status_kb(self.pid).get("VmRSS", 0))
            time.sleep(0.02)

    def reset(self) -> int:
        self.peak = c.proc_status_kb(self.pid)["VmRSS"]
        return self.peak


async def bystander(server: c.Server, marks: list[tuple[float, float]], stop: asyncio.Event) -> None:
    from easlab.eas.wbxml import E, encode

    body = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0")))
    conn = await c.Connection(server.host, server.port).open()
    while not stop.is_set():
        t = time.perf_counter()
        status, _, _ = await conn.request(c.query("FolderSync", "bystander", "b1"), c.headers("bystander"), body)
        marks.append((t, time.perf_counter() - t))
        if status != 200:
            raise RuntimeError(f"bystander FolderSync: HTTP {status}")
        await asyncio.sleep(0.01)
    await conn.close()


async def chunked(server: c.Server) -> str:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    hdrs = "".join(f"{k}: {v}\r\n" for k, v in c.headers("attacker").items())
    writer.write((f"POST {c.query('Sync', 'attacker', 'a1')} HTTP/1.1\r\nHost: x\r\n{hdrs}"
                  "Transfer-Encoding: chunked\r\n\r\n").encode())
    answer = asyncio.create_task(c.read_response(reader))  # read while sending: the 413 comes early
    chunk = b"%x\r\n" % 65536 + b"\x00" * 65536 + b"\r\n"
    sent = 0
    try:
        for _ in range(200 * 16):
            if answer.done():
                break
            writer.write(chunk)
            await writer.drain()
            sent += len(chunk)
        else:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed: what it should do
    try:
        status = (await answer)[0]
    except (ConnectionError, c.HTTPError) as exc:
        status = f"none ({type(exc).__name__})"
    writer.transport.abort()
    return f"HTTP {status} after {sent / 1e6:.0f} MB sent"


async def bomb(server: c.Server) -> str:
    # WBXML header, then a Sync tag with content (0x45 | 0x40) repeated: 24 MB of nested opens.
    # Sent in slices while the answer is read: a server may refuse it from its first bytes.
    body = b"\x03\x01\x6a\x00" + b"\x45" * (24 * 1024 * 1024)
    reader, writer = await asyncio.open_connection(server.host, server.port)
    request = c.build_request(server.host, server.port, c.query("Sync", "attacker", "a1"), c.headers("attacker"), body)
    answer = asyncio.create_task(c.read_response(reader))
    try:
        for at in range(0, len(request), 65536):
            if answer.done():
                break
            writer.write(request[at:at + 65536])
            await writer.drain()
    except ConnectionError:
        pass  # the server answered and closed
    try:
        status = (await answer)[0]
    except (ConnectionError, c.HTTPError) as exc:
        status = f"none ({type(exc).__name__})"
    writer.transport.abort()
    return f"HTTP {status}"


async def fetch(server: c.Server) -> str:
    from easlab.eas.wbxml import E, decode, encode

    io = "ItemOperations"
    fetches = [E(f"{io}:Fetch", E(f"{io}:Store", "Mailbox"), E("AirSyncBase:FileReference", server.file_reference))
               for _ in range(100)]
    body = encode(E(f"{io}:ItemOperations", *fetches))
    conn = await c.Connection(server.host, server.port).open()
    status, _, data = await conn.request(c.query("ItemOperations", "attacker", "a1"), c.headers("attacker"), body)
    await conn.close()
    statuses = [r.text(f"{io}:Status") for r in decode(data).find(f"{io}:Response").children] if status == 200 else []
    return f"HTTP {status}, {len(data) / 1e6:.0f} MB, Fetch statuses " + ", ".join(
        f"{s}: {statuses.count(s)}" for s in sorted(set(statuses)))


class AttackerProcess:
    """An attack run by a process of its own at nice 5, started (and its imports done) before the
    baseline; called, it attacks and gives its answer line with the CPU seconds the attack took."""

    def __init__(self, key: str):
        self.key, self.proc = key, None

    async def prepare(self, server: c.Server) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--attack", self.key, "--port", str(server.port),
            "--file-reference", getattr(server, "file_reference", ""), stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, preexec_fn=lambda: os.nice(5))
        if await self.proc.stdout.readline() != b"ready\n":
            raise RuntimeError("the attacker process did not start")

    async def __call__(self, server: c.Server) -> str:
        self.proc.stdin.write(b"go\n")
        out, _ = await self.proc.communicate()
        if self.proc.returncode != 0:
            raise RuntimeError(f"the attacker process ended with {self.proc.returncode}")
        return out.decode().strip()


def attack_alone(name: str, port: int, reference: str) -> None:
    server = c.Server("", Path(os.devnull))
    server.port, server.file_reference = port, reference
    print("ready", flush=True)
    sys.stdin.readline()
    cpu = time.process_time()
    answer = asyncio.run(ATTACKS[name](server))
    print(f"{answer} (attacker CPU {time.process_time() - cpu:.2f} s)", flush=True)


def p99(marks: list[tuple[float, float]], start: float, end: float) -> float:
    inside = [d for t, d in marks if start <= t <= end]
    return c.percentile(inside, 99) * 1000 if inside else float("nan")


async def file_reference(server: c.Server) -> str:
    """The attacker's 5 MB attachment, as its FileReference from an Inbox Sync."""
    from easlab.eas.wbxml import decode

    conn = await c.Connection(server.host, server.port).open()
    path, hdrs = c.query("Sync", "attacker", "a1"), c.headers("attacker")
    _, _, data = await conn.request(path, hdrs, c.sync_request("0", "1"))
    key = c.sync_collection(decode(data)).text("AirSync:SyncKey")
    _, _, data = await conn.request(path, hdrs, c.sync_request(key, "1"))
    await conn.close()
    found = [e.value for e in decode(data).iter() if e.tag == "AirSyncBase:FileReference"]
    if not found:
        raise RuntimeError("the attachment did not show in the attacker's Inbox")
    return found[0]


async def attack_one(server: c.Server, sampler: Sampler, name: str, attacks: list) -> dict:
    for attack in attacks:
        if isinstance(attack, AttackerProcess):
            await attack.prepare(server)
    marks: list[tuple[float, float]] = []
    stop = asyncio.Event()
    task = asyncio.create_task(bystander(server, marks, stop))
    await asyncio.sleep(5.0)
    baseline = p99(marks, 0, time.perf_counter())
    start_rss = sampler.reset()
    cpu = c.proc_cpu_seconds(server.pid)
    t0 = time.perf_counter()
    for attack in attacks:  # one after another: the bystander meets each
        answer = await attack(server)
    t1 = time.perf_counter()
    cpu = c.proc_cpu_seconds(server.pid) - cpu  # (the bystander's requests meanwhile included)
    await asyncio.sleep(max(0.0, 2.0 - (t1 - t0)))  # a window long enough for the bystander's p99
    end = max(t1, t0 + 2.0)
    during = p99(marks, t0, end)
    count = sum(1 for t, _ in marks if t0 <= t <= end)
    stop.set()
    await task
    times = f" x {len(attacks)}" if len(attacks) > 1 else ""
    print(f"{name}: {answer}{times} in {t1 - t0:.1f} s; peak RSS {sampler.peak / 1024:.0f} MB (from {start_rss / 1024:.0f}); "
          f"bystander p99 {during:.1f} ms of {count} requests (baseline {baseline:.1f} ms); "
          f"server CPU {cpu * 1000 / len(attacks):.0f} ms per attack")
    return {"attack": name + times, "answer": answer, "seconds": t1 - t0, "peak": sampler.peak, "start": start_rss,
            "p99": during, "baseline": baseline}


def run_attack(name: str, attacks: list, root: Path | None = None, fetching: bool = False) -> dict:
    """One attack against a server of its own, so each peak starts from a fresh process."""
    from easlab.storage import Database

    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-exhaust-"))
    server = None
    try:
        db_url = f"sqlite:///{tmp / 'exhaust.db'}"
        db = Database(db_url)
        db.create_all()
        c.create_users(db, ["attacker", "bystander"])
        db.dispose()
        server = c.Server(db_url, tmp / "easlab.server.log", root=root).start()
        if fetching:
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = "alex@example.net", f"attacker@{c.DOMAIN}", "big"
            msg.set_content("see attached")
            msg.add_attachment(bytes(range(256)) * (ATTACHMENT // 256), maintype="application",
                               subtype="octet-stream", filename="big.bin")
            c.smtp_send(server.smtp_port, f"attacker@{c.DOMAIN}", msg.as_bytes())
            server.file_reference = asyncio.run(file_reference(server))
        sampler = Sampler(server.pid)
        sampler.start()
        row = asyncio.run(attack_one(server, sampler, name, attacks))
        sampler.running = False
        return row
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


ATTACKS = {"chunked": chunked, "bomb": bomb, "fetch": fetch}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--tree", type=Path, help="serve another checkout's code (a before/after run)")
    parser.add_argument("--attacker-process", action="store_true", help="the attacker in a process of its own")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="each attack N times in a row: a window the bystander's p99 is more than its one worst stall in")
    parser.add_argument("--attack", choices=sorted(ATTACKS), help=argparse.SUPPRESS)  # that process
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--file-reference", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.attack:
        attack_alone(args.attack, args.port, args.file_reference)
        return 0
    tree = c.tree_state() if args.tree is None else f"{args.tree}"
    tree += ", attacker process" if args.attacker_process else ""
    rows = []
    for name, key in (("chunked 200 MB", "chunked"), ("WBXML bomb 24 MB", "bomb"), ("100 x 5 MB fetch", "fetch")):
        attacks = [AttackerProcess(key) if args.attacker_process else ATTACKS[key] for _ in range(args.repeat)]
        rows.append(run_attack(name, attacks, args.tree, fetching=key == "fetch"))
    met_all = True
    for row in rows:
        met = row["peak"] < 200 * 1024 and row["p99"] <= 1.5 * row["baseline"]
        met_all &= met
        if not args.no_record:
            c.record(TITLE, __doc__.split("\n\n")[2].strip(), COLUMNS, [
                c.utc_now(), f"`{c.command_line('exhaust.py')}`", tree, row["attack"], row["answer"], f"{row['seconds']:.1f}",
                f"{row['peak'] / 1024:.0f} ({row['start'] / 1024:.0f})", f"{row['p99']:.1f} ({row['baseline']:.1f})",
                "yes" if met else "no", c.python_version()])
    return 0 if met_all else 1


if __name__ == "__main__":
    sys.exit(main())
