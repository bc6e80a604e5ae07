"""GetAttachment over the fake ports: the bytes with their type, 500 for a missing one."""
import pytest

from easlab.eas.records import AttachmentData

from .fake_ports import FakePorts, run

pytestmark = pytest.mark.anyio


async def test_an_attachment_is_the_body_and_a_missing_one_is_500():
    store = FakePorts()
    store.attachments["2:1:0"] = AttachmentData("a.txt", "text/plain", b"abc")
    found = await run(store, "GetAttachment", None, version="12.1", params={"AttachmentName": "2:1:0"})
    assert (found.status, found.body, found.content_type) == (200, b"abc", "text/plain")
    missing = await run(store, "GetAttachment", None, version="12.1", params={"AttachmentName": "2:1:9"})
    assert missing.status == 500
    assert (await run(store, "GetAttachment", None, version="12.1")).status == 400
