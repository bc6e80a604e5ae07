"""FolderCreate, FolderUpdate and FolderDelete against the hierarchy SyncKey, and FolderSync that
leaves a device's own folder changes out.

A device sends its current FolderSync key with every folder change and gets a new key back; the
next FolderSync with that key must report what others changed, never the device's own change
(MS-ASCMD 2.2.1.3/2.2.1.4/2.2.1.6).  The hierarchy is tracked by sequence numbers
(`User.hierarchy_seq`, `Folder.created_seq/modified_seq`, `Device.hierarchy_seq`); which key gets
what is eas.machines.synckey's table, so:

* when nothing else changed since the device's last FolderSync, its position simply moves past
  its own change, as FolderSync moves it when it hands out a key;
* otherwise the position stays (the other changes are still owed) and the change is written to
  `HierarchyEcho`; `folder_sync_with_echoes` then drops it from the device's next FolderSync.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, delete, exists
from sqlalchemy import select as core_select
from sqlalchemy import update as core_update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from easlab.eas.machines.synckey import Action, Keys, Kind, keys_after, step, successor
from easlab.eas.records import FolderInfo, HierarchyOutcome

from .generations import driver_rows
from .models import Device, Folder, User
from .models_items import HierarchyEcho


def folder_info(f: Folder) -> FolderInfo:
    return FolderInfo(f.server_id, f.parent_id, f.display_name, f.type)


def _step(device: Device, kind: Kind, client_key: str | None):
    return step(kind, client_key, device.hierarchy_key or None, device.hierarchy_prev_key or None)


def key_is_current(device: Device, client_key: str | None) -> bool:
    """Folder changes need the key the device got last; "0", the previous key or garbage is
    status 9 (the device goes back to FolderSync 0)."""
    return _step(device, Kind.FOLDER_CHANGE, client_key)[1] is Action.ADVANCE


def own_change(session: Session, user: User, device: Device, client_key: str, seq_before: int,
               changes: list[tuple[Folder, str]]) -> str:
    """Hand the device its next hierarchy key after it changed `changes` [(folder, kind)];
    `seq_before` is the user's hierarchy_seq before the change.  Returns the new key."""
    caught_up = device.hierarchy_seq == seq_before
    _, _, keys = _step(device, Kind.FOLDER_CHANGE, client_key)
    device.hierarchy_key, device.hierarchy_prev_key = keys_after(keys, client_key, device.hierarchy_key or None,
                                                                 device.hierarchy_prev_key)
    device.hierarchy_prev_seq = device.hierarchy_seq
    if caught_up:
        device.hierarchy_seq = user.hierarchy_seq
    else:
        for folder, kind in changes:
            session.add(HierarchyEcho(device_pk=device.id, folder_id=folder.id, seq=folder.modified_seq, kind=kind))
    session.add(device)
    return device.hierarchy_key


def folder_sync_with_echoes(session: Session, user: User, device: Device, client_key: str) -> HierarchyOutcome:
    """FolderSync: the folders changed since the key's position, minus the changes this device
    made itself (HierarchyEcho).  One query for the folders, one for the echoes."""
    _, action, keys = _step(device, Kind.FOLDER_SYNC, client_key)
    if action.status is not None:
        return HierarchyOutcome(status=action.status)
    base = {Action.RESET: 0, Action.ADVANCE: device.hierarchy_seq, Action.REPLAY: device.hierarchy_prev_seq}[action]
    echoes = []
    if base >= user.hierarchy_seq:
        # Every folder change and echo carries a value of the user's counter: none lies past it.
        outcome = HierarchyOutcome(status=1)
    else:
        if action is not Action.RESET:
            echoes = list(session.exec(select(HierarchyEcho).where(HierarchyEcho.device_pk == device.id,
                                                                   HierarchyEcho.seq > base)))
        outcome = _changes(session, user, base, echoes)
    if keys is not Keys.KEEP:
        device.hierarchy_key, device.hierarchy_prev_key = keys_after(keys, client_key, device.hierarchy_key or None,
                                                                     device.hierarchy_prev_key)
        device.hierarchy_prev_seq, device.hierarchy_seq = base, user.hierarchy_seq
        session.add(device)
    elif action is Action.REPLAY and device.hierarchy_seq != user.hierarchy_seq:
        # The hierarchy is not stored per answer: the replay is worked out again from the previous
        # position and so also carries what changed since.  The key it hands back (unchanged) now
        # stands for that newer position, or its next FolderSync would report those folders again.
        device.hierarchy_seq = user.hierarchy_seq
        session.add(device)
    outcome.sync_key = device.hierarchy_key
    # Rows at or below the previous key's position can never matter again.
    floor = device.hierarchy_seq if action is Action.RESET else base
    spent = (HierarchyEcho.device_pk == device.id, HierarchyEcho.seq <= floor)
    if session.exec(select(HierarchyEcho.id).where(*spent).limit(1)).first() is not None:
        session.execute(delete(HierarchyEcho).where(*spent))
    return outcome


