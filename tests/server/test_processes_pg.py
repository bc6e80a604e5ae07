"""More than one `easlab serve` on one PostgreSQL store (issue 16 point 6), as real processes.

What one process commits wakes the requests the other holds (LISTEN/NOTIFY, server/pgnotify.py):
mail taken in by SMTP on B answers a Ping held on A, an Allow through B's API releases a
quarantined device's Ping held on A, and a device whose requests alternate keeps one sync state.
`--workers 2` serves on shared ports and stops on SIGTERM; on SQLite it is refused.  Every wait is
on something observable (a line, a long-poll, a response), never a sleep.
"""
from __future__ import annotations

import asyncio
import base64
import os
import signal
import smtplib
import subprocess
import uuid
from contextlib import ExitStack
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import create_engine, text

from easlab.eas.wbxml import E
from easlab.server.admin import SHELL, Admin
from easlab.storage import Database
from easlab.storage.db import normalise_url
from easlab.storage.users import add_user
from tests.server.eas_helpers import Raw, collection, commands, message, provision
from tests.server.live import EASLAB, served

pytestmark = pytest.mark.anyio
A = "AirSync"
ADMIN = ("ops", "ops-secret")
PING = E("Ping:Ping", E("Ping:HeartbeatInterval", 300),
         E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))


@pytest.fixture
def store():
    """A PostgreSQL URL whose connections work in a new schema holding alice and an org-admin."""
    base = os.environ.get("EASLAB_TEST_PG_URL")
    assert base, "EASLAB_TEST_PG_URL is not set: run the suite through .ci/run, which starts PostgreSQL"
    base = normalise_url(base)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
    db = Database(url)
    db.create_all()
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
        add_user(session, ADMIN[0], ADMIN[1], "Ops", role="org-admin")
    try:
        yield url, db
    finally:
        db.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def base_of(eas_url: str) -> str:
    return eas_url.rsplit("/", 1)[0]


def auth() -> dict:
    return {"Authorization": "Basic " + base64.b64encode(":".join(ADMIN).encode()).decode()}


async def until_held(client: httpx.AsyncClient, ping: asyncio.Task, device: str = "dev1") -> None:
    """Once the server behind `client` holds the Ping of `device` (its /api/wait/ping long-poll)."""
    r = await client.get("/api/wait/ping", params={"user": "alice", "device_id": device, "timeout": 20},
                         headers=auth(), timeout=30)
    assert r.status_code == 200, (r.text, ping.done() and ping.result())


def smtp_deliver(port: int, subject: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("bob@example.net", ["alice@easlab.test"],
                               message(subject=subject).replace(b"\n", b"\r\n")) == {}


def sync(key: str, *extra) -> E:
    return E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:SyncKey", key),
                                                  E(f"{A}:CollectionId", "1"), *extra)))


@pytest.fixture
def pair(store):
    """Two `easlab serve` processes on the store: ((eas_url, smtp_port) of A, of B)."""
    url, _db = store
    with ExitStack() as stack:
        first = stack.enter_context(served(url))
        second = stack.enter_context(served(url))
        yield first[:2], second[:2]


async def test_mail_taken_in_by_b_answers_a_ping_held_by_a(pair):
    (a_url, _), (_, b_smtp) = pair
    async with httpx.AsyncClient(base_url=base_of(a_url)) as a:
        dev = Raw(a)
        await provision(dev)
        await dev.folder_sync("0")
        key = collection(await dev.call("Sync", sync("0"))).text(f"{A}:SyncKey")
        assert (await dev.post("Sync", sync(key))).content == b""  # the initial sync done: nothing to send
        ping = asyncio.create_task(dev.call("Ping", PING))
        await until_held(a, ping)
        await asyncio.to_thread(smtp_deliver, b_smtp, "through B")
        answer = await asyncio.wait_for(ping, 20)  # the heartbeat is 300 s: only a wake answers
        assert answer.text("Ping:Status") == "2"
        assert [f.value for f in answer.find("Ping:Folders").children] == ["1"]
        got = commands(await dev.call("Sync", sync(key)))
        assert [(kind, subject) for kind, _, subject in got] == [("Add", "through B")]


