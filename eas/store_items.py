"""The records that cross the store interface for MoveItems, the folder commands, ItemOperations,
GetAttachment, Search and Find (the store side: server/store_items.py).

Every store method named here is one transaction:

    move_items(ctx, moves: list[MoveRequest]) -> list[MoveResult]
    folder_create(ctx, sync_key, parent_id, display_name, type) -> FolderChangeOutcome
    folder_update(ctx, sync_key, server_id, parent_id, display_name) -> FolderChangeOutcome
    folder_delete(ctx, sync_key, server_id) -> FolderChangeOutcome
    hierarchy(ctx) -> list[FolderInfo]                       (GetHierarchy: mail folders)
    fetch(ctx, FetchRequest) -> FetchOutcome
    empty_folder(ctx, collection_id, delete_subfolders) -> int (ItemOperations status)
    move_conversation(ctx, conversation_id, destination) -> int (ItemOperations status)
    attachment(ctx, file_reference) -> AttachmentData | None
    search_mailbox(ctx, MailboxQuery) -> SearchOutcome
    find_mailbox(ctx, search_id, MailboxQuery) -> SearchOutcome
    directory(ctx, text, (first, last)) -> DirectoryPage      (GAL when no richer directory exists)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .email import BodyOptions
from .store import EmailItem


# -- MoveItems ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoveRequest:
    src_msg_id: str | None
    src_fld_id: str | None
    dst_fld_id: str | None
    ambiguous: bool = False  # more than one DstFldId: Status 5


@dataclass
class MoveResult:
    src_msg_id: str | None
    status: int  # 1 bad source, 2 bad destination, 3 success, 4 same folder, 5 failure
    dst_msg_id: str | None = None


# -- FolderCreate / FolderUpdate / FolderDelete ----------------------------------------------------
@dataclass
class FolderChangeOutcome:
    status: int
    sync_key: str | None = None  # only on success
    server_id: str | None = None  # FolderCreate only


# -- ItemOperations / GetAttachment -------------------------------------------------------------
@dataclass
class FetchRequest:
    store: str = "Mailbox"
    collection_id: str | None = None
    server_id: str | None = None
    long_id: str | None = None
    file_reference: str | None = None
    body: BodyOptions = field(default_factory=BodyOptions)
    range: tuple[int, int] | None = None  # zero-based, inclusive byte range


@dataclass
class AttachmentData:
    name: str
    content_type: str
    data: bytes


@dataclass
class FetchOutcome:
    status: int  # ItemOperations Fetch Status: 1, 6 not found, 15 bad attachment reference
    item: EmailItem | None = None
    collection_id: str | None = None
    server_id: str | None = None
    attachment: AttachmentData | None = None


# -- Search / Find --------------------------------------------------------------------------------
@dataclass
class MailboxQuery:
    free_text: str | None = None
    collection_ids: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    conversation_id: bytes | None = None
    received_after: datetime | None = None  # GreaterThan email:DateReceived
    received_before: datetime | None = None  # LessThan email:DateReceived
    deep: bool = False  # DeepTraversal: the folders' subfolders too
    range: tuple[int, int] = (0, 99)
    kql: bool = False  # Find: FreeText is KQL (field:value terms), not plain words


@dataclass
class SearchHit:
    item: EmailItem
    collection_id: str
    long_id: str
    class_name: str = "Email"
    has_attachments: bool = False
    is_draft: bool = False


@dataclass
class SearchOutcome:
    status: int  # Search: Store Status (1, 2, 12 ...); Find: Response Status (1, 2, 3, 4)
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0
    start: int = 0


@dataclass
class DirectoryPerson:
    display_name: str
    email_address: str
    alias: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    office: str = ""
    title: str = ""
    company: str = ""

    def gal_properties(self) -> list:
        """The GAL:* properties, as Search and Find both return them."""
        from .wbxml import E

        fields = [("DisplayName", self.display_name or self.alias), ("Phone", self.phone), ("Office", self.office),
                  ("Title", self.title), ("Company", self.company), ("Alias", self.alias),
                  ("FirstName", self.first_name), ("LastName", self.last_name), ("EmailAddress", self.email_address)]
        return [E(f"GAL:{name}", value) for name, value in fields if value]


@dataclass
class DirectoryPage:
    people: list[DirectoryPerson]
    total: int
    start: int

