"""A Ping taken in by a known, synced device reads little and writes nothing (issue 16 point 3):
ten thousand devices reconnecting at once must be held within seconds, not queue one by one for
SQLite's writer."""
from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import anyio.from_thread
import anyio.to_thread
import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, Element
from easlab.server.admin import SHELL, Admin
from easlab.server import trips as trips_module
from easlab.server.config import Settings
from easlab.server.store.sync import KeptPing
from easlab.storage import generations
from easlab.storage.models import Device
from tests.conftest import until_held
from tests.server.eas_helpers import Raw, collection, message, provision, provisioned_alice
from tests.server.test_gate_memory import Peeks, Statements

pytestmark = pytest.mark.anyio
P, A = "Ping", "AirSync"


def ping(heartbeat: int = 300) -> E:
    return E(f"{P}:Ping", E(f"{P}:HeartbeatInterval", heartbeat),
             E(f"{P}:Folders", E(f"{P}:Folder", E(f"{P}:Id", "1"), E(f"{P}:Class", "Email"))))


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test")


@pytest.fixture
async def lab(settings, db):
    """(app, device) with the Inbox synced and one Ping held and ended: the device's usual Ping is known."""
    async with provisioned_alice(settings, db) as (app, dev):
        await dev.folder_sync("0")
        key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
        await dev.sync(key, "1")
        await held_and_dropped(app, dev)
        yield app, dev


async def held_and_dropped(app, dev, body: E | None = None) -> None:
    """A Ping held, then its connection dropped (the hub lets the waiter go)."""
    task = asyncio.create_task(dev.call("Ping", body or ping()))
    await until_held(app)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    while app.state.hub.held:
        await asyncio.sleep(0)


def last_seen(db):
    with db.session(write=False) as session:
        return session.exec(select(Device.last_sync).where(Device.device_id == "dev1")).one()


async def test_the_same_ping_again_is_held_after_two_reads_and_no_write(lab, db):
    app, dev = lab
    seen = Statements(db)
    await held_and_dropped(app, dev)
    statements = seen.take()
    # The cached Ping, and the check (the folder, its sync state and the change log in one
    # statement), both by the ids the gate noted.  The counters were read once at the door,
    # outside the ORM (test_gate_memory counts that read), the gate decided from memory; the
    # unchanged Ping is not stored again.
    assert len(statements) == 2, statements
    assert statements[0].startswith("SELECT device.ping_heartbeat, device.ping_folders \nFROM device")
    assert statements[1].startswith("SELECT folder.id, folder.type, syncstate.initial_cursor, EXISTS")
    assert "JOIN device ON" in statements[1] and "LEFT OUTER JOIN syncstate ON" in statements[1]


async def test_a_new_interval_is_still_stored(lab, db):
    app, dev = lab
    await held_and_dropped(app, dev, ping(600))
    with db.session(write=False) as session:
        assert session.exec(select(Device.ping_heartbeat).where(Device.device_id == "dev1")).one() == 600


async def test_a_due_last_seen_time_is_written_alone_not_with_the_gate_reads(lab, db):
    app, dev = lab
    before = last_seen(db)
    app.state.clock.advance(120)  # last seen two minutes ago: the time is due again
    seen = Statements(db)
    seen.seen = []
    await held_and_dropped(app, dev)
    everything = seen.seen
    start = everything.index("BEGIN IMMEDIATE")  # the only writing transaction
    assert everything.count("BEGIN IMMEDIATE") == 1
    # The Ping's own reads were made on the door's trip, before it: the write is the last statement.
    assert [s.split()[0] for s in everything[start + 1:]] == ["UPDATE"]
    assert everything[start + 1].startswith("UPDATE device SET last_sync=")
    assert last_seen(db) - before == timedelta(seconds=120)


