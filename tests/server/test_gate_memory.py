"""The gate decides a no-change request from memory (server/store/gate_cache.py) while the `access`
generation stands, and an administrator's change made elsewhere (another process's admin service,
which this server never hears of) reaches the device's very next request."""
from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlmodel import select

from easlab.server.admin import SHELL, Admin
from easlab.server.config import Settings
from easlab.storage import Database, generations
from easlab.storage.models import Device
from tests.server.eas_helpers import provisioned_alice

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test")


@pytest.fixture
async def lab(settings, db):
    async with provisioned_alice(settings, db) as pair:
        yield pair


@pytest.fixture
def elsewhere(settings):
    """The admin service of another process: its own engine, and no way to tell this server."""
    other = Database(settings.db_url)
    yield Admin(other, lambda event: None, "easlab.test")
    other.dispose()


class Statements:
    def __init__(self, db):
        self.seen: list[str] = []
        event.listen(db.engine, "before_cursor_execute", lambda c, cur, statement, *rest: self.seen.append(statement))

    def take(self) -> list[str]:
        seen, self.seen = self.seen, []
        return [s for s in seen if not s.startswith(("BEGIN", "ROLLBACK", "COMMIT"))]


def stored(db):
    with db.session(write=False) as session:
        d = session.exec(select(Device).where(Device.device_id == "dev1")).one()
        return d.access_state, d.access_reason


async def settled(app, dev) -> str:
    """The device's FolderSync key once its next FolderSync has nothing to report."""
    key = (await dev.folder_sync()).text("FolderHierarchy:SyncKey")
    await dev.folder_sync(key)
    app.state.clock.advance(1)
    return key


async def test_a_no_change_foldersync_reads_three_counters_and_one_row(lab, db, monkeypatch):
    app, dev = lab
    key = await settled(app, dev)
    await dev.folder_sync(key)  # the gate's memory is filled
    peeked = []
    peek = generations.peek
    monkeypatch.setattr(generations, "peek", lambda engine, name: peeked.append(name) or peek(engine, name))
    seen = Statements(db)
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    statements = seen.take()
    text = " ".join(statements).lower()
    # No user by name, no rules, organisation, policy or device lookup: the logon and the gate read
    # the `access` counter (generations.peek), the traces the `instrument` one; FolderSync reads the
    # device's hierarchy position, the user's counter and its oldest echo in one statement.
    assert peeked == [generations.ACCESS, generations.ACCESS]
    assert not any(f"from {table} " in text for table in ("accessrule", "orgsettings", "policy"))
    assert "user.name =" not in text
    assert sum("from generation" in s.lower() for s in statements) == 1
    assert len(statements) == 2, statements


async def test_an_allowed_device_blocked_from_another_process_is_refused_at_once(lab, db, elsewhere):
    app, dev = lab
    elsewhere.org_set(SHELL, blocked_delay=0)
    key = await settled(app, dev)
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert stored(db) == ("Allowed", "Global")
    elsewhere.device_block(SHELL, "alice", "dev1")
    r = await dev.post("FolderSync", None)
    assert r.headers.get("X-MS-ASThrottle") == "Individual"
    assert stored(db) == ("Blocked", "Individual")
    elsewhere.device_unblock(SHELL, "alice", "dev1")
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert stored(db) == ("Allowed", "Global")


async def test_a_quarantined_device_allowed_from_another_process_is_let_through_at_once(lab, db, elsewhere):
    app, dev = lab
    key = await settled(app, dev)
    elsewhere.rule_add(SHELL, "DeviceType", "iPhone", "Quarantine")
    await dev.folder_sync(key)
    assert stored(db) == ("Quarantined", "DeviceRule")
    await dev.folder_sync(key)  # decided from memory now
    assert stored(db) == ("Quarantined", "DeviceRule")
    elsewhere.device_allow(SHELL, "alice", "dev1")
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"
    assert stored(db) == ("Allowed", "Individual")


async def test_only_what_can_change_a_decision_bumps_the_counter(lab, db, elsewhere):
    app, dev = lab
    key = await settled(app, dev)

    def generation():
        with db.engine.connect() as connection:
            return generations.current(connection, generations.ACCESS)

    before = generation()
    app.state.clock.advance(120)  # last seen is stored again: no decision rests on it
    await dev.folder_sync(key)
    assert generation() == before
    elsewhere.user_passwd(SHELL, "alice", "another-secret")
    assert generation() == before + 1
    r = await dev.post("FolderSync", None)
    assert r.status_code == 401  # the logon's memory of the old password is gone with it


async def test_a_policy_changed_from_another_process_makes_the_next_request_provision(lab, db, elsewhere):
    app, dev = lab
    key = await settled(app, dev)
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "1"  # decided from memory
    elsewhere.policy_update(SHELL, "Default", {"AllowCamera": False})
    # The key the device holds no longer names the policy's document: 144 InvalidPolicyKey (14.1).
    assert (await dev.folder_sync(key)).text("FolderHierarchy:Status") == "144"
