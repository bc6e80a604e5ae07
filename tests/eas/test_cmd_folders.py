"""FolderCreate, FolderUpdate, FolderDelete and GetHierarchy over the fake ports."""
import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "FolderHierarchy"
pytestmark = pytest.mark.anyio


@pytest.fixture
def store():
    fake = FakePorts()
    fake.folder("2", "Inbox", 2)
    fake.hierarchy_key = 1
    return fake


async def test_create_update_delete_each_hand_out_the_next_key(store):
    created = await run(store, "FolderCreate", E(f"{NS}:FolderCreate", E(f"{NS}:SyncKey", "1"), E(f"{NS}:ParentId", "2"),
                                                 E(f"{NS}:DisplayName", " Lab "), E(f"{NS}:Type", 12)))
    assert created.body == E(f"{NS}:FolderCreate", E(f"{NS}:Status", 1), E(f"{NS}:SyncKey", "2"), E(f"{NS}:ServerId", "101"))
    assert store.collections["101"].info.display_name == "Lab"
    updated = await run(store, "FolderUpdate", E(f"{NS}:FolderUpdate", E(f"{NS}:SyncKey", "2"), E(f"{NS}:ServerId", "101"),
                                                 E(f"{NS}:DisplayName", "Lab 2")))
    assert updated.body == E(f"{NS}:FolderUpdate", E(f"{NS}:Status", 1), E(f"{NS}:SyncKey", "3"))
    assert store.collections["101"].info.parent_id == "2"
    deleted = await run(store, "FolderDelete", E(f"{NS}:FolderDelete", E(f"{NS}:SyncKey", "3"), E(f"{NS}:ServerId", "101")))
    assert deleted.body == E(f"{NS}:FolderDelete", E(f"{NS}:Status", 1), E(f"{NS}:SyncKey", "4"))
    assert list(store.collections) == ["2"]


async def test_statuses_of_a_stale_key_a_taken_name_a_missing_folder_and_a_malformed_request(store):
    def create(key, name, parent="0"):
        return E(f"{NS}:FolderCreate", E(f"{NS}:SyncKey", key), E(f"{NS}:ParentId", parent),
                 E(f"{NS}:DisplayName", name), E(f"{NS}:Type", 12))

    assert (await run(store, "FolderCreate", create("7", "Lab"))).body == E(f"{NS}:FolderCreate", E(f"{NS}:Status", 9))
    assert (await run(store, "FolderCreate", create("1", "Inbox"))).body == E(f"{NS}:FolderCreate", E(f"{NS}:Status", 2))
    assert (await run(store, "FolderCreate", create("1", "Lab", "55"))).body == E(f"{NS}:FolderCreate", E(f"{NS}:Status", 5))
    assert (await run(store, "FolderCreate", create("1", ""))).body == E(f"{NS}:FolderCreate", E(f"{NS}:Status", 10))
    missing = await run(store, "FolderDelete", E(f"{NS}:FolderDelete", E(f"{NS}:SyncKey", "1"), E(f"{NS}:ServerId", "55")))
    assert missing.body == E(f"{NS}:FolderDelete", E(f"{NS}:Status", 4))
    assert (list(store.collections), store.hierarchy_key) == (["2"], 1)


async def test_get_hierarchy_lists_the_folders_and_a_failure_is_500(store):
    response = await run(store, "GetHierarchy", None, version="12.1")
    assert response.body == E(f"{NS}:Folders", E(f"{NS}:Folder", E(f"{NS}:DisplayName", "Inbox"), E(f"{NS}:ServerId", "2"),
                                                  E(f"{NS}:Type", 2), E(f"{NS}:ParentId", "0")))
    store.hierarchy_fails = True
    assert (await run(store, "GetHierarchy", None, version="12.1")).status == 500
    assert (await run(store, "GetHierarchy", None, version="14.0")).status == 501
