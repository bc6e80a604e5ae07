"""MS-ASTASK as Microsoft's test suite exercises it: tasks added on one device and read back on
another, recurrences of every type, a completed task, changes that leave elements out, and a
task fetched with ItemOperations.  Each test names the requirements it proves."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, T, IO = "AirSync", "Tasks", "ItemOperations"
TASKS = "9"
DATES = (E(f"{T}:StartDate", "2026-12-01T00:00:00.000Z"), E(f"{T}:UtcStartDate", "2026-12-01T00:00:00.000Z"),
         E(f"{T}:DueDate", "2026-12-02T00:00:00.000Z"), E(f"{T}:UtcDueDate", "2026-12-02T00:00:00.000Z"))


def task(*children):
    return E(f"{A}:ApplicationData", E(f"{T}:Subject", "Buy"), *children)


def every(*children):
    return E(f"{T}:Recurrence", E(f"{T}:Start", "2026-12-01T00:00:00.000Z"), *children)


async def added(client, data, device="writer"):
    dev = Raw(client, device=device, device_type="TestPhone")
    key = collection(await dev.sync("0", TASKS)).text(f"{A}:SyncKey")
    coll = collection(await dev.sync(key, TASKS, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "t1"), data))))
    reply = coll.find(f"{A}:Responses").find(f"{A}:Add")
    assert reply.text(f"{A}:Status") == "1"
    return dev, coll.text(f"{A}:SyncKey"), reply.text(f"{A}:ServerId")


async def read_back(client, device="reader"):
    """(the one task's ApplicationData as another device downloads it, that device, its key)"""
    dev = Raw(client, device=device, device_type="TestPhone")
    coll = collection(await dev.sync(collection(await dev.sync("0", TASKS)).text(f"{A}:SyncKey"), TASKS))
    [add] = coll.find(f"{A}:Commands").findall(f"{A}:Add")
    return add.find(f"{A}:ApplicationData"), dev, coll.text(f"{A}:SyncKey")


def children(data, tag):
    return [c for c in data.children if c.tag == tag]


@pytest.mark.req("MS-ASTASK_R366", "MS-ASTASK_R368")
@pytest.mark.parametrize("recurrence", [
    pytest.param(every(E(f"{T}:Type", 0)), marks=pytest.mark.req("MS-ASTASK_R631")),
    pytest.param(every(E(f"{T}:Type", 1), E(f"{T}:DayOfWeek", 2)), marks=pytest.mark.req("MS-ASTASK_R135")),
    pytest.param(every(E(f"{T}:Type", 2), E(f"{T}:DayOfMonth", 5)), marks=pytest.mark.req("MS-ASTASK_R404", "MS-ASTASK_R82")),
    pytest.param(every(E(f"{T}:Type", 3), E(f"{T}:WeekOfMonth", 2), E(f"{T}:DayOfWeek", 2)),
                 marks=pytest.mark.req("MS-ASTASK_R530", "MS-ASTASK_R430", "MS-ASTASK_R8211")),
    pytest.param(every(E(f"{T}:Type", 5), E(f"{T}:DayOfMonth", 5), E(f"{T}:MonthOfYear", 3)),
                 marks=pytest.mark.req("MS-ASTASK_R406", "MS-ASTASK_R417", "MS-ASTASK_R8212")),
    pytest.param(every(E(f"{T}:Type", 6), E(f"{T}:WeekOfMonth", 2), E(f"{T}:DayOfWeek", 2), E(f"{T}:MonthOfYear", 3)),
                 marks=pytest.mark.req("MS-ASTASK_R531", "MS-ASTASK_R418", "MS-ASTASK_R431", "MS-ASTASK_R8213")),
])
async def test_a_recurring_task_reads_back_with_its_pattern(client, recurrence):
    await added(client, task(*DATES, recurrence))
    data, _, _ = await read_back(client)
    # A monthly or yearly pattern comes back with CalendarType 0 (default), the device sent none.
    calendar_type = [E(f"{T}:CalendarType", 0)] if recurrence.text(f"{T}:Type") in ("2", "3", "5", "6") else []
    calendar_type += [E(f"{T}:FirstDayOfWeek", 1)] if recurrence.text(f"{T}:Type") == "1" else []  # test_ms_astask_pool_e
    assert children(data, f"{T}:Recurrence") == [E(recurrence.tag, *recurrence.children, *calendar_type)]
    assert data.text(f"{T}:Subject") == "Buy" and data.text(f"{T}:UtcDueDate") == "2026-12-02T00:00:00.000Z"


@pytest.mark.req("MS-ASTASK_R124", "MS-ASTASK_R187", "MS-ASTASK_R550")
async def test_complete_task_keeps_its_date_and_an_unknown_importance_is_kept(client):
    await added(client, task(E(f"{T}:Importance", 5), E(f"{T}:Complete", 1), E(f"{T}:DateCompleted", "2026-11-20T10:00:00.000Z")))
    data, _, _ = await read_back(client)
    assert (data.text(f"{T}:Importance"), data.text(f"{T}:Complete"), data.text(f"{T}:DateCompleted")) == (
        "5", "1", "2026-11-20T10:00:00.000Z")


@pytest.mark.req("MS-ASTASK_R436")
async def test_an_empty_categories_removes_them(client):
    writer, key, sid = await added(client, task(E(f"{T}:Categories", E(f"{T}:Category", "Home"))))
    before, reader, rkey = await read_back(client)
    assert before.find(f"{T}:Categories") == E(f"{T}:Categories", E(f"{T}:Category", "Home"))
    await writer.sync(key, TASKS, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), task(E(f"{T}:Categories")))))
    [change] = collection(await reader.sync(rkey, TASKS)).find(f"{A}:Commands").findall(f"{A}:Change")
    assert change.find(f"{A}:ApplicationData").find(f"{T}:Category") is None