async def test_allow_through_b_releases_the_mail_of_a_ping_held_by_a(pair, store):
    (a_url, _), (b_url, b_smtp) = pair
    Admin(store[1], notify=lambda event: None).org_set(SHELL, default_access="quarantine")
    async with httpx.AsyncClient(base_url=base_of(a_url)) as a, httpx.AsyncClient(base_url=base_of(b_url)) as b:
        dev = Raw(a)
        await provision(dev)
        await dev.folder_sync("0")
        key = collection(await dev.call("Sync", sync("0"))).text(f"{A}:SyncKey")
        resp = await dev.call("Sync", sync(key))
        assert [s for _, _, s in commands(resp)] == ["Your device is quarantined (iPhone15,2)"]
        key = collection(resp).text(f"{A}:SyncKey")
        await asyncio.to_thread(smtp_deliver, b_smtp, "withheld")
        ping = asyncio.create_task(dev.call("Ping", PING))
        await until_held(a, ping)
        r = await b.post("/api/devices/alice/dev1/allow", headers=auth())
        assert r.status_code == 200, r.text
        answer = await asyncio.wait_for(ping, 20)
        assert answer.text("Ping:Status") == "7"  # the access change ends the hold; FolderSync comes next
        dev.client = b
        got = commands(await dev.call("Sync", sync(key)))
        assert [(kind, subject) for kind, _, subject in got] == [("Add", "withheld")]


async def test_a_device_alternating_between_processes_keeps_one_sync_state(pair):
    (a_url, a_smtp), (b_url, b_smtp) = pair
    for n, port in enumerate((a_smtp, b_smtp, a_smtp)):
        await asyncio.to_thread(smtp_deliver, port, f"mail {n}")
    async with httpx.AsyncClient(base_url=base_of(a_url)) as a, httpx.AsyncClient(base_url=base_of(b_url)) as b:
        dev = Raw(a)
        await provision(dev)
        await dev.folder_sync("0")
        dev.client = b
        key = collection(await dev.call("Sync", sync("0"))).text(f"{A}:SyncKey")
        seen = []
        for client in (a, b, a):
            dev.client = client
            resp = await dev.call("Sync", sync(key, E(f"{A}:WindowSize", 1)))
            seen += [subject for _, _, subject in commands(resp)]
            key = collection(resp).text(f"{A}:SyncKey")
        assert sorted(seen) == ["mail 0", "mail 1", "mail 2"]
        dev.client = b  # the last key handed out by A is the one B knows
        assert (await dev.post("Sync", sync(key))).content == b""


def test_two_workers_start_serve_and_stop(store):
    url, db = store
    proc = subprocess.Popen([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--db", url, "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while not lines or not lines[-1].startswith("easlab: 2 workers"):
            line = proc.stdout.readline()
            assert line, "".join(lines) + proc.stderr.read()
            lines.append(line)
        eas_url, smtp_port = lines[0].split()[-1], int(lines[1].rsplit(":", 1)[1])
        pids = [int(p) for p in lines[-1].split("pids ")[1].rstrip(")\n").split()]
        assert len(pids) == 2 and proc.pid not in pids
        for n in range(4):
            smtp_deliver(smtp_port, f"worker mail {n}")
        with httpx.Client(base_url=base_of(eas_url)) as client:
            answers = [client.get("/healthz").json() for _ in range(8)]
        assert answers == [{"status": "ready", "store": "ok", "smtp": "ok"}] * 8
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        for pid in pids:
            assert not os.path.exists(f"/proc/{pid}"), f"worker {pid} outlived the parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    with db.session() as session:
        subjects = session.execute(text("SELECT subject FROM item WHERE subject LIKE 'worker mail %'")).scalars()
        assert sorted(subjects) == [f"worker mail {n}" for n in range(4)]


def test_workers_on_sqlite_are_refused(tmp_path):
    db = f"sqlite:///{tmp_path / 'one.db'}"
    result = subprocess.run([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--db", db, "--workers", "2"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "Error: --workers 2 needs PostgreSQL: SQLite takes one writing process; serve with "
        "--db postgresql://USER@HOST/DB, or drop --workers"]
    assert not (tmp_path / "one.db").exists()  # refused before anything was made


def test_workers_with_the_test_clock_are_refused(tmp_path):
    # Each worker would keep its own clock, and /api/clock would move whichever one answered.
    result = subprocess.run([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--db", "postgresql://easlab@127.0.0.1:1/none",
                             "--workers", "2", "--test-clock"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.strip().splitlines() == [
        "Error: --test-clock is one process's clock, moved through its own API: drop --workers 2 or --test-clock"]
