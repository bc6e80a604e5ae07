"""LongIds: the handles Search and Find results carry (MS-ASCMD 2.2.3.98), which ItemOperations,
SmartReply, SmartForward and MeetingResponse accept in place of CollectionId + ServerId.

A LongId is the item's row id and a MAC over (user, item) keyed with the installation's secret,
base64url-encoded.  It stays valid while the item exists, wherever it is moved, and survives
restarts; nobody can make one up, and one user's LongId opens nothing in another user's mailbox
(the MAC is checked against the user asking, and the item must be in that user's mailbox too).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import struct

from sqlmodel import Session, select

from .access import org_settings
from .models import Folder, Item, User

_MAC_BYTES = 16
_PURPOSE = b"easlab LongId v1"


def _key(session: Session) -> bytes:
    secret = org_settings(session).secret
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _mac(key: bytes, user_id: int, item_id: int) -> bytes:
    return hmac.new(key, struct.pack(">QQ", user_id, item_id), hashlib.sha256).digest()[:_MAC_BYTES]


class LongIds:
    """Makes and checks LongIds within one transaction (the key is read once)."""

    def __init__(self, session: Session, user: User):
        self.session = session
        self.user = user
        self._key = _key(session)

    def make(self, item_id: int) -> str:
        raw = struct.pack(">Q", item_id) + _mac(self._key, self.user.id, item_id)
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def item_id(self, long_id: str | None) -> int | None:
        """The item id a LongId stands for, if it is genuine and this user's; else None."""
        if not long_id or len(long_id) > 64:
            return None
        try:
            raw = base64.urlsafe_b64decode(long_id + "=" * (-len(long_id) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 8 + _MAC_BYTES:
            return None
        item_id = struct.unpack(">Q", raw[:8])[0]
        if not hmac.compare_digest(raw[8:], _mac(self._key, self.user.id, item_id)):
            return None
        return item_id

    def item(self, long_id: str | None) -> tuple[Item, Folder] | None:
        """The user's item behind a LongId, with its folder; None when it is not theirs or gone."""
        item_id = self.item_id(long_id)
        if item_id is None:
            return None
        row = self.session.exec(select(Item, Folder).join(Folder, Folder.id == Item.folder_id).where(
            Item.id == item_id, Folder.user_id == self.user.id, Folder.deleted == False)).first()  # noqa: E712
        return (row[0], row[1]) if row is not None else None


def item_by_long_id(session: Session, user: User, long_id: str | None) -> tuple[Item, Folder] | None:
    """For SmartReply/SmartForward/MeetingResponse: the (item, folder) a LongId names, or None."""
    return LongIds(session, user).item(long_id)


def looks_like_long_id(value: str | None) -> bool:
    """ServerIds are "<collection>:<n>"; a LongId never holds a colon."""
    return bool(value) and ":" not in value
