"""The loop every phone lives in, black-box against a real `easlab serve` through the project's
own pytest plugin: mail arrives over SMTP, the held Ping wakes, the device syncs the message."""
import asyncio
import subprocess
from email.message import EmailMessage

import pytest

from easlab.testing.device import Item
from tests.server.live import EASLAB

pytestmark = [pytest.mark.anyio, pytest.mark.easlab(mode="process")]


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


@pytest.mark.parametrize("version", ["12.1", "14.1", "16.1"])
async def test_smtp_delivery_wakes_ping_and_sync_returns_the_message(easlab, version):
    alice = easlab.make_user("alice", display_name="Alice Example")
    tag = version.replace(".", "")
    dev = await easlab.make_device(alice, version=version, device_id="e2e" + tag, profile={"device_type": "Android"})
    await dev.sync_all("Inbox")
    ping = asyncio.create_task(dev.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(dev)
    await easlab.deliver(message(), to=alice)  # through the server's SMTP port
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

    other = await easlab.make_device(alice, version=version, device_id="plain" + tag, profile={"device_type": "Android"})
    results = await other.sync_all("Inbox", body_preferences=[(1, None, False)])
    item = [Item(data) for r in results for data in r.items.values()][0]
    assert item.body_type == 1
    assert item.body.replace("\r\n", "\n") == "Plain text body.\nSecond line.\n"


async def test_easlab_client_by_hand(easlab, tmp_path):
    """A developer watches the conversation without a phone: `easlab client ... sync Inbox`."""
    easlab.make_user("alice", password="pw")
    await easlab.deliver(message(), to="alice")
    state = str(tmp_path / "device.json")
    base = [EASLAB, "client", "--url", easlab.url, "--user", "alice", "--password", "pw", "--state", state]

    def run(*args):
        return subprocess.run([*base, *args], capture_output=True, text=True, timeout=60)

    folders = await asyncio.to_thread(run, "foldersync")
    assert folders.returncode == 0, folders.stderr
    assert "Inbox" in folders.stdout and "Sent Items" in folders.stdout
    synced = await asyncio.to_thread(run, "-v", "sync", "Inbox")
    assert synced.returncode == 0, synced.stderr
    assert "Quarterly figures" in synced.stdout
    assert '<Sync xmlns="AirSync">' in synced.stderr  # -v shows the decoded WBXML
    again = await asyncio.to_thread(run, "items", "Inbox")
    assert "Quarterly figures" in again.stdout
    # A meeting request: the calendar lists the event by its start and its organiser.
    from datetime import datetime, timezone

    from easlab.eas.pim.ical import Attendee, Event
    from easlab.eas.pim.ical_write import build_request
    from easlab.server.store.meeting import itip_mime

    event = Event(uid="cli-1", subject="Planning", start=datetime(2026, 12, 3, 9, 30, tzinfo=timezone.utc),
                  end=datetime(2026, 12, 3, 10, tzinfo=timezone.utc), organizer_email="carol@example.net",
                  organizer_name="Carol C", attendees=[Attendee("alice@easlab.test")])
    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    await easlab.deliver(itip_mime("carol@example.net", ["alice@easlab.test"], "Planning", "", build_request(event, now=now),
                                   "REQUEST", now))
    calendar = await asyncio.to_thread(run, "sync", "Calendar")
    assert calendar.returncode == 0, calendar.stderr
    assert "2026-12-03 09:30:00  Carol C" in calendar.stdout and "Planning" in calendar.stdout
