"""Meeting requests, MeetingResponse and the iCalendar mail around them, in-process with exact trees."""
from datetime import datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlmodel import select

from easlab.eas.pim.ical import Attendee, Event, find_calendar_part, parse_calendar
from easlab.eas.pim.ical_write import build_request
from easlab.eas.pim.timezone import from_zone_name
from easlab.eas.wbxml import E
from easlab.server.store.meeting import itip_mime
from easlab.storage.models import Item, OutboundMail
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, C, B, M = "AirSync", "Calendar", "AirSyncBase", "MeetingResponse"
INBOX, DELETED, CALENDAR = "1", "3", "7"
VECTORS = Path(__file__).parent.parent / "eas" / "ical"
BERLIN = from_zone_name("Europe/Berlin", 2026).to_base64()
ITIP_TIME = datetime(2026, 11, 1, tzinfo=timezone.utc)  # when the organiser sent the invitations below


def alice(client, version="14.1", device="a1"):
    return Raw(client, device=device, version=version, device_type="TestPhone")


def bob(client, version="16.1", device="b1"):
    return Raw(client, user="bob", password="hunter2", device=device, version=version, device_type="TestPhone")


async def items(dev, folder, *extra):
    """Everything in `folder` as the device downloads it: {ServerId: ApplicationData}."""
    resp = await dev.sync("0", folder, *extra)
    key, found = collection(resp).text(f"{A}:SyncKey"), {}
    while True:
        resp = await dev.sync(key, folder)
        if resp is None:
            return found
        coll = collection(resp)
        key = coll.text(f"{A}:SyncKey")
        cmds = coll.find(f"{A}:Commands")
        for c in cmds.children if cmds is not None else []:
            if c.name in ("Add", "Change"):
                found[c.text(f"{A}:ServerId")] = c.find(f"{A}:ApplicationData")
        if not coll.has(f"{A}:MoreAvailable"):
            return found


def outlook_request(to="alice@easlab.test"):
    """The Outlook/Exchange vector with alice as the first attendee."""
    ics = (VECTORS / "outlook_weekly_request.ics").read_text().replace("mailto:bob@example.net", f"mailto:{to}")
    return itip_mime('"Anna Müller" <anna.mueller@contoso.com>', [to], "Team sync", "Weekly sync, bring notes.",
                     ics.encode(), "REQUEST", datetime(2024, 3, 1, 12, tzinfo=timezone.utc))


def meeting_response(*requests):
    return E(f"{M}:MeetingResponse", *requests)


def request(response, request_id, collection_id=INBOX, *extra):
    return E(f"{M}:Request", E(f"{M}:UserResponse", response), E(f"{M}:CollectionId", collection_id),
             E(f"{M}:RequestId", request_id), *extra)


@pytest.mark.req("MS-ASCMD_R5707", "MS-ASCMD_R5723", "MS-ASCMD_R5068", "MS-ASCMD_R5828", "MS-ASCMD_R5071",
                 "MS-ASCMD_R3843", "MS-ASCMD_R830", "MS-ASCMD_R831", "MS-ASCMD_R3807", "MS-ASCMD_R5089",
                 "MS-ASCMD_R4180")
