"""Conversations set to be moved always (MS-ASCON 3.2.5.3): where later mail of them is stored.

Delivery asks `always_move_targets` once per user and transaction, then stores each message of
such a conversation in its folder instead of the Inbox.  A target folder that was deleted since
sends the mail to the Inbox again.
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from .models import Folder, User
from .models_items import ConversationAction


def set_always_move(session: Session, user: User, conversation_id: bytes, folder: Folder, now: datetime) -> None:
    row = session.exec(select(ConversationAction).where(ConversationAction.user_id == user.id,
                                                        ConversationAction.conversation_id == conversation_id)).first()
    if row is None:
        row = ConversationAction(user_id=user.id, conversation_id=conversation_id, folder_id=folder.id, created_at=now)
    row.folder_id = folder.id
    session.add(row)


def always_move_targets(session: Session, user: User) -> dict[bytes, Folder]:
    """The user's conversations set to be moved always, each with the folder its mail goes to."""
    rows = session.exec(select(ConversationAction, Folder).join(Folder, Folder.id == ConversationAction.folder_id).where(
        ConversationAction.user_id == user.id, Folder.deleted == False))  # noqa: E712
    return {bytes(action.conversation_id): folder for action, folder in rows}


def arrival_folder(session: Session, user: User, conversation_id: bytes, inbox: Folder) -> Folder:
    """Where a message of `conversation_id` arriving for `user` is stored."""
    if not conversation_id:
        return inbox
    return always_move_targets(session, user).get(conversation_id, inbox)
