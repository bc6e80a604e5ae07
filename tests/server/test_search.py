"""Search (Mailbox, GAL) and Find over HTTP; LongIds that ItemOperations accepts, and only for
the user they were made for."""
from datetime import datetime, timezone

import pytest
from sqlmodel import select

from easlab.eas.mime import parse_message
from easlab.eas.wbxml import E
from easlab.storage.models import Item
from tests.server.eas_helpers import message
from tests.server.items_helpers import FH, deliver, device, folder_key

pytestmark = pytest.mark.anyio
S, IO, F = "Search", "ItemOperations", "Find"


def mailbox(*conditions, options=()):
    return E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), E(f"{S}:Query", E(f"{S}:And", *conditions)),
                              E(f"{S}:Options", *options) if options else None))


def store_of(resp):
    assert resp.text(f"{S}:Status") == "1"
    return resp.find(f"{S}:Response").find(f"{S}:Store")


def subjects(store):
    return [r.find(f"{S}:Properties").text("Email:Subject") for r in store.findall(f"{S}:Result") if r.children]


def text(word):
    return E(f"{S}:FreeText", word)


def cls():
    return E("AirSync:Class", "Email")


@pytest.fixture
async def mail(app, db):
    await deliver(app, message(subject="Budget 2025", text="numbers"), message(subject="Lunch", text="the budget is tight"),
                  message(subject="Hello", sender="Carol Budgeteer <carol@example.net>"), message(subject="Unrelated", text="nothing here"))
    with db.session() as s:  # received on the 6th, 7th, 8th and 9th of January
        for day, item in enumerate(s.exec(select(Item).order_by(Item.id)), start=6):
            item.date_received = datetime(2025, 1, day, 10, tzinfo=timezone.utc)
            s.add(item)


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
@pytest.mark.req("MS-ASCMD_R4327", "MS-ASCMD_R3846", "MS-ASCMD_R3849", "MS-ASCMD_R3851", "MS-ASCMD_R3862",
                 "MS-ASCMD_R4638", "MS-ASCMD_R3699", "MS-ASCMD_R431")
async def test_free_text_over_subject_body_and_sender(client, mail, version):
    dev = device(client, version)
    store = store_of(await dev.call("Search", mailbox(cls(), E("AirSync:CollectionId", "1"), text("budget"),
                                                      options=[E(f"{S}:Range", "0-9"), E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", 1))])))
    assert store.text(f"{S}:Status") == "1"
    assert sorted(subjects(store)) == ["Budget 2025", "Hello", "Lunch"]
    assert store.text(f"{S}:Range") == "0-2" and store.text(f"{S}:Total") == "3"
    first = store.find(f"{S}:Result")
    assert [c.tag for c in first.children] == ["AirSync:Class", f"{S}:LongId", "AirSync:CollectionId", f"{S}:Properties"]
    assert first.text("AirSync:CollectionId") == "1" and first.text("AirSync:Class") == "Email"
    assert first.find(f"{S}:Properties").find("AirSyncBase:Body").text("AirSyncBase:Type") == "1"


@pytest.mark.req("MS-ASCMD_R3850")
async def test_ranges_paging_and_no_match(client, app):
    await deliver(app, *[message(subject=f"report {n}") for n in range(12)])
    dev = device(client)
    store = store_of(await dev.call("Search", mailbox(text("report"), options=[E(f"{S}:Range", "0-9")])))
    assert len(subjects(store)) == 10 and store.text(f"{S}:Total") == "12" and store.text(f"{S}:Range") == "0-9"
    rest = store_of(await dev.call("Search", mailbox(text("report"), options=[E(f"{S}:Range", "10-19"), E(f"{S}:RebuildResults")])))
    assert len(subjects(rest)) == 2 and rest.text(f"{S}:Range") == "10-11"
    assert set(subjects(store)).isdisjoint(subjects(rest))
    none = store_of(await dev.call("Search", mailbox(text("zebra"))))
    assert none == E(f"{S}:Store", E(f"{S}:Status", 1), E(f"{S}:Result"), E(f"{S}:Total", 0))
    assert store_of(await dev.call("Search", mailbox(text("report"), options=[E(f"{S}:Range", "0-100")]))).text(f"{S}:Status") == "12"


@pytest.mark.req("MS-ASCMD_R3105", "MS-ASCMD_R2146", "MS-ASCMD_R5856", "MS-ASCMD_R2031", "MS-ASCMD_R4329")
async def test_query_shapes_and_folders(client, mail, db):
    dev = device(client)
    outside = E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"), E(f"{S}:Query", text("budget"))))
    assert store_of(await dev.call("Search", outside)).text(f"{S}:Status") == "8"
    assert store_of(await dev.call("Search", mailbox(E(f"{S}:Or", text("x"))))).text(f"{S}:Status") == "8"
    assert store_of(await dev.call("Search", mailbox(E("AirSync:CollectionId", "4711"), text("x")))).text(f"{S}:Status") == "11"
    assert store_of(await dev.call("Search", E(f"{S}:Search"))).text(f"{S}:Status") == "2"
    # Dates: after the 6th, before the 9th.
    when = lambda tag, value: E(f"{S}:{tag}", E("Email:DateReceived"), E(f"{S}:Value", value))  # noqa: E731
    store = store_of(await dev.call("Search", mailbox(cls(), when("GreaterThan", "2025-01-06T12:00:00.000Z"),
                                                      when("LessThan", "2025-01-09T00:00:00.000Z"))))
    assert subjects(store) == ["Hello", "Lunch"]  # newest first
    # A subfolder is searched with DeepTraversal only.
    key = await folder_key(dev)
    sub = (await dev.call("FolderCreate", E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "1"),
                                            E(f"{FH}:DisplayName", "Finance"), E(f"{FH}:Type", 12)))).text(f"{FH}:ServerId")
    with db.session() as s:
        sid = s.exec(select(Item.server_id).where(Item.subject == "Budget 2025")).one()
    await dev.call("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", sid), E("Move:SrcFldId", "1"), E("Move:DstFldId", sub))))
    shallow = store_of(await dev.call("Search", mailbox(E("AirSync:CollectionId", "1"), text("budget"))))
    deep = store_of(await dev.call("Search", mailbox(E("AirSync:CollectionId", "1"), text("budget"), options=[E(f"{S}:DeepTraversal")])))
    assert sorted(subjects(shallow)) == ["Hello", "Lunch"]
    assert sorted(subjects(deep)) == ["Budget 2025", "Hello", "Lunch"]
    found = [r for r in deep.findall(f"{S}:Result") if r.find(f"{S}:Properties").text("Email:Subject") == "Budget 2025"][0]
    assert found.text("AirSync:CollectionId") == sub


