"""The queries behind Sync: the device's commands applied to rows, and one collection's answer.

The SyncKey rules come from eas.machines.synckey; this module applies them to rows.  What is handed
out (pages, the change log, soft deletes) is storage/changes.py.  The answer that handed out the
current key is kept as the caller encoded it, opaque bytes, to be given again when the device
resends the previous key: storage never encodes or decodes WBXML.
"""
from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from easlab.eas.email_change import EmailChangeError, parse_email_change
from easlab.eas.folders import FOLDER_CLASS, FolderType, conversation_valid, filter_valid
from easlab.eas.machines.synckey import Action, Keys, Kind, keys_after, step
from easlab.eas.records import CollectionOutcome, ItemCommandResult, ServerChange
from easlab.eas.status import SyncStatus

from .changes import has_pending, initial_page, log_page, skip_own, soft_deletes, window_start, windows_unmoved
from .db import WriteNeeded, probing
from .drafts import add_draft, change_draft, drafts_over_sync, is_draft_change
from .generations import driver_rows, pooled_cursor
from .items import email_item, is_meeting_mail, find_folder, item_in_folder, row_item
from .mailbox import change_item, delete_item, folder_by_type, move_item
from .models import Device, Folder, Item, ItemChange, SyncState, User
from .pim import changed_since

if TYPE_CHECKING:
    from easlab.eas.commands.sync import CollectionRequest


class DeviceKey(NamedTuple):
    """A device by its row id, all `sync_collection` reads of it: a caller that knows the id
    (the access gate's) need not load the row."""

    id: int


class SyncAnswer(NamedTuple):
    outcome: CollectionOutcome
    replay: bytes | None = None  # the kept answer to a resent previous key, as the caller encoded it


# -- client commands ---------------------------------------------------------------------------
def apply_client_commands(session: Session, user: User, folder: Folder, request, own: set[int], added: set[int],
                          drafts=None, since: int | None = None, conflict: int = 1) -> list[ItemCommandResult]:
    """Change (Read, Flag), Delete and Fetch from the device; with `drafts` (16.0+, the Drafts
    folder) also Add and Change of drafts and sending them (email2:Send).  `own` collects the
    change numbers this request wrote, so they are not echoed back to the device that made them;
    `added` the folders that received items (moves to Deleted Items, new drafts, sent mail),
    whose Pings must wake.  `drafts` is server/store/sending.py DraftContext: the protocol version,
    the time, and how to send.  `since` is the log position the device's SyncKey stands for: under
    Conflict 1 (server wins) a Change of an item the server changed after it is discarded with
    Status 7, and the server's version reaches the device in the same answer."""
    results: list[ItemCommandResult] = []
    drafting = drafts_over_sync(folder, drafts)
    for cmd in request.commands:
        if cmd.kind == "Add":
            if drafting:
                results.append(add_draft(session, user, folder, cmd, own, added, drafts))
                continue
            # MS-ASCMD 2.2.3.24: clients cannot add mail outside Drafts (16.x); status 6.
            results.append(ItemCommandResult("Add", None, SyncStatus.ConversionError, client_id=cmd.client_id))
            continue
        item = item_in_folder(session, folder, cmd.server_id)
        if item is None:
            results.append(ItemCommandResult(cmd.kind, cmd.server_id, SyncStatus.ObjectNotFound))
            continue
        if cmd.kind == "Fetch":
            results.append(ItemCommandResult("Fetch", item.server_id, SyncStatus.Success, item=row_item(item, "Email")))
        elif cmd.kind == "Change":
            if (since is not None and conflict == 1 and not (drafting and is_draft_change(cmd))
                    and changed_since(session, folder, item, since, own)):
                results.append(ItemCommandResult("Change", item.server_id, SyncStatus.Conflict))
                continue
            try:
                asked = parse_email_change(cmd.data, lambda: is_meeting_mail(item))
            except EmailChangeError as exc:
                results.append(ItemCommandResult("Change", item.server_id, exc.status))
                continue
            changed = asked.read is not None or asked.flag is not None
            if asked.read is not None:
                item.read = asked.read
            if asked.flag is not None:
                if asked.flag.status is not None:
                    item.flag_status = asked.flag.status
                if asked.flag.flag_type is not None:
                    item.flag_type = asked.flag.flag_type
            if drafting and is_draft_change(cmd):
                results.extend(change_draft(session, user, folder, item, cmd, own, added, drafts))
                continue
            if changed:
                change_item(session, folder, item)
                own.add(folder.change_seq)
        elif cmd.kind == "Delete":
            trash = folder_by_type(session, user, FolderType.DeletedItems)
            if request.deletes_as_moves and trash is not None and trash.id != folder.id:
                move_item(session, item, folder, trash)
                own.add(folder.change_seq)
                added.add(trash.id)
            else:
                delete_item(session, folder, item)
                own.add(folder.change_seq)
    return results


