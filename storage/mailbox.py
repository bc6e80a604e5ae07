"""Mailboxes: the default folders, storing messages, and the change log every change writes."""
from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, func, select

from easlab.eas.folders import FOLDER_CLASS, FolderType
from easlab.eas.mime import ParsedMessage, mail_fields, parse_message, stored_index

from .models import Folder, Item, ItemChange, User, utcnow

# Exchange's default folders with their MS-ASCMD FolderHierarchy types; Junk E-Mail is a
# user-created mail folder as far as EAS is concerned.
DEFAULT_FOLDERS = (
    ("Inbox", FolderType.Inbox), ("Drafts", FolderType.Drafts), ("Deleted Items", FolderType.DeletedItems),
    ("Sent Items", FolderType.SentItems), ("Outbox", FolderType.Outbox), ("Junk E-Mail", FolderType.UserMail),
    ("Calendar", FolderType.Calendar), ("Contacts", FolderType.Contacts), ("Tasks", FolderType.Tasks),
    ("Notes", FolderType.Notes),
)


def next_hierarchy_seq(session: Session, user: User) -> int:
    user.hierarchy_seq += 1
    session.add(user)
    return user.hierarchy_seq


def ensure_mailbox(session: Session, user: User) -> list[Folder]:
    """Create the default folders once; ServerIds 1-10 in Exchange's order."""
    existing = list(session.exec(select(Folder).where(Folder.user_id == user.id)))
    if existing:
        return existing
    folders = []
    for n, (name, ftype) in enumerate(DEFAULT_FOLDERS, start=1):
        seq = next_hierarchy_seq(session, user)
        folder = Folder(user_id=user.id, server_id=str(n), display_name=name, type=ftype, created_seq=seq, modified_seq=seq)
        session.add(folder)
        folders.append(folder)
    session.flush()
    return folders


def folder_by_type(session: Session, user: User, ftype: int) -> Folder:
    ensure_mailbox(session, user)
    return session.exec(select(Folder).where(Folder.user_id == user.id, Folder.type == ftype, Folder.deleted == False)).first()  # noqa: E712


def folder_by_name(session: Session, user: User, name: str) -> Folder | None:
    """The user's live folder called `name`, in any letter case (the first, if names repeat)."""
    return session.exec(select(Folder).where(Folder.user_id == user.id, Folder.deleted == False,  # noqa: E712
                                             func.lower(Folder.display_name) == name.lower())).first()


def record_change(session: Session, folder: Folder, item: Item, kind: str) -> int:
    """Take the folder's next change number and write the log row; returns the number."""
    folder.change_seq += 1
    session.add(folder)
    session.add(ItemChange(folder_id=folder.id, seq=folder.change_seq, item_id=item.id, server_id=item.server_id, kind=kind))
    return folder.change_seq


def parsed_columns(mime: bytes, parsed: ParsedMessage, received: datetime) -> dict[str, Any]:
    """The row's columns that the MIME decides: eas.mime.MAIL_FIELDS (the one list of them), the
    attachments, and the ConversationIndex dated by the item's arrival when the message has no Date."""
    columns = mail_fields(parsed)
    columns.update(conversation_index=stored_index(parsed, received),
                   attachments=[asdict(a) for a in parsed.attachments], mime=mime, size=len(mime))
    return columns


def set_parsed(item: Item, mime: bytes, parsed: ParsedMessage) -> None:
    """Rewrite a stored row from new MIME (a draft the device changed)."""
    for name, value in parsed_columns(mime, parsed, item.date_received).items():
        setattr(item, name, value)


