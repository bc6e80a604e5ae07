"""storage/types.py on SQLite and PostgreSQL: moments come back aware UTC, JSON columns as lists."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import select

from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.models import Device, Item, OutboundMail, User
from easlab.storage.types import iso
from easlab.storage.users import add_user, get_user

UTC = timezone.utc
PARIS_WINTER = timezone(timedelta(hours=1))
MOMENT = datetime(2026, 1, 5, 9, 30, 15, 123456, tzinfo=UTC)


def _device(db, **fields) -> int:
    with db.session() as s:
        user = get_user(s, "alice") or add_user(s, "alice", "pw")
        device = Device(user_id=user.id, device_id="dev1", **fields)
        s.add(device)
        s.flush()
        return device.id


def _read(db, pk: int) -> Device:
    with db.session() as s:
        return s.get(Device, pk)


def test_an_aware_moment_comes_back_equal_and_utc(database):
    pk = _device(database, first_sync=MOMENT, provisioned_at=MOMENT)
    back = _read(database, pk)
    assert back.first_sync == MOMENT and back.provisioned_at == MOMENT
    assert back.first_sync.tzinfo is UTC and back.provisioned_at.tzinfo is UTC


def test_a_moment_in_another_zone_is_stored_as_its_utc_instant(database):
    pk = _device(database, first_sync=datetime(2026, 1, 5, 10, 30, tzinfo=PARIS_WINTER))
    assert _read(database, pk).first_sync == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    with database.engine.connect() as conn:  # the column holds the naive UTC value, as before
        raw = conn.execute(text("SELECT first_sync FROM device")).scalar()
    assert str(raw).startswith("2026-01-05 09:30:00")


def test_a_naive_moment_is_refused(database):
    with pytest.raises(StatementError, match="naive datetime"):
        _device(database, first_sync=datetime(2026, 1, 5, 9, 30))
    with database.session() as s:
        assert s.exec(select(Device)).all() == []


def test_a_naive_moment_in_a_query_is_refused(database):
    _device(database)
    with database.session() as s, pytest.raises(StatementError, match="naive datetime"):
        s.exec(select(Device).where(Device.first_sync < datetime(2030, 1, 1))).all()


def test_none_stays_none(database):
    back = _read(database, _device(database))
    assert back.provisioned_at is None and back.wipe_ack_at is None


def test_queries_compare_instants_whatever_the_zone(database):
    with database.session() as s:
        user = add_user(s, "alice", "pw")
        inbox = folder_by_type(s, user, 2)
        for minute in (0, 10, 20):
            store_message(s, inbox, b"Subject: m\r\n\r\nx", received=MOMENT + timedelta(minutes=minute))
    cut = (MOMENT + timedelta(minutes=10)).astimezone(PARIS_WINTER)
    with database.session() as s:
        later = s.exec(select(Item).where(Item.date_received >= cut).order_by(Item.date_received)).all()
    assert [i.date_received for i in later] == [MOMENT + timedelta(minutes=10), MOMENT + timedelta(minutes=20)]


def test_a_naive_value_written_by_an_older_easlab_reads_as_utc(database):
    pk = _device(database)
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE device SET last_sync = :v WHERE id = :pk"), {"v": datetime(2025, 12, 31, 23, 0), "pk": pk})
    assert _read(database, pk).last_sync == datetime(2025, 12, 31, 23, 0, tzinfo=UTC)


def test_a_json_list_round_trips_and_keeps_the_old_text(database):
    with database.session() as s:
        user = add_user(s, "alice", "pw")
        user.allowed_device_ids = ["PhoneA", "Tablet B"]
        s.add(user)
    with database.session() as s:
        assert get_user(s, "alice").allowed_device_ids == ["PhoneA", "Tablet B"]
        assert get_user(s, "alice").blocked_device_ids == []
    with database.engine.connect() as conn:
        raw = conn.execute(text('SELECT allowed_device_ids, blocked_device_ids FROM "user"')).one()
    assert tuple(raw) == ('["PhoneA", "Tablet B"]', "[]")  # what json.dumps wrote by hand before


def test_an_empty_json_column_reads_as_an_empty_list(database):
    with database.session() as s:
        s.add(OutboundMail(sender="a@easlab.test", recipients=["x@example.net"]))
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE outboundmail SET recipients = ''"))
    with database.session() as s:
        assert s.exec(select(OutboundMail)).one().recipients == []


def test_a_json_list_column_refuses_text(database):
    with pytest.raises(StatementError, match="JSONList takes a list"):
        with database.session() as s:
            user = add_user(s, "alice", "pw")
            user.allowed_device_ids = '["PhoneA"]'  # the old hand-encoded form
            s.add(user)


def test_iso_is_the_admin_views_format():
    assert iso(MOMENT) == "2026-01-05T09:30:15+00:00"
    assert iso(MOMENT, "auto") == "2026-01-05T09:30:15.123456+00:00"
    assert iso(MOMENT.astimezone(PARIS_WINTER)) == "2026-01-05T09:30:15+00:00"
    assert iso(None) is None


def test_user_rows_keep_their_defaults(database):
    with database.session() as s:
        add_user(s, "alice", "pw")
    with database.session() as s:
        user = s.exec(select(User)).one()
    assert user.created_at.tzinfo is UTC and abs(user.created_at - datetime.now(UTC)) < timedelta(minutes=5)
