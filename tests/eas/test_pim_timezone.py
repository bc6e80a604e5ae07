from __future__ import annotations

import base64
import dataclasses
import pickle
import struct
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from easlab.eas.pim.timezone import (
    UTC_BLOB,
    BlobTimeZone,
    SystemTime,
    TimeZoneBlob,
    from_tzinfo,
    from_vtimezone,
    from_zone_name,
    to_vtimezone,
)

UTC = timezone.utc
ZONES = ["America/Los_Angeles", "Europe/Berlin", "Australia/Sydney", "Asia/Tokyo"]

PACIFIC = TimeZoneBlob(480, "Pacific Standard Time", SystemTime(0, 11, 0, 1, 2, 0, 0, 0), 0,
                       "Pacific Daylight Time", SystemTime(0, 3, 0, 2, 2, 0, 0, 0), -60)


def _name(text: str) -> bytes:
    return text.encode("utf-16-le").ljust(64, b"\0")


def test_layout_is_the_ms_asdtype_one():
    data = PACIFIC.to_bytes()
    assert len(data) == 172
    assert data[:4] == struct.pack("<i", 480)
    assert data[4:68] == _name("Pacific Standard Time")
    assert data[68:84] == struct.pack("<8H", 0, 11, 0, 1, 2, 0, 0, 0)
    assert data[84:88] == b"\0\0\0\0"
    assert data[88:152] == _name("Pacific Daylight Time")
    assert data[152:168] == struct.pack("<8H", 0, 3, 0, 2, 2, 0, 0, 0)
    assert data[168:] == struct.pack("<i", -60)
    assert TimeZoneBlob.from_bytes(data) == PACIFIC
    assert TimeZoneBlob.from_base64(PACIFIC.to_base64()) == PACIFIC


def test_utc_blob_is_all_zeros():
    assert UTC_BLOB.to_bytes() == bytes(172)
    assert TimeZoneBlob.from_bytes(bytes(172)) == UTC_BLOB
    assert not UTC_BLOB.has_dst
    assert UTC_BLOB.utc_offset(datetime(2026, 7, 1)) == timedelta(0)


def test_garbage_after_the_name_survives_a_round_trip():
    raw = bytearray(PACIFIC.to_bytes())
    raw[4 + 44:68] = b"\xab" * 20  # after "Pacific Standard Time\0"
    raw[88 + 44:152] = b"\x00\xd8" * 10  # lone surrogates, past the terminator
    blob = TimeZoneBlob.from_bytes(bytes(raw))
    assert blob.standard_name == "Pacific Standard Time"
    assert blob.to_bytes() == bytes(raw)
    renamed = dataclasses.replace(blob, standard_name="PST")
    assert renamed.to_bytes()[4:68] == _name("PST")
    assert renamed.to_bytes()[88:152] == bytes(raw[88:152])


def test_long_names_are_cut_to_31_units_keeping_a_terminator():
    blob = dataclasses.replace(UTC_BLOB, standard_name="x" * 40, daylight_name="\U0001f600" * 20)
    data = blob.to_bytes()
    assert data[4:68] == ("x" * 31).encode("utf-16-le") + b"\0\0"
    back = TimeZoneBlob.from_bytes(data)
    assert back.standard_name == "x" * 31
    assert back.daylight_name == "\U0001f600" * 15  # never half a surrogate pair


@given(st.binary(min_size=172, max_size=172))
def test_any_172_bytes_round_trip(data):
    blob = TimeZoneBlob.from_bytes(data)
    assert blob.to_bytes() == data
    assert TimeZoneBlob.from_base64(blob.to_base64()).to_bytes() == data


_names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\0"), max_size=31)
_u16 = st.integers(0, 0xFFFF)
_i32 = st.integers(-(2**31), 2**31 - 1)
_systimes = st.builds(SystemTime, *([_u16] * 8))


@given(st.builds(TimeZoneBlob, _i32, _names.filter(lambda s: len(s.encode("utf-16-le")) <= 62),
                 _systimes, _i32, _names.filter(lambda s: len(s.encode("utf-16-le")) <= 62),
                 _systimes, _i32))
def test_built_blobs_round_trip(blob):
    assert TimeZoneBlob.from_bytes(blob.to_bytes()) == blob


