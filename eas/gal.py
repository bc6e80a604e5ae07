"""The global address list (GAL): the directory records, name matching, and Search's GAL store.

MS-ASCMD 2.2.1.16 (Search, Store Name "GAL"), 2.2.3.143.3 (Range), 2.2.3.135.3 (Picture).  Matching
imitates Exchange's ambiguous name resolution (ANR): a case-insensitive prefix of the display name
or of any word in it, of the first name, the last name, "first last", "last first", the alias, or
the SMTP address.  Results come sorted by display name, as Exchange's address book sorts them.

Everything here is pure; the one coroutine at the bottom (`answer`) is the glue a Search command
calls for a GAL store: it reads the directory through `ctx.store.gal_search`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING

from .wbxml import E, Element

if TYPE_CHECKING:
    from .context import CommandContext

NS = "Search"
GAL = "GAL"

DEFAULT_RANGE = (0, 99)  # MS-ASCMD 2.2.3.143.3: GAL default 0-99, at most 100 results
MAX_RESULTS = 100

# Store/Status (MS-ASCMD 2.2.3.177.13)
STORE_SUCCESS = 1
STORE_INVALID_REQUEST = 2
STORE_SERVER_ERROR = 3
STORE_RANGE_EXCEEDED = 12  # the requested range goes past what a GAL search returns

# Picture/Status (Search and ResolveRecipients alike)
PICTURE_OK = 1
NO_PICTURE = 173
PICTURE_TOO_LARGE = 174
TOO_MANY_PICTURES = 175


class GalError(ValueError):
    """A GAL request the store cannot run; `status` is the Store Status to answer with."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class PictureOptions:
    max_size: int | None = None  # bytes; larger photos get 174
    max_pictures: int | None = None  # photos returned in one response; the rest get 175


@dataclass(frozen=True)
class GalQuery:
    text: str
    range: tuple[int, int] = DEFAULT_RANGE
    picture: PictureOptions | None = None  # None: the client asked for no photos


@dataclass
class DirectoryEntry:
    """One GAL entry: a user of the organisation, with its directory fields."""

    alias: str  # the user name (Exchange's Alias / mailNickname)
    email_address: str  # primary SMTP address
    display_name: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    office: str = ""
    title: str = ""
    company: str = ""
    home_phone: str = ""
    mobile_phone: str = ""
    external_address: str = ""  # set for a mail user whose mail goes elsewhere
    has_picture: bool = False
    picture: bytes | None = None  # loaded only when a request asks for photos
    certificates: list[bytes] = field(default_factory=list)  # DER, loaded only when asked
    user_id: int | None = None

    @property
    def shown_name(self) -> str:
        return self.display_name or self.alias


# -- parsing ---------------------------------------------------------------------------------------

def _int(text: str | None, what: str, status: int) -> int:
    try:
        value = int((text or "").strip())
    except ValueError:
        raise GalError(status, f"{what} {text!r} is not a number") from None
    if value < 0:
        raise GalError(status, f"{what} {value} is negative")
    return value


# `m-n` with ASCII digits only: str.isdigit also takes other scripts' digits ("²"), and what
# str.strip removes (U+001F among it) int() refuses, so checking with those let a ValueError
# through Find and Search (found by bench/fuzz.py).  Spaces around either number are allowed.
_RANGE = re.compile(r"\s*([0-9]+)\s*-\s*([0-9]+)\s*")


def range_numbers(text: str) -> tuple[int, int] | None:
    """A Range's two numbers as written (not checked against each other); None when it is not m-n."""
    match = _RANGE.fullmatch(text)
    return None if match is None else (int(match[1]), int(match[2]))


