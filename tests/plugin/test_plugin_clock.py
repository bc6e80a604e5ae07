"""The test clock: /api/clock moves a ManualClock (in-process, or `easlab serve --test-clock`),
and without one it refuses, naming the flag; in process mode `easlab.clock` moves the server
process's time with the same calls as in-process, so every time-based behaviour is tested
against a real process without real time passing."""
import asyncio
import re
from datetime import timedelta

import pytest

from easlab.eas.email import wire_datetime
from easlab.eas.wbxml import E
from easlab.server.mailer import LINK_MAX_AGE
from easlab.testing.plugin import ModeError
from easlab.testing.plugin.clock import ServerClock

pytestmark = pytest.mark.anyio
PROCESS = pytest.mark.easlab(mode="process")
S = "Settings"


# -- the API --------------------------------------------------------------------------------------
async def test_the_clock_api_reads_advances_and_sets_a_manual_clock(easlab):
    admin = easlab.http(easlab.make_user("root", role="org-admin"))
    start = easlab.clock.now()
    view = (await admin.get("/api/clock")).json()
    assert view == {"now": start.isoformat(), "monotonic": easlab.clock.monotonic(), "pending": 0}
    moved = await admin.post("/api/clock/advance", json={"seconds": 90.5})
    assert moved.status_code == 200 and moved.json()["now"] == (start + timedelta(seconds=90.5)).isoformat()
    assert easlab.clock.now() == start + timedelta(seconds=90.5)
    target = start + timedelta(days=2)
    assert (await admin.post("/api/clock/set", json={"now": target.isoformat()})).json()["now"] == target.isoformat()
    assert easlab.clock.now() == target
    back = await admin.post("/api/clock/advance", json={"seconds": -1})
    assert back.status_code == 400 and "time does not run backwards" in back.json()["error"]
    earlier = await admin.post("/api/clock/set", json={"now": start.isoformat()})
    assert earlier.status_code == 400 and "time does not run backwards" in earlier.json()["error"]
    naive = await admin.post("/api/clock/set", json={"now": "2030-01-01T00:00:00"})
    assert naive.status_code == 400 and "offset" in naive.json()["error"]
    assert (await admin.post("/api/clock/advance", json={"minutes": 1})).status_code == 400
    assert easlab.clock.now() == target


async def test_the_clock_api_is_behind_the_admin_apis_authentication(easlab):
    viewer = easlab.http(easlab.make_user("watcher", role="viewer"))
    assert (await viewer.get("/api/clock")).status_code == 200
    refused = await viewer.post("/api/clock/advance", json={"seconds": 60})
    assert refused.status_code == 403 and "may not configure" in refused.json()["error"]
    assert (await easlab.http().get("/api/clock")).status_code == 401
    assert (await easlab.http(easlab.make_user("alice")).post("/api/clock/advance", json={"seconds": 1})).status_code == 403


@pytest.mark.easlab(clock="system")
async def test_on_the_real_clock_the_api_refuses_naming_the_flag(easlab):
    admin = easlab.http(easlab.make_user("root", role="org-admin"))
    for answer in (await admin.get("/api/clock"), await admin.post("/api/clock/advance", json={"seconds": 60}),
                   await admin.post("/api/clock/set", json={"now": "2030-01-01T00:00:00+00:00"})):
        assert answer.status_code == 404
        assert "easlab serve --test-clock" in answer.json()["error"]


@PROCESS
@pytest.mark.easlab(clock="system")
async def test_a_server_process_without_the_flag_refuses(easlab):
    with pytest.raises(ModeError, match="real clock"):
        easlab.clock
    status, body = easlab._api("GET", "/api/clock", ok=(404,))
    assert status == 404 and "--test-clock" in body["error"]


# -- a real process on the test clock -----------------------------------------------------------
@PROCESS
async def test_process_mode_offers_the_servers_clock(easlab):
    assert isinstance(easlab.clock, ServerClock)
    before = easlab.clock.now()
    assert easlab.clock.now() == before  # stands still: the server runs on its test clock
    easlab.clock.advance(minutes=1)
    assert easlab.clock.now() - before == timedelta(minutes=1)
    easlab.clock.set(before + timedelta(hours=1))
    assert easlab.clock.now() - before == timedelta(hours=1)
    with pytest.raises(ValueError, match="backwards"):
        easlab.clock.advance(-5)


