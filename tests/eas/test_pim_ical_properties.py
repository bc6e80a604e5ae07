"""eas.pim.ical under Hypothesis: what build_request writes, parse_calendar reads back unchanged.

Commit bc50030 came from a generated event without a UID: build_request now refuses it, and the
refusal is pinned here, beside the round trip over generated meetings (UTC and zoned, all-day,
attendees of every type and response, reminders, weekly series with deleted occurrences)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easlab.eas.pim.ical import Attendee, Event, Override, parse_calendar
from easlab.eas.pim.ical_write import build_request
from easlab.eas.pim.timezone import UTC_BLOB, from_zone_name

UTC = timezone.utc
BERLIN = from_zone_name("Europe/Berlin", 2024).to_base64()
STAMP = datetime(2024, 1, 1, tzinfo=UTC)  # the server clock build_request is given

# Printable text without the characters iCalendar folds or escapes ambiguously (CR, LF).
text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40).map(str.strip)
# A name is a CN parameter: RFC 5545 allows no DQUOTE there (icalendar writes it as '), and
# icalendar 7.3 reads an unquoted CN ending in a backslash as escaping the colon after it
# (CN=x\:mailto:...), so those two cases cannot round-trip and are left out here.
name = text.filter(lambda t: '"' not in t and not t.endswith("\\"))
address = st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(test|example)", fullmatch=True)
minute = st.integers(min_value=0, max_value=60 * 24 * 3650).map(
    lambda m: datetime(2020, 1, 6, tzinfo=UTC) + timedelta(minutes=m))
attendee = st.builds(Attendee, email=address, name=name, status=st.sampled_from([2, 3, 4, 5]),
                     type=st.sampled_from([1, 2, 3]))


@st.composite
def meetings(draw) -> Event:
    start = draw(minute)
    all_day = draw(st.booleans())
    zone = BERLIN if draw(st.booleans()) and not all_day else UTC_BLOB.to_base64()
    if all_day:
        start = start.replace(hour=0, minute=0)
    length = timedelta(days=draw(st.integers(1, 3))) if all_day else timedelta(minutes=draw(st.integers(0, 600)))
    event = Event(
        uid=draw(st.from_regex(r"[A-Za-z0-9@.\-]{1,60}", fullmatch=True)),
        sequence=draw(st.integers(0, 1000)), dtstamp=draw(minute).replace(second=0),
        subject=draw(text), location=draw(text), description=draw(text),
        start=start, end=start + length, all_day=all_day, timezone=zone,
        tzid="Europe/Berlin" if zone == BERLIN else "",
        organizer_email=draw(address), organizer_name=draw(name),
        attendees=draw(st.lists(attendee, max_size=4, unique_by=lambda a: a.email)),
        reminder=draw(st.none() | st.integers(0, 10080)),
        busy_status=draw(st.sampled_from([0, 1, 2, 3])), sensitivity=draw(st.sampled_from([0, 2, 3])),
        disallow_new_time_proposal=draw(st.booleans()))
    # RSVP rides on the attendees: a meeting without attendees has nowhere to carry it.
    event.response_requested = draw(st.booleans()) if event.attendees else True
    if not all_day and draw(st.booleans()):  # a weekly series, some occurrences deleted
        weeks = draw(st.integers(2, 20))
        every = draw(st.integers(1, 3))
        event.recurrence = {"Type": "1", "Occurrences": str(weeks),
                            "DayOfWeek": str(1 << ((start.astimezone(_zone(zone)).weekday() + 1) % 7))}
        if every > 1:  # the read form leaves the default interval out
            event.recurrence["Interval"] = str(every)
        gone = draw(st.sets(st.integers(1, weeks - 1), max_size=3))
        event.overrides = [Override(start + timedelta(weeks=n * every), deleted=True) for n in sorted(gone)]
    return event


def _zone(blob: str):
    from easlab.eas.pim.timezone import BlobTimeZone, TimeZoneBlob
    return UTC if blob == UTC_BLOB.to_base64() else BlobTimeZone(TimeZoneBlob.from_base64(blob))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(meetings())
def test_a_request_reads_back_as_the_event_it_was_built_from(event):
    message = parse_calendar(build_request(event, now=STAMP))
    assert message.method == "REQUEST"
    [back] = message.events
    for name in Event.__dataclass_fields__:
        assert getattr(back, name) == getattr(event, name), name


@settings(max_examples=50, deadline=None)
@given(meetings())
def test_a_cancel_reads_back_cancelled_with_the_same_uid(event):
    [back] = parse_calendar(build_request(event, "CANCEL", now=STAMP)).events
    assert (back.uid, back.status, back.start, back.end) == (event.uid, "CANCELLED", event.start, event.end)


@given(meetings(), st.sampled_from(["REQUEST", "CANCEL", "PUBLISH"]))
@settings(max_examples=20, deadline=None)
def test_a_meeting_without_a_uid_is_refused_not_written(event, method):
    # bc50030: a REQUEST without a UID could never be matched by the replies it asks for.
    event.uid = ""
    with pytest.raises(ValueError, match="UID"):
        build_request(event, method, now=STAMP)
