"""Expansion of a window (eas.pim.recurrence.Expansion, eas.pim.calendar.Event) against the
straightforward walk from the first occurrence that it replaced: the same occurrences for any
series, zone and window, exceptions applied the same way, and the same answer for a window asked
again after others."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

from easlab.eas.pim import recurrence as rr
from easlab.eas.pim.calendar import (
    Event, Occurrence, busy_intervals, compact, number, occurrences, recurrence, time_of, zone,
)
from easlab.eas.pim.timezone import from_zone_name
from easlab.eas.pim.tree import EXCEPTION_TIME, children, value
from tests.eas.test_pim_recurrence import MASK, eas_recurrences

UTC = timezone.utc
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/St_Johns"]
BLOBS = {name: from_zone_name(name, 2026).to_base64() for name in ZONES}


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def walked(rec, start, tz, after, before, limit=5000):
    """The series walked by dateutil from its first occurrence on, cut to [after, before)."""
    found = []
    for instant in rr._instants(rec, start, tz):
        if len(found) >= limit or (before is not None and instant >= before):
            break
        if after is None or instant >= after:
            found.append(instant)
    return found


def walked_event(nodes, after, before):
    """eas.pim.calendar.occurrences as it was before Event: the same rules over the walk."""
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
        starts = walked(rec, start, zone(nodes), after - duration, before)
    except (ValueError, OverflowError):
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
    for moved_iid, exc in exceptions.items():
        s, e = time_of(exc, "Calendar:StartTime"), time_of(exc, "Calendar:EndTime")
        if value(exc, "Calendar:Deleted") != "1" and s and e and s < before and e > after:
            found.append(Occurrence(s, e, number(value(exc, "Calendar:BusyStatus"), busy), moved_iid or compact(s)))
    return sorted(found, key=lambda o: o.start)


# -- Table: the arithmetic's corners --------------------------------------------------------------

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize("rec, start, after, before", [
    # Weekly from a Wednesday on Monday and Friday, weeks from Sunday, every third week.
    ({"Type": "1", "DayOfWeek": "34", "Interval": "3", "FirstDayOfWeek": "0"}, utc(2021, 3, 3, 8),
     utc(2026, 3, 1), utc(2026, 4, 12)),
    # The same ending after 200 occurrences: the count runs out inside the window.
    ({"Type": "1", "DayOfWeek": "34", "Interval": "3", "FirstDayOfWeek": "0", "Occurrences": "200"},
     utc(2021, 3, 3, 8), utc(2024, 6, 1), utc(2024, 7, 13)),
    # Every weekday as a daily series every 4 days, counted.
    ({"Type": "0", "DayOfWeek": "62", "Interval": "4", "Occurrences": "500"}, utc(2020, 1, 3, 23, 30),
     utc(2025, 2, 1), utc(2025, 3, 1)),
    # Until in the window, across the spring change in Berlin.
    ({"Type": "0", "Until": "20260401T070000Z"}, utc(2025, 11, 2, 7), utc(2026, 3, 20), utc(2026, 4, 20)),
    # Monthly and yearly are walked, but from the window.
    ({"Type": "3", "DayOfWeek": "62", "WeekOfMonth": "5"}, utc(2001, 1, 31, 9), utc(2026, 1, 1), utc(2026, 2, 12)),
    ({"Type": "5", "MonthOfYear": "2", "DayOfMonth": "29"}, utc(2000, 2, 29, 9), utc(2028, 2, 1), utc(2028, 3, 1)),
    # A window before the start, and an empty one.
    ({"Type": "1"}, utc(2026, 5, 5, 9), utc(2026, 4, 1), utc(2026, 5, 13)),
    ({"Type": "1"}, utc(2026, 5, 5, 9), utc(2026, 6, 1), utc(2026, 6, 1)),
])
def test_a_window_is_the_walk_cut_to_it(rec, start, after, before):
    assert rr.occurrences(rec, start, tz=BERLIN, after=after, before=before) == walked(rec, start, BERLIN, after, before)
    assert rr.occurrences(rec, start, tz=BERLIN, after=after, before=before, limit=3) == walked(
        rec, start, BERLIN, after, before, limit=3)


def test_a_daily_series_that_never_meets_its_weekdays_has_no_occurrence():
    # Every 7 days from a Monday, on Tuesdays only: dateutil would walk to year 9999 to find none.
    rec = {"Type": "0", "Interval": "14", "DayOfWeek": "4"}
    assert rr.occurrences(rec, utc(2026, 1, 5, 9), after=utc(2026, 1, 1), before=utc(2027, 1, 1)) == []
    assert rr.occurrences({**rec, "Occurrences": "3"}, utc(2026, 1, 5, 9)) == []


def test_a_window_at_the_calendars_end():
    rec = {"Type": "0"}
    start = utc(9999, 12, 1, 9)
    found = rr.occurrences(rec, start, after=utc(9999, 12, 30), before=datetime.max.replace(tzinfo=UTC))
    assert found == [utc(9999, 12, 30, 9), utc(9999, 12, 31, 9)] == walked(rec, start, None, utc(9999, 12, 30), None)


# -- Generated series and windows -----------------------------------------------------------------

zones = st.one_of(st.none(), st.sampled_from(ZONES).map(ZoneInfo),
                  st.sampled_from(ZONES).map(lambda name: zone([["Calendar:Timezone", BLOBS[name]]])))


@st.composite
def windows(draw, start, series=()):
    """A window of up to 42 days anywhere in four years from the start, or around an occurrence
    of `series` (where a count or an Until runs out, when that is its last)."""
    if series and draw(st.booleans()):
        anchor = series[-1] if draw(st.booleans()) else draw(st.sampled_from(series))
        after = anchor - timedelta(minutes=draw(st.integers(-60 * 24 * 3, 60 * 24 * 30)))
    else:
        after = start + timedelta(minutes=draw(st.integers(-60 * 24 * 60, 60 * 24 * 365 * 4)))
    return after, after + timedelta(minutes=draw(st.integers(0, 60 * 24 * 42)))


@st.composite
def periodic(draw):
    """Daily and weekly series with the small intervals, counts and masks real ones have, where
    the arithmetic that jumps to a window has its corners (eas_recurrences ranges wider)."""
    rec = {"Type": draw(st.sampled_from(["0", "1"]))}
    for key, values in (("DayOfWeek", MASK), ("Interval", st.integers(1, 9).map(str)),
                        ("FirstDayOfWeek", st.integers(0, 6).map(str)), ("Occurrences", st.integers(1, 300).map(str))):
        if draw(st.booleans()):
            rec[key] = draw(values)
    if "Occurrences" not in rec and draw(st.booleans()):
        rec["Until"] = rr.instance_id(draw(st.datetimes(datetime(2015, 1, 1), datetime(2032, 1, 1))).replace(tzinfo=UTC))
    return rec


def short(rec):
    """No run of dateutil to year 9999: a daily series on weekdays its interval never reaches
    (the table above has one) is left out of the walk's comparisons."""
    step = int(rec.get("Interval", "1"))
    return not (rec["Type"] == "0" and "DayOfWeek" in rec and step % 7 == 0)


