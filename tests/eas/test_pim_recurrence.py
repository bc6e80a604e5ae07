"""EAS Recurrence <-> RRULE and expansion: concrete series per Type, DST, bounds, inexpressible
rules, and the EAS -> RRULE -> EAS round trip over generated recurrences."""
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st
from icalendar.prop import vRecur

from easlab.eas.pim.recurrence import (
    from_rrule, instance_id, last_end, normalise, occurrences, parse_compact, to_rrule, to_rrule_text,
)

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


def days(series):
    return [d.date().isoformat() for d in series]


# -- Expansion per Type --------------------------------------------------------------------------

@pytest.mark.parametrize("rec, start, expected", [
    ({"Type": "0", "Interval": "3", "Occurrences": "4"}, utc(2026, 3, 1, 10),
     ["2026-03-01", "2026-03-04", "2026-03-07", "2026-03-10"]),
    # "Every weekday" as a daily series with DayOfWeek 62, from Friday 2 January 2026.
    ({"Type": "0", "DayOfWeek": "62", "Occurrences": "4"}, utc(2026, 1, 2, 9),
     ["2026-01-02", "2026-01-05", "2026-01-06", "2026-01-07"]),
    ({"Type": "1", "DayOfWeek": "10", "Interval": "2", "Occurrences": "6"}, utc(2026, 1, 5, 9),
     ["2026-01-05", "2026-01-07", "2026-01-19", "2026-01-21", "2026-02-02", "2026-02-04"]),
    # Weekly without DayOfWeek repeats on the start's weekday (Thursday).
    ({"Type": "1", "Occurrences": "3"}, utc(2026, 1, 1, 9), ["2026-01-01", "2026-01-08", "2026-01-15"]),
    # Day 31: months without one are skipped (RFC 5545), not moved to the 30th as Outlook would.
    ({"Type": "2", "DayOfMonth": "31", "Occurrences": "4"}, utc(2026, 1, 31, 9),
     ["2026-01-31", "2026-03-31", "2026-05-31", "2026-07-31"]),
    ({"Type": "2", "DayOfMonth": "31", "Interval": "2", "Occurrences": "3"}, utc(2026, 2, 1, 9),
     ["2026-08-31", "2026-10-31", "2026-12-31"]),
    ({"Type": "2", "DayOfMonth": "15", "Interval": "2", "Occurrences": "3"}, utc(2026, 1, 15, 9),
     ["2026-01-15", "2026-03-15", "2026-05-15"]),
    # 2nd Tuesday.
    ({"Type": "3", "DayOfWeek": "4", "WeekOfMonth": "2", "Occurrences": "4"}, utc(2026, 1, 13, 9),
     ["2026-01-13", "2026-02-10", "2026-03-10", "2026-04-14"]),
    # Last Friday.
    ({"Type": "3", "DayOfWeek": "32", "WeekOfMonth": "5", "Occurrences": "4"}, utc(2026, 1, 30, 9),
     ["2026-01-30", "2026-02-27", "2026-03-27", "2026-04-24"]),
    # Last day of the month: "day" (127) with WeekOfMonth 5.
    ({"Type": "3", "DayOfWeek": "127", "WeekOfMonth": "5", "Occurrences": "4"}, utc(2026, 1, 31, 9),
     ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"]),
    # Last weekday of the month (May 2026 ends on a Sunday).
    ({"Type": "3", "DayOfWeek": "62", "WeekOfMonth": "5", "Occurrences": "5"}, utc(2026, 1, 30, 9),
     ["2026-01-30", "2026-02-27", "2026-03-31", "2026-04-30", "2026-05-29"]),
    ({"Type": "5", "MonthOfYear": "3", "DayOfMonth": "10", "Occurrences": "3"}, utc(2026, 3, 10, 9),
     ["2026-03-10", "2027-03-10", "2028-03-10"]),
    # 29 February only in leap years.
    ({"Type": "5", "MonthOfYear": "2", "DayOfMonth": "29", "Occurrences": "3"}, utc(2024, 2, 29, 9),
     ["2024-02-29", "2028-02-29", "2032-02-29"]),
    # 4th Thursday of November.
    ({"Type": "6", "MonthOfYear": "11", "DayOfWeek": "16", "WeekOfMonth": "4", "Occurrences": "3"},
     utc(2026, 11, 26, 17), ["2026-11-26", "2027-11-25", "2028-11-23"]),
    # Last day of February.
    ({"Type": "6", "MonthOfYear": "2", "DayOfWeek": "127", "WeekOfMonth": "5", "Occurrences": "3"},
     utc(2027, 2, 28, 9), ["2027-02-28", "2028-02-29", "2029-02-28"]),
])
def test_expansion(rec, start, expected):
    found = occurrences(rec, start)
    assert days(found) == expected
    assert all(d.tzinfo is not None and d.utcoffset() == timedelta(0) and d.time() == start.time() for d in found)


def test_first_day_of_week_decides_which_weeks_an_interval_skips():
    # Every other week on Sunday and Monday, from Monday 5 January 2026.
    rec = {"Type": "1", "DayOfWeek": "3", "Interval": "2", "Occurrences": "4"}
    monday_weeks = occurrences({**rec, "FirstDayOfWeek": "1"}, utc(2026, 1, 5, 9))
    sunday_weeks = occurrences({**rec, "FirstDayOfWeek": "0"}, utc(2026, 1, 5, 9))
    assert days(monday_weeks) == ["2026-01-05", "2026-01-11", "2026-01-19", "2026-01-25"]
    assert days(sunday_weeks) == ["2026-01-05", "2026-01-18", "2026-01-19", "2026-02-01"]


# -- Bounds ----------------------------------------------------------------------------------------

WEEKLY_MONDAY = {"Type": "1", "DayOfWeek": "2"}


@pytest.mark.parametrize("until, last", [
    ("20260119T090000Z", "2026-01-19"),  # an occurrence starting at Until is in
    ("20260119T085959Z", "2026-01-12"),
    ("2026-01-19T09:00:00.000Z", "2026-01-19"),  # MeetingRequest's dateTime form
])
def test_until_is_inclusive(until, last):
    found = occurrences({**WEEKLY_MONDAY, "Until": until}, utc(2026, 1, 5, 9))
    assert days(found)[0] == "2026-01-05" and days(found)[-1] == last


def test_occurrences_count_and_limit_and_window():
    rec = {"Type": "0", "Occurrences": "10"}
    assert len(occurrences(rec, utc(2026, 1, 1, 9))) == 10
    assert len(occurrences(rec, utc(2026, 1, 1, 9), limit=3)) == 3
    assert occurrences(rec, utc(2026, 1, 1, 9), limit=0) == []
    # [after, before): after is inclusive, before is not; COUNT still counts from the start.
    window = occurrences(rec, utc(2026, 1, 1, 9), after=utc(2026, 1, 8, 9), before=utc(2026, 1, 10, 9))
    assert window == [utc(2026, 1, 8, 9), utc(2026, 1, 9, 9)]
    assert days(occurrences(rec, utc(2026, 1, 1, 9), after=utc(2026, 1, 9))) == ["2026-01-09", "2026-01-10"]
    # A never-ending series stops at the limit.
    assert len(occurrences({"Type": "0"}, utc(2026, 1, 1, 9))) == 5000


def test_dst_keeps_local_time_in_the_organisers_zone():
    start = utc(2026, 3, 16, 8)  # Monday 09:00 CET
    spring = occurrences(WEEKLY_MONDAY, start, tz=BERLIN, limit=3)
    assert spring == [utc(2026, 3, 16, 8), utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)]  # CEST from 29 March
    autumn = occurrences(WEEKLY_MONDAY, start, tz=BERLIN, after=utc(2026, 10, 12), before=utc(2026, 11, 2, 8))
    assert autumn == [utc(2026, 10, 12, 7), utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)]  # CET from 25 October
    assert {d.astimezone(BERLIN).hour for d in spring + autumn} == {9}
    # Without a zone the series repeats in UTC.
    assert occurrences(WEEKLY_MONDAY, start, limit=3)[2] == utc(2026, 3, 30, 8)


