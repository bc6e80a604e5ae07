"""MS-ASHTTP as Microsoft's test suite exercises it: commands reached through the base64-encoded query
(command codes, parameters, the Options bits), the plain query's command parameters, status lines,
response headers and bodies.  Each test names the requirements it proves."""
from __future__ import annotations

import base64
import struct

import pytest
from sqlmodel import select

from easlab.eas import multipart
from easlab.eas.wbxml import E, decode, encode
from easlab.storage.models import Folder, Item
from easlab.storage.users import get_user
from tests.conftest import basic
from tests.server.eas_helpers import EAS, Raw, collection, commands, message

pytestmark = pytest.mark.anyio
FH, C, IO = "FolderHierarchy", "ComposeMail", "ItemOperations"
AUTH = {"Authorization": basic("alice", "secret")}
PDF = b"%PDF-1.4 " + bytes(range(256)) + b"%%EOF"
# MS-ASHTTP 2.2.1.1.1.1.3 parameter tags
COLLECTION_ID, ITEM_ID, OPTIONS, ATTACHMENT_NAME = 1, 3, 7, 0


def encoded(code: int, *params: tuple[int, bytes], version: int = 141, device: bytes = b"enc1") -> str:
    """MS-ASHTTP 2.2.1.1.1.1: version, command code, locale, DeviceId, no policy key, DeviceType, parameters."""
    raw = struct.pack("<BBHB", version, code, 0x0409, len(device)) + device + b"\x00" + bytes([2]) + b"WP"
    for tag, value in params:
        raw += bytes([tag, len(value)]) + value
    return base64.b64encode(raw).decode()


async def post_encoded(client, code, body=b"", *params, version=141, content_type="application/vnd.ms-sync.wbxml",
                       headers=None):
    return await client.post(f"{EAS}?{encoded(code, *params, version=version)}", content=body,
                             headers={**AUTH, "Content-Type": content_type, **(headers or {})})


async def call_encoded(client, code, tree, *params):
    r = await post_encoded(client, code, encode(tree), *params)
    assert r.status_code == 200
    return decode(r.content) if r.content else None


def items(db, user, ftype):
    with db.session() as s:
        folder = s.exec(select(Folder).where(Folder.user_id == get_user(s, user).id, Folder.type == ftype)).one()
        return list(s.exec(select(Item).where(Item.folder_id == folder.id)))


def hierarchy(resp):
    return {a.text(f"{FH}:ServerId"): (a.text(f"{FH}:DisplayName"), a.text(f"{FH}:ParentId"))
            for a in resp.find(f"{FH}:Changes").findall(f"{FH}:Add")}


def mime(subject="Hello Bob", to="bob@easlab.test"):
    return message(subject=subject, sender="alice@easlab.test", to=to)


async def inbox_server_id(client, subject):
    dev = Raw(client, device="enc1", device_type="WP")
    key = collection(await dev.sync("0")).text("AirSync:SyncKey")
    return next(sid for _, sid, subj in commands(await dev.sync(key)) if subj == subject)


@pytest.mark.req("MS-ASHTTP_R491", "MS-ASHTTP_R428")
async def test_foldersync_by_command_code_gives_folders_not_items(client, app):
    await app.state.store.deliver(message(subject="an item, not a folder"), ["alice@easlab.test"])
    resp = await call_encoded(client, 9, E(f"{FH}:FolderSync", E(f"{FH}:SyncKey", "0")))
    assert [c.tag for c in resp.children] == [f"{FH}:Status", f"{FH}:SyncKey", f"{FH}:Changes"]
    assert {"Inbox", "Sent Items", "Deleted Items", "Drafts"} <= {name for name, _ in hierarchy(resp).values()}
    assert b"an item, not a folder" not in encode(resp)
    assert {c.tag for c in resp.find(f"{FH}:Changes").children} == {f"{FH}:Count", f"{FH}:Add"}


