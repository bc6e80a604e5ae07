"""From a parsed request line and a body to a Response: command lookup, body decoding, root check.

Malformed input gets MS-ASHTTP's answer here (400 for a body that is not the command's WBXML, 501
for a command the server does not implement), never an exception to the server.
"""
from __future__ import annotations

import asyncio
import logging

from . import commands
from .context import CommandContext
from .response import Response
from .status import Common, encode
from .wbxml import DEFAULT_MAX_SIZE, E, InvalidText, WBXMLError, WBXMLLimitError, decode

log = logging.getLogger("easlab.eas")

WBXML_TYPES = ("application/vnd.ms-sync.wbxml", "application/vnd.ms-sync")


class BadRequest(Exception):
    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(reason)


def parse_body(command: commands.Command, body: bytes, content_type: str | None, max_size: int = DEFAULT_MAX_SIZE):
    """The request as the handler takes it; raises BadRequest."""
    if not body:
        return None
    if command.body == "none":
        raise BadRequest(400, f"{command.name} takes no body")
    mime_type = (content_type or "").split(";")[0].strip().lower()
    if command.body == "mime" and mime_type == "message/rfc822":
        return body
    if mime_type and mime_type not in WBXML_TYPES:
        raise BadRequest(400, f"Content-Type {mime_type} is not WBXML")
    try:
        tree = decode(body, max_size=max_size)
    except WBXMLError as exc:
        raise BadRequest(400, f"body is not valid WBXML: {exc}") from None
    if tree.tag != command.root:
        raise BadRequest(400, f"root element <{tree.tag}> is not <{command.root}>")
    return tree


# The first bytes of a large body are decoded as soon as they arrive: nesting past the decoder's
# depth bound shows within them (a 24 MB body of opened tags failed at byte 68, after all of it had
# been read), and decoding this much costs well under a millisecond.
PREFIX_SIZE = 4096


def prefix_refusal(command: commands.Command | None, prefix: bytes, content_type: str | None) -> str | None:
    """Why a WBXML body is refused (400) from its first PREFIX_SIZE bytes alone, before the rest
    is read: a bound of the decoder already broken there; None when only the whole body can tell."""
    mime_type = (content_type or "").split(";")[0].strip().lower()
    if command is None or command.body == "none" or (mime_type and mime_type not in WBXML_TYPES):
        return None
    try:
        decode(prefix[:PREFIX_SIZE])
    except WBXMLLimitError as exc:
        return f"body is not valid WBXML: {exc}"
    except WBXMLError:
        return None  # most likely cut short: the whole body decides
    return None


async def dispatch(ctx: CommandContext, body: bytes, content_type: str | None) -> Response:
    line = ctx.request
    command = ctx.commands.get(line.command)
    if command is None or not command.supports(line.protocol_version):
        log.warning("%s %s: command %r not implemented for %s", ctx.user, line.device_id, line.command, line.protocol_version)
        return Response(501)
    try:
        if len(body) >= ctx.limits.decode_in_thread_size:
            # Off the event loop: other users' requests (and held Pings' answers) go on meanwhile.
            request = await asyncio.to_thread(parse_body, command, body, content_type, ctx.limits.max_request_size)
        else:
            request = parse_body(command, body, content_type, ctx.limits.max_request_size)
    except BadRequest as exc:
        log.warning("%s %s %s: %s", ctx.user, line.device_id, line.command, exc.reason)
        return Response(exc.status)
    try:
        gate = await ctx.store.gate(ctx, command, request)
        ctx.gate = gate
        if gate.response is not None:
            return gate.response
        running = command.handler(ctx, request)
        del request  # a held Ping keeps its watch list, not its request's tree (eas/commands/ping.py)
        return await running
    except InvalidText as exc:  # raised where the value is read; a transaction that read it rolls back
        log.warning("%s %s %s: %s", ctx.user, line.device_id, line.command, exc)
        return malformed(command, line.protocol_version)


def malformed(command: commands.Command, version: str) -> Response:
    """The answer to a request the command cannot read: its own protocol-error status, or
    common status 103 as `version` carries it."""
    if command.malformed is not None and command.root:
        ns = command.root.partition(":")[0]
        return Response(200, E(command.root, E(f"{ns}:Status", command.malformed)))
    return encode(Common.InvalidXML, version, command.root)


def policy_refusal(status: int, command: commands.Command, line) -> Response:
    return encode(status, line.protocol_version, command.root, key_header_sent=line.policy_key is not None)
