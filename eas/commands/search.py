"""Search (MS-ASCMD 2.2.1.16): the mailbox (12.0+) and the global address list.

A mailbox query is one And of airsync:Class, airsync:CollectionId, FreeText, email2:ConversationId
and GreaterThan/LessThan on email:DateReceived; anything else, or the same outside the And, is
"too complex" (Store Status 8).  Results carry a LongId that ItemOperations, SmartReply,
SmartForward and MeetingResponse accept (storage/longid.py).  Search keeps no result set: a
query with another Range runs again, so RebuildResults changes nothing.

GAL queries go to eas.gal, which reads the directory through the store's `gal_search`;
DocumentLibrary queries list a folder of the document library (eas/documents.py).
"""
from __future__ import annotations

from datetime import datetime, timezone

from .. import documents, gal, versions
from ..context import CommandContext
from ..response import Response
from ..records import MailboxQuery, SearchOutcome
from ..status import Common
from ..wbxml import E, Element, InvalidText
from . import Command
from .itemoperations import OperationError, body_options

NS = "Search"
ROOT = f"{NS}:Search"

SUCCESS = 1
INVALID = 2
SERVER_ERROR = 3
BAD_LINK = 4
ACCESS_DENIED = 5
NOT_FOUND = 6
TOO_COMPLEX = 8
FOLDER_SYNC_REQUIRED = 11
RANGE_EXCEEDED = 12
MAX_ROWS = 100  # Mailbox and GAL: 0-99 at most (MS-ASCMD 2.2.3.143.3)
MAX_DOCUMENT_ROWS = 1000  # a document library: 0-999 at most (MS-ASCMD 2.2.3.143.3)

_AND_CHILDREN = {"AirSync:Class", "AirSync:CollectionId", f"{NS}:FreeText", "Email2:ConversationId",
                 f"{NS}:GreaterThan", f"{NS}:LessThan", f"{NS}:EqualTo"}


class QueryError(Exception):
    def __init__(self, status: int, reason: str):
        self.status = status
        super().__init__(reason)


def parse_range(text: str | None, limit: int = MAX_ROWS) -> tuple[int, int]:
    if text is None:
        return 0, limit - 1
    numbers = gal.range_numbers(text)
    if numbers is None or numbers[0] > numbers[1]:
        raise QueryError(INVALID, f"Range {text!r}")
    if numbers[1] >= limit:
        raise QueryError(RANGE_EXCEEDED, f"Range {text!r} goes past row {limit - 1}")
    return numbers


def parse_when(text: str | None) -> datetime:
    try:
        value = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise QueryError(INVALID, f"date {text!r}") from None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _str(el: Element) -> str:
    return el.as_text("") or ""


def _bound(el: Element) -> datetime:
    if not el.has("Email:DateReceived"):
        raise QueryError(INVALID, f"<{el.tag}> compares something other than DateReceived")
    return parse_when(el.text(f"{NS}:Value"))


def parse_mailbox_query(query: Element) -> MailboxQuery:
    """The And of a Mailbox Query; raises QueryError (8 for shapes this server does not run)."""
    ands = query.findall(f"{NS}:And")
    if len(ands) != 1 or len(query.children) != 1:
        raise QueryError(TOO_COMPLEX, "a mailbox Query is exactly one And")
    out = MailboxQuery()
    words = []
    for child in ands[0].children:
        if child.tag.startswith(("Tasks:", "Email:")):
            # MS-ASTASK 3.2.5.2, MS-ASEMAIL 3.2.5.3: class properties are no query terms.
            raise QueryError(INVALID, f"<{child.tag}>: {child.tag.partition(':')[0].lower()} properties are not searchable")
        if child.tag not in _AND_CHILDREN:
            raise QueryError(TOO_COMPLEX, f"<{child.tag}> in And")
        if child.tag == "AirSync:Class":
            out.classes.append(_str(child))
        elif child.tag == "AirSync:CollectionId":
            out.collection_ids.append(_str(child))
        elif child.tag == f"{NS}:FreeText":
            words.append(_str(child))
        elif child.tag == "Email2:ConversationId":
            if out.conversation_id is not None:  # Appendix A: Exchange refuses a second one
                raise QueryError(INVALID, "more than one ConversationId")
            value = child.value
            out.conversation_id = value if isinstance(value, bytes) else (value or "").encode("latin-1", "replace")
        elif child.tag == f"{NS}:GreaterThan":
            out.received_after = _bound(child)
        elif child.tag == f"{NS}:LessThan":
            out.received_before = _bound(child)
        else:  # EqualTo: only "this folder" makes sense in a mailbox
            if child.has("AirSync:CollectionId"):
                out.collection_ids.append(child.text("AirSync:CollectionId") or "")
            else:
                raise QueryError(TOO_COMPLEX, "EqualTo on something other than CollectionId")
    out.free_text = " ".join(w for w in words if w.strip()) or None
    return out


