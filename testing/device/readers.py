"""How a simulated device reads the answers to what it sent: one reader per command, each updating
the `DeviceState` the way a real device would (keys, folders, the items held) and returning the
command's typed result.
"""
from __future__ import annotations

from typing import Any

from easlab.eas.wbxml import E, Element, WBXMLError, decode

from .http import HTTPRequest, HTTPResponse
from .items import as_int, as_text
from .results import (
    CollectionResult,
    CommandResult,
    EstimateResponse,
    EstimateResult,
    FolderSyncResult,
    ItemResponse,
    OptionsResult,
    PingResult,
    ProvisionResult,
    Result,
    SyncResult,
)
from .state import CollectionState, DeviceState, Folder, PingParameters


def read(state: DeviceState, request: HTTPRequest, response: HTTPResponse) -> Result:
    """Read the answer to `request`, update `state`, and return the command's result type."""
    reader = READERS.get(request.command, _read_generic)
    return reader(state, request, response)


def _decode(resp: HTTPResponse, root: str | None) -> tuple[Element | None, str | None]:
    if resp.status != 200 or not resp.body:
        return None, None
    try:
        tree = decode(resp.body)
    except WBXMLError as exc:
        return None, f"response body is not WBXML: {exc}"
    if root is not None and tree.tag != root:
        return tree, f"response root is <{tree.tag}>, expected <{root}>"
    return tree, None


def _base(resp: HTTPResponse) -> dict[str, Any]:
    return {"http_status": resp.status, "headers": dict(resp.headers)}


def _read_generic(state: DeviceState, request: HTTPRequest, resp: HTTPResponse) -> CommandResult:
    tree, error = _decode(resp, request.tree.tag if request.tree is not None else None)
    status = None
    if tree is not None:
        status = as_int(tree.text(f"{tree.namespace}:Status"))
    return CommandResult(**_base(resp), status=status, tree=tree, error=error)


def _read_options(state: DeviceState, request: HTTPRequest, resp: HTTPResponse) -> OptionsResult:
    def split(value: str | None) -> list[str]:
        return [v.strip() for v in (value or "").split(",") if v.strip()]

    return OptionsResult(
        **_base(resp),
        versions=split(resp.header("MS-ASProtocolVersions")),
        commands=split(resp.header("MS-ASProtocolCommands")),
        server_version=resp.header("MS-Server-ActiveSync"),
    )


# -- Provision ------------------------------------------------------------------------------
def _read_provision(state: DeviceState, request: HTTPRequest, resp: HTTPResponse) -> ProvisionResult:
    phase = request.context.get("phase", 1)
    tree, error = _decode(resp, "Provision:Provision")
    result = ProvisionResult(**_base(resp), phase=phase, tree=tree, error=error)
    if tree is None or error:
        return result
    result.status = as_int(tree.text("Provision:Status"))
    info = tree.find("Settings:DeviceInformation")
    if info is not None:
        result.device_information_status = as_int(info.text("Settings:Status"))
    result.remote_wipe = tree.has("Provision:RemoteWipe")
    result.account_only_remote_wipe = tree.has("Provision:AccountOnlyRemoteWipe")
    policies = tree.find("Provision:Policies")
    policy = policies.find("Provision:Policy") if policies is not None else None
    if policy is not None:
        result.policy_type = policy.text("Provision:PolicyType")
        result.policy_status = as_int(policy.text("Provision:Status"))
        result.policy_key = policy.text("Provision:PolicyKey")
        data = policy.find("Provision:Data")
        if data is not None:
            doc = data.find("Provision:EASProvisionDoc")
            result.policy_data = doc if doc is not None else as_text(data.value)

    if phase == 3:
        if result.status == 1 and request.context.get("ack_status") == 1:
            state.wipe()
        return result
    if result.remote_wipe or result.account_only_remote_wipe:
        state.remote_wipe_requested = True
        return result
    if result.status != 1 or result.policy_key is None:
        return result
    if phase == 1:
        if result.policy_status in (1, None):
            state.temporary_policy_key = result.policy_key
    elif phase == 2 and result.policy_status == 1:
        state.policy_key = result.policy_key
        state.temporary_policy_key = None
    return result


