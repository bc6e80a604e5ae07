"""Shared fixtures: a fresh SQLite store per test, the app in-process over httpx.ASGITransport."""
from __future__ import annotations

import base64

import httpx
import pytest

from easlab.server.app import create_app
from easlab.server.config import Settings
from easlab.storage import Database
from easlab.storage.users import add_user

pytest_plugins = ["pytester"]  # tests/plugin runs whole modules as their own sessions


@pytest.fixture(scope="session", autouse=True)
def easlab_home(tmp_path_factory):
    """easlab's data folder for the whole run, so no test (nor a server it starts) touches the real
    one; EASLAB_DB and EASLAB_DOMAIN from the caller's shell would change what tests see."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EASLAB_HOME", str(tmp_path_factory.mktemp("easlab-home")))
        mp.delenv("EASLAB_DB", raising=False)
        mp.delenv("EASLAB_DOMAIN", raising=False)
        yield


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def db(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'easlab.db'}")
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path):
    return Settings(db_url=f"sqlite:///{tmp_path / 'easlab.db'}", domain="easlab.test")


@pytest.fixture
def app(settings, db):
    with db.session() as session:
        add_user(session, "alice", "secret", "Alice Example")
        add_user(session, "bob", "hunter2", "Bob Example")
    return create_app(settings, db)


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def stand_in(app):
    """Put a stand-in command handler in the test's app: a copy of its registry with the stand-in in
    place, so no other app (or test) sees it."""
    from easlab.eas import commands

    def install(name, handler, root):
        app.state.commands = app.state.commands.replacing(commands.Command(name, handler, root=root))

    return install


async def until_held(app, device_id: str = "dev1", user_id: int = 1, timeout: float = 10):
    """Return once the server holds a Ping or Sync of that device: on the hub's own "held" event,
    never a guess like sleep(0.1), which a loaded CI machine outruns."""
    from easlab.server import events

    async def held():
        return app.state.hub.is_held(user_id, device_id)

    await events.wait_until(held, timeout, kinds=("held",), bus=app.state.bus, what=f"a held request of {device_id}")


async def until_timer(clock, n: int = 1, timeout: float = 10) -> None:
    """Return once `n` timers are pending on the ManualClock: the request under test is asleep on
    the clock, so an `advance` now fires it.  Woken by the clock's "timer" event, never a poll."""
    from easlab.server import events

    async def set_():
        return clock.pending >= n

    await events.wait_until(set_, timeout, kinds=("timer",), bus=clock.bus, what=f"{n} pending timers")


def pytest_collection_modifyitems(config, items):
    """Refuse a `req` marker naming an ID that is malformed or not in the server requirements table:
    a typo would otherwise count as coverage of nothing, silently."""
    from pathlib import Path

    from easlab.server import conformance

    marked = [(item, mark) for item in items for mark in item.iter_markers("req")]
    if not marked:
        return
    path = conformance.requirements_path(Path(__file__).resolve().parents[1])
    if not path.is_file():
        raise pytest.UsageError(f"req markers need the requirements table: no {path} (set EASLAB_SHARED)")
    requirements = conformance.load_requirements(path)
    errors = []
    for item, mark in marked:
        if not mark.args:
            errors.append(f"{item.nodeid}: req marker without an ID")
        errors += [f"{item.nodeid}: req marker ID {req_id!r} is {why}"
                   for req_id, why in conformance.unknown_ids(mark.args, requirements)]
    if errors:
        raise pytest.UsageError("\n".join(dict.fromkeys(errors)))