def store_message(session: Session, folder: Folder, mime: bytes, *, parsed: ParsedMessage | None = None,
                  received: datetime | None = None, read: bool = False) -> Item:
    """Store one RFC 5322 message in `folder` and log it as an add, in the caller's transaction."""
    parsed = parsed or parse_message(mime)
    when = received or parsed.date or datetime.now(timezone.utc)
    # Every column in the constructor: setting them one by one afterwards costs a SQLModel
    # __setattr__ each (a fifth of storing a small message).
    item = Item(folder_id=folder.id, server_id="", date_received=when, read=read,
                **parsed_columns(mime, parsed, when))
    session.add(item)
    session.flush()  # the id makes the ServerId unique in the folder, for good
    item.server_id = f"{folder.server_id}:{item.id}"
    seq = record_change(session, folder, item, "add")
    item.created_seq = item.modified_seq = seq
    return item


def store_messages(session: Session, folder: Folder, entries: list[tuple[bytes, ParsedMessage, datetime, bool]]) -> list[int]:
    """Store many messages in `folder` at once, each as store_message would (the same columns,
    ServerIds and change-log adds, in order), in the caller's transaction; returns the item ids.
    `entries` are (mime, parsed, received, read).  Core statements, a few per batch instead of an
    ORM flush per message: what makes `easlab import` and grouped SMTP deliveries quick."""
    if not entries:
        return []
    if session.new or session.dirty:
        session.flush()  # rows the caller added first are written first, as the ORM's autoflush would
    ids = _insert_messages(session, folder.id, folder.server_id, folder.change_seq + 1, entries)
    folder.change_seq += len(entries)
    session.add(folder)
    return ids


def append_messages(session: Session, folder_id: int, server_id: str,
                    entries: list[tuple[bytes, ParsedMessage, datetime, bool]]) -> list[int]:
    """store_messages into a folder known by its id and ServerId, without loading its row: the
    change counter moves in the UPDATE that reads it (SMTP delivery's cached Inboxes).  A Folder
    row of this session is flushed first and expired after, so the ORM never writes a stale
    counter back.  LookupError when the folder is gone."""
    if not entries:
        return []
    if session.new or session.dirty:
        session.flush()
    last = session.connection().execute(_TAKE_CHANGES, {"f_id": folder_id, "f_n": len(entries)}).scalar()
    if last is None:
        raise LookupError(f"folder {folder_id} is gone")
    for row in list(session.identity_map.values()):
        if isinstance(row, Folder) and row.id == folder_id:
            session.expire(row, ["change_seq"])
    return _insert_messages(session, folder_id, server_id, last - len(entries) + 1, entries)


# Built once: constructing a statement costs about as much as running it.
_ITEMS, _CHANGES, _FOLDERS = Item.__table__, ItemChange.__table__, Folder.__table__
_TAKE_CHANGES = update(_FOLDERS).where(_FOLDERS.c.id == bindparam("f_id")).values(
    change_seq=_FOLDERS.c.change_seq + bindparam("f_n")).returning(_FOLDERS.c.change_seq)
_INSERT_ITEMS = insert(_ITEMS).returning(_ITEMS.c.id, sort_by_parameter_order=True)
_SET_SERVER_IDS = update(_ITEMS).where(_ITEMS.c.id == bindparam("b_id")).values(server_id=bindparam("b_sid"))
_INSERT_CHANGES = insert(_CHANGES)


def _insert_messages(session: Session, folder_id: int, folder_server_id: str, first: int,
                     entries: list[tuple[bytes, ParsedMessage, datetime, bool]]) -> list[int]:
    """The item rows and their change-log adds, numbered from change `first`."""
    connection = session.connection()
    token = uuid.uuid4().hex[:16]  # placeholder ServerIds, unique in the folder until set below
    rows = item_rows(folder_id, first, entries, [f"~{token}:{n}" for n in range(len(entries))])
    ids = [row[0] for row in connection.execute(_INSERT_ITEMS, rows)]
    server_ids = [f"{folder_server_id}:{item_id}" for item_id in ids]
    connection.execute(_SET_SERVER_IDS, [{"b_id": i, "b_sid": sid} for i, sid in zip(ids, server_ids)])
    connection.execute(_INSERT_CHANGES, change_rows(folder_id, first, ids, server_ids, utcnow()))
    return ids