def test_until_compares_as_an_instant_not_a_wall_time():
    start = utc(2026, 3, 16, 8)
    inside = occurrences({**WEEKLY_MONDAY, "Until": "20260330T070000Z"}, start, tz=BERLIN)
    outside = occurrences({**WEEKLY_MONDAY, "Until": "20260330T065959Z"}, start, tz=BERLIN)
    assert inside[-1] == utc(2026, 3, 30, 7) and outside[-1] == utc(2026, 3, 23, 8)


def test_last_end():
    hour = timedelta(hours=1)
    assert last_end({"Type": "0", "Occurrences": "3"}, utc(2026, 1, 1, 9), timedelta(minutes=90)) == utc(2026, 1, 3, 10, 30)
    assert last_end({**WEEKLY_MONDAY, "Until": "20260120T000000Z"}, utc(2026, 1, 5, 9), hour) == utc(2026, 1, 19, 10)
    assert last_end(WEEKLY_MONDAY, utc(2026, 1, 5, 9), hour) is None
    # Bounded but empty (Until before the first occurrence): the start's own slot.
    assert last_end({**WEEKLY_MONDAY, "Until": "20260101T000000Z"}, utc(2026, 1, 5, 9), hour) == utc(2026, 1, 5, 10)
    assert last_end({**WEEKLY_MONDAY, "Occurrences": "2"}, utc(2026, 10, 19, 7), hour, tz=BERLIN) == utc(2026, 10, 26, 9)


