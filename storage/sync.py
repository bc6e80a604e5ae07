"""The queries behind FolderSync, Sync, GetItemEstimate and Ping.

The SyncKey rules come from eas.machines.synckey; this module applies them to rows.  Outgoing changes are
read from the folder's change log after the device's position (index on folder_id, seq), so an
incremental Sync touches the rows that changed and nothing else.
"""
from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlalchemy.orm import defer
from sqlmodel import Session, select

from easlab.eas.folders import FOLDER_CLASS, FolderType, filter_days, filter_valid
from easlab.eas.machines.synckey import Action, Kind, keys_after, step
from easlab.eas.records import (
    AttachmentInfo, CollectionOutcome, EmailItem, Estimate, FolderInfo, ItemCommandResult, ServerChange,
)
from easlab.eas.status import Common, GetItemEstimateStatus, SyncStatus
from easlab.eas.versions import has

from .mailbox import change_item, delete_item, folder_by_type, move_item
from .models import Device, Folder, Item, ItemChange, SyncState, User


def folder_info(f: Folder) -> FolderInfo:
    return FolderInfo(f.server_id, f.parent_id, f.display_name, f.type)


def find_folder(session: Session, user: User, server_id: str) -> Folder | None:
    return session.exec(select(Folder).where(Folder.user_id == user.id, Folder.server_id == server_id, Folder.deleted == False)).first()  # noqa: E712


# -- items as the commands see them --------------------------------------------------------------
def email_item(item: Item, with_mime: bool = True) -> EmailItem:
    """The EmailItem commands render.  Without `with_mime` the MIME blob (most of a row's bytes)
    is neither loaded nor copied: Sync needs it only when the client asked for MIME bodies."""
    attachments = [
        AttachmentInfo(file_reference=f"{item.server_id}:{a['index']}", name=a["name"], content_type=a["content_type"],
                       size=a["size"], method=a.get("method", 1), content_id=a.get("content_id", ""), inline=a.get("inline", False))
        for a in item.attachments
    ]
    from easlab.eas.mime import mail_fields  # the column list is eas.mime.MailFields

    return EmailItem(
        server_id=item.server_id, date_received=item.date_received, read=item.read, flag_status=item.flag_status,
        flag_type=item.flag_type, mime=item.mime if with_mime else b"", attachments=attachments, bcc=item.bcc,
        is_draft=item.is_draft, **mail_fields(item),
    )


def row_item(item: Item, folder_class: str, need_mime: bool = True):
    """What a command renders for a row: an EmailItem, or a PimItem in a PIM folder."""
    if folder_class != "Email" and item.pim:
        from .pim import pim_item

        return pim_item(item, folder_class)
    found = email_item(item, need_mime)
    if item.pim:
        found.meeting = json.loads(item.pim)
    return found


def _item(session: Session, folder: Folder, server_id: str | None) -> Item | None:
    if not server_id:
        return None
    return session.exec(select(Item).where(Item.folder_id == folder.id, Item.server_id == server_id)).first()


def window_start(folder_class: str, filter_type: int, now: datetime) -> datetime | None:
    if folder_class == "Tasks" and filter_type == 8:
        # Incomplete tasks: an incomplete task's date is the far future, a complete one's the day
        # it was completed (storage/pim.py), so "from now on" selects the incomplete ones.
        return now
    days = filter_days(folder_class, filter_type)
    return now - timedelta(days=days) if days else None


