"""The loop every phone lives in, against a real `easlab serve`: mail arrives over SMTP, the held
Ping wakes, the device syncs the message."""
import asyncio
import smtplib
from email.message import EmailMessage

import pytest

from eas.client import Item
from server.device import Device
from tests.server.live import cli, served

pytestmark = pytest.mark.anyio


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Bob Sender <bob@example.net>"
    msg["To"] = "Alice Example <alice@easlab.test>"
    msg["Cc"] = "carol@example.net"
    msg["Subject"] = "Quarterly figures ✓"
    msg.set_content("Plain text body.\nSecond line.\n")
    msg.add_alternative("<html><body><p>HTML <b>body</b>.</p></body></html>\n", subtype="html")
    msg.add_attachment(b"%PDF-1.4 fake pdf", maintype="application", subtype="pdf", filename="figures.pdf")
    msg.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="data.csv")
    return msg


def send(port: int, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        smtp.send_message(msg)


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_smtp_delivery_wakes_ping_and_sync_returns_the_message(tmp_path, version):
    db = f"sqlite:///{tmp_path / 'flow.db'}"
    cli(db, "user", "add", "alice", "--password", "pw", "--display-name", "Alice Example")
    tag = version.replace(".", "")
    with served(db) as (url, smtp_port, _):
        async with Device(url, "alice", "pw", device_id="e2e" + tag, protocol_version=version) as dev:
            await dev.folder_sync()
            await dev.sync_all("Inbox")
            ping = asyncio.create_task(dev.ping(["Inbox"], heartbeat=600))
            await asyncio.sleep(0.5)
            assert not ping.done()
            await asyncio.to_thread(send, smtp_port, message())
            # The heartbeat is ten minutes: an answer now can only come from the delivery.
            result = await asyncio.wait_for(ping, 10)
            assert result.status == 2
            assert result.folders == ["1"]
            results = await dev.sync_all("Inbox", body_preferences=[(2, None, False)])
            items = [Item(data) for r in results for data in r.items.values()]
            assert len(items) == 1
            item = items[0]
            assert item.subject == "Quarterly figures ✓"
            assert item.sender == '"Bob Sender" <bob@example.net>'
            assert item.to == '"Alice Example" <alice@easlab.test>'
            assert item.cc == "carol@example.net"
            assert item.body_type == 2 and "HTML <b>body</b>." in item.body
            assert [(a.name, a.size, a.method) for a in item.attachments] == [("figures.pdf", 17, 1), ("data.csv", 8, 1)]
        async with Device(url, "alice", "pw", device_id="plain" + tag, protocol_version=version) as other:
            await other.folder_sync()
            results = await other.sync_all("Inbox", body_preferences=[(1, None, False)])
            item = [Item(data) for r in results for data in r.items.values()][0]
            assert item.body_type == 1
            assert item.body.replace("\r\n", "\n") == "Plain text body.\nSecond line.\n"


def test_easlab_client_by_hand(tmp_path):
    """A developer watches the conversation without a phone: `easlab client ... sync Inbox`."""
    import subprocess

    from tests.server.live import EASLAB

    db = f"sqlite:///{tmp_path / 'hand.db'}"
    cli(db, "user", "add", "alice", "--password", "pw")
    state = str(tmp_path / "device.json")
    with served(db) as (url, smtp_port, _):
        send(smtp_port, message())
        base = [EASLAB, "client", "--url", url.rsplit("/", 1)[0], "--user", "alice", "--password", "pw", "--state", state]
        folders = subprocess.run([*base, "foldersync"], capture_output=True, text=True, timeout=60)
        assert folders.returncode == 0, folders.stderr
        assert "Inbox" in folders.stdout and "Sent Items" in folders.stdout
        synced = subprocess.run([*base, "-v", "sync", "Inbox"], capture_output=True, text=True, timeout=60)
        assert synced.returncode == 0, synced.stderr
        assert "Quarterly figures" in synced.stdout
        assert '<Sync xmlns="AirSync">' in synced.stderr  # -v shows the decoded WBXML
        again = subprocess.run([*base, "items", "Inbox"], capture_output=True, text=True, timeout=60)
        assert "Quarterly figures" in again.stdout
