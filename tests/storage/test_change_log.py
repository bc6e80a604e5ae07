"""The change log read in pages (storage/changes.py `log_page`): each item at most once per page,
its changes collapsed, the position moving only past what was handed out."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlmodel import select

from easlab.storage.mailbox import change_item, delete_item, folder_by_type, store_message
from easlab.storage.models import Item, ItemChange, SyncState
from easlab.storage.changes import log_page
from easlab.storage.users import add_user, get_user

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)


def inbox_with_history(db) -> list[str]:
    """Three adds (seq 1-3), a change of the first (4), a delete of the second (5)."""
    with db.session() as s:
        inbox = folder_by_type(s, add_user(s, "alice", "pw"), 2)
        items = [store_message(s, inbox, f"Subject: m{n}\r\n\r\nx".encode(), received=T0 + timedelta(minutes=n))
                 for n in range(3)]
        change_item(s, inbox, items[0])
        delete_item(s, inbox, items[1])
        return [i.server_id for i in items]


def pages(db, state: SyncState, window: int, start=None) -> list[tuple[list[tuple[str, str]], bool, int]]:
    out = []
    with db.session() as s:
        inbox = folder_by_type(s, get_user(s, "alice"), 2)
        while True:
            changes, more = log_page(s, inbox, state, window, set(), start)
            out.append(([(c.kind, c.server_id) for c in changes], more, state.seq))
            if not more:
                return out


def test_pages_of_two(database):
    first, second, third = inbox_with_history(database)
    # Page 1 reads the adds of the first two, but the second is gone by then: the device gets
    # only its Delete (page 3), for an item it never held.
    assert pages(database, SyncState(seq=0), 2) == [
        ([("Add", first)], True, 2),
        ([("Add", third), ("Change", first)], True, 4),
        ([("Delete", second)], False, 5),
    ]


def test_one_page_collapses_an_item_s_history(database):
    first, second, third = inbox_with_history(database)
    # Added then deleted between two syncs: the device never hears of the second message.
    assert pages(database, SyncState(seq=0), 10) == [([("Add", first), ("Add", third)], False, 5)]


def test_a_position_at_the_end_gives_an_empty_page(database):
    inbox_with_history(database)
    assert pages(database, SyncState(seq=5), 2) == [([], False, 5)]
    with database.session() as s:
        assert s.exec(select(ItemChange.seq).order_by(ItemChange.seq)).all() == [1, 2, 3, 4, 5]


def test_the_window_start_compares_aware_moments(database):
    first, second, third = inbox_with_history(database)
    with database.session() as s:
        assert s.exec(select(Item).where(Item.server_id == third)).one().date_received == T0 + timedelta(minutes=2)
    assert pages(database, SyncState(seq=0), 10, start=T0 + timedelta(minutes=1)) == [([("Add", third)], False, 5)]


def test_a_page_ended_by_the_answers_room_stops_before_the_refused_item(database):
    first, second, third = inbox_with_history(database)
    state, out = SyncState(seq=0), []
    with database.session() as s:
        inbox = folder_by_type(s, get_user(s, "alice"), 2)
        while True:
            asked: list[str] = []  # each page has room for one change: the first asked for
            changes, more = log_page(s, inbox, state, 10, set(), None, admit=lambda c: asked.append(c.server_id) or len(asked) == 1)
            out.append(([(c.kind, c.server_id) for c in changes], more, state.seq))
            if not more:
                break
    # The refused item's first row is where the next page starts: each item comes once, in order.
    assert out == [
        ([("Add", first)], True, 2),
        ([("Add", third)], True, 3),
        ([("Change", first)], True, 4),
        ([("Delete", second)], False, 5),
    ]
