"""MeetingResponse, and the meeting mail the server sends on a user's behalf: the iCalendar REPLY
(16.x SendResponse) and, for events a 16.x device organises, the invitations and cancellations.

The mail is built here and leaves through the same path as SendMail (server/store/sending.py
`Sending.submit`, by way of the request's DraftContext), in the command's transaction: local attendees find it in their Inbox (and their calendar) at once,
others through the outbound queue.
"""
from __future__ import annotations

import logging
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from typing import TYPE_CHECKING

from sqlmodel import Session

from easlab.eas.commands.meetingresponse import MeetingAnswer, MeetingResult
from easlab.eas.compose import ComposeError
from easlab.eas.pim import tree
from easlab.eas.pim.ical import Attendee, Event
from easlab.eas.pim.ical_write import build_reply, build_request
from easlab.eas.pim.meeting import address as display_address
from easlab.eas.pim.meeting import nodes_event
from easlab.eas.pim.recurrence import parse_compact
from easlab.storage.models import User
from easlab.storage.longid import item_by_long_id
from easlab.storage.scheduling import find_item, respond

from .context import StoreContext

if TYPE_CHECKING:
    from .sending import DraftContext, Sending

log = logging.getLogger("easlab.meeting")

PARTSTAT = {1: "ACCEPTED", 2: "TENTATIVE", 3: "DECLINED"}
SUBJECT_PREFIX = {1: "Accepted", 2: "Tentative", 3: "Declined"}  # Exchange's English prefixes


def itip_mime(sender: str, recipients: list[str], subject: str, text: str, calendar: bytes, method: str,
              now: datetime) -> bytes:
    """A meeting mail as Outlook sends one: plain text, and the iCalendar as its alternative."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">") or "easlab")
    msg.set_content(text or "")
    msg.add_alternative(calendar, maintype="text", subtype="calendar", params={"method": method, "charset": "utf-8"})
    return msg.as_bytes()


def _submit(send, session: Session, user: User, mime: bytes) -> None:
    try:
        send.submit(session, user, send.outgoing(user, mime))
    except ComposeError as exc:  # no usable recipient: nothing to send, the answer itself stands
        log.info("meeting mail from %s not sent: %s", user.name, exc)


def send_reply(send, session: Session, user: User, event: Event, answer: MeetingAnswer, instance: datetime | None) -> None:
    me = Attendee(email=send.address(user).lower(), name=user.display_name or user.name)
    proposed = None
    if answer.proposed_start and answer.proposed_end:
        try:
            proposed = (parse_compact(answer.proposed_start), parse_compact(answer.proposed_end))
        except ValueError:
            proposed = None
    if instance is not None:
        event.recurrence_id = instance
    calendar = build_reply(event, me, PARTSTAT[answer.user_response], proposed_start=proposed and proposed[0],
                           proposed_end=proposed and proposed[1], comment=answer.body, now=send.now)
    prefix = "New Time Proposed" if proposed else SUBJECT_PREFIX[answer.user_response]
    method = "COUNTER" if proposed else "REPLY"
    organizer = display_address(event.organizer_email, event.organizer_name)
    mime = itip_mime(send.sender(user), [organizer], f"{prefix}: {event.subject}", answer.body, calendar, method, send.now)
    _submit(send, session, user, mime)


def _sequence(nodes: list, now: datetime) -> int:
    """iTIP wants a larger SEQUENCE for every update; the seconds since the event's DtStamp grow
    with every later update without a counter stored beside the event."""
    try:
        stamp = parse_compact(tree.value(nodes, "Calendar:DtStamp") or "")
    except ValueError:
        return 0
    return max(0, int((now - stamp).total_seconds()))


def _significant(nodes: list, before: list | None) -> bool:
    """Whether a change is one attendees must hear of (time, place, subject, series, attendees)."""
    if before is None:
        return True
    tags = ("Calendar:StartTime", "Calendar:EndTime", "Calendar:Subject", tree.LOCATION, "Calendar:Recurrence",
            "Calendar:Exceptions", "Calendar:Attendees", "Calendar:AllDayEvent")
    return any(tree.find(nodes, t) != tree.find(before, t) for t in tags)


def send_invitations(send, session: Session, user: User, kind: str, nodes: list, before: list | None) -> None:
    from easlab.eas.versions import has

    if not has(send.version, "send_response"):
        return  # up to 14.1 the device sends its own meeting mail with SendMail
    me = send.address(user).lower()
    organizer = (tree.value(nodes, "Calendar:OrganizerEmail") or me).lower()
    if organizer != me:
        return
    event = nodes_event(nodes, organizer_email=me, organizer_name=user.display_name or user.name,
                        sequence=0 if kind == "add" else _sequence(nodes, send.now))
    attendees = [a for a in event.attendees if a.email != me]
    if not attendees or (kind == "change" and not _significant(nodes, before)):
        return
    method = "CANCEL" if kind == "delete" else "REQUEST"
    subject = f"Canceled: {event.subject}" if kind == "delete" else event.subject
    try:
        calendar = build_request(event, method, now=send.now)
    except ValueError as exc:  # e.g. no StartTime: the event is stored, but there is nothing to invite to
        log.info("no invitation for %r from %s: %s", event.subject, user.name, exc)
        return
    recipients = [display_address(a.email, a.name) for a in attendees]
    mime = itip_mime(send.sender(user), recipients, subject, event.description, calendar, method, send.now)
    _submit(send, session, user, mime)


class MeetingAdapter:
    """The MeetingPort."""

    def __init__(self, store: StoreContext, sending: Sending):
        self.store = store
        self.sending = sending

    def _answer(self, session: Session, user: User, send: DraftContext, a: MeetingAnswer, touched: set[int]) -> MeetingResult:
        found = item_by_long_id(session, user, a.long_id) if a.long_id else find_item(session, user, a.collection_id, a.request_id)
        if found is None:
            return MeetingResult(a.request_id, 2)
        item, folder = found
        outcome = respond(session, user, send.address(user), item, folder, a.user_response, a.instance_id, send.now)
        touched.update(outcome.touched)
        if outcome.status == 1 and a.send_response and outcome.event is not None:
            instance = parse_compact(a.instance_id) if a.instance_id else None
            send_reply(send, session, user, outcome.event, a, instance)
        return MeetingResult(a.request_id, outcome.status, outcome.calendar_id, a.instance_id if outcome.status == 1 else None)

    async def meeting_response(self, ctx, answers: list[MeetingAnswer]) -> list[MeetingResult]:
        send = self.sending.draft_context(ctx.version)
        touched: set[int] = set()

        def work(session):
            user, _ = self.store.who(session, ctx)
            return [self._answer(session, user, send, a, touched) for a in answers]

        results = await self.store.run(work)
        if touched:
            self.store.hub.notify(touched)
        send.finish()
        return results
