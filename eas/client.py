"""A simulated EAS device, without I/O: it builds requests as plain data and reads responses.

The device never opens a socket.  Every builder returns an `HTTPRequest` (method, path and query,
headers, body); whoever holds a connection sends it and hands the answer back to `receive()` as
`(status, headers, body)`.  `receive()` updates the device's `DeviceState` (policy key, hierarchy
SyncKey, folders, per-collection SyncKeys and the items held) and returns a typed result.
`server.device.Device` is the asynchronous HTTP wrapper; tests can also drive this class directly
with hand-built response trees.

Written from the team's protocol digest (MS-ASHTTP, MS-ASCMD, MS-ASPROV, MS-ASAIRS), not from the
server's code, so that it checks the server rather than mirroring it:

    device = SimulatedDevice("alice", device_id="sim1", protocol_version="14.1")
    request = device.folder_sync()
    result = device.receive(request, (200, {"Content-Type": ...}, body_bytes))
"""
from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from . import versions
from .request import COMMAND_CODES, OPTION_ACCEPT_MULTIPART, OPTION_SAVE_IN_SENT, PARAMETER_TAGS
from .wbxml import E, Element, WBXMLError, decode, encode

ENDPOINT = "/Microsoft-Server-ActiveSync"
WBXML_CONTENT_TYPE = "application/vnd.ms-sync.wbxml"

EAS_POLICY_TYPE = "MS-EAS-Provisioning-WBXML"  # 12.0 and later
WAP_POLICY_TYPE = "MS-WAP-Provisioning-XML"  # 2.5

DEFAULT_DEVICE_ID = "EASLABSIM0001"
DEFAULT_DEVICE_TYPE = "EASLabSim"
DEFAULT_USER_AGENT = "easlab-simulated-device/0.1"
DEFAULT_VERSION = "14.1"

_CODE_OF_COMMAND = {name: code for code, name in COMMAND_CODES.items()}
_TAG_OF_PARAMETER = {name: tag for tag, name in PARAMETER_TAGS.items()}

# Folder Type (MS-ASCMD FolderSync) -> the class of the items in it, as Sync (<=12.1), Ping and
# GetItemEstimate name it.  Generic user folders (1) and unknown (18) are treated as mail.
FOLDER_CLASS = {
    1: "Email", 2: "Email", 3: "Email", 4: "Email", 5: "Email", 6: "Email", 12: "Email", 18: "Email",
    7: "Tasks", 15: "Tasks",
    8: "Calendar", 13: "Calendar",
    9: "Contacts", 14: "Contacts", 19: "Contacts",
    10: "Notes", 17: "Notes",
}

# 2.5 airsync:Truncation codes and the number of characters each keeps (9 = no truncation).
TRUNCATION_SIZES = {0: 0, 1: 512, 2: 1024, 3: 2048, 4: 5120, 5: 10240, 6: 20480, 7: 51200, 8: 102400}

PROVISIONING_STATUSES = frozenset({140, 141, 142, 143, 144})

PING_STATUS_TEXT = {
    1: "heartbeat expired, no changes",
    2: "changes in the folders listed",
    3: "parameters missing; send the full request",
    4: "syntax error",
    5: "heartbeat interval out of range",
    6: "too many folders",
    7: "folder hierarchy out of date; FolderSync",
    8: "server error",
}


def truncation_code(size: int | None) -> int:
    """The 2.5 Truncation code that keeps at most `size` characters (None: 9, no truncation)."""
    if size is None:
        return 9
    best = 0
    for code, chars in TRUNCATION_SIZES.items():
        if chars <= size:
            best = code
    return best


# ---------------------------------------------------------------------------------------------
# HTTP as plain data

@dataclass
class HTTPRequest:
    """One HTTP request as data.  `command` and `tree` (the body before encoding) are for people
    and traces; `context` is what `receive()` needs to know about what was asked."""

    method: str
    path_and_query: str
    headers: dict[str, str]
    body: bytes
    command: str = ""
    tree: Element | None = field(default=None, compare=False)
    context: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def path(self) -> str:
        return self.path_and_query.partition("?")[0]

    @property
    def query(self) -> str:
        return self.path_and_query.partition("?")[2]


@dataclass
class HTTPResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return default


def _as_response(response: HTTPResponse | tuple) -> HTTPResponse:
    if isinstance(response, HTTPResponse):
        return response
    status, headers, body = response
    return HTTPResponse(int(status), dict(headers or {}), bytes(body or b""))


# ---------------------------------------------------------------------------------------------
# State

@dataclass
class Folder:
    server_id: str
    parent_id: str
    display_name: str
    type: int

    @property
    def item_class(self) -> str | None:
        """Email / Calendar / Contacts / Tasks / Notes; None for folders with no sync class."""
        return FOLDER_CLASS.get(self.type)


@dataclass
class CollectionState:
    sync_key: str = "0"
    items: dict[str, Element] = field(default_factory=dict)


@dataclass
class PingParameters:
    folders: list[tuple[str, str]]  # (folder id, class)
    heartbeat_interval: int | None


@dataclass
class DeviceInfo:
    """settings:DeviceInformation (Provision in 14.1+, Settings before)."""

    model: str = "easlab simulated device"
    imei: str | None = None
    friendly_name: str = "easlab sim"
    os: str = "easlab-os 1.0"
    os_language: str = "English"
    phone_number: str | None = None
    mobile_operator: str | None = None


