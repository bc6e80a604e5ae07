"""Waits over HTTP: long-poll endpoints that answer when something has happened.

For test suites in any language (and the pytest plugin's process mode): instead of polling the
admin API in a loop, ask once and get the answer the moment the condition holds.

    GET /api/wait/mail?user=alice&folder=Inbox&subject=Invoice&after=0&timeout=10
        a message in alice's folder (by display name, default Inbox) with id > `after` whose
        subject contains `subject` (case-sensitive; omit it for any message).  &mime=1 adds the
        message as base64 ("mime").
    GET /api/wait/device?user=alice&device_id=PHONE1&state=Quarantined&timeout=10
        the device's stored access state is `state` (Allowed, Blocked, Quarantined,
        DeviceDiscovery; any case).  The device may not exist yet.
    GET /api/wait/outbound?to=admin@example.net&subject=Quarantine&after=0&timeout=10
        an outbound-queue message with id > `after`, to `to` (one of its recipients, any case)
        and/or with `subject` in its subject.
    GET /api/wait/ping?user=alice&device_id=PHONE1&timeout=10
        the server holds a Ping (or a long-poll Sync) of that device.

A condition that already holds answers at once.  Answers: 200 with JSON describing what was found;
408 {"error": "timeout", ...} when `timeout` seconds (default 5, at most 600) pass first; 400 for
bad parameters; 404 for a user or folder that does not exist; 401 without valid HTTP Basic
credentials; 403 unless the user's role is org-admin or viewer.

Nothing here polls: each wait subscribes to the server's events (server/events.py, the push hub),
checks the database, and checks again only when an event says something may have changed.  The
`Waits` class is the same logic without HTTP; the pytest plugin uses it in-process.
"""
from __future__ import annotations

import asyncio
import base64
from dataclasses import asdict, dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser

from sqlmodel import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router

from easlab.eas.machines.access import ALLOWED, BLOCKED, DISCOVERY, QUARANTINED
from easlab.storage.devices import get_device
from easlab.storage.models import Folder, Item, OutboundMail
from easlab.storage.types import iso
from easlab.storage.users import get_user

from . import events
from .admin import NotFound
from .admin.views import device_view

ALLOWED_ROLES = ("org-admin", "viewer")
DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 600.0
STATES = {s.lower(): s for s in (ALLOWED, BLOCKED, QUARANTINED, DISCOVERY, "Unknown")}


class _CarriesMime:
    """What a waited-for message offers: the parsed message, and JSON with or without its MIME
    (the long-poll endpoints send it, the process-mode waits read it back)."""

    mime: bytes

    @property
    def message(self) -> EmailMessage:
        """The message as received, parsed."""
        return BytesParser(policy=email_policy.default).parsebytes(self.mime)

    def to_json(self, with_mime: bool = False) -> dict:
        data = asdict(self)
        data.pop("mime")
        if with_mime:
            data["mime"] = base64.b64encode(self.mime).decode("ascii")
        return data

    @classmethod
    def from_json(cls, data: dict):
        values = dict(data)
        values["mime"] = base64.b64decode(values.get("mime") or "")
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


@dataclass
class Mail(_CarriesMime):
    """A message in a mailbox folder, as a wait returns it."""

    id: int
    user: str
    folder: str
    server_id: str
    subject: str
    sender: str
    to: str
    cc: str
    date_received: str | None
    message_class: str
    read: bool
    body_text: str
    body_html: str
    size: int
    mime: bytes = field(default=b"", repr=False)

    @property
    def body(self) -> str:
        return self.body_text or self.body_html



@dataclass
class Outbound(_CarriesMime):
    """A message in the outbound queue (mail for other domains)."""

    id: int
    sender: str
    recipients: list[str]
    subject: str
    status: str
    attempts: int
    created_at: str | None
    mime: bytes = field(default=b"", repr=False)



def mail_of(item: Item, user: str, folder: Folder) -> Mail:
    return Mail(id=item.id, user=user, folder=folder.display_name, server_id=item.server_id, subject=item.subject,
                sender=item.sender, to=item.to, cc=item.cc, date_received=iso(item.date_received, "auto"),
                message_class=item.message_class, read=item.read, body_text=item.body_text,
                body_html=item.body_html, size=item.size, mime=item.mime)


def outbound_of(row: OutboundMail) -> Outbound:
    return Outbound(id=row.id, sender=row.sender, recipients=list(row.recipients),
                    subject=row.subject, status=row.status, attempts=row.attempts, created_at=iso(row.created_at, "auto"),
                    mime=row.mime)


def state_name(state: str) -> str:
    name = STATES.get((state or "").lower())
    if name is None:
        raise ValueError(f"state {state!r}: use one of {', '.join(STATES.values())}")
    return name


