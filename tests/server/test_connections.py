"""HTTP connections within server/limits.py's bounds (issue 13.2): uvicorn gets the limits, an
idle or slow connection is closed when its headers are late, oversized or too many headers are
refused, and one client address holds a bounded number of connections."""
import asyncio
import resource
import socket

import anyio

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from easlab.server import limits
from easlab.server import connections
from easlab.server.connections import Addresses, bounded_protocol
from easlab.server.runner import http_config

pytestmark = pytest.mark.anyio


async def _ok(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
    await send({"type": "http.response.body", "body": b""})


class Loop:
    """The running loop, with call_later held for the test to fire."""

    def __init__(self):
        self.real = asyncio.get_running_loop()
        self.timers: list[asyncio.TimerHandle] = []

    def call_later(self, delay, callback, *args):
        handle = asyncio.TimerHandle(self.real.time() + delay, callback, args, self.real)
        self.timers.append(handle)
        return handle

    def live(self) -> list[asyncio.TimerHandle]:
        return [t for t in self.timers if not t.cancelled()]

    def __getattr__(self, name):
        return getattr(self.real, name)


class Transport:
    def __init__(self, host: str):
        self.peer = (host, 50000)
        self.written = bytearray()
        self.closed = False

    def get_extra_info(self, name, default=None):
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def write(self, data):
        self.written += data

    def close(self):
        self.closed = True

    def can_write_eof(self):
        return False  # (closed at once, as a transport that cannot half-close is)

    def is_closing(self):
        return self.closed

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


@pytest.fixture
async def connect():
    config = uvicorn.Config(_ok, log_level="warning", lifespan="off")
    config.load()
    state, loop = ServerState(), Loop()
    addresses = Addresses(2)
    protocol_class = bounded_protocol(addresses, 30, 1024, 5)

    def open_(host="10.0.0.1"):
        protocol = protocol_class(config, state, {}, _loop=loop)
        transport = Transport(host)
        protocol.connection_made(transport)
        return protocol, transport

    open_.loop, open_.addresses = loop, addresses
    return open_


def test_uvicorn_gets_the_limits():
    config = http_config(_ok, 1024)
    assert (config.timeout_keep_alive, config.limit_concurrency, config.h11_max_incomplete_event_size) == (
        limits.KEEP_ALIVE_TIMEOUT, 1024 - limits.RESERVED_DESCRIPTORS, limits.MAX_REQUEST_BYTES)
    assert issubclass(config.http, HttpToolsProtocol)
    assert limits.connection_limits(1024) == (896, 448)  # one address: half the connections at most
    assert limits.connection_limits(1_048_576) == (1_048_448, limits.MAX_CONNECTIONS_PER_ADDRESS)


def test_the_descriptor_limit_is_raised_to_the_hard_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = min(256, hard) if hard != resource.RLIM_INFINITY else 256
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    try:
        now = limits.raise_descriptor_limit()
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == now
        assert now == (hard if hard != resource.RLIM_INFINITY else 1_048_576)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def test_a_connection_that_sends_no_headers_is_closed_when_they_are_late(connect):
    protocol, transport = connect()
    [timer] = connect.loop.live()
    assert timer.when() - connect.loop.real.time() == pytest.approx(30, abs=1)
    protocol.data_received(b"POST /Microsoft-Server-ActiveSync HTTP/1.1\r\nHost: x\r\n")  # and no more
    timer._run()
    assert transport.closed


async def test_complete_headers_leave_no_timer(connect):
    protocol, transport = connect()
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert connect.loop.live() == []  # a held request (a Ping) keeps no timer
    await asyncio.gather(*list(protocol.tasks))
    assert transport.written.startswith(b"HTTP/1.1 200 OK") and not transport.closed
    protocol.data_received(b"GET / HT")  # the next request on the connection: its headers are timed again
    assert len(connect.loop.live()) == 1


async def test_headers_past_the_byte_limit_are_refused(connect):
    protocol, transport = connect()
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    for _ in range(3):
        protocol.data_received(b"a" * 400)  # one header that never ends: httptools would hold it all
    assert transport.written.startswith(b"HTTP/1.1 400 Bad Request") and transport.closed


async def test_too_many_header_fields_are_refused(connect):
    protocol, transport = connect()
    protocol.data_received(b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(7)) + b"\r\n")
    assert transport.written.startswith(b"HTTP/1.1 400 Bad Request") and transport.closed


async def test_one_address_holds_a_bounded_number_of_connections(connect):
    (first, _), (_, second) = connect(), connect()
    third, refused = connect()
    _, other = connect("10.0.0.2")
    assert (second.closed, refused.closed, other.closed) == (False, True, False)
    third.connection_lost(None)  # the refused one's close
    assert connect.addresses.open == {"10.0.0.1": 2, "10.0.0.2": 1}
    first.connection_lost(None)
    _, again = connect()
    assert not again.closed


