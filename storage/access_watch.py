"""The `access` generation (storage/generations.py), bumped by every write that can change an
access decision or a logon: a serving process keeps each device's gate facts and each user's
logon row in memory and reads this one counter per request instead of the rows.

It is bumped here, by a hook on every ORM session, rather than by each writer: the admin service,
the CLI in another process, the gate's own writes, Provision, Settings and an auto-block all change
these rows, and a writer that forgot to bump would leave devices answered on stale facts.  Columns
that change on ordinary requests and decide nothing (a device's last-seen time, its hierarchy and
cached requests, a user's hierarchy counter) do not bump it, or every request would write it.
"""
from __future__ import annotations

from sqlalchemy import event, inspect
from sqlmodel import Session

from . import generations
from .models import AccessRule, Device, OrgSettings, Policy, User

# Per table: the columns whose change bumps the generation (None: every column).
_WATCHED: dict[type, frozenset[str] | None] = {
    # What the gate reads or writes of the device row (server/store/access.py), last_sync aside:
    # a stale last-seen time only sends the next request down the full path once more.
    Device: frozenset({
        "user_id", "device_id", "device_type", "user_agent", "os", "model", "wipe_state", "access_state",
        "policy_key", "provisioned_at", "autoblock_reason", "autoblock_until", "first_sync", "protocol_version",
        "ms_wl", "access_reason", "access_rule", "access_step",
    }),
    # Every column but the two that move on ordinary requests or sign-outs.
    User: frozenset(c for c in User.model_fields if c not in ("hierarchy_seq", "session_generation")),
    OrgSettings: None,
    AccessRule: None,
    Policy: None,
}
_TABLES = {model.__table__.name for model in _WATCHED}


def _changes_access(obj) -> bool:
    columns = _WATCHED.get(type(obj), ())
    if columns is None:
        return True
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in columns)


def _before_flush(session: Session, _context, _instances) -> None:
    if any(type(obj) in _WATCHED for obj in (*session.new, *session.deleted)) or any(
            type(obj) in _WATCHED and _changes_access(obj) for obj in session.dirty):
        generations.bump(session, generations.ACCESS)


def _on_execute(state) -> None:
    """A bulk UPDATE or DELETE on a watched table (not through the rows) bumps it too."""
    if (state.is_update or state.is_delete) and getattr(state.statement, "table", None) is not None \
            and state.statement.table.name in _TABLES:
        generations.bump(state.session, generations.ACCESS)


event.listen(Session, "before_flush", _before_flush)
event.listen(Session, "do_orm_execute", _on_execute)
