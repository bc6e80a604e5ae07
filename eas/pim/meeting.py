"""Meetings between iTIP (eas.pim.ical) and EAS: the calendar item an invitation becomes, the
email:MeetingRequest of the invitation mail (MS-ASEMAIL 2.2.2.48), and the event a 16.x device's
own meeting is sent out as.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ..email import wire_datetime
from . import tree
from .calendar import compact, number, recurrence, time_of, zone
from .ical import Attendee, Event, Override
from .tree import EXCEPTION_TIME, LOCATION, Node, children, value

# MS-ASCAL Recurrence children in the order Exchange writes them.
_REC_ORDER = ("Type", "Occurrences", "Interval", "WeekOfMonth", "DayOfWeek", "MonthOfYear", "Until", "DayOfMonth",
              "CalendarType", "IsLeapMonth", "FirstDayOfWeek")
# The same recurrence inside email:MeetingRequest/Recurrences: the newer fields are on Email2.
_EMAIL2 = {"CalendarType", "IsLeapMonth", "FirstDayOfWeek"}

# MS-ASCAL MeetingStatus and ResponseType values used here.
MEETING_ORGANISER, MEETING_RECEIVED, MEETING_CANCELLED_RECEIVED = 1, 3, 7
RESPONSE_ORGANISER, RESPONSE_TENTATIVE, RESPONSE_ACCEPTED, RESPONSE_DECLINED, RESPONSE_NONE = 1, 2, 3, 4, 5


def address(email: str, name: str = "") -> str:
    """An address as Exchange writes it in EAS: `"Name" <addr>`."""
    if not name:
        return email
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '" <' + email + ">"


def _location(text: str) -> Node:
    return [LOCATION, [["AirSyncBase:DisplayName", text]]]


def _body(text: str) -> Node:
    return [tree.BODY, [["AirSyncBase:Type", "1"], ["AirSyncBase:Data", text]]]


def _exception(o: Override) -> Node:
    props: list[Node] = []
    if o.deleted:
        props.append(["Calendar:Deleted", "1"])
    props.append([EXCEPTION_TIME, compact(o.recurrence_id)])
    if not o.deleted:
        for tag, val in (("Calendar:Subject", o.subject), ("Calendar:StartTime", o.start and compact(o.start)),
                         ("Calendar:EndTime", o.end and compact(o.end)),
                         ("Calendar:BusyStatus", o.busy_status), ("Calendar:Reminder", o.reminder)):
            if val is not None:
                props.append([tag, str(val)])
        if o.all_day is not None:
            props.append(["Calendar:AllDayEvent", "1" if o.all_day else "0"])
        if o.location is not None:
            props.append(_location(o.location))
        if o.description is not None:
            props.append(_body(o.description))
    return ["Calendar:Exception", props]


def event_nodes(event: Event, *, meeting_status: int, response_type: int | None, busy_status: int | None = None,
                now: datetime) -> list[Node]:
    """The calendar item of a meeting (an invitation received, or a series updated); `now`, the
    server clock's time, stands in for a missing DTSTAMP."""
    from .timezone import UTC_BLOB

    nodes: list[Node] = [
        ["Calendar:Timezone", event.timezone or UTC_BLOB.to_base64()],
        ["Calendar:AllDayEvent", "1" if event.all_day else "0"],
        ["Calendar:BusyStatus", str(event.busy_status if busy_status is None else busy_status)],
        ["Calendar:DtStamp", compact(event.dtstamp or now)],
        ["Calendar:Sensitivity", str(event.sensitivity)],
        ["Calendar:Subject", event.subject],
        ["Calendar:UID", event.uid],
        ["Calendar:MeetingStatus", str(meeting_status)],
        ["Calendar:ResponseRequested", "1" if event.response_requested else "0"],
        ["Calendar:DisallowNewTimeProposal", "1" if event.disallow_new_time_proposal else "0"],
    ]
    if event.start is not None:
        nodes.append(["Calendar:StartTime", compact(event.start)])
        nodes.append(["Calendar:EndTime", compact(event.end or event.start)])
    if event.description:
        nodes.append(_body(event.description))
    if event.organizer_email:
        nodes.append(["Calendar:OrganizerName", event.organizer_name or event.organizer_email])
        nodes.append(["Calendar:OrganizerEmail", event.organizer_email])
    if event.location:
        nodes.append(_location(event.location))
    if event.reminder is not None:
        nodes.append(["Calendar:Reminder", str(event.reminder)])
    if event.attendees:
        nodes.append(["Calendar:Attendees", [
            ["Calendar:Attendee", [["Calendar:Email", a.email], ["Calendar:Name", a.name or a.email],
                                   ["Calendar:AttendeeStatus", str(a.status)], ["Calendar:AttendeeType", str(a.type)]]]
            for a in event.attendees]])
    if event.recurrence:
        nodes.append(["Calendar:Recurrence", [[f"Calendar:{k}", event.recurrence[k]] for k in _REC_ORDER if k in event.recurrence]])
    if event.overrides:
        nodes.append(["Calendar:Exceptions", [_exception(o) for o in event.overrides]])
    if response_type is not None:
        nodes.append(["Calendar:ResponseType", str(response_type)])
    return tree.sort("Calendar", nodes)


