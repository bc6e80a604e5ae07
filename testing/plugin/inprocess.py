"""In-process mode: the Starlette app in the test's own event loop over httpx.ASGITransport, no
port, a SQLite file of its own, and a ManualClock that moves only when the test advances it.
"""
from __future__ import annotations

import asyncio
import smtplib
from datetime import datetime, timezone
from pathlib import Path

from .base import Easlab
from .factories import DEFAULT_DOMAIN, User, password_hash


class InProcessEaslab(Easlab):
    """The app in this process over httpx.ASGITransport, with a ManualClock by default."""

    mode = "inprocess"
    url = "http://testserver"

    def __init__(self, directory: Path, domain: str = DEFAULT_DOMAIN, scope: str = "function",
                 clock: str = "manual", owns_directory: bool = True):
        super().__init__(directory, domain, scope, owns_directory)
        from easlab.server.app import create_app
        from easlab.server.clock import ManualClock, SystemClock
        from easlab.server.config import Settings, env_flag

        # A ManualClock that starts at the real time and then stands still until advanced.
        self._clock = ManualClock(datetime.now(timezone.utc).replace(microsecond=0)) if clock == "manual" else SystemClock()
        # EASLAB_AUTH_LOCKOUT=0 switches the logon back-off off, as for `easlab serve` (process mode).
        settings = Settings(db_url=self.db_url, domain=self.domain, public_url=self.url,
                            auth_lockout=env_flag("EASLAB_AUTH_LOCKOUT", True))
        self._app = create_app(settings, self.db, clock=self._clock)
        from easlab.server.api.waits import Waits

        self._waits = Waits(self.db, self._app.state.hub, self._app.state.bus)

    @property
    def app(self):
        return self._app

    def _admin_clock(self):
        return self._clock

    @property
    def clock(self):
        """The server's clock: an easlab.server.clock.ManualClock (advance(seconds, minutes=...))."""
        return self._clock

    def _now(self) -> datetime:
        return self._clock.now()

    def _target(self):
        return self._app

    def _http_client(self, **kw):
        import httpx

        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self._app), base_url=self.url, **kw)

    def _add_fault(self, fields: dict) -> dict:
        from easlab.server.faults import inject

        kind = fields.pop("kind")
        return inject(self._app, kind, **fields)

    def faults(self) -> list[dict]:
        from easlab.server.faults import listing

        return listing(self._app)

    def remove_fault(self, fault_id: int) -> bool:
        from easlab.server.faults import remove

        return remove(self._app, int(fault_id))

    def clear_faults(self, user: User | str | None = None) -> int:
        from easlab.server.faults import clear

        return clear(self._app, str(user).strip().lower() if user is not None else None)

    def _user_added(self, user: User) -> None:
        # The fixture knows the password it just set, so the server need not spend an argon2
        # verification on the test's first request: what a successful login would have cached.
        self._app.state.authenticator.remember(password_hash(user.password), user.password)

    def _notify(self, event: dict) -> None:
        hub = self._app.state.hub
        loop = hub._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop and loop.is_running():
            loop.call_soon_threadsafe(hub.handle_event, event)
        else:
            hub.handle_event(event)

    async def _deliver(self, mime: bytes, sender: str, recipients: list[str]) -> None:
        # Injected smtp faults answer where the SMTP listener would (server/smtp.py): at RCPT for
        # one recipient, at DATA for the message; smtplib's exceptions, as in process mode.
        from easlab.server.faults import smtp_fault

        store = self._app.state.store
        refused: dict[str, tuple[int, bytes]] = {}
        accepted = []
        for address in recipients:
            reply = await smtp_fault(store, address, "rcpt", faults=self._app.state.faults)
            if reply is not None:
                code, _, text = reply.partition(" ")
                refused[address] = (int(code), text.encode())
            else:
                accepted.append(address)
        if not accepted:
            raise smtplib.SMTPRecipientsRefused(refused)
        reply = await smtp_fault(store, accepted, "data", faults=self._app.state.faults)
        if reply is not None:
            code, _, text = reply.partition(" ")
            raise smtplib.SMTPDataError(int(code), text.encode())
        result = await store.deliver(mime, accepted)
        refused.update({a: (550, b"5.1.1 no such user here") for a in result.unknown})
        if refused:
            raise smtplib.SMTPRecipientsRefused(refused)

    async def _wait_mail(self, user, folder, subject, after, timeout, with_mime):
        return await self._waits.mail(user, folder, subject, after, timeout)

    async def _wait_outbound(self, to, subject, after, timeout, with_mime):
        return await self._waits.outbound(to, subject, after, timeout)

    async def _wait_device(self, user, device_id, state, timeout):
        return await self._waits.device(user, device_id, state, timeout)

    async def _wait_ping(self, user, device_id, timeout):
        return await self._waits.ping(user, device_id, timeout)

    def _stop(self) -> None:
        self._app.state.outbound.close()