@PROCESS
async def test_advancing_wakes_a_held_ping(easlab):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    ping = asyncio.create_task(phone.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(phone)
    assert easlab.clock.pending >= 1  # the heartbeat, asleep on the server's clock
    easlab.clock.advance(599)
    assert (await easlab.wait_for_ping(phone))["held"] is True  # a second early: still held
    easlab.clock.advance(1)
    assert (await asyncio.wait_for(ping, 5)).status == 1  # the heartbeat expired, no real ten minutes


@PROCESS
async def test_the_discovery_window_ends_after_14_minutes(easlab):
    easlab.org(default_access="quarantine", admin_mail=["it-admin@example.net"])
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice, provision=False)  # no DeviceInformation: discovery first
    assert (await easlab.wait_for_device_state(alice, phone, "DeviceDiscovery"))["access_reason"] == "Global"
    easlab.clock.advance(minutes=13)
    await phone.folder_sync()
    assert (await easlab.wait_for_device_state(alice, phone, "DeviceDiscovery"))["access_state"] == "DeviceDiscovery"
    easlab.clock.advance(minutes=1)
    await phone.folder_sync()
    state = await easlab.wait_for_device_state(alice, phone, "Quarantined")
    assert state["access_state"] == "Quarantined" and state["access_reason"] == "Global"


@PROCESS
async def test_the_policy_refresh_interval_expires_in_whole_hours(easlab):
    alice = easlab.make_user("alice")
    easlab.policy("Default", DevicePolicyRefreshInterval=24)
    phone = await easlab.make_device(alice)
    assert (await phone.folder_sync()).status == 1
    easlab.clock.advance(hours=23, minutes=59)
    assert (await phone.folder_sync()).status == 1
    easlab.clock.advance(minutes=2)
    assert (await phone.folder_sync()).status == 143  # the policy must be refreshed: a day passed on the clock


@PROCESS
async def test_the_admin_mails_approval_link_expires_after_a_week(easlab):
    easlab.org(default_access="quarantine", discovery_minutes=0, admin_mail=["it-admin@example.net"])
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    await easlab.wait_for_device_state(alice, phone, "Quarantined")
    out = await easlab.wait_for_outbound(lambda o: o.recipients == ["it-admin@example.net"])
    path = re.search(r"/ecp/link/[\w.\-]+", out.message.get_body().get_content()).group(0)
    browser = easlab.http()
    assert (await browser.get(path)).status_code == 303  # valid: on to the login page
    easlab.clock.advance(LINK_MAX_AGE)
    assert (await browser.get(path)).status_code == 303  # a week to the second: still valid
    easlab.clock.advance(1)
    expired = await browser.get(path)
    assert expired.status_code == 403 and "invalid or expired" in expired.text


def oof_set(start, end):
    reply = E(f"{S}:OofMessage", E(f"{S}:AppliesToExternalUnknown"), E(f"{S}:Enabled", 1),
              E(f"{S}:ReplyMessage", "Away this afternoon."), E(f"{S}:BodyType", "Text"))
    return E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Set", E(f"{S}:OofState", 2), E(f"{S}:StartTime", wire_datetime(start)),
                                             E(f"{S}:EndTime", wire_datetime(end)), reply)))


@PROCESS
async def test_a_time_based_oof_replies_only_within_its_window(easlab):
    bob = easlab.make_user("bob")
    phone = await easlab.make_device(bob)
    now = easlab.clock.now()
    assert (await phone.command("Settings", oof_set(now + timedelta(hours=1), now + timedelta(hours=2)))).status == 1
    await easlab.deliver(to=bob, subject="Before", sender="carol@example.net")
    easlab.clock.advance(hours=1)
    await easlab.deliver(to=bob, subject="During", sender="dave@example.net")
    first = await easlab.wait_for_outbound(lambda o: True)  # carol's mail came before the window: no reply
    assert (first.recipients, first.subject) == (["dave@example.net"], "Automatic reply: During")
    easlab.clock.advance(hours=1)
    await easlab.deliver(to=bob, subject="After", sender="erin@example.net")
    _, queue = easlab._api("GET", "/api/outbound")
    assert [o["subject"] for o in queue] == ["Automatic reply: During"]
