"""What the server reads out of a stored PIM item: the row summary, an event's occurrences (for
FilterType and free/busy), and the translation between a calendar item and an iTIP event.

Calendar times are Compact DateTime in UTC; a series repeats in the wall-clock time of the item's
TimeZone blob (MS-ASDTYPE 2.7.1), so a 09:00 meeting stays at 09:00 across daylight saving.
"""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from ..mime import html_to_text
from . import tree
from .tree import EXCEPTION_TIME, Node, children, value

UTC = timezone.utc
# The date FilterType compares with for series without end and incomplete tasks: always inside.
FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)
MESSAGE_CLASS = {"Calendar": "IPM.Appointment", "Contacts": "IPM.Contact", "Tasks": "IPM.Task", "Notes": "IPM.StickyNote"}
CANCELLED = {5, 7, 13, 15}  # MS-ASCAL 2.2.2.29 MeetingStatus values of cancelled meetings


@dataclass
class Summary:
    subject: str
    message_class: str
    window_date: datetime
    uid: str = ""
    body_text: str = ""


def number(text: str | None, default: int) -> int:
    """An integer property as the server reads it: what a device wrote badly counts as the default."""
    try:
        return int(text) if text else default
    except ValueError:
        return default


def compact(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def time_of(nodes: list[Node], tag: str) -> datetime | None:
    """A Compact DateTime (or dateTime) property as an aware UTC datetime; None if absent or bad."""
    from .recurrence import parse_compact

    text = value(nodes, tag)
    try:
        return parse_compact(text) if text else None
    except ValueError:
        return None


def _body_text(nodes: list[Node]) -> str:
    body = children(nodes, tree.BODY)
    data = value(body, "AirSyncBase:Data") or ""
    return html_to_text(data) if value(body, "AirSyncBase:Type") == "2" else data


def zone(nodes: list[Node], tag: str = "Calendar:Timezone") -> tzinfo:
    text = value(nodes, tag)
    return _blob_zone(text) if text else UTC


@lru_cache(maxsize=64)
def _blob_zone(text: str) -> tzinfo:
    # One zone per blob text: a calendar's events share a few, and each BlobTimeZone keeps the
    # transitions of the years it was asked about.
    from .timezone import BlobTimeZone, TimeZoneBlob

    try:
        return BlobTimeZone(TimeZoneBlob.from_base64(text))
    except ValueError:
        return UTC


def recurrence(nodes: list[Node], page: str = "Calendar") -> dict[str, str] | None:
    rec = children(nodes, f"{page}:Recurrence")
    if not rec:
        return None
    return {tag.partition(":")[2]: val for tag, val in rec if isinstance(val, str)}


def last_end(nodes: list[Node]) -> datetime:
    """The end of the event's last occurrence; FAR_FUTURE for a series without end."""
    from . import recurrence as rr

    start = time_of(nodes, "Calendar:StartTime")
    if start is None:
        return FAR_FUTURE
    end = time_of(nodes, "Calendar:EndTime") or start
    rec = recurrence(nodes)
    last = end
    if rec:
        try:
            series_end = rr.last_end(rec, start, end - start, tz=zone(nodes))
        except (ValueError, OverflowError):
            series_end = None
        if series_end is None:
            return FAR_FUTURE
        last = series_end
    for _, exc in children(nodes, "Calendar:Exceptions"):
        moved = time_of(exc, "Calendar:EndTime") if isinstance(exc, list) else None
        if moved is not None and moved > last:
            last = moved
    return last


HALF_HOUR = timedelta(minutes=30)


def fill_times(nodes: list[Node], now: datetime) -> None:
    """A new event without StartTime or EndTime gets them from the current time rounded to the
    nearest half hour (MS-ASCAL 3.2.4.4); where that cannot make a valid event, ItemError."""
    start, end = value(nodes, "Calendar:StartTime"), value(nodes, "Calendar:EndTime")
    if start and end:
        return
    seconds = int(now.timestamp())
    rounded = datetime.fromtimestamp((seconds + 900) // 1800 * 1800, UTC)
    given_start, given_end = time_of(nodes, "Calendar:StartTime"), time_of(nodes, "Calendar:EndTime")
    start_at, end_at = given_start or rounded, given_end or rounded + HALF_HOUR
    if end and not start and (given_end is None or given_end < now or rounded > given_end):
        raise tree.ItemError("EndTime without StartTime: the end has passed")
    if start and not end and (given_start is None or given_start > now):
        raise tree.ItemError("StartTime in the future without EndTime")
    tree.put(nodes, "Calendar:StartTime", compact(start_at))
    tree.put(nodes, "Calendar:EndTime", compact(end_at))


@dataclass
class Occurrence:
    start: datetime
    end: datetime
    busy_status: int
    instance_id: str  # the original start, Compact DateTime


@dataclass(frozen=True)
class _Exception:
    deleted: bool
    start: datetime | None
    end: datetime | None
    busy_status: int


class Event:
    """A calendar item read once, for its occurrences in one window after another: free/busy
    asks for every series of a calendar on every request (the store keeps these per item version)."""

    def __init__(self, nodes: list[Node]):
        from . import recurrence as rr

        self.start = start = time_of(nodes, "Calendar:StartTime")
        self.end = time_of(nodes, "Calendar:EndTime") or start
        self.busy = number(value(nodes, "Calendar:BusyStatus"), 2)
        self.cancelled = number(value(nodes, "Calendar:MeetingStatus"), 0) in CANCELLED
        rec = recurrence(nodes) if self.start is not None else None
        self.recurring = bool(rec)
        self._memo: tuple[datetime, datetime, tuple] | None = None
        self.expansion: rr.Expansion | None = None
        self.exceptions: dict[str | None, _Exception] = {}
        if not rec:
            return
        for _, exc in children(nodes, "Calendar:Exceptions"):
            if isinstance(exc, list):
                self.exceptions[value(exc, EXCEPTION_TIME)] = _Exception(
                    value(exc, "Calendar:Deleted") == "1", time_of(exc, "Calendar:StartTime"),
                    time_of(exc, "Calendar:EndTime"), number(value(exc, "Calendar:BusyStatus"), self.busy))
        try:
            assert start is not None  # rec is only read for an event with a start
            self.expansion = rr.Expansion(rec, start, zone(nodes))
        except (ValueError, OverflowError):
            pass  # expanded as its first occurrence (occurrences)

    def occurrences(self, after: datetime, before: datetime) -> list[Occurrence]:
        """The occurrences overlapping [after, before), exceptions applied (deleted ones left out)."""
        start, busy = self.start, self.busy
        if start is None:
            return []
        end = self.end or start
        if not self.recurring:
            return [Occurrence(start, end, busy, compact(start))] if start < before and end > after else []
        duration = end - start
        try:
            if self.expansion is None:
                raise ValueError("not expandable")
            starts = self.expansion.between(after - duration, before)
        except (ValueError, OverflowError):
            # A series this server cannot expand (a non-Gregorian calendar, values out of range) is
            # kept as written; for free/busy it is its first occurrence.
            starts = [start] if after - duration <= start < before else []
        exceptions = dict(self.exceptions)
        found = []
        for begin in starts:
            iid = compact(begin)
            exc = exceptions.pop(iid, None)
            if exc is None:
                if begin + duration > after:
                    found.append(Occurrence(begin, begin + duration, busy, iid))
                continue
            if exc.deleted:
                continue
            o = Occurrence(exc.start or begin, exc.end or begin + duration, exc.busy_status, iid)
            if o.start < before and o.end > after:
                found.append(o)
        # Exceptions moved into the window from an occurrence outside it.
        for moved_iid, exc in exceptions.items():
            s, e = exc.start, exc.end
            if not exc.deleted and s and e and s < before and e > after:
                found.append(Occurrence(s, e, exc.busy_status, moved_iid or compact(s)))
        return sorted(found, key=lambda o: o.start)

    def busy_intervals(self, after: datetime, before: datetime) -> list[tuple[datetime, datetime, int]]:
        # The last window's answer is kept: a scheduling assistant asks for the same days again
        # and again, and an Event stands for one version of the item.
        memo = self._memo
        if memo is None or memo[0] != after or memo[1] != before:
            found = () if self.cancelled else tuple((o.start, o.end, o.busy_status) for o in self.occurrences(after, before))
            memo = self._memo = (after, before, found)
        return list(memo[2])


def occurrences(nodes: list[Node], after: datetime, before: datetime) -> list[Occurrence]:
    """The occurrences overlapping [after, before), exceptions applied (deleted ones left out)."""
    return Event(nodes).occurrences(after, before)


def busy_intervals(nodes: list[Node], after: datetime, before: datetime) -> list[tuple[datetime, datetime, int]]:
    return Event(nodes).busy_intervals(after, before)


def summarise(class_name: str, nodes: list[Node], now: datetime) -> Summary:
    if class_name == "Calendar":
        return Summary(value(nodes, "Calendar:Subject") or "", MESSAGE_CLASS[class_name], last_end(nodes),
                       value(nodes, "Calendar:UID") or "", _body_text(nodes))
    if class_name == "Tasks":
        if value(nodes, "Tasks:Complete") == "1":
            when = time_of(nodes, "Tasks:DateCompleted") or now
        else:
            when = FAR_FUTURE
        return Summary(value(nodes, "Tasks:Subject") or "", MESSAGE_CLASS[class_name], when, body_text=_body_text(nodes))
    if class_name == "Notes":
        return Summary(value(nodes, "Notes:Subject") or "", value(nodes, "Notes:MessageClass") or MESSAGE_CLASS[class_name],
                       now, body_text=_body_text(nodes))
    name = " ".join(x for x in (value(nodes, "Contacts:FirstName"), value(nodes, "Contacts:LastName")) if x)
    subject = value(nodes, "Contacts:FileAs") or name or value(nodes, "Contacts:Email1Address") or ""
    return Summary(subject, MESSAGE_CLASS.get(class_name, "IPM.Contact"), now, body_text=_body_text(nodes))


# -- MAPI global object id (MS-OXOCAL 2.2.1.27) ---------------------------------------------------
_GOID_CLASS = bytes.fromhex("040000008200E00074C5B7101A82E008")


def global_object_id(uid: str, instance: datetime | None = None) -> str:
    """email:GlobalObjId (up to 14.1): Outlook's identity of a meeting.  A UID that is itself a
    hex GOID (Exchange-made) is that id; any other iCalendar UID is wrapped the way Outlook
    wraps one, in a "vCal-Uid" blob, so the same meeting always gets the same id."""
    try:
        raw = bytes.fromhex(uid)
    except ValueError:
        raw = b""
    if raw.startswith(_GOID_CLASS) and len(raw) >= 40:
        goid = bytearray(raw)
    else:
        data = b"vCal-Uid" + struct.pack("<I", 1) + uid.encode("utf-8") + b"\0"
        goid = bytearray(_GOID_CLASS + bytes(4) + bytes(8) + bytes(8) + struct.pack("<I", len(data)) + data)
    if instance is not None:
        goid[16:20] = struct.pack(">HBB", instance.year, instance.month, instance.day)
    return base64.b64encode(bytes(goid)).decode("ascii")

