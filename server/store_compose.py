"""The store's side of mail a device sends and of the Settings command: a mixin for MailStore.

Every method is one transaction in a worker thread, like the rest of MailStore (it uses
`self._in_transaction`, `self._who`, `self.hub`, `self.mailer`, `self.outbound`, `self.clock` and
`self.domain`).  Sending means: local recipients get the message in their Inbox at once (their
held Pings wake after the commit), addresses of other domains go to the outbound queue (the
Outbound sender takes them to the smarthost, retrying, never dropping them), unknown local
addresses come back to the sender as a non-delivery report, and the sender's copy lands in Sent
Items when asked.  A delivery into a mailbox whose owner is Out of Office answers the sender once
(`oof_after_delivery`, which MailStore._deliver calls for SMTP mail too).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete as sql_delete
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool

from easlab.eas.compose import (
    ComposeError, Outgoing, non_delivery_report, prepare_outgoing, sender_header, smart_message,
)
from easlab.eas.folders import FolderType
from easlab.eas.mime import ParsedMessage, parse_message
from easlab.eas.oof import EXTERNAL_KNOWN, EXTERNAL_UNKNOWN, INTERNAL, OofConfig, OofMessage
from easlab.eas.oof import audience as oof_audience
from easlab.eas.oof import is_automatic, is_system_sender, reply_address, reply_mime
from easlab.eas.status import Common
from easlab.storage.mailbox import folder_by_type, store_message
from easlab.storage.scheduling import deliver_to_inbox
from easlab.storage.models import Folder, Item, OutboundMail, User
from easlab.storage.models_compose import CLIENT_ID_DAYS, CLIENT_ID_KEEP, OofReply, OofSettings, SentClientId
from easlab.storage.users import get_user

log = logging.getLogger("easlab.compose")

_COLUMNS = {INTERNAL: "internal", EXTERNAL_KNOWN: "known", EXTERNAL_UNKNOWN: "unknown"}


@dataclass
class SendEffects:
    """What a transaction did that the loop must follow up: folders that got items (wake their
    Pings), mail queued for other domains (kick the Outbound sender).  Mailer.send fills it too."""

    touched: list[int] = field(default_factory=list)
    outbound: bool = False


class DraftContext:
    """What storage.sync.apply_client_commands needs to send a draft (16.0+): the protocol version,
    the time, and `submit`, which delivers like SendMail.  Built per Sync request by
    ComposeStore.draft_context; `finish` follows up after the commit."""

    def __init__(self, store: ComposeStore, version: str, now: datetime):
        self.store = store
        self.version = version
        self.now = now
        self.effects = SendEffects()

    @property
    def domain(self) -> str:
        return self.store.domain

    def address(self, user: User) -> str:
        return f"{user.name}@{self.store.domain}"

    def sender(self, user: User) -> str:
        return sender_header(self.address(user), user.display_name)

    def outgoing(self, user: User, mime: bytes) -> Outgoing:
        """The draft as it leaves (raises ComposeError, e.g. 119 without recipients)."""
        return prepare_outgoing(mime, address=self.address(user), display_name=user.display_name,
                                domain=self.store.domain, now=self.now)

    def submit(self, session: Session, user: User, outgoing: Outgoing) -> None:
        self.store.submit(session, user, outgoing, False, self.now, self.effects)

    def finish(self) -> None:
        self.store.follow_up(self.effects)

    def organised(self, session: Session, user: User, kind: str, nodes: list, before: list | None) -> None:
        """A 16.x device added, changed or deleted an event: as organiser, the server sends the
        invitations, updates and cancellations (MS-ASCAL 3.1.5.x; older clients send their own)."""
        from .store_meeting import send_invitations

        send_invitations(self, session, user, kind, nodes, before)


def _oof_config(row: OofSettings | None) -> OofConfig:
    config = OofConfig()
    if row is None:
        return config
    config.state, config.start, config.end = row.state, row.start_time, row.end_time
    for audience, column in _COLUMNS.items():
        config.messages[audience] = OofMessage(getattr(row, f"{column}_enabled"), getattr(row, f"{column}_message"),
                                               getattr(row, f"{column}_html"))
    return config


class ComposeStore:
    # -- after the commit ------------------------------------------------------------------------
    def follow_up(self, effects: SendEffects) -> None:
        """On the loop, after the transaction committed."""
        if effects.touched:
            self.hub.notify(set(effects.touched))
        if effects.outbound and self.outbound is not None:
            self.outbound.kick()

    def draft_context(self, ctx) -> DraftContext:
        return DraftContext(self, ctx.version, self.clock.now())

    # -- sending ---------------------------------------------------------------------------------
    def submit(self, session: Session, user: User, outgoing: Outgoing, save_in_sent: bool, now: datetime,
               effects: SendEffects) -> None:
        """Deliver `outgoing` from `user`, in the caller's transaction."""
        sender = f"{user.name}@{self.domain}"
        local: list[User] = []
        remote: list[str] = []
        unknown: list[str] = []
        for address in outgoing.recipients:
            name = self.local_user_name(address)
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
            effects.touched += deliver_to_inbox(session, target, f"{target.name}@{self.domain}", outgoing.delivered,
                                                replace(parsed), now)
            self._oof_reply(session, target, outgoing.delivered, parsed, sender, now, effects)
        if remote:
            session.add(OutboundMail(sender=sender, recipients=remote, subject=outgoing.subject,
                                     mime=outgoing.delivered, created_at=now))
            effects.outbound = True
        if unknown:
            ndr = non_delivery_report(self.domain, sender_header(sender, user.display_name), outgoing, unknown, now)
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

    def _original(self, session: Session, user: User, request) -> Item | None:
        """The message a SmartReply/SmartForward refers to: FolderId (default Inbox) + ItemId, or
        a LongId from Search/Find (storage/longid.py)."""
        if request.long_id:
            from easlab.storage.longid import item_by_long_id

            found = item_by_long_id(session, user, request.long_id)
            return found[0] if found is not None else None
        if not request.item_id:
            return None
        if request.folder_id:
            folder = session.exec(select(Folder).where(Folder.user_id == user.id, Folder.server_id == request.folder_id,
                                                       Folder.deleted == False)).first()  # noqa: E712
        else:
            folder = folder_by_type(session, user, FolderType.Inbox)
        if folder is None:
            return None
        return session.exec(select(Item).where(Item.folder_id == folder.id, Item.server_id == request.item_id)).first()

    def _remember_client_id(self, session: Session, device, client_id: str, command: str, now: datetime) -> None:
        session.add(SentClientId(device_pk=device.id, client_id=client_id, command=command, sent_at=now))
        session.exec(sql_delete(SentClientId).where(SentClientId.device_pk == device.id,
                                                    SentClientId.sent_at < now - timedelta(days=CLIENT_ID_DAYS)))
        count = session.exec(select(func.count()).select_from(SentClientId).where(SentClientId.device_pk == device.id)).one()
        if count > CLIENT_ID_KEEP:
            oldest = select(SentClientId.id).where(SentClientId.device_pk == device.id).order_by(SentClientId.id).limit(count - CLIENT_ID_KEEP)
            session.exec(sql_delete(SentClientId).where(SentClientId.id.in_(oldest)))

    async def compose(self, ctx, request) -> int | None:
        """SendMail / SmartReply / SmartForward; None when sent, else the common status code."""
        effects = SendEffects()

        def work(session: Session) -> int | None:
            user, device = self._who(session, ctx)
            now = self.clock.now()
            if request.client_id is not None:
                seen = session.exec(select(SentClientId.id).where(SentClientId.device_pk == device.id,
                                                                  SentClientId.client_id == request.client_id)).first()
                if seen is not None:
                    return Common.MessagePreviouslySent
            if request.account_id:
                return Common.InvalidAccountId  # the primary account has no AccountId (MS-ASCMD 2.2.3.3.1)
            raw = request.mime
            try:
                if request.command != "SendMail":
                    if request.long_id and (request.item_id or request.folder_id):
                        return Common.InvalidCombinationOfIDs
                    if not request.long_id and not request.item_id:
                        return Common.InvalidXML
                    original = self._original(session, user, request)
                    if original is None:
                        return Common.ItemNotFound
                    if request.instance_id is not None:
                        return Common.NoRecurrenceInCalendar  # easlab holds no recurring meetings
                    raw = smart_message(raw, original.mime, forward=request.forward, replace_mime=request.replace_mime)
                outgoing = prepare_outgoing(raw, address=f"{user.name}@{self.domain}", display_name=user.display_name,
                                            domain=self.domain, now=now)
            except ComposeError as exc:
                log.info("%s %s %s refused: %s", user.name, ctx.request.device_id, request.command, exc)
                return exc.status
            self.submit(session, user, outgoing, request.save_in_sent, now, effects)
            if request.client_id is not None:
                self._remember_client_id(session, device, request.client_id, request.command, now)
            return None

        try:
            status = await run_in_threadpool(self._in_transaction, work)
        except IntegrityError:
            # The same ClientId raced in from a second request of the device: it is sent once.
            return Common.MessagePreviouslySent
        if status is None:
            self.follow_up(effects)
        return status

    # -- Out of Office ---------------------------------------------------------------------------
    def _oof_reply(self, session: Session, user: User, mime: bytes, parsed: ParsedMessage, sender: str | None,
                   now: datetime, effects: SendEffects) -> bool:
        """Answer `sender` once per Out-of-Office period; True when a reply went out."""
        if self.mailer is None or not sender or "@" not in sender:
            return False
        row = session.exec(select(OofSettings).where(OofSettings.user_id == user.id)).first()
        config = _oof_config(row)
        if not config.in_force(now):
            return False
        own = f"{user.name}@{self.domain}"
        if sender.lower() == own or is_system_sender(sender, self.domain) or is_automatic(mime, parsed.message_class):
            return False
        message = config.messages[oof_audience(sender, self.domain)]
        if not message.enabled:
            return False
        key = sender.lower()
        if session.exec(select(OofReply.id).where(OofReply.user_id == user.id, OofReply.sender == key)).first() is not None:
            return False
        session.add(OofReply(user_id=user.id, sender=key, sent_at=now))
        reply = reply_mime(domain=self.domain, user_address=own, display_name=user.display_name, to=sender,
                           original=mime, subject=parsed.subject, message=message, now=now)
        self.mailer.send(session, reply, [sender], effects, now)
        log.info("%s is out of office: automatic reply to %s", user.name, sender)
        return True

    def oof_after_delivery(self, session: Session, user: User, mime: bytes, parsed: ParsedMessage, touched: list[int]) -> bool:
        """For MailStore._deliver: the automatic reply for mail just stored in `user`'s Inbox.
        Folders that got the reply are appended to `touched`; True when it went to the outbound
        queue (the caller kicks the Outbound sender after the commit)."""
        effects = SendEffects()
        self._oof_reply(session, user, mime, parsed, reply_address(mime), self.clock.now(), effects)
        touched.extend(effects.touched)
        return effects.outbound

    # -- Settings --------------------------------------------------------------------------------
    async def settings(self, ctx, blocks):
        from easlab.eas.commands.settings import (
            DENIED_BY_POLICY, SERVER_UNAVAILABLE, SUCCESS, BlockResult, DeviceInformationSet, DevicePasswordSet, OofGet, OofSet,
            RightsManagementGet, UserInformationGet,
        )

        def work(session: Session):
            user, device = self._who(session, ctx)
            now = self.clock.now()
            results = []
            for block in blocks:
                req = block.request
                if req is None:
                    results.append(BlockResult(block.status))
                elif isinstance(req, OofGet):
                    row = session.exec(select(OofSettings).where(OofSettings.user_id == user.id)).first()
                    results.append(BlockResult(SUCCESS, oof=_oof_config(row), body_type=req.body_type))
                elif isinstance(req, OofSet):
                    self._set_oof(session, user, req, now)
                    results.append(BlockResult(SUCCESS))
                elif isinstance(req, DeviceInformationSet):
                    for column, value in req.fields.items():
                        setattr(device, column, value)
                    session.add(device)
                    results.append(BlockResult(SUCCESS))
                elif isinstance(req, DevicePasswordSet):
                    if not self._recovery_allowed(session, user):
                        results.append(BlockResult(DENIED_BY_POLICY))
                    elif "recovery_password" not in type(device).model_fields:
                        log.error("Device.recovery_password is missing (storage/models.py): recovery password not stored")
                        results.append(BlockResult(SERVER_UNAVAILABLE))
                    else:
                        device.recovery_password = req.password
                        session.add(device)
                        results.append(BlockResult(SUCCESS))
                elif isinstance(req, UserInformationGet):
                    results.append(BlockResult(SUCCESS, address=f"{user.name}@{self.domain}", display_name=user.display_name))
                elif isinstance(req, RightsManagementGet):
                    results.append(BlockResult(SUCCESS))
                else:
                    results.append(BlockResult(block.status))
            return results

        return await run_in_threadpool(self._in_transaction, work)

    @staticmethod
    def _recovery_allowed(session: Session, user: User) -> bool:
        from easlab.eas.policy import PolicySettings
        from easlab.storage.policies import policy_for

        policy = policy_for(session, user)
        return bool(policy and PolicySettings.from_json(policy.settings).PasswordRecoveryEnabled)

    @staticmethod
    def _set_oof(session: Session, user: User, req, now: datetime) -> None:
        row = session.exec(select(OofSettings).where(OofSettings.user_id == user.id)).first()
        if row is None:
            row = OofSettings(user_id=user.id)
        if req.state is not None:
            row.state = req.state
        if req.start is not None:
            row.start_time = req.start
        if req.end is not None:
            row.end_time = req.end
        for audience, message in req.messages.items():
            column = _COLUMNS[audience]
            setattr(row, f"{column}_enabled", message.enabled)
            setattr(row, f"{column}_message", message.message)
            setattr(row, f"{column}_html", message.html)
        row.changed_at = now
        session.add(row)
        # A new Out-of-Office period: everyone may get one reply again.
        session.exec(sql_delete(OofReply).where(OofReply.user_id == user.id))

