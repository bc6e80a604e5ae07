"""The JSON API under /api, in-process: authentication, roles, status codes, the OpenAPI document."""
from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timezone

import pytest
from sqlmodel import select
from starlette.routing import Mount, Route

from easlab.server import api
from easlab.server.admin import SHELL, Admin
from easlab.storage.access import org_settings
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.models import OutboundMail, Policy
from easlab.storage.users import get_user
from tests.server.test_web import PERMS, ROLES, add_device, csrf_from, device_row, lists, login, set_role

pytestmark = pytest.mark.anyio
ALICE = ("alice", "secret")
BOB = ("bob", "hunter2")


def shell(db) -> Admin:
    return Admin(db, lambda e: None)


# -- authentication -----------------------------------------------------------------------------
async def test_no_credentials_is_401(client):
    r = await client.get("/api/org")
    assert r.status_code == 401 and r.json()["error"].startswith("authentication required")
    assert r.headers["www-authenticate"].startswith("Basic ")


@pytest.mark.parametrize("auth", [("alice", "wrong"), ("nobody", "secret"), ("alice@other.example", "secret")])
async def test_wrong_credentials_is_401(client, db, auth):
    set_role(db, "alice", "org-admin")
    r = await client.get("/api/org", auth=auth)
    assert r.status_code == 401 and r.json() == {"error": "wrong user name or password"}


async def test_malformed_authorization_is_401(client):
    for header in ("Bearer abc", "Basic !!!", "Basic " + "YWxpY2U=", ""):
        assert (await client.get("/api/org", headers={"Authorization": header})).status_code == 401, header


async def test_user_without_role_is_403(client):
    r = await client.get("/api/org", auth=BOB)
    assert r.status_code == 403 and "no role" in r.json()["error"]
    me = await client.get("/api/me", auth=BOB)
    assert me.status_code == 200 and me.json() == {"user": "bob", "role": None, "permissions": []}


async def test_basic_auth_sets_no_cookie(client, db):
    set_role(db, "alice", "viewer")
    r = await client.get("/api/devices", auth=ALICE)
    assert r.status_code == 200 and "set-cookie" not in r.headers


