"""The easlab pytest plugin in-process (the default): every fixture, factory and wait, using
nothing but the fixture."""
import asyncio
from email.message import EmailMessage

import pytest

from easlab.server.admin import SHELL
from easlab.testing import profiles
from easlab.testing.plugin import InProcessEaslab, ModeError, User, WaitTimeout

pytestmark = pytest.mark.anyio


async def test_defaults_are_in_process_with_a_manual_clock(easlab):
    assert isinstance(easlab, InProcessEaslab)
    assert easlab.mode == "inprocess" and easlab.scope == "function"
    assert easlab.url == "http://testserver" and easlab.eas_url.endswith("/Microsoft-Server-ActiveSync")
    before = easlab.clock.now()
    await asyncio.sleep(0.01)
    assert easlab.clock.now() == before  # stands still until advanced
    easlab.clock.advance(minutes=1)
    assert (easlab.clock.now() - before).total_seconds() == 60
    assert easlab.app.state.clock is easlab.clock
    with pytest.raises(ModeError, match="no SMTP listener"):
        easlab.smtp_port
    with pytest.raises(ModeError):
        easlab.process


def test_make_user_in_a_plain_test(easlab):
    alice = easlab.make_user("Alice", password="pw1", display_name="Alice Example", role="viewer")
    assert alice == User("alice", "pw1", "Alice Example", "viewer", "alice@easlab.test")
    assert str(alice) == "alice"
    assert [m.subject for m in easlab.messages(alice)] == []
    with pytest.raises(ValueError, match="exists"):
        easlab.make_user("alice")
    with pytest.raises(ValueError, match="role"):
        easlab.make_user("bob", role="king")


async def test_deliver_then_wait_for_mail(easlab):
    alice = easlab.make_user("alice")
    delivered = await easlab.deliver(to=alice, subject="Quarterly figures", body="See attached.",
                                     sender="Bob <bob@example.net>")
    assert delivered.recipients == ["alice@easlab.test"] and delivered.message_id
    mail = await easlab.wait_for_mail(alice, match="Quarterly")
    assert mail.subject == "Quarterly figures"
    assert mail.sender == '"Bob" <bob@example.net>' or "bob@example.net" in mail.sender
    assert mail.body.strip() == "See attached."
    assert mail.message["Subject"] == "Quarterly figures"
    assert mail.folder == "Inbox" and mail.user == "alice"


async def test_wait_for_mail_wakes_on_a_later_delivery(easlab):
    alice = easlab.make_user("alice")
    waiting = asyncio.create_task(easlab.wait_for_mail("alice", match="later", timeout=10))
    await asyncio.sleep(0)  # the wait is subscribed and has found nothing
    assert not waiting.done()
    await easlab.deliver(to="alice", subject="not this one")
    await easlab.deliver(to=alice, subject="later, this one")
    assert (await waiting).subject == "later, this one"


async def test_deliver_an_email_message_bytes_and_a_predicate(easlab):
    alice = easlab.make_user("alice")
    bob = easlab.make_user("bob")
    msg = EmailMessage()
    msg["From"] = "carol@example.net"
    msg["To"] = "alice@easlab.test, Bob <bob@easlab.test>"
    msg["Subject"] = "to both"
    msg.set_content("hello both")
    assert (await easlab.deliver(msg)).recipients == ["alice@easlab.test", "bob@easlab.test"]
    raw = b"From: dave@example.net\r\nTo: alice@easlab.test\r\nSubject: raw bytes\r\n\r\nbody\r\n"
    await easlab.deliver(raw, to="alice")
    assert (await easlab.wait_for_mail(bob, match="both")).body.strip() == "hello both"
    first = await easlab.wait_for_mail(alice)
    assert first.subject == "to both"
    second = await easlab.wait_for_mail(alice, after=first)
    assert second.subject == "raw bytes"
    by_sender = await easlab.wait_for_mail(alice, match=lambda m: "dave@" in m.sender)
    assert by_sender.id == second.id and by_sender.message["From"] == "dave@example.net"
    assert [m.subject for m in easlab.messages(alice)] == ["to both", "raw bytes"]


async def test_deliver_to_an_unknown_user_is_refused(easlab):
    import smtplib

    easlab.make_user("alice")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await easlab.deliver(to="nobody", subject="x")


async def test_waits_time_out_as_timeout_errors(easlab):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    with pytest.raises(WaitTimeout, match="mail for alice"):
        await easlab.wait_for_mail(alice, match="never", timeout=0.05)
    with pytest.raises(TimeoutError):
        await easlab.wait_for_ping(phone, timeout=0.05)
    with pytest.raises(TimeoutError):
        await easlab.wait_for_device_state(alice, phone, "Blocked", timeout=0.05)
    with pytest.raises(TimeoutError):
        await easlab.wait_for_outbound("someone@example.net", timeout=0.05)
    with pytest.raises(LookupError):
        await easlab.wait_for_mail("nobody", timeout=1)


