"""MS-ASCAL, property by property: what one device writes to the Calendar, another device reads
back element for element, per protocol version; what the server must refuse, it refuses with
Status 6; what a Change leaves out, the ghosting rules keep."""

from datetime import datetime, timezone

import httpx
import pytest

from easlab.eas.pim.calendar import occurrences
from easlab.eas.pim.tree import parse
from easlab.eas.wbxml import E
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from tests.server.eas_helpers import collection
from tests.server.test_sync_pim import BERLIN, CALENDAR, appdata, device, everything, primed, with_native

pytestmark = pytest.mark.anyio
A, C, B = "AirSync", "Calendar", "AirSyncBase"


def event(*extra, subject="Event", start="20261207T090000Z", end="20261207T100000Z"):
    """An event in Exchange's property order with `extra` put where they belong (replacing any)."""
    base = [E(f"{C}:Timezone", BERLIN), E(f"{C}:AllDayEvent", 0), E(f"{C}:BusyStatus", 2),
            E(f"{C}:DtStamp", "20261101T100000Z"), E(f"{C}:EndTime", end), E(f"{C}:Reminder", 15),
            E(f"{C}:Sensitivity", 0), E(f"{C}:Subject", subject), E(f"{C}:StartTime", start),
            E(f"{C}:UID", f"uid-{subject}"), E(f"{C}:MeetingStatus", 0)]
    by_tag = {e.tag: e for e in extra}
    out = [by_tag.pop(e.tag, e) for e in base]
    return appdata(*out, *by_tag.values())


async def add_all(dev, items):
    """Add every item in one Sync: [(ClientId, Status, ServerId)] in order."""
    key = await primed(dev, CALENDAR)
    adds = [E(f"{A}:Add", E(f"{A}:ClientId", f"c{n}"), data) for n, data in enumerate(items)]
    resp = await dev.sync(key, CALENDAR, E(f"{A}:Commands", *adds))
    replies = collection(resp).find(f"{A}:Responses").children
    return [(r.text(f"{A}:ClientId"), r.text(f"{A}:Status"), r.text(f"{A}:ServerId")) for r in replies]


async def round_trip(client, version, items):
    """What a second device of `version` reads for each of `items` written by a first one."""
    replies = await add_all(device(client, "writer", version), items)
    assert [status for _, status, _ in replies] == ["1"] * len(items)
    got, _ = await everything(device(client, "reader", version), CALENDAR)
    return [got[sid] for _, _, sid in replies]


VALUES = {  # element: the values MS-ASCAL 2.2.2 gives it
    "AllDayEvent": (0, 1), "BusyStatus": (0, 1, 2, 3), "Sensitivity": (0, 1, 2, 3),
    "MeetingStatus": (0, 1, 3, 5, 7), "ResponseType": (1, 2, 3, 5),
}


@pytest.mark.req("MS-ASCAL_R7911", "MS-ASCAL_R85", "MS-ASCAL_R86", "MS-ASCAL_R13311", "MS-ASCAL_R13811",
                 "MS-ASCAL_R13812", "MS-ASCAL_R13813", "MS-ASCAL_R13814", "MS-ASCAL_R42111", "MS-ASCAL_R610",
                 "MS-ASCAL_R611", "MS-ASCAL_R612", "MS-ASCAL_R613", "MS-ASCAL_R310", "MS-ASCAL_R311", "MS-ASCAL_R312",
                 "MS-ASCAL_R313", "MS-ASCAL_R314", "MS-ASCAL_R40111", "MS-ASCAL_R410", "MS-ASCAL_R412", "MS-ASCAL_R414",
                 "MS-ASCAL_R418")
@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_every_value_of_the_enumerated_properties_reads_back(client, version):
    cases = [(name, v) for name, values in VALUES.items() for v in values
             if not (name == "ResponseType" and version == "12.1")]  # ResponseType is 14.0+
    got = await round_trip(client, version, [event(E(f"{C}:{name}", v), subject=f"{name}{v}") for name, v in cases])
    for (name, v), data in zip(cases, got):
        assert data.text(f"{C}:{name}") == str(v), (name, v)
        assert data.text(f"{C}:Subject") == f"{name}{v}"


def attendee(email, name, status=None, kind=None):
    return E(f"{C}:Attendee", E(f"{C}:Email", email), E(f"{C}:Name", name),
             *([E(f"{C}:AttendeeStatus", status)] if status is not None else []),
             *([E(f"{C}:AttendeeType", kind)] if kind is not None else []))


