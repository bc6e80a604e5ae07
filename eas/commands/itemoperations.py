"""ItemOperations (MS-ASCMD 2.2.1.10, 12.0+): Fetch, EmptyFolderContents and Move of a
conversation, run in the order the client wrote them, each with its own Status.

Fetch takes a mailbox item (CollectionId + ServerId, or a LongId from Search/Find) with the body
options Sync knows, an attachment (FileReference), or a document of the document library (Store
DocumentLibrary, LinkId; eas/documents.py).  Binary content travels inline as base64
in itemoperations:Data, or, when the client sends `MS-ASAcceptMultiPart: T` (or the base64
query's AcceptMultiPart bit), as parts of an application/vnd.ms-sync.multipart body that
itemoperations:Part elements point into (eas/multipart.py).  A byte Range cuts the attachment,
or the item's body (the MIME for BodyPreference Type 4), and the answer says which bytes it holds
(Range) of how many (Total).
"""
from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import dataclass

from .. import documents, limits, multipart, versions
from ..body import SchemaError, parse_preference
from ..folders import BodyType
from ..gal import range_numbers
from ..context import CommandContext
from ..email import BodyOptions, wire_datetime
from ..response import Response
from ..records import AttachmentData, FetchOutcome, FetchRequest
from ..status import Common
from ..wbxml import E, Element
from . import Command

NS = "ItemOperations"
ROOT = f"{NS}:ItemOperations"
MAX_OPERATIONS = 100  # Exchange's default for Fetch + EmptyFolderContents + Move together

SUCCESS = 1
PROTOCOL_ERROR = 2
SERVER_ERROR = 3
BAD_LINK = 4  # "Document library access: the specified URI is bad"
ACCESS_DENIED = 5  # "Document library: access denied"
NOT_FOUND = 6
BAD_RANGE = 8
STORE_UNSUPPORTED = 9
TOO_MANY = 11
TOO_LARGE = 11  # "The requested data size is too large" (MS-ASCMD 2.2.3.177.8): the answer's cap
BAD_ATTACHMENT = 15
MOVE_ALWAYS_REQUIRED = 155


# MS-ASCMD 2.2.3.125.3: what an Options element may hold under each operation; anything else is
# an option invalid for its parent, Status 2.
OPTIONS = {
    "Fetch": {f"{NS}:Schema", f"{NS}:Range", f"{NS}:UserName", f"{NS}:Password", "AirSync:MIMESupport",
              "AirSyncBase:BodyPreference", "AirSyncBase:BodyPartPreference", "RightsManagement:RightsManagementSupport"},
    "EmptyFolderContents": {f"{NS}:DeleteSubFolders"},
    "Move": {f"{NS}:MoveAlways"},
}


class OperationError(Exception):
    def __init__(self, status: int, reason: str):
        self.status = status
        super().__init__(reason)


@dataclass
class FetchOp:
    request: FetchRequest | None
    status: int = SUCCESS  # a parse failure answers without asking the store
    echo: list[Element] | None = None  # the identifiers as the client sent them


@dataclass
class EmptyOp:
    collection_id: str | None
    delete_subfolders: bool
    status: int = SUCCESS  # a parse failure answers without asking the store


@dataclass
class MoveOp:
    conversation_id: bytes | None
    destination: str | None
    move_always: bool
    status: int = SUCCESS


# -- parsing ----------------------------------------------------------------------------------------
def parse_range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    numbers = range_numbers(text)
    if numbers is None:
        raise OperationError(BAD_RANGE, f"Range {text!r}")
    m, n = numbers
    if m > n:
        raise OperationError(BAD_RANGE, f"Range {text!r}")
    return m, n


def _int(el: Element | None) -> int | None:
    if el is None or el.value in (None, ""):
        return None
    try:
        return int(el.value)
    except (TypeError, ValueError):
        raise OperationError(PROTOCOL_ERROR, f"<{el.tag}> is not a number") from None


