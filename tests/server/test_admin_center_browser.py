"""Every page of the admin center as an administrator reads it in Chromium: the visible text
(no Python reprs, no "None" for a missing value), the navigation, the quarantine list after Allow
and Block, the items of a folder by date, the protocol trace inside the layout, and `/` leading to
the admin center.  A screenshot of each page goes to the test's tmp dir (its path is in every
assertion message).

One server and one browser for the module: the in-process app (easlab's pytest plugin, its
ManualClock) served by uvicorn on a loopback port, one signed-in browser context.  Needs Debian's
Chromium and the `playwright` package (tests/server/test_seed_story.py: `need_browser`).
"""
from __future__ import annotations

import asyncio
import re
import socket
from dataclasses import dataclass
from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import quote

import pytest
from click.testing import CliRunner

from easlab.server.admin import SHELL
from easlab.server.cli.imports import import_command
from easlab.testing.plugin import start
from tests.server.test_seed_story import CHROMIUM, CHROMIUM_ARGS, need_browser

pytestmark = pytest.mark.anyio

PASSWORD = "Correct-horse-9"
# Things a page must never show an administrator: a Python repr, a missing value as None, a
# template that failed to find a field.
UNREADABLE = re.compile(r"built-in method|bound method|<function |object at 0x|\bNone\b|\bundefined\b|Traceback")


@pytest.fixture(scope="module")
def anyio_backend():
    # One event loop for the module: the server, the browser and every test run on it.
    return "asyncio"


@dataclass
class Center:
    lab: object
    url: str
    browser: object
    page: object
    devices: dict  # user -> DeviceId
    mail_dates: dict  # subject -> the Date header's moment


async def _serve(app, sock):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    return server, task


async def _stock(lab, folder) -> tuple[dict, dict]:
    """Users, quarantined devices (one traced), a rule, a policy, a queued admin notice, and mail
    imported in another order than its dates (`easlab import`: a message's Date is its DateReceived)."""
    lab.make_user("root", password=PASSWORD, display_name="Rita Root", role="org-admin")
    for name, display in (("alice", "Alice Example"), ("bob", "Bob Builder"), ("carol", "Carol Quinn")):
        lab.make_user(name, display_name=display)
    lab.org(default_access="Quarantine", admin_mail=["it-desk@example.net"])
    lab.rule("DeviceModel", "Nokia 3310", "Block")
    lab.policy("Lab phones")
    devices = {}
    for name in ("alice", "bob", "carol"):
        phone = await lab.make_device(name, device_id=f"{name.upper()}PHONE1", connect=False)
        if name == "alice":
            lab.admin.trace_set(SHELL, "alice", phone.state.device_id, True)
        await phone.provision()
        await phone.folder_sync()
        devices[name] = phone
    now = lab.clock.now().replace(microsecond=0)
    dates = {"Newest news": now - timedelta(hours=2), "Middle of the week": now - timedelta(days=3),
             "Late relay from last month": now - timedelta(days=30)}
    for n, subject in enumerate(("Newest news", "Middle of the week", "Late relay from last month")):  # import order
        msg = lab.build_message("alice", subject=subject, body=f"{subject}: the body.")
        msg.replace_header("Date", format_datetime(dates[subject]))
        (folder / f"{n}.eml").write_bytes(bytes(msg))
    result = CliRunner().invoke(import_command, ["alice", str(folder), "--db", lab.db_url])
    assert result.exit_code == 0, result.output
    return devices, dates


