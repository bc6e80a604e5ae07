"""What `SimulatedDevice.receive()` returns: one typed result per command, with the HTTP status,
the command's Status and what the answer carried."""
from __future__ import annotations

from dataclasses import dataclass, field

from easlab.eas.wbxml import Element

from .items import as_text
from .state import Folder

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
        return {child.name: as_text(child.value) for child in self.policy_data.children if not child.children}


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
