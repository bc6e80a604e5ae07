"""MS-ASCMD GetItemEstimate (2.2.3.68.1 FilterType "No" cells, 2.2.3.27.2 Class, 2.2.3.36.1
ConversationMode) and the calendar window shared with Sync (2.2.3.68.2): exact answers."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, G, C = "AirSync", "GetItemEstimate", "Calendar"
FOLDER = {"Email": "1", "Calendar": "7", "Contacts": "8", "Tasks": "9"}
# The cells of MS-ASCMD 2.2.3.68.1 where GetItemEstimate answers Status 110.
REFUSED = [
    pytest.param("Calendar", 1, id="Calendar-1", marks=pytest.mark.req("MS-ASCMD_R3009")),
    pytest.param("Calendar", 2, id="Calendar-2", marks=pytest.mark.req("MS-ASCMD_R3010")),
    pytest.param("Calendar", 3, id="Calendar-3", marks=pytest.mark.req("MS-ASCMD_R3011")),
    pytest.param("Calendar", 8, id="Calendar-8", marks=pytest.mark.req("MS-ASCMD_R3016")),
    pytest.param("Tasks", 1, id="Tasks-1", marks=pytest.mark.req("MS-ASCMD_R3018")),
    pytest.param("Tasks", 2, id="Tasks-2", marks=pytest.mark.req("MS-ASCMD_R3019")),
    pytest.param("Tasks", 3, id="Tasks-3", marks=pytest.mark.req("MS-ASCMD_R3020")),
    pytest.param("Tasks", 4, id="Tasks-4", marks=pytest.mark.req("MS-ASCMD_R3021")),
    pytest.param("Tasks", 5, id="Tasks-5", marks=pytest.mark.req("MS-ASCMD_R3022")),
    pytest.param("Tasks", 6, id="Tasks-6", marks=pytest.mark.req("MS-ASCMD_R3023")),
    pytest.param("Tasks", 7, id="Tasks-7", marks=pytest.mark.req("MS-ASCMD_R3024")),
    pytest.param("Email", 6, id="Email-6", marks=pytest.mark.req("MS-ASCMD_R3005")),
    pytest.param("Email", 7, id="Email-7", marks=pytest.mark.req("MS-ASCMD_R3006")),
    pytest.param("Email", 8, id="Email-8", marks=pytest.mark.req("MS-ASCMD_R3007")),
]


def options(*children):
    return E(f"{A}:Options", *children)


def estimate(key, cid, *extra):
    return E(f"{G}:GetItemEstimate", E(f"{G}:Collections", E(f"{G}:Collection", E(f"{A}:SyncKey", key),
                                                              E(f"{G}:CollectionId", cid), *extra)))


def answer(cid, status, count=None, command_status=None):
    tail = [E(f"{G}:Estimate", count)] if count is not None else []
    return E(f"{G}:GetItemEstimate", E(f"{G}:Status", command_status) if command_status is not None else None,
             E(f"{G}:Response", E(f"{G}:Status", status), E(f"{G}:Collection", E(f"{G}:CollectionId", cid), *tail)))


async def primed(dev, cid):
    return collection(await dev.sync("0", cid)).text(f"{A}:SyncKey")


@pytest.mark.parametrize("cls, ft", REFUSED)
async def test_a_filter_type_the_class_does_not_take_is_status_110(client, cls, ft):
    dev = Raw(client)
    cid = FOLDER[cls]
    key = await primed(dev, cid)
    assert await dev.call(G, estimate(key, cid, options(E(f"{A}:FilterType", ft)))) == answer(cid, 110)
    # The same collection without the FilterType is counted.
    assert await dev.call(G, estimate(key, cid)) == answer(cid, 1, 0)


@pytest.mark.req("MS-ASCMD_R2984")
@pytest.mark.parametrize("cls", ["Email", "Contacts", "Calendar", "Tasks"])
async def test_filter_type_9_and_above_is_status_103(client, cls):
    dev = Raw(client)
    cid = FOLDER[cls]
    key = await primed(dev, cid)
    for ft in (9, 10, 42):
        assert await dev.call(G, estimate(key, cid, options(E(f"{A}:FilterType", ft)))) == answer(cid, 103)


@pytest.mark.req("MS-ASCMD_R907", "MS-ASCMD_R908")
async def test_only_email_and_sms_are_estimated_together(client):
    dev = Raw(client)
    key = await primed(dev, "1")
    together = estimate(key, "1", options(E(f"{A}:Class", "Email")), options(E(f"{A}:Class", "SMS")))
    assert await dev.call(G, together) == answer("1", 1, 0)
    for other in ("Calendar", "Contacts", "Tasks"):
        mixed = estimate(key, "1", options(E(f"{A}:Class", "Email")), options(E(f"{A}:Class", other)))
        assert await dev.call(G, mixed) == answer("1", 4)


@pytest.mark.req("MS-ASCMD_R2100")
async def test_conversation_mode_outside_email_is_status_103(client):
    dev = Raw(client)
    for cls in ("Calendar", "Contacts", "Tasks"):
        cid = FOLDER[cls]
        key = await primed(dev, cid)
        # The Response's 103 (this requirement) beside the command's Status 4 (MS-ASCON 3.2.5.2)
        assert await dev.call(G, estimate(key, cid, E(f"{A}:ConversationMode", 1))) == answer(cid, 103, command_status=4)
        assert await dev.call(G, estimate(key, cid, E(f"{A}:ConversationMode", 0))) == answer(cid, 103, command_status=4)
    key = await primed(dev, "1")
    assert await dev.call(G, estimate(key, "1", E(f"{A}:ConversationMode", 1))) == answer("1", 1, 0)


def event(subject, start, end, *extra):
    return E(f"{A}:ApplicationData", E(f"{C}:Subject", subject), E(f"{C}:StartTime", start), E(f"{C}:EndTime", end),
             E(f"{C}:UID", subject), *extra)


async def calendar_of_three(client):
    """An event long past, one in the future, and a weekly series without end that began long ago."""
    dev = Raw(client, device="writer")
    key = await primed(dev, "7")
    weekly = E(f"{C}:Recurrence", E(f"{C}:Type", 1), E(f"{C}:Interval", 1), E(f"{C}:DayOfWeek", 2))
    adds = [E(f"{A}:Add", E(f"{A}:ClientId", f"c{n}"), data) for n, data in enumerate([
        event("past", "20200106T090000Z", "20200106T100000Z"),
        event("future", "20300107T090000Z", "20300107T100000Z"),
        event("series", "20200106T080000Z", "20200106T083000Z", weekly)])]
    resp = await dev.sync(key, "7", E(f"{A}:Commands", *adds))
    assert [r.text(f"{A}:Status") for r in collection(resp).find(f"{A}:Responses").children] == ["1", "1", "1"]


@pytest.mark.req("MS-ASCMD_R2971", "MS-ASCMD_R5877")
async def test_estimate_counts_future_and_endless_events_whatever_the_filter(client):
    await calendar_of_three(client)
    for ft, count in ((0, 3), (4, 2), (5, 2), (6, 2), (7, 2)):
        dev = Raw(client, device=f"e{ft}")
        key = await primed(dev, "7")
        assert await dev.call(G, estimate(key, "7", options(E(f"{A}:FilterType", ft)))) == answer("7", 1, count)


@pytest.mark.req("MS-ASCMD_R3065", "MS-ASCMD_R5878")
async def test_sync_sends_future_and_endless_events_whatever_the_filter(client):
    await calendar_of_three(client)
    for ft in (4, 5, 6, 7):
        dev = Raw(client, device=f"s{ft}")
        key = collection(await dev.sync("0", "7", options(E(f"{A}:FilterType", ft)))).text(f"{A}:SyncKey")
        cmds = collection(await dev.sync(key, "7")).find(f"{A}:Commands").children
        assert sorted(c.find(f"{A}:ApplicationData").text(f"{C}:Subject") for c in cmds) == ["future", "series"]
