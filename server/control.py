"""Cross-process events: the CLI tells a running server what it changed.

`easlab policy set`, `easlab import` and friends write to the database from another process; the
server would only notice at each device's next request.  A held Ping must notice at once (a new
message, a policy change), and polling the database would be exactly the sleep loop easlab
avoids.  So the server listens on a Unix datagram socket named after its database, and the CLI
sends a one-line JSON event after it commits.  Events only wake waiters; they change no state, so a
lost datagram (no server running) costs nothing.

On PostgreSQL the servers (there may be several on one store) hear each other and the CLI through
LISTEN/NOTIFY instead (server/pgnotify.py): `tell` picks the way the database's servers listen.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import socket
import tempfile

log = logging.getLogger("easlab.control")


def socket_path(db_url: str) -> str:
    digest = hashlib.sha1(db_url.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"easlab-{digest}.sock")


def send(db_url: str, event: dict) -> bool:
    """Tell a server on `db_url` about a change; False when none is listening."""
    path = socket_path(db_url)
    if not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(json.dumps(event).encode(), path)
        return True
    except OSError:
        return False


def tell(db, event: dict) -> None:
    """Tell whatever serves `db` (a storage Database) about a change; silent when none runs."""
    if db.dialect == "postgresql":
        from .pgnotify import notify_now

        try:
            notify_now(db, event)
        except Exception as exc:  # a hint: the change is committed, held requests see it next time
            log.warning("cannot notify the servers on %s: %s", db.url, exc)
        return
    send(db.url, event)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, handler):
        self.handler = handler

    def datagram_received(self, data, addr):
        try:
            event = json.loads(data)
        except ValueError:
            log.warning("control: ignoring a datagram that is not JSON")
            return
        try:
            self.handler(event)
        except Exception:  # one bad event must not stop the listener
            log.exception("control: event %r failed", event)


async def listen(db_url: str, handler) -> asyncio.DatagramTransport | None:
    path = socket_path(db_url)
    try:
        if os.path.exists(path):
            os.unlink(path)
        # A bound socket handed over whole: uvloop takes no AF_UNIX `local_addr`.
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(handler), sock=sock)
        return transport
    except (OSError, TypeError, ValueError) as exc:
        log.warning("control socket %s unavailable (%s): CLI changes reach held requests at their next request", path, exc)
        return None


def close(db_url: str, transport) -> None:
    if transport is not None:
        transport.close()
        try:
            os.unlink(socket_path(db_url))
        except OSError:
            pass
