"""Device profiles: the registry's data, and each profile driven against the app in-process."""
from __future__ import annotations

import asyncio
import re

import pytest

from easlab.eas import versions
from easlab.eas.commands import Command, catalog
from easlab.eas.response import Response
from easlab.eas.wbxml import E, decode
from easlab.server import traces
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.storage.faults import set_trace
from easlab.storage.policies import update_policy
from easlab.storage.users import add_user
from easlab.testing import profiles
from easlab.testing.device import DeviceState, Folder
from easlab.testing.profiles_run import (
    ProfileRun, _body_opaque, _outbox_and_drafts, device_for, run_profile,
)
from easlab.testing.replay import replay
from tests.conftest import until_held
from tests.server.eas_helpers import message

pytestmark = pytest.mark.anyio
NAMES = ["ios", "android-gmail", "android-samsung", "outlook-windows", "outlook-mac", "tbsync"]
DEVICE_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


async def settings_ok(ctx, request):
    return Response(200, E("Settings:Settings", E("Settings:Status", 1)))


@pytest.fixture
def settings_cmd(stand_in):
    """A Settings command that says yes (the real one is not this module's subject)."""
    stand_in("Settings", settings_ok, "Settings:Settings")


def strict(db):
    with db.session() as session:
        update_policy(session, "Default", {"AllowNonProvisionableDevices": False})


# -- the data --------------------------------------------------------------------------------------------
def test_the_registry_holds_the_six_clients():
    assert profiles.names() == NAMES
    with pytest.raises(KeyError, match="known: ios, android-gmail"):
        profiles.get("nokia")


@pytest.mark.parametrize("name", NAMES)
def test_each_profile_is_complete_and_sourced(name):
    p = profiles.get(name)
    assert p.user_agent and p.device_type and p.protocol_version in versions.SUPPORTED
    assert DEVICE_ID.match(p.device_id_example)
    assert p.device_information_via in ("provision", "settings", "both", "none")
    assert set(p.device_information) <= {"Model", "IMEI", "FriendlyName", "OS", "OSLanguage", "PhoneNumber", "UserAgent",
                                         "MobileOperator"}
    assert [s.action for s in p.first_connection][0] == "options"
    assert all(s.action in profiles.STEP_ACTIONS for s in p.first_connection)
    assert p.quirks and len({q.name for q in p.quirks}) == len(p.quirks)
    assert all(q.effect in (profiles.SENDS, profiles.EXPECTS, profiles.REACTS) and len(q.doc) > 20 for q in p.quirks)
    assert p.sources and all(s.title and (s.url.startswith("http") or s.url.startswith("shared/")) for s in p.sources)
    assert p.assumed  # every profile says what its sources do not pin down
    text = p.describe()
    assert text.startswith(f"## {name}: ") and p.user_agent in text and all(s.url in text for s in p.sources)
    ids = {p.new_device_id() for _ in range(20)}
    assert len(ids) == 20 and all(DEVICE_ID.match(i) for i in ids)


def test_device_ids_look_like_the_clients():
    assert profiles.get("tbsync").new_device_id().startswith("MZTB")
    assert re.match(r"^androidc\d+$", profiles.get("android-gmail").new_device_id())
    assert re.match(r"^[0-9a-f]{32}$", profiles.get("outlook-windows").new_device_id())
    assert re.match(r"^[A-Z0-9]{26}$", profiles.get("ios").new_device_id())


def test_the_quirks_the_issue_names_are_there():
    assert profiles.get("android-gmail").has("outbox_and_drafts_required")
    assert profiles.get("android-samsung").has("outbox_and_drafts_required")
    assert profiles.get("ios").quirk("body_opaque").effect == profiles.EXPECTS
    assert profiles.get("ios").quirk("duplicate_ping").effect == profiles.SENDS
    assert profiles.get("tbsync").has("provision_on_demand")
    assert profiles.get("outlook-mac").has("synthetic")


# -- driving a device --------------------------------------------------------------------------------------
def sent(device, command):
    return [(req, resp) for req, resp in device.exchanges if req.command == command]


def header(request, name):
    return next((v for k, v in request.headers.items() if k.lower() == name.lower()), None)


async def test_device_for_introduces_itself_like_the_client(app):
    device = device_for("android-gmail", app, "alice", "secret", device_id="androidc123")
    async with device:
        assert device.state.device_type == "Android" and device.state.protocol_version == "14.1"
        assert device.state.user_agent.startswith("Android-Mail/") and device.profile.name == "android-gmail"
        await run_profile(device)
        request, _ = device.exchanges[1]
        assert "DeviceId=androidc123&DeviceType=Android" in request.path_and_query
        assert header(request, "User-Agent") == device.profile.user_agent


