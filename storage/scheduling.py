"""Meeting mail (iTIP, RFC 5546) arriving in a mailbox, and a user's answer to a meeting request.

A message with a text/calendar part is stored like any other, with the message class and the
email:MeetingRequest Exchange gives it, and it updates the recipient's calendar in the same
transaction: a REQUEST becomes (or updates) a tentative event, a CANCEL marks the event cancelled
or removes one occurrence, a REPLY or COUNTER records the attendee's answer on the organiser's
event.  MeetingResponse (`respond`) records the user's own answer and says what to send back.
"""
from __future__ import annotations

import copy
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy

from sqlmodel import Session

from easlab.eas.folders import FolderType
from easlab.eas.mime import ParsedMessage
from easlab.eas.pim import meeting, tree
from easlab.eas.pim.calendar import compact
from easlab.eas.pim.ical import CalendarError, CalendarMessage, Event, find_calendar_part, parse_calendar, reply_status

from .conversations import arrival_folder
from .items import find_folder, item_in_folder
from .mailbox import delete_item, folder_by_type, move_item, store_message
from .models import Folder, Item, User
from .pim import add_pim, change_pim, find_by_uid

log = logging.getLogger("easlab.scheduling")

# Only mail that names a calendar part is parsed for one (a scan of bytes, not a MIME parse).
_MAY_HOLD_ITIP = re.compile(rb"(?i)text/calendar|application/ics|\.ics\b")
RESPONSE_CLASS = {3: "IPM.Schedule.Meeting.Resp.Pos", 2: "IPM.Schedule.Meeting.Resp.Tent", 4: "IPM.Schedule.Meeting.Resp.Neg"}


def calendar_message(mime: bytes) -> CalendarMessage | None:
    try:
        part = find_calendar_part(message_from_bytes(mime, policy=policy.default))
        return parse_calendar(part) if part else None
    except (CalendarError, ValueError, LookupError) as exc:
        log.info("calendar part not usable: %s", exc)
        return None


def _event_nodes(item: Item) -> list:
    """A copy: tree.put and meeting.set_attendee_status edit nodes in place, and the loaded value
    must keep what the database holds until the edit is written."""
    return copy.deepcopy(item.pim or [])


def _apply_request(session: Session, calendar: Folder, event: Event, now: datetime) -> int:
    """A REQUEST: create or update the attendee's event; returns email2:MeetingMessageType."""
    existing = find_by_uid(session, calendar, event.uid)
    if event.recurrence_id is not None:
        if existing is None:
            return 1  # an occurrence of a series we never received: only the mail is kept
        props = meeting.event_nodes(event, meeting_status=meeting.MEETING_RECEIVED, response_type=meeting.RESPONSE_NONE,
                                    busy_status=1, now=now)
        keep = [n for n in props if n[0] in tree.EXCEPTION_PROPERTIES]
        nodes = tree.change_instance(_event_nodes(existing), compact(event.recurrence_id), keep)
        change_pim(session, calendar, existing, "Calendar", nodes, now)
        return 2
    # Until the user answers, Exchange shows a received meeting as tentative.
    nodes = meeting.event_nodes(event, meeting_status=meeting.MEETING_RECEIVED, response_type=meeting.RESPONSE_NONE,
                                busy_status=1, now=now)
    if existing is None:
        add_pim(session, calendar, "Calendar", nodes, now)
        return 1
    change_pim(session, calendar, existing, "Calendar", nodes, now)
    return 2


def _apply_cancel(session: Session, calendar: Folder, event: Event, now: datetime) -> None:
    existing = find_by_uid(session, calendar, event.uid)
    if existing is None:
        return
    nodes = _event_nodes(existing)
    if event.recurrence_id is not None:
        nodes = tree.change_instance(nodes, compact(event.recurrence_id), [], delete=True)
    else:
        tree.put(nodes, "Calendar:MeetingStatus", str(meeting.MEETING_CANCELLED_RECEIVED))
    change_pim(session, calendar, existing, "Calendar", nodes, now)


def _apply_reply(session: Session, calendar: Folder, event: Event, status: int, now: datetime) -> None:
    existing = find_by_uid(session, calendar, event.uid)
    if existing is None or not event.attendees:
        return
    nodes = _event_nodes(existing)
    proposed = (event.proposed_start, event.proposed_end) if event.proposed_start and event.proposed_end else None
    instance = compact(event.recurrence_id) if event.recurrence_id else None
    if meeting.set_attendee_status(nodes, event.attendees[0].email, status, instance=instance, proposed=proposed):
        change_pim(session, calendar, existing, "Calendar", nodes, now)


def may_hold_itip(mime: bytes) -> bool:
    """Whether a message may carry an iTIP part (deliver_to_inbox then looks for it)."""
    return _MAY_HOLD_ITIP.search(mime) is not None