# -- client commands ---------------------------------------------------------------------------
def apply_client_commands(session: Session, user: User, folder: Folder, request, own: set[int], added: set[int],
                          drafts=None) -> list[ItemCommandResult]:
    """Change (Read, Flag), Delete and Fetch from the device; with `drafts` (16.0+, the Drafts
    folder) also Add and Change of drafts and sending them (email2:Send).  `own` collects the
    change numbers this request wrote, so they are not echoed back to the device that made them;
    `added` the folders that received items (moves to Deleted Items, new drafts, sent mail),
    whose Pings must wake.  `drafts` is server.store_compose.DraftContext: the protocol version,
    the time, and how to send."""
    results: list[ItemCommandResult] = []
    drafting = _drafting(folder, drafts)
    for cmd in request.commands:
        if cmd.kind == "Add":
            if drafting:
                results.append(_add_draft(session, user, folder, cmd, own, added, drafts))
                continue
            # MS-ASCMD 2.2.3.24: clients cannot add mail outside Drafts (16.x); status 6.
            results.append(ItemCommandResult("Add", None, SyncStatus.ConversionError, client_id=cmd.client_id))
            continue
        item = _item(session, folder, cmd.server_id)
        if item is None:
            results.append(ItemCommandResult(cmd.kind, cmd.server_id, SyncStatus.ObjectNotFound))
            continue
        if cmd.kind == "Fetch":
            results.append(ItemCommandResult("Fetch", item.server_id, SyncStatus.Success, item=row_item(item, "Email")))
        elif cmd.kind == "Change":
            data = cmd.data
            changed = False
            if data is not None:
                read = data.text("Email:Read")
                if read is not None:
                    item.read = read == "1"
                    changed = True
                flag = data.find("Email:Flag")
                if flag is not None:
                    item.flag_status = int(flag.text("Email:Status", "0") or 0) if flag.children else 0
                    item.flag_type = flag.text("Email:FlagType", "") or ""
                    changed = True
            if drafting and _is_draft_change(cmd):
                results.extend(_change_draft(session, user, folder, item, cmd, own, added, drafts))
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


# -- drafts (16.0+) -----------------------------------------------------------------------------
def _drafting(folder: Folder, drafts) -> bool:
    """Drafts travel over Sync only in the Drafts folder and only from 16.0 clients (MS-ASCMD
    2.2.3.24; a 14.1 client must not sync Drafts at all)."""
    return drafts is not None and folder.type == FolderType.Drafts and has(drafts.version, "drafts_over_sync")


def _send_flag(cmd) -> bool:
    """email2:Send: a child of Add/Change (MS-ASEMAIL 2.2.2.69); inside ApplicationData tolerated."""
    return bool(getattr(cmd, "send", False)) or (cmd.data is not None and cmd.data.has("Email2:Send"))


def _is_draft_change(cmd) -> bool:
    from easlab.eas.drafts import has_draft_fields

    return _send_flag(cmd) or has_draft_fields(cmd.data)


def _draft_status(exc) -> int:
    """A draft that cannot be sent: no or unusable recipients is 183 (InvalidRecipients, 16.0),
    anything else a conversion error."""
    unusable = (Common.MessageHasNoRecipient, Common.MessageRecipientUnresolved)
    return Common.InvalidRecipients if exc.status in unusable else SyncStatus.ConversionError


def _send_draft(session: Session, user: User, folder: Folder, item: Item, outgoing, added: set[int], drafts) -> None:
    """Deliver the draft and move it to Sent Items.  The delete the move writes in Drafts is not
    the device's own: the device learns in the same response that the draft is gone."""
    from .mailbox import send_draft

    drafts.submit(session, user, outgoing)
    added.update(drafts.effects.touched)
    drafts.effects.touched.clear()
    sent = folder_by_type(session, user, FolderType.SentItems)
    send_draft(session, item, folder, sent, outgoing.sent_copy, drafts.now)
    added.add(sent.id)