class Waits:
    """The conditions, over one server's database and push hub."""

    def __init__(self, db, hub, bus: events.EventBus | None = None):
        self.db = db
        self.hub = hub
        self.bus = bus or hub.bus  # the app's bus, which the hub publishes on

    async def mail(self, user: str, folder: str = "Inbox", subject: str | None = None, after: int = 0,
                   timeout: float = DEFAULT_TIMEOUT) -> Mail:
        """The first message in `user`'s `folder` with id > `after` whose subject contains `subject`."""
        user = user.strip().lower()
        where: dict = {"cursor": int(after)}

        def check() -> Mail | None:
            with self.db.session() as s:
                if "folder_id" not in where:
                    u = get_user(s, user)
                    if u is None:
                        raise NotFound(f"no user {user}")
                    row = s.exec(select(Folder).where(Folder.user_id == u.id, Folder.deleted == False,  # noqa: E712
                                                      func.lower(Folder.display_name) == folder.lower())).first()
                    if row is None:
                        raise NotFound(f"{user} has no folder {folder!r}")
                    where["folder_id"] = row.id
                rows = s.exec(select(Item.id, Item.subject).where(Item.folder_id == where["folder_id"],
                                                                  Item.id > where["cursor"]).order_by(Item.id))
                for item_id, item_subject in rows:
                    if subject is None or subject in (item_subject or ""):
                        item = s.get(Item, item_id)
                        return mail_of(item, user, s.get(Folder, item.folder_id))
                    where["cursor"] = item_id  # seen and not wanted: never read again
            return None

        what = f"mail for {user} in {folder}" + (f" with {subject!r} in the subject" if subject else "")
        return await events.wait_until(check, timeout, hub=self.hub, bus=self.bus, what=what)

    async def device(self, user: str, device_id: str, state: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """The device's view (server/admin/views.py device_view) once its stored access state is `state`."""
        user = user.strip().lower()
        wanted = state_name(state)

        def check() -> dict | None:
            with self.db.session() as s:
                u = get_user(s, user)
                if u is None:
                    raise NotFound(f"no user {user}")
                d = get_device(s, u, device_id)
                if d is not None and d.access_state == wanted:
                    return device_view(d, u)
            return None

        def relevant(event: events.Event) -> bool:
            return event.get("user", user) == user and event.get("device_id", device_id) == device_id

        return await events.wait_until(check, timeout, kinds=("device",), relevant=relevant, bus=self.bus,
                                       what=f"{user}'s device {device_id} in state {wanted}")

    async def outbound(self, to: str | None = None, subject: str | None = None, after: int = 0,
                       timeout: float = DEFAULT_TIMEOUT) -> Outbound:
        """The first queued-or-sent outbound message with id > `after` matching `to` and `subject`."""
        cursor = {"id": int(after)}
        to_folded = to.strip().lower() if to else None

        def check() -> Outbound | None:
            with self.db.session() as s:
                for row in s.exec(select(OutboundMail).where(OutboundMail.id > cursor["id"]).order_by(OutboundMail.id)):
                    recipients = [r.lower() for r in row.recipients]
                    if (to_folded is None or to_folded in recipients) and (subject is None or subject in row.subject):
                        return outbound_of(row)
                    cursor["id"] = row.id
            return None

        what = "outbound mail" + (f" to {to}" if to else "") + (f" with {subject!r} in the subject" if subject else "")
        return await events.wait_until(check, timeout, kinds=("outbound",), bus=self.bus, what=what)

    async def ping(self, user: str, device_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Once the hub holds a request (Ping or long-poll Sync) of `user`'s device `device_id`."""
        user = user.strip().lower()

        def user_id() -> int:
            with self.db.session() as s:
                u = get_user(s, user)
                if u is None:
                    raise NotFound(f"no user {user}")
                return u.id

        uid = await asyncio.to_thread(user_id)

        async def check() -> dict | None:
            # The hub lives on this loop; its table of held requests is read here, not in a thread.
            if self.hub.is_held(uid, device_id):
                return {"user": user, "device_id": device_id, "held": True, "held_total": self.hub.held}
            return None

        def relevant(event: events.Event) -> bool:
            return event.get("device_id", device_id) == device_id and event.get("user_id", uid) == uid

        return await events.wait_until(check, timeout, kinds=("held",), relevant=relevant, bus=self.bus,
                                       what=f"a held Ping of {user}'s device {device_id}")


# -- HTTP -----------------------------------------------------------------------------------------
class BadParameter(ValueError):
    pass


def _error(status: int, message: str, **extra) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Basic realm="easlab", charset="UTF-8"'} if status == 401 else None
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def _role(db, name: str) -> str:
    with db.session() as s:
        user = get_user(s, name)
        return (user.role or "") if user is not None else ""


async def _authorize(request: Request) -> Response | None:
    state = request.app.state
    header = request.headers.get("authorization")
    identity = await run_in_threadpool(state.authenticator.authenticate, header) if header else None
    if identity is None:
        return _error(401, "HTTP Basic credentials of a user with role org-admin or viewer required")
    role = await run_in_threadpool(_role, state.db, identity.name)
    if role not in ALLOWED_ROLES:
        return _error(403, f"{identity.name} ({role or 'no role'}) may not wait: needs role org-admin or viewer")
    return None


def _param(request: Request, name: str, required: bool = False, default: str | None = None) -> str | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        if required:
            raise BadParameter(f"{name} is required")
        return default
    return value


def _number(request: Request, name: str, default: float, low: float, high: float, kind=float):
    raw = _param(request, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise BadParameter(f"{name} must be a number") from None
    if not low <= value <= high:
        raise BadParameter(f"{name} must be {low:g}-{high:g}")
    return value


async def _until_disconnect(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _hold(request: Request, make_wait, timeout: float, condition: dict) -> Response:
    """Run the wait, answering 200/404/408; give up early if the client goes away."""
    denied = await _authorize(request)
    if denied is not None:
        return denied
    waiter = asyncio.ensure_future(make_wait())
    gone = asyncio.ensure_future(_until_disconnect(request))
    try:
        await asyncio.wait({waiter, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (waiter, gone):
            if not task.done():
                task.cancel()
        await asyncio.gather(waiter, gone, return_exceptions=True)
    if waiter.cancelled():
        return Response(status_code=499)  # the client left; nobody reads this
    exc = waiter.exception()
    if isinstance(exc, events.WaitTimeout):
        return _error(408, "timeout", detail=str(exc), timeout=timeout, condition=condition)
    if isinstance(exc, NotFound):
        return _error(404, str(exc).strip("'\""))
    if exc is not None:
        raise exc
    return JSONResponse(waiter.result())


def _endpoint(build):
    """`build(request, waits)` -> (coroutine function, timeout, condition dict)."""

    async def endpoint(request: Request) -> Response:
        waits = Waits(request.app.state.db, request.app.state.hub, request.app.state.bus)
        try:
            make_wait, timeout, condition = build(request, waits)
        except (BadParameter, ValueError) as exc:
            return _error(400, str(exc))
        return await _hold(request, make_wait, timeout, condition)

    endpoint.__name__ = f"wait_{build.__name__}"
    return endpoint


def _timeout(request: Request) -> float:
    return _number(request, "timeout", DEFAULT_TIMEOUT, 0, MAX_TIMEOUT)


def mail(request: Request, waits: Waits):
    user = _param(request, "user", required=True)
    folder = _param(request, "folder", default="Inbox")
    subject = _param(request, "subject")
    after = _number(request, "after", 0, 0, 2**63, kind=int)
    with_mime = _param(request, "mime", default="0").lower() in ("1", "true", "yes")
    timeout = _timeout(request)

    async def run():
        found = await waits.mail(user, folder, subject, after, timeout)
        return found.to_json(with_mime)

    return run, timeout, {"user": user, "folder": folder, "subject": subject, "after": after}


def device(request: Request, waits: Waits):
    user = _param(request, "user", required=True)
    device_id = _param(request, "device_id", required=True)
    state = state_name(_param(request, "state", required=True))
    timeout = _timeout(request)
    return (lambda: waits.device(user, device_id, state, timeout)), timeout, \
        {"user": user, "device_id": device_id, "state": state}


def outbound(request: Request, waits: Waits):
    to = _param(request, "to")
    subject = _param(request, "subject")
    after = _number(request, "after", 0, 0, 2**63, kind=int)
    with_mime = _param(request, "mime", default="0").lower() in ("1", "true", "yes")
    timeout = _timeout(request)

    async def run():
        found = await waits.outbound(to, subject, after, timeout)
        return found.to_json(with_mime)

    return run, timeout, {"to": to, "subject": subject, "after": after}


def ping(request: Request, waits: Waits):
    user = _param(request, "user", required=True)
    device_id = _param(request, "device_id", required=True)
    timeout = _timeout(request)
    return (lambda: waits.ping(user, device_id, timeout)), timeout, {"user": user, "device_id": device_id}


async def _not_found(scope, receive, send):
    await JSONResponse({"error": "no such wait; use mail, device, outbound or ping"}, status_code=404)(scope, receive, send)


def router() -> Router:
    """The /api/wait application (mounted by server/app.py, before /api)."""
    return Router(routes=[Route(f"/{build.__name__}", _endpoint(build), methods=["GET"])
                          for build in (mail, device, outbound, ping)], default=_not_found)
