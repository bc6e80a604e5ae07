"""A ManualClock drives every time-based behaviour without real time passing."""
import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.admin import SHELL, Admin
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.storage.models import Device
from tests.conftest import until_held
from tests.server.eas_helpers import Raw, collection, provision

pytestmark = pytest.mark.anyio
PING = E("Ping:Ping", E("Ping:HeartbeatInterval", 3540), E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def app(settings, db, clock):
    from easlab.storage.users import add_user

    with db.session() as s:
        add_user(s, "alice", "secret", "Alice Example")
    return create_app(settings, db, clock=clock)


def test_manual_clock_fires_timers_in_order():
    clock = ManualClock()
    fired = []
    clock.call_later(10, lambda: fired.append(("a", clock.monotonic())))
    t = clock.call_later(5, lambda: fired.append(("b", clock.monotonic())))
    clock.call_later(5, lambda: fired.append(("c", clock.monotonic())))
    t.cancel()
    start = clock.now()
    clock.advance(minutes=1)
    assert [name for name, _ in fired] == ["c", "a"]
    assert fired[1][1] - fired[0][1] == 5
    assert clock.now() - start == timedelta(minutes=1)
    with pytest.raises(ValueError):
        clock.advance(-1)


async def test_heartbeat_expires_when_the_clock_says_so(client, app, clock):
    dev = Raw(client)
    key = collection(await dev.sync("0")).text("AirSync:SyncKey")
    await dev.sync(key)
    held = asyncio.create_task(dev.call("Ping", PING))
    await until_held(app)
    clock.advance(3539)
    assert clock.pending == 1 and not held.done()  # the heartbeat's timer is still set
    clock.advance(1)
    assert (await asyncio.wait_for(held, 2)) == E("Ping:Ping", E("Ping:Status", 1))


async def test_discovery_window_and_policy_refresh_follow_the_clock(client, app, db, clock):
    admin = Admin(db, app.state.hub.handle_event)
    admin.org_set(SHELL, default_access="quarantine", blocked_delay=0)
    dev = Raw(client)
    await dev.folder_sync("0")
    with db.session() as s:
        assert s.exec(select(Device.access_state)).one() == "DeviceDiscovery"
    clock.advance(minutes=14)
    await dev.folder_sync("0")
    with db.session() as s:
        assert s.exec(select(Device.access_state)).one() == "Quarantined"
    from easlab.storage.policies import update_policy

    with db.session() as s:
        update_policy(s, "Default", {"DevicePolicyRefreshInterval": 24})
    await provision(dev)
    assert (await dev.folder_sync("0")).text("FolderHierarchy:Status") == "1"
    clock.advance(hours=25)
    assert (await dev.folder_sync("0")).text("FolderHierarchy:Status") == "143"