def meeting_request(event: Event, *, message_type: int, now: datetime) -> list[Node]:
    """email:MeetingRequest children (MS-ASEMAIL 2.2.2.48) in Exchange's order.  `message_type` is
    email2:MeetingMessageType: 1 a new request, 2 a full update (14.1+); `now`, the server clock's
    time, stands in for a missing DTSTART."""
    from .calendar import global_object_id
    from .timezone import UTC_BLOB

    start = event.start or now
    nodes: list[Node] = [
        ["Email:AllDayEvent", "1" if event.all_day else "0"],
        ["Email:StartTime", wire_datetime(start)],
        ["Email:DtStamp", wire_datetime(event.dtstamp or start)],
        ["Email:EndTime", wire_datetime(event.end or start)],
        ["Email:InstanceType", "3" if event.recurrence_id else "1" if event.recurrence else "0"],
    ]
    if event.location:
        nodes.append(_location(event.location))
    nodes.append(["Email:Organizer", address(event.organizer_email, event.organizer_name)])
    if event.recurrence_id:
        nodes.append(["Email:RecurrenceId", wire_datetime(event.recurrence_id)])
    if event.reminder is not None:
        nodes.append(["Email:Reminder", str(event.reminder * 60)])  # seconds here, minutes in MS-ASCAL
    nodes.append(["Email:ResponseRequested", "1" if event.response_requested else "0"])
    if event.recurrence and not event.recurrence_id:
        pattern = dict(event.recurrence)
        if str(pattern.get("Type")) in ("2", "3", "5", "6"):
            pattern.setdefault("CalendarType", "0")  # MS-ASEMAIL 2.2.2.15: required on these Types; 0 the default
        rec = [[f"Email2:{k}" if k in _EMAIL2 else f"Email:{k}", pattern[k]] for k in _REC_ORDER if k in pattern]
        nodes.append(["Email:Recurrences", [["Email:Recurrence", rec]]])
    nodes += [
        ["Email:Sensitivity", str(event.sensitivity)],
        ["Email:BusyStatus", str(event.busy_status)],
        ["Email:TimeZone", event.timezone or UTC_BLOB.to_base64()],
        ["Email:GlobalObjId", global_object_id(event.uid, event.recurrence_id)],
        ["Calendar:UID", event.uid],
        ["Email:DisallowNewTimeProposal", "1" if event.disallow_new_time_proposal else "0"],
        ["Email2:MeetingMessageType", str(message_type)],
    ]
    return nodes


def _override(exc: list[Node], start_time: str) -> Override:
    """The Override for one Calendar:Exception whose ExceptionStartTime is `start_time`."""
    from .recurrence import parse_compact

    o = Override(recurrence_id=parse_compact(start_time), deleted=value(exc, "Calendar:Deleted") == "1")
    o.subject = value(exc, "Calendar:Subject")
    o.start, o.end = time_of(exc, "Calendar:StartTime"), time_of(exc, "Calendar:EndTime")
    loc = children(exc, LOCATION)
    o.location = value(loc, "AirSyncBase:DisplayName") if tree.find(exc, LOCATION) else None
    body = children(exc, tree.BODY)
    o.description = value(body, "AirSyncBase:Data") if body else None
    if value(exc, "Calendar:AllDayEvent") is not None:
        o.all_day = value(exc, "Calendar:AllDayEvent") == "1"
    if value(exc, "Calendar:BusyStatus"):
        o.busy_status = number(value(exc, "Calendar:BusyStatus"), 2)
    return o


def _minutes(text: str | None) -> int | None:
    minutes = number(text, -1)
    return minutes if minutes >= 0 else None


