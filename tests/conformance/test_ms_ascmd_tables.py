"""MS-ASCMD value tables checked row by row: Search query elements outside the And (2.2.3.10 and the
elements it may hold), ResolveRecipients availability windows (2.2.3.58.1, 2.2.3.176.1), and the
MIMETruncation codes of a 2.5 Sync (2.2.3.111)."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection, message

pytestmark = pytest.mark.anyio
S, A, RR = "Search", "AirSync", "ResolveRecipients"
FREE = E(f"{S}:FreeText", "budget")


def when(tag):
    return E(f"{S}:{tag}", E("Email:DateReceived"), E(f"{S}:Value", "2025-01-06T12:00:00.000Z"))


# A Query whose children are these, not one And around them, is too complex: Status 8.
OUTSIDE_AND = [
    pytest.param([E(f"{S}:And", FREE), E(f"{S}:And", FREE)], id="two-And", marks=pytest.mark.req("MS-ASCMD_R772")),
    pytest.param([E(f"{A}:Class", "Email")], id="Class", marks=pytest.mark.req("MS-ASCMD_R923")),
    pytest.param([E(f"{A}:CollectionId", "1")], id="CollectionId", marks=pytest.mark.req("MS-ASCMD_R2032")),
    pytest.param([E("Email2:ConversationId", b"0123456789abcdef")], id="ConversationId",
                 marks=pytest.mark.req("MS-ASCMD_R2086")),
    pytest.param([when("GreaterThan")], id="GreaterThan", marks=pytest.mark.req("MS-ASCMD_R3143")),
    pytest.param([when("LessThan")], id="LessThan", marks=pytest.mark.req("MS-ASCMD_R3220")),
    pytest.param([FREE], id="FreeText", marks=pytest.mark.req("MS-ASCMD_R3105")),
]


@pytest.mark.parametrize("query", OUTSIDE_AND)
async def test_query_elements_outside_one_and_are_too_complex(client, query):
    resp = await Raw(client).call("Search", E(f"{S}:Search", E(f"{S}:Store", E(f"{S}:Name", "Mailbox"),
                                                                 E(f"{S}:Query", *query))))
    assert resp == E(f"{S}:Search", E(f"{S}:Status", 1), E(f"{S}:Response", E(f"{S}:Store", E(f"{S}:Status", 8))))


WINDOWS = [
    pytest.param("2026-01-06T02:00:00.000Z", "tomorrow", id="bad-EndTime", marks=pytest.mark.req("MS-ASCMD_R2264")),
    pytest.param("tomorrow", "2026-01-06T02:00:00.000Z", id="bad-StartTime", marks=pytest.mark.req("MS-ASCMD_R3986")),
    pytest.param("2026-01-06T02:00:00.000Z", "2026-01-06T02:10:00.000Z", id="under-30-minutes",
                 marks=pytest.mark.req("MS-ASCMD_R2266")),
    pytest.param("2026-01-01T00:00:00.000Z", "2026-02-12T00:00:01.000Z", id="over-42-days",
                 marks=pytest.mark.req("MS-ASCMD_R5175")),
]


@pytest.mark.parametrize("start, end", WINDOWS)
async def test_availability_windows_out_of_bounds_are_status_5(client, start, end):
    window = E(f"{RR}:Availability", E(f"{RR}:StartTime", start), E(f"{RR}:EndTime", end))
    resp = await Raw(client).call(RR, E(f"{RR}:ResolveRecipients", E(f"{RR}:To", "alice"), E(f"{RR}:Options", window)))
    assert resp == E(f"{RR}:ResolveRecipients", E(f"{RR}:Status", 5))


async def test_a_42_day_window_is_answered(client):
    window = E(f"{RR}:Availability", E(f"{RR}:StartTime", "2026-01-01T00:00:00.000Z"),
               E(f"{RR}:EndTime", "2026-02-12T00:00:00.000Z"))
    resp = await Raw(client).call(RR, E(f"{RR}:ResolveRecipients", E(f"{RR}:To", "alice"), E(f"{RR}:Options", window)))
    assert resp.text(f"{RR}:Status") == "1"
    free_busy = resp.find(f"{RR}:Response").find(f"{RR}:Recipient").find(f"{RR}:Availability").text(f"{RR}:MergedFreeBusy")
    assert free_busy == "0" * (42 * 48)


# MIMETruncation code -> characters of MIME sent (None: all of it)
MIME_TRUNCATION = [
    pytest.param(0, 0, marks=pytest.mark.req("MS-ASCMD_R3418")),
    pytest.param(1, 4096, marks=pytest.mark.req("MS-ASCMD_R3419")),
    pytest.param(2, 5120, marks=pytest.mark.req("MS-ASCMD_R3420")),
    pytest.param(3, 7168, marks=pytest.mark.req("MS-ASCMD_R3421")),
    pytest.param(4, 10240, marks=pytest.mark.req("MS-ASCMD_R3422")),
    pytest.param(5, 20480, marks=pytest.mark.req("MS-ASCMD_R3423")),
    pytest.param(6, 51200, marks=pytest.mark.req("MS-ASCMD_R3424")),
    pytest.param(7, 102400, marks=pytest.mark.req("MS-ASCMD_R3425")),
    pytest.param(8, None, marks=pytest.mark.req("MS-ASCMD_R3426")),
]


@pytest.mark.parametrize("code, limit", MIME_TRUNCATION)
async def test_mime_truncation_codes(client, app, code, limit):
    await app.state.store.deliver(message(subject="long", text="lorem ipsum " * 12000), ["alice@easlab.test"])
    dev = Raw(client, version="2.5")
    options = E(f"{A}:Options", E(f"{A}:MIMESupport", 2), E(f"{A}:MIMETruncation", code))

    def sync(key):
        return dev.call("Sync", E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:Class", "Email"),
                        E(f"{A}:SyncKey", key), E(f"{A}:CollectionId", "1"), options))))

    key = collection(await sync("0")).text(f"{A}:SyncKey")
    data = collection(await sync(key)).find(f"{A}:Commands").find(f"{A}:Add").find(f"{A}:ApplicationData")
    size = int(data.text("Email:MIMESize"))
    assert size > 102400  # longer than every limit
    sent = data.text("Email:MIMEData") or ""
    assert (len(sent), data.text("Email:MIMETruncated")) == ((limit, "1") if limit is not None else (size, "0"))
