"""MS-ASCMD 2.2.3.68: which FilterType values each class accepts in Sync and GetItemEstimate, and what
the window does to the count.  The tables are the specification's; a row is (class, FilterType, requirement).

The cells where GetItemEstimate answers 110 (103 for 9 and above) are in test_ms_ascmd_pool_a_estimate.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.storage.mailbox import store_message
from easlab.storage.models import Folder
from easlab.storage.users import get_user
from tests.server.eas_helpers import Raw, collection, commands, message

pytestmark = pytest.mark.anyio
A, G = "AirSync", "GetItemEstimate"
FOLDER = {"Email": "1", "Calendar": "7", "Contacts": "8", "Tasks": "9"}
# MS-ASCMD 2.2.3.68.2: class, FilterType, whether Status is 1 (else the collection fails with 4).
SYNC = [
    pytest.param("Email", 0, True, id="Email-0", marks=pytest.mark.req("MS-ASCMD_R3035")),
    pytest.param("Email", 1, True, id="Email-1", marks=pytest.mark.req("MS-ASCMD_R3036")),
    pytest.param("Email", 2, True, id="Email-2", marks=pytest.mark.req("MS-ASCMD_R3037")),
    pytest.param("Email", 3, True, id="Email-3", marks=pytest.mark.req("MS-ASCMD_R3038")),
    pytest.param("Email", 4, True, id="Email-4", marks=pytest.mark.req("MS-ASCMD_R3039")),
    pytest.param("Email", 5, True, id="Email-5", marks=pytest.mark.req("MS-ASCMD_R3040")),
    pytest.param("Email", 6, False, id="Email-6", marks=pytest.mark.req("MS-ASCMD_R3041")),
    pytest.param("Email", 7, False, id="Email-7", marks=pytest.mark.req("MS-ASCMD_R3042")),
    pytest.param("Email", 8, False, id="Email-8", marks=pytest.mark.req("MS-ASCMD_R3043")),
    pytest.param("Calendar", 0, True, id="Calendar-0", marks=pytest.mark.req("MS-ASCMD_R3044")),
    pytest.param("Calendar", 1, False, id="Calendar-1", marks=pytest.mark.req("MS-ASCMD_R3045")),
    pytest.param("Calendar", 2, False, id="Calendar-2", marks=pytest.mark.req("MS-ASCMD_R3046")),
    pytest.param("Calendar", 3, False, id="Calendar-3", marks=pytest.mark.req("MS-ASCMD_R3047")),
    pytest.param("Calendar", 4, True, id="Calendar-4", marks=pytest.mark.req("MS-ASCMD_R3048")),
    pytest.param("Calendar", 5, True, id="Calendar-5", marks=pytest.mark.req("MS-ASCMD_R3049")),
    pytest.param("Calendar", 6, True, id="Calendar-6", marks=pytest.mark.req("MS-ASCMD_R3050")),
    pytest.param("Calendar", 7, True, id="Calendar-7", marks=pytest.mark.req("MS-ASCMD_R3051")),
    pytest.param("Calendar", 8, False, id="Calendar-8", marks=pytest.mark.req("MS-ASCMD_R3052")),
    pytest.param("Tasks", 0, True, id="Tasks-0", marks=pytest.mark.req("MS-ASCMD_R3053")),
    pytest.param("Tasks", 1, False, id="Tasks-1", marks=pytest.mark.req("MS-ASCMD_R3054")),
    pytest.param("Tasks", 2, False, id="Tasks-2", marks=pytest.mark.req("MS-ASCMD_R3055")),
    pytest.param("Tasks", 3, False, id="Tasks-3", marks=pytest.mark.req("MS-ASCMD_R3056")),
    pytest.param("Tasks", 4, False, id="Tasks-4", marks=pytest.mark.req("MS-ASCMD_R3057")),
    pytest.param("Tasks", 5, False, id="Tasks-5", marks=pytest.mark.req("MS-ASCMD_R3058")),
    pytest.param("Tasks", 6, False, id="Tasks-6", marks=pytest.mark.req("MS-ASCMD_R3059")),
    pytest.param("Tasks", 7, False, id="Tasks-7", marks=pytest.mark.req("MS-ASCMD_R3060")),
    pytest.param("Tasks", 8, True, id="Tasks-8", marks=pytest.mark.req("MS-ASCMD_R3061")),
]
# MS-ASCMD 2.2.3.68.1: the cells where GetItemEstimate answers Status 1.
ESTIMATE = [
    pytest.param("Email", 0, True, id="Email-0", marks=pytest.mark.req("MS-ASCMD_R2999")),
    pytest.param("Email", 1, True, id="Email-1", marks=pytest.mark.req("MS-ASCMD_R3000")),
    pytest.param("Email", 2, True, id="Email-2", marks=pytest.mark.req("MS-ASCMD_R3001")),
    pytest.param("Email", 3, True, id="Email-3", marks=pytest.mark.req("MS-ASCMD_R3002")),
    pytest.param("Email", 4, True, id="Email-4", marks=pytest.mark.req("MS-ASCMD_R3003")),
    pytest.param("Email", 5, True, id="Email-5", marks=pytest.mark.req("MS-ASCMD_R3004")),
    pytest.param("Calendar", 0, True, id="Calendar-0", marks=pytest.mark.req("MS-ASCMD_R3008")),
    pytest.param("Calendar", 4, True, id="Calendar-4", marks=pytest.mark.req("MS-ASCMD_R3012")),
    pytest.param("Calendar", 5, True, id="Calendar-5", marks=pytest.mark.req("MS-ASCMD_R3013")),
    pytest.param("Calendar", 6, True, id="Calendar-6", marks=pytest.mark.req("MS-ASCMD_R3014")),
    pytest.param("Calendar", 7, True, id="Calendar-7", marks=pytest.mark.req("MS-ASCMD_R3015")),
    pytest.param("Tasks", 0, True, id="Tasks-0", marks=pytest.mark.req("MS-ASCMD_R3017")),
    pytest.param("Tasks", 8, True, id="Tasks-8", marks=pytest.mark.req("MS-ASCMD_R3025")),
]


def options(ft):
    return E(f"{A}:Options", E(f"{A}:FilterType", ft))


def estimate(key, cid, *opts):
    return E(f"{G}:GetItemEstimate", E(f"{G}:Collections", E(f"{G}:Collection", E(f"{A}:SyncKey", key),
                                                              E(f"{G}:CollectionId", cid), *opts)))


@pytest.mark.parametrize("cls, ft, accepted", SYNC)
async def test_sync_filter_type_per_class(client, cls, ft, accepted):
    cid = FOLDER[cls]
    resp = await Raw(client).sync("0", cid, options(ft))
    if accepted:
        assert (collection(resp).text(f"{A}:Status"), collection(resp).text(f"{A}:SyncKey")) == ("1", "1")
    else:
        assert resp == E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", E(f"{A}:CollectionId", cid),
                                                                E(f"{A}:Status", 4))))


@pytest.mark.req("MS-ASCMD_R3080", "MS-ASCMD_R4430", "MS-ASCMD_R4417")
async def test_filter_type_8_in_email_is_status_4(client):
    resp = await Raw(client).sync("0", "1", options(8))
    assert collection(resp).text(f"{A}:Status") == "4"


@pytest.mark.req("MS-ASCMD_R3079")
@pytest.mark.parametrize("ft", range(9))
async def test_contacts_answer_alike_with_and_without_a_filter(client, ft):
    dev = Raw(client)
    plain = await dev.sync("0", "8")
    filtered = await Raw(client, device=f"f{ft}").sync("0", "8", options(ft))
    assert collection(filtered).text(f"{A}:Status") == collection(plain).text(f"{A}:Status") == "1"


@pytest.mark.parametrize("cls, ft, _", ESTIMATE)
async def test_estimate_filter_type_per_class(client, cls, ft, _):
    dev = Raw(client)
    cid = FOLDER[cls]
    key = collection(await dev.sync("0", cid)).text(f"{A}:SyncKey")
    resp = await dev.call("GetItemEstimate", estimate(key, cid, options(ft)))
    assert resp.find(f"{G}:Response").text(f"{G}:Status") == "1"


@pytest.mark.req("MS-ASCMD_R2973")
@pytest.mark.parametrize("ft", range(9))
async def test_estimate_for_contacts_takes_any_filter(client, ft):
    dev = Raw(client)
    key = collection(await dev.sync("0", "8")).text(f"{A}:SyncKey")
    resp = await dev.call("GetItemEstimate", estimate(key, "8", options(ft)))
    assert resp == E(f"{G}:GetItemEstimate", E(f"{G}:Response", E(f"{G}:Status", 1),
                                                E(f"{G}:Collection", E(f"{G}:CollectionId", "8"), E(f"{G}:Estimate", 0))))


@pytest.mark.req("MS-ASCMD_R2967", "MS-ASCMD_R2969", "MS-ASCMD_R2970", "MS-ASCMD_R3543", "MS-ASCMD_R3076")
async def test_the_window_decides_what_is_counted_and_sent(client, db):
    old = (datetime.now(timezone.utc) - timedelta(days=20)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    with db.session() as s:
        inbox = s.exec(select(Folder).where(Folder.user_id == get_user(s, "alice").id, Folder.type == 2)).one()
        store_message(s, inbox, message(subject="old", date=old))
        store_message(s, inbox, message(subject="new"))
    dev = Raw(client)
    key = collection(await dev.sync("0", "1")).text(f"{A}:SyncKey")

    async def count(*opts):
        return (await dev.call("GetItemEstimate", estimate(key, "1", *opts))).find(f"{G}:Response").find(
            f"{G}:Collection").text(f"{G}:Estimate")

    assert (await count(), await count(options(0)), await count(options(3)), await count(options(5))) == ("2", "2", "1", "2")
    assert sorted(s for _, _, s in commands(await dev.sync(key, "1"))) == ["new", "old"]
    windowed = Raw(client, device="windowed")
    key = collection(await windowed.sync("0", "1", options(3))).text(f"{A}:SyncKey")
    assert [s for _, _, s in commands(await windowed.sync(key, "1", options(3)))] == ["new"]
