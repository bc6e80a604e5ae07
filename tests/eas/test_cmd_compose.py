"""SendMail, SmartReply and SmartForward over the fake ports."""
import pytest

from easlab.eas.wbxml import E

from .fake_ports import FakePorts, run

NS = "ComposeMail"
MIME = b"To: bob@easlab.test\r\nSubject: Hi\r\n\r\nHello\r\n"
pytestmark = pytest.mark.anyio


def send(client_id="c1"):
    return E(f"{NS}:SendMail", E(f"{NS}:ClientId", client_id), E(f"{NS}:SaveInSentItems"), E(f"{NS}:Mime", MIME))


async def test_sendmail_is_an_empty_200_and_a_resent_client_id_is_118():
    store = FakePorts()
    sent = await run(store, "SendMail", send())
    assert (sent.status, sent.body) == (200, None)
    assert [(r.command, r.mime, r.client_id, r.save_in_sent) for r in store.sent] == [("SendMail", MIME, "c1", True)]
    again = await run(store, "SendMail", send())
    assert again.body == E(f"{NS}:SendMail", E(f"{NS}:Status", 118))
    assert len(store.sent) == 1


async def test_legacy_sendmail_posts_mime_and_smartreply_without_source_is_103():
    store = FakePorts()
    legacy = await run(store, "SendMail", MIME, version="12.1", save_in_sent=True)
    assert (legacy.status, legacy.body) == (200, None)
    assert (store.sent[0].mime, store.sent[0].client_id) == (MIME, None)
    reply = await run(store, "SmartReply", E(f"{NS}:SmartReply", E(f"{NS}:ClientId", "c2"), E(f"{NS}:Mime", MIME)))
    assert reply.body == E(f"{NS}:SmartReply", E(f"{NS}:Status", 103))
    assert len(store.sent) == 1
