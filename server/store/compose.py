"""The ComposePort: SendMail, SmartReply and SmartForward (the mail leaves through Sending)."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete as sql_delete
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from easlab.eas.compose import ComposeError, prepare_outgoing, smart_message
from easlab.eas.folders import FolderType
from easlab.eas.rights import ATTACH, INLINE, NO_RESTRICTION, NOTHING, SmartPlan, Template, plan_smart
from easlab.eas.rpmsg import attach_original, header_addresses, protect, unprotect
from easlab.eas.status import Common
from easlab.storage import rights
from easlab.storage.items import find_folder, item_in_folder
from easlab.storage.longid import item_by_long_id
from easlab.storage.mailbox import folder_by_type
from easlab.storage.models import Device, Item, User
from easlab.storage.models_compose import CLIENT_ID_DAYS, CLIENT_ID_KEEP, SentClientId

from .context import Effects, StoreContext
from .sending import Sending

log = logging.getLogger("easlab.compose")


def original_message(session: Session, user: User, request) -> Item | None:
    """The message a SmartReply/SmartForward refers to: FolderId (default Inbox) + ItemId, or
    a LongId from Search/Find (storage/longid.py)."""
    if request.long_id:
        found = item_by_long_id(session, user, request.long_id)
        return found[0] if found is not None else None
    if not request.item_id:
        return None
    if request.folder_id:
        folder = find_folder(session, user, request.folder_id)
    else:
        folder = folder_by_type(session, user, FolderType.Inbox)
    if folder is None:
        return None
    return item_in_folder(session, folder, request.item_id)


def remember_client_id(session: Session, device: Device, client_id: str, command: str, now: datetime) -> None:
    """Keep the ClientId of a sent message (a resend is MessagePreviouslySent), within bounds."""
    session.add(SentClientId(device_pk=device.id, client_id=client_id, command=command, sent_at=now))
    session.exec(sql_delete(SentClientId).where(SentClientId.device_pk == device.id,
                                                SentClientId.sent_at < now - timedelta(days=CLIENT_ID_DAYS)))
    count = session.exec(select(func.count()).select_from(SentClientId).where(SentClientId.device_pk == device.id)).one()
    if count > CLIENT_ID_KEEP:
        oldest = select(SentClientId.id).where(SentClientId.device_pk == device.id).order_by(SentClientId.id).limit(count - CLIENT_ID_KEEP)
        session.exec(sql_delete(SentClientId).where(SentClientId.id.in_(oldest)))


def _smart_source(session: Session, user: User, request, reader: str, now: datetime) -> tuple[bytes, Template | None] | int:
    """The message SmartReply/SmartForward sends, with the template to protect it with: the
    device's part with the original quoted or attached as the rights on the original allow
    (eas.rights.plan_smart); or the common status why not."""
    if request.long_id and (request.item_id or request.folder_id):
        return Common.InvalidCombinationOfIDs
    if not request.long_id and not request.item_id:
        return Common.InvalidXML
    original = original_message(session, user, request)
    if original is None:
        return Common.ItemNotFound
    if request.instance_id is not None:
        return Common.NoRecurrenceInCalendar  # easlab holds no recurring meetings
    protection = unprotect(original.mime)
    source = protection.inner if protection is not None else original.mime
    if protection is not None or request.template_id is not None:
        new = header_addresses(request.mime, "To", "Cc", "Bcc")
        plan = plan_smart(forward=request.forward, replace_mime=request.replace_mime, template_id=request.template_id,
                          original=protection, templates=rights.template_map(session), reader=reader,
                          new_recipients=new["To"] + new["Cc"] + new["Bcc"],
                          original_recipients=header_addresses(source, "From", "To", "Cc"),
                          enabled=rights.irm_enabled(session), secure=request.secure)
    else:
        plan = SmartPlan(original=NOTHING if request.replace_mime else INLINE)
    if plan.status is not None:
        return plan.status
    raw = smart_message(request.mime, source, forward=request.forward, replace_mime=plan.original != INLINE,
                        original_index=original.conversation_index, now=now)
    if plan.original == ATTACH:
        raw = attach_original(raw, original.mime)
    return raw, plan.protect


def _send_template(session: Session, request) -> Template | None | int:
    """SendMail's rm:TemplateID: the template to protect with, None for none, else the status."""
    if request.template_id is None:
        return None
    if not rights.irm_enabled(session) or not request.secure:
        return Common.IRM_FeatureDisabled
    wanted = request.template_id.lower()
    if wanted == NO_RESTRICTION:
        return None
    return rights.template_map(session).get(wanted, Common.IRM_InvalidTemplateID)


class ComposeAdapter:
    def __init__(self, store: StoreContext, sending: Sending):
        self.store = store
        self.sending = sending

    async def compose(self, ctx, request) -> int | None:
        """SendMail / SmartReply / SmartForward; None when sent, else the common status code."""
        effects = Effects()
        store = self.store

        def work(session: Session) -> int | None:
            user, device = store.who(session, ctx)
            now = store.clock.now()
            if request.client_id is not None:
                seen = session.exec(select(SentClientId.id).where(SentClientId.device_pk == device.id,
                                                                  SentClientId.client_id == request.client_id)).first()
                if seen is not None:
                    return Common.MessagePreviouslySent
            if request.account_id:
                return Common.InvalidAccountId  # the primary account has no AccountId (MS-ASCMD 2.2.3.3.1)
            address = store.address(user)
            try:
                if request.command == "SendMail":
                    template = _send_template(session, request)
                    source = template if isinstance(template, int) else (request.mime, template)
                else:
                    source = _smart_source(session, user, request, address, now)
                if isinstance(source, int):
                    return source
                raw, template = source
                outgoing = prepare_outgoing(raw, address=address, display_name=user.display_name,
                                            domain=store.domain, now=now)
                if template is not None:  # the owner is the sender (MS-ASRM 2.2.2.2)
                    outgoing.delivered = protect(outgoing.delivered, template, address, now)
                    outgoing.sent_copy = protect(outgoing.sent_copy, template, address, now)
            except ComposeError as exc:
                log.info("%s %s %s refused: %s", user.name, ctx.request.device_id, request.command, exc)
                return exc.status
            self.sending.submit(session, user, outgoing, request.save_in_sent, now, effects)
            if request.client_id is not None:
                remember_client_id(session, device, request.client_id, request.command, now)
            return None

        try:
            status = await store.run(work)
        except IntegrityError:
            # The same ClientId raced in from a second request of the device: it is sent once.
            return Common.MessagePreviouslySent
        if status is None:
            store.follow_up(effects)
        return status