def nodes_event(nodes: list[Node], *, organizer_email: str, organizer_name: str, sequence: int = 0) -> Event:
    """The iTIP event of a calendar item a device created (to send its invitations)."""
    start, end = time_of(nodes, "Calendar:StartTime"), time_of(nodes, "Calendar:EndTime")
    all_day = value(nodes, "Calendar:AllDayEvent") == "1"
    tz = zone(nodes)
    event = Event(uid=value(nodes, "Calendar:UID") or "", sequence=sequence, dtstamp=time_of(nodes, "Calendar:DtStamp"),
                  subject=value(nodes, "Calendar:Subject") or "",
                  location=value(children(nodes, LOCATION), "AirSyncBase:DisplayName") or "",
                  description=value(children(nodes, tree.BODY), "AirSyncBase:Data") or "",
                  start=start, end=end or start, all_day=all_day, timezone=value(nodes, "Calendar:Timezone") or "",
                  tzid=getattr(tz, "tzid", "") or "", organizer_email=organizer_email, organizer_name=organizer_name,
                  recurrence=recurrence(nodes),
                  reminder=_minutes(value(nodes, "Calendar:Reminder")),
                  busy_status=number(value(nodes, "Calendar:BusyStatus"), 2),
                  sensitivity=number(value(nodes, "Calendar:Sensitivity"), 0),
                  response_requested=value(nodes, "Calendar:ResponseRequested") != "0",
                  disallow_new_time_proposal=value(nodes, "Calendar:DisallowNewTimeProposal") == "1")
    for _, att in children(nodes, "Calendar:Attendees"):
        email = (value(att, "Calendar:Email") or "").lower()
        if email:
            event.attendees.append(Attendee(email=email, name=value(att, "Calendar:Name") or "",
                                            status=number(value(att, "Calendar:AttendeeStatus"), 5),
                                            type=number(value(att, "Calendar:AttendeeType"), 1)))
    event.overrides = [_override(exc, start_time) for _, exc in children(nodes, "Calendar:Exceptions")
                       if (start_time := value(exc, EXCEPTION_TIME))]
    return event


def set_attendee_status(nodes: list[Node], email: str, status: int, *, instance: str | None = None,
                        proposed: tuple[datetime, datetime] | None = None) -> bool:
    """The organiser's copy learns an attendee's answer (a REPLY); False when not an attendee."""
    target = nodes
    if instance is not None:
        exc = next((e for _, e in children(nodes, "Calendar:Exceptions") if value(e, EXCEPTION_TIME) == instance), None)
        if exc is None:
            return set_attendee_status(nodes, email, status, proposed=proposed)
        if not tree.find(exc, "Calendar:Attendees"):
            exc.append(["Calendar:Attendees", [list(a) for a in children(nodes, "Calendar:Attendees")]])
            for a in children(exc, "Calendar:Attendees"):
                a[1] = [list(p) for p in a[1]]
        target = exc
    for _, att in children(target, "Calendar:Attendees"):
        if (value(att, "Calendar:Email") or "").lower() == email.lower():
            tree.put(att, "Calendar:AttendeeStatus", str(status))
            if proposed is not None:
                tree.put(att, "MeetingResponse:ProposedStartTime", compact(proposed[0]))
                tree.put(att, "MeetingResponse:ProposedEndTime", compact(proposed[1]))
            return True
    return False


def respond(nodes: list[Node], response: int, now: datetime, *, instance: str | None = None,
            intended: int = 2) -> list[Node]:
    """The attendee's own copy after MeetingResponse: accepted (shown as the organiser intended,
    X-MICROSOFT-CDO-INTENDEDSTATUS, busy by default), tentative; declining an occurrence deletes
    it (declining the series deletes the item — the caller's part)."""
    response_type = {1: RESPONSE_ACCEPTED, 2: RESPONSE_TENTATIVE, 3: RESPONSE_DECLINED}[response]
    busy = {1: str(intended), 2: "1"}.get(response)
    if instance is not None:
        if response == 3:
            return tree.change_instance(nodes, instance, [], delete=True)
        props: list[Node] = [["Calendar:ResponseType", str(response_type)], ["Calendar:BusyStatus", busy],
                 ["Calendar:AppointmentReplyTime", compact(now)]]
        return tree.change_instance(nodes, instance, props)
    nodes = [list(n) for n in nodes]
    tree.put(nodes, "Calendar:ResponseType", str(response_type))
    tree.put(nodes, "Calendar:AppointmentReplyTime", compact(now))
    if busy is not None:
        tree.put(nodes, "Calendar:BusyStatus", busy)
    return tree.sort("Calendar", nodes)


def occurrence_start(nodes: list[Node], instance: str) -> datetime | None:
    """The start of occurrence `instance` if the series has it (MeetingResponse InstanceId)."""
    from .calendar import occurrences
    from .recurrence import parse_compact

    when = parse_compact(instance)
    for o in occurrences(nodes, when - timedelta(seconds=1), when + timedelta(seconds=1)):
        if o.instance_id == compact(when):
            return when
    return None
