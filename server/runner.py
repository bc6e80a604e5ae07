"""Run the server process: uvicorn for HTTP and aiosmtpd for SMTP, on one asyncio loop."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import ssl
from dataclasses import dataclass

import uvicorn

from easlab.storage import Database

from . import control, heap, home, limits, tls
from .pgnotify import PgRelay
from .app import create_app
from .autodiscover import phone_setup_text
from .config import Settings
from .connections import Addresses, bounded_protocol
from .smtp import smtp_address, start_smtp, stop_smtp

log = logging.getLogger("easlab")


class StartupError(Exception):
    """The server cannot start for a reason its operator fixes (a port in use): one line, no traceback."""


def _listen_error(what: str, host: str, port: int, exc: OSError, option: str) -> StartupError:
    # os.strerror: asyncio's bind error wraps the system's text in its own sentence.
    cause = os.strerror(exc.errno) if exc.errno else str(exc)
    return StartupError(f"cannot listen for {what} on {host}:{port}: {cause} "
                        f"(choose another with {option}; 0 picks a free one)")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP, and without it a response's body waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(limits.LISTEN_BACKLOG)
    sock.setblocking(False)
    return sock


def http_config(app, descriptors: int, per_address_cap: int | None = None) -> uvicorn.Config:
    """uvicorn with server/limits.py's connection bounds, for a process with `descriptors` open files
    (`per_address_cap`: the lab's own cap per client address, within the connections in all)."""
    total, per_address = limits.connection_limits(descriptors)
    if per_address_cap is not None:
        per_address = max(1, min(per_address_cap, total))
    protocol = bounded_protocol(Addresses(per_address), limits.HEADER_TIMEOUT, limits.MAX_REQUEST_BYTES,
                                limits.MAX_REQUEST_HEADER_COUNT)
    return uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, http=protocol,
                          timeout_keep_alive=limits.KEEP_ALIVE_TIMEOUT, limit_concurrency=total,
                          h11_max_incomplete_event_size=limits.MAX_REQUEST_BYTES, backlog=limits.LISTEN_BACKLOG)


class Listeners(uvicorn.Server):
    """uvicorn on the HTTP socket and, with TLS, on the HTTPS one too: one app, one server state and
    one protocol class, so both share the connection bounds of server/limits.py."""

    def __init__(self, config: uvicorn.Config, tls_socket: socket.socket | None = None,
                 tls_context: ssl.SSLContext | None = None):
        super().__init__(config)
        self.tls_socket, self.tls_context = tls_socket, tls_context

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=[s for s in sockets or [] if s is not self.tls_socket])
        if self.tls_socket is None or not self.started:
            return
        config = self.config

        def create_protocol(_loop=None):
            return config.http_protocol_class(config=config, server_state=self.server_state,
                                               app_state=self.lifespan.state, _loop=_loop)

        # The handshake gets the headers' deadline: the per-address cap counts a TLS connection
        # only once it is up, so a client must not hold half-open ones for long.
        self.servers.append(await asyncio.get_running_loop().create_server(
            create_protocol, sock=self.tls_socket, ssl=self.tls_context, backlog=config.backlog,
            ssl_handshake_timeout=limits.HEADER_TIMEOUT))


def _listen(settings: Settings) -> tuple[socket.socket, socket.socket | None, tls.Material | None]:
    """The HTTP socket and, with TLS, the HTTPS one and what it serves; one line when not possible."""
    try:
        material = tls.material_for(settings) if settings.tls else None  # a bad file: one line, before binding
    except tls.TLSError as exc:
        raise StartupError(str(exc)) from None
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        raise _listen_error("HTTP", settings.host, settings.port, exc, "--port") from None
    if material is None:
        return sock, None, None
    try:
        tls_sock = _bind(settings.host, settings.https_port)
    except OSError as exc:
        sock.close()
        raise _listen_error("HTTPS", settings.host, settings.https_port, exc, "--https-port") from None
    settings.https_port = tls_sock.getsockname()[1]
    settings.tls_ca = str(material.ca_file) if material.ca_file else None
    return sock, tls_sock, material


@dataclass
class Bound:
    """The listening sockets of a server, bound before any process serves on them (so that
    --port 0 resolves before the URL is printed, and `--workers` children share them)."""

    http: socket.socket
    https: socket.socket | None
    material: tls.Material | None
    smtp: socket.socket | None = None  # None: each serve binds its own (one process)

    def close(self) -> None:
        for each in (self.http, self.https, self.smtp):
            if each is not None:
                each.close()


def bind_all(settings: Settings) -> Bound:
    """HTTP, HTTPS with TLS, and SMTP, for `--workers` (server/workers.py)."""
    http, https, material = _listen(settings)
    try:
        smtp = _bind(settings.smtp_bind_host, settings.smtp_port)
    except OSError as exc:
        Bound(http, https, material).close()
        raise _listen_error("SMTP", settings.smtp_bind_host, settings.smtp_port, exc, "--smtp-port") from None
    settings.port = http.getsockname()[1]
    settings.smtp_port = smtp.getsockname()[1]
    return Bound(http, https, material, smtp)


