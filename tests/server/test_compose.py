"""SendMail, SmartReply, SmartForward over HTTP (12.1 raw MIME, 14.1 and 16.1 WBXML), checked on
the other side: the recipient's Inbox (bob is local), Sent Items, the outbound queue, another
device's Sync or held Ping."""
import asyncio
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.storage.models import Folder, Item, OutboundMail
from easlab.storage.users import get_user
from tests.server.eas_helpers import EAS, Raw, collection, commands, message

pytestmark = pytest.mark.anyio
C, A = "ComposeMail", "AirSync"
SENT = "4"  # the default folders' ServerIds: Inbox 1, Drafts 2, Deleted Items 3, Sent Items 4


# -- helpers -------------------------------------------------------------------------------------
def mime(to="bob@easlab.test", subject="Hello Bob", text="See you at noon.", sender="Mallory <mallory@evil.example>",
         cc=None, bcc=None, extra=(), attachments=()):
    m = EmailMessage()
    m["From"] = sender
    if to:
        m["To"] = to
    if cc:
        m["Cc"] = cc
    if bcc:
        m["Bcc"] = bcc
    m["Subject"] = subject
    for name, value in extra:
        m[name] = value
    m.set_content(text)
    for name, data, ctype in attachments:
        maintype, subtype = ctype.split("/")
        m.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return m.as_bytes()


def send_mail(data, client_id="c1", save=True, account=None):
    return E(f"{C}:SendMail", E(f"{C}:ClientId", client_id), E(f"{C}:AccountId", account) if account else None,
             E(f"{C}:SaveInSentItems") if save else None, E(f"{C}:Mime", data))


def smart(command, data, item_id=None, folder_id="1", client_id="s1", save=True, replace=False, long_id=None, instance=None):
    source = E(f"{C}:Source", E(f"{C}:FolderId", folder_id) if folder_id else None, E(f"{C}:ItemId", item_id) if item_id else None,
               E(f"{C}:LongId", long_id) if long_id else None, E(f"{C}:InstanceId", instance) if instance else None)
    return E(f"{C}:{command}", E(f"{C}:ClientId", client_id), source, E(f"{C}:SaveInSentItems") if save else None,
             E(f"{C}:ReplaceMime") if replace else None, E(f"{C}:Mime", data))


async def post_raw(dev, command, body, **params):
    """2.5-12.1: the message itself, parameters in the query."""
    q = f"{EAS}?Cmd={command}&User={dev.user}&DeviceId={dev.device}&DeviceType={dev.device_type}"
    q += "".join(f"&{k}={v}" for k, v in params.items())
    headers = {**dev.headers(), "Content-Type": "message/rfc822"}
    return await dev.client.post(q, content=body, headers=headers, timeout=30)


def folder_items(db, user, ftype):
    with db.session() as s:
        u = get_user(s, user)
        folder = s.exec(select(Folder).where(Folder.user_id == u.id, Folder.type == ftype)).one()
        return list(s.exec(select(Item).where(Item.folder_id == folder.id).order_by(Item.id)))


def outbound(db):
    with db.session() as s:
        return list(s.exec(select(OutboundMail).order_by(OutboundMail.id)))


