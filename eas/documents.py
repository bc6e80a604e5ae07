"""Document libraries (MS-ASDOC): the Document class as Search and ItemOperations carry it.

easlab's document library is a tree of folders and documents the administrator keeps (in the
database), published under one UNC host: `\\\\easlab\\share\\folder\\name.txt`.  A link names an
entry by its path below the host; the first component is the share.  A Search on the
DocumentLibrary store lists a folder's entries (or the one document a link names); an
ItemOperations Fetch returns a document's bytes, inline as base64 or as a multipart part.

An entry may name the users who may read it: empty means everyone; a user not named by the entry
or by any folder above it is refused (Search Store status 5, Fetch status 5).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .email import wire_datetime
from .wbxml import E, Element

HOST = "easlab"
NS = "DocumentLibrary"


class LinkError(ValueError):
    """A LinkId that is not a UNC link of this server (Search status 4, Fetch status 4)."""


@dataclass
class DocumentEntry:
    path: tuple[str, ...]  # below the host: (share, folder, ..., name)
    is_folder: bool
    hidden: bool = False
    size: int = 0
    content_type: str = ""
    created: datetime | None = None
    modified: datetime | None = None


@dataclass
class DocumentListing:
    """A Search of a link: Search Store status (1, 5 denied, 6 not found) and the entries matched."""
    status: int
    entries: list[DocumentEntry] = field(default_factory=list)


@dataclass
class DocumentBody:
    """A Fetch of a link: ItemOperations status (1, 5 denied, 6 not found) and the document."""
    status: int
    entry: DocumentEntry | None = None
    data: bytes = b""


def parse_link(link: str) -> tuple[str, ...]:
    """The path a `\\\\easlab\\share\\...` link names (forward slashes read the same).  The host
    alone names no entry: a link needs at least the share."""
    text = link.strip().replace("/", "\\")
    if not text.startswith("\\\\"):
        raise LinkError(f"{link!r} is not a UNC link")
    host, *parts = text[2:].split("\\")
    parts = [p for p in parts if p]
    if host.lower() != HOST or not parts:
        raise LinkError(f"{link!r} names no share of \\\\{HOST}")
    if any(p in (".", "..") for p in parts):
        raise LinkError(f"{link!r} climbs out of its share")
    return tuple(parts)


def link_of(path: tuple[str, ...]) -> str:
    return "\\\\" + "\\".join((HOST, *path))


def may_read(user: str, readers_above: list[list[str]]) -> bool:
    """Whether `user` may read an entry, given the reader lists of the entry and of every folder
    above it (an empty list: everyone)."""
    name = user.lower()
    return all(not readers or name in {r.lower() for r in readers} for readers in readers_above)


def properties(entry: DocumentEntry) -> Element:
    """search:Properties of one Document class item (MS-ASDOC 2.2.2)."""
    return E("Search:Properties",
             E(f"{NS}:LinkId", link_of(entry.path)),
             E(f"{NS}:DisplayName", entry.path[-1]),
             E(f"{NS}:IsFolder", 1 if entry.is_folder else 0),
             E(f"{NS}:CreationDate", wire_datetime(entry.created)) if entry.created else None,
             E(f"{NS}:LastModifiedDate", wire_datetime(entry.modified)) if entry.modified else None,
             E(f"{NS}:IsHidden", 1 if entry.hidden else 0),
             E(f"{NS}:ContentLength", 0 if entry.is_folder else entry.size),
             None if entry.is_folder else E(f"{NS}:ContentType", entry.content_type or "application/octet-stream"))


def link_of_query(query: Element | None) -> str | None:
    """The Value an EqualTo on documentlibrary:LinkId compares with; None when the Query has no
    LinkId (MS-ASDOC 3.1.5.2: protocol error 2)."""
    equal = query.find("Search:EqualTo") if query is not None else None
    if equal is None or not equal.has(f"{NS}:LinkId"):
        return None
    return (equal.text("Search:Value") or "").strip()
