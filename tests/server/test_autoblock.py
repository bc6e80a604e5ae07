"""Exchange's auto-block thresholds and loop detection over HTTP (eas/autoblock.py): each behaviour
trips, blocks with itself as the reason, shows in explain, the API and the web UI, and lifts on the
server's ManualClock or by an administrator's Allow."""
import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.admin import SHELL
from easlab.storage.models import Device
from tests.server.eas_helpers import Raw
from tests.server.test_throttling import FS, admin, app, clock  # noqa: F401  (fixtures)

pytestmark = pytest.mark.anyio
BAD_SYNC = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection", E("AirSync:SyncKey", "999"),
                                                         E("AirSync:CollectionId", "1"))))
SYNC0 = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection", E("AirSync:SyncKey", "0"),
                                                       E("AirSync:CollectionId", "1"))))


class Agent(Raw):
    agent = "easlab-tests/1"

    def headers(self):
        return {**super().headers(), "User-Agent": self.agent}


def stored(db, device_id="dev1"):
    with db.session() as s:
        d = s.exec(select(Device).where(Device.device_id == device_id)).one()
        return d.access_state, d.access_reason, d.autoblock_reason


async def assert_blocked(dev, behavior, seconds):
    r = await dev.post("FolderSync", FS)
    assert (r.status_code, r.content) == (503, b"")
    assert (r.headers["X-MS-ASThrottle"], r.headers["Retry-After"]) == (behavior, str(seconds))


async def trip(dev, behavior):
    if behavior == "CommandFrequency":
        for _ in range(3):
            assert (await dev.post("FolderSync", FS)).status_code == 200
    elif behavior == "SyncCommands":
        for _ in range(3):
            assert (await dev.post("Sync", SYNC0)).status_code == 200
    elif behavior == "UserAgentsChanges":
        for agent in ("A/1", "B/1", "A/1"):
            dev.agent = agent
            assert (await dev.post("FolderSync", FS)).status_code == 200
    elif behavior == "RecentCommands":  # loop detection: the same failing Sync, three times
        for _ in range(3):
            r = await dev.call("Sync", BAD_SYNC)
            assert r.find("AirSync:Collections").find("AirSync:Collection").text("AirSync:Status") == "3"


@pytest.mark.parametrize("behavior", ["CommandFrequency", "SyncCommands", "UserAgentsChanges", "RecentCommands"])
async def test_behaviour_trips_blocks_and_lifts_on_the_clock(client, admin, clock, db, behavior):
    # Three requests each: two incidences for every behaviour but the first request's.
    limit = {"UserAgentsChanges": 1, "RecentCommands": 1}.get(behavior, 2)
    admin.autoblock_set(SHELL, behavior, incidence_limit=limit, incidence_duration=10, block_duration=5)
    dev = Agent(client)
    await trip(dev, behavior)
    assert stored(db) == ("Blocked", behavior, behavior)
    await assert_blocked(dev, behavior, 300)
    clock.advance(minutes=4)
    await assert_blocked(dev, behavior, 60)
    explained = admin.device_explain(SHELL, "alice", "dev1")
    assert (explained["state"], explained["reason"], explained["step"]) == ("Blocked", behavior, "AutoBlock")
    assert any(step.startswith(f"auto-blocked for {behavior} until") for step in explained["path"])
    clock.advance(minutes=1)
    assert (await dev.post("FolderSync", FS)).status_code == 200
    assert stored(db)[:2] == ("Allowed", "Global")


async def test_out_of_budgets_trips_after_repeated_refusals(client, admin, clock, db):
    admin.throttling_set(SHELL, eas_max_burst=0, eas_recharge_rate=3600, eas_cutoff_balance=0)
    admin.autoblock_set(SHELL, "OutOfBudgets", incidence_limit=1, block_duration=60)
    dev = Raw(client)
    assert [(await dev.post("FolderSync", FS)).status_code for _ in range(3)] == [200, 503, 503]
    assert stored(db) == ("Blocked", "OutOfBudgets", "OutOfBudgets")
    admin.throttling_set(SHELL, eas_max_burst="unlimited")
    await assert_blocked(dev, "OutOfBudgets", 3600)


async def test_incidences_spread_beyond_the_duration_do_not_trip(client, admin, clock, db):
    admin.autoblock_set(SHELL, "CommandFrequency", incidence_limit=1, incidence_duration=1)
    dev = Raw(client)
    for _ in range(3):
        assert (await dev.post("FolderSync", FS)).status_code == 200
        clock.advance(61)
    assert stored(db)[:2] == ("Allowed", "Global")


