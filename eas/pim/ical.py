"""iTIP meeting messages (RFC 5545/5546) as Outlook, Exchange and Google send them <-> `Event`.

icalendar does all the syntax; this module gives it meaning in EAS terms: instants in UTC, the
organiser's zone as an MS-ASDTYPE TimeZone blob, recurrence as an EAS Recurrence, occurrences that
differ from the series as `Override`s, and Exchange's X-MICROSOFT-* properties.

Zones.  A TZID is resolved against the message's own VTIMEZONE first (it is what the sender's local
times mean, and Outlook's "Customized Time Zone" exists nowhere else), then as an IANA name, a
Windows name ("W. Europe Standard Time", via icalendar's table) or a "/vendor/Area/City" id.
icalendar's own TZID lookup is deliberately not used: it caches every parsed VTIMEZONE process-wide
by TZID, so one sender's custom zone would silently define the next sender's.  Floating times and
TZIDs nobody defines are read as UTC (an emulator must not guess a server-local zone).
"""
from __future__ import annotations

import email.message
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from ..mime import decoded_payload
from .recurrence import from_rrule, instance_id
from .timezone import UTC_BLOB, TimeZoneBlob, from_tzinfo

__all__ = ["Attendee", "Override", "Event", "CalendarMessage", "CalendarError", "parse_calendar",
           "find_calendar_part", "reply_status"]  # writing them: eas.pim.ical_write

UTC = timezone.utc
_PARTSTAT = {"ACCEPTED": 3, "TENTATIVE": 2, "DECLINED": 4, "NEEDS-ACTION": 5}
_PARTSTAT_OUT = {3: "ACCEPTED", 2: "TENTATIVE", 4: "DECLINED"}  # 0 and 5 are both still NEEDS-ACTION
_BUSY = ("FREE", "TENTATIVE", "BUSY", "OOF", "WORKINGELSEWHERE")
# RFC 5545 has no "personal" class; an x-name is allowed and RFC 5545 tells clients that do not know
# it to treat it as PRIVATE, which is the nearest meaning.
_CLASS = {"PUBLIC": 0, "X-PERSONAL": 1, "PERSONAL": 1, "PRIVATE": 2, "CONFIDENTIAL": 3}
_CLASS_OUT = {0: "PUBLIC", 1: "X-PERSONAL", 2: "PRIVATE", 3: "CONFIDENTIAL"}
# RFC 5546 lets these methods leave DTSTART out; every other one describes a meeting and needs it.
_NO_DTSTART = {"REPLY", "CANCEL", "REFRESH", "DECLINECOUNTER"}


class CalendarError(ValueError):
    """The data is not a usable iCalendar meeting message."""


@dataclass
class Attendee:
    email: str
    name: str = ""
    status: int = 5
    type: int = 1


@dataclass
class Override:
    recurrence_id: datetime
    deleted: bool = False
    subject: str | None = None
    location: str | None = None
    description: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    all_day: bool | None = None
    busy_status: int | None = None
    reminder: int | None = None


@dataclass
class Event:
    uid: str
    sequence: int = 0
    dtstamp: datetime | None = None
    subject: str = ""
    location: str = ""
    description: str = ""
    start: datetime | None = None
    end: datetime | None = None
    all_day: bool = False
    timezone: str = ""
    tzid: str = ""
    organizer_email: str = ""
    organizer_name: str = ""
    attendees: list[Attendee] = field(default_factory=list)
    recurrence: dict[str, str] | None = None
    rrule_unsupported: bool = False
    overrides: list[Override] = field(default_factory=list)
    recurrence_id: datetime | None = None
    reminder: int | None = None
    busy_status: int = 2
    sensitivity: int = 0
    response_requested: bool = True
    disallow_new_time_proposal: bool = False
    status: str = ""
    proposed_start: datetime | None = None
    proposed_end: datetime | None = None
    comment: str = ""


@dataclass
class CalendarMessage:
    method: str
    events: list[Event]


# ----------------------------------------------------------------------------- reading

