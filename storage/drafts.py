"""Drafts over Sync (16.0+): a device adds and edits drafts in the Drafts folder and sends one by
setting email2:Send (MS-ASCMD 2.2.3.24, MS-ASEMAIL 2.2.2.69).

`drafts` is what the server hands storage per Sync request (server/store/sending.py
`DraftContext`): the protocol version, the time, the sender's address, and how to send.
"""
from __future__ import annotations

from sqlmodel import Session

from easlab.eas.folders import FolderType
from easlab.eas.records import ItemCommandResult
from easlab.eas.status import Common, SyncStatus
from easlab.eas.versions import has

from .mailbox import change_item, folder_by_type
from .models import Folder, Item, User


def drafts_over_sync(folder: Folder, drafts) -> bool:
    """Drafts travel over Sync only in the Drafts folder and only from 16.0 clients (MS-ASCMD
    2.2.3.24; a 14.1 client must not sync Drafts at all)."""
    return drafts is not None and folder.type == FolderType.Drafts and has(drafts.version, "drafts_over_sync")


def _send_flag(cmd) -> bool:
    """email2:Send: a child of Add/Change (MS-ASEMAIL 2.2.2.69); inside ApplicationData tolerated."""
    return cmd.send or (cmd.data is not None and cmd.data.has("Email2:Send"))


def is_draft_change(cmd) -> bool:
    from easlab.eas.drafts import has_draft_fields

    return _send_flag(cmd) or has_draft_fields(cmd.data)


def _draft_status(exc) -> int:
    """A draft that cannot be sent: no or unusable recipients is 183 (InvalidRecipients, 16.0),
    anything else a conversion error."""
    unusable = (Common.MessageHasNoRecipient, Common.MessageRecipientUnresolved)
    return Common.InvalidRecipients if exc.status in unusable else SyncStatus.ConversionError


def _send_draft(session: Session, user: User, folder: Folder, item: Item, outgoing, added: set[int], drafts) -> None:
    """Deliver the draft and move it to Sent Items.  The delete the move writes in Drafts is not
    the device's own: the device learns in the same response that the draft is gone."""
    from .mailbox import send_draft

    drafts.submit(session, user, outgoing)
    added.update(drafts.effects.touched)
    drafts.effects.touched.clear()
    sent = folder_by_type(session, user, FolderType.SentItems)
    send_draft(session, item, folder, sent, outgoing.sent_copy, drafts.now)
    added.add(sent.id)


def add_draft(session: Session, user: User, folder: Folder, cmd, own: set[int], added: set[int], drafts) -> ItemCommandResult:
    from easlab.eas.compose import ComposeError
    from easlab.eas.drafts import (
        Draft, DraftCommandResult, DraftError, build_draft, mime_draft, new_references, parse_change,
    )

    from .mailbox import store_draft

    send = _send_flag(cmd)
    try:
        change = parse_change(cmd.data)
        if change.delete:
            raise DraftError(6, "a new draft has no attachments to delete")
        if change.mime is not None:
            mime, bcc = mime_draft(change, sender=drafts.sender(user), now=drafts.now)
        else:
            draft = change.apply(Draft())
            draft.attachments = [new.attachment for new in change.add]
            mime, bcc = build_draft(draft, sender=drafts.sender(user), now=drafts.now), draft.bcc
        outgoing = drafts.outgoing(user, mime) if send else None
    except DraftError as exc:
        return ItemCommandResult("Add", None, exc.status, client_id=cmd.client_id)
    except ComposeError as exc:
        return ItemCommandResult("Add", None, _draft_status(exc), client_id=cmd.client_id)
    item = store_draft(session, folder, mime, bcc, drafts.now)
    own.add(folder.change_seq)
    added.add(folder.id)
    result = DraftCommandResult("Add", item.server_id, 1, client_id=cmd.client_id,
                                attachment_refs=new_references(mime, item.server_id, change.add),
                                conversation=(item.conversation_id, item.conversation_index))
    if outgoing is not None:
        _send_draft(session, user, folder, item, outgoing, added, drafts)
    return result


def change_draft(session: Session, user: User, folder: Folder, item: Item, cmd, own: set[int], added: set[int],
                  drafts) -> list[ItemCommandResult]:
    """Edit a draft (fields present replace, fields absent stay), add and delete its attachments,
    and send it when asked.  A draft that cannot be sent is left as it was (Status 183)."""
    from easlab.eas.compose import ComposeError
    from easlab.eas.drafts import (
        DraftCommandResult, DraftError, build_draft, has_draft_fields, mime_draft, new_references, parse_change,
        read_draft, remove_attachments,
    )

    from .mailbox import refresh_item

    send = _send_flag(cmd)
    shifted = False
    try:
        change = parse_change(cmd.data)
        draft = read_draft(item.mime)
        mime, bcc = item.mime, draft.bcc
        if change.mime is not None:
            # The client's message replaces the draft, attachments included; a Delete must
            # still name one of the draft's attachments.  The device learns the FileReferences
            # of the message's attachments from the draft sent back.
            remove_attachments(draft, item.server_id, change.delete)
            shifted = True
            mime, bcc = mime_draft(change, sender=drafts.sender(user), now=drafts.now)
        elif has_draft_fields(cmd.data):
            change.apply(draft)
            shifted = remove_attachments(draft, item.server_id, change.delete)
            draft.attachments += [new.attachment for new in change.add]
            mime, bcc = build_draft(draft, sender=drafts.sender(user), now=drafts.now), draft.bcc
        outgoing = drafts.outgoing(user, mime) if send else None
    except DraftError as exc:
        return [ItemCommandResult("Change", item.server_id, exc.status)]
    except ComposeError as exc:
        return [ItemCommandResult("Change", item.server_id, _draft_status(exc))]
    server_id = item.server_id
    refresh_item(session, item, mime, bcc=bcc, is_draft=True)
    change_item(session, folder, item)
    if not shifted:
        # Attachments after a deleted one moved up: the device gets the draft back as a Change
        # with the FileReferences as they are now.
        own.add(folder.change_seq)
    refs = new_references(mime, server_id, change.add)
    if outgoing is not None:
        _send_draft(session, user, folder, item, outgoing, added, drafts)
    if refs:
        # MS-ASCMD: a Change that added attachments is answered with their FileReferences.
        return [DraftCommandResult("Change", server_id, 1, attachment_refs=refs)]
    return []
