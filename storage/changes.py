"""What a Sync hands out: the initial download in pages, the change log after the device's
position, items that slid out of the FilterType window; and the counts GetItemEstimate and Ping
read from the same positions.

Outgoing changes are read from the folder's change log after the device's position (index on
folder_id, seq), so an incremental Sync touches the rows that changed and nothing else.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, func, or_
from sqlalchemy import select as core_select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import defer
from sqlmodel import Session, select

from easlab.eas.folders import FOLDER_CLASS, conversation_valid, estimate_filter_status, filter_days
from easlab.eas.records import Estimate, ServerChange
from easlab.eas.status import Common, GetItemEstimateStatus

from .driver import PerDialect
from .items import find_folder, row_item
from .models import Device, Folder, Item, ItemChange, SyncState, User
from .types import UTCDateTime


def window_start(folder_class: str, filter_type: int, now: datetime) -> datetime | None:
    if folder_class == "Tasks" and filter_type == 8:
        # Incomplete tasks: an incomplete task's date is the far future, a complete one's the day
        # it was completed (storage/pim.py), so "from now on" selects the incomplete ones.
        return now
    days = filter_days(folder_class, filter_type)
    return now - timedelta(days=days) if days else None


def _items(need_mime: bool):
    query = select(Item)
    return query if need_mime else query.options(defer(Item.mime))


# Rows read at a time while a window fills: a window that ends early on the answer's size bound
# leaves the rest of the page unread (a row can hold megabytes of body).
READ_CHUNK = 32


def initial_page(session: Session, folder: Folder, state: SyncState, window: int, start: datetime | None, need_mime: bool = True,
                 admit: Callable[[ServerChange], bool] | None = None):
    """The next `window` items of the initial download after the cursor, fewer where `admit`
    refuses one: the cursor stops after the last item handed out."""
    query = _items(need_mime).where(Item.folder_id == folder.id, Item.created_seq <= state.snapshot_seq)
    if start is not None:
        query = query.where(Item.date_received >= start)
    cls = FOLDER_CLASS.get(folder.type, "Email")
    cursor = state.initial_cursor or 0
    changes: list[ServerChange] = []
    more = False
    while not more:
        want = min(READ_CHUNK, window + 1 - len(changes))
        rows = list(session.exec(query.where(Item.id > cursor).order_by(Item.id).limit(want)))
        for row in rows:
            change = ServerChange("Add", row.server_id, row_item(row, cls, need_mime))
            if len(changes) == window or (admit is not None and not admit(change)):
                more = True
                break
            changes.append(change)
            cursor = row.id
        if len(rows) < want:
            break
    if changes:
        state.initial_cursor = cursor
    if not more:
        state.initial_cursor = None
        state.seq = state.snapshot_seq
    return changes, more


def log_page(session: Session, folder: Folder, state: SyncState, window: int, own: set[int], start: datetime | None,
              need_mime: bool = True, admit: Callable[[ServerChange], bool] | None = None):
    """Collapse the log after state.seq into at most `window` item changes, fewer where `admit`
    refuses one: the position then stops before that item's first row, so it and all after it
    come in the next page."""
    collapsed: dict[int, list] = {}  # item_id -> [first_kind, last_kind, server_id, position before its first row]
    cut = state.seq
    more = False
    for seq, item_id, server_id, kind in _log_after(session, folder.id, state.seq, _LOG_ROWS):
        if seq in own:
            cut = seq
            continue
        entry = collapsed.get(item_id)
        if entry is None:
            if len(collapsed) >= window:
                more = True
                break
            collapsed[item_id] = [kind, kind, server_id, cut]
        else:
            entry[1] = kind
            entry[2] = server_id
        cut = seq
    live_ids = [iid for iid, (_, last, _, _) in collapsed.items() if last != "delete"]
    at = {iid: n for n, iid in enumerate(live_ids)}
    items: dict[int, Item | None] = {}
    changes: list[ServerChange] = []
    cls = FOLDER_CLASS.get(folder.type, "Email")
    for iid, (first, last, server_id, before) in collapsed.items():
        if iid in at and iid not in items:
            # The next few live items' rows, read only as the window reaches them.
            ahead = live_ids[at[iid]:at[iid] + READ_CHUNK]
            items.update((i.id, i) for i in session.exec(_ITEMS_AMONG[need_mime], params={"ids": ahead, "folder_id": folder.id}))
            items.update((i, None) for i in ahead if i not in items)
        change = _log_change(cls, first, last, server_id, items.get(iid), start, need_mime)
        if change is None:
            continue
        if admit is not None and not admit(change):
            cut, more = before, True
            break
        changes.append(change)
    state.seq = cut
    return changes, more


def _log_change(cls: str, first: str, last: str, server_id: str, item: Item | None, start: datetime | None,
                need_mime: bool) -> ServerChange | None:
    """What one collapsed item's log rows tell the device, if anything."""
    if last == "delete":
        return ServerChange("Delete", server_id) if first != "add" else None
    if item is None:  # moved away meanwhile; the delete row is past the cut
        return None
    inside = start is None or item.date_received >= start
    if first == "add":
        return ServerChange("Add", item.server_id, row_item(item, cls, need_mime)) if inside else None
    if inside:
        return ServerChange("Change", item.server_id, row_item(item, cls, need_mime))
    if cls != "Email":
        # Changed out of the window (an event moved into the past, a task completed under
        # FilterType 8): the device drops it without deleting it (MS-ASCMD 2.2.3.161).  A mail's
        # date never changes, so a mail changed outside the window was never sent at all.
        return ServerChange("SoftDelete", item.server_id)
    return None


