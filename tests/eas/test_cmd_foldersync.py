"""FolderSync's handler over the fake ports: the initial hierarchy, then a stale key."""
import pytest

from easlab.eas import versions
from easlab.eas.commands import catalog
from easlab.eas.wbxml import E

from .fake_ports import FakePorts, as_ports, run

NS = "FolderHierarchy"
pytestmark = pytest.mark.anyio


def request(key: str):
    return E(f"{NS}:FolderSync", E(f"{NS}:SyncKey", key))


async def test_initial_folder_sync_lists_every_folder_and_advertises_the_server():
    store = FakePorts()
    store.folder("2", "Inbox", 2)
    store.folder("5", "Sent Items", 5)
    response = await run(store, "FolderSync", request("0"))
    assert response.status == 200
    assert response.body == E(f"{NS}:FolderSync", E(f"{NS}:Status", 1), E(f"{NS}:SyncKey", "1"), E(
        f"{NS}:Changes", E(f"{NS}:Count", 2),
        E(f"{NS}:Add", E(f"{NS}:ServerId", "2"), E(f"{NS}:ParentId", "0"), E(f"{NS}:DisplayName", "Inbox"), E(f"{NS}:Type", 2)),
        E(f"{NS}:Add", E(f"{NS}:ServerId", "5"), E(f"{NS}:ParentId", "0"), E(f"{NS}:DisplayName", "Sent Items"), E(f"{NS}:Type", 5))))
    assert response.headers == {"MS-ASProtocolVersions": ",".join(versions.SUPPORTED), "X-MS-RP": ",".join(versions.SUPPORTED),
                                "MS-ASProtocolCommands": ",".join(catalog.registry().advertised())}
    assert store.gates == ["FolderSync"]


async def test_an_unknown_key_is_status_9_without_headers():
    store = FakePorts()
    response = await run(store, "FolderSync", request("7"))
    assert response.body == E(f"{NS}:FolderSync", E(f"{NS}:Status", 9))
    assert response.headers == {}


async def test_no_sync_key_is_status_10():
    response = await run(FakePorts(), "FolderSync", E(f"{NS}:FolderSync"))
    assert response.body == E(f"{NS}:FolderSync", E(f"{NS}:Status", 10))
