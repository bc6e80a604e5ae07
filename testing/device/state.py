"""What a simulated device holds: its identity, policy keys, the folder hierarchy, and per
collection the SyncKey and the items as last sent.  `DeviceState.to_dict()`/`from_dict()` keep it
in JSON between runs of the command-line client.
"""
from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from easlab.eas.wbxml import Element, decode, encode

DEFAULT_DEVICE_ID = "EASLABSIM0001"
DEFAULT_DEVICE_TYPE = "EASLabSim"
DEFAULT_USER_AGENT = "easlab-simulated-device/0.1"
DEFAULT_VERSION = "14.1"

# Folder Type (MS-ASCMD FolderSync) -> the class of the items in it, as Sync (<=12.1), Ping and
# GetItemEstimate name it.  Generic user folders (1) and unknown (18) are treated as mail.
FOLDER_CLASS = {
    1: "Email", 2: "Email", 3: "Email", 4: "Email", 5: "Email", 6: "Email", 12: "Email", 18: "Email",
    7: "Tasks", 15: "Tasks",
    8: "Calendar", 13: "Calendar",
    9: "Contacts", 14: "Contacts", 19: "Contacts",
    10: "Notes", 17: "Notes",
}


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
    # The collections of the last full Sync, which an empty Sync (12.1+) stands for.  Left out of
    # the JSON form: an empty Sync is read against what this process sent, not an earlier run.
    last_sync_collections: list[str] = field(default_factory=list, repr=False, compare=False)

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

    def forget_folder(self, server_id: str) -> None:
        self.folders.pop(server_id, None)
        self.collections.pop(server_id, None)

    def reset_collection(self, collection_id: str) -> None:
        state = self.collection(collection_id)
        state.sync_key = "0"
        state.items.clear()

    def wipe(self) -> None:
        """What a device does after acknowledging a remote wipe: forget everything."""
        self.policy_key = None
        self.temporary_policy_key = None
        self.remote_wipe_requested = False
        self.hierarchy_sync_key = "0"
        self.folders.clear()
        self.collections.clear()
        self.last_ping = None
        self.last_sync_collections = []

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

