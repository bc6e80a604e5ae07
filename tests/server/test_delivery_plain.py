"""Plain mail to remembered recipients is stored on the DBAPI cursor (storage/plain_mail.py,
server/store/delivery.py `_store_plain`): the rows, ServerIds, change numbers and change-log adds
are those the ORM path writes, a group costs a fixed handful of statements, and RCPT is answered
on the loop from what delivery remembers."""
from __future__ import annotations

import asyncio
import re
import smtplib
from contextlib import contextmanager

import pytest
from sqlalchemy import select

import easlab.server.store.delivery as delivery
from easlab.eas.mime import parse_message
from easlab.server.clock import ManualClock
from easlab.server.events import EventBus
from easlab.server.push import PushHub
from easlab.server.smtp import smtp_address, start_smtp, stop_smtp
from easlab.server.store import MailStore
from easlab.storage import Database
from easlab.storage.conversations import set_always_move
from easlab.storage.mailbox import create_folder
from easlab.storage.models import Folder, Item, ItemChange
from easlab.storage.users import add_user, get_user
from tests.server.test_pgnotify import pg_db  # noqa: F401  (a fixture: a fresh schema on PostgreSQL)

pytestmark = pytest.mark.anyio

MULTIPART = (b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.net>\r\nTo: alice@easlab.test, bob@easlab.test\r\n"
             b"Cc: carol@example.org\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\nMessage-ID: <mp@example.net>\r\n"
             b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
             b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
             b"caf=E9\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Disposition: attachment; "
             b"filename=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n")


def mail(n: int, subject: str = "") -> bytes:
    return (f"From: a@example.net\r\nTo: alice@easlab.test\r\nSubject: {subject or f'm{n}'}\r\n"
            f"Date: Mon, 01 Jan 2024 00:0{n % 10}:00 +0000\r\nMessage-ID: <p{n}@example.net>\r\n\r\nbody {n}\r\n").encode()


MESSAGES = [(mail(0), ["alice@easlab.test"]),  # the first: alice and bob not yet remembered
            (mail(1), ["alice@easlab.test", "bob@easlab.test", "nobody@easlab.test", "x@example.org"]),
            (MULTIPART, ["alice@easlab.test", "bob@easlab.test"]),
            (mail(2, "Budget"), ["alice@easlab.test"]),  # moved always to Archive
            (mail(3), ["ALICE@easlab.test", "alice@easlab.test"])]


async def fill(db: Database, plain: bool, monkeypatch) -> tuple:
    with db.session() as s:
        alice = add_user(s, "alice", "pw", hashed="x")
        add_user(s, "bob", "pw", hashed="x")
        archive = create_folder(s, alice, "0", "Archive", 12)
        set_always_move(s, alice, parse_message(mail(2, "Budget")).conversation_id, archive, ManualClock().now())
    store = MailStore(db, PushHub(ManualClock(), EventBus()), "easlab.test")
    stored: list[bool] = []
    real = delivery.Delivery._store_plain

    def store_plain(self, jobs):
        out = real(self, jobs) if plain else None
        stored.append(out is not None)
        return out

    with monkeypatch.context() as patch:
        patch.setattr(delivery.Delivery, "_store_plain", store_plain)
        answers = [await store.deliver(mime, to) for mime, to in MESSAGES]
        answers.append(await asyncio.gather(*(store.deliver(mail(n), ["bob@easlab.test"]) for n in range(4, 8))))
    with db.session() as s:
        items = [dict(row._mapping) for row in s.execute(select(Item.__table__).order_by(Item.id))]
        changes = [dict(row._mapping, at=None, id=None) for row in s.execute(select(ItemChange.__table__).order_by(ItemChange.id))]
        folders = s.execute(select(Folder.id, Folder.server_id, Folder.change_seq).order_by(Folder.id)).all()
        # As the database holds them, not as the column types read them back: a date stored as
        # "12:00:00" and one as "12:00:00.000000" read as the same datetime but sort apart.
        raw = [tuple(row) for row in s.connection().exec_driver_sql("SELECT * FROM item ORDER BY id")]
        # The change log as stored too, its times by their form only (each path's own clock).
        raw_changes = [tuple(_form(value) if isinstance(value, str) and value[:2] == "20" else value for value in row)
                       for row in s.connection().exec_driver_sql("SELECT * FROM itemchange ORDER BY id")]
    return answers, items, changes, folders, stored, raw, raw_changes


def _form(text: str) -> str:
    """A stored time's form: "2026-12-07 12:00:00.000000" -> "0000-00-00 00:00:00.000000"."""
    return re.sub(r"[0-9]", "0", text)


