"""Sync for Calendar, Contacts, Tasks and Notes, in-process, with exact trees: what one device
writes, it and every other device read back property by property."""

import pytest
from sqlmodel import select

from easlab.eas.pim.timezone import from_zone_name
from easlab.eas.wbxml import E
from easlab.storage.models import Item
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, C, B = "AirSync", "Calendar", "AirSyncBase"
CALENDAR, CONTACTS, TASKS, NOTES = "7", "8", "9", "10"
BERLIN = from_zone_name("Europe/Berlin", 2026).to_base64()


def device(client, name, version):
    return Raw(client, device=name, version=version, device_type="TestPhone")


async def primed(dev, folder, *extra):
    resp = await dev.sync("0", folder, *extra)
    return collection(resp).text(f"{A}:SyncKey")


async def everything(dev, folder, *extra):
    """Prime and download the whole folder: ({ServerId: ApplicationData}, key)."""
    return await everything_from(dev, await primed(dev, folder, *extra), folder)


async def add(dev, folder, key, data, client_id="c1"):
    resp = await dev.sync(key, folder, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", client_id), data)))
    coll = collection(resp)
    reply = coll.find(f"{A}:Responses").find(f"{A}:Add")
    return reply, coll.text(f"{A}:SyncKey")


def appdata(*children):
    return E(f"{A}:ApplicationData", *children)


def recurring_meeting_141():
    """A weekly Monday 09:00 Berlin meeting as a 14.1 device writes it, with one deleted and one
    moved occurrence, in Exchange's property order."""
    return appdata(
        E(f"{C}:Timezone", BERLIN), E(f"{C}:AllDayEvent", 0),
        E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "Agenda: numbers")),
        E(f"{C}:BusyStatus", 2), E(f"{C}:OrganizerName", "Alice"), E(f"{C}:OrganizerEmail", "alice@easlab.test"),
        E(f"{C}:DtStamp", "20260101T100000Z"), E(f"{C}:EndTime", "20260105T090000Z"), E(f"{C}:Location", "Room 4"),
        E(f"{C}:Reminder", 15), E(f"{C}:Sensitivity", 0), E(f"{C}:Subject", "Weekly"),
        E(f"{C}:StartTime", "20260105T080000Z"), E(f"{C}:UID", "weekly-1@easlab.test"), E(f"{C}:MeetingStatus", 1),
        E(f"{C}:Attendees",
          E(f"{C}:Attendee", E(f"{C}:Email", "bob@easlab.test"), E(f"{C}:Name", "Bob"), E(f"{C}:AttendeeStatus", 0),
            E(f"{C}:AttendeeType", 1)),
          E(f"{C}:Attendee", E(f"{C}:Email", "carol@example.net"), E(f"{C}:Name", "Carol"), E(f"{C}:AttendeeType", 2))),
        E(f"{C}:Categories", E(f"{C}:Category", "Team"), E(f"{C}:Category", "Blue")),
        E(f"{C}:Recurrence", E(f"{C}:Type", 1), E(f"{C}:Interval", 1), E(f"{C}:DayOfWeek", 2),
          E(f"{C}:FirstDayOfWeek", 1), E(f"{C}:Until", "20260330T080000Z")),
        E(f"{C}:Exceptions",
          E(f"{C}:Exception", E(f"{C}:Deleted", 1), E(f"{C}:ExceptionStartTime", "20260112T080000Z")),
          E(f"{C}:Exception", E(f"{C}:ExceptionStartTime", "20260119T080000Z"), E(f"{C}:Subject", "Weekly (moved)"),
            E(f"{C}:StartTime", "20260120T130000Z"), E(f"{C}:EndTime", "20260120T140000Z"), E(f"{C}:Location", "Room 9"))),
        E(f"{C}:ResponseRequested", 1), E(f"{C}:DisallowNewTimeProposal", 0),
    )


def with_native(data, native=1):
    """What a device reads back: the same properties; the Body with its size (MS-ASAIRS 2.2.2.23),
    and NativeBodyType."""
    def sized(el):
        if el.tag != f"{B}:Body":
            return el
        data = el.text(f"{B}:Data")
        return E(f"{B}:Body", E(f"{B}:Type", el.text(f"{B}:Type")), E(f"{B}:EstimatedDataSize", len(data.encode())), E(f"{B}:Data", data))
    return E(f"{A}:ApplicationData", *[sized(c) for c in data.children], E(f"{B}:NativeBodyType", native))


