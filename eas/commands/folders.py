"""FolderCreate, FolderUpdate, FolderDelete (MS-ASCMD 2.2.1.3, 2.2.1.6, 2.2.1.4) and GetHierarchy
(2.2.1.8, protocol 2.5-12.1).

The three folder changes carry the device's FolderSync key and, on success, hand out the next
one; the device's next FolderSync reports what others changed, not its own change.  The store
ends the held Pings of the user's other devices with status 7 (hierarchy changed).
"""
from __future__ import annotations

from typing import TypeGuard

from ..context import CommandContext
from ..response import Response
from ..records import FolderChangeOutcome, FolderInfo
from ..status import FolderStatus
from ..wbxml import E, Element
from . import Command

NS = "FolderHierarchy"
MAX_NAME = 256


def _status_only(root: str, status: int) -> Response:
    return Response(200, E(f"{NS}:{root}", E(f"{NS}:Status", status)))


def _answer(root: str, outcome: FolderChangeOutcome) -> Response:
    if outcome.status != FolderStatus.Success:
        return _status_only(root, outcome.status)
    return Response(200, E(f"{NS}:{root}", E(f"{NS}:Status", FolderStatus.Success), E(f"{NS}:SyncKey", outcome.sync_key),
                           E(f"{NS}:ServerId", outcome.server_id) if root == "FolderCreate" else None))


def _name(tree: Element) -> str | None:
    name = tree.text(f"{NS}:DisplayName")
    if name is None:
        return None
    name = name.strip()
    return name if name and len(name) <= MAX_NAME else None


def _well_formed(tree: Element | None, *required: str) -> TypeGuard[Element]:
    if tree is None or tree.has(f"{NS}:Status"):  # MS-ASCMD: a Status in the request is status 10
        return False
    return all(tree.text(f"{NS}:{name}") for name in required)


async def folder_create(ctx: CommandContext, tree: Element | None) -> Response:
    if not _well_formed(tree, "SyncKey", "Type"):
        return _status_only("FolderCreate", FolderStatus.MalformedRequest)
    name = _name(tree)
    try:
        ftype = int(tree.text(f"{NS}:Type") or "")
    except ValueError:
        ftype = None
    if name is None or ftype is None:
        return _status_only("FolderCreate", FolderStatus.MalformedRequest)
    parent = (tree.text(f"{NS}:ParentId") or "0").strip() or "0"
    outcome = await ctx.store.folder_create(ctx, tree.text(f"{NS}:SyncKey"), parent, name, ftype)
    return _answer("FolderCreate", outcome)


async def folder_update(ctx: CommandContext, tree: Element | None) -> Response:
    if not _well_formed(tree, "SyncKey", "ServerId"):
        return _status_only("FolderUpdate", FolderStatus.MalformedRequest)
    name = _name(tree)
    if name is None:
        return _status_only("FolderUpdate", FolderStatus.MalformedRequest)
    parent = tree.text(f"{NS}:ParentId")  # absent: the folder stays where it is
    parent = (parent.strip() or "0") if parent is not None else None
    outcome = await ctx.store.folder_update(ctx, tree.text(f"{NS}:SyncKey"), tree.text(f"{NS}:ServerId"), parent, name)
    return _answer("FolderUpdate", outcome)


async def folder_delete(ctx: CommandContext, tree: Element | None) -> Response:
    if not _well_formed(tree, "SyncKey", "ServerId"):
        return _status_only("FolderDelete", FolderStatus.MalformedRequest)
    outcome = await ctx.store.folder_delete(ctx, tree.text(f"{NS}:SyncKey"), tree.text(f"{NS}:ServerId"))
    return _answer("FolderDelete", outcome)


def hierarchy_element(folders: list[FolderInfo]) -> Element:
    """GetHierarchy's answer: `Folders` (no Status, no SyncKey), children in MS-ASCMD's order."""
    return E(f"{NS}:Folders", *[
        E(f"{NS}:Folder", E(f"{NS}:DisplayName", f.display_name), E(f"{NS}:ServerId", f.server_id),
          E(f"{NS}:Type", f.type), E(f"{NS}:ParentId", f.parent_id))
        for f in folders
    ])


async def get_hierarchy(ctx: CommandContext, _request: Element | bytes | None) -> Response:
    folders = await ctx.store.hierarchy(ctx)
    if folders is None:
        return Response(500)  # MS-ASCMD 2.2.1.8: a failure is HTTP 500
    return Response(200, hierarchy_element(folders))


COMMANDS = (
    Command("FolderCreate", folder_create, root=f"{NS}:FolderCreate", malformed=FolderStatus.MalformedRequest),
    Command("FolderUpdate", folder_update, root=f"{NS}:FolderUpdate", malformed=FolderStatus.MalformedRequest),
    Command("FolderDelete", folder_delete, root=f"{NS}:FolderDelete", malformed=FolderStatus.MalformedRequest),
    Command("GetHierarchy", get_hierarchy, root=None, until="12.1", body="none"),
)