@pytest.mark.req("MS-ASHTTP_R493", "MS-ASHTTP_R431", "MS-ASHTTP_R68", "MS-ASHTTP_R496")
async def test_folder_commands_by_command_code(client):
    key = (await call_encoded(client, 9, E(f"{FH}:FolderSync", E(f"{FH}:SyncKey", "0")))).text(f"{FH}:SyncKey")
    made = await call_encoded(client, 10, E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "0"),
                                            E(f"{FH}:DisplayName", "Projects"), E(f"{FH}:Type", 12)))
    key, sid = made.text(f"{FH}:SyncKey"), made.text(f"{FH}:ServerId")
    viewer = Raw(client, device="viewer")  # its own FolderSync leaves enc1's key alone

    async def listed():
        return hierarchy(await viewer.folder_sync("0"))

    assert (await listed())[sid] == ("Projects", "0")

    def update(name, parent):
        return E(f"{FH}:FolderUpdate", E(f"{FH}:SyncKey", key), E(f"{FH}:ServerId", sid),
                 E(f"{FH}:ParentId", parent), E(f"{FH}:DisplayName", name))

    resp = await call_encoded(client, 12, update("Archive", "0"))
    key = resp.text(f"{FH}:SyncKey")
    assert (await listed())[sid] == ("Archive", "0")
    resp = await call_encoded(client, 12, update("Archive", "1"))  # under the Inbox
    key = resp.text(f"{FH}:SyncKey")
    assert (await listed())[sid] == ("Archive", "1")
    resp = await call_encoded(client, 11, E(f"{FH}:FolderDelete", E(f"{FH}:SyncKey", key), E(f"{FH}:ServerId", sid)))
    assert resp.text(f"{FH}:Status") == "1"
    assert sid not in await listed()


@pytest.mark.req("MS-ASHTTP_R499")
async def test_moveitems_by_command_code(client, app, db):
    await app.state.store.deliver(message(subject="move me"), ["alice@easlab.test"])
    sid = await inbox_server_id(client, "move me")
    resp = await call_encoded(client, 13, E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", sid),
                                                                 E("Move:SrcFldId", "1"), E("Move:DstFldId", "6"))))
    assert resp.find("Move:Response").text("Move:Status") == "3"
    assert items(db, "alice", 2) == []
    with db.session() as s:
        moved = s.exec(select(Item).where(Item.subject == "move me")).one()
        assert s.get(Folder, moved.folder_id).display_name == "Junk E-Mail"


@pytest.mark.req("MS-ASHTTP_R484", "MS-ASHTTP_R533", "MS-ASHTTP_R93", "MS-ASHTTP_R92", "MS-ASHTTP_R486")
async def test_sendmail_by_command_code_and_the_save_in_sent_option(client, db):
    r = await post_encoded(client, 1, mime("kept"), (OPTIONS, b"\x01"), version=121, content_type="message/rfc822")
    assert (r.status_code, r.content) == (200, b"")
    assert [i.subject for i in items(db, "bob", 2)] == ["kept"]
    assert [i.subject for i in items(db, "alice", 5)] == ["kept"]
    r = await post_encoded(client, 1, mime("not kept"), (OPTIONS, b"\x00"), version=121, content_type="message/rfc822")
    assert r.status_code == 200
    assert sorted(i.subject for i in items(db, "bob", 2)) == ["kept", "not kept"]
    assert [i.subject for i in items(db, "alice", 5)] == ["kept"]


@pytest.mark.req("MS-ASHTTP_R489", "MS-ASHTTP_R526", "MS-ASHTTP_R527", "MS-ASHTTP_R435", "MS-ASHTTP_R436",
                 "MS-ASHTTP_R88", "MS-ASHTTP_R525")
async def test_smartreply_by_command_code_with_collection_item_and_options(client, app, db):
    await app.state.store.deliver(message(subject="Budget", text="Please review the budget.", sender="carol@easlab.test"),
                                  ["alice@easlab.test"])
    sid = await inbox_server_id(client, "Budget")
    reply = mime("RE: Budget", to="carol@example.net")
    wrong_folder = await post_encoded(client, 3, reply, (COLLECTION_ID, b"4"), (ITEM_ID, sid.encode()), version=121,
                                      content_type="message/rfc822")
    assert wrong_folder.status_code == 500  # the item is not in Sent Items: the CollectionId counts
    r = await post_encoded(client, 3, reply, (COLLECTION_ID, b"1"), (ITEM_ID, sid.encode()), (OPTIONS, b"\x01"),
                           version=121, content_type="message/rfc822")
    assert (r.status_code, r.content) == (200, b"")
    [sent] = items(db, "alice", 5)
    assert sent.subject == "RE: Budget" and b"Please review the budget." in sent.mime  # the original, by its ItemId


@pytest.mark.req("MS-ASHTTP_R488", "MS-ASHTTP_R116", "MS-ASHTTP_R117", "MS-ASHTTP_R517", "MS-ASHTTP_R511",
                 "MS-ASHTTP_R532", "MS-ASHTTP_R524")
