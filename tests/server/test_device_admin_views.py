"""What administrators see of a device and its wipe, as Exchange shows it (digest §2, §7.2, §11
items 16, 76, 77): Model = DeviceType until DeviceInformation, Get-MobileDeviceStatistics' Status
names, and Clear-MobileDevice's NotificationEmailAddresses."""
import base64
import json

import pytest
from click.testing import CliRunner
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.admin import SHELL, Admin
from easlab.server.cli import main
from easlab.storage.access import AccessError
from easlab.storage.models import Item, OutboundMail
from tests.server.eas_helpers import Raw, provision

pytestmark = pytest.mark.anyio
FS = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))
ORG_ADMIN = {"Authorization": "Basic " + base64.b64encode(b"boss:pw").decode()}


@pytest.fixture
def admin(app, db):
    from easlab.storage.users import add_user

    with db.session() as s:
        add_user(s, "boss", "pw", "The Boss").role = "org-admin"
    return Admin(db, app.state.hub.handle_event, "easlab.test")


def cli(settings, *args):
    result = CliRunner().invoke(main, [*args, "--db", settings.db_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def inbox(db, user):
    from easlab.storage.mailbox import folder_by_type
    from easlab.storage.users import get_user

    with db.session() as s:
        folder = folder_by_type(s, get_user(s, user), 2)
        return [(i.subject, i.message_class) for i in s.exec(select(Item).where(Item.folder_id == folder.id))]


async def test_a_device_without_device_information_shows_its_type_as_model(client, settings, admin):  # item 16
    await Raw(client, device="old1", device_type="WP8", version="12.1").post("FolderSync", FS)
    informed = Raw(client, device="new1")
    await provision(informed)  # 14.1: DeviceInformation with Model iPhone15,2
    rows = {r["device_id"]: r for r in json.loads(cli(settings, "device", "list", "--json"))}
    assert (rows["old1"]["model"], rows["new1"]["model"]) == ("WP8", "iPhone15,2")
    table = cli(settings, "device", "list").splitlines()
    assert any(line.split()[1:4] == ["old1", "WP8", "WP8"] for line in table)
    r = await client.get("/api/devices/alice/old1", headers=ORG_ADMIN)
    assert r.json()["model"] == "WP8"


async def test_wipe_states_read_as_exchange_names_them(client, settings, admin):  # items 75-77
    dev = Raw(client)
    await provision(dev)
    shown = lambda: json.loads(cli(settings, "device", "list", "--json"))[0]  # noqa: E731
    assert shown()["wipe"] == "DeviceOk"
    admin.device_wipe(SHELL, "alice", "dev1")
    assert (shown()["wipe"], shown()["wipe_cancellable"]) == ("DeviceWipePending", True)
    dev.policy_key = 0
    await dev.call("Provision", E("Provision:Provision"))  # the directive is sent: still pending
    row = shown()
    assert (row["wipe"], row["wipe_pending"], row["wipe_cancellable"]) == ("DeviceWipePending", True, False)
    with pytest.raises(AccessError, match=r"already sent to the device \(DeviceWipePending\)"):
        admin.device_wipe(SHELL, "alice", "dev1", cancel=True)
    page = (await client.get("/api/devices/alice/dev1", headers=ORG_ADMIN)).json()
    assert page["wipe"] == "DeviceWipePending"
    await dev.call("Provision", E("Provision:Provision", E("Provision:RemoteWipe", E("Provision:Status", 1))))
    assert shown()["wipe"] == "DeviceWipeSucceeded"
    assert "DeviceWipeSucceeded" in cli(settings, "device", "list")


async def test_the_notification_addresses_hear_of_the_confirmed_wipe(client, settings, db, admin):  # item 77
    dev = Raw(client)
    await provision(dev)
    out = cli(settings, "device", "wipe", "alice", "dev1", "--notification-email", "boss@easlab.test",
              "--notification-email", "it@example.net")
    assert "boss@easlab.test, it@example.net will be told" in out
    assert admin.device_list(SHELL, "alice")[0]["wipe_notification_emails"] == ["boss@easlab.test", "it@example.net"]
    dev.policy_key = 0
    await dev.call("Provision", E("Provision:Provision"))
    assert inbox(db, "boss") == []  # not before the device confirms
    await dev.call("Provision", E("Provision:Provision", E("Provision:RemoteWipe", E("Provision:Status", 1))))
    assert inbox(db, "alice") == [("Remote Device Wipe Confirmation", "IPM.Note.Exchange.ActiveSync.RemoteWipeConfirmation")]
    assert [subject for subject, _ in inbox(db, "boss")] == ["Remote Device Wipe Confirmation"]
    with db.session() as s:
        queued = s.exec(select(OutboundMail)).one()
        assert (queued.recipients, queued.subject) == (["it@example.net"], "Remote Device Wipe Confirmation")
        assert b"Bcc" not in queued.mime and b"it@example.net" not in queued.mime


async def test_the_api_takes_notification_addresses_and_refuses_bad_ones(client, admin):
    await Raw(client).post("FolderSync", FS)
    r = await client.post("/api/devices/alice/dev1/wipe", headers=ORG_ADMIN, json={"notification_emails": ["not mail"]})
    assert r.status_code == 400 and "not an e-mail address: not mail" in r.json()["error"]
    r = await client.post("/api/devices/alice/dev1/wipe", headers=ORG_ADMIN, json={"notification_emails": ["it@example.net"]})
    assert r.status_code == 200
    assert (r.json()["wipe"], r.json()["wipe_notification_emails"]) == ("DeviceWipePending", ["it@example.net"])
    r = await client.post("/api/devices/alice/dev1/wipe", headers=ORG_ADMIN, json={"cancel": True})
    assert (r.json()["wipe"], r.json()["wipe_notification_emails"]) == ("DeviceOk", [])