def soft_deletes(session: Session, folder: Folder, state: SyncState, start: datetime | None) -> list[ServerChange]:
    """Items that slid out of the FilterType window since the last Sync (MS-ASCMD 2.2.3.161)."""
    old = state.window_start
    if start is None or old is None or start <= old:
        return []
    rows = session.exec(select(Item).where(Item.folder_id == folder.id, Item.date_received >= old,
                                           Item.date_received < start, Item.created_seq <= state.seq))
    return [ServerChange("SoftDelete", r.server_id) for r in rows]


# Whether a Sync must store a FilterType window that moved with the clock: yes when its start would
# go back, or when an item lies where `soft_deletes` looks (from the start kept to the new one,
# among the items at the partnership's position), as that Sync then answers SoftDeletes.  Otherwise
# keeping the old start changes nothing: the next Sync's range still holds no item older than the
# new start, and items that arrive later come with a log row, whose Sync stores the start it used.
_START = bindparam("start", type_=UTCDateTime)
_MOVED = PerDialect(core_select(or_(SyncState.window_start > _START, exists().where(
    Item.folder_id == bindparam("folder_id"), Item.date_received >= SyncState.window_start,
    Item.date_received < _START, Item.created_seq <= SyncState.seq))).where(
    SyncState.device_pk == bindparam("device_pk"), SyncState.collection_id == bindparam("cid")))


def windows_unmoved(cursor, dialect: Dialect, device_pk: int, windows: list[tuple[str, int, datetime]]) -> bool:
    """True when no window of `windows` (collection id, folder id, the start a Sync now would use)
    needs storing (see _MOVED); read on `cursor`, the quiet Sync's look's (quiet_collections)."""
    prepared = _MOVED.on(dialect)
    for cid, folder_id, start in windows:
        row = prepared.one(cursor, {"device_pk": device_pk, "cid": cid, "folder_id": folder_id, "start": start})
        if row is None or row[0]:
            return False
    return True


# Built once (every Sync that hands out or steps over log rows runs them in its writer turn).
_ITEMS_AMONG = {need_mime: _items(need_mime).where(Item.id.in_(bindparam("ids", expanding=True)),
                                                   Item.folder_id == bindparam("folder_id"))
                for need_mime in (False, True)}