async def test_succeeding_repeats_are_not_a_loop(client, admin, db):
    admin.autoblock_set(SHELL, "RecentCommands", incidence_limit=1)
    dev = Raw(client)
    for _ in range(4):
        assert (await dev.post("FolderSync", FS)).status_code == 200
    assert stored(db)[:2] == ("Allowed", "Global")


async def test_a_different_failing_request_starts_the_loop_count_again(client, admin, db):
    admin.autoblock_set(SHELL, "RecentCommands", incidence_limit=1)
    dev = Raw(client)
    other = E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection", E("AirSync:SyncKey", "998"),
                                                          E("AirSync:CollectionId", "1"))))
    for tree in (BAD_SYNC, BAD_SYNC, other, BAD_SYNC, other):
        await dev.call("Sync", tree)
    assert stored(db)[:2] == ("Allowed", "Global")


async def test_admin_allow_lifts_the_block_and_api_web_show_it(client, admin, db):
    from tests.server.test_web import login, set_role

    admin.autoblock_set(SHELL, "CommandFrequency", incidence_limit=2, block_duration=30)
    dev = Raw(client)
    await trip(dev, "CommandFrequency")
    set_role(db, "alice", "org-admin")
    r = await client.get("/api/devices/alice/dev1", auth=("alice", "secret"))
    assert (r.json()["access_state"], r.json()["access_reason"], r.json()["autoblock_reason"]) == \
        ("Blocked", "CommandFrequency", "CommandFrequency")
    assert r.json()["autoblock_until"] == "2026-01-05T09:30:00+00:00"
    r = await client.post("/api/devices/alice/dev1/explain", auth=("alice", "secret"))
    assert (r.json()["reason"], r.json()["autoblock_until"]) == ("CommandFrequency", "2026-01-05T09:30:00+00:00")
    await login(client)
    page = await client.get("/ecp/devices")
    assert "CommandFrequency (auto-block until 2026-01-05T09:30:00+00:00)" in page.text
    page = await client.get("/ecp/org")
    assert "eas_max_concurrency" in page.text and "<td>CommandFrequency</td><td>2</td>" in page.text
    admin.device_allow(SHELL, "alice", "dev1")
    assert (await dev.post("FolderSync", FS)).status_code == 200
    assert stored(db) == ("Allowed", "Individual", "")


async def test_unknown_behaviour_is_refused(admin):
    from easlab.storage.access import AccessError

    with pytest.raises(AccessError, match="behaviour 'Loops'"):
        admin.autoblock_set(SHELL, "Loops", incidence_limit=1)


def inbox_notices(db):
    from email import message_from_bytes, policy

    from easlab.storage.mailbox import folder_by_type
    from easlab.storage.models import Item
    from easlab.storage.users import get_user

    with db.session() as s:
        inbox = folder_by_type(s, get_user(s, "alice"), 2)
        items = s.exec(select(Item).where(Item.folder_id == inbox.id).order_by(Item.id)).all()
        return [(i.subject, message_from_bytes(i.mime, policy=policy.default).get_body(("plain",)).get_content())
                for i in items]


@pytest.mark.parametrize("own_insert", ["Ask <b>IT</b> first.", ""])
async def test_enable_notification_email_mails_the_user_the_block(client, admin, db, own_insert):
    admin.autoblock_set(SHELL, "EnableNotificationEmail", incidence_limit=1, admin_email_insert="Call the help desk.")
    admin.autoblock_set(SHELL, "CommandFrequency", incidence_limit=2, block_duration=30, admin_email_insert=own_insert)
    await trip(Raw(client), "CommandFrequency")
    [(subject, text)] = inbox_notices(db)
    assert subject == "Your device is blocked (iPhone)"
    insert = "Ask IT first." if own_insert else "Call the help desk."
    assert insert in text and "Device access state reason: CommandFrequency" in text


async def test_no_notice_while_enable_notification_email_is_off(client, admin, db):
    admin.autoblock_set(SHELL, "CommandFrequency", incidence_limit=2, block_duration=30, admin_email_insert="x")
    await trip(Raw(client), "CommandFrequency")
    assert stored(db)[2] == "CommandFrequency" and inbox_notices(db) == []
