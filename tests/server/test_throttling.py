"""Exchange's throttling policy over HTTP: EasMaxConcurrency and the request budget (eas/throttling.py),
on the server's ManualClock."""
import asyncio

import httpx
import pytest

from easlab.eas.wbxml import E
from easlab.server.admin import SHELL, Admin
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.storage.users import add_user
from tests.conftest import until_held
from tests.server.eas_helpers import Raw, collection
from tests.server.test_ping import ping, synced

pytestmark = pytest.mark.anyio
FS = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def app(settings, db, clock):
    with db.session() as s:
        add_user(s, "alice", "secret", "Alice Example")
        add_user(s, "bob", "hunter2", "Bob Example")
    return create_app(settings, db, clock=clock)


@pytest.fixture
def admin(app, db, clock):
    return Admin(db, app.state.hub.handle_event, "easlab.test", clock=clock)


async def test_defaults_are_unlimited_and_change_nothing(client, admin):
    shown = admin.throttling_show(SHELL)
    assert shown["policy"] == {"eas_max_concurrency": None, "eas_max_burst": None, "eas_recharge_rate": None,
                               "eas_cutoff_balance": None, "request_charge": 1000, "budgeted": False}
    assert {t["behavior"]: t["incidence_limit"] for t in shown["autoblock"]} == dict.fromkeys(
        ["UserAgentsChanges", "RecentCommands", "Watsons", "OutOfBudgets", "SyncCommands", "EnableNotificationEmail",
         "CommandFrequency"], 0)
    dev = Raw(client)
    for _ in range(30):
        assert (await dev.post("FolderSync", FS)).status_code == 200


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_budget_exhausted_is_503_with_retry_after_until_it_recharges(client, admin, clock, version):
    # 2 s of burst, 1 s back per second, no cut-off margin, 1 s a request.
    admin.throttling_set(SHELL, eas_max_burst=2000, eas_recharge_rate=3_600_000, eas_cutoff_balance=0, request_charge=1000)
    dev = Raw(client, version=version)
    assert [(await dev.post("FolderSync", FS)).status_code for _ in range(3)] == [200, 200, 200]  # 2000 -> -1000
    r = await dev.post("FolderSync", FS)
    assert (r.status_code, r.content) == (503, b"")
    assert r.headers["Retry-After"] == "1" and r.headers["X-MS-ASThrottle"] == "OutOfBudgets"
    other = Raw(client, user="bob", password="hunter2", device="bobs")
    assert (await other.post("FolderSync", FS)).status_code == 200  # a budget is per user
    clock.advance(1)
    assert (await dev.post("FolderSync", FS)).status_code == 200
    r = await dev.post("FolderSync", FS)
    assert r.status_code == 503 and r.headers["Retry-After"] == "1"


