"""The store interface the commands need, and the plain records that cross it.

The server implements `Store` over its database (server/store.py); tests may implement it in
memory.  Every method is one transaction on the other side.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .context import CommandContext
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
class EmailItem:
    server_id: str
    subject: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    reply_to: str = ""
    display_to: str = ""
    thread_topic: str = ""
    date_received: datetime | None = None
    importance: int = 1
    read: bool = False
    flag_status: int = 0
    flag_type: str = ""
    message_class: str = "IPM.Note"
    internet_cpid: int = 65001
    conversation_id: bytes = b""
    conversation_index: bytes = b""
    body_text: str = ""
    body_html: str = ""
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


@dataclass
class ServerChange:
    kind: str  # "Add" | "Change" | "Delete" | "SoftDelete"
    server_id: str
    item: EmailItem | PimItem | None = None


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
    options: Any = None  # the collection's effective (sticky) options
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


class Store(Protocol):
    async def folder_sync(self, ctx: CommandContext, sync_key: str) -> HierarchyOutcome: ...

    async def sync_collection(self, ctx: CommandContext, request, render: Callable[[CollectionOutcome], Element]) -> CollectionOutcome: ...

    async def pending_adds(self, ctx: CommandContext, collection_ids: list[str]) -> PingCheck: ...

    async def wait(self, ctx: CommandContext, watch: list[int], timeout: float): ...

    async def estimate(self, ctx: CommandContext, request) -> Estimate: ...

    async def cached_request(self, ctx: CommandContext, kind: str) -> bytes | None: ...

    async def meeting_response(self, ctx: CommandContext, answers: list) -> list: ...

    async def cache_request(self, ctx: CommandContext, kind: str, data: bytes) -> None: ...
