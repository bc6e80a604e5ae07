"""Ping (MS-ASCMD 2.2.1.13): hold the request until a watched folder gets new items.

The hold is one await on the server's push hub; the heartbeat is its timeout.  The device's last
interval and folder list are kept so an empty Ping (no body) repeats them.
"""
from __future__ import annotations

import json

from .. import refusals
from ..context import CommandContext
from ..response import Response
from ..status import PingStatus
from ..wbxml import E, Element
from . import Command

NS = "Ping"
CLASSES = {"Email", "Calendar", "Contacts", "Tasks", "Notes", "SMS"}


def _answer(status: int, *extra: Element) -> Response:
    return Response(200, E(f"{NS}:Ping", E(f"{NS}:Status", status), *extra))


async def _asked(ctx: CommandContext, tree: Element | None) -> Response | tuple[int, list[tuple[str, str]]]:
    """The interval and folders this Ping asks for (the kept ones where it leaves them out), or
    the answer that refuses it.  Read apart from the hold, so what a held Ping keeps alive for up
    to an hour is its watch list and not its request's tree or the kept request's decoded form."""
    store = ctx.store
    cached_raw = await store.cached_request(ctx, "ping")
    cached = json.loads(cached_raw) if cached_raw else None
    heartbeat = cached["heartbeat"] if cached else None
    folders = [tuple(f) for f in cached["folders"]] if cached else None
    if tree is not None:
        hb = tree.text(f"{NS}:HeartbeatInterval")
        folders_el = tree.find(f"{NS}:Folders")
        if hb is None and folders_el is None:
            return _answer(PingStatus.MissingParameters)
        if hb is not None:
            if not (hb.isascii() and hb.isdigit()):
                return _answer(PingStatus.SyntaxError)
            heartbeat = int(hb)
        if folders_el is not None:
            folders = []
            for f in folders_el.findall(f"{NS}:Folder"):
                fid, cls = f.text(f"{NS}:Id"), f.text(f"{NS}:Class")
                if not fid or cls not in CLASSES or any(fid == known for known, _ in folders):
                    return _answer(PingStatus.SyntaxError)
                folders.append((fid, cls))
    if heartbeat is None or not folders:
        return _answer(PingStatus.MissingParameters)
    limits = ctx.limits
    if not limits.heartbeat_min <= heartbeat <= limits.heartbeat_max:
        short = heartbeat < limits.heartbeat_min
        response = _answer(PingStatus.InvalidHeartbeatInterval,
                           E(f"{NS}:HeartbeatInterval", limits.heartbeat_min if short else limits.heartbeat_max))
        response.refused_by = refusals.PING_HEARTBEAT_TOO_SHORT if short else refusals.PING_HEARTBEAT_TOO_LONG
        return response
    if len(folders) > limits.ping_max_folders:
        return _answer(PingStatus.TooManyFolders, E(f"{NS}:MaxFolders", limits.ping_max_folders))
    # A device repeats the same Ping all day: only a new interval or folder list is stored.
    if tree is not None and (cached is None or (cached["heartbeat"], [tuple(f) for f in cached["folders"]])
                             != (heartbeat, folders)):
        await store.cache_request(ctx, "ping", json.dumps({"heartbeat": heartbeat, "folders": folders}).encode())
    return heartbeat, folders


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    asked = await _asked(ctx, tree)
    del tree  # the caller let go of it too (eas/dispatch.py): nothing of the request stays held
    if isinstance(asked, Response):
        return asked
    heartbeat, ids = asked[0], [fid for fid, _ in asked[1]]
    del asked
    store = ctx.store
    check = await store.pending_adds(ctx, ids)
    if check.status == PingStatus.FolderHierarchyChanged:
        return _answer(PingStatus.FolderHierarchyChanged)
    if check.changed:
        return _answer(PingStatus.Changes, E(f"{NS}:Folders", *[E(f"{NS}:Folder", fid) for fid in check.changed]))
    deadline = ctx.now() + heartbeat
    while True:
        wake = await store.wait(ctx, check.watch, max(0.0, deadline - ctx.now()))
        if wake is None or wake.superseded:
            return _answer(PingStatus.Expired)
        if wake.hierarchy:
            return _answer(PingStatus.FolderHierarchyChanged)
        if wake.policy:
            # Ping is exempt from the policy check, so a device told "expired" would just Ping
            # again and never learn of the new policy.  "Hierarchy out of date" sends it to
            # FolderSync, which answers 144/449 and makes it re-provision at once.
            return _answer(PingStatus.FolderHierarchyChanged)
        # Woken by an add in a watched folder.  A restricted (quarantined) device asks the store
        # again, since most adds are withheld from it and keep it waiting; any other device is
        # answered straight from the wake, with no database round trip per woken Ping.
        if ctx.restricted:
            check = await store.pending_adds(ctx, ids)
            changed = check.changed
        else:
            changed = [fid for fid, handle in zip(ids, check.watch) if handle in wake.folders]
        if changed:
            return _answer(PingStatus.Changes, E(f"{NS}:Folders", *[E(f"{NS}:Folder", fid) for fid in changed]))


COMMANDS = (Command("Ping", handle, root=f"{NS}:Ping", malformed=PingStatus.SyntaxError),)
