"""Drafts written as whole messages (issue 14, deviation 3): a 16.1 client adds a draft whose
airsyncbase:Body is Type 4 with the RFC 822 message as Data.  Exchange keeps the message as
written: its headers, its text/html alternatives and its attachments, which another device then
sees as airsyncbase:Attachments and fetches."""
import base64
from email.message import EmailMessage

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection
from tests.server.test_compose import folder_items, parse
from tests.server.test_drafts import DRAFTS, add, attach, body, change, conversation, primed, run

pytestmark = pytest.mark.anyio
A, B, IO = "AirSync", "AirSyncBase", "ItemOperations"
PDF = b"%PDF-1.4 " + bytes(range(256)) + b"%%EOF"


def letter(subject="Quarterly plan", *, html=True, attachment=True) -> str:
    m = EmailMessage()
    m["From"] = "someone.else@example.net"  # the server says who the draft is from
    m["To"] = '"Bob Example" <bob@easlab.test>'
    m["Cc"] = "carol@example.net"
    m["Bcc"] = "dave@example.org"
    m["Subject"] = subject
    m["X-Client-Tag"] = "kept"
    m.set_content("Plain words\n")
    if html:
        m.add_alternative("<p>Rich <b>words</b></p>\n", subtype="html")
    if attachment:
        m.add_attachment(PDF, maintype="application", subtype="pdf", filename="plan.pdf")
    return m.as_string()


async def other_device_item(client):
    other = Raw(client, device="tablet", version="16.1")
    key = collection(await other.sync("0", DRAFTS)).text(f"{A}:SyncKey")
    options = E(f"{A}:Options", E(f"{B}:BodyPreference", E(f"{B}:Type", 2)))
    resp = await other.sync(key, DRAFTS, E(f"{A}:GetChanges", 1), options)
    return other, collection(resp).find(f"{A}:Commands").find(f"{A}:Add")


async def test_a_mime_draft_keeps_headers_alternatives_and_attachments(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("m1", body(letter(), 4)))
    [draft] = folder_items(db, "alice", 3)
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Add", E(f"{A}:ClientId", "m1"),
                                                               E(f"{A}:ServerId", draft.server_id), E(f"{A}:Status", 1),
                                                               conversation(draft)))
    assert (draft.subject, draft.to, draft.cc, draft.bcc, draft.is_draft, draft.read) == (
        "Quarterly plan", '"Bob Example" <bob@easlab.test>', "carol@example.net", "dave@example.org", True, True)
    assert draft.sender == '"Alice Example" <alice@easlab.test>'
    assert (draft.body_text, draft.body_html) == ("Plain words\n", "<p>Rich <b>words</b></p>\n")
    stored = parse(draft.mime)
    assert stored["X-Client-Tag"] == "kept" and stored["Date"]
    assert [p.get_content_type() for p in stored.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    # Another device gets the draft with the attachment, and fetches it.
    other, item = await other_device_item(client)
    data = item.find(f"{A}:ApplicationData")
    assert (data.text("Email:Subject"), data.text("Email2:IsDraft"), data.text("Email2:Bcc")) == (
        "Quarterly plan", "1", "dave@example.org")
    assert data.find(f"{B}:Body").text(f"{B}:Data") == "<p>Rich <b>words</b></p>\n"
    [att] = data.find(f"{B}:Attachments").children
    ref = att.text(f"{B}:FileReference")
    assert (att.text(f"{B}:DisplayName"), ref, att.text(f"{B}:EstimatedDataSize")) == (
        "plan.pdf", f"{draft.server_id}:0", str(len(PDF)))
    resp = await other.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"),
                                                            E(f"{B}:FileReference", ref))))
    props = resp.find(f"{IO}:Response").find(f"{IO}:Fetch").find(f"{IO}:Properties")
    assert (props.text(f"{B}:ContentType"), base64.b64decode(props.text(f"{IO}:Data"))) == ("application/pdf", PDF)


async def test_email_fields_and_added_attachments_go_over_the_message(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("m1", E("Email:Subject", "Named here"), E("Email:To", "erin@easlab.test"),
                                        E("Email:Importance", 2), body(letter(attachment=False), 4),
                                        E(f"{B}:Attachments", attach("a1", "notes.txt", b"side notes", "text/plain"))))
    [draft] = folder_items(db, "alice", 3)
    sid = draft.server_id
    assert coll.find(f"{A}:Responses").find(f"{A}:Add").find(f"{A}:ApplicationData") == E(
        f"{A}:ApplicationData", E(f"{B}:Attachments", E(f"{B}:Attachment", E(f"{B}:ClientId", "a1"),
                                                          E(f"{B}:FileReference", f"{sid}:0"))),
        *conversation(draft).children)
    assert (draft.subject, draft.to, draft.cc, draft.importance) == ("Named here", "erin@easlab.test", "carol@example.net", 2)
    assert draft.body_html == "<p>Rich <b>words</b></p>\n"
    assert [(a["name"], a["size"]) for a in draft.attachments] == [("notes.txt", 10)]


async def test_a_change_with_a_mime_body_replaces_the_draft(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, key = await run(dev, key, add("d1", E("Email:Subject", "First"), body("first words"),
                                        E(f"{B}:Attachments", attach("a1", "old.txt", b"old", "text/plain"))))
    sid = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId")
    coll, key = await run(dev, key, change(sid, body(letter("Second"), 4)))
    assert coll.find(f"{A}:Responses") is None
    # The draft comes back with the FileReferences of the message's own attachments.
    echoed = coll.find(f"{A}:Commands").find(f"{A}:Change").find(f"{A}:ApplicationData")
    assert [(a.text(f"{B}:DisplayName"), a.text(f"{B}:FileReference")) for a in echoed.find(f"{B}:Attachments").children] == [
        ("plan.pdf", f"{sid}:0")]
    [draft] = folder_items(db, "alice", 3)
    assert (draft.subject, draft.body_text, draft.is_draft) == ("Second", "Plain words\n", True)
    assert [a["name"] for a in draft.attachments] == ["plan.pdf"]


async def test_an_empty_mime_body_and_rtf_stay_status_6(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, _ = await run(dev, key, add("m1", body("", 4)), add("m2", body("{\\rtf1}", 3)))
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses",
                                            E(f"{A}:Add", E(f"{A}:ClientId", "m1"), E(f"{A}:Status", 6)),
                                            E(f"{A}:Add", E(f"{A}:ClientId", "m2"), E(f"{A}:Status", 6)))
    assert folder_items(db, "alice", 3) == []


async def test_a_mime_draft_sent_at_once_reaches_the_recipient_whole(client, db):
    dev = Raw(client, version="16.1")
    key = await primed(dev)
    coll, _ = await run(dev, key, add("m1", body(letter(), 4), send=True))
    assert coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:Status") == "1"
    assert folder_items(db, "alice", 3) == []
    [got] = folder_items(db, "bob", 2)
    delivered = parse(got.mime)
    assert (got.subject, got.body_html.replace("\r\n", "\n"), delivered["Bcc"], delivered["X-Client-Tag"]) == (
        "Quarterly plan", "<p>Rich <b>words</b></p>\n", None, "kept")
    assert [a["name"] for a in got.attachments] == ["plan.pdf"]
    [sent] = folder_items(db, "alice", 5)
    assert sent.is_draft is False and sent.subject == "Quarterly plan"
