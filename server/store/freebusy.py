"""Free/busy's read of a user's calendars, kept between requests (ResolveRecipients Availability).

Reading every event of a full calendar on every request was most of its cost: the rows, their JSON,
the TimeZone blob and the recurrence, 2,000 times for a calendar of 2,000 series.  So a calendar
folder's rows that can reach the window (their window date, `date_received`, the end of the last
occurrence, is at or after its start) are kept with each item read once (eas.pim.calendar.Event),
until the folder's change counter (`Folder.change_seq`, which every add, change, delete and move
into or out of it takes) moves.  Then only the rows are listed again; an item is read again only
when its version (its id and `modified_seq`, a number of that folder's counter) is new.
Folder and user rows are never deleted, so their ids and counters are never reused.

Only the counters are read per request: reading a row's `modified_seq` means reading the whole
row, its `pim` column included, which in SQLite costs as much as reading the JSON itself.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from easlab.eas.folders import FOLDER_CLASS
from easlab.eas.freebusy import Interval
from easlab.eas.pim.calendar import Event
from easlab.storage.models import Folder, Item

# The folders free/busy reads: every type eas.folders files under Calendar (the default one, user-created ones).
CALENDAR_TYPES = tuple(int(t) for t, cls in FOLDER_CLASS.items() if cls == "Calendar")
MAX_EVENTS = 20_000  # kept over all folders; a larger calendar is read on every request
_CHUNK = 500  # ids per IN list (SQLite's old limit is 999 parameters)


@dataclass(frozen=True)
class _Row:
    item_id: int
    modified_seq: int
    window_date: datetime
    event: Event


@dataclass(frozen=True)
class _Snapshot:
    change_seq: int
    since: datetime  # rows whose window date is before this were left out
    rows: list[_Row]


class CalendarCache:
    """Per calendar folder, its rows and their events as of one value of its change counter;
    least recently used folders are dropped beyond `max_events` events in all."""

    def __init__(self, max_events: int = MAX_EVENTS):
        self.max_events = max_events
        self._folders: OrderedDict[int, _Snapshot] = OrderedDict()
        self._events = 0
        self._lock = threading.Lock()

    def busy_intervals(self, session: Session, user_id: int, start: datetime, end: datetime) -> list[Interval]:
        """(start, end, BusyStatus) of the user's occurrences overlapping [start, end)."""
        # The counters are read before the rows: a row newer than its counter is read again later,
        # never the other way round.
        folders = session.exec(select(Folder.id, Folder.change_seq).where(
            Folder.user_id == user_id, Folder.type.in_(CALENDAR_TYPES), Folder.deleted == False)).all()  # noqa: E712
        out: list[Interval] = []
        for folder_id, change_seq in folders:
            for row in self._rows(session, folder_id, change_seq, start):
                if row.window_date >= start:
                    out += row.event.busy_intervals(start, end)
        return out

    def _rows(self, session: Session, folder_id: int, change_seq: int, start: datetime) -> list[_Row]:
        with self._lock:
            old = self._folders.get(folder_id)
            if old is not None:
                self._folders.move_to_end(folder_id)
        if old is not None and old.change_seq == change_seq and old.since <= start:
            return old.rows
        known = {(r.item_id, r.modified_seq): r.event for r in old.rows} if old is not None else {}
        listed = session.exec(select(Item.id, Item.modified_seq, Item.date_received).where(
            Item.folder_id == folder_id, Item.date_received >= start)).all()
        missing = [item_id for item_id, seq, _ in listed if (item_id, seq) not in known]
        read: dict[int, Event] = {}
        for i in range(0, len(missing), _CHUNK):
            for item_id, pim in session.exec(select(Item.id, Item.pim).where(Item.id.in_(missing[i:i + _CHUNK]))):
                read[item_id] = Event(pim or [])
        # An item deleted between the two queries has no event: it is left out.
        rows = [_Row(item_id, seq, when, known.get((item_id, seq)) or read[item_id])
                for item_id, seq, when in listed if (item_id, seq) in known or item_id in read]
        self._keep(folder_id, _Snapshot(change_seq, start, rows))
        return rows

    def _keep(self, folder_id: int, snapshot: _Snapshot) -> None:
        with self._lock:
            old = self._folders.pop(folder_id, None)
            self._events -= len(old.rows) if old is not None else 0
            if len(snapshot.rows) > self.max_events:
                return
            self._folders[folder_id] = snapshot
            self._events += len(snapshot.rows)
            while self._events > self.max_events:
                _, dropped = self._folders.popitem(last=False)
                self._events -= len(dropped.rows)
