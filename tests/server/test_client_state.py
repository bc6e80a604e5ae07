"""`easlab client` keeps its state per server (issue 15 §4): the same user and device id against a
second server start from SyncKey 0 there, instead of offering the first server's keys (which the
second answers with FolderSync status 9 and Sync status 3)."""
import json

from click.testing import CliRunner

from easlab.server.app import create_app
from easlab.server.cli import client as client_cli
from easlab.server.cli import main
from easlab.server.config import Settings
from easlab.storage import Database
from easlab.storage.users import add_user
from easlab.testing.aio import Device


def a_server(path):
    db = Database(f"sqlite:///{path}")
    db.create_all()
    with db.session() as s:
        add_user(s, "alice", "secret", "Alice")
    return create_app(Settings(db_url=db.url, domain="easlab.test"), db)


def test_each_server_gets_its_own_state(tmp_path, monkeypatch):
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path / "home"))
    servers = {"http://one.test:8080": a_server(tmp_path / "one.db"), "http://two.test:8080": a_server(tmp_path / "two.db")}
    started: list[tuple[str, str, str]] = []  # (server, FolderSync key, Inbox Sync key) each command starts from

    def device(url, *args, **kwargs):
        state = kwargs["state"]
        started.append((url, state.hierarchy_sync_key, ",".join(c.sync_key for c in state.collections.values()) or "-"))
        return Device(servers[url], *args, **kwargs)

    monkeypatch.setattr(client_cli, "Device", device)
    runner = CliRunner()

    def client(url, *args):
        result = runner.invoke(main, ["client", "--url", url, "--user", "alice", "--password", "secret", *args])
        assert result.exit_code == 0, result.output
        return result.output

    for url in servers:
        client(url, "provision")
        assert "Inbox" in client(url, "foldersync")
        assert client(url, "sync", "Inbox", "--once") == "SyncKey 1, 0 item(s) held\n"
    client("http://one.test:8080", "sync", "Inbox", "--once")  # its own keys, which the first server accepts
    one, two = "http://one.test:8080", "http://two.test:8080"
    assert started == [(one, "0", "-"), (one, "0", "-"), (one, "1", "-"),
                       (two, "0", "-"), (two, "0", "-"), (two, "1", "-"), (one, "1", "1")]
    paths = sorted(p.relative_to(tmp_path / "home") for p in (tmp_path / "home").rglob("*.json"))
    assert [p.parts[0] for p in paths] == ["client", "client"] and paths[0].parent != paths[1].parent
    assert all(p.name == "alice-easlab-cli-device.json" or p.name.startswith("alice-") for p in paths)
    two = json.loads((tmp_path / "home" / paths[1]).read_text())
    assert two["device_id"] == json.loads((tmp_path / "home" / paths[0]).read_text())["device_id"]


def test_server_key_normalises_the_url():
    key = client_cli.server_key
    assert key("http://Host.Example:80/") == key("http://host.example")
    assert key("https://host.example") == key("https://host.example:443/")
    assert key("http://host.example:8080") != key("https://host.example:8080")
    assert key("http://127.0.0.1:8080").startswith("127.0.0.1_8080-")
