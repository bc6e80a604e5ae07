"""The test tools under /api (faults, traces, waits) answer bad input like the rest of /api: one
error helper, one body validator, one number rule (server/api/validate.py)."""
from __future__ import annotations

import pytest

from easlab.storage.mailbox import ensure_mailbox, folder_by_name, store_message
from easlab.storage.users import get_user
from tests.server.test_web import add_device, set_role

pytestmark = pytest.mark.anyio
ALICE = ("alice", "secret")
TRACE = "/api/devices/alice/dev1/trace"
KNOWN_FAULT_FIELDS = "known: kind, user, device_id, command, count, seconds, params"


@pytest.fixture
def admin(db):
    set_role(db, "alice", "org-admin")


@pytest.mark.parametrize("method, path, body, message", [
    # The same body validator as POST /api/rules and PATCH /api/org ...
    ("POST", "/api/faults", {"kind": "delay", "count": "3"}, "count must be a whole number or null"),
    ("POST", "/api/faults", {"kind": "delay", "seconds": True}, "seconds must be a number or null"),
    ("POST", "/api/faults", {"kind": "delay", "bogus": 1}, f"unknown field bogus; {KNOWN_FAULT_FIELDS}"),
    ("POST", "/api/faults", {"user": "bob"}, "kind is required"),
    ("POST", TRACE, {"enabled": "yes"}, "enabled must be true or false"),
    ("POST", TRACE, {}, "enabled is required"),
    ("POST", TRACE + "/on", {"max_entries": 1.5}, "max_entries must be a whole number or null"),
    ("POST", TRACE + "/off", {"enabled": True}, "unknown field enabled; known: max_entries, max_bytes"),
    ("POST", "/api/rules", {"characteristic": 1, "query": "x", "access_level": "Allow"},
     "characteristic must be a string"),
    # ... and the store's own checks (storage/faults.py) come back in the same shape.
    ("POST", "/api/faults", {"kind": "nonsense"}, None),
])
async def test_bodies_are_refused_in_one_shape(client, db, admin, method, path, body, message):
    r = await client.request(method, path, auth=ALICE, json=body)
    assert r.status_code == 400
    assert list(r.json()) == ["error"]
    if message is not None:
        assert r.json() == {"error": message}


@pytest.mark.parametrize("path", ["/api/faults", TRACE, "/api/org"])
async def test_garbage_json_is_the_same_answer_everywhere(client, db, admin, path):
    method = "PATCH" if path == "/api/org" else "POST"
    assert (await client.request(method, path, auth=ALICE, content=b"{nope")).json() == {
        "error": "the body is not valid JSON"}
    assert (await client.request(method, path, auth=ALICE, content=b"[1]")).json() == {
        "error": "the body must be a JSON object"}


@pytest.mark.parametrize("query, message", [
    ("", "user is required"),
    ("user=alice&timeout=601", "timeout must be a number of seconds, 0-600"),
    ("user=alice&timeout=1e3", "timeout must be a number of seconds, 0-600"),
    ("user=alice&after=-1", f"after must be a whole number, 0-{2**63 - 1}"),
    ("user=alice&after=%C2%B2", f"after must be a whole number, 0-{2**63 - 1}"),  # '²' is isdigit(), not int()
])
async def test_wait_parameters_are_refused_in_one_shape(client, db, admin, query, message):
    r = await client.get(f"/api/wait/mail?{query}", auth=ALICE)
    assert (r.status_code, r.json()) == (400, {"error": message})


async def test_query_numbers_that_only_look_like_digits_are_400_not_500(client, db, admin):
    """'²' passes str.isdigit() but not int(): the trace's ?last= and a fault id used to raise."""
    add_device(db, "alice", "dev1")
    r = await client.get(TRACE + "?last=%C2%B2", auth=ALICE)
    assert (r.status_code, r.json()) == (400, {"error": "last must be a whole number, 1-10000"})
    r = await client.get("/api/faults/%C2%B2", auth=ALICE)
    assert (r.status_code, r.json()) == (404, {"error": "no fault ²"})
    r = await client.get("/api/users/alice/folders/1/items?limit=%C2%B2", auth=ALICE)
    assert (r.status_code, r.json()) == (400, {"error": "limit must be a whole number, 1-500"})


