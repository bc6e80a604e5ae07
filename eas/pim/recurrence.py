"""EAS Recurrence (MS-ASCAL, MS-ASTASK, MS-ASEMAIL MeetingRequest) <-> iCalendar RRULE, and expansion.

A Recurrence is a `dict[str, str]` of its element local names to their wire strings.  `normalise`
gives the one canonical form both directions agree on, so `from_rrule(to_rrule(r)) == normalise(r)`:
- numbers in plain decimal; Interval dropped when 1 (its default in EAS and RFC 5545, so "1" and
  absent are the same series and one form must win);
- only the elements the Type uses (Exchange ignores, say, a DayOfMonth on a weekly series);
- Occurrences wins when a client sends both it and Until (RFC 5545 forbids COUNT with UNTIL, and a
  client's "end after N" is the more exact of the two); Until always in Compact DateTime;
- CalendarType 0/1/2 (default and the Gregorian flavours) and IsLeapMonth 0 dropped, because an
  RRULE cannot carry them and they change nothing; every other CalendarType (lunar, era-based) and
  IsLeapMonth 1 cannot be expressed, so they raise ValueError like any invalid recurrence.
Elements outside MS-ASCAL's set (tasks' Start, Regenerate, DeadOccur) are ignored: the task
module owns them.  An element left to the start (weekly without DayOfWeek, monthly without
DayOfMonth, yearly without both) maps to an RRULE without that part, which RFC 5545 also reads
from DTSTART, so the meaning is kept without knowing the start.

Expansion follows RFC 5545 (dateutil), which differs from Outlook in one place: a date that does
not exist (monthly on day 31, yearly on 29 February) is skipped, where Outlook/Exchange move it to
the month's last day.  easlab keeps the RFC reading so that the RRULE it writes and the instances
it lists are the same series.  A start that is off the pattern is not itself an occurrence
(RFC 5545 leaves that case undefined; Exchange moves such a start to the first matching day).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from dateutil.rrule import rrulestr
from icalendar.prop import vDDDTypes, vRecur

DAYS = ("SU", "MO", "TU", "WE", "TH", "FR", "SA")  # index = bit of the DayOfWeek mask = FirstDayOfWeek
_FREQ = {0: "DAILY", 1: "WEEKLY", 2: "MONTHLY", 3: "MONTHLY", 5: "YEARLY", 6: "YEARLY"}
# Per Type: the elements it must have, and those it may have (absent = taken from the start).
_SHAPE = {
    0: ((), ("DayOfWeek",)), 1: ((), ("DayOfWeek",)), 2: ((), ("DayOfMonth",)),
    3: (("DayOfWeek", "WeekOfMonth"), ()), 5: ((), ("MonthOfYear", "DayOfMonth")),
    6: (("MonthOfYear", "DayOfWeek", "WeekOfMonth"), ()),
}
_RANGE = {
    "Type": (0, 6), "Interval": (1, None), "Occurrences": (1, None), "DayOfWeek": (1, 127),
    "DayOfMonth": (1, 31), "WeekOfMonth": (1, 5), "MonthOfYear": (1, 12), "FirstDayOfWeek": (0, 6),
    "CalendarType": (0, None), "IsLeapMonth": (0, 1),
}
_ORDER = ("Type", "Interval", "MonthOfYear", "DayOfMonth", "DayOfWeek", "WeekOfMonth",
          "FirstDayOfWeek", "Occurrences", "Until")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_DATETIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?Z")
_BYDAY = re.compile(r"([+-]?\d{1,2})?(SU|MO|TU|WE|TH|FR|SA)")
_RULE_PARTS = {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYSETPOS", "WKST"}
_WEEK_OF_MONTH = {1: 1, 2: 2, 3: 3, 4: 4, -1: 5}  # BYSETPOS / BYDAY ordinal -> WeekOfMonth
_DAY = timedelta(days=1)


def instance_id(dt: datetime) -> str:
    """Compact DateTime (the InstanceId / Until form) of an aware datetime, in UTC."""
    if dt.tzinfo is None:
        raise ValueError("instance_id needs an aware datetime")
    return dt.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def parse_compact(text: str) -> datetime:
    """Compact DateTime `YYYYMMDDTHHMMSSZ` or dateTime `YYYY-MM-DDTHH:MM:SS(.mmm)Z` -> aware UTC."""
    text = text.strip()
    if m := _COMPACT.fullmatch(text):
        year, month, day, hour, minute, second = map(int, m.groups())
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    if m := _DATETIME.fullmatch(text):
        year, month, day, hour, minute, second = map(int, m.groups()[:6])
        micro = int((m[7] or "0").ljust(6, "0"))
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=timezone.utc)
    raise ValueError(f"not a Compact DateTime or dateTime: {text!r}")


def normalise(rec: dict[str, str]) -> dict[str, str]:
    """The canonical form of a Recurrence (see the module notes); ValueError when invalid or not
    expressible."""
    raw = {k: str(v).strip() for k, v in rec.items() if k in _RANGE or k == "Until"}
    raw = {k: v for k, v in raw.items() if v}  # an empty element is an absent one
    num: dict[str, int] = {}
    for key, value in raw.items():
        if key == "Until":
            continue
        if not re.fullmatch(r"[0-9]{1,9}", value):
            raise ValueError(f"Recurrence {key} is not a number: {value!r}")
        lo, hi = _RANGE[key]
        if not lo <= int(value) <= (hi if hi is not None else int(value)):
            raise ValueError(f"Recurrence {key} out of range: {value}")
        num[key] = int(value)
    if num.get("CalendarType", 0) not in (0, 1, 2):
        raise ValueError(f"CalendarType {num['CalendarType']} is not Gregorian; RRULE cannot express it")
    if num.get("IsLeapMonth", 0):
        raise ValueError("IsLeapMonth needs a lunar calendar; RRULE cannot express it")
    if num.get("Type") not in _SHAPE:
        raise ValueError(f"Recurrence Type missing or unsupported: {raw.get('Type')!r}")
    required, optional = _SHAPE[num["Type"]]
    if missing := [k for k in required if k not in num]:
        raise ValueError(f"Recurrence Type {num['Type']} needs {', '.join(missing)}")
    if num["Type"] == 5 and "DayOfMonth" in num and "MonthOfYear" not in num:
        # RFC 5545 would read a lone BYMONTHDAY on YEARLY as every month: not the same series.
        raise ValueError("Recurrence Type 5 with DayOfMonth needs MonthOfYear")
    keep = {"Type", "Interval", *required, *optional, "FirstDayOfWeek", "Occurrences"}
    out = {k: str(num[k]) for k in _ORDER if k in keep and k in num}
    if out.get("Interval") == "1":
        del out["Interval"]
    if "Until" in raw and "Occurrences" not in out:
        out["Until"] = instance_id(parse_compact(raw["Until"]))
    return out


def _days(mask: int) -> list[str]:
    return [day for bit, day in enumerate(DAYS) if mask & (1 << bit)]


def to_rrule(rec: dict[str, str]) -> dict:
    """The RECUR value as a dict for `icalendar.vRecur`: scalars for FREQ, INTERVAL, COUNT, UNTIL
    (aware UTC) and WKST, lists for the BY* parts, in to_rrule_text's order."""
    r = normalise(rec)
    n = {k: int(v) for k, v in r.items() if k != "Until"}
    rule: dict = {"FREQ": _FREQ[n["Type"]]}
    if "Interval" in n:
        rule["INTERVAL"] = n["Interval"]
    if "MonthOfYear" in n:
        rule["BYMONTH"] = [n["MonthOfYear"]]
    if "DayOfMonth" in n:
        rule["BYMONTHDAY"] = [n["DayOfMonth"]]
    if "DayOfWeek" in n:
        days = _days(n["DayOfWeek"])
        if "WeekOfMonth" in n:
            pos = -1 if n["WeekOfMonth"] == 5 else n["WeekOfMonth"]
            if len(days) == 1:  # "2nd Tuesday" is the plain 2TU
                rule["BYDAY"] = [f"{pos}{days[0]}"]
            else:  # "2nd weekday", "last day": the pos-th of the month's matching days
                rule["BYDAY"], rule["BYSETPOS"] = days, [pos]
        else:
            rule["BYDAY"] = days
    if "FirstDayOfWeek" in n:
        rule["WKST"] = DAYS[n["FirstDayOfWeek"]]
    if "Occurrences" in n:
        rule["COUNT"] = n["Occurrences"]
    if "Until" in r:
        rule["UNTIL"] = parse_compact(r["Until"])
    return rule


