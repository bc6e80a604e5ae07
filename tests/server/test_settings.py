"""Settings over HTTP: Out of Office get/set and the automatic replies it sends, DeviceInformation,
UserInformation, DevicePassword; exact trees and statuses."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from easlab.eas.email import wire_datetime
from easlab.eas.wbxml import E
from easlab.storage.models import Device, OutboundMail
from easlab.storage.users import get_user
from tests.server.eas_helpers import Raw, message, provision
from tests.server.test_compose import folder_items, mime, send_mail

pytestmark = pytest.mark.anyio
S = "Settings"


def oof_set(state=None, start=None, end=None, *messages):
    parts = [E(f"{S}:OofState", state) if state is not None else None,
             E(f"{S}:StartTime", start) if start else None, E(f"{S}:EndTime", end) if end else None]
    return E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Set", *parts, *messages)))


def oof_message(audience, enabled, text=None, body_type="Text"):
    return E(f"{S}:OofMessage", E(f"{S}:{audience}"), E(f"{S}:Enabled", enabled),
             E(f"{S}:ReplyMessage", text) if text is not None else None, E(f"{S}:BodyType", body_type) if body_type else None)


def oof_get(body_type="Text"):
    return E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Get", E(f"{S}:BodyType", body_type) if body_type else None)))


def ok(*blocks):
    return E(f"{S}:Settings", E(f"{S}:Status", 1), *blocks)


BOB = dict(user="bob", password="hunter2", device="bobphone")
AWAY = [oof_message("AppliesToInternal", 1, "Back on Monday."),
        oof_message("AppliesToExternalKnown", 1, "<p>I am <b>away</b>.</p>", "HTML"),
        oof_message("AppliesToExternalUnknown", 1, "<p>I am <b>away</b>.</p>", "HTML")]


# -- Oof get and set -----------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
@pytest.mark.req("MS-ASCMD_R783", "MS-ASCMD_R785", "MS-ASCMD_R786", "MS-ASCMD_R787", "MS-ASCMD_R793",
                 "MS-ASCMD_R794", "MS-ASCMD_R795", "MS-ASCMD_R796", "MS-ASCMD_R802", "MS-ASCMD_R803",
                 "MS-ASCMD_R804", "MS-ASCMD_R805", "MS-ASCMD_R5866", "MS-ASCMD_R5867", "MS-ASCMD_R1106",
                 "MS-ASCMD_R5677", "MS-ASCMD_R826", "MS-ASCMD_R2251", "MS-ASCMD_R2252", "MS-ASCMD_R4387",
                 "MS-ASCMD_R4396")
async def test_oof_set_then_get_in_text_and_html(client, version):
    dev = Raw(client, version=version)
    assert await dev.call("Settings", oof_get()) == ok(E(f"{S}:Oof", E(f"{S}:Status", 1), E(f"{S}:Get", E(f"{S}:OofState", 0),
        *[E(f"{S}:OofMessage", E(f"{S}:{a}"), E(f"{S}:Enabled", 0), E(f"{S}:BodyType", "Text"))
          for a in ("AppliesToInternal", "AppliesToExternalKnown", "AppliesToExternalUnknown")])))
    assert await dev.call("Settings", oof_set(1, None, None, *AWAY)) == ok(E(f"{S}:Oof", E(f"{S}:Status", 1)))
    text = await dev.call("Settings", oof_get("Text"))
    assert text == ok(E(f"{S}:Oof", E(f"{S}:Status", 1), E(f"{S}:Get", E(f"{S}:OofState", 1),
        E(f"{S}:OofMessage", E(f"{S}:AppliesToInternal"), E(f"{S}:Enabled", 1), E(f"{S}:ReplyMessage", "Back on Monday."), E(f"{S}:BodyType", "Text")),
        E(f"{S}:OofMessage", E(f"{S}:AppliesToExternalKnown"), E(f"{S}:Enabled", 1), E(f"{S}:ReplyMessage", "I am away."), E(f"{S}:BodyType", "Text")),
        E(f"{S}:OofMessage", E(f"{S}:AppliesToExternalUnknown"), E(f"{S}:Enabled", 1), E(f"{S}:ReplyMessage", "I am away."), E(f"{S}:BodyType", "Text")))))
    rich = (await dev.call("Settings", oof_get("HTML"))).find(f"{S}:Oof").find(f"{S}:Get")
    messages = rich.findall(f"{S}:OofMessage")
    assert messages[0].text(f"{S}:ReplyMessage") == "<html><body><pre>Back on Monday.</pre></body></html>"
    assert messages[2].text(f"{S}:ReplyMessage") == "<p>I am <b>away</b>.</p>"
    assert {m.text(f"{S}:BodyType") for m in messages} == {"HTML"}
    # Switching off keeps the messages for next time.
    await dev.call("Settings", oof_set(0))
    again = (await dev.call("Settings", oof_get())).find(f"{S}:Oof").find(f"{S}:Get")
    assert again.text(f"{S}:OofState") == "0" and again.findall(f"{S}:OofMessage")[0].text(f"{S}:ReplyMessage") == "Back on Monday."


async def test_time_based_oof_round_trips_its_window(client):
    dev = Raw(client, version="14.1")
    start, end = "2030-07-01T08:00:00.000Z", "2030-07-15T17:30:00.000Z"
    assert await dev.call("Settings", oof_set(2, start, end, AWAY[0])) == ok(E(f"{S}:Oof", E(f"{S}:Status", 1)))
    got = (await dev.call("Settings", oof_get())).find(f"{S}:Oof").find(f"{S}:Get")
    assert [c.name for c in got.children][:3] == ["OofState", "StartTime", "EndTime"]
    assert (got.text(f"{S}:OofState"), got.text(f"{S}:StartTime"), got.text(f"{S}:EndTime")) == ("2", start, end)


@pytest.mark.parametrize("request_tree, status", [
    (oof_set(2, "2030-07-01T08:00:00.000Z", None), 2),  # time-based needs both times
    (oof_set(2, "2030-07-15T08:00:00.000Z", "2030-07-01T08:00:00.000Z"), 6),  # ends before it starts
    (oof_set(2, "1st of July", "2030-07-01T08:00:00.000Z"), 5),
    (oof_set(7), 5),
    (oof_set(1, None, None, oof_message("AppliesToInternal", 1, "hi", body_type=None)), 2),  # ReplyMessage needs BodyType
    (oof_set(1, None, None, oof_message("AppliesToInternal", 1, "hi", body_type="RTF")), 5),
    (oof_get(body_type=None), 2),
    (E(f"{S}:Settings", E(f"{S}:Oof")), 2),
])
@pytest.mark.req("MS-ASCMD_R2272", "MS-ASCMD_R3992", "MS-ASCMD_R5702", "MS-ASCMD_R5385", "MS-ASCMD_R5582",
                 "MS-ASCMD_R5583", "MS-ASCMD_R5845", "MS-ASCMD_R4398", "MS-ASCMD_R484")
async def test_oof_statuses(client, request_tree, status):
    dev = Raw(client)
    assert await dev.call("Settings", request_tree) == ok(E(f"{S}:Oof", E(f"{S}:Status", status)))
    assert (await dev.call("Settings", oof_get())).find(f"{S}:Oof").find(f"{S}:Get").text(f"{S}:OofState") == "0"


@pytest.mark.req("MS-ASCMD_R483", "MS-ASCMD_R3863")
async def test_unreadable_settings_get_only_the_top_status(client):
    dev = Raw(client)
    assert await dev.call("Settings", E(f"{S}:Settings", E(f"{S}:Model", "not a block"))) == E(f"{S}:Settings", E(f"{S}:Status", 2))
    assert await dev.call("Settings") == E(f"{S}:Settings", E(f"{S}:Status", 2))
    assert (await Raw(client, version="2.5").post("Settings", oof_get())).status_code == 501  # 12.0+
    # RightsManagementInformation is 14.1+.
    assert await Raw(client, version="12.1").call("Settings", E(f"{S}:Settings", E(f"{S}:RightsManagementInformation", E(f"{S}:Get")))) \
        == E(f"{S}:Settings", E(f"{S}:Status", 2))
    answer = await dev.call("Settings", E(f"{S}:Settings", E(f"{S}:RightsManagementInformation", E(f"{S}:Get"))))
    block = answer.find(f"{S}:RightsManagementInformation")
    assert block.text(f"{S}:Status") == "1" and block.find(f"{S}:Get").has("RightsManagement:RightsManagementTemplates")


# -- the automatic replies ----------------------------------------------------------------------
async def test_oof_answers_each_sender_once_internal_and_external(client, app, db):
    bob = Raw(client, **BOB)
    assert await bob.call("Settings", oof_set(1, None, None, *AWAY)) == ok(E(f"{S}:Oof", E(f"{S}:Status", 1)))
    alice = Raw(client)
    for n in range(2):
        assert (await alice.post("SendMail", send_mail(mime(subject=f"Lunch {n}"), client_id=f"l{n}"))).content == b""
    # One internal reply, in alice's Inbox, threaded to her first mail.
    [reply] = folder_items(db, "alice", 2)
    assert (reply.subject, reply.sender) == ("Automatic reply: Lunch 0", '"Bob Example" <bob@easlab.test>')
    assert reply.body_text.strip() == "Back on Monday."
    assert b"Auto-Submitted: auto-replied" in reply.mime
    # External senders (SMTP in) get the external message through the outbound queue, once.
    for n in range(2):
        await app.state.store.deliver(message(subject=f"Offer {n}", sender="Carol <carol@example.net>", to="bob@easlab.test"),
                                      ["bob@easlab.test"])
    with db.session() as s:
        [queued] = s.exec(select(OutboundMail)).all()
    assert queued.recipients == ["carol@example.net"] and queued.subject == "Automatic reply: Offer 0"
    assert b"<b>away</b>" in queued.mime
    # Setting Out of Office again starts a new period: carol hears from it once more.
    await bob.call("Settings", oof_set(1, None, None, *AWAY))
    await app.state.store.deliver(message(subject="Offer 2", sender="carol@example.net", to="bob@easlab.test"), ["bob@easlab.test"])
    with db.session() as s:
        assert len(s.exec(select(OutboundMail)).all()) == 2
    assert len(folder_items(db, "bob", 2)) == 5  # every message arrived, of course


@pytest.mark.parametrize("headers", [
    [("Auto-Submitted", "auto-generated")],
    [("Precedence", "bulk")],
    [("List-Id", "<team.lists.example.net>")],
    [("X-Auto-Response-Suppress", "OOF, DR")],
    [("Return-Path", "<>")],
])
async def test_no_reply_to_automatic_list_or_bounce_mail(client, app, db, headers):
    bob = Raw(client, **BOB)
    await bob.call("Settings", oof_set(1, None, None, *AWAY))
    m = message(subject="Newsletter", sender="news@example.net", to="bob@easlab.test")
    extra = "".join(f"{k}: {v}\n" for k, v in headers).encode()
    await app.state.store.deliver(extra + m, ["bob@easlab.test"])
    with db.session() as s:
        assert s.exec(select(OutboundMail)).all() == []
    assert len(folder_items(db, "bob", 2)) == 1


async def test_no_reply_to_oneself_to_disabled_audiences_or_outside_the_window(client, app, db):
    bob = Raw(client, **BOB)
    await bob.call("Settings", oof_set(1, None, None, oof_message("AppliesToInternal", 1, "away"),
                                       oof_message("AppliesToExternalUnknown", 0, "away")))
    await app.state.store.deliver(message(sender="bob@easlab.test", to="bob@easlab.test"), ["bob@easlab.test"])
    await app.state.store.deliver(message(sender="carol@example.net", to="bob@easlab.test"), ["bob@easlab.test"])
    assert [i.subject for i in folder_items(db, "bob", 2)] == ["Hello", "Hello"]
    with db.session() as s:
        assert s.exec(select(OutboundMail)).all() == []
    # A time-based window that has passed, then one around now.
    now = datetime.now(timezone.utc)
    await bob.call("Settings", oof_set(2, wire_datetime(now - timedelta(days=9)), wire_datetime(now - timedelta(days=2)), *AWAY))
    await Raw(client).post("SendMail", send_mail(mime(subject="late"), client_id="w1"))
    assert folder_items(db, "alice", 2) == []
    await bob.call("Settings", oof_set(2, wire_datetime(now - timedelta(days=1)), wire_datetime(now + timedelta(days=1)), *AWAY))
    await Raw(client).post("SendMail", send_mail(mime(subject="now"), client_id="w2"))
    assert [i.subject for i in folder_items(db, "alice", 2)] == ["Automatic reply: now"]


# -- DeviceInformation, UserInformation, DevicePassword --------------------------------------------
async def test_device_information_is_stored(client, db):
    dev = Raw(client, version="12.1")
    info = E(f"{S}:DeviceInformation", E(f"{S}:Set", E(f"{S}:Model", "Pixel 8"), E(f"{S}:IMEI", "353918051234567"),
             E(f"{S}:FriendlyName", "Work phone"), E(f"{S}:OS", "Android 14"), E(f"{S}:OSLanguage", "de-DE"),
             E(f"{S}:PhoneNumber", "+4930123456"), E(f"{S}:UserAgent", "Android-Mail/2024")))
    assert await dev.call("Settings", E(f"{S}:Settings", info)) == ok(E(f"{S}:DeviceInformation", E(f"{S}:Status", 1)))
    with db.session() as s:
        d = s.exec(select(Device)).one()
        assert (d.model, d.imei, d.friendly_name, d.os, d.os_language, d.phone_number, d.info_user_agent) == (
            "Pixel 8", "353918051234567", "Work phone", "Android 14", "de-DE", "+4930123456", "Android-Mail/2024")
    empty = E(f"{S}:DeviceInformation", E(f"{S}:Set"))
    assert await dev.call("Settings", E(f"{S}:Settings", empty)) == ok(E(f"{S}:DeviceInformation", E(f"{S}:Status", 2)))


@pytest.mark.parametrize("version, get", [
    ("12.1", E(f"{S}:Get", E(f"{S}:EmailAddresses", E(f"{S}:SMTPAddress", "alice@easlab.test")))),
    ("14.0", E(f"{S}:Get", E(f"{S}:EmailAddresses", E(f"{S}:SMTPAddress", "alice@easlab.test")))),
    ("14.1", E(f"{S}:Get", E(f"{S}:Accounts", E(f"{S}:Account", E(f"{S}:UserDisplayName", "Alice Example"),
        E(f"{S}:EmailAddresses", E(f"{S}:SMTPAddress", "alice@easlab.test"), E(f"{S}:PrimarySmtpAddress", "alice@easlab.test")))))),
    ("16.1", E(f"{S}:Get", E(f"{S}:Accounts", E(f"{S}:Account", E(f"{S}:UserDisplayName", "Alice Example"),
        E(f"{S}:EmailAddresses", E(f"{S}:SMTPAddress", "alice@easlab.test"), E(f"{S}:PrimarySmtpAddress", "alice@easlab.test")))))),
])
@pytest.mark.req("MS-ASCMD_R733", "MS-ASCMD_R3679", "MS-ASCMD_R5898", "MS-ASCMD_R5901", "MS-ASCMD_R5905")
async def test_user_information(client, version, get):
    resp = await Raw(client, version=version).call("Settings", E(f"{S}:Settings", E(f"{S}:UserInformation", E(f"{S}:Get"))))
    assert resp == ok(E(f"{S}:UserInformation", E(f"{S}:Status", 1), get))


def device_password(password):
    return E(f"{S}:Settings", E(f"{S}:DevicePassword", E(f"{S}:Set", E(f"{S}:Password", password))))


@pytest.mark.req("MS-ASCMD_R4400")
async def test_device_password_needs_password_recovery_in_the_policy(client, db):
    from easlab.storage.policies import update_policy

    dev = Raw(client, version="14.1")
    assert await dev.call("Settings", device_password("1234-5678")) == ok(E(f"{S}:DevicePassword", E(f"{S}:Status", 7)))
    with db.session() as s:
        update_policy(s, "Default", {"PasswordRecoveryEnabled": True})
    await provision(dev)
    assert await dev.call("Settings", device_password("1234-5678")) == ok(E(f"{S}:DevicePassword", E(f"{S}:Status", 1)))
    assert await dev.call("Settings", device_password("x" * 256)) == ok(E(f"{S}:DevicePassword", E(f"{S}:Status", 5)))
    with db.session() as s:
        alice = get_user(s, "alice")
        assert s.exec(select(Device.recovery_password).where(Device.user_id == alice.id)).one() == "1234-5678"


@pytest.mark.req("MS-ASCMD_R469", "MS-ASCMD_R5713", "MS-ASCMD_R480", "MS-ASCMD_R481", "MS-ASCMD_R4392")
async def test_several_blocks_are_answered_in_order(client):
    dev = Raw(client, version="14.1")
    tree = E(f"{S}:Settings", E(f"{S}:UserInformation", E(f"{S}:Get")), oof_set(1, None, None, AWAY[0]).children[0],
             E(f"{S}:DevicePassword", E(f"{S}:Set")))
    resp = await dev.call("Settings", tree)
    assert [(c.name, c.text(f"{S}:Status")) for c in resp.children] == [
        ("Status", None), ("UserInformation", "1"), ("Oof", "1"), ("DevicePassword", "2")]
    assert resp.text(f"{S}:Status") == "1"
