"""The request line of an EAS POST: the query string in either of MS-ASHTTP's two forms, plus the
headers that carry protocol state.  Pure parsing; the server hands in strings and bytes.
"""
from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from . import versions

# MS-ASHTTP 2.2.1.1.1.1.2: command codes of the base64-encoded query.
COMMAND_CODES = {
    0: "Sync", 1: "SendMail", 2: "SmartForward", 3: "SmartReply", 4: "GetAttachment",
    9: "FolderSync", 10: "FolderCreate", 11: "FolderDelete", 12: "FolderUpdate", 13: "MoveItems",
    14: "GetItemEstimate", 15: "MeetingResponse", 16: "Search", 17: "Settings", 18: "Ping",
    19: "ItemOperations", 20: "Provision", 21: "ResolveRecipients", 22: "ValidateCert", 23: "Find",
}
# MS-ASHTTP 2.2.1.1.1.1.3: parameter tags of the base64-encoded query (2 and 5 are obsolete).
PARAMETER_TAGS = {
    0: "AttachmentName", 1: "CollectionId", 2: "CollectionName", 3: "ItemId", 4: "LongId",
    5: "ParentId", 6: "Occurrence", 7: "Options", 8: "User",
}
# Bits of the Options parameter (tag 7).
OPTION_SAVE_IN_SENT = 0x01
OPTION_ACCEPT_MULTIPART = 0x02

MAX_DEVICE_ID = 32  # MS-ASHTTP: DeviceId is 1*32 alphanumerics (Exchange accepts up to 32)


class RequestError(Exception):
    """A request line the server must refuse; `http_status` is MS-ASHTTP's answer for it."""

    def __init__(self, http_status: int, reason: str):
        self.http_status = http_status
        self.reason = reason
        super().__init__(f"{http_status}: {reason}")


@dataclass(frozen=True)
class RequestLine:
    command: str
    device_id: str
    device_type: str
    protocol_version: str
    user: str | None = None
    policy_key: int | None = None  # None: no X-MS-PolicyKey at all (distinct from 0)
    locale: int | None = None
    user_agent: str | None = None
    accept_multipart: bool = False
    save_in_sent: bool = False
    params: dict[str, str] = field(default_factory=dict)
    encoded_query: bool = False
    ms_wl: str | None = None  # the X-MS-WL header (device access rules can match it)
    secure: bool = False  # the request came over TLS (set by the HTTP layer)


def _policy_key(raw: str | None) -> int | None:
    if raw is None:
        return None
    raw = raw.strip()
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 0xFFFFFFFF:
        raise RequestError(400, f"X-MS-PolicyKey {raw!r} is not a 32-bit unsigned integer")
    return int(raw)


def _check_device(device_id: str, device_type: str) -> None:
    if not device_id or len(device_id) > MAX_DEVICE_ID or not device_id.isascii() or not device_id.isalnum():
        raise RequestError(400, "DeviceId missing or not 1-32 letters and digits")
    if not device_type or not device_type.isprintable():
        raise RequestError(400, "DeviceType missing or not printable")


def _plain(query: str, headers: dict[str, str]) -> RequestLine:
    pairs = parse_qsl(query, keep_blank_values=True)
    by_name: dict[str, str] = {}
    for name, value in pairs:
        # Parameter names are case-insensitive in practice (clients send DeviceID, deviceId...).
        by_name.setdefault(name.lower(), value)
    command = by_name.pop("cmd", "")
    device_id = by_name.pop("deviceid", "")
    device_type = by_name.pop("devicetype", "")
    user = by_name.pop("user", None)
    if not command:
        raise RequestError(400, "Cmd parameter missing")
    _check_device(device_id, device_type)
    version = headers.get("ms-asprotocolversion")
    if version is None:
        raise RequestError(400, "MS-ASProtocolVersion header missing")
    version = version.strip()
    if version not in versions.SUPPORTED:
        raise RequestError(400, f"protocol version {version!r} is not supported")
    canonical = {
        "attachmentname": "AttachmentName", "collectionid": "CollectionId", "itemid": "ItemId",
        "longid": "LongId", "occurrence": "Occurrence", "saveinsent": "SaveInSent",
    }
    params = {canonical.get(k, k): v for k, v in by_name.items()}
    return RequestLine(
        command=command,
        device_id=device_id,
        device_type=device_type,
        protocol_version=version,
        user=user,
        policy_key=_policy_key(headers.get("x-ms-policykey")),
        user_agent=headers.get("user-agent"),
        accept_multipart=headers.get("ms-asacceptmultipart", "").strip().upper() == "T",
        save_in_sent=params.get("SaveInSent", "F").upper() == "T",
        params=params,
        ms_wl=headers.get("x-ms-wl"),
    )