def to_rrule_text(rec: dict[str, str]) -> str:
    """RRULE value text, parts always in the order FREQ INTERVAL BYMONTH BYMONTHDAY BYDAY BYSETPOS
    WKST COUNT UNTIL (FREQ first because some clients ignore a rule that does not start with it)."""
    parts = []
    for key, value in to_rrule(rec).items():
        if key == "UNTIL":
            value = instance_id(value)
        elif isinstance(value, list):
            value = ",".join(map(str, value))
        parts.append(f"{key}={value}")
    return ";".join(parts)


def _until(value, tz: tzinfo | None) -> datetime:
    # UNTIL may be UTC (the norm with a zoned DTSTART), floating (read in tz) or a DATE (that whole
    # day in tz counts, so the bound is its last second).
    if isinstance(value, str):
        try:
            return parse_compact(value)
        except ValueError:
            value = vDDDTypes.from_ical(value)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz or timezone.utc)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59), tz or timezone.utc)
    raise ValueError(f"bad UNTIL {value!r}")


def from_rrule(rrule, *, start: date | None = None, tz: tzinfo | None = None) -> dict[str, str] | None:
    """The EAS Recurrence of an RRULE (vRecur, vRecur-like dict, or text with or without "RRULE:"),
    or None when EAS cannot express it or it is malformed.  `start` (DTSTART; aware ones are read in
    `tz`) fills in the day, weekday or month a rule leaves to DTSTART, which devices expect to see;
    `tz` is also the zone of a floating or DATE UNTIL (default UTC)."""
    try:
        return _from_rrule(rrule, start, tz)
    except (ValueError, TypeError, KeyError):
        return None


