"""FolderCreate, FolderUpdate, FolderDelete and GetHierarchy over HTTP: keys, statuses, what the
user's other devices see (FolderSync, held Pings), and what the changing device does not."""
import asyncio

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, decode
from easlab.server.config import Settings
from easlab.storage.models import Folder, Item, ItemChange
from easlab.storage.users import get_user
from tests.server.eas_helpers import collection, message
from tests.server.items_helpers import FH, VERSIONS, changes, deliver, device, folder_key, held, ping, synced

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test", heartbeat_min=1, heartbeat_max=3540)


def create(key, name, ftype=12, parent="0"):
    return E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", parent),
             E(f"{FH}:DisplayName", name), E(f"{FH}:Type", ftype))


def update(key, server_id, name, parent="0"):
    return E(f"{FH}:FolderUpdate", E(f"{FH}:SyncKey", key), E(f"{FH}:ServerId", server_id),
             E(f"{FH}:ParentId", parent), E(f"{FH}:DisplayName", name))


def delete(key, server_id):
    return E(f"{FH}:FolderDelete", E(f"{FH}:SyncKey", key), E(f"{FH}:ServerId", server_id))


def status(resp):
    return resp.text(f"{FH}:Status")


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.req("MS-ASCMD_R79", "MS-ASCMD_R3903", "MS-ASCMD_R4011", "MS-ASCMD_R4569", "MS-ASCMD_R5860")
async def test_create_other_devices_learn_the_creator_does_not_hear_it_back(client, version):
    me, other = device(client, version, "me"), device(client, version, "other")
    key, other_key = await folder_key(me), await folder_key(other)
    resp = await me.call("FolderCreate", create(key, "Projects"))
    assert resp == E(f"{FH}:FolderCreate", E(f"{FH}:Status", 1), E(f"{FH}:SyncKey", str(int(key) + 1)), E(f"{FH}:ServerId", "11"))
    mine = await me.folder_sync(resp.text(f"{FH}:SyncKey"))
    assert status(mine) == "1" and mine.find(f"{FH}:Changes").text(f"{FH}:Count") == "0"
    theirs = await other.folder_sync(other_key)
    assert changes(theirs, "Add") == [("11", "Projects", "0")]
    assert theirs.find(f"{FH}:Changes").find(f"{FH}:Add").text(f"{FH}:Type") == "12"
    # The new folder syncs like any other.
    assert collection(await me.sync("0", "11")).text("AirSync:Status") == "1"


@pytest.mark.req("MS-ASCMD_R79")
async def test_every_user_folder_type_and_nested_folders(client):
    me = device(client)
    key = await folder_key(me)
    made = {}
    for ftype in (1, 12, 13, 14, 15, 16, 17):
        resp = await me.call("FolderCreate", create(key, f"type {ftype}", ftype))
        assert status(resp) == "1", ftype
        key, made[ftype] = resp.text(f"{FH}:SyncKey"), resp.text(f"{FH}:ServerId")
    resp = await me.call("FolderCreate", create(key, "child", 12, parent=made[12]))
    assert status(resp) == "1"
    full = await me.folder_sync("0")
    by_id = {a.text(f"{FH}:ServerId"): (a.text(f"{FH}:DisplayName"), a.text(f"{FH}:ParentId"), a.text(f"{FH}:Type"))
             for a in full.find(f"{FH}:Changes").findall(f"{FH}:Add")}
    assert by_id[resp.text(f"{FH}:ServerId")] == ("child", made[12], "12")
    assert {by_id[sid][2] for sid in made.values()} == {"1", "12", "13", "14", "15", "16", "17"}


@pytest.mark.req("MS-ASCMD_R4032", "MS-ASCMD_R4035", "MS-ASCMD_R4018", "MS-ASCMD_R4019", "MS-ASCMD_R4013",
                 "MS-ASCMD_R3904", "MS-ASCMD_R4570")
