"""The FolderPort: FolderCreate, FolderUpdate, FolderDelete against the hierarchy SyncKey, and
GetHierarchy.  A change ends the held Pings of the user's other devices with status 7 after the
commit (`hub.notify_hierarchy`); the device that made it learns its new key in the answer."""
from __future__ import annotations

from collections.abc import Callable

from sqlmodel import Session, select

from easlab.eas.folders import USER_FOLDER_TYPES, FolderType
from easlab.eas.records import FolderChangeOutcome, FolderInfo
from easlab.eas.status import FolderStatus
from easlab.storage.folders import folder_info, key_is_current, own_change
from easlab.storage.items import find_folder
from easlab.storage.mailbox import create_folder, delete_folder_tree, folder_class, is_default_folder, subfolders, update_folder
from easlab.storage.models import Device, Folder, User

from .context import StoreContext

# The recipient information cache: no folder changes in or under it.
RI_CACHE = FolderType.RecipientInformationCache

Change = Callable[[Session, User, Device], FolderChangeOutcome]


def name_taken(session: Session, user: User, parent_id: str, name: str, other_than: int | None = None) -> bool:
    rows = session.exec(select(Folder).where(Folder.user_id == user.id, Folder.parent_id == parent_id, Folder.deleted == False))  # noqa: E712
    return any(f.display_name.casefold() == name.casefold() and f.id != other_than for f in rows)


def parent_refused(session: Session, user: User, parent_id: str, moving: Folder | None = None) -> FolderStatus | None:
    """Why a folder cannot be made or moved (`moving`) under `parent_id` ("0": the top); None: it can."""
    if parent_id == "0":
        return None
    parent = find_folder(session, user, parent_id)
    if parent is None:
        return FolderStatus.ParentNotFound
    if parent.type == RI_CACHE:
        return FolderStatus.SpecialFolder
    if moving is not None and (parent.id == moving.id or parent in subfolders(session, user, moving)):
        return FolderStatus.MalformedRequest  # into itself
    return None


def create(session: Session, user: User, device: Device, sync_key: str | None, parent_id: str, display_name: str,
           ftype: int) -> FolderChangeOutcome:
    if not key_is_current(device, sync_key):
        return FolderChangeOutcome(FolderStatus.InvalidSyncKey)
    if ftype not in USER_FOLDER_TYPES:
        return FolderChangeOutcome(FolderStatus.MalformedRequest)  # includes an attempt to make a default folder
    refused = parent_refused(session, user, parent_id)
    if refused is not None:
        return FolderChangeOutcome(refused)
    if name_taken(session, user, parent_id, display_name):
        return FolderChangeOutcome(FolderStatus.FolderExists)
    before = user.hierarchy_seq
    folder = create_folder(session, user, parent_id, display_name, ftype)
    key = own_change(session, user, device, sync_key, before, [(folder, "create")])
    return FolderChangeOutcome(FolderStatus.Success, key, folder.server_id)


def update(session: Session, user: User, device: Device, sync_key: str | None, server_id: str | None, parent_id: str | None,
           display_name: str) -> FolderChangeOutcome:
    if not key_is_current(device, sync_key):
        return FolderChangeOutcome(FolderStatus.InvalidSyncKey)
    folder = find_folder(session, user, server_id)
    if folder is None:
        return FolderChangeOutcome(FolderStatus.FolderNotFound)
    if folder.type == RI_CACHE:
        return FolderChangeOutcome(FolderStatus.SpecialFolder)
    if is_default_folder(folder):
        return FolderChangeOutcome(FolderStatus.FolderExists)  # a special folder keeps its name and place
    new_parent = folder.parent_id if parent_id is None else parent_id
    refused = parent_refused(session, user, new_parent, moving=folder)
    if refused is not None:
        return FolderChangeOutcome(refused)
    if name_taken(session, user, new_parent, display_name, other_than=folder.id):
        return FolderChangeOutcome(FolderStatus.FolderExists)
    before = user.hierarchy_seq
    update_folder(session, user, folder, new_parent, display_name)
    key = own_change(session, user, device, sync_key, before, [(folder, "update")])
    return FolderChangeOutcome(FolderStatus.Success, key)


def delete(session: Session, user: User, device: Device, sync_key: str | None, server_id: str | None) -> FolderChangeOutcome:
    if not key_is_current(device, sync_key):
        return FolderChangeOutcome(FolderStatus.InvalidSyncKey)
    folder = find_folder(session, user, server_id)
    if folder is None:
        return FolderChangeOutcome(FolderStatus.FolderNotFound)
    if is_default_folder(folder) or folder.type == RI_CACHE:
        return FolderChangeOutcome(FolderStatus.SpecialFolder)
    before = user.hierarchy_seq
    doomed = delete_folder_tree(session, user, folder)
    key = own_change(session, user, device, sync_key, before, [(f, "delete") for f in doomed])
    return FolderChangeOutcome(FolderStatus.Success, key)


class FolderAdapter:
    def __init__(self, store: StoreContext):
        self.store = store

    async def _change(self, ctx, change: Change) -> FolderChangeOutcome:
        def work(session):
            user, device = self.store.who(session, ctx)
            return change(session, user, device), user.id

        outcome, user_id = await self.store.run(work)
        if outcome.status == FolderStatus.Success:
            self.store.hub.notify_hierarchy(user_id, except_device=ctx.request.device_id)
        return outcome

    async def folder_create(self, ctx, sync_key, parent_id, display_name, ftype) -> FolderChangeOutcome:
        return await self._change(ctx, lambda s, u, d: create(s, u, d, sync_key, parent_id, display_name, ftype))

    async def folder_update(self, ctx, sync_key, server_id, parent_id, display_name) -> FolderChangeOutcome:
        return await self._change(ctx, lambda s, u, d: update(s, u, d, sync_key, server_id, parent_id, display_name))

    async def folder_delete(self, ctx, sync_key, server_id) -> FolderChangeOutcome:
        return await self._change(ctx, lambda s, u, d: delete(s, u, d, sync_key, server_id))

    async def hierarchy(self, ctx) -> list[FolderInfo]:
        def work(session):
            user, _device = self.store.who(session, ctx)
            rows = session.exec(select(Folder).where(Folder.user_id == user.id, Folder.deleted == False).order_by(Folder.id))  # noqa: E712
            return [folder_info(f) for f in rows if folder_class(f.type) == "Email"]

        return await self.store.run(work)
