"""`easlab serve` as a real process on a free port."""
import base64
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from easlab.eas.wbxml import E, decode, encode

EASLAB = str(Path(sys.executable).parent / "easlab")


@pytest.fixture
def served(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    subprocess.run([EASLAB, "init", "--db", db], check=True, capture_output=True)
    subprocess.run([EASLAB, "user", "add", "alice", "--password", "pw", "--db", db], check=True, capture_output=True)
    started = time.monotonic()
    proc = subprocess.Popen([EASLAB, "serve", "--port", "0", "--smtp-port", "0", "--db", db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "EAS endpoint" in line, line + proc.stderr.read()
        url = line.split()[-1]
        yield url, time.monotonic() - started
    finally:
        proc.terminate()
        proc.wait(10)


def auth(user, pw):
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}


def test_serve_answers_options_401_and_400(served):
    url, _ = served
    assert url.startswith("http://127.0.0.1:") and url.endswith("/Microsoft-Server-ActiveSync")
    r = httpx.options(url, headers=auth("alice", "pw"))
    assert r.status_code == 200
    assert r.headers["MS-ASProtocolVersions"] == "2.5,12.0,12.1,14.0,14.1,16.0,16.1"
    assert "FolderSync" in r.headers["MS-ASProtocolCommands"].split(",")
    assert httpx.options(url, headers=auth("alice", "nope")).status_code == 401
    q = "?Cmd=FolderSync&User=alice&DeviceId=proc1&DeviceType=iPhone"
    h = {**auth("alice", "pw"), "MS-ASProtocolVersion": "14.1", "Content-Type": "application/vnd.ms-sync.wbxml"}
    r = httpx.post(url + q, content=b"\x00\x01garbage\xff", headers=h)
    assert r.status_code == 400
    assert r.content == b""