def test_expansion_rejects_naive_start_and_non_gregorian():
    with pytest.raises(ValueError):
        occurrences(WEEKLY_MONDAY, datetime(2026, 1, 5, 9))
    with pytest.raises(ValueError):
        occurrences({**WEEKLY_MONDAY, "CalendarType": "15"}, utc(2026, 1, 5, 9))


# -- RRULE text and dict ---------------------------------------------------------------------------

@pytest.mark.parametrize("rec, text", [
    ({"Type": "0", "Interval": "3", "Occurrences": "4"}, "FREQ=DAILY;INTERVAL=3;COUNT=4"),
    ({"Type": "0", "DayOfWeek": "62"}, "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"),
    ({"Type": "1", "DayOfWeek": "10", "Until": "20261231T235959Z"}, "FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20261231T235959Z"),
    ({"Type": "1", "DayOfWeek": "65", "Interval": "2", "FirstDayOfWeek": "1"}, "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU,SA;WKST=MO"),
    ({"Type": "1", "Interval": "1"}, "FREQ=WEEKLY"),
    ({"Type": "2", "DayOfMonth": "31"}, "FREQ=MONTHLY;BYMONTHDAY=31"),
    ({"Type": "3", "DayOfWeek": "4", "WeekOfMonth": "2"}, "FREQ=MONTHLY;BYDAY=2TU"),
    ({"Type": "3", "DayOfWeek": "32", "WeekOfMonth": "5"}, "FREQ=MONTHLY;BYDAY=-1FR"),
    ({"Type": "3", "DayOfWeek": "127", "WeekOfMonth": "5"}, "FREQ=MONTHLY;BYDAY=SU,MO,TU,WE,TH,FR,SA;BYSETPOS=-1"),
    ({"Type": "5", "MonthOfYear": "3", "DayOfMonth": "10", "Occurrences": "5"}, "FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10;COUNT=5"),
    ({"Type": "6", "MonthOfYear": "11", "DayOfWeek": "16", "WeekOfMonth": "4"}, "FREQ=YEARLY;BYMONTH=11;BYDAY=4TH"),
    ({"Type": "6", "MonthOfYear": "2", "DayOfWeek": "62", "WeekOfMonth": "5"},
     "FREQ=YEARLY;BYMONTH=2;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1"),
])
def test_to_rrule_text(rec, text):
    assert to_rrule_text(rec) == text


def test_to_rrule_dict_feeds_vrecur():
    rule = to_rrule({"Type": "1", "DayOfWeek": "10", "Interval": "2", "Until": "2026-12-31T23:59:59.000Z"})
    assert rule == {"FREQ": "WEEKLY", "INTERVAL": 2, "BYDAY": ["MO", "WE"], "UNTIL": utc(2026, 12, 31, 23, 59, 59)}
    assert vRecur(rule).to_ical() == b"FREQ=WEEKLY;UNTIL=20261231T235959Z;INTERVAL=2;BYDAY=MO,WE"


# -- RRULE -> EAS --------------------------------------------------------------------------------