# -- rendering --------------------------------------------------------------------------------------
def _store(status: int, *rest: Element | None) -> Element:
    return E(f"{NS}:Store", E(f"{NS}:Status", status), *rest)


def _wrap(store: Element) -> Response:
    return Response(200, E(ROOT, E(f"{NS}:Status", SUCCESS), E(f"{NS}:Response", store)))


def mailbox_store(outcome: SearchOutcome, options, version: str) -> Element:
    if outcome.status != SUCCESS:
        return _store(outcome.status)
    if not outcome.hits:
        return _store(SUCCESS, E(f"{NS}:Result"), E(f"{NS}:Total", outcome.total))
    from .sync import item_data

    results = [
        E(f"{NS}:Result", E("AirSync:Class", hit.class_name), E(f"{NS}:LongId", hit.long_id),
          E("AirSync:CollectionId", hit.collection_id),
          E(f"{NS}:Properties", *item_data(hit.item, options, version).children))
        for hit in outcome.hits
    ]
    shown = f"{outcome.start}-{outcome.start + len(results) - 1}"
    return _store(SUCCESS, *results, E(f"{NS}:Range", shown), E(f"{NS}:Total", outcome.total))


# -- the command ------------------------------------------------------------------------------------
async def _mailbox(ctx: CommandContext, store: Element) -> Response:
    if not versions.has(ctx.version, "mailbox_search"):
        return _wrap(_store(INVALID))  # 2.5 searches the GAL only
    query_el = store.find(f"{NS}:Query")
    if query_el is None:
        return _wrap(_store(INVALID))
    try:
        query = parse_mailbox_query(query_el)
        options = store.find(f"{NS}:Options")
        if options is not None:
            query.range = parse_range(options.text(f"{NS}:Range"))
            query.deep = options.has(f"{NS}:DeepTraversal")
        try:
            body = body_options(options)
            body.reader = ctx.address
        except OperationError as exc:  # 164 stays what it is; any other bad body option is the Store's 2
            status = exc.status if exc.status == Common.BodyPartPreferenceTypeNotSupported else INVALID
            raise QueryError(status, "bad body options") from None
    except QueryError as exc:
        return _wrap(_store(exc.status))
    outcome = await ctx.store.search_mailbox(ctx, query)
    return _wrap(mailbox_store(outcome, body, ctx.version))


async def _documents(ctx: CommandContext, store: Element) -> Response:
    """A document library Search (MS-ASDOC 3.2.5.2): the entries of the folder a LinkId names."""
    link = documents.link_of_query(store.find(f"{NS}:Query"))
    if link is None:  # MS-ASDOC 3.1.5.2
        return _wrap(_store(INVALID))
    try:
        path = documents.parse_link(link)
        options = store.find(f"{NS}:Options")
        first, last = parse_range(options.text(f"{NS}:Range") if options is not None else None, MAX_DOCUMENT_ROWS)
    except documents.LinkError:
        return _wrap(_store(BAD_LINK))
    except QueryError as exc:
        return _wrap(_store(exc.status))
    listing = await ctx.store.documents(ctx, path)
    if listing.status != SUCCESS:
        return _wrap(_store(listing.status))
    shown = listing.entries[first:last + 1]
    if not shown:
        return _wrap(_store(SUCCESS, E(f"{NS}:Result"), E(f"{NS}:Total", len(listing.entries))))
    results = [E(f"{NS}:Result", documents.properties(entry)) for entry in shown]
    return _wrap(_store(SUCCESS, *results, E(f"{NS}:Range", f"{first}-{first + len(shown) - 1}"),
                        E(f"{NS}:Total", len(listing.entries))))


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    try:
        return await _search(ctx, tree)
    except InvalidText:  # a Name, Query or Range that is not text: the request is invalid
        return _wrap(_store(INVALID))


async def _search(ctx: CommandContext, tree: Element | None) -> Response:
    stores = tree.findall(f"{NS}:Store") if tree is not None else []
    if not stores:
        return _wrap(_store(INVALID))
    store = stores[0]  # more than one is undefined; Exchange answers the first, no protocol error
    name = (store.text(f"{NS}:Name") or "").strip().lower()
    if name == "mailbox":
        return await _mailbox(ctx, store)
    if name == "gal":
        return Response(200, await gal.answer(ctx, store))
    if name == "documentlibrary":
        return await _documents(ctx, store)
    return _wrap(_store(INVALID))


COMMANDS = (Command("Search", handle, root=ROOT),)