def meeting(version):
    """A meeting with every top-level property a device writes, as `version` writes them."""
    modern = version.startswith("16")
    where = E(f"{B}:Location", E(f"{B}:DisplayName", "Room 4")) if modern else E(f"{C}:Location", "Room 4")
    people = E(f"{C}:Attendees", attendee("bob@example.net", "Bob", 0, 1), attendee("carol@example.net", "Carol", 2, 2),
               attendee("dan@example.net", "Dan", 3, 3), attendee("erin@example.net", "Erin", 4, 1),
               attendee("fay@example.net", "Fay", 5, 2), attendee("not an address", "Nobody"))
    organiser = [] if modern else [E(f"{C}:OrganizerName", "Alice"), E(f"{C}:OrganizerEmail", "alice@easlab.test")]
    return appdata(
        E(f"{C}:Timezone", BERLIN), E(f"{C}:AllDayEvent", 0), E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "Agenda")),
        E(f"{C}:BusyStatus", 2), *organiser, E(f"{C}:DtStamp", "20261101T100000Z"),
        E(f"{C}:EndTime", "20261207T100000Z"), where, E(f"{C}:Reminder", 10), E(f"{C}:Sensitivity", 2),
        E(f"{C}:Subject", "Review"), E(f"{C}:StartTime", "20261207T090000Z"),
        *([] if modern else [E(f"{C}:UID", "review-1@easlab.test")]), E(f"{C}:MeetingStatus", 1), people,
        E(f"{C}:Categories", E(f"{C}:Category", "Team"), E(f"{C}:Category", "Blue")),
        E(f"{C}:ResponseRequested", 1), E(f"{C}:DisallowNewTimeProposal", 1))


@pytest.mark.req("MS-ASCAL_R11311", "MS-ASCAL_R568", "MS-ASCAL_R569", "MS-ASCAL_R570", "MS-ASCAL_R571", "MS-ASCAL_R572",
                 "MS-ASCAL_R11911", "MS-ASCAL_R573", "MS-ASCAL_R574", "MS-ASCAL_R575", "MS-ASCAL_R17711",
                 "MS-ASCAL_R18311", "MS-ASCAL_R23311", "MS-ASCAL_R29411", "MS-ASCAL_R39011", "MS-ASCAL_R42911",
                 "MS-ASCAL_R44511", "MS-ASCAL_R46011", "MS-ASCAL_R21911", "MS-ASCAL_R33411", "MS-ASCAL_R39611",
                 "MS-ASCAL_R36211", "MS-ASCAL_R36711", "MS-ASCAL_R52529")
@pytest.mark.req("MS-ASCAL_R2169", "MS-ASCAL_R2169001")
@pytest.mark.parametrize("version", ["14.1", "16.0", "16.1"])
async def test_a_meeting_reads_back_element_for_element(client, version):
    (data,) = await round_trip(client, version, [meeting(version)])
    expected = with_native(meeting(version))
    if version.startswith("16"):
        # 16.x: the server names the organiser (the writer) and makes the UID.
        uid = data.text(f"{C}:UID")
        assert uid and len(uid) == 32
        kids = expected.children
        at = next(i for i, c in enumerate(kids) if c.tag == f"{C}:DtStamp")
        kids[at:at] = [E(f"{C}:OrganizerName", data.text(f"{C}:OrganizerName")), E(f"{C}:OrganizerEmail", "alice@easlab.test")]
        at = next(i for i, c in enumerate(kids) if c.tag == f"{C}:MeetingStatus")
        kids.insert(at, E(f"{C}:UID", uid))
    assert data == expected


def series(recurrence, subject="Series", exceptions=()):
    extra = [E(f"{C}:Exceptions", *exceptions)] if exceptions else []
    return event(E(f"{C}:Recurrence", *recurrence), *extra, subject=subject)


def rec(*pairs):
    return [E(f"{C}:{name}", v) for name, v in pairs]