# -- FolderSync -----------------------------------------------------------------------------
def _read_folder_sync(state: DeviceState, request: HTTPRequest, resp: HTTPResponse) -> FolderSyncResult:
    tree, error = _decode(resp, "FolderHierarchy:FolderSync")
    result = FolderSyncResult(**_base(resp), tree=tree, error=error)
    if tree is None or error:
        return result
    result.status = as_int(tree.text("FolderHierarchy:Status"))
    if result.status == 9:
        state.hierarchy_sync_key = "0"
        return result
    if result.status != 1:
        return result
    result.sync_key = tree.text("FolderHierarchy:SyncKey")
    changes = tree.find("FolderHierarchy:Changes")
    if request.context.get("sync_key") == "0":
        # A key-0 answer is the whole hierarchy: forget folders it does not list again.
        listed = set()
        if changes is not None:
            listed = {c.text("FolderHierarchy:ServerId") for c in changes.findall("FolderHierarchy:Add")}
        for sid in list(state.folders):
            if sid not in listed:
                state.forget_folder(sid)
    if changes is not None:
        result.count = as_int(changes.text("FolderHierarchy:Count"))
        for child in changes.children:
            kind = child.name
            if kind in ("Add", "Update"):
                folder = Folder(
                    server_id=child.text("FolderHierarchy:ServerId") or "",
                    parent_id=child.text("FolderHierarchy:ParentId") or "0",
                    display_name=child.text("FolderHierarchy:DisplayName") or "",
                    type=as_int(child.text("FolderHierarchy:Type")) or 0,
                )
                if kind == "Update" and folder.server_id in state.folders and not child.has("FolderHierarchy:Type"):
                    folder.type = state.folders[folder.server_id].type
                state.folders[folder.server_id] = folder
                (result.added if kind == "Add" else result.updated).append(folder)
            elif kind == "Delete":
                sid = child.text("FolderHierarchy:ServerId") or ""
                state.forget_folder(sid)
                result.deleted.append(sid)
    if result.sync_key is not None:
        state.hierarchy_sync_key = result.sync_key
    return result


# -- Sync -----------------------------------------------------------------------------------
def _read_sync(state: DeviceState, request: HTTPRequest, resp: HTTPResponse) -> SyncResult:
    sent: dict[str, dict[str, Any]] = request.context.get("collections", {})
    if resp.status == 200 and not resp.body:
        # Empty Sync response: nothing changed in any requested collection; keys stay.
        return SyncResult(**_base(resp), empty_response=True)
    tree, error = _decode(resp, "AirSync:Sync")
    result = SyncResult(**_base(resp), tree=tree, error=error)
    if tree is None or error:
        return result
    result.global_status = as_int(tree.text("AirSync:Status"))
    result.limit = as_int(tree.text("AirSync:Limit"))
    if result.global_status == 3:
        for cid in sent:
            state.reset_collection(cid)
    collections = tree.find("AirSync:Collections")
    for el in collections.findall("AirSync:Collection") if collections is not None else ():
        c = _read_collection(state, el, sent)
        result.collections[c.collection_id] = c
    if result.global_status is not None:
        result.status = result.global_status
    elif result.collections:
        result.status = next(iter(result.collections.values())).status
    return result


def _read_collection(state: DeviceState, el: Element, sent: dict[str, dict[str, Any]]) -> CollectionResult:
    cid = el.text("AirSync:CollectionId") or ""
    c = CollectionResult(
        collection_id=cid,
        status=as_int(el.text("AirSync:Status")),
        sync_key=el.text("AirSync:SyncKey"),
        more_available=el.has("AirSync:MoreAvailable"),
        item_class=el.text("AirSync:Class"),
    )
    held = state.collection(cid)
    if c.status == 3:
        state.reset_collection(cid)
        return c
    asked = sent.get(cid, {})
    if c.status == 1 and asked.get("sync_key") == "0":
        held.items.clear()  # a key-0 sync starts the collection afresh
    if c.sync_key is not None:
        held.sync_key = c.sync_key
    failed = _read_responses(held, el, asked, c)
    if c.status == 1:
        _apply_own_commands(held, asked, failed)
    _apply_server_commands(held, el, c)
    return c


def _read_responses(held: CollectionState, el: Element, asked: dict[str, Any], c: CollectionResult) -> set[str]:
    """Responses to what the device sent; returns the ServerIds whose Change or Delete failed."""
    failed: set[str] = set()
    responses = el.find("AirSync:Responses")
    for r in responses.children if responses is not None else ():
        item = ItemResponse(
            kind=r.name,
            status=as_int(r.text("AirSync:Status")),
            server_id=r.text("AirSync:ServerId"),
            client_id=r.text("AirSync:ClientId"),
            data=r.find("AirSync:ApplicationData"),
        )
        c.responses.append(item)
        if item.kind in ("Change", "Delete") and item.status not in (None, 1) and item.server_id:
            failed.add(item.server_id)
        if item.kind == "Fetch" and item.status == 1 and item.server_id and item.data is not None:
            held.items[item.server_id] = item.data
            c.fetched[item.server_id] = item.data
        if item.kind == "Add" and item.status == 1 and item.server_id:
            mine = _sent_add(asked, item.client_id)
            if mine is not None:
                held.items[item.server_id] = mine
    return failed


