"""Calendar, Contacts, Tasks and Notes items in the store, and a device's Add, Change, Delete and
Fetch of them (MS-ASCMD 2.2.3.24 Change rules, 2.2.3.34 Conflict).

An item is an `Item` row whose `pim` column holds its properties as eas.pim.tree keeps them; the
row's subject, message class, UID and `date_received` (the date FilterType compares with) are
derived from them on every write, so the change log, paging, estimates and Ping work for these
items exactly as for mail.
"""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import Session, select

from easlab.eas.pim import tree
from easlab.eas.pim.calendar import fill_times, summarise
from easlab.eas.records import ItemCommandResult
from easlab.eas.status import SyncStatus

from .items import item_in_folder, pim_item
from .mailbox import change_item, delete_item, record_change
from .models import Folder, Item, ItemChange, User


def write_nodes(item: Item, class_name: str, nodes: list, now: datetime) -> None:
    if class_name == "Notes":
        # MS-ASNOTE 3.2.5.3.1: a note's LastModifiedDate is when the server last wrote it; the
        # device's own is ignored.
        tree.put(nodes, "Notes:LastModifiedDate", now.strftime("%Y%m%dT%H%M%SZ"))
        nodes[:] = tree.sort(class_name, nodes)
    summary = summarise(class_name, tree.scrub(nodes), now)
    item.pim = nodes
    flag_modified(item, "pim")  # nodes may be the loaded list, edited in place: equal to itself
    item.subject = summary.subject
    item.message_class = summary.message_class
    item.date_received = summary.window_date
    item.uid = summary.uid
    item.body_text = summary.body_text
    item.size = len(json.dumps(nodes, ensure_ascii=False).encode("utf-8"))  # the stored text


def add_pim(session: Session, folder: Folder, class_name: str, nodes: list, now: datetime) -> Item:
    item = Item(folder_id=folder.id, server_id="", read=True)
    write_nodes(item, class_name, nodes, now)
    session.add(item)
    session.flush()
    item.server_id = f"{folder.server_id}:{item.id}"
    item.created_seq = item.modified_seq = record_change(session, folder, item, "add")
    return item


def change_pim(session: Session, folder: Folder, item: Item, class_name: str, nodes: list, now: datetime) -> None:
    write_nodes(item, class_name, nodes, now)
    change_item(session, folder, item)


def find_by_uid(session: Session, folder: Folder, uid: str) -> Item | None:
    if not uid:
        return None
    return session.exec(select(Item).where(Item.folder_id == folder.id, Item.uid == uid)).first()


@dataclass
class PimContext:
    """What the device's commands in one collection are judged by."""

    version: str
    now: datetime
    since: int  # the log position the device's SyncKey stands for
    conflict: int = 1  # Options/Conflict: 1 server wins (default), 0 client wins
    supported: list[str] | None = None
    organizer: tuple[str, str] | None = None  # (name, address) of the mailbox's owner
    # Called after a 16.x device added, changed or deleted an event it organises (sends iTIP).
    on_organised: Callable[[Session, User, str, list, list | None], None] | None = None


# Built once: every Change a device sends under Conflict 1 asks it in the writer's turn.
_CHANGED_SINCE = select(ItemChange.seq).where(ItemChange.folder_id == bindparam("folder_id"),
                                              ItemChange.item_id == bindparam("item_id"),
                                              ItemChange.seq > bindparam("since"), ItemChange.kind == "change")


def changed_since(session: Session, folder: Folder, item: Item, since: int, own: set[int]) -> bool:
    """Whether the server changed the item after the device's last Sync (a conflicting Change)."""
    rows = session.exec(_CHANGED_SINCE, params={"folder_id": folder.id, "item_id": item.id, "since": since})
    return any(seq not in own for seq in rows)