# The change log after a position, read on the session's DBAPI cursor (storage/driver.py): through
# the ORM, its execution cost several times the query in every Sync's writer turn.
_LOG = ItemChange.__table__
_AFTER = (_LOG.c.folder_id == bindparam("folder_id")) & (_LOG.c.seq > bindparam("seq"))
_LOG_ROWS = PerDialect(core_select(_LOG.c.seq, _LOG.c.item_id, _LOG.c.server_id, _LOG.c.kind).where(_AFTER)
                       .order_by(_LOG.c.seq))
_LOG_SEQS = PerDialect(core_select(_LOG.c.seq).where(_AFTER).order_by(_LOG.c.seq))


def _log_after(session: Session, folder_id: int, seq: int, statement: PerDialect) -> Iterator[tuple]:
    """The folder's log rows after `seq` in order, as `statement` selects them, in the session's
    transaction.  Log rows the session still holds are written first, as the ORM's autoflush
    would; nothing else is (the rest of the turn's changes go in its one flush at commit)."""
    if any(isinstance(obj, ItemChange) for obj in (*session.new, *session.deleted)):
        session.flush()
    return statement.rows(session, {"folder_id": folder_id, "seq": seq})


def skip_own(session: Session, folder: Folder, state: SyncState, own: set[int]) -> None:
    """Step over the log rows this device's own commands wrote, up to the first foreign one."""
    for (seq,) in _log_after(session, folder.id, state.seq, _LOG_SEQS):
        if seq not in own:
            break
        state.seq = seq


def has_pending(session: Session, folder: Folder, state: SyncState) -> bool:
    if state.initial_cursor is not None:
        return True
    return session.exec(select(ItemChange.id).where(ItemChange.folder_id == folder.id, ItemChange.seq > state.seq).limit(1)).first() is not None


# -- GetItemEstimate and Ping -------------------------------------------------------------------
def estimate(session: Session, user: User, device: Device, collection_id: str, sync_key: str | None, filter_type: int | None,
             now: datetime, restricted: bool = False, notice_id: int | None = None,
             conversation_mode: bool | None = None) -> Estimate:
    folder = find_folder(session, user, collection_id)
    if folder is None:
        return Estimate(collection_id, GetItemEstimateStatus.InvalidCollection)
    folder_class = FOLDER_CLASS.get(folder.type, "Email")
    if not conversation_valid(folder_class, conversation_mode):
        return Estimate(collection_id, Common.InvalidXML, protocol_error=True)  # MS-ASCMD 2.2.3.36.1
    refused = estimate_filter_status(folder_class, filter_type)
    if refused is not None:
        return Estimate(collection_id, refused)
    state = session.exec(select(SyncState).where(SyncState.device_pk == device.id, SyncState.collection_id == collection_id)).first()
    if state is None or sync_key == "0":
        return Estimate(collection_id, GetItemEstimateStatus.SyncStateNotPrimed)
    if sync_key is not None and sync_key not in (state.sync_key,):
        return Estimate(collection_id, GetItemEstimateStatus.InvalidSyncKey)
    if restricted:
        return Estimate(collection_id, GetItemEstimateStatus.Success, 1 if notice_pending(session, folder, state, notice_id) else 0)
    chosen = filter_type if filter_type is not None else state.options.get("filter_type", 0)
    start = window_start(folder_class, chosen, now)
    count = 0
    if state.initial_cursor is not None:
        q = select(func.count()).select_from(Item).where(Item.folder_id == folder.id, Item.id > state.initial_cursor, Item.created_seq <= state.snapshot_seq)
        if start is not None:
            q = q.where(Item.date_received >= start)
        count += session.exec(q).one()
        base = state.snapshot_seq
    else:
        base = state.seq
    count += session.exec(select(func.count(func.distinct(ItemChange.item_id))).where(ItemChange.folder_id == folder.id, ItemChange.seq > base)).one()
    return Estimate(collection_id, GetItemEstimateStatus.Success, count)


