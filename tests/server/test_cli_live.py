"""The CLI changes a running server's behaviour at the device's next request, without a restart."""
import asyncio

import httpx
import pytest

from easlab.eas.wbxml import E, decode, encode
from tests.server.eas_helpers import Raw, provision
from tests.server.live import cli, cli_json, served

pytestmark = pytest.mark.anyio
FS = E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0"))


class LiveRaw(Raw):
    """Raw requests to a real server: the URL carries the path already."""

    def __init__(self, url, **kw):
        self.url = url
        super().__init__(httpx.AsyncClient(timeout=60), **kw)

    async def post(self, command, tree=None, raw=None):
        q = f"{self.url}?Cmd={command}&User={self.user}&DeviceId={self.device}&DeviceType={self.device_type}"
        body = raw if raw is not None else (encode(tree) if tree is not None else b"")
        return await self.client.post(q, content=body, headers=self.headers())


async def until_held(url, device_id):
    """The server's own long-poll wait (/api/wait/ping), instead of guessing with a sleep."""
    base = url.rsplit("/", 1)[0]
    async with httpx.AsyncClient(timeout=30) as http:
        r = await http.get(f"{base}/api/wait/ping", params={"user": "alice", "device_id": device_id, "timeout": 20},
                           auth=("watcher", "watch"))
    assert r.status_code == 200, r.text


@pytest.fixture
def db(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    cli(url, "init")
    cli(url, "user", "add", "alice", "--password", "secret")
    cli(url, "user", "add", "watcher", "--password", "watch", "--role", "viewer")
    cli(url, "policy", "set", "Default", "--password-required", "--no-allow-non-provisionable")
    return url


async def test_policy_set_reaches_held_ping_and_next_request(db):
    with served(db) as (url, _, _):
        dev = LiveRaw(url)
        await provision(dev)
        assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "1"
        ping = E("Ping:Ping", E("Ping:HeartbeatInterval", 600), E("Ping:Folders", E("Ping:Folder", E("Ping:Id", "1"), E("Ping:Class", "Email"))))
        held = asyncio.create_task(dev.call("Ping", ping))
        await until_held(url, dev.device)
        assert not held.done()
        await asyncio.to_thread(cli, db, "policy", "set", "Default", "--min-password-length", "8")
        assert await asyncio.wait_for(held, 10) == E("Ping:Ping", E("Ping:Status", 7))
        assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "144"
        await provision(dev)
        assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "1"
        shown = cli_json(db, "policy", "show", "Default")
        assert shown["settings"]["MinPasswordLength"] == 8
        rows = cli_json(db, "device", "list", "--user", "alice")
        assert rows[0]["policy_key"] == shown["policy_key"]
        await dev.client.aclose()


async def test_policy_assign_and_wipe_lifecycle_from_the_cli(db):
    with served(db) as (url, _, _):
        dev = LiveRaw(url, device="wipeme", version="16.1")
        await provision(dev)
        cli(db, "policy", "add", "Kiosk", "--password-required", "--no-allow-camera", "--max-inactivity-lock", "2")
        cli(db, "policy", "assign", "alice", "Kiosk")
        assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "144"
        first, _ = await provision(dev)
        doc = first.find("Provision:Policies").find("Provision:Policy").find("Provision:Data").find("Provision:EASProvisionDoc")
        assert doc.text("Provision:AllowCamera") == "0" and doc.text("Provision:MaxInactivityTimeDeviceLock") == "120"
        assert cli_json(db, "device", "list")[0]["policy"] == "Kiosk"

        cli(db, "device", "wipe", "alice", "wipeme", "--account-only")
        assert cli_json(db, "device", "list")[0]["wipe"] == "AccountOnlyDeviceWipePending"
        cli(db, "device", "wipe", "alice", "wipeme", "--cancel")
        assert cli_json(db, "device", "list")[0]["wipe"] == "DeviceOk"
        cli(db, "device", "wipe", "alice", "wipeme")
        assert decode((await dev.post("FolderSync", FS)).content).text("FolderHierarchy:Status") == "140"
        resp = await dev.call("Provision", E("Provision:Provision"))
        assert resp.find("Provision:RemoteWipe") is not None
        refused = cli(db, "device", "wipe", "alice", "wipeme", "--cancel", check=False)
        assert refused.returncode != 0 and "already sent to the device (DeviceWipePending)" in refused.stderr
        await dev.call("Provision", E("Provision:Provision", E("Provision:RemoteWipe", E("Provision:Status", 1))))
        row = cli_json(db, "device", "list")[0]
        assert row["wipe"] == "DeviceWipeSucceeded" and row["wipe_ack_at"]
        await dev.client.aclose()


def test_account_only_wipe_needs_16_1(db):
    import asyncio as aio

    with served(db) as (url, _, _):
        dev = LiveRaw(url, device="old", version="14.1")
        aio.run(dev.post("FolderSync", FS))
    refused = cli(db, "device", "wipe", "alice", "old", "--account-only", check=False)
    assert refused.returncode != 0 and "16.1" in refused.stderr
