"""A simulated EAS device, without I/O: it builds requests as plain data and reads responses.

The device never opens a socket.  Every builder returns an `HTTPRequest` (method, path and query,
headers, body); whoever holds a connection sends it and hands the answer back to `receive()` as
`(status, headers, body)`.  `receive()` updates the device's `DeviceState` (policy key, hierarchy
SyncKey, folders, per-collection SyncKeys and the items held) and returns a typed result.
`easlab.testing.aio.Device` is the asynchronous HTTP wrapper; tests can also drive this class directly
with hand-built response trees.

Written from the team's protocol digest (MS-ASHTTP, MS-ASCMD, MS-ASPROV, MS-ASAIRS), not from the
server's code, so that it checks the server rather than mirroring it:

    device = SimulatedDevice("alice", device_id="sim1", protocol_version="14.1")
    request = device.folder_sync()
    result = device.receive(request, (200, {"Content-Type": ...}, body_bytes))
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from easlab.eas import versions
from easlab.eas.wbxml import E, Element, encode

from .http import ENDPOINT, WBXML_CONTENT_TYPE, HTTPRequest, HTTPResponse, as_response, base64_query, plain_query
from .items import BodyPreference, SyncCollection, truncation_code
from .readers import read
from .results import Result
from .state import DEFAULT_DEVICE_ID, DEFAULT_DEVICE_TYPE, DEFAULT_USER_AGENT, DEFAULT_VERSION, DeviceState

EAS_POLICY_TYPE = "MS-EAS-Provisioning-WBXML"  # 12.0 and later
WAP_POLICY_TYPE = "MS-WAP-Provisioning-XML"  # 2.5


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
            path = f"{ENDPOINT}?{base64_query(self.state, command, key, params or {}, save_in_sent, accept_multipart)}"
        else:
            path = f"{ENDPOINT}?{plain_query(self.state, command, params or {}, save_in_sent)}"
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
        self.state.last_sync_collections = list(sent)
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
                for cid in self.state.last_sync_collections}
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

    def receive(self, request: HTTPRequest, response: HTTPResponse | tuple) -> Result:
        """Read the answer to `request` (an HTTPResponse or (status, headers, body)), update the
        state, and return the command's result type."""
        return read(self.state, request, as_response(response))