@pytest.mark.req("MS-ASEMAIL_R16", "MS-ASEMAIL_R17", "MS-ASEMAIL_R650", "MS-ASEMAIL_R1067", "MS-ASEMAIL_R417", "MS-ASEMAIL_R687")
@pytest.mark.req("MS-ASCAL_R52522", "MS-ASCAL_R525221", "MS-ASCAL_R52522111")
async def test_smtp_request_becomes_a_meeting_mail_and_a_tentative_event(client, app):
    await app.state.store.deliver(outlook_request(), ["alice@easlab.test"])
    dev = alice(client)
    (sid, mail), = (await items(dev, INBOX)).items()
    assert mail.text("Email:MessageClass") == "IPM.Schedule.Meeting.Request"
    assert mail.text("Email:ContentClass") == "urn:content-classes:calendarmessage"
    req = mail.find("Email:MeetingRequest")
    berlin_2024 = from_zone_name("Europe/Berlin", 2024)
    assert [c.tag for c in req.children] == [
        "Email:AllDayEvent", "Email:StartTime", "Email:DtStamp", "Email:EndTime", "Email:InstanceType", "Email:Location",
        "Email:Organizer", "Email:Reminder", "Email:ResponseRequested", "Email:Recurrences", "Email:Sensitivity",
        "Email:BusyStatus", "Email:TimeZone", "Email:GlobalObjId", "Email:DisallowNewTimeProposal", "Email2:MeetingMessageType"]
    assert req.text("Email:Organizer") == '"Müller, Anna" <anna.mueller@contoso.com>'
    assert req.text("Email:StartTime") == "2024-03-05T09:00:00.000Z"
    assert req.text("Email:InstanceType") == "1" and req.text("Email:Reminder") == "900"
    assert req.find("Email:Recurrences") == E("Email:Recurrences", E("Email:Recurrence", E("Email:Type", 1),
                                              E("Email:DayOfWeek", 4), E("Email:Until", "20240430T080000Z"),
                                              E("Email2:FirstDayOfWeek", 1)))
    from easlab.eas.pim.timezone import TimeZoneBlob
    blob = TimeZoneBlob.from_base64(req.text("Email:TimeZone"))
    assert (blob.bias, blob.standard_date, blob.daylight_date) == (berlin_2024.bias, berlin_2024.standard_date, berlin_2024.daylight_date)
    assert req.text("Email:DisallowNewTimeProposal") == "1" and req.text("Email2:MeetingMessageType") == "1"
    # The calendar holds the meeting as received and not yet answered: tentative.
    (cid, event), = (await items(dev, CALENDAR)).items()
    assert event.text(f"{C}:MeetingStatus") == "3" and event.text(f"{C}:BusyStatus") == "1"
    assert event.text(f"{C}:ResponseType") == "5" and event.text(f"{C}:Subject") == "Team sync"
    assert not event.has(f"{C}:AppointmentReplyTime")  # not answered yet
    assert event.text(f"{C}:OrganizerEmail") == "anna.mueller@contoso.com"
    assert event.text(f"{C}:Location") == "Room 1" and event.text(f"{C}:Reminder") == "15"
    exceptions = event.find(f"{C}:Exceptions").children
    deleted = sorted(e.text(f"{C}:ExceptionStartTime") for e in exceptions if e.text(f"{C}:Deleted") == "1")
    assert deleted == ["20240319T090000Z", "20240416T080000Z", "20240423T080000Z"]
    moved, = [e for e in exceptions if e.text(f"{C}:Deleted") != "1"]
    assert (moved.text(f"{C}:ExceptionStartTime"), moved.text(f"{C}:Subject"), moved.text(f"{C}:StartTime")) == (
        "20240402T080000Z", "Team sync (moved)", "20240402T120000Z")
    assert not any(e.has(f"{C}:AppointmentReplyTime") for e in exceptions)
    # MeetingStatus 3 + MeetingResponse accept: the event becomes busy and accepted, the request
    # goes to Deleted Items, CalendarId names the event.
    resp = await dev.call("MeetingResponse", meeting_response(request(1, sid)))
    assert resp == meeting_response(E(f"{M}:Result", E(f"{M}:RequestId", sid), E(f"{M}:Status", 1), E(f"{M}:CalendarId", cid)))
    event = (await items(alice(client, device="a2"), CALENDAR))[cid]
    assert (event.text(f"{C}:ResponseType"), event.text(f"{C}:BusyStatus")) == ("3", "2")
    assert event.text(f"{C}:AppointmentReplyTime")
    assert await items(alice(client, device="a3"), INBOX) == {}
    assert [d.text("Email:MessageClass") for d in (await items(alice(client, device="a4"), DELETED)).values()] == [
        "IPM.Schedule.Meeting.Request"]


