"""Inbound SMTP: aiosmtpd's protocol on the web server's own asyncio loop.

No threaded `Controller`: `start_smtp` calls `loop.create_server` with aiosmtpd's `SMTP` protocol,
so a delivery runs next to the held Pings it wakes.  Recipients are checked at RCPT (550 for an
address with no local user), the size limit is aiosmtpd's `data_size_limit` (552 at MAIL when
the client declares a larger SIZE, 552 after DATA otherwise), and a message is stored in every
recipient's Inbox in one transaction by `MailStore.deliver`, which then wakes the Pings that
watch those Inboxes.  A delivery that fails answers 451, so the sender keeps the message and
tries again: mail is never accepted and then lost.
"""
from __future__ import annotations

import asyncio
import logging
import re
import weakref
from datetime import datetime, timezone
from email.utils import format_datetime

from aiosmtpd.smtp import MISSING, SMTP, Envelope, Session, syntax
from starlette.concurrency import run_in_threadpool

from easlab.storage import generations

from .config import DEFAULT_MAX_MESSAGE_SIZE
from .faults import Faults, smtp_fault, smtp_reply
from .store import MailStore

log = logging.getLogger("easlab.smtp")
_AIOSMTPD_LOG = logging.getLogger("mail.log")  # aiosmtpd's logger (its push logs every reply at debug)

IDENT = "easlab ESMTP"
_GENERATION = "easlab_instrument"  # the envelope's attribute: the `instrument` counter read at its last RCPT

# What may appear of a client's HELO argument in our Received: header (no spaces, controls, or
# anything that could end the header or start a comment).
_HELO_UNSAFE = re.compile(r"[^A-Za-z0-9.\-_:\[\]]")


def _clean_helo(name: str | None) -> str:
    cleaned = _HELO_UNSAFE.sub("", name or "")[:255]
    return cleaned or "unknown"


def _peer_literal(peer) -> str:
    """The client's address as an RFC 5321 address literal: [192.0.2.1] or [IPv6:2001:db8::1]."""
    if isinstance(peer, (tuple, list)) and peer:
        host = str(peer[0])
    elif peer:
        host = str(peer)
    else:
        return "[unknown]"
    return f"[IPv6:{host}]" if ":" in host else f"[{host}]"


_DATE: list = [None, ""]  # (the second and its offset, its RFC 5322 form): a second's burst formats it once


def _rfc5322_date(now: datetime) -> str:
    """format_datetime(now), which drops the microseconds, remembered for the last second asked."""
    key = (now.replace(microsecond=0), now.utcoffset())
    if _DATE[0] != key:
        _DATE[:] = [key, format_datetime(now)]
    return _DATE[1]


def received_header(session: Session, envelope: Envelope, hostname: str, now: datetime | None = None,
                    newline: bytes = b"\r\n") -> bytes:
    """The trace header a receiving MTA prepends (RFC 5321 4.4), folded over three lines."""
    helo = _clean_helo(session.host_name)
    protocol = "ESMTP" if session.extended_smtp else "SMTP"
    when = _rfc5322_date(now or datetime.now(timezone.utc))
    recipient = ""
    if len(envelope.rcpt_tos) == 1:
        address = re.sub(r"[^\x21-\x7e]", "", envelope.rcpt_tos[0]).strip("<>")
        recipient = f" for <{address}>" if address else ""
    text = (f"Received: from {helo} ({_peer_literal(session.peer)})"
            f"{newline.decode()}\tby {hostname} (easlab) with {protocol}{recipient};"
            f"{newline.decode()}\t{when}{newline.decode()}")
    return text.encode("ascii")


def _newline_of(content: bytes) -> bytes:
    end = content.find(b"\n")
    return b"\r\n" if end > 0 and content[end - 1:end] == b"\r" else (b"\n" if end >= 0 else b"\r\n")