async def test_create_statuses(client):
    me = device(client)
    key = await folder_key(me)
    assert status(await me.call("FolderCreate", create("999", "x"))) == "9"  # not the current key
    assert status(await me.call("FolderCreate", create("0", "x"))) == "9"
    assert status(await me.call("FolderCreate", create(key, "x", ftype=2))) == "10"  # a second Inbox
    assert status(await me.call("FolderCreate", create(key, "x", ftype=19))) == "10"
    assert status(await me.call("FolderCreate", create(key, "x", parent="4711"))) == "5"
    assert status(await me.call("FolderCreate", E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "0"),
                                                  E(f"{FH}:Type", 12)))) == "10"  # no DisplayName
    assert status(await me.call("FolderCreate", E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "0"),
                                                  E(f"{FH}:DisplayName", "x"), E(f"{FH}:Type", 12), E(f"{FH}:Status", 1)))) == "10"
    assert status(await me.call("FolderCreate", create(key, "inbox"))) == "2"  # the name exists (in any case)
    assert status(await me.call("FolderCreate", create(key, "Junk e-mail"))) == "2"
    failed = await me.call("FolderCreate", create(key, "Junk E-Mail"))
    assert failed == E(f"{FH}:FolderCreate", E(f"{FH}:Status", 2))  # no SyncKey on failure
    assert status(await me.call("FolderCreate", create(key, "Junk E-Mail", parent="1"))) == "1"  # fine elsewhere


@pytest.mark.req("MS-ASCMD_R139", "MS-ASCMD_R140", "MS-ASCMD_R4100", "MS-ASCMD_R5784")
async def test_update_renames_and_moves_for_others_only(client):
    me, other = device(client, name="me"), device(client, name="other")
    key = await folder_key(me)
    resp = await me.call("FolderCreate", create(key, "Old"))
    key, sid = resp.text(f"{FH}:SyncKey"), resp.text(f"{FH}:ServerId")
    other_key = await folder_key(other)
    resp = await me.call("FolderUpdate", update(key, sid, "New", parent="1"))
    assert resp == E(f"{FH}:FolderUpdate", E(f"{FH}:Status", 1), E(f"{FH}:SyncKey", str(int(key) + 1)))
    assert (await me.folder_sync(resp.text(f"{FH}:SyncKey"))).find(f"{FH}:Changes").text(f"{FH}:Count") == "0"
    theirs = await other.folder_sync(other_key)
    assert changes(theirs, "Update") == [(sid, "New", "1")] and changes(theirs, "Add") == []


@pytest.mark.req("MS-ASCMD_R4120", "MS-ASCMD_R4105", "MS-ASCMD_R4106", "MS-ASCMD_R4101", "MS-ASCMD_R4102",
                 "MS-ASCMD_R5438", "MS-ASCMD_R4108", "MS-ASCMD_R4109", "MS-ASCMD_R4123", "MS-ASCMD_R4568",
                 "MS-ASCMD_R4573", "MS-ASCMD_R4096")
async def test_update_statuses(client):
    me = device(client)
    key = await folder_key(me)
    resp = await me.call("FolderCreate", create(key, "A"))
    key, a = resp.text(f"{FH}:SyncKey"), resp.text(f"{FH}:ServerId")
    resp = await me.call("FolderCreate", create(key, "B", parent=a))
    key, b = resp.text(f"{FH}:SyncKey"), resp.text(f"{FH}:ServerId")
    assert status(await me.call("FolderUpdate", update("1", a, "x"))) == "9"
    assert status(await me.call("FolderUpdate", update(key, "4711", "x"))) == "4"
    assert status(await me.call("FolderUpdate", update(key, "1", "Eingang"))) == "2"  # Inbox is special
    assert status(await me.call("FolderUpdate", update(key, a, "x", parent="4711"))) == "5"
    assert status(await me.call("FolderUpdate", update(key, a, "x", parent=b))) == "10"  # into its own child
    assert status(await me.call("FolderUpdate", update(key, b, "Inbox", parent="0"))) == "2"  # next to Inbox
    assert status(await me.call("FolderUpdate", E(f"{FH}:FolderUpdate", E(f"{FH}:ServerId", a),
                                                  E(f"{FH}:DisplayName", "x")))) == "10"  # no SyncKey


