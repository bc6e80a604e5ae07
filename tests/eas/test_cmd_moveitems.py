"""MoveItems' handler over the fake ports: a move, bad ids, a malformed request."""
import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "Move"
pytestmark = pytest.mark.anyio


def move(src_msg, src_fld, dst_fld):
    return E(f"{NS}:Move", E(f"{NS}:SrcMsgId", src_msg), E(f"{NS}:SrcFldId", src_fld), E(f"{NS}:DstFldId", dst_fld))


@pytest.fixture
def store():
    fake = FakePorts()
    fake.folder("2", "Inbox", 2)
    fake.folder("4", "Deleted Items", 4)
    fake.mail("2", "2:1", "Hello")
    return fake


async def test_a_move_gets_status_3_and_bad_ids_their_statuses(store):
    tree = E(f"{NS}:MoveItems", move("2:1", "2", "77"), move("2:1", "2", "2"), move("2:9", "2", "4"), move("2:1", "2", "4"))
    response = await run(store, "MoveItems", tree)
    assert response.body == E(f"{NS}:MoveItems",
                              E(f"{NS}:Response", E(f"{NS}:SrcMsgId", "2:1"), E(f"{NS}:Status", 2)),
                              E(f"{NS}:Response", E(f"{NS}:SrcMsgId", "2:1"), E(f"{NS}:Status", 4)),
                              E(f"{NS}:Response", E(f"{NS}:SrcMsgId", "2:9"), E(f"{NS}:Status", 1)),
                              E(f"{NS}:Response", E(f"{NS}:SrcMsgId", "2:1"), E(f"{NS}:Status", 3), E(f"{NS}:DstMsgId", "101")))
    assert list(store.collections["4"].items) == ["101"]


async def test_two_destinations_are_status_5(store):
    tree = E(f"{NS}:MoveItems", E(f"{NS}:Move", E(f"{NS}:SrcMsgId", "2:1"), E(f"{NS}:SrcFldId", "2"),
                                  E(f"{NS}:DstFldId", "4"), E(f"{NS}:DstFldId", "2")))
    response = await run(store, "MoveItems", tree)
    assert response.body == E(f"{NS}:MoveItems", E(f"{NS}:Response", E(f"{NS}:SrcMsgId", "2:1"), E(f"{NS}:Status", 5)))


async def test_a_request_without_moves_is_common_status_103(store):
    assert (await run(store, "MoveItems", E(f"{NS}:MoveItems"), version="14.1")).body == \
        E(f"{NS}:MoveItems", E(f"{NS}:Status", 103))
    assert (await run(store, "MoveItems", E(f"{NS}:MoveItems"), version="12.1")).status == 400
    assert list(store.collections["2"].items) == ["2:1"]
