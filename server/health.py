"""/healthz: is this server ready to serve, for a container's HEALTHCHECK and the pytest plugin.

Ready means the store answers a query and the SMTP listener is listening.  The route needs no
login and writes nothing: a `SELECT 1` on a pooled connection, and a look at the listener the
runner started (server/runner.py sets `app.state.smtp`; an app made without the runner, as in the
in-process test mode, has none and says so).  200 when every part is ready, else 503 naming the
parts that are not, so an orchestrator's log says which one to look at.
"""
from __future__ import annotations

import asyncio

from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from easlab.storage import Database

# Longer than a healthy store ever takes, shorter than Docker's default HEALTHCHECK timeout (30 s).
STORE_TIMEOUT = 5.0
READY = "ok"


def _query(db: Database) -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def store_state(db: Database) -> str:
    """READY, or why the store is not: the driver's error class, not its text (which names hosts
    and users to an endpoint anyone may call)."""
    try:
        await asyncio.wait_for(run_in_threadpool(_query, db), STORE_TIMEOUT)
    except asyncio.TimeoutError:
        return f"no answer within {STORE_TIMEOUT:g} s"
    except Exception as exc:  # any failure to query is the answer, whatever the driver raises
        cause = getattr(exc, "orig", None) or exc
        return f"unreachable ({type(cause).__name__})"
    return READY


def smtp_state(server: asyncio.AbstractServer | None) -> str:
    if server is None:
        return "not started"
    return READY if server.is_serving() else "not listening"


async def healthz(request: Request) -> JSONResponse:
    state = request.app.state
    parts = {"store": await store_state(state.db), "smtp": smtp_state(getattr(state, "smtp", None))}
    ready = all(value == READY for value in parts.values())
    body = {"status": "ready" if ready else "unavailable", **parts}
    return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})


routes = [Route("/healthz", healthz, methods=["GET", "HEAD"])]