@pytest.mark.req("MS-ASCMD_R748", "MS-ASCMD_R957")
@pytest.mark.req("MS-ASEMAIL_R14")
async def test_recurring_meeting_written_on_one_device_reads_back_identical_on_another(client):
    writer, reader = device(client, "w", "14.1"), device(client, "r", "14.1")
    sent = recurring_meeting_141()
    reply, _ = await add(writer, CALENDAR, await primed(writer, CALENDAR), sent)
    assert reply.text(f"{A}:ClientId") == "c1" and reply.text(f"{A}:Status") == "1"
    server_id = reply.text(f"{A}:ServerId")
    items, _ = await everything(reader, CALENDAR)
    assert list(items) == [server_id]
    assert items[server_id] == with_native(sent)  # every property, in order; Body gets its sizes
    # ... and the writer itself, starting over, reads the same.
    again, _ = await everything(writer, CALENDAR)
    assert again[server_id] == items[server_id]


async def test_a_16_1_device_reads_the_same_meeting_in_its_own_names(client):
    writer, modern = device(client, "w", "14.1"), device(client, "m", "16.1")
    reply, _ = await add(writer, CALENDAR, await primed(writer, CALENDAR), recurring_meeting_141())
    items, _ = await everything(modern, CALENDAR)
    data = items[reply.text(f"{A}:ServerId")]
    assert data.find(f"{B}:Location") == E(f"{B}:Location", E(f"{B}:DisplayName", "Room 4"))
    assert not data.has(f"{C}:Location")
    exceptions = data.find(f"{C}:Exceptions").children
    assert exceptions[0] == E(f"{C}:Exception", E(f"{C}:Deleted", 1), E(f"{B}:InstanceId", "20260112T080000Z"))
    assert exceptions[1] == E(f"{C}:Exception", E(f"{B}:InstanceId", "20260119T080000Z"), E(f"{C}:Subject", "Weekly (moved)"),
                              E(f"{C}:StartTime", "20260120T130000Z"), E(f"{C}:EndTime", "20260120T140000Z"),
                              E(f"{B}:Location", E(f"{B}:DisplayName", "Room 9")))
    assert data.text(f"{C}:UID") == "weekly-1@easlab.test"


def meeting_161():
    return appdata(
        E(f"{C}:Timezone", BERLIN), E(f"{C}:AllDayEvent", 0), E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "Plan")),
        E(f"{C}:BusyStatus", 2), E(f"{C}:EndTime", "20260302T093000Z"), E(f"{B}:Location", E(f"{B}:DisplayName", "Lab"),
                                                                           E(f"{B}:City", "Berlin")),
        E(f"{C}:Reminder", 10), E(f"{C}:Sensitivity", 0), E(f"{C}:Subject", "Daily standup"),
        E(f"{C}:StartTime", "20260302T090000Z"),
        E(f"{C}:Recurrence", E(f"{C}:Type", 0), E(f"{C}:Occurrences", 10), E(f"{C}:Interval", 1)),
        E(f"{C}:ClientUid", "client-uid-7"),
    )


