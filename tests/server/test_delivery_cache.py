"""SMTP delivery remembers each recipient's user and Inbox across transactions (server/store/
delivery.py `Known`) while the `access` generation stands: a user removed, re-created or renamed
in between, or a conversation's folder deleted, is seen by the next delivery; the wake-ups and the
change log are as before; and DATA answers the fault check from the snapshot read at RCPT."""
from __future__ import annotations

import asyncio
import smtplib

import pytest
from sqlmodel import select

import easlab.server.store.delivery as delivery
from easlab.eas.mime import parse_message
from easlab.server.smtp import smtp_address, start_smtp, stop_smtp
from easlab.storage.conversations import set_always_move
from easlab.storage.mailbox import create_folder, delete_folder_tree, folder_by_type
from easlab.storage.models import Item, ItemChange
from easlab.storage.users import add_user, get_user, remove_user

pytestmark = pytest.mark.anyio


def mail(n: int, subject: str = "") -> bytes:
    return (f"From: a@example.net\r\nTo: alice@easlab.test\r\nSubject: {subject or f'm{n}'}\r\n"
            f"Message-ID: <c{n}@example.net>\r\n\r\nbody {n}\r\n").encode()


def subjects(db, name: str) -> tuple[int, list[str]]:
    with db.session() as s:
        inbox = folder_by_type(s, get_user(s, name), 2)
        return inbox.id, list(s.exec(select(Item.subject).where(Item.folder_id == inbox.id).order_by(Item.id)))


@pytest.fixture
def lookups(monkeypatch):
    """How often delivery read a user row."""
    calls: list[str] = []
    real = delivery.get_user
    monkeypatch.setattr(delivery, "get_user", lambda session, name: (calls.append(name), real(session, name))[1])
    return calls


async def test_a_recipient_is_read_once_while_users_stay_as_they_are(app, db, lookups):
    store = app.state.store
    for n in range(3):
        assert (await store.deliver(mail(n), ["alice@easlab.test", "nobody@easlab.test"])).delivered == ["alice"]
    assert lookups == ["alice", "nobody"]  # the first transaction only (an unknown name is remembered too)
    assert subjects(db, "alice")[1] == ["m0", "m1", "m2"]


async def test_a_user_removed_between_two_deliveries_is_unknown(app, db, lookups):
    store = app.state.store
    assert (await store.deliver(mail(1), ["alice@easlab.test"])).delivered == ["alice"]
    with db.session() as s:
        remove_user(s, get_user(s, "alice"))
    second = await store.deliver(mail(2), ["alice@easlab.test"])
    assert second.delivered == [] and second.unknown == ["alice@easlab.test"]
    assert lookups == ["alice", "alice"]


async def test_a_user_removed_and_made_again_gets_the_mail_in_the_new_inbox(app, db):
    """carol takes the ids bob's rows had (SQLite hands out the highest id again): the mail for the
    new bob must not go to the Inbox the old bob's id now names."""
    store = app.state.store
    assert (await store.deliver(mail(1), ["bob@easlab.test"])).delivered == ["bob"]
    with db.session() as s:
        remove_user(s, get_user(s, "bob"))
    with db.session() as s:
        add_user(s, "carol", "pw")
    with db.session() as s:
        add_user(s, "bob", "pw")
    assert (await store.deliver(mail(2), ["bob@easlab.test"])).delivered == ["bob"]
    assert subjects(db, "bob")[1] == ["m2"] and subjects(db, "carol")[1] == []


async def test_a_renamed_user_is_seen(app, db, lookups):
    store = app.state.store
    await store.deliver(mail(1), ["bob@easlab.test"])
    with db.session() as s:
        user = get_user(s, "bob")
        user.display_name = "Robert Example"  # any change to the user row moves the generation
        s.add(user)
    assert (await store.deliver(mail(2), ["bob@easlab.test"])).delivered == ["bob"]
    assert lookups == ["bob", "bob"]


async def test_a_conversation_folder_deleted_between_two_deliveries_sends_mail_to_the_inbox(app, db):
    store = app.state.store
    conversation = parse_message(mail(1, "Budget")).conversation_id
    with db.session() as s:
        alice = get_user(s, "alice")
        archive = create_folder(s, alice, "0", "Archive", 12)
        set_always_move(s, alice, conversation, archive, app.state.clock.now())
        archive_id = archive.id
    await store.deliver(mail(1, "Budget"), ["alice@easlab.test"])
    with db.session() as s:
        assert list(s.exec(select(Item.subject).where(Item.folder_id == archive_id))) == ["Budget"]
        delete_folder_tree(s, get_user(s, "alice"), s.get(type(archive), archive_id))
    await store.deliver(mail(2, "Budget"), ["alice@easlab.test"])
    assert subjects(db, "alice")[1] == ["Budget"]


async def test_a_remembered_inbox_still_wakes_its_ping_and_logs_in_order(app, db):
    store, hub = app.state.store, app.state.hub
    hub.bind(asyncio.get_running_loop())
    inbox_id, _ = subjects(db, "alice")
    with db.session() as s:
        alice_id = get_user(s, "alice").id
    for n in range(2):  # the second delivery takes the Inbox from memory
        ping = asyncio.create_task(hub.wait(alice_id, "pa", [inbox_id], timeout=30))
        while hub.held < 1:
            await asyncio.sleep(0)
        await store.deliver(mail(n), ["alice@easlab.test"])
        assert (await asyncio.wait_for(ping, 5)).folders == {inbox_id}
    with db.session() as s:
        log = s.exec(select(ItemChange.seq, ItemChange.item_id).where(ItemChange.folder_id == inbox_id)
                     .order_by(ItemChange.seq)).all()
        items = s.exec(select(Item.id).where(Item.folder_id == inbox_id).order_by(Item.id)).all()
        assert log == [(1, items[0]), (2, items[1])]
        assert folder_by_type(s, get_user(s, "alice"), 2).change_seq == 2


async def test_data_asks_no_fault_query_when_the_snapshot_read_at_rcpt_holds_none(app, monkeypatch):
    faults = app.state.faults
    asked: list[str] = []
    real = faults.match_smtp
    monkeypatch.setattr(faults, "match_smtp", lambda users, stage, generation=None: (
        asked.append(stage), real(users, stage, generation))[1])
    server = await start_smtp(app.state.store, "127.0.0.1", 0, faults=faults)
    try:
        def send() -> None:
            with smtplib.SMTP(*smtp_address(server), timeout=10) as client:
                for n in range(2):
                    client.sendmail("a@example.net", ["alice@easlab.test"], mail(n))
        await asyncio.to_thread(send)
    finally:
        await stop_smtp(server)
    # DATA answered from memory; the second RCPT too (the snapshot and alice remembered, server/smtp.py _remembered)
    assert asked == ["rcpt"]
