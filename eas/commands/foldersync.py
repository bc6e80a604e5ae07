"""FolderSync (MS-ASCMD 2.2.1.5): the folder hierarchy, whole for key 0, then as changes."""
from __future__ import annotations

from .. import versions
from ..context import CommandContext
from ..response import Response
from ..records import FolderInfo, HierarchyOutcome
from ..status import FolderStatus
from ..wbxml import E, Element
from . import Command

NS = "FolderHierarchy"


def _folder(kind: str, f: FolderInfo) -> Element:
    return E(f"{NS}:{kind}", E(f"{NS}:ServerId", f.server_id), E(f"{NS}:ParentId", f.parent_id),
             E(f"{NS}:DisplayName", f.display_name), E(f"{NS}:Type", f.type))


def build(outcome: HierarchyOutcome) -> Element:
    if outcome.status != FolderStatus.Success:
        return E(f"{NS}:FolderSync", E(f"{NS}:Status", outcome.status))
    changes = [
        *(_folder("Update", f) for f in outcome.updated),
        *(E(f"{NS}:Delete", E(f"{NS}:ServerId", sid)) for sid in outcome.deleted),
        *(_folder("Add", f) for f in outcome.added),
    ]
    return E(f"{NS}:FolderSync", E(f"{NS}:Status", FolderStatus.Success), E(f"{NS}:SyncKey", outcome.sync_key),
             E(f"{NS}:Changes", E(f"{NS}:Count", len(changes)), *changes))


async def handle(ctx: CommandContext, request: Element | None) -> Response:
    key = request.text(f"{NS}:SyncKey") if request is not None else None
    if not key:
        return Response(200, E(f"{NS}:FolderSync", E(f"{NS}:Status", FolderStatus.MalformedRequest)))
    outcome = await ctx.store.folder_sync(ctx, key)
    response = Response(200, build(outcome))
    if key == "0":
        # MS-ASCMD 2.2.1.5: tell a (re)starting client what this server speaks; Exchange adds
        # X-MS-RP, the same list, which a client reads as "the server's versions changed"
        # (MS-ASHTTP_R1202).
        response.headers["MS-ASProtocolVersions"] = response.headers["X-MS-RP"] = ",".join(versions.SUPPORTED)
        response.headers["MS-ASProtocolCommands"] = ",".join(ctx.commands.advertised())
    return response


COMMANDS = (Command("FolderSync", handle, root=f"{NS}:FolderSync", malformed=FolderStatus.MalformedRequest),)