@pytest.mark.parametrize("rule", [
    "FREQ=HOURLY;INTERVAL=2",
    "FREQ=DAILY;BYHOUR=9,17",
    "FREQ=YEARLY;BYWEEKNO=20",
    "FREQ=YEARLY;BYYEARDAY=100",
    "FREQ=MONTHLY;BYMONTHDAY=1,15",  # several month days
    "FREQ=MONTHLY;BYMONTHDAY=-2",
    "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=5",
    "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-2",
    "FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=1,2",
    "FREQ=MONTHLY;BYDAY=1MO,3WE",  # mixed ordinals
    "FREQ=MONTHLY;BYDAY=1MO,1WE",  # two occurrences a month, not "first of Mon/Wed"
    "FREQ=MONTHLY;BYDAY=1MO;BYSETPOS=1",
    "FREQ=MONTHLY;BYDAY=5MO",  # 5th Monday only exists in some months; EAS 5 means last
    "FREQ=MONTHLY;BYDAY=MO",  # every Monday of the month
    "FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR",
    "FREQ=MONTHLY;BYMONTH=3",
    "FREQ=WEEKLY;BYDAY=1MO",
    "FREQ=DAILY;BYMONTHDAY=1",
    "FREQ=YEARLY;BYDAY=20MO",
    "FREQ=YEARLY;BYMONTHDAY=5",
    "FREQ=YEARLY;BYMONTH=1,7",
    "FREQ=YEARLY;BYMONTH=5L",
    "RSCALE=CHINESE;FREQ=YEARLY",
    "FREQ=DAILY;INTERVAL=0",
    "FREQ=DAILY;COUNT=x",
    "BYDAY=MO",
    "garbage",
])
def test_from_rrule_inexpressible(rule):
    assert from_rrule(rule) is None


@pytest.mark.parametrize("rule, rec", [
    ("RRULE:FREQ=WEEKLY;INTERVAL=1;BYDAY=WE,MO;WKST=SU;UNTIL=20261231T235959Z",
     {"Type": "1", "DayOfWeek": "10", "FirstDayOfWeek": "0", "Until": "20261231T235959Z"}),
    ("FREQ=DAILY;COUNT=10", {"Type": "0", "Occurrences": "10"}),
    ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", {"Type": "0", "DayOfWeek": "62"}),
    ("FREQ=MONTHLY;BYDAY=+2TU", {"Type": "3", "DayOfWeek": "4", "WeekOfMonth": "2"}),
    ("FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2", {"Type": "3", "DayOfWeek": "4", "WeekOfMonth": "2"}),
    ("FREQ=MONTHLY;BYDAY=-1FR", {"Type": "3", "DayOfWeek": "32", "WeekOfMonth": "5"}),
    ("FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", {"Type": "3", "DayOfWeek": "62", "WeekOfMonth": "5"}),
    ("FREQ=MONTHLY;BYMONTHDAY=-1", {"Type": "3", "DayOfWeek": "127", "WeekOfMonth": "5"}),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1", {"Type": "6", "MonthOfYear": "2", "DayOfWeek": "127", "WeekOfMonth": "5"}),
    ("FREQ=YEARLY;BYMONTH=11;BYDAY=4TH", {"Type": "6", "MonthOfYear": "11", "DayOfWeek": "16", "WeekOfMonth": "4"}),
    ("FREQ=YEARLY;INTERVAL=2;BYMONTH=3;BYMONTHDAY=10", {"Type": "5", "Interval": "2", "MonthOfYear": "3", "DayOfMonth": "10"}),
    ("FREQ=WEEKLY", {"Type": "1"}),
    ("FREQ=MONTHLY", {"Type": "2"}),
    ("FREQ=YEARLY", {"Type": "5"}),
])
def test_from_rrule(rule, rec):
    assert from_rrule(rule) == rec


def test_from_rrule_accepts_vrecur_and_dicts():
    assert from_rrule(vRecur.from_ical("FREQ=MONTHLY;BYDAY=-1FR;COUNT=3")) == {
        "Type": "3", "DayOfWeek": "32", "WeekOfMonth": "5", "Occurrences": "3"}
    assert from_rrule({"freq": ["monthly"], "byday": ["2tu"]}) == {"Type": "3", "DayOfWeek": "4", "WeekOfMonth": "2"}
    assert from_rrule({"FREQ": "WEEKLY", "BYDAY": ["SA"], "UNTIL": "20261231T235959Z"}) == {
        "Type": "1", "DayOfWeek": "64", "Until": "20261231T235959Z"}


