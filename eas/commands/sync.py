"""Sync (MS-ASCMD 2.2.1.21): items of one or more collections, both ways.

This module turns the request tree into a typed SyncRequest, asks the store to run each
collection, holds the request when Wait/HeartbeatInterval ask for it and nothing is pending, and
renders the response.  The store runs the SyncKey state machine (eas.machines.synckey) inside its
transaction and calls `render_collection` there, so the exact answer it hands out can be kept
for a device that resends its previous key.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import overload

from .. import refusals, versions
from ..body import BodyPreference, SchemaError, parse_preference
from ..context import CommandContext, Limits
from ..drafts import attachment_refs_element
from ..email import BodyOptions, application_data
from ..folders import BodyType, classes_together
from ..quirks import has_quirk
from ..response import Response
from ..status import Common, SyncStatus
from ..pim.tree import RenderOptions
from ..pim.tree import render as render_pim
from ..refusals import Requirement
from ..records import CollectionOutcome, ItemCommandResult, PimItem, ServerChange
from ..wbxml import E, Element, WBXMLError, decode, encode
from . import Command

NS = "AirSync"
DEFAULT_WINDOW = 100
MAX_WINDOW = 512
# MS-ASCMD 2.2.3.182: Wait is in minutes; HeartbeatInterval's bounds are the server's (ctx.limits).
WAIT_MIN, WAIT_MAX = 1, 59


class ProtocolError(Exception):
    def __init__(self, status: int, reason: str, limit: int | None = None, requirement: Requirement | None = None):
        self.status = status
        self.reason = reason
        self.limit = limit
        self.requirement = requirement  # the MS-AS requirement that refuses it (eas/refusals.py), when one does
        super().__init__(reason)


@dataclass
class SyncOptions:
    class_name: str | None = None
    filter_type: int = 0
    conflict: int = 1  # server wins
    mime_support: int = 0
    mime_truncation: int | None = None
    truncation: int | None = None
    body_preferences: list[BodyPreference] = field(default_factory=list)
    body_part_preference: BodyPreference | None = None
    rights_management: bool = False  # rm:RightsManagementSupport (MS-ASRM 2.2.2.15; absent: FALSE)

    def body(self, reader: str = "") -> BodyOptions:
        return BodyOptions(list(self.body_preferences), self.mime_support, self.mime_truncation, self.truncation,
                           part=self.body_part_preference, rights_management=self.rights_management, reader=reader)

    def to_dict(self) -> dict:
        data = asdict(self)
        # Stored options read as they always did without a BodyPartPreference or rights management.
        if data["body_part_preference"] is None:
            del data["body_part_preference"]
        if not data["rights_management"]:
            del data["rights_management"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> SyncOptions:
        """`data` is left as it was: it is a row's loaded value."""
        prefs = [BodyPreference(**p) for p in data.get("body_preferences", [])]
        part = data.get("body_part_preference")
        return cls(**{**data, "body_preferences": prefs, "body_part_preference": BodyPreference(**part) if part else None})


@dataclass
class ClientCommand:
    kind: str  # Add | Change | Delete | Fetch
    server_id: str | None = None
    client_id: str | None = None
    data: Element | None = None
    send: bool = False  # email2:Send (16.0+): send this draft
    instance_id: str | None = None  # airsyncbase:InstanceId (16.0+): one occurrence of a series


@dataclass
class CollectionRequest:
    collection_id: str
    sync_key: str
    class_name: str | None = None
    deletes_as_moves: bool = True
    get_changes: bool = True
    window_size: int = DEFAULT_WINDOW
    conversation_mode: bool | None = None  # None: not sent
    options: SyncOptions | None = None  # None: keep the stored ones
    commands: list[ClientCommand] = field(default_factory=list)
    supported: list[str] | None = None  # local names listed in Supported (SyncKey 0 only)
    # Set by `_run`, the room left in the whole answer: the store asks `room.admit` for each server
    # change in turn, and False ends the window before that change, which then stays pending.
    room: AnswerRoom | None = field(default=None, compare=False, repr=False)


