"""`/setup`: a phone's set-up page behind the user's own login, the lab CA downloads, and the iOS
configuration profile parsed with plistlib; then the page as a user reads it in Chromium."""
from __future__ import annotations

import asyncio
import plistlib
import re
import socket
import uuid

import httpx
import pytest
from cryptography import x509

from easlab.server import tls
from easlab.server.web import phone
from easlab.testing.plugin import start
from tests.server.test_seed_story import CHROMIUM, CHROMIUM_ARGS, need_browser

pytestmark = pytest.mark.anyio

PASSWORD = "Alice-pw-1"
PUBLIC = "http://192.0.2.10:8080"


@pytest.fixture
def lab(tmp_path):
    lab = start("inprocess", directory=tmp_path / "lab")
    lab.make_user("alice", password=PASSWORD, display_name="Alice Example")
    lab.make_user("root", password="Root-pw-1", role="org-admin")
    material = tls.lab_material(tmp_path / "tls", ["192.0.2.10", "localhost", "127.0.0.1"])
    settings = lab.app.state.settings
    settings.public_url, settings.tls, settings.https_port, settings.tls_ca = PUBLIC, True, 8443, str(material.ca_file)
    yield lab
    lab.close()


def client(lab) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=lab.app), base_url="http://testserver")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


async def signed_in(http: httpx.AsyncClient, user: str = "alice", password: str = PASSWORD) -> httpx.Response:
    form = await http.get("/setup/")
    return await http.post("/setup/login", data={"csrf": csrf_of(form.text), "user": user, "password": password})


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html[html.index("<main>"):]))


async def test_the_page_is_behind_the_users_own_login(lab):
    async with client(lab) as http:
        assert (await http.get("/setup")).headers["location"] == "http://testserver/setup/"
        form = await http.get("/setup/")
        assert form.status_code == 200 and "Sign in with your mailbox's user name and password" in text_of(form.text)
        assert "alice@easlab.test" not in form.text
        profile = await http.get("/setup/easlab.mobileconfig")
        assert profile.status_code == 303 and profile.headers["location"] == "/setup/"

        refused = await http.post("/setup/login", data={"user": "alice", "password": PASSWORD})
        assert refused.status_code == 403 and "security token" in refused.text
        wrong = await signed_in(http, password="wrong")
        assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text

        ok = await signed_in(http)  # a mailbox user, no admin role
        assert ok.status_code == 303 and ok.headers["location"] == "/setup/"
        page = text_of((await http.get("/setup/")).text)
        for shown in ("Set up a phone for Alice Example", "Email alice@easlab.test", "Server 192.0.2.10:8443",
                      "Domain EASLAB (or leave it empty)", "User name alice", "SSL / TLS on",
                      "https://192.0.2.10:8443/Microsoft-Server-ActiveSync", f"{PUBLIC}/setup/"):
            assert shown in page, page
        ca = x509.load_pem_x509_certificate(open(lab.app.state.settings.tls_ca, "rb").read())
        assert tls.fingerprint(ca) in page
        # The session is the admin center's, but it carries no admin rights.
        admin = await http.get("/ecp/")
        assert admin.status_code == 403 and "alice has no admin role any more" in admin.text


async def test_the_ca_downloads_in_pem_and_der(lab):
    ca_pem = open(lab.app.state.settings.tls_ca, "rb").read()
    async with client(lab) as http:  # no sign-in: a phone fetches the CA before it trusts HTTPS
        pem = await http.get("/setup/ca.pem")
        der = await http.get("/setup/ca.crt")
    assert pem.status_code == der.status_code == 200
    assert pem.content == ca_pem and pem.headers["content-type"] == "application/x-pem-file"
    assert x509.load_der_x509_certificate(der.content) == x509.load_pem_x509_certificate(ca_pem)
    assert der.headers["content-type"] == "application/x-x509-ca-cert"
    assert der.headers["content-disposition"] == 'attachment; filename="easlab-ca.crt"'

    lab.app.state.settings.tls_ca = None  # served without --tls, or with the lab's own certificate
    async with client(lab) as http:
        assert (await http.get("/setup/ca.crt")).status_code == 404


