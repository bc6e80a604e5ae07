"""A bounded, seeded fuzz of every EAS command at the HTTP boundary, in process.

The mutator is easlab.testing.fuzz (bench/fuzz.py runs it for long): valid requests of each command
are mutated (truncated, bytes flipped, string values replaced by OPAQUE with a NUL, by bytes that
are not UTF-8, by huge or negative numbers, by long text, an element given children where it holds
a value and the reverse, elements dropped and repeated) with a fixed seed, and sent through the
ASGI app (easlab.testing.fuzz.call, as an HTTP server hands a request over).  Nothing may escape the app, and no answer may be an undesigned one: the handler boundary logs every fault that reaches it at ERROR (server/activesync.py),
so no ERROR record means every 5xx was designed (MS-ASCMD's HTTP status for a common status before
14.0, 501 for a command a version lacks).  Held requests (Ping, Sync with Wait) sleep on a manual
clock the driver advances, so nothing here waits in real time.
"""
import dataclasses
import random

import pytest

from easlab.server.app import create_app
from easlab.server.clock import ManualClock
from easlab.testing.fuzz import QUERY_ONLY, VERSIONS, Tally, counting_errors, fuzz_round, seeds, sweep, work
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


async def _round(app) -> Tally:
    """The bounded round: every seed and its mutants in each version, the leaf sweep once, in 16.1."""
    tally = Tally()
    with counting_errors() as errors:
        await fuzz_round(app, random.Random(SEED), tally, errors, "fuzz", MUTANTS, swept=VERSIONS[-1:])
    return tally


async def test_no_mutated_request_escapes_or_gets_an_undesigned_answer(app):
    await deliver(app, message(subject="one"), message(subject="two", attachments=[("a.txt", b"abc", "text/plain")]))
    tally = await _round(app)
    assert (tally.undesigned, tally.crashes) == (0, 0), tally.examples
    swept = sum(len(sweep(tree)) for _, tree in seeds())
    assert tally.sent == len(VERSIONS) * (len(seeds()) * (MUTANTS + 1) + len(QUERY_ONLY) + 20) + swept == 503
    assert tally.statuses[200] > tally.sent // 2  # most mutants are still read far enough to be answered by a command


def _inputs(command: str, versions=VERSIONS) -> int:
    """How many inputs of `command` the bounded round sends in `versions` (the same draws as `_round`)."""
    rng, count = random.Random(SEED), 0
    for version in VERSIONS:
        requests = work(rng, version, MUTANTS, swept=version == VERSIONS[-1])
        count += sum(1 for cmd, _ in requests if "Cmd=" + cmd.split("&")[0] == command) if version in versions else 0
    return count


async def test_a_fault_the_handler_boundary_answers_is_still_counted(app):
    # The boundary answers a handler's exception by design (HTTP 500 in 12.1, a Status in 16.1) and
    # logs it at ERROR: that record is what marks it undesigned.
    command = app.state.commands["Settings"]

    async def broken(ctx, request):
        raise ValueError("injected")

    app.state.commands = app.state.commands.replacing(dataclasses.replace(command, handler=broken))
    tally = await _round(app)
    assert tally.crashes == 0
    assert 0 < tally.undesigned <= _inputs("Cmd=Settings")  # the ones read far enough to reach the handler
    assert "12.1 -> 500" in tally.examples[0] and "ValueError: injected" in tally.examples[0], tally.examples


class _Faulty:
    """The app, but an undesigned 500 (16.1 has none by design) for every Ping in 16.1, and an
    exception escaping the app for every ValidateCert."""

    def __init__(self, app):
        self.app, self.state = app, app.state

    async def __call__(self, scope, receive, send):
        query = scope["query_string"]
        if query.startswith(b"Cmd=Ping&") and b"x161&" in query:
            await send({"type": "http.response.start", "status": 500, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        elif query.startswith(b"Cmd=ValidateCert&"):
            raise RuntimeError("escaped")
        else:
            await self.app(scope, receive, send)


async def test_an_undesigned_status_and_an_escaping_exception_are_counted(app):
    tally = await _round(_Faulty(app))
    assert tally.undesigned == _inputs("Cmd=Ping", ("16.1",)) > 0
    assert tally.crashes == _inputs("Cmd=ValidateCert") > 0
    assert tally.statuses[500] >= tally.undesigned
    assert any("crash Cmd=ValidateCert" in e and "escaped" in e for e in tally.examples), tally.examples
