"""easlab's store: SQLModel tables and the queries the server runs on them.

One `Database` per process; every change runs inside one `Database.session()` transaction, so a
request either lands whole or not at all.

`Database` is imported on first use: a module of this package that needs no SQLAlchemy
(urls.py, quickread.py, which `easlab user list` runs on) must not pay for it by being here.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .urls import DatabaseUrlError

if TYPE_CHECKING:
    from .db import Database

__all__ = ["Database", "DatabaseUrlError"]


def __getattr__(name: str):
    if name == "Database":
        from .db import Database

        return Database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