def test_from_rrule_until_forms():
    # A DATE UNTIL covers that whole day in the zone; a floating one is a wall time in the zone.
    assert from_rrule("FREQ=DAILY;UNTIL=20261231", tz=BERLIN)["Until"] == "20261231T225959Z"
    assert from_rrule("FREQ=DAILY;UNTIL=20261231")["Until"] == "20261231T235959Z"
    assert from_rrule("FREQ=DAILY;UNTIL=20261231T100000", tz=BERLIN)["Until"] == "20261231T090000Z"
    assert from_rrule("FREQ=DAILY;UNTIL=20260630T100000Z", tz=BERLIN)["Until"] == "20260630T100000Z"


def test_from_rrule_fills_in_what_the_rule_leaves_to_dtstart():
    # 23:30 UTC on Monday is Tuesday 00:30 in Berlin: the weekday is the organiser's.
    assert from_rrule("FREQ=WEEKLY", start=utc(2026, 1, 5, 23, 30), tz=BERLIN) == {"Type": "1", "DayOfWeek": "4"}
    assert from_rrule("FREQ=WEEKLY", start=utc(2026, 1, 5, 23, 30)) == {"Type": "1", "DayOfWeek": "2"}
    assert from_rrule("FREQ=MONTHLY", start=date(2026, 1, 31)) == {"Type": "2", "DayOfMonth": "31"}
    assert from_rrule("FREQ=YEARLY", start=date(2026, 11, 26)) == {"Type": "5", "MonthOfYear": "11", "DayOfMonth": "26"}
    assert from_rrule("FREQ=YEARLY;BYMONTH=6", start=date(2026, 11, 26)) == {"Type": "5", "MonthOfYear": "6", "DayOfMonth": "26"}


# -- normalise ---------------------------------------------------------------------------------------

def test_normalise():
    assert normalise({"Type": "1", "Interval": "1", "DayOfWeek": "010", "DayOfMonth": "5", "CalendarType": "1",
                      "IsLeapMonth": "0", "Until": "2026-12-31T23:59:59.500Z", "Regenerate": "0"}) == {
        "Type": "1", "DayOfWeek": "10", "Until": "20261231T235959Z"}
    assert normalise({"Type": "0", "Occurrences": "5", "Until": "20261231T235959Z"}) == {"Type": "0", "Occurrences": "5"}
    assert normalise({"Type": "2", "Interval": "2", "DayOfMonth": "", "Until": " "}) == {"Type": "2", "Interval": "2"}


@pytest.mark.parametrize("rec", [
    {}, {"Type": "4"}, {"Type": "7"}, {"Type": "x"},
    {"Type": "1", "CalendarType": "15"},  # Chinese lunar
    {"Type": "5", "MonthOfYear": "5", "DayOfMonth": "1", "IsLeapMonth": "1"},
    {"Type": "3", "DayOfWeek": "4"},  # no WeekOfMonth
    {"Type": "6", "DayOfWeek": "4", "WeekOfMonth": "2"},  # no MonthOfYear
    {"Type": "5", "DayOfMonth": "10"},
    {"Type": "1", "DayOfWeek": "0"}, {"Type": "1", "DayOfWeek": "128"},
    {"Type": "3", "DayOfWeek": "4", "WeekOfMonth": "6"},
    {"Type": "2", "DayOfMonth": "32"}, {"Type": "0", "Interval": "0"}, {"Type": "0", "Occurrences": "0"},
    {"Type": "0", "Interval": "-1"}, {"Type": "0", "Until": "2026-12-31"},
])
def test_invalid_recurrences_raise(rec):
    with pytest.raises(ValueError):
        normalise(rec)
    with pytest.raises(ValueError):
        to_rrule(rec)


# -- Compact DateTime ---------------------------------------------------------------------------------

