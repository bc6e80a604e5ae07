"""The outbound queue retries on the app's clock: under a ManualClock a refused message is sent
again exactly when the clock reaches its next attempt (30 s, then 60 s: server/outbound.py
`backoff`), and arrives once."""
import asyncio

import pytest
from aiosmtpd.smtp import SMTP as SMTPProtocol
from sqlmodel import select

from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.server.config import Settings
from easlab.server.outbound import backoff
from easlab.storage.models import OutboundMail
from tests.conftest import until_timer

pytestmark = pytest.mark.anyio


class Smarthost:
    """A loopback SMTP server that answers DATA with 451 for the first `refusals` messages."""

    def __init__(self, refusals: int):
        self.refusals = refusals
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        if self.refusals:
            self.refusals -= 1
            return "451 4.3.0 Try again later"
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 OK"


@pytest.fixture
async def smarthost():
    host = Smarthost(refusals=2)
    server = await asyncio.get_running_loop().create_server(lambda: SMTPProtocol(host), "127.0.0.1", 0)
    host.port = server.sockets[0].getsockname()[1]
    yield host
    server.close()
    await server.wait_closed()


def row(db) -> OutboundMail:
    with db.session() as s:
        return s.exec(select(OutboundMail)).one()


async def test_retry_with_backoff_on_the_app_clock(tmp_path, db, smarthost):
    clock = ManualClock()
    settings = Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test",
                        smarthost=f"127.0.0.1:{smarthost.port}")
    app = create_app(settings, db, clock=clock)
    outbound = app.state.outbound
    with db.session() as s:
        s.add(OutboundMail(sender="alice@easlab.test", recipients=["carol@example.net"],
                           subject="Retry me", mime=b"Subject: Retry me\r\n\r\nbody\r\n"))
    start = clock.now()
    outbound.kick()
    await outbound.idle()
    first = row(db)
    assert (first.status, first.attempts, first.last_error) == ("queued", 1, "DATA refused: 451 4.3.0 Try again later")
    assert first.next_attempt_at.replace(tzinfo=None) == (start + backoff(1)).replace(tzinfo=None)
    await until_timer(clock)  # the retry is a timer on the app's clock, 30 s away

    clock.advance(29)
    await outbound.idle()
    assert (row(db).attempts, clock.pending) == (1, 1)  # not yet: the timer has not fired
    clock.advance(1)  # next_attempt_at: the second attempt, refused again
    await outbound.idle()
    second = row(db)
    assert (second.status, second.attempts) == ("queued", 2)
    assert second.next_attempt_at.replace(tzinfo=None) == (start + backoff(1) + backoff(2)).replace(tzinfo=None)
    assert backoff(2).total_seconds() == 60

    clock.advance(59)
    await outbound.idle()
    assert (row(db).attempts, smarthost.received) == (2, [])
    clock.advance(1)  # the third attempt is accepted
    await outbound.idle()
    sent = row(db)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 2, "")
    assert sent.sent_at.replace(tzinfo=None) == (start + backoff(1) + backoff(2)).replace(tzinfo=None)
    assert smarthost.received == [("alice@easlab.test", ["carol@example.net"], b"Subject: Retry me\r\n\r\nbody\r\n")]
    assert clock.pending == 0  # nothing left to retry
    clock.advance(hours=2)
    await outbound.idle()
    assert len(smarthost.received) == 1  # sent once