@pytest.mark.parametrize("text", ["not base64!", "4AEAAA=", "AAAA", bytes(171).hex(),
                                  base64.b64encode(bytes(173)).decode(), "é" * 4])
def test_bad_base64_or_length(text):
    with pytest.raises(ValueError):
        TimeZoneBlob.from_base64(text)


@pytest.mark.parametrize("size", [0, 171, 173])
def test_wrong_length(size):
    with pytest.raises(ValueError):
        TimeZoneBlob.from_bytes(bytes(size))


def test_base64_tolerates_line_breaks():
    text = PACIFIC.to_base64()
    assert TimeZoneBlob.from_base64(text[:40] + "\r\n" + text[40:]) == PACIFIC


@pytest.mark.parametrize("zone, bias, std, dst, daylight_bias", [
    ("America/Los_Angeles", 480, SystemTime(0, 11, 0, 1, 2, 0, 0, 0), SystemTime(0, 3, 0, 2, 2, 0, 0, 0), -60),
    ("Europe/Berlin", -60, SystemTime(0, 10, 0, 5, 3, 0, 0, 0), SystemTime(0, 3, 0, 5, 2, 0, 0, 0), -60),
    ("Australia/Sydney", -600, SystemTime(0, 4, 0, 1, 3, 0, 0, 0), SystemTime(0, 10, 0, 1, 2, 0, 0, 0), -60),
    ("Asia/Tokyo", -540, SystemTime(), SystemTime(), 0),
])
def test_known_blobs(zone, bias, std, dst, daylight_bias):
    blob = from_zone_name(zone, 2026)
    assert (blob.bias, blob.standard_date, blob.standard_bias, blob.daylight_date, blob.daylight_bias) == (
        bias, std, 0, dst, daylight_bias)
    assert blob.has_dst == (zone != "Asia/Tokyo")


def test_names():
    assert from_zone_name("America/Los_Angeles", 2026).standard_name == "PST"
    assert from_zone_name("America/Los_Angeles", 2026).daylight_name == "PDT"
    named = from_tzinfo(ZoneInfo("Europe/Berlin"), 2026, "W. Europe Standard Time and some more text")
    assert named.standard_name == named.daylight_name == "W. Europe Standard Time and som"
    assert from_tzinfo(UTC, 2026) == dataclasses.replace(UTC_BLOB, standard_name="UTC", daylight_name="UTC")


def test_pacific_blob_equals_derived_one_apart_from_names():
    derived = from_zone_name("America/Los_Angeles", 2026)
    assert dataclasses.replace(derived, standard_name=PACIFIC.standard_name,
                               daylight_name=PACIFIC.daylight_name) == PACIFIC


def _hours(year_from: int, year_to: int):
    at, end = datetime(year_from, 1, 1), datetime(year_to + 1, 1, 1)
    while at < end:
        yield at
        at += timedelta(hours=1)


@pytest.mark.parametrize("zone", ZONES)
def test_blob_timezone_agrees_with_zoneinfo_2025_to_2027(zone):
    real = ZoneInfo(zone)
    ours = BlobTimeZone(from_zone_name(zone, 2026))
    for hour in _hours(2025, 2027):
        instant = hour.replace(tzinfo=UTC)
        mine, theirs = instant.astimezone(ours), instant.astimezone(real)
        assert (mine.replace(tzinfo=None), mine.fold, mine.utcoffset(), mine.dst(), mine.tzname()) == (
            theirs.replace(tzinfo=None), theirs.fold, theirs.utcoffset(), theirs.dst(), theirs.tzname()), instant
        for fold in (0, 1):  # wall-clock hours, including repeated and skipped ones
            local = hour.replace(fold=fold)
            assert local.replace(tzinfo=ours).utcoffset() == local.replace(tzinfo=real).utcoffset(), local
        if hour.replace(tzinfo=real).utcoffset() == hour.replace(tzinfo=real, fold=1).utcoffset():
            assert hour.replace(tzinfo=ours).astimezone(UTC) == hour.replace(tzinfo=real).astimezone(UTC)


