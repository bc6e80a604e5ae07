"""Database URLs as people type them, and which of them easlab can store in.

Apart from db.py so that a command which reads the store through its driver alone
(quickread.py) can resolve --db without importing SQLAlchemy.
"""
from __future__ import annotations

import os

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")  # a bare path is taken as a SQLite file only with one
SCHEMES = ("sqlite", "postgres", "postgresql", "postgresql+psycopg")


class DatabaseUrlError(ValueError):
    """A --db value that names no database easlab can store in."""


def normalise_url(url: str) -> str:
    """Accept the URLs people type: a path ending in .db (.sqlite, .sqlite3) means SQLite,
    postgres:// and postgresql:// mean psycopg 3.  Anything else is refused: a typo must not
    become a new SQLite file, nor another driver a ModuleNotFoundError."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        if not url.lower().endswith(SQLITE_SUFFIXES):
            raise DatabaseUrlError(f"--db {url!r} is not a database URL: use sqlite:///PATH, "
                                   "postgresql://USER@HOST/DB, or a file path ending in .db")
        return f"sqlite:///{os.path.abspath(url)}"
    if scheme.lower() not in SCHEMES:
        raise DatabaseUrlError(f"--db: easlab cannot store in {scheme}://; use sqlite:///PATH or "
                               "postgresql://USER@HOST/DB")
    if scheme.lower() == "sqlite" and not rest.startswith("/"):
        raise DatabaseUrlError(f"--db {url!r}: a SQLite URL is sqlite:///PATH (three slashes, then the path)")
    if scheme.lower() in ("postgres", "postgresql"):
        return "postgresql+psycopg://" + rest
    return url