def _add_draft(session: Session, user: User, folder: Folder, cmd, own: set[int], added: set[int], drafts) -> ItemCommandResult:
    from easlab.eas.compose import ComposeError
    from easlab.eas.drafts import Draft, DraftCommandResult, DraftError, build_draft, new_references, parse_change

    from .mailbox import store_draft

    send = _send_flag(cmd)
    try:
        change = parse_change(cmd.data)
        if change.delete:
            raise DraftError(6, "a new draft has no attachments to delete")
        draft = change.apply(Draft())
        draft.attachments = [new.attachment for new in change.add]
        mime = build_draft(draft, sender=drafts.sender(user), now=drafts.now)
        outgoing = drafts.outgoing(user, mime) if send else None
    except DraftError as exc:
        return ItemCommandResult("Add", None, exc.status, client_id=cmd.client_id)
    except ComposeError as exc:
        return ItemCommandResult("Add", None, _draft_status(exc), client_id=cmd.client_id)
    item = store_draft(session, folder, mime, draft.bcc, drafts.now)
    own.add(folder.change_seq)
    added.add(folder.id)
    result = DraftCommandResult("Add", item.server_id, 1, client_id=cmd.client_id,
                                attachment_refs=new_references(mime, item.server_id, change.add))
    if outgoing is not None:
        _send_draft(session, user, folder, item, outgoing, added, drafts)
    return result


def _change_draft(session: Session, user: User, folder: Folder, item: Item, cmd, own: set[int], added: set[int],
                  drafts) -> list[ItemCommandResult]:
    """Edit a draft (fields present replace, fields absent stay), add and delete its attachments,
    and send it when asked.  A draft that cannot be sent is left as it was (Status 183)."""
    from easlab.eas.compose import ComposeError
    from easlab.eas.drafts import (
        DraftCommandResult, DraftError, build_draft, has_draft_fields, new_references, parse_change, read_draft,
        remove_attachments,
    )

    from .mailbox import refresh_item

    send = _send_flag(cmd)
    shifted = False
    try:
        change = parse_change(cmd.data)
        draft = read_draft(item.mime)
        mime = item.mime
        if has_draft_fields(cmd.data):
            change.apply(draft)
            shifted = remove_attachments(draft, item.server_id, change.delete)
            draft.attachments += [new.attachment for new in change.add]
            mime = build_draft(draft, sender=drafts.sender(user), now=drafts.now)
        outgoing = drafts.outgoing(user, mime) if send else None
    except DraftError as exc:
        return [ItemCommandResult("Change", item.server_id, exc.status)]
    except ComposeError as exc:
        return [ItemCommandResult("Change", item.server_id, _draft_status(exc))]
    server_id = item.server_id
    refresh_item(session, item, mime, bcc=draft.bcc, is_draft=True)
    change_item(session, folder, item)
    if not shifted:
        # Attachments after a deleted one moved up: the device gets the draft back as a Change
        # with the FileReferences as they are now.
        own.add(folder.change_seq)
    refs = new_references(mime, server_id, change.add)
    if outgoing is not None:
        _send_draft(session, user, folder, item, outgoing, added, drafts)
    if refs:
        # MS-ASCMD: a Change that added attachments is answered with their FileReferences.
        return [DraftCommandResult("Change", server_id, 1, attachment_refs=refs)]
    return []


# -- outgoing changes ---------------------------------------------------------------------------
def _items(need_mime: bool):
    query = select(Item)
    return query if need_mime else query.options(defer(Item.mime))


def _initial_page(session: Session, folder: Folder, state: SyncState, window: int, start: datetime | None, need_mime: bool = True):
    query = _items(need_mime).where(Item.folder_id == folder.id, Item.id > (state.initial_cursor or 0), Item.created_seq <= state.snapshot_seq)
    if start is not None:
        query = query.where(Item.date_received >= start)
    rows = list(session.exec(query.order_by(Item.id).limit(window + 1)))
    more = len(rows) > window
    rows = rows[:window]
    if rows:
        state.initial_cursor = rows[-1].id
    if not more:
        state.initial_cursor = None
        state.seq = state.snapshot_seq
    cls = FOLDER_CLASS.get(folder.type, "Email")
    return [ServerChange("Add", r.server_id, row_item(r, cls, need_mime)) for r in rows], more