def body_options(options: Element | None) -> BodyOptions:
    """airsync:MIMESupport and airsyncbase:BodyPreference of an Options element (ItemOperations
    and Search share them)."""
    if options is None:
        return BodyOptions()
    try:  # MS-ASAIRS 3.2.5.1: a preference out of the schema is status 2 for ItemOperations and Search
        prefs = [parse_preference(p) for p in options.findall("AirSyncBase:BodyPreference")]
        parts = [parse_preference(p) for p in options.findall("AirSyncBase:BodyPartPreference")]
    except SchemaError as exc:
        raise OperationError(PROTOCOL_ERROR, str(exc)) from None
    seen: set[int] = set()
    for pref in prefs:
        if pref.type not in (1, 2, 3, 4) or pref.type in seen:
            raise OperationError(PROTOCOL_ERROR, f"BodyPreference Type {pref.type}")
        seen.add(pref.type)
    if len(parts) > 1:
        raise OperationError(PROTOCOL_ERROR, "BodyPartPreference more than once")
    if parts and parts[0].type != BodyType.HTML:  # a message part is HTML only (MS-ASCMD 2.2.2: 164)
        raise OperationError(Common.BodyPartPreferenceTypeNotSupported, f"BodyPartPreference Type {parts[0].type}")
    mime = _int(options.find("AirSync:MIMESupport")) or 0
    if mime not in (0, 1, 2):
        raise OperationError(PROTOCOL_ERROR, f"MIMESupport {mime}")
    rights = options.find("RightsManagement:RightsManagementSupport")
    return BodyOptions(prefs, mime, part=parts[0] if parts else None,
                       rights_management=rights is not None and rights.value in (None, "", "1"))


def _fetch(el: Element) -> FetchOp:
    echo = [c for c in el.children if c.tag in ("Search:LongId", "AirSync:CollectionId", "AirSync:ServerId",
                                                "AirSyncBase:FileReference", "DocumentLibrary:LinkId")]
    try:
        store = (el.text(f"{NS}:Store") or "").strip()
        if not store:
            raise OperationError(PROTOCOL_ERROR, "Fetch without Store")
        if store.lower() == "documentlibrary":
            return _document_fetch(el, echo)
        if store.lower() != "mailbox":
            raise OperationError(STORE_UNSUPPORTED, f"Store {store}")
        options, status = _options(el)
        if status != SUCCESS:
            raise OperationError(status, "an option Fetch does not take")
        request = FetchRequest(store="Mailbox", collection_id=el.text("AirSync:CollectionId"), server_id=el.text("AirSync:ServerId"),
                               long_id=el.text("Search:LongId"), file_reference=el.text("AirSyncBase:FileReference"))
        if el.has("AirSyncBase:FileReference"):
            if len(el.findall("AirSyncBase:FileReference")) > 1:
                raise OperationError(PROTOCOL_ERROR, "more than one FileReference")  # MS-ASCMD 2.2.3.8
            if not request.file_reference:
                raise OperationError(BAD_ATTACHMENT, "empty FileReference")
        elif el.has("DocumentLibrary:LinkId"):
            raise OperationError(PROTOCOL_ERROR, "a LinkId in a Fetch of the mailbox")
        elif not request.long_id and not request.server_id:
            raise OperationError(PROTOCOL_ERROR, "Fetch names nothing")
        if options is not None:
            request.range = parse_range(options.text(f"{NS}:Range"))
            request.body = body_options(options)
            schema = options.find(f"{NS}:Schema")
            if schema is not None:
                request.schema = frozenset(c.tag for c in schema.children)
        request.body.remove_protection = el.has("RightsManagement:RemoveRightsManagementProtection")
        return FetchOp(request, echo=echo)
    except OperationError as exc:
        return FetchOp(None, exc.status, echo)


def _document_fetch(el: Element, echo: list[Element]) -> FetchOp:
    """A Fetch of a document library's document by LinkId (MS-ASDOC 3.1.5.1)."""
    link = (el.text("DocumentLibrary:LinkId") or "").strip()
    try:
        if not link:
            raise OperationError(PROTOCOL_ERROR, "a document Fetch without LinkId")
        try:
            documents.parse_link(link)
        except documents.LinkError as exc:
            raise OperationError(BAD_LINK, str(exc)) from None
        options = el.find(f"{NS}:Options")
        request = FetchRequest(store="DocumentLibrary", link_id=link)
        if options is not None:
            request.range = parse_range(options.text(f"{NS}:Range"))
        return FetchOp(request, echo=echo)
    except OperationError as exc:
        return FetchOp(None, exc.status, echo)


def _conversation_id(el: Element | None) -> bytes | None:
    if el is None or el.value in (None, ""):
        return None
    return el.value if isinstance(el.value, bytes) else el.value.encode("latin-1", "replace")