async def test_14_1_client_sends_its_own_reply_with_sendmail_and_it_reaches_the_organiser(client, app):
    await app.state.store.deliver(outlook_request(), ["alice@easlab.test"])
    dev = alice(client)
    (sid, _), = (await items(dev, INBOX)).items()
    await dev.call("MeetingResponse", meeting_response(request(2, sid)))
    # What iOS/Android (<= 14.1) then send: a REPLY built from the request.
    received = parse_calendar((VECTORS / "outlook_weekly_request.ics").read_bytes()).events[0]
    from easlab.eas.pim.ical_write import build_reply
    reply = build_reply(received, Attendee("alice@easlab.test", "Alice Example"), "TENTATIVE", now=datetime.now(timezone.utc))
    mime = itip_mime('"Alice Example" <alice@easlab.test>', ["anna.mueller@contoso.com"], "Tentative: Team sync", "",
                     reply, "REPLY", datetime.now(timezone.utc))
    r = await dev.post("SendMail", E("ComposeMail:SendMail", E("ComposeMail:ClientId", "r1"), E("ComposeMail:Mime", mime)))
    assert r.status_code == 200 and r.content == b""
    with app.state.db.session() as s:
        queued, = s.exec(select(OutboundMail)).all()
    assert queued.recipients == ["anna.mueller@contoso.com"]
    part = parse_calendar(find_calendar_part(message_from_bytes(queued.mime, policy=policy.default)))
    assert part.method == "REPLY" and part.events[0].attendees[0].email == "alice@easlab.test"
    assert part.events[0].attendees[0].status == 2


def bobs_meeting(*attendees):
    return E(f"{A}:ApplicationData",
             E(f"{C}:Timezone", BERLIN), E(f"{C}:AllDayEvent", 0), E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "Bring slides")),
             E(f"{C}:BusyStatus", 2), E(f"{C}:EndTime", "20261207T100000Z"), E(f"{B}:Location", E(f"{B}:DisplayName", "Lab")),
             E(f"{C}:Reminder", 15), E(f"{C}:Sensitivity", 0), E(f"{C}:Subject", "Design review"),
             E(f"{C}:StartTime", "20261207T090000Z"), E(f"{C}:MeetingStatus", 1),
             E(f"{C}:Attendees", *[E(f"{C}:Attendee", E(f"{C}:Email", a), E(f"{C}:Name", n), E(f"{C}:AttendeeType", 1)) for a, n in attendees]),
             E(f"{C}:Recurrence", E(f"{C}:Type", 1), E(f"{C}:Occurrences", 4), E(f"{C}:DayOfWeek", 2)),
             E(f"{C}:ResponseRequested", 1), E(f"{C}:ClientUid", "bob-client-1"))


async def add_event(dev, data):
    key = collection(await dev.sync("0", CALENDAR)).text(f"{A}:SyncKey")
    resp = await dev.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "e1"), data)))
    coll = collection(resp)
    return coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId"), coll.text(f"{A}:SyncKey")


