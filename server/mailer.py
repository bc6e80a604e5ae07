"""Mail the server writes: notices into mailboxes, and mail for others into the outbound queue."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session

from easlab.eas.folders import FolderType
from easlab.eas.machines.access import Recipient
from easlab.eas.mime import parse_message
from easlab.storage.access import admin_recipients
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.models import OrgSettings, OutboundMail, User
from easlab.storage.users import get_user

from . import notices

log = logging.getLogger("easlab.mail")

LINK_MAX_AGE = 7 * 24 * 3600  # an approval link works for a week


class _ClockSigner(TimestampSigner):
    """Dates a link and measures its age on the app's clock, so a test clock's week expires it."""

    def __init__(self, *args, clock=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return super().get_timestamp() if self.clock is None else int(self.clock.now().timestamp())


class Mailer:
    def __init__(self, settings, bus, clock=None):
        self.settings = settings  # read late: `serve --port 0` learns its port after the app exists
        self.bus = bus  # the app's event bus (server/events.py): "outbound", and the gate's "device"
        self.domain = settings.domain.lower()
        self.clock = clock  # the app's (server/clock.py); None: the real one

    @property
    def base_url(self) -> str:
        return self.settings.base_url.rstrip("/")

    # -- links ----------------------------------------------------------------------------------
    @staticmethod
    def _serializer(secret: str, clock=None) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(secret, salt="easlab-device-link", signer=_ClockSigner,
                                      signer_kwargs={"clock": clock})

    def device_link(self, secret: str, user_name: str, device_id: str) -> str:
        token = self._serializer(secret, self.clock).dumps({"u": user_name, "d": device_id})
        return f"{self.base_url}/ecp/link/{token}"

    @classmethod
    def open_link(cls, secret: str, token: str, max_age: int = LINK_MAX_AGE, clock=None) -> tuple[str, str] | None:
        """(user, device id) of a valid link on `clock` (None: the real one); None when forged or expired."""
        try:
            data = cls._serializer(secret, clock).loads(token, max_age=max_age)
        except (BadSignature, SignatureExpired):
            return None
        return data.get("u"), data.get("d")

    # -- delivery -------------------------------------------------------------------------------
    def post_to_inbox(self, session: Session, user: User, mime: bytes, message_class: str | None = None, now=None):
        """Create a message directly in the user's Inbox (no transport); returns the Item."""
        parsed = parse_message(mime)
        if message_class:
            parsed.message_class = message_class
        inbox = folder_by_type(session, user, FolderType.Inbox)
        return store_message(session, inbox, mime, parsed=parsed, received=now or datetime.now(timezone.utc))

    def send(self, session: Session, mime: bytes, recipients: list[str], effects, now=None) -> None:
        """Local recipients get it in their Inbox now; others go to the outbound queue."""
        local, remote = [], []
        for address in recipients:
            local_part, _, domain = address.strip().rpartition("@")
            user = get_user(session, local_part) if domain.lower() == self.domain else None
            (local if user else remote).append(user or address)
        for user in local:
            effects.touched.append(self.post_to_inbox(session, user, mime, now=now).folder_id)
        if remote:
            session.add(OutboundMail(sender=f"MicrosoftExchange@{self.domain}", recipients=remote,
                                     subject=parse_message(mime).subject, mime=mime))
            self.bus.publish("outbound", session=session, recipients=remote)
            effects.outbound = True

    def access_notices(self, session: Session, user: User, device, org: OrgSettings, decision, effects, now=None) -> None:
        now = now or datetime.now(timezone.utc)
        owner = f"{user.name}@{self.domain}"
        mime = notices.user_access(self.domain, owner, user.display_name, device, decision.state, decision.reason,
                                   org.user_mail_insert, now)
        notice = self.post_to_inbox(session, user, mime, now=now)
        effects.touched.append(notice.folder_id)
        device.quarantine_notice_id = notice.id
        session.add(device)
        if Recipient.ADMINS not in decision.notify:
            return  # Exchange mails the admins about quarantines only (eas.machines.access)
        valid, invalid = admin_recipients(org)
        if invalid:
            log.warning("AdminMailRecipients not usable: %s", ", ".join(invalid))
        if not valid:
            log.warning("no valid AdminMailRecipients: no admin mail for %s's device %s (Exchange event 1110)",
                        user.name, device.device_id)
            return
        link = self.device_link(org.secret, user.name, device.device_id) if self.base_url else None
        mime = notices.admin_quarantine(self.domain, owner, user.display_name, user.name, device, decision.reason,
                                        decision.rule or "", link, valid, now)
        self.send(session, mime, valid, effects, now)