# -- one collection -----------------------------------------------------------------------------
def sync_collection(session: Session, user: User, device: Device | DeviceKey, request: CollectionRequest, options_type,
                    render: Callable[[CollectionOutcome], bytes | list[bytes]], now: datetime, added: set[int],
                    restricted: bool = False, notice_id: int | None = None, drafts=None) -> SyncAnswer:
    """One collection of a Sync request, in the caller's transaction.  `render` makes the answer
    the device gets and returns it encoded (bytes, or their pieces in order); those bytes are kept
    for a resent key."""
    cid = request.collection_id
    folder = find_folder(session, user, cid)
    if folder is None:
        return SyncAnswer(CollectionOutcome(cid, status=SyncStatus.FolderHierarchyChanged))
    folder_class = FOLDER_CLASS.get(folder.type, "Email")
    outcome = CollectionOutcome(cid, status=SyncStatus.Success, folder_class=folder_class, watch=[folder.id])
    state = session.exec(_STATE, params={"pk": device.id, "cid": cid}).first()
    # A previous key is worth something only while its answer is kept to be given again.
    _, action, keys = step(Kind.SYNC, request.sync_key, state.sync_key if state else None,
                           state.prev_key if state and state.last_response else None)
    if action is Action.RESET:
        state = state or SyncState(device_pk=device.id, collection_id=cid, sync_key="0")
        return SyncAnswer(_reset(session, folder, state, request, options_type, keys, now, outcome))
    if action is Action.REPLAY:
        assert state is not None  # a previous key matched, so the state exists
        outcome.sync_key = state.sync_key
        return SyncAnswer(outcome, zlib.decompress(state.last_response))
    if action.status is not None:
        return SyncAnswer(CollectionOutcome(cid, status=action.status, sync_key="0"))
    assert state is not None  # the key matched the current one
    work = _Work(session, user, folder, state, request, now, added, restricted, notice_id, drafts)
    return SyncAnswer(_advance(work, options_type, keys, render, outcome))


# Built once, as the statements below: a collection's partnership, read in every Sync's turn.
_STATE = select(SyncState).where(SyncState.device_pk == bindparam("pk"), SyncState.collection_id == bindparam("cid"))
# Where a collection's current key stands against its folder's change log.
_OWED = core_select(SyncState.sync_key, SyncState.initial_cursor, SyncState.seq < Folder.change_seq).join_from(
    SyncState, Folder, (Folder.user_id == bindparam("user_id")) & (Folder.server_id == SyncState.collection_id)
    & (Folder.deleted == False),  # noqa: E712
).where(SyncState.device_pk == bindparam("pk"), SyncState.collection_id == bindparam("cid"))


def likely_writes(connection: Connection, user_id: int, device_pk: int, request: CollectionRequest) -> bool:
    """Whether a Sync of this collection without commands will store a new key: "0", or the
    current key while the folder's log or the initial download has something past its position.
    A hint for SQLite's writer only (sync_collection decides): taken at once, it spares reading
    everything first and again under the lock; refused, a quiet Sync is answered in a read."""
    if request.sync_key == "0":
        return True
    if not request.get_changes or request.window_size <= 0:
        return False
    row = connection.execute(_OWED, {"user_id": user_id, "pk": device_pk, "cid": request.collection_id}).first()
    return row is not None and row[0] == request.sync_key and (row[1] is not None or bool(row[2]))


