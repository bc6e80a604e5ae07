"""easlab.eas.pim.ical: iTIP messages as Outlook/Exchange/Google write them -> Event, and back."""
from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from easlab.eas.pim.ical import (
    Attendee, CalendarError, CalendarMessage, Event, Override, find_calendar_part, parse_calendar, reply_status,
)
from easlab.eas.pim.ical_write import build_reply, build_request
from easlab.eas.pim.timezone import UTC_BLOB, SystemTime, TimeZoneBlob, from_zone_name

UTC = timezone.utc
VECTORS = Path(__file__).parent / "ical"
STAMP = datetime(2024, 1, 1, tzinfo=UTC)  # the server clock build_request is given
OUTLOOK_UID = ("040000008200E00074C5B7101A82E00800000000D0F4E0B4A86DDA01000000000000000"
               "010000000A1B2C3D4E5F60718293A4B5C6D7E8F90")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def load(name: str) -> CalendarMessage:
    return parse_calendar((VECTORS / name).read_bytes())


def blob(event: Event) -> TimeZoneBlob:
    return TimeZoneBlob.from_base64(event.timezone)


def wrap(*lines: str, method: str = "REQUEST", extra: str = "") -> str:
    """A VCALENDAR around VEVENT bodies (one string of lines per VEVENT)."""
    events = "".join(f"BEGIN:VEVENT\n{body.strip()}\nEND:VEVENT\n" for body in lines)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\nMETHOD:{method}\n{extra}{events}END:VCALENDAR\n"


# --------------------------------------------------------------------------- the vectors

def test_outlook_weekly_request_with_windows_vtimezone_exdates_and_override():
    message = load("outlook_weekly_request.ics")
    assert message.method == "REQUEST"
    [event] = message.events  # the RECURRENCE-ID VEVENT is folded into its series
    assert event.uid == OUTLOOK_UID
    assert (event.sequence, event.dtstamp) == (2, utc(2024, 3, 1, 12))
    assert (event.subject, event.location) == ("Team sync", "Room 1")
    assert event.description == "Weekly sync, bring notes.\n"
    # 10:00 CET; the series crosses into CEST on 31 March, which the override below shows.
    assert (event.start, event.end, event.all_day) == (utc(2024, 3, 5, 9), utc(2024, 3, 5, 10), False)
    assert event.tzid == "W. Europe Standard Time"
    tz = blob(event)
    assert (tz.bias, tz.standard_bias, tz.daylight_bias) == (-60, 0, -60)
    assert tz.standard_date == SystemTime(0, 10, 0, 5, 3, 0, 0, 0)  # last Sunday of October, 03:00
    assert tz.daylight_date == SystemTime(0, 3, 0, 5, 2, 0, 0, 0)   # last Sunday of March, 02:00
    assert tz.standard_name == "W. Europe Standard Time"  # no TZNAME in Outlook's VTIMEZONE
    assert (event.organizer_email, event.organizer_name) == ("anna.mueller@contoso.com", "Müller, Anna")
    assert event.attendees == [
        Attendee("bob@example.net", "Bob Smith", 5, 1),
        Attendee("carol@example.net", "Carol O'Neil", 5, 2),
        Attendee("room1@contoso.com", "Room 1", 3, 3),
    ]
    assert event.recurrence == {"Type": "1", "DayOfWeek": "4", "FirstDayOfWeek": "1", "Until": "20240430T080000Z"}
    assert not event.rrule_unsupported
    assert event.overrides == [
        Override(utc(2024, 3, 19, 9), deleted=True),
        Override(utc(2024, 4, 2, 8), subject="Team sync (moved)", location="Room 2",
                 start=utc(2024, 4, 2, 12), end=utc(2024, 4, 2, 13, 30), reminder=5),
        Override(utc(2024, 4, 16, 8), deleted=True),  # the second EXDATE property holds two dates
        Override(utc(2024, 4, 23, 8), deleted=True),
    ]
    assert event.recurrence_id is None
    assert event.reminder == 15
    assert event.busy_status == 2  # INTENDEDSTATUS:BUSY beats the "unanswered" BUSYSTATUS:TENTATIVE
    assert (event.sensitivity, event.response_requested, event.disallow_new_time_proposal) == (0, True, True)
    assert event.status == "CONFIRMED"
    assert (event.proposed_start, event.proposed_end, event.comment) == (None, None, "")


