"""MoveItems over HTTP: statuses, DstMsgId, what other devices see, Pings on the destination."""
import asyncio

import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.server.config import Settings
from easlab.storage.models import Folder, Item
from easlab.storage.users import get_user
from tests.server.eas_helpers import message
from tests.server.items_helpers import VERSIONS, deliver, device, held, items_of, ping, synced

pytestmark = pytest.mark.anyio
M = "Move"


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test", heartbeat_min=1, heartbeat_max=3540)


def moves(*triples):
    return E(f"{M}:MoveItems", *[E(f"{M}:Move", E(f"{M}:SrcMsgId", s), E(f"{M}:SrcFldId", f), E(f"{M}:DstFldId", d))
                                 for s, f, d in triples])


def responses(resp):
    return [(r.text(f"{M}:SrcMsgId"), r.text(f"{M}:Status"), r.text(f"{M}:DstMsgId")) for r in resp.findall(f"{M}:Response")]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.req("MS-ASCMD_R285", "MS-ASCMD_R289", "MS-ASCMD_R290", "MS-ASCMD_R3977", "MS-ASCMD_R5879",
                 "MS-ASCMD_R4217")
async def test_moved_item_leaves_the_source_and_reaches_the_destination_everywhere(client, app, version):
    await deliver(app, message(subject="keep"), message(subject="move me"))
    mover, other = device(client, version, "mover"), device(client, version, "other")
    keys = {}
    for dev in (mover, other):
        keys[dev.device, "1"] = await synced(dev, "1")
        keys[dev.device, "6"] = await synced(dev, "6")  # Junk E-Mail
    resp = await mover.sync(keys["mover", "1"], "1")
    assert resp is None  # nothing new
    # The ServerId of "move me", as the Inbox download gave it.
    with app.state.db.session() as s:
        sid = s.exec(select(Item.server_id).where(Item.subject == "move me")).one()
    resp = await mover.call("MoveItems", moves((sid, "1", "6")))
    [(src, status, dst)] = responses(resp)
    assert (src, status) == (sid, "3")
    assert dst and dst != sid and dst.startswith("6:")
    for dev in (other, mover):  # every device, the mover too (MS-ASCMD 2.2.1.12)
        assert items_of(await dev.sync(keys[dev.device, "1"], "1")) == [("Delete", sid, None)]
        assert items_of(await dev.sync(keys[dev.device, "6"], "6")) == [("Add", dst, "move me")]


@pytest.mark.req("MS-ASCMD_R4207", "MS-ASCMD_R4212", "MS-ASCMD_R4219", "MS-ASCMD_R4222", "MS-ASCMD_R4201")
async def test_statuses(client, app, db):
    await deliver(app, message(subject="a"))
    dev = device(client)
    await synced(dev, "1")
    with db.session() as s:
        sid = s.exec(select(Item.server_id)).one()
    resp = await dev.call("MoveItems", moves(
        (sid, "4711", "6"),  # unknown source folder
        ("1:999999", "1", "6"),  # no such item in the source
        (sid, "1", "4711"),  # unknown destination
        (sid, "1", "1"),  # same folder
        (sid, "1", "7"),  # mail into the Calendar
        (sid, "6", "1"),  # the item is not in Junk
    ))
    assert [st for _, st, _ in responses(resp)] == ["1", "1", "2", "4", "5", "1"]
    assert all(dst is None for _, _, dst in responses(resp))
    two = E(f"{M}:MoveItems", E(f"{M}:Move", E(f"{M}:SrcMsgId", sid), E(f"{M}:SrcFldId", "1"),
                                 E(f"{M}:DstFldId", "6"), E(f"{M}:DstFldId", "3")))
    assert responses(await dev.call("MoveItems", two)) == [(sid, "5", None)]
    with db.session() as s:  # nothing moved
        assert s.exec(select(Item.server_id)).one() == sid


@pytest.mark.req("MS-ASCMD_R4208")
async def test_second_move_of_the_same_item_is_status_1(client, app, db):
    await deliver(app, message(subject="a"))
    dev = device(client)
    await synced(dev)
    with db.session() as s:
        sid = s.exec(select(Item.server_id)).one()
    assert responses(await dev.call("MoveItems", moves((sid, "1", "3"))))[0][1] == "3"
    assert responses(await dev.call("MoveItems", moves((sid, "1", "3"))))[0][1] == "1"


@pytest.mark.parametrize("version,expected", [("12.1", 400), ("14.1", 103)])
@pytest.mark.req("MS-ASCMD_R7547")
async def test_empty_request_is_invalid_xml(client, version, expected):
    dev = device(client, version)
    r = await dev.post("MoveItems", E(f"{M}:MoveItems"))
    if expected == 400:
        assert r.status_code == 400
    else:
        from easlab.eas.wbxml import decode

        assert decode(r.content) == E(f"{M}:MoveItems", E(f"{M}:Status", 103))


async def test_a_held_ping_on_the_destination_wakes(client, app, db):
    await deliver(app, message(subject="a"))
    mover, watcher = device(client, name="mover"), device(client, name="watcher")
    await synced(mover)
    await synced(watcher, "6")
    task = asyncio.create_task(watcher.call("Ping", ping(300, "6")))
    await held(app, 1)
    with db.session() as s:
        sid = s.exec(select(Item.server_id)).one()
    await mover.call("MoveItems", moves((sid, "1", "6")))
    resp = await asyncio.wait_for(task, 5)
    assert resp == E("Ping:Ping", E("Ping:Status", 2), E("Ping:Folders", E("Ping:Folder", "6")))


async def test_another_users_items_and_folders_are_out_of_reach(client, app, db):
    await deliver(app, message(subject="alice's"))
    with db.session() as s:
        sid = s.exec(select(Item.server_id)).one()
    bob = device(client, user="bob", password="hunter2", name="bobdev")
    assert responses(await bob.call("MoveItems", moves((sid, "1", "6"))))[0][1] == "1"
    with db.session() as s:
        alice = get_user(s, "alice")
        inbox = s.exec(select(Folder).where(Folder.user_id == alice.id, Folder.server_id == "1")).one()
        assert s.exec(select(Item.folder_id)).one() == inbox.id