# All a Sync without commands needs to know it has nothing to say, in one statement: each
# collection's key and position against its folder's log, and whether the request the device sent
# is the one kept for it (a different one would be stored).  Written out for the driver's own
# connection (generations.driver_rows); the names are the models', and the storage tests run it on
# both databases.
_QUIET = ("SELECT s.collection_id, s.sync_key, s.seq, s.initial_cursor, s.window_start, s.options, f.id, f.type,"
          " f.change_seq, (SELECT d.cached_sync = ? FROM device d WHERE d.id = ? AND d.user_id = ? AND d.device_id = ?)"
          " FROM syncstate s JOIN folder f ON f.user_id = ? AND f.server_id = s.collection_id AND NOT f.deleted"
          " WHERE s.device_pk = ? AND s.collection_id IN ({})")


def quiet_collections(engine: Engine, user_id: int, device_pk: int, device_id: str, sent: bytes,
                      requests: list[CollectionRequest], options_type, now: datetime) -> list[CollectionOutcome] | None:
    """The answers to a Sync whose collections all have nothing to say and would store nothing,
    read without loading a row: `sent` (the request as encoded) is the one kept for the device,
    and every collection is at its current key, with its options as kept, its position at the end
    of its folder's log, no initial download under way and no FilterType window that moved past
    an item (sync_collection would then write nothing and answer each as unchanged).  None when
    any collection may say or store something: sync_collection answers the request then.  Its
    reads share one pooled DBAPI connection."""
    cids = [r.collection_id for r in requests]
    with pooled_cursor(engine) as cursor:
        rows = driver_rows(engine, _QUIET.format(", ".join("?" * len(cids))),
                           (sent, device_pk, user_id, device_id, user_id, device_pk, *cids), cursor)
        return _quiet_outcomes(cursor, engine, device_pk, rows, requests, options_type, now)


def _quiet_outcomes(cursor, engine: Engine, device_pk: int, rows: list[tuple], requests: list[CollectionRequest],
                    options_type, now: datetime) -> list[CollectionOutcome] | None:
    """quiet_collections' answers from its look's `rows`, the moved windows checked on `cursor`."""
    cids = [r.collection_id for r in requests]
    if len(rows) != len(cids) or len(set(cids)) != len(cids):
        return None  # a collection without its partnership or its folder, or named twice
    by_id = {row[0]: row for row in rows}
    outcomes, windows = [], []
    for request in requests:
        quiet = _quiet(by_id[request.collection_id], request, options_type, now)
        if quiet is None:
            return None
        outcome, start = quiet
        outcomes.append(outcome)
        if start is not None:
            windows.append((outcome.collection_id, outcome.watch[0], start))
    return outcomes if windows_unmoved(cursor, engine.dialect, device_pk, windows) else None


def _quiet(row, request: CollectionRequest, options_type, now: datetime) -> tuple[CollectionOutcome, datetime | None] | None:
    """One collection of `quiet_collections`, as _advance would find it, and the FilterType window's
    start that must still be checked (windows_unmoved); None when it might not be quiet."""
    cid, key, seq, cursor, old_start, kept, folder_id, folder_type, change_seq, same_request = row
    kept = json.loads(kept) if kept else {}  # (the column's JSONDict, read here as its text)
    if not same_request or request.commands or cursor is not None or seq != change_seq:
        return None
    if step(Kind.SYNC, request.sync_key, key, None)[1] is not Action.ADVANCE:
        return None  # "0", the previous key (a replay) and unknown keys are sync_collection's
    if request.options is not None and request.options.to_dict() != kept:
        return None  # the new options are stored
    options = request.options or options_type.from_dict(kept)
    folder_class = FOLDER_CLASS.get(folder_type, "Email")
    if not (filter_valid(folder_class, options.filter_type) and conversation_valid(folder_class, request.conversation_mode)):
        return None
    start = window_start(folder_class, options.filter_type, now)
    if (old_start is None) != (start is None):
        return None  # a FilterType window begins or ends: its start is stored
    return CollectionOutcome(cid, status=SyncStatus.Success, sync_key=key, unchanged=True, folder_class=folder_class,
                             options=options, watch=[folder_id]), start