def test_google_request_with_iana_tzid_and_no_vtimezone():
    [event] = load("google_request.ics").events
    assert event.uid == "7kukuqrfedlm2f9t0vr2f4e9eo@google.com"
    assert (event.start, event.end) == (utc(2024, 7, 10, 13), utc(2024, 7, 10, 13, 30))  # 09:00 EDT
    assert event.tzid == "America/New_York"
    tz = blob(event)
    assert (tz.bias, tz.daylight_bias) == (300, -60)
    assert (tz.standard_date.month, tz.standard_date.day, tz.standard_date.hour) == (11, 1, 2)  # 1st Sunday
    assert (tz.daylight_date.month, tz.daylight_date.day, tz.daylight_date.hour) == (3, 2, 2)   # 2nd Sunday
    assert (tz.standard_name, tz.daylight_name) == ("EST", "EDT")
    assert event.recurrence == {"Type": "3", "DayOfWeek": "8", "WeekOfMonth": "2", "Occurrences": "6"}
    assert event.attendees == [Attendee("dana.lee@gmail.com", "Dana Lee", 3, 1),
                               Attendee("bob@example.net", "bob@example.net", 5, 1)]
    assert event.reminder == 30  # the first VALARM, even though it is an EMAIL one
    assert (event.location, event.sequence, event.busy_status, event.overrides) == ("", 0, 2, [])
    assert event.description.startswith("Monthly planning.\n\nJoin with Google Meet: https://meet.google.com/")


def test_all_day_event_with_value_date_and_duration():
    [event] = load("allday_request.ics").events
    assert event.all_day
    assert (event.start, event.end) == (utc(2024, 12, 24), utc(2024, 12, 27))
    assert event.timezone == UTC_BLOB.to_base64() and event.tzid == ""
    assert (event.busy_status, event.sensitivity) == (0, 2)  # TRANSPARENT, PRIVATE
    assert event.response_requested is False  # RSVP=FALSE on its only attendee
    assert (event.sequence, event.status, event.reminder, event.recurrence) == (1, "", None, None)


def test_cancel_of_one_occurrence_is_a_lone_instance():
    message = load("outlook_cancel_occurrence.ics")
    assert message.method == "CANCEL"
    [event] = message.events
    assert event.uid == OUTLOOK_UID
    assert event.recurrence_id == utc(2024, 4, 9, 8)  # 10:00 CEST
    assert (event.start, event.end) == (utc(2024, 4, 9, 8), utc(2024, 4, 9, 9))
    assert (event.status, event.sequence, event.busy_status) == ("CANCELLED", 3, 0)
    assert (event.recurrence, event.overrides) == (None, [])


def test_reply_accepted_and_reply_status():
    message = load("outlook_reply_accepted.ics")
    assert message.method == "REPLY"
    [event] = message.events
    assert event.attendees == [Attendee("bob@example.net", "Bob Smith", 3, 1)]  # MAILTO:Bob@Example.NET
    assert event.comment == "See you there.\n"
    assert (event.organizer_email, event.sequence) == ("anna.mueller@contoso.com", 2)
    assert reply_status(message, "BOB@example.net") == 3
    assert reply_status(message, "mailto:bob@example.net") == 3
    assert reply_status(message, "carol@example.net") is None
    assert reply_status(load("outlook_weekly_request.ics"), "bob@example.net") is None  # not a reply


def test_counter_proposes_dtstart_and_keeps_originals():
    message = load("outlook_counter.ics")
    assert message.method == "COUNTER"
    [event] = message.events
    assert (event.proposed_start, event.proposed_end) == (utc(2024, 6, 12, 13), utc(2024, 6, 12, 14))
    assert (event.start, event.end) == (utc(2024, 6, 12, 7), utc(2024, 6, 12, 8))  # X-MS-OLK-ORIGINAL*
    assert event.comment == "Can we do the afternoon?\n"
    assert reply_status(message, "bob@example.net") == 2


