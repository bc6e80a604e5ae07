"""Calendars and meetings black-box: simulated devices against a real `easlab serve` (the pytest
plugin's process mode), mail in over SMTP, mail out through the outbound queue."""
from datetime import datetime, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from easlab.testing.device import add, change, delete, meeting_response
from easlab.eas.pim.ical import Attendee, find_calendar_part, parse_calendar
from easlab.eas.pim.ical_write import build_reply
from easlab.eas.pim.timezone import from_zone_name
from easlab.eas.wbxml import E
from easlab.server.store.meeting import itip_mime

pytestmark = [pytest.mark.anyio, pytest.mark.easlab(mode="process")]
A, C, B = "AirSync", "Calendar", "AirSyncBase"
VECTORS = Path(__file__).parent.parent / "eas" / "ical"
BERLIN = from_zone_name("Europe/Berlin", 2026).to_base64()
ORGANISER = "anna.mueller@contoso.com"


def series_141():
    """Weekly, Berlin time, with a deleted and a moved occurrence, as a 14.1 phone writes it."""
    return [
        E(f"{C}:Timezone", BERLIN), E(f"{C}:AllDayEvent", 0), E(f"{C}:BusyStatus", 2), E(f"{C}:DtStamp", "20261101T100000Z"),
        E(f"{C}:EndTime", "20261207T090000Z"), E(f"{C}:Location", "Room 4"), E(f"{C}:Reminder", 15),
        E(f"{C}:Sensitivity", 0), E(f"{C}:Subject", "Weekly"), E(f"{C}:StartTime", "20261207T080000Z"),
        E(f"{C}:UID", "e2e-weekly"), E(f"{C}:MeetingStatus", 0),
        E(f"{C}:Recurrence", E(f"{C}:Type", 1), E(f"{C}:Interval", 1), E(f"{C}:DayOfWeek", 2), E(f"{C}:Occurrences", 8)),
        E(f"{C}:Exceptions",
          E(f"{C}:Exception", E(f"{C}:Deleted", 1), E(f"{C}:ExceptionStartTime", "20261214T080000Z")),
          E(f"{C}:Exception", E(f"{C}:ExceptionStartTime", "20261221T080000Z"), E(f"{C}:Subject", "Weekly (moved)"),
            E(f"{C}:StartTime", "20261222T130000Z"), E(f"{C}:EndTime", "20261222T140000Z"))),
    ]


def as_read(props, version):
    """What a device of `version` reads for `props`: a 14.1+ device gets the weekly series'
    FirstDayOfWeek even where the writer named none (MS-ASCAL 3.2.5)."""
    if version == "12.1":
        return props
    return [E(p.tag, *p.children, E(f"{C}:FirstDayOfWeek", 1)) if p.tag == f"{C}:Recurrence" else p for p in props]


async def calendar(device):
    return {sid: data for r in await device.sync_all("Calendar") for sid, data in r.items.items()}


@pytest.mark.parametrize("version", ["12.1", "14.1"])
async def test_a_recurring_series_with_exceptions_reads_back_identical_on_another_phone(easlab, version):
    alice = easlab.make_user("alice")
    writer = await easlab.make_device(alice, version=version, profile={"device_type": "Android"})
    reader = await easlab.make_device(alice, version=version, profile={"device_type": "Android"})
    await writer.sync_all("Calendar")
    result = await writer.sync("Calendar", commands=[add("n1", *series_141())])
    (reply,) = result.responses
    assert reply.status == 1
    got = await calendar(reader)
    assert list(got) == [reply.server_id]
    assert got[reply.server_id] == E(f"{A}:ApplicationData", *as_read(series_141(), version))


async def test_16_1_occurrence_edits_reach_a_14_1_phone(easlab):
    alice = easlab.make_user("alice")
    modern = await easlab.make_device(alice, version="16.1", profile={"device_type": "iPhone"})
    older = await easlab.make_device(alice, version="14.1", profile={"device_type": "Android"})
    await modern.sync_all("Calendar")
    props = [p for p in series_141() if p.tag not in (f"{C}:UID", f"{C}:Exceptions", f"{C}:Location")]
    result = await modern.sync("Calendar", commands=[add("n1", *props, E(f"{C}:ClientUid", "ios-1"))])
    sid = result.responses[0].server_id
    moved = E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{B}:InstanceId", "20261221T080000Z"),
              E(f"{A}:ApplicationData", E(f"{C}:Subject", "Weekly (moved)"), E(f"{C}:StartTime", "20261222T130000Z"),
                E(f"{C}:EndTime", "20261222T140000Z")))
    gone = E(f"{A}:Delete", E(f"{A}:ServerId", sid), E(f"{B}:InstanceId", "20261214T080000Z"))
    await modern.sync("Calendar", commands=[moved, gone])
    data = (await calendar(older))[sid]
    assert data.find(f"{C}:Exceptions") == E(f"{C}:Exceptions",
        E(f"{C}:Exception", E(f"{C}:ExceptionStartTime", "20261221T080000Z"), E(f"{C}:Subject", "Weekly (moved)"),
          E(f"{C}:StartTime", "20261222T130000Z"), E(f"{C}:EndTime", "20261222T140000Z")),
        E(f"{C}:Exception", E(f"{C}:Deleted", 1), E(f"{C}:ExceptionStartTime", "20261214T080000Z")))
    assert [c for c in data.children if c.tag not in (f"{C}:UID", f"{C}:Exceptions")] == as_read(props, "14.1")
    # The 14.1 phone edits the series; the 16.1 phone reads it with its own names.
    await older.sync("Calendar", commands=[change(sid, *[E(f"{C}:Subject", "Weekly!") if p.tag == f"{C}:Subject" else p
                                                         for p in data.children])])
    again = (await calendar(await easlab.make_device(alice, version="16.1", profile={"device_type": "iPhone"})))[sid]
    assert again.text(f"{C}:Subject") == "Weekly!" and again.text(f"{C}:ClientUid") == "ios-1"
    assert [e.text(f"{B}:InstanceId") for e in again.find(f"{C}:Exceptions").children] == ["20261221T080000Z", "20261214T080000Z"]
    await modern.sync("Calendar", commands=[delete(sid)])
    assert await calendar(older) == {}


