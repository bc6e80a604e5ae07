"""Mailboxes: the default folders, storing messages, and the change log every change writes."""
from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone

from sqlmodel import Session, select

from eas.mime import ParsedMessage, parse_message

from .models import Folder, Item, ItemChange, User

# Exchange's default folders with their MS-ASCMD FolderHierarchy types; Junk E-Mail is a
# user-created mail folder (12) as far as EAS is concerned.
DEFAULT_FOLDERS = (
    ("Inbox", 2), ("Drafts", 3), ("Deleted Items", 4), ("Sent Items", 5), ("Outbox", 6),
    ("Junk E-Mail", 12), ("Calendar", 8), ("Contacts", 9), ("Tasks", 7), ("Notes", 10),
)
FOLDER_CLASS = {1: "Email", 2: "Email", 3: "Email", 4: "Email", 5: "Email", 6: "Email", 12: "Email",
                7: "Tasks", 15: "Tasks", 8: "Calendar", 13: "Calendar", 9: "Contacts", 14: "Contacts",
                10: "Notes", 17: "Notes"}


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


def record_change(session: Session, folder: Folder, item: Item, kind: str) -> int:
    """Take the folder's next change number and write the log row; returns the number."""
    folder.change_seq += 1
    session.add(folder)
    session.add(ItemChange(folder_id=folder.id, seq=folder.change_seq, item_id=item.id, server_id=item.server_id, kind=kind))
    return folder.change_seq


def store_message(session: Session, folder: Folder, mime: bytes, *, parsed: ParsedMessage | None = None,
                  received: datetime | None = None, read: bool = False) -> Item:
    """Store one RFC 5322 message in `folder` and log it as an add, in the caller's transaction."""
    parsed = parsed or parse_message(mime)
    when = received or parsed.date or datetime.now(timezone.utc)
    item = Item(
        folder_id=folder.id, server_id="", message_class=parsed.message_class, subject=parsed.subject,
        sender=parsed.sender, to=parsed.to, cc=parsed.cc, reply_to=parsed.reply_to,
        display_to=parsed.display_to, thread_topic=parsed.thread_topic, date_received=when,
        importance=parsed.importance, read=read, internet_cpid=parsed.internet_cpid,
        conversation_id=parsed.conversation_id, conversation_index=parsed.conversation_index,
        body_text=parsed.body_text, body_html=parsed.body_html,
        attachments=json.dumps([asdict(a) for a in parsed.attachments]), mime=mime, size=len(mime),
    )
    session.add(item)
    session.flush()  # the id makes the ServerId unique in the folder, for good
    item.server_id = f"{folder.server_id}:{item.id}"
    seq = record_change(session, folder, item, "add")
    item.created_seq = item.modified_seq = seq
    return item


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
