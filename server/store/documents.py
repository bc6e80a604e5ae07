"""The DocumentPort: the document library (storage/documents.py) as Search and ItemOperations
read it, for the user of the request (who may read what: eas/documents.py `may_read`)."""
from __future__ import annotations

from sqlmodel import Session

from easlab.eas import documents as rules
from easlab.eas.commands.search import ACCESS_DENIED, NOT_FOUND, SUCCESS
from easlab.eas.context import CommandContext
from easlab.eas.documents import DocumentBody, DocumentEntry, DocumentListing
from easlab.storage import documents as library
from easlab.storage.models_documents import Document

from .context import StoreContext


def entry(row: Document) -> DocumentEntry:
    return DocumentEntry(path=tuple(row.path.split(library.SEP)), is_folder=row.is_folder, hidden=row.hidden,
                         size=len(row.content or b""), content_type=row.content_type,
                         created=row.created_at, modified=row.modified_at)


def _find(session: Session, user: str, path: tuple[str, ...]) -> tuple[int, Document | None]:
    """The row at `path` and the status of reaching it: 6 when it or a folder above is missing,
    5 when one of them does not let `user` read."""
    rows = library.chain(session, path)
    if any(row is None for row in rows):
        return NOT_FOUND, None
    if not rules.may_read(user, [row.readers for row in rows if row is not None]):
        return ACCESS_DENIED, None
    return SUCCESS, rows[-1]


class DocumentAdapter:
    def __init__(self, context: StoreContext):
        self.context = context

    async def documents(self, ctx: CommandContext, path: tuple[str, ...]) -> DocumentListing:
        def work(session: Session) -> DocumentListing:
            status, row = _find(session, ctx.user, path)
            if row is None:
                return DocumentListing(status)
            if not row.is_folder:
                return DocumentListing(SUCCESS, [entry(row)])
            # A folder lists what the user may read of it; entries closed to the user stay unseen.
            shown = [entry(r) for r in library.children(session, path) if rules.may_read(ctx.user, [r.readers])]
            return DocumentListing(SUCCESS, shown)

        return await self.context.read(work)

    async def document(self, ctx: CommandContext, path: tuple[str, ...]) -> DocumentBody:
        def work(session: Session) -> DocumentBody:
            status, row = _find(session, ctx.user, path)
            if row is None:
                return DocumentBody(status)
            if row.is_folder:  # a folder has no body to fetch
                return DocumentBody(NOT_FOUND)
            return DocumentBody(SUCCESS, entry(row), bytes(row.content or b""))

        return await self.context.read(work)