@pytest.mark.req("MS-ASCMD_R97", "MS-ASCMD_R98", "MS-ASCMD_R99", "MS-ASCMD_R4045", "MS-ASCMD_R5783",
                 "MS-ASCMD_R4060", "MS-ASCMD_R5863")
async def test_delete_takes_items_and_subfolders_with_it(client, app, db):
    me, other = device(client, name="me"), device(client, name="other")
    key = await folder_key(me)
    resp = await me.call("FolderCreate", create(key, "Parent"))
    key, parent = resp.text(f"{FH}:SyncKey"), resp.text(f"{FH}:ServerId")
    resp = await me.call("FolderCreate", create(key, "Child", parent=parent))
    key, child = resp.text(f"{FH}:SyncKey"), resp.text(f"{FH}:ServerId")
    await deliver(app, message(subject="filed"))
    with db.session() as s:
        item = s.exec(select(Item)).one()
        sid = item.server_id
    moved = await me.call("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", sid), E("Move:SrcFldId", "1"),
                                                               E("Move:DstFldId", child))))
    assert moved.find("Move:Response").text("Move:Status") == "3"
    other_key = await folder_key(other)
    other_child_key = await synced(other, child)
    assert status(await me.call("FolderDelete", delete("77", parent))) == "9"
    resp = await me.call("FolderDelete", delete(key, parent))
    assert resp == E(f"{FH}:FolderDelete", E(f"{FH}:Status", 1), E(f"{FH}:SyncKey", str(int(key) + 1)))
    assert (await me.folder_sync(resp.text(f"{FH}:SyncKey"))).find(f"{FH}:Changes").text(f"{FH}:Count") == "0"
    theirs = await other.folder_sync(other_key)
    assert sorted(d.text(f"{FH}:ServerId") for d in theirs.find(f"{FH}:Changes").findall(f"{FH}:Delete")) == sorted([parent, child])
    # The deleted collection is gone for Sync; its item is gone from the database, with a tombstone.
    assert collection(await other.sync(other_child_key, child)).text("AirSync:Status") == "12"
    with db.session() as s:
        assert s.exec(select(Item)).all() == []
        assert s.exec(select(ItemChange.kind).where(ItemChange.server_id == moved.find("Move:Response").text("Move:DstMsgId"))).all()[-1] == "delete"
        alice = get_user(s, "alice")
        gone = s.exec(select(Folder).where(Folder.user_id == alice.id, Folder.deleted == True)).all()  # noqa: E712
        assert sorted(f.server_id for f in gone) == sorted([parent, child])


@pytest.mark.req("MS-ASCMD_R4046", "MS-ASCMD_R4047", "MS-ASCMD_R4048", "MS-ASCMD_R4049", "MS-ASCMD_R4063",
                 "MS-ASCMD_R4040")
async def test_delete_statuses(client):
    me = device(client)
    key = await folder_key(me)
    assert status(await me.call("FolderDelete", delete(key, "1"))) == "3"  # Inbox
    assert status(await me.call("FolderDelete", delete(key, "7"))) == "3"  # Calendar
    assert status(await me.call("FolderDelete", delete(key, "4711"))) == "4"
    assert status(await me.call("FolderDelete", E(f"{FH}:FolderDelete", E(f"{FH}:SyncKey", key)))) == "10"
    resp = await me.call("FolderCreate", create(key, "Once"))
    key, sid = resp.text(f"{FH}:SyncKey"), resp.text(f"{FH}:ServerId")
    resp = await me.call("FolderDelete", delete(key, sid))
    assert status(await me.call("FolderDelete", delete(resp.text(f"{FH}:SyncKey"), sid))) == "4"  # already gone


async def test_other_devices_held_pings_end_with_7_the_changers_does_not(client, app):
    me, other = device(client, name="me"), device(client, name="other")
    key = await folder_key(me)
    await folder_key(other)
    await synced(me)
    await synced(other)
    mine = asyncio.create_task(me.call("Ping", ping(2, "1")))
    theirs = asyncio.create_task(other.call("Ping", ping(300, "1")))
    await held(app, 2)
    assert status(await me.call("FolderCreate", create(key, "New"))) == "1"
    assert await asyncio.wait_for(theirs, 5) == E("Ping:Ping", E("Ping:Status", 7))
    assert not mine.done()
    assert (await asyncio.wait_for(mine, 10)).text("Ping:Status") == "1"  # it just expires