async def test_conversation(client, app):
    await deliver(app, message(subject="Trip"), message(subject="RE: Trip"), message(subject="Trip planning"))
    dev = device(client, "14.1")
    cid = parse_message(message(subject="Trip")).conversation_id
    store = store_of(await dev.call("Search", mailbox(E("Email2:ConversationId", cid))))
    assert sorted(subjects(store)) == ["RE: Trip", "Trip"]


async def test_long_ids_open_the_item_for_its_user_only(client, mail):
    alice = device(client)
    store = store_of(await alice.call("Search", mailbox(text("lunch"))))
    long_id = store.find(f"{S}:Result").text(f"{S}:LongId")
    assert ":" not in long_id and len(long_id) >= 20
    fetch = lambda lid: E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E(f"{S}:LongId", lid)))  # noqa: E731
    resp = await alice.call(IO, fetch(long_id))
    got = resp.find(f"{IO}:Response").find(f"{IO}:Fetch")
    assert [c.tag for c in got.children] == [f"{IO}:Status", f"{S}:LongId", "AirSync:Class", f"{IO}:Properties"]
    assert got.text(f"{IO}:Status") == "1" and got.find(f"{IO}:Properties").text("Email:Subject") == "Lunch"
    # Stable: the same search gives the same LongId.
    again = store_of(await alice.call("Search", mailbox(text("lunch"))))
    assert again.find(f"{S}:Result").text(f"{S}:LongId") == long_id
    # Bob cannot use it; a forged one opens nothing.
    bob = device(client, user="bob", password="hunter2", name="bobdev")
    denied = (await bob.call(IO, fetch(long_id))).find(f"{IO}:Response").find(f"{IO}:Fetch")
    assert denied.text(f"{IO}:Status") == "6" and denied.find(f"{IO}:Properties") is None
    forged = long_id[:-2] + ("AA" if long_id[-2:] != "AA" else "BB")
    assert (await alice.call(IO, fetch(forged))).find(f"{IO}:Response").find(f"{IO}:Fetch").text(f"{IO}:Status") == "6"


async def test_gal(client):
    dev = device(client, "2.5")
    resp = await dev.call("Search", E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "GAL"), E(f"{S}:Query", "bo"),
                                                      E(f"{S}:Options", E(f"{S}:Range", "0-9")))))
    store = store_of(resp)
    assert store.text(f"{S}:Status") == "1" and store.text(f"{S}:Total") == "1"
    props = store.find(f"{S}:Result").find(f"{S}:Properties")
    assert props.text("GAL:DisplayName") == "Bob Example" and props.text("GAL:EmailAddress") == "bob@easlab.test"
    assert store_of(await dev.call("Search", E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"),
                                                                E(f"{S}:Query", E(f"{S}:And", text("x"))))))).text(f"{S}:Status") == "2"


# -- Find (16.1) ----------------------------------------------------------------------------------
def find(search_id, query, rng=None, collection=None, deep=False):
    return E(f"{F}:Find", E(f"{F}:SearchId", search_id), E(f"{F}:ExecuteSearch", E(f"{F}:MailBoxSearchCriterion",
             E(f"{F}:Query", E("AirSync:Class", "Email"), E("AirSync:CollectionId", collection) if collection else None,
               E(f"{F}:FreeText", query)),
             E(f"{F}:Options", E(f"{F}:Range", rng) if rng else None, E(f"{F}:DeepTraversal") if deep else None))))


