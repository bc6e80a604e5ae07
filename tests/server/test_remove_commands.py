"""`easlab user remove` and `easlab policy remove` (issue 15 §4), through the admin service the
web UI and the API share: a removed user takes its mail and partnerships with it in one
transaction; a policy is refused while anyone has it."""
import pytest
from click.testing import CliRunner
from sqlmodel import SQLModel, func, select

from easlab.server.admin import SHELL, Admin
from easlab.server.cli import main
from easlab.storage.models import Device, Folder, Item, User
from easlab.storage.users import add_user, get_user
from tests.server.test_device_removal import sent_one_mail

pytestmark = pytest.mark.anyio


def counts(db) -> dict[str, int]:
    with db.session() as s:
        return {name: s.exec(select(func.count()).select_from(table)).one()
                for name, table in SQLModel.metadata.tables.items()}


def mailbox_of(db, name: str) -> tuple[int, int, int]:
    """(folders, items, devices) of user `name`."""
    with db.session() as s:
        uid = get_user(s, name).id
        folders = s.exec(select(func.count()).select_from(Folder).where(Folder.user_id == uid)).one()
        items = s.exec(select(func.count()).select_from(Item).join(Folder, Item.folder_id == Folder.id)
                       .where(Folder.user_id == uid)).one()
        devices = s.exec(select(func.count()).select_from(Device).where(Device.user_id == uid)).one()
        return folders, items, devices


async def test_user_remove_takes_mail_devices_and_traces_and_leaves_others(client, db):
    await sent_one_mail(client, db)  # alice's dev1: sync states, a sent ClientId, a Sent Items copy
    admin = Admin(db, lambda event: None)
    admin.trace_set(SHELL, "alice", "dev1", True)
    admin.user_directory_set(SHELL, "alice", title="Engineer")
    bob_before = mailbox_of(db, "bob")
    alice = mailbox_of(db, "alice")
    assert alice[1] >= 1 and alice[2] == 1 and bob_before[1] >= 1  # bob received the message
    before = counts(db)
    gone = admin.user_remove(SHELL, "Alice")
    assert gone == {"name": "alice", "devices": ["dev1"], "items": alice[1]}
    after = counts(db)
    assert after["user"] == before["user"] - 1 and after["device"] == before["device"] - 1
    assert after["folder"] == before["folder"] - alice[0] and after["item"] == before["item"] - alice[1]
    for table in ("syncstate", "sentclientid", "tracesetting", "userdirectory", "deviceaccesschange"):
        assert after[table] == 0, table
    assert mailbox_of(db, "bob") == bob_before
    # A new alice starts empty: no mail of the old one, no partnership.
    with db.session() as s:
        add_user(s, "alice", "new", "Alice Two")
    assert mailbox_of(db, "alice")[1:] == (0, 0)


async def test_a_removed_users_credentials_stop_working(client, db):
    from tests.server.eas_helpers import Raw

    await sent_one_mail(client, db)
    Admin(db, lambda event: None).user_remove(SHELL, "alice")
    r = await Raw(client, version="14.1").post("FolderSync", None)
    assert r.status_code == 401


def test_cli_user_remove_and_unknown_user(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()
    assert runner.invoke(main, ["init", "--db", db]).exit_code == 0
    assert runner.invoke(main, ["user", "add", "carol", "--password", "pw", "--db", db]).exit_code == 0
    result = runner.invoke(main, ["user", "remove", "carol", "--db", db])
    assert (result.exit_code, result.output) == (0, "removed carol: 0 items, 0 device partnerships\n")
    result = runner.invoke(main, ["user", "remove", "carol", "--db", db])
    assert (result.exit_code, result.output) == (1, "Error: no user carol\n")
    from easlab.storage import Database

    with Database(db).session() as s:
        assert s.exec(select(User)).all() == []


def test_cli_policy_remove_refused_while_assigned(tmp_path):
    db = f"sqlite:///{tmp_path / 'c.db'}"
    runner = CliRunner()

    def run(*args):
        return runner.invoke(main, [*args, "--db", db])

    assert run("init").exit_code == 0
    for name in ("dave", "erin"):
        assert run("user", "add", name, "--password", "pw").exit_code == 0
    assert run("policy", "add", "Kiosk").exit_code == 0
    assert run("policy", "assign", "erin", "Kiosk").exit_code == 0
    assert run("policy", "assign", "dave", "Kiosk").exit_code == 0
    result = run("policy", "remove", "Kiosk")
    assert (result.exit_code, result.output) == (
        1, "Error: policy 'Kiosk' is assigned to dave, erin: assign them another first (easlab policy assign USER OTHER)\n")
    result = run("policy", "remove", "Default")
    assert (result.exit_code, result.output) == (
        1, "Error: policy 'Default' is the default: make another the default first (easlab policy set OTHER --default)\n")
    assert run("policy", "remove", "Nope").output == "Error: no policy 'Nope'\n"
    assert run("policy", "assign", "dave", "Default").exit_code == 0
    assert run("policy", "assign", "erin", "Default").exit_code == 0
    assert run("policy", "remove", "Kiosk").output == "removed policy Kiosk\n"
    assert "Kiosk" not in run("policy", "list").output


async def test_api_policy_delete_refused_while_assigned(client, db):
    from tests.server.test_web import set_role

    set_role(db, "alice", "org-admin")
    admin = Admin(db, lambda event: None)
    admin.policy_add(SHELL, "Kiosk", {})
    admin.policy_assign(SHELL, "bob", "Kiosk")
    r = await client.delete("/api/policies/Kiosk", auth=("alice", "secret"))
    assert r.status_code == 400 and r.json()["error"].startswith("policy 'Kiosk' is assigned to bob:")
    admin.policy_assign(SHELL, "bob", "Default")
    r = await client.delete("/api/policies/Kiosk", auth=("alice", "secret"))
    assert r.status_code == 204
    assert (await client.delete("/api/policies/Kiosk", auth=("alice", "secret"))).status_code == 404


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    result = CliRunner().invoke(main, ["--version"])
    assert (result.exit_code, result.output) == (0, f"easlab {version('easlab')}\n")
