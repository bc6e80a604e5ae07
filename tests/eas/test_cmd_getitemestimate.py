"""GetItemEstimate's handler over the fake ports."""
import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "GetItemEstimate"
pytestmark = pytest.mark.anyio


def estimate(*collections):
    return E(f"{NS}:GetItemEstimate", E(f"{NS}:Collections", *[
        E(f"{NS}:Collection", E("AirSync:SyncKey", key), E(f"{NS}:CollectionId", cid)) for cid, key in collections]))


async def test_a_primed_collection_counts_its_changes_and_the_others_get_their_status():
    store = FakePorts()
    store.folder("2", "Inbox", 2).key = 4
    store.folder("3", "Drafts", 3)
    store.mail("2", "2:1", "One")
    store.mail("2", "2:2", "Two")
    response = await run(store, "GetItemEstimate", estimate(("2", "4"), ("3", "0"), ("9", "1"), ("2", "3")))
    assert response.body == E(f"{NS}:GetItemEstimate",
                              E(f"{NS}:Response", E(f"{NS}:Status", 1), E(f"{NS}:Collection", E(f"{NS}:CollectionId", "2"), E(f"{NS}:Estimate", 2))),
                              E(f"{NS}:Response", E(f"{NS}:Status", 3), E(f"{NS}:Collection", E(f"{NS}:CollectionId", "3"))),
                              E(f"{NS}:Response", E(f"{NS}:Status", 2), E(f"{NS}:Collection", E(f"{NS}:CollectionId", "9"))),
                              E(f"{NS}:Response", E(f"{NS}:Status", 4), E(f"{NS}:Collection", E(f"{NS}:CollectionId", "2"))))


async def test_no_collection_is_status_2_and_no_body_is_400():
    store = FakePorts()
    assert (await run(store, "GetItemEstimate", E(f"{NS}:GetItemEstimate"))).body == E(f"{NS}:GetItemEstimate", E(f"{NS}:Status", 2))
    assert (await run(store, "GetItemEstimate", None)).status == 400
