"""Provision (MS-ASPROV): the command; its decision is eas.machines.provision."""
from __future__ import annotations

from ..context import CommandContext
from ..refusals import BY_COMMON_STATUS
from ..machines.provision import P, decide
from ..response import Response
from ..status import ProvisionStatus, encode
from ..wbxml import Element
from . import Command


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    result = await ctx.store.provision(ctx, lambda view: decide(tree, view))
    if isinstance(result, int):
        response = encode(result, ctx.version, f"{P}:Provision")
        response.refused_by = BY_COMMON_STATUS.get(int(result))
        return response
    return Response(200, result)


COMMANDS = (Command("Provision", handle, root=f"{P}:Provision", malformed=ProvisionStatus.ProtocolError),)
