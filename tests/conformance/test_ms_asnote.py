"""MS-ASNOTE as Microsoft's test suite exercises it: notes added, changed and read back over Sync.
Each test names the requirements it proves."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from easlab.eas.wbxml import E
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.storage.users import add_user
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, B, N = "AirSync", "AirSyncBase", "Notes"
NOTES = "10"
NOW = datetime(2026, 12, 7, 9, 30, 15, tzinfo=timezone.utc)
MODIFIED = E(f"{N}:LastModifiedDate", "20261207T093015Z")  # NOW: when the server wrote the note


@pytest.fixture
def app(settings, db):
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
    return create_app(settings, db, clock=ManualClock(NOW))


def note(*children):
    return E(f"{A}:ApplicationData", *children)


IDEAS = (E(f"{N}:Subject", "Ideas"), E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "one\ntwo")),
         E(f"{N}:MessageClass", "IPM.StickyNote"), E(f"{N}:Categories", E(f"{N}:Category", "Home"), E(f"{N}:Category", "Work")))


async def sync(dev, key, *commands):
    resp = await dev.sync(key, NOTES, *([E(f"{A}:Commands", *commands)] if commands else []))
    return collection(resp) if resp is not None else None


async def added(dev, data):
    key = collection(await dev.sync("0", NOTES)).text(f"{A}:SyncKey")
    coll = await sync(dev, key, E(f"{A}:Add", E(f"{A}:ClientId", "n1"), data))
    return coll.find(f"{A}:Responses").find(f"{A}:Add"), coll.text(f"{A}:SyncKey")


async def read_back(client, name="reader"):
    dev = Raw(client, device=name, device_type="TestPhone")
    coll = await sync(dev, collection(await dev.sync("0", NOTES)).text(f"{A}:SyncKey"))
    if coll is None:  # nothing to send: the empty response
        return {}
    return {a.text(f"{A}:ServerId"): a.find(f"{A}:ApplicationData") for a in coll.find(f"{A}:Commands").findall(f"{A}:Add")}


@pytest.mark.req("MS-ASNOTE_R38", "MS-ASNOTE_R39", "MS-ASNOTE_R58", "MS-ASNOTE_R211", "MS-ASNOTE_R123",
                 "MS-ASNOTE_R126", "MS-ASNOTE_R128", "MS-ASNOTE_R208")
async def test_every_note_reads_back_with_its_elements(client):
    writer = Raw(client, device="writer", device_type="TestPhone")
    assert await read_back(client, "early") == {}  # zero notes, zero blocks
    plain, _ = await added(writer, note(*IDEAS))
    html, _ = await added(Raw(client, device="other", device_type="TestPhone"),
                          note(E(f"{N}:Subject", "Web"), E(f"{B}:Body", E(f"{B}:Type", 2), E(f"{B}:Data", "<p>hi</p>"))))
    got = await read_back(client)
    assert got == {
        plain.text(f"{A}:ServerId"): note(IDEAS[0], E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:EstimatedDataSize", 7),
                                                      E(f"{B}:Data", "one\ntwo")), IDEAS[2], MODIFIED, IDEAS[3],
                                          E(f"{B}:NativeBodyType", 1)),
        html.text(f"{A}:ServerId"): note(E(f"{N}:Subject", "Web"), E(f"{B}:Body", E(f"{B}:Type", 2), E(f"{B}:EstimatedDataSize", 9),
                                                                     E(f"{B}:Data", "<p>hi</p>")), MODIFIED, E(f"{B}:NativeBodyType", 2)),
    }


@pytest.mark.req("MS-ASNOTE_R112", "MS-ASNOTE_R10002", "MS-ASNOTE_R113", "MS-ASNOTE_R210")
async def test_a_change_drops_the_categories_it_leaves_out_and_keeps_the_body(client):
    writer, reader = Raw(client, device="writer", device_type="TestPhone"), Raw(client, device="reader", device_type="TestPhone")
    reply, key = await added(writer, note(*IDEAS))
    sid = reply.text(f"{A}:ServerId")
    rkey = (await sync(reader, collection(await reader.sync("0", NOTES)).text(f"{A}:SyncKey"))).text(f"{A}:SyncKey")
    body = E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:EstimatedDataSize", 7), E(f"{B}:Data", "one\ntwo"))
    for change, expect in (
            (note(IDEAS[0], E(f"{N}:Categories", E(f"{N}:Category", "Home"))),  # Work left out
             note(IDEAS[0], body, MODIFIED, E(f"{N}:Categories", E(f"{N}:Category", "Home")), E(f"{B}:NativeBodyType", 1))),
            (note(E(f"{N}:Subject", "Ideas 2")),  # Categories left out
             note(E(f"{N}:Subject", "Ideas 2"), body, MODIFIED, E(f"{B}:NativeBodyType", 1)))):
        key = (await sync(writer, key, E(f"{A}:Change", E(f"{A}:ServerId", sid), change))).text(f"{A}:SyncKey")
        coll = await sync(reader, rkey)
        rkey = coll.text(f"{A}:SyncKey")
        assert coll.find(f"{A}:Commands") == E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), expect))


@pytest.mark.req("MS-ASNOTE_R119")
async def test_a_message_class_other_than_a_sticky_note_is_status_6(client):
    writer = Raw(client, device="writer", device_type="TestPhone")
    reply, key = await added(writer, note(*IDEAS))
    coll = await sync(writer, key, E(f"{A}:Change", E(f"{A}:ServerId", reply.text(f"{A}:ServerId")),
                                     note(E(f"{N}:Subject", "x"), E(f"{N}:MessageClass", "IPM.Note"))))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", reply.text(f"{A}:ServerId")),
                                                                 E(f"{A}:Status", 6)))


@pytest.mark.req("MS-ASNOTE_R114")
async def test_supported_for_notes_is_status_4(client):
    resp = await Raw(client, device="z", device_type="TestPhone").call("Sync", E(f"{A}:Sync", E(f"{A}:Collections", E(
        f"{A}:Collection", E(f"{A}:SyncKey", "0"), E(f"{A}:CollectionId", NOTES), E(f"{A}:Supported", E(f"{N}:Subject"))))))
    assert resp == E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:CollectionId", NOTES), E(f"{A}:Status", 4))))


@pytest.mark.req("MS-ASNOTE_R51", "MS-ASNOTE_R84", "MS-ASNOTE_R209", "MS-ASNOTE_R10003")
async def test_last_modified_date_is_the_servers_and_a_change_without_subject_keeps_it(client, app):
    writer, reader = Raw(client, device="writer", device_type="TestPhone"), Raw(client, device="reader", device_type="TestPhone")
    reply, key = await added(writer, note(*IDEAS[:3], E(f"{N}:LastModifiedDate", "20200101T000000Z")))
    sid = reply.text(f"{A}:ServerId")
    assert (await read_back(client))[sid].find(f"{N}:LastModifiedDate") == MODIFIED  # not the device's 2020
    rkey = (await sync(reader, collection(await reader.sync("0", NOTES)).text(f"{A}:SyncKey"))).text(f"{A}:SyncKey")
    app.state.clock.advance(hours=2)
    await sync(writer, key, E(f"{A}:Change", E(f"{A}:ServerId", sid), note(
        E(f"{N}:LastModifiedDate", "20200101T000000Z"), E(f"{N}:Categories", E(f"{N}:Category", "Work")))))
    coll = await sync(reader, rkey)
    body = E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:EstimatedDataSize", 7), E(f"{B}:Data", "one\ntwo"))
    assert coll.find(f"{A}:Commands") == E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), note(
        IDEAS[0], body, E(f"{N}:LastModifiedDate", "20261207T113015Z"), E(f"{N}:Categories", E(f"{N}:Category", "Work")),
        E(f"{B}:NativeBodyType", 1))))


@pytest.mark.req("MS-ASNOTE_R40")
async def test_an_rtf_body_reads_back_as_rtf(client):
    rtf = "e1xydGYxXGFuc2kge1xiIGJvbGR9fQ=="  # base64, as RTF travels (MS-ASAIRS 2.2.2.22.1)
    reply, _ = await added(Raw(client, device="writer", device_type="TestPhone"),
                           note(E(f"{N}:Subject", "Rich"), E(f"{B}:Body", E(f"{B}:Type", 3), E(f"{B}:Data", rtf))))
    dev = Raw(client, device="reader", device_type="TestPhone")
    options = E(f"{A}:Options", E(f"{B}:BodyPreference", E(f"{B}:Type", 3)))
    key = collection(await dev.sync("0", NOTES, options)).text(f"{A}:SyncKey")
    [add] = collection(await dev.sync(key, NOTES, options)).find(f"{A}:Commands").findall(f"{A}:Add")
    assert add.find(f"{A}:ApplicationData") == note(
        E(f"{N}:Subject", "Rich"), E(f"{B}:Body", E(f"{B}:Type", 3), E(f"{B}:EstimatedDataSize", len(rtf)), E(f"{B}:Data", rtf)),
        MODIFIED, E(f"{B}:NativeBodyType", 3))


@pytest.mark.req("MS-ASNOTE_R103")
async def test_itemoperations_with_a_schema_returns_only_its_properties(client):
    writer = Raw(client, device="writer", device_type="TestPhone")
    reply, _ = await added(writer, note(*IDEAS))
    resp = await writer.call("ItemOperations", E("ItemOperations:ItemOperations", E(
        "ItemOperations:Fetch", E("ItemOperations:Store", "Mailbox"), E(f"{A}:CollectionId", NOTES),
        E(f"{A}:ServerId", reply.text(f"{A}:ServerId")),
        E("ItemOperations:Options", E("ItemOperations:Schema", E(f"{N}:Subject"), E(f"{N}:Categories"))))))
    [fetch] = resp.find("ItemOperations:Response").findall("ItemOperations:Fetch")
    assert fetch.find("ItemOperations:Properties") == E("ItemOperations:Properties", IDEAS[0], IDEAS[3])
