"""Protocol traces: what is recorded, the bound, the CLI and API, and export + replay."""
from __future__ import annotations

import base64
import io
import json
import zipfile

import httpx
import pytest
from click.testing import CliRunner

from easlab.eas.wbxml import E, decode
from easlab.server import traces
from easlab.server.app import create_app
from easlab.server.cli.testing import trace as trace_cli
from easlab.server.clock import ManualClock
from easlab.server.config import Settings
from easlab.testing.aio import Device
from easlab.testing.replay import normalised, replay
from easlab.storage import Database
from easlab.storage.faults import add_fault, record_trace, set_trace, trace_entries, trace_setting, TraceRecord
from easlab.storage.users import add_user
from tests.server.eas_helpers import Raw, message, provision

pytestmark = pytest.mark.anyio
FS0 = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))


def make_lab(tmp_path, name="lab"):
    url = f"sqlite:///{tmp_path / (name + '.db')}"
    db = Database(url)
    db.create_all()
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
        admin = add_user(session, "root", "rootpw", "Admin")
        admin.role = "org-admin"
        session.add(admin)
    settings = Settings(db_url=url, domain="easlab.test")
    clock = ManualClock()
    app = create_app(settings, db, clock=clock)
    return app, db, clock


@pytest.fixture
def lab(tmp_path):
    app, db, clock = make_lab(tmp_path)
    yield app, db, clock
    db.dispose()


@pytest.fixture
async def http(lab):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lab[0]), base_url="http://testserver") as c:
        yield c


def trace_on(db, clock, device="dev1", **kw):
    with db.session() as session:
        set_trace(session, "alice", device, True, now=clock.now(), **kw)


def entries(db, device="dev1"):
    return traces.trace_view(db, "alice", device)["entries"]


async def test_every_exchange_is_recorded_with_headers_bodies_and_timing(lab, http):
    app, db, clock = lab
    trace_on(db, clock, "DEV1")  # device ids compare case-insensitively
    dev = Raw(http)
    await provision(dev)
    await dev.folder_sync()
    got = entries(db)
    assert [(e["command"], e["status"]) for e in got] == [("Provision", 200), ("Provision", 200), ("FolderSync", 200)]
    fs = got[-1]
    headers = dict((k.lower(), v) for k, v in fs["request_headers"])
    assert headers["authorization"] == "Basic <redacted>"
    assert headers["ms-asprotocolversion"] == "14.1" and headers["x-ms-policykey"] == dev.policy_key
    assert fs["path"].startswith("/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=dev1")
    assert "<SyncKey>0</SyncKey>" in fs["request_xml"] and "<Status>1</Status>" in fs["response_xml"]
    assert dict(fs["response_headers"])["content-type"] == "application/vnd.ms-sync.wbxml"
    assert fs["duration_ms"] > 0 and fs["at"].startswith("2026-01-05T09:00")
    assert "secret" not in json.dumps(got)
    # Only the traced device; and off means off.
    other = Raw(http, device="other")
    await provision(other)
    with db.session() as session:
        set_trace(session, "alice", "dev1", False, now=clock.now())
    await dev.folder_sync()
    assert len(entries(db)) == 3 and entries(db, "other") == []


async def test_faults_and_refusals_are_in_the_trace(lab, http):
    app, db, clock = lab
    trace_on(db, clock)
    dev = Raw(http)
    await provision(dev)
    with db.session() as session:
        add_fault(session, "throttle", now=clock.now(), user="alice", count=1)
    assert (await dev.post("FolderSync", FS0)).status_code == 503
    assert (await dev.post("FolderSync", raw=b"\x03\x01j\x00garbage")).status_code == 400
    dev.password = "wrong"
    assert (await dev.post("FolderSync", FS0)).status_code == 401
    throttled, garbage, unauthorized = entries(db)[-3:]
    assert throttled["status"] == 503 and throttled["note"].startswith("fault #1 throttle")
    assert throttled["request_xml"] is not None  # the body was kept although the server never read it
    assert garbage["request_xml"] is None and garbage["request_note"].startswith("undecodable WBXML")
    assert unauthorized["status"] == 401


async def test_a_dropped_answer_is_recorded_as_sent(lab, http):
    app, db, clock = lab
    trace_on(db, clock)
    dev = Raw(http)
    await provision(dev)
    with db.session() as session:
        add_fault(session, "drop", now=clock.now(), user="alice", count=1, params={"bytes": 7})
    with pytest.raises(Exception):
        await dev.post("FolderSync", FS0)
    cut = entries(db)[-1]
    assert cut["response_size"] == 7 and "connection dropped after the headers and 7 body bytes" in cut["note"]
    assert cut["response_note"].startswith("undecodable WBXML")