async def test_ios_first_connection(app, settings_cmd):
    async with device_for("ios", app, "alice", "secret") as device:
        run = await run_profile(device)
        assert run.ok, run.summary()
        assert run.commands == ["OPTIONS", "Settings", "Provision", "Settings", "FolderSync", "Sync", "Sync"]
        options_request = device.exchanges[0][0]
        assert options_request.headers["X-MS-PolicyKey"] == "0"
        first_settings, answer = sent(device, "Settings")[0]
        assert first_settings.headers["X-MS-PolicyKey"] == "0" and decode(answer.body).text("Settings:Status") == "142"
        body = decode(first_settings.body)
        assert body.find("Settings:UserInformation") is not None
        info = body.find("Settings:DeviceInformation").find("Settings:Set")
        assert info.text("Settings:UserAgent").endswith("dataaccessd/1.0")
        assert header(first_settings, "User-Agent").startswith("Apple-iPhone")
        provision = decode(sent(device, "Provision")[0][0].body)
        assert provision.find("Settings:DeviceInformation") is not None  # 16.1: required in Provision too
        assert [c.quirk for c in run.checks] == ["body_opaque"]


async def test_android_gmail_provisions_only_when_told(app, db):
    async with device_for("android-gmail", app, "alice", "secret") as lenient:
        run = await run_profile(lenient)
        assert run.ok and run.commands == ["OPTIONS", "FolderSync", "Sync", "Sync"]
        assert run.checks[0].quirk == "outbox_and_drafts_required" and run.checks[0].ok is True
    strict(db)
    async with device_for("android-gmail", app, "alice", "secret") as device:
        run = await run_profile(device)
        assert run.ok, run.summary()
        assert run.commands == ["OPTIONS", "FolderSync", "Provision", "FolderSync", "Sync", "Sync"]
        assert run.steps[1].status == 141 and run.steps[1].detail == "status 141"
        info = decode(sent(device, "Provision")[0][0].body).find("Settings:DeviceInformation").find("Settings:Set")
        assert info.text("Settings:OS") == "Android 14" and info.find("Settings:OSLanguage") is None
        sync = decode(sent(device, "Sync")[1][0].body).find("AirSync:Collections").find("AirSync:Collection")
        assert sync.text("AirSync:WindowSize") == "10" and sync.text("AirSync:DeletesAsMoves") == "1"


@pytest.mark.parametrize("name,commands", [
    ("android-samsung", ["OPTIONS", "Provision", "FolderSync", "Sync", "Sync"]),
    ("outlook-windows", ["OPTIONS", "FolderSync", "Settings", "Sync", "Sync"]),
    ("outlook-mac", ["OPTIONS", "Provision", "FolderSync", "Sync", "Sync"]),
])
async def test_the_other_first_connections(app, settings_cmd, name, commands):
    async with device_for(name, app, "alice", "secret") as device:
        run = await run_profile(device)
        assert run.ok and run.commands == commands, run.summary()
        assert not run.findings


async def test_tbsync_syncs_pim_folders_and_provisions_on_demand(app, db, settings_cmd):
    async with device_for("tbsync", app, "alice", "secret") as device:
        run = await run_profile(device)
        assert run.ok, run.summary()
        assert run.commands[:3] == ["OPTIONS", "Settings", "FolderSync"] and "Provision" not in run.commands
        synced = {s.collection for s in run.steps if s.command == "Sync"}
        assert synced == {"Calendar", "Contacts", "Tasks"}
        assert all(header(req, "X-MS-PolicyKey") is None for req, _ in device.exchanges)
        assert header(device.exchanges[0][0], "Content-Type") is None  # OPTIONS is built without a body...
        assert device.http.headers["content-type"] == "application/vnd.ms-sync.wbxml"  # ...and gets it anyway
        settings_body = decode(sent(device, "Settings")[0][0].body).find("Settings:DeviceInformation")
        assert settings_body.find("Settings:Set").text("Settings:Model") == "Computer"
    strict(db)
    async with device_for("tbsync", app, "alice", "secret") as device:
        run = await run_profile(device)
        assert run.ok, run.summary()
        assert run.commands[:5] == ["OPTIONS", "Settings", "Provision", "Settings", "FolderSync"]


