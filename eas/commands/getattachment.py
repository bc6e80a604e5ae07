"""GetAttachment (MS-ASCMD 2.2.1.7, protocol 2.5-12.1): one attachment's bytes as the response body.

The request has no body; the query's AttachmentName is the FileReference (email:AttName in 2.5,
airsyncbase:FileReference from 12.0).  The answer is the raw attachment with its MIME type as
Content-Type; an attachment that is not there (any more) is HTTP 500, as on Exchange.
"""
from __future__ import annotations

from ..context import CommandContext
from ..response import Response
from . import Command


async def handle(ctx: CommandContext, _request) -> Response:
    reference = ctx.request.params.get("AttachmentName")
    if not reference:
        return Response(400)
    found = await ctx.store.attachment(ctx, reference)
    if found is None:
        return Response(500)
    return Response(200, found.data, content_type=found.content_type or None)


COMMANDS = (Command("GetAttachment", handle, root=None, until="12.1", body="none"),)
