"""easlab's SMTP protocol (server/smtp.py `_Protocol`: its own push, which skips a drain that
would not wait) answers every command byte for byte as aiosmtpd's SMTP does, and still waits
for a client that stops reading."""
from __future__ import annotations

import asyncio

import pytest

from easlab.server.smtp import _Protocol
from tests.server.test_smtp_data import Plain, Recorder

pytestmark = pytest.mark.anyio


async def replies(protocol, commands: bytes, limit: int | None = 1000) -> bytes:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol(Recorder(), data_size_limit=limit, hostname="h", loop=loop,
                                                       enable_SMTPUTF8=True), "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(commands + b"QUIT\r\n")
        out = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    return out


SESSIONS = {
    "a delivery": b"EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\nhi\r\n.\r\n",
    "helo and its errors": b"HELO\r\nHELO c\r\nHELO c\r\nEHLO\r\n",
    "before helo": b"MAIL FROM:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n",
    "mail syntax": b"EHLO c\r\nMAIL\r\nMAIL TO:<a@x.test>\r\nMAIL FROM:<a@x.test> BODY=9BIT\r\nMAIL FROM:<>\r\n"
                   b"MAIL FROM:<a@x.test> SIZE=5000\r\nMAIL FROM:<a@x.test> SIZE=x\r\nMAIL FROM:<a@x.test> FOO=1\r\n"
                   b"MAIL FROM:<a@x.test>\r\nMAIL FROM:<a@x.test>\r\n",
    "rcpt and data order": b"EHLO c\r\nRCPT TO:<b@x.test>\r\nDATA\r\nMAIL FROM:<a@x.test>\r\nDATA\r\nRCPT\r\n"
                           b"RCPT TO:<b@x.test>\r\nDATA x\r\nRSET\r\nRSET x\r\n",
    "other commands": b"EHLO c\r\nNOOP\r\nNOOP x\r\nVRFY\r\nVRFY <a@x.test>\r\nHELP\r\nHELP MAIL\r\nEXPN x\r\n"
                      b"STARTTLS\r\nAUTH PLAIN\r\n",
    "bad lines": b"\r\nBOGUS\r\nmail from:<a@x.test>\r\n" + b"NOOP " + b"x" * 600 + b"\r\n" + b"\xff\r\n",
    "utf-8": "EHLO c\r\nMAIL FROM:<jürgen@x.test> SMTPUTF8\r\nRCPT TO:<b@x.test>\r\nDATA\r\nä\r\n.\r\n".encode(),
}


@pytest.mark.parametrize("session", list(SESSIONS))
async def test_every_reply_is_aiosmtpd_s(session):
    ours = await replies(_Protocol, SESSIONS[session])
    assert ours == await replies(Plain, SESSIONS[session])
    assert ours.startswith(b"220 ") and ours.endswith(b"221 Bye\r\n")


async def test_a_client_that_stops_reading_is_waited_for(monkeypatch):
    """A reply to a paused transport (the client's window full) waits in drain, as aiosmtpd's."""
    drained: list[bool] = []
    real = asyncio.StreamWriter.drain

    async def drain(self):
        drained.append(self._protocol._paused)
        return await real(self)

    monkeypatch.setattr(asyncio.StreamWriter, "drain", drain)
    protocol = _Protocol(Recorder(), hostname="h", loop=asyncio.get_running_loop())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: protocol, "127.0.0.1", 0)
    try:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        await reader.readline()  # 220
        writer.write(b"NOOP\r\n")
        assert await reader.readline() == b"250 OK\r\n"
        assert drained == []  # nothing to wait for: no drain
        protocol.pause_writing()
        writer.write(b"NOOP\r\n")
        for _ in range(1000):  # turns of the loop until the NOOP is read and answered
            if drained:
                break
            await asyncio.sleep(0)
        assert drained == [True]  # waiting for the client to read
        protocol.resume_writing()
        assert await reader.readline() == b"250 OK\r\n"
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