# What a FolderSync that changes nothing needs of the rows, in one statement, written out for the
# driver's own connection (generations.driver_rows; the storage tests run it on both databases).
_QUICK = ('SELECT d.hierarchy_key, d.hierarchy_prev_key, d.hierarchy_seq, d.hierarchy_prev_seq, u.hierarchy_seq,'
          ' (SELECT min(e.seq) FROM hierarchy_echo e WHERE e.device_pk = d.id)'
          ' FROM device d JOIN "user" u ON u.id = d.user_id WHERE d.id = ? AND u.id = ? AND d.device_id = ?')


@dataclass(frozen=True)
class QuietRoll:
    """The current key with nothing to report: only the keys move on (`roll_quietly` stores them)."""
    device_pk: int
    sent: str
    key: str  # the key handed out now
    seq: int  # the device's hierarchy position, which stays


def quick_folder_sync(engine: Engine, user_id: int, device_pk: int, device_id: str,
                      client_key: str) -> HierarchyOutcome | QuietRoll | None:
    """The answer to a FolderSync that reports nothing and changes nothing (an unknown key, or the
    previous key again with nothing new), without loading the rows; a QuietRoll for the current
    key with nothing new; None when folder_sync_with_echoes must answer it (it would report or
    store something)."""
    rows = driver_rows(engine, _QUICK, (device_pk, user_id, device_id))
    if not rows:
        return None
    row = rows[0]
    key, previous, seq, previous_seq, user_seq, oldest_echo = row
    _, action, keys = step(Kind.FOLDER_SYNC, client_key, key or None, previous or None)
    if action.status is not None:
        return HierarchyOutcome(status=action.status)
    if action is Action.ADVANCE and keys is Keys.ROLL and seq == user_seq and (oldest_echo is None or oldest_echo > seq):
        return QuietRoll(device_pk, client_key, successor(key), seq)
    if action is not Action.REPLAY or keys is not Keys.KEEP or seq != user_seq or previous_seq < user_seq:
        return None
    if oldest_echo is not None and oldest_echo <= previous_seq:
        return None  # spent echoes to delete
    return HierarchyOutcome(status=1, sync_key=key)


# What folder_sync_with_echoes stores for a QuietRoll, in one statement that holds only while
# nothing it rests on moved since the read: the key, the user's counter, no spent echoes.
_ROLL = core_update(Device).where(
    Device.id == bindparam("pk"), Device.hierarchy_key == bindparam("sent"), Device.hierarchy_seq == bindparam("at"),
    core_select(User.hierarchy_seq).where(User.id == Device.user_id).scalar_subquery() == bindparam("at"),
    ~exists().where(HierarchyEcho.device_pk == Device.id, HierarchyEcho.seq <= bindparam("at")),
).values(hierarchy_key=bindparam("new_key"), hierarchy_prev_key=bindparam("sent"), hierarchy_prev_seq=bindparam("at"))


def roll_quietly(connection: Connection, roll: QuietRoll) -> HierarchyOutcome | None:
    """Store a QuietRoll through Core (an ORM bulk UPDATE of `device` would bump the access
    generation, storage/access_watch.py); None when its guard no longer holds."""
    done = connection.execute(_ROLL, {"pk": roll.device_pk, "sent": roll.sent, "at": roll.seq, "new_key": roll.key})
    return HierarchyOutcome(status=1, sync_key=roll.key) if done.rowcount == 1 else None


def _changes(session: Session, user: User, base: int, echoes: list[HierarchyEcho]) -> HierarchyOutcome:
    """Folders changed after `base`, classified for the device; a folder it created or last
    changed itself is known to it, and one it left as it is now is not reported."""
    created = {e.folder_id for e in echoes if e.kind == "create"}
    last_own: dict[int, int] = {}
    for e in echoes:
        last_own[e.folder_id] = max(e.seq, last_own.get(e.folder_id, 0))
    outcome = HierarchyOutcome(status=1)
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