def find_response(resp):
    assert resp.text(f"{F}:Status") == "1"
    return resp.find(f"{F}:Response")


@pytest.mark.req("MS-ASCMD_R72172520", "MS-ASCMD_R72172509", "MS-ASCMD_R37071816")
@pytest.mark.req("MS-ASEMAIL_R6000")
async def test_find_with_kql_paging_and_long_id_server_ids(client, app):
    await deliver(app, message(subject="Budget 2025", text="numbers"),
                  message(subject="Lunch", text="the budget is tight", attachments=[("menu.txt", b"soup", "text/plain")]),
                  message(subject="Budget review", sender="Carol <carol@example.net>"))
    dev = device(client, "16.1")
    r = find_response(await dev.call("Find", find("6F9619FF-8B86-D011-B42D-00C04FC964FF", "budget", "0-1")))
    assert r.text("ItemOperations:Store") == "Mailbox" and r.text(f"{F}:Status") == "1"
    assert r.text(f"{F}:Total") == "3" and r.text(f"{F}:Range") == "0-1"
    results = r.findall(f"{F}:Result")
    assert [c.tag for c in results[0].children] == ["AirSync:Class", "AirSync:ServerId", "AirSync:CollectionId", f"{F}:Properties"]
    props = results[0].find(f"{F}:Properties")
    assert [c.tag for c in props.children][:2] == ["Email:Subject", "Email:DateReceived"]
    assert props.text("Email2:IsDraft") == "0" and props.text(f"{F}:HasAttachments") in ("0", "1")
    # The next page with the same SearchId.
    more = find_response(await dev.call("Find", find("6F9619FF-8B86-D011-B42D-00C04FC964FF", "budget", "2-3")))
    assert len(more.findall(f"{F}:Result")) == 1 and more.text(f"{F}:Range") == "2-2"
    # KQL field restrictions.
    only_subject = find_response(await dev.call("Find", find("s2", "subject:budget")))
    assert sorted(x.find(f"{F}:Properties").text("Email:Subject") for x in only_subject.findall(f"{F}:Result")) == ["Budget 2025", "Budget review"]
    sender = find_response(await dev.call("Find", find("s3", "from:carol")))
    [hit] = sender.findall(f"{F}:Result")
    assert hit.find(f"{F}:Properties").text("Email:Subject") == "Budget review"
    # The ServerId is a LongId: ItemOperations opens it either way.
    lid = hit.text("AirSync:ServerId")
    for ident in ([E(f"{S}:LongId", lid)], [E("AirSync:CollectionId", "1"), E("AirSync:ServerId", lid)]):
        got = await dev.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), *ident)))
        fetched = got.find(f"{IO}:Response").find(f"{IO}:Fetch")
        assert fetched.text(f"{IO}:Status") == "1" and fetched.find(f"{IO}:Properties").text("Email:Subject") == "Budget review"
    attached = find_response(await dev.call("Find", find("s4", "lunch")))
    assert attached.find(f"{F}:Result").find(f"{F}:Properties").text(f"{F}:HasAttachments") == "1"


@pytest.mark.req("MS-ASCMD_R72172518", "MS-ASCMD_R72172512", "MS-ASCMD_R72172515", "MS-ASCMD_R38391805")
async def test_find_statuses(client):
    dev = device(client, "16.1")
    r = find_response(await dev.call("Find", find("new-search", "budget", "5-9")))
    assert r.text(f"{F}:Status") == "4"  # a new search starts at row 0
    assert (await dev.call("Find", find("x", "budget", "0-1000"))).text(f"{F}:Status") == "2"
    assert (await dev.call("Find", find("x", "budget", collection="4711"))).text(f"{F}:Status") == "3"
    assert (await dev.call("Find", E(f"{F}:Find", E(f"{F}:SearchId", "x")))).text(f"{F}:Status") == "2"
    empty = find_response(await dev.call("Find", find("y", "nothing-like-this")))
    assert empty.findall(f"{F}:Result") == [] and empty.text(f"{F}:Total") == "0"
    assert (await device(client, "14.1", "old").post("Find", find("z", "budget"))).status_code == 501


async def test_find_gal(client):
    dev = device(client, "16.1")
    resp = await dev.call("Find", E(f"{F}:Find", E(f"{F}:SearchId", "g1"), E(f"{F}:ExecuteSearch", E(f"{F}:GalSearchCriterion",
                          E(f"{F}:Query", E(f"{F}:FreeText", "alice")), E(f"{F}:Options", E(f"{F}:Range", "0-4"))))))
    r = find_response(resp)
    assert r.text("ItemOperations:Store") == "GAL" and r.text(f"{F}:Total") == "1"
    props = r.find(f"{F}:Result").find(f"{F}:Properties")
    assert props.text("GAL:EmailAddress") == "alice@easlab.test" and props.text("GAL:DisplayName") == "Alice Example"