async def test_the_tools_authenticate_and_authorise_like_the_rest(client, db):
    r = await client.get("/api/wait/ping?user=alice&device_id=dev1")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith('Basic realm="easlab admin"')
    assert r.json() == {"error": "authentication required: HTTP Basic, or the admin center's session cookie"}
    r = await client.get("/api/wait/ping?user=alice&device_id=dev1", auth=ALICE)
    assert (r.status_code, r.json()) == (403, {"error": "alice (no role) may not view"})
    set_role(db, "alice", "viewer")
    r = await client.post("/api/faults", auth=ALICE, json={"kind": "delay"})
    assert (r.status_code, r.json()) == (403, {"error": "alice (viewer) may not configure"})
    r = await client.get("/api/wait/nothing", auth=ALICE)
    assert (r.status_code, r.json()) == (404, {"error": "no such API path"})


async def test_a_wait_answers_at_once_or_times_out_in_the_error_shape(client, db, admin):
    with db.session() as s:
        alice = get_user(s, "alice")
        ensure_mailbox(s, alice)
        store_message(s, folder_by_name(s, alice, "inbox"), b"Subject: Invoice 7\r\n\r\nbody\r\n")
    r = await client.get("/api/wait/mail?user=alice&folder=INBOX&subject=Invoice&timeout=0", auth=ALICE)
    assert r.status_code == 200
    assert (r.json()["subject"], r.json()["folder"], "mime" in r.json()) == ("Invoice 7", "Inbox", False)
    r = await client.get("/api/wait/mail?user=alice&subject=Receipt&timeout=0", auth=ALICE)
    assert r.status_code == 408
    assert r.json() == {"error": "timeout", "detail": r.json()["detail"], "timeout": 0.0,
                        "condition": {"user": "alice", "folder": "Inbox", "subject": "Receipt", "after": 0}}
    r = await client.get("/api/wait/mail?user=alice&folder=Nowhere&timeout=0", auth=ALICE)
    assert (r.status_code, r.json()) == (404, {"error": "alice has no folder 'Nowhere'"})  # its quote was cut off
    r = await client.get("/api/wait/mail?user=carol&timeout=0", auth=ALICE)
    assert (r.status_code, r.json()) == (404, {"error": "no user carol"})


async def test_not_found_keeps_the_whole_message(client, db, admin):
    """404s used to lose a closing quote: "no policy 'Nope" (the message was stripped of quotes)."""
    r = await client.get("/api/policies/Nope", auth=ALICE)
    assert (r.status_code, r.json()) == (404, {"error": "no policy 'Nope'"})
    r = await client.delete("/api/rules/Nope", auth=ALICE)
    assert (r.status_code, r.json()) == (404, {"error": "no rule named 'Nope'"})


async def test_fault_created_has_its_location(client, db, admin):
    r = await client.post("/api/faults", auth=ALICE, json={"kind": "delay", "user": "bob", "count": 2})
    assert r.status_code == 201 and r.headers["location"] == f"/api/faults/{r.json()['id']}"
    assert (await client.get(r.headers["location"], auth=ALICE)).json()["remaining"] == 2


def test_folder_by_name_is_any_case_and_skips_deleted_folders(db, app):
    with db.session() as s:
        alice = get_user(s, "alice")
        ensure_mailbox(s, alice)
        assert folder_by_name(s, alice, "junk e-mail").display_name == "Junk E-Mail"
        folder_by_name(s, alice, "Notes").deleted = True
        s.flush()
        assert folder_by_name(s, alice, "notes") is None
        bob = get_user(s, "bob")
        assert folder_by_name(s, bob, "Inbox").user_id == bob.id