@dataclass
class SyncRequest:
    collections: list[CollectionRequest]
    wait: int | None = None  # seconds, from Wait (minutes) or HeartbeatInterval
    window_size: int | None = None
    partial: bool = False


@overload
def _int(el: Element | None, default: int) -> int: ...
@overload
def _int(el: Element | None, default: None = None) -> int | None: ...
def _int(el: Element | None, default: int | None = None) -> int | None:
    if el is None:
        return default
    if el.value is None or el.value == "":
        return default
    try:
        return int(el.value)
    except (TypeError, ValueError):
        raise ProtocolError(SyncStatus.ProtocolError, f"<{el.tag}> is not a number") from None


def _window(value: int | None) -> int:
    if value is None:
        return DEFAULT_WINDOW
    return MAX_WINDOW if value <= 0 or value > MAX_WINDOW else value


def _bool(el: Element | None, default: bool) -> bool:
    if el is None:
        return default
    return el.value in (None, "", "1")  # an empty boolean element means 1 (MS-ASDTYPE 2.1)


def _options(el: Element) -> SyncOptions:
    opts = SyncOptions(class_name=el.text(f"{NS}:Class"))
    opts.filter_type = _int(el.find(f"{NS}:FilterType"), 0)
    opts.conflict = _int(el.find(f"{NS}:Conflict"), 1)
    opts.mime_support = _int(el.find(f"{NS}:MIMESupport"), 0)
    opts.mime_truncation = _int(el.find(f"{NS}:MIMETruncation"))
    opts.truncation = _int(el.find(f"{NS}:Truncation"))
    try:
        prefs = [parse_preference(p) for p in el.findall("AirSyncBase:BodyPreference")]
        parts = [parse_preference(p) for p in el.findall("AirSyncBase:BodyPartPreference")]
    except SchemaError as exc:  # MS-ASAIRS 3.2.5.1: status 4 for Sync
        raise ProtocolError(SyncStatus.ProtocolError, str(exc)) from None
    opts.rights_management = _bool(el.find("RightsManagement:RightsManagementSupport"), False)
    seen = set()
    for pref in prefs:
        if pref.type not in (1, 2, 3, 4) or pref.type in seen:
            raise ProtocolError(SyncStatus.ProtocolError, f"BodyPreference Type {pref.type}")
        seen.add(pref.type)
    opts.body_preferences = prefs
    if parts:
        if len(parts) > 1 or parts[0].type != BodyType.HTML:  # a message part is HTML only
            raise ProtocolError(Common.BodyPartPreferenceTypeNotSupported, f"BodyPartPreference Type {parts[0].type}")
        opts.body_part_preference = parts[0]
    return opts


