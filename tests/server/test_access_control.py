"""Device access control over HTTP (digest §11 items 1-59), for 12.1, 14.1 and 16.1 devices."""
import asyncio
import time

import httpx
import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, decode, encode
from easlab.server.admin import SHELL, Admin
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.storage.models import Device, DeviceAccessChange, Item, OrgSettings
from easlab.storage.users import get_user
from tests.conftest import until_held, until_timer
from tests.server.eas_helpers import Raw, collection, commands, device_information, message, provision

pytestmark = pytest.mark.anyio
FS = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))
A = "AirSync"


@pytest.fixture
def admin(app, db):
    with db.session() as s:
        from easlab.storage.access import org_settings

        org = org_settings(s)
        # No tarpit, and no discovery window: these devices send no DeviceInformation, and the
        # discovery rules have tests of their own.
        org.blocked_delay, org.discovery_minutes = 0, 0
        from easlab.storage.users import add_user

        add_user(s, "boss", "pw", "The Boss")
    return Admin(db, app.state.hub.handle_event, "easlab.test")


def inbox_subjects(db, user="alice"):
    with db.session() as s:
        from easlab.storage.mailbox import folder_by_type

        inbox = folder_by_type(s, get_user(s, user), 2)
        return [i.subject for i in s.exec(select(Item).where(Item.folder_id == inbox.id).order_by(Item.id))]


def stored(db, device_id="dev1"):
    with db.session() as s:
        d = s.exec(select(Device).where(Device.device_id == device_id)).one()
        return d.access_state, d.access_reason, d.access_rule


async def fs_status(dev):
    r = await dev.post("FolderSync", FS)
    return r.status_code, (decode(r.content).text("FolderHierarchy:Status") if r.content else None)


async def test_default_allow_new_device_syncs(client, admin, db):  # item 1
    assert await fs_status(Raw(client)) == (200, "1")
    assert stored(db) == ("Allowed", "Global", "")


async def test_switch_to_quarantine_hits_existing_devices_at_next_request(client, app, admin, db):  # items 2-4
    admin.org_set(SHELL, default_access="quarantine", admin_mail=["boss@easlab.test"])
    phone, tablet = Raw(client, device="phone1"), Raw(client, device="tablet1")
    admin.org_set(SHELL, default_access="allow")
    await fs_status(phone), await fs_status(tablet)
    admin.org_set(SHELL, default_access="quarantine")
    assert stored(db, "phone1")[0] == "Allowed"  # unchanged until the device talks (item 4)
    await fs_status(phone)
    await fs_status(tablet)
    assert stored(db, "phone1") == ("Quarantined", "Global", "")
    assert stored(db, "tablet1") == ("Quarantined", "Global", "")
    assert len([s for s in inbox_subjects(db) if "quarantined" in s]) == 2  # one user mail per device
    assert len(inbox_subjects(db, "boss")) == 2  # one admin mail per device
    await fs_status(phone)  # same state: no new mail (item 53)
    assert len(inbox_subjects(db, "boss")) == 2


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_quarantined_device_sees_only_the_notice(client, app, admin, db, version):  # items 22, 30-33, 44
    await app.state.store.deliver(message(subject="secret plans"), ["alice@easlab.test"])
    admin.org_set(SHELL, default_access="quarantine", admin_mail=["boss@easlab.test"])
    dev = Raw(client, version=version)
    folders = await dev.folder_sync("0")  # item 31: the full hierarchy
    assert folders.find("FolderHierarchy:Changes").text("FolderHierarchy:Count") == "10"
    cls = [E(f"{A}:Class", "Email")] if version == "12.1" else []
    tree = lambda key: E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", *cls, E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1"))))  # noqa: E731
    key = collection(await dev.call("Sync", tree("0"))).text(f"{A}:SyncKey")
    resp = await dev.call("Sync", tree(key))
    got = commands(resp)
    assert [(k, s) for k, _, s in got] == [("Add", "Your device is quarantined (iPhone)")]
    key = collection(resp).text(f"{A}:SyncKey")
    r = await dev.post("Sync", tree(key))  # not sent again
    assert r.content == b""
    sent = collection(await dev.call("Sync", E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", *cls, E(f"{A}:SyncKey", "0"), E(f"{A}:CollectionId", "4"))))))
    assert sent.text(f"{A}:Status") == "1"
    # Ping: new mail does not complete it while quarantined.
    await app.state.store.deliver(message(subject="more secrets"), ["alice@easlab.test"])
    ping = E("Ping:Ping", E("Ping:HeartbeatInterval", 60), E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))
    held = asyncio.create_task(dev.call("Ping", ping))
    await until_held(app)
    assert not held.done()
    with app.state.bus.subscribe("held") as rehold:
        await app.state.store.deliver(message(subject="and more"), ["alice@easlab.test"])
        # The mail wakes the Ping, which finds it withheld and goes back to waiting: held again.
        again = await asyncio.wait_for(rehold.get(), 10)
    assert again.get("device_id") == "dev1" and not held.done() and app.state.hub.is_held(1, "dev1")
    # Approval (item 46): the device is Allowed/Individual and the withheld mail arrives.
    admin.device_allow(SHELL, "alice", "dev1")
    assert (await asyncio.wait_for(held, 5)).text("Ping:Status") in ("2", "7")
    resp = await dev.call("Sync", tree(key))
    subjects = [s for k, _, s in commands(resp) if k == "Add"]
    assert subjects == ["secret plans", "more secrets", "and more"]  # the notice is not added twice
    assert stored(db) == ("Allowed", "Individual", "")
    assert not [s for s in inbox_subjects(db) if "approved" in s.lower()]  # item 47


async def test_refused_commands_while_quarantined(client, admin, stand_in):  # items 35-43
    from easlab.eas.response import Response

    async def never(ctx, request):
        raise AssertionError("a quarantined device must not reach the command")

    stand_in("MoveItems", never, "Move:MoveItems")
    admin.org_set(SHELL, default_access="quarantine")
    dev = Raw(client)
    await fs_status(dev)
    resp = await dev.call("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", "1:1"), E("Move:SrcFldId", "1"), E("Move:DstFldId", "6"))))
    assert resp == E("Move:MoveItems", E("Move:Response", E("Move:Status", 5)))