@pytest.mark.req("MS-ASTASK_R356", "MS-ASTASK_R359")
async def test_itemoperations_fetches_a_task(client):
    writer, _, sid = await added(client, task(E(f"{T}:Importance", 2), *DATES))
    resp = await writer.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"),
                                                              E(f"{A}:CollectionId", TASKS), E(f"{A}:ServerId", sid))))
    [fetch] = resp.find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert fetch.text(f"{IO}:Status") == "1"
    props = fetch.find(f"{IO}:Properties")
    assert (props.text(f"{T}:Subject"), props.text(f"{T}:Importance"), props.text(f"{T}:UtcDueDate")) == (
        "Buy", "2", "2026-12-02T00:00:00.000Z")



async def refused(client, data):
    dev = Raw(client, device="refused", device_type="TestPhone")
    key = collection(await dev.sync("0", TASKS)).text(f"{A}:SyncKey")
    coll = collection(await dev.sync(key, TASKS, E(f"{A}:Commands", E(f"{A}:Add", E(f"{A}:ClientId", "t9"), data))))
    return coll.find(f"{A}:Responses").find(f"{A}:Add")


@pytest.mark.parametrize("data", [
    pytest.param(task(every(E(f"{T}:Type", 1), E(f"{T}:DayOfMonth", 5))), marks=pytest.mark.req("MS-ASTASK_R132")),
    pytest.param(task(every(E(f"{T}:Type", 3), E(f"{T}:WeekOfMonth", 2), E(f"{T}:DayOfWeek", 2), E(f"{T}:DayOfMonth", 5))),
                 marks=pytest.mark.req("MS-ASTASK_R132", "MS-ASTASK_R409", "MS-ASTASK_R410")),
    pytest.param(task(every(E(f"{T}:Type", 2), E(f"{T}:DayOfMonth", 5), E(f"{T}:DayOfWeek", 2))), marks=pytest.mark.req("MS-ASTASK_R532")),
    pytest.param(task(every(E(f"{T}:Type", 5), E(f"{T}:DayOfMonth", 5), E(f"{T}:MonthOfYear", 3), E(f"{T}:DayOfWeek", 2))),
                 marks=pytest.mark.req("MS-ASTASK_R533")),
    pytest.param(task(every(E(f"{T}:Type", 1), E(f"{T}:DayOfWeek", 2), E(f"{T}:WeekOfMonth", 2))),
                 marks=pytest.mark.req("MS-ASTASK_R320", "MS-ASTASK_R319", "MS-ASTASK_R433")),
    pytest.param(task(every(E(f"{T}:Type", 1), E(f"{T}:DayOfWeek", 2), E(f"{T}:FirstDayOfWeek", 7))), marks=pytest.mark.req("MS-ASTASK_R171")),
    pytest.param(task(E(f"{T}:ReminderSet", 2)), marks=pytest.mark.req("MS-ASTASK_R252")),
    pytest.param(task(every(E(f"{T}:Interval", 1))), marks=pytest.mark.req("MS-ASTASK_R289")),
    pytest.param(task(E(f"{T}:Recurrence", E(f"{T}:Type", 0), E(f"{T}:Interval", 1))), marks=pytest.mark.req("MS-ASTASK_R37011")),
])
async def test_an_invalid_task_is_status_6_and_not_stored(client, data):
    assert await refused(client, data) == E(f"{A}:Add", E(f"{A}:ClientId", "t9"), E(f"{A}:Status", 6))
    reader = Raw(client, device="reader", device_type="TestPhone")
    resp = await reader.sync(collection(await reader.sync("0", TASKS)).text(f"{A}:SyncKey"), TASKS)
    assert resp is None  # nothing stored: the empty response


