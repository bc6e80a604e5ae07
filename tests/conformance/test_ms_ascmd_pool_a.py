"""MS-ASCMD Sync and folder rules of pool a: what a Change leaves alone and what it deletes (2.2.3.24),
Conflict (2.2.3.34), Class and Options (2.2.3.27.6), ConversationMode (2.2.3.36.2), DeletesAsMoves,
GetChanges, and FolderSync/GetHierarchy (2.2.1.5, 2.2.1.8, 2.2.3.49.4).  Exact trees and rows."""
from __future__ import annotations

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, decode
from easlab.storage.models import Folder, Item
from tests.server.eas_helpers import Raw, collection, message
from tests.server.items_helpers import FH, deliver, folder_key, items_of, synced
from tests.server.test_sync_pim import add, appdata, everything, primed, recurring_meeting_141

pytestmark = pytest.mark.anyio
A, B, C, CO = "AirSync", "AirSyncBase", "Calendar", "Contacts"
FLAG = E("Email:Flag", E("Email:Status", 2), E("Email:FlagType", "Flag for follow up"))


def change(sid, *data):
    return E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:ApplicationData", *data)))


def row(db, sid):
    with db.session() as s:
        item = s.exec(select(Item).where(Item.server_id == sid)).one()
        return item.read, item.flag_status, item.flag_type, item.subject


async def one_mail(app, client, device="dev1"):
    await deliver(app, message(subject="Keep me", sender="Bob Sender <bob@example.net>"))
    dev = Raw(client, device=device)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    resp = await dev.sync(key, "1")
    [(_, sid, _)] = items_of(resp)
    return dev, collection(resp).text(f"{A}:SyncKey"), sid


# -- Change: what stays, what goes (2.2.3.24) ---------------------------------------------------------
@pytest.mark.req("MS-ASCMD_R873", "MS-ASCMD_R5825", "MS-ASCMD_R5826")
async def test_a_flag_read_or_categories_change_leaves_the_rest(client, app, db):
    dev, key, sid = await one_mail(app, client)
    resp = await dev.sync(key, "1", change(sid, E("Email:Read", 1)))
    key = collection(resp).text(f"{A}:SyncKey")
    assert row(db, sid) == (True, 0, "", "Keep me")
    resp = await dev.sync(key, "1", change(sid, FLAG))  # only Flag: Read stays 1
    key = collection(resp).text(f"{A}:SyncKey")
    assert row(db, sid) == (True, 2, "Flag for follow up", "Keep me")
    resp = await dev.sync(key, "1", change(sid, E("Email:Read", 0)))  # only Read: the flag stays
    key = collection(resp).text(f"{A}:SyncKey")
    assert row(db, sid) == (False, 2, "Flag for follow up", "Keep me")
    resp = await dev.sync(key, "1", change(sid, E("Email:Categories", E("Email:Category", "Blue"))))
    assert not collection(resp).has(f"{A}:Responses")  # accepted
    assert row(db, sid) == (False, 2, "Flag for follow up", "Keep me")  # only Categories: Read and Flag stay


@pytest.mark.req("MS-ASCMD_R875")
async def test_a_change_that_repeats_every_property_is_no_error(client, app, db):
    dev, key, sid = await one_mail(app, client)
    everything_sent = [E("Email:To", "alice@easlab.test"), E("Email:From", "Bob Sender <bob@example.net>"),
                       E("Email:Subject", "Keep me"), E("Email:Importance", 1), E("Email:Read", 1), FLAG]
    resp = await dev.sync(key, "1", change(sid, *everything_sent))
    coll = collection(resp)
    assert coll.text(f"{A}:Status") == "1" and not coll.has(f"{A}:Responses")
    assert row(db, sid) == (True, 2, "Flag for follow up", "Keep me")


async def a_meeting(client):
    dev = Raw(client, device="w", device_type="TestPhone")
    reply, key = await add(dev, "7", await primed(dev, "7"), recurring_meeting_141())
    return dev, key, reply.text(f"{A}:ServerId")


