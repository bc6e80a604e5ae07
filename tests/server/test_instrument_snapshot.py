"""Traces and faults are read from an in-memory snapshot kept current by one counter
(storage/generations.py): a request that nothing traces or faults reads neither table, and a
change made through another connection pool (as the CLI in another process makes it) reaches the
server at its very next request."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from easlab.eas.wbxml import E
from easlab.storage.db import Database
from easlab.storage.faults import add_fault, clear_faults, remove_fault, set_trace
from tests.server.eas_helpers import provisioned_alice

pytestmark = pytest.mark.anyio
FS0 = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))


@pytest.fixture
async def lab(settings, db):
    async with provisioned_alice(settings, db) as pair:
        yield pair


@pytest.fixture
def other(settings):
    """A second pool on the same file: what `easlab fault add` in another shell writes through."""
    database = Database(settings.db_url)
    yield database
    database.dispose()


def statements(db) -> list[str]:
    seen: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append(a[2].lower()))
    return seen


async def test_a_request_nothing_traces_or_faults_reads_neither_table(lab, db, monkeypatch):
    from easlab.storage import generations

    app, dev = lab
    assert (await dev.post("FolderSync", FS0)).status_code == 200  # the snapshot is loaded
    peeked = []
    peek_many = generations.peek_many
    monkeypatch.setattr(generations, "peek_many", lambda engine, names: peeked.append(tuple(names)) or peek_many(engine, names))
    seen = statements(db)
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    assert seen and not [s for s in seen if " fault" in s or "tracesetting" in s]
    assert [names for names in peeked if generations.INSTRUMENT in names]  # the counter is read, raw


async def test_a_fault_from_another_pool_applies_at_the_next_request_and_its_removal_too(lab, other):
    app, dev = lab
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    with other.session() as session:
        fid = add_fault(session, "throttle", now=app.state.clock.now(), user="alice").id
    assert (await dev.post("FolderSync", FS0)).status_code == 503
    with other.session() as session:
        assert remove_fault(session, fid)
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    with other.session() as session:
        add_fault(session, "throttle", now=app.state.clock.now())  # anyone
    assert (await dev.post("FolderSync", FS0)).status_code == 503
    with other.session() as session:
        assert clear_faults(session) == 1
    assert (await dev.post("FolderSync", FS0)).status_code == 200


async def test_a_spent_fault_leaves_the_snapshot(lab, db):
    app, dev = lab
    with db.session() as session:
        add_fault(session, "throttle", now=app.state.clock.now(), user="alice", count=1)
    assert (await dev.post("FolderSync", FS0)).status_code == 503
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    assert app.state.faults.probe("alice", "dev1") == (False, False)


async def test_a_trace_switched_on_from_another_pool_records_the_next_request(lab, other):
    app, dev = lab
    assert app.state.faults.probe("alice", "dev1") == (False, False)
    with other.session() as session:
        set_trace(session, "alice", "DEV1", True, now=app.state.clock.now())
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    assert app.state.faults.probe("ALICE", "dev1") == (True, False)
    with other.session() as session:
        set_trace(session, "alice", "dev1", False, now=app.state.clock.now())
    assert app.state.faults.probe("alice", "dev1") == (False, False)


async def test_a_recipient_without_an_smtp_fault_costs_no_fault_query(lab, db, other):
    app, _ = lab
    faults = app.state.faults
    assert faults.match_smtp(["alice"], "rcpt") is None  # the snapshot is loaded
    seen = statements(db)
    assert faults.match_smtp(["alice"], "rcpt") is None
    assert not [s for s in seen if " fault" in s]
    with other.session() as session:
        add_fault(session, "smtp", now=app.state.clock.now(), user="alice", params={"status": 451, "stage": "rcpt"})
    assert faults.match_smtp(["ALICE"], "rcpt").params["status"] == 451


async def test_another_process_admin_trace_and_fault_take_effect_at_the_next_request_without_a_query(
        lab, db, other, monkeypatch):
    """No statement of its own per request: the `instrument` counter is read with the `access` one, in
    the one statement the door runs (generations.peek_many); a change made by another process's
    Admin, which cannot tell this server, is seen at the next request all the same."""
    from easlab.server.admin import SHELL, Admin
    from easlab.server.traces import trace_view
    from easlab.storage import generations

    app, dev = lab
    elsewhere = Admin(other, lambda event: None, "easlab.test", clock=app.state.clock)
    peeked = []
    peek_many = generations.peek_many
    monkeypatch.setattr(generations, "peek_many", lambda engine, names: peeked.append(tuple(names)) or peek_many(engine, names))
    assert (await dev.post("FolderSync", FS0)).status_code == 200  # the snapshot is loaded
    peeked.clear()
    seen = statements(db)
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    assert peeked == [(generations.ACCESS, generations.INSTRUMENT)]
    assert not [s for s in seen if "from generation" in s or " fault" in s or "tracesetting" in s]
    elsewhere.trace_set(SHELL, "alice", "dev1", True)
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    assert [e["command"] for e in trace_view(db, "alice", "dev1", bodies=False)["entries"]] == ["FolderSync"]
    elsewhere.fault_add(SHELL, "throttle", user="alice", count=1)
    assert (await dev.post("FolderSync", FS0)).status_code == 503
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    assert [e["status"] for e in trace_view(db, "alice", "dev1", bodies=False)["entries"]] == [200, 503, 200]