# What a plain message leaves at its column default (bcc, is_draft, uid, ...): every default of the
# item table is a scalar, so a row can give every column (storage/plain_mail.py's INSERT needs it).
_ITEM_DEFAULTS = {c.name: c.default.arg for c in _ITEMS.columns if c.default is not None and c.default.is_scalar}


def item_rows(folder_id: int, first: int, entries: list[tuple[bytes, ParsedMessage, datetime, bool]],
              server_ids: list[str]) -> list[dict[str, Any]]:
    """The item rows of `entries` (mime, parsed, received, read) in a folder, with these ServerIds,
    numbered from change `first`: every column but the id.  The one home of a stored message's
    row for the ORM path (_insert_messages) and plain mail's (storage/plain_mail.py)."""
    return [{**_ITEM_DEFAULTS, "folder_id": folder_id, "server_id": server_id, "date_received": when, "read": read,
             "created_seq": first + n, "modified_seq": first + n, "pim": None, **parsed_columns(mime, parsed, when)}
            for n, ((mime, parsed, when, read), server_id) in enumerate(zip(entries, server_ids))]


def change_rows(folder_id: int, first: int, ids: list[int], server_ids: list[str], now: datetime) -> list[dict[str, Any]]:
    """The change-log adds of items `ids` in a folder, numbered from change `first` (item_rows' twin)."""
    return [dict(folder_id=folder_id, seq=first + n, item_id=item_id, server_id=server_id, kind="add", at=now)
            for n, (item_id, server_id) in enumerate(zip(ids, server_ids))]


def change_item(session: Session, folder: Folder, item: Item) -> None:
    item.modified_seq = record_change(session, folder, item, "change")
    session.add(item)


def delete_item(session: Session, folder: Folder, item: Item) -> None:
    """Remove for good; the log keeps a tombstone so devices learn of it."""
    record_change(session, folder, item, "delete")
    session.delete(item)


def move_item(session: Session, item: Item, source: Folder, destination: Folder) -> Item:
    """Move = delete in the source and add in the destination, with a new ServerId there."""
    record_change(session, source, item, "delete")
    item.folder_id = destination.id
    item.server_id = f"{destination.server_id}:{item.id}"
    seq = record_change(session, destination, item, "add")
    item.created_seq = item.modified_seq = seq
    session.add(item)
    return item


# -- folders a device creates, renames, moves and deletes (FolderCreate/Update/Delete) ----------
# ensure_mailbox numbers the default folders 1..10 and new folders count on from there, so the
# ServerId alone tells a default folder (never renamed, moved or deleted by a device).
DEFAULT_SERVER_IDS = frozenset(str(n) for n in range(1, len(DEFAULT_FOLDERS) + 1))


def is_default_folder(folder: Folder) -> bool:
    return folder.server_id in DEFAULT_SERVER_IDS


def next_folder_server_id(session: Session, user: User) -> str:
    """One more than the highest numeric ServerId the user ever had (tombstones count: a deleted
    folder's id is never handed out again, so a device cannot confuse the two)."""
    used = session.exec(select(Folder.server_id).where(Folder.user_id == user.id))
    top = max((int(sid) for sid in used if sid.isdigit()), default=0)
    return str(max(top, len(DEFAULT_FOLDERS)) + 1)


def create_folder(session: Session, user: User, parent_id: str, display_name: str, ftype: int) -> Folder:
    seq = next_hierarchy_seq(session, user)
    folder = Folder(user_id=user.id, server_id=next_folder_server_id(session, user), parent_id=parent_id,
                    display_name=display_name, type=ftype, created_seq=seq, modified_seq=seq)
    session.add(folder)
    session.flush()
    return folder


def update_folder(session: Session, user: User, folder: Folder, parent_id: str, display_name: str) -> None:
    folder.parent_id = parent_id
    folder.display_name = display_name
    folder.modified_seq = next_hierarchy_seq(session, user)
    session.add(folder)


