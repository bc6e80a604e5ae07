"""MS-ASEMAIL as Microsoft's test suite exercises it: the E-Mail class elements of a new message,
Read and Flag changes made on one device as another device receives them.  Each test names the requirements it
proves."""
from __future__ import annotations

import base64
import struct
from datetime import datetime, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest

from easlab.eas.wbxml import E
from easlab.server.store.meeting import itip_mime
from tests.server.eas_helpers import Raw, collection
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
A = "AirSync"
VECTORS = Path(__file__).parent.parent / "eas" / "ical"
# MS-ASEMAIL 2.2.2.37: the class ID every GlobalObjId starts with
CLASS_ID = bytes.fromhex("040000008200E00074C5B7101A82E008")


def addressed(sender="Bob Sender <bob@example.net>", real_sender=None):
    m = EmailMessage()
    m["From"], m["Subject"] = sender, "Addresses"
    m["To"] = "Alice Example <alice@easlab.test>, Dan <dan@example.net>"
    m["Cc"] = "carol@example.net, erin@example.net"
    m["Reply-To"] = "team@example.net, lead@example.net"
    if real_sender:
        m["Sender"] = real_sender
    m.set_content("text")
    return m.as_bytes()


async def first_add(dev, key="0"):
    key = collection(await dev.sync(key)).text(f"{A}:SyncKey")
    resp = await dev.sync(key)
    [add] = collection(resp).find(f"{A}:Commands").findall(f"{A}:Add")
    return collection(resp).text(f"{A}:SyncKey"), add.text(f"{A}:ServerId"), add.find(f"{A}:ApplicationData")


@pytest.mark.req("MS-ASEMAIL_R787", "MS-ASEMAIL_R331", "MS-ASEMAIL_R328", "MS-ASEMAIL_R400", "MS-ASEMAIL_R439",
                 "MS-ASEMAIL_R641", "MS-ASEMAIL_R1279", "MS-ASEMAIL_R350", "MS-ASEMAIL_R649", "MS-ASEMAIL_R726")
async def test_new_mail_elements(client, app):
    await deliver(app, addressed(real_sender="Bob Sender <bob@example.net>"))  # Sender the same as From
    _, _, data = await first_add(Raw(client, device_type="WP", version="16.1"))
    assert data.text("Email:To") == '"Alice Example" <alice@easlab.test>, "Dan" <dan@example.net>'
    assert data.text("Email:Cc") == "carol@example.net, erin@example.net"
    assert data.text("Email:DisplayTo") == "Alice Example;Dan"
    assert data.find("Email:Flag") == E("Email:Flag")
    assert data.text("Email:Read") == "0" and data.text("Email2:IsDraft") == "0"
    assert data.has("Email2:ConversationIndex")
    assert not data.has("Email2:ReceivedAsBcc") and not data.has("Email2:Sender")


@pytest.mark.req("MS-ASEMAIL_R1065")
async def test_no_sender_element_without_a_sender(client, app):
    await deliver(app, addressed())
    _, _, data = await first_add(Raw(client, device_type="WP", version="16.1"))
    assert data.text("Email:From") == '"Bob Sender" <bob@example.net>' and not data.has("Email2:Sender")


def flag(status, *more):
    return E("Email:Flag", E("Email:Status", status), *more)


@pytest.mark.req("MS-ASAIRS_R386", "MS-ASEMAIL_R640", "MS-ASEMAIL_R1021", "MS-ASEMAIL_R940", "MS-ASEMAIL_R90", "MS-ASEMAIL_R86",
                 "MS-ASEMAIL_R88", "MS-ASEMAIL_R8800")
