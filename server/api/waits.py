"""Waits: conditions that answer when something has happened, without polling.

Each wait subscribes to the server's events (server/events.py, the push hub), checks the
database, and checks again only when an event says something may have changed; a condition that
already holds answers at once.  The pytest plugin uses `Waits` in-process; for test suites in any
language (and the plugin's process mode) the long-poll routes GET /api/wait/{mail,device,outbound,
ping} (server/api/handlers_testing.py, in server/api/ops.py's table) ask the same class.
"""
from __future__ import annotations

import asyncio
import base64
from dataclasses import asdict, dataclass, field
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser

from sqlmodel import select

from easlab.eas.machines.access import ALLOWED, BLOCKED, DISCOVERY, QUARANTINED
from easlab.storage.devices import get_device
from easlab.storage.mailbox import folder_by_name
from easlab.storage.models import Folder, Item, OutboundMail
from easlab.storage.types import iso
from easlab.storage.users import get_user

from .. import events
from ..admin import NotFound
from ..admin.views import device_view

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


def named_folder(session, user: str, folder: str) -> Folder:
    """`user`'s folder by display name (any case), or NotFound for the user or the folder."""
    row = get_user(session, user)
    if row is None:
        raise NotFound(f"no user {user}")
    box = folder_by_name(session, row, folder)
    if box is None:
        raise NotFound(f"{user} has no folder {folder!r}")
    return box


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
                    where["folder_id"] = named_folder(s, user, folder).id
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
