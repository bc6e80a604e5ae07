"""Tables of the testing tools: injected faults and protocol traces.

Kept apart from storage/models.py so that the mailbox schema does not grow with test machinery;
`storage.faults` imports this module, which registers the tables with SQLModel's metadata, and
`Database.create_all` then creates them like any other (additive migration included).

A `Fault` is matched per request by user and/or device (and optionally by command): NULL in a
column means "any".  `remaining` counts down to 0 (NULL: no limit); `expires_at` is compared with
the server's clock (NULL: never).  Spent and expired rows stay, so `easlab fault list` can show
what fired and how often, until they are removed.

A `TraceSetting` switches tracing on for one (user, device) and bounds its ring; `TraceEntry`
rows are the ring: one HTTP exchange each, oldest dropped first.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .models import utcnow
from .types import JSONDict, JSONList, UTCDateTime, empty_dict, empty_list

FAULT_KINDS = ("throttle", "reprovision", "unauthorized", "block", "delay", "drop", "smtp")

DEFAULT_TRACE_ENTRIES = 200
DEFAULT_TRACE_BYTES = 5 * 1024 * 1024


class Fault(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user: str | None = Field(default=None, max_length=64, index=True)  # user name (lower case); None: any
    device_id: str | None = Field(default=None, max_length=64)  # None: any device
    command: str | None = Field(default=None, max_length=32)  # None: any command (EAS faults only)
    kind: str = Field(max_length=16)
    params: dict = Field(default_factory=empty_dict, sa_column=Column(JSONDict, nullable=False, default=dict))
    remaining: int | None = None  # None: unlimited
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # None: never (compared with the server clock)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    hits: int = 0
    last_hit_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class TraceSetting(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user", "device_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(max_length=64)
    device_id: str = Field(max_length=64)  # stored lower-case: device ids compare case-insensitively
    enabled: bool = True
    max_entries: int = DEFAULT_TRACE_ENTRIES
    max_bytes: int = DEFAULT_TRACE_BYTES
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    dropped: int = 0  # exchanges pushed out of the ring so far


class TraceEntry(SQLModel, table=True):
    __table_args__ = (Index("ix_traceentry_owner", "user", "device_id", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    user: str = Field(max_length=64)
    device_id: str = Field(max_length=64)  # lower-case, as in TraceSetting
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    duration_ms: float = 0.0
    method: str = Field(default="POST", max_length=8)
    path: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # path and query
    command: str = Field(default="", max_length=32)
    request_headers: list = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))  # [[name, value], ...]
    request_body: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    status: int = 0
    response_headers: list = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    response_body: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # fault, drop, truncation
    size: int = 0  # bytes this entry counts against the ring's bound
