"""SMTP deliveries on concurrent connections share commits (server/store/delivery.py): every 250
is sent after the commit that holds its message, a group whose transaction fails answers its
bad message 451 and stores the others alone, and each commit wakes the Pings of the Inboxes it
changed."""
from __future__ import annotations

import asyncio
import smtplib
import threading

import pytest
from sqlmodel import select

import easlab.server.store.delivery as delivery
from easlab.eas.mime import parse_message
from easlab.server.clock import ManualClock
from easlab.server.events import EventBus
from easlab.server.push import PushHub
from easlab.server.smtp import smtp_address, start_smtp, stop_smtp
from easlab.server.store import MailStore
from easlab.storage import Database
from easlab.storage.mailbox import folder_by_type
from easlab.storage.models import Item, ItemChange
from easlab.storage.users import add_user, get_user
from tests.server.test_pgnotify import pg_db  # noqa: F401  (a fixture: a fresh schema on PostgreSQL)

pytestmark = pytest.mark.anyio
SENDERS = 6
EACH = 4


def mail(sender: int, n: int, to: str, subject: str = "") -> bytes:
    return (f"From: s{sender}@example.net\r\nTo: {to}\r\nSubject: {subject or f's{sender} m{n}'}\r\n"
            f"Message-ID: <s{sender}.{n}@example.net>\r\n\r\nbody\r\n").encode()


def stored_ids(url: str) -> set[str]:
    """The Message-IDs committed, read on a connection of its own (what another process sees)."""
    db = Database(url)
    try:
        with db.session(write=False) as s:
            return {parse_message(mime).message_id for mime in s.exec(select(Item.mime))}
    finally:
        db.dispose()


def sender(address, k: int, answers: dict, seen: dict, url: str) -> None:
    to = "alice@easlab.test" if k % 2 == 0 else "bob@easlab.test"
    with smtplib.SMTP(*address, timeout=20) as client:
        for n in range(EACH):
            key = f"<s{k}.{n}@example.net>"
            try:
                client.sendmail(f"s{k}@example.net", [to], mail(k, n, to, "poison" if (k, n) == (1, 2) else ""))
                answers[key] = 250
            except smtplib.SMTPDataError as exc:
                answers[key] = exc.smtp_code
            seen[key] = key in stored_ids(url)  # right after the answer