def _options(el: Element) -> tuple[Element | None, int]:
    """`el`'s Options and SUCCESS, or PROTOCOL_ERROR when it holds an option its parent does not take."""
    options = el.find(f"{NS}:Options")
    allowed = OPTIONS[el.tag.partition(":")[2]]
    if options is not None and any(c.tag not in allowed for c in options.children):
        return options, PROTOCOL_ERROR
    return options, SUCCESS


def parse(tree: Element, version: str) -> list:
    ops: list = []
    for child in tree.children:
        if child.tag == f"{NS}:Fetch":
            ops.append(_fetch(child))
        elif child.tag == f"{NS}:EmptyFolderContents":
            options, status = _options(child)
            ops.append(EmptyOp(child.text("AirSync:CollectionId"), options is not None and options.has(f"{NS}:DeleteSubFolders"),
                               status))
        elif child.tag == f"{NS}:Move" and versions.has(version, "conversations"):
            options, status = _options(child)
            ops.append(MoveOp(_conversation_id(child.find(f"{NS}:ConversationId")), child.text(f"{NS}:DstFldId"),
                              options is not None and options.has(f"{NS}:MoveAlways"), status))
        else:
            raise OperationError(PROTOCOL_ERROR, f"unexpected <{child.tag}>")
    if not ops:
        raise OperationError(PROTOCOL_ERROR, "no operation")
    if len(ops) > MAX_OPERATIONS:
        raise OperationError(TOO_MANY, f"{len(ops)} operations")
    return ops


# -- rendering --------------------------------------------------------------------------------------
class Payload:
    """Where binary content goes: inline base64, or the parts of a multipart body."""

    def __init__(self, multipart_: bool):
        self.parts: list[bytes] | None = [] if multipart_ else None
        self.inline = 0  # bytes of content carried inline (base64)

    @property
    def multipart(self) -> bool:
        return self.parts is not None

    def part(self, raw: bytes) -> Element:
        assert self.parts is not None  # only called for a multipart answer
        self.parts.append(raw)
        return E(f"{NS}:Part", len(self.parts))  # part 0 is the WBXML itself

    def mark(self) -> int:
        return len(self.parts) if self.parts is not None else 0

    def size_since(self, mark: int, el: Element) -> int:
        """The content `el` and the parts added after `mark` put in the answer."""
        values = sum(len(e.value) for e in el.iter() if e.value is not None)
        return values + sum(map(len, (self.parts or [])[mark:]))

    def drop_since(self, mark: int) -> None:
        if self.parts is not None:
            del self.parts[mark:]

    def data(self, raw: bytes) -> Element:
        if self.parts is not None:
            return self.part(raw)
        self.inline += len(raw)
        return E(f"{NS}:Data", b64(raw))

    def whole(self, att: AttachmentData) -> Element:
        """An attachment's Data whole: its stored base64 where the store kept that (the
        encoding b64 would write, neither decoded nor encoded again), else its bytes."""
        if self.parts is not None or att.base64 is None:
            return self.data(att.data)
        self.inline += att.size
        return E(f"{NS}:Data", att.base64)


# base64 of a large attachment in slices of this many bytes (a multiple of 3: the pieces join into
# the one encoding), offering the GIL to other users' threads between two rather than holding it
# through megabytes in one C call.
B64_SLICE = 3 * 64 * 1024


def b64(raw: bytes) -> str:
    pieces = []
    for at in range(0, len(raw), B64_SLICE):
        # Each slice text at once: the answer's megabytes are copied once (the join), not twice.
        pieces.append(base64.b64encode(raw[at:at + B64_SLICE]).decode("ascii"))
        if len(raw) > B64_SLICE:
            time.sleep(0)  # not a wait: a thread waiting for the GIL may take it here
    return "".join(pieces)


def cut(raw: bytes, rng: tuple[int, int] | None) -> tuple[bytes, str | None]:
    """The bytes of `raw` a Range asks for, and the range they are ("m-n"); best effort at the
    end (MS-ASCMD 2.2.3.143.2), status 8 for a start past it."""
    if rng is None:
        return raw, None
    first, last = rng
    if first >= len(raw):
        if not raw and first == 0:
            return b"", None
        raise OperationError(BAD_RANGE, f"range starts at {first} of {len(raw)} bytes")
    last = min(last, len(raw) - 1)
    return raw[first:last + 1], f"{first}-{last}"


