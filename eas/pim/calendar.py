"""What the server reads out of a stored PIM item: the row summary, an event's occurrences (for
FilterType and free/busy), and the translation between a calendar item and an iTIP event.

Calendar times are Compact DateTime in UTC; a series repeats in the wall-clock time of the item's
TimeZone blob (MS-ASDTYPE 2.7.1), so a 09:00 meeting stays at 09:00 across daylight saving.
"""
from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo

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
    from .timezone import BlobTimeZone, TimeZoneBlob

    text = value(nodes, tag)
    if not text:
        return UTC
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


@dataclass
class Occurrence:
    start: datetime
    end: datetime
    busy_status: int
    instance_id: str  # the original start, Compact DateTime


def occurrences(nodes: list[Node], after: datetime, before: datetime) -> list[Occurrence]:
    """The occurrences overlapping [after, before), exceptions applied (deleted ones left out)."""
    from . import recurrence as rr

    start = time_of(nodes, "Calendar:StartTime")
    if start is None:
        return []
    end = time_of(nodes, "Calendar:EndTime") or start
    busy = number(value(nodes, "Calendar:BusyStatus"), 2)
    rec = recurrence(nodes)
    duration = end - start
    if not rec:
        return [Occurrence(start, end, busy, compact(start))] if start < before and end > after else []
    exceptions = {value(e, EXCEPTION_TIME): e for _, e in children(nodes, "Calendar:Exceptions") if isinstance(e, list)}
    try:
        starts = rr.occurrences(rec, start, tz=zone(nodes), after=after - duration, before=before)
    except (ValueError, OverflowError):
        # A series this server cannot expand (a non-Gregorian calendar, values out of range) is
        # kept as written; for free/busy it is its first occurrence.
        starts = [start] if after - duration <= start < before else []
    found = []
    for begin in starts:
        iid = compact(begin)
        exc = exceptions.pop(iid, None)
        if exc is None:
            if begin + duration > after:
                found.append(Occurrence(begin, begin + duration, busy, iid))
            continue
        if value(exc, "Calendar:Deleted") == "1":
            continue
        o = Occurrence(time_of(exc, "Calendar:StartTime") or begin, time_of(exc, "Calendar:EndTime") or begin + duration,
                       number(value(exc, "Calendar:BusyStatus"), busy), iid)
        if o.start < before and o.end > after:
            found.append(o)
    # Exceptions moved into the window from an occurrence outside it.
    for moved_iid, exc in exceptions.items():
        s, e = time_of(exc, "Calendar:StartTime"), time_of(exc, "Calendar:EndTime")
        if value(exc, "Calendar:Deleted") != "1" and s and e and s < before and e > after:
            found.append(Occurrence(s, e, number(value(exc, "Calendar:BusyStatus"), busy), moved_iid or compact(s)))
    return sorted(found, key=lambda o: o.start)


def busy_intervals(nodes: list[Node], after: datetime, before: datetime) -> list[tuple[datetime, datetime, int]]:
    status = number(value(nodes, "Calendar:MeetingStatus"), 0)
    if status in CANCELLED:
        return []
    return [(o.start, o.end, o.busy_status) for o in occurrences(nodes, after, before)]


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

