"""MeetingResponse (MS-ASCMD 2.2.1.11): accept, tentatively accept or decline a meeting request.

Request: `MeetingResponse{ Request+{ UserResponse (CollectionId RequestId | search:LongId) InstanceId?
SendResponse?{ airsyncbase:Body? ProposedStartTime? ProposedEndTime? } } }`.  RequestId is the
meeting request mail or (14.1+) the calendar item; InstanceId (14.1+) names one occurrence.  With
SendResponse (16.0+) the server mails the iCalendar reply to the organiser; older clients send it
themselves with SendMail.  ProposedStartTime/EndTime (16.1) turn the reply into a new-time proposal.

Response: `MeetingResponse{ Result+{ RequestId? Status CalendarId? InstanceId? } }`; CalendarId only
when the meeting stays in the calendar (not declined).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..context import CommandContext
from ..response import Response
from ..status import Common, MeetingResponseStatus, encode
from ..versions import has
from ..wbxml import E, Element
from . import Command

NS = "MeetingResponse"
ROOT = f"{NS}:MeetingResponse"
MAX_REQUESTS = 100  # MS-ASCMD 3.1.5.10, Exchange's default


@dataclass
class MeetingAnswer:
    user_response: int  # 1 accept, 2 tentative, 3 decline
    collection_id: str | None
    request_id: str | None
    long_id: str | None
    instance_id: str | None = None
    send_response: bool = False
    body: str = ""
    body_type: int = 1
    proposed_start: str | None = None
    proposed_end: str | None = None


@dataclass
class MeetingResult:
    request_id: str | None
    status: int
    calendar_id: str | None = None
    instance_id: str | None = None


class _Malformed(Exception):
    pass


SEND_RESPONSE_BODY = ("AirSyncBase:Type", "AirSyncBase:Data")


def parse(tree: Element, version: str) -> list[MeetingAnswer]:
    answers = []
    for req in tree.children:
        if req.tag != f"{NS}:Request":
            raise _Malformed(f"unexpected <{req.tag}>")
        response = req.text(f"{NS}:UserResponse")
        if response not in ("1", "2", "3"):
            raise _Malformed(f"UserResponse {response!r}")
        answer = MeetingAnswer(int(response), req.text(f"{NS}:CollectionId"), req.text(f"{NS}:RequestId"),
                               req.text("Search:LongId"), req.text(f"{NS}:InstanceId"))
        if answer.long_id is None and not (answer.collection_id and answer.request_id):
            raise _Malformed("neither CollectionId+RequestId nor LongId")
        send = req.find(f"{NS}:SendResponse")
        if send is not None:
            answer.send_response = True
            body = send.find("AirSyncBase:Body")
            if body is not None:
                if any(c.tag not in SEND_RESPONSE_BODY for c in body.children):
                    raise _Malformed("a SendResponse Body has only Type and Data")  # MS-ASAIRS 2.2.2.9
                answer.body = body.text("AirSyncBase:Data") or ""
                body_type = body.text("AirSyncBase:Type") or "1"
                try:
                    answer.body_type = int(body_type)
                except ValueError:
                    raise _Malformed(f"Body Type {body_type!r}") from None
            answer.proposed_start = send.text(f"{NS}:ProposedStartTime")
            answer.proposed_end = send.text(f"{NS}:ProposedEndTime")
        answers.append(answer)
    if not answers or len(answers) > MAX_REQUESTS:
        raise _Malformed(f"{len(answers)} requests")
    return answers


def build(results: list[MeetingResult], version: str) -> Element:
    return E(ROOT, *[
        E(f"{NS}:Result",
          E(f"{NS}:RequestId", r.request_id) if r.request_id else None,
          E(f"{NS}:Status", r.status),
          E(f"{NS}:CalendarId", r.calendar_id) if r.calendar_id else None,
          E(f"{NS}:InstanceId", r.instance_id) if r.instance_id and has(version, "instance_id") else None)
        for r in results
    ])


async def handle(ctx: CommandContext, tree: Element | None) -> Response:
    if tree is None:
        return encode(Common.InvalidXML, ctx.version, ROOT)
    try:
        answers = parse(tree, ctx.version)
    except _Malformed:
        return encode(Common.InvalidXML, ctx.version, ROOT)
    results: list[MeetingResult | None] = []
    for a in answers:
        # InstanceId is 14.1+ and the reply with proposals 16.x; an older client using them is wrong.
        if (a.instance_id and not has(ctx.version, "instance_id")) or (a.send_response and not has(ctx.version, "send_response")):
            results.append(MeetingResult(a.request_id, MeetingResponseStatus.InvalidMeetingRequest))
            continue
        results.append(None)
    todo = [a for a, r in zip(answers, results) if r is None]
    done = iter(await ctx.store.meeting_response(ctx, todo) if todo else [])
    answered = [r if r is not None else next(done) for r in results]
    return Response(200, build(answered, ctx.version))


COMMANDS = (Command("MeetingResponse", handle, root=ROOT),)
