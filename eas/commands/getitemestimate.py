"""GetItemEstimate (MS-ASCMD 2.2.1.9): how many changes a Sync of each collection would bring."""
from __future__ import annotations

from dataclasses import dataclass

from .. import versions
from ..context import CommandContext
from ..response import Response
from ..status import Common, GetItemEstimateStatus, encode
from ..wbxml import E, Element
from . import Command

NS = "GetItemEstimate"


@dataclass
class EstimateRequest:
    collection_id: str
    sync_key: str | None
    filter_type: int | None = None
    class_name: str | None = None
    conversation_mode: bool = False  # airsync:ConversationMode (14.0+): mail folders only (MS-ASCON 3.2.5.2)


def _flag(el: Element | None) -> bool:
    return el is not None and el.value in (None, "", "1")  # an empty boolean element means 1


def parse(tree: Element, version: str) -> list[EstimateRequest]:
    out = []
    collections = tree.find(f"{NS}:Collections")
    for c in collections.findall(f"{NS}:Collection") if collections is not None else []:
        if versions.has(version, "estimate_options"):
            options = c.find("AirSync:Options")
            ftype = options.text("AirSync:FilterType") if options is not None else None
            cls = options.text("AirSync:Class") if options is not None else None
        else:
            ftype = c.text("AirSync:FilterType")
            cls = c.text(f"{NS}:Class")
        out.append(EstimateRequest(
            collection_id=c.text(f"{NS}:CollectionId") or "",
            sync_key=c.text("AirSync:SyncKey"),
            filter_type=int(ftype) if ftype and ftype.isdigit() else None,
            class_name=cls,
            conversation_mode=versions.has(version, "conversations") and _flag(c.find("AirSync:ConversationMode")),
        ))
    return out


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    if tree is None:
        return Response(400)
    requests = parse(tree, ctx.version)
    if not requests:
        return Response(200, E(f"{NS}:GetItemEstimate", E(f"{NS}:Status", 2)))
    if len(requests) > ctx.limits.max_estimate_collections:  # MS-ASCMD 3.1.5.10
        return encode(Common.InvalidXML, ctx.version, f"{NS}:GetItemEstimate")
    responses = []
    for req in requests:
        est = await ctx.store.estimate(ctx, req)
        parts = [E(f"{NS}:Status", est.status)]
        if est.status == 1:
            parts.append(E(f"{NS}:Collection", E(f"{NS}:CollectionId", est.collection_id), E(f"{NS}:Estimate", est.estimate)))
        else:
            parts.append(E(f"{NS}:Collection", E(f"{NS}:CollectionId", est.collection_id)))
        responses.append(E(f"{NS}:Response", *parts))
    return Response(200, E(f"{NS}:GetItemEstimate", *responses))


COMMANDS = (Command("GetItemEstimate", handle, root=f"{NS}:GetItemEstimate", malformed=GetItemEstimateStatus.InvalidCollection),)