def outlook_request(to: str) -> bytes:
    ics = (VECTORS / "outlook_weekly_request.ics").read_text().replace("mailto:bob@example.net", f"mailto:{to}")
    return itip_mime('"Anna Müller" <anna.mueller@contoso.com>', [to], "Team sync", "Weekly sync.", ics.encode(),
                     "REQUEST", datetime(2024, 3, 1, 12, tzinfo=timezone.utc))


def calendar_part(outbound) -> "object":
    return parse_calendar(find_calendar_part(message_from_bytes(outbound.mime, policy=policy.default)))


async def inbox_request(phone) -> str:
    for r in await phone.sync_all("Inbox"):
        for sid, data in r.items.items():
            if data.text("Email:MessageClass") == "IPM.Schedule.Meeting.Request":
                return sid
    raise AssertionError("no meeting request in the Inbox")


async def test_request_over_smtp_accepted_on_16_1_sends_the_reply_to_the_organiser(easlab):
    alice = easlab.make_user("alice", display_name="Alice A")
    phone = await easlab.make_device(alice, version="16.1", profile={"device_type": "iPhone"})
    await easlab.deliver(outlook_request("alice@easlab.test"), to=["alice@easlab.test"], sender=ORGANISER)
    sid = await inbox_request(phone)
    inbox_id = phone.core.state.folder_by_name("Inbox").server_id
    result = await phone.meeting_response(meeting_response(sid, 1, collection_id=inbox_id, send_response=True, body="Fine"))
    assert result.tree.find("MeetingResponse:Result").text("MeetingResponse:Status") == "1"
    queued = await easlab.wait_for_outbound(lambda m: calendar_part(m).method == "REPLY", to=ORGANISER)
    reply = calendar_part(queued)
    assert reply.method == "REPLY" and [(a.email, a.status) for a in reply.events[0].attendees] == [("alice@easlab.test", 3)]
    assert queued.subject == "Accepted: Team sync"
    (event,) = (await calendar(phone)).values()
    assert (event.text(f"{C}:ResponseType"), event.text(f"{C}:BusyStatus")) == ("3", "2")


async def test_request_answered_on_14_1_reply_sent_by_the_phone_reaches_the_organiser(easlab):
    alice = easlab.make_user("alice", display_name="Alice A")
    phone = await easlab.make_device(alice, version="14.1", profile={"device_type": "Android"})
    await easlab.deliver(outlook_request("alice@easlab.test"), to=["alice@easlab.test"], sender=ORGANISER)
    sid = await inbox_request(phone)
    inbox_id = phone.core.state.folder_by_name("Inbox").server_id
    result = await phone.meeting_response(meeting_response(sid, 3, collection_id=inbox_id))
    assert result.tree.find("MeetingResponse:Result") == E("MeetingResponse:Result", E("MeetingResponse:RequestId", sid),
                                                           E("MeetingResponse:Status", 1))
    received = parse_calendar((VECTORS / "outlook_weekly_request.ics").read_bytes()).events[0]
    ics = build_reply(received, Attendee("alice@easlab.test", "Alice A"), "DECLINED", now=datetime.now(timezone.utc))
    mime = itip_mime("alice@easlab.test", [ORGANISER], "Declined: Team sync", "", ics, "REPLY", datetime.now(timezone.utc))
    sent = await phone.command("SendMail", E("ComposeMail:SendMail", E("ComposeMail:ClientId", "r1"), E("ComposeMail:Mime", mime)))
    assert sent.http_status == 200
    queued = await easlab.wait_for_outbound(lambda m: calendar_part(m).method == "REPLY", to=ORGANISER)
    assert [(a.email, a.status) for a in calendar_part(queued).events[0].attendees] == [("alice@easlab.test", 4)]
    assert await calendar(phone) == {}  # declined: the event is gone
