"""MS-ASCON as Microsoft's test suite exercises it: a conversation's index grown by replies and
forwards, a conversation moved always or ignored (its later mail too), and the actions a client
composes from single-item commands (read, flag, delete, move, find, estimate)."""
from __future__ import annotations

import struct
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlmodel import select

from easlab.eas.mime import parse_message
from easlab.eas.wbxml import E
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.storage.models import Folder, Item
from easlab.storage.users import add_user, get_user
from tests.server.eas_helpers import Raw, collection, message
from tests.server.items_helpers import FH, deliver, device, folder_key
from tests.server.test_calendar_conformance import add_all, event
from tests.server.test_compose import mime, send_mail, smart
from tests.server.test_sync_pim import CALENDAR, everything

pytestmark = pytest.mark.anyio
A, IO, C = "AirSync", "ItemOperations", "ComposeMail"
INBOX, DELETED, SENT = "1", "3", "4"
T0 = datetime(2031, 5, 6, 7, 8, 9, tzinfo=timezone.utc)


def filetime(when: datetime) -> int:
    return int((when - datetime(1601, 1, 1, tzinfo=timezone.utc)).total_seconds()) * 10_000_000


async def mail_in(dev, subject, cid=INBOX):
    """(ServerId, ApplicationData) of the one message called `subject` a full Sync of `cid` brings."""
    key = collection(await dev.sync("0", cid)).text(f"{A}:SyncKey")
    resp = await dev.sync(key, cid)
    found = [(c.text(f"{A}:ServerId"), c.find(f"{A}:ApplicationData")) for c in collection(resp).find(f"{A}:Commands").children]
    [hit] = [(sid, data) for sid, data in found if data.text("Email:Subject") == subject]
    return hit


@pytest.mark.req("MS-ASCON_R304", "MS-ASCON_R95", "MS-ASCON_R90", "MS-ASCON_R192", "MS-ASCON_R194", "MS-ASCON_R86",
                 "MS-ASCON_R87", "MS-ASCON_R91", "MS-ASCON_R306", "MS-ASCON_R307", "MS-ASCON_R88", "MS-ASCON_R259",
                 "MS-ASCON_R305", "MS-ASCON_R92")
async def test_the_index_gains_a_response_level_per_reply_and_forward(settings, db, app):  # app: alice and bob
    clock = ManualClock(T0)
    app = create_app(settings, db, clock=clock)
    with db.session() as s:
        add_user(s, "carol", "pw", "Carol Example")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        alice, bob = Raw(client), Raw(client, user="bob", password="hunter2", device="bobdev")
        carol = Raw(client, user="carol", password="pw", device="caroldev")
        # bob sends; the server dates the message (no Date of the client's): the header is that time.
        assert (await bob.post("SendMail", send_mail(mime(to="alice@easlab.test", subject="Plans")))).content == b""
        sid, data = await mail_in(alice, "Plans")
        header = data.find("Email2:ConversationIndex").value
        assert header == struct.pack(">Q", filetime(T0))[:5]
        assert data.find("Email2:ConversationId").value == parse_message(mime(subject="Plans")).conversation_id

        clock.advance(hours=2)
        reply = mime(to="bob@easlab.test", subject="RE: Plans", text="Yes.")
        assert (await alice.post("SmartReply", smart("SmartReply", reply, sid))).content == b""
        rsid, rdata = await mail_in(bob, "RE: Plans")
        replied = rdata.find("Email2:ConversationIndex").value
        assert len(replied) == 10 and replied[:5] == header
        # The Response Level: DC 0, the 31 bits 48..18 of (now - header time), then Random/Reserved.
        delta = filetime(T0 + timedelta(hours=2)) - (int.from_bytes(header, "big") << 24)
        word = struct.unpack(">I", replied[5:9])[0]
        assert word >> 31 == 0 and word & 0x7FFF_FFFF == delta >> 18
        assert replied[9] & 0x0F == 0

        clock.advance(hours=3)
        forward = mime(to="carol@easlab.test", subject="FW: Plans", text="FYI")
        assert (await bob.post("SmartForward", smart("SmartForward", forward, rsid, client_id="f1"))).content == b""
        _, fdata = await mail_in(carol, "FW: Plans")
        forwarded = fdata.find("Email2:ConversationIndex").value
        assert len(forwarded) == 15 and forwarded[:10] == replied
        word = struct.unpack(">I", forwarded[10:14])[0]
        assert word & 0x7FFF_FFFF == (filetime(T0 + timedelta(hours=5)) - (int.from_bytes(header, "big") << 24)) >> 18
        # Every copy of the thread is one conversation.
        assert fdata.find("Email2:ConversationId").value == data.find("Email2:ConversationId").value


