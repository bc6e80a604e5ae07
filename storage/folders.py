"""FolderCreate, FolderUpdate and FolderDelete against the hierarchy SyncKey, and FolderSync that
leaves a device's own folder changes out.

A device sends its current FolderSync key with every folder change and gets a new key back; the
next FolderSync with that key must report what others changed, never the device's own change
(MS-ASCMD 2.2.1.3/2.2.1.4/2.2.1.6).  The hierarchy is tracked by sequence numbers
(`User.hierarchy_seq`, `Folder.created_seq/modified_seq`, `Device.hierarchy_seq`), so:

* when nothing else changed since the device's last FolderSync, its position simply moves past
  its own change — exactly what `storage.sync.folder_sync` does when it hands out a key;
* otherwise the position stays (the other changes are still owed) and the change is written to
  `HierarchyEcho`; `folder_sync_with_echoes` then drops it from the device's next FolderSync.
"""
from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session, select

from easlab.eas.records import HierarchyOutcome
from easlab.eas.synckey import KeyMatch, match, successor

from .models import Device, Folder, User
from .models_items import HierarchyEcho
from .sync import folder_info
from .sync import folder_sync as plain_folder_sync


def key_is_current(device: Device, client_key: str | None) -> bool:
    """Folder changes need the key the device got last; "0", the previous key or garbage is
    status 9 (the device goes back to FolderSync 0)."""
    return bool(client_key) and client_key != "0" and client_key == device.hierarchy_key


def own_change(session: Session, user: User, device: Device, client_key: str, seq_before: int,
               changes: list[tuple[Folder, str]]) -> str:
    """Hand the device its next hierarchy key after it changed `changes` [(folder, kind)];
    `seq_before` is the user's hierarchy_seq before the change.  Returns the new key."""
    caught_up = device.hierarchy_seq == seq_before
    device.hierarchy_prev_key, device.hierarchy_prev_seq = client_key, device.hierarchy_seq
    device.hierarchy_key = successor(device.hierarchy_key or None)
    if caught_up:
        device.hierarchy_seq = user.hierarchy_seq
    else:
        for folder, kind in changes:
            session.add(HierarchyEcho(device_pk=device.id, folder_id=folder.id, seq=folder.modified_seq, kind=kind))
    session.add(device)
    return device.hierarchy_key


def folder_sync_with_echoes(session: Session, user: User, device: Device, client_key: str) -> HierarchyOutcome:
    """easlab.storage.sync.folder_sync, minus the changes this device made itself (HierarchyEcho)."""
    found = match(client_key, device.hierarchy_key or None, device.hierarchy_prev_key or None)
    base = {KeyMatch.CURRENT: device.hierarchy_seq, KeyMatch.PREVIOUS: device.hierarchy_prev_seq}.get(found)
    echoes = []
    if base is not None:
        echoes = list(session.exec(select(HierarchyEcho).where(HierarchyEcho.device_pk == device.id, HierarchyEcho.seq > base)))
    outcome = plain_folder_sync(session, user, device, client_key)
    if outcome.status == 1:
        # Rows at or below the previous key's position can never matter again.
        floor = device.hierarchy_seq if found is KeyMatch.INITIAL else device.hierarchy_prev_seq
        session.execute(delete(HierarchyEcho).where(HierarchyEcho.device_pk == device.id, HierarchyEcho.seq <= floor))
    if not echoes:
        return outcome
    created = {e.folder_id for e in echoes if e.kind == "create"}
    last_own: dict[int, int] = {}
    for e in echoes:
        last_own[e.folder_id] = max(e.seq, last_own.get(e.folder_id, 0))
    outcome.added, outcome.updated, outcome.deleted = [], [], []
    folders = session.exec(select(Folder).where(Folder.user_id == user.id, Folder.modified_seq > base).order_by(Folder.id))
    for f in folders:
        mine = last_own.get(f.id) == f.modified_seq  # the folder is as this device left it
        known = f.created_seq <= base or f.id in created
        if f.deleted:
            if known and not mine:
                outcome.deleted.append(f.server_id)
        elif mine:
            continue
        elif known:
            outcome.updated.append(folder_info(f))
        else:
            outcome.added.append(folder_info(f))
    return outcome