async def serve(settings: Settings, bound: Bound | None = None, ready=None) -> None:
    """Serve until stopped.  `bound`: sockets a parent bound (server/workers.py), whose `ready()`
    is called once this process serves, and which prints the start-up lines itself."""
    bound = bound or Bound(*_listen(settings))
    limits.return_freed_memory()
    limits.share_the_gil()
    sockets = [bound.http] + ([bound.https] if bound.https is not None else [])
    db = Database(settings.db_url)
    app = create_app(settings, db, clock=_test_clock() if settings.test_clock else None)
    settings.port = bound.http.getsockname()[1]
    config = http_config(app, limits.raise_descriptor_limit(), settings.max_connections_per_address)
    server = Listeners(config, bound.https, bound.material.context() if bound.material else None)
    # aiosmtpd logs every SMTP command at INFO ("mail.log"); keep that for --log-level debug.
    if not logging.getLogger("mail.log").isEnabledFor(logging.DEBUG):
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    # SMTP shares this loop (and the app's store and push hub), so a delivery wakes held Pings
    # directly.  Listening before printing makes --smtp-port 0 print the real port.
    try:
        smtp = await start_smtp(app.state.store, settings.smtp_bind_host, settings.smtp_port,
                                settings.max_message_size, faults=app.state.faults, sock=bound.smtp)
    except BaseException as exc:
        bound.close()
        db.dispose()
        if isinstance(exc, OSError):
            raise _listen_error("SMTP", settings.smtp_bind_host, settings.smtp_port, exc, "--smtp-port") from None
        raise
    app.state.smtp = smtp
    smtp_host, settings.smtp_port = smtp_address(smtp)
    app.state.hub.bind(asyncio.get_running_loop())
    relay = listener = None
    if db.dialect == "postgresql":  # other processes may serve this store: hear them (server/pgnotify.py)
        relay = PgRelay(db.url, app.state.hub)
        app.state.hub.relay = relay.send
        await relay.start()
    else:
        listener = await control.listen(db.url, app.state.hub.handle_event)
    if ready is None:
        announce(settings, db, smtp_host, bound.material, app.state.clock)
    else:
        ready()
    heap.settle()  # the app is up: what it built lives as long as the process (server/heap.py)
    try:
        await server.serve(sockets=sockets)
    finally:
        control.close(db.url, listener)
        if relay is not None:
            await relay.stop()
        await stop_smtp(smtp)
        db.dispose()


def announce(settings: Settings, db: Database, smtp_host: str, material: tls.Material | None, clock=None) -> None:
    """The start-up lines, once the server listens: the first names the EAS URL (tests read it)."""
    with db.session() as session:
        from easlab.storage.users import list_users

        has_users = bool(list_users(session))
    smtp_host = f"[{smtp_host}]" if ":" in smtp_host else smtp_host
    _record(settings, db.url, smtp_host)  # before the URL is printed: a CLI started on it reads the domain
    print(f"easlab: EAS endpoint {settings.eas_url}", flush=True)  # first line: tests read the URL here
    print(f"easlab: SMTP on {smtp_host}:{settings.smtp_port}", flush=True)
    print(f"easlab: database {db.url}", flush=True)
    for line in tls.startup_lines(settings, material) if material else []:
        print(line, flush=True)
    print(phone_setup_text(settings), flush=True)
    if settings.test_clock and clock is not None:
        print(f"easlab: test clock at {clock.now().isoformat()}: it moves only by POST /api/clock/advance "
              "or /api/clock/set", flush=True)
    if not has_users:
        print("easlab: no users yet; add one with: easlab user add NAME --password PW", flush=True)


def _test_clock():
    """--test-clock: a ManualClock from the wall clock's present, which /api/clock moves."""
    from datetime import datetime, timezone

    from .clock import ManualClock

    return ManualClock(datetime.now(timezone.utc).replace(microsecond=0))


def _record(settings: Settings, db_url: str, smtp_host: str) -> None:
    """The data folder's settings.json: the CLI reads the domain this server serves from it."""
    record = {"db": db_url, "domain": settings.domain, "eas_url": settings.eas_url, "base_url": settings.base_url,
              "http": f"{settings.host}:{settings.port}", "smtp": f"{smtp_host}:{settings.smtp_port}"}
    if settings.tls:
        record.update(https=f"{settings.host}:{settings.https_port}", https_url=settings.https_base_url)
    try:
        home.write_server_settings(record)
    except OSError as exc:  # a read-only home must not stop the server; the CLI then guesses the domain
        log.warning("cannot write %s: %s", home.settings_path(), exc)


def run_loop(main) -> None:
    """Run the coroutine `main` on uvloop when installed (faster for thousands of held Pings)."""
    try:
        import uvloop  # installed with uvicorn[standard]
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


def run(settings: Settings) -> None:
    """One serving process (`--workers N` is server/workers.py, which calls `serve` in each)."""
    try:
        run_loop(serve(settings))
    except KeyboardInterrupt:
        pass
