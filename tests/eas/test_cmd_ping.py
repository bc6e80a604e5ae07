"""Ping's handler over the fake ports: pending changes, a wake, a timeout, bad requests."""
import json

import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, FakeWake, run

NS = "Ping"
pytestmark = pytest.mark.anyio


def ping(heartbeat=None, *folders):
    parts = [E(f"{NS}:HeartbeatInterval", heartbeat) if heartbeat is not None else None]
    if folders:
        parts.append(E(f"{NS}:Folders", *[E(f"{NS}:Folder", E(f"{NS}:Id", f), E(f"{NS}:Class", "Email")) for f in folders]))
    return E(f"{NS}:Ping", *parts)


@pytest.fixture
def store():
    fake = FakePorts()
    fake.folder("2", "Inbox", 2)
    fake.folder("3", "Drafts", 3)
    return fake


async def test_pending_changes_answer_at_once(store):
    store.mail("3", "3:1", "Draft")
    response = await run(store, "Ping", ping(300, "2", "3"))
    assert response.body == E(f"{NS}:Ping", E(f"{NS}:Status", 2), E(f"{NS}:Folders", E(f"{NS}:Folder", "3")))
    assert store.waits == []
    assert json.loads(store.cache["ping"]) == {"heartbeat": 300, "folders": [["2", "Email"], ["3", "Email"]]}


async def test_a_wake_names_the_folder_and_a_timeout_expires(store):
    store.wakes.append(FakeWake(folders={0}))
    woken = await run(store, "Ping", ping(300, "2", "3"))
    assert woken.body == E(f"{NS}:Ping", E(f"{NS}:Status", 2), E(f"{NS}:Folders", E(f"{NS}:Folder", "2")))
    expired = await run(store, "Ping", None)  # an empty Ping repeats the cached one
    assert expired.body == E(f"{NS}:Ping", E(f"{NS}:Status", 1))
    assert [watch for watch, _ in store.waits] == [[0, 1], [0, 1]]
    assert all(0 < timeout <= 300 for _, timeout in store.waits)


async def test_a_hierarchy_change_or_a_new_policy_is_status_7(store):
    store.wakes += [FakeWake(hierarchy=True), FakeWake(policy=True)]
    for _ in range(2):
        response = await run(store, "Ping", ping(300, "2"))
        assert response.body == E(f"{NS}:Ping", E(f"{NS}:Status", 7))
    unknown = await run(store, "Ping", ping(300, "99"))
    assert unknown.body == E(f"{NS}:Ping", E(f"{NS}:Status", 7))


async def test_errors_missing_parameters_bad_interval_and_syntax(store):
    assert (await run(store, "Ping", None)).body == E(f"{NS}:Ping", E(f"{NS}:Status", 3))
    assert (await run(store, "Ping", ping(10, "2"))).body == E(f"{NS}:Ping", E(f"{NS}:Status", 5), E(f"{NS}:HeartbeatInterval", 60))
    assert (await run(store, "Ping", ping(300, "2", "2"))).body == E(f"{NS}:Ping", E(f"{NS}:Status", 4))
    assert store.cache == {}