@pytest.mark.parametrize("version, expect", [("12.1", (403, None)), ("14.1", (200, "129")), ("16.1", (200, "129"))])
async def test_blocked_device_everywhere_with_throttle_header(settings, admin, db, version, expect):  # 5, 27, 28
    """The tarpit sleeps on the app's clock (review A.3): under a ManualClock the answer leaves when
    the clock has moved `blocked_delay` seconds, not before, and no real time passes."""
    clock = ManualClock()
    app = create_app(settings, db, clock=clock)
    admin.org_set(SHELL, blocked_delay=17)
    admin.device_block(SHELL, "alice", "DEV1")  # case-insensitive, before it ever connected
    started = time.monotonic()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        held = asyncio.create_task(Raw(client, version=version).post("FolderSync", FS))
        await until_timer(clock)
        clock.advance(16)
        assert clock.pending == 1 and not held.done()  # the tarpit's timer has not fired: still held
        clock.advance(1)
        r = await asyncio.wait_for(held, 5)
    assert time.monotonic() - started < 10  # the tarpit took clock time, not 17 real seconds
    assert clock.pending == 0
    assert (r.status_code, decode(r.content).text("FolderHierarchy:Status") if r.content else None) == expect
    assert r.headers["X-MS-ASThrottle"] == "Individual"
    assert stored(db) == ("Blocked", "Individual", "")
    # The user gets a notice, the admins nothing (items 49, 54).
    assert inbox_subjects(db) == ["Your device is blocked (iPhone)"]