def test_the_ring_is_bounded_by_count_and_by_bytes(lab):
    app, db, clock = lab
    record = TraceRecord(at=clock.now(), duration_ms=1.0, method="POST", path="/x", command="Sync",
                         request_headers=[], request_body=b"r" * 100, status=200, response_headers=[],
                         response_body=b"a" * 900)
    with db.session() as session:
        set_trace(session, "alice", "ring", True, now=clock.now(), max_entries=5)
    with db.session() as session:
        for _ in range(12):
            record_trace(session, "alice", "ring", record)
    with db.session() as session:
        kept = trace_entries(session, "alice", "ring")
        assert len(kept) == 5 and [e.id for e in kept] == list(range(8, 13))
        assert trace_setting(session, "alice", "ring").dropped == 7
        set_trace(session, "alice", "ring", True, now=clock.now(), max_entries=100, max_bytes=2500)
    with db.session() as session:
        kept = trace_entries(session, "alice", "ring")
        assert sum(e.size for e in kept) <= 2500 and len(kept) == 2 and kept[-1].id == 12
        for _ in range(10):
            record_trace(session, "alice", "ring", record)
        kept = trace_entries(session, "alice", "ring")
        assert sum(e.size for e in kept) <= 2500 and len(kept) == 2
        big = TraceRecord(**{**record.__dict__, "response_body": b"z" * 10000})
        entry = record_trace(session, "alice", "ring", big)
        assert entry.response_body == b"" and "bodies left out" in entry.note
        assert trace_entries(session, "alice", "ring")[-1].id == entry.id
        assert record_trace(session, "alice", "nobody", record) is None  # not traced: nothing kept


async def test_a_long_session_stays_within_the_bound(lab, http):
    app, db, clock = lab
    trace_on(db, clock, max_entries=4)
    dev = Raw(http)
    await provision(dev)
    for _ in range(10):
        await dev.folder_sync()
    view = traces.trace_view(db, "alice", "dev1")
    assert len(view["entries"]) == 4 and view["dropped"] == 8


def run_trace(*args):
    return CliRunner().invoke(trace_cli, list(args), catch_exceptions=False)


async def test_cli_on_show_export_off(lab, http, tmp_path):
    app, db, clock = lab
    url = db.url
    out = run_trace("alice", "dev1", "on", "--max-entries", "50", "--db", url)
    assert out.output.strip() == "trace of alice/dev1 on (last 50 exchanges, at most 5242880 bytes)"
    dev = Raw(http)
    await provision(dev)
    await dev.folder_sync()
    shown = run_trace("alice", "dev1", "show", "--db", url).output
    assert shown.startswith("trace of alice/dev1: on, 3 exchanges")
    assert "POST FolderSync -> 200" in shown
    assert "<FolderSync xmlns=\"FolderHierarchy\">" in run_trace("alice", "dev1", "show", "--bodies", "--last", "1",
                                                                 "--db", url).output
    data = json.loads(run_trace("alice", "dev1", "show", "--json", "--db", url).output)
    assert len(data["entries"]) == 3 and data["entries"][0]["request_xml"]
    folder = tmp_path / "fixture"
    assert run_trace("alice", "dev1", "export", str(folder), "--db", url).output.strip() == f"3 exchanges written to {folder}"
    names = sorted(p.name for p in folder.iterdir())
    assert names[:4] == ["001-Provision.request.wbxml", "001-Provision.request.xml", "001-Provision.response.wbxml",
                         "001-Provision.response.xml"]
    assert "003-FolderSync.response.xml" in names and "index.json" in names
    index = json.loads((folder / "index.json").read_text())["exchanges"]
    assert index[2]["request_file"] == "003-FolderSync.request.wbxml" and index[2]["status"] == 200
    assert decode((folder / "003-FolderSync.request.wbxml").read_bytes()) == FS0
    assert run_trace("alice", "dev1", "off", "--db", url).output.strip() == "trace of alice/dev1 off"
    assert run_trace("alice", "dev1", "export", "--db", url).exit_code == 2
    assert run_trace("alice", "dev1", "clear", "--db", url).output.strip() == "3 exchanges removed from the trace of alice/dev1"