# --------------------------------------------------------------------------- parsing corners

def test_floating_times_read_as_utc():
    [event] = parse_calendar(wrap("UID:f\nDTSTART:20240105T090000\nDTEND:20240105T100000")).events
    assert (event.start, event.end) == (utc(2024, 1, 5, 9), utc(2024, 1, 5, 10))
    assert event.timezone == UTC_BLOB.to_base64()


def test_unknown_tzid_reads_as_utc_but_is_kept_and_utc_tzid_gives_utc_blob():
    [unknown] = parse_calendar(wrap("UID:u\nDTSTART;TZID=Mars/Olympus:20240105T090000")).events
    assert (unknown.start, unknown.tzid, unknown.timezone) == (utc(2024, 1, 5, 9), "Mars/Olympus", UTC_BLOB.to_base64())
    [plain] = parse_calendar(wrap("UID:z\nDTSTART;TZID=UTC:20240105T090000")).events
    assert (plain.start, plain.timezone) == (utc(2024, 1, 5, 9), UTC_BLOB.to_base64())


@pytest.mark.filterwarnings("ignore::icalendar.GloballyUniqueTZIDGuessed")  # icalendar's own guess, unused
def test_windows_tzid_without_vtimezone_and_globally_unique_tzid():
    [pacific] = parse_calendar(wrap("UID:p\nDTSTART;TZID=Pacific Standard Time:20240105T090000")).events
    assert pacific.start == utc(2024, 1, 5, 17)
    assert blob(pacific).bias == 480
    [vendor] = parse_calendar(wrap("UID:v\nDTSTART;TZID=/citadel.org/20190914_1/Europe/Berlin:20240705T090000")).events
    assert vendor.start == utc(2024, 7, 5, 7)


CUSTOM_ZONE = """BEGIN:VTIMEZONE
TZID:Customized Time Zone
BEGIN:STANDARD
DTSTART:16010101T000000
TZOFFSETFROM:{0}
TZOFFSETTO:{0}
END:STANDARD
END:VTIMEZONE
"""


def test_vtimezone_is_per_message_not_cached_by_tzid():
    # icalendar caches VTIMEZONEs process-wide by TZID; two senders' "Customized Time Zone" differ.
    body = "UID:c\nDTSTART;TZID=Customized Time Zone:20240105T090000"
    [east] = parse_calendar(wrap(body, extra=CUSTOM_ZONE.format("+0300"))).events
    [west] = parse_calendar(wrap(body, extra=CUSTOM_ZONE.format("-0500"))).events
    assert (east.start, west.start) == (utc(2024, 1, 5, 6), utc(2024, 1, 5, 14))
    assert (blob(east).bias, blob(west).bias) == (-180, 300)
    assert not blob(east).has_dst


def test_vtimezone_wins_over_the_iana_name():
    zone = CUSTOM_ZONE.replace("Customized Time Zone", "Europe/Berlin").format("+0500")
    [event] = parse_calendar(wrap("UID:w\nDTSTART;TZID=Europe/Berlin:20240705T090000", extra=zone)).events
    assert event.start == utc(2024, 7, 5, 4)


def test_duration_days_are_nominal_across_dst():
    # 30 March 12:00 CET + P1DT1H = 31 March 13:00 CEST: a wall-clock day (23 h) plus one exact hour.
    [event] = parse_calendar(wrap("UID:d\nDTSTART;TZID=Europe/Berlin:20240330T120000\nDURATION:P1DT1H")).events
    assert (event.start, event.end) == (utc(2024, 3, 30, 11), utc(2024, 3, 31, 11))


def test_outlook_all_day_with_tzid_midnights():
    [event] = parse_calendar(wrap(
        "UID:a\nDTSTART;TZID=Europe/Berlin:20240705T000000\nDTEND;TZID=Europe/Berlin:20240706T000000\n"
        "X-MICROSOFT-CDO-ALLDAYEVENT:TRUE")).events
    assert event.all_day
    assert (event.start, event.end) == (utc(2024, 7, 4, 22), utc(2024, 7, 5, 22))  # local midnights
    assert blob(event).bias == -60


