"""The seed story, end to end against a real `easlab serve`: a new phone is quarantined, the
admin gets a mail with a link, approves the phone in the admin center with a real browser, the
phone gets its mail; the approval is revoked from the CLI and the phone is back in quarantine.

Needs Debian's Chromium (/usr/bin/chromium) and the `playwright` Python package; a missing
browser fails the test with the command that installs it (never a skip).  Screenshots of the
quarantine list and the device page go to $EASLAB_SCREENSHOTS (default: the test's tmp dir).
"""
from __future__ import annotations

import asyncio
import email
import os
import re
import shutil
import smtplib
import socket
from email import policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from easlab.eas.wbxml import E
from easlab.storage import Database
from easlab.storage.mailbox import folder_by_type
from easlab.storage.models import Item
from easlab.storage.users import get_user
from tests.server.eas_helpers import collection, commands, provision
from tests.server.live import cli, cli_json, served
from tests.server.test_cli_live import LiveRaw

pytestmark = pytest.mark.anyio

CHROMIUM = os.environ.get("EASLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DEVICE = "SEEDPHONE01"
NOTICE = "Your device is quarantined"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def need_browser():
    """The browser and its driver, or a failure that says how to get them."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's with `apt-get install -y chromium` "
                    "(never `playwright install`)", pytrace=False)
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.fail("the Python package `playwright` is missing: `.venv/bin/pip install playwright`", pytrace=False)
    return async_playwright


def send_mail(port: int, subject: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "Bob Sender <bob@example.net>", "alice@easlab.test", subject
    msg.set_content(f"{subject}: the body.")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.send_message(msg)


def inbox_subjects(db_url: str, user: str) -> list[tuple[str, bytes]]:
    db = Database(db_url)
    try:
        with db.session() as s:
            inbox = folder_by_type(s, get_user(s, user), 2)
            return [(i.subject, i.mime) for i in s.exec(select(Item).where(Item.folder_id == inbox.id).order_by(Item.id))]
    finally:
        db.dispose()


def plain_text(mime: bytes) -> str:
    return email.message_from_bytes(mime, policy=policy.default).get_body(("plain",)).get_content()


def adds(resp) -> list[str]:
    """Subjects of the server's Adds; an empty body (MS-ASCMD: nothing changed) has none."""
    if resp is None:
        return []
    return [subject for kind, _, subject in commands(resp) if kind == "Add"]


def sync_key(resp) -> str:
    return collection(resp).text("AirSync:SyncKey")


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'story.db'}"
    cli(url, "init")
    cli(url, "user", "add", "alice", "--password", "secret", "--display-name", "Alice Example")
    cli(url, "user", "add", "admin", "--password", "admin-pw-1", "--display-name", "Lab Admin", "--role", "org-admin")
    cli(url, "org", "set", "--default-access", "quarantine", "--admin-mail", "admin@easlab.test", "--blocked-delay", "0")
    return url


