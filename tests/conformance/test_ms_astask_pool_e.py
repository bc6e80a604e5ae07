"""MS-ASTASK: a weekly pattern reads back with its FirstDayOfWeek, and Search finds tasks."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.conformance.test_ms_astask import DATES, TASKS, added, children, every, read_back, task
from tests.server.eas_helpers import Raw

pytestmark = pytest.mark.anyio
A, T = "AirSync", "Tasks"


@pytest.mark.req("MS-ASTASK_R167")
@pytest.mark.parametrize("sent, returned", [(None, "1"), ("0", "0")])
async def test_a_weekly_task_is_returned_with_its_first_day_of_week(client, sent, returned):
    """None sent: the server's (Monday, as for calendar series); one sent is kept."""
    first = [E(f"{T}:FirstDayOfWeek", sent)] if sent else []
    await added(client, task(*DATES, every(E(f"{T}:Type", 1), E(f"{T}:DayOfWeek", 2), *first)))
    data, _, _ = await read_back(client)
    assert children(data, f"{T}:Recurrence") == [E(f"{T}:Recurrence", E(f"{T}:Start", "2026-12-01T00:00:00.000Z"),
                                                   E(f"{T}:Type", 1), E(f"{T}:DayOfWeek", 2), E(f"{T}:FirstDayOfWeek", returned))]

def search(*conditions):
    return E("Search:Search", E("Search:Store", E("Search:Name", "Mailbox"), E("Search:Query", E("Search:And", *conditions)),
                                E("Search:Options", E("Search:Range", "0-9"))))


@pytest.mark.req("MS-ASTASK_R361", "MS-ASTASK_R363")
async def test_search_finds_a_task_with_its_task_elements(client):
    await added(client, task(E(f"{T}:Importance", 2), *DATES))
    resp = await Raw(client, device="finder", device_type="TestPhone").call("Search", search(
        E("AirSync:Class", "Tasks"), E("AirSync:CollectionId", TASKS), E("Search:FreeText", "Buy")))
    store = resp.find("Search:Response").find("Search:Store")
    [result] = store.findall("Search:Result")
    assert (store.text("Search:Status"), result.text("AirSync:Class"), result.text("AirSync:CollectionId")) == ("1", "Tasks", TASKS)
    props = result.find("Search:Properties")
    assert {c.tag for c in props.children} == {f"{T}:Subject", f"{T}:Importance", f"{T}:StartDate", f"{T}:UtcStartDate",
                                               f"{T}:DueDate", f"{T}:UtcDueDate"}
    assert (props.text(f"{T}:Subject"), props.text(f"{T}:Importance"), props.text(f"{T}:UtcDueDate")) == (
        "Buy", "2", "2026-12-02T00:00:00.000Z")
