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
    pytest.param(every(E(f"{T}:Type", 2), E(f"{T}:DayOfMonth", 5)), marks=pytest.mark.req("MS-ASTASK_R404")),
    pytest.param(every(E(f"{T}:Type", 3), E(f"{T}:WeekOfMonth", 2), E(f"{T}:DayOfWeek", 2)),
                 marks=pytest.mark.req("MS-ASTASK_R530", "MS-ASTASK_R430")),
    pytest.param(every(E(f"{T}:Type", 5), E(f"{T}:DayOfMonth", 5), E(f"{T}:MonthOfYear", 3)),
                 marks=pytest.mark.req("MS-ASTASK_R406", "MS-ASTASK_R417")),
    pytest.param(every(E(f"{T}:Type", 6), E(f"{T}:WeekOfMonth", 2), E(f"{T}:DayOfWeek", 2), E(f"{T}:MonthOfYear", 3)),
                 marks=pytest.mark.req("MS-ASTASK_R531", "MS-ASTASK_R418", "MS-ASTASK_R431")),
])
async def test_a_recurring_task_reads_back_with_its_pattern(client, recurrence):
    await added(client, task(*DATES, recurrence))
    data, _, _ = await read_back(client)
    assert children(data, f"{T}:Recurrence") == [recurrence]
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