def _body(body: Element, rng: tuple[int, int] | None, payload: Payload) -> tuple[Element, list[Element]]:
    data = body.find("AirSyncBase:Data")
    if data is None or (rng is None and not payload.multipart):
        return body, []
    value = data.value
    binary = isinstance(value, bytes)
    raw = value if isinstance(value, bytes) else str(value or "").encode("utf-8")
    head: list[Element | None] = []
    if rng is not None:
        total = len(raw)
        raw, shown = cut(raw, rng)
        if not binary:  # a text body travels as text: never end inside a UTF-8 sequence
            raw = raw.decode("utf-8", "ignore").encode("utf-8")
            if shown is not None:
                shown = f"{rng[0]}-{rng[0] + max(len(raw), 1) - 1}"
        head = [E(f"{NS}:Range", shown) if shown else None, E(f"{NS}:Total", total)]
    if payload.multipart:
        replacement = payload.part(raw)
    else:
        replacement = E("AirSyncBase:Data", raw if binary else raw.decode("utf-8"))
    children = [replacement if c is data else c for c in body.children]
    return E("AirSyncBase:Body", *children), [h for h in head if h is not None]


def item_properties(outcome: FetchOutcome, request: FetchRequest, version: str, payload: Payload) -> Element:
    from .sync import item_data

    data = item_data(outcome.item, request.body, version)
    children: list[Element] = []
    head: list[Element] = []
    for child in data.children:
        if request.schema is not None and child.tag not in request.schema:
            continue  # MS-ASEMAIL 3.2.5.2, MS-ASCAL 3.2.5.1, MS-ASCNTC 3.2.5.1, MS-ASTASK 3.2.5.1, MS-ASNOTE 3.2.5.1
        if child.tag == "AirSyncBase:Body":
            child, head = _body(child, request.range, payload)
        children.append(child)
    return E(f"{NS}:Properties", *head, *children)


def attachment_properties(outcome: FetchOutcome, request: FetchRequest, payload: Payload) -> Element:
    att = outcome.attachment
    assert att is not None  # called only for an attachment's outcome
    if request.range is None:
        data, shown = payload.whole(att), None
    else:
        raw, shown = cut(att.data, request.range)
        data = payload.data(raw)
    return E(f"{NS}:Properties", E("AirSyncBase:ContentType", att.content_type),
             E(f"{NS}:Range", shown) if shown else None, E(f"{NS}:Total", att.size), data)


def document_properties(outcome: FetchOutcome, request: FetchRequest, payload: Payload) -> Element:
    """A document's body (MS-ASDOC 3.2.5.1): base64 in Data, or a Part of a multipart answer;
    Version is when it last changed."""
    doc = outcome.document
    assert doc is not None and doc.entry is not None  # called only for a document's outcome
    raw, shown = cut(doc.data, request.range)
    modified = doc.entry.modified
    return E(f"{NS}:Properties", E(f"{NS}:Range", shown) if shown else None, E(f"{NS}:Total", len(doc.data)),
             payload.data(raw), E(f"{NS}:Version", wire_datetime(modified)) if modified else None)


def fetch_element(op: FetchOp, outcome: FetchOutcome | None, version: str, payload: Payload) -> Element:
    echo = list(op.echo or [])
    if outcome is None or outcome.status != SUCCESS:
        return E(f"{NS}:Fetch", E(f"{NS}:Status", outcome.status if outcome else op.status), *echo)
    request = op.request
    assert request is not None  # the store answered, so there was a request
    try:
        if outcome.document is not None:
            props = document_properties(outcome, request, payload)
            return E(f"{NS}:Fetch", E(f"{NS}:Status", SUCCESS), E("DocumentLibrary:LinkId", request.link_id), props)
        if outcome.attachment is not None:
            props = attachment_properties(outcome, request, payload)
            return E(f"{NS}:Fetch", E(f"{NS}:Status", SUCCESS), E("AirSyncBase:FileReference", request.file_reference), props)
        props = item_properties(outcome, request, version, payload)
    except OperationError as exc:
        return E(f"{NS}:Fetch", E(f"{NS}:Status", exc.status), *echo)
    if request.long_id:
        ids = [E("Search:LongId", request.long_id)]
    else:  # the identifiers as the client knows them (a Find result's ServerId is a LongId)
        ids = [E("AirSync:CollectionId", request.collection_id or outcome.collection_id),
               E("AirSync:ServerId", request.server_id or outcome.server_id)]
    return E(f"{NS}:Fetch", E(f"{NS}:Status", SUCCESS), *ids, E("AirSync:Class", "Email"), props)


