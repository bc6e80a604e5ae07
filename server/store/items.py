"""The ItemPort: MoveItems, ItemOperations (Fetch, EmptyFolderContents, Move), GetAttachment, Search
and Find (records: eas/records.py).

Every method is one transaction in a worker thread.  After the commit, Pings held on folders that
received items wake (`hub.notify`); subfolders EmptyFolderContents deleted end every device's held
Pings with status 7 (`hub.notify_hierarchy`).
"""
from __future__ import annotations

import logging

from sqlalchemy.orm import defer
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from easlab.eas.folders import FolderType
from easlab.eas.status import MoveItemsStatus
from easlab.eas.records import (
    AttachmentData, FetchOutcome, FetchRequest, MailboxQuery, MoveRequest, MoveResult, SearchHit, SearchOutcome,
)
from easlab.storage import search as mailbox_search
from easlab.storage.conversations import set_always_move
from easlab.storage.items import email_item, find_folder, item_in_folder, pim_item, row_item
from easlab.storage.longid import LongIds, looks_like_long_id
from easlab.storage.mailbox import delete_folder_tree, empty_folder, folder_class, move_item
from easlab.storage.models import Folder, Item, User
from easlab.storage.models_items import FindSearch

from .context import StoreContext
from .folders import RI_CACHE

log = logging.getLogger("easlab.store")

# Conversation moves leave these where they are (what Outlook's "always move" does too).
_CONVERSATION_KEEPS = {FolderType.Drafts, FolderType.DeletedItems, FolderType.SentItems, FolderType.Outbox}
_FIND_SEARCHES_KEPT = 50  # SearchIds remembered per device


def _attachment_source(session: Session, user: User, reference: str,
                       max_size: int | None = None) -> tuple[int, bytes | None, int]:
    """(ItemOperations status, the message holding the attachment, the attachment's index) for a
    FileReference "<ServerId>:<index>"; Status 11 without loading the message when the
    attachment's stored size is over `max_size`."""
    server_id, sep, index = (reference or "").rpartition(":")
    if not sep or not index.isdigit() or ":" not in server_id:
        return 15, None, 0
    # The MIME is loaded only once the attachment is known to fit: a refusal costs no message.
    row = session.exec(select(Item).options(defer(Item.mime)).join(Folder, Folder.id == Item.folder_id).where(
        Folder.user_id == user.id, Folder.deleted == False, Item.server_id == server_id)).first()  # noqa: E712
    if row is None:
        return 6, None, 0
    known = row.attachments[int(index)] if int(index) < len(row.attachments) else None
    if max_size is not None and known is not None and known.get("size", 0) > max_size:
        return 11, None, 0  # "The requested data size is too large" (MS-ASCMD 2.2.3.177.8)
    return 1, row.mime, int(index)


def _attachment_data(status: int, mime: bytes | None, index: int, encoded: bool) -> tuple[int, AttachmentData | None]:
    """The attachment read out of its message, after the transaction that loaded it: parsing a
    large message takes seconds, which no transaction (or SQLite's single writer) should wait for."""
    from easlab.eas.mime import attachment_part, part_content
    from easlab.eas.mime_split import base64_text, decoded_size

    if mime is None:
        return status, None
    found = attachment_part(mime, index)
    if found is None:
        return 15, None
    meta, part = found
    text = base64_text(part) if encoded else None
    if text is None:
        return 1, AttachmentData(meta.name, meta.content_type, part_content(part))
    # Decoded only if asked for (in the thread that renders the Fetch): an ItemOperations answer
    # carries the base64 as it was stored.
    return 1, AttachmentData(meta.name, meta.content_type, size=decoded_size(part), base64=text,
                             source=lambda: part_content(part))


def _hit(item: Item, folder: Folder, ids: LongIds) -> SearchHit:
    class_name = folder_class(folder.type)
    if class_name != "Email":
        # MS-ASTASK 3.2.5.2, MS-ASCAL 3.2.5.2: a task or event is found with its own class's elements.
        return SearchHit(pim_item(item, class_name), folder.server_id, ids.make(item.id), class_name=class_name)
    full = email_item(item)
    return SearchHit(full, folder.server_id, ids.make(item.id), class_name=class_name,
                     has_attachments=bool(full.attachments), is_draft=folder.type == FolderType.Drafts)