def _named_zone(tzid: str) -> tzinfo | None:
    clean = tzid.strip().strip('"')
    names = [clean, WINDOWS_TO_OLSON.get(clean, "")]
    if clean.startswith("/"):  # RFC 5545 "globally unique" ids: /vendor/.../Europe/Berlin
        parts = clean.strip("/").split("/")
        names += ["/".join(parts[i:]) for i in range(1, len(parts))]
    for name in filter(None, names):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return None


def _is_utc(blob: TimeZoneBlob) -> bool:
    return blob.bias == 0 and blob.standard_bias == 0 and not blob.has_dst


class _Zones:
    """TZID -> tzinfo and blob for one VCALENDAR (see the module notes for the order)."""

    def __init__(self, cal: icalendar.Calendar) -> None:
        self._vtz = {str(c["TZID"]): c for c in cal.walk("VTIMEZONE") if isinstance(c, icalendar.Timezone) and "TZID" in c}
        self._tz: dict[str, tzinfo | None] = {}

    def tz(self, tzid: str | None) -> tzinfo | None:
        if not tzid:
            return None
        if tzid not in self._tz:
            zone = None
            if (vtz := self._vtz.get(tzid)) is not None:
                try:
                    zone = vtz.to_tz(lookup_tzid=False)
                except Exception:  # a VTIMEZONE icalendar cannot build: the name may still be known
                    zone = None
            self._tz[tzid] = zone or _named_zone(tzid)
        return self._tz[tzid]

    def blob(self, tzid: str | None, year: int) -> TimeZoneBlob:
        zone = self.tz(tzid)
        if zone is None or tzid is None:
            return UTC_BLOB
        # Outlook's VTIMEZONEs carry no TZNAME; Exchange names a zone's blob after the zone, so
        # the TZID stands in.  Otherwise the blob keeps the zone's own abbreviations (CET, EDT).
        vtz = self._vtz.get(tzid)
        unnamed = vtz is not None and not all("TZNAME" in sub for sub in vtz.subcomponents)
        blob = from_tzinfo(zone, year, tzid if unnamed else None)
        return UTC_BLOB if _is_utc(blob) else blob  # TZID=UTC, Etc/GMT: plain UTC for devices

    def instant(self, value, tzid: str | None) -> datetime:
        if isinstance(value, datetime):
            zone = self.tz(tzid)
            if zone is not None:  # icalendar's own zone for the TZID is replaced, wall time kept
                return value.replace(tzinfo=zone).astimezone(UTC)
            if value.tzinfo is not None and not tzid:
                return value.astimezone(UTC)
            return value.replace(tzinfo=UTC)  # floating, or a TZID nobody defines
        if isinstance(value, date):
            return datetime.combine(value, time(), UTC)
        raise CalendarError(f"not a date or date-time: {value!r}")

    def when(self, prop) -> datetime | None:
        if prop is None:
            return None
        if isinstance(prop, list):  # a repeated single-valued property: the first one counts
            prop = prop[0]
        value = getattr(prop, "dt", None)
        if not isinstance(value, date):  # icalendar keeps unparsable values as vBroken
            raise CalendarError(f"bad date-time {getattr(prop, 'property_name', '')} {prop!r}")
        return self.instant(value, prop.params.get("TZID"))


def _all(comp, name: str) -> list:
    value = comp.get(name)
    return [] if value is None else value if isinstance(value, list) else [value]


def _text(comp, name: str) -> str:
    values = _all(comp, name)
    return str(values[0]) if values else ""


def _int(prop) -> int:
    return int(prop) if isinstance(prop, int) else 0  # vInt; a vBroken SEQUENCE counts as 0


def _flag(comp, name: str) -> bool:
    return _text(comp, name).strip().upper() == "TRUE"


def _address(value) -> str:
    text = str(value).strip()
    return (text[7:] if text.lower().startswith("mailto:") else text).strip().lower()


