"""easlab.eas.compose, eas.drafts and eas.oof without a server: what leaves, how the original is folded
in, drafts read back as they were written, which mail gets no automatic reply."""
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from easlab.eas.compose import ComposeError, include_original, prepare_outgoing, split_message, thread_headers
from easlab.eas.drafts import Draft, DraftAttachment, build_draft, read_draft, remove_attachments
from easlab.eas.mime import parse_message
from easlab.eas.oof import OofConfig, is_automatic, parse_datetime, reply_address

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def out(raw, **kw):
    return prepare_outgoing(raw, address="alice@easlab.test", display_name="Alice Ä", domain="easlab.test", now=NOW, **kw)


def test_headers_are_kept_from_rewritten_bcc_only_in_the_senders_copy():
    raw = (b"From: someone@else.example\nSender: x@y\nTo: bob\nBcc: \"D\" <d@example.org>,\n e@example.org\n"
           b"X-Mailer: phone 1.0\nSubject: hi\n\nbody line\n")
    o = out(raw)
    assert o.recipients == ["bob@easlab.test", "d@example.org", "e@example.org"]
    assert o.delivered.startswith(b"From: =?utf-8?q?Alice_=C3=84?= <alice@easlab.test>\r\n")
    assert b"Sender:" not in o.delivered and b"Bcc" not in o.delivered and b"X-Mailer: phone 1.0\r\n" in o.delivered
    assert b"Bcc: \"D\" <d@example.org>,\r\n e@example.org\r\n" in o.sent_copy
    assert o.delivered.endswith(b"\r\n\r\nbody line\r\n") and o.message_id.endswith("@easlab.test>")


@pytest.mark.parametrize("raw, status", [
    (b"", 107), (b"no header here\n\nbody", 107), (b" continuation first: x\n\n", 107),
    (b"Subject: nobody\n\nx", 119), (b"To: \"Bad Name\" <with space>\n\nx", 116),
])
def test_refusals(raw, status):
    with pytest.raises(ComposeError) as exc:
        out(raw)
    assert exc.value.status == status


def test_split_join_round_trips_bytes():
    raw = b"A: 1\r\nB: two\r\n  folded\r\n\r\nbody\r\n"
    assert split_message(raw).join() == raw


def _message_with_attached_mail() -> bytes:
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("inner text")
    m = EmailMessage()
    m["From"], m["To"], m["Subject"], m["Message-ID"] = "c@example.net", "alice@easlab.test", "outer", "<o@x>"
    m.set_content("outer text")
    m.add_attachment(inner)
    m.add_attachment(b"data", maintype="application", subtype="pdf", filename="f.pdf")
    return m.as_bytes()


def test_forward_takes_attached_messages_whole_and_the_body_once():
    new = b"To: bob@easlab.test\nSubject: FW: outer\n\nsee below\n"
    combined = include_original(new, _message_with_attached_mail(), forward=True)
    msg = BytesParser(policy=policy.default).parsebytes(combined)
    assert [p.get_content_type() for p in msg.iter_attachments()] == ["message/rfc822", "application/pdf"]
    text = msg.get_body(("plain",)).get_content()
    assert text.index("see below") < text.index("outer text") and "inner text" not in text
    threaded = BytesParser(policy=policy.default).parsebytes(thread_headers(combined, _message_with_attached_mail(), forward=True))
    assert threaded["References"] == "<o@x>" and threaded["In-Reply-To"] is None


def test_draft_round_trip_and_attachment_removal():
    draft = Draft(to="bob@easlab.test", bcc="d@example.org", subject="S", importance=0, body="text",
                  attachments=[DraftAttachment("a.txt", "text/plain", b"aaa"), DraftAttachment("b.bin", "application/octet-stream", b"\x00b")])
    mime = build_draft(draft, sender="Alice <alice@easlab.test>", now=NOW)
    back = read_draft(mime)
    assert (back.to, back.bcc, back.subject, back.importance, back.body) == ("bob@easlab.test", "d@example.org", "S", 0, "text\n")
    assert [(a.name, a.data, a.indexes) for a in back.attachments] == [("a.txt", b"aaa", [0]), ("b.bin", b"\x00b", [1])]
    assert [a.name for a in parse_message(mime).attachments] == ["a.txt", "b.bin"]
    assert remove_attachments(back, "2:7", ["2:7:0"]) is True  # b.bin moved from 1 to 0
    assert [a.name for a in back.attachments] == ["b.bin"]
    once = read_draft(build_draft(back, sender="Alice <alice@easlab.test>", now=NOW))
    twice = read_draft(build_draft(once, sender="Alice <alice@easlab.test>", now=NOW))
    assert once == twice and once.body == "text\n"  # writing and reading again changes nothing


def test_automatic_mail_and_reply_addresses():
    assert is_automatic(b"Auto-Submitted: auto-replied\n\nx")
    assert not is_automatic(b"Auto-Submitted: no\n\nx")
    assert is_automatic(b"Content-Type: multipart/report; report-type=delivery-status\n\nx")
    assert is_automatic(b"Subject: x\n\nx", "REPORT.IPM.Note.NDR")
    assert reply_address(b"Return-Path: <bounce@example.net>\nFrom: a@example.net\n\nx") == "bounce@example.net"
    assert reply_address(b"From: \"A\" <a@example.net>\n\nx") == "a@example.net"
    assert reply_address(b"Return-Path: <>\nFrom: a@example.net\n\nx") is None


def test_time_based_window():
    config = OofConfig(state=2, start=parse_datetime("2026-01-05T08:00:00Z"), end=parse_datetime("2026-01-05T09:00:00.000Z"))
    assert not config.in_force(NOW) and config.in_force(NOW.replace(hour=8, minute=59))
    assert OofConfig(state=1).in_force(NOW) and not OofConfig(state=0).in_force(NOW)
