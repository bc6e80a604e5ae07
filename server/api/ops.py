"""The route table of /api: ONE row per operation, the source of both the routes and
/api/openapi.json (server/api/openapi.py).

Authentication is HTTP Basic with the mailbox accounts (checked like the EAS endpoint's) or the
admin center's session cookie; with the cookie, every POST/PATCH/DELETE must carry the session's
CSRF token in X-CSRF-Token (GET /api/me hands it out).  Each row names the permission it needs;
the endpoint checks it before the handler runs, and the admin handlers' Admin layer checks the
same, so the API allows and refuses exactly what the web UI and the CLI's RBAC do.

Status codes: 401 without (valid) credentials, 403 when the role does not allow the operation (or
a CSRF token is missing), 404 for a user, device, rule, policy, fault, folder or item that does
not exist, 400 with {"error": "..."} for bad input, 201 with the new object on creation, 204 on
deletion; a wait answers 408 when its timeout passes first.  Every error is server/api/
validate.py's `error`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from easlab.eas.versions import SUPPORTED
from easlab.storage.faults import MAX_TRACE_ENTRIES

from ..web.sessions import csrf_ok, role_of, session_user
from ..web.wiring import MAX_BODY, middleware, org_secret
from ..admin import Actor, Forbidden, NotFound
from ..mailboxes import CURSOR_PATTERN, DEFAULT_PAGE, MAX_PAGE
from . import handlers as h
from . import handlers_testing as t
from .openapi import doc_path, document
from .schemas import BINARY, STR, array, ref
from .validate import SAFE_METHODS, error, json_body, unauthorized
from .waits import MAX_TIMEOUT, STATES


@dataclass
class Op:
    method: str
    path: str  # Starlette syntax, under /api
    handler: h.Handler | None
    summary: str
    permission: str | None  # what the endpoint checks before the handler runs
    ok: int = 200
    response: dict | None = None  # schema of the success body; None: no body
    body: dict | None = None  # schema of the request body
    body_required: bool = False
    query: list[tuple[str, dict, str]] = field(default_factory=list)
    required: tuple[str, ...] = ()  # the query parameters that must be there
    public: bool = False
    media: str = "application/json"  # the success body's media type (downloads: not JSON)
    html: bool = False  # ?format=html answers a page instead
    location: str = "name"  # a 201's Location ends with this field of the new object
    errors: dict[int, str] = field(default_factory=dict)  # answers beyond those every route has


TRACE = "/devices/{user}/{device_id}/trace"
USER_Q, DEVICE_Q = ("user", STR, "the mailbox user"), ("device_id", STR, "the device's DeviceId")
AFTER_Q = ("after", {"type": "integer", "minimum": 0, "default": 0}, "only ids above this one")
MIME_Q = ("mime", {"type": "string", "enum": ["0", "1"], "default": "0"}, "1: with the message as base64 (\"mime\")")
TIMEOUT_Q = ("timeout", {"type": "number", "minimum": 0, "maximum": MAX_TIMEOUT, "default": 5},
             "seconds to wait; the condition holding already answers at once")
WAIT_ERRORS = {404: "No such user (or folder)", 408: "The timeout passed first"}
DEV = "/devices/{user}/{device_id}"
OPS = [
    Op("GET", "/openapi.json", None, "This document", None, response={"type": "object"}, public=True),
    Op("GET", "/me", h.me, "Who is calling, with which role (and the CSRF token for cookie sessions)", None, response=ref("Me")),
    Op("GET", "/org", h.org_get, "Organisation settings (Get-ActiveSyncOrganizationSettings)", "view", response=ref("Org")),
    Op("PATCH", "/org", h.org_patch, "Change organisation settings", "configure", response=ref("Org"), body=ref("OrgPatch")),
    Op("GET", "/throttling", h.throttling_get, "The throttling policy (null: Unlimited) and the auto-block thresholds",
       "view", response=ref("Throttling")),
    Op("PATCH", "/throttling", h.throttling_patch, "Change the throttling policy (Set-ThrottlingPolicy's EAS part)",
       "configure", response=ref("Throttling"), body=ref("ThrottlingPatch")),
    Op("PATCH", "/throttling/autoblock/{name}", h.autoblock_patch,
       "Change a behaviour's auto-block threshold (Set-ActiveSyncDeviceAutoblockThreshold)", "configure",
       response=ref("Throttling"), body=ref("AutoblockPatch")),
    Op("GET", "/rules", h.rules_get, "Device access rules", "view", response=array(ref("Rule"))),
    Op("POST", "/rules", h.rules_post, "Add a device access rule", "configure", ok=201, response=ref("Rule"),
       body=ref("RuleNew"), body_required=True),
    Op("PATCH", "/rules/{name:path}", h.rule_patch, "Change a rule's access level (the only thing Exchange lets change)",
       "configure", response=ref("Rule"), body=ref("RulePatch"), body_required=True),
    Op("DELETE", "/rules/{name:path}", h.rule_delete, "Remove a rule", "configure", ok=204),
    Op("GET", "/documents", h.documents_get, "The document library (MS-ASDOC): every folder and document", "view",
       response=array(ref("Document"))),
    Op("PUT", "/documents/{name:path}", h.document_put, "Publish a document or folder at share/folder/name", "configure",
       response=ref("Document"), body=ref("DocumentPut"), body_required=True),
    Op("DELETE", "/documents/{name:path}", h.document_delete, "Remove a document or folder and all below it",
       "configure", ok=204),
    Op("GET", "/rights", h.rights_get, "Rights policy templates (MS-ASRM) and whether IRM is on", "view",
       response=ref("Rights")),
    Op("PATCH", "/rights", h.rights_patch, "Switch IRM on or off", "configure", response=ref("Rights"),
       body=ref("RightsPatch"), body_required=True),
    Op("POST", "/rights/templates", h.rights_post, "Add a rights policy template", "configure", ok=201,
       response=ref("Rights"), body=ref("RightsTemplateNew"), body_required=True),
    Op("DELETE", "/rights/templates/{template_id}", h.rights_delete, "Remove a template (the built-in ones stay)",
       "configure", ok=204),
    Op("GET", "/devices", h.devices_get, "Device partnerships", "view", response=array(ref("Device")),
       query=[("user", STR, "only this user's devices"),
              ("state", {"type": "string", "enum": ["quarantined", "allowed", "blocked", "discovery"]}, "only this state")]),
    Op("GET", DEV, h.device_get, "One device with its access history", "view", response=ref("DeviceDetail")),
    Op("DELETE", DEV, h.device_delete, "Remove the partnership (Remove-MobileDevice)", "operate", ok=204),
    Op("POST", DEV + "/allow", h.list_action("device_allow"), "Add the device to its user's allowed list", "approve",
       response=ref("Lists")),
    Op("POST", DEV + "/block", h.list_action("device_block"), "Add the device to its user's blocked list", "approve",
       response=ref("Lists")),
    Op("POST", DEV + "/unblock", h.list_action("device_unblock"), "Take the device off its user's blocked list", "approve",
       response=ref("Lists")),
    Op("POST", DEV + "/wipe", h.device_wipe, "Remote wipe at the next request, or cancel one not yet sent", "operate",
       response=ref("Device"), body=ref("Wipe")),
    Op("POST", DEV + "/explain", h.device_explain, "The access decision the device's next request would get", "view",
       response=ref("Explain")),
    Op("POST", "/users/{user}/revoke", h.user_revoke, "Take one device (or all) off the user's allowed list", "approve",
       response=ref("Revoked"), body=ref("Revoke")),
    Op("POST", "/users/{user}/policy", h.user_policy, "Assign a mailbox policy to the user", "configure",
       response=ref("PolicyAssigned"), body=ref("PolicyAssign"), body_required=True),
    Op("GET", "/policies", h.policies_get, "Mobile device mailbox policies", "view", response=array(ref("PolicySummary"))),
    Op("POST", "/policies", h.policies_post, "Add a policy (unset parameters take Exchange's schema defaults)", "configure",
       ok=201, response=ref("Policy"), body=ref("PolicyNew"), body_required=True),
    Op("GET", "/policies/{name:path}", h.policy_get, "A policy with the EASProvisionDoc a device receives", "view",
       response=ref("Policy"), query=[("version", {"type": "string", "enum": list(SUPPORTED), "default": "14.1"},
                                       "protocol version of the document")]),
    Op("PATCH", "/policies/{name:path}", h.policy_patch, "Change a policy's parameters, or make it the default", "configure",
       response=ref("Policy"), body=ref("PolicyPatch")),
    Op("DELETE", "/policies/{name:path}", h.policy_delete,
       "Remove a policy (refused while assigned to a user, or while it is the default)", "configure", ok=204),
    Op("GET", "/outbound", h.outbound_get, "The outbound mail queue (read-only)", "view", response=array(ref("Outbound"))),
    # The mailboxes, read-only (server/mailboxes.py).
    Op("GET", "/users", h.users_get, "Mailbox users with their role and device count", "view",
       response=array(ref("MailboxUser"))),
    Op("GET", "/users/{user}/folders", h.folders_get, "The user's folders in tree order, with item counts", "view",
       response=array(ref("Folder"))),
    Op("GET", "/users/{user}/folders/{server_id}/items", h.items_get,
       "A folder's items, newest first by date (DateReceived, then id), a page at a time", "view", response=ref("ItemPage"),
       query=[("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}, "page size"),
              ("before", {"type": "string", "pattern": CURSOR_PATTERN},
               "the previous page's next_before: only the items after its last one, in the same order")]),
    Op("GET", "/items/{user}/{server_id}", h.item_get, "One item: properties, bodies, attachments, MIME header fields",
       "view", response=ref("Item")),
    Op("GET", "/items/{user}/{server_id}/mime", h.item_mime, "The item's MIME as stored (a download)", "view",
       response=BINARY, media="message/rfc822"),
    Op("GET", "/items/{user}/{server_id}/attachments/{index}", h.item_attachment,
       "One attachment's bytes (a download, with its content type and file name)", "view", response=BINARY,
       media="*/*"),
    Op("GET", DEV + "/syncstate", h.syncstate_get,
       "Where the device stands in the hierarchy and in each folder's change log", "view", response=ref("SyncState")),
    # The test tools (server/api/handlers_testing.py): injected faults, protocol traces, waits.
    Op("GET", "/faults", t.faults_get, "Every injected fault with its state and hits", "view", response=array(ref("Fault"))),
    Op("POST", "/faults", t.faults_post, "Inject a fault (server/faults.py)", "configure", ok=201, response=ref("Fault"),
       body=ref("FaultNew"), body_required=True, location="id"),
    Op("DELETE", "/faults", t.faults_delete, "Remove every fault, or one user's", "configure", response=ref("Removed"),
       query=[("user", STR, "only this user's faults")]),
    Op("GET", "/faults/{fault_id}", t.fault_get, "One fault", "view", response=ref("Fault"), errors={404: "No such fault"}),
    Op("DELETE", "/faults/{fault_id}", t.fault_delete, "Remove a fault", "configure", ok=204,
       errors={404: "No such fault"}),
    Op("GET", TRACE, t.trace_get, "The device's recorded exchanges, decoded", "view", response=ref("Trace"), html=True,
       query=[("last", {"type": "integer", "minimum": 1, "maximum": MAX_TRACE_ENTRIES}, "only the last N exchanges"),
              ("bodies", {"type": "string", "enum": ["1", "0"], "default": "1"}, "0: without the decoded bodies"),
              ("format", {"type": "string", "enum": ["json", "html"]}, "html: a page to read")]),
    Op("POST", TRACE, t.trace_post, "Switch tracing on or off, with its bounds", "configure", response=ref("TraceState"),
       body=ref("TraceSwitch"), body_required=True),
    Op("DELETE", TRACE, t.trace_delete, "Forget the recorded exchanges", "configure", response=ref("Removed")),
    Op("POST", TRACE + "/on", t.trace_on, "Switch tracing on", "configure", response=ref("TraceState"),
       body=ref("TraceBounds")),
    Op("POST", TRACE + "/off", t.trace_off, "Switch tracing off", "configure", response=ref("TraceState"),
       body=ref("TraceBounds")),
    Op("GET", TRACE + "/export", t.trace_export, "The trace as a fixture folder (a zip download)", "view",
       response=BINARY, media="application/zip"),
    Op("GET", "/wait/mail", t.wait_mail, "Wait for a message in a user's folder (id > after, subject containing)",
       "view", response=ref("Mail"), required=("user",), errors=WAIT_ERRORS,
       query=[USER_Q, ("folder", {"type": "string", "default": "Inbox"}, "the folder's display name, any case"),
              ("subject", STR, "a piece of the subject (case-sensitive)"), AFTER_Q, MIME_Q, TIMEOUT_Q]),
    Op("GET", "/wait/device", t.wait_device, "Wait until a device's stored access state is `state`", "view",
       response=ref("Device"), required=("user", "device_id", "state"), errors=WAIT_ERRORS,
       query=[USER_Q, DEVICE_Q, ("state", {"type": "string", "enum": list(STATES.values())}, "any case"), TIMEOUT_Q]),
    Op("GET", "/wait/outbound", t.wait_outbound, "Wait for an outbound message (id > after) to `to` and/or with "
       "`subject`", "view", response=ref("OutboundMessage"), errors=WAIT_ERRORS,
       query=[("to", STR, "one of its recipients, any case"), ("subject", STR, "a piece of the subject"), AFTER_Q,
              MIME_Q, TIMEOUT_Q]),
    Op("GET", "/wait/ping", t.wait_ping, "Wait until the server holds a Ping (or long-poll Sync) of the device", "view",
       response=ref("Held"), required=("user", "device_id"), errors=WAIT_ERRORS,
       query=[USER_Q, DEVICE_Q, TIMEOUT_Q]),
    Op("GET", "/clock", t.clock_get, "The test clock (`easlab serve --test-clock`): now, and the timers asleep on it",
       "view", response=ref("Clock"), errors={404: "The server runs on the real clock (no --test-clock)"}),
    Op("POST", "/clock/advance", t.clock_advance, "Move the test clock forward, firing the timers that fall due",
       "configure", response=ref("Clock"), body=ref("ClockAdvance"), body_required=True,
       errors={404: "The server runs on the real clock (no --test-clock)"}),
    Op("POST", "/clock/set", t.clock_set, "Move the test clock forward to an instant, firing the timers that fall due",
       "configure", response=ref("Clock"), body=ref("ClockSet"), body_required=True,
       errors={404: "The server runs on the real clock (no --test-clock)"}),
]


async def authenticate(request: Request) -> Actor | Response:
    """The caller as an Actor, or the 401/403 answer."""
    state = request.app.state
    header = request.headers.get("authorization")
    if header is not None:
        identity = await run_in_threadpool(state.authenticator.authenticate, header,
                                           request.client.host if request.client else None)
        if identity is None:
            return unauthorized("wrong user name or password")
        role = await run_in_threadpool(role_of, state.db, identity.name)
        return Actor(identity.name, role or "")
    # Routes mounted outside this Router have no session middleware: no cookie login there.
    actor = await session_user(request) if "session" in request.scope else None
    if actor is None:
        return unauthorized("authentication required: HTTP Basic, or the admin center's session cookie")
    if request.method not in SAFE_METHODS and not csrf_ok(request, request.headers.get("x-csrf-token")):
        return error(403, "a request with the session cookie needs the session's CSRF token in X-CSRF-Token")
    return actor


async def _run(op: Op, request: Request) -> Response:
    actor = await authenticate(request)
    if isinstance(actor, Response):
        return actor
    if op.permission and not actor.may(op.permission):
        return error(403, f"{actor.name} ({actor.role or 'no role'}) may not {op.permission}")
    try:
        body = await json_body(request) if request.method not in SAFE_METHODS else {}
        status, payload = await op.handler(request, actor, body)
    except Forbidden as exc:
        return error(403, str(exc))
    except NotFound as exc:  # a KeyError, whose str() quotes the message: take the message itself
        return error(404, str(exc.args[0]) if exc.args else "not found")
    except ValueError as exc:  # BadInput, AccessError, PolicyError, UserError, FaultError
        return error(400, str(exc))
    if payload is None:
        return Response(status_code=status)
    if isinstance(payload, Response):  # a download, a page, a wait's 408
        return payload
    headers = None
    if status == 201 and isinstance(payload, dict) and op.location in payload:
        headers = {"Location": f"/api{doc_path(op.path)}/{quote(str(payload[op.location]), safe='')}"}
    return JSONResponse(payload, status_code=status, headers=headers)


def endpoint(op: Op):
    async def run(request: Request) -> Response:
        if op.handler is None:
            return JSONResponse(document(OPS))
        return await _run(op, request)

    run.__name__ = f"api_{op.method.lower()}_{op.handler.__name__ if op.handler else 'openapi'}"
    return run


def routes() -> list[Route]:
    return [Route(op.path, endpoint(op), methods=[op.method]) for op in OPS]


async def not_found(scope, receive, send):
    await error(404, "no such API path")(scope, receive, send)


def router(db, settings) -> Router:
    """The /api application (mounted by server/app.py)."""
    secret = org_secret(db)
    return Router(routes=routes(), default=not_found, middleware=middleware(secret, settings), max_body_size=MAX_BODY)
