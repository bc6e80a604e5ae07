"""ItemOperations over the fake ports: Fetch, EmptyFolderContents, Move, and their errors."""
import pytest

from easlab.eas.email import BodyOptions, application_data
from easlab.eas.records import AttachmentData
from easlab.eas.wbxml import E

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
                      E(f"{NS}:Fetch", E(f"{NS}:Store", "DocumentLibrary"), E("DocumentLibrary:LinkId", "x")))
    response = await run(store, "ItemOperations", tree)
    attachment, library = response.body.find(f"{NS}:Response").children
    assert attachment.text(f"{NS}:Status") == "1"
    assert attachment.find(f"{NS}:Properties").text(f"{NS}:Data") == "YWJj"
    assert library.text(f"{NS}:Status") == "9"
