"""store_messages (many messages in one statement batch) writes exactly the rows store_message
writes one by one: every column, the ServerIds, the change log's adds and the folder's counter."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select

from easlab.eas.mime import parse_message
from easlab.storage.mailbox import folder_by_type, store_message, store_messages
from easlab.storage.models import Folder, Item, ItemChange
from easlab.storage.users import add_user, get_user

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
MESSAGES = [
    b"From: A <a@x.test>\r\nTo: b@x.test\r\nSubject: one\r\nDate: Mon, 05 Jan 2026 08:00:00 +0000\r\n\r\nbody\r\n",
    b"Subject: =?utf-8?q?zw=C3=B6lf?=\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n--m\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    b"--m\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=r.pdf\r\n\r\n%PDF\r\n--m--\r\n",
    b"Subject: three, no date\r\n\r\n",
]


def _entries():
    return [(mime, parse_message(mime), T0 + timedelta(minutes=n), n == 1) for n, mime in enumerate(MESSAGES)]


def _snapshot(db, user: str):
    with db.session() as s:
        inbox = folder_by_type(s, get_user(s, user), 2)
        items = s.exec(select(Item).where(Item.folder_id == inbox.id).order_by(Item.id)).all()
        changes = s.exec(select(ItemChange).where(ItemChange.folder_id == inbox.id).order_by(ItemChange.seq)).all()
        skip = {"id", "folder_id", "server_id"}
        rows = [{k: v for k, v in item.model_dump().items() if k not in skip} for item in items]
        log = [(c.seq, c.kind, c.server_id, c.item_id) for c in changes]
        sids = [(i.server_id, f"{inbox.server_id}:{i.id}") for i in items]
        return rows, log, sids, s.get(Folder, inbox.id).change_seq, [i.id for i in items]


def test_store_messages_writes_what_store_message_writes(database):
    with database.session() as s:
        for name in ("one", "many"):
            add_user(s, name, "pw")
    with database.session() as s:
        inbox = folder_by_type(s, get_user(s, "one"), 2)
        store_message(s, inbox, b"Subject: before\r\n\r\n", received=T0)
        for mime, parsed, when, read in _entries():
            store_message(s, inbox, mime, parsed=parsed, received=when, read=read)
    with database.session() as s:
        inbox = folder_by_type(s, get_user(s, "many"), 2)
        store_message(s, inbox, b"Subject: before\r\n\r\n", received=T0)
        ids = store_messages(s, inbox, _entries())
    one, many = _snapshot(database, "one"), _snapshot(database, "many")
    assert many[0] == one[0]  # every column but ids
    assert [seq for seq, *_ in many[1]] == [1, 2, 3, 4] and many[3] == one[3] == 4
    assert [kind for _, kind, *_ in many[1]] == ["add"] * 4
    assert all(sid == expected for sid, expected in many[2])
    assert [item_id for *_, item_id in many[1]] == many[4] and ids == many[4][1:]
    assert [sid for _, _, sid, _ in many[1]] == [sid for sid, _ in many[2]]


def test_store_messages_of_nothing_changes_nothing(database):
    with database.session() as s:
        inbox = folder_by_type(s, add_user(s, "none", "pw"), 2)
        assert store_messages(s, inbox, []) == []
        assert inbox.change_seq == 0