class ItemAdapter:
    def __init__(self, store: StoreContext):
        self.store = store

    # -- MoveItems ---------------------------------------------------------------------------------
    async def move_items(self, ctx, moves: list[MoveRequest]) -> list[MoveResult]:
        touched: set[int] = set()

        def work(session):
            user, _device = self.store.who(session, ctx)
            return [self._move_one(session, user, move, touched) for move in moves]

        results = await self.store.run(work)
        if touched:
            self.store.hub.notify(touched)
        return results

    @staticmethod
    def _move_one(session: Session, user: User, move: MoveRequest, touched: set[int]) -> MoveResult:
        if move.ambiguous:
            return MoveResult(move.src_msg_id, MoveItemsStatus.Failure)
        source = find_folder(session, user, move.src_fld_id) if move.src_fld_id else None
        if source is None:
            return MoveResult(move.src_msg_id, MoveItemsStatus.InvalidSource)
        destination = find_folder(session, user, move.dst_fld_id) if move.dst_fld_id else None
        if destination is None or destination.type == RI_CACHE:
            return MoveResult(move.src_msg_id, MoveItemsStatus.InvalidDestination)
        if destination.id == source.id:
            return MoveResult(move.src_msg_id, MoveItemsStatus.SameSourceAndDestination)
        item = item_in_folder(session, source, move.src_msg_id)
        if item is None:
            return MoveResult(move.src_msg_id, MoveItemsStatus.InvalidSource)
        if folder_class(source.type) != folder_class(destination.type):
            return MoveResult(move.src_msg_id, MoveItemsStatus.Failure)  # mail into a calendar would not be mail any more
        move_item(session, item, source, destination)
        touched.add(destination.id)
        return MoveResult(move.src_msg_id, MoveItemsStatus.Success, item.server_id)

    # -- ItemOperations / GetAttachment ------------------------------------------------------------
    async def fetch(self, ctx, request: FetchRequest) -> FetchOutcome:
        if request.file_reference:
            status, found = await self._read_attachment(ctx, request.file_reference, request.max_size, encoded=True)
            return FetchOutcome(status, attachment=found)

        def work(session):
            user, _device = self.store.who(session, ctx)
            by_long_id = request.long_id or (request.server_id if looks_like_long_id(request.server_id) else None)
            if by_long_id:
                found = LongIds(session, user).item(by_long_id)
                if found is None:
                    return FetchOutcome(6)
                item, folder = found
            else:
                cid = request.collection_id or request.server_id.partition(":")[0]
                folder = find_folder(session, user, cid)
                item = item_in_folder(session, folder, request.server_id) if folder is not None else None
                if item is None:
                    return FetchOutcome(6)
            return FetchOutcome(1, row_item(item, folder_class(folder.type)), folder.server_id, item.server_id)

        return await self.store.run(work)

    async def attachment(self, ctx, file_reference: str) -> AttachmentData | None:
        return (await self._read_attachment(ctx, file_reference))[1]

    async def _read_attachment(self, ctx, reference: str, max_size: int | None = None,
                               encoded: bool = False) -> tuple[int, AttachmentData | None]:
        """A reading transaction finds the message, then the same worker thread parses it (and
        decodes the attachment, unless `encoded`: its stored base64 may serve, AttachmentData)."""
        def source(session):
            user, _device = self.store.who(session, ctx)
            return _attachment_source(session, user, reference, max_size)

        return await run_in_threadpool(lambda: _attachment_data(*self.store.transaction(source, False), encoded))

    async def empty_folder(self, ctx, collection_id: str, delete_subfolders: bool) -> int:
        def work(session):
            user, _device = self.store.who(session, ctx)
            folder = find_folder(session, user, collection_id)
            if folder is None:
                return 6, user.id, False
            empty_folder(session, folder)
            removed = False
            if delete_subfolders:
                for child in session.exec(select(Folder).where(Folder.user_id == user.id, Folder.parent_id == folder.server_id,
                                                               Folder.deleted == False)).all():  # noqa: E712
                    delete_folder_tree(session, user, child)
                    removed = True
            return 1, user.id, removed

        status, user_id, removed = await self.store.run(work)
        if removed:
            # The requesting device's FolderSync key did not move: it learns of the deleted
            # subfolders at its next FolderSync like everyone else, so every device is told.
            self.store.hub.notify_hierarchy(user_id)
        return status

    async def move_conversation(self, ctx, conversation_id: bytes, destination_id: str) -> int:
        touched: set[int] = set()

        def work(session):
            user, _device = self.store.who(session, ctx)
            destination = find_folder(session, user, destination_id)
            if destination is None:
                return 6
            if destination.type == RI_CACHE:
                return 105
            if folder_class(destination.type) != "Email":
                return 156  # the destination must be a mail folder
            rows = list(session.exec(select(Item, Folder).join(Folder, Folder.id == Item.folder_id).where(
                Folder.user_id == user.id, Folder.deleted == False, Item.conversation_id == conversation_id)))  # noqa: E712
            if not rows:
                return 6
            # MoveAlways (the only Move there is, 155 otherwise): later mail of it goes there too.
            set_always_move(session, user, conversation_id, destination, self.store.clock.now())
            for item, folder in rows:
                if folder.id == destination.id or folder.type in _CONVERSATION_KEEPS or folder_class(folder.type) != "Email":
                    continue
                move_item(session, item, folder, destination)
                touched.add(destination.id)
            return 1

        status = await self.store.run(work)
        if touched:
            self.store.hub.notify(touched)
        return status

    # -- Search / Find --------------------------------------------------------------------------------
    def _search(self, session: Session, user: User, query: MailboxQuery, unknown_folder: int) -> SearchOutcome:
        folders = mailbox_search.scope(session, user, query)
        if folders is None:
            return SearchOutcome(unknown_folder)
        rows, total = mailbox_search.run(session, folders, query)
        ids = LongIds(session, user)
        return SearchOutcome(1, [_hit(item, folder, ids) for item, folder in rows], total, query.range[0])

    async def search_mailbox(self, ctx, query: MailboxQuery) -> SearchOutcome:
        def work(session):
            user, _device = self.store.who(session, ctx)
            return self._search(session, user, query, unknown_folder=11)  # Store Status 11: FolderSync first

        return await self.store.run(work)

    async def find_mailbox(self, ctx, search_id: str, query: MailboxQuery) -> SearchOutcome:
        sid = search_id[:128]

        def work(session):
            user, device = self.store.who(session, ctx)
            started = session.exec(select(FindSearch).where(FindSearch.device_pk == device.id, FindSearch.search_id == sid)).first()
            if started is None:
                if query.range[0] != 0:
                    return SearchOutcome(4)  # StartWithRangeZero
                session.add(FindSearch(device_pk=device.id, search_id=sid, started_at=self.store.clock.now()))
                old = session.exec(select(FindSearch).where(FindSearch.device_pk == device.id)
                                   .order_by(FindSearch.started_at.desc(), FindSearch.id.desc()).offset(_FIND_SEARCHES_KEPT)).all()
                for row in old:
                    session.delete(row)
            return self._search(session, user, query, unknown_folder=3)  # Find Status 3: FolderSync required

        return await self.store.run(work)
