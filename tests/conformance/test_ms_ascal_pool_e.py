"""MS-ASCAL: Search and ItemOperations on calendar items, the UID the server makes for a new event,
and the bound on Occurrences."""
from __future__ import annotations

import re

import pytest

from easlab.eas.wbxml import E
from tests.conformance.test_ms_astask_pool_e import search
from tests.server.test_calendar_conformance import add_all, event
from tests.server.test_sync_pim import CALENDAR, appdata, device, everything

pytestmark = pytest.mark.anyio
A, C, IO = "AirSync", "Calendar", "ItemOperations"


@pytest.mark.req("MS-ASCAL_R523", "MS-ASCAL_R533")
async def test_search_finds_an_event_with_its_calendar_elements(client):
    dev = device(client, "writer", "16.1")
    assert [s for _, s, _ in await add_all(dev, [event(subject="Board meeting"), event(subject="Lunch")])] == ["1", "1"]
    resp = await dev.call("Search", search(E("AirSync:Class", "Calendar"), E("AirSync:CollectionId", CALENDAR),
                                           E("Search:FreeText", "Board")))
    store = resp.find("Search:Response").find("Search:Store")
    [result] = store.findall("Search:Result")
    assert (store.text("Search:Status"), store.text("Search:Total"), result.text("AirSync:Class")) == ("1", "1", "Calendar")
    props = result.find("Search:Properties")
    assert (props.text(f"{C}:Subject"), props.text(f"{C}:StartTime"), props.text(f"{C}:UID")) == (
        "Board meeting", "20261207T090000Z", "uid-Board meeting")
    assert all(c.tag.startswith(f"{C}:") for c in props.children)


@pytest.mark.req("MS-ASCAL_R530")
async def test_itemoperations_with_a_schema_returns_only_its_calendar_properties(client):
    dev = device(client, "writer", "16.1")
    [(_, _, sid)] = await add_all(dev, [event(subject="Review")])
    resp = await dev.call(IO, E(f"{IO}:ItemOperations", E(f"{IO}:Fetch", E(f"{IO}:Store", "Mailbox"),
                                                          E(f"{A}:CollectionId", CALENDAR), E(f"{A}:ServerId", sid),
                                                          E(f"{IO}:Options", E(f"{IO}:Schema", E(f"{C}:Subject"), E(f"{C}:EndTime"))))))
    [fetch] = resp.find(f"{IO}:Response").findall(f"{IO}:Fetch")
    assert fetch.find(f"{IO}:Properties") == E(f"{IO}:Properties", E(f"{C}:EndTime", "20261207T100000Z"), E(f"{C}:Subject", "Review"))


@pytest.mark.req("MS-ASCAL_R2223")
async def test_a_new_event_gets_a_uid_from_the_server(client):
    writer = device(client, "writer", "16.1")
    no_uid = appdata(*[c for c in event(subject="Made here").children if c.tag != f"{C}:UID"])
    [(_, status, sid)] = await add_all(writer, [no_uid])
    got, _ = await everything(device(client, "reader", "16.1"), CALENDAR)
    uid = got[sid].text(f"{C}:UID")
    assert status == "1" and re.fullmatch(r"[0-9A-F]{32}", uid)


@pytest.mark.req("MS-ASCAL_R345")
async def test_occurrences_over_999_are_status_6(client):
    writer = device(client, "writer", "16.1")
    replies = await add_all(writer, [event(E(f"{C}:Recurrence", E(f"{C}:Type", 0), E(f"{C}:Occurrences", n)), subject=f"n{n}")
                                     for n in (999, 1000)])
    assert [s for _, s, _ in replies] == ["1", "6"]
    got, _ = await everything(device(client, "reader", "16.1"), CALENDAR)
    assert [d.text(f"{C}:Subject") for d in got.values()] == ["n999"]


@pytest.mark.req("MS-ASCAL_R11026")
async def test_no_more_than_300_categories_are_returned(client):
    writer = device(client, "writer", "16.1")
    cats = E(f"{C}:Categories", *[E(f"{C}:Category", f"c{n:03}") for n in range(301)])
    [(_, status, sid)] = await add_all(writer, [event(cats, subject="tagged")])
    got, _ = await everything(device(client, "reader", "16.1"), CALENDAR)
    assert status == "1" and [c.value for c in got[sid].find(f"{C}:Categories").children] == [f"c{n:03}" for n in range(300)]

