"""MS-ASNOTE as Microsoft's test suite exercises it: notes added, changed and read back over Sync.
Each test names the requirements it proves."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, B, N = "AirSync", "AirSyncBase", "Notes"
NOTES = "10"


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
                                                      E(f"{B}:Data", "one\ntwo")), *IDEAS[2:], E(f"{B}:NativeBodyType", 1)),
        html.text(f"{A}:ServerId"): note(E(f"{N}:Subject", "Web"), E(f"{B}:Body", E(f"{B}:Type", 2), E(f"{B}:EstimatedDataSize", 9),
                                                                     E(f"{B}:Data", "<p>hi</p>")), E(f"{B}:NativeBodyType", 2)),
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
             note(IDEAS[0], body, E(f"{N}:Categories", E(f"{N}:Category", "Home")), E(f"{B}:NativeBodyType", 1))),
            (note(E(f"{N}:Subject", "Ideas 2")),  # Categories left out
             note(E(f"{N}:Subject", "Ideas 2"), body, E(f"{B}:NativeBodyType", 1)))):
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