def subfolders(session: Session, user: User, folder: Folder) -> list[Folder]:
    """Every live folder below `folder`, parents before their children."""
    live = list(session.exec(select(Folder).where(Folder.user_id == user.id, Folder.deleted == False)))  # noqa: E712
    children: dict[str, list[Folder]] = {}
    for f in live:
        children.setdefault(f.parent_id, []).append(f)
    out: list[Folder] = []
    queue = [folder.server_id]
    while queue:
        for child in children.get(queue.pop(0), []):
            if child.id != folder.id and child not in out:
                out.append(child)
                queue.append(child.server_id)
    return out


def empty_folder(session: Session, folder: Folder) -> int:
    """Delete every item in `folder`, each with a tombstone in the change log; returns how many."""
    from sqlalchemy import delete

    rows = list(session.exec(select(Item.id, Item.server_id).where(Item.folder_id == folder.id).order_by(Item.id)))
    for item_id, server_id in rows:
        folder.change_seq += 1
        session.add(ItemChange(folder_id=folder.id, seq=folder.change_seq, item_id=item_id, server_id=server_id, kind="delete"))
    if rows:
        session.add(folder)
        session.execute(delete(Item).where(Item.folder_id == folder.id, Item.id.in_([r[0] for r in rows])))
    return len(rows)


def delete_folder_tree(session: Session, user: User, folder: Folder) -> list[Folder]:
    """Delete `folder` with its subfolders and all their items, as one hierarchy change.  The
    folders stay as tombstones so FolderSync can tell devices; returns the folders deleted."""
    seq = next_hierarchy_seq(session, user)
    doomed = [folder, *subfolders(session, user, folder)]
    for f in doomed:
        empty_folder(session, f)
        f.deleted = True
        f.modified_seq = seq
        session.add(f)
    return doomed


# -- drafts and sent mail (EAS 16.0 drafts over Sync; SendMail's Sent Items copy) -------------------
def _has_column(name: str) -> bool:
    return name in Item.model_fields


def refresh_item(session: Session, item: Item, mime: bytes, *, parsed: ParsedMessage | None = None,
                 bcc: str | None = None, is_draft: bool | None = None) -> Item:
    """Replace an item's MIME and every column parsed from it, in the caller's transaction.  No
    change-log row: the caller records the change (change_item), or the item was just added or
    moved and its log row is already written."""
    set_parsed(item, mime, parsed or parse_message(mime))
    if bcc is not None and _has_column("bcc"):
        item.bcc = bcc
    if is_draft is not None and _has_column("is_draft"):
        item.is_draft = is_draft
    session.add(item)
    return item


def store_draft(session: Session, folder: Folder, mime: bytes, bcc: str, received: datetime) -> Item:
    """A draft a device created: stored like a message (read, so it never counts as unread), marked
    as a draft, and logged as an add."""
    parsed = parse_message(mime)
    item = store_message(session, folder, mime, parsed=parsed, received=received, read=True)
    return refresh_item(session, item, mime, parsed=parsed, bcc=bcc, is_draft=True)


def send_draft(session: Session, item: Item, drafts: Folder, sent: Folder, mime: bytes, received: datetime) -> Item:
    """A sent draft leaves Drafts for Sent Items (a delete there, an add here) as the message that
    went out."""
    move_item(session, item, drafts, sent)
    item.date_received = received
    item.read = True
    return refresh_item(session, item, mime, bcc="", is_draft=False)


def folder_class(ftype: int) -> str:
    """The item class a folder type holds, for the commands that must not mix classes (MoveItems,
    GetHierarchy, Search): FOLDER_CLASS, with journals (11, 16) holding no mail."""
    if ftype in (FolderType.Journal, FolderType.UserJournal):
        return "Journal"
    return FOLDER_CLASS.get(ftype, "Email")