@pytest.mark.req("MS-ASCON_R77")
async def test_no_conversation_id_without_a_conversation(client, app):
    [(_, status, sid)] = await add_all(device(client, "14.1", name="writer"), [event(subject="Dentist")])
    assert status == "1"
    got, _ = await everything(device(client, "14.1", name="reader"), CALENDAR)
    assert [e.tag for e in got[sid].iter() if e.tag.startswith("Email2:")] == []
    # A mail has one: the absence above is the calendar item's, not the version's.
    await deliver(app, message(subject="Dentist"))
    _, data = await mail_in(device(client, "14.1", name="reader"), "Dentist")
    assert len(data.find("Email2:ConversationId").value) == 16


def move(conversation, dst, always=True):
    return E(f"{IO}:ItemOperations", E(f"{IO}:Move", E(f"{IO}:ConversationId", conversation) if conversation is not None else None,
             E(f"{IO}:DstFldId", dst) if dst is not None else None, E(f"{IO}:Options", E(f"{IO}:MoveAlways")) if always else None))


def folder_subjects(db, server_id, user="alice"):
    with db.session() as s:
        u = get_user(s, user)
        folder = s.exec(select(Folder).where(Folder.user_id == u.id, Folder.server_id == server_id)).one()
        return sorted(i.subject for i in s.exec(select(Item).where(Item.folder_id == folder.id)))


async def archive_folder(dev):
    key = await folder_key(dev)
    return (await dev.call("FolderCreate", E(f"{FH}:FolderCreate", E(f"{FH}:SyncKey", key), E(f"{FH}:ParentId", "0"),
                                             E(f"{FH}:DisplayName", "Archive"), E(f"{FH}:Type", 12)))).text(f"{FH}:ServerId")


@pytest.mark.req("MS-ASCON_R68", "MS-ASCON_R118", "MS-ASCON_R130", "MS-ASCON_R172", "MS-ASCON_R215", "MS-ASCON_R216",
                 "MS-ASCON_R143")
async def test_move_always_moves_later_mail_of_the_conversation(client, app, db):
    me = device(client, "14.1")
    archive = await archive_folder(me)
    await deliver(app, message(subject="Trip"), message(subject="RE: Trip"), message(subject="Other"))
    # alice's own answer, kept in Sent Items: it stays there (all folders except Sent Items).
    assert (await me.post("SendMail", send_mail(mime(to="dan@example.net", subject="RE: Trip")))).content == b""
    cid = parse_message(message(subject="Trip")).conversation_id
    resp = await me.call(IO, move(cid, archive))
    assert resp == E(f"{IO}:ItemOperations", E(f"{IO}:Status", 1), E(f"{IO}:Response",
                     E(f"{IO}:Move", E(f"{IO}:Status", 1), E(f"{IO}:ConversationId", cid))))
    assert folder_subjects(db, archive) == ["RE: Trip", "Trip"]
    assert folder_subjects(db, INBOX) == ["Other"] and folder_subjects(db, SENT) == ["RE: Trip"]
    # Later mail of the conversation, from SMTP and from a local sender, goes to the archive too.
    await deliver(app, message(subject="Re: trip"), message(subject="Unrelated"))
    bob = Raw(client, user="bob", password="hunter2", device="bobdev")
    assert (await bob.post("SendMail", send_mail(mime(to="alice@easlab.test", subject="FW: Trip")))).content == b""
    assert folder_subjects(db, archive) == ["FW: Trip", "RE: Trip", "Re: trip", "Trip"]
    assert folder_subjects(db, INBOX) == ["Other", "Unrelated"]
    assert folder_subjects(db, SENT) == ["RE: Trip"]
    # Only alice's: bob's copy of his own conversation is where it was.
    assert folder_subjects(db, SENT, user="bob") == ["FW: Trip"]


