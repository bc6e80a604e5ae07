"""Items as the device holds them, and what it sends about them.

`Item` reads one item's ApplicationData whatever its class and protocol version (AirSyncBase
bodies from 12.0, the class's own Body before).  The builders make the Sync Commands a device
sends (Change, Delete, Fetch, Add) and MeetingResponse Requests; `SyncCollection` is one
Collection of a Sync request.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from easlab.eas.wbxml import E, Element

# 2.5 airsync:Truncation codes and the number of characters each keeps (9 = no truncation).
TRUNCATION_SIZES = {0: 0, 1: 512, 2: 1024, 3: 2048, 4: 5120, 5: 10240, 6: 20480, 7: 51200, 8: 102400}


def truncation_code(size: int | None) -> int:
    """The 2.5 Truncation code that keeps at most `size` characters (None: 9, no truncation)."""
    if size is None:
        return 9
    best = 0
    for code, chars in TRUNCATION_SIZES.items():
        if chars <= size:
            best = code
    return best


@dataclass(frozen=True)
class Attachment:
    name: str | None
    file_reference: str | None  # airsyncbase:FileReference (12.0+) or email:AttName (2.5)
    size: int | None
    method: int | None = None
    content_id: str | None = None
    is_inline: bool = False


def as_text(value: str | bytes | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def as_int(value: str | None) -> int | None:
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
        return as_int(self.data.text("Email:Importance"))

    @property
    def read(self) -> bool | None:
        value = self.data.text("Email:Read")
        return None if value is None else value == "1"

    @property
    def flag_status(self) -> int | None:
        flag = self.data.find("Email:Flag")
        if flag is None:
            return None
        return as_int(flag.text("Email:Status")) or 0

    @property
    def categories(self) -> list[str]:
        for tag, child in (("Email:Categories", "Email:Category"), ("Calendar:Categories", "Calendar:Category"),
                           ("Contacts:Categories", "Contacts:Category"), ("Tasks:Categories", "Tasks:Category"),
                           ("Notes:Categories", "Notes:Category")):
            found = self.data.find(tag)
            if found is not None:
                return [as_text(c.value) or "" for c in found.findall(child)]
        return []

    # -- body: airsyncbase:Body (12.0+) or the class's own Body (2.5) ---------------------------
    def _body(self) -> Element | None:
        return self.data.find("AirSyncBase:Body")

    @property
    def body_type(self) -> int | None:
        body = self._body()
        if body is not None:
            return as_int(body.text("AirSyncBase:Type"))
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
            return as_int(body.text("AirSyncBase:EstimatedDataSize"))
        return as_int(self.data.text("Email:BodySize"))

    @property
    def preview(self) -> str | None:
        body = self._body()
        return None if body is None else body.text("AirSyncBase:Preview")

    @property
    def native_body_type(self) -> int | None:
        return as_int(self.data.text("AirSyncBase:NativeBodyType"))

    @property
    def attachments(self) -> list[Attachment]:
        found: list[Attachment] = []
        modern = self.data.find("AirSyncBase:Attachments")
        if modern is not None:
            for a in modern.findall("AirSyncBase:Attachment"):
                found.append(Attachment(
                    name=a.text("AirSyncBase:DisplayName"),
                    file_reference=a.text("AirSyncBase:FileReference"),
                    size=as_int(a.text("AirSyncBase:EstimatedDataSize")),
                    method=as_int(a.text("AirSyncBase:Method")),
                    content_id=a.text("AirSyncBase:ContentId"),
                    is_inline=a.text("AirSyncBase:IsInline") == "1",
                ))
        legacy = self.data.find("Email:Attachments")
        if legacy is not None:
            for a in legacy.findall("Email:Attachment"):
                found.append(Attachment(
                    name=a.text("Email:DisplayName") or a.text("Email:AttName"),
                    file_reference=a.text("Email:AttName"),
                    size=as_int(a.text("Email:AttSize")),
                    method=as_int(a.text("Email:AttMethod")),
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

