"""easlab's DATA (server/smtp.py `_Protocol.smtp_DATA`, which takes every complete line the
connection holds at once) answers and stores exactly what aiosmtpd's own DATA does: the same
replies, content, dot-unstuffing, size and line-length refusals, whatever way the bytes arrive."""
from __future__ import annotations

import asyncio
import random
import weakref

import pytest
from aiosmtpd.smtp import SMTP

from easlab.server.smtp import _REPLACED, _Protocol

pytestmark = pytest.mark.anyio


class Recorder:
    def __init__(self) -> None:
        self.connections: weakref.WeakSet = weakref.WeakSet()
        self.contents: list[bytes] = []

    async def handle_RCPT(self, server, session, envelope, address, options):
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.contents.append(envelope.original_content)
        return "250 stored"


class Plain(SMTP):
    """aiosmtpd's DATA, with easlab's replies to the size limits (as _Protocol.push gives them)."""

    async def push(self, status):
        await super().push(_REPLACED.get(status, status))


async def transcript(protocol: type[SMTP], pieces: list[bytes], limit: int | None) -> tuple[bytes, list[bytes]]:
    """Every reply the server sent for `pieces` (sent one by one, each after a turn of the loop),
    and the contents it stored."""
    loop = asyncio.get_running_loop()
    handler = Recorder()
    server = await loop.create_server(lambda: protocol(handler, data_size_limit=limit, hostname="h", loop=loop),
                                      "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n")
        for piece in pieces:
            await writer.drain()
            await asyncio.sleep(0)
            writer.write(piece)
        writer.write(b"QUIT\r\n")
        replies = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    return replies, handler.contents


MESSAGE = b"Subject: x\r\n\r\n" + b"".join(b"line %d\r\n" % n for n in range(60))
CASES = {
    "plain": [MESSAGE + b".\r\n"],
    "empty": [b".\r\n"],
    "dot-stuffed": [b"..one\r\n.\r\n..\r\n...\r\n. \r\nx.\r\n.\r\n"],
    "bare LF and CR in lines": [b"a\nb\r\nc\rd\r\n\n.\r\n.\r\n"],
    "byte by byte": [bytes([b]) for b in MESSAGE + b"..x\r\n.\r\n"],
    "split around the dot": [MESSAGE + b"\r", b"\n.", b"\r", b"\n"],
    "dot then more in one send": [MESSAGE + b".\r\nNOOP\r\n"],
    "two messages at once": [MESSAGE + b".\r\nMAIL FROM:<c@x.test>\r\nRCPT TO:<d@x.test>\r\nDATA\r\nsecond\r\n.\r\n"],
    "lines of 998 to 1002 bytes": [b"".join(b"x" * n + b"\r\n" for n in (997, 998, 999, 1000)) + b".\r\n"],
    "a line of 999 bytes": [b"y" * 999 + b"\r\n.\r\n"],
    "a line of 1001": [b"ok\r\n" + b"z" * 1001 + b"\r\nafter\r\n.\r\n"],
    "a line of 5000": [b"ok\r\n" + b"w" * 5000 + b"\r\nafter\r\n.\r\n", b"RSET\r\n"],
    "a long line in pieces": [b"ok\r\n" + b"v" * 700, b"v" * 700, b"v" * 700 + b"\r\n.\r\n"],
    "a long line, then over the size": [b"v" * 1500 + b"\r\n" + b"a\r\n" * 400 + b".\r\n"],
    "dot-stuffed across runs": [b"..a\r\nb\r\n", b"..\r\n.c\r\n", b"...\r\n", b".\r\n"],
    "a run over the size": [b"".join(b"%050d\r\n" % n for n in range(20)) + b".\r\n"],
    "exactly the size": [b"x" * 298 + b"\r\n.\r\n"],
    "one byte over the size": [b"x" * 299 + b"\r\n.\r\n"],
    "a run, then a line too long": [b"a\r\n" * 5 + b"u" * 1200 + b"\r\nb\r\n", b".\r\n"],
}


def random_pieces(seed: int) -> list[bytes]:
    """A message of random lines (dot-stuffed, bare CR and LF, near the length limit) cut at random
    places: every way the bulk reading can meet a line, a dot or a limit."""
    rng = random.Random(seed)
    lines = [rng.choice([b"..", b"", b"a.b", b"\r", b"\n", b".\n", b"x" * rng.randint(0, 40),
                         b"y" * rng.choice([997, 998, 999, 1000]), b"." + b"z" * rng.randint(0, 60)])
             for _ in range(rng.randint(0, 40))]
    data = b"".join(line + b"\r\n" for line in lines) + b".\r\nNOOP\r\n"
    cuts = sorted(rng.sample(range(1, len(data)), min(rng.randint(0, 6), len(data) - 1)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


@pytest.mark.parametrize("limit", [None, 300, 1000])
@pytest.mark.parametrize("case", list(CASES))
async def test_data_reads_as_aiosmtpd_reads(case, limit):
    ours = await transcript(_Protocol, CASES[case], limit)
    theirs = await transcript(Plain, CASES[case], limit)
    assert ours == theirs
    assert ours[0].count(b"\r\n250 stored\r\n") + ours[0].count(b"\r\n552 ") + ours[0].count(b"\r\n500 ") >= 1


@pytest.mark.parametrize("seed", range(24))
async def test_random_messages_read_as_aiosmtpd_reads(seed):
    pieces, limit = random_pieces(seed), [None, 300, 1000, 3000][seed % 4]
    assert await transcript(_Protocol, pieces, limit) == await transcript(Plain, pieces, limit)


async def test_the_content_is_what_was_sent_less_the_stuffing():
    replies, contents = await transcript(_Protocol, CASES["dot-stuffed"], None)
    assert contents == [b".one\r\n"] and b"250 stored" in replies
    replies, contents = await transcript(_Protocol, [MESSAGE + b".\r\n"], None)
    assert contents == [MESSAGE]


async def test_a_message_received_at_once_is_taken_in_one_read(monkeypatch):
    calls: list[bytes] = []
    real = asyncio.StreamReader.readuntil

    async def readuntil(self, separator=b"\n"):
        calls.append(separator)
        return await real(self, separator)

    monkeypatch.setattr(asyncio.StreamReader, "readuntil", readuntil)
    await transcript(_Protocol, CASES["plain"], None)
    ours = len(calls)
    calls.clear()
    await transcript(Plain, CASES["plain"], None)
    assert ours <= 6 < 60 < len(calls)  # EHLO, MAIL, RCPT, DATA, QUIT (and the wait after DATA) against a line each
