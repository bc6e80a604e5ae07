"""Removing a partnership through the admin path the CLI, the web UI and the API share
(review 2026-12, Appendix A.1 and A.2): it works whatever the device did, and leaves nothing behind
for the next device."""
import pytest
from sqlmodel import func, select

from easlab.server.admin import SHELL, Admin
from easlab.storage.models import Device, DeviceAccessChange, SyncState
from easlab.storage.models_compose import SentClientId
from easlab.storage.models_items import FindSearch, HierarchyEcho
from tests.server.eas_helpers import Raw
from tests.server.test_compose import mime, send_mail
from tests.server.test_web import set_role

pytestmark = pytest.mark.anyio
CHILDREN = (SyncState, DeviceAccessChange, SentClientId, HierarchyEcho, FindSearch)


def device_pk(db, device_id: str) -> int | None:
    with db.session() as s:
        found = s.exec(select(Device).where(Device.device_id == device_id)).first()
        return found.id if found else None


def rows(db) -> dict[str, int]:
    with db.session() as s:
        return {t.__name__: s.exec(select(func.count()).select_from(t)).one() for t in CHILDREN}


async def sent_one_mail(client, db) -> None:
    """dev1 (14.1) sends one message with a ClientId: a SentClientId row now points at it."""
    r = await Raw(client, version="14.1").post("SendMail", send_mail(mime(), client_id="once"))
    assert (r.status_code, r.content) == (200, b"")
    assert rows(db)["SentClientId"] == 1


async def test_admin_removes_a_device_that_sent_mail(client, db):  # A.1
    await sent_one_mail(client, db)
    Admin(db, lambda event: None).device_remove(SHELL, "alice", "dev1")
    assert device_pk(db, "dev1") is None
    assert rows(db) == dict.fromkeys(rows(db), 0)


async def test_the_api_removes_a_device_that_sent_mail(client, db):  # A.1, DELETE /api/devices
    await sent_one_mail(client, db)
    set_role(db, "alice", "org-admin")
    r = await client.delete("/api/devices/alice/dev1", auth=("alice", "secret"))
    assert r.status_code == 204
    assert device_pk(db, "dev1") is None and rows(db)["SentClientId"] == 0


async def test_a_new_device_inherits_nothing(client, db):  # A.2
    old = Raw(client, device="old1")
    await old.folder_sync()
    pk = device_pk(db, "old1")
    with db.session() as s:  # what a FolderCreate while changes waited, and a Find, leave behind
        s.add(HierarchyEcho(device_pk=pk, folder_id=1, seq=1, kind="create"))
        s.add(FindSearch(device_pk=pk, search_id="search-1"))
    Admin(db, lambda event: None).device_remove(SHELL, "alice", "old1")
    await Raw(client, device="new1").folder_sync()
    assert device_pk(db, "new1") == pk  # SQLite hands the freed id out again, which made this matter
    assert rows(db) == {"SyncState": 0, "DeviceAccessChange": 1, "SentClientId": 0, "HierarchyEcho": 0, "FindSearch": 0}
    with db.session() as s:
        [change] = s.exec(select(DeviceAccessChange)).all()
        assert change.device_pk == pk and change.old_state == "Unknown"  # new1's own first decision
