"""Inbound SMTP in-process: aiosmtpd on the test's own loop, smtplib in a worker thread."""
from __future__ import annotations

import asyncio
import logging
import smtplib
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from aiosmtpd.smtp import Envelope, Session
from sqlmodel import select

from easlab.server.smtp import received_header, smtp_address, start_smtp, stop_smtp
from easlab.storage.mailbox import folder_by_type
from easlab.storage.models import Folder, Item, ItemChange
from easlab.storage.users import get_user

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4


@asynccontextmanager
async def smtp_server(store, max_size=1_000_000):
    server = await start_smtp(store, "127.0.0.1", 0, max_size)
    try:
        yield smtp_address(server)
    finally:
        await stop_smtp(server)


def message(subject="Quarterly report", to="alice@easlab.test", size=0) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Carol Sender <carol@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Tue, 03 Mar 2026 09:15:00 +0100"
    msg["Message-ID"] = "<q1@example.org>"
    msg.set_content("Numbers attached.\n" + "x" * size)
    msg.add_alternative("<html><body><p>Numbers <b>attached</b>.</p></body></html>", subtype="html")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="report.pdf")
    return msg


def send(address, msg: EmailMessage, recipients: list[str]) -> dict:
    host, port = address
    with smtplib.SMTP(host, port, local_hostname="client.example", timeout=10) as client:
        return client.sendmail("carol@example.org", recipients, msg.as_bytes(policy=policy.SMTP))


def inbox_items(db, name):
    with db.session() as s:
        user = get_user(s, name)
        inbox = folder_by_type(s, user, 2)
        items = list(s.exec(select(Item).where(Item.folder_id == inbox.id)))
        return inbox, items


@pytest.mark.anyio
async def test_message_lands_in_alice_inbox(app, db, caplog):
    caplog.set_level(logging.INFO, logger="easlab.smtp")
    store = app.state.store
    async with smtp_server(store) as address:
        refused = await asyncio.to_thread(send, address, message(), ["alice@easlab.test"])
    assert refused == {}
    inbox, items = inbox_items(db, "alice")
    assert len(items) == 1
    item = items[0]
    assert item.subject == "Quarterly report"
    assert item.sender == '"Carol Sender" <carol@example.org>'
    assert item.to == "alice@easlab.test"
    assert "Numbers attached." in item.body_text
    assert "<b>attached</b>" in item.body_html
    attachments = item.attachments
    assert [(a["name"], a["content_type"], a["size"]) for a in attachments] == [("report.pdf", "application/pdf", len(PDF))]
    assert item.read is False
    # The trace header comes first; the rest is the message as sent.
    assert item.mime.startswith(b"Received: from client.example ([127.0.0.1])\r\n\tby easlab.test (easlab) with ESMTP for <alice@easlab.test>;\r\n\t")
    assert b"Subject: Quarterly report\r\n" in item.mime
    assert item.size == len(item.mime)
    with db.session() as s:
        folder = s.get(Folder, inbox.id)
        changes = list(s.exec(select(ItemChange).where(ItemChange.folder_id == inbox.id)))
    assert folder.change_seq == 1
    assert [(c.kind, c.seq, c.item_id, c.server_id) for c in changes] == [("add", 1, item.id, item.server_id)]
    assert item.created_seq == item.modified_seq == 1
    assert any("accepted message from <carol@example.org> for alice" in r.getMessage() for r in caplog.records)
    # Bob's Inbox is untouched.
    assert inbox_items(db, "bob")[1] == []


@pytest.mark.anyio
async def test_two_recipients_one_copy_each(app, db):
    async with smtp_server(app.state.store) as address:
        refused = await asyncio.to_thread(send, address, message(to="alice@easlab.test, bob@easlab.test"),
                                          ["alice@easlab.test", "Bob@EASLAB.test", "alice@easlab.test"])
    assert refused == {}
    for name in ("alice", "bob"):
        inbox, items = inbox_items(db, name)
        assert [i.subject for i in items] == ["Quarterly report"]
        assert inbox.change_seq == 1


