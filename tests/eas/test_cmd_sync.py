"""Sync's handler over the fake ports: key 0, a change, a resent key, an empty answer, errors."""
import pytest

from easlab.eas.email import BodyOptions, application_data
from easlab.eas.wbxml import E, decode

from .fake_ports import FakePorts, FakeWake, run

NS = "AirSync"
pytestmark = pytest.mark.anyio


def sync(key: str, collection: str = "2", *extra):
    return E(f"{NS}:Sync", E(f"{NS}:Collections", E(f"{NS}:Collection", E(f"{NS}:SyncKey", key),
                                                   E(f"{NS}:CollectionId", collection), *extra)))


def answer(*children):
    return E(f"{NS}:Sync", E(f"{NS}:Collections", E(f"{NS}:Collection", *children)))


@pytest.fixture
def store():
    fake = FakePorts()
    fake.folder("2", "Inbox", 2)
    return fake


async def test_key_0_then_a_change_then_nothing(store):
    first = await run(store, "Sync", sync("0"))
    assert first.body == answer(E(f"{NS}:SyncKey", "1"), E(f"{NS}:CollectionId", "2"), E(f"{NS}:Status", 1))
    item = store.mail("2", "2:1", "Hello")
    second = await run(store, "Sync", sync("1"))
    assert second.body == answer(E(f"{NS}:SyncKey", "2"), E(f"{NS}:CollectionId", "2"), E(f"{NS}:Status", 1),
                                 E(f"{NS}:Commands", E(f"{NS}:Add", E(f"{NS}:ServerId", "2:1"),
                                                      application_data(item, BodyOptions(), "14.1"))))
    again = await run(store, "Sync", sync("1"))  # the answer was lost: the same bytes again
    assert again.body == second.body
    quiet = await run(store, "Sync", sync("2"))
    assert (quiet.status, quiet.body) == (200, None)  # 12.1+: the empty Sync response


async def test_the_request_is_cached_and_an_empty_sync_repeats_it(store):
    await run(store, "Sync", sync("0"))
    assert decode(store.cache["sync"]) == sync("0")
    repeated = await run(store, "Sync", None)  # the cached request again: key 0 once more
    assert repeated.body == answer(E(f"{NS}:SyncKey", "1"), E(f"{NS}:CollectionId", "2"), E(f"{NS}:Status", 1))


async def test_wait_holds_until_a_change_wakes_it(store):
    await run(store, "Sync", sync("0"))
    store.wakes.append(FakeWake(folders={0}, arrive=lambda: store.mail("2", "2:1", "Hello")))
    held = E(f"{NS}:Sync", sync("1").children[0], E(f"{NS}:Wait", 5))
    response = await run(store, "Sync", held)
    assert store.waits == [([0], 300)]
    collection = response.body.find(f"{NS}:Collections").children[0]
    assert (collection.text(f"{NS}:SyncKey"), collection.find(f"{NS}:Commands").children[0].text(f"{NS}:ServerId")) == ("2", "2:1")


async def test_a_wait_that_times_out_is_the_empty_response(store):
    await run(store, "Sync", sync("0"))
    response = await run(store, "Sync", E(f"{NS}:Sync", sync("1").children[0], E(f"{NS}:HeartbeatInterval", 90)))
    assert store.waits == [([0], 90)]
    assert (response.status, response.body) == (200, None)


async def test_a_stale_key_is_status_3_and_an_unknown_collection_status_8(store):
    await run(store, "Sync", sync("0"))
    stale = await run(store, "Sync", sync("9"))
    assert stale.body == answer(E(f"{NS}:SyncKey", "0"), E(f"{NS}:CollectionId", "2"), E(f"{NS}:Status", 3))
    unknown = await run(store, "Sync", sync("1", "77"))
    assert unknown.body == answer(E(f"{NS}:CollectionId", "77"), E(f"{NS}:Status", 8))


async def test_a_wait_out_of_bounds_is_status_14_with_the_limit(store):
    response = await run(store, "Sync", E(f"{NS}:Sync", sync("0").children[0], E(f"{NS}:Wait", 60)))
    assert response.body == E(f"{NS}:Sync", E(f"{NS}:Status", 14), E(f"{NS}:Limit", 59))


async def test_an_empty_sync_without_a_cached_request_is_status_13(store):
    response = await run(store, "Sync", None)
    assert response.body == E(f"{NS}:Sync", E(f"{NS}:Status", 13))


def test_the_answer_room_measures_each_change_by_its_values_with_one_set_of_body_options(monkeypatch):
    """A page's changes are rendered with the body options made once for the collection (they
    were made again for each change), and measured as the values they carry."""
    from datetime import datetime, timezone

    from easlab.eas.body import BodyPreference
    from easlab.eas.commands.sync import AnswerRoom, SyncOptions
    from easlab.eas.records import EmailItem, ServerChange

    made = []
    real = SyncOptions.body
    monkeypatch.setattr(SyncOptions, "body", lambda self, reader="": made.append(reader) or real(self, reader))
    options = SyncOptions(body_preferences=[BodyPreference(type=2, truncation_size=100)])
    when = datetime(2026, 1, 5, tzinfo=timezone.utc)
    changes = [ServerChange("Add", f"1:{n}", EmailItem(f"1:{n}", subject="s" * n, body_html="<p>" + "h" * 300, date_received=when))
               for n in range(5)]
    room = AnswerRoom(1_000_000, "14.1", False, "alice@easlab.test")
    assert all(room.admit(change, options) for change in changes)
    assert made == ["alice@easlab.test"]
    for change in changes:
        assert change.data is not None
        body = BodyOptions([BodyPreference(type=2, truncation_size=100)], reader="alice@easlab.test")
        assert change.data == application_data(change.item, body, "14.1")
    sizes = [sum(len(e.value) for e in c.data.iter() if e.value is not None) + len(c.server_id) for c in changes]
    assert room.left == 1_000_000 - sum(sizes)