def test_several_uids_and_lone_instances_stay_separate():
    message = parse_calendar(wrap(
        "UID:one\nDTSTART:20240105T090000Z\nSUMMARY:first",
        "UID:two\nDTSTART:20240106T090000Z\nSUMMARY:second",
        "UID:three\nRECURRENCE-ID:20240108T090000Z\nDTSTART:20240108T100000Z",
        "UID:three\nRECURRENCE-ID:20240115T090000Z\nDTSTART:20240115T090000Z"))
    assert [(e.uid, e.subject, e.recurrence_id) for e in message.events] == [
        ("one", "first", None), ("two", "second", None),
        ("three", "", utc(2024, 1, 8, 9)), ("three", "", utc(2024, 1, 15, 9))]


def test_exdate_beats_a_stale_instance_and_cancelled_instances_are_deletions():
    series = "UID:s\nDTSTART:20240101T090000Z\nDTEND:20240101T100000Z\nRRULE:FREQ=DAILY;COUNT=10\nEXDATE:20240103T090000Z"
    [event] = parse_calendar(wrap(
        series,
        "UID:s\nRECURRENCE-ID:20240103T090000Z\nDTSTART:20240103T120000Z\nSUMMARY:moved",
        "UID:s\nRECURRENCE-ID:20240105T090000Z\nDTSTART:20240105T090000Z\nSTATUS:CANCELLED",
        "UID:s\nRECURRENCE-ID:20240107T090000Z\nDTSTART:20240107T090000Z\nDTEND:20240107T100000Z\nSUMMARY:renamed",
    )).events
    assert event.recurrence == {"Type": "0", "Occurrences": "10"}
    assert event.overrides == [Override(utc(2024, 1, 3, 9), deleted=True),
                               Override(utc(2024, 1, 5, 9), deleted=True),
                               Override(utc(2024, 1, 7, 9), subject="renamed")]  # same times: not moved


def test_rrule_without_eas_equivalent_is_flagged():
    [event] = parse_calendar(wrap("UID:h\nDTSTART:20240101T090000Z\nRRULE:FREQ=DAILY;BYHOUR=9,15")).events
    assert (event.recurrence, event.rrule_unsupported) == (None, True)
    [event] = parse_calendar(wrap("UID:h\nDTSTART:20240101T090000Z\nRRULE:FREQ=SOMETIMES")).events
    assert (event.recurrence, event.rrule_unsupported, event.start) == (None, True, utc(2024, 1, 1, 9))


def test_class_busy_and_personal_mapping():
    [event] = parse_calendar(wrap("UID:x\nDTSTART:20240101T090000Z\nCLASS:CONFIDENTIAL\nTRANSP:TRANSPARENT")).events
    assert (event.sensitivity, event.busy_status) == (3, 0)
    [event] = parse_calendar(wrap("UID:x\nDTSTART:20240101T090000Z\nCLASS:X-PERSONAL\n"
                                  "X-MICROSOFT-CDO-BUSYSTATUS:OOF\nTRANSP:TRANSPARENT")).events
    assert (event.sensitivity, event.busy_status) == (1, 3)
    [event] = parse_calendar(wrap("UID:x\nDTSTART:20240101T090000Z\nCLASS:X-SECRET")).events
    assert event.sensitivity == 2  # RFC 5545: unknown classes are treated as PRIVATE


def test_crlf_bytes_and_str_give_the_same_result():
    text = (VECTORS / "google_request.ics").read_text(encoding="utf-8")
    assert parse_calendar(text.replace("\n", "\r\n").encode()) == parse_calendar(text)


