"""iTIP meeting messages written from an `Event`: REQUEST, CANCEL and PUBLISH (`build_request`),
REPLY and COUNTER (`build_reply`), the way Outlook and Exchange write them, so that what
eas.pim.ical reads back is the event it was built from (tests/eas/test_pim_ical_properties.py)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import icalendar

from .ical import _BUSY, _CLASS_OUT, _PARTSTAT_OUT, UTC, Attendee, Event, _is_utc
from .recurrence import to_rrule
from .timezone import UTC_BLOB, BlobTimeZone, TimeZoneBlob, to_vtimezone

__all__ = ["build_request", "build_reply"]

class _Writer:
    """Writes instants the way the event's zone says: TZID local time, UTC with Z, or dates."""

    def __init__(self, event: Event) -> None:
        self.blob = TimeZoneBlob.from_base64(event.timezone) if event.timezone else UTC_BLOB
        self.zone = None if _is_utc(self.blob) else BlobTimeZone(self.blob)
        self.tzid = event.tzid or "easlab"
        self.all_day = event.all_day

    def value(self, when: datetime, all_day: bool | None = None) -> icalendar.vDDDTypes:
        local = when.astimezone(self.zone or UTC)
        if self.all_day if all_day is None else all_day:
            return icalendar.vDDDTypes(local.date())
        if self.zone is None:
            return icalendar.vDDDTypes(local)
        prop = icalendar.vDDDTypes(local.replace(tzinfo=None))
        prop.params["TZID"] = self.tzid
        return prop

    def put(self, comp, name: str, when: datetime, all_day: bool | None = None) -> None:
        comp.add(name, self.value(when, all_day))

    def add_vtimezone(self, cal: icalendar.Calendar) -> None:
        if self.zone is not None:
            cal.add_component(to_vtimezone(self.blob, self.tzid))


def _calendar(method: str, prodid: str, writer: _Writer) -> icalendar.Calendar:
    cal = icalendar.Calendar()
    cal.add("PRODID", prodid)
    cal.add("VERSION", "2.0")
    cal.add("METHOD", method)
    writer.add_vtimezone(cal)
    return cal


def _cal_address(address: str, name: str, **params) -> icalendar.vCalAddress:
    return icalendar.vCalAddress.new(address, cn=name or None, **params)


def _vevent(event: Event, writer: _Writer, method: str, now: datetime) -> icalendar.Event:
    if event.start is None:
        raise ValueError("an event to send needs a start")
    vevent = icalendar.Event()
    vevent.add("UID", event.uid)
    vevent.add("SEQUENCE", event.sequence)
    vevent.add("DTSTAMP", (event.dtstamp or now).astimezone(UTC))
    end = event.end or (event.start + timedelta(days=1) if event.all_day else event.start)
    writer.put(vevent, "DTSTART", event.start, event.all_day)
    writer.put(vevent, "DTEND", end, event.all_day)
    vevent.add("SUMMARY", event.subject)
    for name, text in (("LOCATION", event.location), ("DESCRIPTION", event.description), ("COMMENT", event.comment)):
        if text:
            vevent.add(name, text)
    if event.organizer_email:
        vevent.add("ORGANIZER", _cal_address(event.organizer_email, event.organizer_name))
    for attendee in event.attendees:
        role = {2: "OPT-PARTICIPANT", 3: "NON-PARTICIPANT"}.get(attendee.type, "REQ-PARTICIPANT")
        vevent.add("ATTENDEE", _cal_address(
            attendee.email, attendee.name, role=role, cutype="RESOURCE" if attendee.type == 3 else None,
            partstat=_PARTSTAT_OUT.get(attendee.status, "NEEDS-ACTION"), rsvp=event.response_requested))
    vevent.add("CLASS", _CLASS_OUT.get(event.sensitivity, "PUBLIC"))
    vevent.add("TRANSP", "TRANSPARENT" if event.busy_status == 0 else "OPAQUE")
    status = "CANCELLED" if method == "CANCEL" else event.status
    if status:
        vevent.add("STATUS", status)
    busy = _BUSY[event.busy_status] if 0 <= event.busy_status < len(_BUSY) else "BUSY"
    vevent.add("X-MICROSOFT-CDO-BUSYSTATUS", busy)
    vevent.add("X-MICROSOFT-CDO-INTENDEDSTATUS", busy)
    vevent.add("X-MICROSOFT-CDO-ALLDAYEVENT", "TRUE" if event.all_day else "FALSE")
    if event.disallow_new_time_proposal:
        vevent.add("X-MICROSOFT-DISALLOW-COUNTER", "TRUE")
    if event.reminder is not None and method != "CANCEL":
        alarm = icalendar.Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", "Reminder")
        alarm.add("TRIGGER", timedelta(minutes=-event.reminder))
        vevent.add_component(alarm)
    return vevent


