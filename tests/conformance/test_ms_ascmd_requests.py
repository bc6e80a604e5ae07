"""MS-ASCMD: short request/response checks the command tests elsewhere do not make: element-count
limits (3.1.5.10), GetChanges with SyncKey 0, a Sync collection without a CollectionId, a FolderUpdate
that carries a Status, and Out of Office windows with one end only."""
from __future__ import annotations

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw, collection

pytestmark = pytest.mark.anyio
A, FH, S, M, MR, VC = "AirSync", "FolderHierarchy", "Settings", "Move", "MeetingResponse", "ValidateCert"


def sync_collection(*children):
    return E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", *children)))


# MS-ASCMD 3.1.5.10: (command, request with one element over the limit, the status that refuses it)
OVER_THE_LIMIT = [
    pytest.param("MoveItems", E(f"{M}:MoveItems", *[E(f"{M}:Move", E(f"{M}:SrcMsgId", f"1:{n}"), E(f"{M}:SrcFldId", "1"),
                                                       E(f"{M}:DstFldId", "6")) for n in range(1001)]),
                 E(f"{M}:MoveItems", E(f"{M}:Status", 103)), id="MoveItems-1001",
                 marks=pytest.mark.req("MS-ASCMD_R5653")),
    pytest.param("MeetingResponse", E(f"{MR}:MeetingResponse", *[
        E(f"{MR}:Request", E(f"{MR}:UserResponse", 1), E(f"{MR}:CollectionId", "1"), E(f"{MR}:RequestId", f"1:{n}"))
        for n in range(101)]), E(f"{MR}:MeetingResponse", E(f"{MR}:Status", 103)), id="MeetingResponse-101",
                 marks=pytest.mark.req("MS-ASCMD_R5650")),
    pytest.param("ValidateCert", E(f"{VC}:ValidateCert", E(f"{VC}:Certificates", *[E(f"{VC}:Certificate", "AAAA")
                                                                                  for _ in range(101)])),
                 E(f"{VC}:ValidateCert", E(f"{VC}:Status", 2)), id="ValidateCert-101",
                 marks=pytest.mark.req("MS-ASCMD_R5662")),
]


@pytest.mark.parametrize("command, tree, refusal", OVER_THE_LIMIT)
async def test_one_element_over_the_limit_is_refused(client, command, tree, refusal):
    assert await Raw(client).call(command, tree) == refusal


@pytest.mark.req("MS-ASCMD_R5838", "MS-ASCMD_R3127")
@pytest.mark.parametrize("get_changes", [1, ""])
async def test_get_changes_with_sync_key_0_is_status_4(client, get_changes):
    resp = await Raw(client).call("Sync", sync_collection(E(f"{A}:SyncKey", "0"), E(f"{A}:CollectionId", "1"),
                                                          E(f"{A}:GetChanges", get_changes)))
    assert resp == E(f"{A}:Sync", E(f"{A}:Status", 4))


@pytest.mark.req("MS-ASCMD_R3129", "MS-ASCMD_R5839", "MS-ASCMD_R5555", "MS-ASCMD_R3125")
@pytest.mark.parametrize("get_changes", [[], [E(f"{A}:GetChanges", 0)]])
async def test_sync_key_0_without_get_changes_primes_the_collection(client, get_changes):
    resp = await Raw(client).call("Sync", sync_collection(E(f"{A}:SyncKey", "0"), E(f"{A}:CollectionId", "1"), *get_changes))
    assert resp == sync_collection(E(f"{A}:SyncKey", "1"), E(f"{A}:CollectionId", "1"), E(f"{A}:Status", 1))


@pytest.mark.req("MS-ASCMD_R4545")
async def test_a_collection_without_collection_id_is_status_4(client):
    resp = await Raw(client).call("Sync", sync_collection(E(f"{A}:SyncKey", "0"), E(f"{A}:Supported", E("Contacts:FileAs"))))
    assert resp == E(f"{A}:Sync", E(f"{A}:Status", 4))


@pytest.mark.req("MS-ASCMD_R3102")
async def test_folder_update_with_a_status_element_is_status_10(client):
    dev = Raw(client)
    key = (await dev.folder_sync("0")).text(f"{FH}:SyncKey")
    resp = await dev.call("FolderUpdate", E(f"{FH}:FolderUpdate", E(f"{FH}:SyncKey", key), E(f"{FH}:ServerId", "6"),
                                            E(f"{FH}:ParentId", "0"), E(f"{FH}:DisplayName", "Spam"), E(f"{FH}:Status", 1)))
    assert resp == E(f"{FH}:FolderUpdate", E(f"{FH}:Status", 10))


def oof_set(state, *times):
    return E(f"{S}:Settings", E(f"{S}:Oof", E(f"{S}:Set", E(f"{S}:OofState", state), *times)))


START, END = E(f"{S}:StartTime", "2030-07-01T08:00:00.000Z"), E(f"{S}:EndTime", "2030-07-05T08:00:00.000Z")


@pytest.mark.req("MS-ASCMD_R5681", "MS-ASCMD_R5827")
async def test_an_end_time_without_a_start_time_is_status_2(client):
    resp = await Raw(client).call("Settings", oof_set(2, END))
    assert resp == E(f"{S}:Settings", E(f"{S}:Status", 1), E(f"{S}:Oof", E(f"{S}:Status", 2)))


@pytest.mark.req("MS-ASCMD_R3535")
async def test_times_with_oof_state_1_are_accepted(client):
    resp = await Raw(client).call("Settings", oof_set(1, START, END))
    assert resp == E(f"{S}:Settings", E(f"{S}:Status", 1), E(f"{S}:Oof", E(f"{S}:Status", 1)))


@pytest.mark.req("MS-ASCMD_R5708", "MS-ASCMD_R5724", "MS-ASCMD_R5678", "MS-ASCMD_R5790")
async def test_tentative_acceptance_in_the_inbox_names_the_calendar_item(client, app):
    from tests.server.test_meetings import CALENDAR, INBOX, alice, items, meeting_response, outlook_request, request

    await app.state.store.deliver(outlook_request(), ["alice@easlab.test"])
    dev = alice(client)
    (sid, _), = (await items(dev, INBOX)).items()
    (calendar_id, _), = (await items(alice(client, device="a2"), CALENDAR)).items()
    resp = await dev.call(MR, meeting_response(request(2, sid)))
    assert resp == meeting_response(E(f"{MR}:Result", E(f"{MR}:RequestId", sid), E(f"{MR}:Status", 1),
                                      E(f"{MR}:CalendarId", calendar_id)))
    (event,) = (await items(alice(client, device="a3"), CALENDAR)).values()
    assert event.text("Calendar:ResponseType") == "2"  # tentative