@pytest.mark.parametrize("data, why", [
    (b"", "empty"),
    ("hello world", "no content lines"),
    (wrap("UID:x\nDTSTART:20240101T090000Z").replace("VCALENDAR", "VTODOLIST"), "no VCALENDAR"),
    ("BEGIN:VEVENT\nUID:x\nDTSTART:20240101T090000Z\nEND:VEVENT\n", "bare VEVENT"),
    ("BEGIN:VCALENDAR\nVERSION:2.0\nMETHOD:REQUEST\nEND:VCALENDAR\n", "no VEVENT"),
    (wrap("DTSTART:20240101T090000Z\nSUMMARY:no uid"), "no UID"),
    (wrap("UID:x\nDTSTART:2024-13-45"), "bad DTSTART"),
    (wrap("UID:x\nDTSTART:20240101T090000Z\nDTEND:20231231T090000Z"), "ends before it starts"),
    (wrap("UID:x\nDTSTART:20240101T090000Z\nEXDATE:notadate"), "bad EXDATE"),
    (wrap("UID:x\nSUMMARY:no start"), "REQUEST without DTSTART"),
])
def test_unusable_data_raises_calendar_error(data, why):
    with pytest.raises(CalendarError):
        parse_calendar(data)
    assert issubclass(CalendarError, ValueError)


def test_reply_may_leave_dtstart_out():
    [event] = parse_calendar(wrap("UID:x\nATTENDEE;PARTSTAT=DECLINED:mailto:a@b.c", method="REPLY")).events
    assert (event.start, event.end) == (None, None)
    assert reply_status(parse_calendar(wrap("UID:x\nATTENDEE;PARTSTAT=DECLINED:mailto:a@b.c", method="REPLY")), "A@B.C") == 4


# --------------------------------------------------------------------------- writing and round trips

BERLIN = from_zone_name("Europe/Berlin", 2024)


def berlin_series() -> Event:
    return Event(
        uid="series-1@easlab.test", sequence=4, dtstamp=utc(2024, 2, 20, 8, 30),
        subject="Standup", location="Room 5", description="Daily, but weekly.",
        start=utc(2024, 3, 5, 9), end=utc(2024, 3, 5, 9, 30),  # 10:00 CET
        timezone=BERLIN.to_base64(), tzid="Europe/Berlin",
        organizer_email="anna@easlab.test", organizer_name="Anna Müller",
        attendees=[Attendee("bob@example.net", "Bob, Jr.", 5, 1), Attendee("carol@example.net", "", 3, 2),
                   Attendee("room5@easlab.test", "Room 5", 2, 3)],
        recurrence={"Type": "1", "DayOfWeek": "4", "FirstDayOfWeek": "1", "Until": "20240430T080000Z"},
        overrides=[Override(utc(2024, 3, 12, 9), deleted=True),
                   Override(utc(2024, 4, 2, 8), subject="Standup (moved)", location="Room 6",
                            start=utc(2024, 4, 2, 12), end=utc(2024, 4, 2, 13), busy_status=1, reminder=30)],
        reminder=10, busy_status=3, sensitivity=2, disallow_new_time_proposal=True,
    )


def test_recurring_berlin_event_round_trips_field_by_field():
    event = berlin_series()
    data = build_request(event, now=STAMP)
    text = data.decode().replace("\r\n ", "")
    for line in ("METHOD:REQUEST", "BEGIN:VTIMEZONE", "TZID:Europe/Berlin",
                 "DTSTART;TZID=Europe/Berlin:20240305T100000", "DTEND;TZID=Europe/Berlin:20240305T103000",
                 "RRULE:FREQ=WEEKLY;UNTIL=20240430T080000Z;BYDAY=TU;WKST=MO",
                 "EXDATE;TZID=Europe/Berlin:20240312T100000",
                 "RECURRENCE-ID;TZID=Europe/Berlin:20240402T100000",
                 "DTSTART;TZID=Europe/Berlin:20240402T140000",
                 'ORGANIZER;CN="Anna Müller":mailto:anna@easlab.test',
                 'ATTENDEE;CN="Bob, Jr.";PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:bob@example.net',
                 "ROLE=NON-PARTICIPANT", "CUTYPE=RESOURCE", "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
                 "X-MICROSOFT-DISALLOW-COUNTER:TRUE", "CLASS:PRIVATE", "TRIGGER:-PT10M"):
        assert line in text, line
    message = parse_calendar(data)
    assert message.method == "REQUEST"
    [back] = message.events
    for name in Event.__dataclass_fields__:
        assert getattr(back, name) == getattr(event, name), name
    assert back == event