def _log_page(session: Session, folder: Folder, state: SyncState, window: int, own: set[int], start: datetime | None,
              need_mime: bool = True):
    """Collapse the log after state.seq into at most `window` item changes."""
    rows = session.exec(select(ItemChange).where(ItemChange.folder_id == folder.id, ItemChange.seq > state.seq).order_by(ItemChange.seq))
    collapsed: dict[int, list] = {}  # item_id -> [first_kind, last_kind, server_id]
    cut = state.seq
    more = False
    for row in rows:
        if row.seq in own:
            cut = row.seq
            continue
        entry = collapsed.get(row.item_id)
        if entry is None:
            if len(collapsed) >= window:
                more = True
                break
            collapsed[row.item_id] = [row.kind, row.kind, row.server_id]
        else:
            entry[1] = row.kind
            entry[2] = row.server_id
        cut = row.seq
    state.seq = cut
    live_ids = [iid for iid, (first, last, _) in collapsed.items() if last != "delete"]
    items = {i.id: i for i in session.exec(_items(need_mime).where(Item.id.in_(live_ids), Item.folder_id == folder.id))} if live_ids else {}
    changes: list[ServerChange] = []
    cls = FOLDER_CLASS.get(folder.type, "Email")
    for iid, (first, last, server_id) in collapsed.items():
        if last == "delete":
            if first != "add":
                changes.append(ServerChange("Delete", server_id))
            continue
        item = items.get(iid)
        if item is None:  # moved away meanwhile; the delete row is past the cut
            continue
        inside = start is None or item.date_received >= start
        if first == "add":
            if inside:
                changes.append(ServerChange("Add", item.server_id, row_item(item, cls, need_mime)))
        elif inside:
            changes.append(ServerChange("Change", item.server_id, row_item(item, cls, need_mime)))
        elif cls != "Email":
            # Changed out of the window (an event moved into the past, a task completed under
            # FilterType 8): the device drops it without deleting it (MS-ASCMD 2.2.3.161).  A mail's
            # date never changes, so a mail changed outside the window was never sent at all.
            changes.append(ServerChange("SoftDelete", item.server_id))
    return changes, more


def _soft_deletes(session: Session, folder: Folder, state: SyncState, start: datetime | None) -> list[ServerChange]:
    """Items that slid out of the FilterType window since the last Sync (MS-ASCMD 2.2.3.161)."""
    old = state.window_start
    if start is None or old is None or start <= old:
        return []
    rows = session.exec(select(Item).where(Item.folder_id == folder.id, Item.date_received >= old,
                                           Item.date_received < start, Item.created_seq <= state.seq))
    return [ServerChange("SoftDelete", r.server_id) for r in rows]


