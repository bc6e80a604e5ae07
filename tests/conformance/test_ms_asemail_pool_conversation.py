"""MS-ASEMAIL conversations: the ConversationId and ConversationIndex a new draft is answered with
(16.0, 16.1), and what ConversationIndex holds."""
from __future__ import annotations

import hashlib

import pytest

from easlab.eas.wbxml import E
from tests.server.eas_helpers import Raw
from tests.server.test_compose import folder_items
from tests.server.test_drafts import add, body, primed, run

pytestmark = pytest.mark.anyio
A = "AirSync"


@pytest.mark.parametrize("version", [
    pytest.param("16.0", marks=pytest.mark.req("MS-ASEMAIL_R1184", "MS-ASEMAIL_R1190")),
    pytest.param("16.1", marks=pytest.mark.req("MS-ASEMAIL_R11850", "MS-ASEMAIL_R11910")),
])
async def test_a_new_draft_is_answered_with_its_conversation(client, db, version):
    dev = Raw(client, version=version)
    key = await primed(dev)
    coll, key = await run(dev, key, add("d1", E("Email:To", "bob@easlab.test"), E("Email:Subject", "Budget 2026"), body("text")))
    [draft] = folder_items(db, "alice", 3)
    response = coll.find(f"{A}:Responses").find(f"{A}:Add")
    assert [c.tag for c in response.children] == [f"{A}:ClientId", f"{A}:ServerId", f"{A}:Status", f"{A}:ApplicationData"]
    got = response.find(f"{A}:ApplicationData")
    conversation_id = got.find("Email2:ConversationId").value
    index = got.find("Email2:ConversationIndex").value
    # The id is the one every message of the thread shares; the index a 22-byte header ending in it.
    assert conversation_id == hashlib.md5(b"budget 2026").digest() == draft.conversation_id
    assert index == draft.conversation_index and len(index) == 22 and index[6:] == conversation_id