def test_all_day_events_round_trip():
    event = Event(uid="allday@easlab.test", sequence=1, dtstamp=utc(2024, 12, 1), subject="Holidays",
                  start=utc(2024, 12, 24), end=utc(2024, 12, 27), all_day=True, timezone=UTC_BLOB.to_base64(),
                  organizer_email="eve@example.org", attendees=[Attendee("bob@example.net", "Bob")],
                  busy_status=0, response_requested=False)  # carried as RSVP=FALSE on the attendees
    data = build_request(event, now=STAMP)
    text = data.decode()
    assert "DTSTART;VALUE=DATE:20241224" in text and "DTEND;VALUE=DATE:20241227" in text
    assert "BEGIN:VTIMEZONE" not in text and "TRANSP:TRANSPARENT" in text
    assert parse_calendar(data).events == [event]
    yearly = replace(event, uid="birthday@easlab.test", end=utc(2024, 12, 25),
                     recurrence={"Type": "5", "DayOfMonth": "24", "MonthOfYear": "12", "Until": "20301224T000000Z"},
                     overrides=[Override(utc(2026, 12, 24), deleted=True)])
    data = build_request(yearly, now=STAMP)
    assert "UNTIL=20301224;" in data.decode() or "UNTIL=20301224\r" in data.decode()
    assert "EXDATE;VALUE=DATE:20261224" in data.decode()
    assert parse_calendar(data).events == [yearly]


def test_utc_event_is_written_with_z_times():
    event = Event(uid="u@easlab.test", dtstamp=utc(2024, 1, 1), start=utc(2024, 1, 5, 9), end=utc(2024, 1, 5, 10),
                  timezone=UTC_BLOB.to_base64())
    text = build_request(event, now=STAMP).decode()
    assert "DTSTART:20240105T090000Z" in text and "TZID" not in text
    assert parse_calendar(text).events == [event]


def test_cancel_whole_series_and_one_occurrence():
    event = berlin_series()
    cancel = parse_calendar(build_request(event, "CANCEL", now=STAMP))
    assert cancel.method == "CANCEL"
    [series] = cancel.events
    assert (series.uid, series.sequence, series.status) == (event.uid, 4, "CANCELLED")
    assert [o.deleted for o in series.overrides] == [True]  # no modified instances in a cancel
    one = replace(event, recurrence=None, overrides=[], recurrence_id=utc(2024, 3, 19, 9),
                  start=utc(2024, 3, 19, 9), end=utc(2024, 3, 19, 9, 30), sequence=5)
    data = build_request(one, "cancel", now=STAMP)
    text = data.decode()
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20240319T100000" in text and "RRULE:FREQ=WEEKLY" not in text
    [occurrence] = parse_calendar(data).events
    assert (occurrence.recurrence_id, occurrence.status, occurrence.sequence) == (utc(2024, 3, 19, 9), "CANCELLED", 5)
    with pytest.raises(ValueError):
        build_request(event, "REPLY", now=STAMP)