@pytest.mark.anyio
async def test_two_recipients_are_one_transaction(app, db, monkeypatch):
    """If storing bob's copy fails, alice's copy is rolled back too, and the sender gets 451."""
    import easlab.server.store.delivery
    import easlab.storage.scheduling

    with db.session() as s:
        bob_id = get_user(s, "bob").id
    real = easlab.storage.scheduling.store_message

    def failing(session, folder, mime, **kw):
        if folder.user_id == bob_id:
            raise RuntimeError("disk full")
        return real(session, folder, mime, **kw)

    real_many = easlab.server.store.delivery.append_messages
    bob_inbox = inbox_items(db, "bob")[0].id

    def failing_many(session, folder_id, server_id, entries):
        if folder_id == bob_inbox:
            raise RuntimeError("disk full")
        return real_many(session, folder_id, server_id, entries)

    monkeypatch.setattr(easlab.storage.scheduling, "store_message", failing)
    # Plain mail is written in groups (storage.mailbox.append_messages), meeting mail one by one.
    monkeypatch.setattr(easlab.server.store.delivery, "append_messages", failing_many)
    async with smtp_server(app.state.store) as address:
        with pytest.raises(smtplib.SMTPDataError) as err:
            await asyncio.to_thread(send, address, message(), ["alice@easlab.test", "bob@easlab.test"])
    assert err.value.smtp_code == 451
    for name in ("alice", "bob"):
        inbox, items = inbox_items(db, name)
        assert items == [] and inbox.change_seq == 0


@pytest.mark.anyio
async def test_unknown_recipient_550(app, db):
    async with smtp_server(app.state.store) as address:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as err:
            await asyncio.to_thread(send, address, message(), ["nobody@easlab.test", "alice@elsewhere.example"])
        assert {k: v[0] for k, v in err.value.recipients.items()} == {"nobody@easlab.test": 550, "alice@elsewhere.example": 550}
        assert err.value.recipients["nobody@easlab.test"][1].startswith(b"5.1.1 ")
        with db.session() as s:
            assert s.exec(select(Item)).all() == []
        # A known and an unknown recipient: the known one gets the message, the other is refused.
        refused = await asyncio.to_thread(send, address, message(), ["ghost@easlab.test", "alice@easlab.test"])
    assert {k: v[0] for k, v in refused.items()} == {"ghost@easlab.test": 550}
    assert len(inbox_items(db, "alice")[1]) == 1
    with db.session() as s:
        assert len(s.exec(select(Item)).all()) == 1


@pytest.mark.anyio
async def test_oversize_message_552(app, db):
    big = message(size=5000)
    async with smtp_server(app.state.store, max_size=2000) as address:
        # smtplib declares SIZE= in MAIL FROM (the server advertises SIZE): refused there.
        with pytest.raises(smtplib.SMTPSenderRefused) as err:
            await asyncio.to_thread(send, address, big, ["alice@easlab.test"])
        assert (err.value.smtp_code, err.value.smtp_error) == (552, b"5.3.4 Message size exceeds fixed maximum message size")

        # A client that does not declare the size is refused after DATA; the session goes on.
        def undeclared():
            with smtplib.SMTP(*address, timeout=10) as client:
                client.ehlo("client.example")
                assert client.mail("carol@example.org")[0] == 250
                assert client.rcpt("alice@easlab.test")[0] == 250
                reply = client.data(big.as_bytes(policy=policy.SMTP))  # returns the final reply
                small = EmailMessage()
                small["Subject"] = "small"
                small.set_content("fits")
                refused = client.sendmail("carol@example.org", ["alice@easlab.test"], small.as_bytes(policy=policy.SMTP))
                return reply, refused

        reply, refused = await asyncio.to_thread(undeclared)
    assert reply == (552, b"5.3.4 Message size exceeds fixed maximum message size")
    assert refused == {}
    assert [i.subject for i in inbox_items(db, "alice")[1]] == ["small"]


