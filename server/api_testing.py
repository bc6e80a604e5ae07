"""JSON API for the test tools: /api/faults and /api/devices/{user}/{device_id}/trace.

Authenticated like the rest of /api (server/api.py `authenticate`: HTTP Basic with a mailbox
account, or the admin center's session cookie plus X-CSRF-Token on changes).  Reading needs the
view permission (any role); changing needs configure (org-admin).

    GET    /api/faults                                  every fault with its state and hits
    POST   /api/faults                                  {"kind", "user"?, "device_id"?, "command"?,
                                                         "count"?, "seconds"?, "params"?} -> 201
    DELETE /api/faults/{id}                             204, 404 when there is no such fault
    DELETE /api/faults                                  remove all (?user= only that user's)
    GET    /api/devices/{user}/{device_id}/trace        the ring, decoded (?last=N, ?bodies=0,
                                                         ?format=html for a page)
    POST   /api/devices/{user}/{device_id}/trace        {"enabled": bool, "max_entries"?, "max_bytes"?}
    POST   /api/devices/{user}/{device_id}/trace/on     the same, switched on (body optional)
    POST   /api/devices/{user}/{device_id}/trace/off
    DELETE /api/devices/{user}/{device_id}/trace        forget the recorded exchanges
    GET    /api/devices/{user}/{device_id}/trace/export a zip of the fixture folder

The routes carry their full /api paths so server/app.py lists them before its Mount("/api"):
`*api_testing.routes(db, settings)`.
"""
from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from easlab.storage.faults import (
    FaultError, add_fault, clear_faults, clear_trace, fault_view, get_fault, list_faults, remove_fault,
)

from . import traces
from .admin import Actor
from .web.wiring import middleware as web_middleware
from .web.wiring import org_secret

MAX_BODY = 64 * 1024
FAULT_FIELDS = {"kind": str, "user": (str, type(None)), "device_id": (str, type(None)),
                "command": (str, type(None)), "count": (int, type(None)), "seconds": (int, float, type(None)),
                "params": (dict, type(None))}
