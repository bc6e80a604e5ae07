"""Fault injection: every kind with a count and with a duration, matching, CLI, API, and the
dropped connection and SMTP refusals against a real `easlab serve` process.

The in-process tests use create_app, whose EAS route carries the faults (server/traces.py
`Instrument`); the process tests start `easlab serve`, whose SMTP listener is handed the app's
Faults (server/runner.py).
"""
from __future__ import annotations

import asyncio
import base64
import json
import smtplib
import subprocess
import sys
from contextlib import contextmanager
from email.message import EmailMessage

import httpx
import pytest
from click.testing import CliRunner

from easlab.eas.wbxml import E, decode
from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.server.cli.testing import fault as fault_cli
from easlab.testing.aio import Device
from easlab.server.faults import Faults, smtp_fault
from easlab.storage.faults import FaultError, add_fault, list_faults
from easlab.storage.users import add_user
from tests.conftest import until_timer
from tests.server.eas_helpers import Raw, message, provision
from tests.server.test_cli import initialised

pytestmark = pytest.mark.anyio
FS0 = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def lab(settings, db, clock):
    """The app with faults and traces wired in, on a ManualClock."""
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
        add_user(session, "bob", "hunter2", "Bob Example")
        admin = add_user(session, "root", "rootpw", "Admin")
        admin.role = "org-admin"
        viewer = add_user(session, "watcher", "watchpw", "Viewer")
        viewer.role = "viewer"
        session.add(admin)
        session.add(viewer)
    app = create_app(settings, db, clock=clock)
    return app


@pytest.fixture
async def http(lab):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=lab), base_url="http://testserver") as c:
        yield c


def add(db, clock, kind, **kw):
    with db.session() as session:
        return add_fault(session, kind, now=clock.now(), **kw).id


def faults(db, clock):
    with db.session() as session:
        return {f["id"]: f for f in list_faults(session, clock.now())}


async def ready(http, **kw):
    dev = Raw(http, **kw)
    await provision(dev)
    return dev


# -- each kind, with a count ---------------------------------------------------------------------------
async def test_throttle_with_a_count(http, db, clock):
    dev = await ready(http)
    fid = add(db, clock, "throttle", user="alice", count=2, params={"retry_after": 30, "reason": "CommandFrequency"})
    for _ in range(2):
        r = await dev.post("FolderSync", FS0)
        assert r.status_code == 503 and r.content == b""
        assert r.headers["retry-after"] == "30" and r.headers["x-ms-asthrottle"] == "CommandFrequency"
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    shown = faults(db, clock)[fid]
    assert shown["hits"] == 2 and shown["remaining"] == 0 and shown["state"] == "spent"


async def test_reprovision_is_449_for_12_1_and_status_142_for_14(http, db, clock):
    new = await ready(http, device="new14", version="14.1")
    old = await ready(http, device="old121", version="12.1")
    add(db, clock, "reprovision", device_id="new14", count=1)
    add(db, clock, "reprovision", device_id="old121", count=1)
    r = await new.post("FolderSync", FS0)
    assert r.status_code == 200 and decode(r.content) == E("FolderHierarchy:FolderSync", E("FolderHierarchy:Status", 142))
    assert (await old.post("FolderSync", FS0)).status_code == 449
    assert (await new.post("FolderSync", FS0)).status_code == 200  # the count is spent
    assert (await old.post("FolderSync", FS0)).status_code == 200


async def test_reprovision_makes_the_simulated_device_provision_again(lab, db, clock):
    async with Device(lab, "alice", "secret", device_id="sim1") as dev:
        await dev.provision()
        add(db, clock, "reprovision", user="alice", command="FolderSync", count=1, params={"status": 144})
        first = await dev.folder_sync()
        assert first.needs_provisioning and first.status == 144
        assert (await dev.provision()).ok
        assert (await dev.folder_sync()).ok


async def test_unauthorized_only_for_the_named_device(http, db, clock):
    target, other = await ready(http, device="victim"), await ready(http, device="bystander")
    fid = add(db, clock, "unauthorized", device_id="VICTIM", count=1, params={"realm": "lab"})
    r = await target.post("FolderSync", FS0)
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'Basic realm="lab"'
    assert (await other.post("FolderSync", FS0)).status_code == 200
    assert (await target.post("FolderSync", FS0)).status_code == 200
    assert faults(db, clock)[fid]["hits"] == 1