@pytest.mark.req("MS-ASTASK_R37013")
async def test_occurrences_wins_over_until(client):
    await added(client, task(every(E(f"{T}:Type", 0), E(f"{T}:Until", "2027-01-01T00:00:00.000Z"), E(f"{T}:Occurrences", 3))))
    data, _, _ = await read_back(client)
    assert children(data, f"{T}:Recurrence") == [every(E(f"{T}:Type", 0), E(f"{T}:Occurrences", 3))]


@pytest.mark.req("MS-ASTASK_R369", "MS-ASTASK_R370", "MS-ASTASK_R438")
async def test_a_change_without_importance_or_reminderset_keeps_them(client):
    writer, key, sid = await added(client, task(E(f"{T}:Importance", 2), E(f"{T}:ReminderSet", 1),
                                                E(f"{T}:ReminderTime", "2026-12-01T08:00:00.000Z"), E(f"{T}:Sensitivity", 2)))
    _, reader, rkey = await read_back(client)
    await writer.sync(key, TASKS, E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid),
                                                        E(f"{A}:ApplicationData", E(f"{T}:Subject", "Buy milk")))))
    commands = collection(await reader.sync(rkey, TASKS)).find(f"{A}:Commands")
    # Sensitivity and ReminderTime, left out too, are deleted (MS-ASCMD 2.2.3.24): the two kept are the rule.
    assert commands == E(f"{A}:Commands", E(f"{A}:Change", E(f"{A}:ServerId", sid), E(
        f"{A}:ApplicationData", E(f"{T}:Importance", 2), E(f"{T}:ReminderSet", 1), E(f"{T}:Subject", "Buy milk"))))


@pytest.mark.req("MS-ASTASK_R364")
async def test_a_search_on_task_properties_is_store_status_2(client):
    await added(client, task(*DATES))
    resp = await Raw(client, device="finder", device_type="TestPhone").call("Search", E("Search:Search", E(
        "Search:Store", E("Search:Name", "Mailbox"), E("Search:Query", E("Search:And", E("AirSync:Class", "Tasks"),
                                                                          E("AirSync:CollectionId", TASKS), E(f"{T}:Subject", "Buy"))),
        E("Search:Options", E("Search:Range", "0-9")))))
    assert resp == E("Search:Search", E("Search:Status", 1), E("Search:Response", E("Search:Store", E("Search:Status", 2))))


@pytest.mark.req("MS-ASTASK_R358")
async def test_itemoperations_with_a_schema_returns_only_its_properties(client):
    writer, _, sid = await added(client, task(E(f"{T}:Importance", 2), *DATES))
    resp = await writer.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"),
                                                              E(f"{A}:CollectionId", TASKS), E(f"{A}:ServerId", sid),
                                                              E(f"{IO}:Options", E(f"{IO}:Schema", E(f"{T}:Subject"), E(f"{T}:DueDate"))))))
    [fetch] = resp.find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert fetch.find(f"{IO}:Properties") == E(f"{IO}:Properties", E(f"{T}:DueDate", "2026-12-02T00:00:00.000Z"), E(f"{T}:Subject", "Buy"))