@dataclass
class DeviceState:
    user: str
    device_id: str = DEFAULT_DEVICE_ID
    device_type: str = DEFAULT_DEVICE_TYPE
    user_agent: str = DEFAULT_USER_AGENT
    protocol_version: str = DEFAULT_VERSION
    locale: int = 0x0409
    policy_key: str | None = None  # the permanent key; None = never provisioned
    temporary_policy_key: str | None = None  # phase-1 key awaiting acknowledgement
    remote_wipe_requested: bool = False
    hierarchy_sync_key: str = "0"
    folders: dict[str, Folder] = field(default_factory=dict)
    collections: dict[str, CollectionState] = field(default_factory=dict)
    last_ping: PingParameters | None = None
    info: DeviceInfo = field(default_factory=DeviceInfo)

    def sync_key(self, collection_id: str) -> str:
        """The SyncKey held for a collection ("0" if never synced); creates no state."""
        state = self.collections.get(collection_id)
        return state.sync_key if state else "0"

    def collection(self, collection_id: str) -> CollectionState:
        state = self.collections.get(collection_id)
        if state is None:
            state = self.collections[collection_id] = CollectionState()
        return state

    def folder_by_name(self, name: str) -> Folder | None:
        """The folder called `name` (exact match first, then case-insensitive); None if absent or
        ambiguous."""
        exact = [f for f in self.folders.values() if f.display_name == name]
        if len(exact) == 1:
            return exact[0]
        if exact:
            return None
        loose = [f for f in self.folders.values() if f.display_name.lower() == name.lower()]
        return loose[0] if len(loose) == 1 else None

    # JSON form, for the command-line client; items travel as base64 WBXML so they come back
    # byte-exact.
    def to_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "device_id": self.device_id,
            "device_type": self.device_type,
            "user_agent": self.user_agent,
            "protocol_version": self.protocol_version,
            "locale": self.locale,
            "policy_key": self.policy_key,
            "temporary_policy_key": self.temporary_policy_key,
            "remote_wipe_requested": self.remote_wipe_requested,
            "hierarchy_sync_key": self.hierarchy_sync_key,
            "folders": [
                {"server_id": f.server_id, "parent_id": f.parent_id, "display_name": f.display_name, "type": f.type}
                for f in self.folders.values()
            ],
            "collections": {
                cid: {
                    "sync_key": c.sync_key,
                    "items": {sid: base64.b64encode(encode(data)).decode("ascii") for sid, data in c.items.items()},
                }
                for cid, c in self.collections.items()
            },
            "last_ping": None if self.last_ping is None else {
                "folders": [list(pair) for pair in self.last_ping.folders],
                "heartbeat_interval": self.last_ping.heartbeat_interval,
            },
            "info": dict(vars(self.info)),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeviceState:
        state = cls(user=data["user"])
        for name in ("device_id", "device_type", "user_agent", "protocol_version", "locale", "policy_key",
                     "temporary_policy_key", "remote_wipe_requested", "hierarchy_sync_key"):
            if name in data:
                setattr(state, name, data[name])
        for f in data.get("folders", []):
            state.folders[f["server_id"]] = Folder(f["server_id"], f["parent_id"], f["display_name"], int(f["type"]))
        for cid, c in data.get("collections", {}).items():
            state.collections[cid] = CollectionState(
                c.get("sync_key", "0"),
                {sid: decode(base64.b64decode(blob)) for sid, blob in c.get("items", {}).items()},
            )
        ping = data.get("last_ping")
        if ping:
            state.last_ping = PingParameters([tuple(p) for p in ping["folders"]], ping.get("heartbeat_interval"))
        if data.get("info"):
            state.info = DeviceInfo(**data["info"])
        return state


# ---------------------------------------------------------------------------------------------
# Reading items

@dataclass(frozen=True)
class Attachment:
    name: str | None
    file_reference: str | None  # airsyncbase:FileReference (12.0+) or email:AttName (2.5)
    size: int | None
    method: int | None = None
    content_id: str | None = None
    is_inline: bool = False