async def test_revoke_sends_back_to_quarantine_and_mails_again(client, admin, db):  # items 10-12
    admin.org_set(SHELL, default_access="quarantine", admin_mail=["boss@easlab.test"])
    a, b = Raw(client, device="devA"), Raw(client, device="devB")
    admin.device_allow(SHELL, "alice", "devA")
    admin.device_allow(SHELL, "alice", "devB")
    await fs_status(a), await fs_status(b)
    assert stored(db, "devA")[:2] == ("Allowed", "Individual")
    admin.rule_add(SHELL, "DeviceType", "iPhone", "block")  # approval outranks later rules
    await fs_status(a)
    assert stored(db, "devA")[:2] == ("Allowed", "Individual")
    admin.rule_remove(SHELL, "iPhone (DeviceType)")
    admin.device_revoke(SHELL, "alice", "devA")  # one device (item 11)
    await fs_status(a), await fs_status(b)
    assert stored(db, "devA")[:2] == ("Quarantined", "Global")
    assert stored(db, "devB")[:2] == ("Allowed", "Individual")
    admin.device_revoke(SHELL, "alice")  # all of them (item 10)
    await fs_status(b)
    assert stored(db, "devB")[:2] == ("Quarantined", "Global")
    assert len(inbox_subjects(db, "boss")) == 2
    with db.session() as s:
        changes = s.exec(select(DeviceAccessChange).order_by(DeviceAccessChange.id)).all()
        assert [(c.old_state, c.new_state) for c in changes if c.device_pk == changes[0].device_pk] == [("Unknown", "Allowed"), ("Allowed", "Quarantined")]


async def test_rules_and_discovery_over_http(client, admin, db):  # items 21-22, 25
    admin.rule_add(SHELL, "DeviceOS", "iOS 17.1 21B80", "allow")
    admin.org_set(SHELL, default_access="block", discovery_minutes=14)
    dev = Raw(client)
    await fs_status(dev)
    assert stored(db)[0] == "DeviceDiscovery"  # no DeviceInformation yet
    assert inbox_subjects(db) == []  # no mail for discovery
    await provision(dev)  # 14.1 Provision carries DeviceInformation (OS iOS 17.1 21B80)
    await fs_status(dev)
    assert stored(db) == ("Allowed", "DeviceRule", "iOS 17.1 21B80 (DeviceOS)")


async def test_quarantined_device_still_has_to_provision(client, admin, db):  # item 45
    from easlab.storage.policies import update_policy

    with db.session() as s:
        update_policy(s, "Default", {"PasswordEnabled": True, "AllowNonProvisionableDevices": False})
    admin.org_set(SHELL, default_access="quarantine")
    dev = Raw(client)
    dev.policy_key = 0
    assert await fs_status(dev) == (200, "142")
    await provision(dev)
    assert await fs_status(dev) == (200, "1")
    assert stored(db)[0] == "Quarantined"


async def test_user_mail_content_and_missing_admin_recipients(client, admin, db, caplog):  # items 48, 52
    admin.org_set(SHELL, default_access="quarantine", admin_mail=[], user_mail_insert="<b>Ask Frank.</b>")
    assert any("no valid admin mail recipient" in w for w in admin.org_show(SHELL)["warnings"])
    dev = Raw(client)
    await provision(dev)
    await fs_status(dev)
    with db.session() as s:
        notice = s.exec(select(Item).where(Item.subject.like("Your device%"))).one()
        assert notice.read is False
        assert notice.sender == '"Microsoft Exchange" <MicrosoftExchange@easlab.test>'
        assert notice.to == '"Alice Example" <alice@easlab.test>'
        assert "<b>Ask Frank.</b>" in notice.body_html
        for label in ("Device model", "Device type", "Device ID", "Device OS", "Device user agent", "Device IMEI",
                      "Exchange ActiveSync version", "Device access state", "Device access state reason"):
            assert label in notice.body_html
        assert "iPhone15,2" in notice.body_html and "Quarantined" in notice.body_html
    assert inbox_subjects(db, "boss") == []
    assert any("no valid AdminMailRecipients" in r.getMessage() for r in caplog.records)


async def test_admin_mail_to_other_domain_goes_to_the_outbound_queue(client, admin, db):  # item 50
    from easlab.storage.models import OutboundMail

    admin.org_set(SHELL, default_access="quarantine", admin_mail=["it@example.net", "boss@easlab.test"])
    await fs_status(Raw(client))
    with db.session() as s:
        queued = s.exec(select(OutboundMail)).one()
        assert queued.recipients == ["it@example.net"] and queued.status == "queued"
        assert "The Boss" not in queued.subject and "Alice Example (alice)" in queued.subject
    assert len(inbox_subjects(db, "boss")) == 1


