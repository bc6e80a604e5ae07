"""Provision (MS-ASPROV): the command; its decision is eas.machines.provision."""
from __future__ import annotations

from .. import versions
from ..context import CommandContext
from ..machines.provision import P, decide
from ..response import Response, common_status
from ..wbxml import Element
from . import Command, register


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    result = await ctx.store.provision(ctx, lambda view: decide(tree, view))
    if isinstance(result, int):
        response = common_status(result, ctx.version, f"{P}:Provision")
        if not versions.status_in_body(ctx.version):
            response.status = 403
        return response
    return Response(200, result)


register(Command("Provision", handle, root=f"{P}:Provision"))