async def test_block_answers_like_a_blocked_device(http, db, clock):
    new = await ready(http, device="b14", version="14.1")
    old = await ready(http, device="b121", version="12.1")
    add(db, clock, "block", user="alice", count=2, params={"reason": "DeviceRule"})
    r = await new.post("FolderSync", FS0)
    assert r.status_code == 200 and r.headers["x-ms-asthrottle"] == "DeviceRule"
    assert decode(r.content).text("FolderHierarchy:Status") == "129"
    r = await old.post("FolderSync", FS0)
    assert r.status_code == 403 and r.headers["x-ms-asthrottle"] == "DeviceRule"
    assert (await new.post("FolderSync", FS0)).status_code == 200


async def test_block_with_a_tarpit_and_delay_wait_on_the_server_clock(http, db, clock):
    dev = await ready(http)
    add(db, clock, "block", user="alice", count=1, params={"seconds": 20})
    held = asyncio.create_task(dev.post("FolderSync", FS0))
    await until_timer(clock)
    assert not held.done()
    clock.advance(20)
    assert (await asyncio.wait_for(held, 5)).status_code == 200  # 129 in the body after the tarpit

    add(db, clock, "delay", user="alice", command="FolderSync", count=1, params={"seconds": 90})
    held = asyncio.create_task(dev.post("FolderSync", FS0))
    await until_timer(clock)
    assert not held.done()
    clock.advance(89)
    assert clock.pending == 1 and not held.done()  # the delay's timer has not fired
    clock.advance(1)
    r = await asyncio.wait_for(held, 5)
    assert r.status_code == 200 and decode(r.content).text("FolderHierarchy:Status") == "1"


async def test_drop_cuts_the_answer_after_the_server_did_the_work(lab, http, db, clock):
    dev = await ready(http)
    await dev.folder_sync()
    key = (await dev.sync("0")).find("AirSync:Collections").find("AirSync:Collection").text("AirSync:SyncKey")
    await lab.state.store.deliver(message(subject="cut"), ["alice@easlab.test"])
    add(db, clock, "drop", user="alice", command="Sync", count=1, params={"bytes": 10})
    # In-process, httpx's ASGI transport reports an answer that never completed as an error; over
    # a socket the client sees the connection close (test_drop_over_a_real_socket).
    with pytest.raises(Exception):
        await dev.sync(key, "1", E("AirSync:GetChanges"))
    # The server did the work: the same key again gets the same answer (resend of a lost reply).
    again = await dev.sync(key, "1", E("AirSync:GetChanges"))
    assert [el.value for el in again.iter() if el.tag == "Email:Subject"] == ["cut"]


# -- duration ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,params,status", [
    ("throttle", {}, 503), ("unauthorized", {}, 401), ("block", {}, 200), ("reprovision", {}, 200),
])
async def test_each_kind_for_a_duration(http, db, clock, kind, params, status):
    dev = await ready(http, device="dur" + kind[:4])
    fid = add(db, clock, kind, user="alice", seconds=60, params=params)
    for _ in range(3):
        r = await dev.post("FolderSync", FS0)
        assert r.status_code == status
        if status == 200:
            assert decode(r.content).text("FolderHierarchy:Status") in ("129", "142")
    clock.advance(59)
    assert (await dev.post("FolderSync", FS0)).status_code == status
    clock.advance(1)
    r = await dev.post("FolderSync", FS0)
    assert r.status_code == 200 and decode(r.content).text("FolderHierarchy:Status") == "1"
    shown = faults(db, clock)[fid]
    assert shown["state"] == "expired" and shown["hits"] == 4 and shown["remaining"] is None


async def test_delay_and_drop_for_a_duration(lab, http, db, clock):
    dev = await ready(http)
    add(db, clock, "delay", user="alice", seconds=30, params={"seconds": 5})
    held = asyncio.create_task(dev.post("FolderSync", FS0))
    await until_timer(clock)
    assert not held.done()
    clock.advance(5)
    assert (await asyncio.wait_for(held, 5)).status_code == 200
    clock.advance(30)  # past the fault's end: no more delay
    assert (await asyncio.wait_for(dev.post("FolderSync", FS0), 5)).status_code == 200

    add(db, clock, "drop", user="alice", command="FolderSync", seconds=10)
    with pytest.raises(Exception):
        await dev.post("FolderSync", FS0)
    clock.advance(10)
    assert (await dev.post("FolderSync", FS0)).status_code == 200


