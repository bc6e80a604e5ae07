"""SendMail, SmartReply and SmartForward (MS-ASCMD 2.2.1.17, 2.2.1.20, 2.2.1.19).

2.5-12.1 post the message itself (Content-Type message/rfc822) with SaveInSent, ItemId,
CollectionId and LongId in the query; 14.0+ post ComposeMail WBXML with ClientId,
SaveInSentItems, Source, ReplaceMime, AccountId and the MIME as OPAQUE (the raw form is accepted
from them too).  The request becomes a ComposeRequest, the store checks, builds and delivers the
message in one transaction, and the answer is an empty 200 on success, else the common status: in
the body for 14.0+, as the HTTP status MS-ASCMD gives it for older versions.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from .. import versions
from ..context import CommandContext
from ..oof import parse_datetime
from ..response import Response
from ..status import Common, encode
from ..wbxml import Element
from . import Command

NS = "ComposeMail"
log = logging.getLogger("easlab.eas")
MAX_CLIENT_ID = 64


@dataclass
class ComposeRequest:
    command: str  # SendMail | SmartReply | SmartForward
    mime: bytes
    client_id: str | None = None
    save_in_sent: bool = False
    replace_mime: bool = False
    folder_id: str | None = None  # the original (Smart*): FolderId/CollectionId + ItemId, or LongId
    item_id: str | None = None
    long_id: str | None = None
    instance_id: str | None = None
    account_id: str | None = None
    template_id: str | None = None  # rm:TemplateID (14.1+): protect the message with this template
    secure: bool = False  # the request came over TLS: IRM needs it (MS-ASRM 3.2.5.1)

    @property
    def forward(self) -> bool:
        return self.command == "SmartForward"


class RequestError(Exception):
    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(reason)


def _legacy(command: str, body: bytes, line) -> ComposeRequest:
    params = line.params
    return ComposeRequest(command, body, save_in_sent=line.save_in_sent, folder_id=params.get("CollectionId") or None,
                          item_id=params.get("ItemId") or None, long_id=params.get("LongId") or None)


def _wbxml(command: str, tree: Element) -> ComposeRequest:
    text = tree.text
    client_id = (text(f"{NS}:ClientId") or "").strip()
    if not client_id or len(client_id) > MAX_CLIENT_ID:
        raise RequestError(Common.InvalidXML, "ClientId missing or too long")
    forwardees, body = tree.find(f"{NS}:Forwardees"), tree.find("AirSyncBase:Body")
    if command == "SmartForward" and (forwardees is not None or body is not None):
        # 16.0: Forwardees/Body forward a calendar item; they exclude Mime, SaveInSentItems,
        # ReplaceMime and TemplateID (MS-ASCMD 2.2.3.169).  easlab holds no calendar items.
        for f in forwardees.findall(f"{NS}:Forwardee") if forwardees is not None else []:
            if not (f.text(f"{NS}:Email") or "").strip():
                raise RequestError(Common.InvalidSmartForwardParameters, "Forwardee without Email")
        raise RequestError(Common.InvalidMimeBodyCombination, "Forwardees/Body are for calendar items only")
    mime_el = tree.find(f"{NS}:Mime")
    if mime_el is None:
        raise RequestError(Common.InvalidXML, "Mime missing")
    mime = mime_el.value if isinstance(mime_el.value, bytes) else (mime_el.value or "").encode("utf-8")
    request = ComposeRequest(command, mime, client_id=client_id, save_in_sent=tree.has(f"{NS}:SaveInSentItems"),
                             replace_mime=tree.has(f"{NS}:ReplaceMime"),
                             account_id=(text(f"{NS}:AccountId") or "").strip() or None)
    template = tree.find("RightsManagement:TemplateID")
    if template is not None:
        request.template_id = (template.value if isinstance(template.value, str) else "").strip()
        if not request.template_id:
            raise RequestError(Common.InvalidXML, "empty TemplateID")
    if command != "SendMail":
        source = tree.find(f"{NS}:Source")
        if source is None:
            raise RequestError(Common.InvalidXML, "Source missing")
        request.folder_id = source.text(f"{NS}:FolderId") or None
        request.item_id = source.text(f"{NS}:ItemId") or None
        request.long_id = source.text(f"{NS}:LongId") or None
        request.instance_id = source.text(f"{NS}:InstanceId") or None
        if request.instance_id is not None:
            try:
                parse_datetime(request.instance_id)
            except ValueError:
                raise RequestError(Common.InvalidDateTime, f"InstanceId {request.instance_id!r}") from None
    return request


def parse(command: str, request: Element | bytes | None, ctx: CommandContext) -> ComposeRequest:
    if request is None:
        raise RequestError(Common.InvalidContent, "no body")
    if isinstance(request, bytes):
        return _legacy(command, request, ctx.request)
    if not versions.has(ctx.version, "compose_wbxml"):
        raise RequestError(Common.InvalidContent, f"{command} in {ctx.version} takes the message as message/rfc822")
    parsed = _wbxml(command, request)
    parsed.secure = ctx.request.secure
    return parsed


def failure(command: str, status: int, version: str) -> Response:
    return encode(status, version, f"{NS}:{command}")


def handler(command: str):
    async def handle(ctx: CommandContext, tree: Element | bytes | None) -> Response:
        try:
            request = parse(command, tree, ctx)
        except RequestError as exc:
            return failure(command, exc.status, ctx.version)
        try:
            status = await ctx.store.compose(ctx, request)
        except Exception:  # the store failed mid-submission: nothing was committed, the client may retry
            log.exception("%s %s %s: submission failed", ctx.user, ctx.request.device_id, command)
            status = Common.MailSubmissionFailed
        if status is not None:
            return failure(command, status, ctx.version)
        return Response(200)

    handle.__name__ = f"handle_{command.lower()}"
    return handle


COMMANDS = tuple(Command(name, handler(name), root=f"{NS}:{name}", body="mime")
                 for name in ("SendMail", "SmartReply", "SmartForward"))
