"""The MS-ASDTYPE TimeZone blob (calendar:Timezone, email:MeetingRequest/TimeZone), without I/O.

The blob is Windows' TIME_ZONE_INFORMATION: one standard and one daylight rule, no history.  It is
read and written byte for byte, turned into a `tzinfo` valid for every year (`BlobTimeZone`), derived
from any `tzinfo` for the rules in force in one year (`from_tzinfo`), and mapped to and from an RFC
5545 VTIMEZONE.

A rule whose wYear is not zero is an absolute date.  Windows only uses those for one year of
"dynamic DST"; here such a date is read as the yearly rule it is an instance of (that month, the
same ordinal of the same weekday, "last" when it is the month's last one), which gives the exact
date in wYear and a plausible one in any other year, rather than no DST at all elsewhere.
"""
from __future__ import annotations

import base64
import binascii
import calendar
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

import icalendar
from zoneinfo import ZoneInfo

_LAYOUT = struct.Struct("<i64s8Hi64s8Hi")
BLOB_SIZE = _LAYOUT.size  # 172
_NAME_BYTES = 64
_DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # SYSTEMTIME counts weekdays from Sunday
_ZERO = timedelta(0)


@dataclass(frozen=True)
class SystemTime:
    year: int = 0
    month: int = 0
    day_of_week: int = 0
    day: int = 0
    hour: int = 0
    minute: int = 0
    second: int = 0
    millisecond: int = 0


_NO_RULE = SystemTime()


def _decode_name(raw: bytes) -> str:
    return raw.decode("utf-16-le", "replace").split("\0", 1)[0]


def _encode_name(name: str) -> bytes:
    # 31 code units at most so the field always keeps a NUL terminator; never end on half a pair.
    data = name.encode("utf-16-le", "surrogatepass")[: _NAME_BYTES - 2]
    if len(data) >= 2 and 0xD800 <= int.from_bytes(data[-2:], "little") <= 0xDBFF:
        data = data[:-2]
    return data.ljust(_NAME_BYTES, b"\0")


def _fit_name(name: str | None) -> str:
    return _decode_name(_encode_name(name or ""))


@dataclass(frozen=True)
class TimeZoneBlob:
    bias: int
    standard_name: str
    standard_date: SystemTime
    standard_bias: int
    daylight_name: str
    daylight_date: SystemTime
    daylight_bias: int
    # Devices send whatever follows the name's NUL (stale buffer contents); echoing the blob back
    # must not change it, or clients see a "different" time zone.  The raw fields are only used
    # while they still decode to the name fields, so dataclasses.replace() with a new name works.
    raw_names: tuple[bytes, bytes] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> TimeZoneBlob:
        data = bytes(data)
        if len(data) != BLOB_SIZE:
            raise ValueError(f"TimeZone blob is {len(data)} bytes, not {BLOB_SIZE}")
        values = _LAYOUT.unpack(data)
        std_raw, day_raw = values[1], values[11]
        return cls(values[0], _decode_name(std_raw), SystemTime(*values[2:10]), values[10],
                   _decode_name(day_raw), SystemTime(*values[12:20]), values[20], (std_raw, day_raw))

    @classmethod
    def from_base64(cls, text: str) -> TimeZoneBlob:
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"TimeZone is not base64: {exc}") from None
        return cls.from_bytes(data)

    def to_bytes(self) -> bytes:
        std_raw, day_raw = self.raw_names or (None, None)
        if std_raw is None or _decode_name(std_raw) != self.standard_name:
            std_raw = _encode_name(self.standard_name)
        if day_raw is None or _decode_name(day_raw) != self.daylight_name:
            day_raw = _encode_name(self.daylight_name)
        s, d = self.standard_date, self.daylight_date
        return _LAYOUT.pack(
            self.bias, std_raw, s.year, s.month, s.day_of_week, s.day, s.hour, s.minute, s.second,
            s.millisecond, self.standard_bias, day_raw, d.year, d.month, d.day_of_week, d.day, d.hour,
            d.minute, d.second, d.millisecond, self.daylight_bias)

    def to_base64(self) -> str:
        return base64.b64encode(self.to_bytes()).decode("ascii")

    @property
    def has_dst(self) -> bool:
        # MS-ASDTYPE only says StandardDate.wMonth 0 means none; a daylight rule without a month
        # cannot be followed either, so that also counts as none.
        return self.standard_date.month != 0 and self.daylight_date.month != 0

    @property
    def standard_offset(self) -> timedelta:
        return timedelta(minutes=-(self.bias + self.standard_bias))

    @property
    def daylight_offset(self) -> timedelta:
        return timedelta(minutes=-(self.bias + self.daylight_bias))

    def to_tzinfo(self) -> BlobTimeZone:
        return BlobTimeZone(self)

    def utc_offset(self, when: datetime) -> timedelta:
        """Offset in force at `when`: an instant if aware, a local wall-clock time (fold honoured) if naive."""
        tz = BlobTimeZone(self)
        return tz._offset(when if when.tzinfo is None else when.astimezone(tz))


