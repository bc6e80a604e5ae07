"""Protocol traces per device, and the ASGI wrapper that records them and applies wire faults.

`Instrument` wraps the EAS route (one line in server/app.py, see `instrument`).  For each request
it works out who is asking (the Basic login and the request line), then in one database round
trip whether that device is traced and whether a fault applies (server/faults.py).  A traced
exchange is recorded as it went over the wire: request line and headers (Authorization
redacted), the request body, the status, the response headers and body, the time it took, and
what a fault did to it.  Only the bytes are stored; the XML form is decoded when the trace is
read, so recording costs the request path nothing but a copy and an insert.

The ring is bounded per device (storage/faults.py): the last `max_entries` exchanges, at most
`max_bytes` in all, oldest dropped first.

`export_fixture` writes a trace as a folder a test can replay (testing/replay.py):

    001-Provision.request.wbxml   the body as sent (.eml for MIME, .bin for anything else)
    001-Provision.request.xml     its decoded form (absent when there is no body)
    001-Provision.response.wbxml  the answer's body
    001-Provision.response.xml
    index.json                    per exchange: method, path, headers, status, files, timing
"""
from __future__ import annotations

import html
import io
import json
import logging
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.routing import Route

from easlab.eas.request import RequestError, RequestLine, parse_request_line
from easlab.eas.wbxml import DEFAULT_MAX_SIZE, WBXMLError, decode, to_xml
from easlab.storage import generations
from easlab.storage.faults import TraceRecord, record_trace, trace_entries, trace_setting

from . import trips
from .auth import login_name, parse_basic
from .clock import clock_sleep
from .faults import CHECKED_KEY, SCOPE_KEY, FaultAction, answer
from .store.context import READ_AHEAD
from .tracenote import ACCESS_KEY, EXCHANGE_KEY, IDENTITY_KEY, LINE_KEY

log = logging.getLogger("easlab.trace")
WBXML_TYPES = ("application/vnd.ms-sync.wbxml", "application/vnd.ms-sync")
REDACTED = ("authorization", "proxy-authorization")
FIXTURE_VERSION = 1
AUTHENTICATED = ("POST", "OPTIONS")
_URL_SPECIAL = frozenset(b"#\t\r\n")
_COUNTERS = (generations.ACCESS, generations.INSTRUMENT)  # read at the door


# -- who is asking ----------------------------------------------------------------------------
@dataclass
class Probe:
    user: str | None  # canonical user name from the Basic login (not yet verified)
    device_id: str | None
    command: str | None
    version: str | None
    header: str | None  # the Authorization header, to verify when a fault applies
    parsed: bool  # the request line parsed: faults may apply
    line: RequestLine | None = None  # as parsed (POST only), for the endpoint


def probe(scope: dict, domain: str) -> Probe:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    header = headers.get("authorization")
    creds = parse_basic(header)
    user = login_name(creds[0], domain) if creds else None
    query = scope.get("query_string", b"").decode("latin-1")
    method = scope.get("method", "")
    if method == "POST":
        try:
            line = parse_request_line(query, headers)
            return Probe(user, line.device_id, line.command, line.protocol_version, header, True, line)
        except RequestError:
            pass
    by_name = {k.lower(): v for k, v in parse_qsl(query, keep_blank_values=True)}
    command = by_name.get("cmd") or (method if method != "POST" else None)
    return Probe(user, by_name.get("deviceid") or None, command, headers.get("ms-asprotocolversion"), header, False)


