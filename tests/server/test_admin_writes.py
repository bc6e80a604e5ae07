"""Every administrative write goes through the Admin service (server/admin/): no front end (CLI,
web UI, API, the pytest plugin, the in-process helpers) calls the storage functions that write
users, directory fields, faults or traces itself; and the service's own methods for those writes
do them, as the caller's role allows."""
from __future__ import annotations

import ast
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlmodel import select

from easlab.server.admin import SHELL, Actor, Admin, Forbidden, NotFound
from easlab.server.clock import ManualClock
from easlab.storage.access import AccessError
from easlab.storage.directory import get_directory
from easlab.storage.faults import FaultError, TraceRecord, list_faults, record_trace, trace_entries, trace_setting
from easlab.storage.models import Folder, User
from easlab.storage.passwords import hash_password, verify_password
from easlab.storage.users import UserError, get_user

ROOT = Path(__file__).resolve().parents[2]
# The storage functions that write what the service owns; only server/admin/ (and storage/) may call them.
WRITES = {"add_user", "remove_user", "set_password", "set_directory", "add_fault", "remove_fault", "clear_faults", "set_trace",
          "clear_trace"}
SCANNED = ("server", "testing")
SERVICE = ROOT / "server" / "admin"
START = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


# -- the single path ------------------------------------------------------------------------------
def _storage_writes(path: Path) -> list[str]:
    """`module:line name` for each write function of easlab.storage the module imports or reaches
    through an imported storage module (`import easlab.storage.users as u; u.add_user`)."""
    tree = ast.parse(path.read_text(), str(path))
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("easlab.storage"):
            found += [f"{node.lineno} {a.name}" for a in node.names if a.name in WRITES]
            aliases |= {a.asname or a.name for a in node.names if a.name not in WRITES}  # `from easlab import storage`
        elif isinstance(node, ast.ImportFrom) and node.module == "easlab":
            aliases |= {a.asname or a.name for a in node.names if a.name == "storage"}
        elif isinstance(node, ast.Import):
            aliases |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("easlab.storage")}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in WRITES:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append(f"{node.lineno} {node.attr}")
    return found


def test_no_front_end_writes_to_storage_around_the_service():
    modules = [p for folder in SCANNED for p in sorted((ROOT / folder).rglob("*.py")) if SERVICE not in p.parents]
    assert any(p.match("server/cli/user.py") for p in modules) and any(p.match("testing/plugin/factories.py") for p in modules)
    offenders = [f"{p.relative_to(ROOT)}:{hit}" for p in modules for hit in _storage_writes(p)]
    assert offenders == []


def test_the_scan_sees_each_way_of_reaching_a_write(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from easlab.storage.users import add_user\n"
                      "import easlab.storage.faults\n"
                      "from easlab.storage import directory as d\n"
                      "def f(s):\n"
                      "    from easlab.storage.faults import get_fault, set_trace\n"
                      "    easlab.storage.faults.clear_trace(s, 'a', 'b')\n"
                      "    d.set_directory(s, 'a')\n"
                      "    s.add_user()\n")  # some other object's method of the same name is no storage write
    assert sorted(_storage_writes(sample)) == ["1 add_user", "5 set_trace", "6 clear_trace", "7 set_directory"]


# -- the service's methods ------------------------------------------------------------------------
@pytest.fixture
def admin(db):
    return Admin(db, lambda event: None, "easlab.test", clock=ManualClock(START))


def test_user_add_makes_the_mailbox_with_the_hash_it_is_given(db, admin):
    hashed = hash_password("secret")
    assert admin.user_add(SHELL, " Carol ", "secret", "", "viewer", hashed=hashed) == {
        "name": "carol", "display_name": "carol", "role": "viewer"}
    with db.session() as s:
        carol = get_user(s, "carol")
        assert carol.password_hash == hashed  # taken as given: no second argon2 run
        assert "Inbox" in {f.display_name for f in s.exec(select(Folder).where(Folder.user_id == carol.id))}
    with pytest.raises(UserError, match="^user carol exists$"):
        admin.user_add(SHELL, "carol", "other")
    with pytest.raises(AccessError, match="^role 'root': use org-admin"):
        admin.user_add(SHELL, "dave", "secret", role="root")
    assert admin.user_add(SHELL, "erin", "pw", "Erin E", "none")["role"] == ""