# -- matching ------------------------------------------------------------------------------------------
async def test_matching_by_user_device_and_command(http, db, clock):
    alice = await ready(http, device="a1")
    bob = await ready(http, user="bob", password="hunter2", device="b1")
    add(db, clock, "throttle", user="bob", command="Sync")
    assert (await alice.post("FolderSync", FS0)).status_code == 200
    assert (await bob.post("FolderSync", FS0)).status_code == 200  # not a Sync
    assert (await bob.post("Sync", E("AirSync:Sync"))).status_code == 503
    assert (await alice.post("Sync", E("AirSync:Sync"))).status_code != 503


async def test_a_request_with_wrong_credentials_gets_no_fault(http, db, clock):
    dev = await ready(http)
    fid = add(db, clock, "throttle", user="alice", count=1)
    dev.password = "wrong"
    assert (await dev.post("FolderSync", FS0)).status_code == 401
    assert faults(db, clock)[fid]["hits"] == 0
    dev.password = "secret"
    assert (await dev.post("FolderSync", FS0)).status_code == 503


async def test_the_first_fault_added_wins_and_each_counts_down_alone(http, db, clock):
    dev = await ready(http)
    first = add(db, clock, "unauthorized", user="alice", count=1)
    second = add(db, clock, "throttle", user="alice", count=1)
    assert (await dev.post("FolderSync", FS0)).status_code == 401
    assert (await dev.post("FolderSync", FS0)).status_code == 503
    assert (await dev.post("FolderSync", FS0)).status_code == 200
    shown = faults(db, clock)
    assert shown[first]["hits"] == shown[second]["hits"] == 1


async def test_concurrent_requests_never_exceed_the_count(http, db, clock):
    devices = [await ready(http, device=f"c{n}") for n in range(6)]
    add(db, clock, "throttle", user="alice", count=3)
    answers = await asyncio.gather(*(d.post("FolderSync", FS0) for d in devices))
    assert sorted(r.status_code for r in answers) == [200, 200, 200, 503, 503, 503]


def test_bad_faults_are_refused(db, clock):
    with db.session() as session:
        for kind, kw in [("nonsense", {}), ("throttle", {"count": 0}), ("throttle", {"seconds": -1}),
                         ("smtp", {"user": "alice"}), ("smtp", {"user": "alice", "params": {"status": 250}}),
                         ("smtp", {"params": {"status": 451}}), ("smtp", {"user": "a", "device_id": "d", "params": {"status": 451}}),
                         ("reprovision", {"params": {"status": 150}}), ("delay", {"params": {"bytes": 3}}),
                         ("throttle", {"params": {"reason": "two\nlines"}})]:
            with pytest.raises(FaultError):
                add_fault(session, kind, now=clock.now(), **kw)


# -- SMTP ----------------------------------------------------------------------------------------------
async def test_smtp_fault_replies(lab, db, clock):
    store, faults = lab.state.store, lab.state.faults  # the Faults create_app hands the SMTP listener
    add(db, clock, "smtp", user="alice", count=1, params={"status": 452, "message": "4.2.2 Mailbox full"})
    add(db, clock, "smtp", user="bob", seconds=60, params={"status": 554, "stage": "data"})
    assert await smtp_fault(store, "alice@easlab.test", "rcpt", faults) == "452 4.2.2 Mailbox full"
    assert await smtp_fault(store, "alice@easlab.test", "rcpt", faults) is None
    assert await smtp_fault(store, "bob@easlab.test", "rcpt", faults) is None  # a DATA fault
    assert (await smtp_fault(store, ["alice@easlab.test", "bob@easlab.test"], "data", faults)).startswith("554 5.7.1")
    assert await smtp_fault(store, "someone@elsewhere.example", "rcpt", faults) is None
    clock.advance(60)
    assert await smtp_fault(store, ["bob@easlab.test"], "data", faults) is None
    assert Faults(db, clock).match("bob", None, None) is None  # SMTP faults never answer EAS


# -- CLI -----------------------------------------------------------------------------------------------
def run_cli(*args):
    return CliRunner().invoke(fault_cli, list(args), catch_exceptions=False)