async def test_16_1_instance_model_change_and_delete_one_occurrence(client):
    modern, older, other = device(client, "m", "16.1"), device(client, "o", "14.1"), device(client, "x", "16.1")
    key = await primed(modern, CALENDAR)
    reply, key = await add(modern, CALENDAR, key, meeting_161())
    sid = reply.text(f"{A}:ServerId")
    # The server makes the UID (a 16.x device never sends one) and says nothing else in Responses.
    resp = await modern.sync(key, CALENDAR, E(f"{A}:Commands",
        E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{B}:InstanceId", "20260304T090000Z"),
          appdata(E(f"{C}:Subject", "Standup (late)"), E(f"{C}:StartTime", "20260304T100000Z"), E(f"{C}:EndTime", "20260304T103000Z"))),
        E(f"{A}:Delete", E(f"{A}:ServerId", sid), E(f"{B}:InstanceId", "20260306T090000Z"))))
    coll = collection(resp) if resp is not None else None
    assert coll is None or not coll.has(f"{A}:Responses")  # silence is success
    # 16.x Change semantics: a Change with only the Subject leaves everything else alone.
    key = coll.text(f"{A}:SyncKey") if coll is not None else key
    resp = await modern.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid),
                                                                appdata(E(f"{C}:Subject", "Daily standup!")))))
    items, _ = await everything(other, CALENDAR)
    data = items[sid]
    uid = data.text(f"{C}:UID")
    assert uid and len(uid) == 32
    assert data.text(f"{C}:ClientUid") == "client-uid-7"
    assert data.text(f"{C}:Subject") == "Daily standup!"
    assert data.find(f"{B}:Location") == E(f"{B}:Location", E(f"{B}:DisplayName", "Lab"), E(f"{B}:City", "Berlin"))
    assert data.find(f"{C}:Recurrence") == E(f"{C}:Recurrence", E(f"{C}:Type", 0), E(f"{C}:Occurrences", 10), E(f"{C}:Interval", 1))
    assert data.find(f"{C}:Exceptions") == E(f"{C}:Exceptions",
        E(f"{C}:Exception", E(f"{B}:InstanceId", "20260304T090000Z"), E(f"{C}:Subject", "Standup (late)"),
          E(f"{C}:StartTime", "20260304T100000Z"), E(f"{C}:EndTime", "20260304T103000Z")),
        E(f"{C}:Exception", E(f"{C}:Deleted", 1), E(f"{B}:InstanceId", "20260306T090000Z")))
    # A 14.1 device sees the same series with its own names (and no ClientUid, a 16.0 token).
    old, _ = await everything(older, CALENDAR)
    data = old[sid]
    assert data.text(f"{C}:Location") == "Lab" and not data.has(f"{C}:ClientUid") and data.text(f"{C}:UID") == uid
    assert [e.text(f"{C}:ExceptionStartTime") for e in data.find(f"{C}:Exceptions").children] == ["20260304T090000Z", "20260306T090000Z"]


async def test_14_1_change_rules_exceptions_and_body_kept_other_omissions_deleted(client):
    dev = device(client, "w", "14.1")
    reply, key = await add(dev, CALENDAR, await primed(dev, CALENDAR), recurring_meeting_141())
    sid = reply.text(f"{A}:ServerId")
    await dev.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), appdata(
        E(f"{C}:Timezone", BERLIN), E(f"{C}:Subject", "Weekly v2"), E(f"{C}:StartTime", "20260105T080000Z"),
        E(f"{C}:EndTime", "20260105T090000Z"), E(f"{C}:UID", "weekly-1@easlab.test"),
        E(f"{C}:Recurrence", E(f"{C}:Type", 1), E(f"{C}:Interval", 1), E(f"{C}:DayOfWeek", 2),
          E(f"{C}:Until", "20260330T080000Z"))))))
    items, _ = await everything(device(client, "r", "14.1"), CALENDAR)
    data = items[sid]
    assert data.text(f"{C}:Subject") == "Weekly v2"
    assert data.find(f"{B}:Body").text(f"{B}:Data") == "Agenda: numbers"  # Body absent: unchanged
    assert len(data.find(f"{C}:Exceptions").children) == 2  # Exceptions absent: unchanged
    # No Supported at SyncKey 0: nothing is ghosted, so what the Change left out is gone.
    assert not data.has(f"{C}:Location") and not data.has(f"{C}:Attendees") and not data.has(f"{C}:Reminder")


async def test_supported_ghosts_what_it_does_not_list(client):
    dev = device(client, "g", "14.1")
    supported = E(f"{A}:Supported", E(f"{C}:Subject"), E(f"{C}:StartTime"), E(f"{C}:EndTime"), E(f"{C}:Reminder"))
    key = await primed(dev, CALENDAR, supported)
    reply, key = await add(dev, CALENDAR, key, recurring_meeting_141())
    sid = reply.text(f"{A}:ServerId")
    await dev.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), appdata(
        E(f"{C}:Subject", "Renamed"), E(f"{C}:StartTime", "20260105T080000Z"), E(f"{C}:EndTime", "20260105T090000Z")))))
    items, _ = await everything(device(client, "r", "14.1"), CALENDAR)
    data = items[sid]
    assert data.text(f"{C}:Subject") == "Renamed"
    assert not data.has(f"{C}:Reminder")  # listed and left out: deleted
    assert data.text(f"{C}:Location") == "Room 4" and data.has(f"{C}:Attendees")  # not listed: ghosted, kept


