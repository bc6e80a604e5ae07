"""Queries behind device access control: organisation settings, rules, per-mailbox lists."""
from __future__ import annotations

from sqlmodel import Session, func, select

from easlab.eas.machines import wipe
from easlab.eas.machines.access import (
    ACCESS_LEVELS, CHARACTERISTICS, DeviceFacts, MailboxAccess, Organisation, Rule, listed, same_device,
)

from .models import AccessRule, Device, DeviceAccessChange, OrgSettings, User, utcnow


class AccessError(ValueError):
    pass


class RuleNotFound(AccessError, LookupError):
    pass


def org_settings(session: Session) -> OrgSettings:
    row = session.exec(select(OrgSettings)).first()
    if row is None:
        row = OrgSettings()
        session.add(row)
    if not row.secret:
        import secrets

        row.secret = secrets.token_hex(32)
        session.add(row)
        session.flush()
    return row


def valid_address(address: str) -> bool:
    from email.utils import parseaddr

    _, addr = parseaddr(address or "")
    local, at, domain = addr.rpartition("@")
    return bool(at and local and "." in domain and " " not in addr)


def admin_recipients(row: OrgSettings) -> tuple[list[str], list[str]]:
    """(valid, invalid) AdminMailRecipients."""
    listed = row.admin_mail_recipients
    return [a for a in listed if valid_address(a)], [a for a in listed if not valid_address(a)]


def organisation(row: OrgSettings) -> Organisation:
    return Organisation(default_access=row.default_access, discovery_minutes=row.discovery_minutes,
                        max_devices=row.max_devices, blocked_delay=row.blocked_delay)


def rules(session: Session) -> list[Rule]:
    return [Rule(r.characteristic, r.query, r.access_level) for r in session.exec(select(AccessRule).order_by(AccessRule.id))]


def add_rule(session: Session, characteristic: str, query: str, access_level: str) -> AccessRule:
    characteristic = _canonical(characteristic, CHARACTERISTICS, "characteristic")
    access_level = _canonical(access_level, ACCESS_LEVELS, "access level")
    if not query or len(query) > 1024:
        raise AccessError("a rule needs a query string of 1-1024 characters")
    rule = Rule(characteristic, query, access_level)
    # The name is the rule's identity, and like an AD common name it ignores case.
    if session.exec(select(AccessRule).where(func.lower(AccessRule.name) == rule.name.lower())).first() is not None:
        raise AccessError(f"a rule named {rule.name!r} exists")
    row = AccessRule(name=rule.name, characteristic=characteristic, query=query, access_level=access_level)
    session.add(row)
    session.flush()
    return row


def find_rule(session: Session, name: str) -> AccessRule:
    row = session.exec(select(AccessRule).where(func.lower(AccessRule.name) == name.lower())).first()
    if row is None:
        raise RuleNotFound(f"no rule named {name!r}")
    return row


def _canonical(value: str, allowed: tuple[str, ...], what: str) -> str:
    for a in allowed:
        if a.lower() == (value or "").lower():
            return a
    raise AccessError(f"{what} {value!r}: use one of {', '.join(allowed)}")


def mailbox_access(user: User) -> MailboxAccess:
    return MailboxAccess(user.activesync_enabled, list(user.allowed_device_ids), list(user.blocked_device_ids))


def add_to_list(user: User, which: str, device_id: str) -> bool:
    """Append to the allowed or blocked list (case-insensitive); False if already there."""
    attr = f"{which}_device_ids"
    ids = list(getattr(user, attr))
    if listed(device_id, ids):
        return False
    ids.append(device_id)
    setattr(user, attr, ids)
    return True


def remove_from_list(user: User, which: str, device_id: str | None) -> list[str]:
    """Remove one id (or every id, for None) from a list; returns what was removed."""
    attr = f"{which}_device_ids"
    ids = list(getattr(user, attr))
    if device_id is None:
        kept, removed = [], ids
    else:
        kept = [d for d in ids if not same_device(d, device_id)]
        removed = [d for d in ids if same_device(d, device_id)]
    setattr(user, attr, kept)
    return removed


def device_facts(device: Device, user_agent: str | None = None, xmswl: str = "") -> DeviceFacts:
    return DeviceFacts(
        device_id=device.device_id, device_type=device.device_type, user_agent=user_agent or device.user_agent,
        os=device.os, model=device.model, xmswl=xmswl, created_at=device.first_sync,
        wipe_pending=device.wipe_state in wipe.PENDING,
        autoblock_reason=device.autoblock_reason, autoblock_until=device.autoblock_until,
    )


def set_autoblock(session: Session, device: Device, behavior: str, until, now) -> None:
    """Block the device for `behavior` until `until` (eas.autoblock rule 1), stored Blocked at once
    so lists and the web UI show it before the device's next request."""
    device.autoblock_reason, device.autoblock_until = behavior, until
    record_state(session, device, "Blocked", behavior, None, "AutoBlock", now)


def clear_autoblock(device: Device) -> bool:
    """Lift an auto-block (an administrator's Allow); True when there was one."""
    had = bool(device.autoblock_reason)
    device.autoblock_reason, device.autoblock_until = "", None
    return had


def record_state(session: Session, device: Device, state: str, reason: str, rule: str | None, step: str,
                 now=None) -> bool:
    """Store a device's new access state at `now` (the server's clock); True when it changed (and
    the change was logged)."""
    now = now or utcnow()
    rule = rule or ""
    if (device.access_state, device.access_reason, device.access_rule) == (state, reason, rule):
        device.access_step = step
        return False
    session.add(DeviceAccessChange(device_pk=device.id, old_state=device.access_state, new_state=state,
                                   reason=reason, rule=rule, step=step, at=now))
    changed_state = device.access_state != state
    device.access_state, device.access_reason, device.access_rule, device.access_step = state, reason, rule, step
    device.access_changed_at = now
    session.add(device)
    return changed_state


def history(session: Session, device: Device) -> list[DeviceAccessChange]:
    return list(session.exec(select(DeviceAccessChange).where(DeviceAccessChange.device_pk == device.id).order_by(DeviceAccessChange.id)))
