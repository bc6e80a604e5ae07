"""What a phone does with mail beyond reading, black-box: the simulated device against a real
`easlab serve` (the project's pytest plugin, process mode), checking what the other side sees."""
import asyncio
from email.message import EmailMessage

import pytest

from easlab.testing.device import Item
from easlab.eas.wbxml import E

pytestmark = [pytest.mark.anyio, pytest.mark.easlab(mode="process")]
ANDROID = {"device_type": "Android"}


def outgoing(to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "someone-else@evil.test"  # the server sends as the authenticated user regardless
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Sent from the simulated phone.\n")
    return msg.as_bytes()


async def inbox_items(device):
    return {sid: Item(data) for r in await device.sync_all("Inbox") for sid, data in r.items.items()}


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_send_reaches_local_inbox_and_outbound_queue(easlab, version):
    alice, bob = easlab.make_user("alice", display_name="Alice A"), easlab.make_user("bob")
    phone = await easlab.make_device(alice, version=version, profile=ANDROID)
    bobs = await easlab.make_device(bob, profile=ANDROID)
    await bobs.sync_all("Inbox")
    held = asyncio.create_task(bobs.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(bobs)
    mime = outgoing("bob@easlab.test, carol@example.net", f"hello over {version}")
    if version == "12.1":
        result = await phone.command("SendMail", mime, content_type="message/rfc822", params={"SaveInSent": "T"})
    else:
        result = await phone.command("SendMail", E("ComposeMail:SendMail", E("ComposeMail:ClientId", f"c{version}"),
                                                   E("ComposeMail:SaveInSentItems"), E("ComposeMail:Mime", mime)))
    assert result.http_status == 200 and result.tree is None  # success is an empty 200
    assert (await asyncio.wait_for(held, 10)).status == 2  # bob's phone hears of it at once
    got = list((await inbox_items(bobs)).values())
    assert [(i.subject, i.sender) for i in got] == [(f"hello over {version}", '"Alice A" <alice@easlab.test>')]
    queued = await easlab.wait_for_outbound(to="carol@example.net")
    assert queued.subject == f"hello over {version}"
    sent = [i.subject for r in await phone.sync_all("Sent Items") for i in map(Item, r.items.values())]
    assert sent == [f"hello over {version}"]


async def test_move_search_fetch_and_folder_changes_seen_by_another_device(easlab):
    alice = easlab.make_user("alice")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Bob <bob@example.net>", "alice@easlab.test", "Invoice 42"
    msg.set_content("Please pay.")
    msg.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf")
    await easlab.deliver(msg, to=alice)
    phone = await easlab.make_device(alice, profile=ANDROID)
    tablet = await easlab.make_device(alice, profile=ANDROID)
    (sid, item), = (await inbox_items(phone)).items()
    await tablet.sync_all("Inbox")

    # The attachment, fetched by its FileReference.
    ref = item.attachments[0].file_reference
    fetched = await phone.command("ItemOperations", E("ItemOperations:ItemOperations", E("ItemOperations:Fetch",
        E("ItemOperations:Store", "Mailbox"), E("AirSyncBase:FileReference", ref))))
    data = fetched.tree.find("ItemOperations:Response").find("ItemOperations:Fetch").find("ItemOperations:Properties")
    import base64

    assert base64.b64decode(data.text("ItemOperations:Data")) == b"%PDF-1.4 invoice"

    # Search finds it; the LongId opens it.
    found = await phone.command("Search", E("Search:Search", E("Search:Store", E("Search:Name", "Mailbox"),
        E("Search:Query", E("Search:And", E("AirSync:CollectionId", "1"), E("Search:FreeText", "Invoice"))),
        E("Search:Options", E("Search:Range", "0-9")))))
    result = found.tree.find("Search:Response").find("Search:Store").find("Search:Result")
    long_id = result.text("Search:LongId")
    assert long_id and result.find("Search:Properties").text("Email:Subject") == "Invoice 42"

    # A new folder: the tablet's held Ping learns the hierarchy changed (status 7).
    await tablet.folder_sync()
    held = asyncio.create_task(tablet.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(tablet)
    created = await phone.command("FolderCreate", E("FolderHierarchy:FolderCreate",
        E("FolderHierarchy:SyncKey", phone.state.hierarchy_sync_key), E("FolderHierarchy:ParentId", "0"),
        E("FolderHierarchy:DisplayName", "Invoices"), E("FolderHierarchy:Type", 12)))
    assert created.tree.text("FolderHierarchy:Status") == "1"
    folder_id = created.tree.text("FolderHierarchy:ServerId")
    assert (await asyncio.wait_for(held, 10)).status == 7

    # Move the invoice there; the tablet sees it leave the Inbox and arrive in the new folder.
    moved = await phone.command("MoveItems", E("Move:MoveItems", E("Move:Move", E("Move:SrcMsgId", sid),
        E("Move:SrcFldId", "1"), E("Move:DstFldId", folder_id))))
    assert moved.tree.find("Move:Response").text("Move:Status") == "3"
    gone = await tablet.sync_all("Inbox")
    assert [s for r in gone for s in r.deleted] == [sid]
    folders = await tablet.folder_sync()
    assert any(f.display_name == "Invoices" for f in folders.added)
    arrived = [i.subject for r in await tablet.sync_all("Invoices") for i in map(Item, r.items.values())]
    assert arrived == ["Invoice 42"]
