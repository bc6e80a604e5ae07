"""HTTP connections within server/limits.py's bounds, as uvicorn's httptools protocol with four
checks added: a connection cap per client address, a deadline for a request's line and headers,
and their size and count.  Each costs a connection no task and no buffer: a counter, and a timer
handle that exists only while headers are awaited (a held Ping's are long complete).  A request
held for its client (server/push.py Connection) ends when the client goes.  A connection the
server closes is closed lingering (`Lingering`), so a refused client still reads its answer."""
from __future__ import annotations

import logging
from collections import deque

from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from . import limits
from .push import Connection

log = logging.getLogger("easlab.http")

# A closing connection's input is read and dropped for at most this long and this much, then the
# socket is closed whatever still arrives (Apache's lingering close reads for 2 s at a time, too).
LINGER_SECONDS = 2.0
LINGER_BYTES = limits.MAX_REQUEST_SIZE


class Lingering:
    """A transport whose close, while a request is still arriving, ends the writing side first (FIN
    after the answer) and reads and drops what still arrives until the client closes too, or
    LINGER_SECONDS or LINGER_BYTES run out.  Closed at once with input unread, a socket is reset by
    the kernel: a client still sending the body a 413 refused, or the rest of the headers a 400
    refused, gets a broken pipe or a reset instead of the answer (HTTP/1.1, RFC 9112 9.6: a server
    closes its half first and reads on for a while).  One per connection, held Pings' included,
    so it keeps no more than it must (slots, the protocol rather than a closure)."""

    __slots__ = ("_transport", "_loop", "_protocol", "lingering", "_left", "_timer")

    def __init__(self, transport, loop, protocol: _BoundedProtocol):
        self._transport, self._loop, self._protocol = transport, loop, protocol
        self.lingering = False
        self._left = LINGER_BYTES
        self._timer = None

    def __getattr__(self, name):
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def close(self) -> None:
        transport = self._transport
        if self.lingering or transport.is_closing() or not transport.can_write_eof() or not self._protocol._in_message:
            self.close_now()  # (between requests, a client has nothing left to send)
            return
        self.lingering = True
        transport.write_eof()  # sent once what is buffered is written
        transport.resume_reading()  # flow control may have paused it; the input is dropped now
        self._timer = self._loop.call_later(LINGER_SECONDS, self.close_now)

    def drop(self, size: int) -> None:
        """`size` bytes arrived while lingering: dropped, and past LINGER_BYTES the socket closes."""
        self._left -= size
        if self._left < 0:
            self.close_now()

    def close_now(self) -> None:
        """Closed without lingering: nothing was answered that a client must read."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._transport.close()


class TooLarge(Exception):
    """Raised from a parser callback; uvicorn answers 400 and closes the connection."""


class Addresses:
    """Open connections per client address, admitted up to `cap`."""

    def __init__(self, cap: int):
        self.cap = cap
        self.open: dict[str, int] = {}

    def admit(self, host: str) -> bool:
        count = self.open.get(host, 0)
        if count >= self.cap:
            return False
        self.open[host] = count + 1
        return True

    def release(self, host: str) -> None:
        count = self.open.get(host, 0) - 1
        if count > 0:
            self.open[host] = count
        else:
            self.open.pop(host, None)


class PiecesCycle(RequestResponseCycle):
    """uvicorn's request cycle with the body kept as the pieces the parser gave, each handed to
    the app as it came (ASGI allows any split).  uvicorn joins what arrived between two receives
    into a bytearray and copies that out: a chunked body's 64 KB chunks, four to a socket read,
    grew it past server/limits.py's mmap threshold, so every read cost fresh pages faulted in on
    the event loop (40 ms per 64 MB against 3 ms), which every other user's request waits on."""

    pieces: deque[bytes]
    buffered = 0  # bytes in `pieces`

    async def receive(self):  # type: ignore[override]
        if self.waiting_for_100_continue and not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.waiting_for_100_continue = False
        if not self.pieces and not self.disconnected and not self.response_complete:
            self.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected or self.response_complete:
            return {"type": "http.disconnect"}
        body = self.pieces.popleft() if self.pieces else b""
        self.buffered -= len(body)
        if not self.pieces:
            self.message_event.clear()  # what set it is taken: the next receive waits for more
        return {"type": "http.request", "body": body, "more_body": bool(self.pieces) or self.more_body}


class _BoundedProtocol(HttpToolsProtocol):
    """uvicorn's protocol with the per-address cap, the header timeout and size and count limits
    (the values: `bounded_protocol`'s arguments, as class attributes), and the body in pieces."""

    _addresses: Addresses
    _header_timeout: float
    _max_request_bytes: int
    _max_header_count: int
    _host: str | None = None
    _header_timer = None
    _request_bytes = 0
    _header_count = 0
    _in_message = False  # a request's first bytes came and its last not yet: closing now lingers

    def connection_made(self, transport) -> None:  # type: ignore[override]
        transport = Lingering(transport, self.loop, self)
        super().connection_made(transport)
        host = self.client[0] if self.client else ""
        if not self._addresses.admit(host):
            log.warning("%s: more than %d connections from this address; closed", host, self._addresses.cap)
            transport.close_now()
            return
        self._host = host
        self._arm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            connection = cycle.scope.get(Connection.SCOPE_KEY)
            if connection is not None:
                connection.lost()  # a request held for the client (server/push.py) ends now
        if self._host is not None:
            self._addresses.release(self._host)
            self._host = None
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self._header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        log.debug("%s: no complete request headers within %s s; closed", self._host, self._header_timeout)
        self.transport.close_now()  # type: ignore[attr-defined]  # (a slow client gets no longer)

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:  # type: ignore[attr-defined]
            self.transport.drop(len(data))  # type: ignore[attr-defined]
            return
        super().data_received(data)
        # httptools holds a header's bytes until the header ends, so the bytes are counted as
        # they arrive while headers are awaited, not as the parser hands fields over.
        if self._header_timer is not None and not self.transport.is_closing():
            self._request_bytes += len(data)
            if self._request_bytes > self._max_request_bytes:
                log.warning("%s: request line and headers past %d bytes; refused", self._host, self._max_request_bytes)
                self._disarm()
                self.send_400_response("Request header too large.")

    def on_message_begin(self) -> None:
        self._in_message = True
        self._arm()
        super().on_message_begin()

    def on_message_complete(self) -> None:
        self._in_message = False
        super().on_message_complete()

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._max_header_count:
            log.warning("%s: more than %d header fields; refused", self._host, self._max_header_count)
            raise TooLarge()
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._request_bytes = self._header_count = 0
        self.scope[Connection.SCOPE_KEY] = Connection()  # type: ignore[index]
        super().on_headers_complete()
        # Before its task first runs (the next loop turn), so the app's receive is this one.
        self.cycle.__class__ = PiecesCycle
        self.cycle.pieces = deque()  # type: ignore[attr-defined]

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if not isinstance(cycle, PiecesCycle):
            super().on_body(body)
            return
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        cycle.pieces.append(body)  # (httptools gives each piece as bytes of its own)
        cycle.buffered += len(body)
        if cycle.buffered > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()


def bounded_protocol(addresses: Addresses, header_timeout: float, max_request_bytes: int,
                     max_header_count: int) -> type[HttpToolsProtocol]:
    """The server's HTTP protocol class with these limits."""
    return type("BoundedProtocol", (_BoundedProtocol,), {
        "_addresses": addresses, "_header_timeout": header_timeout, "_max_request_bytes": max_request_bytes,
        "_max_header_count": max_header_count})