def _respond(ctx: CommandContext, tree: Element, payload: Payload) -> Response:
    if payload.multipart:
        from ..wbxml import encode

        body = multipart.pack([encode(tree), *(payload.parts or [])])
        return Response(200, body, content_type=multipart.CONTENT_TYPE)
    return Response(200, tree, heavy=payload.inline >= limits.DECODE_IN_THREAD_SIZE)


def _content_size(outcome: FetchOutcome, rng: tuple[int, int] | None) -> int:
    """The bytes of an attachment's data a Fetch puts in the answer: no fewer than its share of
    the answer's cap (base64 only adds); 0 for a range past the end, which `cut` refuses."""
    size = outcome.attachment.size if outcome.attachment is not None else 0
    if rng is None:
        return size
    return max(0, min(rng[1], size - 1) - rng[0] + 1)


async def _fetch_once(ctx: CommandContext, request: FetchRequest, room: int, fetched: dict) -> FetchOutcome:
    """The store's answer to one Fetch, told the room left; an attachment already read for this
    request (same reference and range) is not read again."""
    if request.link_id is not None:
        body = await ctx.store.document(ctx, documents.parse_link(request.link_id))
        return FetchOutcome(body.status, document=body if body.status == SUCCESS else None)
    key = (request.file_reference, request.range) if request.file_reference else None
    if key is not None and key in fetched:
        outcome = fetched[key]
        if _content_size(outcome, request.range) > room:
            # Its answer could only be dropped for Status 11: not base64-encoded again to find out.
            return FetchOutcome(TOO_LARGE)
        return outcome
    request.max_size = room
    request.body.reader = ctx.address  # a protected message's license is the requesting user's
    outcome = await ctx.store.fetch(ctx, request)
    if key is not None and outcome.status == SUCCESS:
        fetched[key] = outcome
    return outcome


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    payload = Payload(ctx.request.accept_multipart)
    try:
        if tree is None:
            raise OperationError(PROTOCOL_ERROR, "no body")
        ops = parse(tree, ctx.version)
    except OperationError as exc:
        return _respond(ctx, E(ROOT, E(f"{NS}:Status", exc.status)), payload)
    answers: list[Element] = []
    room = ctx.limits.max_itemoperations_size
    fetched: dict[tuple, FetchOutcome] = {}  # one read of each attachment per request, however often it is asked for
    for op in ops:
        if isinstance(op, FetchOp):
            outcome = await _fetch_once(ctx, op.request, room, fetched) if op.request is not None else None
            mark = payload.mark()
            if outcome is not None and outcome.attachment is not None \
                    and outcome.attachment.size >= limits.DECODE_IN_THREAD_SIZE:
                # base64 of megabytes in one C call: off the event loop, which other users' requests need.
                answer = await asyncio.to_thread(fetch_element, op, outcome, ctx.version, payload)
            else:
                answer = fetch_element(op, outcome, ctx.version, payload)
            size = payload.size_since(mark, answer)
            if size > room:  # held only until here: the answer never grows past the cap
                payload.drop_since(mark)
                answer = E(f"{NS}:Fetch", E(f"{NS}:Status", TOO_LARGE), *(op.echo or []))
            else:
                room -= size
            answers.append(answer)
        elif isinstance(op, EmptyOp):
            if op.status != SUCCESS or not op.collection_id:
                status = PROTOCOL_ERROR
            else:
                status = await ctx.store.empty_folder(ctx, op.collection_id, op.delete_subfolders)
            answers.append(E(f"{NS}:EmptyFolderContents", E(f"{NS}:Status", status),
                             E("AirSync:CollectionId", op.collection_id) if op.collection_id else None))
        else:
            if op.status != SUCCESS or op.conversation_id is None or not op.destination:
                status = PROTOCOL_ERROR
            elif not op.move_always:
                status = MOVE_ALWAYS_REQUIRED
            else:
                status = await ctx.store.move_conversation(ctx, op.conversation_id, op.destination)
            answers.append(E(f"{NS}:Move", E(f"{NS}:Status", status),
                             E(f"{NS}:ConversationId", op.conversation_id) if op.conversation_id is not None else None))
    return _respond(ctx, E(ROOT, E(f"{NS}:Status", SUCCESS), E(f"{NS}:Response", *answers)), payload)


COMMANDS = (Command("ItemOperations", handle, root=ROOT, since="12.0", malformed=PROTOCOL_ERROR),)
