import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.storage.mailbox import next_hierarchy_seq
from easlab.storage.models import Folder
from easlab.storage.users import get_user
from tests.server.eas_helpers import Raw

pytestmark = pytest.mark.anyio
NS = "FolderHierarchy"

DEFAULT = [("1", "Inbox", "2"), ("2", "Drafts", "3"), ("3", "Deleted Items", "4"), ("4", "Sent Items", "5"),
           ("5", "Outbox", "6"), ("6", "Junk E-Mail", "12"), ("7", "Calendar", "8"), ("8", "Contacts", "9"),
           ("9", "Tasks", "7"), ("10", "Notes", "10")]


def adds(resp, kind="Add"):
    return [(a.text(f"{NS}:ServerId"), a.text(f"{NS}:DisplayName"), a.text(f"{NS}:Type"))
            for a in resp.find(f"{NS}:Changes").findall(f"{NS}:{kind}")]


@pytest.mark.req("MS-ASCMD_R113", "MS-ASCMD_R119", "MS-ASCMD_R116", "MS-ASCMD_R4074", "MS-ASCMD_R4578",
                 "MS-ASCMD_R5008", "MS-ASCMD_R5020")
@pytest.mark.req("MS-ASHTTP_R1202")
async def test_key_zero_returns_whole_hierarchy(client):
    dev = Raw(client)
    r = await dev.post("FolderSync", E(f"{NS}:FolderSync", E(f"{NS}:SyncKey", "0")))
    assert r.headers["MS-ASProtocolCommands"].split(",")[:1] == ["Sync"]
    assert r.headers["X-MS-RP"] == r.headers["MS-ASProtocolVersions"] == "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
    resp = await dev.folder_sync("0")
    assert resp.text(f"{NS}:Status") == "1"
    assert resp.text(f"{NS}:SyncKey") == "2"  # keys never repeat, even across re-priming
    assert resp.find(f"{NS}:Changes").text(f"{NS}:Count") == "10"
    assert adds(resp) == DEFAULT
    assert all(a.text(f"{NS}:ParentId") == "0" for a in resp.find(f"{NS}:Changes").findall(f"{NS}:Add"))


@pytest.mark.req("MS-ASCMD_R2120", "MS-ASCMD_R5024", "MS-ASCMD_R5012", "MS-ASCMD_R5863")
async def test_later_keys_return_only_changes(client, db):
    dev = Raw(client)
    key = (await dev.folder_sync("0")).text(f"{NS}:SyncKey")
    resp = await dev.folder_sync(key)
    assert resp.find(f"{NS}:Changes").text(f"{NS}:Count") == "0"
    key = resp.text(f"{NS}:SyncKey")
    with db.session() as s:  # another client renames Junk and adds a folder; Notes goes away
        user = get_user(s, "alice")
        junk = s.exec(select(Folder).where(Folder.user_id == user.id, Folder.server_id == "6")).one()
        junk.display_name, junk.modified_seq = "Spam", next_hierarchy_seq(s, user)
        notes = s.exec(select(Folder).where(Folder.user_id == user.id, Folder.server_id == "10")).one()
        notes.deleted, notes.modified_seq = True, next_hierarchy_seq(s, user)
        seq = next_hierarchy_seq(s, user)
        s.add(Folder(user_id=user.id, server_id="11", parent_id="1", display_name="Projects", type=12, created_seq=seq, modified_seq=seq))
    resp = await dev.folder_sync(key)
    assert resp.find(f"{NS}:Changes").text(f"{NS}:Count") == "3"
    assert adds(resp, "Update") == [("6", "Spam", "12")]
    assert adds(resp) == [("11", "Projects", "12")]
    assert [d.text(f"{NS}:ServerId") for d in resp.find(f"{NS}:Changes").findall(f"{NS}:Delete")] == ["10"]
    # Nothing is reported twice.
    assert (await dev.folder_sync(resp.text(f"{NS}:SyncKey"))).find(f"{NS}:Changes").text(f"{NS}:Count") == "0"


@pytest.mark.req("MS-ASCMD_R4083", "MS-ASCMD_R4581", "MS-ASCMD_R4068")
async def test_unknown_key_is_status_9(client):
    dev = Raw(client)
    await dev.folder_sync("0")
    resp = await dev.folder_sync("12345")
    assert resp == E(f"{NS}:FolderSync", E(f"{NS}:Status", 9))


async def test_resent_previous_key_answers_again(client):
    dev = Raw(client)
    first = await dev.folder_sync("0")
    second = await dev.folder_sync(first.text(f"{NS}:SyncKey"))
    again = await dev.folder_sync(first.text(f"{NS}:SyncKey"))  # the answer to `second` was lost
    assert again == second


@pytest.mark.req("MS-ASCMD_R4086")
async def test_missing_key_is_status_10(client):
    resp = await Raw(client).call("FolderSync", E(f"{NS}:FolderSync"))
    assert resp == E(f"{NS}:FolderSync", E(f"{NS}:Status", 10))


async def test_devices_keep_separate_keys(client):
    a, b = Raw(client, device="devA"), Raw(client, device="devB")
    key_a = (await a.folder_sync("0")).text(f"{NS}:SyncKey")
    await b.folder_sync("0")
    await b.folder_sync("1")
    assert (await a.folder_sync(key_a)).text(f"{NS}:Status") == "1"


async def test_each_user_sees_own_hierarchy(client, db):
    with db.session() as s:
        bob = get_user(s, "bob")
        seq = next_hierarchy_seq(s, bob)
        s.add(Folder(user_id=bob.id, server_id="11", display_name="Bob only", type=12, created_seq=seq, modified_seq=seq))
    resp = await Raw(client).folder_sync("0")
    assert "Bob only" not in [name for _, name, _ in adds(resp)]
    resp = await Raw(client, user="bob", password="hunter2").folder_sync("0")
    assert "Bob only" in [name for _, name, _ in adds(resp)]
