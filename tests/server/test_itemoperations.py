"""ItemOperations (Fetch of items and attachments, inline and multipart, byte ranges;
EmptyFolderContents; Move of a conversation) and GetAttachment, over HTTP."""
import base64

import pytest
from sqlmodel import select

from easlab.eas import multipart
from easlab.eas.mime import parse_message
from easlab.eas.wbxml import E, decode
from easlab.storage.models import Folder, Item
from easlab.storage.users import get_user
from tests.server.eas_helpers import message
from tests.server.items_helpers import FH, VERSIONS, deliver, device, folder_key, items_of, synced

pytestmark = pytest.mark.anyio
IO = "ItemOperations"
PDF = bytes(range(256)) * 8 + b"%%EOF"


def fetch(*ids, options=None):
    return E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"), *ids, options)


def opts(*children):
    return E(f"{IO}:Options", *children)


def pref(t, size=None):
    return E("AirSyncBase:BodyPreference", E("AirSyncBase:Type", t), E("AirSyncBase:TruncationSize", size) if size else None)


def ops(*children):
    return E(f"{IO}:ItemOperations", *children)


def fetched(resp):
    assert resp.text(f"{IO}:Status") == "1"
    return resp.find(f"{IO}:Response").findall(f"{IO}:Fetch")


async def one_item(app, db, **kw):
    await deliver(app, message(**kw))
    with db.session() as s:
        item = s.exec(select(Item).order_by(Item.id.desc())).first()
        return item.server_id, item.mime


