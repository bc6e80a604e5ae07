"""HTTP as plain data: the request a device builds, the answer it is handed, and the request line.

The device never opens a socket.  Whoever holds a connection sends an `HTTPRequest` as built and
hands the answer back as an `HTTPResponse` (or a `(status, headers, body)` tuple).

The base64 query's tables are the client's own copy of MS-ASHTTP 2.2.1.1.1.1.2-3, not the
server's (`easlab.eas.request`): a wrong code on either side then shows up as a failed request
instead of two sides agreeing on the same mistake.
"""
from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from easlab.eas import versions
from easlab.eas.wbxml import Element

if TYPE_CHECKING:
    from .state import DeviceState

ENDPOINT = "/Microsoft-Server-ActiveSync"
WBXML_CONTENT_TYPE = "application/vnd.ms-sync.wbxml"

# MS-ASHTTP 2.2.1.1.1.1.2: the command codes of the base64-encoded query.
COMMAND_CODE = {
    "Sync": 0, "SendMail": 1, "SmartForward": 2, "SmartReply": 3, "GetAttachment": 4,
    "FolderSync": 9, "FolderCreate": 10, "FolderDelete": 11, "FolderUpdate": 12, "MoveItems": 13,
    "GetItemEstimate": 14, "MeetingResponse": 15, "Search": 16, "Settings": 17, "Ping": 18,
    "ItemOperations": 19, "Provision": 20, "ResolveRecipients": 21, "ValidateCert": 22, "Find": 23,
}
# MS-ASHTTP 2.2.1.1.1.1.3: the parameter tags (2 CollectionName and 5 ParentId are obsolete).
PARAMETER_TAG = {
    "AttachmentName": 0, "CollectionId": 1, "CollectionName": 2, "ItemId": 3, "LongId": 4,
    "ParentId": 5, "Occurrence": 6, "Options": 7, "User": 8,
}
# The bits of the Options parameter (tag 7).
OPTION_SAVE_IN_SENT = 0x01
OPTION_ACCEPT_MULTIPART = 0x02


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


def as_response(response: HTTPResponse | tuple) -> HTTPResponse:
    if isinstance(response, HTTPResponse):
        return response
    status, headers, body = response
    return HTTPResponse(int(status), dict(headers or {}), bytes(body or b""))


def plain_query(state: DeviceState, command: str, params: Mapping[str, str], save_in_sent: bool) -> str:
    """MS-ASHTTP 2.2.1.1.1.1: the query as name=value pairs."""
    pairs = [("Cmd", command), ("User", state.user), ("DeviceId", state.device_id),
             ("DeviceType", state.device_type)]
    pairs += list(params.items())
    if save_in_sent:
        pairs.append(("SaveInSent", "T"))
    return "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in pairs)


def base64_query(state: DeviceState, command: str, key: str | None, params: Mapping[str, str],
                  save_in_sent: bool, accept_multipart: bool) -> str:
    """MS-ASHTTP 2.2.1.1.1.1: the base64 form of the query (12.1 and later)."""
    if not versions.at_least(state.protocol_version, "12.1"):
        raise ValueError("the base64-encoded query exists only for 12.1 and later")
    code = COMMAND_CODE.get(command)
    if code is None:
        raise ValueError(f"{command} has no command code in the base64-encoded query")
    major, minor = versions.key(state.protocol_version)
    device_id = state.device_id.encode("utf-8")
    device_type = state.device_type.encode("ascii")
    if not 0 < len(device_id) < 256 or len(device_type) > 255:
        raise ValueError("DeviceId/DeviceType too long for the base64-encoded query")
    raw = bytearray(struct.pack("<BBHB", major * 10 + minor, code, state.locale, len(device_id)))
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
    _parameter(raw, "User", state.user.encode("utf-8"))
    for name, value in params.items():
        if name not in PARAMETER_TAG:
            raise ValueError(f"parameter {name} has no tag in the base64-encoded query")
        _parameter(raw, name, str(value).encode("utf-8"))
    options = (OPTION_SAVE_IN_SENT if save_in_sent else 0) | (OPTION_ACCEPT_MULTIPART if accept_multipart else 0)
    if options:
        _parameter(raw, "Options", bytes((options,)))
    return base64.b64encode(bytes(raw)).decode("ascii")


def _parameter(raw: bytearray, name: str, value: bytes) -> None:
    if len(value) > 255:
        raise ValueError(f"parameter {name} longer than 255 bytes")
    raw.extend((PARAMETER_TAG[name], len(value)))
    raw.extend(value)