UTC_BLOB = TimeZoneBlob(0, "", _NO_RULE, 0, "", _NO_RULE, 0)


def _yearly_rule(st: SystemTime) -> tuple[int, int, int]:
    """(month, weekday from Sunday, ordinal 1..5 with 5 = last) of a SYSTEMTIME rule."""
    if st.year:
        day = datetime(st.year, st.month, st.day)  # ValueError for an impossible date
        last = st.day + 7 > calendar.monthrange(st.year, st.month)[1]
        return st.month, (day.weekday() + 1) % 7, 5 if last else (st.day - 1) // 7 + 1
    if not (1 <= st.month <= 12 and 0 <= st.day_of_week <= 6 and 1 <= st.day <= 5):
        raise ValueError(f"not a valid yearly time zone rule: {st}")
    return st.month, st.day_of_week, st.day


def _rule_date(st: SystemTime, year: int) -> datetime:
    """Local wall-clock time (in the offset before the change) at which `st` fires in `year`."""
    month, dow, nth = _yearly_rule(st)
    first_dow = (calendar.weekday(year, month, 1) + 1) % 7
    day = 1 + (dow - first_dow) % 7 + 7 * (nth - 1)
    while day > calendar.monthrange(year, month)[1]:
        day -= 7
    return datetime(year, month, day) + timedelta(
        hours=st.hour, minutes=st.minute, seconds=st.second, milliseconds=st.millisecond)


@lru_cache(maxsize=512)
def _transitions(blob: TimeZoneBlob, year: int) -> tuple[tuple[datetime, timedelta, timedelta], ...]:
    """(naive UTC instant, offset before, offset after) of `year`'s two changes, in time order."""
    std, dst = blob.standard_offset, blob.daylight_offset
    to_dst = _rule_date(blob.daylight_date, year) - std
    to_std = _rule_date(blob.standard_date, year) - dst
    return tuple(sorted([(to_dst, std, dst), (to_std, dst, std)]))


class BlobTimeZone(tzinfo):
    """A `tzinfo` following a blob's yearly rules in every year, with zoneinfo's `fold` semantics."""

    def __init__(self, blob: TimeZoneBlob) -> None:
        self.blob = blob
        # Expanding a series asks for the same few years thousands of times; hashing the blob for
        # _transitions' cache on every call was most of free/busy's cost (bench/pim_sync.py).
        self._years: dict[int, list] = {}
        if blob.has_dst:
            _transitions(blob, 2000)  # reject garbage rules now rather than mid-expansion

    def __repr__(self) -> str:
        return f"BlobTimeZone({self.blob!r})"

    def __reduce__(self):
        return type(self), (self.blob,)

    def _around(self, year: int):
        found = self._years.get(year)
        if found is None:
            # Neighbouring years too: a change near New Year may sit in the other year in UTC.
            years = range(max(year - 1, 2), min(year + 1, 9998) + 1)
            found = self._years[year] = [t for y in years for t in _transitions(self.blob, y)]
        return found

    def _offset(self, dt: datetime) -> timedelta:
        if not self.blob.has_dst:
            return self.blob.standard_offset
        wall = dt.replace(tzinfo=None)
        changes = self._around(wall.year)
        offset = changes[0][1]
        # fold=0 keeps the earlier offset through a gap or an overlap, fold=1 takes the later one.
        pick = max if dt.fold == 0 else min
        for instant, before, after in changes:
            if instant + pick(before, after) <= wall:
                offset = after
        return offset

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None if self.blob.has_dst else self.blob.standard_offset
        return self._offset(dt)

    def dst(self, dt: datetime | None) -> timedelta | None:
        if dt is None:
            return None if self.blob.has_dst else _ZERO
        return self._offset(dt) - self.blob.standard_offset

    def tzname(self, dt: datetime | None) -> str | None:
        if dt is not None and self.dst(dt):
            return self.blob.daylight_name or None
        return self.blob.standard_name or None

    def fromutc(self, dt: datetime) -> datetime:
        if dt.tzinfo is not self:
            raise ValueError("fromutc: dt.tzinfo is not self")
        if not self.blob.has_dst:
            return dt + self.blob.standard_offset
        utc = dt.replace(tzinfo=None)
        changes = self._around(utc.year)
        offset, fold = changes[0][1], 0
        for instant, before, after in changes:
            if instant <= utc:
                offset = after
                # Second pass through a repeated wall-clock hour.
                fold = int(before > after and utc + after < instant + before)
        return (dt + offset).replace(fold=fold)


def _minutes(offset: timedelta) -> int:
    return round(offset.total_seconds() / 60)


