"""Shared pieces of the server benchmarks (sync_initial, sync_incremental, ping_hold).

- `Server`: `easlab serve --port 0 --smtp-port 0 --db URL` as a child process, its URLs and RSS;
- mailbox filling: realistic MIME messages (HTML + plain alternative) written through
  `storage.mailbox.store_message`, or, for large folders, the same rows through SQLAlchemy Core;
- EAS request pieces: query string, headers, Sync and Ping trees;
- a minimal HTTP/1.1 client on asyncio streams (for thousands of connections);
- SMTP with a timestamp taken just before the message data is written;
- percentiles and the bench/RESULTS.md writer.

Everything talks to 127.0.0.1 only.
"""
from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import json
import math
import os
import re
import select
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "RESULTS.md"
EASLAB = ROOT / ".venv" / "bin" / "easlab"
DOMAIN = "easlab.test"
PASSWORD = "bench-secret"
EAS_PATH = "/Microsoft-Server-ActiveSync"
WBXML_TYPE = "application/vnd.ms-sync.wbxml"


# -- the server process ------------------------------------------------------------------------
class Server:
    """`easlab serve` on free ports; reads the EAS URL (first stdout line) and the SMTP address."""

    def __init__(self, db_url: str, log_path: Path, log_level: str = "warning", extra_args=(), root: Path | None = None):
        self.db_url = db_url
        self.extra_args = list(extra_args)  # e.g. ["--workers", "2"]
        self.root = root  # the tree whose code serves (another checkout: a before/after run); None: ROOT
        self.log_path = log_path
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self.eas_url = ""
        self.host = "127.0.0.1"
        self.port = 0
        self.smtp_port = 0

    def start(self, timeout: float = 60.0) -> Server:
        self._log = open(self.log_path, "wb")
        root = Path(self.root) if self.root else ROOT
        easlab = root / ".venv" / "bin" / "easlab" if self.root else EASLAB
        self.proc = subprocess.Popen(
            [str(easlab), "serve", "--host", "127.0.0.1", "--port", "0", "--smtp-port", "0",
             "--db", self.db_url, "--log-level", self.log_level, *self.extra_args],
            cwd=str(root), stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
            # The code of that tree, whatever the venv's editable install points at.
            env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))},
        )
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        buffer = b""
        while not (self.eas_url and self.smtp_port):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"easlab serve did not start: stdout {lines!r}; log:\n{self.log_tail()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                continue
            buffer += chunk
            while b"\n" in buffer:
                raw, buffer = buffer.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").strip()
                lines.append(line)
                if len(lines) == 1:
                    if "EAS endpoint " not in line:
                        self.stop()
                        raise RuntimeError(f"unexpected first line from easlab serve: {line!r}")
                    self.eas_url = line.split("EAS endpoint ", 1)[1].strip()
                    hostport = self.eas_url.split("://", 1)[1].split("/", 1)[0]
                    self.host, port = hostport.rsplit(":", 1)
                    self.port = int(port)
                elif line.startswith("easlab: SMTP on "):
                    self.smtp_port = int(line.rsplit(":", 1)[1])
        if self.host != "127.0.0.1":
            self.stop()
            raise RuntimeError(f"server is not on 127.0.0.1: {self.eas_url}")
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kb(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the server process, in kB."""
        return proc_status_kb(self.pid)

    def cpu_seconds(self) -> float:
        return proc_cpu_seconds(self.pid)

    def pids(self) -> list[int]:
        """The serving process and its children (the workers of `--workers N`)."""
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as fh:
                return [self.pid, *map(int, fh.read().split())]
        except OSError:
            return [self.pid]

    def total_rss_kb(self) -> int:
        """VmRSS summed over `pids()`, in kB."""
        return sum(proc_status_kb(pid)["VmRSS"] for pid in self.pids())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; only this child, by its pid."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        self._log.close()
        self.proc = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def proc_status_kb(pid: int) -> dict[str, int]:
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_cpu_idle(pid: int, quiet: float = 1.0, limit: float = 120.0, threshold: float = 0.02) -> float:
    """Block until process `pid` used less than `threshold` CPU-seconds over `quiet` seconds, at
    most `limit` seconds; returns the time waited."""
    start = time.monotonic()
    last = proc_cpu_seconds(pid)
    while time.monotonic() - start < limit:
        time.sleep(quiet)
        now = proc_cpu_seconds(pid)
        if now - last < threshold:
            break
        last = now
    return time.monotonic() - start


# -- messages ----------------------------------------------------------------------------------
_PARAGRAPH = (
    "<p>Hello team,</p><p>Please find below the minutes of this week's review. We went through the "
    "open items of the migration plan, agreed on the cut-over window and assigned owners for the "
    "remaining tasks. The mailbox move for the finance group starts on Monday; devices will have to "
    "re-sync their folders once the move has completed.</p><table border=\"1\" cellpadding=\"4\">"
    "<tr><th>Site</th><th>Mailboxes</th><th>Devices</th><th>Status</th></tr>"
    "<tr><td>Berlin</td><td>1&nbsp;204</td><td>1&nbsp;877</td><td><b>done</b></td></tr>"
    "<tr><td>Lyon</td><td>612</td><td>944</td><td><i>in progress</i></td></tr></table>"
    "<ul><li>Action: confirm the maintenance window with the service desk</li>"
    "<li>Action: send the user notice by Thursday noon</li></ul>\n"
)


def html_body(size: int) -> str:
    head = ("<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">"
            "<style>p{font-family:Calibri,sans-serif;font-size:11pt}</style></head><body>\n")
    tail = "<p>Regards,<br>Alex Example<br>IT Operations</p></body></html>\n"
    parts = [head]
    n = 0
    while sum(map(len, parts)) + len(tail) < size:
        n += 1
        parts.append(f"<!-- section {n} -->{_PARAGRAPH}")
    parts.append(tail)
    return "".join(parts)


def make_message(to: str, subject: str, html_size: int, date: dt.datetime | None = None,
                 sender: str = "Alex Example <alex@example.net>") -> bytes:
    """A multipart/alternative message: a plain part and an HTML part of about `html_size` bytes."""
    from easlab.eas.mime import html_to_text

    html = html_body(html_size)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = make_msgid(domain="example.net")
    msg.set_content(html_to_text(html))
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


class Template:
    """One message parsed once, then varied by subject, Message-ID and date (cheap per copy)."""

    SUBJECT = "Weekly review minutes #000000000"
    MSGID = "<bench-000000000@example.net>"

    def __init__(self, to: str, html_size: int):
        from easlab.eas.mime import parse_message

        base = make_message(to, self.SUBJECT, html_size)
        head, sep, body = base.partition(b"\n\n")
        lines = [ln for ln in head.split(b"\n") if not ln.lower().startswith((b"message-id:", b"date:"))]
        lines.append(b"Message-ID: " + self.MSGID.encode())
        lines.append(b"Date: Mon, 01 Jan 2024 00:00:00 +0000")
        self.mime = b"\n".join(lines) + sep + body
        self.parsed = parse_message(self.mime)
        assert self.parsed.subject == self.SUBJECT, self.parsed.subject
        assert self.parsed.body_html and self.parsed.body_text

    def copy(self, n: int, when: dt.datetime):
        """(mime, parsed) of message number `n` received at `when`."""
        from easlab.eas.mime import conversation_id, conversation_index

        subject = f"Weekly review minutes #{n:09d}"
        mime = (self.mime.replace(self.SUBJECT.encode(), subject.encode(), 1)
                .replace(self.MSGID.encode(), f"<bench-{n:09d}@example.net>".encode(), 1)
                .replace(b"Date: Mon, 01 Jan 2024 00:00:00 +0000", b"Date: " + format_datetime(when).encode(), 1))
        cid = conversation_id(subject)
        parsed = dataclasses.replace(self.parsed, subject=subject, thread_topic=subject, date=when,
                                     message_id=f"<bench-{n:09d}@example.net>", conversation_id=cid,
                                     conversation_index=conversation_index(cid, when))
        return mime, parsed


def create_users(db, names: list[str]) -> dict[str, int]:
    """Users with PASSWORD and their default folders (storage.users.add_user), in one
    transaction; returns name -> Inbox folder id."""
    from easlab.storage.mailbox import folder_by_type
    from easlab.storage.users import add_user

    inboxes = {}
    with db.session() as session:
        for name in names:
            user = add_user(session, name, PASSWORD)
            inboxes[name] = folder_by_type(session, user, 2).id
    return inboxes


def fill_with_store(db, user_name: str, count: int, template: Template, batch: int = 1000) -> float:
    """`count` messages into the user's Inbox through storage.mailbox.store_message, `batch` per
    transaction; returns seconds."""
    from easlab.storage.mailbox import folder_by_type, store_message
    from easlab.storage.users import get_user

    start = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    done = 0
    while done < count:
        with db.session() as session:
            user = get_user(session, user_name)
            inbox = folder_by_type(session, user, 2)
            for n in range(done, min(count, done + batch)):
                mime, parsed = template.copy(n, now - dt.timedelta(minutes=count - n))
                store_message(session, inbox, mime, parsed=parsed)
            done = min(count, done + batch)
    return time.perf_counter() - start


def fill_with_core(db, user_name: str, count: int, template: Template, batch: int = 5000) -> float:
    """`count` messages into the user's Inbox: the first through store_message (the reference
    row), the rest as Core INSERTs of Item and ItemChange rows built from that row's column values,
    with ids, ServerIds and change numbers as store_message assigns them, and Folder.change_seq
    moved on to match.  Returns seconds."""
    from sqlalchemy import insert, select, update

    from easlab.storage.mailbox import folder_by_type, store_message
    from easlab.storage.models import Folder, Item, ItemChange
    from easlab.storage.users import get_user

    start = time.perf_counter()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    item_cols = [c.name for c in Item.__table__.columns]
    change_cols = [c.name for c in ItemChange.__table__.columns]
    with db.session() as session:
        user = get_user(session, user_name)
        inbox = folder_by_type(session, user, 2)
        mime, parsed = template.copy(0, now - dt.timedelta(minutes=count))
        first = store_message(session, inbox, mime, parsed=parsed)
        session.flush()
        folder_id, folder_sid = inbox.id, inbox.server_id
    with db.engine.begin() as conn:
        ref = dict(conn.execute(select(Item.__table__).where(Item.__table__.c.id == first.id)).mappings().one())
        ref_change = dict(conn.execute(select(ItemChange.__table__).where(ItemChange.__table__.c.item_id == first.id)).mappings().one())
        seq = conn.execute(select(Folder.__table__.c.change_seq).where(Folder.__table__.c.id == folder_id)).scalar_one()
        next_id = conn.execute(select(Item.__table__.c.id).order_by(Item.__table__.c.id.desc()).limit(1)).scalar_one() + 1
    assert ref["server_id"] == f"{folder_sid}:{ref['id']}" and ref["created_seq"] == ref_change["seq"] == seq
    done = 1
    while done < count:
        items, changes = [], []
        for n in range(done, min(count, done + batch)):
            seq += 1
            mime, parsed = template.copy(n, now - dt.timedelta(minutes=count - n))
            row = dict(ref)
            row.update(id=next_id, server_id=f"{folder_sid}:{next_id}", subject=parsed.subject,
                       thread_topic=parsed.thread_topic, conversation_id=parsed.conversation_id,
                       conversation_index=parsed.conversation_index, mime=mime, size=len(mime),
                       date_received=parsed.date, created_seq=seq, modified_seq=seq)
            items.append({k: row[k] for k in item_cols})
            change = dict(ref_change)
            change.update(id=None, seq=seq, item_id=next_id, server_id=row["server_id"], at=dt.datetime.now(dt.timezone.utc))
            changes.append({k: change[k] for k in change_cols if k != "id"})
            next_id += 1
        with db.engine.begin() as conn:
            conn.execute(insert(Item.__table__), items)
            conn.execute(insert(ItemChange.__table__), changes)
            conn.execute(update(Folder.__table__).where(Folder.__table__.c.id == folder_id).values(change_seq=seq))
        done = min(count, done + batch)
    return time.perf_counter() - start


def clone_devices(db, templates: dict[str, str], names, ping: tuple[int, list] | None = None) -> int:
    """Devices as if each had done what its user's template device did (FolderSync, Sync 0, Sync
    and a Ping): a copy of the template's Device row (last seen now) and SyncState rows under a
    new DeviceId.  `templates`: user -> template DeviceId; `names(user)`: the new DeviceIds;
    `ping`: (heartbeat, folders) of a last Ping, stored in the template and every copy.
    Thousands of devices in seconds instead of two HTTP requests each; returns the count."""
    import datetime as _dt

    from sqlalchemy import insert, select, update

    from easlab.storage.models import Device, SyncState, User

    dev, state, user_t = Device.__table__, SyncState.__table__, User.__table__
    now = _dt.datetime.now(_dt.timezone.utc)
    made = 0
    with db.engine.begin() as conn:
        for user, template in templates.items():
            row = dict(conn.execute(select(dev).join(user_t, user_t.c.id == dev.c.user_id)
                                    .where(user_t.c.name == user, dev.c.device_id == template)).mappings().one())
            if ping is not None:
                row.update(ping_heartbeat=ping[0], ping_folders=ping[1])
                conn.execute(update(dev).where(dev.c.id == row["id"]).values(ping_heartbeat=ping[0], ping_folders=ping[1]))
            states = [dict(r) for r in conn.execute(select(state).where(state.c.device_pk == row["id"])).mappings()]
            new = list(names(user))
            base = {k: v for k, v in row.items() if k != "id"}
            conn.execute(insert(dev), [{**base, "device_id": name, "last_sync": now} for name in new])
            pks = conn.execute(select(dev.c.id).where(dev.c.user_id == row["user_id"], dev.c.device_id.in_(new))).scalars().all()
            if states:
                conn.execute(insert(state), [{**{k: v for k, v in st.items() if k != "id"}, "device_pk": pk}
                                             for pk in pks for st in states])
            made += len(pks)
    return made


# -- EAS requests ------------------------------------------------------------------------------
def query(command: str, user: str, device: str, device_type: str = "iPhone") -> str:
    return f"{EAS_PATH}?Cmd={command}&User={user}&DeviceId={device}&DeviceType={device_type}"


def headers(user: str, password: str = PASSWORD) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode(),
        "MS-ASProtocolVersion": "14.1",
        "Content-Type": WBXML_TYPE,
        "User-Agent": "easlab-bench/1",
    }


def sync_request(key: str, collection: str = "1", window: int | None = None, options=None):
    """Sync{Collections{Collection{SyncKey CollectionId [WindowSize] [Options]}}} as WBXML bytes."""
    from easlab.eas.wbxml import E, encode

    return encode(E("AirSync:Sync", E("AirSync:Collections", E(
        "AirSync:Collection", E("AirSync:SyncKey", key), E("AirSync:CollectionId", collection),
        E("AirSync:WindowSize", window) if window is not None else None, options))))


def html_options(truncation: int = 5120):
    """Options{BodyPreference{Type 2, TruncationSize}} (HTML bodies, truncated)."""
    from easlab.eas.wbxml import E

    return E("AirSync:Options", E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 2),
                                  E("AirSyncBase:TruncationSize", truncation)))


def ping_request(heartbeat: int = 900, folders=(("1", "Email"),)) -> bytes:
    from easlab.eas.wbxml import E, encode

    return encode(E("Ping:Ping", E("Ping:HeartbeatInterval", heartbeat), E("Ping:Folders", *[
        E("Ping:Folder", E("Ping:Id", fid), E("Ping:Class", cls)) for fid, cls in folders])))


def sync_collection(tree):
    """The first Collection of a decoded Sync response (None for an empty response)."""
    if tree is None:
        return None
    collections = tree.find("AirSync:Collections")
    return collections.find("AirSync:Collection") if collections is not None else None


def initial_download(client, user: str, device: str, collection: str, options, window: int) -> dict:
    """What a phone does on first contact with a folder, over HTTP: FolderSync 0, Sync 0 with
    `options`, then Sync with WindowSize `window` until no MoreAvailable.  Returns seconds, the
    client's own WBXML decoding time inside them, response bytes, pages and every command element
    (checked by the caller after the clock stops)."""
    from easlab.eas.wbxml import E, decode, encode

    hdrs = headers(user)
    timing = {"decode_s": 0.0, "bytes": 0}

    def post(command: str, body: bytes):
        r = client.post(query(command, user, device), content=body, headers=hdrs)
        if r.status_code != 200:
            raise SystemExit(f"{device} {command}: HTTP {r.status_code}")
        timing["bytes"] += len(r.content)
        t = time.perf_counter()
        tree = decode(r.content) if r.content else None
        timing["decode_s"] += time.perf_counter() - t
        return tree

    start = time.perf_counter()
    folders = post("FolderSync", encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))))
    if folders is None or folders.text("FolderHierarchy:Status") != "1":
        raise SystemExit(f"FolderSync failed: {folders}")
    coll = sync_collection(post("Sync", sync_request("0", collection, options=options)))
    if coll is None or coll.text("AirSync:Status") != "1":
        raise SystemExit(f"Sync 0 of {collection} failed: {coll}")
    key, pages, commands = coll.text("AirSync:SyncKey"), 0, []
    while True:
        coll = sync_collection(post("Sync", sync_request(key, collection, window=window)))
        pages += 1
        if coll is None:
            break  # empty response: nothing (more) to send
        if coll.text("AirSync:Status") != "1":
            raise SystemExit(f"Sync page {pages} of {collection}: status {coll.text('AirSync:Status')}")
        key = coll.text("AirSync:SyncKey")
        found = coll.find("AirSync:Commands")
        commands += found.children if found is not None else []
        if coll.find("AirSync:MoreAvailable") is None:
            break
        if pages > 10_000:
            raise SystemExit("more than 10,000 pages: giving up")
    return {"seconds": time.perf_counter() - start, "pages": pages, "commands": commands, **timing}


def http_client(server: Server, timeout: float = 300.0):
    """An httpx.Client on one keep-alive connection to `server`, with TCP_NODELAY: httpx writes a
    request's headers and body in two sends, and with Nagle on, the body waits for the server's
    delayed ACK of the headers (up to 40 ms on Linux), which would be measured as server time."""
    import socket

    import httpx

    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    return httpx.Client(base_url=f"http://{server.host}:{server.port}", timeout=timeout, transport=transport)


# -- a minimal HTTP/1.1 client on asyncio streams ----------------------------------------------
class HTTPError(Exception):
    pass


def build_request(host: str, port: int, path: str, hdrs: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in hdrs.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response: (status, lower-cased headers, body); Content-Length or chunked."""
    status_line = await reader.readline()
    if not status_line:
        raise HTTPError("connection closed before a response")
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HTTPError(f"bad status line {status_line!r}")
    status = int(parts[1])
    hdrs: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            break
        if not line:
            raise HTTPError("connection closed inside the headers")
        name, _, value = line.decode("latin-1").partition(":")
        hdrs[name.strip().lower()] = value.strip()
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int((await reader.readline()).split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        return status, hdrs, bytes(body)
    if "content-length" in hdrs:
        return status, hdrs, await reader.readexactly(int(hdrs["content-length"]))
    if status in (204, 304) or 100 <= status < 200:
        return status, hdrs, b""
    raise HTTPError(f"response {status} without Content-Length or chunked body")


class Connection:
    """One keep-alive HTTP/1.1 connection: requests one after another."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> Connection:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 22)
        return self

    async def send(self, path: str, hdrs: dict[str, str], body: bytes) -> None:
        self.writer.write(build_request(self.host, self.port, path, hdrs, body))
        await self.writer.drain()

    async def request(self, path: str, hdrs: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        await self.send(path, hdrs, body)
        return await read_response(self.reader)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
            self.writer = None


# -- SMTP --------------------------------------------------------------------------------------
def smtp_send(port: int, rcpt: str, data: bytes, host: str = "127.0.0.1", sender: str = "alex@example.net",
              on_open=None) -> tuple[float, float]:
    """Send one message; returns (t_data, t_done) in time.perf_counter() seconds: t_data is taken
    after the server's 354 to DATA, just before the message and its final "." are written; t_done
    when the server's 250 for it has been read.  `on_open(smtp)` is called once connected (not timed)."""
    with smtplib.SMTP(host, port, timeout=60) as smtp:
        smtp.ehlo("bench.example.net")
        if on_open is not None:
            on_open(smtp)
        code, reply = smtp.mail(sender)
        if code != 250:
            raise RuntimeError(f"MAIL FROM: {code} {reply!r}")
        code, reply = smtp.rcpt(rcpt)
        if code not in (250, 251):
            raise RuntimeError(f"RCPT TO <{rcpt}>: {code} {reply!r}")
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            raise RuntimeError(f"DATA: {code} {reply!r}")
        lines = re.split(rb"\r\n|\n|\r", data)
        if lines and lines[-1] == b"":
            lines.pop()
        payload = b"".join((b"." + ln if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)
        t_data = time.perf_counter()
        smtp.send(payload + b".\r\n")
        code, reply = smtp.getreply()
        t_done = time.perf_counter()
        if code != 250:
            raise RuntimeError(f"end of DATA: {code} {reply!r}")
    return t_data, t_done


# -- figures and RESULTS.md ---------------------------------------------------------------------
def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def record(title: str, intro: str, columns: list[str], cells: list[str]) -> None:
    """Add one table row to the `## title` section of bench/RESULTS.md, creating the section
    (heading, `intro` paragraph, table header) at the end of the file the first time."""
    row = "| " + " | ".join(cells) + " |\n"
    text = RESULTS.read_text("utf-8") if RESULTS.exists() else ""
    heading = f"## {title}\n"
    lines = text.splitlines(keepends=True)
    if heading not in lines:
        table = "| " + " | ".join(columns) + " |\n" + "|" + "---|" * len(columns) + "\n"
        block = ("\n" if text and not text.endswith("\n\n") else "") + heading + "\n" + intro.strip() + "\n\n" + table + row
        with RESULTS.open("a", encoding="utf-8") as out:
            if text and not text.endswith("\n"):
                out.write("\n")
            out.write(block)
        return
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    last_row = max(i for i in range(start, end) if lines[i].startswith("|"))
    if last_row == len(lines) - 1:
        with RESULTS.open("a", encoding="utf-8") as out:
            if not text.endswith("\n"):
                out.write("\n")
            out.write(row)
        return
    lines.insert(last_row + 1, row)
    RESULTS.write_text("".join(lines), encoding="utf-8")


def command_line(script: str) -> str:
    """The command as run, relative to the repository root: `.venv/bin/python bench/X.py ARGS`."""
    import shlex

    return " ".join([".venv/bin/python", f"bench/{script}", *map(shlex.quote, sys.argv[1:])])


def tree_state() -> str:
    """Short HEAD commit, "+dirty" when eas/, server/ or storage/ have uncommitted changes (other
    people edit this tree while benchmarks run)."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "eas", "server", "storage"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def python_version() -> str:
    import platform

    return platform.python_version()


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, default=str)
