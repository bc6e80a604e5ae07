"""Queries of the document library (storage/models_documents.py): entries by path, a folder's
entries, the folders above one; writes that make the folders a new entry needs."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from .models_documents import Document

SEP = "\\"


class DocumentError(ValueError):
    """A write the library cannot take (a document where a folder is, an empty path)."""


def path_key(path: tuple[str, ...]) -> str:
    return SEP.join(path).lower()


def split(text: str) -> tuple[str, ...]:
    """A path as an administrator writes it: `share\\folder\\name` or `share/folder/name`."""
    parts = tuple(p for p in text.replace("/", SEP).split(SEP) if p)
    if not parts or any(p in (".", "..") for p in parts):
        raise DocumentError(f"{text!r} is not a path in the document library")
    return parts


def get(session: Session, path: tuple[str, ...]) -> Document | None:
    return session.exec(select(Document).where(Document.path_key == path_key(path))).first()


def chain(session: Session, path: tuple[str, ...]) -> list[Document | None]:
    """The share, each folder below it and the entry itself; None where one is missing."""
    keys = [path_key(path[:n]) for n in range(1, len(path) + 1)]
    rows = {r.path_key: r for r in session.exec(select(Document).where(col(Document.path_key).in_(keys)))}
    return [rows.get(k) for k in keys]


def children(session: Session, path: tuple[str, ...]) -> list[Document]:
    return list(session.exec(select(Document).where(Document.parent_key == path_key(path))
                             .order_by(Document.path_key)))


def _folders_above(session: Session, path: tuple[str, ...], now: datetime) -> None:
    for n in range(1, len(path)):
        row = get(session, path[:n])
        if row is None:
            session.add(Document(path=SEP.join(path[:n]), path_key=path_key(path[:n]), parent_key=path_key(path[:n - 1]),
                                 is_folder=True, created_at=now, modified_at=now))
            session.flush()
        elif not row.is_folder:
            raise DocumentError(f"{row.path} is a document, not a folder")


def put(session: Session, path: tuple[str, ...], now: datetime, *, folder: bool = False, content: bytes = b"",
        content_type: str = "", hidden: bool | None = None, readers: list[str] | None = None) -> Document:
    """Create or replace the entry at `path`, making the folders above it."""
    _folders_above(session, path, now)
    row = get(session, path)
    if row is None:
        row = Document(path=SEP.join(path), path_key=path_key(path), parent_key=path_key(path[:-1]),
                       is_folder=folder, created_at=now)
    elif row.is_folder != folder:
        raise DocumentError(f"{row.path} is a {'folder' if row.is_folder else 'document'}")
    if not folder:
        row.content, row.content_type = content, content_type or "application/octet-stream"
    if hidden is not None:
        row.hidden = hidden
    if readers is not None:
        row.readers = sorted({r.strip().lower() for r in readers if r.strip()})
    row.modified_at = now
    session.add(row)
    session.flush()
    return row


def remove(session: Session, path: tuple[str, ...]) -> int:
    """Remove the entry and everything below it; how many entries went."""
    key = path_key(path)
    rows = list(session.exec(select(Document).where(or_(Document.path_key == key,
                                                        col(Document.path_key).startswith(key + SEP)))))
    for row in rows:
        session.delete(row)
    return len(rows)


def every(session: Session) -> list[Document]:
    return list(session.exec(select(Document).order_by(Document.path_key)))