def _collection(el: Element) -> CollectionRequest:
    names = [c.name for c in el.children]
    # MS-ASCMD 2.2.3.29.2: SyncKey comes before CollectionId; a client that swaps them is wrong.
    if "SyncKey" not in names or "CollectionId" not in names or names.index("SyncKey") > names.index("CollectionId"):
        raise ProtocolError(SyncStatus.ProtocolError, "Collection needs SyncKey then CollectionId")
    req = CollectionRequest(collection_id=el.text(f"{NS}:CollectionId") or "", sync_key=el.text(f"{NS}:SyncKey") or "")
    req.class_name = el.text(f"{NS}:Class")
    supported = el.find(f"{NS}:Supported")
    if supported is not None:
        # MS-ASCMD 2.2.3.179: CollectionId must come first, and the list counts only at SyncKey 0.
        if names.index("Supported") < names.index("CollectionId"):
            raise ProtocolError(SyncStatus.ProtocolError, "Supported before CollectionId")
        if req.sync_key == "0":
            req.supported = [c.name for c in supported.children]
    req.deletes_as_moves = _bool(el.find(f"{NS}:DeletesAsMoves"), True)
    get_changes = el.find(f"{NS}:GetChanges")
    if get_changes is None:
        req.get_changes = req.sync_key != "0"
    else:
        req.get_changes = _bool(get_changes, True)
        if req.get_changes and req.sync_key == "0":
            raise ProtocolError(SyncStatus.ProtocolError, "GetChanges with SyncKey 0",
                                requirement=refusals.GET_CHANGES_AT_SYNC_KEY_0 if get_changes.value
                                else refusals.GET_CHANGES_EMPTY_AT_SYNC_KEY_0)
    req.window_size = _window(_int(el.find(f"{NS}:WindowSize")))
    mode = el.find(f"{NS}:ConversationMode")
    req.conversation_mode = None if mode is None else _bool(mode, False)
    options = el.findall(f"{NS}:Options")
    if not classes_together([o.text(f"{NS}:Class") for o in options]):
        # MS-ASCMD 2.2.3.27.6: a class's Options once; two classes side by side only Email and SMS.
        raise ProtocolError(SyncStatus.ProtocolError, "Options redefined or classes that do not sync together")
    if options:
        # Which FilterTypes are valid depends on the folder's class, which only the store knows.
        req.options = _options(options[0])
        if not 0 <= req.options.filter_type <= 8:
            raise ProtocolError(SyncStatus.ProtocolError, f"FilterType {req.options.filter_type}")
    commands = el.find(f"{NS}:Commands")
    for cmd in commands.children if commands is not None else []:
        if cmd.name not in ("Add", "Change", "Delete", "Fetch"):
            raise ProtocolError(SyncStatus.ProtocolError, f"unknown command {cmd.name}")
        req.commands.append(ClientCommand(
            kind=cmd.name,
            server_id=cmd.text(f"{NS}:ServerId"),
            client_id=cmd.text(f"{NS}:ClientId"),
            data=cmd.find(f"{NS}:ApplicationData"),
            send=cmd.has("Email2:Send"),
            instance_id=cmd.text("AirSyncBase:InstanceId"),
        ))
    return req


def parse(tree: Element, version: str, limits: Limits | None = None) -> SyncRequest:
    collections_el = tree.find(f"{NS}:Collections")
    collections = [_collection(c) for c in collections_el.findall(f"{NS}:Collection")] if collections_el is not None else []
    if not versions.has(version, "rights_management") and any(c.options and c.options.rights_management for c in collections):
        # MS-ASRM 7 (R418): an element the request's version does not have makes the XML invalid.
        raise ProtocolError(SyncStatus.ProtocolError, "RightsManagementSupport needs 14.1")
    wait_el, hb_el = tree.find(f"{NS}:Wait"), tree.find(f"{NS}:HeartbeatInterval")
    if wait_el is not None and hb_el is not None:
        raise ProtocolError(SyncStatus.ProtocolError, "Wait and HeartbeatInterval together")
    bounds = limits or Limits()
    if sum(len(c.commands) for c in collections) > bounds.max_sync_commands:  # MS-ASCMD 3.1.5.10
        raise ProtocolError(SyncStatus.ProtocolError, f"more than {bounds.max_sync_commands} Add, Change, Delete and Fetch")
    request = SyncRequest(collections, window_size=_int(tree.find(f"{NS}:WindowSize")), partial=tree.find(f"{NS}:Partial") is not None)
    if wait_el is not None:
        minutes = _int(wait_el)
        if minutes is None or not WAIT_MIN <= minutes <= WAIT_MAX:
            short = (minutes or 0) < WAIT_MIN
            raise ProtocolError(SyncStatus.InvalidWaitOrHeartbeatInterval, f"Wait {minutes}", limit=WAIT_MIN if short else WAIT_MAX,
                                requirement=refusals.SYNC_WAIT_TOO_SHORT if short else refusals.SYNC_WAIT_TOO_LONG)
        request.wait = minutes * 60
    if hb_el is not None:
        seconds = _int(hb_el)
        low, high = bounds.heartbeat_min, bounds.heartbeat_max
        if seconds is None or not low <= seconds <= high:
            short = (seconds or 0) < low
            raise ProtocolError(SyncStatus.InvalidWaitOrHeartbeatInterval, f"HeartbeatInterval {seconds}",
                                limit=low if short else high,
                                requirement=refusals.SYNC_HEARTBEAT_TOO_SHORT if short else refusals.SYNC_HEARTBEAT_TOO_LONG)
        request.wait = seconds
    return request