async def test_bob_does_not_see_alices_folders(client):
    alice = device(client)
    bob = device(client, user="bob", password="hunter2", name="bobdev")
    key, bob_key = await folder_key(alice), await folder_key(bob)
    sid = (await alice.call("FolderCreate", create(key, "Private"))).text(f"{FH}:ServerId")
    assert (await bob.folder_sync(bob_key)).find(f"{FH}:Changes").text(f"{FH}:Count") == "0"
    bob_key = await folder_key(bob)
    assert status(await bob.call("FolderDelete", delete(bob_key, sid))) == "4"


async def test_own_change_while_others_are_pending(client):
    """The device changes the hierarchy before it has fetched someone else's change: its next
    FolderSync brings the other change and not its own (storage.folders.folder_sync_with_echoes)."""
    me, other = device(client, name="me"), device(client, name="other")
    key, other_key = await folder_key(me), await folder_key(other)
    theirs = await other.call("FolderCreate", create(other_key, "Theirs"))
    other_key = theirs.text(f"{FH}:SyncKey")
    mine = await me.call("FolderCreate", create(key, "Mine"))
    key, my_id = mine.text(f"{FH}:SyncKey"), mine.text(f"{FH}:ServerId")
    resp = await me.call("FolderUpdate", update(key, my_id, "Mine, renamed"))
    key = resp.text(f"{FH}:SyncKey")
    # Someone renames the folder "me" made; "me" must hear of that one.
    resp = await other.folder_sync(other_key)
    assert changes(resp, "Add") == [(my_id, "Mine, renamed", "0")]
    other_key = resp.text(f"{FH}:SyncKey")
    resp = await me.folder_sync(key)
    assert changes(resp, "Add") == [(theirs.text(f"{FH}:ServerId"), "Theirs", "0")]
    assert changes(resp, "Update") == [] and changes(resp, "Delete") == []
    key = resp.text(f"{FH}:SyncKey")
    assert status(await other.call("FolderUpdate", update(other_key, my_id, "Renamed by other"))) == "1"
    resp = await me.folder_sync(key)
    assert changes(resp, "Update") == [(my_id, "Renamed by other", "0")]


@pytest.mark.req("MS-ASCMD_R6024", "MS-ASCMD_R6025", "MS-ASCMD_R6026", "MS-ASCMD_R7505", "MS-ASCMD_R7507")
async def test_get_hierarchy_lists_mail_folders_for_old_clients(client):
    old = device(client, "12.1")
    key = await folder_key(old)
    resp = await old.call("FolderCreate", create(key, "Archive"))
    key = resp.text(f"{FH}:SyncKey")
    key = (await old.call("FolderCreate", create(key, "Trips", ftype=13))).text(f"{FH}:SyncKey")
    await old.call("FolderCreate", create(key, "Log", ftype=16))  # a journal holds no mail either
    r = await old.post("GetHierarchy")
    assert r.status_code == 200
    tree = decode(r.content)
    assert tree.tag == f"{FH}:Folders"
    got = [(f.text(f"{FH}:DisplayName"), f.text(f"{FH}:ServerId"), f.text(f"{FH}:Type"), f.text(f"{FH}:ParentId"))
           for f in tree.findall(f"{FH}:Folder")]
    assert got == [("Inbox", "1", "2", "0"), ("Drafts", "2", "3", "0"), ("Deleted Items", "3", "4", "0"),
                   ("Sent Items", "4", "5", "0"), ("Outbox", "5", "6", "0"), ("Junk E-Mail", "6", "12", "0"),
                   ("Archive", "11", "12", "0")]
    assert [c.name for c in tree.find(f"{FH}:Folder").children] == ["DisplayName", "ServerId", "Type", "ParentId"]
    assert (await device(client, "14.1", "new").post("GetHierarchy")).status_code == 501