class DeliveryHandler:
    """aiosmtpd handler: RCPT checks the user table, DATA stores through `MailStore`."""

    def __init__(self, store: MailStore, hostname: str, faults: Faults | None = None):
        self.store = store
        self.hostname = hostname
        self.faults = faults  # the app's injected faults (`easlab fault add smtp`); None: none apply
        self.connections: weakref.WeakSet[SMTP] = weakref.WeakSet()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options):
        try:
            quick = self._remembered(envelope, address)
            refusal, known = quick if quick is not None else await run_in_threadpool(self._check_recipient, envelope, address)
        except Exception:
            log.exception("checking recipient %s failed", address)
            return "451 4.3.0 Temporary failure checking the recipient; try again later"
        if refusal is not None:
            return refusal
        if not known:
            log.info("rejected recipient %s from %s", address, _peer_literal(session.peer))
            return f"550 5.1.1 <{address}>: Recipient address rejected: no such user here"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    def _remembered(self, envelope: Envelope, address: str) -> tuple[str | None, bool] | None:
        """_check_recipient's answer on the loop, when memory has it: on SQLite both counters in one
        read by primary key (a WAL read never waits for the writer, so it cannot hold the loop up
        as a trip to a worker thread would cost more than it), the fault snapshot in memory, and
        the recipients delivery remembers under that `access` generation.  None: ask in a worker
        thread (on PostgreSQL always: a read there is a round trip)."""
        if self.store.context.db.writer is None:
            return None
        name = self.store.local_user_name(address)
        if not name:
            return None, False
        access, instrument = generations.peek_many(self.store.context.db.engine, (generations.ACCESS, generations.INSTRUMENT))
        if self.faults is not None and not self.faults.smtp_clear([name], instrument):
            return None
        known = self.store.remembered_user(name, access)
        if known is None:
            return None
        if self.faults is not None:
            setattr(envelope, _GENERATION, instrument)
        return None, known

    def _check_recipient(self, envelope: Envelope, address: str) -> tuple[str | None, bool]:
        """In one worker thread (a trip there costs as much as both reads): (the reply an injected
        fault gives, the address has a local user).  The `instrument` counter read here is kept
        with the envelope, so that DATA asks the fault snapshot in memory instead of the store."""
        if self.faults is not None:
            generation = self.faults.generation()
            setattr(envelope, _GENERATION, generation)
            name = self.store.local_user_name(address)
            action = self.faults.match_smtp([name], "rcpt", generation) if name else None
            if action is not None:
                return smtp_reply(action), False
        return None, self.store.user_exists(address)

    async def _data_fault(self, envelope: Envelope) -> str | None:
        if self.faults is None:
            return None
        users = [name for name in map(self.store.local_user_name, envelope.rcpt_tos) if name]
        if not users or self.faults.smtp_clear(users, getattr(envelope, _GENERATION, None)):
            return None
        return await smtp_fault(self.store, envelope.rcpt_tos, "data", self.faults)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope):
        refusal = await self._data_fault(envelope)
        if refusal is not None:
            return refusal
        content = envelope.original_content  # bytes as received (decode_data is off)
        if content is None:
            content = envelope.content if isinstance(envelope.content, bytes) else (envelope.content or "").encode("utf-8", "surrogateescape")
        message = content
        try:
            message = received_header(session, envelope, self.hostname, newline=_newline_of(content)) + content
            result = await self.store.deliver(message, list(envelope.rcpt_tos))
        except Exception:
            log.exception("delivery of a message from <%s> to %s failed; answered 451",
                          envelope.mail_from, ", ".join(envelope.rcpt_tos))
            return "451 4.3.0 Error storing the message; try again later"
        if result.unknown:
            # Recipients were checked at RCPT; a user removed since then cannot be stored for.
            log.warning("message from <%s>: recipients gone since RCPT: %s", envelope.mail_from, ", ".join(result.unknown))
        if not result.delivered:
            return "554 5.1.1 No valid recipients left"
        log.info("accepted message from <%s> for %s, %d bytes (helo %s, peer %s)",
                 envelope.mail_from, ", ".join(result.delivered), len(message),
                 _clean_helo(session.host_name), _peer_literal(session.peer))
        return "250 2.0.0 OK"


# aiosmtpd's size refusals (at MAIL with SIZE=, and after DATA) carry no enhanced status code;
# answer as Exchange does.
_SIZE_REPLY = "552 5.3.4 Message size exceeds fixed maximum message size"
_REPLACED = {
    "552 Error: message size exceeds fixed maximum message size": _SIZE_REPLY,
    "552 Error: Too much mail data": _SIZE_REPLY,
}