@pytest.mark.req("MS-ASCMD_R876", "MS-ASCMD_R878", "MS-ASCMD_R879", "MS-ASCMD_R881")
async def test_absent_exceptions_and_body_stay_other_omissions_are_deleted(client):
    dev, key, sid = await a_meeting(client)
    await dev.sync(key, "7", change(sid, E(f"{C}:Subject", "Weekly v2"), E(f"{C}:StartTime", "20260105T080000Z"),
                                    E(f"{C}:EndTime", "20260105T090000Z"), E(f"{C}:UID", "weekly-1@easlab.test")))
    items, _ = await everything(Raw(client, device="r", device_type="TestPhone"), "7")
    data = items[sid]
    assert data.text(f"{C}:Subject") == "Weekly v2"
    assert data.find(f"{B}:Body").text(f"{B}:Data") == "Agenda: numbers"
    assert [e.text(f"{C}:ExceptionStartTime") for e in data.find(f"{C}:Exceptions").children] == [
        "20260112T080000Z", "20260119T080000Z"]
    # In-schema properties the Change did not name are gone: the client that forgets them loses them.
    for gone in ("Location", "Attendees", "Reminder", "Categories", "Recurrence", "BusyStatus"):
        assert not data.has(f"{C}:{gone}"), gone


@pytest.mark.req("MS-ASCMD_R877")
async def test_an_exception_left_out_of_the_exceptions_stays(client):
    dev, key, sid = await a_meeting(client)
    moved = E(f"{C}:Exception", E(f"{C}:ExceptionStartTime", "20260119T080000Z"), E(f"{C}:Subject", "Moved again"),
              E(f"{C}:StartTime", "20260121T130000Z"), E(f"{C}:EndTime", "20260121T140000Z"))
    await dev.sync(key, "7", change(sid, E(f"{C}:Subject", "Weekly"), E(f"{C}:StartTime", "20260105T080000Z"),
                                    E(f"{C}:EndTime", "20260105T090000Z"), E(f"{C}:Exceptions", moved)))
    items, _ = await everything(Raw(client, device="r", device_type="TestPhone"), "7")
    exceptions = {e.text(f"{C}:ExceptionStartTime"): e for e in items[sid].find(f"{C}:Exceptions").children}
    assert sorted(exceptions) == ["20260112T080000Z", "20260119T080000Z"]
    assert exceptions["20260112T080000Z"].text(f"{C}:Deleted") == "1"  # not in the Change: unchanged
    assert exceptions["20260119T080000Z"].text(f"{C}:Subject") == "Moved again"


@pytest.mark.req("MS-ASCMD_R878")
async def test_an_absent_contact_picture_stays(client):
    dev = Raw(client, device="w", device_type="TestPhone")
    data = appdata(E(f"{CO}:FileAs", "Doe, Jane"), E(f"{CO}:FirstName", "Jane"), E(f"{CO}:LastName", "Doe"),
                   E(f"{CO}:JobTitle", "Pilot"), E(f"{CO}:Picture", "/9j/4AAQSkZJRg=="))
    reply, key = await add(dev, "8", await primed(dev, "8"), data)
    sid = reply.text(f"{A}:ServerId")
    await dev.sync(key, "8", change(sid, E(f"{CO}:FileAs", "Doe, Jane"), E(f"{CO}:FirstName", "Jane"),
                                    E(f"{CO}:LastName", "Smith")))
    items, _ = await everything(Raw(client, device="r", device_type="TestPhone"), "8")
    got = items[sid]
    assert got.text(f"{CO}:LastName") == "Smith" and got.text(f"{CO}:Picture") == "/9j/4AAQSkZJRg=="
    assert not got.has(f"{CO}:JobTitle")  # not a kept property: deleted


# -- Conflict (2.2.3.34) ----------------------------------------------------------------------------
async def race(client, app, db, *opts):
    """Device two marks the mail read; device one, not told yet, marks it unread under `opts`."""
    await deliver(app, message(subject="Contested"))
    one, two = Raw(client, device="one"), Raw(client, device="two")
    key1 = await synced_with(one, *opts)
    key2 = await synced(two)
    with db.session() as s:
        sid = s.exec(select(Item.server_id)).one()
    await two.sync(key2, "1", change(sid, E("Email:Read", 1)))
    resp = await one.sync(key1, "1", change(sid, E("Email:Read", 0)), *opts)
    return collection(resp), sid


async def synced_with(dev, *opts):
    key = collection(await dev.sync("0", "1", *opts)).text(f"{A}:SyncKey")
    return collection(await dev.sync(key, "1", *opts)).text(f"{A}:SyncKey")


@pytest.mark.req("MS-ASCMD_R2066", "MS-ASCMD_R2069")
async def test_without_conflict_the_server_object_wins_with_status_7(client, app, db):
    coll, sid = await race(client, app, db)
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:Status", 7)))
    assert row(db, sid)[0] is True
    assert coll.find(f"{A}:Commands").find(f"{A}:Change").find(f"{A}:ApplicationData").text("Email:Read") == "1"


@pytest.mark.req("MS-ASCMD_R2068", "MS-ASCMD_R2069")
async def test_conflict_1_keeps_the_server_object(client, app, db):
    coll, sid = await race(client, app, db, E(f"{A}:Options", E(f"{A}:Conflict", 1)))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:Status", 7)))
    assert row(db, sid)[0] is True