def _rrule(recurrence: dict[str, str], all_day: bool, writer: _Writer) -> dict:
    rule = to_rrule(recurrence)
    if all_day and "UNTIL" in rule:  # RFC 5545: UNTIL has DTSTART's value type
        rule["UNTIL"] = rule["UNTIL"].astimezone(writer.zone or UTC).date()
    return rule


def build_request(event: Event, method: str = "REQUEST", *, now: datetime, prodid: str = "-//easlab//EN") -> bytes:
    """A REQUEST (the series with its EXDATEs and modified instances) or CANCEL (STATUS:CANCELLED;
    one occurrence when `event.recurrence_id` is set) for `event`, as bytes; `now`, the server
    clock's time, is the DTSTAMP of an event that carries none."""
    method = method.upper()
    if method not in ("REQUEST", "CANCEL", "PUBLISH"):
        raise ValueError(f"build_request writes REQUEST, CANCEL or PUBLISH, not {method}")
    if not event.uid:
        raise ValueError("a meeting without a UID cannot be sent: replies could not find it")
    writer = _Writer(event)
    cal = _calendar(method, prodid, writer)
    master = _vevent(event, writer, method, now)
    cal.add_component(master)
    if event.recurrence_id is not None:
        writer.put(master, "RECURRENCE-ID", event.recurrence_id)
        return cal.to_ical()
    if not event.recurrence:
        return cal.to_ical()
    master.add("RRULE", _rrule(event.recurrence, event.all_day, writer))
    length = (event.end - event.start) if event.start and event.end else timedelta(0)
    for override in sorted(event.overrides, key=lambda o: o.recurrence_id):
        if override.deleted:
            writer.put(master, "EXDATE", override.recurrence_id)
        elif method != "CANCEL":  # cancelling the series cancels its instances with it
            start = override.start or override.recurrence_id
            instance = replace(
                event, recurrence=None, overrides=[], recurrence_id=override.recurrence_id, start=start,
                end=override.end or start + length,
                **{k: getattr(override, k) for k in ("subject", "location", "description", "all_day",
                                                      "busy_status", "reminder")
                   if getattr(override, k) is not None})
            vevent = _vevent(instance, writer, method, now)
            writer.put(vevent, "RECURRENCE-ID", override.recurrence_id)  # in the series' form
            cal.add_component(vevent)
    return cal.to_ical()


def build_reply(event: Event, attendee: Attendee, partstat: str, *, proposed_start: datetime | None = None,
                proposed_end: datetime | None = None, comment: str = "", now: datetime) -> bytes:
    """The attendee's REPLY to `event`; with a proposed time a COUNTER whose DTSTART/DTEND are the
    proposal (Exchange's "propose new time"), the original times in X-MS-OLK-ORIGINALSTART/END."""
    partstat = partstat.upper()
    if partstat not in ("ACCEPTED", "TENTATIVE", "DECLINED"):
        raise ValueError(f"a reply is ACCEPTED, TENTATIVE or DECLINED, not {partstat}")
    counter = proposed_start is not None
    writer = _Writer(event)
    cal = _calendar("COUNTER" if counter else "REPLY", "-//easlab//EN", writer)
    vevent = icalendar.Event()
    vevent.add("UID", event.uid)
    vevent.add("SEQUENCE", event.sequence)
    vevent.add("DTSTAMP", now.astimezone(UTC))
    if event.organizer_email:
        vevent.add("ORGANIZER", _cal_address(event.organizer_email, event.organizer_name))
    vevent.add("ATTENDEE", _cal_address(attendee.email, attendee.name, partstat=partstat))
    start, end = event.start, event.end
    if proposed_start is not None:  # a COUNTER
        length = (event.end - event.start) if event.start and event.end else timedelta(0)
        start, end = proposed_start, proposed_end or proposed_start + length
        if event.start is not None:
            writer.put(vevent, "X-MS-OLK-ORIGINALSTART", event.start)
            writer.put(vevent, "X-MS-OLK-ORIGINALEND", event.end or event.start)
    if start is not None:
        writer.put(vevent, "DTSTART", start)
        writer.put(vevent, "DTEND", end or start)
    if event.recurrence_id is not None:
        writer.put(vevent, "RECURRENCE-ID", event.recurrence_id)
    vevent.add("SUMMARY", event.subject)
    if event.location:
        vevent.add("LOCATION", event.location)
    if comment:
        vevent.add("COMMENT", comment)
    cal.add_component(vevent)
    return cal.to_ical()
