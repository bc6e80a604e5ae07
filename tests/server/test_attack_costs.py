"""What one user's hostile request costs the others (issue 13): a WBXML body whose first bytes
break the decoder's bounds is refused before the rest is read, and a large attachment is fetched
(whole or in ranges) with its base64 built off the event loop."""
import base64
import threading

import pytest

from easlab.eas import dispatch
from easlab.eas.wbxml import E, decode, encode
from tests.server.eas_helpers import Raw
from tests.server.test_limits import CHUNK, Streamer, _attachment_ref, _scope

pytestmark = pytest.mark.anyio
NS = "ItemOperations"
NESTED = b"\x03\x01\x6a\x00" + b"\x45" * (CHUNK - 4)  # Sync tags opened inside each other


async def test_a_body_nested_past_the_bound_in_its_first_bytes_is_refused_unread(app, caplog):
    client = Streamer([NESTED] + [b"\x45" * CHUNK] * 99)  # 1.6 MB declared
    await app(_scope("Sync", length=100 * CHUNK), client.receive, client.send)
    assert (client.status, client.taken) == (400, 1)  # the other 99 chunks are never read
    assert (b"connection", b"close") in client.sent[0]["headers"]
    assert "alice dev1 Sync: body is not valid WBXML: nesting deeper than 64 at byte 68" in [
        r.getMessage() for r in caplog.records]


async def test_a_chunked_body_nested_past_the_bound_is_refused_unread(app):
    client = Streamer([NESTED[:3000], NESTED[3000:]] + [b"\x45" * CHUNK] * 10)
    await app(_scope("Sync"), client.receive, client.send)
    assert (client.status, client.taken) == (400, 2)  # asked once the first 4 KB are in


async def test_a_large_body_whose_first_bytes_decode_is_read_whole():
    body = encode(E("FolderHierarchy:FolderSync", E("FolderHierarchy:SyncKey", "0" * 10_000)))
    sync = dispatch.commands.Command("Sync", None, root="AirSync:Sync")
    assert dispatch.prefix_refusal(sync, body, "application/vnd.ms-sync.wbxml") is None  # cut short: not refused
    assert dispatch.prefix_refusal(sync, NESTED, "application/vnd.ms-sync.wbxml").startswith("body is not valid WBXML")
    assert dispatch.prefix_refusal(sync, NESTED, "message/rfc822") is None
    assert dispatch.prefix_refusal(None, NESTED, None) is None  # an unknown command is answered 501 as before


def _fetch(ref: str, rng: str | None = None):
    options = E(f"{NS}:Options", E(f"{NS}:Range", rng)) if rng else None
    return E(f"{NS}:ItemOperations", E(f"{NS}:Fetch", E(f"{NS}:Store", "Mailbox"), E("AirSyncBase:FileReference", ref),
                                       options))


def _rendering_threads(monkeypatch) -> list:
    """The threads that put an attachment's content into an answer (its bytes, or its stored base64)."""
    from easlab.eas.commands import itemoperations

    threads: list = []
    data, whole = itemoperations.Payload.data, itemoperations.Payload.whole
    monkeypatch.setattr(itemoperations.Payload, "data", lambda self, raw: threads.append(threading.current_thread()) or data(self, raw))
    monkeypatch.setattr(itemoperations.Payload, "whole", lambda self, att: threads.append(threading.current_thread()) or whole(self, att))
    return threads


@pytest.mark.parametrize("rng, first, last", [(None, 0, 299_999), ("0-65535", 0, 65535), ("250000-399999", 250000, 299_999)])
async def test_a_large_attachment_is_fetched_whole_and_in_ranges(app, client, monkeypatch, rng, first, last):
    ref = await _attachment_ref(app, 300_000)
    threads = _rendering_threads(monkeypatch)
    answer = await Raw(client).call("ItemOperations", _fetch(ref, rng))
    props = answer.find(f"{NS}:Response").find(f"{NS}:Fetch").find(f"{NS}:Properties")
    assert base64.b64decode(props.text(f"{NS}:Data")) == bytes(300_000)[first:last + 1]
    assert props.text(f"{NS}:Total") == "300000"
    assert props.text(f"{NS}:Range") == (f"{first}-{last}" if rng else None)
    assert threads and threading.main_thread() not in threads  # base64 of 300 KB: not on the event loop


async def test_a_small_attachment_is_answered_on_the_event_loop(app, client, monkeypatch):
    ref = await _attachment_ref(app, 1000)
    threads = _rendering_threads(monkeypatch)
    answer = await Raw(client).call("ItemOperations", _fetch(ref))
    assert decode(encode(answer)).find(f"{NS}:Response").find(f"{NS}:Fetch").text(f"{NS}:Status") == "1"
    assert threads == [threading.main_thread()]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 196_607, 196_608, 196_609, 1_000_000])
def test_base64_in_slices_is_the_one_encoding(size):
    from easlab.eas.commands import itemoperations

    raw = bytes(range(256)) * (size // 256) + bytes(size % 256)
    assert itemoperations.b64(raw) == base64.b64encode(raw).decode("ascii")


class Sink:
    """An ASGI server's side of `send`: the messages an answer was written in."""

    def __init__(self):
        self.sent: list[dict] = []

    async def __call__(self, message):
        self.sent.append(message)

    @property
    def pieces(self) -> list[bytes]:
        return [m["body"] for m in self.sent if m["type"] == "http.response.body"]


async def test_a_large_answer_is_written_in_bounded_pieces(app, client):
    from easlab.server import activesync

    ref = await _attachment_ref(app, 300_000)
    client_side = Streamer([encode(_fetch(ref))])
    sink = Sink()
    await app(_scope("ItemOperations", length=len(client_side.chunks[0])), client_side.receive, sink)
    body = b"".join(sink.pieces)
    headers = dict(sink.sent[0]["headers"])
    assert sink.sent[0]["status"] == 200 and headers[b"content-length"] == str(len(body)).encode()
    assert len(body) > 400_000 and len(sink.pieces) >= 7  # one message of 400 KB before
    assert max(map(len, sink.pieces)) == activesync.WRITE_SLICE
    assert [m["more_body"] for m in sink.sent[1:]] == [True] * (len(sink.pieces) - 1) + [False]
    props = decode(body).find(f"{NS}:Response").find(f"{NS}:Fetch").find(f"{NS}:Properties")
    assert base64.b64decode(props.text(f"{NS}:Data")) == bytes(300_000)


@pytest.mark.parametrize("size, pieces", [(0, 1), (1, 1), (65_536, 1), (65_537, 2), (131_072, 2), (131_073, 3)])
async def test_an_answer_is_one_piece_up_to_the_slice(size, pieces):
    from easlab.server import activesync

    body = bytes(range(256)) * (size // 256) + bytes(size % 256)
    sink = Sink()
    await activesync._Answer(body, media_type="application/octet-stream")({"type": "http"}, None, sink)
    assert b"".join(sink.pieces) == body and len(sink.pieces) == pieces
    assert dict(sink.sent[0]["headers"])[b"content-length"] == str(size).encode()


def test_a_thread_waiting_for_the_gil_waits_a_millisecond_at_most():
    """Another user's request hands the GIL between the event loop and a worker thread several
    times; beside a thread busy in Python each hand-off waited Python's default 5 ms."""
    import subprocess
    import sys

    script = "from easlab.server import limits, runner; import inspect, sys; " \
             "print(limits.share_the_gil(), 'share_the_gil()' in inspect.getsource(runner.serve))"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["0.001", "True"], done.stderr