def _prepare_new(class_name: str, nodes: list, ctx: PimContext) -> list:
    """The server's part of a new item: an event's UID (a 16.x device sends ClientUid and never
    UID, MS-ASCAL 2.2.2.46) and DtStamp."""
    if class_name == "Calendar":
        fill_times(nodes, ctx.now)
        if not tree.value(nodes, "Calendar:UID"):
            tree.put(nodes, "Calendar:UID", uuid.uuid4().hex.upper())
        if not tree.value(nodes, "Calendar:DtStamp"):
            tree.put(nodes, "Calendar:DtStamp", ctx.now.strftime("%Y%m%dT%H%M%SZ"))
        if tree.find(nodes, "Calendar:Attendees") and not tree.value(nodes, "Calendar:OrganizerEmail") and ctx.organizer:
            # A meeting made on the device is the user's own: Exchange names them its organiser.
            tree.put(nodes, "Calendar:OrganizerName", ctx.organizer[0])
            tree.put(nodes, "Calendar:OrganizerEmail", ctx.organizer[1])
            if not tree.value(nodes, "Calendar:MeetingStatus"):
                tree.put(nodes, "Calendar:MeetingStatus", "1")
        nodes = tree.sort(class_name, nodes)
    return nodes


def apply_pim_commands(session: Session, user: User, folder: Folder, class_name: str, request, ctx: PimContext,
                       own: set[int], added: set[int]) -> list[ItemCommandResult]:
    results: list[ItemCommandResult] = []
    for cmd in request.commands:
        if cmd.kind == "Add":
            try:
                nodes = _prepare_new(class_name, tree.parse(class_name, cmd.data), ctx)
            except tree.ItemError:
                results.append(ItemCommandResult("Add", None, SyncStatus.ConversionError, client_id=cmd.client_id))
                continue
            item = add_pim(session, folder, class_name, nodes, ctx.now)
            own.add(folder.change_seq)
            added.add(folder.id)
            results.append(ItemCommandResult("Add", item.server_id, 1, client_id=cmd.client_id))
            if ctx.on_organised is not None and class_name == "Calendar":
                ctx.on_organised(session, user, "add", nodes, None)
            continue
        item = item_in_folder(session, folder, cmd.server_id)
        if item is None:
            results.append(ItemCommandResult(cmd.kind, cmd.server_id, SyncStatus.ObjectNotFound))
            continue
        if cmd.kind == "Fetch":
            results.append(ItemCommandResult("Fetch", item.server_id, 1, item=pim_item(item, class_name)))
            continue
        before = item.pim or []
        if cmd.kind == "Delete" and not cmd.instance_id:
            # A delete beats a server change (MS-ASCMD 2.2.3.34).  Calendar, contact, task and note
            # deletes are permanent here; Exchange would keep them in Deleted Items, a mail folder.
            delete_item(session, folder, item)
            own.add(folder.change_seq)
            added.add(folder.id)
            if ctx.on_organised is not None and class_name == "Calendar":
                ctx.on_organised(session, user, "delete", before, None)
            continue
        if cmd.kind == "Change" and ctx.conflict == 1 and changed_since(session, folder, item, ctx.since, own):
            # Server wins: the device's change is dropped and the server's version reaches it as a
            # Change in this same response.
            results.append(ItemCommandResult("Change", item.server_id, SyncStatus.Conflict))
            continue
        try:
            if cmd.instance_id:
                if class_name != "Calendar":
                    raise tree.ItemError("InstanceId outside a calendar")
                incoming = tree.parse(class_name, cmd.data) if cmd.data is not None else []
                nodes = tree.change_instance(before, cmd.instance_id, incoming, delete=cmd.kind == "Delete")
            else:
                incoming = tree.parse(class_name, cmd.data)
                nodes = tree.merge(before, incoming, tree.ChangeRules(class_name, ctx.version, ctx.supported))
            tree.validate(class_name, nodes)
        except tree.ItemError:
            results.append(ItemCommandResult(cmd.kind, item.server_id, SyncStatus.ConversionError))
            continue
        change_pim(session, folder, item, class_name, nodes, ctx.now)
        own.add(folder.change_seq)
        added.add(folder.id)  # other devices' Pings on this folder hear of the edit
        if ctx.on_organised is not None and class_name == "Calendar":
            ctx.on_organised(session, user, "change", nodes, before)
    return results
