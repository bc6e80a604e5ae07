"""Last-seen times written many at once (storage/devices.py LastSeen, deferred_seen): after a
restart thousands of devices' times fall due together, and each must not cost a write of its own."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from sqlmodel import select

from easlab.storage import generations
from easlab.storage.devices import LastSeen, deferred_seen, seen, touch_device
from easlab.storage.models import Device
from easlab.storage.users import add_user

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def devices(db, count: int) -> list[int]:
    with db.session() as session:
        user = add_user(session, "alice", "secret")
        return [touch_device(session, user, f"dev{n}", now=T0).id for n in range(count)]


def stored(db) -> dict[int, datetime]:
    with db.session(write=False) as session:
        return dict(session.exec(select(Device.id, Device.last_sync)).all())


def test_a_due_time_on_a_row_not_written_otherwise_is_handed_back(db):
    pk, = devices(db, 1)
    with db.session(write=False) as session, deferred_seen() as due:
        device = session.get(Device, pk)
        seen(session, device, T0 + timedelta(seconds=30))  # not due
        assert due == {}
        seen(session, device, T0 + timedelta(seconds=90))
        assert due == {pk: T0 + timedelta(seconds=90)} and device.last_sync == T0
        device.device_type = "iPhone"  # the row is written anyway: the time goes with it
        seen(session, device, T0 + timedelta(seconds=91))
        assert due == {} and device.last_sync == T0 + timedelta(seconds=91)
        session.rollback()


def test_callers_waiting_behind_a_write_share_the_next_one(db, monkeypatch):
    pks = devices(db, 6)
    last_seen = LastSeen(db)
    batches: list[dict] = []
    first_write = threading.Event()
    write = LastSeen._write

    def counted(self, batch):
        batches.append(dict(batch))
        if len(batches) == 1:
            first_write.wait(10)  # the first write is slow; the others queue meanwhile
        write(self, batch)

    monkeypatch.setattr(LastSeen, "_write", counted)
    when = {pk: T0 + timedelta(minutes=5, seconds=n) for n, pk in enumerate(pks)}
    access = generations.peek(db.engine, generations.ACCESS)
    threads = [threading.Thread(target=last_seen.store, args=({pk: when[pk]},)) for pk in pks]
    threads[0].start()
    while not batches:
        time.sleep(0.001)
    for thread in threads[1:]:
        thread.start()
    while len(last_seen._queued) < 5:
        time.sleep(0.001)
    first_write.set()
    for thread in threads:
        thread.join(10)
    assert [sorted(b) for b in batches] == [pks[:1], sorted(pks[1:])]
    assert stored(db) == when
    # A last-seen time decides no access: the gate's memory stays valid.
    assert generations.peek(db.engine, generations.ACCESS) == access


def test_nothing_due_writes_nothing(db, monkeypatch):
    last_seen = LastSeen(db)
    monkeypatch.setattr(LastSeen, "_write", lambda self, batch: (_ for _ in ()).throw(AssertionError(batch)))
    last_seen.store({})