def _x_date(comp, name: str, zones: _Zones) -> datetime | None:
    # X- properties are not typed by icalendar; their value is read with its date-time parser.
    prop = comp.get(name)
    if prop is None or isinstance(prop, list):
        return None
    try:
        value = icalendar.vDDDTypes.from_ical(str(prop))
        return zones.instant(value, prop.params.get("TZID"))
    except (ValueError, CalendarError):
        return None  # a broken Outlook hint is not worth rejecting the meeting for


def _attendee(prop) -> Attendee:
    params = prop.params
    cutype = str(params.get("CUTYPE", "")).upper()
    role = str(params.get("ROLE", "")).upper()
    kind = 3 if cutype in ("RESOURCE", "ROOM") or role == "NON-PARTICIPANT" else 2 if role == "OPT-PARTICIPANT" else 1
    partstat = str(params.get("PARTSTAT", "NEEDS-ACTION")).upper()  # RFC 5545 default
    return Attendee(_address(prop), str(params.get("CN", "")), _PARTSTAT.get(partstat, 0), kind)


def _reminder(vevent, start: datetime | None, end: datetime | None) -> int | None:
    for alarm in vevent.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is None or isinstance(trigger, list) or not hasattr(trigger, "dt"):
            continue
        if isinstance(trigger.dt, timedelta):
            lead = -trigger.dt
            if str(trigger.params.get("RELATED", "START")).upper() == "END":
                if start is None or end is None:
                    return None
                lead -= end - start
        elif isinstance(trigger.dt, datetime) and start is not None:
            lead = start - trigger.dt.astimezone(UTC)
        else:
            return None
        minutes = int(lead.total_seconds() // 60)
        return minutes if minutes >= 0 else None  # EAS has one reminder: the first alarm's
    return None


def _read_times(vevent, zones: _Zones, method: str, uid: str):
    """DTSTART, the end (DTEND, else DURATION, else RFC 5545's default) and the start's TZID."""
    start_prop = (_all(vevent, "DTSTART") or [None])[0]
    start = zones.when(start_prop)
    if start is None and method not in _NO_DTSTART:
        raise CalendarError(f"VEVENT {uid} has no DTSTART")
    tzid = str(start_prop.params.get("TZID", "")) if start_prop is not None else ""
    is_date = start_prop is not None and not isinstance(start_prop.dt, datetime)
    end = zones.when(vevent.get("DTEND"))
    if end is None and start is not None:
        duration = vevent.get("DURATION")
        if duration is not None:
            if not isinstance(getattr(duration, "dt", None), timedelta):
                raise CalendarError(f"VEVENT {uid} has a bad DURATION")
            # RFC 5545: days are nominal (wall clock, so a day stays a day across DST), the rest exact.
            days = timedelta(days=duration.dt.days)
            end = zones.instant(start_prop.dt + days, tzid) + (duration.dt - days)
        else:
            end = start + (timedelta(days=1) if is_date else timedelta(0))
    if start is not None and end is not None and end < start:
        raise CalendarError(f"VEVENT {uid} ends before it starts")
    return start_prop, start, end, tzid, is_date


def _read_people(vevent, event: Event) -> None:
    for organizer in _all(vevent, "ORGANIZER")[:1]:
        event.organizer_email = _address(organizer)
        event.organizer_name = str(organizer.params.get("CN", ""))
    seen = set()
    rsvp = []
    for prop in _all(vevent, "ATTENDEE"):
        attendee = _attendee(prop)
        if attendee.email and attendee.email not in seen:
            seen.add(attendee.email)
            event.attendees.append(attendee)
        if "RSVP" in prop.params:
            rsvp.append(str(prop.params["RSVP"]).upper() == "TRUE")
    # RFC 5545's RSVP default is FALSE, but senders that never write RSVP (replies, many
    # calendars) still expect answers; only an explicit RSVP on some attendee decides.
    event.response_requested = any(rsvp) if rsvp else True


def _read_busy_and_class(vevent, event: Event) -> None:
    # The organiser's intended status wins over BUSYSTATUS, which in a REQUEST is Outlook's
    # "tentative until answered" placeholder; MeetingRequest BusyStatus is the organiser's.
    busy = (_text(vevent, "X-MICROSOFT-CDO-INTENDEDSTATUS") or _text(vevent, "X-MICROSOFT-CDO-BUSYSTATUS")).strip().upper()
    if busy in _BUSY:
        event.busy_status = _BUSY.index(busy)
    elif _text(vevent, "TRANSP").strip().upper() == "TRANSPARENT":
        event.busy_status = 0
    if (klass := _text(vevent, "CLASS").strip().upper()):
        event.sensitivity = _CLASS.get(klass, 2)  # RFC 5545: unknown classes are PRIVATE


def _read_recurrence(vevent, event: Event, zones: _Zones, tzid: str, is_date: bool) -> None:
    rrules = _all(vevent, "RRULE")
    if rrules:
        # An RRULE icalendar could not read (vBroken) is as inexpressible as two RRULEs.
        rule = rrules[0] if len(rrules) == 1 and isinstance(rrules[0], icalendar.vRecur) else None
        rec = from_rrule(rule, start=event.start, tz=zones.tz(tzid)) if rule is not None else None
        until = (rule.get("UNTIL") or [None])[0] if rule is not None else None
        if rec and "Until" in rec and is_date and type(until) is date:
            # A DATE UNTIL reads as that day's last second; for a date-only series the last
            # possible occurrence is that day's (UTC) midnight, which is what EAS clients send.
            rec["Until"] = instance_id(datetime.combine(until, time(), UTC))
        event.recurrence, event.rrule_unsupported = rec, rec is None
    for exdate in _all(vevent, "EXDATE"):
        if isinstance(exdate, icalendar.vBroken):
            raise CalendarError(f"VEVENT {event.uid} has a bad EXDATE {exdate!r}")
        for value in exdate.dts:
            rid = zones.instant(value.dt, exdate.params.get("TZID") or value.params.get("TZID"))
            if all(o.recurrence_id != rid for o in event.overrides):
                event.overrides.append(Override(rid, deleted=True))


def _read_event(vevent, zones: _Zones, method: str) -> Event:
    uid = _text(vevent, "UID").strip()
    if not uid:
        raise CalendarError("VEVENT without UID")
    start_prop, start, end, tzid, is_date = _read_times(vevent, zones, method, uid)
    event = Event(
        uid=uid,
        sequence=_int(vevent.get("SEQUENCE")),
        dtstamp=zones.when(vevent.get("DTSTAMP")),
        subject=_text(vevent, "SUMMARY"),
        location=_text(vevent, "LOCATION"),
        description=_text(vevent, "DESCRIPTION"),
        start=start,
        end=end,
        all_day=is_date or _flag(vevent, "X-MICROSOFT-CDO-ALLDAYEVENT"),
        timezone=(zones.blob(tzid, start_prop.dt.year) if start_prop is not None and not is_date
                  else UTC_BLOB).to_base64(),
        tzid=tzid,
        recurrence_id=zones.when(vevent.get("RECURRENCE-ID")),
        reminder=_reminder(vevent, start, end),
        status=_text(vevent, "STATUS").strip().upper(),
        comment=_text(vevent, "COMMENT"),
        disallow_new_time_proposal=_flag(vevent, "X-MICROSOFT-DISALLOW-COUNTER"),
    )
    _read_people(vevent, event)
    _read_busy_and_class(vevent, event)
    _read_recurrence(vevent, event, zones, tzid, is_date)
    if method == "COUNTER":  # DTSTART/DTEND are the proposal; Outlook adds the original times
        event.proposed_start, event.proposed_end = start, end
        original = _x_date(vevent, "X-MS-OLK-ORIGINALSTART", zones)
        if original is not None:
            event.start = original
            event.end = _x_date(vevent, "X-MS-OLK-ORIGINALEND", zones) or original + (end - start)
    return event


def _fold(master: Event, instance: Event, rid: datetime, method: str) -> None:
    """Record a RECURRENCE-ID VEVENT (`rid` its RECURRENCE-ID) as an Override of its series: only
    what differs is kept."""
    override = next((o for o in master.overrides if o.recurrence_id == rid), None)
    if override is None:
        override = Override(rid)
        master.overrides.append(override)
    if override.deleted:
        return  # an EXDATE beats a stale instance
    if method == "CANCEL" or instance.status == "CANCELLED":
        override.deleted = True
        return

    def differs(mine, series):
        return mine if mine != series else None

    override.subject = differs(instance.subject, master.subject)
    override.location = differs(instance.location, master.location)
    override.description = differs(instance.description, master.description)
    override.all_day = differs(instance.all_day, master.all_day)
    override.busy_status = differs(instance.busy_status, master.busy_status)
    override.reminder = differs(instance.reminder, master.reminder)
    length = (master.end - master.start) if master.start and master.end else timedelta(0)
    if instance.start is not None and (instance.start, instance.end) != (rid, rid + length):
        override.start, override.end = instance.start, instance.end


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")  # old Outlook: the ANSI code page, undeclared


def parse_calendar(data: bytes | str) -> CalendarMessage:
    """The meeting message in `data`; CalendarError when there is nothing usable in it."""
    try:
        components = icalendar.Calendar.from_ical(_decode(data), multiple=True)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError) as exc:
        # AttributeError: icalendar trips over a VTIMEZONE with two TZIDs while caching it.
        raise CalendarError(f"not iCalendar: {exc}") from exc
    cal = next((c for c in components if c.name == "VCALENDAR"), None)
    if cal is None:
        raise CalendarError("no VCALENDAR")
    method = _text(cal, "METHOD").strip().upper() or "PUBLISH"  # no METHOD: a plain publication
    vevents = [c for c in cal.subcomponents if c.name == "VEVENT"]
    if not vevents:
        raise CalendarError("no VEVENT")
    zones = _Zones(cal)
    try:
        read = [_read_event(vevent, zones, method) for vevent in vevents]
    except CalendarError:
        raise
    except (ValueError, OverflowError, TypeError) as exc:  # zone rules or dates icalendar let through
        raise CalendarError(f"unusable event: {exc}") from exc
    by_uid: dict[str, list[Event]] = {}
    for event in read:
        by_uid.setdefault(event.uid, []).append(event)
    events = []
    for group in by_uid.values():
        masters = [e for e in group if e.recurrence_id is None]
        if not masters:  # instances without their series (a single-occurrence update or reply)
            events.extend(group)
            continue
        for instance in group:
            if (rid := instance.recurrence_id) is not None:
                _fold(masters[0], instance, rid, method)
        masters[0].overrides.sort(key=lambda o: o.recurrence_id)
        events.append(masters[0])
    return CalendarMessage(method, events)