def _rule_of(local: datetime) -> SystemTime:
    last = local.day + 7 > calendar.monthrange(local.year, local.month)[1]
    return SystemTime(0, local.month, (local.weekday() + 1) % 7, 5 if last else (local.day - 1) // 7 + 1,
                      local.hour, local.minute, local.second, 0)


def from_tzinfo(tz: tzinfo, year: int, name: str | None = None) -> TimeZoneBlob:
    """The blob for the rules `tz` follows in `year` (a yearly weekday rule for each change)."""
    def local(instant: datetime) -> datetime:
        return instant.replace(tzinfo=timezone.utc).astimezone(tz)

    def offset(instant: datetime) -> timedelta:
        found = local(instant).utcoffset()
        if found is None:  # a tzinfo that names no offset cannot be described by a blob
            raise ValueError(f"{tz!r} gives no UTC offset")
        return found

    # Weekly steps then bisection to the second: no real zone changes twice within a week, and
    # VTIMEZONE-built tzinfos re-expand their RRULEs on every call, so fewer probes matter.
    start, end = datetime(year, 1, 1) - timedelta(days=2), datetime(year + 1, 1, 3)
    changes, at, now = [], start, offset(start)
    while at < end:
        nxt = min(at + timedelta(days=7), end)
        if offset(nxt) == now:
            at = nxt
            continue
        lo, hi = at, nxt
        while hi - lo > timedelta(seconds=1):
            mid = lo + timedelta(seconds=(hi - lo).total_seconds() // 2)
            lo, hi = (mid, hi) if offset(mid) == now else (lo, mid)
        changes.append((hi, now, offset(hi)))
        at, now = hi, offset(hi)
    changes = [c for c in changes if (c[0] + c[1]).year == year]

    if len(changes) == 2 and changes[0][1:] == changes[1][2:0:-1]:
        # The larger offset is daylight time, as Windows has it (also for Europe/Dublin, whose
        # tzdata calls winter the "daylight" part).
        first, second = changes
        to_dst, to_std = (first, second) if first[2] > first[1] else (second, first)
        std, dst = to_std[2], to_dst[2]
        std_name = _fit_name(name or local(to_std[0]).tzname())
        dst_name = _fit_name(name or local(to_dst[0]).tzname())
        return TimeZoneBlob(-_minutes(std), std_name, _rule_of(to_std[0] + dst), 0,
                            dst_name, _rule_of(to_dst[0] + std), -(_minutes(dst) - _minutes(std)))
    # No change, or not a clean standard/daylight pair (a zone moving its standard offset that
    # year): the offset in force at the year's end, without DST.
    late = datetime(year, 12, 31)
    std_name = _fit_name(name or local(late).tzname())
    return TimeZoneBlob(-_minutes(offset(late)), std_name, _NO_RULE, 0, std_name, _NO_RULE, 0)


def from_zone_name(name: str, year: int) -> TimeZoneBlob:
    return from_tzinfo(ZoneInfo(name), year)


def _offset_label(offset: timedelta) -> str:
    minutes = _minutes(offset)
    return f"UTC{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02}:{abs(minutes) % 60:02}"


def to_vtimezone(blob: TimeZoneBlob, tzid: str) -> icalendar.Timezone:
    """A VTIMEZONE with the blob's rules, recurring yearly from 1970.

    1970 rather than Outlook's 1601: dateutil (behind icalendar's `to_tz`) re-expands each RRULE
    from DTSTART on every lookup, and nothing before 1970 is ever synchronised.
    """
    std, dst = blob.standard_offset, blob.daylight_offset
    vtz = icalendar.Timezone()
    vtz.add("TZID", tzid)

    def part(kind, rule: SystemTime | None, before: timedelta, after: timedelta, name: str):
        sub = kind()
        sub.add("DTSTART", _rule_date(rule, 1970) if rule is not None else datetime(1970, 1, 1))
        sub.add("TZOFFSETFROM", before)
        sub.add("TZOFFSETTO", after)
        sub.add("TZNAME", name or _offset_label(after))
        if rule is not None:
            month, dow, nth = _yearly_rule(rule)
            sub.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": month,
                              "BYDAY": f"{-1 if nth == 5 else nth}{_DAYS[dow]}"})
        vtz.add_component(sub)

    if not blob.has_dst:
        part(icalendar.TimezoneStandard, None, std, std, blob.standard_name)
        return vtz
    part(icalendar.TimezoneStandard, blob.standard_date, dst, std, blob.standard_name)
    part(icalendar.TimezoneDaylight, blob.daylight_date, std, dst, blob.daylight_name)
    return vtz


def from_vtimezone(component: icalendar.Timezone, year: int) -> TimeZoneBlob:
    """The blob for `year` from the VTIMEZONE's own rules.

    `to_tz()` would by default swap in the zoneinfo zone named by TZID (IANA or Windows name) and
    ignore the rules; the sender's rules are what its local times mean, so they are used as written.
    """
    return from_tzinfo(component.to_tz(lookup_tzid=False), year)
