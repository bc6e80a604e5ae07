"""The admin UI under /ecp, shaped after Exchange's ECP "mobile device access" pages.

Plain server-rendered HTML (Jinja2 templates in server/templates, no script at all).  Every page
and every button goes through the administration service (server/admin/service.py) as the
logged-in user with that user's role, so the web UI refuses exactly what the CLI's RBAC refuses;
buttons a role may not use are not even shown.  Sessions, CSRF and `next` checks are
server/web/sessions.py; headers and the router are server/web/wiring.py.  The look inside the
mailboxes (users, folders, items, a device's sync state) is server/mailboxes.py, read-only; mail
is shown as hostile content (see `FRAME_CSP` and templates/item.html).
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from sqlmodel import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from easlab.eas.policy import UNITS
from easlab.eas.versions import has

from ..admin import ROLES, Actor, Forbidden, NotFound
from ..admin.checks import COMMON_SETTINGS, MAX_NAME, setting_kind
from ..admin.roles import error_text
from ..mailboxes import DEFAULT_PAGE, MAX_PAGE, Mailboxes, parse_cursor
from ..mailer import Mailer
from .sessions import admin_for, check_login, csrf_ok, csrf_token, end_sessions, safe_next, session_user, start_session

STATES = ("quarantined", "allowed", "blocked", "discovery")

# The templates stay in server/templates (package data of easlab.server).
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent.parent / "templates"))
TEMPLATES.env.filters["pq"] = lambda value: quote(str(value), safe="")  # one path segment
# `{% if version is feature("account_only_wipe") %}`: a device that has not spoken yet has no version.
TEMPLATES.env.tests["feature"] = lambda version, name: bool(version) and has(version, name)


TEMPLATES.env.filters["when"] = lambda value: (value or "").replace("T", " ").replace("+00:00", " UTC") if value else "—"


# The policy a mail's HTML gets inside its sandboxed iframe (templates/item.html), as a <meta> at
# the front of the srcdoc.  The frame already inherits the page's policy (an about:srcdoc document
# does) and the sandbox already stops scripts, forms, plugins, popups and top navigation; this
# only narrows further: no images from this origin either (a mail's <img src="/api/..."> would
# otherwise make the admin's browser issue requests here), only data: images and inline styles.
# A <meta> policy can only add restrictions, so nothing in the mail can loosen it.
FRAME_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"



def device_path(user: str, device_id: str) -> str:
    return f"/ecp/devices/{quote(user, safe='')}/{quote(device_id, safe='')}"


class Refused(Exception):
    """A page answer that is not the page: 403/404 with a message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


DEVICE_ACTIONS = ("allow", "block", "unblock", "revoke", "wipe", "cancel-wipe", "remove")


