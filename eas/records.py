"""The plain records that cross the ports (eas/ports.py) between the commands and a store.

They are data only: the server's store builds them from its rows, the commands render them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Callable

from .documents import DocumentBody
from .email import BodyOptions
from .mime import MailFields

if TYPE_CHECKING:
    from .commands.sync import SyncOptions
    from .wbxml import Element


@dataclass(frozen=True)
class FolderInfo:
    server_id: str
    parent_id: str
    display_name: str
    type: int


@dataclass
class HierarchyOutcome:
    status: int  # FolderSync Status: 1, or 9 for an unknown key
    sync_key: str | None = None
    added: list[FolderInfo] = field(default_factory=list)
    updated: list[FolderInfo] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass
class AttachmentInfo:
    file_reference: str
    name: str
    content_type: str
    size: int
    method: int = 1
    content_id: str = ""
    inline: bool = False


@dataclass
class EmailItem(MailFields):
    """A stored mail: what its MIME says (MailFields, keyword arguments) and the store's own state."""

    server_id: str
    date_received: datetime
    read: bool = False
    flag_status: int = 0
    flag_type: str = ""
    mime: bytes = b""
    attachments: list[AttachmentInfo] = field(default_factory=list)
    bcc: str = ""  # drafts only (Email2:Bcc, 16.0+)
    is_draft: bool = False  # Email2:IsDraft (16.0+)
    # A meeting request or cancellation (MS-ASEMAIL 2.2.2.48): the MeetingRequest children in
    # eas.pim.tree's stored form.
    meeting: list = field(default_factory=list)


@dataclass
class PimItem:
    """A Calendar, Contacts, Tasks or Notes item: its properties in eas.pim.tree's stored form."""

    server_id: str
    class_name: str
    nodes: list = field(default_factory=list)


@dataclass
class ItemCommandResult:
    """The answer to one client command, for Sync's Responses (silence means success)."""

    kind: str  # "Change" | "Delete" | "Fetch" | "Add"
    server_id: str | None
    status: int
    client_id: str | None = None
    item: EmailItem | PimItem | None = None
    attachment_refs: list[tuple[str, str]] = field(default_factory=list)  # drafts: (ClientId, FileReference) added
    conversation: tuple[bytes, bytes] | None = None  # a new draft: (ConversationId, ConversationIndex)
    # A Fetch's ApplicationData, rendered once when Sync fitted it into the answer's room.
    data: Element | None = field(default=None, compare=False, repr=False)


@dataclass
class ServerChange:
    kind: str  # "Add" | "Change" | "Delete" | "SoftDelete"
    server_id: str
    item: EmailItem | PimItem | None = None
    # The item's ApplicationData, rendered once when Sync measured it against the answer's room.
    data: Element | None = field(default=None, compare=False, repr=False)


@dataclass
class CollectionOutcome:
    collection_id: str
    status: int
    sync_key: str | None = None
    changes: list[ServerChange] = field(default_factory=list)
    responses: list[ItemCommandResult] = field(default_factory=list)
    more_available: bool = False
    replay: Element | None = None  # the stored answer to a resent previous key
    unchanged: bool = False  # nothing to report: the key was not advanced
    folder_class: str = "Email"
    options: SyncOptions | None = None  # the collection's effective (sticky) options
    watch: list[int] = field(default_factory=list)  # handles for `Store.wait` when held
    rendered: Element | None = None  # the Collection element as handed out


@dataclass
class PingCheck:
    status: int  # 0: go on waiting; 2: changes already pending; 7: unknown folder
    changed: list[str] = field(default_factory=list)
    watch: list[int] = field(default_factory=list)  # opaque folder handles for `wait`


@dataclass
class Estimate:
    collection_id: str
    status: int  # GetItemEstimate Response Status: 1, 2 unknown collection, 3 not primed, 4 bad key
    estimate: int = 0
    # A conversation-based filter on a folder that holds no mail: the Response's 103 (MS-ASCMD
    # 2.2.3.36.1) and the command's own Status 4 as well (MS-ASCON 3.2.5.2), as Microsoft's two test
    # suites each check one of them against Exchange.
    protocol_error: bool = False


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
    link_id: str | None = None  # documentlibrary:LinkId (Store DocumentLibrary)
    body: BodyOptions = field(default_factory=BodyOptions)
    range: tuple[int, int] | None = None  # zero-based, inclusive byte range
    schema: frozenset[str] | None = None  # Options/Schema: the only properties a PIM item is returned with
    # The room left in the answer: an attachment the store knows to be larger gets Status 11 before
    # its message is read, so a request of many large fetches costs what fits, not what was asked.
    max_size: int | None = None


class AttachmentData:
    """An attachment read for ItemOperations or GetAttachment: its bytes given, or read from
    `source` when first asked for.  `base64` is their base64 without line breaks where the
    stored message already held exactly that (eas.mime_split.base64_text): an answer carrying
    base64 sends it as it is, and a 5 MB attachment is neither decoded nor encoded again."""

    def __init__(self, name: str, content_type: str, data: bytes | None = None, *, size: int | None = None,
                 base64: str | None = None, source: Callable[[], bytes] | None = None):
        if data is None and source is None:
            raise ValueError("an attachment needs its data or a source of it")
        self.name, self.content_type, self.base64 = name, content_type, base64
        self._data, self._source = data, source
        self.size = len(data) if data is not None else size if size is not None else len(self.data)

    @property
    def data(self) -> bytes:
        if self._data is None:
            assert self._source is not None  # one of the two is given (__init__)
            self._data, self._source = self._source(), None
        return self._data

    def __repr__(self) -> str:
        return f"AttachmentData({self.name!r}, {self.content_type!r}, size={self.size})"


@dataclass
class FetchOutcome:
    status: int  # ItemOperations Fetch Status: 1, 6 not found, 15 bad attachment reference
    item: EmailItem | None = None
    collection_id: str | None = None
    server_id: str | None = None
    attachment: AttachmentData | None = None
    document: DocumentBody | None = None


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
    item: EmailItem | PimItem
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