async def test_quarantine_approve_in_browser_then_revoke(db, tmp_path):
    async_playwright = need_browser()
    shots = Path(os.environ.get("EASLAB_SCREENSHOTS") or tmp_path / "screens")
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with served(db, "--port", str(port), "--public-url", base) as (url, smtp_port, proc):
        assert url == f"{base}/Microsoft-Server-ActiveSync"
        await asyncio.to_thread(send_mail, smtp_port, "Quarterly numbers")

        # A new phone: Provision (with DeviceInformation), FolderSync, Sync.  Quarantined, it sees
        # only the quarantine notice although alice has other mail.
        dev = LiveRaw(url, device=DEVICE, version="14.1")
        try:
            await provision(dev)
            fs = await dev.folder_sync("0")
            assert fs.text("FolderHierarchy:Status") == "1"
            key = sync_key(await dev.sync("0", "1"))
            resp = await dev.sync(key, "1")
            key = sync_key(resp)
            got = adds(resp)
            assert len(got) == 1 and got[0].startswith(NOTICE), got
            assert "Quarterly numbers" in [s for s, _ in inbox_subjects(db, "alice")]
            listed = cli_json(db, "device", "list", "--user", "alice")
            assert [(r["device_id"], r["access_state"]) for r in listed] == [(DEVICE, "Quarantined")]

            # The admin's mail, in the admin's own Inbox (a local recipient), links to this server.
            mails = [m for s, m in inbox_subjects(db, "admin") if s.startswith("A new mobile device for Alice Example")]
            assert len(mails) == 1, inbox_subjects(db, "admin")
            found = re.search(r"(https?://\S+/ecp/link/[A-Za-z0-9_.\-]+)", plain_text(mails[0]))
            assert found, plain_text(mails[0])
            link = found.group(1)
            assert link.startswith(f"{base}/ecp/link/")

            # The phone waits in a Ping; the approval in the browser must end it at once.
            ping = asyncio.create_task(dev.call("Ping", E("Ping:Ping", E("Ping:HeartbeatInterval", 300), E(
                "Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))))
            async with httpx.AsyncClient(timeout=30) as http:  # the server's own wait, not a guess
                held = await http.get(f"{base}/api/wait/ping", auth=("admin", "admin-pw-1"),
                                      params={"user": "alice", "device_id": dev.device, "timeout": 20})
            assert held.status_code == 200, held.text
            assert not ping.done()

            async with async_playwright() as pw:
                context = await pw.chromium.launch_persistent_context(
                    str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                    viewport={"width": 1280, "height": 860})
                try:
                    page = context.pages[0] if context.pages else await context.new_page()
                    await page.goto(link)
                    assert page.url.startswith(f"{base}/ecp/login?next="), page.url
                    await page.fill("#user", "admin")
                    await page.fill("#password", "admin-pw-1")
                    await page.click("button[type=submit]:has-text('Sign in')")
                    await page.wait_for_url(f"{base}/ecp/devices/alice/{DEVICE}")
                    assert await page.locator("h1 .badge").inner_text() == "Quarantined"
                    await page.screenshot(path=str(shots / "device.png"), full_page=True)

                    await page.click("nav >> text=Quarantined devices")
                    await page.wait_for_url(f"{base}/ecp/")
                    row = page.locator("table.grid tbody tr", has_text=DEVICE)
                    assert await row.count() == 1
                    await page.screenshot(path=str(shots / "quarantine.png"), full_page=True)

                    await row.locator("a", has_text=DEVICE).click()
                    await page.wait_for_url(f"{base}/ecp/devices/alice/{DEVICE}")
                    await page.click("button[value=allow]")
                    await page.wait_for_url(f"{base}/ecp/devices/alice/{DEVICE}")
                    assert "allowed list" in await page.locator(".flash").inner_text()
                finally:
                    await context.close()

            # The web's change reached the running server at once: the held Ping ended.
            answer = await asyncio.wait_for(ping, 10)
            assert answer.text("Ping:Status") == "7", answer

            # The next Sync brings alice's mail (and not the notice a second time).
            resp = await dev.sync(key, "1")
            key = sync_key(resp)
            got = adds(resp)
            assert "Quarterly numbers" in got and not any(s.startswith(NOTICE) for s in got), got
            listed = cli_json(db, "device", "list", "--user", "alice")
            assert listed[0]["access_state"] == "Allowed" and listed[0]["access_reason"] == "Individual"

            # Revoked from the shell: the next request finds the phone back in quarantine; new
            # mail is withheld.
            cli(db, "device", "revoke", "alice", DEVICE)
            await asyncio.to_thread(send_mail, smtp_port, "After the revocation")
            resp = await dev.sync(key, "1")
            got = adds(resp)
            print("after the revocation the phone got:", got)
            assert "After the revocation" not in got, got
            assert all(s.startswith(NOTICE) for s in got), got
            listed = cli_json(db, "device", "list", "--user", "alice")
            assert listed[0]["access_state"] == "Quarantined", listed
            if resp is not None:
                key = sync_key(resp)
            # Nothing more arrives while it stays quarantined.
            assert adds(await dev.sync(key, "1")) == []
        finally:
            await dev.client.aclose()