def _str(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class Item:
    """Read access to one item's ApplicationData, whatever its class and protocol version."""

    _SUBJECT = ("Email:Subject", "Calendar:Subject", "Tasks:Subject", "Notes:Subject", "Contacts:FileAs")

    def __init__(self, data: Element, server_id: str | None = None):
        self.data = data
        self.server_id = server_id

    def __repr__(self) -> str:
        return f"Item({self.server_id!r}, subject={self.subject!r})"

    def text(self, tag: str) -> str | None:
        return self.data.text(tag)

    @property
    def subject(self) -> str | None:
        for tag in self._SUBJECT:
            if self.data.has(tag):
                return self.data.text(tag)
        return None

    @property
    def sender(self) -> str | None:
        return self.data.text("Email:From")

    @property
    def to(self) -> str | None:
        return self.data.text("Email:To")

    @property
    def cc(self) -> str | None:
        return self.data.text("Email:Cc")

    @property
    def date_received(self) -> str | None:
        return self.data.text("Email:DateReceived")

    @property
    def message_class(self) -> str | None:
        return self.data.text("Email:MessageClass")

    @property
    def importance(self) -> int | None:
        return _int(self.data.text("Email:Importance"))

    @property
    def read(self) -> bool | None:
        value = self.data.text("Email:Read")
        return None if value is None else value == "1"

    @property
    def flag_status(self) -> int | None:
        flag = self.data.find("Email:Flag")
        if flag is None:
            return None
        return _int(flag.text("Email:Status")) or 0

    @property
    def categories(self) -> list[str]:
        for tag, child in (("Email:Categories", "Email:Category"), ("Calendar:Categories", "Calendar:Category"),
                           ("Contacts:Categories", "Contacts:Category"), ("Tasks:Categories", "Tasks:Category"),
                           ("Notes:Categories", "Notes:Category")):
            found = self.data.find(tag)
            if found is not None:
                return [_str(c.value) or "" for c in found.findall(child)]
        return []

    # -- body: airsyncbase:Body (12.0+) or the class's own Body (2.5) ---------------------------
    def _body(self) -> Element | None:
        return self.data.find("AirSyncBase:Body")

    @property
    def body_type(self) -> int | None:
        body = self._body()
        if body is not None:
            return _int(body.text("AirSyncBase:Type"))
        return 1 if self._legacy_body_tag() else None

    def _legacy_body_tag(self) -> str | None:
        for ns in ("Email", "Calendar", "Contacts", "Tasks"):
            if self.data.has(f"{ns}:Body"):
                return ns
        return None

    @property
    def body_bytes(self) -> bytes | None:
        body = self._body()
        if body is not None:
            el = body.find("AirSyncBase:Data")
        else:
            ns = self._legacy_body_tag()
            el = self.data.find(f"{ns}:Body") if ns else None
        if el is None or el.value is None:
            return None
        return el.value if isinstance(el.value, bytes) else el.value.encode("utf-8")

    @property
    def body(self) -> str | None:
        raw = self.body_bytes
        return None if raw is None else raw.decode("utf-8", "replace")

    @property
    def body_truncated(self) -> bool:
        body = self._body()
        if body is not None:
            return body.text("AirSyncBase:Truncated") == "1"
        ns = self._legacy_body_tag()
        return bool(ns) and self.data.text(f"{ns}:BodyTruncated") == "1"

    @property
    def body_size(self) -> int | None:
        body = self._body()
        if body is not None:
            return _int(body.text("AirSyncBase:EstimatedDataSize"))
        return _int(self.data.text("Email:BodySize"))

    @property
    def preview(self) -> str | None:
        body = self._body()
        return None if body is None else body.text("AirSyncBase:Preview")

    @property
    def native_body_type(self) -> int | None:
        return _int(self.data.text("AirSyncBase:NativeBodyType"))

    @property
    def attachments(self) -> list[Attachment]:
        found: list[Attachment] = []
        modern = self.data.find("AirSyncBase:Attachments")
        if modern is not None:
            for a in modern.findall("AirSyncBase:Attachment"):
                found.append(Attachment(
                    name=a.text("AirSyncBase:DisplayName"),
                    file_reference=a.text("AirSyncBase:FileReference"),
                    size=_int(a.text("AirSyncBase:EstimatedDataSize")),
                    method=_int(a.text("AirSyncBase:Method")),
                    content_id=a.text("AirSyncBase:ContentId"),
                    is_inline=a.text("AirSyncBase:IsInline") == "1",
                ))
        legacy = self.data.find("Email:Attachments")
        if legacy is not None:
            for a in legacy.findall("Email:Attachment"):
                found.append(Attachment(
                    name=a.text("Email:DisplayName") or a.text("Email:AttName"),
                    file_reference=a.text("Email:AttName"),
                    size=_int(a.text("Email:AttSize")),
                    method=_int(a.text("Email:AttMethod")),
                ))
        return found


# ---------------------------------------------------------------------------------------------
# Sync commands the device can send

def change_read(server_id: str, read: bool = True) -> Element:
    """Sync Commands/Change that sets email:Read."""
    return E("AirSync:Change", E("AirSync:ServerId", server_id),
             E("AirSync:ApplicationData", E("Email:Read", "1" if read else "0")))


def change_flag(server_id: str, status: int = 2, flag_type: str | None = "Flag for follow up") -> Element:
    """Sync Commands/Change that sets email:Flag (status 0 clears it with an empty <Flag/>)."""
    if status == 0:
        flag = E("Email:Flag")
    else:
        flag = E("Email:Flag", E("Email:Status", status), E("Email:FlagType", flag_type) if flag_type else None)
    return E("AirSync:Change", E("AirSync:ServerId", server_id), E("AirSync:ApplicationData", flag))


def change(server_id: str, *properties: Element) -> Element:
    return E("AirSync:Change", E("AirSync:ServerId", server_id), E("AirSync:ApplicationData", *properties))


def delete(server_id: str) -> Element:
    return E("AirSync:Delete", E("AirSync:ServerId", server_id))


def fetch(server_id: str) -> Element:
    return E("AirSync:Fetch", E("AirSync:ServerId", server_id))


def add(client_id: str, *properties: Element, item_class: str | None = None) -> Element:
    return E("AirSync:Add", E("AirSync:Class", item_class) if item_class else None,
             E("AirSync:ClientId", client_id), E("AirSync:ApplicationData", *properties))


def meeting_response(request_id: str, response: int, *, collection_id: str | None = None, long_id: str | None = None,
                     instance_id: str | None = None, send_response: bool = False, body: str | None = None,
                     proposed: tuple[str, str] | None = None) -> Element:
    """One MeetingResponse Request (MS-ASCMD 2.2.3.135): `response` 1 accept, 2 tentative,
    3 decline; `send_response` (16.x) has the server mail the reply, with `body` and a `proposed`
    (start, end) Compact DateTime pair (16.1)."""
    send = None
    if send_response:
        send = E("MeetingResponse:SendResponse",
                 E("AirSyncBase:Body", E("AirSyncBase:Type", 1), E("AirSyncBase:Data", body)) if body is not None else None,
                 E("MeetingResponse:ProposedStartTime", proposed[0]) if proposed else None,
                 E("MeetingResponse:ProposedEndTime", proposed[1]) if proposed else None)
    return E("MeetingResponse:Request", E("MeetingResponse:UserResponse", response),
             E("MeetingResponse:CollectionId", collection_id) if long_id is None else None,
             E("MeetingResponse:RequestId", request_id) if long_id is None else None,
             E("Search:LongId", long_id) if long_id is not None else None,
             E("MeetingResponse:InstanceId", instance_id) if instance_id else None, send)


BodyPreference = tuple  # (type, truncation_size | None, all_or_none | None[, preview | None])


@dataclass
class SyncCollection:
    """One Collection of a Sync request.  None means "leave the element out"."""

    collection: str  # ServerId or folder display name
    window_size: int | None = None
    filter_type: int | None = None
    body_preferences: Sequence[BodyPreference] | None = None
    body_part_preferences: Sequence[BodyPreference] | None = None
    mime_support: int | None = None
    mime_truncation: int | None = None
    truncation: int | None = None  # 2.5 Truncation code
    rtf_truncation: int | None = None  # 2.5
    conflict: int | None = None
    max_items: int | None = None
    rights_management: bool | None = None
    options_class: str | None = None  # Options/Class (SMS next to Email, 14.0+)
    get_changes: bool | int | None = None  # None: omitted with key 0, empty <GetChanges/> otherwise
    deletes_as_moves: bool | None = None
    conversation_mode: bool | None = None
    supported: Sequence[str] | None = None  # tags, e.g. "Calendar:DtStamp"; only with key 0
    commands: Sequence[Element] = ()
    item_class: str | None = None  # Collection/Class for <=12.1; derived from the folder type if None
    sync_key: str | None = None  # override the key the device holds
    resolve: bool = True  # False: send `collection` as the CollectionId even if no folder has it


# ---------------------------------------------------------------------------------------------
# Results

@dataclass(kw_only=True)
class Result:
    http_status: int
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    tree: Element | None = field(default=None, repr=False)
    error: str | None = None  # the response could not be read (not WBXML, wrong root...)

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.error is None and self.status in (None, 1)

    @property
    def needs_provisioning(self) -> bool:
        """HTTP 449 (<=12.1) or an in-body 140-144 (14.0+): Provision, then retry."""
        return self.http_status == 449 or self.status in PROVISIONING_STATUSES


@dataclass(kw_only=True)
class OptionsResult(Result):
    versions: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    server_version: str | None = None


@dataclass(kw_only=True)
class ProvisionResult(Result):
    phase: int  # 1 = initial request, 2 = acknowledgement, 3 = remote-wipe acknowledgement
    policy_type: str | None = None
    policy_status: int | None = None
    policy_key: str | None = None
    policy_data: Element | str | None = None  # EASProvisionDoc, or the WAP XML text for 2.5
    remote_wipe: bool = False
    account_only_remote_wipe: bool = False
    device_information_status: int | None = None
    initial: ProvisionResult | None = field(default=None, repr=False)  # phase 1, on Device.provision()'s result

    @property
    def policy(self) -> dict[str, str | None]:
        """EASProvisionDoc settings by name (values as sent; None for empty tags); from the
        phase-1 result when this one carries no policy document."""
        if not isinstance(self.policy_data, Element):
            return self.initial.policy if self.initial is not None else {}
        return {child.name: _str(child.value) for child in self.policy_data.children if not child.children}


@dataclass(kw_only=True)
class FolderSyncResult(Result):
    sync_key: str | None = None
    count: int | None = None
    added: list[Folder] = field(default_factory=list)
    updated: list[Folder] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


@dataclass
class ItemResponse:
    """One entry of Sync Collection/Responses."""

    kind: str  # Add, Change, Delete, Fetch
    status: int | None
    server_id: str | None = None
    client_id: str | None = None
    data: Element | None = None


@dataclass
class CollectionResult:
    collection_id: str
    status: int | None
    sync_key: str | None
    more_available: bool = False
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    soft_deleted: list[str] = field(default_factory=list)
    items: dict[str, Element] = field(default_factory=dict)  # added/changed here, as now held
    responses: list[ItemResponse] = field(default_factory=list)
    fetched: dict[str, Element] = field(default_factory=dict)
    item_class: str | None = None


@dataclass(kw_only=True)
class SyncResult(Result):
    """`status` is Sync/Status when the server sent one, else the first collection's Status."""

    global_status: int | None = None
    limit: int | None = None
    empty_response: bool = False
    collections: dict[str, CollectionResult] = field(default_factory=dict)

    def _first(self) -> CollectionResult | None:
        return next(iter(self.collections.values()), None)

    def collection(self, collection_id: str) -> CollectionResult:
        return self.collections[collection_id]

    @property
    def sync_key(self) -> str | None:
        c = self._first()
        return c.sync_key if c else None

    @property
    def more_available(self) -> bool:
        return any(c.more_available for c in self.collections.values())

    def _merged(self, attr: str) -> list[str]:
        return [sid for c in self.collections.values() for sid in getattr(c, attr)]

    @property
    def added(self) -> list[str]:
        return self._merged("added")

    @property
    def changed(self) -> list[str]:
        return self._merged("changed")

    @property
    def deleted(self) -> list[str]:
        return self._merged("deleted")

    @property
    def soft_deleted(self) -> list[str]:
        return self._merged("soft_deleted")

    @property
    def items(self) -> dict[str, Element]:
        return {sid: data for c in self.collections.values() for sid, data in c.items.items()}

    @property
    def responses(self) -> list[ItemResponse]:
        return [r for c in self.collections.values() for r in c.responses]

    @property
    def fetched(self) -> dict[str, Element]:
        return {sid: data for c in self.collections.values() for sid, data in c.fetched.items()}


@dataclass(kw_only=True)
class PingResult(Result):
    folders: list[str] = field(default_factory=list)
    heartbeat_interval: int | None = None
    max_folders: int | None = None

    @property
    def ok(self) -> bool:
        return self.http_status == 200 and self.error is None and self.status in (1, 2)

    @property
    def changed(self) -> bool:
        return self.status == 2

    @property
    def needs_folder_sync(self) -> bool:
        return self.status == 7


@dataclass
class EstimateResponse:
    status: int | None
    collection_id: str | None
    estimate: int | None


@dataclass(kw_only=True)
class EstimateResult(Result):
    """`status` is GetItemEstimate/Status if present, else the first Response's Status."""

    responses: list[EstimateResponse] = field(default_factory=list)

    @property
    def estimates(self) -> dict[str, int | None]:
        return {r.collection_id: r.estimate for r in self.responses if r.collection_id is not None}

    @property
    def estimate(self) -> int | None:
        return self.responses[0].estimate if self.responses else None


@dataclass(kw_only=True)
class CommandResult(Result):
    pass


# ---------------------------------------------------------------------------------------------
# The device

def _flag(value: bool | int) -> str:
    return "1" if value else "0"


def _preference_tuple(pref: BodyPreference | int) -> tuple:
    """(type, truncation_size, all_or_none, preview) from an int or a 1-4 tuple."""
    if isinstance(pref, int):
        pref = (pref,)
    return (tuple(pref) + (None, None, None))[:4]


class UnknownFolder(KeyError):
    pass


class SimulatedDevice:
    """Builds requests and reads responses for one device partnership (user + DeviceId)."""

    def __init__(self, user: str | None = None, *, device_id: str = DEFAULT_DEVICE_ID,
                 device_type: str = DEFAULT_DEVICE_TYPE, protocol_version: str = DEFAULT_VERSION,
                 user_agent: str = DEFAULT_USER_AGENT, state: DeviceState | None = None,
                 encoded_query: bool = False):
        if state is None:
            if user is None:
                raise TypeError("SimulatedDevice needs a user or a state")
            state = DeviceState(user=user, device_id=device_id, device_type=device_type,
                                user_agent=user_agent, protocol_version=protocol_version)
        if state.protocol_version not in versions.SUPPORTED:
            raise ValueError(f"protocol version {state.protocol_version!r} is not one of {versions.SUPPORTED}")
        self.state = state
        self.encoded_query = encoded_query
        self._last_sync_collections: list[str] = []

    @property
    def version(self) -> str:
        return self.state.protocol_version

    def at_least(self, version: str) -> bool:
        return versions.at_least(self.state.protocol_version, version)

    # -- folders --------------------------------------------------------------------------------
    def resolve(self, collection: str) -> str:
        """A collection id from a ServerId or a folder display name; raises UnknownFolder."""
        if collection in self.state.folders:
            return collection
        folder = self.state.folder_by_name(collection)
        if folder is not None:
            return folder.server_id
        raise UnknownFolder(f"no folder with ServerId or name {collection!r}; FolderSync first")

    def folder_class(self, collection_id: str) -> str | None:
        folder = self.state.folders.get(collection_id)
        return folder.item_class if folder else None

    def items(self, collection: str) -> dict[str, Element]:
        return self.state.collection(self.resolve(collection)).items

    # -- request line ---------------------------------------------------------------------------
    def build(self, command: str, tree: Element | None = None, *, body: bytes | None = None,
              params: Mapping[str, str] | None = None, content_type: str | None = None,
              send_policy_key: bool = True, policy_key: str | None = None,
              headers: Mapping[str, str] | None = None, encoded_query: bool | None = None,
              save_in_sent: bool = False, accept_multipart: bool = False,
              context: dict[str, Any] | None = None) -> HTTPRequest:
        """The POST for `command`.  `policy_key` overrides the device's key for this request."""
        if tree is not None:
            body = encode(tree)
            content_type = content_type or WBXML_CONTENT_TYPE
        body = body or b""
        key = policy_key if policy_key is not None else (self.state.policy_key if send_policy_key else None)
        use_encoded = self.encoded_query if encoded_query is None else encoded_query
        out_headers: dict[str, str] = {}
        if use_encoded:
            path = f"{ENDPOINT}?{self._encoded_query(command, key, params or {}, save_in_sent, accept_multipart)}"
        else:
            pairs = [("Cmd", command), ("User", self.state.user), ("DeviceId", self.state.device_id),
                     ("DeviceType", self.state.device_type)]
            pairs += list((params or {}).items())
            if save_in_sent:
                pairs.append(("SaveInSent", "T"))
            path = f"{ENDPOINT}?" + "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in pairs)
            out_headers["MS-ASProtocolVersion"] = self.state.protocol_version
            if key is not None:
                out_headers["X-MS-PolicyKey"] = key
            if accept_multipart:
                out_headers["MS-ASAcceptMultiPart"] = "T"
        out_headers["User-Agent"] = self.state.user_agent
        if body:
            out_headers["Content-Type"] = content_type or WBXML_CONTENT_TYPE
        out_headers.update(headers or {})
        return HTTPRequest("POST", path, out_headers, body, command, tree, context or {})

    def _encoded_query(self, command: str, key: str | None, params: Mapping[str, str],
                       save_in_sent: bool, accept_multipart: bool) -> str:
        """MS-ASHTTP 2.2.1.1.1.1: the base64 form of the query (12.1 and later)."""
        if not self.at_least("12.1"):
            raise ValueError("the base64-encoded query exists only for 12.1 and later")
        code = _CODE_OF_COMMAND.get(command)
        if code is None:
            raise ValueError(f"{command} has no command code in the base64-encoded query")
        major, minor = versions.key(self.state.protocol_version)
        device_id = self.state.device_id.encode("utf-8")
        device_type = self.state.device_type.encode("ascii")
        if not 0 < len(device_id) < 256 or len(device_type) > 255:
            raise ValueError("DeviceId/DeviceType too long for the base64-encoded query")
        raw = bytearray(struct.pack("<BBHB", major * 10 + minor, code, self.state.locale, len(device_id)))
        raw += device_id
        if key is None:
            raw.append(0)
        else:
            if not key.isdigit() or int(key) > 0xFFFFFFFF:
                raise ValueError(f"policy key {key!r} is not a uint32; the encoded query cannot carry it")
            raw.append(4)
            raw += struct.pack("<I", int(key))
        raw.append(len(device_type))
        raw += device_type

        def param(name: str, value: bytes) -> None:
            if len(value) > 255:
                raise ValueError(f"parameter {name} longer than 255 bytes")
            raw.extend((_TAG_OF_PARAMETER[name], len(value)))
            raw.extend(value)

        param("User", self.state.user.encode("utf-8"))
        for name, value in params.items():
            if name not in _TAG_OF_PARAMETER:
                raise ValueError(f"parameter {name} has no tag in the base64-encoded query")
            param(name, str(value).encode("utf-8"))
        options = (OPTION_SAVE_IN_SENT if save_in_sent else 0) | (OPTION_ACCEPT_MULTIPART if accept_multipart else 0)
        if options:
            param("Options", bytes((options,)))
        return base64.b64encode(bytes(raw)).decode("ascii")

    # -- OPTIONS --------------------------------------------------------------------------------
    def options(self) -> HTTPRequest:
        return HTTPRequest("OPTIONS", ENDPOINT, {"User-Agent": self.state.user_agent}, b"", "OPTIONS")

    # -- Provision ------------------------------------------------------------------------------
    def policy_type(self) -> str:
        return EAS_POLICY_TYPE if self.at_least("12.0") else WAP_POLICY_TYPE

    def device_information(self) -> Element:
        """settings:DeviceInformation{ Set{ ... } } with the fields this version defines."""
        info = self.state.info
        return E(
            "Settings:DeviceInformation",
            E("Settings:Set",
              E("Settings:Model", info.model),
              E("Settings:IMEI", info.imei) if info.imei else None,
              E("Settings:FriendlyName", info.friendly_name) if info.friendly_name else None,
              E("Settings:OS", info.os) if info.os else None,
              E("Settings:OSLanguage", info.os_language) if info.os_language else None,
              E("Settings:PhoneNumber", info.phone_number) if info.phone_number else None,
              E("Settings:UserAgent", self.state.user_agent) if self.at_least("12.1") else None,
              E("Settings:MobileOperator", info.mobile_operator) if info.mobile_operator and self.at_least("14.0") else None),
        )

    def provision(self, *, device_information: bool | None = None) -> HTTPRequest:
        """Phase 1: ask for the policy.  No X-MS-PolicyKey is sent.  DeviceInformation goes in
        for 14.1+ (pass device_information=False/True to force it out/in)."""
        include = self.at_least("14.1") if device_information is None else device_information
        tree = E(
            "Provision:Provision",
            self.device_information() if include else None,
            E("Provision:Policies", E("Provision:Policy", E("Provision:PolicyType", self.policy_type()))),
        )
        return self.build("Provision", tree, send_policy_key=False, context={"phase": 1})

    def provision_ack(self, status: int = 1, *, policy_key: str | None = None) -> HTTPRequest:
        """Phase 2: acknowledge the policy with the temporary key (header and body)."""
        key = policy_key or self.state.temporary_policy_key
        if key is None:
            raise RuntimeError("no temporary policy key to acknowledge; send provision() first")
        tree = E(
            "Provision:Provision",
            E("Provision:Policies", E("Provision:Policy",
                                      E("Provision:PolicyType", self.policy_type()),
                                      E("Provision:PolicyKey", key),
                                      E("Provision:Status", status))),
        )
        return self.build("Provision", tree, policy_key=key, context={"phase": 2, "ack_status": status})

    def remote_wipe_ack(self, status: int = 1, *, account_only: bool = False) -> HTTPRequest:
        name = "Provision:AccountOnlyRemoteWipe" if account_only else "Provision:RemoteWipe"
        tree = E("Provision:Provision", E(name, E("Provision:Status", status)))
        return self.build("Provision", tree, context={"phase": 3, "ack_status": status})

    def settings_device_information(self) -> HTTPRequest:
        """Settings{ DeviceInformation } (the <=14.0 way to report the device, 12.0+)."""
        return self.build("Settings", E("Settings:Settings", self.device_information()))

    # -- FolderSync -----------------------------------------------------------------------------
    def folder_sync(self, sync_key: str | None = None) -> HTTPRequest:
        key = self.state.hierarchy_sync_key if sync_key is None else sync_key
        tree = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", key))
        return self.build("FolderSync", tree, context={"sync_key": key})

    # -- Sync -----------------------------------------------------------------------------------
    def sync(self, collection: str, *, wait: int | None = None, heartbeat_interval: int | None = None,
             global_window_size: int | None = None, partial: bool = False, **options: Any) -> HTTPRequest:
        """Sync of one collection; `options` are the fields of SyncCollection (window_size,
        filter_type, body_preferences=[(type, truncation_size, all_or_none)], mime_support,
        get_changes, deletes_as_moves, conversation_mode, commands=[...], ...)."""
        return self.sync_many([SyncCollection(collection, **options)], wait=wait, heartbeat_interval=heartbeat_interval,
                              window_size=global_window_size, partial=partial)

    def sync_many(self, collections: Iterable[SyncCollection | str], *, wait: int | None = None,
                  heartbeat_interval: int | None = None, window_size: int | None = None,
                  partial: bool = False) -> HTTPRequest:
        specs = [c if isinstance(c, SyncCollection) else SyncCollection(c) for c in collections]
        built: list[Element] = []
        sent: dict[str, dict[str, Any]] = {}
        for spec in specs:
            cid = self.resolve(spec.collection) if spec.resolve else spec.collection
            key = spec.sync_key if spec.sync_key is not None else self.state.sync_key(cid)
            built.append(self._collection_element(cid, key, spec))
            sent[cid] = {"sync_key": key, "commands": list(spec.commands)}
        tree = E(
            "AirSync:Sync",
            E("AirSync:Collections", *built) if built else None,
            E("AirSync:Wait", wait) if wait is not None else None,
            E("AirSync:HeartbeatInterval", heartbeat_interval) if heartbeat_interval is not None else None,
            E("AirSync:WindowSize", window_size) if window_size is not None else None,
            E("AirSync:Partial") if partial else None,
        )
        self._last_sync_collections = list(sent)
        return self.build("Sync", tree, context={"collections": sent, "hold": self._hold_seconds(wait, heartbeat_interval)})

    def long_poll_sync(self, collections: Iterable[SyncCollection | str], seconds: int, **kw: Any) -> HTTPRequest:
        """A Sync held by the server: HeartbeatInterval (14.0+) or Wait in minutes (12.1)."""
        if self.at_least("14.0"):
            return self.sync_many(collections, heartbeat_interval=seconds, **kw)
        if self.at_least("12.1"):
            return self.sync_many(collections, wait=max(1, -(-seconds // 60)), **kw)
        raise ValueError("Wait/HeartbeatInterval need 12.1 or later")

    def empty_sync(self) -> HTTPRequest:
        """A Sync with no body (12.1+): the server repeats the last full request it cached."""
        sent = {cid: {"sync_key": self.state.sync_key(cid), "commands": []}
                for cid in self._last_sync_collections}
        return self.build("Sync", None, context={"collections": sent, "empty_request": True})

    @staticmethod
    def _hold_seconds(wait: int | None, heartbeat: int | None) -> int:
        if heartbeat is not None:
            return heartbeat
        if wait is not None:
            return wait * 60
        return 0

    def _collection_element(self, cid: str, key: str, spec: SyncCollection) -> Element:
        legacy_class = None
        if not self.at_least("14.0"):
            legacy_class = spec.item_class or self.folder_class(cid)
        get_changes = spec.get_changes
        if get_changes is None:
            changes_el = None if key == "0" else E("AirSync:GetChanges")
        elif get_changes is True:
            changes_el = E("AirSync:GetChanges")
        else:
            changes_el = E("AirSync:GetChanges", int(get_changes))
        supported = None
        if spec.supported is not None:
            supported = E("AirSync:Supported", *[E(tag) for tag in spec.supported])
        return E(
            "AirSync:Collection",
            E("AirSync:Class", legacy_class) if legacy_class else None,
            E("AirSync:SyncKey", key),
            E("AirSync:CollectionId", cid),
            supported,
            E("AirSync:DeletesAsMoves", _flag(spec.deletes_as_moves)) if spec.deletes_as_moves is not None else None,
            changes_el,
            E("AirSync:WindowSize", spec.window_size) if spec.window_size is not None else None,
            E("AirSync:ConversationMode", _flag(spec.conversation_mode)) if spec.conversation_mode is not None else None,
            self._options_element(spec),
            E("AirSync:Commands", *spec.commands) if spec.commands else None,
        )

    def _options_element(self, spec: SyncCollection) -> Element | None:
        truncation = spec.truncation
        body_prefs = [_preference_tuple(p) for p in spec.body_preferences or ()]
        if not self.at_least("12.0") and body_prefs:
            # 2.5 has no AirSyncBase: express the (first) preference as a Truncation code.
            if truncation is None:
                truncation = truncation_code(body_prefs[0][1])
            body_prefs = []
        children = [
            E("AirSync:Class", spec.options_class) if spec.options_class else None,
            E("AirSync:FilterType", spec.filter_type) if spec.filter_type is not None else None,
            E("AirSync:Conflict", spec.conflict) if spec.conflict is not None else None,
            E("AirSync:MIMESupport", spec.mime_support) if spec.mime_support is not None else None,
            E("AirSync:MIMETruncation", spec.mime_truncation) if spec.mime_truncation is not None else None,
            E("AirSync:Truncation", truncation) if truncation is not None else None,
            E("AirSync:RTFTruncation", spec.rtf_truncation) if spec.rtf_truncation is not None else None,
            E("AirSync:MaxItems", spec.max_items) if spec.max_items is not None else None,
            *[self._preference("AirSyncBase:BodyPreference", p) for p in body_prefs],
            *[self._preference("AirSyncBase:BodyPartPreference", p) for p in spec.body_part_preferences or ()],
            E("RightsManagement:RightsManagementSupport", _flag(spec.rights_management))
            if spec.rights_management is not None else None,
        ]
        children = [c for c in children if c is not None]
        return E("AirSync:Options", *children) if children else None

    @staticmethod
    def _preference(tag: str, pref: BodyPreference | int) -> Element:
        body_type, size, all_or_none, preview = _preference_tuple(pref)
        return E(
            tag,
            E("AirSyncBase:Type", body_type),
            E("AirSyncBase:TruncationSize", size) if size is not None else None,
            E("AirSyncBase:AllOrNone", _flag(all_or_none)) if all_or_none is not None else None,
            E("AirSyncBase:Preview", preview) if preview is not None else None,
        )

    # -- GetItemEstimate ------------------------------------------------------------------------
    def get_item_estimate(self, collections: Iterable[str | tuple[str, str]] | str, *,
                          filter_type: int | None = None, conversation_mode: bool | None = None,
                          max_items: int | None = None, item_class: str | None = None) -> HTTPRequest:
        """A collection is a ServerId or display name, or an (id, class) pair sent as given.  The
        SyncKey is the one the device holds for it (the last Sync's)."""
        if isinstance(collections, str):
            collections = [collections]
        built = []
        for collection in collections:
            if isinstance(collection, tuple):
                cid, cls = collection
            else:
                cid = self.resolve(collection)
                cls = item_class or self.folder_class(cid)
            key = self.state.sync_key(cid)
            if self.at_least("14.0"):
                opts = None
                if filter_type is not None or max_items is not None:
                    opts = E("AirSync:Options",
                             E("AirSync:Class", cls) if cls else None,
                             E("AirSync:FilterType", filter_type) if filter_type is not None else None,
                             E("AirSync:MaxItems", max_items) if max_items is not None else None)
                built.append(E(
                    "GetItemEstimate:Collection",
                    E("AirSync:SyncKey", key),
                    E("GetItemEstimate:CollectionId", cid),
                    E("AirSync:ConversationMode", _flag(conversation_mode)) if conversation_mode is not None else None,
                    opts,
                ))
            else:
                built.append(E(
                    "GetItemEstimate:Collection",
                    E("GetItemEstimate:Class", cls) if cls else None,
                    E("GetItemEstimate:CollectionId", cid),
                    E("AirSync:FilterType", filter_type) if filter_type is not None else None,
                    E("AirSync:SyncKey", key),
                ))
        tree = E("GetItemEstimate:GetItemEstimate", E("GetItemEstimate:Collections", *built))
        return self.build("GetItemEstimate", tree)

    # -- Ping -----------------------------------------------------------------------------------
    def ping(self, folders: Iterable[str | tuple[str, str]] | None = None, heartbeat: int | None = None) -> HTTPRequest:
        """Ping{ HeartbeatInterval? Folders?{ Folder{ Id Class } } }; with neither, an empty body.
        A folder is a ServerId or display name (class from its type) or an (id, class) pair.
        No X-MS-PolicyKey: Ping never carries one."""
        if folders is None and heartbeat is None:
            return self.empty_ping()
        pairs: list[tuple[str, str]] | None = None
        if folders is not None:
            pairs = []
            for f in folders:
                if isinstance(f, tuple):
                    pairs.append((f[0], f[1]))
                else:
                    cid = self.resolve(f)
                    cls = self.folder_class(cid)
                    if cls is None:
                        raise ValueError(f"folder {f!r} has no item class; pass (id, class)")
                    pairs.append((cid, cls))
        tree = E(
            "Ping:Ping",
            E("Ping:HeartbeatInterval", heartbeat) if heartbeat is not None else None,
            E("Ping:Folders", *[E("Ping:Folder", E("Ping:Id", fid), E("Ping:Class", cls)) for fid, cls in pairs])
            if pairs is not None else None,
        )
        hold = heartbeat if heartbeat is not None else (self.state.last_ping.heartbeat_interval if self.state.last_ping else None)
        return self.build("Ping", tree, send_policy_key=False,
                          context={"folders": pairs, "heartbeat": heartbeat, "hold": hold or 0})

    def empty_ping(self) -> HTTPRequest:
        hold = self.state.last_ping.heartbeat_interval if self.state.last_ping else None
        return self.build("Ping", None, send_policy_key=False,
                          context={"folders": None, "heartbeat": None, "hold": hold or 0})

    # -- anything else --------------------------------------------------------------------------
    def command(self, name: str, tree: Element | bytes | None = None, **kw: Any) -> HTTPRequest:
        """Any command: a WBXML tree, raw bytes (pass content_type=) or no body; keyword arguments
        as for build() (params=, headers=, send_policy_key=, ...)."""
        if isinstance(tree, (bytes, bytearray)):
            return self.build(name, None, body=bytes(tree), **kw)
        return self.build(name, tree, **kw)

    # =============================================================================================
    # Responses

    def receive(self, request: HTTPRequest, response: HTTPResponse | tuple) -> Result:
        """Read the answer to `request` (an HTTPResponse or (status, headers, body)), update the
        state, and return the command's result type."""
        resp = _as_response(response)
        reader = {
            "OPTIONS": self._read_options,
            "Provision": self._read_provision,
            "FolderSync": self._read_folder_sync,
            "Sync": self._read_sync,
            "Ping": self._read_ping,
            "GetItemEstimate": self._read_estimate,
        }.get(request.command, self._read_generic)
        return reader(request, resp)

    @staticmethod
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

    @staticmethod
    def _base(resp: HTTPResponse) -> dict[str, Any]:
        return {"http_status": resp.status, "headers": dict(resp.headers)}

    def _read_generic(self, request: HTTPRequest, resp: HTTPResponse) -> CommandResult:
        tree, error = self._decode(resp, request.tree.tag if request.tree is not None else None)
        status = None
        if tree is not None:
            status = _int(tree.text(f"{tree.namespace}:Status"))
        return CommandResult(**self._base(resp), status=status, tree=tree, error=error)

    def _read_options(self, request: HTTPRequest, resp: HTTPResponse) -> OptionsResult:
        def split(value: str | None) -> list[str]:
            return [v.strip() for v in (value or "").split(",") if v.strip()]

        return OptionsResult(
            **self._base(resp),
            versions=split(resp.header("MS-ASProtocolVersions")),
            commands=split(resp.header("MS-ASProtocolCommands")),
            server_version=resp.header("MS-Server-ActiveSync"),
        )

    # -- Provision ------------------------------------------------------------------------------
    def _read_provision(self, request: HTTPRequest, resp: HTTPResponse) -> ProvisionResult:
        phase = request.context.get("phase", 1)
        tree, error = self._decode(resp, "Provision:Provision")
        result = ProvisionResult(**self._base(resp), phase=phase, tree=tree, error=error)
        if tree is None or error:
            return result
        result.status = _int(tree.text("Provision:Status"))
        info = tree.find("Settings:DeviceInformation")
        if info is not None:
            result.device_information_status = _int(info.text("Settings:Status"))
        result.remote_wipe = tree.has("Provision:RemoteWipe")
        result.account_only_remote_wipe = tree.has("Provision:AccountOnlyRemoteWipe")
        policies = tree.find("Provision:Policies")
        policy = policies.find("Provision:Policy") if policies is not None else None
        if policy is not None:
            result.policy_type = policy.text("Provision:PolicyType")
            result.policy_status = _int(policy.text("Provision:Status"))
            result.policy_key = policy.text("Provision:PolicyKey")
            data = policy.find("Provision:Data")
            if data is not None:
                doc = data.find("Provision:EASProvisionDoc")
                result.policy_data = doc if doc is not None else _str(data.value)

        if phase == 3:
            if result.status == 1 and request.context.get("ack_status") == 1:
                self._wipe()
            return result
        if result.remote_wipe or result.account_only_remote_wipe:
            self.state.remote_wipe_requested = True
            return result
        if result.status != 1 or result.policy_key is None:
            return result
        if phase == 1:
            if result.policy_status in (1, None):
                self.state.temporary_policy_key = result.policy_key
        elif phase == 2 and result.policy_status == 1:
            self.state.policy_key = result.policy_key
            self.state.temporary_policy_key = None
        return result

    def _wipe(self) -> None:
        """What a device does after acknowledging a remote wipe: forget everything."""
        s = self.state
        s.policy_key = None
        s.temporary_policy_key = None
        s.remote_wipe_requested = False
        s.hierarchy_sync_key = "0"
        s.folders.clear()
        s.collections.clear()
        s.last_ping = None
        self._last_sync_collections = []

    # -- FolderSync -----------------------------------------------------------------------------
    def _read_folder_sync(self, request: HTTPRequest, resp: HTTPResponse) -> FolderSyncResult:
        tree, error = self._decode(resp, "FolderHierarchy:FolderSync")
        result = FolderSyncResult(**self._base(resp), tree=tree, error=error)
        if tree is None or error:
            return result
        result.status = _int(tree.text("FolderHierarchy:Status"))
        if result.status == 9:
            self.state.hierarchy_sync_key = "0"
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
            for sid in list(self.state.folders):
                if sid not in listed:
                    self._forget_folder(sid)
        if changes is not None:
            result.count = _int(changes.text("FolderHierarchy:Count"))
            for child in changes.children:
                kind = child.name
                if kind in ("Add", "Update"):
                    folder = Folder(
                        server_id=child.text("FolderHierarchy:ServerId") or "",
                        parent_id=child.text("FolderHierarchy:ParentId") or "0",
                        display_name=child.text("FolderHierarchy:DisplayName") or "",
                        type=_int(child.text("FolderHierarchy:Type")) or 0,
                    )
                    if kind == "Update" and folder.server_id in self.state.folders and not child.has("FolderHierarchy:Type"):
                        folder.type = self.state.folders[folder.server_id].type
                    self.state.folders[folder.server_id] = folder
                    (result.added if kind == "Add" else result.updated).append(folder)
                elif kind == "Delete":
                    sid = child.text("FolderHierarchy:ServerId") or ""
                    self._forget_folder(sid)
                    result.deleted.append(sid)
        if result.sync_key is not None:
            self.state.hierarchy_sync_key = result.sync_key
        return result

    def _forget_folder(self, server_id: str) -> None:
        self.state.folders.pop(server_id, None)
        self.state.collections.pop(server_id, None)

    # -- Sync -----------------------------------------------------------------------------------
    def _read_sync(self, request: HTTPRequest, resp: HTTPResponse) -> SyncResult:
        sent: dict[str, dict[str, Any]] = request.context.get("collections", {})
        if resp.status == 200 and not resp.body:
            # Empty Sync response: nothing changed in any requested collection; keys stay.
            return SyncResult(**self._base(resp), empty_response=True)
        tree, error = self._decode(resp, "AirSync:Sync")
        result = SyncResult(**self._base(resp), tree=tree, error=error)
        if tree is None or error:
            return result
        result.global_status = _int(tree.text("AirSync:Status"))
        result.limit = _int(tree.text("AirSync:Limit"))
        if result.global_status == 3:
            for cid in sent:
                self._reset_collection(cid)
        collections = tree.find("AirSync:Collections")
        for el in collections.findall("AirSync:Collection") if collections is not None else ():
            c = self._read_collection(el, sent)
            result.collections[c.collection_id] = c
        if result.global_status is not None:
            result.status = result.global_status
        elif result.collections:
            result.status = next(iter(result.collections.values())).status
        return result

    def _reset_collection(self, cid: str) -> None:
        state = self.state.collection(cid)
        state.sync_key = "0"
        state.items.clear()

    def _read_collection(self, el: Element, sent: dict[str, dict[str, Any]]) -> CollectionResult:
        cid = el.text("AirSync:CollectionId") or ""
        c = CollectionResult(
            collection_id=cid,
            status=_int(el.text("AirSync:Status")),
            sync_key=el.text("AirSync:SyncKey"),
            more_available=el.has("AirSync:MoreAvailable"),
            item_class=el.text("AirSync:Class"),
        )
        state = self.state.collection(cid)
        if c.status == 3:
            self._reset_collection(cid)
            return c
        asked = sent.get(cid, {})
        if c.status == 1 and asked.get("sync_key") == "0":
            state.items.clear()  # a key-0 sync starts the collection afresh
        if c.sync_key is not None:
            state.sync_key = c.sync_key

        # Responses to what the device sent.
        failed: set[str] = set()
        responses = el.find("AirSync:Responses")
        for r in responses.children if responses is not None else ():
            item = ItemResponse(
                kind=r.name,
                status=_int(r.text("AirSync:Status")),
                server_id=r.text("AirSync:ServerId"),
                client_id=r.text("AirSync:ClientId"),
                data=r.find("AirSync:ApplicationData"),
            )
            c.responses.append(item)
            if item.kind in ("Change", "Delete") and item.status not in (None, 1) and item.server_id:
                failed.add(item.server_id)
            if item.kind == "Fetch" and item.status == 1 and item.server_id and item.data is not None:
                state.items[item.server_id] = item.data
                c.fetched[item.server_id] = item.data
            if item.kind == "Add" and item.status == 1 and item.server_id:
                mine = self._sent_add(asked, item.client_id)
                if mine is not None:
                    state.items[item.server_id] = mine
        # Silence means success: apply the device's own changes and deletes to what it holds.
        if c.status == 1:
            for cmd in asked.get("commands", ()):
                sid = cmd.text("AirSync:ServerId")
                if sid is None or sid in failed:
                    continue
                if cmd.tag == "AirSync:Change" and sid in state.items:
                    data = cmd.find("AirSync:ApplicationData")
                    if data is not None:
                        state.items[sid] = _merge(state.items[sid], data)
                elif cmd.tag == "AirSync:Delete":
                    state.items.pop(sid, None)

        # The server's changes.
        commands = el.find("AirSync:Commands")
        for cmd in commands.children if commands is not None else ():
            sid = cmd.text("AirSync:ServerId")
            if sid is None:
                continue
            data = cmd.find("AirSync:ApplicationData")
            if cmd.name == "Add":
                state.items[sid] = data if data is not None else E("AirSync:ApplicationData")
                c.added.append(sid)
                c.items[sid] = state.items[sid]
            elif cmd.name == "Change":
                old = state.items.get(sid)
                new = data if data is not None else E("AirSync:ApplicationData")
                state.items[sid] = _merge(old, new) if old is not None else new
                c.changed.append(sid)
                c.items[sid] = state.items[sid]
            elif cmd.name == "Delete":
                state.items.pop(sid, None)
                c.deleted.append(sid)
            elif cmd.name == "SoftDelete":
                state.items.pop(sid, None)
                c.soft_deleted.append(sid)
        return c

    @staticmethod
    def _sent_add(asked: dict[str, Any], client_id: str | None) -> Element | None:
        for cmd in asked.get("commands", ()):
            if cmd.tag == "AirSync:Add" and cmd.text("AirSync:ClientId") == client_id:
                return cmd.find("AirSync:ApplicationData")
        return None

    # -- Ping -----------------------------------------------------------------------------------
    def _read_ping(self, request: HTTPRequest, resp: HTTPResponse) -> PingResult:
        tree, error = self._decode(resp, "Ping:Ping")
        result = PingResult(**self._base(resp), tree=tree, error=error)
        if tree is None or error:
            return result
        result.status = _int(tree.text("Ping:Status"))
        folders = tree.find("Ping:Folders")
        if folders is not None:
            result.folders = [_str(f.value) or "" for f in folders.findall("Ping:Folder")]
        result.heartbeat_interval = _int(tree.text("Ping:HeartbeatInterval"))
        result.max_folders = _int(tree.text("Ping:MaxFolders"))
        if result.status in (1, 2):
            # The server accepted the parameters; it caches them, and so does the device.
            ctx = request.context
            previous = self.state.last_ping
            pairs = ctx.get("folders")
            heartbeat = ctx.get("heartbeat")
            if pairs is not None or heartbeat is not None:
                self.state.last_ping = PingParameters(
                    list(pairs) if pairs is not None else (previous.folders if previous else []),
                    heartbeat if heartbeat is not None else (previous.heartbeat_interval if previous else None),
                )
        return result

    # -- GetItemEstimate ------------------------------------------------------------------------
    def _read_estimate(self, request: HTTPRequest, resp: HTTPResponse) -> EstimateResult:
        tree, error = self._decode(resp, "GetItemEstimate:GetItemEstimate")
        result = EstimateResult(**self._base(resp), tree=tree, error=error)
        if tree is None or error:
            return result
        top = _int(tree.text("GetItemEstimate:Status"))
        for r in tree.findall("GetItemEstimate:Response"):
            coll = r.find("GetItemEstimate:Collection")
            result.responses.append(EstimateResponse(
                status=_int(r.text("GetItemEstimate:Status")),
                collection_id=coll.text("GetItemEstimate:CollectionId") if coll is not None else None,
                estimate=_int(coll.text("GetItemEstimate:Estimate")) if coll is not None else None,
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