def test_cli_add_list_remove_clear(tmp_path):
    db = initialised(tmp_path / 'cli.db')
    out = run_cli("add", "throttle", "--user", "alice", "--count", "3", "--retry-after", "120", "--message", "OutOfBudgets",
                  "--db", db)
    assert out.exit_code == 0 and out.output.startswith("fault 1: throttle (status=503, retry_after=120")
    out = run_cli("add", "smtp", "--user", "bob", "--status", "451", "--stage", "data", "--for", "300", "--json", "--db", db)
    added = json.loads(out.output)
    assert added["params"] == {"status": 451, "message": "4.3.0 Temporary failure injected by easlab", "stage": "data"}
    assert added["expires_at"] and added["remaining"] is None
    assert run_cli("add", "drop", "--command", "Ping", "--bytes", "5", "--db", db).exit_code == 0
    rows = json.loads(run_cli("list", "--json", "--db", db).output)
    assert [(r["id"], r["kind"], r["state"]) for r in rows] == [(1, "throttle", "active"), (2, "smtp", "active"),
                                                               (3, "drop", "active")]
    table = run_cli("list", "--db", db).output
    assert "retry_after=120" in table and "Ping" in table
    assert run_cli("remove", "2", "--db", db).output.strip() == "fault 2 removed"
    missing = run_cli("remove", "2", "--db", db)
    assert missing.exit_code != 0 and "no fault 2" in missing.output
    assert run_cli("clear", "--db", db).output.strip() == "2 faults removed"
    assert run_cli("list", "--db", db).output.strip() == "(none)"


def test_cli_refuses_options_that_do_not_fit_the_kind(tmp_path):
    db = initialised(tmp_path / 'cli.db')
    wrong = run_cli("add", "delay", "--retry-after", "5", "--db", db)
    assert wrong.exit_code == 2 and "--retry-after does not apply to a delay fault" in wrong.output
    bad = run_cli("add", "smtp", "--user", "bob", "--db", db)
    assert bad.exit_code == 1 and "needs status" in bad.output
    assert run_cli("add", "reprovision", "--status", "99", "--db", db).exit_code == 1


# -- API -----------------------------------------------------------------------------------------------
def auth(user, password):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_api_add_list_remove(http, db, clock):
    root, viewer = auth("root", "rootpw"), auth("watcher", "watchpw")
    dev = await ready(http)
    assert (await http.get("/api/faults")).status_code == 401
    r = await http.post("/api/faults", json={"kind": "throttle", "user": "alice", "count": 2,
                                             "params": {"retry_after": 9}}, headers=root)
    assert r.status_code == 201, r.text
    created = r.json()
    assert r.headers["location"] == f"/api/faults/{created['id']}"
    assert created["params"]["retry_after"] == 9 and created["remaining"] == 2 and created["state"] == "active"
    assert (await http.post("/api/faults", json={"kind": "delay"}, headers=viewer)).status_code == 403
    listed = (await http.get("/api/faults", headers=viewer)).json()
    assert [f["id"] for f in listed] == [created["id"]]
    assert (await http.get(f"/api/faults/{created['id']}", headers=viewer)).json()["kind"] == "throttle"

    assert (await dev.post("FolderSync", FS0)).status_code == 503
    assert (await http.get(f"/api/faults/{created['id']}", headers=root)).json()["hits"] == 1

    assert (await http.delete(f"/api/faults/{created['id']}", headers=viewer)).status_code == 403
    assert (await http.delete(f"/api/faults/{created['id']}", headers=root)).status_code == 204
    assert (await http.delete(f"/api/faults/{created['id']}", headers=root)).status_code == 404
    assert (await dev.post("FolderSync", FS0)).status_code == 200


async def test_api_refuses_bad_input(http):
    root = auth("root", "rootpw")
    for body in ({"kind": "nope"}, {"user": "alice"}, {"kind": "throttle", "count": True},
                 {"kind": "throttle", "extra": 1}, {"kind": "smtp", "user": "bob", "params": {"status": 600}}):
        r = await http.post("/api/faults", json=body, headers=root)
        assert r.status_code == 400 and r.json()["error"], body
    r = await http.post("/api/faults", json={"kind": "smtp", "user": "bob", "seconds": 30, "params": {"status": 451}},
                        headers=root)
    assert r.status_code == 201 and r.json()["expires_at"]
    assert (await http.request("DELETE", "/api/faults", headers=root)).json() == {"removed": 1}


