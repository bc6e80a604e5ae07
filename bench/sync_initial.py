"""Benchmark: initial Sync of a 10,000-message Inbox by one simulated device, over HTTP.

    .venv/bin/python bench/sync_initial.py [--messages N] [--repeats R] [--windows 512,100] [--compare TREE]
                                           [--no-record] [--keep]

A fresh SQLite database gets one user whose Inbox holds N (10,000) realistic messages:
multipart/alternative, a plain part and an HTML part of about 10 KB (about 19 KB of MIME each),
written through storage.mailbox.store_message, 1,000 per transaction.  `easlab serve --port 0
--smtp-port 0 --db URL` runs as a child process; a simulated device (httpx, one keep-alive
connection, EAS 14.1) does what a phone does on first contact with a mailbox:

    FolderSync SyncKey 0
    Sync SyncKey 0, CollectionId 1, Options{BodyPreference{Type 2, TruncationSize 5120}}
    Sync with the new key, WindowSize 512 (then, as another device, 100) ... again while the
    response has MoreAvailable

Every Add is counted (the run fails unless there are exactly N, with N distinct ServerIds and
HTML bodies cut at 5,120 bytes).  Figures: items/s and seconds from FolderSync to the last page,
the client's own WBXML decoding time (inside those seconds), and the same paging done in this
process straight through storage.sync.sync_collection plus the server's WBXML encoding (no HTTP,
no threads: a floor for what the server must do), with the ratio HTTP/in-process.  The two are
run alternately, R times each, each time as a new device; the best and the median are reported,
one row per WindowSize.  A row is appended to bench/RESULTS.md unless --no-record.

Like for like.  The HTTP seconds hold the device's decoding of every page, which a device cannot
skip or overlap (each Sync carries the key the previous answer gave), and which the server's work
does not: so the in-process paging also decodes each page it encoded, timed apart, and the row
gives both ratios: HTTP against the server's work alone (the old column, "HTTP/in-process"), and
HTTP against the server's work plus the device's decoding ("HTTP/(in-process+decode)").  Neither
hides a cost: the client's decode and its whole CPU (httpx too) are columns of their own.  The
in-process paging runs under the serving process's collector settings (server/heap.py), as the
server does.

--compare TREE serves the same HTTP runs from another checkout too (its .venv and code), in turn
with this tree's server, against the same in-process paging: a before/after in one run.  Only
this tree's rows are recorded.
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
WINDOWS = "512,100"
TRUNCATION = 5120
HTML_SIZE = 10 * 1024

TITLE = "bench/sync_initial.py — initial Sync of a 10,000-message Inbox, WindowSize 512 and 100"
INTRO = """\
One user, Inbox of N messages (multipart/alternative: ~10 KB HTML part and its plain-text
version, ~19 KB MIME each, stored through `store_message`); `easlab serve` as a subprocess on
SQLite. One simulated device (httpx, keep-alive, EAS 14.1): FolderSync 0, Sync 0 with
Options{BodyPreference{Type 2, TruncationSize 5120}}, then Sync WindowSize 512 (or 100: "window")
until no MoreAvailable; all N Adds counted and checked. Wall time from FolderSync to the last page,
including the client's WBXML decode ("client decode s"). "in-process" = the same pages through
`storage.sync.sync_collection` + WBXML encode in the benchmark process (no HTTP, no threadpool);
ratio = HTTP items/s / in-process items/s, measured alternately in the same run; as the machine is
shared, also the CPU seconds of the server process for a run against those of in-process paging
(best of R each; their ratio shows what the HTTP path adds to the server's work). Best of R runs
(median in brackets); peak RSS is the server's VmHWM after the runs. "tree" = HEAD, +dirty when
eas/, server/ or storage/ had uncommitted changes (several people edit the tree). From the wire
branch (2026-12-07) the in-process paging also decodes each page as the device must ("in-process decode s",
best of R), giving "HTTP/(in-process+decode)"; "client CPU s" is the benchmark process's CPU in
an HTTP run (httpx and the decode); the in-process paging runs under server/heap.py's collector
settings, as the server does (earlier rows: Python's defaults in both). From issue 16.2 (wire
branch, 2026-12-07 22:40) the server encodes a page's Collection once and writes those bytes into
the answer (wbxml encode_once), and the in-process paging does the same, so both are one encoding
per page lighter than in earlier rows; "compare" runs (main's server) are against this paging."""
COLUMNS = ["date (UTC)", "command", "tree", "messages", "window", "pages", "R", "HTTP items/s", "HTTP s", "client decode s",
           "in-process items/s", "HTTP/in-process", "server CPU s", "in-process CPU s", "CPU in-process/server",
           "response MB", "server peak RSS MB", "fill s", "python", "in-process decode s", "in-process+decode items/s",
           "HTTP/(in-process+decode)", "client CPU s"]


def http_initial_sync(client, device: str, window: int) -> dict:
    run = c.initial_download(client, USER, device, "1", c.html_options(TRUNCATION), window)
    adds, truncated_ok = [], True
    for cmd in run.pop("commands"):
        if cmd.name != "Add":
            raise SystemExit(f"unexpected {cmd.name} in an initial sync")
        adds.append(cmd.text("AirSync:ServerId"))
        body = cmd.find("AirSync:ApplicationData").find("AirSyncBase:Body")
        data = body.text("AirSyncBase:Data") or ""
        if (body.text("AirSyncBase:Type") != "2" or body.text("AirSyncBase:Truncated") != "1"
                or len(data.encode()) > TRUNCATION or len(data.encode()) < TRUNCATION - 4):
            truncated_ok = False
    return {**run, "adds": adds, "truncated_ok": truncated_ok}


def inprocess_initial_sync(db, device_id: str, window: int) -> dict:
    """The server's work for the same pages, minus HTTP, auth and the threadpool: one transaction
    per page around storage.sync.sync_collection (the render it is handed encodes the page for
    last_response), then the Sync document encoded as activesync.to_http does.  "seconds" is that
    work; "decode_s" the device's decoding of each page, timed apart."""
    import datetime as dt

    from easlab.eas.commands.sync import SyncOptions, parse, render_collection
    from easlab.eas.wbxml import E, decode
    from easlab.eas.wbxml.codec import encode_once, encode_pieces
    from easlab.storage import sync as queries
    from easlab.storage.devices import touch_device
    from easlab.storage.users import get_user

    version = "14.1"
    start = time.perf_counter()
    count = 0
    pages = 0
    decode_s = decode_cpu = 0.0
    key = "0"
    first = True
    while True:
        body = c.sync_request(key, "1", options=c.html_options(TRUNCATION)) if first else c.sync_request(key, "1", window=window)
        request = parse(decode(body), version)
        coll = request.collections[0]

        def render(outcome, coll=coll):
            # As the server's store adapter does: the Collection encoded once and kept on the
            # outcome, its WBXML (in pieces) for storage, its bytes written as they are into the page.
            outcome.rendered = encode_once(render_collection(outcome, version, outcome.options or coll.options, coll.class_name))
            return outcome.rendered.document()

        with db.session() as session:
            user = get_user(session, USER)
            device = touch_device(session, user, device_id, "iPhone", "easlab-bench/1", version)
            outcome, _ = queries.sync_collection(session, user, device, coll, SyncOptions, render,
                                                 dt.datetime.now(dt.timezone.utc), set())
        if outcome.rendered is None:
            outcome.rendered = render_collection(outcome, version, outcome.options or coll.options, coll.class_name)
        if outcome.unchanged:
            pages += 1
            break
        page = encode_pieces(E("AirSync:Sync", E("AirSync:Collections", outcome.rendered)))  # as to_http writes it
        # The device's decoding of the page, timed apart: it must read the key before it asks again.
        t, cpu = time.perf_counter(), time.process_time()
        decode(b"".join(page))
        decode_s += time.perf_counter() - t
        decode_cpu += time.process_time() - cpu
        key = outcome.sync_key
        if first:
            first = False
            continue
        pages += 1
        count += sum(1 for ch in outcome.changes if ch.kind == "Add")
        if not outcome.more_available:
            break
    return {"seconds": time.perf_counter() - start - decode_s, "decode_s": decode_s, "decode_cpu": decode_cpu, "count": count, "pages": pages}


def _http_run(server, client, device: str, window: int, n: int) -> dict:
    cpu, own = server.cpu_seconds(), time.process_time()
    run = http_initial_sync(client, device, window)
    run["server_cpu"], run["client_cpu"] = server.cpu_seconds() - cpu, time.process_time() - own
    got = len(run["adds"])
    if got != n or len(set(run["adds"])) != n:
        raise SystemExit(f"FAIL: the device received {got} Adds ({len(set(run['adds']))} distinct), expected {n}")
    if not run["truncated_ok"]:
        raise SystemExit("FAIL: some HTML body was not an HTML body truncated at 5,120 bytes")
    return run


def _floor_run(db, device: str, window: int, n: int) -> dict:
    cpu = time.process_time()
    floor = inprocess_initial_sync(db, device, window)
    floor["cpu"] = time.process_time() - cpu - floor["decode_cpu"]
    if floor["count"] != n:
        raise SystemExit(f"FAIL: in-process paging gave {floor['count']} Adds, expected {n}")
    return floor


def _summary(n: int, http_runs: list[dict], floor_runs: list[dict]) -> dict:
    best = min(run["seconds"] for run in http_runs)
    fbest = min(run["seconds"] for run in floor_runs)
    fdecode = min(run["decode_s"] for run in floor_runs)
    return {
        "best": best, "med": statistics.median(run["seconds"] for run in http_runs), "fbest": fbest,
        "fmed": statistics.median(run["seconds"] for run in floor_runs), "fdecode": fdecode,
        "decode": min(run["decode_s"] for run in http_runs), "ratio": fbest / best, "ratio_decode": (fbest + fdecode) / best,
        # CPU seconds stand when the machine is shared: the server's own, against in-process paging.
        "server_cpu": min(run["server_cpu"] for run in http_runs), "floor_cpu": min(run["cpu"] for run in floor_runs),
        "client_cpu": min(run["client_cpu"] for run in http_runs),
    }


def _report(label: str, window: int, n: int, f: dict, rss_mb: float) -> None:
    print(f"{label}WindowSize {window}: HTTP: best {n / f['best']:,.0f} items/s ({f['best']:.2f} s), median "
          f"{n / f['med']:,.0f} items/s ({f['med']:.2f} s); in-process: best {n / f['fbest']:,.0f} items/s "
          f"({f['fbest']:.2f} s), median {n / f['fmed']:,.0f} items/s; ratio HTTP/in-process {f['ratio']:.2f}, "
          f"HTTP/(in-process+decode {f['fdecode']:.2f} s) {f['ratio_decode']:.2f}; CPU s server {f['server_cpu']:.2f}, "
          f"in-process {f['floor_cpu']:.2f} (ratio {f['floor_cpu'] / f['server_cpu']:.2f}), client {f['client_cpu']:.2f} "
          f"(decode {f['decode']:.2f}); server peak RSS {rss_mb:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3, help="HTTP and in-process runs, alternately")
    parser.add_argument("--windows", default=WINDOWS, help="WindowSizes, one row each (default 512,100)")
    parser.add_argument("--compare", type=Path, help="another checkout whose server runs the same HTTP runs, in turn")
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (database, server log)")
    args = parser.parse_args()
    n = args.messages
    tree = c.tree_state()

    from easlab.server import heap
    from easlab.storage import Database

    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-initial-"))
    try:
        db_url = f"sqlite:///{tmp / 'initial.db'}"
        db = Database(db_url)
        db.create_all()
        c.create_users(db, [USER])
        template = c.Template(f"{USER}@{c.DOMAIN}", HTML_SIZE)
        fill_s = c.fill_with_store(db, USER, n, template)
        db_mb = (tmp / "initial.db").stat().st_size / 1e6
        print(f"filled {n:,} messages ({len(template.mime):,} bytes MIME, {len(template.parsed.body_html):,} bytes HTML each) "
              f"in {fill_s:.1f} s; database {db_mb:,.0f} MB (+WAL)")
        heap.settle()  # the in-process paging under the serving process's collector settings

        windows = [int(w) for w in args.windows.split(",")]
        labels = ["", *(["compare: "] if args.compare else [])]
        runs: dict[tuple[str, int], tuple[list, list]] = {(lb, w): ([], []) for lb in labels for w in windows}
        servers = [c.Server(db_url, tmp / "easlab.server.log")]
        if args.compare:
            servers.append(c.Server(db_url, tmp / "compare.server.log", root=args.compare.resolve()))
        rss = {}
        for server in servers:
            server.start()
        try:
            clients = [c.http_client(server) for server in servers]
            for r in range(args.repeats):
                for window in windows:
                    for label, server, client in zip(labels, servers, clients):
                        http_runs, floor_runs = runs[(label, window)]
                        run = _http_run(server, client, f"benchhttp{window}x{r}{label[:3]}", window, n)
                        http_runs.append(run)
                        print(f"  {label}WindowSize {window}, HTTP run {r + 1}: {n:,} Adds in {run['pages']} pages, "
                              f"{run['seconds']:.2f} s = {n / run['seconds']:,.0f} items/s (client decode "
                              f"{run['decode_s']:.2f} s, {run['bytes'] / 1e6:.1f} MB of responses)")
                        floor = _floor_run(db, f"benchfloor{window}x{r}{label[:3]}", window, n)
                        floor_runs.append(floor)
                        print(f"  {label}WindowSize {window}, in-process run {r + 1}: {floor['count']:,} Adds in "
                              f"{floor['pages']} pages, {floor['seconds']:.2f} s = {n / floor['seconds']:,.0f} items/s "
                              f"(+ decode {floor['decode_s']:.2f} s)")
            for label, server, client in zip(labels, servers, clients):
                rss[label] = server.rss_kb()["VmHWM"] / 1024
                client.close()
        finally:
            for server in servers:
                server.stop()
        db.dispose()

        for (label, window), (http_runs, floor_runs) in runs.items():
            f = _summary(n, http_runs, floor_runs)
            _report(label, window, n, f, rss[label])
            if not args.no_record and not label:
                c.record(TITLE, INTRO, COLUMNS, [
                    c.utc_now(), f"`{c.command_line('sync_initial.py')}`", tree, f"{n:,}", str(window),
                    str(http_runs[0]["pages"]), str(args.repeats),
                    f"{n / f['best']:,.0f} ({n / f['med']:,.0f})", f"{f['best']:.2f} ({f['med']:.2f})", f"{f['decode']:.2f}",
                    f"{n / f['fbest']:,.0f} ({n / f['fmed']:,.0f})", f"{f['ratio']:.2f}", f"{f['server_cpu']:.2f}",
                    f"{f['floor_cpu']:.2f}", f"{f['floor_cpu'] / f['server_cpu']:.2f}", f"{http_runs[0]['bytes'] / 1e6:.1f}",
                    f"{rss[label]:.0f}", f"{fill_s:.1f}", c.python_version(), f"{f['fdecode']:.2f}",
                    f"{n / (f['fbest'] + f['fdecode']):,.0f}", f"{f['ratio_decode']:.2f}", f"{f['client_cpu']:.2f}",
                ])
                print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