def test_transitions_in_other_years_follow_the_rule():
    sydney = BlobTimeZone(from_zone_name("Australia/Sydney", 2026))
    assert datetime(2040, 1, 1, tzinfo=sydney).utcoffset() == timedelta(hours=11)
    assert datetime(2040, 4, 1, 2, 59, tzinfo=sydney).utcoffset() == timedelta(hours=11)
    assert datetime(2040, 4, 1, 2, 30, fold=1, tzinfo=sydney).utcoffset() == timedelta(hours=10)
    assert datetime(2040, 10, 7, 2, 30, tzinfo=sydney).utcoffset() == timedelta(hours=10)  # gap, fold 0
    assert datetime(2040, 10, 7, 2, 30, fold=1, tzinfo=sydney).utcoffset() == timedelta(hours=11)
    assert datetime(1990, 12, 31, 23, tzinfo=sydney).dst() == timedelta(hours=1)


def test_change_right_after_new_year_in_a_far_east_zone():
    # UTC+14 with daylight time from the 1st Sunday of January 00:00: on 2023-01-01 (a Sunday) the
    # change is at 2022-12-31 10:00 UTC, so a UTC instant in 2022 needs 2023's rule.
    blob = TimeZoneBlob(-840, "S", SystemTime(0, 7, 0, 1, 0, 0, 0, 0), 0, "D", SystemTime(0, 1, 0, 1, 0, 0, 0, 0), -60)
    tz = BlobTimeZone(blob)
    assert datetime(2022, 12, 31, 9, 59, tzinfo=UTC).astimezone(tz).utcoffset() == timedelta(hours=14)
    local = datetime(2022, 12, 31, 10, tzinfo=UTC).astimezone(tz)
    assert (local.replace(tzinfo=None), local.utcoffset(), local.tzname()) == (
        datetime(2023, 1, 1, 1), timedelta(hours=15), "D")
    assert datetime(2023, 1, 1, 1, tzinfo=tz).astimezone(UTC) == datetime(2022, 12, 31, 10, tzinfo=UTC)


def test_absolute_date_is_read_as_its_yearly_rule():
    # 2026-03-08 is the 2nd Sunday of March; 2026-11-29 the last Sunday of November.
    blob = dataclasses.replace(PACIFIC, daylight_date=SystemTime(2026, 3, 0, 8, 2, 0, 0, 0),
                               standard_date=SystemTime(2026, 11, 0, 29, 2, 0, 0, 0))
    tz = BlobTimeZone(blob)
    assert datetime(2026, 3, 8, 3, tzinfo=tz).utcoffset() == timedelta(hours=-7)
    assert datetime(2027, 3, 14, 3, tzinfo=tz).utcoffset() == timedelta(hours=-7)  # 2nd Sunday
    assert datetime(2027, 3, 13, 3, tzinfo=tz).utcoffset() == timedelta(hours=-8)
    assert datetime(2027, 11, 28, 1, tzinfo=tz).utcoffset() == timedelta(hours=-7)  # last Sunday
    assert datetime(2027, 11, 28, 3, tzinfo=tz).utcoffset() == timedelta(hours=-8)


def test_invalid_rules_are_rejected():
    half = dataclasses.replace(PACIFIC, daylight_date=SystemTime())  # no month: nothing to follow
    assert not half.has_dst
    assert BlobTimeZone(half).utcoffset(datetime(2026, 7, 1)) == timedelta(hours=-8)
    with pytest.raises(ValueError):
        BlobTimeZone(dataclasses.replace(PACIFIC, daylight_date=SystemTime(0, 13, 0, 2, 2, 0, 0, 0)))
    with pytest.raises(ValueError):
        BlobTimeZone(dataclasses.replace(PACIFIC, daylight_date=SystemTime(0, 3, 7, 2, 2, 0, 0, 0)))
    with pytest.raises(ValueError):
        BlobTimeZone(dataclasses.replace(PACIFIC, standard_date=SystemTime(2026, 2, 0, 30, 2, 0, 0, 0)))


def test_utc_offset_and_pickling():
    assert PACIFIC.utc_offset(datetime(2026, 7, 1, 12)) == timedelta(hours=-7)
    assert PACIFIC.utc_offset(datetime(2026, 11, 1, 1, 30, fold=1)) == timedelta(hours=-8)
    assert PACIFIC.utc_offset(datetime(2026, 11, 1, 9, 30, tzinfo=UTC)) == timedelta(hours=-8)
    tz = pickle.loads(pickle.dumps(PACIFIC.to_tzinfo()))
    assert isinstance(tz, BlobTimeZone) and tz.blob == PACIFIC
    assert BlobTimeZone(from_zone_name("Asia/Tokyo", 2026)).utcoffset(None) == timedelta(hours=9)