def _from_rrule(rrule, start, tz) -> dict[str, str] | None:
    if isinstance(rrule, str):
        text = rrule.strip()
        rrule = vRecur.from_ical(text[6:] if text.upper().startswith("RRULE:") else text)
    parts = {k.upper(): list(v) if isinstance(v, (list, tuple)) else [v] for k, v in rrule.items()}
    if not parts.keys() <= _RULE_PARTS:
        return None  # BYHOUR, BYWEEKNO, RSCALE ...: no EAS element for them
    if any(len(v) != 1 for k, v in parts.items() if k != "BYDAY"):
        return None  # several months, month days or set positions
    one = {k: str(v[0]).upper() for k, v in parts.items() if k not in ("BYDAY", "UNTIL")}
    rec: dict[str, str] = {}
    for part, element in (("INTERVAL", "Interval"), ("COUNT", "Occurrences")):
        if part in one:
            rec[element] = one[part]
    if "WKST" in one:
        rec["FirstDayOfWeek"] = str(DAYS.index(one["WKST"]))
    if "UNTIL" in parts:
        rec["Until"] = instance_id(_until(parts["UNTIL"][0], tz))
    if isinstance(start, datetime) and start.tzinfo and tz:
        start = start.astimezone(tz)
    found = [_BYDAY.fullmatch(str(d).strip().upper()) for d in parts.get("BYDAY", [])]
    matches = [m for m in found if m is not None]
    if len(matches) != len(found):
        return None
    ordinals = [int(m[1]) if m[1] else None for m in matches]
    mask = sum({1 << DAYS.index(m[2]) for m in matches})
    monthday = int(one["BYMONTHDAY"]) if "BYMONTHDAY" in one else None
    setpos = int(one["BYSETPOS"]) if "BYSETPOS" in one else None
    month = int(one["BYMONTH"]) if "BYMONTH" in one else None  # "5L" (leap month) fails: None
    freq = one.get("FREQ")
    if freq in ("DAILY", "WEEKLY"):
        if month is not None or monthday is not None or setpos is not None or any(o is not None for o in ordinals):
            return None
        rec["Type"] = "0" if freq == "DAILY" else "1"
        if mask:
            rec["DayOfWeek"] = str(mask)
        elif freq == "WEEKLY" and start:
            rec["DayOfWeek"] = str(1 << (start.weekday() + 1) % 7)
    elif freq in ("MONTHLY", "YEARLY"):
        yearly = freq == "YEARLY"
        if month is not None and not yearly:
            return None
        if yearly and month is None:
            if matches or monthday is not None or setpos is not None:
                return None  # "20th Monday of the year", "day 5 of every month" in YEARLY
            month = start.month if start else None
        if matches and monthday is not None:
            return None
        if matches:
            if len(ordinals) == 1 and ordinals[0] is not None and setpos is None:
                pos = ordinals[0]
            elif all(o is None for o in ordinals) and setpos is not None:
                pos = setpos
            else:
                return None  # 1MO,3WE; every Monday of the month; ordinals with BYSETPOS
            if pos not in _WEEK_OF_MONTH:
                return None  # a 5th Monday exists only in some months; EAS's 5 means "last"
            rec.update(Type="6" if yearly else "3", DayOfWeek=str(mask), WeekOfMonth=str(_WEEK_OF_MONTH[pos]))
        elif monthday == -1 and setpos is None:  # the month's last day
            rec.update(Type="6" if yearly else "3", DayOfWeek="127", WeekOfMonth="5")
        elif setpos is not None:
            return None
        else:
            if monthday is None and start:
                monthday = start.day
            if monthday is not None and not 1 <= monthday <= 31:
                return None
            rec["Type"] = "5" if yearly else "2"
            if monthday is not None:
                rec["DayOfMonth"] = str(monthday)
        if yearly and month is not None:
            rec["MonthOfYear"] = str(month)
    else:
        return None  # SECONDLY .. HOURLY, or no FREQ
    return normalise(rec)