PATTERNS = [  # one per Type (MS-ASCAL 2.2.2.45), each with the elements its Type takes
    rec(("Type", 0), ("Interval", 2), ("Occurrences", 5)),
    rec(("Type", 0), ("DayOfWeek", 62), ("Until", "20270101T090000Z")),  # every weekday
    rec(("Type", 1), ("Interval", 1), ("DayOfWeek", 42), ("FirstDayOfWeek", 1), ("Until", "20270301T090000Z")),
    rec(("Type", 2), ("Interval", 1), ("DayOfMonth", 15), ("CalendarType", 2), ("Occurrences", 10)),
    rec(("Type", 3), ("Interval", 1), ("WeekOfMonth", 5), ("DayOfWeek", 2), ("CalendarType", 0)),
    rec(("Type", 5), ("Interval", 1), ("MonthOfYear", 3), ("DayOfMonth", 1), ("CalendarType", 0), ("IsLeapMonth", 0)),
    rec(("Type", 6), ("Interval", 1), ("MonthOfYear", 11), ("WeekOfMonth", 4), ("DayOfWeek", 16), ("CalendarType", 0)),
    rec(("Type", 5), ("Interval", 1), ("MonthOfYear", 4), ("DayOfMonth", 8), ("CalendarType", 15), ("IsLeapMonth", 1)),
]


@pytest.mark.req("MS-ASCAL_R37211", "MS-ASCAL_R454", "MS-ASCAL_R455", "MS-ASCAL_R456", "MS-ASCAL_R457", "MS-ASCAL_R458",
                 "MS-ASCAL_R459", "MS-ASCAL_R143", "MS-ASCAL_R14311", "MS-ASCAL_R14312", "MS-ASCAL_R14313",
                 "MS-ASCAL_R19011", "MS-ASCAL_R19012", "MS-ASCAL_R19511", "MS-ASCAL_R19512", "MS-ASCAL_R19513",
                 "MS-ASCAL_R19514", "MS-ASCAL_R32311", "MS-ASCAL_R32312", "MS-ASCAL_R32811", "MS-ASCAL_R32812",
                 "MS-ASCAL_R32813", "MS-ASCAL_R32814", "MS-ASCAL_R47311", "MS-ASCAL_R47312", "MS-ASCAL_R477",
                 "MS-ASCAL_R272", "MS-ASCAL_R28411", "MS-ASCAL_R608", "MS-ASCAL_R609")
@pytest.mark.parametrize("version", ["14.1", "16.1"])
async def test_each_recurrence_type_reads_back_with_exactly_its_elements(client, version):
    got = await round_trip(client, version, [series(p, subject=f"p{n}") for n, p in enumerate(PATTERNS)])
    for pattern, data in zip(PATTERNS, got):
        assert data.find(f"{C}:Recurrence") == E(f"{C}:Recurrence", *pattern)
        kind = pattern[0].value
        recurrence = [c.name for c in data.find(f"{C}:Recurrence").children]
        assert ("DayOfMonth" in recurrence) == (kind in ("2", "5"))
        assert ("MonthOfYear" in recurrence) == (kind in ("5", "6"))
        assert ("WeekOfMonth" in recurrence) == (kind in ("3", "6"))
        assert recurrence.count("CalendarType") == (kind in ("2", "3", "5", "6")) and recurrence.count("FirstDayOfWeek") <= 1


@pytest.mark.req("MS-ASCAL_R53911", "MS-ASCAL_R341", "MS-ASCAL_R467", "MS-ASCAL_R5")
async def test_occurrences_wins_over_until_and_interval_0_reads_as_1(client):
    both = rec(("Type", 0), ("Interval", 1), ("Occurrences", 3), ("Until", "20270101T090000Z"))
    zero = rec(("Type", 1), ("Interval", 0), ("DayOfWeek", 2), ("Occurrences", 4))
    got = await round_trip(client, "14.1", [series(both, "both"), series(zero, "zero")])
    assert got[0].find(f"{C}:Recurrence") == E(f"{C}:Recurrence", *rec(("Type", 0), ("Interval", 1), ("Occurrences", 3)))
    assert got[1].find(f"{C}:Recurrence") == E(f"{C}:Recurrence", *rec(("Type", 1), ("Interval", 1), ("DayOfWeek", 2),
                                                                         ("Occurrences", 4), ("FirstDayOfWeek", 1)))