@pytest.fixture(scope="module")
async def center(tmp_path_factory):
    async_playwright = need_browser()
    lab = start("inprocess", directory=tmp_path_factory.mktemp("easlab"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server, task = await _serve(lab.app, sock)
    try:
        devices, dates = await _stock(lab, tmp_path_factory.mktemp("eml"))
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                context = await browser.new_context(viewport={"width": 1360, "height": 900})
                page = await context.new_page()
                await page.goto(f"{url}/ecp/login")
                await sign_in(page)
                yield Center(lab, url, browser, page, devices, dates)
            finally:
                await browser.close()
    finally:
        await lab.aclose_clients()
        server.should_exit = True
        await task
        lab.close()


async def sign_in(page) -> None:
    await page.fill("#user", "root")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_load_state()


async def visit(center: Center, path: str, tmp_path, name: str, status: int = 200) -> tuple[str, str]:
    """Open `path`, save its screenshot, and check what any admin page must read like; returns the
    text of the page's main part and the screenshot's path."""
    page = center.page
    response = await page.goto(center.url + path)
    return await look(page, response.status, tmp_path, name, status)


async def look(page, got_status: int, tmp_path, name: str, status: int = 200) -> tuple[str, str]:
    shot = str(tmp_path / f"{name}.png")
    await page.screenshot(path=shot, full_page=True)
    assert got_status == status, f"HTTP {got_status} for {page.url}; screenshot {shot}"
    text = await page.inner_text("main")
    bad = UNREADABLE.search(text)
    assert bad is None, f"{page.url} shows {bad.group(0)!r}: ...{text[max(0, bad.start() - 80):bad.end() + 80]}...; screenshot {shot}"
    nav = await page.inner_text("nav")
    for entry in ("Quarantined devices", "Mobile devices", "Device access rules", "ActiveSync access",
                  "Mailbox policies", "Mailboxes", "Outbound queue"):
        assert entry in nav, f"{page.url}: the navigation lacks {entry!r}; screenshot {shot}"
    assert "root · org-admin" in await page.inner_text("header.top"), f"{page.url}: no signed-in header; screenshot {shot}"
    return text, shot


async def row_of(page, device_id: str):
    return page.locator("table.grid tbody tr", has=page.locator(f"a:text-is('{device_id}')"))


# -- the tests --------------------------------------------------------------------------------------
async def test_root_leads_to_the_login_and_then_the_admin_center(center, tmp_path):
    context = await center.browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(center.url + "/")
        shot = str(tmp_path / "root-login.png")
        await page.screenshot(path=shot)
        assert page.url == center.url + "/ecp/login?next=" + quote("/ecp/", safe=""), f"{page.url}; screenshot {shot}"
        assert "Sign in" in await page.inner_text("body"), shot
        await sign_in(page)
        assert page.url == center.url + "/ecp/", f"{page.url}; screenshot {shot}"
        await look(page, 200, tmp_path, "root-signed-in")
        await page.goto(center.url + "/")  # signed in: straight to the quarantine list
        assert page.url == center.url + "/ecp/" and await page.title() == "Quarantined devices · easlab admin center"
    finally:
        await context.close()


async def test_allow_and_block_show_as_approved_pending_until_the_next_request(center, tmp_path):
    page = center.page
    alice, bob, carol = (center.devices[n].state.device_id for n in ("alice", "bob", "carol"))
    text, shot = await visit(center, "/ecp/", tmp_path, "dashboard")
    assert "Quarantined devices (3)" in text, shot
    for device_id in (alice, bob, carol):
        row = await row_of(page, device_id)
        assert await row.locator("button", has_text="Allow").count() == 1, f"{device_id}: no Allow; screenshot {shot}"

    await (await row_of(page, alice)).locator("button", has_text="Allow").click()
    await page.wait_for_load_state()
    await (await row_of(page, bob)).locator("button", has_text="Block").click()
    await page.wait_for_load_state()
    text, shot = await look(page, 200, tmp_path, "dashboard-after-allow-and-block")
    assert f"{bob} is on bob's blocked list: blocked at its next request." in text, shot
    alice_row, bob_row, carol_row = [await row_of(page, d) for d in (alice, bob, carol)]
    assert "approved, takes effect at the device's next request" in await alice_row.inner_text(), shot
    assert "blocked, takes effect at the device's next request" in await bob_row.inner_text(), shot
    assert await alice_row.locator("button").count() == 0 and await bob_row.locator("button").count() == 0, shot
    assert await carol_row.locator("button").count() == 2 and "takes effect" not in await carol_row.inner_text(), shot

    text, shot = await visit(center, "/ecp/devices?state=quarantined", tmp_path, "devices-pending")
    assert "approved, takes effect at the device's next request" in await (await row_of(page, alice)).inner_text(), shot
    text, shot = await visit(center, f"/ecp/devices/alice/{alice}", tmp_path, "device-pending")
    assert "Quarantined (Global) approved, takes effect at the device's next request" in text, shot

    # The device's next request: its stored state follows, and it leaves the quarantine list.
    await center.devices["alice"].folder_sync()
    text, shot = await visit(center, "/ecp/", tmp_path, "dashboard-after-the-next-request")
    assert "Quarantined devices (2)" in text and alice not in text and "approved," not in text, shot
    assert "blocked, takes effect at the device's next request" in await (await row_of(page, bob)).inner_text(), shot
    text, shot = await visit(center, f"/ecp/devices/alice/{alice}", tmp_path, "device-allowed")
    assert "Allowed (Individual)" in text and "takes effect" not in text, shot


async def test_devices_and_a_device(center, tmp_path):
    carol = center.devices["carol"].state.device_id
    text, shot = await visit(center, "/ecp/devices", tmp_path, "devices")
    for device_id in (center.devices[n].state.device_id for n in ("alice", "bob", "carol")):
        assert device_id in text, shot
    text, shot = await visit(center, f"/ecp/devices/carol/{carol}", tmp_path, "device")
    assert f"Carol Quinn (carol) · Quarantined (Global)" in text, shot
    assert "Next request" in text and "organisation default: Quarantine" in text, shot
    assert "Tracing is off: 0 exchange(s) recorded" in text, shot


async def test_rules_org_policies_and_outbound(center, tmp_path):
    text, shot = await visit(center, "/ecp/rules", tmp_path, "rules")
    assert "Nokia 3310 (DeviceModel)" in text, shot
    text, shot = await visit(center, "/ecp/org", tmp_path, "org")
    assert "Quarantine" in text, shot
    text, shot = await visit(center, "/ecp/policies", tmp_path, "policies")
    assert "Lab phones" in text, shot
    text, shot = await visit(center, "/ecp/policies/Lab%20phones", tmp_path, "policy")
    assert "Lab phones" in text, shot
    text, shot = await visit(center, "/ecp/outbound", tmp_path, "outbound")
    assert "it-desk@example.net" in text, shot


async def test_mailbox_folders_show_their_item_counts(center, tmp_path):
    text, shot = await visit(center, "/ecp/mailboxes", tmp_path, "mailboxes")
    assert "Alice Example" in text and "alice@easlab.test" in text, shot
    text, shot = await visit(center, "/ecp/mailboxes/alice", tmp_path, "folders")
    page = center.page
    inbox = page.locator("table.grid tbody tr", has=page.locator("a:text-is('Inbox')"))
    cells = await inbox.locator("td").all_inner_texts()
    # Folder, server id, parent, type, items, change log; the Inbox also holds the quarantine notice.
    assert cells[1:5] == ["1", "0", "Inbox (2)", "4"], f"{cells}; screenshot {shot}"
    drafts = page.locator("table.grid tbody tr", has=page.locator("a:text-is('Drafts')"))
    assert (await drafts.locator("td").all_inner_texts())[4] == "0", shot


async def test_items_newest_first_by_date_a_page_at_a_time(center, tmp_path):
    page = center.page
    subjects, dates, shots = [], [], []
    text, shot = await visit(center, "/ecp/mailboxes/alice/1?limit=2", tmp_path, "items")
    assert "Inbox (4)" in text and "Newest first by date received" in text, shot
    for n in range(2):
        if n:
            await page.click("a[rel=next]")
            await page.wait_for_load_state()
            text, shot = await look(page, 200, tmp_path, "items-older")
        shots.append(shot)
        subjects += [s.splitlines()[0] for s in await page.locator("td.subject").all_inner_texts()]
        dates += await page.locator("tbody td:first-child").all_inner_texts()
    assert await page.locator("a[rel=next]").count() == 0, shot
    # The quarantine notice (stored when the device first connected, at the server's now) is the
    # newest; the imported mail follows by its dates, not in the order it was imported.
    dated = sorted(center.mail_dates, key=center.mail_dates.get, reverse=True)
    assert subjects == ["Your device is quarantined (easlab simulated device)", *dated], f"{subjects}; screenshots {shots}"
    assert dates == sorted(dates, reverse=True) and len(set(dates)) == 4, f"{dates}; screenshots {shots}"


async def test_the_protocol_trace_inside_the_admin_center(center, tmp_path):
    alice = center.devices["alice"].state.device_id
    text, shot = await visit(center, f"/ecp/devices/alice/{alice}", tmp_path, "device-traced")
    await center.page.click("a:text-is('View the trace')")
    await center.page.wait_for_load_state()
    assert center.page.url == f"{center.url}/ecp/devices/alice/{alice}/trace", shot
    text, shot = await look(center.page, 200, tmp_path, "trace")
    assert f"Protocol trace {alice}" in text and "Tracing is on" in text, shot
    summaries = await center.page.locator("details.exchange > summary").all_inner_texts()
    commands = [re.search(r"· POST (\w+) → 200 \(", s).group(1) for s in summaries]
    assert commands[:2] == ["Provision", "Provision"] and "FolderSync" in commands, f"{summaries}; screenshot {shot}"
    await center.page.locator("details.exchange > summary").first.click()
    opened = await center.page.inner_text("details.exchange[open]")
    assert "<Provision xmlns=\"Provision\">" in opened and "ms-asprotocolversion: 14.1" in opened, f"{opened[:1500]}; screenshot {shot}"
    assert "authorization: Basic <redacted>" in opened, shot
    await look(center.page, 200, tmp_path, "trace-open")
    # The device page's link used to open the API's bare page; that page is still the API's.
    api = await center.page.goto(f"{center.url}/api/devices/alice/{alice}/trace?format=html")
    assert api.status == 200 and await center.page.locator("nav").count() == 0