def parse_range(text: str | None) -> tuple[int, int]:
    """`m-n`, zero-based and inclusive; a range reaching past the 100th row is Status 12."""
    if text is None:
        return DEFAULT_RANGE
    first, sep, last = text.strip().partition("-")
    if not sep:
        raise GalError(STORE_INVALID_REQUEST, f"Range {text!r} is not m-n")
    m = _int(first, "Range start", STORE_INVALID_REQUEST)
    n = _int(last, "Range end", STORE_INVALID_REQUEST)
    if m > n:
        raise GalError(STORE_INVALID_REQUEST, f"Range {text!r} ends before it starts")
    if n >= MAX_RESULTS:
        raise GalError(STORE_RANGE_EXCEEDED, f"Range {text!r} exceeds 0-{MAX_RESULTS - 1}")
    return m, n


def parse_picture(element: Element | None, ns: str) -> PictureOptions | None:
    if element is None:
        return None
    size = element.text(f"{ns}:MaxSize")
    count = element.text(f"{ns}:MaxPictures")
    return PictureOptions(
        max_size=_int(size, "MaxSize", STORE_INVALID_REQUEST) if size is not None else None,
        max_pictures=_int(count, "MaxPictures", STORE_INVALID_REQUEST) if count is not None else None,
    )


def parse_query(store: Element, version: str) -> GalQuery:
    """The GAL query of a `Search:Store` element whose Name is GAL; raises GalError."""
    from .versions import has

    if (store.text(f"{NS}:Name") or "").strip().upper() != GAL:
        raise GalError(STORE_INVALID_REQUEST, "not a GAL store")
    text = (store.text(f"{NS}:Query") or "").strip()
    if not text:
        raise GalError(STORE_INVALID_REQUEST, "a GAL search needs a Query")
    options = store.find(f"{NS}:Options")
    if options is None:
        return GalQuery(text)
    picture = parse_picture(options.find(f"{NS}:Picture"), NS) if has(version, "pictures") else None
    return GalQuery(text, parse_range(options.text(f"{NS}:Range")), picture)


# -- matching --------------------------------------------------------------------------------------

def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def name_keys(entry: DirectoryEntry) -> list[str]:
    """The strings a query may be a prefix of (ANR's attributes, folded)."""
    keys = [entry.display_name, *entry.display_name.split(), entry.first_name, entry.last_name, entry.alias,
            entry.email_address]
    if entry.first_name and entry.last_name:
        keys += [f"{entry.first_name} {entry.last_name}", f"{entry.last_name} {entry.first_name}"]
    return [_fold(k) for k in keys if k and k.strip()]


def matches(entry: DirectoryEntry, text: str) -> bool:
    needle = _fold(text)
    return bool(needle) and any(key.startswith(needle) for key in name_keys(entry))


def sort_key(entry: DirectoryEntry) -> tuple[str, str]:
    return _fold(entry.shown_name), entry.alias


def search(entries: Iterable[DirectoryEntry], text: str) -> list[DirectoryEntry]:
    """Every entry `text` matches, in address-book order."""
    return sorted((e for e in entries if matches(e, text)), key=sort_key)


def exact(entries: Iterable[DirectoryEntry], text: str) -> list[DirectoryEntry]:
    """Entries `text` names exactly: an SMTP address (primary or external), the alias, or the
    whole display name."""
    needle = _fold(text)
    if not needle:
        return []
    if "@" in needle:
        return [e for e in entries if needle in (_fold(e.email_address), _fold(e.external_address))]
    found = [e for e in entries if _fold(e.alias) == needle]
    return found or sorted((e for e in entries if _fold(e.display_name) == needle), key=sort_key)


def resolve(entries: Iterable[DirectoryEntry], name: str) -> list[DirectoryEntry]:
    """What a ResolveRecipients To names: an exact match if there is one, else every ANR match.
    `Display Name <address>` is taken by its address."""
    entries = list(entries)
    if "<" in name and name.rstrip().endswith(">"):
        address = parseaddr(name)[1]
        if "@" in address:
            return exact(entries, address)
    return exact(entries, name) or search(entries, name)


