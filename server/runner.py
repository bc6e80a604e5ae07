"""Run the server process: uvicorn for HTTP, on one asyncio loop."""
from __future__ import annotations

import asyncio
import logging
import socket

import uvicorn

from storage import Database

from .app import create_app
from .config import Settings

log = logging.getLogger("easlab")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


async def serve(settings: Settings) -> None:
    db = Database(settings.db_url)
    app = create_app(settings, db)
    # Bind first, so that --port 0 resolves to a real port before the URL is printed.
    sock = _bind(settings.host, settings.port)
    settings.port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=120, server_header=False)
    server = uvicorn.Server(config)
    with db.session() as session:
        from storage.users import list_users

        has_users = bool(list_users(session))
    print(f"easlab: EAS endpoint {settings.eas_url}", flush=True)
    print(f"easlab: database {db.url}", flush=True)
    if not has_users:
        print("easlab: no users yet; add one with: easlab user add NAME --password PW", flush=True)
    try:
        await server.serve(sockets=[sock])
    finally:
        db.dispose()


def run(settings: Settings) -> None:
    try:
        asyncio.run(serve(settings))
    except KeyboardInterrupt:
        pass