REFUSED = [  # (requirement, Recurrence) that MS-ASCAL 3.2.5.3 answers with Status 6
    ("MS-ASCAL_R53912", rec(("Type", 2), ("DayOfMonth", 1), ("CalendarType", 0), ("CalendarType", 1))),
    *[("MS-ASCAL_R53913", rec(("Type", 2), ("DayOfMonth", 1), ("CalendarType", t))) for t in (13, 16, 17, 18, 19, 21, 22, 23)],
    ("MS-ASCAL_R53914", rec(("Type", 1), ("DayOfWeek", 2), ("FirstDayOfWeek", 7))),
    *[("MS-ASCAL_R53916", rec(("Type", t), ("DayOfWeek", 2), ("DayOfMonth", 3))) for t in (0, 1)],
    ("MS-ASCAL_R53916", rec(("Type", 3), ("WeekOfMonth", 1), ("DayOfWeek", 2), ("DayOfMonth", 3))),
    ("MS-ASCAL_R53916", rec(("Type", 6), ("MonthOfYear", 1), ("WeekOfMonth", 1), ("DayOfWeek", 2), ("DayOfMonth", 3))),
    ("MS-ASCAL_R53917", rec(("Type", 2), ("DayOfMonth", 3), ("DayOfWeek", 2))),
    ("MS-ASCAL_R53917", rec(("Type", 5), ("MonthOfYear", 1), ("DayOfMonth", 3), ("DayOfWeek", 2))),
    ("MS-ASCAL_R53918", rec(("Type", 2), ("DayOfMonth", 3), ("MonthOfYear", 2))),
    ("MS-ASCAL_R53918", rec(("Type", 1), ("DayOfWeek", 2), ("MonthOfYear", 2))),
    ("MS-ASCAL_R53918", rec(("Type", 3), ("WeekOfMonth", 1), ("DayOfWeek", 2), ("MonthOfYear", 2))),
    ("MS-ASCAL_R53919", rec(("Type", 1), ("DayOfWeek", 2), ("WeekOfMonth", 2))),
    ("MS-ASCAL_R53919", rec(("Type", 5), ("MonthOfYear", 1), ("DayOfMonth", 3), ("WeekOfMonth", 2))),
]


@pytest.mark.req("MS-ASCAL_R53912", "MS-ASCAL_R53913", "MS-ASCAL_R53914", "MS-ASCAL_R53916", "MS-ASCAL_R53917",
                 "MS-ASCAL_R53918", "MS-ASCAL_R53919")
async def test_recurrence_elements_out_of_place_are_status_6_and_nothing_is_stored(client):
    items = [series(pattern, subject=req) for req, pattern in REFUSED]
    replies = await add_all(device(client, "writer", "14.1"), items)
    assert replies == [(f"c{n}", "6", None) for n in range(len(REFUSED))]
    got, _ = await everything(device(client, "reader", "14.1"), CALENDAR)
    assert got == {}


@pytest.mark.req("MS-ASCAL_R3")
async def test_calendar_type_1_gregorian_reads_back_as_0_default(client):
    pattern = rec(("Type", 2), ("Interval", 1), ("DayOfMonth", 15), ("CalendarType", 1))
    (data,) = await round_trip(client, "14.1", [series(pattern)])
    assert data.find(f"{C}:Recurrence") == E(f"{C}:Recurrence", *rec(("Type", 2), ("Interval", 1), ("DayOfMonth", 15),
                                                                       ("CalendarType", 0)))


def moved():
    """One moved occurrence carrying every property an exception may have, and Reminder cleared."""
    return E(f"{C}:Exception", E(f"{C}:ExceptionStartTime", "20261214T090000Z"), E(f"{C}:Subject", "Moved"),
             E(f"{C}:StartTime", "20261215T130000Z"), E(f"{C}:EndTime", "20261215T140000Z"),
             E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "New agenda")), E(f"{C}:Location", "Room 9"),
             E(f"{C}:Categories", E(f"{C}:Category", "Moved")), E(f"{C}:Sensitivity", 1), E(f"{C}:BusyStatus", 3),
             E(f"{C}:AllDayEvent", 0), E(f"{C}:Reminder"), E(f"{C}:DtStamp", "20261120T080000Z"),
             E(f"{C}:MeetingStatus", 3), E(f"{C}:Attendees", attendee("bob@example.net", "Bob", 3, 1)),
             E(f"{C}:AppointmentReplyTime", "20261121T080000Z"), E(f"{C}:ResponseType", 3))


WEEKLY = rec(("Type", 1), ("Interval", 1), ("DayOfWeek", 2), ("Occurrences", 6))
GONE = E(f"{C}:Exception", E(f"{C}:Deleted", 1), E(f"{C}:ExceptionStartTime", "20261221T090000Z"))


