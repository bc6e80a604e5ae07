"""MS-ASCMD, the second half of the open pool: repeated elements the server reads once without a
protocol error (Appendix A), the statuses of failed folder, GetItemEstimate, Provision and Ping
requests, the ghosting rules of Supported, and WindowSize with MoreAvailable."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection, message
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A, S, FH, GIE, P = "AirSync", "Search", "FolderHierarchy", "GetItemEstimate", "Provision"
C = "Contacts"


def subjects(coll):
    cmds = coll.find(f"{A}:Commands")
    return [c.find(f"{A}:ApplicationData").text("Email:Subject") for c in (cmds.children if cmds is not None else [])]


async def primed_inbox(client, app, *subjects_):
    await deliver(app, *[message(subject=s, text=f"{s} text") for s in subjects_])
    dev = Raw(client)
    return dev, collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")


# -- Sync Options: a repeated child is read once, the first one, and the Sync succeeds ---------------
TWICE_IN_SYNC_OPTIONS = [
    # (elements, what the first one makes of the answer)
    pytest.param([E(f"{A}:FilterType", 0), E(f"{A}:FilterType", 1)], "all", id="FilterType",
                 marks=pytest.mark.req("MS-ASCMD_R3075")),
    pytest.param([E(f"{A}:Class", "Email"), E(f"{A}:Class", "Email")], "all", id="Class",
                 marks=pytest.mark.req("MS-ASCMD_R938")),
    pytest.param([E(f"{A}:Conflict", 1), E(f"{A}:Conflict", 0)], "all", id="Conflict",
                 marks=pytest.mark.req("MS-ASCMD_R2075")),
    pytest.param([E(f"{A}:MaxItems", 5), E(f"{A}:MaxItems", 6)], "all", id="MaxItems",
                 marks=pytest.mark.req("MS-ASCMD_R3272", "MS-ASCMD_R3280")),
    pytest.param([E(f"{A}:MIMESupport", 0), E(f"{A}:MIMESupport", 2), E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 4))],
                 "text", id="MIMESupport", marks=pytest.mark.req("MS-ASCMD_R3404")),
    pytest.param([E(f"{A}:MIMESupport", 2), E(f"{A}:MIMETruncation", 1), E(f"{A}:MIMETruncation", 8),
                  E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 4))], "mime", id="MIMETruncation",
                 marks=pytest.mark.req("MS-ASCMD_R3432")),
]


@pytest.mark.parametrize("options, expect", TWICE_IN_SYNC_OPTIONS)
async def test_a_repeated_sync_option_is_no_protocol_error(client, app, options, expect):
    """FilterType 1 would hide week-old mail; MIMESupport 2 would send the MIME message."""
    await deliver(app, message(subject="old", text="old text", date="Mon, 05 Jan 2015 10:00:00 +0000"))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1", E(f"{A}:Options", *options))).text(f"{A}:SyncKey")
    coll = collection(await dev.sync(key, "1", E(f"{A}:Options", *options)))
    assert coll.text(f"{A}:Status") == "1"
    [add] = coll.find(f"{A}:Commands").findall(f"{A}:Add")
    body = add.find(f"{A}:ApplicationData").find("AirSyncBase:Body")
    assert add.find(f"{A}:ApplicationData").text("Email:Subject") == "old"
    if expect == "text":
        assert body.text("AirSyncBase:Type") == "1"
    if expect == "mime":
        assert body.text("AirSyncBase:Type") == "4" and body.text("AirSyncBase:Truncated") is None


@pytest.mark.req("MS-ASCMD_R2058")
async def test_an_empty_commands_element_is_no_protocol_error(client, app):
    dev, key = await primed_inbox(client, app, "one")
    coll = collection(await dev.sync(key, "1", E(f"{A}:Commands")))
    assert (coll.text(f"{A}:Status"), subjects(coll)) == ("1", ["one"])


# -- Search: a repeated option is read once, the first one ---------------------------------------------
def mailbox_search(*options, query=None):
    query = query or E(f"{S}:Query", E(f"{S}:And", E(f"{A}:CollectionId", "1"), E(f"{S}:FreeText", "budget")))
    return E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), query, E(f"{S}:Options", *options)))


def search_store(resp):
    assert resp.text(f"{S}:Status") == "1"
    return resp.find(f"{S}:Response").find(f"{S}:Store")


@pytest.mark.req("MS-ASCMD_R3723", "MS-ASCMD_R3729")
async def test_two_ranges_the_first_counts_and_0_0_is_one_item(client, app):
    await deliver(app, *[message(subject=f"budget {n}") for n in range(3)])
    store = search_store(await Raw(client).call(S, mailbox_search(E(f"{S}:Range", "0-0"), E(f"{S}:Range", "0-9"))))
    assert store.text(f"{S}:Status") == "1"
    assert len(store.findall(f"{S}:Result")) == 1
    assert (store.text(f"{S}:Range"), store.text(f"{S}:Total")) == ("0-0", "3")


SEARCH_TWICE = [
    pytest.param([E(f"{S}:DeepTraversal"), E(f"{S}:DeepTraversal")], id="DeepTraversal", marks=pytest.mark.req("MS-ASCMD_R2143")),
    pytest.param([E(f"{S}:RebuildResults"), E(f"{S}:RebuildResults")], id="RebuildResults", marks=pytest.mark.req("MS-ASCMD_R3747")),
    pytest.param([E(f"{A}:MIMESupport", 0), E(f"{A}:MIMESupport", 2), E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 4))],
                 id="MIMESupport", marks=pytest.mark.req("MS-ASCMD_R3374")),
]


@pytest.mark.parametrize("options", SEARCH_TWICE)
async def test_a_repeated_search_option_is_no_protocol_error(client, app, options):
    await deliver(app, message(subject="budget", text="budget text"))
    store = search_store(await Raw(client).call(S, mailbox_search(E(f"{S}:Range", "0-9"), *options)))
    assert store.text(f"{S}:Status") == "1"
    [result] = store.findall(f"{S}:Result")
    body = result.find(f"{S}:Properties").find("AirSyncBase:Body")
    assert body.text("AirSyncBase:Type") == "1"  # MIMESupport 0, the first, sends no MIME
    assert body.text("AirSyncBase:Data") == "budget text\n"


# -- failed requests: what the answer carries and what it leaves out -----------------------------------
@pytest.mark.req("MS-ASCMD_R4129")
@pytest.mark.parametrize("tree", [E(f"{GIE}:GetItemEstimate"), E(f"{GIE}:GetItemEstimate", E(f"{GIE}:Collections"))])
async def test_a_get_item_estimate_that_fails_whole_has_one_status_under_the_root(client, tree):
    assert await Raw(client).call(GIE, tree) == E(f"{GIE}:GetItemEstimate", E(f"{GIE}:Status", 2))


@pytest.mark.req("MS-ASCMD_R4070")
async def test_a_folder_sync_that_fails_answers_one_failure_status_and_no_folders(client):
    dev = Raw(client)
    await dev.folder_sync("0")
    assert await dev.folder_sync("77") == E(f"{FH}:FolderSync", E(f"{FH}:Status", 9))


@pytest.mark.req("MS-ASCMD_R5785", "MS-ASCMD_R5786")
@pytest.mark.parametrize("command, extra", [("FolderDelete", []),
                                            ("FolderUpdate", [E(f"{FH}:ParentId", "0"), E(f"{FH}:DisplayName", "X")])])
async def test_a_failed_folder_delete_or_update_has_no_sync_key(client, command, extra):
    dev = Raw(client)
    key = (await dev.folder_sync("0")).text(f"{FH}:SyncKey")
    resp = await dev.call(command, E(f"{FH}:{command}", E(f"{FH}:SyncKey", key), E(f"{FH}:ServerId", "999"), *extra))
    assert resp == E(f"{FH}:{command}", E(f"{FH}:Status", 4))  # no such folder, and no SyncKey


@pytest.mark.req("MS-ASCMD_R4989")
async def test_a_provision_without_policy_type_is_status_2(client):
    dev = Raw(client)
    dev.policy_key = 0
    resp = await dev.call(P, E(f"{P}:Provision", E(f"{P}:Policies", E(f"{P}:Policy"))))
    assert resp == E(f"{P}:Provision", E(f"{P}:Status", 2))


@pytest.mark.req("MS-ASCMD_R4244")
async def test_a_ping_whose_wbxml_cannot_be_read_is_status_4(client):
    # Well-formed WBXML, but the HeartbeatInterval is opaque bytes where a number belongs.
    resp = await Raw(client).call("Ping", E("Ping:Ping", E("Ping:HeartbeatInterval", b"\x00\xff\xfe"),
                                            E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email")))))
    assert resp == E("Ping:Ping", E("Ping:Status", 4))


# -- Supported: which properties a Change that leaves them out keeps (2.2.3.179) -----------------------
def contact(**values):
    return E(f"{A}:ApplicationData", *[E(f"{C}:{k}", v) for k, v in values.items()])


async def kept_after_change(client, name, *supported):
    """Add a contact with FileAs, FirstName and JobTitle, change it sending FileAs only, and return
    what another device reads back."""
    writer = Raw(client, device=name)
    key = collection(await writer.sync("0", "8", *supported)).text(f"{A}:SyncKey")
    coll = collection(await writer.sync(key, "8", E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"),
                      contact(FileAs="Diaz, Dora", FirstName="Dora", JobTitle="Chemist")))))
    sid, key = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId"), coll.text(f"{A}:SyncKey")
    await writer.sync(key, "8", E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), contact(FileAs="Diaz, D."))))
    reader = Raw(client, device=f"{name}reader")
    key = collection(await reader.sync("0", "8")).text(f"{A}:SyncKey")
    [add] = collection(await reader.sync(key, "8")).find(f"{A}:Commands").findall(f"{A}:Add")
    data = add.find(f"{A}:ApplicationData")
    assert data.text(f"{C}:FileAs") == "Diaz, D."
    return {tag: data.text(f"{C}:{tag}") for tag in ("FirstName", "JobTitle")}


@pytest.mark.req("MS-ASCMD_R5906", "MS-ASCMD_R5912")
async def test_without_supported_nothing_is_ghosted_and_what_a_change_leaves_out_is_deleted(client):
    assert await kept_after_change(client, "plain") == {"FirstName": None, "JobTitle": None}


@pytest.mark.req("MS-ASCMD_R5907", "MS-ASCMD_R5911", "MS-ASCMD_R5912")
async def test_supported_children_are_not_ghosted_the_rest_is_kept(client):
    supported = E(f"{A}:Supported", E(f"{C}:FirstName"))
    assert await kept_after_change(client, "listed", supported) == {"FirstName": None, "JobTitle": "Chemist"}


@pytest.mark.req("MS-ASCMD_R5909", "MS-ASCMD_R5911")
async def test_an_empty_supported_ghosts_every_property(client):
    assert await kept_after_change(client, "empty", E(f"{A}:Supported")) == {"FirstName": "Dora", "JobTitle": "Chemist"}