def deliver_to_inbox(session: Session, user: User, address: str, mime: bytes, parsed: ParsedMessage,
                     now: datetime) -> list[int]:
    """Store `mime` in the user's Inbox, applying its iTIP part; returns the folders changed."""
    inbox = folder_by_type(session, user, FolderType.Inbox)
    touched = [inbox.id]
    itip = calendar_message(mime) if _MAY_HOLD_ITIP.search(mime) else None
    meeting_nodes: list = []
    if itip is not None and itip.events:
        calendar = folder_by_type(session, user, FolderType.Calendar)
        event = itip.events[0]
        mine = event.organizer_email.lower() == address.lower()
        if itip.method == "REQUEST" and not mine:
            kind = _apply_request(session, calendar, event, now)
            parsed.message_class = "IPM.Schedule.Meeting.Request"
            meeting_nodes = meeting.meeting_request(event, message_type=kind, now=now)
            touched.append(calendar.id)
        elif itip.method == "CANCEL" and not mine:
            _apply_cancel(session, calendar, event, now)
            parsed.message_class = "IPM.Schedule.Meeting.Canceled"
            meeting_nodes = meeting.meeting_request(event, message_type=0, now=now)
            touched.append(calendar.id)
        elif itip.method in ("REPLY", "COUNTER") and mine and event.attendees:
            status = reply_status(itip, event.attendees[0].email) or 5
            if itip.method == "COUNTER":
                status = status if status in (2, 4) else 2
            _apply_reply(session, calendar, event, status, now)
            parsed.message_class = RESPONSE_CLASS.get(status, "IPM.Schedule.Meeting.Resp.Tent")
            touched.append(calendar.id)
    target = arrival_folder(session, user, parsed.conversation_id, inbox)  # a conversation moved always
    if target is not inbox:
        touched[0] = target.id
    item = store_message(session, target, mime, parsed=parsed, received=now)
    if meeting_nodes:
        item.pim = tree.scrub(meeting_nodes)
        item.uid = itip.events[0].uid
        session.add(item)
    return touched


# -- MeetingResponse ----------------------------------------------------------------------------------
@dataclass
class Answer:
    """The outcome of one MeetingResponse Request."""

    status: int  # 1 success, 2 invalid meeting request, 3 mailbox error; or a common status (104, 146)
    calendar_id: str | None = None
    event: Event | None = None  # the meeting as the organiser sent it, to reply to
    touched: list[int] = field(default_factory=list)


def _request_event(item: Item) -> Event | None:
    itip = calendar_message(item.mime) if item.mime else None
    if itip is None or itip.method != "REQUEST" or not itip.events:
        return None
    return itip.events[0]


def respond(session: Session, user: User, address: str, item: Item, folder: Folder, response: int,
            instance: str | None, now: datetime) -> Answer:
    """Record `response` (1 accept, 2 tentative, 3 decline) to the meeting request mail or the
    calendar item `item` (MS-ASCMD 2.2.1.11)."""
    from easlab.eas.pim.calendar import recurrence
    from easlab.eas.pim.recurrence import parse_compact

    calendar = folder_by_type(session, user, FolderType.Calendar)
    from_mail = item.message_class.startswith("IPM.Schedule.Meeting.Request")
    event = _request_event(item) if from_mail else None
    if from_mail:
        if event is None:
            return Answer(2)
        target = find_by_uid(session, calendar, event.uid)
        if target is None:  # the event was removed meanwhile: the request recreates it
            nodes = meeting.event_nodes(event, meeting_status=meeting.MEETING_RECEIVED, response_type=meeting.RESPONSE_NONE,
                                        busy_status=1, now=now)
            target = add_pim(session, calendar, "Calendar", nodes, now)
    elif item.message_class == "IPM.Appointment" and item.pim is not None:
        target = item
        calendar = folder
    else:
        return Answer(2)
    if instance is None and event is not None and event.recurrence_id is not None:
        # The request was for one occurrence: so is the answer.
        instance = compact(event.recurrence_id)
    nodes = _event_nodes(target)
    organizer = (tree.value(nodes, "Calendar:OrganizerEmail") or "").lower()
    if not organizer or organizer == address.lower():
        return Answer(2)  # not a meeting, or the user organises it
    if instance is not None:
        try:
            parse_compact(instance)
        except ValueError:
            return Answer(104)  # InvalidDateTime
        if recurrence(nodes) is None or meeting.occurrence_start(nodes, compact(parse_compact(instance))) is None:
            return Answer(146)  # InvalidRecurrence: no such occurrence
        instance = compact(parse_compact(instance))
    if event is None:
        from easlab.eas.pim.meeting import nodes_event

        event = nodes_event(nodes, organizer_email=organizer, organizer_name=tree.value(nodes, "Calendar:OrganizerName") or "")
    answer = Answer(1, event=event, touched=[calendar.id])
    if response == 3 and instance is None:
        delete_item(session, calendar, target)
    else:
        intended = event.busy_status if from_mail else 2
        change_pim(session, calendar, target, "Calendar",
                   meeting.respond(nodes, response, now, instance=instance, intended=intended), now)
        answer.calendar_id = target.server_id
    if from_mail:
        # Exchange files an answered request under Deleted Items.
        trash = folder_by_type(session, user, FolderType.DeletedItems)
        move_item(session, item, folder, trash)
        answer.touched += [folder.id, trash.id]
    return answer


def find_item(session: Session, user: User, collection_id: str, request_id: str) -> tuple[Item, Folder] | None:
    folder = find_folder(session, user, collection_id)
    if folder is None:
        return None
    item = item_in_folder(session, folder, request_id)
    return (item, folder) if item is not None else None
