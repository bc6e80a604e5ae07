"""The admin center under /ecp, in-process: sessions, CSRF, roles, the admin mail's link, pages."""
from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from urllib.parse import quote

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlmodel import select

from easlab.server.admin import SHELL, Admin
from easlab.server.web.sessions import safe_next
from easlab.server.web.wiring import _derive
from easlab.storage.access import org_settings, record_state
from easlab.storage.devices import touch_device
from easlab.storage.models import Device, OutboundMail, Policy, User
from easlab.storage.users import get_user
from tests.conftest import basic

pytestmark = pytest.mark.anyio


# -- helpers shared with test_api.py -------------------------------------------------------------
def set_role(db, name: str, role: str) -> None:
    with db.session() as s:
        user = get_user(s, name)
        user.role = role
        s.add(user)


def add_device(db, user="alice", device_id="dev1", state="Quarantined", version="14.1", model="iPhone15,2",
               device_type="iPhone") -> None:
    """A partnership as the gate leaves it after a request."""
    with db.session() as s:
        d = touch_device(s, get_user(s, user), device_id, device_type, "Apple-iPhone15C2/2101.80", version)
        d.model, d.os = model, "iOS 17.1 21B80"
        record_state(s, d, state, "Global", None, "Default")


def lists(db, user="alice") -> tuple[list[str], list[str]]:
    with db.session() as s:
        u = get_user(s, user)
        return u.allowed_device_ids, u.blocked_device_ids


def device_row(db, device_id="dev1") -> Device | None:
    with db.session() as s:
        return s.exec(select(Device).where(Device.device_id == device_id)).first()


def secret_of(db) -> str:
    with db.session() as s:
        return org_settings(s).secret