async def post_multipart(dev, tree):
    headers = dev.headers()
    headers["MS-ASAcceptMultiPart"] = "T"
    q = f"/Microsoft-Server-ActiveSync?Cmd=ItemOperations&User={dev.user}&DeviceId={dev.device}&DeviceType={dev.device_type}"
    from easlab.eas.wbxml import encode

    r = await dev.client.post(q, content=encode(tree), headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == multipart.CONTENT_TYPE
    parts = multipart.unpack(r.content)
    return decode(parts[0]), parts


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.req("MS-ASCMD_R4153", "MS-ASCMD_R234", "MS-ASCMD_R5503")
@pytest.mark.req("MS-ASEMAIL_R61")
async def test_fetch_item_with_body_preference(client, app, db, version):
    sid, _ = await one_item(app, db, subject="Quarterly", text="the numbers are in")
    dev = device(client, version)
    [f] = fetched(await dev.call(IO, ops(fetch(E("AirSync:CollectionId", "1"), E("AirSync:ServerId", sid), options=opts(pref(1))))))
    assert [c.tag for c in f.children] == [f"{IO}:Status", "AirSync:CollectionId", "AirSync:ServerId", "AirSync:Class", f"{IO}:Properties"]
    props = f.find(f"{IO}:Properties")
    assert props.text("Email:Subject") == "Quarterly"
    body = props.find("AirSyncBase:Body")
    assert body.text("AirSyncBase:Type") == "1" and body.text("AirSyncBase:Data").strip() == "the numbers are in"
    # Truncated on request, like Sync.
    [f] = fetched(await dev.call(IO, ops(fetch(E("AirSync:CollectionId", "1"), E("AirSync:ServerId", sid), options=opts(pref(1, 3))))))
    body = f.find(f"{IO}:Properties").find("AirSyncBase:Body")
    assert body.text("AirSyncBase:Data") == "the" and body.text("AirSyncBase:Truncated") == "1"


@pytest.mark.req("MS-ASCMD_R3716", "MS-ASCMD_R5422", "MS-ASCMD_R5423", "MS-ASCMD_R4160", "MS-ASCMD_R236",
                 "MS-ASCMD_R5505", "MS-ASCMD_R3360", "MS-ASCMD_R3363", "MS-ASCMD_R3366", "MS-ASCMD_R3368",
                 "MS-ASCMD_R2301", "MS-ASCMD_R2302")
@pytest.mark.req("MS-ASAIRS_R176", "MS-ASAIRS_R244")
async def test_fetch_mime_whole_in_ranges_and_multipart(client, app, db):
    sid, mime = await one_item(app, db, subject="Raw", text="x" * 300)
    dev = device(client)
    mime_opts = [E("AirSync:MIMESupport", 2), pref(4)]
    ident = [E("AirSync:CollectionId", "1"), E("AirSync:ServerId", sid)]
    [f] = fetched(await dev.call(IO, ops(fetch(*ident, options=opts(*mime_opts)))))
    body = f.find(f"{IO}:Properties").find("AirSyncBase:Body")
    assert body.text("AirSyncBase:Type") == "4" and body.find("AirSyncBase:Data").value == mime
    # A byte range of the MIME: Range and Total say which bytes of how many.
    [f] = fetched(await dev.call(IO, ops(fetch(*ident, options=opts(E(f"{IO}:Range", "10-109"), *mime_opts)))))
    props = f.find(f"{IO}:Properties")
    assert props.text(f"{IO}:Range") == "10-109" and props.text(f"{IO}:Total") == str(len(mime))
    assert props.find("AirSyncBase:Body").find("AirSyncBase:Data").value == mime[10:110]
    [f] = fetched(await dev.call(IO, ops(fetch(*ident, options=opts(E(f"{IO}:Range", f"100-{len(mime) + 50}"), *mime_opts)))))
    assert f.find(f"{IO}:Properties").text(f"{IO}:Range") == f"100-{len(mime) - 1}"  # best effort at the end
    [f] = fetched(await dev.call(IO, ops(fetch(*ident, options=opts(E(f"{IO}:Range", f"{len(mime)}-{len(mime) + 9}"), *mime_opts)))))
    assert f.text(f"{IO}:Status") == "8"
    # Multipart: the body's Data becomes Part 1, the MIME travels as the second part.
    tree, parts = await post_multipart(dev, ops(fetch(*ident, options=opts(E(f"{IO}:Range", "0-99"), *mime_opts))))
    body = tree.find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties").find("AirSyncBase:Body")
    assert body.find("AirSyncBase:Data") is None and body.text(f"{IO}:Part") == "1"
    assert len(parts) == 2 and parts[1] == mime[:100]


@pytest.mark.parametrize("version", VERSIONS)
async def test_fetch_attachment_inline_ranged_and_multipart(client, app, db, version):
    sid, _ = await one_item(app, db, subject="report", attachments=[("report.pdf", PDF, "application/pdf"),
                                                                  ("notes.txt", b"second", "text/plain")])
    dev = device(client, version)
    ref = f"{sid}:0"
    [f] = fetched(await dev.call(IO, ops(fetch(E("AirSyncBase:FileReference", ref)))))
    assert [c.tag for c in f.children] == [f"{IO}:Status", "AirSyncBase:FileReference", f"{IO}:Properties"]
    props = f.find(f"{IO}:Properties")
    assert props.text("AirSyncBase:ContentType") == "application/pdf"
    assert props.text(f"{IO}:Total") == str(len(PDF))
    assert base64.b64decode(props.text(f"{IO}:Data")) == PDF
    [f] = fetched(await dev.call(IO, ops(fetch(E("AirSyncBase:FileReference", ref), options=opts(E(f"{IO}:Range", "256-511"))))))
    props = f.find(f"{IO}:Properties")
    assert props.text(f"{IO}:Range") == "256-511" and base64.b64decode(props.text(f"{IO}:Data")) == PDF[256:512]
    # Two attachments in one multipart request: parts 1 and 2, in order.
    tree, parts = await post_multipart(dev, ops(fetch(E("AirSyncBase:FileReference", ref)),
                                                fetch(E("AirSyncBase:FileReference", f"{sid}:1"))))
    first, second = tree.find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert first.find(f"{IO}:Properties").text(f"{IO}:Part") == "1"
    assert second.find(f"{IO}:Properties").text(f"{IO}:Part") == "2"
    assert parts[1:] == [PDF, b"second"]


@pytest.mark.req("MS-ASCMD_R4158", "MS-ASCMD_R4166", "MS-ASCMD_R4161", "MS-ASCMD_R4154")
async def test_fetch_failures(client, app, db):
    sid, _ = await one_item(app, db, attachments=[("a.bin", b"abc", "application/octet-stream")])
    dev = device(client)
    resp = await dev.call(IO, ops(
        fetch(E("AirSync:CollectionId", "1"), E("AirSync:ServerId", "1:999999")),
        fetch(E("AirSyncBase:FileReference", f"{sid}:7")),
        fetch(E("AirSyncBase:FileReference", "")),
        fetch(E("AirSyncBase:FileReference", "nonsense")),
        E(f"{IO}:Fetch", E(f"{IO}:Store", "DocumentLibrary"), E("DocumentLibrary:LinkId", r"\\server\share\x.doc")),
        E(f"{IO}:Fetch", E("AirSync:CollectionId", "1"), E("AirSync:ServerId", sid)),  # no Store
        fetch(E("AirSyncBase:FileReference", f"{sid}:0"), options=opts(E(f"{IO}:Range", "9-2"))),
    ))
    assert [f.text(f"{IO}:Status") for f in fetched(resp)] == ["6", "15", "15", "15", "4", "2", "8"]  # 4: a UNC link of another server
    assert fetched(resp)[0].text("AirSync:ServerId") == "1:999999"  # the failed fetch names what it was
    # Another user's attachment is not found for bob.
    bob = device(client, user="bob", password="hunter2", name="bobdev")
    [f] = fetched(await bob.call(IO, ops(fetch(E("AirSyncBase:FileReference", f"{sid}:0")))))
    assert f.text(f"{IO}:Status") == "6"
    assert (await dev.call(IO, ops())).text(f"{IO}:Status") == "2"
    assert (await dev.post(IO, ops(fetch(E("AirSync:ServerId", sid))), )).status_code == 200
    assert (await device(client, "2.5", "old").post(IO, ops(fetch(E("AirSync:ServerId", sid))))).status_code == 501


@pytest.mark.parametrize("version", ["12.1", "2.5"])
@pytest.mark.req("MS-ASCMD_R157", "MS-ASCMD_R160", "MS-ASCMD_R166")
async def test_get_attachment_for_old_clients(client, app, db, version):
    sid, _ = await one_item(app, db, attachments=[("report.pdf", PDF, "application/pdf")])
    dev = device(client, version)
    r = await dev.post(f"GetAttachment&AttachmentName={sid}:0")
    assert r.status_code == 200 and r.content == PDF
    assert r.headers["content-type"] == "application/pdf"
    assert (await dev.post(f"GetAttachment&AttachmentName={sid}:5")).status_code == 500
    assert (await dev.post("GetAttachment&AttachmentName=1:424242:0")).status_code == 500
    bob = device(client, version, user="bob", password="hunter2", name="bobdev")
    assert (await bob.post(f"GetAttachment&AttachmentName={sid}:0")).status_code == 500
    assert (await device(client, "14.1", "new").post(f"GetAttachment&AttachmentName={sid}:0")).status_code == 501


@pytest.mark.req("MS-ASCMD_R199", "MS-ASCMD_R2243", "MS-ASCMD_R2244", "MS-ASCMD_R2167")
async def test_empty_folder_contents_with_and_without_subfolders(client, app, db):
    me, other = device(client, name="me"), device(client, name="other")
    key = await folder_key(me)
    sub = (await me.call("FolderCreate", E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "3"),
                                           E(f"{FH}:DisplayName", "old stuff"), E(f"{FH}:Type", 12)))).text(f"{FH}:ServerId")
    await deliver(app, message(subject="one"), message(subject="two"))
    with db.session() as s:
        sids = [i.server_id for i in s.exec(select(Item))]
    await me.call("MoveItems", E("Move:MoveItems", *[E("Move:Move", E("Move:SrcMsgId", sid), E("Move:SrcFldId", "1"),
                                                       E("Move:DstFldId", "3")) for sid in sids]))
    other_trash = await synced(other, "3")
    other_key = await folder_key(other)
    resp = await me.call(IO, ops(E(f"{IO}:EmptyFolderContents", E("AirSync:CollectionId", "3"))))
    assert resp == E(f"{IO}:ItemOperations", E(f"{IO}:Status", 1), E(f"{IO}:Response",
                     E(f"{IO}:EmptyFolderContents", E(f"{IO}:Status", 1), E("AirSync:CollectionId", "3"))))
    assert sorted(k for k, _, _ in items_of(await other.sync(other_trash, "3"))) == ["Delete", "Delete"]
    assert (await other.folder_sync(other_key)).find(f"{FH}:Changes").text(f"{FH}:Count") == "0"  # subfolder kept
    other_key = await folder_key(other)
    resp = await me.call(IO, ops(E(f"{IO}:EmptyFolderContents", E("AirSync:CollectionId", "3"),
                                   E(f"{IO}:Options", E(f"{IO}:DeleteSubFolders")))))
    assert resp.find(f"{IO}:Response").find(f"{IO}:EmptyFolderContents").text(f"{IO}:Status") == "1"
    assert [d.text(f"{FH}:ServerId") for d in (await other.folder_sync(other_key)).find(f"{FH}:Changes").findall(f"{FH}:Delete")] == [sub]
    bad = await me.call(IO, ops(E(f"{IO}:EmptyFolderContents", E("AirSync:CollectionId", "4711"))))
    assert bad.find(f"{IO}:Response").find(f"{IO}:EmptyFolderContents").text(f"{IO}:Status") == "6"