async def test_read_and_flag_changes_reach_another_device(client, app):
    await deliver(app, addressed())
    phone, tablet = Raw(client, device_type="WP"), Raw(client, device="tablet", device_type="WP")
    key, sid, _ = await first_add(phone)
    tkey, _, _ = await first_add(tablet)
    seen = []
    for change in ([E("Email:Read", 1)],
                   [flag(2, E("Email:FlagType", "Flag for follow up"), E("Tasks:StartDate", "2025-01-05T00:00:00.000Z"),
                         E("Tasks:UtcStartDate", "2025-01-05T00:00:00.000Z"), E("Tasks:DueDate", "2025-01-10T00:00:00.000Z"),
                         E("Tasks:UtcDueDate", "2025-01-10T00:00:00.000Z"))],
                   [flag(1, E("Email:CompleteTime", "2025-01-06T00:00:00.000Z"), E("Tasks:DateCompleted", "2025-01-06T00:00:00.000Z"))],
                   [E("Email:Flag")]):
        resp = await tablet.sync(tkey, "1", E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:ApplicationData", *change))))
        tkey = collection(resp).text(f"{A}:SyncKey")
        resp = await phone.sync(key)
        key = collection(resp).text(f"{A}:SyncKey")
        [got] = collection(resp).find(f"{A}:Commands").findall(f"{A}:Change")
        data = got.find(f"{A}:ApplicationData")
        assert data.has("AirSyncBase:Body")
        seen.append((data.text("Email:Read"), data.find("Email:Flag")))
    assert seen == [("1", E("Email:Flag")), ("1", flag(2, E("Email:FlagType", "Flag for follow up"))),
                    ("1", flag(1)), ("1", E("Email:Flag"))]



async def meeting_requests(client, app):
    """{vector name: Email:MeetingRequest} as a 14.1 device downloads the four iCalendar vectors."""
    for name in ("outlook_weekly_request", "allday_request", "google_request", "outlook_cancel_occurrence"):
        ics = (VECTORS / f"{name}.ics").read_bytes()
        mime = itip_mime('"Anna" <anna@contoso.com>', ["alice@easlab.test"], name, "agenda", ics,
                         "CANCEL" if "cancel" in name else "REQUEST", datetime(2024, 3, 1, 12, tzinfo=timezone.utc))
        await deliver(app, mime)
    dev = Raw(client, device_type="WP")
    key = collection(await dev.sync("0")).text(f"{A}:SyncKey")
    adds = collection(await dev.sync(key, "1", E(f"{A}:WindowSize", 10))).find(f"{A}:Commands").findall(f"{A}:Add")
    return {a.find(f"{A}:ApplicationData").text("Email:Subject"): a.find(f"{A}:ApplicationData").find("Email:MeetingRequest")
            for a in adds}


@pytest.mark.req("MS-ASEMAIL_R235", "MS-ASEMAIL_R236", "MS-ASEMAIL_R715", "MS-ASEMAIL_R716", "MS-ASEMAIL_R389",
                 "MS-ASEMAIL_R390", "MS-ASEMAIL_R687", "MS-ASEMAIL_R727", "MS-ASEMAIL_R625", "MS-ASEMAIL_R870",
                 "MS-ASEMAIL_R935", "MS-ASEMAIL_R936", "MS-ASEMAIL_R679", "MS-ASEMAIL_R1493")
async def test_meeting_request_elements(client, app):
    got = await meeting_requests(client, app)
    outlook, allday, google, cancel = (got[n] for n in ("outlook_weekly_request", "allday_request", "google_request",
                                                        "outlook_cancel_occurrence"))
    assert [r.text("Email:AllDayEvent") for r in (outlook, allday)] == ["0", "1"]
    assert [r.text("Email:ResponseRequested") for r in (outlook, allday)] == ["1", "0"]  # RSVP TRUE, FALSE
    # X-MICROSOFT-DISALLOW-COUNTER:TRUE forbids proposals; without it they are allowed.
    assert [r.text("Email:DisallowNewTimeProposal") for r in (outlook, allday)] == ["1", "0"]
    assert (outlook.text("Email:Reminder"), allday.text("Email:Sensitivity")) == ("900", "2")  # 15 minutes; CLASS:PRIVATE
    assert google.find("Email:Recurrences") == E("Email:Recurrences", E("Email:Recurrence", E("Email:Type", 3),
                                                 E("Email:Occurrences", 6), E("Email:WeekOfMonth", 2), E("Email:DayOfWeek", 8),
                                                 E("Email2:CalendarType", 0)))
    # RECURRENCE-ID 10:00 W. Europe (summer time): the instance's original start, in UTC.
    assert cancel.text("Email:RecurrenceId") == "2024-04-09T08:00:00.000Z"
    assert not any(r.has("Email:RecurrenceId") for r in (outlook, allday, google))


def global_obj_id(request):
    raw = base64.b64decode(request.text("Email:GlobalObjId"))
    count = struct.unpack("<I", raw[36:40])[0]
    assert len(raw) == 40 + count  # BYTECOUNT counts DATA
    return raw[:16], raw[16:20], raw[20:28], raw[28:36], raw[40:]


@pytest.mark.req("MS-ASEMAIL_R121", "MS-ASEMAIL_R20000", "MS-ASEMAIL_R20001", "MS-ASEMAIL_R20003", "MS-ASEMAIL_R20005",
                 "MS-ASEMAIL_R20007", "MS-ASEMAIL_R20009", "MS-ASEMAIL_R20011", "MS-ASEMAIL_R1000", "MS-ASEMAIL_R10000",
                 "MS-ASEMAIL_R1001", "MS-ASEMAIL_R20013", "MS-ASEMAIL_R20015", "MS-ASEMAIL_R20016", "MS-ASEMAIL_R20018",
                 "MS-ASEMAIL_R20019", "MS-ASEMAIL_R20021", "MS-ASEMAIL_R20022", "MS-ASEMAIL_R1002")
async def test_global_obj_id_layout(client, app):
    got = await meeting_requests(client, app)
    ids = {name: global_obj_id(request) for name, request in got.items()}
    assert {class_id for class_id, *_ in ids.values()} == {CLASS_ID}
    # Outlook's own id (the ics carries it): the series has no instance date, the occurrence its own.
    series, occurrence = ids["outlook_weekly_request"], ids["outlook_cancel_occurrence"]
    assert series[1] == b"\0\0\0\0" and occurrence[1] == bytes([0x07, 0xE8, 4, 9])  # 2024 (high, low), April, 9
    assert series[2:] == occurrence[2:] and series[2] != bytes(8) and series[3] == bytes(8)
    assert series[4] == bytes.fromhex("A1B2C3D4E5F60718293A4B5C6D7E8F90")
    # Any other UID: "vCal-Uid", version 1, the UID, a NUL.
    _, instance, now, reserved, data = ids["google_request"]
    assert (instance, now, reserved) == (bytes(4), bytes(8), bytes(8))
    assert data == b"vCal-Uid" + struct.pack("<I", 1) + b"7kukuqrfedlm2f9t0vr2f4e9eo@google.com\0"