@pytest.mark.req("MS-ASCMD_R2067")
async def test_conflict_0_keeps_the_client_object(client, app, db):
    coll, sid = await race(client, app, db, E(f"{A}:Options", E(f"{A}:Conflict", 0)))
    assert not coll.has(f"{A}:Responses")
    assert row(db, sid)[0] is False


# -- Class and Options (2.2.3.27.6) -----------------------------------------------------------------
def opts(cls=None, ft=None):
    return E(f"{A}:Options", E(f"{A}:Class", cls) if cls else None, E(f"{A}:FilterType", ft) if ft is not None else None)


def refused(resp):
    return resp == E(f"{A}:Sync", E(f"{A}:Status", 4))


@pytest.mark.req("MS-ASCMD_R930")
async def test_options_of_one_class_defined_twice_are_status_4(client):
    dev = Raw(client)
    assert refused(await dev.sync("0", "1", opts("Email", 1), opts("Email", 2)))
    assert refused(await dev.sync("0", "1", opts(ft=1), opts(ft=2)))
    assert collection(await dev.sync("0", "1", opts("Email", 1))).text(f"{A}:Status") == "1"


@pytest.mark.req("MS-ASCMD_R934", "MS-ASCMD_R935")
async def test_only_email_and_sms_sync_side_by_side(client):
    dev = Raw(client)
    coll = collection(await dev.sync("0", "1", opts("Email", 2), opts("SMS", 2)))
    assert (coll.text(f"{A}:Status"), coll.text(f"{A}:SyncKey")) == ("1", "1")
    for other in ("Calendar", "Contacts", "Tasks", "Notes"):
        assert refused(await Raw(client, device=f"d{other}").sync("0", "1", opts("Email"), opts(other)))


@pytest.mark.req("MS-ASCMD_R942")
async def test_an_add_of_the_collections_own_class_carries_no_class(client, app):
    await deliver(app, message(subject="Plain mail"))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    [add_] = collection(await dev.sync(key, "1")).find(f"{A}:Commands").children
    assert [c.tag for c in add_.children] == [f"{A}:ServerId", f"{A}:ApplicationData"]


@pytest.mark.req("MS-ASCMD_R9945")
async def test_class_calendar_in_a_calendar_collection(client):
    writer = Raw(client, device="w")
    key = collection(await writer.sync("0", "7")).text(f"{A}:SyncKey")
    await writer.sync(key, "7", E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"), appdata(
        E(f"{C}:Subject", "Standup"), E(f"{C}:StartTime", "20300107T090000Z"), E(f"{C}:EndTime", "20300107T093000Z")))))
    dev = Raw(client)
    coll = collection(await dev.sync("0", "7", opts("Calendar", 0)))
    assert (coll.text(f"{A}:Status"), coll.text(f"{A}:SyncKey")) == ("1", "1")
    [cmd] = collection(await dev.sync("1", "7", opts("Calendar", 0))).find(f"{A}:Commands").children
    assert cmd.find(f"{A}:ApplicationData").text(f"{C}:Subject") == "Standup"


# -- ConversationMode, DeletesAsMoves, GetChanges ---------------------------------------------------
@pytest.mark.req("MS-ASCMD_R2117")
async def test_conversation_mode_outside_email_is_status_4(client):
    dev = Raw(client)
    for cid in ("7", "8", "9"):
        resp = await dev.sync("0", cid, E(f"{A}:ConversationMode", 1))
        assert resp == E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:CollectionId", cid),
                                                              E(f"{A}:Status", 4))))
    coll = collection(await dev.sync("0", "1", E(f"{A}:ConversationMode", 1)))
    assert (coll.text(f"{A}:Status"), coll.text(f"{A}:SyncKey")) == ("1", "1")
    key = collection(await dev.sync("0", "7")).text(f"{A}:SyncKey")
    resp = await dev.sync(key, "7", E(f"{A}:ConversationMode", 0))
    assert collection(resp).text(f"{A}:Status") == "4"


@pytest.mark.req("MS-ASCMD_R5874")
async def test_an_empty_deletes_as_moves_moves_to_deleted_items(client, app, db):
    dev, key, sid = await one_mail(app, client)
    await dev.sync(key, "1", E(f"{A}:DeletesAsMoves"), E(f"{A}:Commands", E(f"{A}:Delete", E(f"{A}:ServerId", sid))))
    with db.session() as s:
        [(subject, ftype)] = s.exec(select(Item.subject, Folder.type).join(Folder, Folder.id == Item.folder_id)).all()
    assert (subject, ftype) == ("Keep me", 4)