def find_calendar_part(message: email.message.Message) -> bytes | None:
    """The first text/calendar part (an application/ics or *.ics attachment if there is none),
    transfer-decoded and in UTF-8."""
    fallback = None
    for part in message.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        if ctype == "text/calendar":
            return _part_bytes(part)
        if fallback is None and (ctype == "application/ics" or (part.get_filename() or "").lower().endswith(".ics")):
            fallback = part
    return _part_bytes(fallback) if fallback is not None else None


def _part_bytes(part: email.message.Message) -> bytes:
    data = decoded_payload(part)
    charset = (part.get_content_charset() or "utf-8").lower()
    if charset not in ("utf-8", "utf8", "us-ascii", "ascii"):
        try:  # parse_calendar reads UTF-8; a declared other charset is converted here
            data = data.decode(charset).encode("utf-8")
        except (LookupError, UnicodeDecodeError):
            pass
    return data


def reply_status(message: CalendarMessage, attendee_email: str) -> int | None:
    """The AttendeeStatus a REPLY (or COUNTER) gives the attendee, None when it does not name them."""
    if message.method not in ("REPLY", "COUNTER"):
        return None
    wanted = _address(attendee_email)
    for event in message.events:
        for attendee in event.attendees:
            if attendee.email == wanted:
                return attendee.status
    return None
