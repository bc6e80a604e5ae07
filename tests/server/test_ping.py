"""Ping held on the push hub; GetItemEstimate."""
import asyncio

import pytest

from easlab.eas.wbxml import E
from easlab.server.config import Settings
from tests.conftest import until_held
from tests.server.eas_helpers import Raw, collection, message

pytestmark = pytest.mark.anyio
P, G, A = "Ping", "GetItemEstimate", "AirSync"


@pytest.fixture
def settings(tmp_path):
    # A 1-second floor so the expiry path runs in a test without waiting a minute.
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", heartbeat_min=1, heartbeat_max=3540)


def ping(heartbeat=None, *folders):
    parts = [E(f"{P}:HeartbeatInterval", heartbeat) if heartbeat is not None else None]
    if folders:
        parts.append(E(f"{P}:Folders", *[E(f"{P}:Folder", E(f"{P}:Id", f), E(f"{P}:Class", "Email")) for f in folders]))
    return E(f"{P}:Ping", *parts)


async def synced(dev, cid="1"):
    key = collection(await dev.sync("0", cid)).text(f"{A}:SyncKey")
    resp = await dev.sync(key, cid)
    return collection(resp).text(f"{A}:SyncKey") if resp is not None else key


@pytest.mark.req("MS-ASHTTP_R504")
@pytest.mark.req("MS-ASCMD_R306", "MS-ASCMD_R4235", "MS-ASCMD_R4236", "MS-ASCMD_R5714")
async def test_ping_wakes_on_delivery_with_status_2(client, app):
    dev = Raw(client)
    await synced(dev)
    task = asyncio.create_task(dev.call("Ping", ping(300, "1")))
    await until_held(app)
    assert app.state.hub.held == 1 and not task.done()
    await app.state.store.deliver(message(subject="wake"), ["alice@easlab.test"])
    resp = await asyncio.wait_for(task, 2)
    assert resp == E(f"{P}:Ping", E(f"{P}:Status", 2), E(f"{P}:Folders", E(f"{P}:Folder", "1")))
    assert app.state.hub.held == 0


@pytest.mark.req("MS-ASCMD_R5636")
async def test_pending_changes_answer_at_once(client, app):
    dev = Raw(client)
    await synced(dev)
    await app.state.store.deliver(message(), ["alice@easlab.test"])
    resp = await asyncio.wait_for(dev.call("Ping", ping(300, "1")), 2)
    assert resp.text(f"{P}:Status") == "2"


async def test_heartbeat_expiry_status_1(client):
    dev = Raw(client)
    await synced(dev)
    resp = await asyncio.wait_for(dev.call("Ping", ping(1, "1")), 5)
    assert resp == E(f"{P}:Ping", E(f"{P}:Status", 1))


async def test_mail_for_another_folder_or_user_does_not_wake(client, app):
    dev = Raw(client)
    await synced(dev)
    task = asyncio.create_task(dev.call("Ping", ping(1, "1")))
    await until_held(app)
    await app.state.store.deliver(message(to="bob@easlab.test"), ["bob@easlab.test"])
    assert (await asyncio.wait_for(task, 5)).text(f"{P}:Status") == "1"


@pytest.mark.req("MS-ASCMD_R335", "MS-ASCMD_R4240", "MS-ASCMD_R4241", "MS-ASCMD_R5836", "MS-ASCMD_R4228")
async def test_empty_ping_reuses_the_last_one(client, app):
    dev = Raw(client)
    await synced(dev)
    assert (await dev.call("Ping")).text(f"{P}:Status") == "3"  # nothing cached yet
    assert (await dev.call("Ping", ping(1, "1"))).text(f"{P}:Status") == "1"
    task = asyncio.create_task(dev.call("Ping"))  # no body: 1 s on folder 1 again
    await until_held(app)
    await app.state.store.deliver(message(), ["alice@easlab.test"])
    assert (await asyncio.wait_for(task, 5)).find(f"{P}:Folders") == E(f"{P}:Folders", E(f"{P}:Folder", "1"))