RRULES = {
    "America/Los_Angeles": ["RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=11", "RRULE:FREQ=YEARLY;BYDAY=2SU;BYMONTH=3"],
    "Europe/Berlin": ["RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10", "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3"],
    "Australia/Sydney": ["RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=4", "RRULE:FREQ=YEARLY;BYDAY=1SU;BYMONTH=10"],
    "Asia/Tokyo": [],
}


@pytest.mark.parametrize("zone", ZONES)
def test_vtimezone_round_trip(zone):
    blob = from_zone_name(zone, 2026)
    # Parse the text back, as a received iTIP message would be, under a TZID icalendar could look up.
    text = to_vtimezone(blob, zone).to_ical().decode()
    assert [line for line in text.splitlines() if line.startswith("RRULE")] == RRULES[zone]
    component = icalendar.Timezone.from_ical(text)
    assert len(component.standard) == 1 and len(component.daylight) == (1 if blob.has_dst else 0)
    for year in (2025, 2026, 2027):
        assert from_vtimezone(component, year) == from_zone_name(zone, year)
    renamed = to_vtimezone(dataclasses.replace(blob, standard_name="", daylight_name=""), "x")
    assert dataclasses.replace(from_vtimezone(renamed, 2026), standard_name="", daylight_name="") == (
        dataclasses.replace(blob, standard_name="", daylight_name=""))


def test_vtimezone_text():
    text = to_vtimezone(from_zone_name("Europe/Berlin", 2026), "W. Europe Standard Time").to_ical().decode()
    assert "BEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n" in text
    assert "TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n" in text
    assert "BEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\n" in text
    assert "TZNAME:CEST\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n" in text
    tokyo = to_vtimezone(dataclasses.replace(from_zone_name("Asia/Tokyo", 2026), standard_name=""), "T")
    assert tokyo.to_ical().decode().splitlines() == [
        "BEGIN:VTIMEZONE", "TZID:T", "BEGIN:STANDARD", "DTSTART:19700101T000000", "TZNAME:UTC+09:00",
        "TZOFFSETFROM:+0900", "TZOFFSETTO:+0900", "END:STANDARD", "END:VTIMEZONE"]


def test_from_vtimezone_uses_the_components_rules_not_its_tzid():
    # An Outlook-style definition (1601 onsets) that disagrees with the IANA zone its TZID names;
    # an IANA TZID, as icalendar caches parsed definitions of unknown TZIDs process-wide.
    text = to_vtimezone(PACIFIC, "America/Los_Angeles").to_ical().decode()
    text = text.replace("19701101T020000", "16011104T020000").replace("BYDAY=2SU;BYMONTH=3", "BYDAY=1SU;BYMONTH=4")
    text = text.replace("19700308T020000", "16010401T020000")
    blob = from_vtimezone(icalendar.Timezone.from_ical(text), 2026)
    assert blob.daylight_date == SystemTime(0, 4, 0, 1, 2, 0, 0, 0)
    assert blob.standard_date == PACIFIC.standard_date


def test_custom_offsets_and_southern_rule_via_vtimezone():
    # Half-hour daylight saving (Lord Howe style) in a made-up southern zone.
    blob = TimeZoneBlob(-630, "LHST", SystemTime(0, 4, 0, 1, 2, 0, 0, 0), 0,
                        "LHDT", SystemTime(0, 10, 0, 1, 2, 0, 0, 0), -30)
    back = from_vtimezone(to_vtimezone(blob, "Lord Howe"), 2026)
    assert back == blob
    real, ours = ZoneInfo("Australia/Lord_Howe"), BlobTimeZone(blob)
    for hour in _hours(2026, 2026):
        instant = hour.replace(tzinfo=UTC)
        assert instant.astimezone(ours).utcoffset() == instant.astimezone(real).utcoffset()


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(ZONES + ["America/Sao_Paulo", "Pacific/Auckland", "America/Santiago", "Europe/London"]),
       st.integers(2000, 2035))
def test_blob_derivation_is_stable_through_blob_timezone(zone, year):
    blob = from_zone_name(zone, year)
    assert from_tzinfo(BlobTimeZone(blob), year) == blob
