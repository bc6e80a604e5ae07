"""The easlab pytest plugin against a real `easlab serve` (mode="process"): mail through SMTP,
waits as long-polls on /api/wait, and a teardown that leaves nothing running."""
import asyncio
import os
import smtplib
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from easlab.server.control import socket_path
from easlab.testing.plugin import ModeError, ProcessEaslab, WaitTimeout

pytestmark = [pytest.mark.anyio, pytest.mark.easlab(mode="process")]

def test_a_server_process_dies_with_a_killed_test_process(tmp_path):
    """Even SIGKILL of the test process (no teardown at all) leaves no server behind (Linux)."""
    import select
    import signal
    import subprocess
    import sys

    # os.pidfd_open is Linux 5.3+ and Python 3.9+: what easlab's machines run; missing, it fails.
    script = ("import sys, time\n"
              "from easlab.testing.plugin import start\n"
              f"server = start('process', directory={str(tmp_path / 'server')!r})\n"
              "print(server.process.pid, flush=True)\n"
              "time.sleep(600)\n")
    runner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(runner.stdout.readline())
        pidfd = os.pidfd_open(pid)
    finally:
        runner.kill()
        runner.wait()
        runner.stdout.close()
    try:
        readable, _, _ = select.select([pidfd], [], [], 20)  # readable when the process ends: no polling
        assert readable, f"the server {pid} outlived the killed test process"
    finally:
        os.close(pidfd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def test_deliver_over_smtp_then_wait_for_mail(easlab):
    alice = easlab.make_user("alice")
    msg = EmailMessage()
    msg["From"] = "Bob <bob@example.net>"
    msg["To"] = "alice@easlab.test"
    msg["Subject"] = "Over the wire"
    msg.set_content("through SMTP")
    await easlab.deliver(msg)
    mail = await easlab.wait_for_mail(alice, match="wire")
    assert mail.subject == "Over the wire" and mail.body.strip() == "through SMTP"
    raw = await easlab.wait_for_mail(alice, match=lambda m: m.message["Received"] is not None)
    assert "easlab" in raw.message["Received"]  # the SMTP listener's trace header: it came through SMTP
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await easlab.deliver(to="nobody", subject="x")


async def test_wait_for_mail_is_a_long_poll(easlab):
    alice = easlab.make_user("alice")
    with pytest.raises(WaitTimeout):  # the server holds a wait for mail that is not there: no early answer
        await easlab.wait_for_mail(alice, match="later", timeout=0.2)
    waiting = asyncio.create_task(easlab.wait_for_mail(alice, match="later", timeout=20))
    await easlab.deliver(to=alice, subject="later")
    assert (await waiting).subject == "later"
    with pytest.raises(WaitTimeout):
        await easlab.wait_for_mail(alice, match="never", timeout=0.2)


async def test_ping_held_then_delivery_answers_it(easlab):
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice, profile="ios")
    await phone.sync_all("Inbox")
    ping = asyncio.create_task(phone.ping(["Inbox"], heartbeat=600))
    held = await easlab.wait_for_ping(phone)
    assert held["held"] and held["device_id"] == phone.state.device_id
    await easlab.deliver(to=alice, subject="wake up")
    result = await asyncio.wait_for(ping, 10)  # a ten-minute heartbeat: only the delivery ends it
    assert result.status == 2


async def test_org_quarantine_then_admin_mail_to_another_domain(easlab):
    easlab.org(default_access="quarantine", discovery_minutes=0, admin_mail=["it-admin@example.net"])
    alice = easlab.make_user("alice")
    phone = await easlab.make_device(alice, profile="android-samsung")
    state = await easlab.wait_for_device_state(alice, phone, "Quarantined")
    assert state["access_reason"] == "Global" and state["model"] == "SM-G991B"
    out = await easlab.wait_for_outbound("it-admin@example.net")
    assert out.recipients == ["it-admin@example.net"] and out.status == "queued"
    assert (await easlab.wait_for_outbound(lambda o: "alice" in o.message.get_body().get_content())).id == out.id
    assert (await easlab.wait_for_mail(alice)).user == "alice"  # the user's quarantine notice


