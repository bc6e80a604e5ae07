"""Tables for folder changes made by devices and for Find paging.

`HierarchyEcho` remembers a hierarchy change a device made itself while other changes were still
waiting for it (its FolderSync position could not simply move past its own change), so its next
FolderSync can leave that change out; `storage.folders.folder_sync_with_echoes` reads it.
`FindSearch` remembers the SearchIds a device has started, because MS-ASCMD Find wants the first
request of a search to start at row 0 and later pages to reuse the id.  `ConversationAction` keeps
the conversations a user has set to be moved always (storage/conversations.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from .models import utcnow
from .types import UTCDateTime


class HierarchyEcho(SQLModel, table=True):
    __tablename__ = "hierarchy_echo"
    __table_args__ = (Index("ix_hierarchy_echo_device", "device_pk", "seq"),)
    id: int | None = Field(default=None, primary_key=True)
    device_pk: int = Field(foreign_key="device.id", ondelete="CASCADE")  # the index below leads with it
    folder_id: int = Field(foreign_key="folder.id")
    seq: int  # the user's hierarchy_seq the change took
    kind: str = Field(max_length=8)  # "create" | "update" | "delete"


class FindSearch(SQLModel, table=True):
    __tablename__ = "find_search"
    __table_args__ = (UniqueConstraint("device_pk", "search_id"),)
    id: int | None = Field(default=None, primary_key=True)
    device_pk: int = Field(foreign_key="device.id", ondelete="CASCADE", index=True)
    search_id: str = Field(max_length=128)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConversationAction(SQLModel, table=True):
    """A conversation set to be moved always (ItemOperations Move with MoveAlways, MS-ASCON
    3.2.5.3): mail of it that arrives later goes to `folder_id` instead of the Inbox.  Ignoring a
    conversation is the same with the Deleted Items folder."""

    __tablename__ = "conversation_action"
    __table_args__ = (UniqueConstraint("user_id", "conversation_id"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    conversation_id: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    folder_id: int = Field(foreign_key="folder.id", ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