@pytest.mark.req("MS-ASCMD_R4869", "MS-ASCMD_R7555")
@pytest.mark.req("MS-ASHTTP_R180")
@pytest.mark.parametrize("version, expect", [("12.1", (403, None)), ("14.1", (200, "126"))])
async def test_activesync_disabled(client, admin, db, version, expect):  # item 56
    admin.user_set(SHELL, "alice", activesync=False)
    r = await Raw(client, version=version).post("FolderSync", FS)
    assert (r.status_code, decode(r.content).text("FolderHierarchy:Status") if r.content else None) == expect
    with db.session() as s:
        assert s.exec(select(Device)).all() == []  # no partnership, no state, no mail
    assert inbox_subjects(db) == []


@pytest.mark.parametrize("version, expect", [("14.0", (403, None)), ("14.1", (200, "177"))])
async def test_device_limit(client, admin, db, version, expect):  # items 57-58
    admin.org_set(SHELL, max_devices=2)
    for n in (1, 2):
        assert await fs_status(Raw(client, device=f"d{n}", version=version)) == (200, "1")
    third = Raw(client, device="d3", version=version)
    r = await third.post("FolderSync", FS)
    assert (r.status_code, decode(r.content).text("FolderHierarchy:Status") if r.content else None) == expect
    await third.post("FolderSync", FS)
    assert await fs_status(Raw(client, device="d1", version=version)) == (200, "1")  # existing ones keep working
    assert inbox_subjects(db) == ["Error with your new mobile phone partnership"]  # once per 24 h


async def test_wipe_reaches_a_blocked_device(client, admin, db):  # item 78
    dev = Raw(client)
    await provision(dev)
    admin.device_block(SHELL, "alice", "dev1")
    admin.device_wipe(SHELL, "alice", "dev1")
    assert await fs_status(dev) == (200, "140")
    dev.policy_key = 0
    resp = await dev.call("Provision", E("Provision:Provision"))
    assert resp.find("Provision:RemoteWipe") is not None


async def test_remove_makes_the_next_request_a_new_device(client, admin, db):  # item 81
    dev = Raw(client)
    await fs_status(dev)
    first = stored(db)
    admin.device_remove(SHELL, "alice", "dev1")
    with db.session() as s:
        assert s.exec(select(Device)).all() == []
    await fs_status(dev)
    assert stored(db) == first


async def test_explain_agrees_with_the_gate_on_an_xmswl_rule(client, admin, db):  # review A.4
    admin.rule_add(SHELL, "XMSWLHeader", "LabWiFi", "Block")
    dev = Raw(client)
    headers = {**dev.headers(), "X-MS-WL": "LabWiFi"}
    r = await client.post("/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=dev1&DeviceType=iPhone",
                          content=encode(FS), headers=headers)
    assert (r.status_code, decode(r.content).text("FolderHierarchy:Status")) == (200, "129")
    assert stored(db) == ("Blocked", "DeviceRule", "LabWiFi (XMSWLHeader)")
    explain = admin.device_explain(SHELL, "alice", "dev1")
    assert (explain["state"], explain["reason"], explain["rule"]) == ("Blocked", "DeviceRule", "LabWiFi (XMSWLHeader)")
    assert explain["path"][-1] == "rule 'LabWiFi (XMSWLHeader)' matches XMSWLHeader 'LabWiFi': Block"


async def test_explain_counts_the_policy_and_max_devices_as_the_gate_does(client, admin, db):
    admin.org_set(SHELL, max_devices=1)
    assert await fs_status(Raw(client)) == (200, "1")
    r = await Raw(client, device="dev2").post("FolderSync", FS)
    assert decode(r.content).text("FolderHierarchy:Status") == "177"
    explain = admin.device_explain(SHELL, "alice", "dev2")
    assert (explain["known"], explain["state"], explain["step"]) == (False, None, "MaxDevices")
    assert explain["path"][-1] == "1 partnerships, the limit is 1: a new partnership is refused (177)"