@pytest.mark.req("MS-ASCMD_R201", "MS-ASCMD_R3465", "MS-ASCMD_R4942")
async def test_move_conversation(client, app, db):
    me = device(client, "14.1")
    key = await folder_key(me)
    archive = (await me.call("FolderCreate", E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "0"),
                                               E(f"{FH}:DisplayName", "Archive"), E(f"{FH}:Type", 12)))).text(f"{FH}:ServerId")
    await deliver(app, message(subject="Lunch?"), message(subject="RE: Lunch?"), message(subject="Other thing"))
    cid = parse_message(message(subject="Lunch?")).conversation_id
    archive_key = await synced(me, archive)

    def move(conversation, dst, always=True):
        return ops(E(f"{IO}:Move", E(f"{IO}:ConversationId", conversation), E(f"{IO}:DstFldId", dst),
                     E(f"{IO}:Options", E(f"{IO}:MoveAlways")) if always else None))

    resp = await me.call(IO, move(cid, archive))
    assert resp == E(f"{IO}:ItemOperations", E(f"{IO}:Status", 1), E(f"{IO}:Response",
                     E(f"{IO}:Move", E(f"{IO}:Status", 1), E(f"{IO}:ConversationId", cid))))
    assert sorted(s for _, _, s in items_of(await me.sync(archive_key, archive))) == ["Lunch?", "RE: Lunch?"]
    with db.session() as s:
        alice = get_user(s, "alice")
        inbox = s.exec(select(Folder).where(Folder.user_id == alice.id, Folder.server_id == "1")).one()
        assert [i.subject for i in s.exec(select(Item).where(Item.folder_id == inbox.id))] == ["Other thing"]
    statuses = lambda r: [m.text(f"{IO}:Status") for m in r.find(f"{IO}:Response").findall(f"{IO}:Move")]  # noqa: E731
    assert statuses(await me.call(IO, move(cid, "1", always=False))) == ["155"]
    assert statuses(await me.call(IO, move(cid, "7"))) == ["156"]  # the Calendar
    assert statuses(await me.call(IO, move(cid, "4711"))) == ["6"]
    assert statuses(await me.call(IO, move(b"\x00" * 16, "1"))) == ["6"]
