"""The JSON API under /api: the admin center's operations for scripts.

Authentication is HTTP Basic with the mailbox accounts (checked like the EAS endpoint's) or the
admin center's session cookie; with the cookie, every POST/PATCH/DELETE must carry the session's
CSRF token in X-CSRF-Token (GET /api/me hands it out).  Role checks are the Admin layer's, so the
API allows and refuses exactly what the web UI and the CLI's RBAC do.

Status codes: 401 without (valid) credentials, 403 when the role does not allow the operation (or
a CSRF token is missing), 404 for a user, device, rule or policy that does not exist, 400 with
{"error": "..."} for bad input, 201 with the new object on creation, 204 on deletion.

The route table below is the single source of both the routes and /api/openapi.json.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router, compile_path

from easlab.eas.machines.access import ACCESS_LEVELS, CHARACTERISTICS
from easlab.eas.versions import SUPPORTED
from easlab.storage.access import AccessError

from .admin import PERMISSIONS, ROLES, Actor, Forbidden, NotFound
from .admin.checks import MAX_NAME
from .mailboxes import DEFAULT_PAGE, MAX_PAGE, Mailboxes, download_headers
from .web.sessions import SESSION_COOKIE, admin_for, csrf_ok, csrf_token, role_of, session_user
from .web.wiring import MAX_BODY, middleware, org_secret

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class BadInput(ValueError):
    pass


# -- request plumbing ---------------------------------------------------------------------------
def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _unauthorized(message: str) -> JSONResponse:
    return _error(401, message, {"WWW-Authenticate": 'Basic realm="easlab admin", charset="UTF-8"'})


async def authenticate(request: Request) -> Actor | Response:
    """The caller as an Actor, or the 401/403 answer."""
    state = request.app.state
    header = request.headers.get("authorization")
    if header is not None:
        identity = await run_in_threadpool(state.authenticator.authenticate, header)
        if identity is None:
            return _unauthorized("wrong user name or password")
        role = await run_in_threadpool(role_of, state.db, identity.name)
        return Actor(identity.name, role or "")
    # Routes mounted outside this module's Router have no session middleware: no cookie login there.
    actor = await session_user(request) if "session" in request.scope else None
    if actor is None:
        return _unauthorized("authentication required: HTTP Basic, or the admin center's session cookie")
    if request.method not in SAFE_METHODS and not csrf_ok(request, request.headers.get("x-csrf-token")):
        return _error(403, "a request with the session cookie needs the session's CSRF token in X-CSRF-Token")
    return actor


async def json_body(request: Request) -> dict:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise BadInput("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object")
    return data


KINDS = {
    "str": (lambda v: isinstance(v, str), "a string"),
    "str?": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a whole number"),
    "str[]": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of strings"),
    "object": (lambda v: isinstance(v, dict), "an object"),
}


def take(body: dict, spec: dict[str, str], required: tuple[str, ...] = ()) -> dict:
    """The body's fields checked against `spec` (name -> kind); unknown or missing ones are 400."""
    unknown = sorted(set(body) - set(spec))
    if unknown:
        raise BadInput(f"unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                       f"known: {', '.join(spec)}")
    for name in required:
        if name not in body:
            raise BadInput(f"{name} is required")
    for name, value in body.items():
        check, expected = KINDS[spec[name]]
        if not check(value):
            raise BadInput(f"{name} must be {expected}")
    return body


def _device_id(value: str) -> str:
    if not value or len(value) > MAX_NAME:
        raise BadInput(f"a device id is 1-{MAX_NAME} characters")
    return value


# -- the operations -----------------------------------------------------------------------------
Handler = Callable[[Request, Actor, dict], Awaitable[tuple[int, object]]]


async def _admin(request: Request, method: str, *args, **kwargs):
    return await run_in_threadpool(getattr(admin_for(request), method), *args, **kwargs)


async def me(request, actor, body):
    out = {"user": actor.name, "role": actor.role or None, "permissions": sorted(PERMISSIONS.get(actor.role, ()))}
    if request.session.get("user") == actor.name and "authorization" not in request.headers:
        out["csrf"] = csrf_token(request)
    return 200, out


async def org_get(request, actor, body):
    return 200, await _admin(request, "org_show", actor)


async def org_patch(request, actor, body):
    fields = take(body, {"default_access": "str", "admin_mail": "str[]", "user_mail_insert": "str", "max_devices": "int",
                         "blocked_delay": "int", "discovery_minutes": "int"})
    if "admin_mail" in fields:
        fields["admin_mail"] = list(fields["admin_mail"])
    return 200, await _admin(request, "org_set", actor, **fields)


async def rules_get(request, actor, body):
    return 200, await _admin(request, "rule_list", actor)


async def rules_post(request, actor, body):
    fields = take(body, {"characteristic": "str", "query": "str", "access_level": "str"},
                  ("characteristic", "query", "access_level"))
    if len(fields["query"]) > 1024:
        raise BadInput("a query string is at most 1024 characters")
    return 201, await _admin(request, "rule_add", actor, fields["characteristic"], fields["query"], fields["access_level"])


async def rule_patch(request, actor, body):
    fields = take(body, {"access_level": "str"}, ("access_level",))
    return 200, await _admin(request, "rule_set", actor, request.path_params["name"], fields["access_level"])


async def rule_delete(request, actor, body):
    await _admin(request, "rule_remove", actor, request.path_params["name"])
    return 204, None


async def devices_get(request, actor, body):
    user = request.query_params.get("user") or None
    state = request.query_params.get("state") or None
    return 200, await _admin(request, "device_list", actor, user, state)


def _who(request) -> tuple[str, str]:
    return request.path_params["user"], _device_id(request.path_params["device_id"])


async def device_get(request, actor, body):
    return 200, await _admin(request, "device_get", actor, *_who(request))


async def device_delete(request, actor, body):
    await _admin(request, "device_remove", actor, *_who(request))
    return 204, None


def _list_action(method: str) -> Handler:
    async def handler(request, actor, body):
        take(body, {})
        return 200, await _admin(request, method, actor, *_who(request))

    handler.__name__ = method
    return handler


async def device_wipe(request, actor, body):
    fields = take(body, {"account_only": "bool", "cancel": "bool"})
    return 200, await _admin(request, "device_wipe", actor, *_who(request), account_only=fields.get("account_only", False),
                             cancel=fields.get("cancel", False))


async def device_explain(request, actor, body):
    take(body, {})
    return 200, await _admin(request, "device_explain", actor, *_who(request))


async def user_revoke(request, actor, body):
    fields = take(body, {"device_id": "str?"})
    device_id = fields.get("device_id")
    return 200, await _admin(request, "device_revoke", actor, request.path_params["user"],
                             _device_id(device_id) if device_id is not None else None)


async def user_policy(request, actor, body):
    fields = take(body, {"policy": "str"}, ("policy",))
    return 200, await _admin(request, "policy_assign", actor, request.path_params["user"], fields["policy"])


async def policies_get(request, actor, body):
    return 200, await _admin(request, "policy_list", actor)


async def policy_get(request, actor, body):
    version = request.query_params.get("version") or "14.1"
    return 200, await _admin(request, "policy_show", actor, request.path_params["name"], version)


async def policies_post(request, actor, body):
    fields = take(body, {"name": "str", "settings": "object", "default": "bool"}, ("name",))
    return 201, await _admin(request, "policy_add", actor, fields["name"], fields.get("settings", {}),
                               default=fields.get("default", False))


async def policy_patch(request, actor, body):
    fields = take(body, {"settings": "object", "default": "bool"})
    if fields.get("default") is False:
        raise BadInput("default: false is not a change; make another policy the default instead")
    return 200, await _admin(request, "policy_update", actor, request.path_params["name"], fields.get("settings", {}),
                               default=fields.get("default", False))


async def outbound_get(request, actor, body):
    return 200, await _admin(request, "outbound", actor)


# -- the mailboxes, read-only (server/mailboxes.py) ---------------------------------------------
async def _mailboxes(request: Request, method: str, *args, **kwargs):
    state = request.app.state
    return await run_in_threadpool(getattr(Mailboxes(state.db, state.settings.domain), method), *args, **kwargs)


def _whole(request: Request, name: str, low: int, high: int, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise BadInput(f"{name} must be a whole number, {low}-{high}")
    return int(raw)


async def users_get(request, actor, body):
    return 200, await _mailboxes(request, "users", actor)


async def folders_get(request, actor, body):
    return 200, await _mailboxes(request, "folders", actor, request.path_params["user"])


async def items_get(request, actor, body):
    limit = _whole(request, "limit", 1, MAX_PAGE, DEFAULT_PAGE)
    before = _whole(request, "before", 1, 2**63 - 1, None)
    return 200, await _mailboxes(request, "items", actor, request.path_params["user"], request.path_params["server_id"],
                                 limit=limit, before=before)


async def item_get(request, actor, body):
    return 200, await _mailboxes(request, "item", actor, request.path_params["user"], request.path_params["server_id"])


async def item_mime(request, actor, body):
    name, data = await _mailboxes(request, "mime", actor, request.path_params["user"], request.path_params["server_id"])
    return 200, Response(data, media_type="message/rfc822", headers=download_headers(name))


async def item_attachment(request, actor, body):
    name, content_type, data = await _mailboxes(request, "attachment", actor, request.path_params["user"],
                                                request.path_params["server_id"], request.path_params["index"])
    return 200, Response(data, media_type=content_type, headers=download_headers(name))


async def syncstate_get(request, actor, body):
    return 200, await _mailboxes(request, "sync_state", actor, *_who(request))


# -- the route table and its OpenAPI document ---------------------------------------------------
@dataclass
class Op:
    method: str
    path: str  # Starlette syntax, under /api
    handler: Handler | None
    summary: str
    permission: str | None  # what the Admin layer checks (documentation)
    ok: int = 200
    response: dict | None = None  # schema of the success body; None: no body
    body: dict | None = None  # schema of the request body
    body_required: bool = False
    query: list[tuple[str, dict, str]] = field(default_factory=list)
    public: bool = False
    media: str = "application/json"  # the success body's media type (downloads: not JSON)


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def array(schema: dict) -> dict:
    return {"type": "array", "items": schema}


STR, BOOL, INT = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
NSTR = {"type": ["string", "null"]}
DEVICE_FIELDS = {
    **{k: STR for k in ("user", "display_name", "device_id", "device_type", "model", "os", "user_agent", "friendly_name",
                        "imei", "phone_number", "protocol_version", "access_state", "access_reason", "access_rule",
                        "access_step", "policy", "policy_status", "wipe")},
    **{k: {"type": ["string", "null"], "format": "date-time"} for k in ("first_sync", "last_sync", "access_changed_at",
                                                                         "wipe_requested_at", "wipe_sent_at", "wipe_ack_at")},
    "policy_key": {"type": ["integer", "null"]}, "wipe_account_only": BOOL,
    "allowed_individually": BOOL, "blocked_individually": BOOL,
}
SCHEMAS = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": STR}},
    "Me": {"type": "object", "properties": {"user": STR, "role": {"type": ["string", "null"], "enum": [*ROLES, None]},
                                            "permissions": array(STR), "csrf": STR}},
    "Org": {"type": "object", "properties": {
        "default_access": {"type": "string", "enum": list(ACCESS_LEVELS)}, "admin_mail_recipients": array(STR),
        "valid_admin_mail_recipients": array(STR), "user_mail_insert": STR, "max_devices": INT, "blocked_delay": INT,
        "discovery_minutes": INT, "warnings": array(STR)}},
    "OrgPatch": {"type": "object", "additionalProperties": False, "properties": {
        "default_access": {"type": "string", "description": "allow, block or quarantine (any case)"},
        "admin_mail": array(STR), "user_mail_insert": {"type": "string", "maxLength": 256},
        "max_devices": {"type": "integer", "minimum": 1, "maximum": 10000},
        "blocked_delay": {"type": "integer", "minimum": 0, "maximum": 59},
        "discovery_minutes": {"type": "integer", "minimum": 0, "maximum": 1440}}},
    "Rule": {"type": "object", "properties": {"name": STR, "characteristic": {"type": "string", "enum": list(CHARACTERISTICS)},
                                              "query": STR, "access_level": {"type": "string", "enum": list(ACCESS_LEVELS)},
                                              "created_at": {"type": "string", "format": "date-time"}}},
    "RuleNew": {"type": "object", "additionalProperties": False, "required": ["characteristic", "query", "access_level"],
                "properties": {"characteristic": {"type": "string", "enum": list(CHARACTERISTICS)},
                               "query": {"type": "string", "minLength": 1, "maxLength": 1024},
                               "access_level": {"type": "string", "enum": list(ACCESS_LEVELS)}}},
    "RulePatch": {"type": "object", "additionalProperties": False, "required": ["access_level"],
                  "properties": {"access_level": {"type": "string", "enum": list(ACCESS_LEVELS)}}},
    "Device": {"type": "object", "properties": DEVICE_FIELDS},
    "DeviceDetail": {"allOf": [ref("Device"), {"type": "object", "properties": {"history": array({
        "type": "object", "properties": {"at": STR, "from": STR, "to": STR, "reason": STR, "rule": STR, "step": STR}})}}]},
    "Lists": {"type": "object", "properties": {"user": STR, "allowed": array(STR), "blocked": array(STR)}},
    "Wipe": {"type": "object", "additionalProperties": False,
             "properties": {"account_only": {"type": "boolean", "description": "EAS 16.1 devices only"},
                            "cancel": {"type": "boolean", "description": "withdraw a wipe not yet sent"}}},
    "Explain": {"type": "object", "properties": {"user": STR, "device_id": STR, "known": BOOL, "state": NSTR, "reason": STR,
                                                 "rule": NSTR, "step": STR, "path": array(STR), "stored_state": NSTR}},
    "Revoke": {"type": "object", "additionalProperties": False,
               "properties": {"device_id": {"type": ["string", "null"], "description": "omit or null: every device"}}},
    "Revoked": {"type": "object", "properties": {"user": STR, "revoked": array(STR)}},
    "PolicyAssign": {"type": "object", "additionalProperties": False, "required": ["policy"], "properties": {"policy": STR}},
    "PolicyAssigned": {"type": "object", "properties": {"user": STR, "policy": STR}},
    "PolicySummary": {"type": "object", "properties": {"name": STR, "default": BOOL, "users": INT, "changed_at": STR}},
    "Policy": {"allOf": [ref("PolicySummary"), {"type": "object", "properties": {
        "settings": {"type": "object", "description": "Exchange MobileDeviceMailboxPolicy parameters; null = unlimited"},
        "version": STR, "policy_key": INT, "document": {"type": "string", "description": "the EASProvisionDoc as XML"}}}]},
    "PolicyNew": {"type": "object", "additionalProperties": False, "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 64}, "settings": {"type": "object"}, "default": BOOL}},
    "PolicyPatch": {"type": "object", "additionalProperties": False, "properties": {
        "settings": {"type": "object"}, "default": {"type": "boolean", "const": True}}},
    "Outbound": {"type": "object", "properties": {
        "id": INT, "created_at": STR, "sender": STR, "recipients": array(STR), "subject": STR, "size": INT, "status": STR,
        "attempts": INT, "last_error": STR, "next_attempt_at": NSTR, "sent_at": NSTR}},
    "MailboxUser": {"type": "object", "properties": {
        "name": STR, "address": STR, "display_name": STR, "role": {"type": ["string", "null"], "enum": [*ROLES, None]},
        "activesync": BOOL, "devices": {"type": "integer", "description": "device partnerships"}}},
    "Folder": {"type": "object", "properties": {
        "server_id": STR, "parent_id": {"type": "string", "description": "0: the mailbox root"}, "name": STR,
        "type": {"type": "integer", "description": "MS-ASCMD FolderHierarchy Type"}, "type_name": STR, "class": STR,
        "items": INT, "change_seq": {"type": "integer", "description": "the last number of the folder's change log"},
        "depth": {"type": "integer", "description": "nesting level; the list is in tree order"}}},
    "ItemSummary": {"type": "object", "properties": {
        "id": INT, "server_id": STR, "subject": STR, "from": STR, "to": STR, "date": {"type": "string", "format": "date-time"},
        "read": BOOL, "flag": {"type": "integer", "description": "0 cleared, 1 complete, 2 active"},
        "size": {"type": "integer", "description": "bytes of MIME"}, "has_attachments": BOOL}},
    "ItemPage": {"type": "object", "properties": {
        "user": STR, "folder": {"type": "object", "properties": {"server_id": STR, "name": STR, "type": INT,
                                                                 "change_seq": INT}},
        "total": INT, "limit": INT, "before": {"type": ["integer", "null"]},
        "next_before": {"type": ["integer", "null"], "description": "pass as before= for the next (older) page"},
        "items": array(ref("ItemSummary"))}},
    "Attachment": {"type": "object", "properties": {
        "index": INT, "name": STR, "content_type": STR, "size": INT, "content_id": STR, "inline": BOOL,
        "method": {"type": "integer", "description": "1 normal, 5 embedded message"},
        "url": {"type": "string", "description": "where the bytes are (this API)"}}},
    "Item": {"allOf": [ref("ItemSummary"), {"type": "object", "properties": {
        "user": STR, "folder": {"type": "object", "properties": {"server_id": STR, "name": STR, "type": INT}},
        "message_class": STR, "cc": STR, "reply_to": STR, "display_to": STR, "thread_topic": STR, "importance": INT,
        "flag_type": STR, "internet_cpid": INT, "conversation_id": {"type": "string", "description": "hex"},
        "conversation_index": {"type": "string", "description": "hex"}, "created_seq": INT, "modified_seq": INT,
        "body_text": STR, "body_html": {"type": "string", "description": "the message's own HTML: untrusted"},
        "attachments": array(ref("Attachment")),
        "headers": {"type": "array", "description": "the MIME header fields in order, [name, value] decoded",
                    "items": {"type": "array", "items": STR, "minItems": 2, "maxItems": 2}},
        "mime_url": STR,
        "properties": {"type": ["array", "null"], "description": (
            "calendar, contact, task or note properties (or a meeting mail's MeetingRequest) as stored: "
            "[tag, value] pairs, value a string, null (empty element) or more pairs; null for plain mail"),
            "items": {"type": "array", "minItems": 2, "maxItems": 2}},
        "uid": {"type": "string", "description": "the meeting's iCalendar UID (calendar items, meeting mail)"}}}]},
    "CollectionState": {"type": "object", "properties": {
        "collection_id": STR, "folder": NSTR, "folder_deleted": BOOL, "sync_key": STR, "prev_key": NSTR,
        "seq": {"type": "integer", "description": "the device's position in the folder's change log"},
        "change_seq": {"type": ["integer", "null"], "description": "the folder's last change number"},
        "behind": {"type": ["integer", "null"], "description": "change_seq - seq"},
        "initial": {"type": "boolean", "description": "the first download is still being paged out"},
        "initial_cursor": {"type": ["integer", "null"]}, "snapshot_seq": INT,
        "pending": {"type": ["integer", "null"],
                    "description": "items the device has still to receive (GetItemEstimate's count, any FilterType)"},
        "options": {"type": "object", "description": "the collection's stored Sync options"},
        "window_start": {"type": ["string", "null"], "format": "date-time"}}},
    "SyncState": {"type": "object", "properties": {
        "user": STR, "device_id": STR, "protocol_version": STR, "last_sync": NSTR,
        "hierarchy": {"type": "object", "properties": {
            "sync_key": NSTR, "prev_key": NSTR, "seq": INT, "user_seq": INT, "behind": {"type": ["integer", "null"]}}},
        "collections": array(ref("CollectionState"))}},
}
BINARY = {"type": "string", "format": "binary"}
DEV = "/devices/{user}/{device_id}"
OPS = [
    Op("GET", "/openapi.json", None, "This document", None, response={"type": "object"}, public=True),
    Op("GET", "/me", me, "Who is calling, with which role (and the CSRF token for cookie sessions)", None, response=ref("Me")),
    Op("GET", "/org", org_get, "Organisation settings (Get-ActiveSyncOrganizationSettings)", "view", response=ref("Org")),
    Op("PATCH", "/org", org_patch, "Change organisation settings", "configure", response=ref("Org"), body=ref("OrgPatch")),
    Op("GET", "/rules", rules_get, "Device access rules", "view", response=array(ref("Rule"))),
    Op("POST", "/rules", rules_post, "Add a device access rule", "configure", ok=201, response=ref("Rule"),
       body=ref("RuleNew"), body_required=True),
    Op("PATCH", "/rules/{name:path}", rule_patch, "Change a rule's access level (the only thing Exchange lets change)",
       "configure", response=ref("Rule"), body=ref("RulePatch"), body_required=True),
    Op("DELETE", "/rules/{name:path}", rule_delete, "Remove a rule", "configure", ok=204),
    Op("GET", "/devices", devices_get, "Device partnerships", "view", response=array(ref("Device")),
       query=[("user", STR, "only this user's devices"),
              ("state", {"type": "string", "enum": ["quarantined", "allowed", "blocked", "discovery"]}, "only this state")]),
    Op("GET", DEV, device_get, "One device with its access history", "view", response=ref("DeviceDetail")),
    Op("DELETE", DEV, device_delete, "Remove the partnership (Remove-MobileDevice)", "operate", ok=204),
    Op("POST", DEV + "/allow", _list_action("device_allow"), "Add the device to its user's allowed list", "approve",
       response=ref("Lists")),
    Op("POST", DEV + "/block", _list_action("device_block"), "Add the device to its user's blocked list", "approve",
       response=ref("Lists")),
    Op("POST", DEV + "/unblock", _list_action("device_unblock"), "Take the device off its user's blocked list", "approve",
       response=ref("Lists")),
    Op("POST", DEV + "/wipe", device_wipe, "Remote wipe at the next request, or cancel one not yet sent", "operate",
       response=ref("Device"), body=ref("Wipe")),
    Op("POST", DEV + "/explain", device_explain, "The access decision the device's next request would get", "view",
       response=ref("Explain")),
    Op("POST", "/users/{user}/revoke", user_revoke, "Take one device (or all) off the user's allowed list", "approve",
       response=ref("Revoked"), body=ref("Revoke")),
    Op("POST", "/users/{user}/policy", user_policy, "Assign a mailbox policy to the user", "configure",
       response=ref("PolicyAssigned"), body=ref("PolicyAssign"), body_required=True),
    Op("GET", "/policies", policies_get, "Mobile device mailbox policies", "view", response=array(ref("PolicySummary"))),
    Op("POST", "/policies", policies_post, "Add a policy (unset parameters take Exchange's schema defaults)", "configure",
       ok=201, response=ref("Policy"), body=ref("PolicyNew"), body_required=True),
    Op("GET", "/policies/{name:path}", policy_get, "A policy with the EASProvisionDoc a device receives", "view",
       response=ref("Policy"), query=[("version", {"type": "string", "enum": list(SUPPORTED), "default": "14.1"},
                                       "protocol version of the document")]),
    Op("PATCH", "/policies/{name:path}", policy_patch, "Change a policy's parameters, or make it the default", "configure",
       response=ref("Policy"), body=ref("PolicyPatch")),
    Op("GET", "/outbound", outbound_get, "The outbound mail queue (read-only)", "view", response=array(ref("Outbound"))),
    # The mailboxes, read-only (server/mailboxes.py).
    Op("GET", "/users", users_get, "Mailbox users with their role and device count", "view",
       response=array(ref("MailboxUser"))),
    Op("GET", "/users/{user}/folders", folders_get, "The user's folders in tree order, with item counts", "view",
       response=array(ref("Folder"))),
    Op("GET", "/users/{user}/folders/{server_id}/items", items_get, "A folder's items, newest first, a page at a time",
       "view", response=ref("ItemPage"),
       query=[("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}, "page size"),
              ("before", {"type": "integer", "minimum": 1}, "only items with a smaller id: the previous page's next_before")]),
    Op("GET", "/items/{user}/{server_id}", item_get, "One item: properties, bodies, attachments, MIME header fields",
       "view", response=ref("Item")),
    Op("GET", "/items/{user}/{server_id}/mime", item_mime, "The item's MIME as stored (a download)", "view",
       response=BINARY, media="message/rfc822"),
    Op("GET", "/items/{user}/{server_id}/attachments/{index}", item_attachment,
       "One attachment's bytes (a download, with its content type and file name)", "view", response=BINARY,
       media="*/*"),
    Op("GET", DEV + "/syncstate", syncstate_get,
       "Where the device stands in the hierarchy and in each folder's change log", "view", response=ref("SyncState")),
]


def doc_path(path: str) -> str:
    """Starlette's /rules/{name:path} is OpenAPI's /rules/{name}."""
    _, fmt, _ = compile_path(path)
    return fmt


def openapi() -> dict:
    paths: dict[str, dict] = {}
    for op in OPS:
        path = doc_path(op.path)
        _, _, convertors = compile_path(op.path)
        params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"},
                   "description": "percent-encoded; may contain '/'" if type(conv).__name__ == "PathConvertor" else None}
                  for name, conv in convertors.items()]
        params = [{k: v for k, v in p.items() if v is not None} for p in params]
        params += [{"name": n, "in": "query", "required": False, "schema": s, "description": d} for n, s, d in op.query]
        responses: dict[str, dict] = {}
        if op.response is not None:
            responses[str(op.ok)] = {"description": "OK" if op.ok == 200 else "Created",
                                     "content": {op.media: {"schema": op.response}}}
        else:
            responses[str(op.ok)] = {"description": "Done, no content"}
        error = {"content": {"application/json": {"schema": ref("Error")}}}
        if op.body is not None or op.query or op.method != "GET":
            responses["400"] = {"description": "Bad input", **error}
        if not op.public:
            responses["401"] = {"description": "No or wrong credentials", **error,
                                "headers": {"WWW-Authenticate": {"schema": STR}}}
            responses["403"] = {"description": "The role does not allow this"
                                + ("" if op.method in SAFE_METHODS else ", or the CSRF token is missing"), **error}
        if convertors:
            responses["404"] = {"description": "No such user, device, rule, policy, folder, item or attachment", **error}
        if op.body is not None:
            responses["413"] = {"description": "Body too large"}
        operation = {
            "operationId": op.handler.__name__ if op.handler else "openapi",
            "summary": op.summary,
            "responses": responses,
        }
        if op.permission:
            operation["description"] = (f"Needs the {op.permission} permission: "
                                        + ", ".join(r for r in ROLES if op.permission in PERMISSIONS[r]) + ".")
        if params:
            operation["parameters"] = params
        if op.body is not None:
            operation["requestBody"] = {"required": op.body_required, "content": {"application/json": {"schema": op.body}}}
        if op.public:
            operation["security"] = []
        elif op.method not in SAFE_METHODS:
            operation["security"] = [{"basicAuth": []}, {"sessionCookie": [], "csrfHeader": []}]
        paths.setdefault(path, {})[op.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "easlab admin API", "version": "1",
                 "description": "Device access control, rules, organisation settings, mailbox policies, the "
                                "outbound queue and a read-only look inside the mailboxes of an easlab server. "
                                "Role permissions: "
                                + "; ".join(f"{r}: {', '.join(sorted(PERMISSIONS[r]))}" for r in ROLES) + "."},
        "servers": [{"url": "/api"}],
        "security": [{"basicAuth": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "a mailbox account with an admin role"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                                  "description": "the admin center's session (sign in at /ecp/login)"},
                "csrfHeader": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                               "description": "the session's CSRF token (GET /api/me); needed with the cookie on "
                                              "POST, PATCH and DELETE"},
            },
            "schemas": SCHEMAS,
        },
    }


