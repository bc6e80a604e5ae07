"""Device partnerships: one row per (user, DeviceId), updated when a request changes what it stores.

The time a device was last seen (`last_sync`) is stored at most once a minute (LAST_SEEN_EVERY),
unless the row is written for another reason anyway: writing it on every request would make every
request a write, and on SQLite writers take turns.
"""
from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from .models import Device, User, utcnow

LAST_SEEN_EVERY = timedelta(seconds=60)


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
    if last is None or now - last >= LAST_SEEN_EVERY or device.id is None or session.is_modified(device):
        device.last_sync = now


def remove_device(session: Session, device: Device) -> None:
    """End a partnership (Exchange's Remove-MobileDevice): the next request from that DeviceId is a
    new device.  Every row keyed by the device (sync states, access history, sent ClientIds,
    hierarchy echoes, Find searches) goes with it through its foreign key's ON DELETE CASCADE, so a
    new partnership, which may get the same id, starts clean."""
    session.delete(device)
    session.flush()