@pytest.mark.req("MS-ASCON_R166", "MS-ASCON_R213", "MS-ASCON_R214")
async def test_an_ignored_conversation_goes_to_deleted_items_with_its_later_mail(client, app, db):
    me = device(client, "14.1")
    await folder_key(me)
    await deliver(app, message(subject="Newsletter"), message(subject="Keep"))
    assert (await me.post("SendMail", send_mail(mime(to="dan@example.net", subject="RE: Newsletter")))).content == b""
    cid = parse_message(message(subject="Newsletter")).conversation_id
    resp = await me.call(IO, move(cid, DELETED))
    [answer] = resp.find(f"{IO}:Response").children
    assert answer == E(f"{IO}:Move", E(f"{IO}:Status", 1), E(f"{IO}:ConversationId", cid))
    await deliver(app, message(subject="RE: Newsletter"))
    assert folder_subjects(db, DELETED) == ["Newsletter", "RE: Newsletter"]
    assert folder_subjects(db, INBOX) == ["Keep"] and folder_subjects(db, SENT) == ["RE: Newsletter"]


@pytest.mark.req("MS-ASCON_R144", "MS-ASCON_R146", "MS-ASCON_R317", "MS-ASCON_R262", "MS-ASCON_R338")
async def test_move_statuses(client, app, db):
    me = device(client, "14.1")
    await folder_key(me)
    ri_cache = "ri"
    with db.session() as s:  # easlab makes no Recipient Information Cache of its own: one as Exchange has it
        s.add(Folder(user_id=get_user(s, "alice").id, server_id=ri_cache, parent_id="0",
                     display_name="Recipient Information Cache", type=19))
        s.commit()
    await deliver(app, message(subject="Lunch"))
    cid = parse_message(message(subject="Lunch")).conversation_id

    async def status(tree):
        [answer] = (await me.call(IO, tree)).find(f"{IO}:Response").children
        return answer.text(f"{IO}:Status")

    assert await status(move(None, "1")) == "2"  # ConversationId is required
    assert await status(move(cid, None)) == "2"  # DstFldId is required
    assert await status(move(b"\x07" * 16, "1")) == "6"  # no such conversation
    assert await status(move(cid, "4711")) == "6"  # no such folder
    assert await status(move(cid, ri_cache)) == "105"
    assert await status(move(cid, CALENDAR)) == "156"  # not an IPF.Note folder
    assert folder_subjects(db, INBOX) == ["Lunch"]  # none of them moved anything


# -- actions a client composes of single-item commands ---------------------------------------------
async def conversation(app, me):
    """Two messages of one conversation and one other in alice's Inbox, synced: (key, {subject: ServerId})."""
    await deliver(app, message(subject="Budget"), message(subject="RE: Budget"), message(subject="Other"))
    key = collection(await me.sync("0")).text(f"{A}:SyncKey")
    resp = await me.sync(key)
    ids = {c.find(f"{A}:ApplicationData").text("Email:Subject"): c.text(f"{A}:ServerId")
           for c in collection(resp).find(f"{A}:Commands").children}
    return collection(resp).text(f"{A}:SyncKey"), ids


def item_state(db, subject):
    with db.session() as s:
        item = s.exec(select(Item).where(Item.subject == subject)).one()
        return item.read, item.flag_status


