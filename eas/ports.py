"""The ports: what the commands ask of a store, one Protocol per capability.

The server implements all of them over its database (server/store/ `MailStore`); the unit tests
of the commands implement them in memory (tests/eas/fake_ports.py).  Every capability is
required: a command never probes its store.  Each method is one transaction on the other side.
The records that cross the ports are in eas/records.py; a few requests and answers belong to one
command and are defined in that command's module.
"""
from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from .machines.access import Gate
    from .commands import Command
    from .commands.compose import ComposeRequest
    from .commands.getitemestimate import EstimateRequest
    from .commands.meetingresponse import MeetingAnswer, MeetingResult
    from .machines.provision import ProvisionUpdate, ProvisionView
    from .commands.resolverecipients import ResolveQuery
    from .commands.settings import Block, BlockResult
    from .commands.sync import CollectionRequest
    from .context import CommandContext
    from .documents import DocumentBody, DocumentListing
    from .gal import GalResult, PictureOptions, Resolved
    from .records import (
        AttachmentData, CollectionOutcome, Estimate, FetchOutcome, FetchRequest, FolderChangeOutcome, FolderInfo,
        HierarchyOutcome, MailboxQuery, MoveRequest, MoveResult, PingCheck, SearchOutcome,
    )
    from .wbxml import Element

CachedKind = Literal["sync", "ping"]
ProvisionDecision = Callable[["ProvisionView"], "tuple[Element | int, ProvisionUpdate]"]


class Wake(Protocol):
    """Why a held request's wait ended (the server's push hub builds it)."""

    @property
    def folders(self) -> Collection[int]: ...  # watch handles of folders with new items

    @property
    def hierarchy(self) -> bool: ...

    @property
    def superseded(self) -> bool: ...  # the same device started a newer wait

    @property
    def policy(self) -> bool: ...


class AccessPort(Protocol):
    async def gate(self, ctx: CommandContext, command: Command, request: Element | bytes | None = None) -> Gate:
        """Access control and the policy check for this request; the gate's response, if any, is
        the answer instead of running the command."""
        ...

    async def provision(self, ctx: CommandContext, decide: ProvisionDecision) -> Element | int:
        """Run `decide` on the device's provisioning state and store the update it returns."""
        ...


class SyncPort(Protocol):
    async def folder_sync(self, ctx: CommandContext, sync_key: str) -> HierarchyOutcome: ...

    async def sync_collection(self, ctx: CommandContext, request: CollectionRequest,
                              render: Callable[[CollectionOutcome], Element], keep: bytes | None = None) -> CollectionOutcome:
        """One collection's answer; `keep`, when given, is the Sync request to keep for the device
        (`cache_request`'s "sync"), stored in the same transaction."""
        ...

    async def quiet_sync(self, ctx: CommandContext, requests: list[CollectionRequest],
                         sent: bytes) -> list[CollectionOutcome] | None:
        """Each collection's unchanged outcome when none has anything to say and nothing would be
        stored (`sent`, the Sync request as encoded, is the one kept); None: ask `sync_collection`."""
        ...

    async def estimate(self, ctx: CommandContext, collection: EstimateRequest) -> Estimate: ...

    async def pending_adds(self, ctx: CommandContext, collection_ids: list[str]) -> PingCheck: ...

    async def wait(self, ctx: CommandContext, watch: list[int], timeout: float) -> Wake | None:
        """Hold until a watched folder changes; None when `timeout` seconds pass first."""
        ...

    async def cached_request(self, ctx: CommandContext, kind: CachedKind) -> bytes | None: ...

    async def cache_request(self, ctx: CommandContext, kind: CachedKind, data: bytes) -> None: ...


class FolderPort(Protocol):
    async def folder_create(self, ctx: CommandContext, sync_key: str | None, parent_id: str, display_name: str,
                            ftype: int) -> FolderChangeOutcome: ...

    async def folder_update(self, ctx: CommandContext, sync_key: str | None, server_id: str | None,
                            parent_id: str | None, display_name: str) -> FolderChangeOutcome: ...

    async def folder_delete(self, ctx: CommandContext, sync_key: str | None,
                            server_id: str | None) -> FolderChangeOutcome: ...

    async def hierarchy(self, ctx: CommandContext) -> list[FolderInfo] | None:
        """GetHierarchy's mail folders; None when the store failed."""
        ...


class ItemPort(Protocol):
    async def move_items(self, ctx: CommandContext, moves: list[MoveRequest]) -> list[MoveResult]: ...

    async def fetch(self, ctx: CommandContext, request: FetchRequest) -> FetchOutcome: ...

    async def empty_folder(self, ctx: CommandContext, collection_id: str, delete_subfolders: bool) -> int:
        """EmptyFolderContents; the ItemOperations status."""
        ...

    async def move_conversation(self, ctx: CommandContext, conversation_id: bytes, destination_id: str) -> int:
        """ItemOperations Move of a conversation; the ItemOperations status."""
        ...

    async def attachment(self, ctx: CommandContext, file_reference: str) -> AttachmentData | None: ...

    async def search_mailbox(self, ctx: CommandContext, query: MailboxQuery) -> SearchOutcome: ...

    async def find_mailbox(self, ctx: CommandContext, search_id: str, query: MailboxQuery) -> SearchOutcome: ...


class ComposePort(Protocol):
    async def compose(self, ctx: CommandContext, request: ComposeRequest) -> int | None:
        """SendMail, SmartReply, SmartForward; None when sent, else the common status code."""
        ...


class SettingsPort(Protocol):
    async def settings(self, ctx: CommandContext, blocks: list[Block]) -> list[BlockResult]:
        """Every block run in order, in one transaction; one result per block."""
        ...


class DirectoryPort(Protocol):
    async def gal_search(self, ctx: CommandContext, query: str, range: tuple[int, int],
                         options: PictureOptions | None) -> GalResult: ...

    async def resolve_recipients(self, ctx: CommandContext, query: ResolveQuery) -> tuple[list[Resolved], datetime]:
        """Each To resolved, and the time certificates are judged at."""
        ...

    async def certificate_trust(self, ctx: CommandContext) -> tuple[list[bytes], datetime]:
        """The trusted roots (PEM bundles) and the time to validate at."""
        ...


class DocumentPort(Protocol):
    async def documents(self, ctx: CommandContext, path: tuple[str, ...]) -> DocumentListing:
        """A Search of the document library: a folder's entries, or the one document `path` names."""
        ...

    async def document(self, ctx: CommandContext, path: tuple[str, ...]) -> DocumentBody:
        """An ItemOperations Fetch of a document's body."""
        ...


class MeetingPort(Protocol):
    async def meeting_response(self, ctx: CommandContext, answers: list[MeetingAnswer]) -> list[MeetingResult]: ...


class Ports(AccessPort, SyncPort, FolderPort, ItemPort, ComposePort, SettingsPort, DirectoryPort, MeetingPort,
            DocumentPort, Protocol):
    """Everything a command may ask: the type of `CommandContext.store`."""
