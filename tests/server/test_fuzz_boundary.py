"""A bounded, seeded fuzz of every EAS command at the HTTP boundary, in process.

The mutator is easlab.testing.fuzz (bench/fuzz.py runs it for long): valid requests of each command
are mutated (truncated, bytes flipped, string values replaced by OPAQUE with a NUL, by bytes that
are not UTF-8, by huge or negative numbers, by long text, an element given children where it holds
a value and the reverse, elements dropped and repeated) with a fixed seed, and sent through the
ASGI app.  Nothing may escape the app, and no answer may be an undesigned one: the handler boundary logs every fault that reaches it at ERROR (server/activesync.py),
so no ERROR record means every 5xx was designed (MS-ASCMD's HTTP status for a common status before
14.0, 501 for a command a version lacks).  Held requests (Ping, Sync with Wait) sleep on a manual
clock the driver advances, so nothing here waits in real time.
"""
import logging
import random

import httpx
import pytest

from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.testing.fuzz import QUERY_ONLY, VERSIONS, designed, seeds, send, sweep, work
from tests.server.eas_helpers import message
from tests.server.items_helpers import deliver

pytestmark = pytest.mark.anyio
SEED = 20261207
MUTANTS = 4  # random mutants per seed request and version


@pytest.fixture
def app(settings, db):
    from easlab.storage.users import add_user

    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
        add_user(session, "bob", "hunter2", "Bob Example")
    return create_app(settings, db, clock=ManualClock())


async def test_no_mutated_request_escapes_or_gets_an_undesigned_answer(app, caplog):
    caplog.set_level(logging.WARNING)
    rng = random.Random(SEED)
    clock = app.state.clock
    sent, statuses = 0, {}
    await deliver(app, message(subject="one"), message(subject="two", attachments=[("a.txt", b"abc", "text/plain")]))
    # raise_app_exceptions (the default): an exception escaping the app fails the test here.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        for version in VERSIONS:
            device = f"fuzz{version.replace('.', '')}"
            line = f"User=alice&DeviceId={device}&DeviceType=Fuzz"
            requests = work(rng, version, MUTANTS, swept=version == VERSIONS[-1])  # the sweep once, in 16.1
            for cmd, body in requests:
                r = await send(client, clock, f"Cmd={cmd}&{line}", body, version)
                sent += 1
                statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
                errors = [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.ERROR]
                assert not errors, (version, cmd, body[:200], r.status_code, errors)
                assert r.status_code in designed(version), (version, cmd, body[:200], r.status_code)
    swept = sum(len(sweep(tree)) for _, tree in seeds())
    assert sent == len(VERSIONS) * (len(seeds()) * (MUTANTS + 1) + len(QUERY_ONLY) + 20) + swept == 503
    assert statuses[200] > sent // 2  # most mutants are still read far enough to be answered by a command