def sync_collection(session: Session, user: User, device: Device, request, options_type, render, now: datetime,
                    added: set[int], restricted: bool = False, notice_id: int | None = None, drafts=None) -> CollectionOutcome:
    """One collection of a Sync request, in the caller's transaction."""
    cid = request.collection_id
    folder = find_folder(session, user, cid)
    if folder is None:
        return CollectionOutcome(cid, status=SyncStatus.FolderHierarchyChanged)
    folder_class = FOLDER_CLASS.get(folder.type, "Email")
    outcome = CollectionOutcome(cid, status=SyncStatus.Success, folder_class=folder_class, watch=[folder.id])
    state = session.exec(select(SyncState).where(SyncState.device_pk == device.id, SyncState.collection_id == cid)).first()
    # A previous key is worth something only while its answer is kept to be given again.
    _, action, keys = step(Kind.SYNC, request.sync_key, state.sync_key if state else None,
                           state.prev_key if state and state.last_response else None)

    if action is Action.RESET:
        state = state or SyncState(device_pk=device.id, collection_id=cid, sync_key="0")
        options = request.options or options_type()
        supported = getattr(request, "supported", None)
        if not filter_valid(folder_class, options.filter_type) or (supported is not None and folder_class == "Notes"):
            return CollectionOutcome(cid, status=SyncStatus.ProtocolError)  # MS-ASCMD 2.2.3.68, MS-ASNOTE 3.1.5.3
        state.supported = json.dumps(supported) if supported is not None else ""
        state.sync_key, state.prev_key = keys_after(keys, request.sync_key, state.sync_key, state.prev_key)
        state.seq = 0
        state.snapshot_seq = folder.change_seq
        state.initial_cursor = 0
        state.window_start = window_start(folder_class, options.filter_type, now)
        state.options = options.to_json()
        outcome.sync_key = state.sync_key
        outcome.options = options
        outcome.rendered = render(outcome)
        state.last_response = b""
        session.add(state)
        return outcome
    if action is Action.REPLAY:
        from easlab.eas.wbxml import decode

        outcome.replay = decode(zlib.decompress(state.last_response))
        outcome.sync_key = state.sync_key
        return outcome
    if action.status is not None:
        return CollectionOutcome(cid, status=action.status, sync_key="0")

    options = request.options or options_type.from_json(state.options)
    if not filter_valid(folder_class, options.filter_type):
        return CollectionOutcome(cid, status=SyncStatus.ProtocolError)
    if request.options is not None:
        state.options = options.to_json()
    outcome.options = options
    own: set[int] = set()
    if folder_class == "Email":
        outcome.responses = apply_client_commands(session, user, folder, request, own, added,
                                                  drafts=None if restricted else drafts)
    else:
        outcome.responses = _pim_commands(session, user, folder, folder_class, request, state, options, own, added,
                                          now, None if restricted else drafts)
    start = window_start(folder_class, options.filter_type, now)

    presented = set(state.presented)
    if restricted:
        # Quarantined or discovering: no server changes, except the access notice in the Inbox
        # (digest §5.3).  The device's position in the log stays where it was, so everything
        # withheld arrives once access is granted.
        if request.get_changes and notice_id is not None and notice_id not in presented:
            notice = session.get(Item, notice_id)
            if notice is not None and notice.folder_id == folder.id:
                outcome.changes = [ServerChange("Add", notice.server_id, email_item(notice))]
                presented.add(notice_id)
                state.presented = sorted(presented)
    elif request.get_changes and request.window_size > 0:
        window = request.window_size
        need_mime = options.mime_support > 0 or any(p.type == 4 for p in options.body_preferences)
        changes: list[ServerChange] = []
        more = False
        if state.initial_cursor is not None:
            changes, more = _initial_page(session, folder, state, window, start, need_mime)
        if not more and state.initial_cursor is None:
            soft = _soft_deletes(session, folder, state, start)
            log_changes, more = (_log_page(session, folder, state, window - len(changes), own, start, need_mime)
                                 if window > len(changes) else ([], True))
            changes += soft + log_changes
        if presented:
            # The device already holds these (delivered while it was quarantined): no second Add.
            ids = {item_id for item_id in presented}
            held = {i.server_id for i in session.exec(select(Item).where(Item.id.in_(ids)))}
            changes = [c for c in changes if not (c.kind == "Add" and c.server_id in held)]
        outcome.changes = changes
        outcome.more_available = more
        state.window_start = start
    elif request.get_changes:
        outcome.more_available = _has_pending(session, folder, state)
    if own and state.initial_cursor is None and not restricted:
        _skip_own(session, folder, state, own)

    if not outcome.changes and not outcome.responses and not request.commands and not outcome.more_available:
        outcome.unchanged = True
        outcome.sync_key = state.sync_key
        session.add(state)
        return outcome
    state.sync_key, state.prev_key = keys_after(keys, request.sync_key, state.sync_key, state.prev_key)
    outcome.sync_key = state.sync_key
    rendered = render(outcome)
    outcome.rendered = rendered
    from easlab.eas.wbxml import encode

    # Kept only to answer a resent key; a page can be megabytes of bodies, so store it compressed.
    state.last_response = zlib.compress(encode(rendered), 1)
    session.add(state)
    return outcome


