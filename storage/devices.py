"""Device partnerships: one row per (user, DeviceId), updated when a request changes what it stores.

The time a device was last seen (`last_sync`) is stored at most once a minute (LAST_SEEN_EVERY),
unless the row is written for another reason anyway: writing it on every request would make every
request a write, and on SQLite writers take turns.  A caller that asks for it (`deferred_seen`) gets
the last-seen times that are due instead of having them written by its transaction, and hands them
to `LastSeen`, which writes those of many requests in one transaction: after a restart, ten thousand
devices reconnecting at once then read in parallel instead of queueing one by one for the writer.
"""
from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from datetime import timedelta

from sqlmodel import Session, select

from .models import Device, User, utcnow

LAST_SEEN_EVERY = timedelta(seconds=60)
log = logging.getLogger("easlab.devices")
_deferred = threading.local()


def get_device(session: Session, user: User, device_id: str) -> Device | None:
    return session.exec(select(Device).where(Device.user_id == user.id, Device.device_id == device_id)).first()


def touch_device(session: Session, user: User, device_id: str, device_type: str = "", user_agent: str | None = None,
                 protocol_version: str = "", now=None) -> Device:
    now = now or utcnow()
    device = get_device(session, user, device_id)
    if device is None:
        device = Device(user_id=user.id, device_id=device_id, device_type=device_type, first_sync=now)
    if device_type:
        device.device_type = device_type
    if user_agent:
        device.user_agent = user_agent[:512]
    if protocol_version:
        device.protocol_version = protocol_version
    seen(session, device, now)
    session.add(device)
    session.flush()
    return device


def seen(session: Session, device: Device, now) -> None:
    """Store `now` as the device's last request when its row is written anyway or the stored time
    is LAST_SEEN_EVERY old."""
    last = device.last_sync
    due = getattr(_deferred, "due", None)
    if last is None or device.id is None or session.is_modified(device):
        device.last_sync = now
        if due is not None:
            due.pop(device.id, None)  # written with the row
    elif now - last >= LAST_SEEN_EVERY:
        if due is None:
            device.last_sync = now
        else:  # only the time is due: the caller has it written with others' (LastSeen)
            due[device.id] = now


@contextmanager
def deferred_seen():
    """In this thread, the last-seen times `seen` finds due on rows it would not write otherwise
    are collected (device row id -> time) instead of set on the rows."""
    outer = getattr(_deferred, "due", None)
    _deferred.due = due = {}
    try:
        yield due
    finally:
        _deferred.due = outer


class LastSeen:
    """Writes last-seen times, many requests' in one transaction (group commit): the first caller
    to find no write going on writes every time queued so far while the others wait for the write
    that holds theirs.  Each caller returns once its own times are committed, so the row reads as
    it did when the request's own transaction wrote them."""

    def __init__(self, db):
        self.db = db
        self._turn = threading.Condition()
        self._queued: dict[int, object] = {}
        self._writing = False
        self._taken = 0  # batches taken so far
        self._done = 0  # batches written (or failed) so far

    def store(self, due: dict) -> None:
        if not due:
            return
        with self._turn:
            self._queued.update(due)
            mine = self._taken + 1  # the next batch taken holds these
            while self._done < mine:
                if self._writing:
                    self._turn.wait()
                    continue
                self._writing = True
                batch, self._queued = self._queued, {}
                self._taken += 1
                self._turn.release()
                try:
                    self._write(batch)
                finally:
                    self._turn.acquire()
                    self._writing = False
                    self._done += 1
                    self._turn.notify_all()

    def _write(self, batch: dict) -> None:
        from sqlalchemy import bindparam, update

        table = Device.__table__
        statement = update(table).where(table.c.id == bindparam("pk")).values(last_sync=bindparam("seen"))
        try:
            with self.db.session() as session:
                # Through the connection, not the ORM: a last-seen time decides nothing, so it
                # must not bump the `access` generation (storage/access_watch.py).
                session.connection().execute(statement, [{"pk": pk, "seen": when} for pk, when in batch.items()])
        except Exception:  # bookkeeping: a lost last-seen time must not fail the requests
            log.exception("last-seen times of %d devices not stored", len(batch))


def remove_device(session: Session, device: Device) -> None:
    """End a partnership (Exchange's Remove-MobileDevice): the next request from that DeviceId is a
    new device.  Every row keyed by the device (sync states, access history, sent ClientIds,
    hierarchy echoes, Find searches) goes with it through its foreign key's ON DELETE CASCADE, so a
    new partnership, which may get the same id, starts clean."""
    session.delete(device)
    session.flush()
