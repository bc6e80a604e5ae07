"""The directory side of a user: what Exchange keeps in Active Directory beside the mailbox.

One optional row per user (no row: every field empty).  The global address list (Search with
Store GAL), ResolveRecipients and Autodiscover read it; `easlab user set` writes it.
"""
from __future__ import annotations

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel


class UserDirectory(SQLModel, table=True):
    user_id: int = Field(foreign_key="user.id", primary_key=True)
    # AD's givenName / sn; the display name stays on User.
    first_name: str = Field(default="", max_length=64)
    last_name: str = Field(default="", max_length=64)
    phone: str = Field(default="", max_length=64)  # telephoneNumber
    office: str = Field(default="", max_length=128)  # physicalDeliveryOfficeName
    title: str = Field(default="", max_length=128)
    company: str = Field(default="", max_length=64)
    home_phone: str = Field(default="", max_length=64)
    mobile_phone: str = Field(default="", max_length=64)
    # A mail user: its mail goes to this outside address (Exchange's ExternalEmailAddress), so
    # Autodiscover answers with a Redirect and there is no calendar to read free/busy from.
    external_address: str = Field(default="", max_length=320)
    picture: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))  # JPEG
    certificate: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))  # S/MIME, DER
