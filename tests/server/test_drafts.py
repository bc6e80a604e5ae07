"""Drafts over Sync (16.0+): Add and Change in Drafts with the Email/Email2 fields, attachments
added and removed, sending with email2:Send; checked in the database, on another device, in the
recipient's Inbox, in Sent Items and in the outbound queue."""
import asyncio

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.storage.models import OutboundMail
from tests.server.eas_helpers import Raw, collection, commands
from tests.server.test_compose import PING, folder_items, held, parse

pytestmark = pytest.mark.anyio
A, B = "AirSync", "AirSyncBase"
DRAFTS, SENT = "2", "4"


async def primed(dev, cid=DRAFTS):
    key = collection(await dev.sync("0", cid)).text(f"{A}:SyncKey")
    resp = await dev.sync(key, cid)
    return collection(resp).text(f"{A}:SyncKey") if resp is not None else key


def data(*fields):
    return E(f"{A}:ApplicationData", *fields)


def body(text, kind=1):
    return E(f"{B}:Body", E(f"{B}:Type", kind), E(f"{B}:Data", text))


def attach(client_id, name, content, ctype="application/octet-stream"):
    return E(f"{B}:Add", E(f"{B}:ClientId", client_id), E(f"{B}:Method", 1), E(f"{B}:Content", content),
             E(f"{B}:DisplayName", name), E(f"{B}:ContentType", ctype))


def add(client_id, *fields, send=False):
    return E(f"{A}:Add", E(f"{A}:ClientId", client_id), data(*fields), E("Email2:Send") if send else None)


def change(server_id, *fields, send=False):
    return E(f"{A}:Change", E(f"{A}:ServerId", server_id), data(*fields), E("Email2:Send") if send else None)


LETTER = (E("Email:To", '"Bob Example" <bob@easlab.test>'), E("Email:Cc", "carol@example.net"),
          E("Email2:Bcc", "dave@example.org"), E("Email:Subject", "Plan"), E("Email:Importance", 2), body("Draft text"))


def conversation(draft):
    """The ApplicationData of a new draft's Add response: its conversation (MS-ASEMAIL 2.2.2.21, 2.2.2.22)."""
    return data(E("Email2:ConversationId", draft.conversation_id), E("Email2:ConversationIndex", draft.conversation_index))


async def run(dev, key, *cmds, cid=DRAFTS):
    resp = await dev.sync(key, cid, E(f"{A}:Commands", *cmds))
    coll = collection(resp)
    return coll, coll.text(f"{A}:SyncKey")


