"""pytest plugin: a fresh easlab server for each test, factories, and waits that never sleep.

Installed with easlab and registered through the `pytest11` entry point `easlab`, so a test only
names the fixture (without the entry point: `-p easlab.testing.plugin`, or `pytest_plugins =
["easlab.testing.plugin"]` in the root conftest.py):

    import asyncio
    import pytest

    pytestmark = pytest.mark.anyio

    async def test_new_mail_wakes_the_phone(easlab):
        alice = easlab.make_user("alice")
        phone = await easlab.make_device(alice, profile="ios")
        await phone.sync_all("Inbox")
        ping = asyncio.create_task(phone.ping(["Inbox"], heartbeat=600))
        await easlab.wait_for_ping(phone)
        await easlab.deliver(to=alice, subject="Hello")
        assert (await ping).status == 2

Two modes.  "inprocess" (the default) runs the Starlette app in the test's own event loop over
httpx.ASGITransport: no port, a SQLite file of its own, and a ManualClock (`easlab.clock`) that
moves only when the test says `advance(...)`.  "process" starts a real `easlab serve` on free HTTP
and SMTP ports, for black-box tests, with `--test-clock`: `easlab.clock` there moves the server's
clock through /api/clock with the same calls (`clock="system"` keeps the real clock in either mode).  Choose with the marker
`@pytest.mark.easlab(mode="process")`, the option `--easlab-mode`, or the ini option `easlab_mode`.
The store is fresh for each test, or shared by the tests of a module with `scope="module"` (marker)
or `easlab_scope = module` (ini).

Faults (server/faults.py) are injected with `easlab.fault(kind, ...)`, listed with `faults()` and
removed with `clear_faults()`: in-process through the Admin service on the server's clock, in
process mode through /api/faults as an org-admin account the fixture makes (`easlab-admin`).

Every wait (`wait_for_mail`, `wait_for_ping`, `wait_for_device_state`, `wait_for_outbound`)
returns as soon as the server's own events (server/events.py, the push hub) show the condition
holds — at once when it already does — and raises `WaitTimeout` (a TimeoutError) otherwise.  In
process mode the waits are long-polls on the server's /api/wait endpoints (server/api/ops.py).

Async tests run under AnyIO's pytest plugin (`@pytest.mark.anyio`, asyncio backend); devices the
fixture made are closed at the end of each test, and the server — its process, its files — when
its scope ends.  The same objects work without pytest: `start(mode=...)` returns an `Easlab`.

The modules: base.py (the `Easlab` object), factories.py (users, policies, devices, mail),
waits.py, inprocess.py and process.py (the two modes), fixtures.py (the pytest wiring).
"""
from easlab.server.events import WaitTimeout

from .base import Easlab, ModeError
from .factories import Delivered, User
# With `start`, the hooks and fixtures: pytest looks for them on the module the entry point names.
from .fixtures import (  # noqa: F401
    _easlab_loop,
    _easlab_server,
    _easlab_shared,
    easlab,
    pytest_addoption,
    pytest_configure,
    pytest_runtest_makereport,
    start,
)
from .inprocess import InProcessEaslab
from .process import ADMIN, WAITER, ProcessEaslab

__all__ = ["Easlab", "InProcessEaslab", "ProcessEaslab", "User", "Delivered", "ModeError", "WaitTimeout", "start",
           "ADMIN", "WAITER"]