def test_build_reply_accept_series_and_occurrence():
    event = berlin_series()
    bob = Attendee("Bob@Example.net", "Bob, Jr.")
    data = build_reply(event, bob, "accepted", comment="Fine.", now=utc(2024, 2, 21, 7))
    text = data.decode().replace("\r\n ", "")
    assert "METHOD:REPLY" in text and "RECURRENCE-ID" not in text and "RRULE:FREQ=WEEKLY" not in text
    assert 'ATTENDEE;CN="Bob, Jr.";PARTSTAT=ACCEPTED:mailto:Bob@Example.net' in text
    message = parse_calendar(data)
    [reply] = message.events
    assert (reply.uid, reply.sequence, reply.dtstamp, reply.comment) == (event.uid, 4, utc(2024, 2, 21, 7), "Fine.")
    assert (reply.organizer_email, reply.start, reply.end) == ("anna@easlab.test", event.start, event.end)
    assert reply_status(message, "bob@example.net") == 3

    occurrence = replace(event, recurrence=None, overrides=[], recurrence_id=utc(2024, 4, 9, 8),
                         start=utc(2024, 4, 9, 8), end=utc(2024, 4, 9, 8, 30))
    data = build_reply(occurrence, bob, "DECLINED", now=utc(2024, 4, 1))
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20240409T100000" in data.decode()
    message = parse_calendar(data)
    assert message.events[0].recurrence_id == utc(2024, 4, 9, 8)
    assert reply_status(message, "bob@example.net") == 4
    with pytest.raises(ValueError):
        build_reply(event, bob, "MAYBE", now=utc(2024, 4, 1))


def test_build_reply_with_proposal_is_a_counter():
    event = replace(berlin_series(), recurrence=None, overrides=[])
    bob = Attendee("bob@example.net", "Bob")
    data = build_reply(event, bob, "TENTATIVE", proposed_start=utc(2024, 3, 5, 14), proposed_end=utc(2024, 3, 5, 15),
                       comment="Afternoon?", now=utc(2024, 3, 1))
    text = data.decode().replace("\r\n ", "")
    assert "METHOD:COUNTER" in text
    assert "DTSTART;TZID=Europe/Berlin:20240305T150000" in text  # the proposal, in the organiser's zone
    assert "X-MS-OLK-ORIGINALSTART;TZID=Europe/Berlin:20240305T100000" in text
    assert "PARTSTAT=TENTATIVE" in text
    message = parse_calendar(data)
    [counter] = message.events
    assert (counter.proposed_start, counter.proposed_end) == (utc(2024, 3, 5, 14), utc(2024, 3, 5, 15))
    assert (counter.start, counter.end) == (event.start, event.end)
    assert reply_status(message, "bob@example.net") == 2
    # Without an end, the proposal keeps the meeting's length.
    [counter] = parse_calendar(build_reply(event, bob, "ACCEPTED", proposed_start=utc(2024, 3, 6, 9),
                                           now=utc(2024, 3, 1))).events
    assert counter.proposed_end == utc(2024, 3, 6, 9, 30)


# --------------------------------------------------------------------------- finding the part in mail

def invitation_mail(ics: bytes) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "anna@easlab.test", "bob@example.net", "Invitation: Standup"
    msg.set_content("You are invited.")
    msg.add_alternative("<p>You are invited.</p>", subtype="html")
    msg.add_alternative(ics, maintype="text", subtype="calendar", params={"method": "REQUEST"}, cte="base64")
    msg.add_attachment(b"BEGIN:VCALENDAR\nEND:VCALENDAR\n", maintype="application", subtype="ics", filename="invite.ics")
    return msg


def test_find_calendar_part_in_multipart_alternative():
    ics = build_request(berlin_series(), now=STAMP)
    msg = invitation_mail(ics)
    assert msg.get_content_type() == "multipart/mixed"  # alternative inside mixed, plus the attachment
    reparsed = email.message_from_bytes(msg.as_bytes(), policy=email.policy.default)
    found = find_calendar_part(reparsed)
    assert found == ics  # the inline text/calendar, not the (empty) attachment
    assert parse_calendar(found).events[0] == berlin_series()


def test_find_calendar_part_falls_back_to_ics_attachment_and_converts_charset():
    msg = EmailMessage()
    msg.set_content("see attachment")
    ics = wrap("UID:x\nDTSTART:20240101T090000Z\nSUMMARY:Caf\u00e9").encode("cp1252")
    msg.add_attachment(ics, maintype="application", subtype="ics", filename="invite.ics", params={"charset": "windows-1252"})
    found = find_calendar_part(email.message_from_bytes(msg.as_bytes(), policy=email.policy.default))
    assert parse_calendar(found).events[0].subject == "Caf\u00e9"
    plain = EmailMessage()
    plain.set_content("nothing here")
    assert find_calendar_part(plain) is None