# A MAIL or RCPT path that is a plain dot-atom address in angle brackets, then parameters (not a
# comment): aiosmtpd's own reading of it (email's header value parser) is a tenth of a delivery.
_DOT_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_PLAIN_PATH = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>(?:[ \t]+(?!\()|\Z)")


class _Protocol(SMTP):
    """aiosmtpd's SMTP, remembering its connections so that shutdown can close them."""

    def _getaddr(self, arg: str):
        """aiosmtpd's (address, the rest of the line), read by a regular expression for a plain
        path and by aiosmtpd otherwise (tests/server/test_smtp_group.py compares the two)."""
        match = _PLAIN_PATH.match(arg) if arg else None
        if match is None:
            return super()._getaddr(arg)
        address = match.group(1)
        if self.local_part_limit and len(address.rpartition("@")[0]) > self.local_part_limit:
            return None, None
        return address, arg[match.end():]

    async def push(self, status: str | bytes) -> None:
        """aiosmtpd's push (the reply encoded as it encodes it, logged at debug, then drained), with
        the size refusals _REPLACED, and the drain skipped when it would return at once without
        yielding (the reader holds no error, the transport is open and not paused): two coroutine
        calls a reply fewer."""
        status = _REPLACED.get(status, status)
        response = bytes(status, "utf-8" if self.enable_SMTPUTF8 else "ascii") if isinstance(status, str) else status
        self._writer.write(response + b"\r\n")
        if _AIOSMTPD_LOG.isEnabledFor(logging.DEBUG):
            _AIOSMTPD_LOG.debug("%r << %r", self.session.peer if self.session is not None else None, response)
        writer = self._writer  # StreamWriter.drain, less its awaits where none would suspend
        if (self._paused or self._connection_lost or writer.transport.is_closing()
                or (self._reader is not None and self._reader.exception() is not None)):
            await writer.drain()

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        """aiosmtpd's DATA, reading every complete line the connection holds at once instead of one
        `readuntil` and one trip round its loop a line (half of what aiosmtpd spent on a small
        message): the same replies, limits, dot-unstuffing and content (tests/server/test_smtp_data.py
        compares the two)."""
        if self._decode_data or "DATA" not in self._handle_hooks or not isinstance(getattr(self._reader, "_buffer", None), bytearray):
            return await super().smtp_DATA(arg)
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            return await self.push("503 Error: need RCPT command")
        if arg:
            return await self.push("501 Syntax: DATA")
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        body = _Body(self.data_size_limit, self.line_length_limit)
        while self.transport is not None and not (not body.fragments and await body.take_buffered(self._reader)):
            try:
                line = await self._reader.readuntil(b"\r\n")
            except asyncio.CancelledError:
                log.info("connection lost during DATA")
                self._writer.close()
                raise
            except asyncio.LimitOverrunError as exc:  # a line longer than the reader's limit: refused at the end
                body.too_long()
                line = await self._reader.read(exc.consumed)
            if not body.fragments and line == b".\r\n":
                break
            body.add(line)
        if body.refusal is not None:
            await self.push(body.refusal)
            self._set_post_data_state()
            return
        content = body.content()
        self.envelope.content = self.envelope.original_content = content
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        if first:
            self.event_handler.connections.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        self.event_handler.connections.discard(self)
        super().connection_lost(error)


class _Body:
    """The lines of DATA as aiosmtpd keeps them (with their CRLF), in runs of whole lines, the bytes
    counted against the size limit, and the reply that refuses the message (too much data, a line
    too long)."""

    def __init__(self, limit: int | None, longest: int):
        self.limit, self.longest = limit, longest
        self.lines: list[bytes] = []  # runs of whole lines, each ending with CRLF
        self.fragments: list[bytes] = []  # a line read in pieces (longer than the reader's limit)
        self.size = 0
        self.refusal: str | None = None  # aiosmtpd's answer to the first limit passed (552 is then _REPLACED)

    def too_long(self) -> None:
        if self.refusal is None:
            self.refusal = "500 Line too long (see RFC5321 4.5.3.1.6)"
        self.lines.clear()

    def add(self, line: bytes) -> None:
        self.size += len(line)
        if self.refusal is None and self.limit and self.size > self.limit:
            self.refusal = "552 Error: Too much mail data"
            self.lines.clear()
        self.fragments.append(line)
        if line.endswith(b"\r\n"):
            if self.refusal is None:
                whole = b"".join(self.fragments)
                if len(whole) > self.longest:
                    self.too_long()
                else:
                    self.lines.append(whole)
            self.fragments.clear()

    def content(self) -> bytes:
        """The lines less their dot-stuffing (RFC 5321 4.5.2: a line's leading dot dropped): every
        line starts the content or follows a CRLF, and no two CRLF-dots overlap."""
        content = b"".join(self.lines)
        if content[:1] == b".":
            content = content[1:]
        return content.replace(b"\r\n.", b"\r\n")

    def _fits(self, run: bytes) -> bool:
        """Whether adding the whole lines of `run` one by one would pass no limit."""
        if self.refusal is not None or (self.limit and self.size + len(run) > self.limit):
            return False
        return len(run) <= self.longest or max(map(len, run.split(b"\r\n"))) + 2 <= self.longest

    async def take_buffered(self, reader: asyncio.StreamReader) -> bool:
        """Take the complete lines the reader holds (up to a line too long, which the caller reads
        as aiosmtpd does); True when they end with the lone dot.  The count is read off the
        reader's buffer and the bytes taken with readexactly, which has them all: no waiting.
        Lines that pass no limit are kept as one run; otherwise they go through `add` one by one."""
        buffered: bytearray = reader._buffer  # type: ignore[attr-defined]
        end = buffered.rfind(b"\r\n") + 2
        if end < 2:
            return False
        chunk = bytes(buffered[:end])
        dot = 0 if chunk[:3] == b".\r\n" else chunk.find(b"\r\n.\r\n") + 2  # where the lone dot's line starts
        run = chunk if dot == 1 else chunk[:dot]
        if run and self._fits(run):
            await reader.readexactly(len(run) + (0 if dot == 1 else 3))
            self.size += len(run)
            self.lines.append(run)
            return dot != 1
        taken, done, lines = 0, False, []
        for line in run.split(b"\r\n")[:-1] if run else ():
            if len(line) + 2 > self.longest:
                break
            lines.append(line + b"\r\n")
            taken += len(line) + 2
        else:
            if dot != 1:
                taken, done = taken + 3, True
        if taken:
            await reader.readexactly(taken)
        for line in lines:
            self.add(line)
        return done


_HANDLERS: weakref.WeakKeyDictionary[asyncio.AbstractServer, DeliveryHandler] = weakref.WeakKeyDictionary()


async def start_smtp(store: MailStore, host: str, port: int, max_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                     hostname: str | None = None, faults: Faults | None = None,
                     sock=None) -> asyncio.Server:
    """Listen for SMTP on `host`:`port` (0: any free port) on the running loop; stop with
    `stop_smtp`.  `max_size` bytes of DATA at most (0 or None: no limit); `faults`: the app's
    (`app.state.faults`), so injected SMTP faults answer; `sock`: a socket already listening
    (`easlab serve --workers`), instead of `host`:`port`."""
    loop = asyncio.get_running_loop()
    name = hostname or store.domain
    handler = DeliveryHandler(store, name, faults)

    def factory() -> SMTP:
        return _Protocol(handler, data_size_limit=max_size or None, hostname=name, ident=IDENT,
                         enable_SMTPUTF8=True, loop=loop)

    server = await (loop.create_server(factory, sock=sock) if sock is not None else loop.create_server(factory, host, port))
    _HANDLERS[server] = handler
    return server


def smtp_address(server: asyncio.Server) -> tuple[str, int]:
    host, port = server.sockets[0].getsockname()[:2]
    return host, port


async def stop_smtp(server: asyncio.Server) -> None:
    """Stop listening and close the open SMTP sessions (a message mid-DATA is not accepted, so the
    sender will retry it)."""
    server.close()
    handler = _HANDLERS.pop(server, None)
    if handler is not None:
        for protocol in list(handler.connections):
            if protocol.transport is not None:
                protocol.transport.close()
    await server.wait_closed()
