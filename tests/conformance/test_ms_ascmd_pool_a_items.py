"""MS-ASCMD pool a, items: the multipart layout of ItemOperations (2.2.1.10.1.1), one FileReference per
Fetch (2.2.3.8), MIMESupport in ItemOperations and Search (2.2.3.110), Class in a Search response
(2.2.3.27.5), SmartForward's InstanceId (2.2.1.19) and the common statuses 146 and 164 (2.2.2)."""
from __future__ import annotations

import struct

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E, decode, encode
from easlab.storage.models import Item
from tests.server.eas_helpers import EAS, Raw, collection, message
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A, B, IO, S, CM = "AirSync", "AirSyncBase", "ItemOperations", "Search", "ComposeMail"
SMIME = (b"From: Bob <bob@example.net>\r\nTo: alice@easlab.test\r\nSubject: sealed\r\nMIME-Version: 1.0\r\n"
         b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\n"
         b"Content-Transfer-Encoding: base64\r\n\r\nMIIBsealed\r\n")


async def stored(app, db, raw):
    await deliver(app, raw)
    with db.session() as s:
        item = s.exec(select(Item).order_by(Item.id.desc())).first()
        return item.server_id, item.mime


def fetch(*ids, options=None):
    return E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), *ids, options)


# -- MultiPartResponse (2.2.1.10.1.1) -------------------------------------------------------------
@pytest.mark.req("MS-ASCMD_R5509", "MS-ASCMD_R5510", "MS-ASCMD_R5512", "MS-ASCMD_R5517", "MS-ASCMD_R5518")
async def test_the_multipart_layout_read_byte_by_byte(client, app, db):
    first, second = b"%PDF-" + bytes(range(200)), b"second part"
    sid, _ = await stored(app, db, message(attachments=[("a.pdf", first, "application/pdf"),
                                                        ("b.txt", second, "text/plain")]))
    dev = Raw(client)
    q = f"{EAS}?Cmd=ItemOperations&User=alice&DeviceId=dev1&DeviceType=iPhone"
    tree = E(f"{IO}:ItemOperations", fetch(E(f"{B}:FileReference", f"{sid}:0")), fetch(E(f"{B}:FileReference", f"{sid}:1")))
    r = await client.post(q, content=encode(tree), headers={**dev.headers(), "MS-ASAcceptMultiPart": "T"})
    body = r.content
    (count,) = struct.unpack_from("<i", body, 0)
    table = [struct.unpack_from("<ii", body, 4 + 8 * n) for n in range(count)]
    assert count == 3  # the WBXML answer and the two attachments
    assert table[0][0] == 4 + 8 * count  # the array of PartMetaData is PartsCount long; the parts follow it
    parts = [body[offset:offset + length] for offset, length in table]
    assert [o for o, _ in table] == [table[0][0], table[0][0] + table[0][1], table[0][0] + table[0][1] + table[1][1]]
    assert table[-1][0] + table[-1][1] == len(body)  # nothing between or after the parts
    assert parts[1:] == [first, second] and [n for _, n in table[1:]] == [len(first), len(second)]
    fetches = decode(parts[0]).find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert [f.find(f"{IO}:Properties").text(f"{IO}:Part") for f in fetches] == ["1", "2"]


@pytest.mark.req("MS-ASCMD_R765")
async def test_two_file_references_in_one_fetch_are_status_2(client, app, db):
    sid, _ = await stored(app, db, message(attachments=[("a.txt", b"one", "text/plain"), ("b.txt", b"two", "text/plain")]))
    dev = Raw(client)
    resp = await dev.call(IO, E(f"{IO}:ItemOperations", fetch(E(f"{B}:FileReference", f"{sid}:0"),
                                                              E(f"{B}:FileReference", f"{sid}:1"))))
    [f] = resp.find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert f.text(f"{IO}:Status") == "2" and f.find(f"{IO}:Properties") is None
    resp = await dev.call(IO, E(f"{IO}:ItemOperations", fetch(E(f"{B}:FileReference", f"{sid}:1"))))
    assert resp.find(f"{IO}:Response").find(f"{IO}:Fetch").text(f"{IO}:Status") == "1"


# -- MIMESupport (2.2.3.110) ---------------------------------------------------------------------
def mime_options(mime_support, ns):
    return E(f"{ns}:Options", E(f"{A}:MIMESupport", mime_support), E(f"{B}:BodyPreference", E(f"{B}:Type", 4)))