def auth(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_api_switch_view_export(lab, http):
    app, db, clock = lab
    root = auth("root", "rootpw")
    base = "/api/devices/alice/dev1/trace"
    assert (await http.post(base + "/on")).status_code == 401
    assert (await http.post(base + "/on", headers=auth("alice", "secret"))).status_code == 403  # no role
    r = await http.post(base + "/on", json={"max_entries": 10}, headers=root)
    assert r.status_code == 200 and r.json()["enabled"] and r.json()["max_entries"] == 10
    dev = Raw(http)
    await provision(dev)
    view = (await http.get(base, headers=root)).json()
    assert [e["command"] for e in view["entries"]] == ["Provision", "Provision"] and view["enabled"]
    assert (await http.get(base + "?bodies=0", headers=root)).json()["entries"][0].get("request_xml") is None
    page = await http.get(base + "?format=html", headers=root)
    assert page.headers["content-type"].startswith("text/html") and "&lt;Provision xmlns=" in page.text
    exported = await http.get(base + "/export", headers=root)
    assert exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert "trace-alice-dev1/index.json" in archive.namelist()
    assert (await http.post(base, json={"enabled": False}, headers=root)).json()["enabled"] is False
    assert (await http.post(base, json={"enabled": "yes"}, headers=root)).status_code == 400
    assert (await http.request("DELETE", base, headers=root)).json() == {"removed": 2}


# -- export and replay -----------------------------------------------------------------------------------
async def record_session(app, db, clock, tmp_path):
    await app.state.store.deliver(message(subject="Fixture one", html="<p>one</p>"), ["alice@easlab.test"])
    trace_on(db, clock, "replay1")
    async with Device(app, "alice", "secret", device_id="replay1") as dev:
        await dev.provision()
        await dev.folder_sync()
        await dev.sync_all("Inbox", window_size=5, body_preferences=[(2, 1000)])
        await dev.get_item_estimate("Inbox")
    return traces.export_fixture(db, "alice", "replay1", tmp_path / "fixture")


async def test_export_and_replay_against_a_fresh_server(lab, tmp_path):
    app, db, clock = lab
    folder = await record_session(app, db, clock, tmp_path)
    index = json.loads((folder / "index.json").read_text())["exchanges"]
    assert [e["command"] for e in index] == ["Provision", "Provision", "FolderSync", "Sync", "Sync", "GetItemEstimate"]

    fresh, fresh_db, _ = make_lab(tmp_path, "fresh")
    clock_later = ManualClock()
    clock_later.advance(hours=5)  # another day, other DateReceived: volatile
    fresh.state.clock = clock_later
    await fresh.state.store.deliver(message(subject="Fixture one", html="<p>one</p>"), ["alice@easlab.test"])
    report = await replay(folder, fresh, "alice", "secret")
    assert report.ok, report.summary()
    assert report.compared == 6
    # The fresh server's random temporary policy key was mapped and carried into the acknowledgement.
    assert report.key_map

    # A server that differs is caught: no message in this one.
    empty, empty_db, _ = make_lab(tmp_path, "empty")
    report = await replay(folder, empty, "alice", "secret")
    assert not report.ok
    assert any("Fixture one" in line for r in report.results for line in r.differences), report.summary()
    for d in (fresh_db, empty_db):
        d.dispose()


async def test_replay_skips_exchanges_a_fault_shaped(lab, http, tmp_path):
    app, db, clock = lab
    trace_on(db, clock)
    dev = Raw(http)
    await provision(dev)
    with db.session() as session:
        add_fault(session, "throttle", now=clock.now(), user="alice", count=1)
    await dev.post("FolderSync", FS0)
    await dev.folder_sync()
    folder = traces.export_fixture(db, "alice", "dev1", tmp_path / "faulted")
    fresh, fresh_db, _ = make_lab(tmp_path, "fresh2")
    seen = []
    report = await replay(folder, fresh, "alice", "secret", before=lambda n, item: seen.append(n))
    assert report.ok, report.summary()
    assert [r.skipped is not None for r in report.results] == [False, False, True, False] and seen == [1, 2, 4]
    fresh_db.dispose()


def test_volatile_values_are_set_aside():
    a = E("AirSync:Sync", E("AirSync:SyncKey", "7"), E("Email:DateReceived", "2026-01-05T09:00:00.000Z"),
          E("AirSyncBase:Body", E("AirSyncBase:Type", "4"), E("AirSyncBase:Data", b"Received: from x\r\n\tby y\r\nSubject: s\r\n")))
    b = E("AirSync:Sync", E("AirSync:SyncKey", "9"), E("Email:DateReceived", "2027-02-01T10:00:00.000Z"),
          E("AirSyncBase:Body", E("AirSyncBase:Type", "4"), E("AirSyncBase:Data", b"Received: from z\r\nSubject: s\r\n")))
    assert normalised(a) == normalised(b)
    c = E("AirSync:Sync", E("AirSync:SyncKey", "9"), E("Email:Subject", "other"))
    assert normalised(a) != normalised(c)