@pytest.mark.req("MS-ASHTTP_R432")
@pytest.mark.req("MS-ASCMD_R7478")
@pytest.mark.req("MS-ASEMAIL_R1074")
async def test_16_1_organiser_invites_attendee_answers_with_send_response_and_organiser_sees_it(client, app):
    organiser = bob(client)
    event_id, key = await add_event(organiser, bobs_meeting(("alice@easlab.test", "Alice Example"), ("dan@example.net", "Dan")))
    # The server named bob the organiser and sent the invitations: alice's locally, Dan's outward.
    mine = (await items(bob(client, device="b2"), CALENDAR))[event_id]
    assert (mine.text(f"{C}:OrganizerEmail"), mine.text(f"{C}:OrganizerName")) == ("bob@easlab.test", "Bob Example")
    with app.state.db.session() as s:
        queued, = s.exec(select(OutboundMail)).all()
    assert queued.recipients == ["dan@example.net"]
    invitation = parse_calendar(find_calendar_part(message_from_bytes(queued.mime, policy=policy.default)))
    assert invitation.method == "REQUEST" and invitation.events[0].uid == mine.text(f"{C}:UID")
    assert invitation.events[0].recurrence == {"Type": "1", "Occurrences": "4", "DayOfWeek": "2"}
    # Alice (16.1) has the request and a tentative event.
    dev = alice(client, "16.1")
    (sid, mail), = (await items(dev, INBOX)).items()
    assert mail.text("Email:MessageClass") == "IPM.Schedule.Meeting.Request"
    assert mail.find("Email:MeetingRequest").text(f"{C}:UID") == mine.text(f"{C}:UID")
    assert not mail.find("Email:MeetingRequest").has("Email:GlobalObjId")  # a 14.1-only token
    (cid, hers), = (await items(dev, CALENDAR)).items()
    assert hers.text(f"{C}:UID") == mine.text(f"{C}:UID") and hers.text(f"{C}:MeetingStatus") == "3"
    assert hers.find(f"{B}:Location") == E(f"{B}:Location", E(f"{B}:DisplayName", "Lab"))
    # Accept with SendResponse: bob's Inbox gets the answer, bob's event records it.
    resp = await dev.call("MeetingResponse", meeting_response(request(1, sid, INBOX, E(f"{M}:SendResponse",
                          E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "See you"))))))
    assert resp.find(f"{M}:Result").text(f"{M}:Status") == "1"
    answers = await items(bob(client, device="b3"), INBOX)
    assert [(m.text("Email:MessageClass"), m.text("Email:Subject")) for m in answers.values()] == [
        ("IPM.Schedule.Meeting.Resp.Pos", "Accepted: Design review")]
    mine = (await items(bob(client, device="b4"), CALENDAR))[event_id]
    statuses = {a.text(f"{C}:Email"): a.text(f"{C}:AttendeeStatus") for a in mine.find(f"{C}:Attendees").children}
    assert statuses == {"alice@easlab.test": "3", "dan@example.net": None}
    # A new-time proposal on the second occurrence (16.1).
    resp = await dev.call("MeetingResponse", meeting_response(request(2, cid, CALENDAR, E(f"{M}:InstanceId", "2026-12-14T09:00:00.000Z"),
                          E(f"{M}:SendResponse", E(f"{M}:ProposedStartTime", "20261214T130000Z"), E(f"{M}:ProposedEndTime", "20261214T140000Z")))))
    assert resp == meeting_response(E(f"{M}:Result", E(f"{M}:RequestId", cid), E(f"{M}:Status", 1), E(f"{M}:CalendarId", cid),
                                      E(f"{M}:InstanceId", "2026-12-14T09:00:00.000Z")))
    answers = await items(bob(client, device="b5"), INBOX)
    assert sorted(m.text("Email:Subject") for m in answers.values()) == ["Accepted: Design review", "New Time Proposed: Design review"]
    # Bob deletes the meeting: alice's copy is cancelled.
    await organiser.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Delete", E(f"{A}:ServerId", event_id))))
    hers = (await items(alice(client, "16.1", device="a9"), CALENDAR))[cid]
    assert hers.text(f"{C}:MeetingStatus") == "7"
    classes = sorted(m.text("Email:MessageClass") for m in (await items(alice(client, "16.1", device="a8"), INBOX)).values())
    assert classes == ["IPM.Schedule.Meeting.Canceled"]


async def test_cancel_of_one_occurrence_deletes_it(client, app):
    await app.state.store.deliver(outlook_request(), ["alice@easlab.test"])
    cancel = (VECTORS / "outlook_cancel_occurrence.ics").read_bytes()
    mime = itip_mime('"Anna Müller" <anna.mueller@contoso.com>', ["alice@easlab.test"], "Canceled: Team sync", "",
                     cancel, "CANCEL", datetime(2024, 3, 2, tzinfo=timezone.utc))
    await app.state.store.deliver(mime, ["alice@easlab.test"])
    (_, event), = (await items(alice(client), CALENDAR)).items()
    which = parse_calendar(cancel).events[0].recurrence_id.strftime("%Y%m%dT%H%M%SZ")
    gone = [e for e in event.find(f"{C}:Exceptions").children if e.text(f"{C}:ExceptionStartTime") == which]
    assert [g.text(f"{C}:Deleted") for g in gone] == ["1"]