async def test_session_cookie_needs_the_csrf_header_for_changes(client, db):
    set_role(db, "alice", "org-admin")
    await login(client)
    me = await client.get("/api/me")
    assert me.status_code == 200 and me.json()["role"] == "org-admin"
    token = me.json()["csrf"]
    assert token == csrf_from((await client.get("/ecp/")).text)
    assert (await client.get("/api/org")).status_code == 200
    r = await client.patch("/api/org", json={"max_devices": 7})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["error"]
    r = await client.patch("/api/org", json={"max_devices": 7}, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    with db.session() as s:
        assert org_settings(s).max_devices == 100
    r = await client.patch("/api/org", json={"max_devices": 7}, headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json()["max_devices"] == 7
    await client.post("/ecp/logout", data={"csrf": token})
    assert (await client.get("/api/org")).status_code == 401


# -- roles --------------------------------------------------------------------------------------
def _prepared(db):
    add_device(db, "alice", "dev1")
    add_device(db, "alice", "dev16", version="16.1")
    shell(db).device_allow(SHELL, "alice", "gone1")  # something to revoke
    shell(db).device_block(SHELL, "alice", "bad1")  # something to unblock
    shell(db).rule_add(SHELL, "DeviceType", "Android", "Block")
    shell(db).policy_add(SHELL, "Spare", {})  # something to remove


OPERATIONS = [  # (permission, method, path, body, success status, check on the database)
    ("view", "GET", "/api/org", None, 200, None),
    ("view", "GET", "/api/rules", None, 200, None),
    ("view", "GET", "/api/devices", None, 200, None),
    ("view", "GET", "/api/devices/alice/dev1", None, 200, None),
    ("view", "POST", "/api/devices/alice/dev1/explain", None, 200, None),
    ("view", "GET", "/api/policies", None, 200, None),
    ("view", "GET", "/api/policies/Default", None, 200, None),
    ("view", "GET", "/api/outbound", None, 200, None),
    ("approve", "POST", "/api/devices/alice/dev1/allow", None, 200, lambda db: "dev1" in lists(db)[0]),
    ("approve", "POST", "/api/devices/alice/dev1/block", {}, 200, lambda db: "dev1" in lists(db)[1]),
    ("approve", "POST", "/api/devices/alice/bad1/unblock", None, 200, lambda db: "bad1" not in lists(db)[1]),
    ("approve", "POST", "/api/users/alice/revoke", {"device_id": "gone1"}, 200, lambda db: "gone1" not in lists(db)[0]),
    ("operate", "POST", "/api/devices/alice/dev16/wipe", {"account_only": True}, 200,
     lambda db: (device_row(db, "dev16").wipe_state, device_row(db, "dev16").wipe_account_only) == ("pending", True)),
    ("operate", "DELETE", "/api/devices/alice/dev1", None, 204, lambda db: device_row(db, "dev1") is None),
    ("configure", "PATCH", "/api/org", {"default_access": "quarantine"}, 200,
     lambda db: _org(db).default_access == "Quarantine"),
    ("configure", "POST", "/api/rules", {"characteristic": "DeviceModel", "query": "Pixel 8", "access_level": "Allow"}, 201,
     lambda db: len(shell(db).rule_list(SHELL)) == 2),
    ("configure", "PATCH", "/api/rules/Android%20(DeviceType)", {"access_level": "Quarantine"}, 200,
     lambda db: shell(db).rule_list(SHELL)[0]["access_level"] == "Quarantine"),
    ("configure", "DELETE", "/api/rules/Android%20(DeviceType)", None, 204, lambda db: shell(db).rule_list(SHELL) == []),
    ("configure", "POST", "/api/policies", {"name": "Kiosk", "settings": {"AllowCamera": False}}, 201,
     lambda db: _policy(db, "Kiosk") is not None),
    ("configure", "PATCH", "/api/policies/Default", {"settings": {"PasswordEnabled": True, "MinPasswordLength": 6}}, 200,
     lambda db: _policy(db, "Default").settings["MinPasswordLength"] == 6),
    ("configure", "DELETE", "/api/policies/Spare", None, 204, lambda db: _policy(db, "Spare") is None),
    ("configure", "POST", "/api/users/bob/policy", {"policy": "Default"}, 200,
     lambda db: _user(db, "bob").policy_id == _policy(db, "Default").id),
]


def _org(db):
    with db.session() as s:
        return org_settings(s)


def _policy(db, name):
    with db.session() as s:
        return s.exec(select(Policy).where(Policy.name == name)).first()


def _user(db, name):
    with db.session() as s:
        return get_user(s, name)


def _snapshot(db):
    with db.session() as s:
        org = org_settings(s)
        policies = sorted((p.name, p.settings, p.is_default) for p in s.exec(select(Policy)))
        bob = get_user(s, "bob")
        return (lists(db), [(d.device_id, d.wipe_state) for d in [device_row(db, "dev1"), device_row(db, "dev16")] if d],
                (org.default_access, org.max_devices), shell(db).rule_list(SHELL), policies, bob.policy_id)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", OPERATIONS, ids=[f"{o[1]} {o[2]}" for o in OPERATIONS])
async def test_operations_by_role(client, db, role, op):
    permission, method, path, body, status, happened = op
    set_role(db, "bob", role)
    _prepared(db)
    before = _snapshot(db)
    r = await client.request(method, path, auth=BOB, **({"json": body} if body is not None else {}))
    if permission in PERMS[role]:
        assert r.status_code == status, r.text
        if happened:
            assert happened(db)
        if status == 204:
            assert r.content == b""
        else:
            assert r.headers["content-type"] == "application/json"
    else:
        assert r.status_code == 403, r.text
        assert "may not" in r.json()["error"]
        assert _snapshot(db) == before


# -- status codes -------------------------------------------------------------------------------
async def test_not_found(client, db):
    set_role(db, "alice", "org-admin")
    add_device(db)
    for method, path, body in [
        ("GET", "/api/devices/alice/nope", None), ("GET", "/api/devices/nobody/dev1", None),
        ("DELETE", "/api/devices/alice/nope", None), ("POST", "/api/devices/alice/nope/wipe", {}),
        ("POST", "/api/devices/nobody/dev1/allow", None), ("POST", "/api/devices/nobody/dev1/explain", None),
        ("POST", "/api/users/nobody/revoke", {}), ("POST", "/api/users/nobody/policy", {"policy": "Default"}),
        ("POST", "/api/users/alice/policy", {"policy": "Nope"}),
        ("PATCH", "/api/rules/Nope%20(DeviceType)", {"access_level": "Allow"}), ("DELETE", "/api/rules/Nope", None),
        ("GET", "/api/policies/Nope", None), ("PATCH", "/api/policies/Nope", {"settings": {}}),
        ("GET", "/api/nothing/here", None),
    ]:
        r = await client.request(method, path, auth=ALICE, **({"json": body} if body is not None else {}))
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["error"], path


async def test_created(client, db):
    set_role(db, "alice", "org-admin")
    r = await client.post("/api/rules", auth=ALICE, json={"characteristic": "useragent",
                                                          "query": "NokiaE521/2.00()MailforExchange", "access_level": "block"})
    assert r.status_code == 201
    rule = r.json()
    assert rule["name"] == "NokiaE521/2.00()MailforExchange (UserAgent)" and rule["access_level"] == "Block"
    assert r.headers["location"] == "/api/rules/NokiaE521%2F2.00%28%29MailforExchange%20%28UserAgent%29"
    # A rule name with '/' works in the path, percent-encoded or not.
    r = await client.patch(r.headers["location"], auth=ALICE, json={"access_level": "Allow"})
    assert r.status_code == 200 and r.json()["access_level"] == "Allow"
    r = await client.delete("/api/rules/NokiaE521/2.00()MailforExchange (UserAgent)", auth=ALICE)
    assert r.status_code == 204
    r = await client.post("/api/policies", auth=ALICE, json={"name": "Strict", "default": True,
                                                             "settings": {"PasswordEnabled": True, "MinPasswordLength": 8}})
    assert r.status_code == 201 and r.headers["location"] == "/api/policies/Strict"
    body = r.json()
    assert body["default"] is True and body["settings"]["MinPasswordLength"] == 8
    assert "<MinDevicePasswordLength>8</MinDevicePasswordLength>" in body["document"]
    assert [p["name"] for p in (await client.get("/api/policies", auth=ALICE)).json() if p["default"]] == ["Strict"]


BAD_INPUT = [
    ("PATCH", "/api/org", b"{not json"),
    ("PATCH", "/api/org", b"[1, 2]"),
    ("PATCH", "/api/org", b"\xff\xfe\x00"),
    ("PATCH", "/api/org", b"[" * 100000),
    ("PATCH", "/api/org", {"max_devices": "5"}),
    ("PATCH", "/api/org", {"max_devices": True}),
    ("PATCH", "/api/org", {"max_devices": 0}),
    ("PATCH", "/api/org", {"blocked_delay": 60}),
    ("PATCH", "/api/org", {"default_access": "sometimes"}),
    ("PATCH", "/api/org", {"admin_mail": "boss@easlab.test"}),
    ("PATCH", "/api/org", {"user_mail_insert": "x" * 257}),
    ("PATCH", "/api/org", {"colour": "blue"}),
    ("POST", "/api/rules", {"characteristic": "DeviceType", "query": "x"}),
    ("POST", "/api/rules", {"characteristic": "Colour", "query": "x", "access_level": "Allow"}),
    ("POST", "/api/rules", {"characteristic": "DeviceType", "query": "", "access_level": "Allow"}),
    ("POST", "/api/rules", {"characteristic": "DeviceType", "query": "Android", "access_level": "Block"}),  # exists
    ("POST", "/api/rules", {"characteristic": "DeviceType", "query": "x" * 1025, "access_level": "Allow"}),
    ("POST", "/api/rules", {"characteristic": 5, "query": "x", "access_level": "Allow"}),
    ("PATCH", "/api/rules/Android%20(DeviceType)", {"access_level": "Maybe"}),
    ("PATCH", "/api/rules/Android%20(DeviceType)", {}),
    ("GET", "/api/devices?state=sideways", None),
    ("POST", "/api/devices/alice/dev1/wipe", {"account_only": "yes"}),
    ("POST", "/api/devices/alice/dev1/wipe", {"account_only": True}),  # a 14.1 device
    ("POST", "/api/devices/alice/dev1/wipe", {"cancel": True}),  # nothing to cancel
    ("POST", "/api/devices/alice/dev1/allow", {"now": True}),
    ("POST", "/api/devices/alice/" + "x" * 65 + "/allow", None),
    ("POST", "/api/users/alice/revoke", {"device_id": 5}),
    ("POST", "/api/users/alice/policy", {}),
    ("GET", "/api/policies/Default?version=9.9", None),
    ("PATCH", "/api/policies/Default", {"settings": {"MinPasswordLength": "8"}}),
    ("PATCH", "/api/policies/Default", {"settings": {"MinPasswordLength": 99}}),
    ("PATCH", "/api/policies/Default", {"settings": {"AllowCamera": 1}}),
    ("PATCH", "/api/policies/Default", {"settings": {"AllowBluetooth": "Sometimes"}}),
    ("PATCH", "/api/policies/Default", {"settings": {"ApprovedApplicationList": ["not-hex"]}}),
    ("PATCH", "/api/policies/Default", {"settings": {"UnapprovedInROMApplicationList": "x"}}),
    ("PATCH", "/api/policies/Default", {"settings": {"Teleport": True}}),
    ("PATCH", "/api/policies/Default", {"settings": []}),
    ("PATCH", "/api/policies/Default", {"default": False}),
    ("POST", "/api/policies", {"name": "Default"}),
    ("POST", "/api/policies", {"name": ""}),
    ("POST", "/api/policies", {"name": "x" * 65}),
    ("POST", "/api/policies", {"name": "a/b"}),
    ("POST", "/api/policies", {"name": "Ok", "settings": {"MaxInactivityTimeLock": -5}}),
    ("POST", "/api/policies", {"settings": {}}),
]


@pytest.mark.parametrize("method,path,body", BAD_INPUT, ids=[f"{m} {p[:40]} {str(b)[:40]}" for m, p, b in BAD_INPUT])
async def test_bad_input_is_400_with_a_message(client, db, method, path, body):
    set_role(db, "alice", "org-admin")
    _prepared(db)
    before = _snapshot(db)
    kwargs = {"content": body} if isinstance(body, bytes) else ({"json": body} if body is not None else {})
    r = await client.request(method, path, auth=ALICE, **kwargs)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["error"], str) and r.json()["error"]
    assert _snapshot(db) == before


async def test_too_large_a_body_is_refused(client, db):
    set_role(db, "alice", "org-admin")
    r = await client.patch("/api/org", auth=ALICE, content=b"{" + b" " * (300 * 1024) + b"}")
    assert r.status_code == 413


async def test_garbage_never_makes_a_500(client, db):
    set_role(db, "alice", "org-admin")
    _prepared(db)
    bodies = [b"", b"null", b"0", b'"x"', b"{}", b'{"settings": null}', b'{"name": null}', b'{"device_id": null}',
              b'{"settings": {"MinPasswordLength": null}}', b'{"access_level": ["Allow"]}', b'{"policy": 1}']
    for op in api.OPS:
        path = api.doc_path(op.path).format(user="alice", device_id="dev16", name="Default", server_id="1:1", index="0",
                                            fault_id="1", template_id=LAB_TEMPLATE)
        path += "?timeout=0" if path.startswith("/wait/") else ""  # a wait that holds answers 408 at once
        for body in bodies if op.method not in ("GET",) else [b""]:
            r = await client.request(op.method, f"/api{path}", auth=ALICE, content=body)
            assert r.status_code < 500, (op.method, path, body, r.text)


# -- results ------------------------------------------------------------------------------------
async def test_device_list_filters_and_detail(client, db):
    set_role(db, "alice", "viewer")
    add_device(db, "alice", "quar1")
    add_device(db, "bob", "fine1", state="Allowed")
    rows = (await client.get("/api/devices", auth=ALICE)).json()
    assert [(r["user"], r["device_id"], r["access_state"]) for r in rows] == [
        ("alice", "quar1", "Quarantined"), ("bob", "fine1", "Allowed")]
    assert [r["device_id"] for r in (await client.get("/api/devices?state=allowed", auth=ALICE)).json()] == ["fine1"]
    assert [r["device_id"] for r in (await client.get("/api/devices?user=alice", auth=ALICE)).json()] == ["quar1"]
    detail = (await client.get("/api/devices/alice/quar1", auth=ALICE)).json()
    assert detail["model"] == "iPhone15,2" and detail["history"][0]["to"] == "Quarantined"
    explain = (await client.post("/api/devices/alice/quar1/explain", auth=ALICE)).json()
    assert explain["known"] is True and explain["state"] == "Allowed" and explain["stored_state"] == "Quarantined"


async def test_allow_block_revoke_all_and_wipe_cancel(client, db):
    set_role(db, "alice", "org-admin")
    add_device(db, "bob", "b1")
    add_device(db, "bob", "b2", version="16.1")
    assert (await client.post("/api/devices/bob/b1/allow", auth=ALICE)).json() == {"user": "bob", "allowed": ["b1"], "blocked": []}
    assert (await client.post("/api/devices/bob/b2/allow", auth=ALICE)).json()["allowed"] == ["b1", "b2"]
    r = await client.post("/api/users/bob/revoke", auth=ALICE)
    assert r.status_code == 200 and r.json() == {"user": "bob", "revoked": ["b1", "b2"]}
    assert lists(db, "bob") == ([], [])
    r = await client.post("/api/users/bob/revoke", auth=ALICE, json={"device_id": None})
    assert r.json() == {"user": "bob", "revoked": []}
    r = await client.post("/api/devices/bob/b2/wipe", auth=ALICE, json={"account_only": True})
    assert r.json()["wipe"] == "AccountOnlyDeviceWipePending" and r.json()["wipe_account_only"] is True
    assert r.json()["wipe_cancellable"] is True
    r = await client.post("/api/devices/bob/b2/wipe", auth=ALICE, json={"cancel": True})
    assert r.json()["wipe"] == "DeviceOk"
    assert device_row(db, "b2").wipe_state == "none"


async def test_policy_detail_per_version(client, db):
    set_role(db, "alice", "viewer")
    doc = (await client.get("/api/policies/Default", auth=ALICE)).json()
    assert doc["version"] == "14.1" and doc["default"] is True and doc["document"].startswith("<?xml")
    assert "<AllowCamera>" in doc["document"]
    old = (await client.get("/api/policies/Default?version=12.0", auth=ALICE)).json()
    assert "<AllowCamera>" not in old["document"] and old["policy_key"] != doc["policy_key"]
    wap = (await client.get("/api/policies/Default?version=2.5", auth=ALICE)).json()
    assert wap["document"].startswith("<wap-provisioningdoc>")


async def test_outbound_is_listed(client, db):
    set_role(db, "alice", "viewer")
    with db.session() as s:
        s.add(OutboundMail(sender="MicrosoftExchange@easlab.test", recipients=["boss@elsewhere.example"],
                           subject="A new mobile device", mime=b"12345"))
    rows = (await client.get("/api/outbound", auth=ALICE)).json()
    assert len(rows) == 1 and rows[0]["recipients"] == ["boss@elsewhere.example"] and rows[0]["size"] == 5
    assert rows[0]["status"] == "queued" and "mime" not in rows[0]


async def test_api_changes_reach_the_push_hub_at_once(client, app, db, monkeypatch):
    seen = []
    monkeypatch.setattr(app.state.hub, "handle_event", seen.append)
    set_role(db, "alice", "org-admin")
    add_device(db, "bob", "b1")
    await client.post("/api/devices/bob/b1/block", auth=ALICE)
    await client.patch("/api/policies/Default", auth=ALICE, json={"settings": {"AllowCamera": False}})
    await asyncio.sleep(0)
    with db.session() as s:
        bob, alice = get_user(s, "bob").id, get_user(s, "alice").id
    assert seen[0] == {"event": "policy", "users": [bob]}
    assert seen[1]["event"] == "policy" and set(seen[1]["users"]) == {alice, bob}


# -- the OpenAPI document -----------------------------------------------------------------------
def _app_routes(app) -> set[tuple[str, str]]:
    """Every (path under /api, method) the whole app serves: all its routes walked, mounts
    included, so a router mounted beside /api (as /api/wait and /api/faults once were) counts."""
    found = set()

    def walk(routes, prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(route.routes, prefix + route.path)
            elif isinstance(route, Route) and (prefix + route.path).startswith("/api/"):
                path = re.sub(r"\{(\w+):\w+\}", r"{\1}", prefix + route.path)[len("/api"):]
                found.update((path, method.lower()) for method in route.methods - {"HEAD"})

    walk(app.routes, "")
    return found


async def test_openapi_document_matches_the_routes(client, app, db):
    r = await client.get("/api/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["openapi"].startswith("3.1")
    schemes = doc["components"]["securitySchemes"]
    assert schemes["basicAuth"] == {"type": "http", "scheme": "basic", "description": schemes["basicAuth"]["description"]}
    assert schemes["sessionCookie"]["in"] == "cookie" and schemes["sessionCookie"]["name"] == "easlab_session"
    documented = {(path, method) for path, methods in doc["paths"].items() for method in methods}
    assert documented == _app_routes(app)
    assert {("/faults", "post"), ("/devices/{user}/{device_id}/trace", "get"), ("/wait/mail", "get")} <= documented
    # Every operation: its path parameters declared, responses given, references resolvable.
    for path, methods in doc["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in methods.items():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (path, method)
            assert operation["responses"] and operation["operationId"]
            if path != "/openapi.json":
                assert "401" in operation["responses"] and "403" in operation["responses"], (path, method)
    ids = [op["operationId"] for methods in doc["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    text = json.dumps(doc)
    for name in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert name in doc["components"]["schemas"], name


LAB_TEMPLATE = "0b3c2a10-1111-4222-8333-444455556666"


async def test_every_documented_operation_answers(client, db):
    """Call each documented path and method for real: none is missing (404 'no such API path' or 405)."""
    set_role(db, "alice", "org-admin")
    _prepared(db)
    with db.session() as s:  # a message with an attachment, for the mailbox views
        mime = (b"Subject: hi\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
                b"Content-Type: text/plain\r\n\r\nbody\r\n--b\r\nContent-Type: application/pdf\r\n"
                b"Content-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--b--\r\n")
        item_id = store_message(s, folder_by_type(s, get_user(s, "alice"), 2), mime).server_id
    doc = (await client.get("/api/openapi.json")).json()
    bodies = {"RuleNew": {"characteristic": "DeviceOS", "query": "iOS 17", "access_level": "Allow"},
              "RulePatch": {"access_level": "Allow"}, "PolicyNew": {"name": "Another"},
              "PolicyAssign": {"policy": "Default"}, "FaultNew": {"kind": "delay", "user": "bob"},
              "TraceSwitch": {"enabled": True}, "DocumentPut": {"folder": True}, "RightsPatch": {"enabled": True},
              "RightsTemplateNew": {"template_id": LAB_TEMPLATE, "name": "Lab", "allow": ["reply"]}}
    # The waits' conditions: mail in alice's Inbox, dev16 Allowed; none holds a Ping, so that one times out.
    waits = {"mail": "user=alice", "device": "user=alice&device_id=dev16&state=allowed", "outbound": "",
             "ping": "user=alice&device_id=dev16"}
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            ids = {"server_id": "1" if "/folders/" in path else item_id, "index": "0",
                   "fault_id": str(add_fault_row(db, "bob")), "template_id": LAB_TEMPLATE}
            url = "/api" + path.format(user="alice", device_id="dev16", name="Default", **ids)
            body = {}
            if "requestBody" in operation:
                schema_name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
                body = bodies.get(schema_name, {})
            if path == "/rules/{name}":
                url = "/api/rules/Android%20(DeviceType)"
            if path == "/throttling/autoblock/{name}":
                url = "/api/throttling/autoblock/SyncCommands"
            if (method, path) == ("delete", "/policies/{name}"):  # the default policy cannot go
                url = "/api/policies/Spare"
            if path.startswith("/wait/"):
                url += f"?{waits[path.rsplit('/', 1)[1]]}&timeout=0"
            r = await client.request(method.upper(), url, auth=ALICE, json=body)
            expected = [int(code) for code in operation["responses"] if code.startswith("2") or code == "408"]
            if path.startswith("/clock"):  # on the real clock: the documented refusal, not 'no such API path'
                expected = [404] if "--test-clock" in r.text else []
            assert r.status_code in expected, (method, path, r.status_code, r.text)
            if method == "delete" and path.startswith("/devices") and not path.endswith("/trace"):
                add_device(db, "alice", "dev16", version="16.1")


def add_fault_row(db, user: str) -> int:
    from easlab.storage.faults import add_fault

    with db.session() as s:
        row = add_fault(s, "delay", now=datetime.now(timezone.utc), user=user)
        s.flush()
        return row.id


async def test_openapi_needs_no_credentials_and_lists_roles(client):
    doc = (await client.get("/api/openapi.json")).json()
    assert doc["paths"]["/openapi.json"]["get"]["security"] == []
    assert "device-approver" in doc["paths"]["/devices/{user}/{device_id}/allow"]["post"]["description"]
    assert "device-operator" not in doc["paths"]["/devices/{user}/{device_id}/allow"]["post"]["description"]


async def test_authenticate_outside_the_api_mount_answers_401_not_500(app, db):
    """Other modules reuse `authenticate` on routes without the session middleware."""
    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def probe(request):
        actor = await api.authenticate(request)
        return actor if not hasattr(actor, "name") else JSONResponse({"user": actor.name})

    bare = Starlette(routes=[Route("/probe", probe)])
    bare.state.db, bare.state.authenticator = app.state.db, app.state.authenticator
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=bare), base_url="http://testserver") as c:
        assert (await c.get("/probe")).status_code == 401
        assert (await c.get("/probe", auth=ALICE)).json() == {"user": "alice"}