@pytest.mark.req("MS-ASCMD_R3367")
async def test_item_operations_mime_carries_its_estimated_size(client, app, db):
    sid, mime = await stored(app, db, message(subject="Raw", text="y" * 120))
    resp = await Raw(client).call(IO, E(f"{IO}:ItemOperations", fetch(E(f"{A}:CollectionId", "1"), E(f"{A}:ServerId", sid),
                                                                      options=mime_options(2, IO))))
    body = resp.find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties").find(f"{B}:Body")
    assert body.text(f"{B}:Type") == "4" and body.text(f"{B}:EstimatedDataSize") == str(len(mime))
    assert body.find(f"{B}:Data").value == mime


def search(word, *options):
    return E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"),
                              E(f"{S}:Query", E(f"{S}:And", E(f"{A}:Class", "Email"), E(f"{S}:FreeText", word))), *options))


def results(resp):
    assert resp.text(f"{S}:Status") == "1"
    store = resp.find(f"{S}:Response").find(f"{S}:Store")
    assert store.text(f"{S}:Status") == "1"
    return store.findall(f"{S}:Result")


@pytest.mark.req("MS-ASCMD_R3383", "MS-ASCMD_R3384")
async def test_search_with_mime_support_returns_a_body(client, app, db):
    _, sealed = await stored(app, db, SMIME)
    _, plain = await stored(app, db, message(subject="open letter", text="hello"))
    dev = Raw(client)
    await dev.folder_sync("0")
    [hit] = results(await dev.call(S, search("sealed", mime_options(1, S))))
    body = hit.find(f"{S}:Properties").find(f"{B}:Body")
    assert body.text(f"{B}:Type") == "4" and body.find(f"{B}:Data").value == sealed
    [hit] = results(await dev.call(S, search("letter", mime_options(1, S))))  # not S/MIME: its own body
    assert hit.find(f"{S}:Properties").find(f"{B}:Body").text(f"{B}:Type") == "1"
    [hit] = results(await dev.call(S, search("letter", mime_options(2, S))))
    body = hit.find(f"{S}:Properties").find(f"{B}:Body")
    assert body.text(f"{B}:Type") == "4" and body.find(f"{B}:Data").value == plain


@pytest.mark.req("MS-ASCMD_R1322")
async def test_a_search_result_has_at_most_one_class(client, app):
    await deliver(app, message(subject="budget one"), message(subject="budget two"))
    dev = Raw(client)
    await dev.folder_sync("0")
    hits = results(await dev.call(S, search("budget")))
    assert len(hits) == 2
    assert [[c.value for c in h.children if c.tag == f"{A}:Class"] for h in hits] == [["Email"], ["Email"]]


# -- SmartForward's InstanceId (2.2.1.19) and status 146 -----------------------------------------
def smart_forward(item_id, instance, client_id):
    forward = b"From: alice@easlab.test\r\nTo: carol@example.net\r\nSubject: FW: x\r\n\r\nsee below\r\n"
    return E(f"{CM}:SmartForward", E(f"{CM}:ClientId", client_id),
             E(f"{CM}:Source", E(f"{CM}:FolderId", "1"), E(f"{CM}:ItemId", item_id), E(f"{CM}:InstanceId", instance)),
             E(f"{CM}:SaveInSentItems"), E(f"{CM}:Mime", forward))


@pytest.mark.req("MS-ASCMD_R541", "MS-ASCMD_R4919")
async def test_smart_forward_instance_ids(client, app, db):
    sid, _ = await stored(app, db, message(subject="Not a series"))
    dev = Raw(client)
    for n, bad in enumerate(("yesterday", "2026-13-45T99:00:00.000Z", "")):
        if bad:
            resp = await dev.call("SmartForward", smart_forward(sid, bad, f"bad{n}"))
            assert resp == E(f"{CM}:SmartForward", E(f"{CM}:Status", 104))
    # A well-formed InstanceId of an item that has no recurrence: 146, and nothing is sent.
    resp = await dev.call("SmartForward", smart_forward(sid, "2026-01-05T09:00:00.000Z", "occ"))
    assert resp == E(f"{CM}:SmartForward", E(f"{CM}:Status", 146))
    with db.session() as s:
        assert s.exec(select(Item).where(Item.subject == "FW: x")).first() is None


# -- status 164 (2.2.2) ----------------------------------------------------------------------------
@pytest.mark.req("MS-ASCMD_R5412")
@pytest.mark.parametrize("version", ["14.1", "16.0"])
async def test_a_body_part_preference_type_other_than_html_is_164(client, version):
    dev = Raw(client, version=version)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")
    for bad in (1, 3, 4):
        resp = await dev.sync(key, "1", E(f"{A}:Options", E(f"{B}:BodyPartPreference", E(f"{B}:Type", bad))))
        assert resp == E(f"{A}:Sync", E(f"{A}:Status", 164))
    resp = await dev.sync(key, "1", E(f"{A}:Options", E(f"{B}:BodyPartPreference", E(f"{B}:Type", 2))))
    assert resp is None or collection(resp).text(f"{A}:Status") == "1"
