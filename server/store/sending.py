"""Mail leaving a mailbox: what SendMail, SmartReply/Forward, drafts sent over Sync and the
server's meeting mail share, and the automatic Out-of-Office reply.

Local recipients get the message in their Inbox at once (their held Pings wake after the
commit), addresses of other domains go to the outbound queue (the Outbound sender takes them to
the smarthost, retrying, never dropping them), unknown local addresses come back to the sender as
a non-delivery report, and the sender's copy lands in Sent Items when asked.  A delivery into a
mailbox whose owner is Out of Office answers the sender once (`oof_reply`, which delivery from SMTP
calls too).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from sqlmodel import Session, select

from easlab.eas.compose import Outgoing, non_delivery_report, prepare_outgoing, sender_header
from easlab.eas.folders import FolderType
from easlab.eas.mime import ParsedMessage, parse_message
from easlab.eas.oof import EXTERNAL_KNOWN, EXTERNAL_UNKNOWN, INTERNAL, OofConfig, OofMessage
from easlab.eas.oof import audience as oof_audience
from easlab.eas.oof import is_automatic, is_system_sender, reply_mime
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.models import OutboundMail, User
from easlab.storage.models_compose import OofReply, OofSettings
from easlab.storage.scheduling import deliver_to_inbox
from easlab.storage.users import get_user

from .context import Effects, StoreContext
from .meeting import send_invitations

log = logging.getLogger("easlab.compose")

# The OofSettings column prefix of each audience.
OOF_COLUMNS = {INTERNAL: "internal", EXTERNAL_KNOWN: "known", EXTERNAL_UNKNOWN: "unknown"}


def oof_config(row: OofSettings | None) -> OofConfig:
    config = OofConfig()
    if row is None:
        return config
    config.state, config.start, config.end = row.state, row.start_time, row.end_time
    for audience, column in OOF_COLUMNS.items():
        config.messages[audience] = OofMessage(getattr(row, f"{column}_enabled"), getattr(row, f"{column}_message"),
                                               getattr(row, f"{column}_html"))
    return config


class Sending:
    def __init__(self, store: StoreContext):
        self.store = store

    def draft_context(self, version: str) -> DraftContext:
        return DraftContext(self, version, self.store.clock.now())

    def submit(self, session: Session, user: User, outgoing: Outgoing, save_in_sent: bool, now: datetime,
               effects: Effects) -> None:
        """Deliver `outgoing` from `user`, in the caller's transaction."""
        domain = self.store.domain
        sender = self.store.address(user)
        local: list[User] = []
        remote: list[str] = []
        unknown: list[str] = []
        for address in outgoing.recipients:
            name = self.store.local_user_name(address)
            if name is None:
                remote.append(address)
                continue
            target = get_user(session, name)
            if target is None:
                unknown.append(address)
            elif target not in local:
                local.append(target)
        parsed = parse_message(outgoing.delivered)
        for target in local:
            effects.touched += deliver_to_inbox(session, target, self.store.address(target), outgoing.delivered,
                                                replace(parsed), now)
            self.oof_reply(session, target, outgoing.delivered, parsed, sender, now, effects)
        if remote:
            session.add(OutboundMail(sender=sender, recipients=remote, subject=outgoing.subject,
                                     mime=outgoing.delivered, created_at=now))
            effects.outbound = True
        if unknown:
            ndr = non_delivery_report(domain, sender_header(sender, user.display_name), outgoing, unknown, now)
            ndr_parsed = parse_message(ndr)
            ndr_parsed.message_class = "REPORT.IPM.Note.NDR"
            inbox = folder_by_type(session, user, FolderType.Inbox)
            store_message(session, inbox, ndr, parsed=ndr_parsed, received=now)
            effects.touched.append(inbox.id)
        if save_in_sent:
            sent = folder_by_type(session, user, FolderType.SentItems)
            store_message(session, sent, outgoing.sent_copy, received=now, read=True)
            effects.touched.append(sent.id)
        log.info("%s sent %r: %d local, %d remote, %d unknown", user.name, outgoing.subject, len(local), len(remote), len(unknown))

    # -- Out of Office ---------------------------------------------------------------------------
    def oof_reply(self, session: Session, user: User, mime: bytes, parsed: ParsedMessage, sender: str | None,
                  now: datetime, effects: Effects) -> bool:
        """Answer `sender` once per Out-of-Office period; True when a reply went out."""
        mailer, domain = self.store.mailer, self.store.domain
        if mailer is None or not sender or "@" not in sender:
            return False
        row = session.exec(select(OofSettings).where(OofSettings.user_id == user.id)).first()
        config = oof_config(row)
        if not config.in_force(now):
            return False
        own = self.store.address(user)
        if sender.lower() == own or is_system_sender(sender, domain) or is_automatic(mime, parsed.message_class):
            return False
        message = config.messages[oof_audience(sender, domain)]
        if not message.enabled:
            return False
        key = sender.lower()
        if session.exec(select(OofReply.id).where(OofReply.user_id == user.id, OofReply.sender == key)).first() is not None:
            return False
        session.add(OofReply(user_id=user.id, sender=key, sent_at=now))
        reply = reply_mime(domain=domain, user_address=own, display_name=user.display_name, to=sender,
                           original=mime, subject=parsed.subject, message=message, now=now)
        mailer.send(session, reply, [sender], effects, now)
        log.info("%s is out of office: automatic reply to %s", user.name, sender)
        return True


class DraftContext:
    """What storage.sync.apply_client_commands needs to send a draft (16.0+), and meeting mail needs
    to leave: the protocol version, the time, and `submit`, which delivers like SendMail.  Built per
    request by Sending.draft_context; `finish` follows up after the commit."""

    def __init__(self, sending: Sending, version: str, now: datetime):
        self.sending = sending
        self.version = version
        self.now = now
        self.effects = Effects()

    @property
    def domain(self) -> str:
        return self.sending.store.domain

    def address(self, user: User) -> str:
        return self.sending.store.address(user)

    def sender(self, user: User) -> str:
        return sender_header(self.address(user), user.display_name)

    def outgoing(self, user: User, mime: bytes) -> Outgoing:
        """The draft as it leaves (raises ComposeError, e.g. 119 without recipients)."""
        return prepare_outgoing(mime, address=self.address(user), display_name=user.display_name,
                                domain=self.domain, now=self.now)

    def submit(self, session: Session, user: User, outgoing: Outgoing) -> None:
        self.sending.submit(session, user, outgoing, False, self.now, self.effects)

    def finish(self) -> None:
        self.sending.store.follow_up(self.effects)

    def organised(self, session: Session, user: User, kind: str, nodes: list, before: list | None) -> None:
        """A 16.x device added, changed or deleted an event: as organiser, the server sends the
        invitations, updates and cancellations (MS-ASCAL 3.1.5.x; older clients send their own)."""
        send_invitations(self, session, user, kind, nodes, before)
