"""The tables.  Names follow Exchange's where it has one (a mailbox's user, a device partnership)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    # Stored lower-case: logins are case-insensitive, as Active Directory's are.
    name: str = Field(index=True, unique=True, max_length=64)
    display_name: str = Field(default="", max_length=256)
    password_hash: str = Field(max_length=256)
    created_at: datetime = Field(default_factory=utcnow)