# -- real processes ----------------------------------------------------------------------------------------
# `easlab serve` and `easlab fault` from this checkout, with this interpreter.
LAUNCHER = r"""
import sys
from easlab.server.cli import main
main(sys.argv[1:], prog_name="easlab")
"""


def easlab(db: str, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", LAUNCHER, *args, "--db", db], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@contextmanager
def served(db: str):
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, "serve", "--port", "0", "--smtp-port", "0", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert "EAS endpoint" in first, first + proc.stderr.read()
        second = proc.stdout.readline()
        assert "SMTP on" in second, second
        yield first.split()[-1], int(second.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def live_db(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    easlab(url, "init")
    easlab(url, "user", "add", "alice", "--password", "secret")
    easlab(url, "user", "add", "watcher", "--password", "watch", "--role", "viewer")
    return url


async def until_held(url: str, device_id: str) -> None:
    """The server's own long-poll wait (/api/wait/ping): the Ping is held before the test goes on."""
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"{url.rsplit('/', 1)[0]}/api/wait/ping", auth=("watcher", "watch"),
                           params={"user": "alice", "device_id": device_id, "timeout": 20})
    assert r.status_code == 200, r.text


def send_mail(port: int, subject: str) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "dave@example.org", "alice@easlab.test", subject
    msg.set_content("hello")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("dave@example.org", ["alice@easlab.test"], msg.as_bytes())


async def test_drop_over_a_real_socket(live_db):
    with served(live_db) as (url, smtp_port):
        async with Device(url, "alice", "secret", device_id="dropme") as dev:
            await dev.provision()
            await dev.folder_sync()
            await dev.sync("Inbox")  # key 0
            await asyncio.to_thread(send_mail, smtp_port, "first")
            # A CLI in another process reaches the running server: no restart.
            await asyncio.to_thread(easlab, live_db, "fault", "add", "drop", "--user", "alice", "--command", "Sync",
                                    "--count", "1", "--bytes", "20")
            key = dev.state.sync_key(dev.core.resolve("Inbox"))
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await dev.sync("Inbox")
            assert dev.state.sync_key(dev.core.resolve("Inbox")) == key  # the device never got the answer
            again = await dev.sync("Inbox")  # the old key again: the server resends the lost answer
            assert again.ok and [dev.core.items("Inbox")[sid].text("Email:Subject") for sid in again.added] == ["first"]

            # A held Ping cut in the middle of its answer.
            await asyncio.to_thread(easlab, live_db, "fault", "add", "drop", "--user", "alice", "--command", "Ping",
                                    "--count", "1")
            held = asyncio.create_task(dev.ping(["Inbox"], 120))
            await until_held(url, "dropme")
            await asyncio.to_thread(send_mail, smtp_port, "second")
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                await asyncio.wait_for(held, 20)
            listed = json.loads(easlab(live_db, "fault", "list", "--json").stdout)
            assert [(f["kind"], f["hits"], f["state"]) for f in listed] == [("drop", 1, "spent"), ("drop", 1, "spent")]
            assert (await dev.ping(["Inbox"], 120)).changed  # the next Ping learns of the new mail


def test_smtp_refusals_through_smtplib(live_db):
    with served(live_db) as (_, smtp_port):
        easlab(live_db, "fault", "add", "smtp", "--user", "alice", "--status", "452", "--message",
               "4.2.2 Mailbox full", "--count", "1")
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = "dave@example.org", "alice@easlab.test", "hi"
        msg.set_content("hello")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                client.sendmail("dave@example.org", ["alice@easlab.test"], msg.as_bytes())
            assert refused.value.recipients["alice@easlab.test"] == (452, b"4.2.2 Mailbox full")
            assert client.sendmail("dave@example.org", ["alice@easlab.test"], msg.as_bytes()) == {}  # count spent
        easlab(live_db, "fault", "add", "smtp", "--user", "alice", "--status", "554", "--stage", "data", "--for", "600")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            with pytest.raises(smtplib.SMTPDataError) as failed:
                client.sendmail("dave@example.org", ["alice@easlab.test"], msg.as_bytes())
            assert failed.value.smtp_code == 554 and b"injected by easlab" in failed.value.smtp_error
        easlab(live_db, "fault", "clear")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as client:
            assert client.sendmail("dave@example.org", ["alice@easlab.test"], msg.as_bytes()) == {}
