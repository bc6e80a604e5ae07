"""The /Microsoft-Server-ActiveSync endpoint: HTTP in, `eas.dispatch` in the middle, HTTP out."""
from __future__ import annotations

import dataclasses
import logging
import traceback

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response as HTTPResponse

from easlab.eas import versions
from easlab.eas.commands import Registry
from easlab.eas.context import CommandContext
from easlab.eas.dispatch import PREFIX_SIZE, dispatch, prefix_refusal
from easlab.eas.request import RequestError, parse_request_line
from easlab.eas.response import WBXML_CONTENT_TYPE, Response
from easlab.eas.status import Common, encode as encode_status
from easlab.eas.wbxml import Element
from easlab.eas.wbxml.codec import encode_pieces

from . import push, tracenote
from .clock import clock_sleep
from .tracenote import ACCESS_KEY, IDENTITY_KEY, LINE_KEY

log = logging.getLogger("easlab.http")

SERVER_VERSION = "16.1"  # MS-Server-ActiveSync: the Exchange build family we emulate
PROTOCOL_VERSIONS = ",".join(versions.SUPPORTED)


def _capability_headers(commands: Registry) -> dict[str, str]:
    return {
        "MS-Server-ActiveSync": SERVER_VERSION,
        "MS-ASProtocolVersions": PROTOCOL_VERSIONS,
        "MS-ASProtocolCommands": ",".join(commands.advertised()),
    }


def _unauthorized() -> HTTPResponse:
    return HTTPResponse(status_code=401, headers={"WWW-Authenticate": 'Basic realm="easlab"'})


async def _identity(request: Request):
    if IDENTITY_KEY in request.scope:  # checked at the door (server/traces.py), in its worker thread
        identity = request.scope[IDENTITY_KEY]
    else:
        auth = request.app.state.authenticator
        identity = await run_in_threadpool(auth.authenticate, request.headers.get("authorization"),
                                           request.client.host if request.client else None)
    if identity is None:
        log.info("401 for %s %s from %s", request.method, request.url.path, request.client.host if request.client else "?")
    return identity


def _too_large() -> HTTPResponse:
    # Connection: close, so the server stops reading (and discarding) what the client still sends.
    return HTTPResponse(b"", status_code=413, headers={"Connection": "close"})


class _Refused(Exception):
    """A body refused from its first bytes (eas.dispatch.prefix_refusal); the rest is not read."""


async def _read_body(request: Request, limit: int, refuse=None) -> bytes | None:
    """The body, or None once it passes `limit` bytes: counted as it arrives, since a chunked
    body has no Content-Length to refuse it by, and the rest is never read.  The chunks are kept
    as they came and joined once: a growing bytearray holds an eighth more than it read, and
    copies itself whole each time it outgrows its block, twice the limit at the peak.  `refuse`
    is asked once about the first PREFIX_SIZE bytes of a longer body (a reason raises _Refused)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None  # what was read goes with this frame
        chunks.append(chunk)
        if refuse is not None and size > PREFIX_SIZE:
            reason = refuse((chunks[0] if len(chunks[0]) >= PREFIX_SIZE else b"".join(chunks))[:PREFIX_SIZE])
            refuse = None
            if reason is not None:
                raise _Refused(reason)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


# An answer's body goes to the connection in pieces of at most this many bytes: a 7 MB
# ItemOperations answer written whole was one multi-millisecond copy into the socket on the event
# loop; in pieces the loop serves other users between two, and each waits for the connection to
# drain (uvicorn's flow control), so the kernel never holds more than a piece beyond its buffer.
# Below glibc's mmap threshold (server/limits.py), so a piece costs no fresh pages.
WRITE_SLICE = 64 * 1024


class _Answer(HTTPResponse):
    """An answer whose client may have gone: a closed connection while it is written is the
    client's doing (a phone that lost its network mid-Ping), not a server error to log.  Its
    content is bytes, or the pieces of a large answer (wbxml encode_pieces), never joined."""

    def __init__(self, content: bytes | list[bytes], status_code: int = 200, headers: dict | None = None,
                 media_type: str | None = None):
        if isinstance(content, list):
            # Content-Length where Starlette puts it: after the given headers, before Content-Type.
            headers = {**(headers or {}), "Content-Length": str(sum(map(len, content)))}
            self.pieces = content
            content = b""
        else:
            self.pieces = [content]
        super().__init__(content, status_code=status_code, headers=headers, media_type=media_type)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            last = len(self.pieces) - 1
            for n, piece in enumerate(self.pieces):
                for at in range(0, max(len(piece), 1), WRITE_SLICE):
                    more = n < last or at + WRITE_SLICE < len(piece)
                    await send({"type": "http.response.body", "body": piece[at:at + WRITE_SLICE], "more_body": more})
        except (OSError, ClientDisconnect) as exc:
            log.debug("%s: the client left before the answer (%s)", scope.get("query_string", b"").decode("latin-1")[:200],
                      type(exc).__name__)


def to_http(response: Response) -> HTTPResponse:
    headers = {"Cache-Control": "private", "MS-Server-ActiveSync": SERVER_VERSION, **response.headers}
    body = response.body
    if isinstance(body, Element):
        # In pieces, never joined: a Sync page of megabytes joined was one more block past the mmap
        # threshold (server/limits.py), its pages faulted in for each answer.
        return _Answer(encode_pieces(body), status_code=response.status, headers=headers, media_type=WBXML_CONTENT_TYPE)
    if body:
        return _Answer(body, status_code=response.status, headers=headers, media_type=response.content_type)
    return _Answer(b"", status_code=response.status, headers=headers)


def server_error(request: Request, line, user: str, exc: Exception) -> HTTPResponse:
    """What escaped a command, answered as MS-ASCMD's common status 110 ServerError: in the body
    from 14.0, a bare HTTP 500 before (and for a command without an XML root).  Not 111
    (retry later): the same request would meet the same fault.  One line at ERROR names who
    and where; the traceback goes to DEBUG."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {frame.filename}:{frame.lineno}" if frame else ""
    log.error("%s %s %s: %s: %s%s", user, line.device_id, line.command, type(exc).__name__, str(exc)[:200], at)
    log.debug("%s %s %s: traceback", user, line.device_id, line.command, exc_info=exc)
    command = request.app.state.commands.get(line.command)
    root = command.root if command is not None else None
    return to_http(encode_status(Common.ServerError, line.protocol_version, root))


