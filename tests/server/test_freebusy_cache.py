"""Free/busy's calendar cache (server/store/freebusy.py): every answer is the calendar as committed
(events added, changed, deleted, moved out, in a second calendar), items are read again only when
their version is new, and the cache keeps no more events than its bound."""
from datetime import datetime, timedelta, timezone

import pytest

from easlab.server.store.freebusy import CalendarCache
from easlab.storage.mailbox import create_folder, delete_item, folder_by_type, move_item
from easlab.storage.models import Item
from easlab.storage.pim import add_pim, change_pim
from easlab.storage.users import add_user, get_user
from tests.server.directory_helpers import add_org, directory_app
from tests.server.eas_helpers import Raw
from tests.server.test_resolverecipients import answer, availability, free_busy, recipient, request, response

pytestmark = pytest.mark.anyio
UTC = timezone.utc
NOW = datetime(2026, 1, 1, tzinfo=UTC)
START, END = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)  # a Monday, 48 slots


@pytest.fixture
def app(settings, db):
    add_org(db)
    return directory_app(settings, db)


def weekly(start: str, end: str, *extra):
    """A weekly series without end (the window date of its row is the far future)."""
    return [["Calendar:BusyStatus", "2"], ["Calendar:StartTime", start], ["Calendar:EndTime", end],
            ["Calendar:Subject", "x"], ["Calendar:Recurrence", [["Calendar:Type", "1"]]], *extra]


def single(start: str, end: str, busy: int = 2):
    return [["Calendar:BusyStatus", str(busy)], ["Calendar:StartTime", start], ["Calendar:EndTime", end],
            ["Calendar:Subject", "y"]]


def digits(busy: dict[int, str]) -> str:
    return "".join(busy.get(slot, "0") for slot in range(48))


def add(db, user, nodes, folder_type=8):
    with db.session() as s:
        item = add_pim(s, folder_by_type(s, get_user(s, user), folder_type), "Calendar", nodes, NOW)
        s.commit()
        return item.id


async def test_free_busy_follows_every_change_to_the_calendar(client, db):
    dev = Raw(client)
    window = availability("2026-01-05T00:00:00.000Z", "2026-01-06T00:00:00.000Z")

    async def alice():
        resp = await dev.call("ResolveRecipients", request("alice", options=[window]))
        found = resp.find("ResolveRecipients:Response").find("ResolveRecipients:Recipient")
        return found.find("ResolveRecipients:Availability").text("ResolveRecipients:MergedFreeBusy")

    # A series from December: Mondays 09:00-10:00.
    series = add(db, "alice", weekly("20251201T090000Z", "20251201T100000Z"))
    assert await alice() == digits({18: "2", 19: "2"})
    other = add(db, "alice", single("20260105T120000Z", "20260105T123000Z", busy=1))
    assert await alice() == digits({18: "2", 19: "2", 24: "1"})
    with db.session() as s:
        item = s.get(Item, series)
        change_pim(s, folder_by_type(s, get_user(s, "alice"), 8), item, "Calendar",
                   weekly("20251201T140000Z", "20251201T143000Z"), NOW)
        s.commit()
    assert await alice() == digits({28: "2", 24: "1"})
    with db.session() as s:
        user = get_user(s, "alice")
        second = create_folder(s, user, "0", "Team", 13)
        add_pim(s, second, "Calendar", single("20260105T000000Z", "20260105T003000Z", busy=3), NOW)
        delete_item(s, folder_by_type(s, user, 8), s.get(Item, other))
        s.commit()
    assert await alice() == digits({0: "3", 28: "2"})
    with db.session() as s:
        user = get_user(s, "alice")
        move_item(s, s.get(Item, series), folder_by_type(s, user, 8), folder_by_type(s, user, 4))  # to Deleted Items
        s.commit()
    assert await alice() == digits({0: "3"})
    resp = await dev.call("ResolveRecipients", request("bob", options=[window]))
    assert resp == answer(response("bob", 1, 1, recipient("bob", "Bob Example", free_busy("0" * 48))))


def test_items_are_read_again_only_when_their_version_is_new(db):
    with db.session() as s:
        add_user(s, "alice", "secret", "Alice")
    first = add(db, "alice", weekly("20251201T090000Z", "20251201T100000Z"))
    second = add(db, "alice", weekly("20251202T090000Z", "20251202T100000Z"))
    cache = CalendarCache()
    with db.session() as s:
        user_id, folder_id = get_user(s, "alice").id, folder_by_type(s, get_user(s, "alice"), 8).id
        assert len(cache.busy_intervals(s, user_id, START, END)) == 1
        events = {r.item_id: r.event for r in cache._folders[folder_id].rows}
        # Asked again, later in time: nothing is read again.
        assert len(cache.busy_intervals(s, user_id, START + timedelta(days=7), END + timedelta(days=7))) == 1
        assert {r.item_id: r.event for r in cache._folders[folder_id].rows} == events
        item = s.get(Item, first)
        change_pim(s, folder_by_type(s, get_user(s, "alice"), 8), item, "Calendar",
                   weekly("20251201T090000Z", "20251201T110000Z"), NOW)
        s.commit()
    with db.session() as s:
        assert cache.busy_intervals(s, user_id, START, END) == [
            (datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 5, 11, tzinfo=UTC), 2)]
        now = {r.item_id: r.event for r in cache._folders[folder_id].rows}
        assert now[second] is events[second] and now[first] is not events[first]


def test_an_earlier_window_lists_the_rows_again(db):
    """Rows are listed from the window's start on; a window before it needs the rows in between."""
    with db.session() as s:
        add_user(s, "alice", "secret", "Alice")
    add(db, "alice", single("20260105T090000Z", "20260105T100000Z"))  # its row's window date: the 5th
    cache = CalendarCache()
    with db.session() as s:
        user_id = get_user(s, "alice").id
        assert cache.busy_intervals(s, user_id, START + timedelta(days=1), END + timedelta(days=1)) == []
        assert cache.busy_intervals(s, user_id, START, END) == [
            (datetime(2026, 1, 5, 9, tzinfo=UTC), datetime(2026, 1, 5, 10, tzinfo=UTC), 2)]


def test_the_cache_keeps_at_most_its_bound_of_events(db):
    with db.session() as s:
        for name in ("alice", "bob", "carol"):
            add_user(s, name, "secret", name.title())
    for name, count in (("alice", 2), ("bob", 2), ("carol", 4)):
        for n in range(count):
            add(db, name, weekly(f"20251201T{10 + n:02d}0000Z", f"20251201T{10 + n:02d}3000Z"))
    cache = CalendarCache(max_events=3)
    with db.session() as s:
        ids = {name: get_user(s, name).id for name in ("alice", "bob", "carol")}
        folders = {name: folder_by_type(s, get_user(s, name), 8).id for name in ids}
        assert len(cache.busy_intervals(s, ids["alice"], START, END)) == 2
        assert list(cache._folders) == [folders["alice"]]
        assert len(cache.busy_intervals(s, ids["bob"], START, END)) == 2  # alice's are dropped for bob's
        assert list(cache._folders) == [folders["bob"]] and cache._events == 2
        assert len(cache.busy_intervals(s, ids["carol"], START, END)) == 4  # more than the bound: not kept
        assert list(cache._folders) == [folders["bob"]] and cache._events == 2
