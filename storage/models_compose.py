"""Tables of mail composition and the Settings command: sent ClientIds, Out-of-Office settings and
the senders an automatic reply already went to.

Kept apart from storage/models.py; importing this module registers the tables with SQLModel's
metadata (server/store/compose.py does, and `Database.create_all` should import it too), and the
additive migration in storage/migrate.py covers columns added here later.

- `SentClientId`: the ClientIds of SendMail/SmartReply/SmartForward (14.0+) a device used lately.
  A repeat is answered 118 (MessagePreviouslySent) instead of sending the message twice; rows
  older than `CLIENT_ID_DAYS` are dropped when the device sends again.
- `OofSettings`: one row per user, Exchange's MailboxAutoReplyConfiguration as EAS sees it:
  OofState 0 disabled, 1 global, 2 time-based (between `start_time` and `end_time`), and one reply
  message per audience (internal, known external, unknown external), each enabled or not, in
  plain text or HTML.
- `OofReply`: who got an automatic reply during the current Out-of-Office period: one reply per
  sender, as Exchange sends.  Setting Out-of-Office anew starts a new period (the rows go).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from .models import utcnow
from .types import UTCDateTime

CLIENT_ID_DAYS = 7  # how long a sent ClientId is remembered
CLIENT_ID_KEEP = 500  # and at most this many per device


class SentClientId(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("device_pk", "client_id"),)
    id: int | None = Field(default=None, primary_key=True)
    device_pk: int = Field(foreign_key="device.id", ondelete="CASCADE", index=True)
    client_id: str = Field(max_length=64)
    command: str = Field(default="", max_length=16)  # SendMail | SmartReply | SmartForward
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OofSettings(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True, index=True)
    state: int = 0  # 0 disabled, 1 global, 2 time-based
    start_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    internal_enabled: bool = False
    internal_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    internal_html: bool = False
    known_enabled: bool = False
    known_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    known_html: bool = False
    unknown_enabled: bool = False
    unknown_message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    unknown_html: bool = False
    changed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class OofReply(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "sender"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    sender: str = Field(max_length=320)  # lower case
    sent_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
