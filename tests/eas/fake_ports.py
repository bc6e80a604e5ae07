"""Every port of eas/ports.py in memory (dicts), for the commands' unit tests.

The fake keeps the rules a command relies on and nothing more: one SyncKey per collection that
advances by one and replays the previous answer to a resent key, folder changes checked against
the FolderSync key, a directory searched by eas.gal.  Held requests end as `wakes` scripts them
(none left: the wait times out), so no test waits in real time.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from easlab.eas import commands, gal
from easlab.eas.commands import catalog
from easlab.eas.machines.access import Gate
from easlab.eas.commands.compose import ComposeRequest
from easlab.eas.commands.getitemestimate import EstimateRequest
from easlab.eas.commands.meetingresponse import MeetingAnswer, MeetingResult
from easlab.eas.machines.provision import ProvisionView
from easlab.eas.commands.resolverecipients import ResolveQuery
from easlab.eas.commands.settings import Block, BlockResult, OofGet, OofSet, UserInformationGet
from easlab.eas.commands.sync import CollectionRequest
from easlab.eas.context import CommandContext
from easlab.eas.dispatch import dispatch
from easlab.eas.documents import DocumentBody, DocumentEntry, DocumentListing
from easlab.eas.oof import OofConfig
from easlab.eas.ports import CachedKind, Ports, ProvisionDecision
from easlab.eas.records import (
    AttachmentData, CollectionOutcome, EmailItem, Estimate, FetchOutcome, FetchRequest, FolderChangeOutcome,
    FolderInfo, HierarchyOutcome, ItemCommandResult, MailboxQuery, MoveRequest, MoveResult, PingCheck, SearchHit,
    SearchOutcome, ServerChange,
)
from easlab.eas.request import RequestLine
from easlab.eas.response import Response
from easlab.eas.wbxml import Element, encode

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
WBXML = "application/vnd.ms-sync.wbxml"


@dataclass
class FakeWake:
    folders: set[int] = field(default_factory=set)
    hierarchy: bool = False
    superseded: bool = False
    policy: bool = False
    arrive: Callable[[], object] | None = None  # what happens while the request is held


@dataclass
class Collection:
    info: FolderInfo
    items: dict[str, EmailItem] = field(default_factory=dict)
    pending: list[ServerChange] = field(default_factory=list)  # server changes not yet handed out
    key: int = 0
    replay: Element | None = None  # the answer handed out with `key`


class FakePorts:
    def __init__(self) -> None:
        self.hierarchy_key = 0
        self.collections: dict[str, Collection] = {}
        self.cache: dict[str, bytes] = {}
        self.wakes: list[FakeWake] = []
        self.waits: list[tuple[list[int], float]] = []
        self.gate_response: Response | None = None
        self.gates: list[str] = []
        self.device: dict[str, object] = {"temp_policy_key": None, "wipe_state": "none", "wipe_account_only": False}
        self.policy = None  # eas.policy.PolicySettings; None: no policy
        self.attachments: dict[str, AttachmentData] = {}
        self.library: dict[tuple[str, ...], tuple[DocumentEntry, bytes]] = {}  # path -> (entry, body)
        self.conversations: dict[bytes, str] = {}  # ConversationId -> folder
        self.searches: set[str] = set()
        self.sent: list[ComposeRequest] = []
        self.client_ids: set[str] = set()
        self.oof = OofConfig()
        self.directory: list[gal.DirectoryEntry] = []
        self.trust: list[bytes] = []
        self.meeting_requests: dict[str, str] = {}  # RequestId -> CalendarId
        self.hierarchy_fails = False
        self._next_id = 100
        self.seconds = 0.0  # the server clock's monotonic seconds: still unless a test moves it

    def monotonic(self) -> float:
        return self.seconds

    # -- set-up ---------------------------------------------------------------------------------
    def folder(self, server_id: str, name: str, ftype: int, parent_id: str = "0") -> Collection:
        coll = self.collections[server_id] = Collection(FolderInfo(server_id, parent_id, name, ftype))
        return coll

    def mail(self, collection_id: str, server_id: str, subject: str, **fields: object) -> EmailItem:
        fields.setdefault("date_received", NOW)
        item = EmailItem(server_id, subject=subject, **fields)  # type: ignore[arg-type]
        coll = self.collections[collection_id]
        coll.items[server_id] = item
        coll.pending.append(ServerChange("Add", server_id, item))
        return item

    def _new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _handle(self, collection_id: str) -> int:
        return list(self.collections).index(collection_id)

    # -- AccessPort -----------------------------------------------------------------------------
    async def gate(self, ctx: CommandContext, command: commands.Command, request: Element | bytes | None = None) -> Gate:
        self.gates.append(command.name)
        return Gate(decision=None, response=self.gate_response)

    async def provision(self, ctx: CommandContext, decide: ProvisionDecision) -> Element | int:
        view = ProvisionView(version=ctx.version, settings=self.policy, policy_name="Default",
                             temp_policy_key=self.device["temp_policy_key"],  # type: ignore[arg-type]
                             wipe_state=str(self.device["wipe_state"]),
                             wipe_account_only=bool(self.device["wipe_account_only"]), new_temp_key=1234, now=NOW)
        result, update = decide(view)
        self.device.update(update.fields)
        return result

    # -- SyncPort -------------------------------------------------------------------------------
    async def folder_sync(self, ctx: CommandContext, sync_key: str) -> HierarchyOutcome:
        if sync_key != "0" and sync_key != str(self.hierarchy_key):
            return HierarchyOutcome(9)
        added = [c.info for c in self.collections.values()] if sync_key == "0" else []
        self.hierarchy_key += 1
        return HierarchyOutcome(1, str(self.hierarchy_key), added=added)

    async def sync_collection(self, ctx: CommandContext, request: CollectionRequest,
                              render: Callable[[CollectionOutcome], Element], keep: bytes | None = None) -> CollectionOutcome:
        if keep is not None:
            self.cache["sync"] = keep
        coll = self.collections.get(request.collection_id)
        if coll is None:
            return CollectionOutcome(request.collection_id, 8)
        if request.sync_key == str(coll.key - 1) and coll.replay is not None:
            return CollectionOutcome(request.collection_id, 1, str(coll.key), replay=coll.replay)
        if request.sync_key != "0" and request.sync_key != str(coll.key):
            return CollectionOutcome(request.collection_id, 3, "0")
        outcome = CollectionOutcome(request.collection_id, 1, options=request.options)
        if request.sync_key == "0":
            coll.key = 0
        else:
            for cmd in request.commands:
                if cmd.kind == "Delete" and coll.items.pop(cmd.server_id or "", None) is None:
                    outcome.responses.append(ItemCommandResult("Delete", cmd.server_id, 8))
            if request.get_changes:
                outcome.changes = coll.pending[:request.window_size]
                coll.pending = coll.pending[request.window_size:]
                outcome.more_available = bool(coll.pending)
            if not outcome.changes and not outcome.responses:
                outcome.sync_key, outcome.unchanged = str(coll.key), True
                outcome.watch = [self._handle(request.collection_id)]
                return outcome
        coll.key += 1
        outcome.sync_key = str(coll.key)
        outcome.rendered = coll.replay = render(outcome)
        return outcome

    async def quiet_sync(self, ctx: CommandContext, requests: list[CollectionRequest], sent: bytes) -> None:
        return None  # every collection through sync_collection

    async def estimate(self, ctx: CommandContext, collection: EstimateRequest) -> Estimate:
        coll = self.collections.get(collection.collection_id)
        if coll is None:
            return Estimate(collection.collection_id, 2)
        if collection.sync_key == "0" or coll.key == 0:
            return Estimate(collection.collection_id, 3)
        if collection.sync_key != str(coll.key):
            return Estimate(collection.collection_id, 4)
        return Estimate(collection.collection_id, 1, len(coll.pending))

    async def pending_adds(self, ctx: CommandContext, collection_ids: list[str]) -> PingCheck:
        if any(cid not in self.collections for cid in collection_ids):
            return PingCheck(7)
        changed = [cid for cid in collection_ids if self.collections[cid].pending]
        return PingCheck(2 if changed else 0, changed, [self._handle(cid) for cid in collection_ids])

    async def wait(self, ctx: CommandContext, watch: list[int], timeout: float) -> FakeWake | None:
        self.waits.append((list(watch), timeout))
        if not self.wakes:
            return None
        wake = self.wakes.pop(0)
        if wake.arrive is not None:
            wake.arrive()
        return wake

    async def cached_request(self, ctx: CommandContext, kind: CachedKind) -> bytes | None:
        return self.cache.get(kind)

    async def cache_request(self, ctx: CommandContext, kind: CachedKind, data: bytes) -> None:
        self.cache[kind] = data

    # -- FolderPort -----------------------------------------------------------------------------
    def _folder_change(self, sync_key: str | None, server_id: str | None = None) -> FolderChangeOutcome | None:
        if sync_key != str(self.hierarchy_key):
            return FolderChangeOutcome(9)
        if server_id is not None and server_id not in self.collections:
            return FolderChangeOutcome(4)
        return None

    def _name_taken(self, parent_id: str, name: str) -> bool:
        return any(c.info.parent_id == parent_id and c.info.display_name == name for c in self.collections.values())

    async def folder_create(self, ctx: CommandContext, sync_key: str | None, parent_id: str, display_name: str,
                            ftype: int) -> FolderChangeOutcome:
        refused = self._folder_change(sync_key)
        if refused is not None:
            return refused
        if parent_id != "0" and parent_id not in self.collections:
            return FolderChangeOutcome(5)
        if self._name_taken(parent_id, display_name):
            return FolderChangeOutcome(2)
        server_id = self._new_id()
        self.folder(server_id, display_name, ftype, parent_id)
        self.hierarchy_key += 1
        return FolderChangeOutcome(1, str(self.hierarchy_key), server_id)

    async def folder_update(self, ctx: CommandContext, sync_key: str | None, server_id: str | None,
                            parent_id: str | None, display_name: str) -> FolderChangeOutcome:
        refused = self._folder_change(sync_key, server_id or "")
        if refused is not None:
            return refused
        coll = self.collections[server_id or ""]
        parent = coll.info.parent_id if parent_id is None else parent_id
        if self._name_taken(parent, display_name):
            return FolderChangeOutcome(2)
        coll.info = FolderInfo(coll.info.server_id, parent, display_name, coll.info.type)
        self.hierarchy_key += 1
        return FolderChangeOutcome(1, str(self.hierarchy_key))

    async def folder_delete(self, ctx: CommandContext, sync_key: str | None, server_id: str | None) -> FolderChangeOutcome:
        refused = self._folder_change(sync_key, server_id or "")
        if refused is not None:
            return refused
        del self.collections[server_id or ""]
        self.hierarchy_key += 1
        return FolderChangeOutcome(1, str(self.hierarchy_key))

    async def hierarchy(self, ctx: CommandContext) -> list[FolderInfo] | None:
        return None if self.hierarchy_fails else [c.info for c in self.collections.values()]

    # -- ItemPort -------------------------------------------------------------------------------
    async def move_items(self, ctx: CommandContext, moves: list[MoveRequest]) -> list[MoveResult]:
        results = []
        for move in moves:
            source = self.collections.get(move.src_fld_id or "")
            if move.ambiguous:
                results.append(MoveResult(move.src_msg_id, 5))
            elif source is None or move.src_msg_id not in source.items:
                results.append(MoveResult(move.src_msg_id, 1))
            elif move.dst_fld_id not in self.collections:
                results.append(MoveResult(move.src_msg_id, 2))
            elif move.dst_fld_id == move.src_fld_id:
                results.append(MoveResult(move.src_msg_id, 4))
            else:
                new_id = self._new_id()
                self.collections[move.dst_fld_id].items[new_id] = source.items.pop(move.src_msg_id or "")
                results.append(MoveResult(move.src_msg_id, 3, new_id))
        return results

    async def fetch(self, ctx: CommandContext, request: FetchRequest) -> FetchOutcome:
        if request.file_reference is not None:
            found = self.attachments.get(request.file_reference)
            return FetchOutcome(1, attachment=found) if found else FetchOutcome(15)
        coll = self.collections.get(request.collection_id or "")
        item = coll.items.get(request.server_id or "") if coll is not None else None
        if item is None:
            return FetchOutcome(6)
        return FetchOutcome(1, item, request.collection_id, request.server_id)

    async def empty_folder(self, ctx: CommandContext, collection_id: str, delete_subfolders: bool) -> int:
        coll = self.collections.get(collection_id)
        if coll is None:
            return 6
        coll.items.clear()
        return 1

    async def move_conversation(self, ctx: CommandContext, conversation_id: bytes, destination_id: str) -> int:
        if conversation_id not in self.conversations:
            return 6
        self.conversations[conversation_id] = destination_id
        return 1

    async def attachment(self, ctx: CommandContext, file_reference: str) -> AttachmentData | None:
        return self.attachments.get(file_reference)

    async def documents(self, ctx: CommandContext, path: tuple[str, ...]) -> DocumentListing:
        if path not in self.library:
            return DocumentListing(6)
        entry = self.library[path][0]
        if not entry.is_folder:
            return DocumentListing(1, [entry])
        return DocumentListing(1, [e for p, (e, _) in sorted(self.library.items()) if p[:-1] == path])

    async def document(self, ctx: CommandContext, path: tuple[str, ...]) -> DocumentBody:
        found = self.library.get(path)
        if found is None or found[0].is_folder:
            return DocumentBody(6)
        return DocumentBody(1, *found)

    def _search(self, query: MailboxQuery) -> SearchOutcome:
        if any(cid not in self.collections for cid in query.collection_ids):
            return SearchOutcome(3)
        words = (query.free_text or "").casefold().split()
        hits = [SearchHit(item, cid, f"{cid}:{sid}")
                for cid, coll in self.collections.items() if not query.collection_ids or cid in query.collection_ids
                for sid, item in coll.items.items() if all(w in item.subject.casefold() for w in words)]
        first, last = query.range
        return SearchOutcome(1, hits[first:last + 1], len(hits), first)

    async def search_mailbox(self, ctx: CommandContext, query: MailboxQuery) -> SearchOutcome:
        return self._search(query)

    async def find_mailbox(self, ctx: CommandContext, search_id: str, query: MailboxQuery) -> SearchOutcome:
        if search_id not in self.searches and query.range[0] != 0:
            return SearchOutcome(4)
        self.searches.add(search_id)
        return self._search(query)

    # -- ComposePort, SettingsPort ----------------------------------------------------------------
    async def compose(self, ctx: CommandContext, request: ComposeRequest) -> int | None:
        if request.client_id is not None and request.client_id in self.client_ids:
            return 118  # previously sent
        if request.client_id is not None:
            self.client_ids.add(request.client_id)
        self.sent.append(request)
        return None

    async def settings(self, ctx: CommandContext, blocks: list[Block]) -> list[BlockResult]:
        results = []
        for block in blocks:
            req = block.request
            if req is None:
                results.append(BlockResult(block.status))
            elif isinstance(req, OofGet):
                results.append(BlockResult(1, oof=self.oof, body_type=req.body_type))
            elif isinstance(req, OofSet):
                self.oof = OofConfig(req.state or 0, req.start, req.end, {**self.oof.messages, **req.messages})
                results.append(BlockResult(1))
            elif isinstance(req, UserInformationGet):
                results.append(BlockResult(1, address=ctx.address, display_name="Alice Example"))
            else:
                results.append(BlockResult(1))
        return results

    # -- DirectoryPort, MeetingPort ---------------------------------------------------------------
    async def gal_search(self, ctx: CommandContext, query: str, range: tuple[int, int],
                         options: gal.PictureOptions | None) -> gal.GalResult:
        return gal.page(gal.search(self.directory, query), range)

    async def resolve_recipients(self, ctx: CommandContext, query: ResolveQuery) -> tuple[list[gal.Resolved], datetime]:
        return [gal.Resolved(name, gal.resolve(self.directory, name)) for name in query.names], NOW

    async def certificate_trust(self, ctx: CommandContext) -> tuple[list[bytes], datetime]:
        return list(self.trust), NOW

    async def meeting_response(self, ctx: CommandContext, answers: list[MeetingAnswer]) -> list[MeetingResult]:
        results = []
        for answer in answers:
            calendar_id = self.meeting_requests.get(answer.request_id or "")
            if calendar_id is None:
                results.append(MeetingResult(answer.request_id, 2))
            else:
                results.append(MeetingResult(answer.request_id, 1, None if answer.user_response == 3 else calendar_id))
        return results


def as_ports(store: FakePorts) -> Ports:
    return store  # mypy checks the fake against every port here


def context(store: FakePorts, command: str, version: str = "14.1", **line: object) -> CommandContext:
    request = RequestLine(command, "dev1", "TestPhone", version, **line)  # type: ignore[arg-type]
    return CommandContext(request, "alice", "alice@easlab.test", store=store, clock=store.monotonic,
                          commands=catalog.registry())


async def run(store: FakePorts, command: str, tree: Element | bytes | None = None, version: str = "14.1",
              **line: object) -> Response:
    """One request through eas.dispatch, as the server hands it over."""
    content_type: str | None
    if isinstance(tree, Element):
        body, content_type = encode(tree), WBXML
    else:
        body, content_type = tree or b"", "message/rfc822" if tree else None
    return await dispatch(context(store, command, version, **line), body, content_type)
