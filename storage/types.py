"""Column types that make the database hand back what the code stored, on SQLite and PostgreSQL.

`UTCDateTime`: every moment easlab keeps is UTC.  SQLite has no time zones and returns naive
datetimes; PostgreSQL's `timestamp without time zone` does the same, and converts an aware value
by the session's TimeZone on the way in.  This type converts to UTC itself, stores the naive UTC
value in the same column as before (`DATETIME` / `TIMESTAMP`, so no schema change), and always
returns an aware UTC datetime.  A naive datetime is refused on the way in (ValueError at flush or
in a query parameter): which zone it meant cannot be known, and easlab's clocks are all aware.

`JSONList` and `JSONDict`: a list or a dict kept as JSON in a TEXT column (the columns existed as
hand-parsed text before; the stored text is unchanged, which is why a column can ask for the
`json.dumps` arguments its old code used: `ensure_ascii=False`, `sort_keys=True`).  Reading an
empty or NULL column gives an empty list or dict; with `optional=True` it gives None instead, and
None is stored as "" (the columns where "" meant "none", which an empty list does not: an empty
AirSync:Supported ghosts every property, no Supported ghosts none).  Assign a new value to change
one: the type does not see in-place mutation, and a value mutated in place then assigned back is
equal to what was loaded, so nothing is written (copy first, or `flag_modified`).

`iso` formats a stored moment the way the admin views and APIs show it.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import DateTime, Text
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime takes a datetime, not {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: easlab stores only aware (UTC) moments")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is not None:  # a timestamptz column (a database made by hand)
            return value.astimezone(timezone.utc)
        return value.replace(tzinfo=timezone.utc)


class JSONText(TypeDecorator):
    """JSON in TEXT; `empty` is the Python type stored and what an empty column reads as."""

    impl = Text
    cache_ok = True
    empty: type = list

    # Positional-or-keyword, not keyword-only: SQLAlchemy's statement cache key is made of the
    # __init__ arguments it finds by name, and it does not see keyword-only ones.
    def __init__(self, optional: bool = False, ensure_ascii: bool = True, sort_keys: bool = False):
        super().__init__()
        self.optional = optional
        self.ensure_ascii = ensure_ascii
        self.sort_keys = sort_keys
        # The ORM leaves a None out of an INSERT unless the type says it means something: here "".
        self.should_evaluate_none = optional
        self._encode = json.JSONEncoder(ensure_ascii=ensure_ascii, sort_keys=sort_keys).encode

    def process_bind_param(self, value, dialect):
        if value is None:
            return "" if self.optional else None
        if not isinstance(value, self.empty):
            raise TypeError(f"{type(self).__name__} takes a {self.empty.__name__}, not {type(value).__name__}")
        return self._encode(value)

    def process_result_value(self, value, dialect):
        if value in ("[]", "{}"):  # most rows (a device's wipe addresses): no parser for those
            return self.empty()
        if value:
            return self.empty(json.loads(value))
        return None if self.optional else self.empty()


# cache_ok is not inherited: SQLAlchemy reads it from each class's own __dict__, and without it
# a statement naming the column is compiled anew every time (with a warning).
class JSONList(JSONText):
    empty = list
    cache_ok = True


class JSONDict(JSONText):
    empty = dict
    cache_ok = True


def iso(value: datetime | None, timespec: str = "seconds") -> str | None:
    """ISO 8601 with the offset (+00:00), to the second unless asked otherwise; None stays None."""
    return value.astimezone(timezone.utc).isoformat(timespec=timespec) if value is not None else None


def empty_list() -> list:
    """The default_factory of a JSONList field.  Not `list`: pydantic inspects a default_factory's
    signature every time a row is made, and a builtin's signature is parsed from its text (about
    0.2 ms, a tenth of storing a whole message); a Python function's costs 7 microseconds."""
    return []


def empty_dict() -> dict:
    """The default_factory of a JSONDict field (not `dict`: see empty_list)."""
    return {}