def _apply_own_commands(held: CollectionState, asked: dict[str, Any], failed: set[str]) -> None:
    """Silence means success: apply the device's own changes and deletes to what it holds."""
    for cmd in asked.get("commands", ()):
        sid = cmd.text("AirSync:ServerId")
        if sid is None or sid in failed:
            continue
        if cmd.tag == "AirSync:Change" and sid in held.items:
            data = cmd.find("AirSync:ApplicationData")
            if data is not None:
                held.items[sid] = _merge(held.items[sid], data)
        elif cmd.tag == "AirSync:Delete":
            held.items.pop(sid, None)


def _apply_server_commands(held: CollectionState, el: Element, c: CollectionResult) -> None:
    commands = el.find("AirSync:Commands")
    for cmd in commands.children if commands is not None else ():
        sid = cmd.text("AirSync:ServerId")
        if sid is None:
            continue
        data = cmd.find("AirSync:ApplicationData")
        if cmd.name == "Add":
            held.items[sid] = data if data is not None else E("AirSync:ApplicationData")
            c.added.append(sid)
            c.items[sid] = held.items[sid]
        elif cmd.name == "Change":
            old = held.items.get(sid)
            new = data if data is not None else E("AirSync:ApplicationData")
            held.items[sid] = _merge(old, new) if old is not None else new
            c.changed.append(sid)
            c.items[sid] = held.items[sid]
        elif cmd.name == "Delete":
            held.items.pop(sid, None)
            c.deleted.append(sid)
        elif cmd.name == "SoftDelete":
            held.items.pop(sid, None)
            c.soft_deleted.append(sid)


def _sent_add(asked: dict[str, Any], client_id: str | None) -> Element | None:
    for cmd in asked.get("commands", ()):
        if cmd.tag == "AirSync:Add" and cmd.text("AirSync:ClientId") == client_id:
            return cmd.find("AirSync:ApplicationData")
    return None


# -- Ping -----------------------------------------------------------------------------------
def _read_ping(state: DeviceState, request: HTTPRequest, resp: HTTPResponse) -> PingResult:
    tree, error = _decode(resp, "Ping:Ping")
    result = PingResult(**_base(resp), tree=tree, error=error)
    if tree is None or error:
        return result
    result.status = as_int(tree.text("Ping:Status"))
    folders = tree.find("Ping:Folders")
    if folders is not None:
        result.folders = [as_text(f.value) or "" for f in folders.findall("Ping:Folder")]
    result.heartbeat_interval = as_int(tree.text("Ping:HeartbeatInterval"))
    result.max_folders = as_int(tree.text("Ping:MaxFolders"))
    if result.status in (1, 2):
        # The server accepted the parameters; it caches them, and so does the device.
        ctx = request.context
        previous = state.last_ping
        pairs = ctx.get("folders")
        heartbeat = ctx.get("heartbeat")
        if pairs is not None or heartbeat is not None:
            state.last_ping = PingParameters(
                list(pairs) if pairs is not None else (previous.folders if previous else []),
                heartbeat if heartbeat is not None else (previous.heartbeat_interval if previous else None),
            )
    return result


# -- GetItemEstimate ------------------------------------------------------------------------
def _read_estimate(state: DeviceState, request: HTTPRequest, resp: HTTPResponse) -> EstimateResult:
    tree, error = _decode(resp, "GetItemEstimate:GetItemEstimate")
    result = EstimateResult(**_base(resp), tree=tree, error=error)
    if tree is None or error:
        return result
    top = as_int(tree.text("GetItemEstimate:Status"))
    for r in tree.findall("GetItemEstimate:Response"):
        coll = r.find("GetItemEstimate:Collection")
        result.responses.append(EstimateResponse(
            status=as_int(r.text("GetItemEstimate:Status")),
            collection_id=coll.text("GetItemEstimate:CollectionId") if coll is not None else None,
            estimate=as_int(coll.text("GetItemEstimate:Estimate")) if coll is not None else None,
        ))
    result.status = top if top is not None else (result.responses[0].status if result.responses else None)
    return result


def _merge(old: Element, new: Element) -> Element:
    """ApplicationData after a Change: properties in `new` replace the same-named ones in `old` in
    place, new ones are appended, the rest are kept (a read-flag change carries only email:Read)."""
    incoming: dict[str, list[Element]] = {}
    for child in new.children:
        incoming.setdefault(child.tag, []).append(child)
    merged: list[Element] = []
    for child in old.children:
        if child.tag in incoming:
            if incoming[child.tag]:
                merged.extend(incoming[child.tag])
                incoming[child.tag] = []
        else:
            merged.append(child)
    for rest in incoming.values():
        merged.extend(rest)
    return Element(old.tag, merged)


READERS = {
    "OPTIONS": _read_options,
    "Provision": _read_provision,
    "FolderSync": _read_folder_sync,
    "Sync": _read_sync,
    "Ping": _read_ping,
    "GetItemEstimate": _read_estimate,
}