async def change_all(me, key, sids, *data):
    changes = [E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:ApplicationData", *data)) for sid in sids]
    resp = await me.sync(key, INBOX, E(f"{A}:Commands", *changes))
    assert collection(resp).text(f"{A}:Status") == "1"
    return collection(resp).text(f"{A}:SyncKey")


def flag(status):
    # A completed flag names when (MS-ASEMAIL 2.2.2.20: CompleteTime and DateCompleted go with Status 1).
    done = [E("Tasks:DateCompleted", "2026-01-05T10:00:00.000Z"), E("Email:CompleteTime", "2026-01-05T10:00:00.000Z")]
    return E("Email:Flag", E("Email:Status", status), E("Email:FlagType", "Flag for follow up") if status == 2 else None,
             *(done if status == 1 else []))


@pytest.mark.req("MS-ASCON_R326", "MS-ASCON_R203", "MS-ASCON_R337", "MS-ASCON_R284", "MS-ASCON_R204")
async def test_mark_a_conversation_read_and_unread(client, app, db):
    me = device(client, "14.1")
    key, ids = await conversation(app, me)
    thread = [ids["Budget"], ids["RE: Budget"]]
    key = await change_all(me, key, thread, E("Email:Read", 1))
    assert [item_state(db, s)[0] for s in ("Budget", "RE: Budget", "Other")] == [True, True, False]
    await change_all(me, key, thread, E("Email:Read", 0))
    assert [item_state(db, s)[0] for s in ("Budget", "RE: Budget", "Other")] == [False, False, False]


@pytest.mark.req("MS-ASCON_R324", "MS-ASCON_R206", "MS-ASCON_R209", "MS-ASCON_R325", "MS-ASCON_R207", "MS-ASCON_R162",
                 "MS-ASCON_R208")
async def test_flag_a_conversation(client, app, db):
    me = device(client, "14.1")
    key, ids = await conversation(app, me)
    thread = [ids["Budget"], ids["RE: Budget"]]
    key = await change_all(me, key, [ids["RE: Budget"]], flag(2))  # the most recent message only
    assert [item_state(db, s)[1] for s in ("Budget", "RE: Budget", "Other")] == [0, 2, 0]
    key = await change_all(me, key, thread, flag(0))
    assert [item_state(db, s)[1] for s in ("Budget", "RE: Budget")] == [0, 0]
    key = await change_all(me, key, thread, flag(2))
    await change_all(me, key, thread, flag(1))
    assert [item_state(db, s)[1] for s in ("Budget", "RE: Budget", "Other")] == [1, 1, 0]


@pytest.mark.req("MS-ASCON_R157", "MS-ASCON_R199", "MS-ASCON_R201", "MS-ASCON_R158", "MS-ASCON_R200")
async def test_delete_a_conversation(client, app, db):
    me = device(client, "14.1")
    key, ids = await conversation(app, me)
    deletes = [E(f"{A}:Delete", E(f"{A}:ServerId", ids[s])) for s in ("Budget", "RE: Budget")]
    resp = await me.sync(key, INBOX, E(f"{A}:Commands", *deletes))
    assert collection(resp).text(f"{A}:Status") == "1"
    assert folder_subjects(db, DELETED) == ["Budget", "RE: Budget"] and folder_subjects(db, INBOX) == ["Other"]
    await deliver(app, message(subject="RE: Budget"))  # later mail of it is not affected
    assert folder_subjects(db, INBOX) == ["Other", "RE: Budget"]
    assert folder_subjects(db, DELETED) == ["Budget", "RE: Budget"]


@pytest.mark.req("MS-ASCON_R170", "MS-ASCON_R217", "MS-ASCON_R218")
async def test_move_a_conversation_from_the_current_folder(client, app, db):
    me = device(client, "14.1")
    archive = await archive_folder(me)
    key, ids = await conversation(app, me)
    moves = [E("Move:Move", E("Move:SrcMsgId", ids[s]), E("Move:SrcFldId", INBOX), E("Move:DstFldId", archive))
             for s in ("Budget", "RE: Budget")]
    resp = await me.call("MoveItems", E("Move:MoveItems", *moves))
    assert [r.text("Move:Status") for r in resp.findall("Move:Response")] == ["3", "3"]
    assert folder_subjects(db, archive) == ["Budget", "RE: Budget"] and folder_subjects(db, INBOX) == ["Other"]
    await deliver(app, message(subject="RE: Budget"))  # a plain move is no rule for later mail
    assert folder_subjects(db, INBOX) == ["Other", "RE: Budget"]


@pytest.mark.req("MS-ASCON_R180")
async def test_synchronize_a_conversation(client, app, db):
    me = device(client, "14.1")
    await deliver(app, message(subject="Budget"), message(subject="RE: Budget"), message(subject="Other"))
    key = collection(await me.sync("0", INBOX, E(f"{A}:ConversationMode", 1))).text(f"{A}:SyncKey")
    resp = await me.sync(key, INBOX, E(f"{A}:ConversationMode", 1))
    got = [c.find(f"{A}:ApplicationData") for c in collection(resp).find(f"{A}:Commands").children]
    cid = parse_message(message(subject="Budget")).conversation_id
    assert sorted(d.text("Email:Subject") for d in got if d.find("Email2:ConversationId").value == cid) == ["Budget", "RE: Budget"]


@pytest.mark.req("MS-ASCON_R176", "MS-ASCON_R220", "MS-ASCON_R221")
async def test_find_a_conversation_across_folders(client, app, db):
    me = device(client, "14.1")
    archive = await archive_folder(me)
    key, ids = await conversation(app, me)
    await me.call("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", ids["Budget"]), E("Move:SrcFldId", INBOX),
                                                       E("Move:DstFldId", archive))))
    cid = parse_message(message(subject="Budget")).conversation_id
    query = E("Search:Search", E("Search:Store", E("Search:Name", "Mailbox"), E("Search:Query", E("Search:And",
              E("AirSync:Class", "Email"), E("Email2:ConversationId", cid))), E("Search:Options", E("Search:Range", "0-9"),
              E("Search:DeepTraversal"))))
    resp = await me.call("Search", query)
    store = resp.find("Search:Response").find("Search:Store")
    assert store.text("Search:Status") == "1"
    hits = store.findall("Search:Result")
    assert sorted((h.text("AirSync:CollectionId"), h.find("Search:Properties").text("Email:Subject")) for h in hits) == \
        sorted([(archive, "Budget"), (INBOX, "RE: Budget")])