def merge_partial(tree: Element, cached: Element) -> Element:
    """A Partial Sync lists only some collections; the others come from the cached request."""
    new = tree.find(f"{NS}:Collections")
    merged = list(new.children) if new is not None else []
    listed = {c.text(f"{NS}:CollectionId") for c in merged}
    old = cached.find(f"{NS}:Collections")
    for c in old.children if old is not None else []:
        if c.text(f"{NS}:CollectionId") not in listed:
            merged.append(c)
    rest = [c for c in tree.children if c.name not in ("Collections", "Partial")]
    if not any(c.name in ("Wait", "HeartbeatInterval") for c in rest):
        rest += [c for c in cached.children if c.name in ("Wait", "HeartbeatInterval")]
    return E(f"{NS}:Sync", E(f"{NS}:Collections", *merged), *rest)


# -- response ---------------------------------------------------------------------------------
def item_data(item, body: BodyOptions, version: str) -> Element:
    """ApplicationData of a mail or a PIM item."""
    if isinstance(item, PimItem):
        return render_pim(item.class_name, item.nodes, RenderOptions(version, body.preferences, body.opaque_data))
    return application_data(item, body, version)


def _change_data(ch: ServerChange, body: BodyOptions, version: str) -> Element:
    return ch.data if ch.data is not None else item_data(ch.item, body, version)


def _carried(data: Element) -> int:
    """An answer's size as ItemOperations measures it: the values it carries (walked in any
    order, without Element.iter's generator: the walk was a twentieth of a Sync page's build)."""
    total, todo = 0, [data]
    while todo:
        el = todo.pop()
        total += len(el.value) if el.value is not None else 0
        todo += el.children
    return total


def _body_data(data: Element):
    body = data.find("AirSyncBase:Body")
    found = body.find("AirSyncBase:Data") if body is not None else None
    return found.value if found is not None and found.value is not None else b""


class AnswerRoom:
    """What is left of one Sync answer's size bound (Limits.max_sync_size), shared by all its
    collections.  Each change is rendered when it asks to be let in, measured as ItemOperations
    measures its answer (the values it carries), and its rendering kept for the answer."""

    def __init__(self, size: int, version: str, opaque: bool, reader: str = ""):
        self.left = size
        self.version = version
        self.opaque = opaque
        self.reader = reader
        self.empty = True  # the answer's first change always fits, so a device always progresses
        self._body: tuple[SyncOptions, BodyOptions] | None = None  # made once per collection, not per change

    def admit(self, change: ServerChange, options: SyncOptions) -> bool:
        size = len(change.server_id)
        if change.kind in ("Add", "Change") and change.item is not None:
            if self._body is None or self._body[0] is not options:  # (rendering only reads them)
                self._body = (options, options.body(self.reader))
                self._body[1].opaque_data = self.opaque
            data = _change_data(change, self._body[1], self.version)
            size += _carried(data)
        else:
            data = None
        if size > self.left and not self.empty:
            return False
        change.data = data
        self.left -= size
        self.empty = False
        return True

    def fit_fetch(self, result: ItemCommandResult, options: SyncOptions) -> None:
        """A Fetch is always answered, whole while it fits in the room; past that its body is cut
        to what is left and marked Truncated, as a TruncationSize cuts it (MS-ASAIRS 2.2.2.39), so
        a request of many Fetches of one large item cannot make the answer unbounded.  (2.5
        clients, with no BodyPreference to cut, are answered as before.)"""
        if result.item is None:
            return
        body = options.body(self.reader)
        body.opaque_data = self.opaque
        data = item_data(result.item, body, self.version)
        size = _carried(data)
        if size > self.left:
            whole = len(_body_data(data))
            limit = max(0, self.left - (size - whole))
            body.preferences = [replace(p, truncation_size=min(limit, p.truncation_size if p.truncation_size is not None
                                                               else limit)) for p in body.preferences]
            data = item_data(result.item, body, self.version)
            size = _carried(data)
        result.data = data
        self.left = max(0, self.left - size)
        self.empty = False

    def attempt(self) -> Callable[[], None]:
        """A way back to the room as it is now: a transaction that is done again (a read-first
        Sync that turned out to write) must not find its first attempt's items counted."""
        left, empty = self.left, self.empty

        def back() -> None:
            self.left, self.empty = left, empty

        return back