def notice_pending(session: Session, folder: Folder, state: SyncState | None, notice_id: int | None) -> bool:
    if notice_id is None:
        return False
    notice = session.get(Item, notice_id)
    presented = set(state.presented) if state is not None else set()
    return notice is not None and notice.folder_id == folder.id and notice_id not in presented


def adds_only(folder_type: int) -> bool:
    """Whether only new items wake a Ping on this folder: mail's new messages push, its flags and
    moves wait; in calendar, contacts, tasks and notes an item edited or deleted elsewhere is news too."""
    return FOLDER_CLASS.get(folder_type, "Email") == "Email"


def pending_adds(session: Session, user: User, device: Device, collection_ids: list[str], restricted: bool = False,
                 notice_id: int | None = None) -> tuple[int, list[str], list[int]]:
    """For Ping: (status, folders with new items since the device's last SyncKey, folder handles).

    A folder the device never synced counts as changed once it holds anything; a restricted
    (quarantined) device hears only of its access notice."""
    changed, watch = [], []
    for cid in collection_ids:
        folder = find_folder(session, user, cid)
        if folder is None:
            return 7, [], []
        watch.append(folder.id)
        state = session.exec(select(SyncState).where(SyncState.device_pk == device.id, SyncState.collection_id == cid)).first()
        if restricted:
            if notice_pending(session, folder, state, notice_id):
                changed.append(cid)
            continue
        if state is not None and state.initial_cursor is not None:
            changed.append(cid)
            continue
        base = state.seq if state is not None else 0
        query = select(ItemChange.id).where(ItemChange.folder_id == folder.id, ItemChange.seq > base)
        if adds_only(folder.type):
            query = query.where(ItemChange.kind == "add")
        hit = session.exec(query.limit(1)).first()
        if hit is not None:
            changed.append(cid)
    return (2 if changed else 0), changed, watch


@functools.cache
def _quick_statement():
    from sqlalchemy import and_, bindparam, exists, literal_column
    from sqlalchemy import select as core

    folder, state, log, device = Folder.__table__, SyncState.__table__, ItemChange.__table__, Device.__table__
    base = func.coalesce(state.c.seq, 0)
    after = and_(log.c.folder_id == folder.c.id, log.c.seq > base)
    return core(
        folder.c.id, folder.c.type, state.c.initial_cursor,
        exists(core(literal_column("1")).where(after, log.c.kind == "add")).label("added"),
        exists(core(literal_column("1")).where(after)).label("changed"),
    ).select_from(
        folder.join(device, and_(device.c.id == bindparam("pk"), device.c.user_id == folder.c.user_id,
                                 device.c.device_id == bindparam("device_id")))
        .outerjoin(state, and_(state.c.device_pk == device.c.id, state.c.collection_id == folder.c.server_id))
    ).where(folder.c.user_id == bindparam("user_id"), folder.c.server_id == bindparam("cid"),
            folder.c.deleted == False)  # noqa: E712


def quick_pending_adds(connection, user_id: int, device_pk: int, device_id: str,
                       collection_ids: list[str]) -> tuple[int, list[str], list[int]] | None:
    """`pending_adds` of an unrestricted device by the ids the gate noted, one Core statement a
    folder (no session, no row objects); None when a folder is gone or the ids name no such device,
    which `pending_adds` then answers."""
    statement = _quick_statement()
    changed, watch = [], []
    for cid in collection_ids:
        row = connection.execute(statement, {"pk": device_pk, "device_id": device_id, "user_id": user_id,
                                             "cid": cid}).first()
        if row is None:
            return None
        watch.append(row.id)
        if row.initial_cursor is not None or (row.added if adds_only(row.type) else row.changed):
            changed.append(cid)
    return (2 if changed else 0), changed, watch
