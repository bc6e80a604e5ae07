"""The test tools of /api: injected faults, per-device protocol traces, long-poll waits, and the
test clock.

Handlers as in server/api/handlers.py: (request, actor, body) -> (status, payload); the route
table (server/api/ops.py) checks their permission.  Faults and trace switches change through the
Admin service as the caller (server/admin/testing_ops.py), on the app's clock; the traces are read
by server/traces.py; the waits are server/api/waits.py's `Waits`.  The clock routes move a
ManualClock (`easlab serve --test-clock`, or a test's own app) exactly as `advance` in-process
does, so the timers asleep on it (held Pings, outbound retries, tarpits) fire on the way.
"""
from __future__ import annotations

import asyncio
from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from easlab.storage.faults import MAX_TRACE_ENTRIES, fault_view, get_fault

from .. import events, faults, traces
from ..admin import NotFound
from ..clock import ManualClock
from .handlers import _admin, who
from .validate import BadInput, error, flag, number, param, seconds, take, whole
from .waits import DEFAULT_TIMEOUT, MAX_TIMEOUT, Waits, state_name

FAULT_FIELDS = {"kind": "str", "user": "str?", "device_id": "str?", "command": "str?", "count": "int?",
                "seconds": "number?", "params": "object?"}
TRACE_FIELDS = {"enabled": "bool", "max_entries": "int?", "max_bytes": "int?"}


# -- faults ---------------------------------------------------------------------------------------
async def faults_get(request, actor, body):
    return 200, await run_in_threadpool(faults.listing, request.app)


async def faults_post(request, actor, body):
    fields = dict(take(body, FAULT_FIELDS, ("kind",)))
    return 201, await _admin(request, "fault_add", actor, fields.pop("kind"), **fields)


def _fault_id(request: Request) -> int:
    """The path's fault id; one that is no number names no fault."""
    raw = request.path_params["fault_id"]
    fault_id = whole(raw, 0, 2**63 - 1)
    if fault_id is None:
        raise NotFound(f"no fault {raw}")
    return fault_id


async def fault_get(request, actor, body):
    fault_id = _fault_id(request)
    state = request.app.state

    def work():
        with state.db.session() as session:
            row = get_fault(session, fault_id)
            return fault_view(row, state.clock.now()) if row else None

    view = await run_in_threadpool(work)
    if view is None:
        raise NotFound(f"no fault {fault_id}")
    return 200, view


async def fault_delete(request, actor, body):
    await _admin(request, "fault_remove", actor, _fault_id(request))
    return 204, None


async def faults_delete(request, actor, body):
    user = param(request, "user")
    return 200, {"removed": await _admin(request, "faults_clear", actor, user)}


# -- the test clock -------------------------------------------------------------------------------
NO_TEST_CLOCK = ("this server runs on the real clock, which no one moves: start it with "
                 "`easlab serve --test-clock` to read and advance its clock here")
MAX_ADVANCE = 10 * 366 * 24 * 3600  # a decade: beyond it a lab test means another thing


def _test_clock(request: Request) -> ManualClock:
    clock = request.app.state.clock
    if not isinstance(clock, ManualClock):
        raise NotFound(NO_TEST_CLOCK)
    return clock


def _clock_view(clock: ManualClock) -> dict:
    return {"now": clock.now().isoformat(), "monotonic": clock.monotonic(), "pending": clock.pending}


async def clock_get(request, actor, body):
    return 200, _clock_view(_test_clock(request))


async def clock_advance(request, actor, body):
    clock = _test_clock(request)
    step = take(body, {"seconds": "number"}, ("seconds",))["seconds"]
    if not 0 <= step <= MAX_ADVANCE:
        raise BadInput(f"seconds must be 0-{MAX_ADVANCE}: time does not run backwards")
    clock.advance(step)
    return 200, _clock_view(clock)


async def clock_set(request, actor, body):
    clock = _test_clock(request)
    raw = take(body, {"now": "str"}, ("now",))["now"]
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise BadInput(f"now must be an ISO 8601 time with its offset (2026-01-05T09:00:00+00:00), not {raw!r}") from None
    if when.tzinfo is None:
        raise BadInput("now needs its offset (+00:00 or Z): a time without one names no instant")
    step = (when - clock.now()).total_seconds()
    if not 0 <= step <= MAX_ADVANCE:
        raise BadInput(f"now must be from {clock.now().isoformat()} on (within a decade): time does not run backwards")
    clock.advance(step)
    return 200, _clock_view(clock)