def suggestions(found: list[DirectoryEntry], max_ambiguous: int) -> list[DirectoryEntry]:
    """The entries a ResolveRecipients Response shows: a unique match, or at most `max_ambiguous`
    suggestions for an ambiguous name."""
    return found if len(found) == 1 else found[:max_ambiguous]


@dataclass
class Resolved:
    """One To as the directory resolved it; only the shown suggestions carry photos and
    certificates, and `busy` is filled for a unique match when free/busy was asked for
    (None: no data, e.g. a mail user whose calendar lives elsewhere)."""

    to: str
    found: list[DirectoryEntry]
    busy: list | None = None


@dataclass
class GalResult:
    entries: list[DirectoryEntry]  # the requested page
    total: int  # every match
    start: int  # index of entries[0]


def page(found: list[DirectoryEntry], range_: tuple[int, int]) -> GalResult:
    start, end = range_
    return GalResult(found[start:end + 1], len(found), start)


# -- pictures --------------------------------------------------------------------------------------

class PictureBudget:
    """Hands out photos under a request's MaxSize and MaxPictures, across one whole response."""

    def __init__(self, options: PictureOptions):
        self.max_size = options.max_size
        self.left = options.max_pictures

    def take(self, picture: bytes | None) -> tuple[int, bytes | None]:
        if not picture:
            return NO_PICTURE, None
        if self.max_size is not None and len(picture) > self.max_size:
            return PICTURE_TOO_LARGE, None
        if self.left is not None:
            if self.left <= 0:
                return TOO_MANY_PICTURES, None
            self.left -= 1
        return PICTURE_OK, picture


# -- building --------------------------------------------------------------------------------------

def properties(entry: DirectoryEntry, picture: tuple[int, bytes | None] | None = None) -> Element:
    """`Search:Properties` with the entry's non-empty gal:* fields, in the schema's order."""
    fields = [
        ("DisplayName", entry.shown_name), ("Phone", entry.phone), ("Office", entry.office),
        ("Title", entry.title), ("Company", entry.company), ("Alias", entry.alias),
        ("FirstName", entry.first_name), ("LastName", entry.last_name), ("HomePhone", entry.home_phone),
        ("MobilePhone", entry.mobile_phone), ("EmailAddress", entry.email_address),
    ]
    children = [E(f"{GAL}:{name}", value) for name, value in fields if value]
    if picture is not None:
        status, data = picture
        children.append(E(f"{GAL}:Picture", E(f"{GAL}:Status", status), E(f"{GAL}:Data", data) if data else None))
    return E(f"{NS}:Properties", *children)


def store_element(result: GalResult, query: GalQuery) -> Element:
    """`Search:Store` for a successful GAL search.  No match: no Result and no Range, Total 0."""
    budget = PictureBudget(query.picture) if query.picture is not None else None
    results = [
        E(f"{NS}:Result", properties(entry, budget.take(entry.picture) if budget is not None else None))
        for entry in result.entries
    ]
    shown = f"{result.start}-{result.start + len(results) - 1}" if results else None
    return E(f"{NS}:Store", E(f"{NS}:Status", STORE_SUCCESS), *results,
             E(f"{NS}:Range", shown) if shown else None, E(f"{NS}:Total", result.total))


def store_error(status: int) -> Element:
    return E(f"{NS}:Store", E(f"{NS}:Status", status))


def search_response(store: Element) -> Element:
    """The whole Search response around one store's answer (the command itself succeeded)."""
    return E(f"{NS}:Search", E(f"{NS}:Status", 1), E(f"{NS}:Response", store))


async def answer(ctx: CommandContext, store: Element) -> Element:
    """A Search command's answer for a GAL `Search:Store` element: the whole `Search:Search`."""
    try:
        query = parse_query(store, ctx.version)
    except GalError as exc:
        return search_response(store_error(exc.status))
    result = await ctx.store.gal_search(ctx, query.text, query.range, query.picture)
    return search_response(store_element(result, query))
