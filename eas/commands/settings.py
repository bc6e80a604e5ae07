"""Settings (MS-ASCMD 2.2.1.18, 12.0+): Out of Office get and set, DeviceInformation, the device
recovery password, UserInformation, RightsManagementInformation.

The request holds up to five property blocks; they are parsed into typed requests, the store runs
them in one transaction, in order, and every block is answered in the request's order with its
Status first.  A request that cannot be read at all gets only the top-level Status 2.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from .. import versions
from ..context import CommandContext
from ..email import wire_datetime
from ..oof import AUDIENCES, TIME_BASED, OofConfig, OofMessage, parse_datetime
from ..response import Response
from ..rights import templates_element
from ..wbxml import E, Element
from . import Command
from ..machines.provision import DEVICE_INFO_FIELDS

S = "Settings"
log = logging.getLogger("easlab.eas")
SUCCESS, PROTOCOL_ERROR, ACCESS_DENIED, SERVER_UNAVAILABLE, INVALID_ARGUMENTS, CONFLICTING_ARGUMENTS, DENIED_BY_POLICY = 1, 2, 3, 4, 5, 6, 7
MAX_BLOCKS = 5
MAX_PASSWORD = 255
BODY_TYPES = {"text": "Text", "html": "HTML"}
# The Device columns DeviceInformation fills, with their lengths.
DEVICE_COLUMN_LENGTH = {"model": 256, "imei": 64, "friendly_name": 256, "os": 256, "os_language": 64,
                        "phone_number": 64, "mobile_operator": 128, "info_user_agent": 512}


class SettingsError(Exception):
    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass
class OofGet:
    body_type: str  # "Text" | "HTML"


@dataclass
class OofSet:
    state: int | None = None
    start: datetime | None = None
    end: datetime | None = None
    messages: dict[str, OofMessage] = field(default_factory=dict)  # only the audiences the client sent


@dataclass
class DeviceInformationSet:
    fields: dict[str, str]


@dataclass
class DevicePasswordSet:
    password: str


@dataclass
class UserInformationGet:
    pass


@dataclass
class RightsManagementGet:
    pass


@dataclass
class Block:
    """One property block: its name, and the typed request or the status its parsing ended in."""

    name: str  # Oof | DeviceInformation | DevicePassword | UserInformation | RightsManagementInformation
    request: object | None = None
    status: int = SUCCESS


@dataclass
class BlockResult:
    status: int
    oof: OofConfig | None = None  # Oof Get
    body_type: str = "Text"
    address: str = ""  # UserInformation Get
    display_name: str = ""
    templates: list = field(default_factory=list)  # RightsManagementInformation Get: eas.rights.Template


# -- request --------------------------------------------------------------------------------------
def _oof(el: Element) -> OofGet | OofSet:
    get, put = el.find(f"{S}:Get"), el.find(f"{S}:Set")
    if (get is None) == (put is None):
        raise SettingsError(PROTOCOL_ERROR, "Oof needs exactly one of Get and Set")
    if get is not None:
        body_type = BODY_TYPES.get((get.text(f"{S}:BodyType") or "").strip().lower())
        if body_type is None:
            raise SettingsError(PROTOCOL_ERROR, "Oof Get needs BodyType Text or HTML")
        return OofGet(body_type)
    assert put is not None  # exactly one of Get and Set, checked above
    req = OofSet()
    raw_state = put.text(f"{S}:OofState")
    if raw_state is not None:
        if raw_state.strip() not in ("0", "1", "2"):
            raise SettingsError(INVALID_ARGUMENTS, f"OofState {raw_state!r}")
        req.state = int(raw_state.strip())  # str.strip removes more than int() skips ("\x1f2")
    try:
        req.start = parse_datetime(put.text(f"{S}:StartTime"))
        req.end = parse_datetime(put.text(f"{S}:EndTime"))
    except ValueError as exc:
        raise SettingsError(INVALID_ARGUMENTS, str(exc)) from None
    if req.state == TIME_BASED:
        if req.start is None or req.end is None:
            raise SettingsError(PROTOCOL_ERROR, "time-based Oof needs StartTime and EndTime")
        if req.start >= req.end:
            raise SettingsError(CONFLICTING_ARGUMENTS, "StartTime is not before EndTime")
    for message in put.findall(f"{S}:OofMessage"):
        audiences = [a for a in AUDIENCES if message.has(f"{S}:{a}")]
        if len(audiences) != 1:
            raise SettingsError(PROTOCOL_ERROR, "OofMessage needs exactly one AppliesTo element")
        enabled = (message.text(f"{S}:Enabled") or "0").strip()
        if enabled not in ("0", "1"):
            raise SettingsError(INVALID_ARGUMENTS, f"Enabled {enabled!r}")
        text = message.text(f"{S}:ReplyMessage")
        body_type = message.text(f"{S}:BodyType")
        if text is not None and body_type is None:
            raise SettingsError(PROTOCOL_ERROR, "ReplyMessage without BodyType")
        kind = BODY_TYPES.get((body_type or "text").strip().lower())
        if kind is None:
            raise SettingsError(INVALID_ARGUMENTS, f"BodyType {body_type!r}")
        if audiences[0] in req.messages:
            raise SettingsError(CONFLICTING_ARGUMENTS, f"{audiences[0]} twice")
        req.messages[audiences[0]] = OofMessage(enabled == "1", text or "", kind == "HTML")
    return req


def _device_information(el: Element) -> DeviceInformationSet:
    values = el.find(f"{S}:Set")
    if values is None or not values.children:
        raise SettingsError(PROTOCOL_ERROR, "DeviceInformation needs a Set with at least one field")
    fields = {}
    for name, column in DEVICE_INFO_FIELDS.items():
        if values.has(f"{S}:{name}"):
            fields[column] = (values.text(f"{S}:{name}") or "")[:DEVICE_COLUMN_LENGTH[column]]
    return DeviceInformationSet(fields)


def _device_password(el: Element) -> DevicePasswordSet:
    values = el.find(f"{S}:Set")
    if values is None or not values.has(f"{S}:Password"):
        raise SettingsError(PROTOCOL_ERROR, "DevicePassword needs Set/Password")
    password = values.text(f"{S}:Password") or ""
    if len(password) > MAX_PASSWORD:
        raise SettingsError(INVALID_ARGUMENTS, "the recovery password is longer than 255 characters")
    return DevicePasswordSet(password)


def _get_only(el: Element, request):
    if el.find(f"{S}:Get") is None:
        raise SettingsError(PROTOCOL_ERROR, f"{el.name} needs Get")
    return request


PARSERS = {
    "Oof": _oof,
    "DeviceInformation": _device_information,
    "DevicePassword": _device_password,
    "UserInformation": lambda el: _get_only(el, UserInformationGet()),
    "RightsManagementInformation": lambda el: _get_only(el, RightsManagementGet()),
}


def parse(tree: Element, version: str) -> list[Block]:
    """The property blocks; raises SettingsError for a request that is not Settings at all."""
    if len(tree.children) > MAX_BLOCKS:
        raise SettingsError(PROTOCOL_ERROR, f"{len(tree.children)} property blocks")
    blocks = []
    for el in tree.children:
        parser = PARSERS.get(el.name) if el.namespace == S else None
        if parser is None or (el.name == "RightsManagementInformation" and not versions.has(version, "rights_management")):
            raise SettingsError(PROTOCOL_ERROR, f"unknown property <{el.tag}>")
        try:
            blocks.append(Block(el.name, parser(el)))
        except SettingsError as exc:
            blocks.append(Block(el.name, None, exc.status))
    return blocks


# -- response -------------------------------------------------------------------------------------
def _oof_get(config: OofConfig, body_type: str) -> Element:
    parts: list[Element | None] = [E(f"{S}:OofState", config.state)]
    if config.state == TIME_BASED and config.start is not None and config.end is not None:
        parts += [E(f"{S}:StartTime", wire_datetime(config.start)), E(f"{S}:EndTime", wire_datetime(config.end))]
    for audience in AUDIENCES:
        message = config.messages.get(audience) or OofMessage()
        text = message.as_type(body_type)
        parts.append(E(f"{S}:OofMessage", E(f"{S}:{audience}"), E(f"{S}:Enabled", 1 if message.enabled else 0),
                       E(f"{S}:ReplyMessage", text) if text else None, E(f"{S}:BodyType", body_type)))
    return E(f"{S}:Get", *parts)


def _user_information(result: BlockResult, version: str) -> Element:
    if versions.has(version, "accounts"):
        account = E(f"{S}:Account", E(f"{S}:UserDisplayName", result.display_name) if result.display_name else None,
                    E(f"{S}:EmailAddresses", E(f"{S}:SMTPAddress", result.address), E(f"{S}:PrimarySmtpAddress", result.address)))
        return E(f"{S}:Get", E(f"{S}:Accounts", account))
    return E(f"{S}:Get", E(f"{S}:EmailAddresses", E(f"{S}:SMTPAddress", result.address)))


def build(blocks: list[Block], results: list[BlockResult], version: str) -> Element:
    out = []
    for block, result in zip(blocks, results):
        parts: list[Element | None] = [E(f"{S}:Status", result.status)]
        if result.status == SUCCESS:
            if isinstance(block.request, OofGet) and result.oof is not None:
                parts.append(_oof_get(result.oof, result.body_type))
            elif isinstance(block.request, UserInformationGet):
                parts.append(_user_information(result, version))
            elif isinstance(block.request, RightsManagementGet):
                parts.append(E(f"{S}:Get", templates_element(result.templates)))
        out.append(E(f"{S}:{block.name}", *parts))
    return E(f"{S}:Settings", E(f"{S}:Status", SUCCESS), *out)


def _status(code: int) -> Response:
    return Response(200, E(f"{S}:Settings", E(f"{S}:Status", code)))


async def handle(ctx: CommandContext, tree: Element | bytes | None) -> Response:
    if not isinstance(tree, Element):
        return _status(PROTOCOL_ERROR)
    try:
        blocks = parse(tree, ctx.version)
    except SettingsError:
        return _status(PROTOCOL_ERROR)
    try:
        results = await ctx.store.settings(ctx, blocks)
    except Exception:  # nothing was committed: the whole request is unavailable for now
        log.exception("%s %s Settings failed", ctx.user, ctx.request.device_id)
        return _status(SERVER_UNAVAILABLE)
    return Response(200, build(blocks, results, ctx.version))


COMMANDS = (Command("Settings", handle, root=f"{S}:Settings", since="12.0", malformed=PROTOCOL_ERROR),)
