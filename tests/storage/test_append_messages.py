"""append_messages moves a folder's change counter in SQL, without its row: a Folder row the same
transaction holds is expired, so changes written through the ORM before and after it stay in one
unbroken sequence."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlmodel import select

from easlab.eas.mime import parse_message
from easlab.storage.mailbox import append_messages, folder_by_type, store_message
from easlab.storage.models import ItemChange
from easlab.storage.users import add_user, get_user

MIME = b"From: a@example.net\r\nSubject: s\r\n\r\nbody\r\n"
WHEN = datetime(2026, 12, 7, tzinfo=timezone.utc)


def test_orm_and_sql_counters_stay_one_sequence(db):
    with db.session() as s:
        add_user(s, "alice", "pw")
    with db.session() as s:
        inbox = folder_by_type(s, get_user(s, "alice"), 2)
        store_message(s, inbox, MIME)  # the ORM row's counter: 1
        ids = append_messages(s, inbox.id, inbox.server_id, [(MIME, parse_message(MIME), WHEN, False)] * 2)
        assert inbox.change_seq == 3  # read again, not the 1 the row held
        store_message(s, inbox, MIME)
        inbox_id = inbox.id
    with db.session() as s:
        log = s.exec(select(ItemChange.seq, ItemChange.item_id, ItemChange.server_id)
                     .where(ItemChange.folder_id == inbox_id).order_by(ItemChange.seq)).all()
        assert [seq for seq, *_ in log] == [1, 2, 3, 4]
        assert [(item_id, server_id) for _, item_id, server_id in log[1:3]] == [(i, f"1:{i}") for i in ids]
        assert folder_by_type(s, get_user(s, "alice"), 2).change_seq == 4


def test_a_folder_that_is_gone_is_refused(db):
    with db.session() as s:
        with pytest.raises(LookupError):
            append_messages(s, 999, "9", [(MIME, parse_message(MIME), WHEN, False)])