async def run_senders(address, url: str) -> tuple[dict, dict]:
    answers: dict[str, int] = {}
    seen: dict[str, bool] = {}
    threads = [threading.Thread(target=sender, args=(address, k, answers, seen, url)) for k in range(SENDERS)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        await asyncio.sleep(0.01)
    return answers, seen


async def test_concurrent_deliveries_answered_after_their_commit_and_wake_pings(app, db, settings, monkeypatch):
    store, hub = app.state.store, app.state.hub
    hub.bind(asyncio.get_running_loop())
    notices: list[set[int]] = []
    real_notify = hub.notify
    monkeypatch.setattr(hub, "notify", lambda ids: (notices.append(set(ids)), real_notify(ids)))
    # The transaction of any group holding the poison message fails after writing its rows.
    real_transaction = type(store.context).transaction

    def failing(self, work, write=True):
        def poisoned(session):
            out = work(session)
            session.flush()
            if _has_poison(session):
                raise RuntimeError("commit refused")
            return out
        return real_transaction(self, poisoned, write)

    real_write = delivery.write_plain

    def failing_plain(cursor, statements, folders):  # the plain path's group: refused after its rows
        out = real_write(cursor, statements, folders)
        if any(b"Subject: poison" in mime for entries in folders.values() for mime, *_ in entries):
            raise RuntimeError("commit refused")
        return out

    monkeypatch.setattr(type(store.context), "transaction", failing)
    monkeypatch.setattr(delivery, "write_plain", failing_plain)
    with db.session() as s:
        alice, bob = get_user(s, "alice"), get_user(s, "bob")
        inboxes = {"alice": folder_by_type(s, alice, 2).id, "bob": folder_by_type(s, bob, 2).id}
    server = await start_smtp(store, "127.0.0.1", 0)
    try:
        pings = [asyncio.create_task(hub.wait(alice.id, "pa", [inboxes["alice"]], timeout=30)),
                 asyncio.create_task(hub.wait(bob.id, "pb", [inboxes["bob"]], timeout=30))]
        while hub.held < 2:
            await asyncio.sleep(0)
        answers, seen = await run_senders(smtp_address(server), settings.db_url)
        wakes = await asyncio.wait_for(asyncio.gather(*pings), 5)
    finally:
        await stop_smtp(server)
    poison = "<s1.2@example.net>"
    assert answers.pop(poison) == 451 and not seen.pop(poison)
    assert set(answers.values()) == {250} and len(answers) == SENDERS * EACH - 1
    assert all(seen.values())  # every 250 came after its commit
    assert stored_ids(settings.db_url) == set(answers)  # the failed group left nothing half-written
    with db.session() as s:
        for name, folder_id in inboxes.items():
            items = s.exec(select(Item).where(Item.folder_id == folder_id).order_by(Item.id)).all()
            log = s.exec(select(ItemChange).where(ItemChange.folder_id == folder_id).order_by(ItemChange.seq)).all()
            assert [(c.seq, c.kind, c.item_id) for c in log] == [(n + 1, "add", i.id) for n, i in enumerate(items)]
            assert len(items) == EACH * SENDERS // 2 - (name == "bob")
    assert [w.folders for w in wakes] == [{inboxes["alice"]}, {inboxes["bob"]}]
    assert set().union(*notices) == set(inboxes.values())
    assert all(ids <= set(inboxes.values()) for ids in notices)


def _has_poison(session) -> bool:
    return session.exec(select(Item.id).where(Item.subject == "poison")).first() is not None


async def test_rcpt_lookup_reads_the_user_table(app):
    store = app.state.store
    assert store.user_exists("alice@easlab.test") and store.user_exists("<Bob@EASLAB.test>")
    assert not store.user_exists("carol@easlab.test") and not store.user_exists("alice@example.org")


async def test_rcpt_lookup_and_a_group_on_postgresql(pg_db):  # noqa: F811
    with pg_db.session() as s:
        add_user(s, "alice", "pw")
        add_user(s, "bob", "pw")
    store = MailStore(pg_db, PushHub(ManualClock(), EventBus()), "easlab.test")
    assert store.user_exists("alice@easlab.test") and not store.user_exists("carol@easlab.test")
    results = await asyncio.gather(*(store.deliver(mail(0, n, "alice@easlab.test"), ["alice@easlab.test", "bob@easlab.test"])
                                     for n in range(5)))
    assert [r.delivered for r in results] == [["alice", "bob"]] * 5
    with pg_db.session() as s:
        for name in ("alice", "bob"):
            inbox = folder_by_type(s, get_user(s, name), 2)
            subjects = s.exec(select(Item.subject).where(Item.folder_id == inbox.id).order_by(Item.id)).all()
            assert subjects == [f"s0 m{n}" for n in range(5)] and inbox.change_seq == 5


PATHS = ["<a@x.test>", "<a@x.test> SIZE=123", "<a@x.test>  BODY=8BITMIME SMTPUTF8", "<a.b+c@x-y.test>", "<A@X.TEST>",
         "<a@x.test>(comment) SIZE=1", "<a@x.test> (comment)", "<a@x.test>\tSIZE=5", "<a@x.test> ", "<>", "<a@x.test",
         "a@x.test", " <a@x.test>", "<\"q u\"@x.test>", "<@route:a@x.test>", "<a..b@x.test>", "<a@[127.0.0.1]>",
         "<a@x.test>SIZE=1", "<" + "l" * 70 + "@x.test>", "<ü@x.test>", ""]


@pytest.mark.parametrize("arg", PATHS)
@pytest.mark.parametrize("limit", [0, 64])
def test_plain_paths_read_as_aiosmtpd_reads_them(arg, limit):
    from aiosmtpd.smtp import SMTP

    from easlab.server.smtp import _Protocol

    quick = _Protocol.__new__(_Protocol)
    quick.local_part_limit = limit
    assert quick._getaddr(arg) == SMTP._getaddr(quick, arg)