@pytest.mark.req("MS-ASCMD_R4444")
async def test_conflict_server_wins_by_default_client_wins_when_asked(client, app):
    one, two = device(client, "one", "14.1"), device(client, "two", "14.1")
    reply, key1 = await add(one, CALENDAR, await primed(one, CALENDAR), recurring_meeting_141())
    sid = reply.text(f"{A}:ServerId")
    _, key2 = await everything(two, CALENDAR)
    # Device two changes the subject; device one, not yet told, changes it too.
    await two.sync(key2, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), with_subject("From two"))))
    resp = await one.sync(key1, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), with_subject("From one"))))
    coll = collection(resp)
    assert coll.find(f"{A}:Responses") == E(f"{A}:Responses", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(f"{A}:Status", 7)))
    change = coll.find(f"{A}:Commands").find(f"{A}:Change")
    assert change.find(f"{A}:ApplicationData").text(f"{C}:Subject") == "From two"
    # With Conflict 0 (client wins) the same race goes the device's way.
    key1 = coll.text(f"{A}:SyncKey")
    three = device(client, "three", "14.1")
    key3 = await primed(three, CALENDAR, E(f"{A}:Options", E(f"{A}:Conflict", 0)))
    _, key3 = await everything_from(three, key3)
    await one.sync(key1, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), with_subject("One again"))))
    resp = await three.sync(key3, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), with_subject("Three wins"))))
    assert not collection(resp).has(f"{A}:Responses")
    with app.state.db.session() as s:
        row = s.exec(select(Item).where(Item.server_id == sid)).one()
        assert row.subject == "Three wins"


async def everything_from(dev, key, folder=CALENDAR):
    items = {}
    while True:
        resp = await dev.sync(key, folder)
        if resp is None:
            return items, key
        coll = collection(resp)
        key = coll.text(f"{A}:SyncKey")
        for cmd in (coll.find(f"{A}:Commands").children if coll.find(f"{A}:Commands") is not None else []):
            items[cmd.text(f"{A}:ServerId")] = cmd.find(f"{A}:ApplicationData")
        if not coll.has(f"{A}:MoreAvailable"):
            return items, key


def with_subject(subject):
    base = recurring_meeting_141()
    base.children = [E(f"{C}:Subject", subject) if c.tag == f"{C}:Subject" else c for c in base.children]
    return base


async def test_calendar_more_available_windows_and_filter_type(client):
    dev = device(client, "w", "14.1")
    key = await primed(dev, CALENDAR)
    for n in range(5):
        data = appdata(E(f"{C}:Timezone", BERLIN), E(f"{C}:Subject", f"e{n}"),
                       E(f"{C}:StartTime", f"2026120{n + 1}T090000Z"), E(f"{C}:EndTime", f"2026120{n + 1}T100000Z"),
                       E(f"{C}:UID", f"u{n}"), E(f"{C}:DtStamp", "20261101T000000Z"))
        _, key = await add(dev, CALENDAR, key, data, client_id=f"c{n}")
    reader = device(client, "r", "14.1")
    key = await primed(reader, CALENDAR)
    resp = await reader.sync(key, CALENDAR, E(f"{A}:WindowSize", 2))
    coll = collection(resp)
    assert coll.has(f"{A}:MoreAvailable") and len(coll.find(f"{A}:Commands").children) == 2
    # An event long past is outside FilterType 4 (two weeks); one in the future is inside.
    old = device(client, "f", "14.1")
    key = await primed(old, CALENDAR)
    _, key = await add(old, CALENDAR, key, appdata(E(f"{C}:Subject", "old"), E(f"{C}:StartTime", "20200101T090000Z"),
                                                   E(f"{C}:EndTime", "20200101T100000Z"), E(f"{C}:UID", "old")), client_id="o")
    filtered = device(client, "g", "14.1")
    items, _ = await everything(filtered, CALENDAR, E(f"{A}:Options", E(f"{A}:FilterType", 4)))
    assert sorted(d.text(f"{C}:Subject") for d in items.values()) == ["e0", "e1", "e2", "e3", "e4"]