@pytest.mark.anyio
async def test_delivery_wakes_ping_on_that_inbox(app, db):
    hub = app.state.hub
    with db.session() as s:
        alice, bob = get_user(s, "alice"), get_user(s, "bob")
        alice_inbox = folder_by_type(s, alice, 2).id
        alice_drafts = folder_by_type(s, alice, 3).id
        bob_inbox = folder_by_type(s, bob, 2).id
    async with smtp_server(app.state.store) as address:
        alice_ping = asyncio.create_task(hub.wait(alice.id, "phone-a", [alice_inbox, alice_drafts], timeout=30))
        bob_ping = asyncio.create_task(hub.wait(bob.id, "phone-b", [bob_inbox], timeout=30))
        while hub.held < 2:  # let both waits register
            await asyncio.sleep(0)
        sending = asyncio.create_task(asyncio.to_thread(send, address, message(), ["alice@easlab.test"]))
        wake = await asyncio.wait_for(alice_ping, 1.0)
        assert await sending == {}
    assert wake is not None and wake.folders == {alice_inbox}
    assert not wake.hierarchy and not wake.superseded
    assert not bob_ping.done()
    bob_ping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await bob_ping
    assert hub.held == 0


@pytest.mark.anyio
async def test_delivery_failure_451_and_logged(app, db, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="easlab.smtp")
    store = app.state.store

    async def broken(mime, recipients):
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(store, "deliver", broken)
    async with smtp_server(store) as address:
        with pytest.raises(smtplib.SMTPDataError) as err:
            await asyncio.to_thread(send, address, message(), ["alice@easlab.test"])
    assert err.value.smtp_code == 451
    assert err.value.smtp_error.startswith(b"4.3.0 ")
    failures = [r for r in caplog.records if r.name == "easlab.smtp" and r.levelno == logging.ERROR]
    assert len(failures) == 1
    assert "alice@easlab.test" in failures[0].getMessage() and "451" in failures[0].getMessage()
    assert failures[0].exc_info and "database unavailable" in str(failures[0].exc_info[1])
    assert inbox_items(db, "alice")[1] == []


def test_received_header_is_safe_and_ipv6_aware():
    session = Session(loop=None)
    session.peer = ("2001:db8::7", 4711, 0, 0)
    session.host_name = "evil\r\nX-Injected: yes (x)"
    session.extended_smtp = False
    envelope = Envelope()
    envelope.rcpt_tos = ["alice@easlab.test", "bob@easlab.test"]
    header = received_header(session, envelope, "easlab.test", newline=b"\n")
    lines = header.split(b"\n")
    assert lines[0] == b"Received: from evilX-Injected:yesx ([IPv6:2001:db8::7])"
    assert lines[1] == b"\tby easlab.test (easlab) with SMTP;"  # no "for": two recipients
    assert lines[2].startswith(b"\t") and lines[3] == b""


def test_received_header_dates_the_message_as_format_datetime():
    """The date is remembered for its second; another second or another offset is formatted anew."""
    session, envelope = Session(loop=None), Envelope()
    session.peer, session.host_name = ("192.0.2.1", 25), "c"
    utc, plus_one = timezone.utc, timezone(timedelta(hours=1))
    times = [datetime(2026, 12, 7, 12, 0, 0, 1, utc), datetime(2026, 12, 7, 12, 0, 0, 999_999, utc),
             datetime(2026, 12, 7, 13, 0, 0, 5, plus_one), datetime(2026, 12, 7, 12, 0, 1, tzinfo=utc),
             datetime(2026, 12, 7, 12, 0, 0, tzinfo=utc)]
    for when in times:
        header = received_header(session, envelope, "easlab.test", now=when)
        assert header.endswith(f"\t{format_datetime(when)}\r\n".encode())


@pytest.mark.anyio
async def test_stop_closes_open_sessions(app):
    server = await start_smtp(app.state.store, "127.0.0.1", 0, 1000)
    address = smtp_address(server)
    client = await asyncio.to_thread(smtplib.SMTP, *address, timeout=10)
    try:
        assert (await asyncio.to_thread(client.ehlo, "client.example"))[0] == 250
        await stop_smtp(server)
        with pytest.raises(smtplib.SMTPServerDisconnected):
            await asyncio.to_thread(client.noop)
    finally:
        client.close()
    with pytest.raises(OSError):
        await asyncio.to_thread(smtplib.SMTP, *address, timeout=2)
