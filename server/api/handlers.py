"""The admin operations of /api: devices, rules, organisation settings, policies, the outbound
queue and a read-only look into the mailboxes.  Each takes (request, actor, body) and answers
(status, payload); server/api/ops.py routes to them and checks their permission.  Role checks
are also the Admin layer's, so the API allows and refuses exactly what the web UI and the CLI do.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ..admin.checks import MAX_NAME
from ..web.sessions import admin_for, csrf_token
from ..admin import PERMISSIONS, Actor
from ..mailboxes import DEFAULT_PAGE, MAX_PAGE, Mailboxes, download_headers
from .validate import BadInput, number, param, take


def who(request: Request) -> tuple[str, str]:
    """The user and device id of a /devices/{user}/{device_id} path; both are stored in columns
    of MAX_NAME characters."""
    user = request.path_params["user"]
    if len(user) > MAX_NAME:
        raise BadInput(f"a user name is 1-{MAX_NAME} characters")
    return user, device_id_of(request.path_params["device_id"])


def device_id_of(value: str) -> str:
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


async def throttling_get(request, actor, body):
    return 200, await _admin(request, "throttling_show", actor)


async def throttling_patch(request, actor, body):
    from easlab.eas.throttling import LIMITS

    return 200, await _admin(request, "throttling_set", actor, **take(body, {name: "int?" for name in LIMITS}))


async def autoblock_patch(request, actor, body):
    fields = take(body, {"incidence_limit": "int", "incidence_duration": "int", "block_duration": "int",
                         "admin_email_insert": "str"})
    return 200, await _admin(request, "autoblock_set", actor, request.path_params["name"], **fields)


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


async def documents_get(request, actor, body):
    return 200, await _admin(request, "document_list", actor)


async def document_put(request, actor, body):
    import base64
    import binascii

    fields = take(body, {"content": "str", "folder": "bool", "content_type": "str", "hidden": "bool", "readers": "str[]"})
    folder = fields.get("folder", False)
    if folder == ("content" in fields):
        raise BadInput("give content, or folder: true without it")
    try:
        content = base64.b64decode(fields["content"], validate=True) if "content" in fields else None
    except (binascii.Error, ValueError):
        raise BadInput("content must be base64") from None
    return 200, await _admin(request, "document_put", actor, request.path_params["name"], content, folder=folder,
                             content_type=fields.get("content_type", ""), hidden=fields.get("hidden"),
                             readers=fields.get("readers"))


async def document_delete(request, actor, body):
    await _admin(request, "document_remove", actor, request.path_params["name"])
    return 204, None


async def rights_get(request, actor, body):
    return 200, await _admin(request, "rights_show", actor)


async def rights_patch(request, actor, body):
    return 200, await _admin(request, "rights_enable", actor, take(body, {"enabled": "bool"}, ("enabled",))["enabled"])


async def rights_post(request, actor, body):
    fields = take(body, {"template_id": "str", "name": "str", "description": "str", "allow": "str[]", "expiry_days": "int"},
                  ("template_id", "name"))
    return 201, await _admin(request, "rights_add", actor, fields["template_id"], fields["name"],
                             fields.get("description", ""), allow=fields.get("allow", []),
                             expiry_days=fields.get("expiry_days"))


async def rights_delete(request, actor, body):
    await _admin(request, "rights_remove", actor, request.path_params["template_id"])
    return 204, None


async def devices_get(request, actor, body):
    user = request.query_params.get("user") or None
    state = request.query_params.get("state") or None
    return 200, await _admin(request, "device_list", actor, user, state)


async def device_get(request, actor, body):
    return 200, await _admin(request, "device_get", actor, *who(request))


async def device_delete(request, actor, body):
    await _admin(request, "device_remove", actor, *who(request))
    return 204, None


def list_action(method: str) -> Handler:
    async def handler(request, actor, body):
        take(body, {})
        return 200, await _admin(request, method, actor, *who(request))

    handler.__name__ = method
    return handler


async def device_wipe(request, actor, body):
    fields = take(body, {"account_only": "bool", "cancel": "bool", "notification_emails": "str[]"})
    return 200, await _admin(request, "device_wipe", actor, *who(request), account_only=fields.get("account_only", False),
                             cancel=fields.get("cancel", False), notification_emails=fields.get("notification_emails"))


async def device_explain(request, actor, body):
    take(body, {})
    return 200, await _admin(request, "device_explain", actor, *who(request))


async def user_revoke(request, actor, body):
    fields = take(body, {"device_id": "str?"})
    device_id = fields.get("device_id")
    return 200, await _admin(request, "device_revoke", actor, request.path_params["user"],
                             device_id_of(device_id) if device_id is not None else None)


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


async def policy_delete(request, actor, body):
    await _admin(request, "policy_remove", actor, request.path_params["name"])
    return 204, None


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


async def users_get(request, actor, body):
    return 200, await _mailboxes(request, "users", actor)


async def folders_get(request, actor, body):
    return 200, await _mailboxes(request, "folders", actor, request.path_params["user"])


async def items_get(request, actor, body):
    limit = number(request, "limit", 1, MAX_PAGE, DEFAULT_PAGE)
    before = param(request, "before")  # the Mailboxes layer checks the cursor (400 when it is not one)
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
    return 200, await _mailboxes(request, "sync_state", actor, *who(request))