def parse(data: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(data)


async def inbox_id(dev, subject):
    """Sync alice's Inbox and return the ServerId of `subject`."""
    key = collection(await dev.sync("0")).text(f"{A}:SyncKey")
    for _, sid, subj in commands(await dev.sync(key)):
        if subj == subject:
            return sid
    raise AssertionError(f"{subject!r} not in the Inbox")


async def held(app, n=1):
    from easlab.server import events

    async def enough():
        return app.state.hub.held >= n

    await events.wait_until(enough, 20, kinds=("held",), bus=app.state.bus, what=f"{n} held requests")


PING = lambda folder: E("Ping:Ping", E("Ping:HeartbeatInterval", 300),  # noqa: E731
                        E("Ping:Folders", E("Ping:Folder", E("Ping:Id", folder), E("Ping:Class", "Email"))))


# -- SendMail ------------------------------------------------------------------------------------
@pytest.mark.parametrize("version", ["14.1", "16.1"])
@pytest.mark.req("MS-ASCMD_R443", "MS-ASCMD_R463", "MS-ASCMD_R4379")
async def test_sendmail_local_remote_bcc_and_sent_items(client, db, version):
    dev = Raw(client, version=version)
    data = mime(cc='"Carol" <carol@example.net>', bcc="dave@example.org, Bob Again <BOB@easlab.test>")
    r = await dev.post("SendMail", send_mail(data))
    assert (r.status_code, r.content) == (200, b"")
    # bob (local) has it in his Inbox at once, from alice whatever the client wrote, without Bcc.
    [got] = folder_items(db, "bob", 2)
    assert (got.subject, got.sender, got.read) == ("Hello Bob", '"Alice Example" <alice@easlab.test>', False)
    delivered = parse(got.mime)
    assert delivered["Bcc"] is None and b"mallory" not in got.mime and b"dave@" not in got.mime
    assert delivered["Message-ID"] and delivered["Date"]
    # The other domains go to the outbound queue, Bcc recipients in the envelope only.
    [queued] = outbound(db)
    assert queued.sender == "alice@easlab.test" and queued.status == "queued"
    assert queued.recipients == ["carol@example.net", "dave@example.org"]
    assert queued.mime == got.mime
    # alice's copy in Sent Items keeps the Bcc line.
    [sent] = folder_items(db, "alice", 5)
    assert sent.read and parse(sent.mime)["Bcc"] == "dave@example.org, Bob Again <BOB@easlab.test>"
    assert parse(sent.mime)["Message-ID"] == delivered["Message-ID"]


async def test_sendmail_without_save_leaves_sent_items_empty(client, db):
    r = await Raw(client).post("SendMail", send_mail(mime(), save=False))
    assert (r.status_code, r.content) == (200, b"")
    assert folder_items(db, "alice", 5) == [] and len(folder_items(db, "bob", 2)) == 1


@pytest.mark.req("MS-ASCMD_R4848")
async def test_duplicate_client_id_is_118_and_sends_once(client, db):
    dev = Raw(client)
    assert (await dev.post("SendMail", send_mail(mime(), client_id="42"))).content == b""
    again = await dev.call("SendMail", send_mail(mime(), client_id="42"))
    assert again == E(f"{C}:SendMail", E(f"{C}:Status", 118))
    assert len(folder_items(db, "bob", 2)) == 1 and len(folder_items(db, "alice", 5)) == 1
    # ClientIds are the device's own: another device may use 42 for its message.
    assert (await Raw(client, device="dev2").post("SendMail", send_mail(mime(), client_id="42"))).content == b""
    assert len(folder_items(db, "bob", 2)) == 2


@pytest.mark.req("MS-ASCMD_R4853", "MS-ASCMD_R4956")
@pytest.mark.parametrize("tree, status", [
    (send_mail(mime(to=None)), 119),
    (send_mail(b"this is not a message"), 107),
    (send_mail(b"Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nno boundary here\r\n"), 107),
    (E(f"{C}:SendMail", E(f"{C}:SaveInSentItems"), E(f"{C}:Mime", mime())), 103),
    (E(f"{C}:SendMail", E(f"{C}:ClientId", "x")), 103),
    (send_mail(mime(), account="someone-else@easlab.test"), 166),
])
@pytest.mark.req("MS-ASCMD_R4380", "MS-ASCMD_R724")
async def test_sendmail_statuses(client, db, tree, status):
    resp = await Raw(client).call("SendMail", tree)
    assert resp == E(f"{C}:SendMail", E(f"{C}:Status", status))
    assert folder_items(db, "bob", 2) == [] and outbound(db) == [] and folder_items(db, "alice", 5) == []


async def test_unknown_local_recipient_gets_an_ndr(client, db):
    assert (await Raw(client).post("SendMail", send_mail(mime(to="bob@easlab.test, nobody@easlab.test")))).content == b""
    assert len(folder_items(db, "bob", 2)) == 1
    [ndr] = folder_items(db, "alice", 2)
    assert ndr.subject == "Undeliverable: Hello Bob" and ndr.message_class == "REPORT.IPM.Note.NDR"
    assert "nobody@easlab.test" in ndr.body_text


async def test_sendmail_12_1_raw_mime(client, db):
    dev = Raw(client, version="12.1")
    r = await post_raw(dev, "SendMail", mime(bcc="dave@example.org"), SaveInSent="T")
    assert (r.status_code, r.content) == (200, b"")
    [got] = folder_items(db, "bob", 2)
    assert got.sender == '"Alice Example" <alice@easlab.test>' and parse(got.mime)["Bcc"] is None
    assert outbound(db)[0].recipients == ["dave@example.org"]
    assert len(folder_items(db, "alice", 5)) == 1
    # No SaveInSent: no copy.  Failures are HTTP statuses in 12.1.
    assert (await post_raw(dev, "SendMail", mime(subject="second"))).status_code == 200
    assert len(folder_items(db, "alice", 5)) == 1
    assert (await post_raw(dev, "SendMail", mime(to=None))).status_code == 500
    assert (await post_raw(dev, "SendMail", b"")).status_code == 400
    assert (await dev.post("SendMail", send_mail(mime()))).status_code == 400  # WBXML is 14.0+
    assert len(folder_items(db, "bob", 2)) == 2


async def test_sendmail_wakes_the_recipients_ping_and_the_senders_other_device(client, app, db):
    bob = Raw(client, user="bob", password="hunter2", device="bobphone")
    key = collection(await bob.sync("0")).text(f"{A}:SyncKey")
    await bob.sync(key)
    tablet = Raw(client, device="tablet")  # alice's second device watches her Sent Items
    skey = collection(await tablet.sync("0", SENT)).text(f"{A}:SyncKey")
    await tablet.sync(skey, SENT)
    bob_ping = asyncio.create_task(bob.call("Ping", PING("1")))
    tablet_ping = asyncio.create_task(tablet.call("Ping", PING(SENT)))
    await held(app, 2)
    assert (await Raw(client).post("SendMail", send_mail(mime()))).content == b""
    assert (await asyncio.wait_for(bob_ping, 5)) == E("Ping:Ping", E("Ping:Status", 2), E("Ping:Folders", E("Ping:Folder", "1")))
    assert (await asyncio.wait_for(tablet_ping, 5)).text("Ping:Status") == "2"
    resp = await tablet.sync(skey, SENT)
    assert [s for k, _, s in commands(resp)] == ["Hello Bob"]


async def test_quarantined_device_cannot_send(client, app, db):
    from easlab.server.admin import SHELL, Admin

    Admin(db, app.state.hub.handle_event).org_set(SHELL, default_access="quarantine", blocked_delay=0)
    resp = await Raw(client).call("SendMail", send_mail(mime()))
    assert resp == E(f"{C}:SendMail", E(f"{C}:Status", 120))
    assert folder_items(db, "bob", 2) == [] and outbound(db) == []


# -- SmartReply / SmartForward -------------------------------------------------------------------
ORIGINAL = dict(subject="Budget", sender="Carol <carol@example.net>", to="alice@easlab.test", text="Please review the budget.\n")


def original(attachments=()):
    m = parse(message(attachments=attachments, **ORIGINAL))
    m["Message-ID"] = "<budget-1@example.net>"
    m["References"] = "<earlier@example.net>"
    return m.as_bytes()


@pytest.mark.parametrize("version", ["14.1", "16.1"])
@pytest.mark.req("MS-ASCMD_R569", "MS-ASCMD_R580", "MS-ASCMD_R605", "MS-ASCMD_R4407", "MS-ASCMD_R5776")
async def test_smart_reply_quotes_the_original_and_threads(client, app, db, version):
    await app.state.store.deliver(original(), ["alice@easlab.test"])
    dev = Raw(client, version=version)
    sid = await inbox_id(dev, "Budget")
    r = await dev.post("SmartReply", smart("SmartReply", mime(to="carol@example.net", subject="RE: Budget", text="Looks good."), sid))
    assert (r.status_code, r.content) == (200, b"")
    [queued] = outbound(db)
    assert queued.recipients == ["carol@example.net"]
    sent = parse(queued.mime)
    assert sent["In-Reply-To"] == "<budget-1@example.net>"
    assert sent["References"] == "<earlier@example.net> <budget-1@example.net>"
    body = sent.get_body(("plain",)).get_content()
    assert body.index("Looks good.") < body.index("-----Original Message-----") < body.index("Please review the budget.")
    assert "From: \"Carol\" <carol@example.net>" in body and "Subject: Budget" in body
    assert sent["From"] == "Alice Example <alice@easlab.test>"
    [copy] = folder_items(db, "alice", 5)
    assert copy.subject == "RE: Budget"


async def test_smart_reply_with_replace_mime_sends_the_clients_message_only(client, app, db):
    await app.state.store.deliver(original(), ["alice@easlab.test"])
    dev = Raw(client)
    sid = await inbox_id(dev, "Budget")
    reply = mime(to="carol@example.net", subject="RE: Budget", text="Edited inline.", extra=[("In-Reply-To", "<mine@x>")])
    assert (await dev.post("SmartReply", smart("SmartReply", reply, sid, replace=True))).content == b""
    sent = parse(outbound(db)[0].mime)
    assert sent.get_body(("plain",)).get_content().splitlines() == ["Edited inline."]
    assert b"\r\n\r\n" in outbound(db)[0].mime and b"\n" not in outbound(db)[0].mime.replace(b"\r\n", b"")  # CRLF only
    assert sent["In-Reply-To"] == "<mine@x>"  # the client's own threading headers stay


@pytest.mark.req("MS-ASCMD_R532", "MS-ASCMD_R568")
async def test_smart_forward_carries_the_original_attachments(client, app, db):
    await app.state.store.deliver(original(attachments=[("budget.xlsx", b"PK\x03\x04 sheet", "application/vnd.ms-excel")]),
                                  ["alice@easlab.test"])
    dev = Raw(client, version="16.1")
    sid = await inbox_id(dev, "Budget")
    fwd = mime(to="bob@easlab.test", subject="FW: Budget", text="FYI")
    assert (await dev.post("SmartForward", smart("SmartForward", fwd, sid, save=False))).content == b""
    [got] = folder_items(db, "bob", 2)
    assert [a["name"] for a in got.attachments] == ["budget.xlsx"]
    msg = parse(got.mime)
    assert msg["In-Reply-To"] is None and msg["References"] == "<earlier@example.net> <budget-1@example.net>"
    assert "FYI" in got.body_text and "Please review the budget." in got.body_text
    [part] = list(msg.iter_attachments())
    assert part.get_content() == b"PK\x03\x04 sheet"
    assert folder_items(db, "alice", 5) == []
    # bob's phone syncs it with its attachment.
    bob = Raw(client, user="bob", password="hunter2", device="bobphone", version="16.1")
    key = collection(await bob.sync("0")).text(f"{A}:SyncKey")
    add = collection(await bob.sync(key)).find(f"{A}:Commands").find(f"{A}:Add")
    att = add.find(f"{A}:ApplicationData").find("AirSyncBase:Attachments").find("AirSyncBase:Attachment")
    assert att.text("AirSyncBase:DisplayName") == "budget.xlsx"


@pytest.mark.req("MS-ASCMD_R4930", "MS-ASCMD_R4821", "MS-ASCMD_R4819", "MS-ASCMD_R4817")
@pytest.mark.req("MS-ASCMD_R578", "MS-ASCMD_R4408", "MS-ASCMD_R5777")
async def test_smart_commands_find_the_original_or_say_why_not(client, app, db):
    await app.state.store.deliver(original(), ["alice@easlab.test"])
    dev = Raw(client)
    sid = await inbox_id(dev, "Budget")
    reply = mime(to="carol@example.net", subject="RE: Budget")

    async def status(tree, command="SmartReply"):
        return (await dev.call(command, tree)).text(f"{C}:Status")

    assert await status(smart("SmartReply", reply, "1:999999")) == "150"
    assert await status(smart("SmartReply", reply, sid, folder_id=SENT)) == "150"  # not in Sent Items
    assert await status(smart("SmartReply", reply, sid, long_id=sid, client_id="s2")) == "105"
    assert await status(smart("SmartReply", reply, sid, instance="2026-01-05T09:00:00.000Z", client_id="s3")) == "146"
    assert await status(smart("SmartReply", reply, sid, instance="yesterday", client_id="s4")) == "104"
    assert await status(E(f"{C}:SmartReply", E(f"{C}:ClientId", "s5"), E(f"{C}:Mime", reply))) == "103"
    assert outbound(db) == []
    # No FolderId means the Inbox; a LongId (as Search and Find hand out) works alone, a made-up
    # one finds nothing.
    assert (await dev.post("SmartReply", smart("SmartReply", reply, sid, folder_id=None, client_id="s6"))).content == b""
    from easlab.storage.longid import LongIds

    with db.session() as s:
        item = s.exec(select(Item).where(Item.server_id == sid)).one()
        long_id = LongIds(s, get_user(s, "alice")).make(item.id)
    assert await status(smart("SmartReply", reply, folder_id=None, long_id=sid, client_id="s8")) == "150"
    assert (await dev.post("SmartReply", smart("SmartReply", reply, folder_id=None, long_id=long_id, client_id="s7"))).content == b""
    assert len(outbound(db)) == 2
    assert await status(smart("SmartReply", reply, sid, client_id="s7")) == "118"


async def test_smart_forward_forwardees_are_for_calendar_items(client, app):
    await app.state.store.deliver(original(), ["alice@easlab.test"])
    dev = Raw(client, version="16.1")
    sid = await inbox_id(dev, "Budget")
    source = E(f"{C}:Source", E(f"{C}:FolderId", "1"), E(f"{C}:ItemId", sid))
    good = E(f"{C}:Forwardees", E(f"{C}:Forwardee", E(f"{C}:Name", "Bob"), E(f"{C}:Email", "bob@easlab.test")))
    bad = E(f"{C}:Forwardees", E(f"{C}:Forwardee", E(f"{C}:Name", "Bob")))
    resp = await dev.call("SmartForward", E(f"{C}:SmartForward", E(f"{C}:ClientId", "f1"), source, good))
    assert resp == E(f"{C}:SmartForward", E(f"{C}:Status", 178))
    resp = await dev.call("SmartForward", E(f"{C}:SmartForward", E(f"{C}:ClientId", "f2"), source, bad))
    assert resp == E(f"{C}:SmartForward", E(f"{C}:Status", 179))


async def test_smart_reply_and_forward_12_1_query_parameters(client, app, db):
    await app.state.store.deliver(original(attachments=[("a.txt", b"attached", "text/plain")]), ["alice@easlab.test"])
    dev = Raw(client, version="12.1")
    sid = await inbox_id(dev, "Budget")
    r = await post_raw(dev, "SmartReply", mime(to="carol@example.net", subject="RE: Budget", text="Yes."),
                       ItemId=sid, CollectionId="1", SaveInSent="T")
    assert (r.status_code, r.content) == (200, b"")
    sent = parse(outbound(db)[0].mime)
    assert "Please review the budget." in sent.get_body(("plain",)).get_content()
    assert sent["In-Reply-To"] == "<budget-1@example.net>"
    assert len(folder_items(db, "alice", 5)) == 1
    r = await post_raw(dev, "SmartForward", mime(subject="FW: Budget", text="Fwd"), ItemId=sid)  # Inbox by default
    assert r.status_code == 200
    [got] = folder_items(db, "bob", 2)
    assert [a["name"] for a in got.attachments] == ["a.txt"]
    assert (await post_raw(dev, "SmartReply", mime(), ItemId="1:424242", CollectionId="1")).status_code == 500


async def test_outbound_mail_leaves_through_the_smarthost(tmp_path, db):
    """The queue is not a dead end: with --smarthost the message goes out, envelope with every
    recipient, no Bcc header."""
    import httpx
    from aiosmtpd.smtp import SMTP as SMTPProtocol

    from easlab.server.app import create_app
    from easlab.server.config import Settings
    from easlab.storage.users import add_user

    received = []

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
            return "250 OK"

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTPProtocol(Sink()), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with db.session() as s:
            add_user(s, "alice", "secret", "Alice Example")
        settings = Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test", smarthost=f"127.0.0.1:{port}")
        app = create_app(settings, db)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
            r = await Raw(c).post("SendMail", send_mail(mime(to="carol@example.net", bcc="dave@example.org")))
            assert (r.status_code, r.content) == (200, b"")
            await asyncio.wait_for(app.state.outbound.idle(), 20)  # the run SendMail started is over
        [(mail_from, rcpts, data)] = received
        assert mail_from == "alice@easlab.test" and rcpts == ["carol@example.net", "dave@example.org"]
        assert b"Bcc" not in data and b"From: Alice Example <alice@easlab.test>" in data
        assert outbound(db)[0].status == "sent"
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("version, expect", [("14.1", (200, "120")), ("12.1", (500, None))])
async def test_a_failed_submission_sends_nothing_and_says_so(client, app, db, monkeypatch, version, expect):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(app.state.store.sending, "submit", broken)
    dev = Raw(client, version=version)
    r = await (dev.post("SendMail", send_mail(mime())) if version == "14.1" else post_raw(dev, "SendMail", mime(), SaveInSent="T"))
    from easlab.eas.wbxml import decode

    assert (r.status_code, decode(r.content).text(f"{C}:Status") if r.content else None) == expect
    assert folder_items(db, "bob", 2) == [] and folder_items(db, "alice", 5) == []
    monkeypatch.undo()
    # The ClientId was not spent: the retry goes out.
    if version == "14.1":
        assert (await dev.post("SendMail", send_mail(mime()))).content == b""
        assert len(folder_items(db, "bob", 2)) == 1