class Trips:
    """What the request hands to a worker thread (starlette's run_in_threadpool goes through anyio):
    each hand-off and its way back cost a Ping more than the statements it runs.  A trip that
    takes requests together (server/trips.py) is named by what it ran for each: a lone request's
    trip carries its work alone."""

    def __init__(self, monkeypatch):
        self.seen: list[str] = []
        self.trips = 0
        original = anyio.to_thread.run_sync

        async def counted(func, *args, **kwargs):
            self.trips += 1
            inner = getattr(func, "func", func)  # run_in_threadpool hands over a partial
            if inner is trips_module._run_all:
                self.seen.extend(fn.__qualname__ for fn, _, _ in func.args[0])
            else:
                self.seen.append(inner.__qualname__)
            return await original(func, *args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", counted)


async def test_the_same_ping_again_is_taken_in_on_one_thread_trip(lab, monkeypatch):
    app, dev = lab
    trips = Trips(monkeypatch)
    await held_and_dropped(app, dev)
    # The door's trip reads the counters, checks the login and reads the kept Ping with its
    # folder check; the gate decides from memory and the command takes what the door read.
    assert trips.seen == ["Instrument._lookup"] and trips.trips == 1


async def test_a_device_not_in_memory_is_taken_in_on_two_thread_trips(lab, monkeypatch):
    app, dev = lab
    restarted(app)
    trips = Trips(monkeypatch)
    await held_and_dropped(app, dev)
    # The door cannot read ahead for a device it does not know; the gate's trip that finds it
    # reads the kept Ping and the check too.
    assert trips.seen == ["Instrument._lookup", "AccessAdapter._quick_ahead"] and trips.trips == 2
    trips.seen.clear()
    await held_and_dropped(app, dev)
    assert trips.seen == ["Instrument._lookup"]


async def test_pings_arriving_together_are_taken_in_on_one_trip_that_reads_the_counters_once(lab, monkeypatch):
    """A storm's Pings share the door's trip (server/trips.py): one hand-off to a worker thread
    and one read of the access and instrument counters for all of them, each still read ahead."""
    app, dev = lab
    other = Raw(dev.client, device="dev2")
    await provision(other)
    first = asyncio.create_task(other.call("Ping", ping()))  # its usual Ping known, as dev1's
    await until_held(app, "dev2")
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    while app.state.hub.held:
        await asyncio.sleep(0)
    await held_and_dropped(app, dev)  # both in the gate's memory under the counters as they now are
    trips, peeks = Trips(monkeypatch), Peeks(monkeypatch)
    held = [asyncio.create_task(d.call("Ping", ping())) for d in (dev, other)]
    await until_held(app, "dev1")
    await until_held(app, "dev2")
    assert trips.seen == ["Instrument._lookup", "Instrument._lookup"] and trips.trips == 1
    assert peeks.take().count((generations.ACCESS, generations.INSTRUMENT)) == 1
    for task in held:
        task.cancel()
    await asyncio.gather(*held, return_exceptions=True)


async def test_a_ping_read_ahead_still_hears_of_mail_delivered_before_it_was_held(lab):
    """The check read on the door's trip is older than the wait: mail delivered and notified right
    after that read, before the gate and the wait, wakes the wait at once (the hub's tick was noted
    before the door's read), not at the end of the heartbeat."""
    app, dev = lab
    store = app.state.store
    original = store.sync_port.read_kept_ping
    read = []

    def then_deliver(user, device_id, tick):
        found = original(user, device_id, tick)
        read.append(found)
        # still in the door's worker thread: the delivery commits and is notified on the loop now
        anyio.from_thread.run(store.deliver, message(subject="between"), ["alice@easlab.test"])
        return found

    store.sync_port.read_kept_ping = then_deliver
    answer = await asyncio.wait_for(dev.call("Ping", ping()), 5)
    assert read[0] is not None and read[0].check[1][1] == []  # read ahead: nothing pending yet
    assert answer.text(f"{P}:Status") == "2"
    assert [f.value for f in answer.find(f"{P}:Folders").findall(f"{P}:Folder")] == ["1"]


def awaited_frames(task: asyncio.Task) -> list[dict]:
    """The locals of every coroutine frame the task is suspended in, outermost first."""
    frames, coro = [], task.get_coro()
    while coro is not None and getattr(coro, "cr_frame", None) is not None:
        frames.append((coro.cr_code.co_qualname, coro.cr_frame.f_locals))
        coro = coro.cr_await
    return frames


async def test_a_held_ping_keeps_its_watch_list_not_its_request(lab):
    """Ten thousand Pings held for up to an hour each: what their frames hold is held that long.
    The request's decoded tree and the kept request's decoded form are let go once read."""
    app, dev = lab
    task = asyncio.create_task(dev.call("Ping", ping()))
    await until_held(app)
    frames = awaited_frames(task)
    names = [name for name, _ in frames]
    assert "handle" in names and "dispatch" in names and names[-1] == "PushHub.wait", names
    ours = ("Instrument.__call__", "endpoint", "_command", "dispatch", "handle")
    assert [name for name in names if name in ours] == list(ours), names
    kept = {(name, key): type(value).__name__ for name, local in frames for key, value in local.items()
            if name in ours and (isinstance(value, (Element, KeptPing)) or isinstance(value, dict) and key != "scope")}
    assert kept == {}, kept
    assert frames[names.index("handle")][1]["ids"] == ["1"]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def restarted(app) -> None:
    """The serving process forgets every device, as after a restart (the rows stay)."""
    store = app.state.store
    store.access_port.cache.clear()
    store.context.ids.clear()


SHARED = {"orgsettings", "accessrule", "policy"}


def tables(statements: list[str]) -> list[str]:
    return [re.search(r"\bFROM\s+(\w+)", s).group(1) for s in statements if s.startswith("SELECT")]


async def test_a_device_not_in_memory_is_taken_in_on_one_statement_and_no_write(lab, db):
    app, dev = lab
    restarted(app)
    seen = Statements(db)
    seen.seen = []
    await held_and_dropped(app, dev)
    everything = seen.seen
    assert not any(s.startswith(("BEGIN IMMEDIATE", "UPDATE", "INSERT")) for s in everything)
    gate = [s for s in everything if "FROM user JOIN device" in s]
    assert len(gate) == 1  # the device, its user and the counter together
    assert "(SELECT generation.value" in gate[0]
    # The organisation, the rules and the policies: read once for every device under that counter.
    assert sorted(t for t in tables(everything) if t in SHARED) == sorted(SHARED)
    app.state.store.access_port.cache._known.clear()  # noqa: SLF001  (another device, as yet unseen)
    app.state.store.context.ids.clear()
    seen.seen = []
    await held_and_dropped(app, dev)
    assert len([s for s in seen.seen if "FROM user JOIN device" in s]) == 1
    assert not [t for t in tables(seen.seen) if t in SHARED]


async def test_a_due_last_seen_time_of_a_device_not_in_memory_is_written_alone(lab, db):
    app, dev = lab
    before = last_seen(db)
    app.state.clock.advance(120)
    restarted(app)
    seen = Statements(db)
    seen.seen = []
    await held_and_dropped(app, dev)
    writes = [s for s in seen.seen if s.startswith(("UPDATE", "INSERT", "DELETE"))]
    assert len(writes) == 1 and writes[0].startswith("UPDATE device SET last_sync=")
    assert last_seen(db) - before == timedelta(seconds=120)
    app.state.clock.advance(30)  # within the minute: remembered as written, not written again
    seen.seen = []
    await held_and_dropped(app, dev)
    assert not [s for s in seen.seen if s.startswith("UPDATE")]


async def test_a_block_issued_while_the_rules_are_in_memory_reaches_a_device_not_in_memory(lab, db):
    app, dev = lab
    admin = Admin(db, app.state.hub.handle_event, "easlab.test")
    admin.org_set(SHELL, blocked_delay=0)
    await held_and_dropped(app, dev)  # the counter's new value: the shared facts read again, kept
    restarted(app)
    admin.device_block(SHELL, "alice", "dev1")
    r = await dev.post("Ping", ping())
    assert r.headers["X-MS-ASThrottle"] == "Individual"
    with db.session(write=False) as session:
        row = session.exec(select(Device).where(Device.device_id == "dev1")).one()
        assert (row.access_state, row.access_reason) == ("Blocked", "Individual")


async def test_a_ping_of_a_folder_with_new_mail_answers_at_once_from_the_quick_check(lab, db):
    app, dev = lab
    await app.state.store.deliver(message(subject="waiting"), ["alice@easlab.test"])
    answer = await asyncio.wait_for(dev.call("Ping", ping()), 5)
    assert answer.text(f"{P}:Status") == "2"
    assert [f.value for f in answer.find(f"{P}:Folders").findall(f"{P}:Folder")] == ["1"]
    gone = await asyncio.wait_for(dev.call("Ping", E(f"{P}:Ping", E(f"{P}:HeartbeatInterval", 300), E(
        f"{P}:Folders", E(f"{P}:Folder", E(f"{P}:Id", "no-such-folder"), E(f"{P}:Class", "Email"))))), 5)
    assert gone.text(f"{P}:Status") == "7"  # a folder that is gone: the hierarchy changed


def _protocol_for(app):
    """The serving HTTP protocol (server/connections.py, as `easlab serve` runs it) on a fake socket."""
    import uvicorn
    from uvicorn.server import ServerState

    from easlab.server.connections import Addresses, bounded_protocol
    from tests.server.test_connections import Transport

    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    config.load()
    protocol = bounded_protocol(Addresses(10), 30, 65536, 100)(config, ServerState(), {}, _loop=asyncio.get_running_loop())
    transport = Transport("10.0.0.7")
    protocol.connection_made(transport)
    return protocol, transport


def _raw_request(dev, command: str, body: bytes) -> bytes:
    query = f"/Microsoft-Server-ActiveSync?Cmd={command}&User={dev.user}&DeviceId={dev.device}&DeviceType={dev.device_type}"
    headers = {**dev.headers(), "Host": "testserver", "Content-Length": str(len(body))}
    head = f"POST {query} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


async def test_a_held_ping_whose_client_goes_away_is_let_go_at_once(lab):
    """A phone that loses its network mid-Ping: the connection is lost, and the hub lets the held
    Ping go then (it was kept until the heartbeat ended, counted as held, its objects alive), with
    nothing written to the dead socket.  A Ping whose client stays is still held."""
    from easlab.eas.wbxml import encode

    app, dev = lab
    hub = app.state.hub
    protocol, transport = _protocol_for(app)
    protocol.data_received(_raw_request(dev, "Ping", encode(ping())))
    await until_held(app)
    assert hub.held == 1
    protocol.connection_lost(None)
    for _ in range(200):  # loop turns, not time: the wait ends on the next few
        if not hub.held:
            break
        await asyncio.sleep(0)
    assert hub.held == 0
    assert bytes(transport.written) == b""

    staying, transport = _protocol_for(app)
    staying.data_received(_raw_request(dev, "Ping", encode(ping())))
    await until_held(app)
    for _ in range(50):
        await asyncio.sleep(0)
    assert hub.held == 1 and bytes(transport.written) == b""
    hub.notify_hierarchy(1)  # alice's folders changed: the Ping is answered on its living connection
    for _ in range(200):
        if transport.written:
            break
        await asyncio.sleep(0)
    assert bytes(transport.written).startswith(b"HTTP/1.1 200 ")


async def test_a_wait_whose_client_left_before_it_was_held_ends_at_once():
    """A phone that loses its network while its Ping is still being checked (the soak's abrupt
    disconnects, bench/soak.py): the connection is lost before the hub holds the request, so no
    callback is there to end it.  It is not held (it was, until the heartbeat ran out: counted as
    held, and it superseded the Ping the device sent after reconnecting)."""
    from easlab.server.clock import ManualClock
    from easlab.server.events import EventBus
    from easlab.server.push import CONNECTION, Connection, PushHub

    hub = PushHub(ManualClock(), EventBus())
    newer = asyncio.create_task(hub.wait(1, "phone", [7], 900))  # the Ping sent after reconnecting
    for _ in range(5):
        await asyncio.sleep(0)
    assert hub.held == 1
    gone = Connection()
    gone.lost()  # the client left before its request reached the hub
    token = CONNECTION.set(gone)
    try:
        late = asyncio.create_task(hub.wait(1, "phone", [7], 900))
    finally:
        CONNECTION.reset(token)
    for _ in range(20):  # loop turns, not time
        await asyncio.sleep(0)
    assert late.done() and late.result() is None
    assert not newer.done() and hub.held == 1 and hub.is_held(1, "phone")
    hub.notify([7])
    assert (await newer).folders == {7}
    assert hub.held == 0
