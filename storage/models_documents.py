"""The document library (MS-ASDOC): folders and documents the administrator publishes under the
UNC host `\\\\easlab` (eas/documents.py), kept in the database so a lab needs no file share.

`path` is the entry's place below the host, its components joined by a backslash (the first one
is the share); `path_key` is the same in lower case, unique, because UNC paths are matched
without regard to case.  `readers` names the users who may read the entry (empty: everyone).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from .models import utcnow
from .types import JSONList, UTCDateTime, empty_list


class Document(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    path: str = Field(max_length=1024)
    path_key: str = Field(max_length=1024, unique=True, index=True)
    parent_key: str = Field(default="", max_length=1024, index=True)  # "" for a share
    is_folder: bool = False
    hidden: bool = False
    content: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False, default=b""))
    content_type: str = Field(default="", max_length=255)
    readers: list = Field(default_factory=empty_list, sa_column=Column(JSONList, nullable=False, default=list))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    modified_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
