"""MoveItems (MS-ASCMD 2.2.1.12): move items between folders; success is Status 3.

The moved item gets a new ServerId in the destination (DstMsgId); every device, the mover
included, sees a Delete in the source and an Add in the destination at its next Sync, and Pings
held on the destination wake.
"""
from __future__ import annotations

from ..context import CommandContext
from ..records import MoveRequest, MoveResult
from ..response import Response
from ..status import Common, encode
from ..wbxml import E, Element
from . import Command

NS = "Move"
ROOT = f"{NS}:MoveItems"
MAX_MOVES = 1000  # MS-ASCMD 3.1.5.10: Exchange's default; more is common status 103


class _Malformed(Exception):
    pass


def parse(tree: Element) -> list[MoveRequest]:
    moves = []
    for child in tree.children:
        if child.tag != f"{NS}:Move":
            raise _Malformed(f"unexpected <{child.tag}>")
        if len(child.findall(f"{NS}:DstFldId")) > 1:
            # "more than one DstFldId" is one of Status 5's causes; keep it per item.
            moves.append(MoveRequest(child.text(f"{NS}:SrcMsgId"), child.text(f"{NS}:SrcFldId"), None, ambiguous=True))
            continue
        moves.append(MoveRequest(child.text(f"{NS}:SrcMsgId"), child.text(f"{NS}:SrcFldId"), child.text(f"{NS}:DstFldId")))
    if not moves:
        raise _Malformed("no Move")
    if len(moves) > MAX_MOVES:
        raise _Malformed(f"{len(moves)} moves")
    return moves


def build(results: list[MoveResult]) -> Element:
    return E(ROOT, *[
        E(f"{NS}:Response", E(f"{NS}:SrcMsgId", r.src_msg_id) if r.src_msg_id is not None else None,
          E(f"{NS}:Status", r.status), E(f"{NS}:DstMsgId", r.dst_msg_id) if r.dst_msg_id else None)
        for r in results
    ])


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    if tree is None:
        return encode(Common.InvalidXML, ctx.version, ROOT)
    try:
        moves = parse(tree)
    except _Malformed:
        return encode(Common.InvalidXML, ctx.version, ROOT)
    results = await ctx.store.move_items(ctx, moves)
    return Response(200, build(results))


COMMANDS = (Command("MoveItems", handle, root=ROOT),)
