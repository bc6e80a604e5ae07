"""Back-off after failed logons, bounded tables, and a sign-out that ends the session server-side
(issue 13 point 5)."""
import httpx
import pytest

from easlab.server.app import create_app
from easlab.server.auth import Authenticator
from easlab.server.lockout import Lockout, LockoutPolicy
from easlab.storage.users import add_user
from tests.conftest import basic
from tests.server.test_web import csrf_from, login, set_role

pytestmark = pytest.mark.anyio
EAS = "/Microsoft-Server-ActiveSync?Cmd=FolderSync&User=alice&DeviceId=dev1&DeviceType=iPhone"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def users(db):
    with db.session() as session:
        add_user(session, "alice", "right")
        add_user(session, "bob", "right")


def test_an_account_is_locked_out_after_five_wrong_passwords_then_released(db, users):
    clock = Clock()
    auth = Authenticator(db, "easlab.test", lockout=Lockout(LockoutPolicy(duration=600), clock))
    for n in range(5):
        assert auth.authenticate(basic("alice", f"wrong{n}"), "10.0.0.1") is None
    assert auth.authenticate(basic("alice", "right"), "10.0.0.2") is None  # locked: even the right password
    assert auth.authenticate(basic("bob", "right"), "10.0.0.1").name == "bob"  # another account is not
    clock.now += 601
    assert auth.authenticate(basic("alice", "right"), "10.0.0.2").name == "alice"


def test_failures_outside_the_window_do_not_add_up_and_a_success_clears_them(db, users):
    clock = Clock()
    auth = Authenticator(db, "easlab.test", lockout=Lockout(LockoutPolicy(window=600), clock))
    for n in range(4):
        assert auth.authenticate(basic("alice", f"wrong{n}")) is None
    assert auth.authenticate(basic("alice", "right")).name == "alice"  # clears the count
    for n in range(4):
        assert auth.authenticate(basic("alice", f"again{n}")) is None
    clock.now += 601
    assert auth.authenticate(basic("alice", "late")) is None  # a new window: 1 failure
    assert auth.authenticate(basic("alice", "right")).name == "alice"


def test_an_address_that_keeps_failing_is_refused_for_every_name(db, users):
    auth = Authenticator(db, "easlab.test", lockout=Lockout(LockoutPolicy(threshold=100, address_threshold=20), Clock()))
    for n in range(20):
        assert auth.authenticate(basic(f"guess{n}", "x"), "192.0.2.9") is None
    assert auth.authenticate(basic("bob", "right"), "192.0.2.9") is None
    assert auth.authenticate(basic("bob", "right"), "192.0.2.10").name == "bob"
    assert auth.check("bob", "right", "192.0.2.9") is None  # the admin center's form too


def test_the_lockout_tables_stay_bounded():
    lockout = Lockout(LockoutPolicy(max_entries=100), Clock())
    for n in range(1000):
        lockout.failed(f"name{n}", f"10.0.{n // 256}.{n % 256}")
    assert lockout.sizes() == (100, 100)
    assert lockout.refused("name999", None) is False  # one failure each: nobody locked
    for _ in range(5):
        lockout.failed("name999", None)
    assert lockout.refused("name999", None) is True


async def test_eas_answers_401_to_a_locked_out_account(client):
    for n in range(5):
        assert (await client.post(EAS, headers={"Authorization": basic("alice", f"wrong{n}")})).status_code == 401
    r = await client.post(EAS, headers={"Authorization": basic("alice", "secret"), "MS-ASProtocolVersion": "14.1"})
    assert r.status_code == 401


async def test_the_lab_can_switch_the_lockout_off(settings, db):
    with db.session() as session:
        add_user(session, "alice", "secret")
    settings.auth_lockout = False
    app = create_app(settings, db)
    assert app.state.authenticator.lockout is None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        for n in range(6):
            assert (await client.post(EAS, headers={"Authorization": basic("alice", f"wrong{n}")})).status_code == 401
        r = await client.options(EAS, headers={"Authorization": basic("alice", "secret")})
        assert r.status_code == 200


def test_serve_has_a_switch_for_the_lockout():
    from click.testing import CliRunner

    from easlab.server.cli import main

    out = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "--no-auth-lockout" in out


async def test_a_session_cookie_copied_before_logout_stops_working(client, db):
    set_role(db, "alice", "org-admin")
    assert (await login(client)).status_code == 303
    copied = dict(client.cookies)
    page = await client.get("/ecp/")
    assert page.status_code == 200
    r = await client.post("/ecp/logout", data={"csrf": csrf_from(page.text)})
    assert r.status_code == 303
    client.cookies.clear()
    client.cookies.update(copied)
    r = await client.get("/ecp/")
    assert r.status_code == 303 and r.headers["location"].startswith("/ecp/login")
    r = await client.get("/api/devices")
    assert r.status_code == 401
    assert (await login(client)).status_code == 303  # signing in again works
    assert (await client.get("/ecp/")).status_code == 200
