"""/healthz (server/health.py): 200 when the store answers and SMTP listens, 503 naming what does not."""
from __future__ import annotations

import os

import httpx
import pytest
from sqlalchemy import event

from easlab.server.app import create_app
from easlab.server.smtp import start_smtp, stop_smtp
from easlab.storage import Database

DEAD_PG = "postgresql://easlab@127.0.0.1:1/easlab"  # port 1: nothing listens, the connection is refused


async def get_healthz(app) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://easlab.test") as client:
        return await client.get("/healthz")  # no Authorization: the endpoint needs no login


@pytest.fixture
async def listening(app):
    """The app with its SMTP listener started, as server/runner.py starts it."""
    app.state.smtp = await start_smtp(app.state.store, "127.0.0.1", 0, 1000)
    yield app
    await stop_smtp(app.state.smtp)


@pytest.mark.anyio
async def test_ready_answers_200_and_runs_one_select(listening, db):
    statements = []
    event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    response = await get_healthz(listening)
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "store": "ok", "smtp": "ok"}
    assert response.headers["cache-control"] == "no-store"
    # A cheap read, no write: on SQLite the transaction opens with a deferred BEGIN (storage/db.py),
    # never BEGIN IMMEDIATE, which would queue for the writer's lock.
    assert [s for s in statements if s != "BEGIN"] == ["SELECT 1"]


@pytest.mark.anyio
async def test_ready_on_postgresql(settings):
    db = Database(os.environ["EASLAB_TEST_PG_URL"])
    db.create_all()
    app = create_app(settings, db)
    app.state.smtp = await start_smtp(app.state.store, "127.0.0.1", 0, 1000)
    try:
        response = await get_healthz(app)
    finally:
        await stop_smtp(app.state.smtp)
        db.dispose()
    assert (response.status_code, response.json()) == (200, {"status": "ready", "store": "ok", "smtp": "ok"})


@pytest.mark.anyio
async def test_unreachable_store_answers_503_naming_the_store(listening):
    listening.state.db = Database(DEAD_PG)
    try:
        response = await get_healthz(listening)
    finally:
        listening.state.db.dispose()
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "store": "unreachable (OperationalError)", "smtp": "ok"}
    assert "127.0.0.1" not in response.text  # the driver's message (hosts, users) stays in the server


@pytest.mark.anyio
async def test_smtp_not_started_answers_503(app):
    response = await get_healthz(app)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "store": "ok", "smtp": "not started"}


@pytest.mark.anyio
async def test_smtp_stopped_answers_503(app):
    app.state.smtp = await start_smtp(app.state.store, "127.0.0.1", 0, 1000)
    await stop_smtp(app.state.smtp)
    response = await get_healthz(app)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "store": "ok", "smtp": "not listening"}