async def test_cutoff_balance_lets_the_balance_go_below_zero(client, admin, clock):
    admin.throttling_set(SHELL, eas_max_burst=1000, eas_recharge_rate=3_600_000, eas_cutoff_balance=2000)
    dev = Raw(client)
    codes = [(await dev.post("FolderSync", FS)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 503]  # 1000, 0, -1000, -2000, then below -2000
    clock.advance(3)
    assert (await dev.post("FolderSync", FS)).status_code == 200


async def test_unlimited_clears_a_setting(client, admin):
    admin.throttling_set(SHELL, eas_max_burst=0, eas_recharge_rate=1, eas_cutoff_balance=0)
    dev = Raw(client)
    assert [(await dev.post("FolderSync", FS)).status_code for _ in range(2)] == [200, 503]
    assert admin.throttling_set(SHELL, eas_max_burst="unlimited")["policy"]["budgeted"] is False
    assert (await dev.post("FolderSync", FS)).status_code == 200


async def test_bad_settings_are_refused(admin):
    from easlab.storage.access import AccessError

    with pytest.raises(AccessError, match="eas_max_concurrency must be 1-10000"):
        admin.throttling_set(SHELL, eas_max_concurrency=0)
    with pytest.raises(AccessError, match="unknown throttling setting"):
        admin.throttling_set(SHELL, EasMaxDevices=3)


async def test_held_ping_and_sync_of_a_lone_device_pass_at_concurrency_one(client, app, admin, clock):
    admin.throttling_set(SHELL, eas_max_concurrency=1)
    dev = Raw(client)
    await synced(dev)
    held = asyncio.create_task(dev.call("Ping", ping(300, "1")))
    await until_held(app)
    key = collection(await dev.sync("0", "1")).text("AirSync:SyncKey")  # the Ping is not counted
    assert (await dev.post("FolderSync", FS)).status_code == 200
    clock.advance(301)
    await asyncio.wait_for(held, 5)
    assert key


async def test_max_concurrency_exceeded_is_503(client, app, admin, clock):
    admin.throttling_set(SHELL, eas_max_concurrency=1)
    dev = Raw(client)
    key = await synced(dev)
    held = asyncio.create_task(dev.post("Sync", E("AirSync:Sync", E("AirSync:Collections", E(
        "AirSync:Collection", E("AirSync:SyncKey", key), E("AirSync:CollectionId", "1"))), E("AirSync:Wait", 1))))
    await until_held(app)
    tablet = Raw(client, device="tablet")
    r = await tablet.post("FolderSync", FS)
    assert (r.status_code, r.content, r.headers["X-MS-ASThrottle"], r.headers["Retry-After"]) == (503, b"", "OutOfBudgets", "5")
    clock.advance(61)
    assert (await asyncio.wait_for(held, 5)).status_code == 200
    assert (await tablet.post("FolderSync", FS)).status_code == 200  # the slot is free again
    assert app.state.throttle.concurrency.running("alice") == 0


async def test_a_running_server_reads_changed_settings_at_once(client, app, admin):
    dev = Raw(client)
    assert (await dev.post("FolderSync", FS)).status_code == 200  # settings read and kept
    admin.throttling_set(SHELL, eas_max_burst=0, eas_recharge_rate=1, eas_cutoff_balance=0)
    assert [(await dev.post("FolderSync", FS)).status_code for _ in range(2)] == [200, 503]


async def test_api_shows_and_sets_the_policy(client, db):
    from tests.server.test_web import set_role

    set_role(db, "alice", "org-admin")
    r = await client.patch("/api/throttling", json={"eas_max_concurrency": 3}, auth=("alice", "secret"))
    assert r.status_code == 200 and r.json()["policy"]["eas_max_concurrency"] == 3
    r = await client.get("/api/throttling", auth=("alice", "secret"))
    assert r.json()["policy"]["eas_max_concurrency"] == 3
    r = await client.patch("/api/throttling", json={"eas_max_concurrency": None}, auth=("alice", "secret"))
    assert r.json()["policy"]["eas_max_concurrency"] is None
    r = await client.patch("/api/throttling", json={"eas_max_concurrency": "x"}, auth=("alice", "secret"))
    assert r.status_code == 400


def test_cli_show_and_set(db, settings):
    from click.testing import CliRunner

    from easlab.server.cli import main

    url = settings.db_url
    result = CliRunner().invoke(main, ["throttling", "set", "--max-concurrency", "4", "--max-burst", "unlimited", "--db", url])
    assert result.exit_code == 0, result.output
    assert "max-concurrency  4" in result.output and "max-burst        Unlimited" in result.output
    result = CliRunner().invoke(main, ["throttling", "autoblock", "synccommands", "--limit", "5", "--block", "30", "--db", url])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["throttling", "show", "--json", "--db", url])
    shown = __import__("json").loads(result.output)
    assert shown["policy"]["eas_max_concurrency"] == 4
    assert {"behavior": "SyncCommands", "incidence_limit": 5, "incidence_duration": 60, "block_duration": 30,
            "admin_email_insert": ""} in shown["autoblock"]