def test_compact_datetime():
    assert instance_id(datetime(2026, 3, 30, 9, 0, 0, 999, tzinfo=BERLIN)) == "20260330T070000Z"
    assert parse_compact("20260330T070000Z") == utc(2026, 3, 30, 7)
    assert parse_compact("2026-03-30T07:00:00.250Z") == utc(2026, 3, 30, 7, 0, 0, 250000)
    assert parse_compact("2026-03-30T07:00:00Z") == utc(2026, 3, 30, 7)
    for bad in ("20260330T070000", "2026-03-30", "20261330T070000Z", "2026-03-30 07:00:00Z", ""):
        with pytest.raises(ValueError):
            parse_compact(bad)
    with pytest.raises(ValueError):
        instance_id(datetime(2026, 3, 30, 7))


# -- Round trip ----------------------------------------------------------------------------------------

MASK = st.integers(1, 127).map(str)


@st.composite
def eas_recurrences(draw):
    kind = draw(st.sampled_from([0, 1, 2, 3, 5, 6]))
    rec = {"Type": str(kind)}

    def maybe(key, values):
        if draw(st.booleans()):
            rec[key] = draw(values)

    if kind in (0, 1):
        maybe("DayOfWeek", MASK)
    elif kind == 2:
        maybe("DayOfMonth", st.integers(1, 31).map(str))
    elif kind == 5 and draw(st.booleans()):
        rec["MonthOfYear"] = str(draw(st.integers(1, 12)))
        maybe("DayOfMonth", st.integers(1, 31).map(str))
    elif kind in (3, 6):
        rec.update(DayOfWeek=draw(MASK), WeekOfMonth=str(draw(st.integers(1, 5))))
        if kind == 6:
            rec["MonthOfYear"] = str(draw(st.integers(1, 12)))
    maybe("Interval", st.integers(1, 999).map(str))
    maybe("FirstDayOfWeek", st.integers(0, 6).map(str))
    maybe("CalendarType", st.sampled_from(["0", "1", "2"]))
    maybe("IsLeapMonth", st.just("0"))
    maybe("Occurrences", st.integers(1, 999).map(str))
    if draw(st.booleans()):
        until = draw(st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1))).replace(tzinfo=UTC)
        rec["Until"] = draw(st.sampled_from([
            instance_id(until), until.strftime("%Y-%m-%dT%H:%M:%S.") + f"{until.microsecond // 1000:03d}Z"]))
    return rec


@settings(max_examples=400)
@given(eas_recurrences())
def test_round_trip(rec):
    canonical = normalise(rec)
    assert normalise(canonical) == canonical
    assert from_rrule(to_rrule(rec)) == canonical
    assert from_rrule(to_rrule_text(rec)) == canonical
    assert from_rrule("RRULE:" + vRecur(to_rrule(rec)).to_ical().decode()) == canonical


@settings(max_examples=100, deadline=None)
@given(eas_recurrences(), st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)))
def test_expansion_stays_at_the_local_time_and_in_order(rec, wall):
    start = wall.replace(hour=9, minute=0, second=0, microsecond=0, tzinfo=BERLIN).astimezone(UTC)
    found = occurrences(rec, start, tz=BERLIN, limit=30)
    assert found == sorted(set(found)) and len(found) <= 30
    assert all(d.astimezone(BERLIN).time().isoformat() == "09:00:00" for d in found)
    if "Occurrences" in rec:
        assert len(found) <= int(rec["Occurrences"])
    if "Until" in normalise(rec):
        assert all(d <= parse_compact(normalise(rec)["Until"]) for d in found)


@settings(max_examples=150, deadline=None)
@given(eas_recurrences(), st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)), st.integers(0, 3000),
       st.integers(1, 400))
def test_a_window_gives_the_same_occurrences_as_filtering_the_whole_series(rec, wall, skip, span):
    """`after` lets expansion skip early occurrences unconverted; the answer must not change."""
    start = wall.replace(second=0, microsecond=0, tzinfo=BERLIN).astimezone(UTC)
    after = start + timedelta(days=skip, hours=skip % 24)
    before = after + timedelta(days=span)
    whole = occurrences(rec, start, tz=BERLIN, before=before, limit=100000)
    assert occurrences(rec, start, tz=BERLIN, after=after, before=before, limit=100000) == [d for d in whole if d >= after]