@settings(max_examples=300, deadline=None)
@given((periodic() | eas_recurrences()).filter(short), st.datetimes(datetime(2015, 1, 1), datetime(2030, 1, 1)), zones,
       st.data())
def test_expansion_of_a_window_equals_the_walk(rec, wall, tz, data):
    start = wall.replace(tzinfo=tz or UTC).astimezone(UTC)
    expansion = rr.Expansion(rec, start, tz)
    series = walked(rec, start, tz, None, None, limit=1000)
    for _ in range(3):  # the same compiled series asked for one window after another
        after, before = data.draw(windows(start, series))
        limit = data.draw(st.sampled_from([5000, 1, 4]))
        assert expansion.between(after, before, limit) == walked(rec, start, tz, after, before, limit)


@st.composite
def events(draw):
    rec = draw(periodic().filter(short) | eas_recurrences().filter(short) | st.none())
    wall = draw(st.datetimes(datetime(2018, 1, 1), datetime(2028, 1, 1))).replace(second=0, microsecond=0)
    name = draw(st.sampled_from([None, *ZONES]))
    tz = ZoneInfo(name) if name else UTC
    start = wall.replace(tzinfo=tz).astimezone(UTC)
    duration = timedelta(minutes=draw(st.integers(0, 60 * 24 * 3)))
    nodes = [["Calendar:StartTime", compact(start)], ["Calendar:EndTime", compact(start + duration)],
             ["Calendar:BusyStatus", str(draw(st.integers(0, 4)))]]
    if name:
        nodes.append(["Calendar:Timezone", BLOBS[name]])
    if rec is None:
        return nodes, start, []
    nodes.append(["Calendar:Recurrence", [[f"Calendar:{k}", v] for k, v in rec.items()]])
    series = walked(rec, start, zone(nodes), None, None, limit=1000)
    exceptions = []
    for _ in range(draw(st.integers(0, 4))):
        if series and draw(st.booleans()):
            original = draw(st.sampled_from(series))
        else:  # an occurrence the series does not have
            original = start + timedelta(hours=draw(st.integers(-50, 5000)))
        props = [[EXCEPTION_TIME, compact(original)]]
        kind = draw(st.sampled_from(["deleted", "moved", "start only", "busy"]))
        if kind == "deleted":
            props.append(["Calendar:Deleted", "1"])
        if kind in ("moved", "start only"):
            moved = original + timedelta(hours=draw(st.integers(-24 * 60, 24 * 60)))
            props.append(["Calendar:StartTime", compact(moved)])
            if kind == "moved":
                props.append(["Calendar:EndTime", compact(moved + timedelta(minutes=draw(st.integers(0, 600))))])
        if kind == "busy":
            props.append(["Calendar:BusyStatus", str(draw(st.integers(0, 4)))])
        exceptions.append(["Calendar:Exception", props])
    if exceptions:
        nodes.append(["Calendar:Exceptions", exceptions])
    return nodes, start, series


@settings(max_examples=300, deadline=None)
@given(events(), st.data())
def test_an_events_occurrences_in_windows_equal_the_walk(event, data):
    nodes, start, series = event
    compiled = Event(nodes)
    asked = [data.draw(windows(start, series)) for _ in range(3)]
    for after, before in asked + asked[:1]:  # the first window again, after others
        expected = walked_event(nodes, after, before)
        assert compiled.occurrences(after, before) == occurrences(nodes, after, before) == expected
        intervals = [(o.start, o.end, o.busy_status) for o in expected]
        assert compiled.busy_intervals(after, before) == busy_intervals(nodes, after, before) == intervals


def test_a_cancelled_meeting_is_free_in_every_window():
    nodes = [["Calendar:StartTime", "20260105T090000Z"], ["Calendar:EndTime", "20260105T100000Z"],
             ["Calendar:MeetingStatus", "5"], ["Calendar:Recurrence", [["Calendar:Type", "0"]]]]
    event = Event(nodes)
    assert len(event.occurrences(utc(2026, 1, 5), utc(2026, 1, 8))) == 3
    assert event.busy_intervals(utc(2026, 1, 5), utc(2026, 1, 8)) == []
    assert busy_intervals(nodes, utc(2026, 1, 5), utc(2026, 1, 8)) == []