# -- the ASGI wrapper -----------------------------------------------------------------------------
class Instrument:
    """ASGI middleware for the EAS route: traces, and faults (including delay and drop)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or "app" not in scope:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        scope["easlab.instrumented"] = True
        who = probe(scope, getattr(state.settings, "domain", "") or state.authenticator.domain)
        if who.line is not None and not _URL_SPECIAL.intersection(scope.get("query_string", b"")):
            scope[LINE_KEY] = who.line  # (the endpoint reads the query through urlsplit, which cuts at these)
        ahead = state.store.read_ahead(who.command) if who.line is not None else None
        traced, action, read = (await state.store.trips.run(self._lookup, state, scope, who, ahead, state.hub.tick)
                                if who.user else (False, None, None))
        if read is not None:
            READ_AHEAD.set(read)  # the command's first read, done on this trip (server/store/context.py)
        del ahead, read  # taken from the context once: not kept by this frame while the request is held
        if not traced and action is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        at = state.clock.now()
        exchange = _Exchange(scope)
        if traced:
            scope[EXCHANGE_KEY] = exchange
            receive = await exchange.buffer_request(receive)
        outgoing = send
        if traced:
            outgoing = exchange.capturing(send)
        if action is not None:
            response = await answer(action, who.version or "14.1", scope, state.clock)
            exchange.note(action.describe())
            if response is not None:
                await response(scope, receive, outgoing)
                await self._record(state, who, exchange, traced, started, at)
                return
            outgoing = _WireFault(scope.get(SCOPE_KEY), outgoing, state.clock, exchange).send
        await self.app(scope, receive, outgoing)
        await self._record(state, who, exchange, traced, started, at)

    @staticmethod
    def _lookup(state, scope, who: Probe, ahead=None, tick: int = 0) -> tuple[bool, FaultAction | None, object]:
        """The door, on a worker thread's trip (server/trips.py): both counters in one statement,
        the traces and faults from the snapshot, the login checked (from the logon's memory,
        mostly) and, for the user it names, what the command reads first (`ahead`,
        MailStore.read_ahead)."""
        # Once per thread trip (server/trips.py): the requests of a trip all arrived before it began.
        access, instrument = trips.once(_COUNTERS, lambda: generations.peek_many(state.db.engine, _COUNTERS))
        scope[ACCESS_KEY] = access
        authenticator = state.authenticator
        read = None
        if scope.get("method") in AUTHENTICATED:
            client = scope.get("client")
            # The first Authorization header, as Starlette's request.headers.get gives the endpoint.
            header = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k.lower() == b"authorization"), None)
            scope[IDENTITY_KEY] = authenticator.authenticate(header, client[0] if client else None, generation=access)
            identity = scope[IDENTITY_KEY]
            if ahead is not None and identity is not None and identity.name == who.user:
                read = ahead(who.user, who.device_id, tick)
        traced, faulty = state.faults.probe(who.user, who.device_id, instrument)
        traced = traced and bool(who.device_id)
        action = None
        if faulty and who.parsed and not scope.get(CHECKED_KEY):
            scope[CHECKED_KEY] = True

            def verify() -> bool:
                identity = scope[IDENTITY_KEY] if IDENTITY_KEY in scope else authenticator.authenticate(who.header)
                return identity is not None and identity.name == who.user

            action = state.faults.match(who.user, who.device_id, who.command, verify=verify)
        return traced, action, read

    @staticmethod
    async def _record(state, who: Probe, exchange: _Exchange, traced: bool, started: float, at) -> None:
        if not traced:
            return
        record = exchange.record(at, (time.perf_counter() - started) * 1000.0, who.command or "")
        try:
            await run_in_threadpool(_store, state.db, who.user, who.device_id, record)
        except Exception:  # a trace must never break the exchange it records
            log.exception("recording a trace exchange for %s/%s failed", who.user, who.device_id)


def _store(db, user, device_id, record: TraceRecord) -> None:
    with db.session() as session:
        record_trace(session, user, device_id, record)


class _Exchange:
    """What went over the wire for one request."""

    def __init__(self, scope):
        self.scope = scope
        self.request_body = b""
        self.status = 0
        self.response_headers: list[list[str]] = []
        self.response_body = bytearray()
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        self.notes.append(text)

    async def buffer_request(self, receive):
        """Read the whole body first (so a trace holds it even if the answer comes before the
        server reads it), then hand the same messages on."""
        chunks: list[bytes] = []
        size = 0
        messages = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if not message.get("more_body", False):
                break
            if size > DEFAULT_MAX_SIZE:
                break  # the endpoint refuses it (413); the rest is left unread, not held here
        self.request_body = b"".join(chunks)[:DEFAULT_MAX_SIZE]

        async def replay():
            if messages:
                return messages.pop(0)
            return await receive()

        return replay

    def capturing(self, send):
        async def capture(message):
            if message["type"] == "http.response.start":
                self.status = message["status"]
                self.response_headers = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in message.get("headers", [])]
            elif message["type"] == "http.response.body":
                self.response_body += message.get("body", b"")
            await send(message)

        return capture

    def record(self, at, duration_ms: float, command: str) -> TraceRecord:
        scope = self.scope
        query = scope.get("query_string", b"").decode("latin-1")
        path = scope.get("path", "") + (f"?{query}" if query else "")
        headers = []
        for k, v in scope.get("headers", []):
            name, value = k.decode("latin-1"), v.decode("latin-1")
            if name.lower() in REDACTED:
                value = value.split(" ", 1)[0] + " <redacted>"
            headers.append([name, value])
        return TraceRecord(at=at, duration_ms=duration_ms, method=scope.get("method", ""), path=path, command=command,
                           request_headers=headers, request_body=self.request_body, status=self.status,
                           response_headers=self.response_headers, response_body=bytes(self.response_body),
                           note="; ".join(self.notes))


class _WireFault:
    """Holds (delay) or cuts (drop) the answer on its way out."""

    def __init__(self, action: FaultAction | None, send, clock, exchange: _Exchange):
        self.action = action
        self.downstream = send
        self.clock = clock
        self.exchange = exchange
        self.budget: int | None = None
        self.cut = False

    async def send(self, message):
        action = self.action
        if action is None:
            await self.downstream(message)
            return
        if self.cut:
            return  # the connection is "gone": the rest of the answer is swallowed
        if message["type"] == "http.response.start":
            if action.kind == "delay":
                await clock_sleep(self.clock, float(action.params.get("seconds") or 0))
            elif action.kind == "drop":
                headers = list(message.get("headers", []))
                length = next((int(v) for k, v in headers if k.lower() == b"content-length" and v.isdigit()), None)
                if length == 0:
                    # Nothing to cut: claim one byte, so the client still sees the body end early.
                    headers = [(k, v) for k, v in headers if k.lower() != b"content-length"] + [(b"content-length", b"1")]
                    message = {**message, "headers": headers}
                    length = 1
                wanted = action.params.get("bytes")
                self.budget = int(wanted) if wanted is not None else (length // 2 if length else 0)
                if length is not None:
                    self.budget = min(self.budget, max(length - 1, 0))
            await self.downstream(message)
            return
        if message["type"] == "http.response.body" and action.kind == "drop":
            body = message.get("body", b"")
            part = body[: self.budget or 0]
            if part:
                await self.downstream({"type": "http.response.body", "body": part, "more_body": True})
            self.budget = max(0, (self.budget or 0) - len(part))
            if self.budget == 0 or not message.get("more_body", False):
                self.cut = True
                sent = len(self.exchange.response_body) if self.exchange.response_body else len(part)
                self.exchange.note(f"connection dropped after the headers and {sent} body bytes")
                log.warning("%s: dropping the connection after %d body bytes", action.describe(), sent)
                await clock_sleep(self.clock, float(action.params.get("seconds") or 0))
            return
        await self.downstream(message)


def instrument(endpoint) -> Route:
    """The EAS route, wrapped: `instrument(activesync.endpoint)` in place of the plain Route."""
    return Route("/Microsoft-Server-ActiveSync", endpoint, methods=["GET", "POST", "OPTIONS", "HEAD"],
                 middleware=[Middleware(Instrument)])


# -- reading traces -----------------------------------------------------------------------------
def content_type(headers: list) -> str:
    for name, value in headers:
        if name.lower() == "content-type":
            return value.split(";")[0].strip().lower()
    return ""


def decoded(body: bytes, headers: list) -> tuple[str | None, str]:
    """(XML, note): the body's decoded form, or None with why not."""
    if not body:
        return None, ""
    kind = content_type(headers)
    if kind and kind not in WBXML_TYPES:
        return None, f"{len(body)} bytes of {kind}, not WBXML"
    try:
        return to_xml(decode(body)), ""
    except WBXMLError as exc:
        return None, f"undecodable WBXML ({len(body)} bytes): {exc}"