@pytest.mark.req("MS-ASCMD_R3126")
async def test_get_changes_1_returns_the_server_changes(client, app):
    dev = Raw(client)
    key = await synced(dev)
    await deliver(app, message(subject="Fresh"))
    resp = await dev.sync(key, "1", E(f"{A}:GetChanges", 0))
    assert resp is None or not collection(resp).has(f"{A}:Commands")
    resp = await dev.sync(key, "1", E(f"{A}:GetChanges", 1))
    assert [(k, s) for k, _, s in items_of(resp)] == [("Add", "Fresh")]


# -- FolderSync, GetHierarchy, DisplayName ---------------------------------------------------------
@pytest.mark.req("MS-ASCMD_R5775")
async def test_folder_sync_does_not_synchronize_items(client, app):
    await deliver(app, message(subject="Still here"))
    dev = Raw(client)
    tree = await dev.folder_sync("0")
    assert {el.tag.partition(":")[0] for el in tree.iter()} == {FH}
    # The items wait for Sync, untouched by the FolderSync.
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    assert [(k, s) for k, _, s in items_of(await dev.sync(key, "1"))] == [("Add", "Still here")]


@pytest.mark.req("MS-ASCMD_R6031", "MS-ASCMD_R6032")
async def test_get_hierarchy_names_folders_by_their_folder_sync_and_folder_create_ids(client):
    old = Raw(client, version="12.1")
    synced_folders = (await old.folder_sync("0")).find(f"{FH}:Changes").findall(f"{FH}:Add")
    mail_ids = {f.text(f"{FH}:ServerId") for f in synced_folders if f.text(f"{FH}:Type") in ("2", "3", "4", "5", "6", "12")}
    key = await folder_key(old)
    made = await old.call("FolderCreate", E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "0"),
                                            E(f"{FH}:DisplayName", "Archive"), E(f"{FH}:Type", 12)))
    created = made.text(f"{FH}:ServerId")
    r = await old.post("GetHierarchy")
    listed = {f.text(f"{FH}:ServerId"): f.text(f"{FH}:DisplayName") for f in decode(r.content).findall(f"{FH}:Folder")}
    assert set(listed) == mail_ids | {created} and listed[created] == "Archive"


@pytest.mark.req("MS-ASCMD_R5416")
async def test_subfolder_display_names_are_unique_within_a_folder(client):
    dev = Raw(client)
    key = await folder_key(dev)

    def create(k, name, parent):
        return E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", k), E(f"{FH}:ParentId", parent),
                 E(f"{FH}:DisplayName", name), E(f"{FH}:Type", 12))

    first = await dev.call("FolderCreate", create(key, "Projects", "1"))
    assert first.text(f"{FH}:Status") == "1"
    again = await dev.call("FolderCreate", create(first.text(f"{FH}:SyncKey"), "Projects", "1"))
    assert again == E(f"{FH}:FolderCreate", E(f"{FH}:Status", 2))
    elsewhere = await dev.call("FolderCreate", create(first.text(f"{FH}:SyncKey"), "Projects", "0"))
    assert elsewhere.text(f"{FH}:Status") == "1"  # the same name under another parent is fine
    adds = (await dev.folder_sync("0")).find(f"{FH}:Changes").findall(f"{FH}:Add")
    pairs = [(f.text(f"{FH}:ParentId"), f.text(f"{FH}:DisplayName")) for f in adds]
    assert len(pairs) == len(set(pairs)) and pairs.count(("1", "Projects")) == 1


# -- GetAttachment (2.2.1.7) ----------------------------------------------------------------------
@pytest.mark.req("MS-ASCMD_R5501")
async def test_from_14_0_each_attachment_is_an_attachment_element(client, app):
    await deliver(app, message(subject="Two files", attachments=[("a.txt", b"first", "text/plain"),
                                                                 ("b.pdf", b"%PDF-second", "application/pdf")]))
    dev = Raw(client)
    assert (await dev.post("GetAttachment")).status_code == 501
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    resp = await dev.sync(key, "1", E(f"{A}:Options", E(f"{B}:BodyPreference", E(f"{B}:Type", 1))))
    [cmd] = collection(resp).find(f"{A}:Commands").children
    atts = cmd.find(f"{A}:ApplicationData").find(f"{B}:Attachments").findall(f"{B}:Attachment")
    assert [a.text(f"{B}:DisplayName") for a in atts] == ["a.txt", "b.pdf"]
    assert all(a.text(f"{B}:FileReference") for a in atts)