def _admitted(config: uvicorn.Config, count: int, host: str = "127.0.0.1") -> int:
    """How many of `count` connections from `host` the configured protocol keeps open."""
    config.load()
    state, loop = ServerState(), Loop()
    kept = 0
    for _ in range(count):
        transport = Transport(host)
        config.http_protocol_class(config, state, {}, _loop=loop).connection_made(transport)
        kept += not transport.closed
    return kept


async def test_the_lab_sets_its_own_cap_per_address_within_the_connections_in_all(monkeypatch):
    # A bench or harness whose devices all connect from one address (issue 16: 10,000 Pings from
    # 127.0.0.1 against half of 20,000 descriptors) raises the cap; the listen backlog is uvicorn's too.
    assert _admitted(http_config(_ok, 1024), 460) == 448
    assert _admitted(http_config(_ok, 1024, per_address_cap=600), 700) == 600
    assert _admitted(http_config(_ok, 1024, per_address_cap=5000), 900) == 896  # never past the total
    assert http_config(_ok, 1024).backlog == limits.LISTEN_BACKLOG
    monkeypatch.setenv("EASLAB_MAX_CONNECTIONS_PER_ADDRESS", "12000")
    from easlab.server.config import Settings

    assert Settings.from_env().max_connections_per_address == 12000
    monkeypatch.delenv("EASLAB_MAX_CONNECTIONS_PER_ADDRESS")
    assert Settings.from_env().max_connections_per_address is None


async def test_a_body_reaches_the_app_as_the_pieces_it_came_in():
    """A chunked body's chunks, several to a read, reach the app one event each, as the parser
    gave them: not joined into one block (a fresh one past the mmap threshold) and copied out."""
    events = []

    async def app(scope, receive, send):
        while True:
            message = await receive()
            events.append((message["body"], message["more_body"]))
            if not message["more_body"]:
                break
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    config.load()
    protocol = bounded_protocol(Addresses(2), 30, 1024, 5)(config, ServerState(), {}, _loop=Loop())
    transport = Transport("10.0.0.1")
    protocol.connection_made(transport)
    chunks = [b"a" * 70_000, b"b" * 3, b"c" * 65_536]
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks))
    protocol.data_received(b"0\r\n\r\n")
    await asyncio.gather(*list(protocol.tasks))
    assert transport.written.startswith(b"HTTP/1.1 200 OK")
    assert events == [(chunks[0], True), (chunks[1], True), (chunks[2], False)]  # (all there before the app ran)


async def _refuse(scope, receive, send):
    """Answers before reading the body, as the EAS endpoint answers 413 to one past its limit."""
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-length", b"0"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": b""})


async def test_a_refused_client_still_sending_reads_its_answer():
    """The server closes a connection whose request it answered unread: it ends its half first and
    reads on, so the client finishes sending (16 MB, far past what the sockets buffer) and reads
    the 413, where a plain close with input unread resets the connection under its send."""
    config = uvicorn.Config(_refuse, log_level="warning", lifespan="off")
    config.load()
    state, loop = ServerState(), asyncio.get_running_loop()
    protocol_class = bounded_protocol(Addresses(4), 30, 16384, 100)
    server = await loop.create_server(lambda: protocol_class(config, state, {}, _loop=loop), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = b"x" * (16 << 20)

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body))
            sock.sendall(body)
            sock.shutdown(socket.SHUT_WR)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer

    try:
        answer = await anyio.to_thread.run_sync(client)
    finally:
        server.close()
        await server.wait_closed()
    assert answer.startswith(b"HTTP/1.1 413 ") and answer.endswith(b"\r\n\r\n")


class HalfClosing(Transport):
    def __init__(self, host: str):
        super().__init__(host)
        self.eof_written = False

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.eof_written = True


@pytest.mark.parametrize("complete, lingers", [(True, False), (False, True)])
async def test_only_a_request_still_arriving_makes_the_close_linger(complete, lingers):
    """Answered with the whole request read, the connection closes at once (between requests the
    client has nothing left to send: no idle connection outlives its close); answered mid-body, the
    server half-closes, drops what arrives, and closes when LINGER_BYTES is used up."""
    config = uvicorn.Config(_refuse, log_level="warning", lifespan="off")
    config.load()
    loop = Loop()
    protocol = bounded_protocol(Addresses(2), 30, 1024, 5)(config, ServerState(), {}, _loop=loop)
    transport = HalfClosing("10.0.0.1")
    protocol.connection_made(transport)
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n" + (b"abcd" if complete else b"ab"))
    await asyncio.gather(*list(protocol.tasks))
    assert transport.written.startswith(b"HTTP/1.1 413 ")
    assert (transport.eof_written, transport.closed) == (lingers, not lingers)
    if lingers:
        assert [t.when() - loop.real.time() > 1 for t in loop.live()] == [True]  # the linger's deadline
        protocol.data_received(b"GET / HTTP/1.1\r\n\r\n")  # dropped, not parsed as a request
        assert not transport.closed and transport.written.count(b"HTTP/1.1") == 1
        protocol.data_received(b"x" * connections.LINGER_BYTES)
        assert transport.closed and loop.live() == []
