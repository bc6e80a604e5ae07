"""MS-ASEMAIL: the meeting request as a device downloads it (recurrence elements by pattern,
BusyStatus, MeetingMessageType of an update), and the addresses and ConversationIndex of mail."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from easlab.eas.wbxml import E
from easlab.server.store.meeting import itip_mime
from tests.conformance.test_ms_asemail import first_add
from tests.server.eas_helpers import Raw, collection
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A = "AirSync"
WHEN = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def ics(uid, rule, sequence=0, extra=""):
    return (f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
            f"SEQUENCE:{sequence}\r\nDTSTAMP:20260301T120000Z\r\nDTSTART:20260310T090000Z\r\nDTEND:20260310T100000Z\r\n"
            f"SUMMARY:{uid}\r\n{rule}ORGANIZER;CN=Anna:mailto:anna@contoso.com\r\n"
            f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:alice@easlab.test\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n").encode()


async def requests(client, app, *calendars, version="16.1"):
    for uid, cal in calendars:
        await deliver(app, itip_mime('"Anna" <anna@contoso.com>', ["alice@easlab.test"], uid, "agenda", cal, "REQUEST", WHEN))
    dev = Raw(client, device_type="WP", version=version)
    key = collection(await dev.sync("0")).text(f"{A}:SyncKey")
    resp = await dev.sync(key, "1", E(f"{A}:WindowSize", 20))
    adds = collection(resp).find(f"{A}:Commands").findall(f"{A}:Add")
    return [a.find(f"{A}:ApplicationData").find("Email:MeetingRequest") for a in adds]


def recurrence(*children):
    return E("Email:Recurrences", E("Email:Recurrence", *children))


@pytest.mark.req("MS-ASEMAIL_R291", "MS-ASEMAIL_R365", "MS-ASEMAIL_R620", "MS-ASEMAIL_R873", "MS-ASEMAIL_R270")
async def test_recurrence_elements_by_pattern(client, app):
    monthly, yearly_nth, yearly, weekly = await requests(
        client, app, ("monthly", ics("monthly", "RRULE:FREQ=MONTHLY;BYMONTHDAY=15;COUNT=5\r\n")),
        ("yearly-nth", ics("yearly-nth", "RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2TU;COUNT=3\r\n")),
        ("yearly", ics("yearly", "RRULE:FREQ=YEARLY;BYMONTH=3;BYMONTHDAY=10\r\n")),
        ("weekly", ics("weekly", "RRULE:FREQ=WEEKLY;BYDAY=TU\r\n")))
    # Monthly on a day: DayOfMonth; yearly on the Nth weekday: MonthOfYear and WeekOfMonth; every
    # monthly and yearly pattern with its CalendarType, the weekly one without.
    assert monthly.find("Email:Recurrences") == recurrence(E("Email:Type", 2), E("Email:Occurrences", 5), E("Email:DayOfMonth", 15),
                                                           E("Email2:CalendarType", 0))
    assert yearly_nth.find("Email:Recurrences") == recurrence(E("Email:Type", 6), E("Email:Occurrences", 3), E("Email:WeekOfMonth", 2),
                                                              E("Email:DayOfWeek", 4), E("Email:MonthOfYear", 3),
                                                              E("Email2:CalendarType", 0))
    assert yearly.find("Email:Recurrences") == recurrence(E("Email:Type", 5), E("Email:MonthOfYear", 3), E("Email:DayOfMonth", 10),
                                                          E("Email2:CalendarType", 0))
    assert weekly.find("Email:Recurrences") == recurrence(E("Email:Type", 1), E("Email:DayOfWeek", 4))
    # No TRANSP or busy status in the invitations: Busy (2).
    assert [r.text("Email:BusyStatus") for r in (monthly, yearly_nth, yearly, weekly)] == ["2"] * 4


async def test_a_12_1_device_gets_no_email2_elements(client, app):
    [monthly] = await requests(client, app, ("monthly", ics("monthly", "RRULE:FREQ=MONTHLY;BYMONTHDAY=15;COUNT=5\r\n")),
                               version="12.1")
    assert monthly.find("Email:Recurrences") == recurrence(E("Email:Type", 2), E("Email:Occurrences", 5), E("Email:DayOfMonth", 15))


@pytest.mark.req("MS-ASEMAIL_R535", "MS-ASEMAIL_R531")
async def test_an_update_is_a_full_update_and_the_first_request_is_not_changed(client, app):
    [first] = await requests(client, app, ("review", ics("review", "")))
    assert first.text("Email2:MeetingMessageType") == "1"
    dev = Raw(client, device_type="WP", version="16.1")
    key = collection(await dev.sync("0")).text(f"{A}:SyncKey")
    key = collection(await dev.sync(key, "1", E(f"{A}:WindowSize", 20))).text(f"{A}:SyncKey")
    await deliver(app, itip_mime('"Anna" <anna@contoso.com>', ["alice@easlab.test"], "review moved", "agenda",
                                 ics("review", "", sequence=1).replace(b"DTSTART:20260310T090000Z", b"DTSTART:20260310T080000Z"),
                                 "REQUEST", WHEN))
    cmds = collection(await dev.sync(key, "1")).find(f"{A}:Commands")
    # The update arrives as a new message of type 2; the first request is not sent again.
    assert [c.tag for c in cmds.children] == [f"{A}:Add"]
    update = cmds.find(f"{A}:Add").find(f"{A}:ApplicationData").find("Email:MeetingRequest")
    assert (update.text("Email2:MeetingMessageType"), update.text("Email:StartTime")) == ("2", "2026-03-10T08:00:00.000Z")


@pytest.mark.req("MS-ASEMAIL_R351")
async def test_the_conversation_index_starts_with_the_time_the_message_was_sent(client, app):
    import struct
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "bob@example.net", "alice@easlab.test", "Dated"
    m["Date"] = "Tue, 10 Mar 2026 09:30:00 +0000"
    m.set_content("text")
    await deliver(app, m.as_bytes())
    _, _, data = await first_add(Raw(client, device_type="WP", version="16.1"))
    index = data.find("Email2:ConversationIndex").value
    sent = datetime(2026, 3, 10, 9, 30, tzinfo=timezone.utc)
    filetime = int((sent - datetime(1601, 1, 1, tzinfo=timezone.utc)).total_seconds()) * 10_000_000
    assert index == struct.pack(">Q", filetime)[:5]  # the 5-byte header of MS-ASCON 2.2.2.4, nothing after it