def _pim_commands(session: Session, user: User, folder: Folder, folder_class: str, request, state: SyncState, options,
                  own: set[int], added: set[int], now: datetime, drafts) -> list[ItemCommandResult]:
    from .pim import PimContext, apply_pim_commands

    if not request.commands:
        return []
    if drafts is None:
        # A quarantined device writes nothing (digest §5.3): every command fails as "cannot be
        # completed now", so the device keeps its changes and resends them once allowed.
        return [ItemCommandResult(c.kind, c.server_id, SyncStatus.CannotComplete, client_id=c.client_id) for c in request.commands]
    ctx = PimContext(version=drafts.version, now=now, since=state.seq, conflict=options.conflict,
                     supported=json.loads(state.supported) if state.supported else None,
                     on_organised=getattr(drafts, "organised", None),
                     organizer=(user.display_name or user.name, drafts.address(user)))
    return apply_pim_commands(session, user, folder, folder_class, request, ctx, own, added)


def _skip_own(session: Session, folder: Folder, state: SyncState, own: set[int]) -> None:
    """Step over the log rows this device's own commands wrote, up to the first foreign one."""
    for seq in session.exec(select(ItemChange.seq).where(ItemChange.folder_id == folder.id, ItemChange.seq > state.seq).order_by(ItemChange.seq)):
        if seq not in own:
            break
        state.seq = seq


def _has_pending(session: Session, folder: Folder, state: SyncState) -> bool:
    if state.initial_cursor is not None:
        return True
    return session.exec(select(ItemChange.id).where(ItemChange.folder_id == folder.id, ItemChange.seq > state.seq).limit(1)).first() is not None


# -- GetItemEstimate and Ping -------------------------------------------------------------------
def estimate(session: Session, user: User, device: Device, collection_id: str, sync_key: str | None, filter_type: int | None,
             now: datetime, restricted: bool = False, notice_id: int | None = None) -> Estimate:
    folder = find_folder(session, user, collection_id)
    if folder is None:
        return Estimate(collection_id, GetItemEstimateStatus.InvalidCollection)
    state = session.exec(select(SyncState).where(SyncState.device_pk == device.id, SyncState.collection_id == collection_id)).first()
    if state is None or sync_key == "0":
        return Estimate(collection_id, GetItemEstimateStatus.SyncStateNotPrimed)
    if sync_key is not None and sync_key not in (state.sync_key,):
        return Estimate(collection_id, GetItemEstimateStatus.InvalidSyncKey)
    if restricted:
        return Estimate(collection_id, GetItemEstimateStatus.Success, 1 if _notice_pending(session, folder, state, notice_id) else 0)
    chosen = filter_type if filter_type is not None else json.loads(state.options or "{}").get("filter_type", 0)
    start = window_start(FOLDER_CLASS.get(folder.type, "Email"), chosen, now)
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


def _notice_pending(session: Session, folder: Folder, state: SyncState | None, notice_id: int | None) -> bool:
    if notice_id is None:
        return False
    notice = session.get(Item, notice_id)
    presented = set(state.presented) if state is not None else set()
    return notice is not None and notice.folder_id == folder.id and notice_id not in presented


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
            if _notice_pending(session, folder, state, notice_id):
                changed.append(cid)
            continue
        if state is not None and state.initial_cursor is not None:
            changed.append(cid)
            continue
        base = state.seq if state is not None else 0
        query = select(ItemChange.id).where(ItemChange.folder_id == folder.id, ItemChange.seq > base)
        if FOLDER_CLASS.get(folder.type, "Email") == "Email":
            query = query.where(ItemChange.kind == "add")  # mail: new messages push; flags and moves wait
        # Calendar, contacts, tasks, notes: an item edited or deleted elsewhere is news too.
        hit = session.exec(query.limit(1)).first()
        if hit is not None:
            changed.append(cid)
    return (2 if changed else 0), changed, watch
