"""Mailbox search for Search and Find: which folders, which items, which page.

Free text is matched with a case-insensitive LIKE per word or "phrase" (every one must occur in
the subject, the body, the sender or the recipients); Find's KQL adds field restrictions
(subject:, from:, to:, cc:, participants:, body:).  Newest first.
"""
from __future__ import annotations

import re
import shlex

from sqlalchemy import and_, func, or_
from sqlmodel import Session, select

from easlab.eas.records import MailboxQuery

from .mailbox import folder_class, subfolders
from .models import Folder, Item, User
from .items import find_folder

_KQL_FIELDS = {
    "subject": ("subject",), "from": ("sender",), "to": ("to", "display_to"), "cc": ("cc",),
    "participants": ("sender", "to", "cc", "display_to"), "body": ("body_text", "body_html"),
}
_ANY = ("subject", "body_text", "sender", "to", "cc", "display_to")
_KEYWORDS = {"and", "or", "not"}


def terms(text: str | None, kql: bool = False) -> list[tuple[tuple[str, ...], str]]:
    """[(columns, needle)]: every needle must occur in one of its columns."""
    if not text or not text.strip():
        return []
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: take the words as they are
        words = text.replace('"', " ").split()
    out = []
    for word in words:
        columns = _ANY
        if kql:
            if word.lower() in _KEYWORDS:
                continue
            field, sep, rest = word.partition(":")
            if sep and field.lower() in _KQL_FIELDS and rest:
                columns, word = _KQL_FIELDS[field.lower()], rest
        if word.strip():
            out.append((columns, word.strip()))
    return out


def _like(needle: str) -> str:
    return "%" + re.sub(r"([\\%_])", r"\\\1", needle) + "%"


def scope(session: Session, user: User, query: MailboxQuery) -> list[Folder] | None:
    """The folders a query covers; None when it names a folder the user does not have."""
    classes = {c for c in query.classes if c} or {"Email"}
    if query.collection_ids:
        folders: list[Folder] = []
        for cid in query.collection_ids:
            folder = find_folder(session, user, cid)
            if folder is None:
                return None
            found = [folder, *(subfolders(session, user, folder) if query.deep else [])]
            folders += [f for f in found if f not in folders]
    else:
        folders = list(session.exec(select(Folder).where(Folder.user_id == user.id, Folder.deleted == False)))  # noqa: E712
    return [f for f in folders if folder_class(f.type) in classes]


def run(session: Session, folders: list[Folder], query: MailboxQuery) -> tuple[list[tuple[Item, Folder]], int]:
    """The requested page of matches (newest first) and how many there are in all."""
    if not folders:
        return [], 0
    by_id = {f.id: f for f in folders}
    conditions = [Item.folder_id.in_(list(by_id))]
    for columns, needle in terms(query.free_text, query.kql):
        pattern = _like(needle)
        conditions.append(or_(*[getattr(Item, c).ilike(pattern, escape="\\") for c in columns]))
    if query.conversation_id is not None:
        conditions.append(Item.conversation_id == query.conversation_id)
    if query.received_after is not None:
        conditions.append(Item.date_received > query.received_after)
    if query.received_before is not None:
        conditions.append(Item.date_received < query.received_before)
    where = and_(*conditions)
    total = session.exec(select(func.count()).select_from(Item).where(where)).one()
    first, last = query.range
    rows = session.exec(select(Item).where(where).order_by(Item.date_received.desc(), Item.id.desc())
                        .offset(first).limit(last - first + 1))
    return [(item, by_id[item.folder_id]) for item in rows], total
