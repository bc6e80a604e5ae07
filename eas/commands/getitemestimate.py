"""GetItemEstimate (MS-ASCMD 2.2.1.9): how many changes a Sync of each collection would bring."""
from __future__ import annotations

from dataclasses import dataclass

from .. import versions
from ..folders import classes_together
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
    conversation_mode: bool | None = None  # None: not sent
    classes_ok: bool = True  # the Options name classes that may be counted together


def parse(tree: Element, version: str) -> list[EstimateRequest]:
    out = []
    collections = tree.find(f"{NS}:Collections")
    for c in collections.findall(f"{NS}:Collection") if collections is not None else []:
        classes_ok = True
        if versions.has(version, "estimate_options"):
            all_options = c.findall("AirSync:Options")
            classes_ok = classes_together([o.text("AirSync:Class") for o in all_options])
            options = all_options[0] if all_options else None
            ftype = options.text("AirSync:FilterType") if options is not None else None
            cls = options.text("AirSync:Class") if options is not None else None
        else:
            ftype = c.text("AirSync:FilterType")
            cls = c.text(f"{NS}:Class")
        mode = c.find("AirSync:ConversationMode")
        out.append(EstimateRequest(
            collection_id=c.text(f"{NS}:CollectionId") or "",
            sync_key=c.text("AirSync:SyncKey"),
            filter_type=int(ftype) if ftype and ftype.isascii() and ftype.isdigit() else None,
            class_name=cls,
            conversation_mode=None if mode is None else mode.value in (None, "", "1"),
            classes_ok=classes_ok,
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
    responses: list[Element | None] = []
    protocol_error = False
    for req in requests:
        if not req.classes_ok:
            responses.append(E(f"{NS}:Response", E(f"{NS}:Status", GetItemEstimateStatus.InvalidSyncKey),
                               E(f"{NS}:Collection", E(f"{NS}:CollectionId", req.collection_id))))
            continue  # MS-ASCMD 2.2.3.27.2: only Email and SMS are counted together; else Status 4
        est = await ctx.store.estimate(ctx, req)
        protocol_error = protocol_error or est.protocol_error
        parts = [E(f"{NS}:Status", est.status)]
        if est.status == 1:
            parts.append(E(f"{NS}:Collection", E(f"{NS}:CollectionId", est.collection_id), E(f"{NS}:Estimate", est.estimate)))
        else:
            parts.append(E(f"{NS}:Collection", E(f"{NS}:CollectionId", est.collection_id)))
        responses.append(E(f"{NS}:Response", *parts))
    status = E(f"{NS}:Status", GetItemEstimateStatus.InvalidSyncKey) if protocol_error else None  # MS-ASCON 3.2.5.2
    return Response(200, E(f"{NS}:GetItemEstimate", status, *responses))


COMMANDS = (Command("GetItemEstimate", handle, root=f"{NS}:GetItemEstimate", malformed=GetItemEstimateStatus.InvalidCollection),)