@pytest.mark.req("MS-ASCON_R332", "MS-ASCON_R211", "MS-ASCON_R336")
async def test_estimate_with_a_conversation_filter(client, app, db):
    me = device(client, "14.1")
    await deliver(app, message(subject="Budget"), message(subject="RE: Budget"))
    keys = {cid: collection(await me.sync("0", cid)).text(f"{A}:SyncKey") for cid in (INBOX, CALENDAR)}

    def estimate(cid):
        return E("GetItemEstimate:GetItemEstimate", E("GetItemEstimate:Collections", E("GetItemEstimate:Collection",
                 E("AirSync:SyncKey", keys[cid]), E("GetItemEstimate:CollectionId", cid), E("AirSync:ConversationMode", 1),
                 E("AirSync:Options", E("AirSync:FilterType", 0)))))

    [answer] = (await me.call("GetItemEstimate", estimate(INBOX))).findall("GetItemEstimate:Response")
    assert answer.text("GetItemEstimate:Status") == "1"
    assert answer.find("GetItemEstimate:Collection").text("GetItemEstimate:Estimate") == "2"
    refused = await me.call("GetItemEstimate", estimate(CALENDAR))
    assert refused.text("GetItemEstimate:Status") == "4"  # the command's Status, as MS-ASCON's suite reads it
    [answer] = refused.findall("GetItemEstimate:Response")
    assert answer.text("GetItemEstimate:Status") == "103"  # and the Response's, as MS-ASCMD's (R2100) reads it