async def test_the_ios_profile_carries_the_ca_and_the_account(lab):
    async with client(lab) as http:
        await signed_in(http)
        answer = await http.get("/setup/easlab.mobileconfig")
        again = await http.get("/setup/easlab.mobileconfig")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-apple-aspen-config"
    assert answer.headers["content-disposition"] == 'attachment; filename="easlab-alice.mobileconfig"'
    assert answer.content == again.content  # the same identifiers: installing it again replaces it
    profile = plistlib.loads(answer.content)

    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    assert profile["PayloadIdentifier"] == "test.easlab.192-0-2-10-8443.alice"
    root, account = profile["PayloadContent"]
    assert root["PayloadType"] == "com.apple.security.root" and root["PayloadVersion"] == 1
    ca = x509.load_pem_x509_certificate(open(lab.app.state.settings.tls_ca, "rb").read())
    assert x509.load_der_x509_certificate(root["PayloadContent"]) == ca
    assert account["PayloadType"] == "com.apple.eas.account" and account["PayloadVersion"] == 1
    assert {k: account[k] for k in ("Host", "UserName", "EmailAddress", "SSL")} == {
        "Host": "192.0.2.10:8443", "UserName": "alice", "EmailAddress": "alice@easlab.test", "SSL": True}
    assert "Password" not in account
    payloads = [profile, root, account]
    identifiers = [p["PayloadIdentifier"] for p in payloads]
    assert len(set(identifiers)) == 3 and all(i.startswith(profile["PayloadIdentifier"]) for i in identifiers)
    uuids = [uuid.UUID(p["PayloadUUID"]) for p in payloads]
    assert len(set(uuids)) == 3 and all(str(u).upper() == p["PayloadUUID"] for u, p in zip(uuids, payloads))


async def test_without_tls_the_profile_is_the_account_alone(lab):
    settings = lab.app.state.settings
    settings.tls, settings.tls_ca = False, None
    async with client(lab) as http:
        await signed_in(http)
        profile = plistlib.loads((await http.get("/setup/easlab.mobileconfig")).content)
        page = text_of((await http.get("/setup/")).text)
    [account] = profile["PayloadContent"]
    assert (account["Host"], account["SSL"]) == ("192.0.2.10:8080", False)
    assert "This server serves plain HTTP only. For HTTPS, start it with easlab serve --tls ." in page


async def _serve(app, sock):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return server, task


async def test_the_page_in_chromium(lab, tmp_path):
    async_playwright = need_browser()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server, task = await _serve(lab.app, sock)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                page = await (await browser.new_context(viewport={"width": 420, "height": 900})).new_page()
                await page.goto(f"{url}/setup")
                await page.fill("#user", "alice")
                await page.fill("#password", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_load_state()
                shot = str(tmp_path / "setup.png")
                await page.screenshot(path=shot, full_page=True)
                assert page.url == f"{url}/setup/", shot
                assert await page.title() == "Set up a phone · easlab phone setup", shot
                account = await page.inner_text("#account")
                for line in ("Email\talice@easlab.test", "Server\t192.0.2.10:8443", "User name\talice", "SSL / TLS\ton"):
                    assert line in account, f"{account!r}; screenshot {shot}"
                ca = x509.load_pem_x509_certificate(open(lab.app.state.settings.tls_ca, "rb").read())
                assert tls.fingerprint(ca) in await page.inner_text("#ca"), shot
                qr = page.locator("#qr img")
                assert await qr.get_attribute("alt") == f"QR code of {PUBLIC}/setup/", shot
                assert await qr.evaluate("img => img.complete && img.naturalWidth > 0"), f"QR not drawn; {shot}"
                assert "Certificate Trust Settings" in await page.inner_text("#ios"), shot
                assert "Install a certificate → CA certificate" in await page.inner_text("#android"), shot
                assert await page.locator("nav").count() == 0, f"admin navigation shown to a mailbox user; {shot}"
                assert "Traceback" not in await page.inner_text("body") and " None" not in await page.inner_text("main")
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await task


def test_qr_is_an_svg_data_uri():
    assert phone.qr_data_uri("http://192.0.2.10:8080/setup/").startswith("data:image/svg+xml")