def render_collection(outcome: CollectionOutcome, version: str, options: SyncOptions | None, class_name: str | None,
                      opaque_bodies: bool = False, reader: str = "") -> Element:
    """The response Collection element: Class (<=12.1) SyncKey CollectionId Status Responses
    MoreAvailable Commands — the order Z-Push-family servers use with every known client."""
    body = (options or SyncOptions()).body(reader)
    body.opaque_data = opaque_bodies
    children: list[Element | None] = []
    if class_name and versions.has(version, "sync_class_element"):
        children.append(E(f"{NS}:Class", class_name))
    if outcome.sync_key is not None:
        children.append(E(f"{NS}:SyncKey", outcome.sync_key))
    children.append(E(f"{NS}:CollectionId", outcome.collection_id))
    children.append(E(f"{NS}:Status", outcome.status))
    if outcome.responses:
        rows = []
        for r in outcome.responses:
            parts: list[Element | None] = []
            if r.kind == "Add":
                parts = [E(f"{NS}:ClientId", r.client_id), E(f"{NS}:ServerId", r.server_id) if r.server_id else None, E(f"{NS}:Status", r.status)]
            elif r.kind == "Fetch":
                parts = [E(f"{NS}:ServerId", r.server_id), E(f"{NS}:Status", r.status)]
                if r.data is not None or r.item is not None:
                    parts.append(r.data if r.data is not None else item_data(r.item, body, version))
            else:
                parts = [E(f"{NS}:ServerId", r.server_id), E(f"{NS}:Status", r.status)]
            if r.kind in ("Add", "Change") and (r.attachment_refs or r.conversation):
                parts.append(attachment_refs_element(r.attachment_refs, r.conversation))
            rows.append(E(f"{NS}:{r.kind}", *parts))
        children.append(E(f"{NS}:Responses", *rows))
    if outcome.more_available:
        children.append(E(f"{NS}:MoreAvailable"))
    if outcome.changes:
        cmds = []
        for ch in outcome.changes:
            if ch.kind in ("Add", "Change") and ch.item is not None:
                cmds.append(E(f"{NS}:{ch.kind}", E(f"{NS}:ServerId", ch.server_id), _change_data(ch, body, version)))
            else:
                cmds.append(E(f"{NS}:{ch.kind}", E(f"{NS}:ServerId", ch.server_id)))
        children.append(E(f"{NS}:Commands", *cmds))
    return E(f"{NS}:Collection", *children)