async def test_smartforward_by_command_code_with_collection_item_and_options(client, app, db):
    await app.state.store.deliver(message(subject="Plan", attachments=[("plan.txt", b"the plan", "text/plain")]),
                                  ["alice@easlab.test"])
    sid = await inbox_server_id(client, "Plan")
    fwd = mime("FW: Plan")
    wrong_folder = await post_encoded(client, 2, fwd, (COLLECTION_ID, b"4"), (ITEM_ID, sid.encode()), version=121,
                                      content_type="message/rfc822")
    assert wrong_folder.status_code == 500
    r = await post_encoded(client, 2, fwd, (COLLECTION_ID, b"1"), (ITEM_ID, sid.encode()), (OPTIONS, b"\x01"),
                           version=121, content_type="message/rfc822")
    assert (r.status_code, r.content) == (200, b"")
    [got] = items(db, "bob", 2)
    assert [a["name"] for a in got.attachments] == ["plan.txt"]  # the original's attachment, found by its ItemId
    assert [i.subject for i in items(db, "alice", 5)] == ["FW: Plan"]


@pytest.mark.req("MS-ASHTTP_R530", "MS-ASHTTP_R531", "MS-ASHTTP_R120", "MS-ASHTTP_R121", "MS-ASHTTP_R437",
                 "MS-ASHTTP_R122")
async def test_save_in_sent_query_parameter(client, app, db):
    await app.state.store.deliver(message(subject="Budget"), ["alice@easlab.test"])
    sid = await inbox_server_id(client, "Budget")
    dev = Raw(client, device="enc1", device_type="WP", version="12.1")

    async def post(command, subject, **params):
        q = f"{EAS}?Cmd={command}&User=alice&DeviceId=enc1&DeviceType=WP" + "".join(f"&{k}={v}" for k, v in params.items())
        r = await client.post(q, content=mime(subject), headers={**dev.headers(), "Content-Type": "message/rfc822"})
        assert (r.status_code, r.content) == (200, b"")

    def sent():
        return sorted(i.subject for i in items(db, "alice", 5))

    await post("SendMail", "a", SaveInSent="T")
    await post("SendMail", "b", SaveInSent="F")
    await post("SendMail", "c")  # F by default
    assert sent() == ["a"]
    await post("SmartReply", "d", ItemId=sid, CollectionId="1", SaveInSent="T")
    await post("SmartReply", "e", ItemId=sid, CollectionId="1", SaveInSent="F")
    await post("SmartForward", "f", ItemId=sid, CollectionId="1", SaveInSent="T")
    await post("SmartForward", "g", ItemId=sid, CollectionId="1")
    assert sent() == ["a", "d", "f"]


@pytest.mark.req("MS-ASHTTP_R490", "MS-ASHTTP_R115", "MS-ASHTTP_R487", "MS-ASHTTP_R230")
async def test_getattachment_by_command_code_returns_the_file_without_xml(client, app, db):
    await app.state.store.deliver(message(subject="report", attachments=[("report.pdf", PDF, "application/pdf")]),
                                  ["alice@easlab.test"])
    sid = await inbox_server_id(client, "report")
    r = await post_encoded(client, 4, b"", (ATTACHMENT_NAME, f"{sid}:0".encode()), version=121)
    assert r.status_code == 200 and r.content == PDF and r.headers["content-type"] == "application/pdf"
    assert (await post_encoded(client, 4, b"", (ATTACHMENT_NAME, f"{sid}:7".encode()), version=121)).status_code == 500


def _fetch_attachment(sid):
    return E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), E("AirSyncBase:FileReference", f"{sid}:0")))


@pytest.mark.req("MS-ASHTTP_R534", "MS-ASHTTP_R94", "MS-ASHTTP_R95")
async def test_itemoperations_accept_multipart_option_bit(client, app):
    await app.state.store.deliver(message(subject="report", attachments=[("report.pdf", PDF, "application/pdf")]),
                                  ["alice@easlab.test"])
    sid = await inbox_server_id(client, "report")
    r = await post_encoded(client, 19, encode(_fetch_attachment(sid)), (OPTIONS, b"\x02"))
    assert r.headers["content-type"] == multipart.CONTENT_TYPE
    parts = multipart.unpack(r.content)
    assert parts[1] == PDF
    props = decode(parts[0]).find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties")
    assert props.text(f"{IO}:Part") == "1" and props.find(f"{IO}:Data") is None
    inline = decode((await post_encoded(client, 19, encode(_fetch_attachment(sid)), (OPTIONS, b"\x00"))).content)
    props = inline.find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties")
    assert base64.b64decode(props.text(f"{IO}:Data")) == PDF