async def test_rules_and_policies_reach_the_running_server(easlab):
    easlab.org(blocked_delay=0)
    easlab.rule("DeviceType", "SAMSUNGSMG991B", "Block")
    alice = easlab.make_user("alice")
    samsung = await easlab.make_device(alice, profile="android-samsung")
    assert (await easlab.wait_for_device_state(alice, samsung, "Blocked"))["access_rule"] == "SAMSUNGSMG991B (DeviceType)"
    easlab.policy("Strict", PasswordEnabled=True, AllowNonProvisionableDevices=False)
    easlab.assign_policy(alice, "Strict")
    iphone = await easlab.make_device(alice, profile="ios")
    assert (await iphone.provision()).policy["DevicePasswordEnabled"] == "1"
    # A policy change ends a held Ping at once (the factories tell the server over its control socket).
    await iphone.sync_all("Inbox")
    ping = asyncio.create_task(iphone.ping(["Inbox"], heartbeat=600))
    await easlab.wait_for_ping(iphone)
    easlab.policy("Strict", MinPasswordLength=8)
    result = await asyncio.wait_for(ping, 10)
    assert result.status != 2


# -- the endpoints, as a test suite in another language sees them -----------------------------------
async def test_wait_endpoints_over_http(easlab):
    viewer = easlab.make_user("watcher", password="pw", role="viewer")
    easlab.make_user("plain", password="pw")
    alice = easlab.make_user("alice")
    base = f"{easlab.url}/api/wait"
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.get(f"{base}/mail", params={"user": "alice"})).status_code == 401
        forbidden = await client.get(f"{base}/mail", params={"user": "alice"}, auth=("plain", "pw"))
        assert (forbidden.status_code, forbidden.json()) == (403, {"error": "plain (no role) may not view"})
        auth = (viewer.name, viewer.password)
        timeout = await client.get(f"{base}/mail", params={"user": "alice", "subject": "x", "timeout": "0.2"}, auth=auth)
        assert timeout.status_code == 408 and timeout.json()["error"] == "timeout"
        assert (await client.get(f"{base}/mail", params={"timeout": "1"}, auth=auth)).status_code == 400
        assert (await client.get(f"{base}/mail", params={"user": "alice", "timeout": "9999"}, auth=auth)).status_code == 400
        assert (await client.get(f"{base}/mail", params={"user": "nobody"}, auth=auth)).status_code == 404
        assert (await client.get(f"{base}/device", params={"user": "alice", "device_id": "X", "state": "Happy"},
                                 auth=auth)).status_code == 400
        assert (await client.get(f"{base}/nothing", auth=auth)).status_code == 404
        pending = asyncio.create_task(client.get(f"{base}/mail", params={"user": "alice", "subject": "Invoice",
                                                                          "timeout": "20", "mime": "1"}, auth=auth))
        await easlab.deliver(to=alice, subject="Invoice 42")
        found = await pending
        assert found.status_code == 200
        body = found.json()
        assert body["subject"] == "Invoice 42" and body["user"] == "alice" and body["mime"]
        later = await client.get(f"{base}/mail", params={"user": "alice", "after": body["id"], "timeout": "0.1"},
                                 auth=auth)
        assert later.status_code == 408
        phone = await easlab.make_device(alice)
        device = await client.get(f"{base}/device", params={"user": "alice", "device_id": phone.state.device_id,
                                                             "state": "allowed"}, auth=auth)
        assert device.status_code == 200 and device.json()["access_state"] == "Allowed"
        ping = await client.get(f"{base}/ping", params={"user": "alice", "device_id": phone.state.device_id,
                                                         "timeout": "0.1"}, auth=auth)
        assert ping.status_code == 408
        out = await client.get(f"{base}/outbound", params={"to": "x@example.net", "timeout": "0.1"}, auth=auth)
        assert out.status_code == 408
