"""Folders and items looked up by the ServerIds a device sends, and rows as the commands see them.

One query per lookup, shared by Sync, the PIM commands, MoveItems, ItemOperations, SmartReply and
MeetingResponse: a ServerId is only meaningful inside the folder the device names.
"""
from __future__ import annotations

from sqlalchemy import bindparam
from sqlmodel import Session, select

from easlab.eas.mime import mail_fields
from easlab.eas.records import AttachmentInfo, EmailItem, PimItem
from easlab.eas.rights import RPMSG_TYPE

from .models import Folder, Item, User


# Built once: a statement built per call cost more Python than running it (every Sync's writer
# turn runs both).
_FOLDER = select(Folder).where(Folder.user_id == bindparam("user_id"), Folder.server_id == bindparam("server_id"),
                               Folder.deleted == False)  # noqa: E712
_ITEM = select(Item).where(Item.folder_id == bindparam("folder_id"), Item.server_id == bindparam("server_id"))


def find_folder(session: Session, user: User, server_id: str | None) -> Folder | None:
    if not server_id:
        return None
    return session.exec(_FOLDER, params={"user_id": user.id, "server_id": server_id}).first()


def item_in_folder(session: Session, folder: Folder, server_id: str | None) -> Item | None:
    """The item `server_id` names in `folder`; None for a missing or empty ServerId."""
    if not server_id:
        return None
    return session.exec(_ITEM, params={"folder_id": folder.id, "server_id": server_id}).first()


def _protected(attachments: list[AttachmentInfo]) -> bool:
    return any(a.content_type == RPMSG_TYPE for a in attachments)


def email_item(item: Item, with_mime: bool = True) -> EmailItem:
    """The EmailItem commands render.  Without `with_mime` the MIME blob (most of a row's bytes)
    is neither loaded nor copied: Sync needs it only when the client asked for MIME bodies."""
    attachments = [
        AttachmentInfo(file_reference=f"{item.server_id}:{a['index']}", name=a["name"], content_type=a["content_type"],
                       size=a["size"], method=a.get("method", 1), content_id=a.get("content_id", ""), inline=a.get("inline", False))
        for a in item.attachments
    ]
    return EmailItem(
        server_id=item.server_id, date_received=item.date_received, read=item.read, flag_status=item.flag_status,
        # A protected message's content is in its MIME (eas.rights), which a decrypting render reads.
        flag_type=item.flag_type, mime=item.mime if with_mime or _protected(attachments) else b"", attachments=attachments, bcc=item.bcc,
        is_draft=item.is_draft, **mail_fields(item),  # the column list is eas.mime.MailFields
    )


def pim_item(item: Item, class_name: str) -> PimItem:
    return PimItem(item.server_id, class_name, item.pim or [])


def row_item(item: Item, folder_class: str, need_mime: bool = True):
    """What a command renders for a row: an EmailItem, or a PimItem in a PIM folder."""
    if folder_class != "Email" and item.pim is not None:
        return pim_item(item, folder_class)
    found = email_item(item, need_mime)
    if item.pim is not None:
        found.meeting = item.pim
    return found


def is_meeting_mail(item: Item) -> bool:
    """A meeting request, cancellation or response: mail with an iCalendar part (a request or
    cancellation also keeps its MeetingRequest in `pim`)."""
    from email import message_from_bytes, policy

    from easlab.eas.pim.ical import find_calendar_part

    return bool(item.pim) or find_calendar_part(message_from_bytes(item.mime, policy=policy.default)) is not None