TRACE_FIELDS = {"enabled": bool, "max_entries": (int, type(None)), "max_bytes": (int, type(None))}


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, fields: dict, required: tuple[str, ...] = ()) -> dict:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise FaultError("the body is too large")
    if not raw.strip():
        data = {}
    else:
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            raise FaultError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise FaultError("the body must be a JSON object")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise FaultError(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; known: {', '.join(fields)}")
    for name in required:
        if name not in data:
            raise FaultError(f"{name} is required")
    for name, value in data.items():
        types = fields[name] if isinstance(fields[name], tuple) else (fields[name],)
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise FaultError(f"{name} has the wrong type")
    return data


def endpoint(permission: str, handler):
    async def run(request: Request) -> Response:
        from .api import authenticate  # the /api module's authentication, shared

        actor = await authenticate(request)
        if isinstance(actor, Response):
            return actor
        assert isinstance(actor, Actor)
        if not actor.may(permission):
            return _error(403, f"{actor.name} ({actor.role or 'no role'}) may not {permission}")
        try:
            return await handler(request)
        except FaultError as exc:
            return _error(400, str(exc))

    run.__name__ = f"api_testing_{handler.__name__}"
    return run


def _clock(request: Request):
    return request.app.state.clock


def _db(request: Request):
    return request.app.state.db


# -- faults ----------------------------------------------------------------------------------------
async def faults_get(request: Request) -> Response:
    def work():
        with _db(request).session() as session:
            return list_faults(session, _clock(request).now())

    return JSONResponse(await run_in_threadpool(work))


async def faults_post(request: Request) -> Response:
    data = await _body(request, FAULT_FIELDS, ("kind",))
    now = _clock(request).now()

    def work():
        with _db(request).session() as session:
            row = add_fault(session, data["kind"], now=now, user=data.get("user"), device_id=data.get("device_id"),
                            command=data.get("command"), params=data.get("params"), count=data.get("count"),
                            seconds=data.get("seconds"))
            return fault_view(row, now)

    view = await run_in_threadpool(work)
    return JSONResponse(view, status_code=201, headers={"Location": f"/api/faults/{view['id']}"})


def _fault_id(request: Request) -> int | None:
    raw = request.path_params["fault_id"]
    return int(raw) if raw.isdigit() else None


async def fault_get(request: Request) -> Response:
    fault_id = _fault_id(request)

    def work():
        with _db(request).session() as session:
            row = get_fault(session, fault_id) if fault_id is not None else None
            return fault_view(row, _clock(request).now()) if row else None

    view = await run_in_threadpool(work)
    return JSONResponse(view) if view else _error(404, f"no fault {request.path_params['fault_id']}")


async def fault_delete(request: Request) -> Response:
    fault_id = _fault_id(request)

    def work():
        with _db(request).session() as session:
            return fault_id is not None and remove_fault(session, fault_id)

    if not await run_in_threadpool(work):
        return _error(404, f"no fault {request.path_params['fault_id']}")
    return Response(status_code=204)


async def faults_delete(request: Request) -> Response:
    user = request.query_params.get("user") or None

    def work():
        with _db(request).session() as session:
            return clear_faults(session, user)

    return JSONResponse({"removed": await run_in_threadpool(work)})


# -- traces ----------------------------------------------------------------------------------------
def _who(request: Request) -> tuple[str, str]:
    user, device_id = request.path_params["user"], request.path_params["device_id"]
    if not user or not device_id or len(user) > 64 or len(device_id) > 64:
        raise FaultError("user and device id are 1-64 characters")
    return user, device_id


async def trace_get(request: Request) -> Response:
    user, device_id = _who(request)
    last = request.query_params.get("last")
    limit = int(last) if last and last.isdigit() and int(last) > 0 else None
    html = request.query_params.get("format") == "html"
    bodies = html or request.query_params.get("bodies", "1") not in ("0", "false", "no")
    view = await run_in_threadpool(traces.trace_view, _db(request), user, device_id, bodies=bodies, limit=limit)
    if html:
        return HTMLResponse(traces.render_html(view))
    return JSONResponse(view)


def _switch(enabled: bool | None):
    async def handler(request: Request) -> Response:
        user, device_id = _who(request)
        fields = TRACE_FIELDS if enabled is None else {k: v for k, v in TRACE_FIELDS.items() if k != "enabled"}
        data = await _body(request, fields, ("enabled",) if enabled is None else ())
        on = data["enabled"] if enabled is None else enabled
        now = _clock(request).now()

        return JSONResponse(await run_in_threadpool(traces.switch, _db(request), user, device_id, on, now,
                                                    max_entries=data.get("max_entries"), max_bytes=data.get("max_bytes")))

    handler.__name__ = {None: "trace_post", True: "trace_on", False: "trace_off"}[enabled]
    return handler


async def trace_delete(request: Request) -> Response:
    user, device_id = _who(request)

    def work():
        with _db(request).session() as session:
            return clear_trace(session, user, device_id)

    return JSONResponse({"removed": await run_in_threadpool(work)})


async def trace_export(request: Request) -> Response:
    user, device_id = _who(request)
    data = await run_in_threadpool(traces.export_zip, _db(request), user, device_id)
    name = f"trace-{traces._safe(user)}-{traces._safe(device_id)}.zip"
    return Response(data, media_type="application/zip", headers={"Content-Disposition": f'attachment; filename="{name}"'})


TRACE = "/api/devices/{user}/{device_id}/trace"
TABLE = [
    ("GET", "/api/faults", "view", faults_get),
    ("POST", "/api/faults", "configure", faults_post),
    ("DELETE", "/api/faults", "configure", faults_delete),
    ("GET", "/api/faults/{fault_id}", "view", fault_get),
    ("DELETE", "/api/faults/{fault_id}", "configure", fault_delete),
    ("GET", TRACE, "view", trace_get),
    ("POST", TRACE, "configure", _switch(None)),
    ("DELETE", TRACE, "configure", trace_delete),
    ("POST", TRACE + "/on", "configure", _switch(True)),
    ("POST", TRACE + "/off", "configure", _switch(False)),
    ("GET", TRACE + "/export", "view", trace_export),
]


def routes(db, settings) -> list[Route]:
    """The routes with their full /api paths, each behind /api's middleware (security headers and
    the session cookie); list them before server/app.py's Mount("/api")."""
    middleware = web_middleware(org_secret(db), settings)
    by_path: dict[str, dict[str, tuple[str, object]]] = {}
    for method, path, permission, handler in TABLE:
        by_path.setdefault(path, {})[method] = (permission, handler)
    out = []
    for path, methods in by_path.items():
        handlers = {m: endpoint(p, h) for m, (p, h) in methods.items()}

        async def dispatch(request: Request, handlers=handlers) -> Response:
            return await handlers[request.method](request)

        dispatch.__name__ = f"api_testing_{path.strip('/').replace('/', '_')}"
        out.append(Route(path, dispatch, methods=list(handlers), middleware=middleware))
    return out
