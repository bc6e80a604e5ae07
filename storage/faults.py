"""Injected faults and protocol traces in the database: the rows, checked and bounded.

Everything here is synchronous (one Session per call, from the caller); the server runs it in a
worker thread.  The CLI, the API, the web UI and the test plugin all write through the Admin
service (server/admin/testing_ops.py), which calls these functions.  Every change bumps the
`instrument` generation (storage/generations.py) in its transaction: a running server keeps the
tables' gist in memory (`InstrumentSnapshot`) and reloads it when that counter moves, so a change
from any process reaches it at its next request without a restart, and a request that nothing
traces or faults reads one counter instead of two tables.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, delete, select

from .models_faults import (
    DEFAULT_TRACE_BYTES, DEFAULT_TRACE_ENTRIES, FAULT_KINDS, Fault, TraceEntry, TraceSetting,
)
from .generations import INSTRUMENT, bump, current
from .types import iso

__all__ = [
    "FAULT_KINDS", "Fault", "FaultError", "TraceEntry", "TraceSetting", "add_fault", "candidates", "clear_faults",
    "consume", "InstrumentSnapshot", "load_instrument", "fault_view", "get_fault", "list_faults", "remove_fault", "set_trace", "trace_setting",
    "trace_settings", "record_trace", "trace_entries", "clear_trace", "TraceRecord",
]

EAS_KINDS = tuple(k for k in FAULT_KINDS if k != "smtp")
SMTP_STAGES = ("rcpt", "data")
MAX_TRACE_ENTRIES = 10000
MAX_TRACE_BYTES = 256 * 1024 * 1024


class FaultError(ValueError):
    pass


def _int(params: dict, name: str, default, low: int, high: int, what: str):
    value = params.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise FaultError(f"{name} must be {what}")
    try:
        number = int(value)
    except ValueError:
        raise FaultError(f"{name} must be {what}") from None
    if not low <= number <= high:
        raise FaultError(f"{name} must be {what} ({low}-{high})")
    return number


def _seconds(params: dict, name: str, default: float, high: float = 3600.0) -> float:
    value = params.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise FaultError(f"{name} must be a number of seconds") from None
    if not 0 <= number <= high:
        raise FaultError(f"{name} must be 0-{high:g} seconds")
    return number


def _text(params: dict, name: str, default: str, limit: int = 200) -> str:
    value = params.get(name) or default
    if not isinstance(value, str) or len(value) > limit or any(c in value for c in "\r\n"):
        raise FaultError(f"{name} must be one line of at most {limit} characters")
    return value


def check_params(kind: str, params: dict | None) -> dict:
    """The parameters of a fault of `kind`, checked and completed with their defaults."""
    p = dict(params or {})
    known = {
        "throttle": {"status", "retry_after", "reason"},
        "reprovision": {"status"},
        "unauthorized": {"realm"},
        "block": {"reason", "seconds"},
        "delay": {"seconds"},
        "drop": {"bytes", "seconds"},
        "smtp": {"status", "message", "stage"},
    }[kind]
    unknown = sorted(set(p) - known)
    if unknown:
        raise FaultError(f"a {kind} fault takes {', '.join(sorted(known))}; not {', '.join(unknown)}")
    if kind == "throttle":
        return {"status": _int(p, "status", 503, 400, 599, "an HTTP status"),
                "retry_after": _int(p, "retry_after", 60, 0, 86400, "whole seconds"),
                "reason": _text(p, "reason", "OutOfBudgets", 64)}
    if kind == "reprovision":
        return {"status": _int(p, "status", 142, 140, 144, "a provisioning status")}
    if kind == "unauthorized":
        return {"realm": _text(p, "realm", "easlab", 64).replace('"', "")}
    if kind == "block":
        return {"reason": _text(p, "reason", "Individual", 64), "seconds": _seconds(p, "seconds", 0.0, 60.0)}
    if kind == "delay":
        return {"seconds": _seconds(p, "seconds", 5.0)}
    if kind == "drop":
        return {"bytes": _int(p, "bytes", None, 0, 1 << 30, "a byte count"), "seconds": _seconds(p, "seconds", 0.0)}
    status = _int(p, "status", None, 400, 599, "an SMTP reply code")
    if status is None:
        raise FaultError("an smtp fault needs status (4xx or 5xx)")
    stage = p.get("stage") or "rcpt"
    if stage not in SMTP_STAGES:
        raise FaultError(f"stage must be one of {', '.join(SMTP_STAGES)}")
    default = ("4.3.0 Temporary failure injected by easlab" if status < 500
               else "5.7.1 Delivery refused (injected by easlab)")
    return {"status": status, "message": _text(p, "message", default), "stage": stage}


def add_fault(session: Session, kind: str, *, now: datetime, user: str | None = None, device_id: str | None = None,
              command: str | None = None, params: dict | None = None, count: int | None = None,
              seconds: float | None = None) -> Fault:
    """A new fault; `count` requests (None: any number) within `seconds` from `now` (None: until
    removed)."""
    if kind not in FAULT_KINDS:
        raise FaultError(f"kind {kind!r}: use one of {', '.join(FAULT_KINDS)}")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 1):
        raise FaultError("count must be a whole number of at least 1")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0):
        raise FaultError("the duration must be a positive number of seconds")
    if kind == "smtp":
        if device_id or command:
            raise FaultError("an smtp fault matches a recipient user only (no device or command)")
        if not user:
            raise FaultError("an smtp fault needs the recipient user")
    for name, value, limit in (("user", user, 64), ("device", device_id, 64), ("command", command, 32)):
        if value is not None and (not value or len(value) > limit or not value.isprintable()):
            raise FaultError(f"{name} must be 1-{limit} printable characters")
    row = Fault(user=user.lower() if user else None, device_id=device_id or None, command=command or None, kind=kind,
                params=check_params(kind, params), remaining=count,
                expires_at=now + timedelta(seconds=seconds) if seconds else None, created_at=now)
    session.add(row)
    session.flush()
    bump(session, INSTRUMENT)
    return row


def state_of(fault: Fault, now: datetime) -> str:
    if fault.remaining is not None and fault.remaining <= 0:
        return "spent"
    if fault.expires_at is not None and fault.expires_at <= now:
        return "expired"
    return "active"


def fault_view(fault: Fault, now: datetime) -> dict:
    return {
        "id": fault.id, "kind": fault.kind, "user": fault.user, "device_id": fault.device_id, "command": fault.command,
        "params": dict(fault.params), "remaining": fault.remaining,
        "expires_at": iso(fault.expires_at), "created_at": iso(fault.created_at), "hits": fault.hits,
        "last_hit_at": iso(fault.last_hit_at), "state": state_of(fault, now),
    }


def get_fault(session: Session, fault_id: int) -> Fault | None:
    return session.get(Fault, fault_id)


def list_faults(session: Session, now: datetime) -> list[dict]:
    return [fault_view(f, now) for f in session.exec(select(Fault).order_by(Fault.id))]


def remove_fault(session: Session, fault_id: int) -> bool:
    row = session.get(Fault, fault_id)
    if row is None:
        return False
    session.delete(row)
    bump(session, INSTRUMENT)
    return True


def clear_faults(session: Session, user: str | None = None) -> int:
    query = delete(Fault)
    if user:
        query = query.where(Fault.user == user.lower())
    bump(session, INSTRUMENT)
    return session.exec(query).rowcount or 0


def candidates(session: Session, now: datetime, *, user: str | None, device_id: str | None = None,
               command: str | None = None, smtp: bool = False) -> list[Fault]:
    """Active faults that match, in the order they were added (the first one wins)."""
    query = select(Fault).where(
        or_(col(Fault.remaining).is_(None), col(Fault.remaining) > 0),
        or_(col(Fault.user).is_(None), Fault.user == (user or "").lower()),
    )
    query = query.where(Fault.kind == "smtp") if smtp else query.where(Fault.kind != "smtp")
    rows = []
    for fault in session.exec(query.order_by(Fault.id)):
        if fault.device_id is not None and (device_id or "").lower() != fault.device_id.lower():
            continue
        if fault.command is not None and (command or "").lower() != fault.command.lower():
            continue
        if fault.expires_at is not None and fault.expires_at <= now:
            continue
        rows.append(fault)
    return rows


@dataclass(frozen=True)
class InstrumentSnapshot:
    """The first question of every EAS request and SMTP recipient, answered from memory: is this
    device traced, and may a fault hit this user (conservative: expiry is left to `candidates`)."""

    generation: int
    traced: frozenset[tuple[str, str]]
    fault_users: frozenset[str]
    fault_anyone: bool
    smtp_users: frozenset[str]  # recipients an smtp fault names (an smtp fault always names one)

    def probe(self, user: str | None, device_id: str | None) -> tuple[bool, bool]:
        u = (user or "").lower()
        return (u, (device_id or "").lower()) in self.traced, self.fault_anyone or u in self.fault_users

    def smtp_may_apply(self, users) -> bool:
        return any((u or "").lower() in self.smtp_users for u in users)


def load_instrument(connection, known: InstrumentSnapshot | None) -> InstrumentSnapshot:
    """`known` while the generation has not moved, else the tables read anew.  The counter is read
    first, so a snapshot is never older than the generation it is filed under."""
    generation = current(connection, INSTRUMENT)
    if known is not None and known.generation == generation:
        return known
    traced = connection.execute(core_select(TraceSetting.user, TraceSetting.device_id).where(col(TraceSetting.enabled)))
    active = connection.execute(core_select(Fault.kind, Fault.user).where(
        or_(col(Fault.remaining).is_(None), col(Fault.remaining) > 0))).all()
    users = [user for kind, user in active if kind != "smtp"]
    return InstrumentSnapshot(generation, frozenset((u, d) for u, d in traced),
                              frozenset(u for u in users if u is not None), None in users,
                              frozenset(user for kind, user in active if kind == "smtp" and user))


def consume(session: Session, fault_id: int, now: datetime) -> bool:
    """Count one hit; False when another request took the last one first."""
    result = session.exec(
        update(Fault)
        .where(Fault.id == fault_id, or_(col(Fault.remaining).is_(None), col(Fault.remaining) > 0))
        .values(remaining=Fault.remaining - 1, hits=Fault.hits + 1, last_hit_at=now)  # NULL - 1 stays NULL
    )
    bump(session, INSTRUMENT)  # the last hit takes the user out of the snapshot's fault_users
    return bool(result.rowcount)


# -- traces -------------------------------------------------------------------------------------
def _owner(user: str, device_id: str) -> tuple[str, str]:
    return user.lower(), device_id.lower()


def trace_setting(session: Session, user: str, device_id: str) -> TraceSetting | None:
    u, d = _owner(user, device_id)
    return session.exec(select(TraceSetting).where(TraceSetting.user == u, TraceSetting.device_id == d)).first()


def trace_settings(session: Session) -> list[TraceSetting]:
    return list(session.exec(select(TraceSetting).order_by(TraceSetting.user, TraceSetting.device_id)))


def set_trace(session: Session, user: str, device_id: str, enabled: bool, *, now: datetime,
              max_entries: int | None = None, max_bytes: int | None = None) -> TraceSetting:
    if not user or not device_id or len(user) > 64 or len(device_id) > 64:
        raise FaultError("user and device id are 1-64 characters")
    if max_entries is not None and not 1 <= max_entries <= MAX_TRACE_ENTRIES:
        raise FaultError(f"max entries must be 1-{MAX_TRACE_ENTRIES}")
    if max_bytes is not None and not 1024 <= max_bytes <= MAX_TRACE_BYTES:
        raise FaultError(f"max bytes must be 1024-{MAX_TRACE_BYTES}")
    row = trace_setting(session, user, device_id)
    if row is None:
        u, d = _owner(user, device_id)
        row = TraceSetting(user=u, device_id=d, max_entries=DEFAULT_TRACE_ENTRIES, max_bytes=DEFAULT_TRACE_BYTES)
    row.enabled = enabled
    row.changed_at = now
    if max_entries is not None:
        row.max_entries = max_entries
    if max_bytes is not None:
        row.max_bytes = max_bytes
    session.add(row)
    session.flush()
    _prune(session, row)
    bump(session, INSTRUMENT)
    return row


@dataclass
class TraceRecord:
    """One exchange as the recorder saw it on the wire."""

    at: datetime
    duration_ms: float
    method: str
    path: str
    command: str
    request_headers: list  # [[name, value], ...]
    request_body: bytes
    status: int
    response_headers: list
    response_body: bytes
    note: str = ""


def record_trace(session: Session, user: str, device_id: str, record: TraceRecord) -> TraceEntry | None:
    """Append to the device's ring if tracing is on; the oldest entries go to keep it bounded.  An
    exchange larger than the whole ring keeps its headers and loses its bodies (noted)."""
    setting = trace_setting(session, user, device_id)
    if setting is None or not setting.enabled:
        return None
    # The ring's bound counts the headers as the stored JSON text.
    headers_size = len(json.dumps(record.request_headers)) + len(json.dumps(record.response_headers))
    request_body, response_body, note = record.request_body, record.response_body, record.note
    size = headers_size + len(request_body) + len(response_body) + len(record.path)
    if size > setting.max_bytes:
        extra = (f"bodies left out: {len(request_body)} + {len(response_body)} bytes exceed the trace's bound "
                 f"of {setting.max_bytes} bytes")
        note = f"{note}; {extra}" if note else extra
        request_body = response_body = b""
        size = headers_size + len(record.path)
    u, d = _owner(user, device_id)
    entry = TraceEntry(user=u, device_id=d, at=record.at, duration_ms=round(record.duration_ms, 3),
                       method=record.method, path=record.path, command=record.command, request_headers=record.request_headers,
                       request_body=request_body, status=record.status, response_headers=record.response_headers,
                       response_body=response_body, note=note, size=size)
    session.add(entry)
    session.flush()
    _prune(session, setting)
    return entry


def _prune(session: Session, setting: TraceSetting) -> None:
    owner = (TraceEntry.user == setting.user, TraceEntry.device_id == setting.device_id)
    rows = list(session.exec(select(TraceEntry.id, TraceEntry.size).where(*owner).order_by(col(TraceEntry.id).desc())))
    keep, total = 0, 0
    for _, size in rows:
        if keep >= setting.max_entries or total + size > setting.max_bytes:
            break
        keep += 1
        total += size
    doomed = [row_id for row_id, _ in rows[keep:]]
    if doomed:
        session.exec(delete(TraceEntry).where(col(TraceEntry.id).in_(doomed)))
        setting.dropped += len(doomed)
        session.add(setting)


def trace_entries(session: Session, user: str, device_id: str, *, after: int | None = None,
                  limit: int | None = None) -> list[TraceEntry]:
    u, d = _owner(user, device_id)
    query = select(TraceEntry).where(TraceEntry.user == u, TraceEntry.device_id == d)
    if after is not None:
        query = query.where(TraceEntry.id > after)
    query = query.order_by(TraceEntry.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def clear_trace(session: Session, user: str, device_id: str) -> int:
    u, d = _owner(user, device_id)
    return session.exec(delete(TraceEntry).where(TraceEntry.user == u, TraceEntry.device_id == d)).rowcount or 0