async def compare(orm_db: Database, plain_db: Database, monkeypatch) -> None:
    before = await fill(orm_db, False, monkeypatch)
    after = await fill(plain_db, True, monkeypatch)
    assert after[4] == [False, False, True, True, True, True]  # once alice and bob are remembered: the plain path
    assert after[:4] == before[:4]
    if orm_db.engine.dialect.name == plain_db.engine.dialect.name:
        assert after[5] == before[5] and after[6] == before[6]
        assert {len(row) for row in after[6]} == {7} and after[6][0][6] == "0000-00-00 00:00:00.000000"
    answers, items, changes, folders = after[:4]
    assert answers[1].delivered == ["alice", "bob"] and answers[1].unknown == ["nobody@easlab.test", "x@example.org"]
    assert [(i["folder_id"], i["server_id"], i["subject"], i["created_seq"]) for i in items][3:5] == [
        (1, f"1:{items[3]['id']}", "Grüße", 3), (11, f"1:{items[4]['id']}", "Grüße", 2)]
    assert [a["name"] for a in items[3]["attachments"]] == ["a.pdf"] and items[3]["body_text"] == "café"
    assert items[5]["folder_id"] == 21 and items[5]["server_id"] == f"11:{items[5]['id']}"  # Archive
    assert [(c["folder_id"], c["seq"], c["item_id"], c["server_id"]) for c in changes] == [
        (i["folder_id"], i["created_seq"], i["id"], i["server_id"]) for i in items]
    assert len(items) == 11 and folders[0][2] == 4 and folders[10][2] == 6 and folders[20][2] == 1


async def test_the_plain_path_writes_what_the_orm_path_writes(tmp_path, monkeypatch):
    orm_db, plain_db = Database(f"sqlite:///{tmp_path / 'orm.db'}"), Database(f"sqlite:///{tmp_path / 'plain.db'}")
    for db in (orm_db, plain_db):
        db.create_all()
    try:
        await compare(orm_db, plain_db, monkeypatch)
    finally:
        orm_db.dispose()
        plain_db.dispose()


async def test_the_plain_path_on_postgresql_writes_what_the_orm_path_writes(pg_db, tmp_path, monkeypatch):  # noqa: F811
    orm_db = Database(f"sqlite:///{tmp_path / 'orm.db'}")
    orm_db.create_all()
    try:
        await compare(orm_db, pg_db, monkeypatch)
    finally:
        orm_db.dispose()


@pytest.fixture
def traced(monkeypatch):
    """The SQL the plain path sends, as SQLite runs it (one line per statement run)."""
    lines: list[str] = []
    real = delivery.writing

    @contextmanager
    def writing(db):
        with real(db) as cursor:
            cursor.connection.set_trace_callback(lines.append)
            try:
                yield cursor
            finally:
                cursor.connection.set_trace_callback(None)

    monkeypatch.setattr(delivery, "writing", writing)
    return lines


async def test_a_group_of_plain_mail_costs_a_fixed_handful_of_statements(app, traced):
    store = app.state.store
    await store.deliver(mail(0), ["alice@easlab.test"])  # alice remembered from now on
    traced.clear()
    results = await asyncio.gather(*(store.deliver(mail(n), ["alice@easlab.test"]) for n in range(1, 4)))
    assert [r.delivered for r in results] == [["alice"]] * 3
    # Between BEGIN IMMEDIATE and COMMIT: the counter, the user's Out of Office and moved
    # conversations, the next id, the Inbox's change counter, then one INSERT of each kind (a row
    # each, as executemany steps): no ServerId UPDATE after the INSERT, no user or Inbox read.
    assert [" ".join(line.split()[:3]) for line in traced] == [
        "SELECT generation.value FROM", "SELECT oofsettings.state FROM",
        "SELECT conversation_action.conversation_id, folder.id,", "SELECT max(item.id) AS", "UPDATE folder SET",
        *["INSERT INTO item"] * 3, *["INSERT INTO itemchange"] * 3]


def send(server, to: str, n: int) -> int:
    """RCPT's reply code for `to`, then the message sent when it was 250."""
    with smtplib.SMTP(*smtp_address(server), timeout=10) as client:
        client.ehlo()
        client.mail("a@example.net")
        code, _ = client.rcpt(to)
        if code == 250:
            client.data(mail(n))
        return code


async def test_rcpt_to_a_remembered_user_is_answered_on_the_loop(app, db, monkeypatch):
    """No trip to a worker thread once delivery remembers the user; a user removed (the `access`
    generation moves) or a fault added (the `instrument` generation moves) since is not answered
    from memory."""
    from easlab.server.smtp import DeliveryHandler
    from easlab.storage.faults import add_fault
    from easlab.storage.users import remove_user

    trips: list[str] = []
    real = DeliveryHandler._check_recipient
    monkeypatch.setattr(DeliveryHandler, "_check_recipient", lambda self, envelope, address: (
        trips.append(address), real(self, envelope, address))[1])
    server = await start_smtp(app.state.store, "127.0.0.1", 0, faults=app.state.faults)
    try:
        assert [await asyncio.to_thread(send, server, "alice@easlab.test", n) for n in range(3)] == [250] * 3
        assert trips == ["alice@easlab.test"]  # the first only: alice unknown to delivery then
        assert await asyncio.to_thread(send, server, "nobody@example.org", 9) == 550  # another domain: no trip
        with db.session() as s:
            add_fault(s, "smtp", user="alice", count=1, now=app.state.clock.now(), params={"status": 452})
        assert await asyncio.to_thread(send, server, "alice@easlab.test", 3) == 452
        assert await asyncio.to_thread(send, server, "alice@easlab.test", 4) == 250  # the fault spent
        with db.session() as s:
            assert list(s.exec(select(Item.subject).order_by(Item.id)).scalars()) == ["m0", "m1", "m2", "m4"]
            remove_user(s, get_user(s, "alice"))
        assert await asyncio.to_thread(send, server, "alice@easlab.test", 5) == 550
        assert trips == ["alice@easlab.test"] * 4
    finally:
        await stop_smtp(server)