def _reset(session: Session, folder: Folder, state: SyncState, request: CollectionRequest, options_type, keys: Keys, now: datetime,
           outcome: CollectionOutcome) -> CollectionOutcome:
    """SyncKey 0: a new partnership for the folder, its options checked and kept; nothing is kept
    to replay (a resent 0 starts over)."""
    options = request.options or options_type()
    supported = request.supported
    if (not filter_valid(outcome.folder_class, options.filter_type) or (supported is not None and outcome.folder_class == "Notes")
            or not conversation_valid(outcome.folder_class, request.conversation_mode)):
        return CollectionOutcome(outcome.collection_id, status=SyncStatus.ProtocolError)  # MS-ASCMD 2.2.3.68, MS-ASNOTE 3.1.5.3
    state.supported = supported
    state.sync_key, state.prev_key = keys_after(keys, request.sync_key, state.sync_key, state.prev_key)
    state.seq = 0
    state.snapshot_seq = folder.change_seq
    state.initial_cursor = 0
    state.window_start = window_start(outcome.folder_class, options.filter_type, now)
    state.options = options.to_dict()
    state.last_response = b""
    session.add(state)
    outcome.sync_key = state.sync_key
    outcome.options = options
    return outcome


@dataclass(frozen=True)
class _Work:
    """One collection's request against its rows, in one transaction."""

    session: Session
    user: User
    folder: Folder
    state: SyncState
    request: CollectionRequest
    now: datetime
    added: set[int]
    restricted: bool
    notice_id: int | None
    drafts: Any  # server/store/sending.py DraftContext; None: the device may not write


def _advance(work: _Work, options_type, keys: Keys, render: Callable[[CollectionOutcome], bytes | list[bytes]],
             outcome: CollectionOutcome) -> CollectionOutcome:
    """The current key: the device's commands applied, the changes it is owed handed out, and the
    key moved on unless there was nothing to say."""
    session, state, request = work.session, work.state, work.request
    options = request.options or options_type.from_dict(state.options)
    if not (filter_valid(outcome.folder_class, options.filter_type)
            and conversation_valid(outcome.folder_class, request.conversation_mode)):
        return CollectionOutcome(outcome.collection_id, status=SyncStatus.ProtocolError)  # MS-ASCMD 2.2.3.36.2
    if request.options is not None:
        state.options = options.to_dict()
    outcome.options = options
    own: set[int] = set()
    drafts = None if work.restricted else work.drafts
    if outcome.folder_class == "Email":
        # As for PIM items below: a quarantined device's changes win (it is sent no server version).
        since = state.seq if state.initial_cursor is None and not work.restricted else None
        outcome.responses = apply_client_commands(session, work.user, work.folder, request, own, work.added, drafts=drafts,
                                                  since=since, conflict=options.conflict)
    else:
        outcome.responses = _pim_commands(session, work.user, work.folder, outcome.folder_class, request, state, options,
                                          own, work.added, work.now, work.drafts, work.restricted)
    if request.room is not None:
        for result in outcome.responses:
            if result.kind == "Fetch":
                request.room.fit_fetch(result, options)  # before server changes: the device asked for these
    if work.restricted:
        _held_by_device(work, own)
        _notice_only(work, outcome)
    else:
        _server_changes(work, options, own, outcome)
    if own and state.initial_cursor is None and not work.restricted:
        skip_own(session, work.folder, state, own)
    if not outcome.changes and not outcome.responses and not request.commands and not outcome.more_available:
        outcome.unchanged = True
        outcome.sync_key = state.sync_key
        session.add(state)
        return outcome
    state.sync_key, state.prev_key = keys_after(keys, request.sync_key, state.sync_key, state.prev_key)
    outcome.sync_key = state.sync_key
    # Kept only to answer a resent key; a page can be megabytes of bodies, so store it compressed.
    state.last_response = _compressed(render(outcome))
    session.add(state)
    return outcome


def _compressed(encoded: bytes | list[bytes]) -> bytes:
    """The answer as kept: zlib level 1, of its bytes or of its pieces in turn (the same bytes
    either way), so a page's megabytes are never joined into one block only to be compressed."""
    if isinstance(encoded, bytes):
        return zlib.compress(encoded, 1)
    z = zlib.compressobj(1)
    return b"".join([*map(z.compress, encoded), z.flush()])


def _held_by_device(work: _Work, own: set[int]) -> None:
    """A restricted device's position stays put, so the items its own commands added or deleted
    would come back to it as Adds and Deletes once access is granted: remember them as presented
    (a Change comes back too, and carries what the device already has)."""
    if not own:
        return
    rows = work.session.exec(select(ItemChange.item_id).where(ItemChange.folder_id == work.folder.id, ItemChange.seq.in_(own),
                                                              ItemChange.kind.in_(("add", "delete"))))
    mine = set(rows)
    if mine:
        work.state.presented = sorted(set(work.state.presented) | mine)


