"""What a blocked or quarantined device may change itself (digest §5.2, §5.3, §11 items 24, 25, 34):
a blocked device's DeviceInformation is not stored, so an OS upgrade does not free it; a
quarantined device's own Calendar, Contacts, Tasks and Notes changes are stored."""

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, decode
from easlab.server.admin import SHELL, Admin
from easlab.storage.items import find_folder
from easlab.storage.models import Device, Item
from easlab.storage.users import get_user
from tests.server.eas_helpers import Raw, collection, device_information, message

pytestmark = pytest.mark.anyio
A, B = "AirSync", "AirSyncBase"
FS = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))
OLD_OS, NEW_OS = "iOS 16.0 20A362", "iOS 17.1 21B80"


@pytest.fixture
def admin(app, db):
    with db.session() as s:
        from easlab.storage.access import org_settings

        org = org_settings(s)
        org.blocked_delay, org.discovery_minutes = 0, 0
    return Admin(db, app.state.hub.handle_event, "easlab.test")


def device_row(db, device_id="dev1"):
    with db.session() as s:
        d = s.exec(select(Device).where(Device.device_id == device_id)).one()
        return d.access_state, d.access_reason, d.access_rule, d.os


def status(r, path):
    assert r.status_code == 200
    tree = decode(r.content)
    for tag in path[:-1]:
        tree = tree.find(tag)
    return tree.text(path[-1])


def provision_request(os):
    return E("Provision:Provision", device_information(os=os), E("Provision:Policies", E("Provision:Policy",
             E("Provision:PolicyType", "MS-EAS-Provisioning-WBXML"))))


def settings_request(os):
    return E("Settings:Settings", device_information(os=os))


async def test_a_blocked_device_cannot_report_its_way_out_of_a_deviceos_block(client, admin, db):  # item 24
    dev = Raw(client)
    dev.policy_key = 0
    assert status(await dev.post("Provision", provision_request(OLD_OS)), ["Provision:Status"]) == "1"
    admin.rule_add(SHELL, "DeviceOS", OLD_OS, "block")
    assert status(await dev.post("FolderSync", FS), ["FolderHierarchy:Status"]) == "129"
    assert device_row(db) == ("Blocked", "DeviceRule", f"{OLD_OS} (DeviceOS)", OLD_OS)
    # Upgraded, it reports the new OS through Settings and Provision: 129 both, nothing stored.
    r = await dev.post("Settings", settings_request(NEW_OS))
    assert (status(r, ["Settings:Status"]), r.headers["X-MS-ASThrottle"]) == ("129", "DeviceRule")
    assert device_row(db) == ("Blocked", "DeviceRule", f"{OLD_OS} (DeviceOS)", OLD_OS)
    assert status(await dev.post("Provision", provision_request(NEW_OS)), ["Provision:Status"]) == "129"
    assert device_row(db) == ("Blocked", "DeviceRule", f"{OLD_OS} (DeviceOS)", OLD_OS)
    assert status(await dev.post("FolderSync", FS), ["FolderHierarchy:Status"]) == "129"


async def test_a_report_is_judged_after_the_request_it_came_with(client, admin, db):
    """The answer is decided on what the server knew before the request: a new device's first
    Provision runs, and the OS it reports blocks it from the next request on."""
    admin.rule_add(SHELL, "DeviceOS", OLD_OS, "block")
    dev = Raw(client)
    dev.policy_key = 0
    assert status(await dev.post("Provision", provision_request(OLD_OS)), ["Provision:Status"]) == "1"
    assert device_row(db) == ("Blocked", "DeviceRule", f"{OLD_OS} (DeviceOS)", OLD_OS)
    assert status(await dev.post("FolderSync", FS), ["FolderHierarchy:Status"]) == "129"


@pytest.mark.parametrize("command", ["Settings", "Provision"])
async def test_a_quarantined_device_reporting_a_new_os_is_let_in_at_once(client, admin, db, command):  # item 25
    admin.rule_add(SHELL, "DeviceOS", OLD_OS, "quarantine")
    dev = Raw(client)
    dev.policy_key = 0
    await dev.post("Provision", provision_request(OLD_OS))
    assert device_row(db)[:2] == ("Quarantined", "DeviceRule")
    dev.policy_key = None if command == "Settings" else 0  # the default policy lets it in unprovisioned
    tree = settings_request(NEW_OS) if command == "Settings" else provision_request(NEW_OS)
    assert status(await dev.post(command, tree), [f"{command}:Status"]) == "1"
    assert device_row(db) == ("Allowed", "Global", "", NEW_OS)