def entry_view(entry, *, bodies: bool = True) -> dict:
    request_headers, response_headers = entry.request_headers, entry.response_headers
    out = {
        "id": entry.id, "at": entry.at.isoformat(timespec="milliseconds") if entry.at else None,
        "duration_ms": entry.duration_ms, "method": entry.method, "path": entry.path, "command": entry.command,
        "status": entry.status, "request_headers": request_headers, "response_headers": response_headers,
        "request_size": len(entry.request_body), "response_size": len(entry.response_body), "note": entry.note,
    }
    if bodies:
        out["request_xml"], out["request_note"] = decoded(entry.request_body, request_headers)
        out["response_xml"], out["response_note"] = decoded(entry.response_body, response_headers)
    return out


def trace_view(db, user: str, device_id: str, *, bodies: bool = True, limit: int | None = None) -> dict:
    with db.session() as session:
        setting = trace_setting(session, user, device_id)
        entries = trace_entries(session, user, device_id)
        if limit is not None:
            entries = entries[-limit:]
        return {
            "user": user.lower(), "device_id": device_id,
            "enabled": bool(setting and setting.enabled),
            "max_entries": setting.max_entries if setting else None,
            "max_bytes": setting.max_bytes if setting else None,
            "dropped": setting.dropped if setting else 0,
            "bytes": sum(e.size for e in entries),
            "entries": [entry_view(e, bodies=bodies) for e in entries],
        }


