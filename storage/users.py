"""Queries on users."""
from __future__ import annotations

import re

from sqlmodel import Session, select

from .models import User

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class UserError(ValueError):
    pass


def normalise_name(name: str) -> str:
    name = name.strip().lower()
    if not NAME_RE.match(name):
        raise UserError(f"user name {name!r}: use 1-64 of a-z, 0-9, '.', '_' and '-'")
    return name


def get_user(session: Session, name: str) -> User | None:
    return session.exec(select(User).where(User.name == name.strip().lower())).first()


def lock_mailboxes(session: Session, names: list[str]) -> None:
    """Make the caller the only writer of these users' mailboxes until its transaction ends.  On
    PostgreSQL two transactions could otherwise both read a folder's change counter or an item
    and both write it (one update lost, two devices told different stories); the user rows are
    locked in name order, so two deliveries to the same people cannot deadlock.  SQLite has one
    writer at a time already (storage/db.py)."""
    if session.get_bind().dialect.name == "sqlite":
        return
    wanted = sorted({name.strip().lower() for name in names})
    session.exec(select(User.id).where(User.name.in_(wanted)).order_by(User.name).with_for_update()).all()


def add_user(session: Session, name: str, password: str, display_name: str = "", *, role: str = "",
             hashed: str | None = None) -> User:
    """A new user with its mailbox; `hashed` is the password's hash when the caller has it already
    (argon2 is slow on purpose, and the test plugin makes the same users again and again)."""
    # Here, not at the top: `easlab user list` imports this module and needs neither the MIME
    # parser nor passlib.
    from .mailbox import ensure_mailbox
    from .passwords import hash_password

    name = normalise_name(name)
    if not password:
        raise UserError("a password is required")
    if get_user(session, name) is not None:
        raise UserError(f"user {name} exists")
    user = User(name=name, display_name=display_name or name, password_hash=hashed or hash_password(password),
                role=role)
    session.add(user)
    session.flush()
    ensure_mailbox(session, user)
    return user


def set_password(session: Session, name: str, password: str) -> User:
    from .passwords import hash_password

    user = get_user(session, name)
    if user is None:
        raise UserError(f"no user {name}")
    if not password:
        raise UserError("a password is required")
    user.password_hash = hash_password(password)
    session.add(user)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(User.name)))


def remove_user(session: Session, user: User) -> dict:
    """Remove the mailbox and everything that is its own, in the caller's transaction (Exchange's
    Remove-Mailbox takes the mailbox's content and its device partnerships with it): a later user
    of the same name starts with an empty mailbox and new partnerships, never with another's mail.
    The rows keyed by a device go with it through ON DELETE CASCADE (storage/devices.py)."""
    from sqlmodel import col, delete

    from .models import Device, Folder, Item, ItemChange
    from .models_compose import OofReply, OofSettings
    from .models_directory import UserDirectory
    from .models_items import ConversationAction
    from .models_faults import Fault, TraceEntry, TraceSetting

    devices = list(session.exec(select(Device).where(Device.user_id == user.id)))
    for device in devices:
        session.delete(device)
    session.flush()
    folders = select(Folder.id).where(Folder.user_id == user.id)
    items = session.exec(select(Item.id).where(col(Item.folder_id).in_(folders))).all()
    for table, column in ((ItemChange, ItemChange.folder_id), (Item, Item.folder_id)):
        session.exec(delete(table).where(col(column).in_(folders)))  # type: ignore[call-overload]
    session.exec(delete(ConversationAction).where(ConversationAction.user_id == user.id))  # type: ignore[call-overload]
    for table, by_id in ((Folder, Folder.user_id), (OofSettings, OofSettings.user_id), (OofReply, OofReply.user_id),
                         (UserDirectory, UserDirectory.user_id)):
        session.exec(delete(table).where(by_id == user.id))  # type: ignore[call-overload]
    # Faults and traces name the user rather than point at the row.
    for table, by_name in ((Fault, Fault.user), (TraceSetting, TraceSetting.user), (TraceEntry, TraceEntry.user)):
        session.exec(delete(table).where(by_name == user.name))  # type: ignore[call-overload]
    session.delete(user)
    session.flush()
    return {"name": user.name, "devices": [d.device_id for d in devices], "items": len(items)}