async def test_bad_items_are_status_6(client):
    dev = device(client, "w", "14.1")
    key = await primed(dev, CALENDAR)
    reply, key = await add(dev, CALENDAR, key, appdata(E(f"{C}:Timezone", "bm90IGEgYmxvYg=="), E(f"{C}:Subject", "x")))
    assert reply == E(f"{A}:Add", E(f"{A}:ClientId", "c1"), E(f"{A}:Status", 6))
    modern = device(client, "n", "16.1")
    key = await primed(modern, NOTES)
    reply, _ = await add(modern, NOTES, key, appdata(E("Notes:Subject", "n"), E("Notes:MessageClass", "IPM.Note")))
    assert reply.text(f"{A}:Status") == "6"
    resp = await modern.sync("0", NOTES, E(f"{A}:Supported", E("Notes:Subject")))
    assert collection(resp).text(f"{A}:Status") == "4"


def contact():
    return appdata(
        E("Contacts:Birthday", "1990-04-01T00:00:00.000Z"), E("Contacts:BusinessPhoneNumber", "+49 30 1234"),
        E("Contacts:Categories", E("Contacts:Category", "Friends")), E("Contacts:Children", E("Contacts:Child", "Ann")),
        E("Contacts:CompanyName", "Example"), E("Contacts:Email1Address", '"Dora Diaz" <dora@example.net>'),
        E("Contacts:FileAs", "Diaz, Dora"), E("Contacts:FirstName", "Dora"), E("Contacts:LastName", "Diaz"),
        E("Contacts:MobilePhoneNumber", "+49 170 1"), E("Contacts:Picture", "iVBORw0KGgo="),
        E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "met at the fair")),
        E("Contacts2:IMAddress", "dora@im.example"), E("Contacts2:ManagerName", "Max"), E("Contacts2:NickName", "Dee"),
    )


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_contacts_with_contacts2_round_trip(client, version):
    writer, reader = device(client, "w", version), device(client, "r", version)
    reply, key = await add(writer, CONTACTS, await primed(writer, CONTACTS), contact())
    sid = reply.text(f"{A}:ServerId")
    items, _ = await everything(reader, CONTACTS)
    assert items[sid] == with_native(contact())
    # A Change without Picture keeps it (MS-ASCMD 2.2.3.24); everything else omitted is gone.
    await writer.sync(key, CONTACTS, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), appdata(
        E("Contacts:FileAs", "Diaz, Dora"), E("Contacts:FirstName", "Dora"), E("Contacts:LastName", "Diaz-Ruiz")))))
    items, _ = await everything(device(client, "r2", version), CONTACTS)
    assert items[sid] == appdata(E("Contacts:FileAs", "Diaz, Dora"), E("Contacts:FirstName", "Dora"),
                                 E("Contacts:LastName", "Diaz-Ruiz"), E("Contacts:Picture", "iVBORw0KGgo="),
                                 E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:EstimatedDataSize", 15), E(f"{B}:Data", "met at the fair")),
                                 E(f"{B}:NativeBodyType", 1))


async def test_tasks_filter_incomplete_soft_deletes_a_completed_task(client):
    dev = device(client, "w", "14.1")
    key = await primed(dev, TASKS)
    task = appdata(E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "milk")), E("Tasks:Complete", 0),
                   E("Tasks:DueDate", "2026-12-01T00:00:00.000Z"), E("Tasks:UtcDueDate", "2026-11-30T23:00:00.000Z"),
                   E("Tasks:Importance", 2), E("Tasks:ReminderSet", 0), E("Tasks:Sensitivity", 0), E("Tasks:Subject", "Buy"))
    reply, key = await add(dev, TASKS, key, task)
    sid = reply.text(f"{A}:ServerId")
    other = device(client, "o", "14.1")
    items, okey = await everything(other, TASKS, E(f"{A}:Options", E(f"{A}:FilterType", 8)))
    assert items[sid] == with_native(task)
    done = appdata(*[c for c in task.children if c.tag != "Tasks:Complete"], E("Tasks:Complete", 1),
                   E("Tasks:DateCompleted", "2026-11-20T10:00:00.000Z"))
    await dev.sync(key, TASKS, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), done)))
    resp = await other.sync(okey, TASKS)
    assert collection(resp).find(f"{A}:Commands") == E(f"{A}:Commands", E(f"{A}:SoftDelete", E(f"{A}:ServerId", sid)))
    # A complete task without DateCompleted is refused (MS-ASTASK 2.2.2.6).
    z = device(client, "z", "14.1")
    reply, _ = await add(z, TASKS, await primed(z, TASKS), appdata(E("Tasks:Subject", "x"), E("Tasks:Complete", 1)))
    assert reply == E(f"{A}:Add", E(f"{A}:ClientId", "c1"), E(f"{A}:Status", 6))