async def test_newer_ping_ends_the_older_at_once(client, app):
    dev = Raw(client)
    await synced(dev)
    first = asyncio.create_task(dev.call("Ping", ping(300, "1")))
    await until_held(app)
    second = asyncio.create_task(dev.call("Ping", ping(300, "1")))
    resp = await asyncio.wait_for(first, 10)
    assert resp.text(f"{P}:Status") == "1"
    await until_held(app)  # now the second one
    await app.state.store.deliver(message(), ["alice@easlab.test"])
    assert (await asyncio.wait_for(second, 10)).text(f"{P}:Status") == "2"


@pytest.mark.req("MS-ASCMD_R4257", "MS-ASCMD_R4258")
async def test_hierarchy_change_status_7(client, app):
    dev = Raw(client)
    await synced(dev)
    task = asyncio.create_task(dev.call("Ping", ping(300, "1")))
    await until_held(app)
    app.state.hub.notify_hierarchy(1)
    assert (await asyncio.wait_for(task, 2)) == E(f"{P}:Ping", E(f"{P}:Status", 7))
    assert (await dev.call("Ping", ping(300, "999"))) == E(f"{P}:Ping", E(f"{P}:Status", 7))


@pytest.mark.parametrize("hb, bound", [(0, 1), (5000, 3540)])
@pytest.mark.req("MS-ASCMD_R4249", "MS-ASCMD_R5837", "MS-ASCMD_R5690", "MS-ASCMD_R5691")
async def test_heartbeat_bounds_status_5(client, hb, bound):
    resp = await Raw(client).call("Ping", ping(hb, "1"))
    assert resp == E(f"{P}:Ping", E(f"{P}:Status", 5), E(f"{P}:HeartbeatInterval", bound))


async def test_too_many_folders_status_6(client, app):
    app.state.limits.ping_max_folders = 2
    resp = await Raw(client).call("Ping", ping(60, "1", "2", "3"))
    assert resp == E(f"{P}:Ping", E(f"{P}:Status", 6), E(f"{P}:MaxFolders", 2))


async def test_duplicate_folder_status_4(client):
    assert (await Raw(client).call("Ping", ping(60, "1", "1"))) == E(f"{P}:Ping", E(f"{P}:Status", 4))


def estimate_request(version, key, cid="1"):
    if version >= "14.0":
        coll = E(f"{G}:Collection", E(f"{A}:SyncKey", key), E(f"{G}:CollectionId", cid), E(f"{A}:Options", E(f"{A}:FilterType", 0)))
    else:
        coll = E(f"{G}:Collection", E(f"{G}:Class", "Email"), E(f"{G}:CollectionId", cid), E(f"{A}:FilterType", 0), E(f"{A}:SyncKey", key))
    return E(f"{G}:GetItemEstimate", E(f"{G}:Collections", coll))


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
@pytest.mark.req("MS-ASCMD_R171", "MS-ASCMD_R4134", "MS-ASCMD_R4136", "MS-ASCMD_R4135", "MS-ASCMD_R4139",
                 "MS-ASCMD_R4140", "MS-ASCMD_R4142", "MS-ASCMD_R4594", "MS-ASCMD_R4130")
async def test_get_item_estimate(client, app, version):
    dev = Raw(client, version=version)
    for i in range(3):
        await app.state.store.deliver(message(subject=f"e{i}"), ["alice@easlab.test"])
    cls = [E(f"{A}:Class", "Email")] if version < "14.0" else []
    key = collection(await dev.call("Sync", E(f"{A}:Sync", E(f"{A}:Collections", E(f"{A}:Collection", *cls, E(f"{A}:SyncKey", "0"), E(f"{A}:CollectionId", "1")))))).text(f"{A}:SyncKey")
    resp = await dev.call("GetItemEstimate", estimate_request(version, key))
    assert resp == E(f"{G}:GetItemEstimate", E(f"{G}:Response", E(f"{G}:Status", 1),
                     E(f"{G}:Collection", E(f"{G}:CollectionId", "1"), E(f"{G}:Estimate", 3))))
    bad = await dev.call("GetItemEstimate", estimate_request(version, "77"))
    assert bad.find(f"{G}:Response").text(f"{G}:Status") == "4"
    unprimed = await dev.call("GetItemEstimate", estimate_request(version, "0", "4"))
    assert unprimed.find(f"{G}:Response").text(f"{G}:Status") == "3"
    unknown = await dev.call("GetItemEstimate", estimate_request(version, key, "4711"))
    assert unknown.find(f"{G}:Response").text(f"{G}:Status") == "2"
