"""ItemOperations over the fake ports: Fetch, EmptyFolderContents, Move, and their errors."""
import pytest

from easlab.eas.email import BodyOptions, application_data
from easlab.eas.records import AttachmentData
from easlab.eas.wbxml import E, decode

from .fake_ports import FakePorts, run

NS = "ItemOperations"
pytestmark = pytest.mark.anyio


def operations(*ops):
    return E(f"{NS}:ItemOperations", *ops)


async def test_fetch_of_an_item_and_of_a_missing_one():
    store = FakePorts()
    store.folder("2", "Inbox", 2)
    item = store.mail("2", "2:1", "Hello")
    tree = operations(E(f"{NS}:Fetch", E(f"{NS}:Store", "Mailbox"), E("AirSync:CollectionId", "2"), E("AirSync:ServerId", "2:1")),
                      E(f"{NS}:Fetch", E(f"{NS}:Store", "Mailbox"), E("AirSync:CollectionId", "2"), E("AirSync:ServerId", "2:9")))
    response = await run(store, "ItemOperations", tree)
    fetched, missing = response.body.find(f"{NS}:Response").children
    assert fetched == E(f"{NS}:Fetch", E(f"{NS}:Status", 1), E("AirSync:CollectionId", "2"), E("AirSync:ServerId", "2:1"),
                        E("AirSync:Class", "Email"),
                        E(f"{NS}:Properties", *application_data(item, BodyOptions(), "14.1").children))
    assert missing == E(f"{NS}:Fetch", E(f"{NS}:Status", 6), E("AirSync:CollectionId", "2"), E("AirSync:ServerId", "2:9"))


async def test_empty_folder_and_move_conversation_statuses():
    store = FakePorts()
    store.folder("2", "Inbox", 2)
    store.mail("2", "2:1", "Hello")
    store.conversations[b"conv"] = "2"
    tree = operations(E(f"{NS}:EmptyFolderContents", E("AirSync:CollectionId", "2")),
                      E(f"{NS}:Move", E(f"{NS}:ConversationId", b"conv"), E(f"{NS}:DstFldId", "4"),
                        E(f"{NS}:Options", E(f"{NS}:MoveAlways"))),
                      E(f"{NS}:Move", E(f"{NS}:ConversationId", b"conv"), E(f"{NS}:DstFldId", "4")))
    response = await run(store, "ItemOperations", tree)
    assert response.body == E(f"{NS}:ItemOperations", E(f"{NS}:Status", 1), E(f"{NS}:Response",
        E(f"{NS}:EmptyFolderContents", E(f"{NS}:Status", 1), E("AirSync:CollectionId", "2")),
        E(f"{NS}:Move", E(f"{NS}:Status", 1), E(f"{NS}:ConversationId", b"conv")),
        E(f"{NS}:Move", E(f"{NS}:Status", 155), E(f"{NS}:ConversationId", b"conv"))))
    assert (store.collections["2"].items, store.conversations) == ({}, {b"conv": "4"})


async def test_an_attachment_fetch_inline_and_an_unsupported_store():
    store = FakePorts()
    store.attachments["ref"] = AttachmentData("a.txt", "text/plain", b"abc")
    tree = operations(E(f"{NS}:Fetch", E(f"{NS}:Store", "Mailbox"), E("AirSyncBase:FileReference", "ref")),
                      E(f"{NS}:Fetch", E(f"{NS}:Store", "PublicFolders"), E("AirSync:ServerId", "x")),
                      E(f"{NS}:Fetch", E(f"{NS}:Store", "DocumentLibrary"), E("DocumentLibrary:LinkId", "x")))
    response = await run(store, "ItemOperations", tree)
    attachment, unknown, library = response.body.find(f"{NS}:Response").children
    assert attachment.text(f"{NS}:Status") == "1"
    assert attachment.find(f"{NS}:Properties").text(f"{NS}:Data") == "YWJj"
    assert unknown.text(f"{NS}:Status") == "9"
    assert library.text(f"{NS}:Status") == "4"  # a LinkId that is no UNC link of this server


@pytest.mark.parametrize("multipart_, served", [(False, 7), (True, 9)])
async def test_an_answer_is_capped_in_total_size_and_the_rest_is_too_large(multipart_, served):
    """100 fetches of one 1 MB attachment under a 10 MB cap: the fetches that fit are answered
    (7 in base64, 9 as parts), every other one with Status 11, the requested data size is too large."""
    from easlab.eas.dispatch import dispatch
    from easlab.eas.wbxml import encode

    from .fake_ports import WBXML, context

    store = FakePorts()
    store.attachments["ref"] = AttachmentData("big.bin", "application/octet-stream", bytes(1024 * 1024))
    tree = operations(*[E(f"{NS}:Fetch", E(f"{NS}:Store", "Mailbox"), E("AirSyncBase:FileReference", "ref"))] * 100)
    ctx = context(store, "ItemOperations", accept_multipart=multipart_)
    ctx.limits.max_itemoperations_size = 10 * 1024 * 1024
    response = await dispatch(ctx, encode(tree), WBXML)
    if multipart_:
        from easlab.eas import multipart

        wbxml, *parts = multipart.unpack(response.body)
        answer, size = decode(wbxml), len(response.body)
        assert [len(p) for p in parts] == [1024 * 1024] * served
    else:
        answer, size = response.body, len(encode(response.body))
    fetches = answer.find(f"{NS}:Response").children
    assert [f.text(f"{NS}:Status") for f in fetches] == ["1"] * served + ["11"] * (100 - served)
    assert fetches[-1] == E(f"{NS}:Fetch", E(f"{NS}:Status", 11), E("AirSyncBase:FileReference", "ref"))
    assert size < 10 * 1024 * 1024 + 10_000