@pytest.mark.req("MS-ASCAL_R24111", "MS-ASCAL_R26111", "MS-ASCAL_R20611", "MS-ASCAL_R20811", "MS-ASCAL_R210",
                 "MS-ASCAL_R44111", "MS-ASCAL_R43511", "MS-ASCAL_R23611", "MS-ASCAL_R12611", "MS-ASCAL_R29611",
                 "MS-ASCAL_R17911", "MS-ASCAL_R18011", "MS-ASCAL_R18312", "MS-ASCAL_R13411", "MS-ASCAL_R39211",
                 "MS-ASCAL_R2083", "MS-ASCAL_R30511", "MS-ASCAL_R10611", "MS-ASCAL_R89011", "MS-ASCAL_R40211",
                 "MS-ASCAL_R539", "MS-ASCAL_R543", "MS-ASCAL_R2242")
async def test_an_exception_carries_each_of_its_properties_and_an_empty_one_stays_empty(client):
    (data,) = await round_trip(client, "14.1", [series(WEEKLY, exceptions=[moved(), GONE])])
    sized = [E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:EstimatedDataSize", 10), E(f"{B}:Data", "New agenda"))
             if c.tag == f"{B}:Body" else c for c in moved().children]
    assert data.find(f"{C}:Exceptions") == E(f"{C}:Exceptions", E(f"{C}:Exception", *sized), GONE)
    # The cleared Reminder is an empty element, not the series' 15 and not absent.
    reminder = data.find(f"{C}:Exceptions").children[0].find(f"{C}:Reminder")
    assert reminder is not None and not reminder.value and data.text(f"{C}:Reminder") == "15"
    # The deleted occurrence is gone from what the server makes of the series (free/busy and the
    # calendar window use the same expansion).
    found = occurrences(parse("Calendar", data), datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2027, 2, 1, tzinfo=timezone.utc))
    assert "20261221T090000Z" not in [o.instance_id for o in found] and len(found) == 5
    # A 16.1 device reads the same exceptions, named by InstanceId.
    (modern,) = (await everything(device(client, "modern", "16.1"), CALENDAR))[0].values()
    first, second = modern.find(f"{C}:Exceptions").children
    assert first.text(f"{B}:InstanceId") == "20261214T090000Z" and first.find(f"{B}:Location") == E(
        f"{B}:Location", E(f"{B}:DisplayName", "Room 9"))
    assert second == E(f"{C}:Exception", E(f"{C}:Deleted", 1), E(f"{B}:InstanceId", "20261221T090000Z"))


GHOSTED = ("AppointmentReplyTime", "Attendees", "Body", "DisallowNewTimeProposal", "MeetingStatus", "OrganizerEmail",
           "OrganizerName", "ResponseRequested", "ResponseType", "Exceptions")


@pytest.mark.req("MS-ASCAL_R96", "MS-ASCAL_R111", "MS-ASCAL_R128", "MS-ASCAL_R217", "MS-ASCAL_R319", "MS-ASCAL_R365",
                 "MS-ASCAL_R370", "MS-ASCAL_R399", "MS-ASCAL_R419", "MS-ASCAL_R54111", "MS-ASCAL_R541")
async def test_a_change_leaves_ghosted_properties_and_absent_exceptions_as_they_were(client):
    dev = device(client, "ghost", "14.1")
    # Exceptions listed in Supported and still left alone when a Change omits them (3.2.5.3.1).
    supported = E(f"{A}:Supported", *[E(f"{C}:{n}") for n in ("Subject", "StartTime", "EndTime", "Exceptions")])
    key = await primed(dev, CALENDAR, supported)
    full = appdata(*meeting("14.1").children, E(f"{C}:Recurrence", *WEEKLY), E(f"{C}:Exceptions", moved(), GONE),
                   E(f"{C}:AppointmentReplyTime", "20261120T090000Z"), E(f"{C}:ResponseType", 1))
    resp = await dev.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"), full)))
    coll = collection(resp)
    sid = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId")
    before = (await everything(device(client, "r1", "14.1"), CALENDAR))[0][sid]
    await dev.sync(coll.text(f"{A}:SyncKey"), CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), appdata(
        E(f"{C}:Subject", "Renamed"), E(f"{C}:StartTime", "20261207T090000Z"), E(f"{C}:EndTime", "20261207T100000Z")))))
    after = (await everything(device(client, "r2", "14.1"), CALENDAR))[0][sid]
    assert after.text(f"{C}:Subject") == "Renamed"
    for name in GHOSTED:
        tag = f"{B}:Body" if name == "Body" else f"{C}:{name}"
        assert after.find(tag) is not None and after.find(tag) == before.find(tag), name


