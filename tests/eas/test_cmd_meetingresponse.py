"""MeetingResponse over the fake ports."""
import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "MeetingResponse"
pytestmark = pytest.mark.anyio


def answer(user_response, request_id, *extra):
    return E(f"{NS}:Request", E(f"{NS}:UserResponse", user_response), E(f"{NS}:CollectionId", "2"),
             E(f"{NS}:RequestId", request_id), *extra)


async def test_accept_decline_unknown_and_a_too_new_element():
    store = FakePorts()
    store.meeting_requests = {"2:1": "8:1", "2:2": "8:2"}
    tree = E(f"{NS}:MeetingResponse", answer(1, "2:1"), answer(3, "2:2"), answer(1, "2:9"),
             answer(1, "2:1", E(f"{NS}:SendResponse")))
    response = await run(store, "MeetingResponse", tree, version="14.1")
    assert response.body == E(f"{NS}:MeetingResponse",
                              E(f"{NS}:Result", E(f"{NS}:RequestId", "2:1"), E(f"{NS}:Status", 1), E(f"{NS}:CalendarId", "8:1")),
                              E(f"{NS}:Result", E(f"{NS}:RequestId", "2:2"), E(f"{NS}:Status", 1)),
                              E(f"{NS}:Result", E(f"{NS}:RequestId", "2:9"), E(f"{NS}:Status", 2)),
                              E(f"{NS}:Result", E(f"{NS}:RequestId", "2:1"), E(f"{NS}:Status", 2)))


async def test_a_bad_user_response_is_common_status_103():
    response = await run(FakePorts(), "MeetingResponse", E(f"{NS}:MeetingResponse", answer(7, "2:1")))
    assert response.body == E(f"{NS}:MeetingResponse", E(f"{NS}:Status", 103))