@pytest.mark.req("MS-ASHTTP_R154", "MS-ASHTTP_R155", "MS-ASHTTP_R440")
async def test_ms_asacceptmultipart_header(client, app):
    await app.state.store.deliver(message(subject="report", attachments=[("report.pdf", PDF, "application/pdf")]),
                                  ["alice@easlab.test"])
    sid = await inbox_server_id(client, "report")
    dev = Raw(client, device="enc1", device_type="WP")

    async def fetch(header):
        headers = {**dev.headers(), **({"MS-ASAcceptMultiPart": header} if header else {})}
        q = f"{EAS}?Cmd=ItemOperations&User=alice&DeviceId=enc1&DeviceType=WP"
        return await client.post(q, content=encode(_fetch_attachment(sid)), headers=headers)

    r = await fetch("T")
    assert r.headers["content-type"] == multipart.CONTENT_TYPE and multipart.unpack(r.content)[1] == PDF
    for header in (None, "F"):
        r = await fetch(header)
        assert r.headers["content-type"] == "application/vnd.ms-sync.wbxml"
        props = decode(r.content).find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties")
        assert base64.b64decode(props.text(f"{IO}:Data")) == PDF


@pytest.mark.req("MS-ASHTTP_R219", "MS-ASHTTP_R229", "MS-ASHTTP_R412", "MS-ASHTTP_R215")
async def test_wbxml_response_headers_and_body(client):
    dev = Raw(client)
    r = await dev.post("FolderSync", E(f"{FH}:FolderSync", E(f"{FH}:SyncKey", "0")))
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/vnd.ms-sync.wbxml"
    assert decode(r.content).text(f"{FH}:Status") == "1"  # the body is WBXML
    assert "content-encoding" not in r.headers  # easlab never compresses, so the header never appears


@pytest.mark.req("MS-ASHTTP_R482")
async def test_sync_without_changes_has_no_body(client, app):
    dev = Raw(client)
    key = collection(await dev.sync("0")).text("AirSync:SyncKey")
    r = await dev.post("Sync", E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection",
                       E("AirSync:SyncKey", key), E("AirSync:CollectionId", "1")))))
    assert (r.status_code, r.content) == (200, b"")


@pytest.mark.req("MS-ASHTTP_R176", "MS-ASHTTP_R177", "MS-ASHTTP_R188")
async def test_malformed_requests_are_400_every_time(client):
    dev = Raw(client)
    garbage = b"\x03\x01\x6a\x00\x56\x99garbage"
    for _ in range(2):  # repeated without modification: the same error
        assert (await dev.post("FolderSync", raw=garbage)).status_code == 400
    no_device = f"{EAS}?Cmd=FolderSync&User=alice&DeviceType=WP"
    assert (await client.post(no_device, content=b"", headers=dev.headers())).status_code == 400


@pytest.mark.req("MS-ASHTTP_R182", "MS-ASHTTP_R441")
async def test_unknown_uri_is_404(client):
    r = await client.post("/Microsoft-Server-ActiveSync-Not?Cmd=FolderSync&DeviceId=a&DeviceType=b",
                          content=b"", headers={**AUTH, "MS-ASProtocolVersion": "14.1"})
    assert r.status_code == 404


@pytest.mark.req("MS-ASHTTP_R118", "MS-ASHTTP_R528", "MS-ASHTTP_R512")
async def test_long_id_query_parameter_names_the_original(client, app, db):
    from easlab.storage.longid import LongIds

    await app.state.store.deliver(message(subject="Found", text="found by search", attachments=[("f.txt", b"f", "text/plain")]),
                                  ["alice@easlab.test"])
    with db.session() as s:
        item = s.exec(select(Item).where(Item.subject == "Found")).one()
        long_id = LongIds(s, get_user(s, "alice")).make(item.id)
    dev = Raw(client, device="enc1", device_type="WP", version="12.1")
    base = f"{EAS}?User=alice&DeviceId=enc1&DeviceType=WP&LongId={long_id}"
    headers = {**dev.headers(), "Content-Type": "message/rfc822"}
    r = await client.post(f"{base}&Cmd=SmartReply", content=mime("RE: Found", to="carol@example.net"), headers=headers)
    assert (r.status_code, r.content) == (200, b"")
    r = await client.post(f"{base}&Cmd=SmartForward", content=mime("FW: Found"), headers=headers)
    assert (r.status_code, r.content) == (200, b"")
    [got] = items(db, "bob", 2)
    assert [a["name"] for a in got.attachments] == ["f.txt"] and "found by search" in got.body_text
    made_up = f"{EAS}?Cmd=SmartReply&User=alice&DeviceId=enc1&DeviceType=WP&LongId=RgAAAAnothing"
    assert (await client.post(made_up, content=mime("RE: x"), headers=headers)).status_code == 500