# -- traces ---------------------------------------------------------------------------------------
async def trace_get(request, actor, body):
    user, device_id = who(request)
    limit = number(request, "last", 1, MAX_TRACE_ENTRIES)
    html = param(request, "format") == "html"
    bodies = html or flag(request, "bodies", True)
    view = await run_in_threadpool(traces.trace_view, request.app.state.db, user, device_id, bodies=bodies, limit=limit)
    return 200, HTMLResponse(traces.render_html(view)) if html else view


def _switch(enabled: bool | None):
    async def handler(request, actor, body):
        user, device_id = who(request)
        fields = TRACE_FIELDS if enabled is None else {k: v for k, v in TRACE_FIELDS.items() if k != "enabled"}
        data = take(body, fields, ("enabled",) if enabled is None else ())
        on = data["enabled"] if enabled is None else enabled
        return 200, await _admin(request, "trace_set", actor, user, device_id, on, max_entries=data.get("max_entries"),
                                 max_bytes=data.get("max_bytes"))

    handler.__name__ = {None: "trace_post", True: "trace_on", False: "trace_off"}[enabled]
    return handler


trace_post, trace_on, trace_off = _switch(None), _switch(True), _switch(False)


async def trace_delete(request, actor, body):
    user, device_id = who(request)
    return 200, {"removed": await _admin(request, "trace_clear", actor, user, device_id)}


async def trace_export(request, actor, body):
    user, device_id = who(request)
    data = await run_in_threadpool(traces.export_zip, request.app.state.db, user, device_id)
    name = f"trace-{traces._safe(user)}-{traces._safe(device_id)}.zip"
    return 200, Response(data, media_type="application/zip",
                         headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- waits ----------------------------------------------------------------------------------------
async def _until_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _hold(request: Request, wait, timeout: float, condition: dict):
    """Run the wait: its answer, 404 (NotFound, raised) or 408; give up early if the client goes away."""
    waiter = asyncio.ensure_future(wait)
    gone = asyncio.ensure_future(_until_disconnect(request))
    try:
        await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, gone):
            if not task.done():
                task.cancel()
        await asyncio.gather(waiter, gone, return_exceptions=True)
    if waiter.cancelled():
        return 499, Response(status_code=499)  # the client left; nobody reads this
    exc = waiter.exception()
    if isinstance(exc, events.WaitTimeout):
        return 408, error(408, "timeout", detail=str(exc), timeout=timeout, condition=condition)
    if exc is not None:
        raise exc
    return 200, waiter.result()


def _waits(request: Request) -> Waits:
    state = request.app.state
    return Waits(state.db, state.hub, state.bus)


def _timeout(request: Request) -> float:
    return seconds(request, "timeout", MAX_TIMEOUT, DEFAULT_TIMEOUT)


async def wait_mail(request, actor, body):
    user = param(request, "user", required=True)
    folder = param(request, "folder", default="Inbox")
    subject = param(request, "subject")
    after = number(request, "after", 0, 2**63 - 1, 0)
    with_mime = flag(request, "mime")
    timeout = _timeout(request)

    async def run():
        return (await _waits(request).mail(user, folder, subject, after, timeout)).to_json(with_mime)

    return await _hold(request, run(), timeout, {"user": user, "folder": folder, "subject": subject, "after": after})


async def wait_device(request, actor, body):
    user = param(request, "user", required=True)
    device_id = param(request, "device_id", required=True)
    state = state_name(param(request, "state", required=True))
    timeout = _timeout(request)
    return await _hold(request, _waits(request).device(user, device_id, state, timeout), timeout,
                       {"user": user, "device_id": device_id, "state": state})


async def wait_outbound(request, actor, body):
    to = param(request, "to")
    subject = param(request, "subject")
    after = number(request, "after", 0, 2**63 - 1, 0)
    with_mime = flag(request, "mime")
    timeout = _timeout(request)

    async def run():
        return (await _waits(request).outbound(to, subject, after, timeout)).to_json(with_mime)

    return await _hold(request, run(), timeout, {"to": to, "subject": subject, "after": after})


async def wait_ping(request, actor, body):
    user = param(request, "user", required=True)
    device_id = param(request, "device_id", required=True)
    timeout = _timeout(request)
    return await _hold(request, _waits(request).ping(user, device_id, timeout), timeout,
                       {"user": user, "device_id": device_id})