# -- fixtures -----------------------------------------------------------------------------------
def _suffix(body: bytes, headers: list) -> str:
    kind = content_type(headers)
    if kind in WBXML_TYPES or (not kind and body[:1] == b"\x03"):
        return "wbxml"
    if kind == "message/rfc822":
        return "eml"
    return "bin"


def fixture_files(entries) -> dict[str, bytes]:
    """The files of a fixture folder, by name."""
    files: dict[str, bytes] = {}
    index = []
    for n, entry in enumerate(entries, 1):
        request_headers, response_headers = entry.request_headers, entry.response_headers
        stem = f"{n:03d}-{_safe(entry.command or entry.method)}"
        item = {
            "n": n, "command": entry.command, "method": entry.method, "path": entry.path,
            "request_headers": request_headers, "status": entry.status, "response_headers": response_headers,
            "duration_ms": entry.duration_ms, "at": entry.at.isoformat(timespec="milliseconds") if entry.at else None,
            "note": entry.note,
        }
        for side, body, headers in (("request", entry.request_body, request_headers),
                                    ("response", entry.response_body, response_headers)):
            if not body:
                item[f"{side}_file"] = None
                continue
            name = f"{stem}.{side}.{_suffix(body, headers)}"
            files[name] = body
            item[f"{side}_file"] = name
            xml, why = decoded(body, headers)
            if xml is not None:
                files[f"{stem}.{side}.xml"] = xml.encode("utf-8")
                item[f"{side}_xml"] = f"{stem}.{side}.xml"
            elif why:
                item[f"{side}_note"] = why
        index.append(item)
    files["index.json"] = json.dumps({"easlab_fixture": FIXTURE_VERSION, "exchanges": index}, indent=2).encode()
    return files


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name)[:32] or "request"


def load_entries(db, user: str, device_id: str):
    with db.session() as session:
        return trace_entries(session, user, device_id)


def export_fixture(db, user: str, device_id: str, folder: str | Path) -> Path:
    """Write the device's trace as a fixture folder; returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in fixture_files(load_entries(db, user, device_id)).items():
        (folder / name).write_bytes(data)
    return folder


def export_zip(db, user: str, device_id: str) -> bytes:
    buffer = io.BytesIO()
    prefix = f"trace-{_safe(user)}-{_safe(device_id)}/"
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in fixture_files(load_entries(db, user, device_id)).items():
            archive.writestr(prefix + name, data)
    return buffer.getvalue()


# -- HTML (the API's ?format=html page; the admin center has its own, templates/trace.html) ------
def render_html(view: dict) -> str:
    """A self-contained page for one device's trace (no scripts, everything escaped)."""
    esc = html.escape
    rows = []
    for e in view["entries"]:
        def block(title, headers, xml, note, size):
            head = "\n".join(f"{esc(k)}: {esc(v)}" for k, v in headers)
            body = esc(xml) if xml is not None else esc(note or ("(no body)" if not size else ""))
            return f"<h4>{title}</h4><pre>{head}</pre><pre>{body}</pre>"

        rows.append(
            f"<details><summary>#{e['id']} {esc(e['at'] or '')} {esc(e['method'])} {esc(e['command'] or '')} "
            f"&rarr; {e['status']} ({e['duration_ms']:.1f} ms){' &mdash; ' + esc(e['note']) if e['note'] else ''}"
            f"</summary><p><code>{esc(e['path'])}</code></p>"
            + block("Request", e["request_headers"], e.get("request_xml"), e.get("request_note"), e["request_size"])
            + block("Response", e["response_headers"], e.get("response_xml"), e.get("response_note"), e["response_size"])
            + "</details>")
    state = "on" if view["enabled"] else "off"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Trace "
        f"{esc(view['user'])}/{esc(view['device_id'])}</title>"
        "<style>body{font-family:sans-serif;margin:1.5em}pre{background:#f4f4f4;padding:.5em;overflow:auto}"
        "summary{cursor:pointer;font-family:monospace}</style></head><body>"
        f"<h1>Trace of {esc(view['device_id'])} ({esc(view['user'])})</h1>"
        f"<p>Tracing is {state}; {len(view['entries'])} exchanges, {view['bytes']} bytes kept, "
        f"{view['dropped']} dropped (bound: {view['max_entries']} exchanges / {view['max_bytes']} bytes).</p>"
        + ("".join(rows) or "<p>No exchanges recorded.</p>") + "</body></html>")