def _encoded(query: str, headers: dict[str, str]) -> RequestLine:
    try:
        raw = base64.b64decode(unquote(query), validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(400, "query is neither the plain nor the base64-encoded form") from None
    try:
        version_byte, code, locale, id_len = struct.unpack_from("<BBHB", raw, 0)
        pos = 5
        device_id_raw = raw[pos:pos + id_len]
        if len(device_id_raw) != id_len or id_len == 0:
            raise IndexError
        pos += id_len
        key_len = raw[pos]
        pos += 1
        if key_len not in (0, 4):
            raise RequestError(400, f"policy key length {key_len}; only 0 or 4 are defined")
        policy_key = struct.unpack_from("<I", raw, pos)[0] if key_len else None
        pos += key_len
        type_len = raw[pos]
        pos += 1
        device_type_raw = raw[pos:pos + type_len]
        if len(device_type_raw) != type_len:
            raise IndexError
        pos += type_len
        params: dict[str, str] = {}
        options = 0
        while pos < len(raw):
            tag, length = raw[pos], raw[pos + 1]
            value = raw[pos + 2:pos + 2 + length]
            if len(value) != length:
                raise IndexError
            pos += 2 + length
            name = PARAMETER_TAGS.get(tag)
            if name is None:
                raise RequestError(400, f"unknown command parameter tag {tag}")
            if name == "Options":
                options = value[0] if value else 0
            else:
                params[name] = value.decode("utf-8")
    except (IndexError, struct.error):
        raise RequestError(400, "base64-encoded query is truncated") from None
    except UnicodeDecodeError:
        raise RequestError(400, "base64-encoded query parameter is not UTF-8") from None
    command = COMMAND_CODES.get(code)
    if command is None:
        raise RequestError(501, f"unknown command code {code}")
    version = f"{version_byte // 10}.{version_byte % 10}"
    if version not in versions.SUPPORTED:
        raise RequestError(400, f"protocol version {version!r} is not supported")
    # A DeviceId may be a binary GUID here; store it hex-encoded as Z-Push and Horde do, unless it
    # is already a plain alphanumeric string.
    device_id = device_id_raw.decode("ascii") if device_id_raw.isascii() and device_id_raw.isalnum() else device_id_raw.hex().upper()
    try:
        device_type = device_type_raw.decode("ascii")
    except UnicodeDecodeError:
        raise RequestError(400, "DeviceType is not ASCII") from None
    _check_device(device_id, device_type)
    return RequestLine(
        command=command,
        device_id=device_id,
        device_type=device_type,
        protocol_version=version,
        user=params.pop("User", None),
        policy_key=policy_key,
        locale=locale,
        user_agent=headers.get("user-agent"),
        accept_multipart=bool(options & OPTION_ACCEPT_MULTIPART),
        save_in_sent=bool(options & OPTION_SAVE_IN_SENT),
        params=params,
        encoded_query=True,
        ms_wl=headers.get("x-ms-wl"),
    )


def parse_request_line(query: str, headers: dict[str, str]) -> RequestLine:
    """Parse the query string and protocol headers of a POST.

    `headers` maps lower-case header names to values.  Raises RequestError(400|501).
    """
    if not query:
        raise RequestError(400, "query string missing")
    if "=" in query.rstrip("=") or "&" in query:
        return _plain(query, headers)
    return _encoded(query, headers)
