"""The document library's administration: `easlab document` and /api/documents publish, list and
remove folders and documents (the Admin service's document_* operations)."""
import base64
import json

import pytest

from tests.server.test_cli import initialised, run
from tests.server.test_web import set_role


def test_document_put_list_remove(tmp_path):
    db = initialised(tmp_path / "d.db")
    source = tmp_path / "q3.txt"
    source.write_bytes(b"report")
    put = run("document", "put", "Shared\\Reports\\q3.txt", str(source), "--reader", "Bob", "--db", db)
    assert (put.exit_code, put.output) == (0, "\\\\easlab\\Shared\\Reports\\q3.txt\n")
    assert run("document", "put", "Shared\\Old", "--folder", "--hidden", "--db", db).exit_code == 0
    rows = json.loads(run("document", "list", "--json", "--db", db).output)
    by_link = {r["link"]: r for r in rows}
    assert sorted(by_link) == ["\\\\easlab\\Shared", "\\\\easlab\\Shared\\Old", "\\\\easlab\\Shared\\Reports",
                               "\\\\easlab\\Shared\\Reports\\q3.txt"]
    doc = by_link["\\\\easlab\\Shared\\Reports\\q3.txt"]
    assert (doc["size"], doc["content_type"], doc["readers"], doc["folder"]) == (6, "text/plain", ["bob"], False)
    assert by_link["\\\\easlab\\Shared\\Old"]["hidden"] is True
    assert run("document", "remove", "Shared/Old", "--db", db).output == "removed 1\n"
    assert run("document", "remove", "Shared/Old", "--db", db).exit_code != 0
    assert run("document", "put", "Shared\\x", "--db", db).exit_code != 0  # neither FILE nor --folder


@pytest.mark.anyio
async def test_api_put_list_delete(client, db):
    set_role(db, "alice", "org-admin")
    set_role(db, "bob", "viewer")
    alice, bob = ("alice", "secret"), ("bob", "hunter2")
    body = {"content": base64.b64encode(b"report").decode(), "content_type": "text/plain", "readers": ["bob"]}
    r = await client.put("/api/documents/Shared/Reports/q3.txt", json=body, auth=alice)
    assert r.status_code == 200
    assert (r.json()["link"], r.json()["size"], r.json()["readers"]) == ("\\\\easlab\\Shared\\Reports\\q3.txt", 6, ["bob"])
    assert (await client.put("/api/documents/Shared/x", json={"folder": True}, auth=bob)).status_code == 403
    assert (await client.put("/api/documents/Shared/x", json={"content": "!!"}, auth=alice)).status_code == 400
    assert (await client.put("/api/documents/Shared/x", json={}, auth=alice)).status_code == 400
    listed = (await client.get("/api/documents", auth=bob)).json()
    assert [d["path"] for d in listed] == ["Shared", "Shared\\Reports", "Shared\\Reports\\q3.txt"]
    assert (await client.delete("/api/documents/Shared/Reports", auth=alice)).status_code == 204
    assert (await client.delete("/api/documents/Shared/Reports", auth=alice)).status_code == 404
    assert [d["path"] for d in (await client.get("/api/documents", auth=alice)).json()] == ["Shared"]