# -- Add and Change -------------------------------------------------------------------------------
@pytest.mark.req("MS-ASEMAIL_R1278")
async def test_a_16_1_device_adds_a_draft_another_device_sees_it(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("d1", *LETTER))
    [draft] = folder_items(db, "alice", 3)
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Add", E(f"{A}:ClientId", "d1"),
                                                               E(f"{A}:ServerId", draft.server_id), E(f"{A}:Status", 1),
                                                               conversation(draft)))
    assert coll.find(f"{A}:Commands") is None  # its own add is not echoed
    assert (draft.subject, draft.to, draft.cc, draft.bcc, draft.importance, draft.is_draft, draft.read) == (
        "Plan", '"Bob Example" <bob@easlab.test>', "carol@example.net", "dave@example.org", 2, True, True)
    assert draft.body_text == "Draft text\n" and draft.sender == '"Alice Example" <alice@easlab.test>'
    # Another 16.1 device gets it with IsDraft and Bcc; a 14.1 device without the 16.0 elements.
    other = Raw(client, device="tablet", version="16.1")
    okey = collection(await other.sync("0", DRAFTS)).text(f"{A}:SyncKey")
    item = collection(await other.sync(okey, DRAFTS)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData")
    assert (item.text("Email:Subject"), item.text("Email2:IsDraft"), item.text("Email2:Bcc")) == ("Plan", "1", "dave@example.org")
    old = Raw(client, device="oldphone", version="14.1")
    okey = collection(await old.sync("0", DRAFTS)).text(f"{A}:SyncKey")
    item = collection(await old.sync(okey, DRAFTS)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData")
    assert item.text("Email:Subject") == "Plan" and not item.has("Email2:IsDraft") and not item.has("Email2:Bcc")


@pytest.mark.parametrize("version, cid", [("14.1", DRAFTS), ("12.1", DRAFTS), ("16.1", "1"), ("16.1", SENT)])
async def test_other_adds_stay_status_6(client, db, version, cid):
    dev = Raw(client, version=version)
    key = await primed(dev, cid)
    coll, _ = await run(dev, key, add("x1", *LETTER), cid=cid)
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Add", E(f"{A}:ClientId", "x1"), E(f"{A}:Status", 6)))
    assert folder_items(db, "alice", 3) == []


async def test_change_edits_only_what_it_names(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("d1", *LETTER))
    sid = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId")
    coll, key = await run(dev, key, change(sid, E("Email:Subject", "Plan B"), body("<p>Now in <b>HTML</b></p>", 2)))
    assert coll.find(f"{A}:Responses") is None and coll.find(f"{A}:Commands") is None  # silence is success
    [draft] = folder_items(db, "alice", 3)
    assert (draft.subject, draft.to, draft.bcc, draft.importance) == ("Plan B", '"Bob Example" <bob@easlab.test>', "dave@example.org", 2)
    assert draft.body_html == "<p>Now in <b>HTML</b></p>\n"
    # RTF is no draft body; an unknown draft is 8.
    coll, key = await run(dev, key, change(sid, body("{\\rtf1}", 3)), change(f"{DRAFTS}:999999", E("Email:Subject", "x")))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:Status", 6)),
                                            E(f"{A}:Change", E(f"{A}:ServerId", f"{DRAFTS}:999999"), E(f"{A}:Status", 8)))


# -- attachments ---------------------------------------------------------------------------------
async def test_attachments_added_and_removed_through_sync(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    attachments = E(f"{B}:Attachments", attach("a1", "one.txt", b"first file\n", "text/plain"),
                    attach("a2", "two.pdf", b"%PDF-1.4 second", "application/pdf"))
    coll, key = await run(dev, key, add("d1", *LETTER, attachments))
    response = coll.find(f"{A}:Responses").find(f"{A}:Add")
    sid = response.text(f"{A}:ServerId")
    assert response == E(f"{A}:Add", E(f"{A}:ClientId", "d1"), E(f"{A}:ServerId", sid), E(f"{A}:Status", 1),
                         E(f"{A}:ApplicationData", E(f"{B}:Attachments",
                           E(f"{B}:Attachment", E(f"{B}:ClientId", "a1"), E(f"{B}:FileReference", f"{sid}:0")),
                           E(f"{B}:Attachment", E(f"{B}:ClientId", "a2"), E(f"{B}:FileReference", f"{sid}:1"))),
                           *conversation(folder_items(db, "alice", 3)[0]).children))
    [draft] = folder_items(db, "alice", 3)
    assert [(a["name"], a["size"]) for a in draft.attachments] == [("one.txt", 11), ("two.pdf", 15)]
    # Delete the first, add a third: the Change answers with the new FileReference, and as the
    # second moved up, the device gets the draft back with the references as they are now.
    ops = E(f"{B}:Attachments", E(f"{B}:Delete", E(f"{B}:FileReference", f"{sid}:0")), attach("a3", "three.png", b"\x89PNG", "image/png"))
    coll, key = await run(dev, key, change(sid, ops))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:Status", 1),
        E(f"{A}:ApplicationData", E(f"{B}:Attachments", E(f"{B}:Attachment", E(f"{B}:ClientId", "a3"), E(f"{B}:FileReference", f"{sid}:1"))))))
    echoed = coll.find(f"{A}:Commands").find(f"{A}:Change")
    refs = [(a.text(f"{B}:DisplayName"), a.text(f"{B}:FileReference"))
            for a in echoed.find(f"{A}:ApplicationData").find(f"{B}:Attachments").children]
    assert refs == [("two.pdf", f"{sid}:0"), ("three.png", f"{sid}:1")]
    [draft] = folder_items(db, "alice", 3)
    parts = {p.get_filename(): p.get_content() for p in parse(draft.mime).iter_attachments()}
    assert parts == {"two.pdf": b"%PDF-1.4 second", "three.png": b"\x89PNG"}
    # A FileReference that is not this draft's is 8, and nothing changes.
    coll, key = await run(dev, key, change(sid, E(f"{B}:Attachments", E(f"{B}:Delete", E(f"{B}:FileReference", "1:5:0")))))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:Status", 8)))
    assert len(folder_items(db, "alice", 3)[0].attachments) == 2


