"""easlab's store: SQLModel tables and the queries the server runs on them.

One `Database` per process; every change runs inside one `Database.session()` transaction, so a
request either lands whole or not at all.
"""
from .db import Database, DatabaseUrlError

__all__ = ["Database", "DatabaseUrlError"]
