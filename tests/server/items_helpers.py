"""Shared by the MoveItems, folder, ItemOperations and Search tests: the few requests they all make."""
from __future__ import annotations

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection

A, FH = "AirSync", "FolderHierarchy"
VERSIONS = ("12.1", "14.1", "16.1")


def device(client, version="14.1", name="dev1", user="alice", password="secret"):
    return Raw(client, user=user, password=password, device=name, version=version)


async def deliver(app, *messages, to="alice@easlab.test"):
    for m in messages:
        await app.state.store.deliver(m, [to])


async def folder_key(dev) -> str:
    return (await dev.folder_sync("0")).text(f"{FH}:SyncKey")


def changes(resp, kind):
    ch = resp.find(f"{FH}:Changes")
    return [(c.text(f"{FH}:ServerId"), c.text(f"{FH}:DisplayName"), c.text(f"{FH}:ParentId"))
            for c in ch.findall(f"{FH}:{kind}")] if ch is not None else []


async def synced(dev, cid="1") -> str:
    """Prime a collection and take everything in it; returns the current SyncKey."""
    key = collection(await dev.sync("0", cid)).text(f"{A}:SyncKey")
    while True:
        resp = await dev.sync(key, cid)
        if resp is None:
            return key
        coll = collection(resp)
        key = coll.text(f"{A}:SyncKey")
        if not coll.has(f"{A}:MoreAvailable"):
            return key


def items_of(resp) -> list[tuple[str, str, str | None]]:
    """[(kind, ServerId, subject)] of a Sync response's first collection (empty response: [])."""
    if resp is None:
        return []
    cmds = collection(resp).find(f"{A}:Commands")
    out = []
    for c in cmds.children if cmds is not None else []:
        data = c.find(f"{A}:ApplicationData")
        out.append((c.name, c.text(f"{A}:ServerId"), data.text("Email:Subject") if data is not None else None))
    return out


async def held(app, n: int) -> None:
    """Wait until `n` requests are held on the push hub."""
    from easlab.server import events

    async def enough():
        return app.state.hub.held >= n

    await events.wait_until(enough, 20, kinds=("held",), bus=app.state.bus, what=f"{n} held requests")


def ping(heartbeat, *folders):
    return E("Ping:Ping", E("Ping:HeartbeatInterval", heartbeat),
             E("Ping:Folders", *[E("Ping:Folder", E("Ping:Id", f), E("Ping:Class", "Email")) for f in folders]))