@pytest.mark.req("MS-ASCMD_R4182", "MS-ASCMD_R3196", "MS-ASCMD_R3195", "MS-ASCMD_R5072",
                 "MS-ASCMD_R837", "MS-ASCMD_R5709", "MS-ASCMD_R5725")
async def test_meeting_response_errors(client, app):
    from tests.server.eas_helpers import message

    await app.state.store.deliver(message(subject="plain"), ["alice@easlab.test"])
    single = Event(uid="one-off", subject="Lunch", start=datetime(2026, 12, 1, 11, tzinfo=timezone.utc),
                   end=datetime(2026, 12, 1, 12, tzinfo=timezone.utc), organizer_email="bob@easlab.test",
                   organizer_name="Bob Example", attendees=[Attendee("alice@easlab.test", "Alice")])
    mime = itip_mime('"Bob Example" <bob@easlab.test>', ["alice@easlab.test"], "Lunch", "", build_request(single, now=ITIP_TIME), "REQUEST",
                     ITIP_TIME)
    await app.state.store.deliver(mime, ["alice@easlab.test"])
    dev = alice(client)
    by_class = {d.text("Email:MessageClass"): sid for sid, d in (await items(dev, INBOX)).items()}
    plain, invite = by_class["IPM.Note"], by_class["IPM.Schedule.Meeting.Request"]
    resp = await dev.call("MeetingResponse", meeting_response(
        request(1, plain), request(1, "1:999"),
        request(1, invite, INBOX, E(f"{M}:InstanceId", "2026-12-01T11:00:00.000Z")),
        request(1, invite, INBOX, E(f"{M}:InstanceId", "yesterday"))))
    assert [r.text(f"{M}:Status") for r in resp.children] == ["2", "2", "146", "104"]
    old = alice(client, "14.0", device="old")
    resp = await old.call("MeetingResponse", meeting_response(request(1, invite, INBOX, E(f"{M}:InstanceId", "2026-12-01T11:00:00.000Z"))))
    assert resp.find(f"{M}:Result").text(f"{M}:Status") == "2"
    # Declining removes the event: no CalendarId.
    resp = await dev.call("MeetingResponse", meeting_response(request(3, invite)))
    assert resp == meeting_response(E(f"{M}:Result", E(f"{M}:RequestId", invite), E(f"{M}:Status", 1)))
    assert await items(alice(client, device="a5"), CALENDAR) == {}
    # No Request at all: common status 103 (InvalidXML) in the body for 14.0+.
    assert await dev.call("MeetingResponse", meeting_response()) == meeting_response(E(f"{M}:Status", 103))
    with app.state.db.session() as s:
        assert s.exec(select(Item).where(Item.message_class == "IPM.Appointment")).first() is None


async def test_a_nul_in_the_icalendar_text_does_not_break_the_phones_sync(client, app):
    event = Event(uid="nul-1", subject="Lunch\x00 break", start=datetime(2026, 12, 1, 11, tzinfo=timezone.utc),
                  end=datetime(2026, 12, 1, 12, tzinfo=timezone.utc), organizer_email="carol@example.net",
                  attendees=[Attendee("alice@easlab.test")])
    mime = itip_mime("carol@example.net", ["alice@easlab.test"], "Lunch", "", build_request(event, now=ITIP_TIME), "REQUEST",
                     ITIP_TIME)
    await app.state.store.deliver(mime, ["alice@easlab.test"])
    (mail,) = (await items(alice(client), INBOX)).values()
    assert mail.text("Email:MessageClass") == "IPM.Schedule.Meeting.Request"
    (event,) = (await items(alice(client, device="a2"), CALENDAR)).values()
    assert event.text(f"{C}:Subject") == "Lunch break"
