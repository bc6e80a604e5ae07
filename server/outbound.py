"""The outbound queue: mail for other domains goes through the smarthost (server/relay.py:
STARTTLS, AUTH, and the reason of a refusal kept as the message's last error), with retries.

Nothing polls: `kick()` starts a run when mail is queued; a failed send is retried at a
scheduled time (exponential back-off, at most an hour apart) through the app's clock
(server/clock.py), so a test's ManualClock decides when a retry happens.  Without a smarthost,
mail stays queued where the API and web UI show it: a lab never loses a sent mail.
"""
from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta

from sqlmodel import select
from starlette.concurrency import run_in_threadpool

from easlab.storage import Database
from easlab.storage.models import OutboundMail

from .relay import Relay, RelayError

log = logging.getLogger("easlab.outbound")


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


class Outbound:
    def __init__(self, db: Database, smarthost: str | None, clock, relay: Relay | None = None, tls_context=None):
        self.db = db
        self.smarthost = smarthost
        self.relay = relay or Relay.of(smarthost)
        self.tls_context = tls_context  # None: the relay's own (system roots or EASLAB_SMARTHOST_CA)
        self.clock = clock
        self._running: asyncio.Task | None = None
        self._timer = None  # the clock's handle for the next retry
        self._warned = False

    def kick(self) -> None:
        if not self.smarthost:
            if not self._warned:
                log.warning("mail for other domains stays in the outbound queue: no --smarthost set")
                self._warned = True
            return
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().create_task(self._run())

    async def idle(self) -> None:
        """Return once the current run, if any, has finished (tests; shutdown)."""
        if self._running is not None:
            await asyncio.shield(self._running)

    def _due(self) -> tuple[list[int], datetime | None]:
        now = self.clock.now()
        with self.db.session() as s:
            rows = list(s.exec(select(OutboundMail).where(OutboundMail.status == "queued").order_by(OutboundMail.id)))
        due = [r.id for r in rows if r.next_attempt_at is None or r.next_attempt_at <= now]
        later = [r.next_attempt_at for r in rows if r.next_attempt_at is not None and r.next_attempt_at > now]
        return due, min(later) if later else None

    def _send_one(self, mail_id: int) -> None:
        with self.db.session() as s:
            row = s.get(OutboundMail, mail_id)
            if row is None or row.status != "queued":
                return
            try:
                # SMTP wants CRLF; stored notices may carry bare LF, and smtplib sends bytes as-is.
                self.relay.send(row.sender, row.recipients, re.sub(rb"(?<!\r)\n", b"\r\n", row.mime), self.tls_context)
                row.status, row.sent_at, row.last_error = "sent", self.clock.now(), ""
                log.info("outbound %s sent to %s", row.id, row.recipients)
            except RelayError as exc:
                row.attempts += 1
                row.last_error = str(exc)[:1000]
                row.next_attempt_at = self.clock.now() + backoff(row.attempts)
                log.warning("outbound %s to %s failed (attempt %d, retry at %s): %s", row.id, row.recipients,
                            row.attempts, row.next_attempt_at.isoformat(timespec="seconds"), exc)
            s.add(row)

    async def _run(self) -> None:
        due, later = await run_in_threadpool(self._due)
        for mail_id in due:
            await run_in_threadpool(self._send_one, mail_id)
        _, later = await run_in_threadpool(self._due)
        if later is not None:
            delay = max(0.0, (later - self.clock.now()).total_seconds())
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.clock.call_later(delay, self.kick)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
