"""Benchmark: initial Sync of a Calendar vs an Inbox of the same size, and free/busy over a full calendar.

    .venv/bin/python bench/pim_sync.py [--items N] [--repeats R] [--no-record]

A fresh SQLite database gets user "bench" with N (2,000) calendar events and N emails, and user
"idle" with an empty calendar.  Each event is a weekly series (Europe/Berlin TimeZone blob, no end)
with two exceptions (one occurrence deleted, one moved), three attendees, a reminder and a 1 KB
plain-text body, written through storage.pim.add_pim; each email is multipart/alternative with a
~1 KB plain part (~3.4 KB of MIME, about the size of an event's stored form), written through
storage.mailbox.store_message; both 500 per transaction.  `easlab serve` runs as a child process.

1. Initial download, R times each, alternately (the first of the pair alternating too), each time
   as a new device (httpx, keep-alive, EAS 14.1): FolderSync 0, Sync 0 with
   Options{BodyPreference{Type 1}} (the same for both folders), then Sync WindowSize 512 until no
   MoreAvailable.  Every Add is counted and the run fails unless there are exactly N distinct
   ServerIds.  Figures: items/s (wall time from FolderSync to the last page, the client's WBXML
   decode included and also shown apart), the server's CPU seconds, and calendar/mail ratios;
   best and median.
2. ResolveRecipients with Availability over 7 days (2026-12-07 to -14) for bench@ (N series) and
   idle@ (empty calendar), alternately, 100 ms apart (see SPACING); median latency of each after
   warm-up and the ratio.  bench@'s MergedFreeBusy must show busy slots ('2'), idle@'s be all '0'.

A row is appended to bench/RESULTS.md unless --no-record.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

USER = "bench"
IDLE = "idle"
WINDOW = 512
BATCH = 500
HTML_SIZE = 1000  # Template's step that gives a ~1 KB plain part, like the events' bodies
FB_START, FB_END = "2026-12-07T00:00:00.000Z", "2026-12-14T00:00:00.000Z"
FB_SLOTS = 7 * 48
FB_WARMUP, FB_ROUNDS = 2, 15
# As in sync_incremental.py: the server's sockets lack TCP_NODELAY, so a small answer to a request
# sent right after the previous one can wait ~40 ms for a delayed ACK; spacing keeps that out.
SPACING = 0.1
RR = "ResolveRecipients"

TITLE = "bench/pim_sync.py — initial Sync of a Calendar vs an Inbox, and free/busy over a full calendar"
INTRO = """\
One user with N calendar events (weekly series, no end, Europe/Berlin TimeZone blob, 2 exceptions
(one deleted, one moved), 3 attendees, reminder, 1 KB plain body: ~2.8 KB stored, via `add_pim`)
and N emails (multipart/alternative, ~1 KB plain part, ~3.4 KB MIME, via `store_message`); `easlab
serve` as a subprocess on SQLite. Initial download as in sync_initial.py (FolderSync 0, Sync 0
with BodyPreference Type 1 for both folders, then WindowSize 512 until no MoreAvailable; every
Add counted, exactly N distinct ServerIds), calendar and mail alternately, R times each, a new
DeviceId each time: items/s best (median), wall time including the client's WBXML decode (shown
apart, median s); server CPU = the server's utime+stime per download, median. Free/busy =
ResolveRecipients Availability over 7 days for the user with N series vs a user with an empty
calendar, alternately, 100 ms apart, median of 15 after 2 warm-ups; ratio = busy/empty. "load" =
1-minute load average at start / end (2 cores, shared). "tree" = HEAD, +dirty when eas/, server/
or storage/ had uncommitted changes (several people edit the tree)."""
COLUMNS = ["date (UTC)", "command", "tree", "items", "R", "stored KB/item cal / mail", "response MB cal / mail",
           "calendar items/s", "mail items/s", "ratio cal/mail", "server CPU s cal / mail", "client decode s cal / mail",
           "free/busy busy ms", "free/busy empty ms", "ratio busy/empty", "fill s cal / mail", "load", "python"]


def event_nodes(n: int, tz_blob: str, berlin) -> list:
    """Event n in eas.pim.tree's stored form; starts spread over weekdays 08:00-16:30 Berlin time
    so that the free/busy week has busy and free slots."""
    from easlab.eas.pim import tree

    def compact(t):
        return t.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    day, slot = n % 5, (n // 5) % 18
    start = dt.datetime(2026, 11, 2 + day, 8 + slot // 2, 30 * (slot % 2), tzinfo=berlin)  # 2 Nov 2026 is a Monday
    end = start + dt.timedelta(minutes=30)
    deleted, moved_from = start + dt.timedelta(weeks=3), start + dt.timedelta(weeks=5)  # week 5 is the free/busy week
    moved = moved_from + dt.timedelta(hours=2)
    body = (f"Agenda of weekly sync #{n}: status of the migration, open items, the cut-over window, owners. " * 16)[:1024]
    return tree.sort("Calendar", [
        ["Calendar:Timezone", tz_blob], ["Calendar:AllDayEvent", "0"], ["Calendar:BusyStatus", "2"],
        ["Calendar:OrganizerName", "Bench User"], ["Calendar:OrganizerEmail", f"{USER}@{c.DOMAIN}"],
        ["Calendar:DtStamp", "20261101T120000Z"], ["Calendar:StartTime", compact(start)], ["Calendar:EndTime", compact(end)],
        ["AirSyncBase:Location", [["AirSyncBase:DisplayName", f"Room {n % 40}"]]],
        ["Calendar:Reminder", "15"], ["Calendar:Sensitivity", "0"], ["Calendar:Subject", f"Weekly sync #{n:06d}"],
        ["Calendar:UID", f"bench-{n:09d}@{c.DOMAIN}"], ["Calendar:MeetingStatus", "1"],
        ["Calendar:Attendees", [["Calendar:Attendee", [
            ["Calendar:Email", f"{a}@{c.DOMAIN}"], ["Calendar:Name", a.title()],
            ["Calendar:AttendeeStatus", "0"], ["Calendar:AttendeeType", "1"]]] for a in ("alice", "bob", "carol")]],
        # DayOfWeek bit: Sunday 1, Monday 2, ...
        ["Calendar:Recurrence", [["Calendar:Type", "1"], ["Calendar:Interval", "1"], ["Calendar:DayOfWeek", str(2 << day)]]],
        ["Calendar:Exceptions", [
            ["Calendar:Exception", [["Calendar:Deleted", "1"], ["Calendar:ExceptionStartTime", compact(deleted)]]],
            ["Calendar:Exception", [["Calendar:ExceptionStartTime", compact(moved_from)], ["Calendar:Subject", "Weekly sync (moved)"],
                                    ["Calendar:StartTime", compact(moved)], ["Calendar:EndTime", compact(moved + dt.timedelta(minutes=30))]]]]],
        ["AirSyncBase:Body", [["AirSyncBase:Type", "1"], ["AirSyncBase:Data", body]]],
    ])


def fill_calendar(db, count: int) -> tuple[float, str, int]:
    """`count` events into bench's calendar, BATCH per transaction; (seconds, ServerId, stored bytes of one)."""
    from zoneinfo import ZoneInfo

    from easlab.eas.pim import tree
    from easlab.eas.pim.timezone import from_zone_name
    from easlab.storage.mailbox import folder_by_type
    from easlab.storage.pim import add_pim
    from easlab.storage.users import get_user

    berlin, blob = ZoneInfo("Europe/Berlin"), from_zone_name("Europe/Berlin", 2026).to_base64()
    tree.validate("Calendar", event_nodes(0, blob, berlin))  # what a device's Add would have to pass
    now = dt.datetime.now(dt.timezone.utc)
    start = time.perf_counter()
    for first in range(0, count, BATCH):
        with db.session() as session:
            calendar = folder_by_type(session, get_user(session, USER), 8)
            for n in range(first, min(count, first + BATCH)):
                item = add_pim(session, calendar, "Calendar", event_nodes(n, blob, berlin), now)
            server_id, size = calendar.server_id, item.size
    return time.perf_counter() - start, server_id, size


