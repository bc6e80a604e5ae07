"""Benchmark: one new message in a folder of 1,000 and in one of 100,000 — the incremental Sync.

    .venv/bin/python bench/sync_incremental.py [--small N] [--large N] [--rounds N] [--no-record] [--keep]

Two SQLite databases, each with one user whose Inbox holds `--small` (1,000) or `--large`
(100,000) messages (multipart/alternative, ~2 KB HTML part plus its plain text, ~5 KB MIME).  Both
are filled the same way: the first message through storage.mailbox.store_message, the rest as
SQLAlchemy Core INSERTs of Item and ItemChange rows copied from that first row (ids, ServerIds,
change numbers and Folder.change_seq as store_message would have set them).  One `easlab serve`
per database runs at the same time.

One device per server has completed its initial sync: it sends FolderSync 0 and Sync 0 (Options:
HTML body truncated at 5,120 bytes) over HTTP, then its SyncState row is set to what the last page
of a real initial sync leaves behind (initial_cursor NULL, seq = snapshot_seq = the folder's
change_seq), the same for both sizes; so the key it holds stands for "everything up to now".  In
the small database a second device does the real initial sync over HTTP, and the first delivery
checks that both devices then receive the same single Add.

Each round, for each server (the order alternating from round to round): one message is sent
through the server's SMTP port (smtplib), then the device's Sync (its current key, WindowSize 512,
stored Options) is timed with time.perf_counter around the httpx request on a keep-alive
connection; the response must hold exactly that one Add.  Each delivery on a server starts at
least 100 ms after that server's previous Sync answer (see SPACING: a back-to-back request
would meet a ~40 ms Nagle/delayed-ACK stall unrelated to the folder).  After `--warmup` rounds
that are not counted, `--rounds` rounds are; the figures are the median and p90 (nearest rank) of each size,
and the ratio median(large)/median(small), where ~1 means the incremental Sync does not depend on
the folder's size.  The SMTP delivery time (end of DATA to the 250) is reported the same way.
A row is appended to bench/RESULTS.md unless --no-record.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

USER = "bench"
DEVICE = "benchinc"
REFERENCE_DEVICE = "benchref"
HTML_SIZE = 2 * 1024
TRUNCATION = 5120
WINDOW = 512
# Seconds at least between a Sync answer and the next delivery + Sync on the same connection.  The
# server's HTTP sockets lack TCP_NODELAY and it writes a response's headers and body separately,
# so a request sent while the connection is in delayed-ACK ("ping-pong") mode waits ~40 ms for
# the client's ACK before the body leaves; spacing the rounds keeps that stall, which has nothing
# to do with the folder's size, out of these figures.
SPACING = 0.1

TITLE = "bench/sync_incremental.py — one new message: incremental Sync in a folder of 1,000 vs 100,000"
INTRO = """\
Two `easlab serve` subprocesses on SQLite, one per database: an Inbox of 1,000 and one of 100,000
messages (~2 KB HTML + plain text, ~5 KB MIME; first row via `store_message`, the rest Core
INSERTs of identical-looking Item/ItemChange rows). A device that has completed its initial sync
(SyncState set as the last initial page leaves it, identically for both sizes; checked against a
real initial sync in the small folder). Each round, per server in alternating order: one message
by SMTP, then the device's incremental Sync (WindowSize 512), timed around the httpx request on a
keep-alive connection, at least 100 ms after that server's previous answer (the server's HTTP
sockets lack TCP_NODELAY, so a back-to-back request meets a ~40 ms delayed-ACK stall that has
nothing to do with the folder); the answer must be exactly that one Add. Median and p90 (nearest
rank) over N counted rounds after warm-up; ratio = median(100k)/median(1k), aim ~1. "SMTP ms" = end of
DATA to the 250 (store + commit), median. "tree" = HEAD, +dirty when eas/, server/ or storage/
had uncommitted changes (several people edit the tree)."""
COLUMNS = ["date (UTC)", "command", "tree", "sizes", "N", "1k median ms", "1k p90 ms", "100k median ms", "100k p90 ms",
           "ratio median 100k/1k", "SMTP ms 1k / 100k", "fill s", "python"]


def prime(client, device: str):
    from easlab.eas.wbxml import E, encode

    hdrs = c.headers(USER)
    r = client.post(c.query("FolderSync", USER, device), headers=hdrs,
                    content=encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))))
    r.raise_for_status()
    r = client.post(c.query("Sync", USER, device), headers=hdrs,
                    content=c.sync_request("0", "1", options=c.html_options(TRUNCATION)))
    r.raise_for_status()
    from easlab.eas.wbxml import decode

    coll = c.sync_collection(decode(r.content))
    if coll is None or coll.text("AirSync:Status") != "1":
        raise SystemExit(f"{device}: Sync 0 failed")
    return coll.text("AirSync:SyncKey")


def complete_initial_state(db, device: str, expected_seq: int) -> None:
    """What _initial_page leaves behind when the last page is out: no cursor, log position at the
    snapshot (the folder's change_seq when the device sent SyncKey 0)."""
    from sqlmodel import select

    from easlab.storage.models import Device, Folder, SyncState, User

    with db.session() as session:
        user = session.exec(select(User).where(User.name == USER)).one()
        dev = session.exec(select(Device).where(Device.user_id == user.id, Device.device_id == device)).one()
        state = session.exec(select(SyncState).where(SyncState.device_pk == dev.id, SyncState.collection_id == "1")).one()
        folder = session.exec(select(Folder).where(Folder.user_id == user.id, Folder.server_id == "1")).one()
        if not (state.snapshot_seq == folder.change_seq == expected_seq and state.initial_cursor == 0):
            raise SystemExit(f"unexpected state after priming: snapshot {state.snapshot_seq}, folder {folder.change_seq}, "
                             f"cursor {state.initial_cursor}, expected {expected_seq}")
        state.initial_cursor = None
        state.seq = state.snapshot_seq
        session.add(state)


def real_initial_sync(client, device: str, key: str) -> tuple[str, int]:
    from easlab.eas.wbxml import decode

    count = 0
    for _ in range(10_000):
        r = client.post(c.query("Sync", USER, device), headers=c.headers(USER), content=c.sync_request(key, "1", window=WINDOW))
        r.raise_for_status()
        coll = c.sync_collection(decode(r.content)) if r.content else None
        if coll is None:
            break
        key = coll.text("AirSync:SyncKey")
        cmds = coll.find("AirSync:Commands")
        count += len(cmds.children) if cmds is not None else 0
        if coll.find("AirSync:MoreAvailable") is None:
            break
    return key, count


def incremental(client, device: str, key: str, subject: str) -> tuple[float, str, list]:
    """Time one Sync; returns (seconds, new key, [(kind, subject)])."""
    from easlab.eas.wbxml import decode

    body = c.sync_request(key, "1", window=WINDOW)
    hdrs = c.headers(USER)
    path = c.query("Sync", USER, device)
    start = time.perf_counter()
    r = client.post(path, headers=hdrs, content=body)
    seconds = time.perf_counter() - start
    if r.status_code != 200:
        raise SystemExit(f"Sync: HTTP {r.status_code}")
    coll = c.sync_collection(decode(r.content)) if r.content else None
    if coll is None or coll.text("AirSync:Status") != "1":
        raise SystemExit(f"incremental Sync for {subject!r} returned {coll}")
    cmds = coll.find("AirSync:Commands")
    got = []
    for cmd in cmds.children if cmds is not None else []:
        data = cmd.find("AirSync:ApplicationData")
        got.append((cmd.name, data.text("Email:Subject") if data is not None else None))
    if got != [("Add", subject)] or coll.find("AirSync:MoreAvailable") is not None:
        raise SystemExit(f"expected exactly one Add of {subject!r}, got {got}")
    return seconds, coll.text("AirSync:SyncKey"), got


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30, help="counted rounds")
    parser.add_argument("--warmup", type=int, default=3, help="rounds before the counted ones")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (databases, server logs)")
    args = parser.parse_args()

    from easlab.storage import Database

    sizes = {"small": args.small, "large": args.large}
    tree = c.tree_state()
    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-incremental-"))
    servers: dict[str, c.Server] = {}
    dbs = {}
    clients: dict = {}
    try:
        fill = {}
        template = c.Template(f"{USER}@{c.DOMAIN}", HTML_SIZE)
        for name, count in sizes.items():
            path = tmp / f"{name}.db"
            db = Database(f"sqlite:///{path}")
            db.create_all()
            c.create_users(db, [USER])
            fill[name] = c.fill_with_core(db, USER, count, template)
            dbs[name] = db
            print(f"{name}: {count:,} messages ({len(template.mime):,} bytes MIME each) in {fill[name]:.1f} s, "
                  f"database {path.stat().st_size / 1e6:,.0f} MB")
        for name, db in dbs.items():
            servers[name] = c.Server(db.url, tmp / f"server-{name}.log").start()
            clients[name] = c.http_client(servers[name])
            print(f"{name}: server pid {servers[name].pid} at {servers[name].eas_url}")

        keys = {}
        for name, count in sizes.items():
            keys[name] = prime(clients[name], DEVICE)
            complete_initial_state(dbs[name], DEVICE, count)
        ref_key = prime(clients["small"], REFERENCE_DEVICE)
        ref_key, ref_count = real_initial_sync(clients["small"], REFERENCE_DEVICE, ref_key)
        if ref_count != sizes["small"]:
            raise SystemExit(f"reference device: initial sync gave {ref_count} items, expected {sizes['small']}")

        times = {name: [] for name in sizes}
        smtp = {name: [] for name in sizes}
        last_answer = {name: 0.0 for name in sizes}
        total = args.warmup + args.rounds
        seq = 0
        for rnd in range(total):
            order = list(sizes) if rnd % 2 == 0 else list(reversed(sizes))
            for name in order:
                seq += 1
                subject = f"Incremental {name} {seq:06d}"
                mime = c.make_message(f"{USER}@{c.DOMAIN}", subject, HTML_SIZE)
                time.sleep(max(0.0, last_answer[name] + SPACING - time.perf_counter()))
                t_data, t_done = c.smtp_send(servers[name].smtp_port, f"{USER}@{c.DOMAIN}", mime)
                seconds, keys[name], got = incremental(clients[name], DEVICE, keys[name], subject)
                last_answer[name] = time.perf_counter()
                if rnd == 0 and name == "small":
                    _, ref_key, ref_got = incremental(clients["small"], REFERENCE_DEVICE, ref_key, subject)
                    if ref_got != got:
                        raise SystemExit(f"constructed state and real initial sync disagree: {got} vs {ref_got}")
                if rnd >= args.warmup:
                    times[name].append(seconds)
                    smtp[name].append(t_done - t_data)

        med = {name: statistics.median(v) for name, v in times.items()}
        p90 = {name: c.percentile(v, 90) for name, v in times.items()}
        smtp_med = {name: statistics.median(v) for name, v in smtp.items()}
        ratio = med["large"] / med["small"]
        for name, count in sizes.items():
            print(f"{count:>9,} messages: incremental Sync median {med[name] * 1000:.2f} ms, p90 {p90[name] * 1000:.2f} ms, "
                  f"min {min(times[name]) * 1000:.2f} ms (N={len(times[name])}); SMTP delivery median {smtp_med[name] * 1000:.2f} ms")
        print(f"ratio median({sizes['large']:,})/median({sizes['small']:,}) = {ratio:.2f}")
        if not args.no_record:
            c.record(TITLE, INTRO, COLUMNS, [
                c.utc_now(), f"`{c.command_line('sync_incremental.py')}`", tree, f"{sizes['small']:,} / {sizes['large']:,}", str(args.rounds),
                f"{med['small'] * 1000:.2f}", f"{p90['small'] * 1000:.2f}", f"{med['large'] * 1000:.2f}",
                f"{p90['large'] * 1000:.2f}", f"{ratio:.2f}",
                f"{smtp_med['small'] * 1000:.1f} / {smtp_med['large'] * 1000:.1f}",
                f"{fill['small']:.1f} / {fill['large']:.1f}", c.python_version(),
            ])
            print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    finally:
        for client in clients.values():
            client.close()
        for server in servers.values():
            server.stop()
        for db in dbs.values():
            db.dispose()
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