def _instants(rec: dict[str, str], start: datetime, tz: tzinfo | None):
    """The series' start instants in order, generated in tz's wall clock by dateutil from the first
    one on, and yielded in UTC (what `last_end` walks, and what Expansion must agree with)."""
    if start.tzinfo is None:
        raise ValueError("start must be an aware datetime")
    zone = tz or timezone.utc
    r = normalise(rec)
    # Until is an instant, so it is compared in UTC here rather than handed to dateutil, which
    # would compare it with the naive wall-clock times.
    until = parse_compact(r.pop("Until")) if "Until" in r else None
    rule = rrulestr(to_rrule_text(r), dtstart=start.astimezone(zone).replace(tzinfo=None))
    for wall in rule:
        # fold=0: a time in the autumn overlap is its first (summer) instant, one in the spring gap
        # lands an hour later in wall time, as Outlook shows it.
        instant = wall.replace(tzinfo=zone).astimezone(timezone.utc)
        if until is not None and instant > until:
            return
        yield instant


def _weekdays(mask: int) -> list[int]:
    """Python weekdays (Monday 0) of a DayOfWeek mask (Sunday is its bit 0)."""
    return sorted((bit - 1) % 7 for bit in range(7) if mask & (1 << bit))


class _Periodic:
    """The wall-clock starts of a DAILY or WEEKLY series from any date on, found arithmetically
    rather than by walking from the first one, exactly as dateutil lists them: periods of
    Interval days or weeks (weeks begin on WKST, Monday by default) from the one holding the
    start, the DayOfWeek days of each at the start's time, none before the start; Occurrences
    counts from the start."""

    def __init__(self, r: dict[str, str], wall_start: datetime):
        self.start = wall_start.replace(microsecond=0)  # as dateutil does
        self.step = int(r.get("Interval", "1"))
        self.count = int(r["Occurrences"]) if "Occurrences" in r else None
        self.days = _weekdays(int(r.get("DayOfWeek", "0")))
        self.weekly = r["Type"] == "1"
        if self.weekly:
            first_day = (int(r["FirstDayOfWeek"]) - 1) % 7 if "FirstDayOfWeek" in r else 0
            day = self.start.date()
            self.week0 = day - timedelta(days=(day.weekday() - first_day) % 7)
            self.offsets = sorted((d - first_day) % 7 for d in self.days or [day.weekday()])
            self.head = [o for o in self.offsets if o >= (day - self.week0).days]

    def walls(self, first: date | None) -> Iterable[datetime]:
        """Every start from the period holding `first` (None: from the first) on, in order; they
        end after year 9999, as dateutil's do."""
        try:
            yield from self._weekly(first) if self.weekly else self._daily(first)
        except OverflowError:
            return

    def _weekly(self, first: date | None):
        span = 7 * self.step
        period = 0 if first is None else max(0, (first - self.week0).days // span)
        index = 0 if period == 0 else len(self.head) + (period - 1) * len(self.offsets)
        clock = self.start.time()
        while True:
            base = self.week0 + timedelta(days=span * period)
            for offset in self.head if period == 0 else self.offsets:
                if self.count is not None and index >= self.count:
                    return
                index += 1
                yield datetime.combine(base + timedelta(days=offset), clock)
            period += 1

    def _daily(self, first: date | None):
        step, start = self.step, self.start
        n = 0 if first is None else max(0, -(-(first - start.date()).days // step))
        if not self.days:
            hits, per_cycle = None, 7
        else:
            # The weekday of the n-th day repeats every 7 steps: count the matches arithmetically.
            hits = [(start.weekday() + i * step) % 7 in self.days for i in range(7)]
            per_cycle = sum(hits)
            if not per_cycle:
                return
        index = n // 7 * per_cycle + (sum(hits[:n % 7]) if hits else n % 7)
        while True:
            if hits is None or hits[n % 7]:
                if self.count is not None and index >= self.count:
                    return
                index += 1
                yield start + timedelta(days=n * step)
            n += 1


def _utc_wall(when: datetime | None, shift: timedelta) -> datetime | None:
    """`when` in naive UTC, shifted; None (no bound) for None or beyond the calendar's ends."""
    try:
        return None if when is None else when.astimezone(timezone.utc).replace(tzinfo=None) + shift
    except OverflowError:
        return None


class Expansion:
    """A series compiled once for its first occurrence and zone, to list its occurrences in one
    window after another (free/busy asks for every series of a calendar): DAILY and WEEKLY ones
    jump to the window (_Periodic), the others are walked by dateutil, at most twelve steps a year."""

    def __init__(self, rec: dict[str, str], start: datetime, tz: tzinfo | None = None):
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        self.zone = tz or timezone.utc
        r = normalise(rec)
        self.until = parse_compact(r.pop("Until")) if "Until" in r else None
        wall_start = start.astimezone(self.zone).replace(tzinfo=None)
        self._periodic = _Periodic(r, wall_start) if r["Type"] in ("0", "1") else None
        self._rule = None if self._periodic else rrulestr(to_rrule_text(r), dtstart=wall_start)

    def between(self, after: datetime | None = None, before: datetime | None = None,
                limit: int = 5000) -> list[datetime]:
        """Start instants (aware UTC) within [after, before), at most `limit`."""
        # A wall-clock time is within a day of its instant (Python's bound on UTC offsets), so a
        # start more than a day from the window in wall time is judged unconverted: converting
        # through the zone is most of the cost of a series that has one occurrence in the window.
        first, last = _utc_wall(after, -_DAY), _utc_wall(before, _DAY)
        if self._periodic is not None:
            walls = self._periodic.walls(None if first is None else first.date())
        else:
            rule = self._rule
            assert rule is not None  # set whenever _periodic is not (__init__)
            walls = rule if first is None else rule.xafter(first, inc=True)
        found: list[datetime] = []
        zone, until = self.zone, self.until
        for wall in walls:
            if first is not None and wall < first:
                continue  # before `after`
            if last is not None and wall >= last:
                break  # at or after `before`
            instant = wall.replace(tzinfo=zone).astimezone(timezone.utc)  # fold=0 as in _instants
            if (until is not None and instant > until) or len(found) >= limit or (before is not None and instant >= before):
                break
            if after is None or instant >= after:
                found.append(instant)
        return found


def occurrences(rec: dict[str, str], start: datetime, *, tz: tzinfo | None = None,
                after: datetime | None = None, before: datetime | None = None,
                limit: int = 5000) -> list[datetime]:
    """Start instants (aware UTC) of the series whose first occurrence is `start`, repeating in the
    wall clock of `tz` (the organiser's zone; None = UTC), within [after, before), at most `limit`.
    `tz` is a zoneinfo/dateutil zone (not pytz, whose zones cannot be attached with replace)."""
    return Expansion(rec, start, tz).between(after, before, limit)


def last_end(rec: dict[str, str], start: datetime, duration: timedelta, *,
             tz: tzinfo | None = None) -> datetime | None:
    """End (aware UTC) of the series' last occurrence; None when it never ends.  A bounded series
    with no occurrence at all (Until before the first match) ends when its start's slot would."""
    if not {"Until", "Occurrences"} & normalise(rec).keys():
        return None
    last = start.astimezone(timezone.utc)
    for last in _instants(rec, start, tz):
        pass
    return last + duration