# -- sending -------------------------------------------------------------------------------------
async def test_send_a_draft_with_change(client, app, db):
    bob = Raw(client, user="bob", password="hunter2", device="bobphone", version="16.1")
    bkey = collection(await bob.sync("0")).text(f"{A}:SyncKey")
    await bob.sync(bkey)
    ping = asyncio.create_task(bob.call("Ping", PING("1")))
    await held(app)
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("d1", *LETTER, E(f"{B}:Attachments", attach("a1", "notes.txt", b"n", "text/plain"))))
    sid = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId")
    assert not ping.done()
    coll, key = await run(dev, key, change(sid, E("Email:Subject", "Plan, final"), send=True))
    # The draft is gone from Drafts, and the device hears so at once.
    assert coll.find(f"{A}:Responses") is None
    assert coll.find(f"{A}:Commands") == E(f"{A}:Commands", E(f"{A}:Delete", E(f"{A}:ServerId", sid)))
    assert folder_items(db, "alice", 3) == []
    # bob's held Ping wakes; his copy has no Bcc, comes from alice, carries the attachment.
    assert (await asyncio.wait_for(ping, 5)).text("Ping:Status") == "2"
    [got] = folder_items(db, "bob", 2)
    assert (got.subject, got.sender) == ("Plan, final", '"Alice Example" <alice@easlab.test>')
    assert parse(got.mime)["Bcc"] is None and [a["name"] for a in got.attachments] == ["notes.txt"]
    with db.session() as s:
        [queued] = s.exec(select(OutboundMail)).all()
    assert queued.sender == "alice@easlab.test" and queued.recipients == ["carol@example.net", "dave@example.org"]
    assert b"dave@" not in queued.mime
    # Sent Items holds the message as sent, no longer a draft.
    [sent] = folder_items(db, "alice", 5)
    assert (sent.subject, sent.is_draft, sent.bcc, parse(sent.mime)["Bcc"]) == ("Plan, final", False, "", "dave@example.org")
    skey = collection(await dev.sync("0", SENT)).text(f"{A}:SyncKey")
    assert [s for _, _, s in commands(await dev.sync(skey, SENT))] == ["Plan, final"]


async def test_add_and_send_in_one_go(client, db):
    dev = Raw(client, version="16.0")
    key = await primed(dev)
    coll, key = await run(dev, key, add("d1", E("Email:To", "bob@easlab.test"), E("Email:Subject", "Quick"), body("now"), send=True))
    response = coll.find(f"{A}:Responses").find(f"{A}:Add")
    sid = response.text(f"{A}:ServerId")
    assert [c.tag for c in response.children] == [f"{A}:ClientId", f"{A}:ServerId", f"{A}:Status", f"{A}:ApplicationData"]
    assert (response.text(f"{A}:Status"), response.find(f"{A}:ApplicationData").find("Email2:ConversationId").value) == (
        "1", folder_items(db, "alice", 5)[0].conversation_id)
    assert coll.find(f"{A}:Commands") == E(f"{A}:Commands", E(f"{A}:Delete", E(f"{A}:ServerId", sid)))
    assert [i.subject for i in folder_items(db, "bob", 2)] == ["Quick"]
    assert [i.subject for i in folder_items(db, "alice", 5)] == ["Quick"] and folder_items(db, "alice", 3) == []


async def test_a_draft_without_recipients_is_not_sent(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("d1", E("Email:Subject", "Nobody"), body("x"), send=True))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Add", E(f"{A}:ClientId", "d1"), E(f"{A}:Status", 183)))
    assert folder_items(db, "alice", 3) == []
    coll, key = await run(dev, key, add("d2", E("Email:Subject", "Nobody"), body("x")))
    sid = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId")
    coll, key = await run(dev, key, change(sid, E("Email:Subject", "Still nobody"), send=True))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:Status", 183)))
    assert [i.subject for i in folder_items(db, "alice", 3)] == ["Nobody"]  # kept as it was
    assert folder_items(db, "alice", 5) == []


async def test_resent_sync_key_does_not_send_twice(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    tree = E(f"{A}:Commands", add("d1", E("Email:To", "bob@easlab.test"), E("Email:Subject", "Once"), body("x"), send=True))
    first = await dev.sync(key, DRAFTS, tree)
    again = await dev.sync(key, DRAFTS, tree)  # the answer was lost; the device resends
    assert again == first
    assert len(folder_items(db, "bob", 2)) == 1