def csrf_from(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


async def login(client, user="alice", password="secret", next_=None):
    page = await client.get("/ecp/login" + (f"?next={quote(next_, safe='')}" if next_ else ""))
    token = csrf_from(page.text)
    data = {"csrf": token, "user": user, "password": password}
    if next_ is not None:
        data["next"] = next_
    return await client.post("/ecp/login", data=data)


async def csrf(client, path="/ecp/") -> str:
    return csrf_from((await client.get(path)).text)


ROLES = ("org-admin", "device-approver", "device-operator", "viewer")


# -- login, logout, sessions -------------------------------------------------------------------
async def test_pages_need_a_session(client):
    r = await client.get("/ecp/devices?state=quarantined")
    assert r.status_code == 303
    assert r.headers["location"] == "/ecp/login?next=" + quote("/ecp/devices?state=quarantined", safe="")


async def test_login_and_logout(client, db):
    set_role(db, "alice", "org-admin")
    r = await login(client)
    assert r.status_code == 303 and r.headers["location"] == "/ecp/"
    page = await client.get("/ecp/")
    assert page.status_code == 200 and "Quarantined devices" in page.text and "alice · org-admin" in page.text
    r = await client.post("/ecp/logout", data={"csrf": csrf_from(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/ecp/login"
    assert "easlab_session=null" in r.headers["set-cookie"]
    assert (await client.get("/ecp/")).status_code == 303


async def test_login_accepts_address_forms(client, db):
    set_role(db, "alice", "viewer")
    assert (await login(client, "Alice@EASLAB.test")).status_code == 303


@pytest.mark.parametrize("user,password", [("alice", "wrong"), ("nobody", "secret"), ("alice@other.example", "secret")])
async def test_wrong_credentials(client, db, user, password):
    set_role(db, "alice", "org-admin")
    r = await login(client, user, password)
    assert r.status_code == 401 and "Wrong user name or password" in r.text
    assert (await client.get("/ecp/")).status_code == 303


async def test_login_is_checked_by_the_eas_authenticator(client, app, db, monkeypatch):
    """One password checker (server/auth.py) for the EAS endpoint and the admin center: a web login
    fills the Authenticator's cache, and an unknown name or another domain's login costs one hash,
    as a wrong password does."""
    from easlab.server import auth

    checked = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda password, hashed: checked.append(password) or real(password, hashed))
    set_role(db, "alice", "org-admin")
    for user in ("nobody", "alice@other.example", "alice"):
        checked.clear()
        assert (await login(client, user, "wrong" if user == "alice" else "secret")).status_code == 401
        assert len(checked) == 1, user
    checked.clear()
    assert (await login(client)).status_code == 303
    assert checked == ["secret"]
    assert app.state.authenticator.authenticate(basic("alice", "secret")).name == "alice"
    assert checked == ["secret"]  # the admin center's login counted: no second argon2 check


async def test_user_without_role_is_refused(client):
    r = await login(client, "bob", "hunter2")
    assert r.status_code == 403 and "No admin role" in r.text
    assert (await client.get("/ecp/")).status_code == 303


async def test_role_taken_away_after_login(client, db):
    set_role(db, "alice", "org-admin")
    await login(client)
    set_role(db, "alice", "")
    r = await client.get("/ecp/devices")
    assert r.status_code == 403 and "no admin role" in r.text


async def test_session_cookie_flags_and_security_headers(client, db):
    r = await client.get("/ecp/login")
    cookie = r.headers["set-cookie"].lower()
    assert cookie.startswith("easlab_session=")
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert f"max-age={8 * 3600}" in cookie
    assert "secure" not in cookie  # plain http here; an https public URL adds it (below)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no scripts at all
    assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["cache-control"] == "no-store"


async def test_https_public_url_makes_the_cookie_secure(settings, db):
    import httpx

    from easlab.server.app import create_app

    settings.public_url = "https://mail.example.test"
    app = create_app(settings, db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
        r = await c.get("/ecp/login")
    assert "secure" in r.headers["set-cookie"].lower()


def forged_cookie(key: str, data: dict) -> str:
    return TimestampSigner(key).sign(base64.b64encode(json.dumps(data).encode())).decode()


async def test_session_expires_after_eight_hours(client, db):
    set_role(db, "alice", "org-admin")
    key = _derive(secret_of(db), "easlab web session")
    client.cookies.set("easlab_session", forged_cookie(key, {"user": "alice", "at": int(time.time()) - 8 * 3600 - 5,
                                                             "csrf": "x" * 43}))
    assert (await client.get("/ecp/")).status_code == 303
    client.cookies.clear()
    client.cookies.set("easlab_session", forged_cookie(key, {"user": "alice", "at": int(time.time()) - 60, "csrf": "x" * 43}))
    assert (await client.get("/ecp/")).status_code == 200


async def test_cookie_signed_with_another_key_is_ignored(client, db):
    set_role(db, "alice", "org-admin")
    for key in ("not-the-key", secret_of(db)):  # the raw org secret is not the session key either
        client.cookies.clear()
        client.cookies.set("easlab_session", forged_cookie(key, {"user": "alice", "at": int(time.time())}))
        assert (await client.get("/ecp/")).status_code == 303


# -- CSRF ---------------------------------------------------------------------------------------
async def test_login_needs_the_csrf_token(client, db):
    set_role(db, "alice", "org-admin")
    await client.get("/ecp/login")
    r = await client.post("/ecp/login", data={"user": "alice", "password": "secret"})
    assert r.status_code == 403


@pytest.mark.parametrize("token", [None, "", "wrong-token", "é" * 43])
async def test_post_without_the_right_csrf_token_is_refused(client, db, token):
    set_role(db, "alice", "org-admin")
    add_device(db)
    await login(client)
    data = {"back": "/ecp/"} | ({"csrf": token} if token is not None else {})
    r = await client.post("/ecp/devices/alice/dev1/allow", data=data)
    assert r.status_code == 403 and "security token" in r.text
    assert lists(db) == ([], [])
    r = await client.post("/ecp/logout", data=data)
    assert r.status_code == 403
    assert (await client.get("/ecp/")).status_code == 200  # still logged in


async def test_csrf_token_is_per_session(client, app, db):
    import httpx

    set_role(db, "alice", "org-admin")
    set_role(db, "bob", "org-admin")
    add_device(db)
    await login(client)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as other:
        await login(other, "bob", "hunter2")
        bobs = await csrf(other)
    r = await client.post("/ecp/devices/alice/dev1/allow", data={"csrf": bobs})
    assert r.status_code == 403 and lists(db) == ([], [])
    r = await client.post("/ecp/devices/alice/dev1/allow", data={"csrf": await csrf(client)})
    assert r.status_code == 303 and lists(db) == (["dev1"], [])


# -- roles --------------------------------------------------------------------------------------
ACTIONS = {  # action: (permission, how the database shows it happened)
    "allow": ("approve", lambda db: lists(db) == (["dev1"], [])),
    "block": ("approve", lambda db: lists(db) == ([], ["dev1"])),
    "unblock": ("approve", lambda db: lists(db)[1] == []),
    "revoke": ("approve", lambda db: lists(db)[0] == []),
    "wipe": ("operate", lambda db: device_row(db).wipe_state == "pending"),
    "remove": ("operate", lambda db: device_row(db) is None),
}
PERMS = {"org-admin": {"view", "approve", "operate", "configure"}, "device-approver": {"view", "approve"},
         "device-operator": {"view", "operate"}, "viewer": {"view"}}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(ACTIONS))
async def test_device_buttons_by_role(client, db, role, action):
    set_role(db, "bob", role)
    add_device(db)
    if action in ("unblock", "revoke"):
        Admin(db, lambda e: None).device_block(SHELL, "alice", "dev1")
        Admin(db, lambda e: None).device_allow(SHELL, "alice", "dev1")
    before = lists(db), device_row(db).wipe_state
    await login(client, "bob", "hunter2")
    permission, happened = ACTIONS[action]
    r = await client.post(f"/ecp/devices/alice/dev1/{action}", data={"csrf": await csrf(client), "back": "/ecp/devices"})
    if permission in PERMS[role]:
        assert r.status_code == 303 and r.headers["location"] == "/ecp/devices"
        assert happened(db)
        assert "class=\"flash\"" in (await client.get("/ecp/devices")).text
    else:
        assert r.status_code == 403 and "may not" in r.text
        assert (lists(db), device_row(db).wipe_state) == before


@pytest.mark.parametrize("role", ROLES)
async def test_buttons_a_role_may_not_use_are_not_shown(client, db, role):
    set_role(db, "bob", role)
    add_device(db)
    await login(client, "bob", "hunter2")
    for path in ("/ecp/", "/ecp/devices", "/ecp/devices/alice/dev1"):
        page = (await client.get(path)).text
        assert ('value="allow"' in page) == ("approve" in PERMS[role]), path
        assert ('value="block"' in page) == ("approve" in PERMS[role]), path
    page = (await client.get("/ecp/devices/alice/dev1")).text
    assert ('value="wipe"' in page) == ("operate" in PERMS[role])
    assert ('value="remove"' in page) == ("operate" in PERMS[role])
    rules = (await client.get("/ecp/rules")).text
    assert ('name="op" value="add"' in rules) == (role == "org-admin")
    org = (await client.get("/ecp/org")).text
    assert ('action="/ecp/org"' in org) == (role == "org-admin")
    policy = (await client.get("/ecp/policies/Default")).text
    assert ('value="save"' in policy) == (role == "org-admin")


@pytest.mark.parametrize("role", ROLES)
async def test_configuration_by_role(client, db, role):
    set_role(db, "bob", role)
    await login(client, "bob", "hunter2")
    token = await csrf(client)
    allowed = role == "org-admin"
    r = await client.post("/ecp/rules", data={"csrf": token, "op": "add", "characteristic": "DeviceType",
                                              "query": "Android", "access_level": "Block"})
    assert r.status_code == (303 if allowed else 403)
    r = await client.post("/ecp/org", data={"csrf": token, "default_access": "Quarantine", "admin_mail": "bob@easlab.test",
                                            "user_mail_insert": "", "max_devices": "5", "blocked_delay": "0",
                                            "discovery_minutes": "14"})
    assert r.status_code == (303 if allowed else 403)
    r = await client.post("/ecp/policies/Default", data={"csrf": token, "op": "save", "MinPasswordLength": "6",
                                                         "PasswordEnabled": "1", "AllowNonProvisionableDevices": "1"})
    assert r.status_code == (303 if allowed else 403)
    r = await client.post("/ecp/policies", data={"csrf": token, "name": "Strict"})
    assert r.status_code == (303 if allowed else 403)
    with db.session() as s:
        org = org_settings(s)
        policy = s.exec(select(Policy).where(Policy.name == "Default")).one()
        assert (org.default_access, org.max_devices, org.blocked_delay) == (
            ("Quarantine", 5, 0) if allowed else ("Allow", 100, 20))
        assert (policy.settings["MinPasswordLength"] == 6) == allowed
        assert (s.exec(select(Policy).where(Policy.name == "Strict")).first() is not None) == allowed
    rules = Admin(db, lambda e: None).rule_list(SHELL)
    assert [r["name"] for r in rules] == (["Android (DeviceType)"] if allowed else [])


@pytest.mark.parametrize("role", ROLES)
async def test_every_role_may_look(client, db, role):
    set_role(db, "bob", role)
    add_device(db)
    await login(client, "bob", "hunter2")
    for path in ("/ecp/", "/ecp/devices", "/ecp/devices/alice/dev1", "/ecp/rules", "/ecp/org", "/ecp/policies",
                 "/ecp/policies/Default", "/ecp/outbound"):
        assert (await client.get(path)).status_code == 200, path


# -- the admin mail's link ----------------------------------------------------------------------
async def test_link_goes_through_login_to_the_device_page(client, app, db):
    set_role(db, "alice", "device-approver")
    add_device(db, "bob", "phone7")
    link = app.state.mailer.device_link(secret_of(db), "bob", "phone7")
    path = link[link.index("/ecp/link/"):]
    r = await client.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/ecp/login?next=" + quote("/ecp/devices/bob/phone7", safe="")
    page = await client.get(r.headers["location"])
    assert 'name="next" value="/ecp/devices/bob/phone7"' in page.text
    r = await client.post("/ecp/login", data={"csrf": csrf_from(page.text), "user": "alice", "password": "secret",
                                              "next": "/ecp/devices/bob/phone7"})
    assert r.status_code == 303 and r.headers["location"] == "/ecp/devices/bob/phone7"
    page = await client.get("/ecp/devices/bob/phone7")
    assert page.status_code == 200 and "phone7" in page.text and 'value="allow"' in page.text
    # Logged in, the link goes straight to the page.
    r = await client.get(path)
    assert r.status_code == 303 and r.headers["location"] == "/ecp/devices/bob/phone7"


async def test_forged_and_expired_links_are_refused(client, db):
    set_role(db, "alice", "org-admin")
    await login(client)
    secret = secret_of(db)
    forged = URLSafeTimedSerializer("another-secret", salt="easlab-device-link").dumps({"u": "alice", "d": "dev1"})

    class LastWeek(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - 8 * 24 * 3600

    expired = URLSafeTimedSerializer(secret, salt="easlab-device-link", signer=LastWeek).dumps({"u": "alice", "d": "dev1"})
    good = URLSafeTimedSerializer(secret, salt="easlab-device-link").dumps({"u": "alice", "d": "dev1"})
    tampered = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    for token in (forged, expired, tampered, "garbage", "a.b.c"):
        r = await client.get(f"/ecp/link/{token}")
        assert r.status_code == 403 and "invalid or expired" in r.text, token
    assert (await client.get(f"/ecp/link/{good}")).status_code == 303


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/ecp/", "/\\evil.example", "\\\\evil.example", "/ecp/../admin",
    "/ecp/%2e%2e/x", "javascript:alert(1)", "/other", "/ecp//evil.example", "http://testserver/ecp/devices",
    "/ecp/login", "/ecp/logout", "/ecp/devices\r\nSet-Cookie: x=1", "/ecp/link/abc", "/ecp/devices#frag",
])
async def test_next_only_goes_to_local_admin_pages(client, db, target):
    set_role(db, "alice", "org-admin")
    r = await login(client, next_=target)
    assert r.status_code == 303 and r.headers["location"] == "/ecp/"


@pytest.mark.parametrize("target", ["/ecp/rules", "/ecp/devices?state=quarantined&user=alice", "/ecp/devices/bob/x%20y"])
async def test_next_keeps_local_admin_pages(client, db, target):
    set_role(db, "alice", "org-admin")
    r = await login(client, next_=target)
    assert r.status_code == 303 and r.headers["location"] == target


# -- pages --------------------------------------------------------------------------------------
async def test_dashboard_lists_only_quarantined_devices(client, db):
    set_role(db, "alice", "viewer")
    add_device(db, "alice", "quar1")
    add_device(db, "bob", "fine1", state="Allowed")
    await login(client)
    page = (await client.get("/ecp/")).text
    assert "quar1" in page and "fine1" not in page


async def test_devices_page_filters(client, db):
    set_role(db, "alice", "viewer")
    add_device(db, "alice", "quar1")
    add_device(db, "bob", "fine1", state="Allowed")
    await login(client)
    page = (await client.get("/ecp/devices")).text
    assert "quar1" in page and "fine1" in page and "iPhone15,2" in page and "Default" not in page.split("<tbody>")[0]
    page = (await client.get("/ecp/devices?state=allowed")).text
    assert "fine1" in page and "quar1" not in page
    page = (await client.get("/ecp/devices?user=alice")).text
    assert "quar1" in page and "fine1" not in page
    r = await client.get("/ecp/devices?state=sideways")
    assert r.status_code == 400 and "state &#39;sideways&#39;" in r.text


async def test_device_page_shows_fields_history_and_explanation(client, db):
    set_role(db, "alice", "org-admin")
    add_device(db, "bob", "phone7")
    await login(client)
    page = (await client.get("/ecp/devices/bob/phone7")).text
    for text in ("iPhone15,2", "iOS 17.1 21B80", "Apple-iPhone15C2/2101.80", "Quarantined", "Access history", "Unknown",
                 "not on the user&#39;s allowed list", "organisation default: Allow", "Next request"):
        assert text in page, text


async def test_missing_things_are_404(client, db):
    set_role(db, "alice", "org-admin")
    add_device(db)
    await login(client)
    for path in ("/ecp/devices/alice/nope", "/ecp/devices/nobody/dev1", "/ecp/policies/Nope"):
        r = await client.get(path)
        assert r.status_code == 404 and "Not found" in r.text, path
    token = await csrf(client)
    assert (await client.post("/ecp/devices/nobody/dev1/allow", data={"csrf": token})).status_code == 404
    assert (await client.post("/ecp/devices/alice/nope/remove", data={"csrf": token})).status_code == 404
    assert (await client.post("/ecp/devices/alice/dev1/explode", data={"csrf": token})).status_code == 404


async def test_allow_for_a_device_not_seen_yet(client, db):
    set_role(db, "alice", "org-admin")
    await login(client)
    r = await client.post("/ecp/devices/bob/future1/allow", data={"csrf": await csrf(client), "back": "/ecp/devices"})
    assert r.status_code == 303 and lists(db, "bob") == (["future1"], [])


async def test_bad_input_shows_the_form_again(client, db):
    set_role(db, "alice", "org-admin")
    add_device(db)
    await login(client)
    token = await csrf(client)
    r = await client.post("/ecp/rules", data={"csrf": token, "op": "add", "characteristic": "Colour", "query": "red",
                                              "access_level": "Allow"})
    assert r.status_code == 400 and "characteristic &#39;Colour&#39;" in r.text and 'value="red"' in r.text
    r = await client.post("/ecp/org", data={"csrf": token, "default_access": "Allow", "max_devices": "0"})
    assert r.status_code == 400 and "max_devices must be 1-10000" in r.text and 'action="/ecp/org"' in r.text
    r = await client.post("/ecp/org", data={"csrf": token, "default_access": "Allow", "max_devices": "many"})
    assert r.status_code == 400 and "not a whole number" in r.text
    r = await client.post("/ecp/devices/alice/dev1/wipe", data={"csrf": token, "account_only": "1"})
    assert r.status_code == 400 and "16.1" in r.text and "dev1" in r.text
    r = await client.post("/ecp/devices/alice/dev1/cancel-wipe", data={"csrf": token})
    assert r.status_code == 400 and "cannot cancel" in r.text
    r = await client.post("/ecp/policies/Default", data={"csrf": token, "op": "save", "MinPasswordLength": "40"})
    assert r.status_code == 400 and "MinPasswordLength must be a whole number, 1-16, or unlimited" in r.text
    r = await client.post("/ecp/policies/Default", data={"csrf": token, "op": "save", "MinPasswordLength": "-3"})
    assert r.status_code == 400 and "not a whole number" in r.text
    r = await client.post("/ecp/policies", data={"csrf": token, "name": "Default"})
    assert r.status_code == 400 and "exists" in r.text
    r = await client.post("/ecp/policies/Default", data={"csrf": token, "op": "assign", "user": "nobody"})
    assert r.status_code == 404 and "no user nobody" in r.text and 'value="assign"' in r.text


async def test_rules_page_add_change_remove(client, db):
    set_role(db, "alice", "org-admin")
    await login(client)
    token = await csrf(client)
    agent = "NokiaE521/2.00()MailforExchange"
    r = await client.post("/ecp/rules", data={"csrf": token, "op": "add", "characteristic": "UserAgent", "query": agent,
                                              "access_level": "Quarantine"})
    assert r.status_code == 303
    name = f"{agent} (UserAgent)"
    assert name in (await client.get("/ecp/rules")).text
    r = await client.post("/ecp/rules", data={"csrf": token, "op": "set", "name": name, "access_level": "Block"})
    assert r.status_code == 303
    assert Admin(db, lambda e: None).rule_list(SHELL)[0]["access_level"] == "Block"
    r = await client.post("/ecp/rules", data={"csrf": token, "op": "remove", "name": name})
    assert r.status_code == 303 and Admin(db, lambda e: None).rule_list(SHELL) == []
    r = await client.post("/ecp/rules", data={"csrf": token, "op": "remove", "name": name})
    assert r.status_code == 404 and "no rule named" in r.text  # a missing rule is not found


async def test_org_page_saves_and_warns(client, db):
    set_role(db, "alice", "org-admin")
    await login(client)
    token = await csrf(client)
    r = await client.post("/ecp/org", data={"csrf": token, "default_access": "Quarantine", "admin_mail": "",
                                            "user_mail_insert": "Wait for <b>me</b>", "max_devices": "10",
                                            "blocked_delay": "3", "discovery_minutes": "0"})
    assert r.status_code == 303
    page = (await client.get("/ecp/org")).text
    assert "no valid admin mail recipient" in page
    assert "Wait for &lt;b&gt;me&lt;/b&gt;" in page
    r = await client.post("/ecp/org", data={"csrf": token, "default_access": "Quarantine",
                                            "admin_mail": "boss@easlab.test\nnot an address, it@easlab.test"})
    assert r.status_code == 400 and "admin mail recipients: &#39;not an address&#39; is not a mail address" in r.text
    r = await client.post("/ecp/org", data={"csrf": token, "default_access": "Quarantine",
                                            "admin_mail": "boss@easlab.test\nit@easlab.test"})
    assert r.status_code == 303
    page = (await client.get("/ecp/org")).text
    assert "no valid admin mail recipient" not in page and "ignored admin mail" not in page
    with db.session() as s:
        org = org_settings(s)
        assert org.admin_mail_recipients == ["boss@easlab.test", "it@easlab.test"]
        assert (org.default_access, org.max_devices, org.blocked_delay, org.discovery_minutes) == ("Quarantine", 10, 3, 0)


async def test_policy_page_shows_the_document_edits_and_assigns(client, db):
    set_role(db, "alice", "org-admin")
    await login(client)
    page = (await client.get("/ecp/policies/Default")).text
    assert "&lt;EASProvisionDoc xmlns=&#34;Provision&#34;&gt;" in page or "&lt;EASProvisionDoc" in page
    assert "PolicyKey for 14.1" in page
    token = csrf_from(page)
    r = await client.post("/ecp/policies/Default", data={"csrf": token, "op": "save", "PasswordEnabled": "1",
                                                         "MinPasswordLength": "8", "MaxInactivityTimeLock": "",
                                                         "AllowNonProvisionableDevices": "1", "default": "1"})
    assert r.status_code == 303
    page = (await client.get("/ecp/policies/Default")).text
    assert "&lt;MinDevicePasswordLength&gt;8&lt;/MinDevicePasswordLength&gt;" in page
    assert "&lt;DevicePasswordEnabled&gt;1&lt;/DevicePasswordEnabled&gt;" in page
    r = await client.post("/ecp/policies", data={"csrf": token, "name": "Kiosk / lab"})
    assert r.status_code == 400  # no '/' in names: they are path segments
    r = await client.post("/ecp/policies", data={"csrf": token, "name": "Kiosk"})
    assert r.status_code == 303 and r.headers["location"] == "/ecp/policies/Kiosk"
    r = await client.post("/ecp/policies/Kiosk", data={"csrf": token, "op": "assign", "user": "bob"})
    assert r.status_code == 303
    with db.session() as s:
        kiosk = s.exec(select(Policy).where(Policy.name == "Kiosk")).one()
        assert get_user(s, "bob").policy_id == kiosk.id
        default = s.exec(select(Policy).where(Policy.name == "Default")).one().settings
        assert default["PasswordEnabled"] is True and default["MinPasswordLength"] == 8
        assert default["MaxInactivityTimeLock"] is None and default["AllowCamera"] is False  # unchecked box
    assert "Kiosk" in (await client.get("/ecp/policies")).text


async def test_outbound_page_lists_the_queue(client, db):
    set_role(db, "alice", "viewer")
    with db.session() as s:
        s.add(OutboundMail(sender="MicrosoftExchange@easlab.test", recipients=["boss@elsewhere.example"],
                           subject="A new mobile device <b>x</b>", mime=b"x" * 10, last_error="connection refused"))
    await login(client)
    page = (await client.get("/ecp/outbound")).text
    assert "boss@elsewhere.example" in page and "A new mobile device &lt;b&gt;x&lt;/b&gt;" in page
    assert "connection refused" in page and "queued" in page


async def test_device_values_are_escaped(client, db):
    set_role(db, "alice", "org-admin")
    add_device(db, model="<script>alert(1)</script>")
    await login(client)
    page = (await client.get("/ecp/devices/alice/dev1")).text
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_web_changes_reach_the_push_hub_at_once(client, app, db, monkeypatch):
    seen = []
    monkeypatch.setattr(app.state.hub, "handle_event", seen.append)
    set_role(db, "alice", "org-admin")
    add_device(db)
    await login(client)
    r = await client.post("/ecp/devices/alice/dev1/allow", data={"csrf": await csrf(client)})
    assert r.status_code == 303
    await asyncio.sleep(0)  # the event is handed to the loop thread-safely
    with db.session() as s:
        uid = get_user(s, "alice").id
    assert {"event": "policy", "users": [uid]} in seen


async def test_allow_in_the_web_lets_the_device_sync(client, db):
    """The whole loop in-process: quarantined over EAS, allowed in the web, allowed over EAS."""
    from tests.server.eas_helpers import Raw, provision

    Admin(db, lambda e: None).org_set(SHELL, default_access="quarantine", blocked_delay=0)
    set_role(db, "bob", "device-approver")
    dev = Raw(client, device="realphone")
    await provision(dev)
    assert (await dev.folder_sync()).text("FolderHierarchy:Status") == "1"
    assert device_row(db, "realphone").access_state == "Quarantined"
    await login(client, "bob", "hunter2")
    page = (await client.get("/ecp/")).text
    assert "realphone" in page
    r = await client.post("/ecp/devices/alice/realphone/allow", data={"csrf": csrf_from(page), "back": "/ecp/"})
    assert r.status_code == 303 and r.headers["location"] == "/ecp/"
    await dev.folder_sync()
    row = device_row(db, "realphone")
    assert (row.access_state, row.access_reason) == ("Allowed", "Individual")
    assert "realphone" not in (await client.get("/ecp/")).text.split("<tbody>")[1]


def test_safe_next_unit():
    assert safe_next("/ecp/devices?state=quarantined") == "/ecp/devices?state=quarantined"
    assert safe_next("/ecp") == "/ecp"
    for bad in (None, 7, "", "ecp/", "/ecpx", "//x", "/ecp/%2F%2Fx/../y", "/ecp/\x00", "https://x/ecp/", "/ecp/a b"):
        assert safe_next(bad) == "/ecp/", bad


async def test_user_table_unchanged_by_login(client, db):
    """Logging in reads the user table only."""
    set_role(db, "alice", "org-admin")
    with db.session() as s:
        before = s.exec(select(User).where(User.name == "alice")).one().model_dump()
    await login(client)
    with db.session() as s:
        assert s.exec(select(User).where(User.name == "alice")).one().model_dump() == before


async def test_unknown_admin_page_is_a_404_page(client):
    r = await client.get("/ecp/nowhere")
    assert r.status_code == 404 and "no such page" in r.text and r.headers["x-frame-options"] == "DENY"


async def test_redirect_to_login_keeps_an_encoded_device_path(client, db):
    r = await client.get("/ecp/devices/bob/x%20y")
    assert r.status_code == 303
    assert r.headers["location"] == "/ecp/login?next=" + quote("/ecp/devices/bob/x%20y", safe="")