def body_options():
    """The same Options for both folders: whole plain-text bodies (both are ~1 KB)."""
    from easlab.eas.wbxml import E

    return E("AirSync:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1)))


def initial_sync(client, server, device: str, collection: str) -> dict:
    """The timed download (bench/_common.py); the Add elements are checked after the clock stops."""
    cpu = server.cpu_seconds()
    run = c.initial_download(client, USER, device, collection, body_options(), WINDOW)
    run["cpu"] = server.cpu_seconds() - cpu
    run["adds"] = run.pop("commands")
    return run


def check_adds(run: dict, n: int, what: str) -> None:
    adds = run["adds"]
    ids = {a.text("AirSync:ServerId") for a in adds}
    if len(adds) != n or len(ids) != n or any(a.name != "Add" for a in adds):
        raise SystemExit(f"FAIL: {what}: {len(adds)} commands, {len(ids)} distinct ServerIds, expected {n} Adds")
    for a in adds[:: max(1, n // 50)]:  # a sample: the items arrived whole
        data = a.find("AirSync:ApplicationData")
        body = data.find("AirSyncBase:Body")
        if len(body.text("AirSyncBase:Data") or "") < 1000:
            raise SystemExit(f"FAIL: {what}: a body of {len(body.text('AirSyncBase:Data') or '')} characters")
        if what == "calendar":
            exceptions = data.find("Calendar:Exceptions")
            attendees = data.find("Calendar:Attendees")
            if (exceptions is None or len(exceptions.children) != 2 or attendees is None or len(attendees.children) != 3
                    or data.find("Calendar:Recurrence") is None or not data.text("Calendar:Timezone")):
                raise SystemExit("FAIL: calendar: an event arrived without its recurrence, exceptions or attendees")


def free_busy(client, address: str) -> tuple[float, str]:
    """One ResolveRecipients with Availability; (seconds, MergedFreeBusy)."""
    from easlab.eas.wbxml import E, decode, encode

    body = encode(E(f"{RR}:{RR}", E(f"{RR}:To", address), E(f"{RR}:Options", E(
        f"{RR}:Availability", E(f"{RR}:StartTime", FB_START), E(f"{RR}:EndTime", FB_END)))))
    path, hdrs = c.query(RR, USER, "benchfreebusy"), c.headers(USER)
    start = time.perf_counter()
    r = client.post(path, content=body, headers=hdrs)
    seconds = time.perf_counter() - start
    tree = decode(r.content) if r.status_code == 200 and r.content else None
    response = tree.find(f"{RR}:Response") if tree is not None else None
    recipient = response.find(f"{RR}:Recipient") if response is not None else None
    availability = recipient.find(f"{RR}:Availability") if recipient is not None else None
    if availability is None or availability.text(f"{RR}:Status") != "1":
        raise SystemExit(f"ResolveRecipients for {address}: no free/busy in {tree} (HTTP {r.status_code})")
    return seconds, availability.text(f"{RR}:MergedFreeBusy") or ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2_000, help="calendar events, and as many emails")
    parser.add_argument("--repeats", type=int, default=5, help="downloads of each folder, alternately")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    n = args.items
    tree, load_before = c.tree_state(), os.getloadavg()[0]

    from easlab.storage import Database

    tmp = Path(tempfile.mkdtemp(prefix="easlab-bench-pim-"))
    try:
        db_url = f"sqlite:///{tmp / 'pim.db'}"
        db = Database(db_url)
        db.create_all()
        c.create_users(db, [USER, IDLE])
        cal_fill, cal_id, cal_size = fill_calendar(db, n)
        template = c.Template(f"{USER}@{c.DOMAIN}", HTML_SIZE)
        mail_fill = c.fill_with_store(db, USER, n, template, batch=BATCH)
        db.dispose()
        print(f"filled {n:,} events in {cal_fill:.1f} s ({cal_size:,} bytes stored each, calendar ServerId {cal_id}) "
              f"and {n:,} emails in {mail_fill:.1f} s ({len(template.mime):,} bytes MIME, "
              f"{len(template.parsed.body_text):,} bytes plain text each)")

        runs = {"calendar": [], "mail": []}
        with c.Server(db_url, tmp / "easlab.server.log") as server, c.http_client(server) as client:
            print(f"server pid {server.pid} at {server.eas_url}")
            for r in range(args.repeats):
                # Alternate which goes first, so neither always meets a warmer (or busier) machine.
                for what in (("calendar", "mail") if r % 2 == 0 else ("mail", "calendar")):
                    run = initial_sync(client, server, f"bench{what}{r}", cal_id if what == "calendar" else "1")
                    check_adds(run, n, what)
                    del run["adds"]
                    runs[what].append(run)
                    print(f"  {what:8} run {r + 1}: {n:,} Adds in {run['pages']} pages, {run['seconds']:.2f} s = "
                          f"{n / run['seconds']:,.0f} items/s; server CPU {run['cpu']:.2f} s, client decode "
                          f"{run['decode_s']:.2f} s, {run['bytes'] / 1e6:.1f} MB")

            fb = {USER: [], IDLE: []}
            last, busy_digits = 0.0, ""
            for r in range(FB_WARMUP + FB_ROUNDS):
                for name in ((USER, IDLE) if r % 2 == 0 else (IDLE, USER)):
                    time.sleep(max(0.0, last + SPACING - time.perf_counter()))
                    seconds, digits = free_busy(client, f"{name}@{c.DOMAIN}")
                    last = time.perf_counter()
                    if len(digits) != FB_SLOTS or (name == USER and "2" not in digits) or (name == IDLE and set(digits) != {"0"}):
                        raise SystemExit(f"FAIL: MergedFreeBusy of {name}: {digits!r}")
                    if r >= FB_WARMUP:
                        fb[name].append(seconds)
                    busy_digits = digits if name == USER else busy_digits
            print(f"  free/busy: {USER}@ has {busy_digits.count('2')} of {FB_SLOTS} slots busy, {IDLE}@ none")

        def fig(what, key):
            values = [run[key] for run in runs[what]]
            return min(values), statistics.median(values)

        cal_best, cal_med = fig("calendar", "seconds")
        mail_best, mail_med = fig("mail", "seconds")
        cpu = {w: statistics.median(run["cpu"] for run in runs[w]) for w in runs}
        dec = {w: statistics.median(run["decode_s"] for run in runs[w]) for w in runs}
        mb = {w: runs[w][0]["bytes"] / 1e6 for w in runs}
        fb_med = {name: statistics.median(v) for name, v in fb.items()}
        load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
        print(f"calendar: best {n / cal_best:,.0f} items/s, median {n / cal_med:,.0f}; mail: best {n / mail_best:,.0f} "
              f"items/s, median {n / mail_med:,.0f}; ratio calendar/mail {mail_best / cal_best:.2f} (median "
              f"{mail_med / cal_med:.2f}); server CPU median {cpu['calendar']:.2f} s / {cpu['mail']:.2f} s")
        print(f"free/busy (7 days): {n:,} series median {fb_med[USER] * 1000:.1f} ms, empty calendar median "
              f"{fb_med[IDLE] * 1000:.1f} ms, ratio {fb_med[USER] / fb_med[IDLE]:.1f} (load average {load})")
        if not args.no_record:
            c.record(TITLE, INTRO, COLUMNS, [
                c.utc_now(), f"`{c.command_line('pim_sync.py')}`", tree, f"{n:,}", str(args.repeats),
                f"{cal_size / 1024:.1f} / {len(template.mime) / 1024:.1f}", f"{mb['calendar']:.1f} / {mb['mail']:.1f}",
                f"{n / cal_best:,.0f} ({n / cal_med:,.0f})", f"{n / mail_best:,.0f} ({n / mail_med:,.0f})",
                f"{mail_best / cal_best:.2f} ({mail_med / cal_med:.2f})", f"{cpu['calendar']:.2f} / {cpu['mail']:.2f}",
                f"{dec['calendar']:.2f} / {dec['mail']:.2f}", f"{fb_med[USER] * 1000:.1f}", f"{fb_med[IDLE] * 1000:.1f}",
                f"{fb_med[USER] / fb_med[IDLE]:.1f}", f"{cal_fill:.1f} / {mail_fill:.1f}", load, c.python_version(),
            ])
            print(f"appended to {c.RESULTS.relative_to(c.ROOT)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