def endpoint(op: Op):
    async def run(request: Request) -> Response:
        if op.handler is None:
            return JSONResponse(openapi())
        actor = await authenticate(request)
        if isinstance(actor, Response):
            return actor
        try:
            body = await json_body(request) if request.method not in SAFE_METHODS else {}
            status, payload = await op.handler(request, actor, body)
        except Forbidden as exc:
            return _error(403, str(exc))
        except NotFound as exc:
            return _error(404, str(exc).strip("'\""))
        except ValueError as exc:  # BadInput, AccessError, PolicyError, UserError
            return _error(400, str(exc))
        if payload is None:
            return Response(status_code=status)
        if isinstance(payload, Response):  # a download
            return payload
        headers = None
        if status == 201 and isinstance(payload, dict) and "name" in payload:
            headers = {"Location": f"/api{doc_path(op.path)}/{quote(payload['name'], safe='')}"}
        return JSONResponse(payload, status_code=status, headers=headers)

    run.__name__ = f"api_{op.method.lower()}_{op.handler.__name__ if op.handler else 'openapi'}"
    return run


def routes() -> list[Route]:
    return [Route(op.path, endpoint(op), methods=[op.method]) for op in OPS]


async def not_found(scope, receive, send):
    await JSONResponse({"error": "no such API path"}, status_code=404)(scope, receive, send)


def router(db, settings) -> Router:
    """The /api application (mounted by server/app.py)."""
    secret = org_secret(db)
    return Router(routes=routes(), default=not_found, middleware=middleware(secret, settings), max_body_size=MAX_BODY)