async def test_notes_round_trip_for_14_and_16(client):
    note = appdata(E("Notes:Subject", "Ideas"), E(f"{B}:Body", E(f"{B}:Type", 1), E(f"{B}:Data", "one\ntwo")),
                   E("Notes:MessageClass", "IPM.StickyNote"), E("Notes:LastModifiedDate", "20261127T120000Z"),
                   E("Notes:Categories", E("Notes:Category", "Home")))
    writer = device(client, "w", "14.1")
    reply, _ = await add(writer, NOTES, await primed(writer, NOTES), note)
    items, _ = await everything(device(client, "r", "16.1"), NOTES)
    got = items[reply.text(f"{A}:ServerId")]
    # LastModifiedDate is the server's time of the write, not the device's (MS-ASNOTE 3.2.5.3.1).
    modified = got.text("Notes:LastModifiedDate")
    assert modified != "20261127T120000Z" and len(modified) == 16
    assert got == with_native(appdata(*[E("Notes:LastModifiedDate", modified) if c.tag == "Notes:LastModifiedDate" else c
                                        for c in note.children]))


async def test_stored_form_is_version_neutral(client, app):
    dev = device(client, "w", "14.1")
    reply, _ = await add(dev, CALENDAR, await primed(dev, CALENDAR), recurring_meeting_141())
    with app.state.db.session() as s:
        row = s.exec(select(Item).where(Item.server_id == reply.text(f"{A}:ServerId"))).one()
        stored = row.pim
        assert row.message_class == "IPM.Appointment" and row.uid == "weekly-1@easlab.test" and row.subject == "Weekly"
    tags = [t for t, _ in stored]
    assert "AirSyncBase:Location" in tags and "Calendar:Location" not in tags


@pytest.mark.req("MS-ASCAL_R525", "MS-ASCAL_R528")
async def test_fetch_a_calendar_item_with_sync_and_itemoperations(client):
    dev = device(client, "w", "14.1")
    reply, key = await add(dev, CALENDAR, await primed(dev, CALENDAR), recurring_meeting_141())
    sid = reply.text(f"{A}:ServerId")
    resp = await dev.sync(key, CALENDAR, E(f"{A}:Commands", E(f"{A}:Fetch", E(f"{A}:ServerId", sid))))
    fetched = collection(resp).find(f"{A}:Responses").find(f"{A}:Fetch")
    assert fetched.text(f"{A}:Status") == "1"
    assert fetched.find(f"{A}:ApplicationData") == with_native(recurring_meeting_141())
    resp = await dev.call("ItemOperations", E("ItemOperations:ItemOperations", E("ItemOperations:Fetch",
        E("ItemOperations:Store", "Mailbox"), E(f"{A}:CollectionId", CALENDAR), E(f"{A}:ServerId", sid))))
    props = resp.find("ItemOperations:Response").find("ItemOperations:Fetch").find("ItemOperations:Properties")
    assert props.children == with_native(recurring_meeting_141()).children


async def test_an_edit_on_one_phone_wakes_the_others_ping_on_the_calendar(client, app):
    import asyncio

    from tests.conftest import until_held

    one, two = device(client, "one", "14.1"), device(client, "two", "14.1")
    reply, _ = await add(one, CALENDAR, await primed(one, CALENDAR), recurring_meeting_141())
    sid = reply.text(f"{A}:ServerId")
    _, key2 = await everything(two, CALENDAR)
    _, key1 = await everything(one, CALENDAR)
    ping = E("Ping:Ping", E("Ping:HeartbeatInterval", 300),
             E("Ping:Folders", E("Ping:Folder", E("Ping:Id", CALENDAR), E("Ping:Class", "Calendar"))))
    held = asyncio.create_task(two.call("Ping", ping))
    await until_held(app, device_id="two")
    await one.sync(key1, CALENDAR, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), with_subject("Moved"))))
    assert await asyncio.wait_for(held, 5) == E("Ping:Ping", E("Ping:Status", 2), E("Ping:Folders", E("Ping:Folder", CALENDAR)))
    resp = await two.sync(key2, CALENDAR)
    change = collection(resp).find(f"{A}:Commands").find(f"{A}:Change")
    assert change.find(f"{A}:ApplicationData").text(f"{C}:Subject") == "Moved"