async def endpoint(request: Request) -> HTTPResponse:
    if request.method == "OPTIONS":
        if await _identity(request) is None:
            return _unauthorized()
        return HTTPResponse(b"", headers={**_capability_headers(request.app.state.commands), "Allow": "OPTIONS,POST", "Public": "OPTIONS,POST"})
    if request.method != "POST":
        return HTTPResponse(b"", status_code=501, headers={"Allow": "OPTIONS,POST"})

    identity = await _identity(request)
    if identity is None:
        return _unauthorized()
    try:
        line = request.scope.get(LINE_KEY)  # parsed at the door (server/traces.py)
        if line is None:
            line = parse_request_line(request.url.query, {k.lower(): v for k, v in request.headers.items()})
        # IRM needs TLS (MS-ASRM 3.2.5.1).  The scheme as request.url has it, without building the
        # URL (its host parsing and unsplitting were a twentieth of a Ping's time on the loop).
        secure = request.scope.get("scheme", "http") == "https"
        if line.secure != secure:
            line = dataclasses.replace(line, secure=secure)
    except RequestError as exc:
        log.warning("%s: %s %s (%s)", identity.name, exc.http_status, exc.reason, request.url.query[:200])
        extra = {"MS-ASProtocolVersions": PROTOCOL_VERSIONS} if "version" in exc.reason else {}
        return HTTPResponse(b"", status_code=exc.http_status, headers=extra)

    push.CONNECTION.set(request.scope.get(push.Connection.SCOPE_KEY))  # for a wait in the hub to end if the client goes
    throttle = request.app.state.throttle
    refused = await throttle.admit(identity.name, line)
    if refused is not None:
        return to_http(refused)
    try:
        return await _command(request, identity, line)
    finally:
        throttle.leave(identity.name, line)


def _explain(request: Request, user: str, line, requirement) -> None:
    """A refusal out of MS-AS strictness names its requirement (eas/refusals.py): in the log, and in
    the device's protocol trace, where whoever wonders why their client was refused looks first."""
    text = f"refused by {requirement.id}: {requirement.rule}"
    log.warning("%s %s %s: %s", user, line.device_id, line.command, text)
    tracenote.note(request.scope, text)


async def _command(request: Request, identity, line) -> HTTPResponse:
    """Read the body, run the command and answer; the throttling policy admitted it."""
    limit = request.app.state.limits.max_request_size
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        log.warning("%s %s: body of %s bytes refused", identity.name, line.command, length)
        return _too_large()
    command, content_type = request.app.state.commands.get(line.command), request.headers.get("content-type")
    try:
        body = await _read_body(request, limit, lambda prefix: prefix_refusal(command, prefix, content_type))
    except ClientDisconnect:
        log.debug("%s %s %s: the client left in the middle of its body", identity.name, line.device_id, line.command)
        return _Answer(b"", status_code=400)  # nobody reads it
    except _Refused as exc:
        log.warning("%s %s %s: %s", identity.name, line.device_id, line.command, exc)
        return _Answer(b"", status_code=400, headers={"Connection": "close"})  # the rest is not read
    if body is None:
        log.warning("%s %s %s: body past %d bytes refused while it streamed", identity.name, line.device_id,
                    line.command, limit)
        return _too_large()
    ctx = CommandContext(
        request=line,
        user=identity.name,
        address=identity.address,
        store=request.app.state.store,
        limits=request.app.state.limits,
        clock=request.app.state.hub.clock.monotonic,
        commands=request.app.state.commands,
        generation=request.scope.get(ACCESS_KEY),
    )
    try:
        response = await dispatch(ctx, body, request.headers.get("content-type"))
        await request.app.state.throttle.observe(identity.name, line, body, response)  # auto-block counters
        if response.refused_by is not None:
            _explain(request, identity.name, line, response.refused_by)
        if response.delay:
            await clock_sleep(request.app.state.clock, response.delay)  # Exchange's tarpit for blocked devices
        if response.heavy and isinstance(response.body, Element):
            response.body, response.content_type = await run_in_threadpool(encode_pieces, response.body), WBXML_CONTENT_TYPE
        return to_http(response)  # encoding too: a value it cannot write is a fault of this request
    except Exception as exc:  # the handler boundary: a bug must not become a traceback on the wire
        return server_error(request, line, identity.name, exc)
