"""Find (MS-ASCMD 2.2.1.2, protocol 16.1): mailbox search with a KQL FreeText, or the GAL.

The client names each search with a SearchId and pages through it with the same id and a higher
Range; the first request of a search must start at row 0 (Response Status 4 otherwise).  Results
carry a ServerId that is a LongId, so ItemOperations and SmartReply accept it wherever the item
sits.  KQL is understood as far as phones use it: words and "quoted phrases" (all must occur),
and subject:, from:, to:, cc:, participants:, body: restrictions.
"""
from __future__ import annotations

from email.utils import getaddresses

from ..context import CommandContext
from ..gal import DirectoryEntry, GalResult, range_numbers
from ..email import wire_datetime
from ..mime import html_to_text
from ..response import Response
from ..records import MailboxQuery, SearchOutcome
from ..wbxml import E, Element
from . import Command

NS = "Find"
ROOT = f"{NS}:Find"
SUCCESS, INVALID, FOLDER_SYNC_REQUIRED, START_WITH_ZERO = 1, 2, 3, 4
MAX_ROW = 999  # 0 <= m <= n <= 999
PREVIEW_CHARS = 255
# The gal:* properties a GAL result carries, in the schema's order (Find shows no home or mobile phone).
GAL_FIELDS = ("DisplayName", "Phone", "Office", "Title", "Company", "Alias", "FirstName", "LastName", "EmailAddress")


class _Invalid(Exception):
    pass


def parse_range(text: str | None) -> tuple[int, int]:
    if text is None:
        return 0, 99
    numbers = range_numbers(text)
    if numbers is None:
        raise _Invalid(f"Range {text!r}")
    m, n = numbers
    if m > n or n > MAX_ROW:
        raise _Invalid(f"Range {text!r}")
    return m, n


def _display(addresses: str) -> str:
    return ";".join(name or addr for name, addr in getaddresses([addresses or ""]) if addr)


def _result(hit) -> Element:
    item = hit.item
    text = item.body_text or html_to_text(item.body_html)
    return E(f"{NS}:Result", E("AirSync:Class", hit.class_name), E("AirSync:ServerId", hit.long_id),
             E("AirSync:CollectionId", hit.collection_id),
             E(f"{NS}:Properties",
               E("Email:Subject", item.subject),
               E("Email:DateReceived", wire_datetime(item.date_received)),
               E("Email:DisplayTo", item.display_to) if item.display_to else None,
               E(f"{NS}:DisplayCc", _display(item.cc)) if item.cc else None,
               E("Email:Importance", item.importance),
               E("Email:Read", 1 if item.read else 0),
               E("Email2:IsDraft", 1 if hit.is_draft else 0),
               E(f"{NS}:Preview", " ".join(text.split())[:PREVIEW_CHARS]) if text.strip() else None,
               E(f"{NS}:HasAttachments", 1 if hit.has_attachments else 0),
               E("Email:From", item.sender) if item.sender else None))


def _response(store: str, status: int, *rest: Element | None) -> Response:
    return Response(200, E(ROOT, E(f"{NS}:Status", SUCCESS), E(f"{NS}:Response", E("ItemOperations:Store", store),
                                                             E(f"{NS}:Status", status), *rest)))


def mailbox_response(outcome: SearchOutcome) -> Response:
    if outcome.status == FOLDER_SYNC_REQUIRED:
        return Response(200, E(ROOT, E(f"{NS}:Status", FOLDER_SYNC_REQUIRED)))
    if outcome.status != SUCCESS:
        return _response("Mailbox", outcome.status)
    results = [_result(hit) for hit in outcome.hits]
    shown = f"{outcome.start}-{outcome.start + len(results) - 1}" if results else None
    return _response("Mailbox", SUCCESS, *results, E(f"{NS}:Range", shown) if shown else None, E(f"{NS}:Total", outcome.total))


def _gal_properties(entry: DirectoryEntry) -> list[Element]:
    values = {"DisplayName": entry.shown_name, "Phone": entry.phone, "Office": entry.office, "Title": entry.title,
              "Company": entry.company, "Alias": entry.alias, "FirstName": entry.first_name,
              "LastName": entry.last_name, "EmailAddress": entry.email_address}
    return [E(f"GAL:{name}", values[name]) for name in GAL_FIELDS if values[name]]


def gal_response(page: GalResult) -> Response:
    results = [E(f"{NS}:Result", E(f"{NS}:Properties", *_gal_properties(entry))) for entry in page.entries]
    shown = f"{page.start}-{page.start + len(results) - 1}" if results else None
    return _response("GAL", SUCCESS, *results, E(f"{NS}:Range", shown) if shown else None, E(f"{NS}:Total", page.total))


def _invalid() -> Response:
    return Response(200, E(ROOT, E(f"{NS}:Status", INVALID)))


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    if tree is None:
        return _invalid()
    search_id = (tree.text(f"{NS}:SearchId") or "").strip()
    execute = tree.find(f"{NS}:ExecuteSearch")
    if not search_id or execute is None or len(execute.children) != 1:
        return _invalid()
    criterion = execute.children[0]
    query = criterion.find(f"{NS}:Query")
    options = criterion.find(f"{NS}:Options")
    try:
        rng = parse_range(options.text(f"{NS}:Range") if options is not None else None)
    except _Invalid:
        return _invalid()
    text = (query.text(f"{NS}:FreeText") or "").strip() if query is not None else ""
    if criterion.tag == f"{NS}:GalSearchCriterion":
        if not text:
            return _invalid()
        if rng[1] >= 100:
            rng = (rng[0], 99)  # the GAL answers 100 rows at most
        return gal_response(await ctx.store.gal_search(ctx, text, rng, None))
    if criterion.tag != f"{NS}:MailBoxSearchCriterion" or query is None or not text:
        return _invalid()
    classes = [c.value for c in query.findall("AirSync:Class") if isinstance(c.value, str)]
    collection = query.text("AirSync:CollectionId")
    request = MailboxQuery(free_text=text, classes=classes or ["Email"], collection_ids=[collection] if collection else [],
                           deep=options is not None and options.has(f"{NS}:DeepTraversal"), range=rng, kql=True)
    outcome = await ctx.store.find_mailbox(ctx, search_id, request)
    return mailbox_response(outcome)


COMMANDS = (Command("Find", handle, root=ROOT, since="16.1", malformed=INVALID),)
