"""Run the server process: uvicorn for HTTP and aiosmtpd for SMTP, on one asyncio loop."""
from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from easlab.storage import Database

from . import control, limits
from .app import create_app
from .autodiscover import phone_setup_text
from .config import Settings
from .connections import Addresses, bounded_protocol
from .smtp import smtp_address, start_smtp, stop_smtp

log = logging.getLogger("easlab")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP (not 0): asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP, and without it a response's body waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def http_config(app, descriptors: int) -> uvicorn.Config:
    """uvicorn with server/limits.py's connection bounds, for a process with `descriptors` open files."""
    total, per_address = limits.connection_limits(descriptors)
    protocol = bounded_protocol(Addresses(per_address), limits.HEADER_TIMEOUT, limits.MAX_REQUEST_BYTES,
                                limits.MAX_REQUEST_HEADER_COUNT)
    return uvicorn.Config(app, log_level="warning", access_log=False, server_header=False, http=protocol,
                          timeout_keep_alive=limits.KEEP_ALIVE_TIMEOUT, limit_concurrency=total,
                          h11_max_incomplete_event_size=limits.MAX_REQUEST_BYTES)


async def serve(settings: Settings) -> None:
    db = Database(settings.db_url)
    app = create_app(settings, db)
    # Bind first, so that --port 0 resolves to a real port before the URL is printed.
    sock = _bind(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    server = uvicorn.Server(http_config(app, limits.raise_descriptor_limit()))
    with db.session() as session:
        from easlab.storage.users import list_users

        has_users = bool(list_users(session))
    # aiosmtpd logs every SMTP command at INFO ("mail.log"); keep that for --log-level debug.
    if not logging.getLogger("mail.log").isEnabledFor(logging.DEBUG):
        logging.getLogger("mail.log").setLevel(logging.WARNING)
    # SMTP shares this loop (and the app's store and push hub), so a delivery wakes held Pings
    # directly.  Listening before printing makes --smtp-port 0 print the real port.
    try:
        smtp = await start_smtp(app.state.store, settings.smtp_bind_host, settings.smtp_port,
                                settings.max_message_size, faults=app.state.faults)
    except BaseException as exc:
        sock.close()
        db.dispose()
        if isinstance(exc, OSError):
            raise SystemExit(f"easlab: cannot listen for SMTP on {settings.smtp_bind_host}:{settings.smtp_port}: "
                             f"{exc.strerror or exc} (choose another with --smtp-port; 0 picks a free one)") from None
        raise
    smtp_host, settings.smtp_port = smtp_address(smtp)
    smtp_host = f"[{smtp_host}]" if ":" in smtp_host else smtp_host
    print(f"easlab: EAS endpoint {settings.eas_url}", flush=True)  # first line: tests read the URL here
    print(f"easlab: SMTP on {smtp_host}:{settings.smtp_port}", flush=True)
    print(f"easlab: database {db.url}", flush=True)
    print(phone_setup_text(settings), flush=True)
    if not has_users:
        print("easlab: no users yet; add one with: easlab user add NAME --password PW", flush=True)
    app.state.hub.bind(asyncio.get_running_loop())
    listener = await control.listen(db.url, app.state.hub.handle_event)
    try:
        await server.serve(sockets=[sock])
    finally:
        control.close(db.url, listener)
        await stop_smtp(smtp)
        db.dispose()


def run(settings: Settings) -> None:
    try:
        try:
            import uvloop  # installed with uvicorn[standard]; a faster loop for thousands of held Pings
        except ImportError:
            asyncio.run(serve(settings))
        else:
            uvloop.run(serve(settings))
    except KeyboardInterrupt:
        pass