def test_user_passwd_and_directory_fields(db, admin):
    admin.user_add(SHELL, "carol", "secret", "Carol C")
    assert admin.user_passwd(SHELL, "Carol", "changed") == {"name": "carol"}
    with db.session() as s:
        assert verify_password("changed", get_user(s, "carol").password_hash)
    with pytest.raises(UserError, match="^no user zed$"):
        admin.user_passwd(SHELL, "zed", "x")
    done = admin.user_directory_set(SHELL, "carol", phone=" +1 555 ", title=None, picture=b"\xff\xd8jpeg")
    assert done == {"name": "carol", "changed": ["phone", "picture"]}
    with db.session() as s:
        row = get_directory(s, get_user(s, "carol"))
        assert (row.phone, row.title, row.picture) == ("+1 555", "", b"\xff\xd8jpeg")
    with pytest.raises(UserError, match="^no user zed$"):
        admin.user_directory_set(SHELL, "zed", phone="1")


def test_faults_on_the_service_clock(db, admin):
    view = admin.fault_add(SHELL, "throttle", user="Alice", command="Sync", count=2, seconds=60,
                           params={"retry_after": 5})
    assert (view["kind"], view["user"], view["command"], view["remaining"], view["state"]) == (
        "throttle", "alice", "Sync", 2, "active")
    assert view["expires_at"] == "2026-12-07T09:01:00+00:00"
    other = admin.fault_add(SHELL, "delay", user="bob", params={"seconds": 1})["id"]
    admin.fault_add(SHELL, "block", user="bob")
    with pytest.raises(FaultError, match="^kind 'nonsense'"):
        admin.fault_add(SHELL, "nonsense")
    admin.fault_remove(SHELL, other)
    with pytest.raises(NotFound, match="no fault"):
        admin.fault_remove(SHELL, other)
    assert admin.faults_clear(SHELL, "BOB") == 1
    with db.session() as s:
        assert [f["id"] for f in list_faults(s, START)] == [view["id"]]
    assert admin.faults_clear(SHELL) == 1


def test_trace_switch_and_clear(db, admin):
    assert admin.trace_set(SHELL, "Alice", "Dev1", True, max_entries=5) == {
        "user": "alice", "device_id": "Dev1", "enabled": True, "max_entries": 5, "max_bytes": 5 * 1024 * 1024,
        "dropped": 0}
    record = TraceRecord(at=START, duration_ms=1.0, method="POST", path="/x", command="Sync", request_headers=[],
                         request_body=b"r", status=200, response_headers=[], response_body=b"a")
    with db.session() as s:
        record_trace(s, "alice", "dev1", record)
        record_trace(s, "alice", "dev1", record)
    assert admin.trace_set(SHELL, "alice", "dev1", False)["enabled"] is False
    with db.session() as s:
        assert trace_setting(s, "alice", "dev1").changed_at == START
    assert admin.trace_clear(SHELL, "alice", "dev1") == 2
    with db.session() as s:
        assert trace_entries(s, "alice", "dev1") == []
    with pytest.raises(FaultError, match="^max entries must be"):
        admin.trace_set(SHELL, "alice", "dev1", True, max_entries=0)


WRITES_OF_THE_SERVICE = {
    "user_add": lambda a, actor: a.user_add(actor, "carol", "secret"),
    "user_passwd": lambda a, actor: a.user_passwd(actor, "alice", "changed"),
    "user_directory_set": lambda a, actor: a.user_directory_set(actor, "alice", phone="1"),
    "fault_add": lambda a, actor: a.fault_add(actor, "throttle"),
    "fault_remove": lambda a, actor: a.fault_remove(actor, 1),
    "faults_clear": lambda a, actor: a.faults_clear(actor),
    "trace_set": lambda a, actor: a.trace_set(actor, "alice", "dev1", True),
    "trace_clear": lambda a, actor: a.trace_clear(actor, "alice", "dev1"),
}


@pytest.mark.parametrize("role", ["viewer", "device-approver", "device-operator", ""])
@pytest.mark.parametrize("operation", sorted(WRITES_OF_THE_SERVICE))
def test_only_configure_may_write(db, admin, role, operation):
    admin.user_add(SHELL, "alice", "secret")
    fault = admin.fault_add(SHELL, "delay", params={"seconds": 1})
    assert fault["id"] == 1
    admin.trace_set(SHELL, "alice", "dev1", False)
    with db.session() as s:
        before = [u.model_dump() for u in s.exec(select(User))], list_faults(s, START)
        setting = trace_setting(s, "alice", "dev1").model_dump()
    with pytest.raises(Forbidden, match=f"^vera \\({role or 'no role'}\\) may not configure$"):
        WRITES_OF_THE_SERVICE[operation](admin, Actor("vera", role))
    with db.session() as s:
        assert ([u.model_dump() for u in s.exec(select(User))], list_faults(s, START)) == before
        assert trace_setting(s, "alice", "dev1").model_dump() == setting
        assert get_user(s, "carol") is None and get_directory(s, get_user(s, "alice")) is None
    WRITES_OF_THE_SERVICE[operation](admin, Actor("olga", "org-admin"))  # the role that may, may