def _notice_only(work: _Work, outcome: CollectionOutcome) -> None:
    """Quarantined or discovering: no server changes, except the access notice in the Inbox
    (digest §5.3).  The device's position in the log stays where it was, so everything withheld
    arrives once access is granted."""
    state, notice_id = work.state, work.notice_id
    presented = set(state.presented)
    if not work.request.get_changes or notice_id is None or notice_id in presented:
        return
    notice = work.session.get(Item, notice_id)
    if notice is not None and notice.folder_id == work.folder.id:
        outcome.changes = [ServerChange("Add", notice.server_id, email_item(notice))]
        presented.add(notice_id)
        state.presented = sorted(presented)


def _server_changes(work: _Work, options, own: set[int], outcome: CollectionOutcome) -> None:
    """The next page of what the device is owed: the initial download first, then soft deletes
    and the change log."""
    session, folder, state, request = work.session, work.folder, work.state, work.request
    if not request.get_changes:
        return
    if request.window_size <= 0:
        outcome.more_available = has_pending(session, folder, state)
        return
    window = request.window_size
    start = window_start(outcome.folder_class, options.filter_type, work.now)
    need_mime = options.mime_support > 0 or any(p.type == 4 for p in options.body_preferences)
    room = request.room
    admit = (lambda change: room.admit(change, options)) if room is not None else None
    changes: list[ServerChange] = []
    more = False
    if state.initial_cursor is not None:
        _moves_on()
        changes, more = initial_page(session, folder, state, window, start, need_mime, admit)
    if not more and state.initial_cursor is None:
        soft = soft_deletes(session, folder, state, start)
        log_changes, more = (log_page(session, folder, state, window - len(changes), own, start, need_mime, admit)
                             if window > len(changes) else ([], True))
        changes += soft + log_changes
        if changes or more:
            _moves_on()
    if state.presented:
        # The device already holds these (delivered while it was quarantined, or its own adds
        # then): no second Add; nor a Delete of what it deleted itself then.
        held = {i.server_id for i in session.exec(select(Item).where(Item.id.in_(state.presented)))}
        gone = set(session.exec(select(ItemChange.server_id).where(
            ItemChange.folder_id == folder.id, ItemChange.kind == "delete", ItemChange.item_id.in_(state.presented))))
        changes = [c for c in changes if not ((c.kind == "Add" and c.server_id in held) or (c.kind == "Delete" and c.server_id in gone))]
    outcome.changes = changes
    outcome.more_available = more
    state.window_start = start


def _moves_on() -> None:
    """A page is handed out, so the device's position and key move: a read-first attempt
    (Database.read_first) stops here, before the page is built and encoded, rather than at its
    flush after, which had every page of an initial Sync built twice."""
    if probing():
        raise WriteNeeded("the device's position moves")


def _pim_commands(session: Session, user: User, folder: Folder, folder_class: str, request, state: SyncState, options,
                  own: set[int], added: set[int], now: datetime, drafts, restricted: bool = False) -> list[ItemCommandResult]:
    from .pim import PimContext, apply_pim_commands

    if not request.commands:
        return []
    if drafts is None:
        # No way to write given (a caller without a DraftContext): every command fails as "cannot
        # be completed now", so the device keeps its changes and resends them.
        return [ItemCommandResult(c.kind, c.server_id, SyncStatus.CannotComplete, client_id=c.client_id) for c in request.commands]
    # A quarantined device's own changes are processed (digest §5.3, §11 item 34); only what the
    # server sends it is withheld.  Its position stays put meanwhile, so its earlier edits are log
    # rows after it: judged server-wins, its second edit of an item would be a conflict with its
    # first, and it sees no server version to resolve one with; its changes win.  It submits no
    # mail either (SendMail gets 120), so a 16.x device's meetings send no invitations.
    ctx = PimContext(version=drafts.version, now=now, since=state.seq, conflict=0 if restricted else options.conflict,
                     supported=state.supported,
                     on_organised=None if restricted else drafts.organised,
                     organizer=(user.display_name or user.name, drafts.address(user)))
    return apply_pim_commands(session, user, folder, folder_class, request, ctx, own, added)