def _global(status: int, limit: int | None = None) -> Response:
    return Response(200, E(f"{NS}:Sync", E(f"{NS}:Status", status), E(f"{NS}:Limit", limit) if limit is not None else None))


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    store = ctx.store
    kept = sent = None  # the request kept for the device; the one to keep now
    if tree is None:
        kept = await store.cached_request(ctx, "sync")
        if not kept:
            return _global(SyncStatus.IncompleteRequest)
        tree = decode(kept)
    elif tree.find(f"{NS}:Partial") is not None:
        cached = await store.cached_request(ctx, "sync")
        if not cached:
            return _global(SyncStatus.IncompleteRequest)
        try:
            tree = merge_partial(tree, decode(cached))
        except WBXMLError:
            return _global(SyncStatus.IncompleteRequest)
        sent = encode(tree)
    elif tree.find(f"{NS}:Collections") is not None:
        sent = encode(tree)
    try:
        request = parse(tree, ctx.version, ctx.limits)
    except ProtocolError as exc:
        if sent is not None:
            await store.cache_request(ctx, "sync", sent)
        response = _global(exc.status, exc.limit)
        response.refused_by = exc.requirement
        return response
    if not request.collections:
        if sent is not None:
            await store.cache_request(ctx, "sync", sent)
        return _global(SyncStatus.ProtocolError)
    # Answered from the quick look, the request is the one kept; otherwise `_run` keeps it.
    outcomes = await _quiet(ctx, request, sent or kept) or await _run(ctx, request, sent)
    while request.wait and all(o.unchanged for o in outcomes):
        watch = [h for o in outcomes for h in o.watch]
        wake = await store.wait(ctx, watch, request.wait)
        if wake is None or wake.superseded or wake.policy or wake.hierarchy:
            break
        request.wait = None
        outcomes = await _run(ctx, request)  # woken by a change: answer it now (the request is kept)
    quiet = all(o.unchanged for o in outcomes)
    if quiet and versions.has(ctx.version, "empty_sync_response"):
        return Response(200)  # the empty Sync response: nothing changed, keep your keys
    elements = [o.rendered for o in outcomes]
    return Response(200, E(f"{NS}:Sync", E(f"{NS}:Collections", *elements)))


async def _quiet(ctx: CommandContext, request: SyncRequest, sent: bytes | None) -> list[CollectionOutcome] | None:
    """A request of no commands whose collections all have nothing to say, answered from one look
    at the keys and the folders' change counters (the store's `quiet_sync`) instead of each
    collection's run; None when that look cannot tell."""
    if sent is None or not request.collections or ctx.restricted or any(c.commands for c in request.collections):
        return None
    outcomes = await ctx.store.quiet_sync(ctx, request.collections, sent)
    if outcomes is not None:
        opaque = has_quirk("body_opaque", ctx.request.device_type, ctx.request.user_agent)
        for coll, outcome in zip(request.collections, outcomes):
            outcome.rendered = _render(ctx, coll, outcome, opaque)
    return outcomes


def _render(ctx: CommandContext, coll: CollectionRequest, outcome: CollectionOutcome, opaque: bool) -> Element:
    return render_collection(outcome, ctx.version, outcome.options or coll.options, coll.class_name, opaque, ctx.address)


async def _run(ctx: CommandContext, request: SyncRequest, keep: bytes | None = None) -> list[CollectionOutcome]:
    opaque = has_quirk("body_opaque", ctx.request.device_type, ctx.request.user_agent)
    budget = request.window_size if request.window_size else None
    if budget is not None:
        budget = _window(budget)
    room = AnswerRoom(ctx.limits.max_sync_size, ctx.version, opaque, ctx.address)
    outcomes = []
    for coll in request.collections:
        if budget is not None:
            coll.window_size = max(0, min(coll.window_size, budget))
        coll.room = room

        def render(outcome: CollectionOutcome, coll=coll) -> Element:
            return _render(ctx, coll, outcome, opaque)

        outcome = await ctx.store.sync_collection(ctx, coll, render, keep)
        keep = None  # kept in the first collection's transaction (one writer turn, not two)
        if outcome.replay is not None:
            outcome.rendered = outcome.replay
        elif outcome.rendered is None:
            outcome.rendered = render(outcome)
        outcomes.append(outcome)
        if budget is not None:
            budget -= len(outcome.changes)
    return outcomes


# `easlab device explain` evaluates the gate for COMMAND.
COMMAND = Command("Sync", handle, root=f"{NS}:Sync", malformed=SyncStatus.ProtocolError)
COMMANDS = (COMMAND,)