async def test_a_refused_required_step_stops_the_run(app, db, stand_in):
    async def broken(ctx, request):
        return Response(500)

    stand_in("Settings", broken, "Settings:Settings")
    async with device_for("tbsync", app, "alice", "secret") as device:
        run = await run_profile(device)
        assert not run.ok and run.stopped_at == "Settings" and run.commands == ["OPTIONS", "Settings"]
        assert "stopped at Settings" in run.summary()


# -- Ping -----------------------------------------------------------------------------------------------------
@pytest.fixture
def clocked(settings, db):
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
    clock = ManualClock()
    commands = catalog.registry().replacing(Command("Settings", settings_ok, root="Settings:Settings"))  # as settings_cmd
    return create_app(settings, db, clock=clock, commands=commands), clock


async def test_ios_starts_a_second_ping_while_the_first_is_held(clocked):
    app, clock = clocked
    async with device_for("ios", app, "alice", "secret") as device:
        with app.state.bus.subscribe("held") as held:
            task = asyncio.create_task(run_profile(device, include_ping=True, ping_heartbeat=300))
            for _ in range(2):  # the first Ping is held, then the second, which supersedes it
                event = await asyncio.wait_for(held.get(), 10)
                assert event.get("device_id") == device.state.device_id
        assert not task.done() and app.state.hub.held == 1
        clock.advance(300)
        run = await asyncio.wait_for(task, 5)
        pings = [r for s in run.steps if s.command == "Ping" for r in s.results]
        assert [p.status for p in pings] == [1, 1] and run.commands[-1] == "Ping"


async def test_samsung_ping_answer_is_checked(clocked):
    app, clock = clocked
    async with device_for("android-samsung", app, "alice", "secret") as device:
        task = asyncio.create_task(run_profile(device, include_ping=True))
        await until_held(app, device.state.device_id)
        await app.state.store.deliver(message(subject="wake"), ["alice@easlab.test"])
        run = await asyncio.wait_for(task, 5)
        ping = next(s for s in run.steps if s.command == "Ping")
        assert ping.status == 2
        assert {c.quirk: c.ok for c in run.checks} == {"outbox_and_drafts_required": True, "ping_answer_required": True}


# -- expectation checks ------------------------------------------------------------------------------------
class FakeDevice:
    def __init__(self, state):
        self.state = state


def test_the_checks_tell_met_from_not_met():
    state = DeviceState(user="alice")
    run = ProfileRun("x")
    assert _outbox_and_drafts(FakeDevice(state), run).ok is None
    state.folders = {"1": Folder("1", "0", "Inbox", 2), "3": Folder("3", "0", "Drafts", 3)}
    check = _outbox_and_drafts(FakeDevice(state), run)
    assert check.ok is False and check.detail == "FolderSync lacks Outbox"
    assert _body_opaque(FakeDevice(state), run).ok is None
    body = lambda value: E("AirSync:ApplicationData", E("AirSyncBase:Body", E("AirSyncBase:Type", "2"),
                                                        E("AirSyncBase:Data", value)))
    state.collection("1").items = {"1:1": body(b"<p>bytes</p>")}
    assert _body_opaque(FakeDevice(state), run).ok is True
    state.collection("1").items["1:2"] = body("<p>inline</p>")
    check = _body_opaque(FakeDevice(state), run)
    assert check.ok is False and check.detail == "1 body sent as inline strings, 1 as OPAQUE"


# -- a traced profile run is a fixture ---------------------------------------------------------------------------
async def test_a_traced_profile_run_replays_against_a_fresh_server(tmp_path, settings, db):
    from easlab.server.config import Settings
    from easlab.storage import Database

    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
    first = create_app(settings, db)
    await first.state.store.deliver(message(subject="hello", html="<b>hi</b>"), ["alice@easlab.test"])
    profile = profiles.get("android-samsung")
    with db.session() as session:
        set_trace(session, "alice", profile.device_id_example, True, now=first.state.clock.now())
    async with device_for(profile, first, "alice", "secret", device_id=profile.device_id_example) as device:
        assert (await run_profile(device)).ok
    folder = traces.export_fixture(db, "alice", profile.device_id_example, tmp_path / "samsung")

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh_db = Database(url)
    fresh_db.create_all()
    with fresh_db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
    fresh = create_app(Settings(db_url=url, domain="easlab.test"), fresh_db)
    await fresh.state.store.deliver(message(subject="hello", html="<b>hi</b>"), ["alice@easlab.test"])
    report = await replay(folder, fresh, "alice", "secret", skip=["OPTIONS"])
    assert report.ok, report.summary()
    fresh_db.dispose()