class WebUI:
    def __init__(self, secret: str):
        self.secret = secret  # the org secret: admin links are signed with it (server/mailer.py)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.page(self.dashboard), methods=["GET"]),
            Route("/login", self.login, methods=["GET", "POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/link/{token}", self.link, methods=["GET"]),
            Route("/devices", self.page(self.devices), methods=["GET"]),
            Route("/devices/{user}/{device_id}", self.page(self.device), methods=["GET"]),
            Route("/devices/{user}/{device_id}/{action}", self.page(self.device_action), methods=["POST"]),
            Route("/rules", self.page(self.rules), methods=["GET", "POST"]),
            Route("/org", self.page(self.org), methods=["GET", "POST"]),
            Route("/policies", self.page(self.policies), methods=["GET", "POST"]),
            Route("/policies/{name:path}", self.page(self.policy), methods=["GET", "POST"]),
            Route("/outbound", self.page(self.outbound), methods=["GET"]),
            Route("/devices/{user}/{device_id}/trace", self.page(self.trace), methods=["GET"]),
            Route("/devices/{user}/{device_id}/trace/{state}", self.page(self.trace_switch), methods=["POST"]),
            Route("/mailboxes", self.page(self.mailboxes), methods=["GET"]),
            Route("/mailboxes/{user}", self.page(self.mailbox), methods=["GET"]),
            Route("/mailboxes/{user}/{server_id}", self.page(self.folder), methods=["GET"]),
            Route("/items/{user}/{server_id}", self.page(self.item), methods=["GET"]),
        ]

    # -- plumbing -------------------------------------------------------------------------------
    async def not_found(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        response = self.message(request, None, 404, "Not found", "There is no such page in the admin center.")
        await response(scope, receive, send)

    @staticmethod
    def render(request: Request, actor: Actor | None, template: str, status: int = 200, **context) -> Response:
        flash = request.session.pop("flash", None) if "flash" in request.session else None
        return TEMPLATES.TemplateResponse(request, template, {
            "me": actor, "can": (actor.may if actor else (lambda _p: False)), "csrf": csrf_token(request),
            "flash": flash, "error": None, "section": template.split(".")[0], **context,
        }, status_code=status)

    def message(self, request: Request, actor: Actor | None, status: int, title: str, text: str) -> Response:
        return self.render(request, actor, "message.html", status=status, title=title, text=text)

    def page(self, handler):
        """Wrap a page: a live session with an admin role, the CSRF check on POST, and Forbidden /
        NotFound as 403 / 404 pages."""

        async def endpoint(request: Request) -> Response:
            form = None
            if request.method == "POST":
                form = await request.form()
                if not csrf_ok(request, form.get("csrf")):
                    return self.message(request, None, 403, "Request refused",
                                        "The form's security token is missing or out of date. Reload the page and try again.")
            actor = await session_user(request)
            if actor is None:
                target = quote(request.url.path) + (f"?{request.url.query}" if request.url.query else "")
                if request.method == "POST":
                    target = safe_next(form.get("back"), "/ecp/")
                return RedirectResponse(f"/ecp/login?next={quote(safe_next(target), safe='')}", status_code=303)
            if actor.role not in ROLES:
                return self.message(request, actor, 403, "No admin role",
                                    f"{actor.name} has no admin role any more. Ask an organisation admin for one.")
            try:
                return await handler(request, actor, form)
            except Forbidden as exc:
                return self.message(request, actor, 403, "Not allowed", f"{exc}. Your role is {actor.role}.")
            except (NotFound, Refused) as exc:
                status = exc.status if isinstance(exc, Refused) else 404
                return self.message(request, actor, status, "Not found" if status == 404 else "Refused", error_text(exc))

        endpoint.__name__ = handler.__name__
        return endpoint

    @staticmethod
    async def call(request: Request, method: str, *args, **kwargs):
        admin = admin_for(request)
        return await run_in_threadpool(getattr(admin, method), *args, **kwargs)

    @staticmethod
    async def look(request: Request, method: str, *args, **kwargs):
        state = request.app.state
        return await run_in_threadpool(getattr(Mailboxes(state.db, state.settings.domain), method), *args, **kwargs)

    @staticmethod
    def done(request: Request, message: str, target: str) -> Response:
        request.session["flash"] = message
        return RedirectResponse(target, status_code=303)

    # -- login ----------------------------------------------------------------------------------
    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            target = safe_next(request.query_params.get("next"))
            actor = await session_user(request)
            if actor is not None and actor.role in ROLES:
                return RedirectResponse(target, status_code=303)
            return self.render(request, None, "login.html", next=target, login="")
        form = await request.form()
        target = safe_next(form.get("next"))
        if not csrf_ok(request, form.get("csrf")):
            return self.message(request, None, 403, "Request refused",
                                "The form's security token is missing or out of date. Reload the page and try again.")
        login, password = str(form.get("user") or ""), str(form.get("password") or "")
        found = await check_login(request, login, password)
        if found is None:
            return self.render(request, None, "login.html", status=401, next=target, login=login,
                               error="Wrong user name or password.")
        name, role, generation = found
        if role not in ROLES:
            return self.message(request, None, 403, "No admin role",
                                f"{name} is a mailbox user without an admin role ({', '.join(ROLES)}), "
                                "so it cannot sign in to the admin center.")
        start_session(request, name, generation)
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, form.get("csrf")):
            return self.message(request, None, 403, "Request refused", "The form's security token is missing or out of date.")
        name = request.session.get("user")
        if isinstance(name, str) and name:
            await run_in_threadpool(end_sessions, request.app.state.db, name)
        request.session.clear()
        return RedirectResponse("/ecp/login", status_code=303)

    async def link(self, request: Request) -> Response:
        """The admin mail's link: a signed (user, device) that opens the device's page."""
        opened = Mailer.open_link(self.secret, request.path_params["token"], clock=request.app.state.clock)
        if not opened or not all(isinstance(v, str) and v for v in opened):
            return self.message(request, None, 403, "Link invalid or expired",
                                "This link is invalid or expired. Open the device from the quarantine list instead.")
        target = device_path(*opened)
        actor = await session_user(request)
        if actor is None or actor.role not in ROLES:
            return RedirectResponse(f"/ecp/login?next={quote(target, safe='')}", status_code=303)
        return RedirectResponse(target, status_code=303)

    # -- devices --------------------------------------------------------------------------------
    async def dashboard(self, request: Request, actor: Actor, form) -> Response:
        rows = await self.call(request, "device_list", actor, None, "quarantined")
        org = await self.call(request, "org_show", actor)
        return self.render(request, actor, "dashboard.html", rows=rows, org=org, back="/ecp/")

    async def devices(self, request: Request, actor: Actor, form, error: str | None = None, status: int = 200) -> Response:
        user = (request.query_params.get("user") or "").strip()[:64]
        state = (request.query_params.get("state") or "").strip().lower()
        try:
            rows = await self.call(request, "device_list", actor, user or None, state or None)
        except ValueError as exc:
            rows, error, status = [], str(exc), 400
        back = safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""), "/ecp/devices")
        return self.render(request, actor, "devices.html", status=status, rows=rows, user=user, state=state,
                           states=STATES, back=back, error=error)

    async def device(self, request: Request, actor: Actor, form, error: str | None = None, status: int = 200) -> Response:
        user, device_id = request.path_params["user"], request.path_params["device_id"]
        row = await self.call(request, "device_get", actor, user, device_id)
        explain = await self.call(request, "device_explain", actor, user, device_id)
        sync = await self.look(request, "sync_state", actor, row["user"], row["device_id"])
        trace = await run_in_threadpool(trace_state, request.app.state.db, row["user"], row["device_id"])
        api = f"/api/devices/{quote(row['user'], safe='')}/{quote(row['device_id'], safe='')}/trace"
        return self.render(request, actor, "device.html", status=status, d=row, explain=explain, sync=sync,
                           trace=trace, trace_api=api, back=device_path(row["user"], row["device_id"]), error=error)

    async def trace(self, request: Request, actor: Actor, form) -> Response:
        """The device's recorded exchanges, decoded, inside the admin center (server/traces.py;
        the API's ?format=html page is the same view on its own)."""
        from .. import traces
        from easlab.storage.faults import MAX_TRACE_ENTRIES

        row = await self.call(request, "device_get", actor, request.path_params["user"], request.path_params["device_id"])
        last = _number(request.query_params.get("last"), 1, MAX_TRACE_ENTRIES)
        view = await run_in_threadpool(traces.trace_view, request.app.state.db, row["user"], row["device_id"], limit=last)
        api = f"/api/devices/{quote(row['user'], safe='')}/{quote(row['device_id'], safe='')}/trace"
        return self.render(request, actor, "trace.html", d=row, trace=view, trace_api=api, last=last)

    async def trace_switch(self, request: Request, actor: Actor, form) -> Response:
        """Tracing on or off for one device (server/traces.py); configure, as /api/.../trace."""
        user, device_id, state = (request.path_params[k] for k in ("user", "device_id", "state"))
        if state not in ("on", "off"):
            raise Refused(404, f"no trace switch {state}")
        actor.need("configure")
        if len(device_id) > MAX_NAME:
            raise Refused(404, f"{user} has no device {device_id}")
        row = await self.call(request, "device_get", actor, user, device_id)  # NotFound for a device never seen
        await self.call(request, "trace_set", actor, row["user"], row["device_id"], state == "on")
        message = (f"Tracing {row['device_id']}: its next exchanges are recorded." if state == "on"
                   else f"Tracing of {row['device_id']} is off; the exchanges recorded so far are kept.")
        return self.done(request, message, device_path(row["user"], row["device_id"]))

    async def device_action(self, request: Request, actor: Actor, form) -> Response:
        user, device_id, action = (request.path_params[k] for k in ("user", "device_id", "action"))
        if action not in DEVICE_ACTIONS:
            raise Refused(404, f"no action {action}")
        if len(device_id) > MAX_NAME:
            raise Refused(404, f"{user} has no device {device_id}")
        back = safe_next(form.get("back"), device_path(user, device_id))
        try:
            if action == "wipe":
                await self.call(request, "device_wipe", actor, user, device_id, account_only=bool(form.get("account_only")))
                message = f"Wipe of {device_id} is pending: it runs at the device's next request."
            elif action == "cancel-wipe":
                await self.call(request, "device_wipe", actor, user, device_id, cancel=True)
                message = f"Wipe of {device_id} cancelled."
            elif action == "remove":
                await self.call(request, "device_remove", actor, user, device_id)
                message = f"Partnership {user}/{device_id} removed: its next request is a new device."
                if back.startswith(device_path(user, device_id)):
                    back = "/ecp/devices"
            else:
                await self.call(request, f"device_{action}", actor, user, device_id)
                message = {
                    "allow": f"{device_id} is on {user}'s allowed list: allowed at its next request.",
                    "block": f"{device_id} is on {user}'s blocked list: blocked at its next request.",
                    "unblock": f"{device_id} is off {user}'s blocked list.",
                    "revoke": f"{device_id} is off {user}'s allowed list: rules and the default decide at its next request.",
                }[action]
        except ValueError as exc:
            try:
                return await self.device(request, actor, form, error=str(exc), status=400)
            except NotFound:
                return await self.devices(request, actor, form, error=str(exc), status=400)
        return self.done(request, message, back)

    # -- rules ----------------------------------------------------------------------------------
    async def rules(self, request: Request, actor: Actor, form) -> Response:
        error, status, entered = None, 200, {}
        if form is not None:
            op = form.get("op")
            name = str(form.get("name") or "")
            try:
                if op == "add":
                    entered = {k: str(form.get(k) or "").strip() for k in ("characteristic", "query", "access_level")}
                    if len(entered["query"]) > 1024:
                        raise ValueError("a query string is at most 1024 characters")
                    row = await self.call(request, "rule_add", actor, entered["characteristic"], entered["query"],
                                          entered["access_level"])
                    return self.done(request, f"Rule {row['name']} added.", "/ecp/rules")
                if op == "set":
                    row = await self.call(request, "rule_set", actor, name, str(form.get("access_level") or ""))
                    return self.done(request, f"Rule {row['name']} now {row['access_level']}.", "/ecp/rules")
                if op == "remove":
                    await self.call(request, "rule_remove", actor, name)
                    return self.done(request, f"Rule {name} removed.", "/ecp/rules")
                raise ValueError(f"unknown operation {op!r}")
            except ValueError as exc:
                error, status = str(exc), 400
        rows = await self.call(request, "rule_list", actor)
        from easlab.eas.machines.access import ACCESS_LEVELS, CHARACTERISTICS

        return self.render(request, actor, "rules.html", status=status, rows=rows, error=error, entered=entered,
                           characteristics=CHARACTERISTICS, levels=ACCESS_LEVELS)

    # -- organisation ---------------------------------------------------------------------------
    async def org(self, request: Request, actor: Actor, form) -> Response:
        error, status = None, 200
        if form is not None:
            try:
                numbers = {}
                for key in ("max_devices", "blocked_delay", "discovery_minutes"):
                    raw = str(form.get(key) or "").strip()
                    if raw:
                        if not raw.isdigit() or len(raw) > 6:
                            raise ValueError(f"{key.replace('_', ' ')}: {raw!r} is not a whole number")
                        numbers[key] = int(raw)
                mail = [a.strip() for a in str(form.get("admin_mail") or "").replace(",", "\n").splitlines() if a.strip()]
                await self.call(request, "org_set", actor, default_access=str(form.get("default_access") or "") or None,
                                admin_mail=mail, user_mail_insert=str(form.get("user_mail_insert") or "").strip(), **numbers)
                return self.done(request, "Organisation settings saved.", "/ecp/org")
            except ValueError as exc:
                error, status = str(exc), 400
        org = await self.call(request, "org_show", actor)
        throttling = await self.call(request, "throttling_show", actor)
        return self.render(request, actor, "org.html", status=status, org=org, error=error, throttling=throttling)

    # -- policies -------------------------------------------------------------------------------
    async def policies(self, request: Request, actor: Actor, form) -> Response:
        error, status = None, 200
        if form is not None:
            name = str(form.get("name") or "").strip()
            try:
                await self.call(request, "policy_add", actor, name, {}, default=bool(form.get("default")))
                return self.done(request, f"Policy {name} added.", f"/ecp/policies/{quote(name, safe='')}")
            except ValueError as exc:
                error, status = str(exc), 400
        rows = await self.call(request, "policy_list", actor)
        return self.render(request, actor, "policies.html", status=status, rows=rows, error=error)

    async def policy(self, request: Request, actor: Actor, form) -> Response:
        name = request.path_params["name"]
        error, status = None, 200
        if form is not None:
            op = form.get("op")
            try:
                if op == "save":
                    changes = {}
                    for key in COMMON_SETTINGS:
                        kind = setting_kind(key)
                        raw = str(form.get(key) or "").strip()
                        if kind == "bool":
                            changes[key] = bool(form.get(key))
                        elif not raw:
                            changes[key] = None
                        elif raw.isdigit() and len(raw) < 9:
                            changes[key] = int(raw)
                        else:
                            raise ValueError(f"{key}: {raw!r} is not a whole number (leave it empty for unlimited)")
                    await self.call(request, "policy_update", actor, name, changes, default=bool(form.get("default")))
                    return self.done(request, f"Policy {name} saved: its devices provision again at their next request.",
                                     f"/ecp/policies/{quote(name, safe='')}")
                if op == "assign":
                    user = str(form.get("user") or "").strip()
                    if not user:
                        raise ValueError("name the user to assign the policy to")
                    try:
                        out = await self.call(request, "policy_assign", actor, user, name)
                    except NotFound as exc:
                        if str(exc).startswith("no policy"):
                            raise
                        error, status = str(exc), 404  # a mistyped user: the form again, with the message
                    else:
                        return self.done(request, f"{out['user']} now has policy {name}.",
                                         f"/ecp/policies/{quote(name, safe='')}")
                else:
                    raise ValueError(f"unknown operation {op!r}")
            except ValueError as exc:
                error, status = str(exc), 400
        shown = await self.call(request, "policy_show", actor, name)
        common = [(key, setting_kind(key), shown["settings"][key], UNITS.get(key, "")) for key in COMMON_SETTINGS]
        return self.render(request, actor, "policy.html", status=status, p=shown, common=common, units=UNITS, error=error)

    # -- outbound -------------------------------------------------------------------------------
    async def outbound(self, request: Request, actor: Actor, form) -> Response:
        rows = await self.call(request, "outbound", actor)
        return self.render(request, actor, "outbound.html", rows=rows)

    # -- mailboxes (read-only: server/mailboxes.py) ---------------------------------------------
    async def mailboxes(self, request: Request, actor: Actor, form) -> Response:
        rows = await self.look(request, "users", actor)
        return self.render(request, actor, "mailboxes.html", rows=rows)

    async def mailbox(self, request: Request, actor: Actor, form) -> Response:
        user = request.path_params["user"]
        rows = await self.look(request, "folders", actor, user)
        devices = await self.call(request, "device_list", actor, user)
        return self.render(request, actor, "folders.html", user=user.lower(), rows=rows, devices=devices)

    async def folder(self, request: Request, actor: Actor, form) -> Response:
        user, server_id = request.path_params["user"], request.path_params["server_id"]
        before = request.query_params.get("before") or None
        try:
            if before is not None:
                parse_cursor(before)
        except ValueError:
            before = None  # a page ignores bad input: the newest page
        limit = _number(request.query_params.get("limit"), 1, MAX_PAGE) or DEFAULT_PAGE
        page = await self.look(request, "items", actor, user, server_id, limit=limit, before=before)
        return self.render(request, actor, "items.html", page=page, user=page["user"],
                           more=f"&limit={limit}" if limit != DEFAULT_PAGE else "")

    async def item(self, request: Request, actor: Actor, form) -> Response:
        user, server_id = request.path_params["user"], request.path_params["server_id"]
        m = await self.look(request, "item", actor, user, server_id)
        # The mail's HTML goes into a sandboxed iframe's srcdoc (escaped as an attribute value by
        # the template), behind FRAME_CSP: see templates/item.html for why not inline.
        srcdoc = ""
        if m["body_html"]:
            srcdoc = f'<meta http-equiv="Content-Security-Policy" content="{FRAME_CSP}">{m["body_html"]}'
        return self.render(request, actor, "item.html", m=m, user=m["user"], srcdoc=srcdoc)


def _number(raw, low: int, high: int) -> int | None:
    """A whole number from a query string within [low, high], or None (a page ignores bad input)."""
    if not raw or not raw.isdigit() or len(raw) > 19 or not low <= int(raw) <= high:
        return None
    return int(raw)


def trace_state(db, user: str, device_id: str) -> dict:
    """Whether the device is traced, and how much its ring holds (no bodies read)."""
    from sqlmodel import func

    from easlab.storage.faults import TraceEntry, trace_setting

    with db.session() as s:
        row = trace_setting(s, user, device_id)
        count, size = s.exec(select(func.count(), func.coalesce(func.sum(TraceEntry.size), 0)).where(
            TraceEntry.user == user.lower(), TraceEntry.device_id == device_id.lower())).one()
        return {"enabled": bool(row and row.enabled), "entries": count, "bytes": size,
                "max_entries": row.max_entries if row else None, "max_bytes": row.max_bytes if row else None,
                "dropped": row.dropped if row else 0}