# -- item 34 ----------------------------------------------------------------------------------------
CALENDAR, CONTACTS, TASKS, NOTES = "7", "8", "9", "10"
NEW_ITEMS = {
    CALENDAR: (E("Calendar:Subject", "Dentist"), E("Calendar:StartTime", "20261210T090000Z"),
               E("Calendar:EndTime", "20261210T100000Z"), E("Calendar:UID", "dentist@phone")),
    CONTACTS: (E("Contacts:FileAs", "Diaz, Dora"), E("Contacts:FirstName", "Dora"), E("Contacts:LastName", "Diaz")),
    TASKS: (E("Tasks:Subject", "Buy milk"), E("Tasks:Complete", 0)),
    NOTES: (E("Notes:Subject", "Ideas"), E("Notes:MessageClass", "IPM.StickyNote")),
}
CHANGED = {
    CALENDAR: E("Calendar:Subject", "Dentist (moved)"), CONTACTS: E("Contacts:LastName", "Diaz-Ruiz"),
    TASKS: E("Tasks:Subject", "Buy oat milk"), NOTES: E("Notes:Subject", "More ideas"),
}


def changed(folder):
    new = CHANGED[folder]
    return [new if c.tag == new.tag else c for c in NEW_ITEMS[folder]]


def appdata(*children):
    return E(f"{A}:ApplicationData", *children)


def commands_of(resp):
    cmds = collection(resp).find(f"{A}:Commands") if resp is not None else None
    return [(c.name, c.text(f"{A}:ServerId")) for c in cmds.children] if cmds is not None else []


async def test_a_quarantined_device_stores_its_own_pim_changes_and_gets_none(client, app, admin, db):  # items 32, 34
    admin.org_set(SHELL, default_access="quarantine")
    phone, desk = Raw(client, device="phone"), Raw(client, device="desk")
    admin.device_allow(SHELL, "alice", "desk")
    await phone.folder_sync(), await desk.folder_sync()
    keys, ids = {}, {}
    for folder, data in NEW_ITEMS.items():
        # Something the server holds before: withheld from the quarantined phone.
        desk_key = collection(await desk.sync("0", folder)).text(f"{A}:SyncKey")
        await desk.sync(desk_key, folder, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "d"), appdata(data[0]))))
        key = collection(await phone.sync("0", folder)).text(f"{A}:SyncKey")
        resp = await phone.sync(key, folder, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"), appdata(*data))))
        coll = collection(resp)
        reply = coll.find(f"{A}:Responses").find(f"{A}:Add")
        assert (reply.text(f"{A}:ClientId"), reply.text(f"{A}:Status")) == ("c1", "1")
        assert coll.find(f"{A}:Commands") is None  # no server changes, though the folder has one
        sid = reply.text(f"{A}:ServerId")
        resp = await phone.sync(coll.text(f"{A}:SyncKey"), folder,
                                E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), appdata(*changed(folder)))))
        coll = collection(resp)
        assert coll.find(f"{A}:Responses") is None and coll.find(f"{A}:Commands") is None  # accepted, nothing sent
        keys[folder], ids[folder] = coll.text(f"{A}:SyncKey"), sid
    assert device_row(db, "phone")[0] == "Quarantined"
    with db.session() as s:
        for folder, sid in ids.items():
            row = find_folder(s, get_user(s, "alice"), folder)
            item = s.exec(select(Item).where(Item.folder_id == row.id, Item.server_id == sid)).one()
            stored = dict(item.pim)  # the server may add (an event's DtStamp)
            assert {c.tag: stored.get(c.tag) for c in changed(folder)} == {c.tag: str(c.value) for c in changed(folder)}
    # Approved: the phone gets what was withheld, and not its own items back.
    admin.device_allow(SHELL, "alice", "phone")
    for folder in NEW_ITEMS:
        got = commands_of(await phone.sync(keys[folder], folder))
        assert [kind for kind, _ in got] == ["Add"] and got[0][1] != ids[folder]


async def test_a_quarantined_device_still_gets_no_mail_but_the_notice(client, app, admin, db):  # items 32, 33
    await app.state.store.deliver(message(subject="secret plans"), ["alice@easlab.test"])
    admin.org_set(SHELL, default_access="quarantine")
    phone = Raw(client)
    await phone.folder_sync()
    key = collection(await phone.sync("0", "1")).text(f"{A}:SyncKey")
    resp = await phone.sync(key, "1")
    assert [c.find(f"{A}:ApplicationData").text("Email:Subject") for c in collection(resp).find(f"{A}:Commands").children] \
        == ["Your device is quarantined (iPhone)"]