async def test_ping_held_then_delivery_answers_it(easlab):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice, version="16.1")
    await phone.sync_all("Inbox")
    ping = asyncio.create_task(phone.ping(["Inbox"], heartbeat=3540))
    held = await easlab.wait_for_ping(phone)
    assert held["device_id"] == phone.state.device_id and held["held"]
    assert not ping.done()
    await easlab.deliver(to=alice, subject="wake up")
    result = await asyncio.wait_for(ping, 5)
    assert result.status == 2 and result.folders == [phone.core.resolve("Inbox")]
    synced = await phone.sync_all("Inbox")
    assert [i for r in synced for i in r.added]


async def test_the_heartbeat_runs_on_the_manual_clock(easlab):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    ping = asyncio.create_task(phone.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(phone)
    easlab.clock.advance(599)
    await asyncio.sleep(0)
    assert not ping.done()
    easlab.clock.advance(1)
    assert (await asyncio.wait_for(ping, 5)).status == 1  # expired, no changes: no real time passed


async def test_make_device_profiles_versions_and_ids(easlab):
    alice = easlab.make_user("alice")
    iphone = await easlab.make_device(alice, profile="ios", device_id="MYPHONE")
    samsung = await easlab.make_device("alice", profile="android-samsung", version="12.1")
    plain = await easlab.make_device(alice)
    kiosk = await easlab.make_device(alice, {"device_type": "Kiosk", "user_agent": "Kiosk/1.0", "model": "K1"},
                                     connect=False)
    ios = profiles.get("ios")
    assert iphone.state.device_id == "MYPHONE" and iphone.state.protocol_version == ios.protocol_version
    assert iphone.state.device_type == ios.device_type and iphone.state.user_agent == ios.user_agent
    assert iphone.connection.ok and iphone.connection.commands[:3] == ["OPTIONS", "Settings", "Provision"]
    assert samsung.state.protocol_version == "12.1" and samsung.state.device_id.startswith("SEC")
    assert plain.state.device_id.startswith("EASLABSIM") and plain.state.folders and plain.state.policy_key
    assert not kiosk.exchanges and kiosk.state.info.model == "K1" and kiosk.state.device_type == "Kiosk"
    devices = {d["device_id"]: d for d in easlab.admin.device_list(SHELL, user="alice")}
    assert set(devices) == {"MYPHONE", samsung.state.device_id, plain.state.device_id}
    assert devices["MYPHONE"]["model"] == ios.device_information["Model"]  # DeviceInformation reached the server
    with pytest.raises(ValueError, match="profile"):
        await easlab.make_device(alice, profile="toaster")
    with pytest.raises(ValueError, match="identity"):
        await easlab.make_device(alice, {"colour": "red"})
    with pytest.raises(ValueError, match="version"):
        await easlab.make_device(alice, version="99.0")
    with pytest.raises(LookupError):
        await easlab.make_device("stranger")


async def test_policy_and_assign_policy(easlab):
    alice = easlab.make_user("alice")
    easlab.policy("Strict", PasswordEnabled=True, MinPasswordLength=6, AllowNonProvisionableDevices=False)
    easlab.assign_policy(alice, "Strict")
    phone = await easlab.make_device(alice, profile="ios")  # provisions as iOS Mail does
    assert phone.state.policy_key is not None and phone.state.folders
    provisioned = await phone.provision()
    assert provisioned.policy["DevicePasswordEnabled"] == "1"
    assert provisioned.policy["MinDevicePasswordLength"] == "6"
    changed = easlab.policy("Strict", MinPasswordLength=8)
    assert changed["settings"]["MinPasswordLength"] == 8
    with pytest.raises(ValueError, match="unknown policy setting"):
        easlab.policy("Strict", NoSuchThing=1)


async def test_policy_is_checked_by_the_admin_service(easlab):
    """easlab.policy goes through server/admin/service.py as the CLI, web UI and API do."""
    from easlab.eas.policy import PolicySettings

    with pytest.raises(ValueError, match="may not contain control characters, '/' or"):
        easlab.policy("Kiosk / lab")
    with pytest.raises(ValueError, match="MinPasswordLength must be a whole number"):
        easlab.policy("Default", MinPasswordLength="8")
    assert easlab.policy("  Kiosk ", AllowCamera=False) == {
        "name": "Kiosk", "default": False, "settings": PolicySettings(AllowCamera=False).__dict__}
    with pytest.raises(LookupError, match="no policy 'Nope'"):
        easlab.assign_policy(easlab.make_user("alice"), "Nope")


async def test_policy_refresh_interval_follows_the_clock(easlab):
    alice = easlab.make_user("alice")
    easlab.policy("Default", DevicePolicyRefreshInterval=24)
    phone = await easlab.make_device(alice)
    await phone.provision()
    assert (await phone.folder_sync()).status == 1
    easlab.clock.advance(hours=25)
    assert (await phone.folder_sync()).status == 143  # policy refresh: no real day went by


async def test_a_policy_change_ends_a_held_ping(easlab):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    await phone.provision()
    ping = asyncio.create_task(phone.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(phone)
    easlab.policy("Default", MaxInactivityTimeLock=5)
    result = await asyncio.wait_for(ping, 5)
    assert result.status in (7, 1, 2) or result.needs_provisioning


async def test_rules_by_device_type_and_by_model(easlab):
    easlab.org(blocked_delay=0)
    rule = easlab.rule("DeviceType", "iPhone", "Block")
    assert rule["name"] == "iPhone (DeviceType)"
    easlab.rule("DeviceModel", "K1", "Quarantine")
    alice = easlab.make_user("alice")
    iphone = await easlab.make_device(alice, profile="ios")
    samsung = await easlab.make_device(alice, profile="android-samsung")
    kiosk = await easlab.make_device(alice, {"device_type": "Kiosk", "model": "K1"})  # says its model at Provision
    assert not iphone.connection.ok
    assert (await easlab.wait_for_device_state(alice, iphone, "Blocked"))["access_rule"] == "iPhone (DeviceType)"
    assert (await easlab.wait_for_device_state(alice, samsung.state.device_id, "allowed"))["access_state"] == "Allowed"
    assert (await easlab.wait_for_device_state(alice, kiosk, "Quarantined"))["access_rule"] == "K1 (DeviceModel)"


async def test_a_client_that_never_provisions_waits_in_discovery(easlab):
    easlab.rule("DeviceType", "Android", "Block")
    alice = easlab.make_user("alice")
    gmail = await easlab.make_device(alice, profile="android-gmail")  # provisions only when asked: no model
    assert (await easlab.wait_for_device_state(alice, gmail, "DeviceDiscovery"))["access_reason"] == "DeviceRule"
    easlab.org(blocked_delay=0)
    easlab.clock.advance(minutes=14)
    await gmail.folder_sync()
    await easlab.wait_for_device_state(alice, gmail, "Blocked")


async def test_org_quarantine_discovery_then_quarantine_when_the_clock_says_so(easlab):
    settings = easlab.org(default_access="quarantine", admin_mail=["it-admin@example.net"])
    assert settings["default_access"] == "Quarantine"
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice, provision=False)  # no DeviceInformation: discovery first
    assert (await easlab.wait_for_device_state(alice, phone, "DeviceDiscovery"))["access_reason"] == "Global"
    waiting = asyncio.create_task(easlab.wait_for_device_state(alice, phone, "Quarantined", timeout=10))
    easlab.clock.advance(minutes=14)  # the discovery window ends; no real time passes
    await phone.folder_sync()
    state = await waiting
    assert state["access_state"] == "Quarantined" and state["access_reason"] == "Global"
    notice = await easlab.wait_for_mail(alice, match=lambda m: "quarantine" in (m.subject + m.body).lower())
    assert notice.user == "alice"
    # Exchange mails the admins; it-admin@example.net is another domain: the outbound queue.
    out = await easlab.wait_for_outbound("it-admin@example.net")
    assert out.recipients == ["it-admin@example.net"] and out.status == "queued"
    assert (await easlab.wait_for_outbound(lambda o: "alice" in o.message.get_body().get_content())).id == out.id


async def test_allowing_a_quarantined_device(easlab):
    easlab.org(default_access="quarantine", discovery_minutes=0)
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice)
    await easlab.wait_for_device_state(alice, phone, "Quarantined")
    easlab.admin.device_allow(SHELL, "alice", phone.state.device_id)
    await phone.folder_sync()
    assert (await easlab.wait_for_device_state(alice, phone, "Allowed"))["access_reason"] == "Individual"


async def test_http_client_as_a_user(easlab):
    admin = easlab.make_user("root", role="org-admin")
    client = easlab.http(admin)
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["role"] == "org-admin"
    anonymous = easlab.http()
    assert (await anonymous.get("/api/me")).status_code == 401


@pytest.mark.easlab(domain="contoso.test")
async def test_the_marker_sets_the_domain(easlab):
    alice = easlab.make_user("alice")
    assert alice.address == "alice@contoso.test"
    await easlab.deliver(to="alice@contoso.test", subject="local")
    assert (await easlab.wait_for_mail(alice)).subject == "local"


@pytest.mark.easlab(clock="system")
async def test_the_marker_can_choose_the_real_clock(easlab):
    from easlab.server.clock import SystemClock

    assert isinstance(easlab.clock, SystemClock)


async def test_the_admin_service_writes_times_on_the_servers_clock(easlab):
    easlab.make_user("alice")
    phone = await easlab.make_device("alice")
    easlab.clock.advance(minutes=90)  # the ManualClock is now an hour and a half from the wall clock
    view = easlab.admin.device_wipe(SHELL, "alice", phone.state.device_id)
    assert view["wipe_requested_at"] == easlab.clock.now().isoformat(timespec="seconds")