@pytest.mark.req("MS-ASCAL_R542")
async def test_an_exception_a_change_leaves_out_stays_as_it_was(client):
    dev = device(client, "w", "14.1")
    key = await primed(dev, CALENDAR)
    resp = await dev.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "c1"),
                                                                    series(WEEKLY, exceptions=[moved(), GONE]))))
    coll = collection(resp)
    sid = coll.find(f"{A}:Responses").find(f"{A}:Add").text(f"{A}:ServerId")
    before = (await everything(device(client, "r1", "14.1"), CALENDAR))[0][sid].find(f"{C}:Exceptions").children
    late = E(f"{C}:Exception", E(f"{C}:ExceptionStartTime", "20261228T090000Z"), E(f"{C}:Subject", "Late"))
    await dev.sync(coll.text(f"{A}:SyncKey"), CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid),
                   series(WEEKLY, subject="Series", exceptions=[late]))))
    after = (await everything(device(client, "r2", "14.1"), CALENDAR))[0][sid].find(f"{C}:Exceptions").children
    assert after == [late, *before]


MISSING = [  # (StartTime, EndTime) sent, at 10:15:10 on the server's clock -> what is stored, or Status 6
    (None, None, ("20311206T103000Z", "20311206T110000Z")),  # the rounded now, and half an hour
    (None, "20311206T120000Z", ("20311206T103000Z", "20311206T120000Z")),
    (None, "20311206T090000Z", None),  # the end has passed
    (None, "20311206T102000Z", None),  # the end is still ahead, but before the rounded now
    ("20311206T080000Z", None, ("20311206T080000Z", "20311206T110000Z")),
    ("20311206T120000Z", None, None),  # a start ahead, no end
]


@pytest.mark.req("MS-ASCAL_R52511", "MS-ASCAL_R52514", "MS-ASCAL_R52515", "MS-ASCAL_R52516", "MS-ASCAL_R5251611",
                 "MS-ASCAL_R52517", "MS-ASCAL_R52518")
async def test_a_missing_start_or_end_is_filled_from_the_server_clock_or_refused(settings, app, db):
    clock = ManualClock(datetime(2031, 12, 6, 10, 15, 10, tzinfo=timezone.utc))
    app = create_app(settings, db, clock=clock)  # the fixture's mailboxes, on a clock the test sets
    items = []
    for n, (start, end, _) in enumerate(MISSING):
        data = event(subject=f"m{n}")
        data.children = [c for c in data.children if not (c.tag == f"{C}:StartTime" and start is None or
                                                          c.tag == f"{C}:EndTime" and end is None)]
        for c in data.children:
            c.value = start if c.tag == f"{C}:StartTime" else end if c.tag == f"{C}:EndTime" else c.value
        items.append(data)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        replies = await add_all(device(c, "writer", "14.1"), items)
        assert [status for _, status, _ in replies] == ["1" if times else "6" for _, _, times in MISSING]
        got, _ = await everything(device(c, "reader", "14.1"), CALENDAR)
    stored = {data.text(f"{C}:Subject"): (data.text(f"{C}:StartTime"), data.text(f"{C}:EndTime")) for data in got.values()}
    assert stored == {f"m{n}": times for n, (_, _, times) in enumerate(MISSING) if times}


@pytest.mark.req("MS-ASCAL_R52523", "MS-ASCAL_R11028")
@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_a_weekly_series_without_first_day_of_week_is_read_with_the_default_monday(client, version):
    weekly = rec(("Type", 1), ("Interval", 2), ("DayOfWeek", 2))
    sunday = rec(("Type", 1), ("Interval", 2), ("DayOfWeek", 2), ("FirstDayOfWeek", 0))
    daily = rec(("Type", 0), ("Interval", 2))
    got = await round_trip(client, version, [series(weekly, "weekly"), series(sunday, "sunday"), series(daily, "daily")])
    monday = [E(f"{C}:FirstDayOfWeek", 1)] if version != "12.1" else []  # a 14.1 token
    assert [d.find(f"{C}:Recurrence") for d in got] == [
        E(f"{C}:Recurrence", *weekly, *monday), E(f"{C}:Recurrence", *(sunday if version != "12.1" else weekly)),
        E(f"{C}:Recurrence", *daily)]
