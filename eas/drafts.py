"""Drafts over Sync (EAS 16.0+, MS-ASEMAIL 2.2.2 / MS-ASAIRS 2.2.2.2, 2.2.2.21): the Email fields
a client sends for a draft, and the draft's MIME.

A draft is stored like any message: as MIME (From the user, To, Cc, Bcc, Subject, Importance, the
body, the attachments) with the columns Sync serves parsed from it.  Editing a draft reads the
stored MIME back into fields and attachments, applies the client's change and writes new MIME, so
one builder makes every version.  Properties the client leaves out of a Change stay as they
were; an attachment it deletes goes, the ones it adds come last, and their FileReferences are
"<ServerId>:<index>" as for every attachment (eas.mime.parse_message's order).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, getaddresses

from .body import BODY_CHILDREN, SchemaError, check_children
from .compose import attachment_units, body_parts
from .mime import decoded_payload, parse_message, subparts
from .records import ItemCommandResult
from .status import SyncStatus
from .wbxml import E, Element

DRAFT_FIELDS = ("Email:To", "Email:Cc", "Email2:Bcc", "Email:Subject", "Email:ReplyTo", "Email:Importance",
                "AirSyncBase:Body", "AirSyncBase:Attachments")
IMPORTANCE = {0: "low", 1: "normal", 2: "high"}

# Sync item statuses (MS-ASCMD 2.2.3.177.17) and the 16.0 common status for drafts.


class DraftError(Exception):
    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass
class DraftCommandResult(ItemCommandResult):
    """A Sync Responses entry that also returns the FileReferences of attachments just added."""

    attachment_refs: list[tuple[str, str]] = field(default_factory=list)  # (ClientId, FileReference)


def attachment_refs_element(refs: list[tuple[str, str]], conversation: tuple[bytes, bytes] | None = None) -> Element:
    """Responses/Add|Change/ApplicationData with Attachments/Attachment{ClientId FileReference}, and
    for a new draft its email2:ConversationId and ConversationIndex (MS-ASEMAIL 2.2.2.21, 2.2.2.22)."""
    return E("AirSync:ApplicationData", E("AirSyncBase:Attachments", *[
        E("AirSyncBase:Attachment", E("AirSyncBase:ClientId", client_id), E("AirSyncBase:FileReference", ref))
        for client_id, ref in refs
    ]) if refs else None, *([E("Email2:ConversationId", conversation[0]), E("Email2:ConversationIndex", conversation[1])]
                            if conversation else []))


@dataclass
class DraftAttachment:
    name: str
    content_type: str
    data: bytes
    content_id: str = ""
    content_location: str = ""
    inline: bool = False
    method: int = 1  # 1 a file, 5 an attached message
    indexes: list[int] = field(default_factory=list)  # FileReference tails it holds in the stored MIME


@dataclass
class Draft:
    to: str = ""
    cc: str = ""
    bcc: str = ""
    reply_to: str = ""
    subject: str = ""
    importance: int = 1
    body: str = ""
    body_html: bool = False
    attachments: list[DraftAttachment] = field(default_factory=list)


@dataclass
class NewAttachment:
    client_id: str
    attachment: DraftAttachment


@dataclass
class DraftChange:
    """What a Sync Add/Change says about a draft; None: not mentioned, keep."""

    to: str | None = None
    cc: str | None = None
    bcc: str | None = None
    reply_to: str | None = None
    subject: str | None = None
    importance: int | None = None
    body: str | None = None
    body_html: bool | None = None
    mime: bytes | None = None  # the whole message, when the Body is Type 4 (MIME)
    add: list[NewAttachment] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)  # FileReferences

    def apply(self, draft: Draft) -> Draft:
        for name in ("to", "cc", "bcc", "reply_to", "subject", "importance", "body", "body_html"):
            value = getattr(self, name)
            if value is not None:
                setattr(draft, name, value)
        return draft


def has_draft_fields(data: Element | None) -> bool:
    return data is not None and any(data.has(tag) for tag in DRAFT_FIELDS)


def _addresses(value: str) -> str:
    """An address list as typed into a phone (commas or semicolons) as a header value."""
    if '"' not in value:
        value = value.replace(";", ",")
    pairs = [(n, a) for n, a in getaddresses([value]) if a]
    return ", ".join(formataddr((n, a), charset="utf-8") for n, a in pairs)


def _content(el: Element) -> bytes:
    value = el.value
    if isinstance(value, bytes):
        return value  # OPAQUE: the bytes themselves (MS-ASDTYPE 2.7.1 byte array)
    text = (value or "").strip()
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode("utf-8")


def _message_data(el: Element | None) -> bytes:
    """A Type 4 body's Data: the RFC 822 message as text (or opaque bytes), never base64."""
    value = el.value if el is not None else None
    raw = value if isinstance(value, bytes) else (value or "").encode("utf-8")
    if not raw.strip():
        raise DraftError(SyncStatus.ConversionError, "MIME draft body without a message")
    return raw


def parse_change(data: Element | None) -> DraftChange:
    """The draft fields of an ApplicationData element; raises DraftError(6) for what cannot be a
    draft (an RTF body, an empty MIME one, an attachment without content or name)."""
    change = DraftChange()
    if data is None:
        return change
    for tag, field_name in (("Email:To", "to"), ("Email:Cc", "cc"), ("Email2:Bcc", "bcc"), ("Email:ReplyTo", "reply_to")):
        if data.has(tag):
            setattr(change, field_name, _addresses(data.text(tag, "") or ""))
    if data.has("Email:Subject"):
        change.subject = (data.text("Email:Subject", "") or "").replace("\r", "").replace("\n", " ")
    if data.has("Email:Importance"):
        raw = data.text("Email:Importance", "1") or "1"
        if raw not in ("0", "1", "2"):
            raise DraftError(SyncStatus.ConversionError, f"Importance {raw!r}")
        change.importance = int(raw)
    body = data.find("AirSyncBase:Body")
    if body is not None:
        try:  # MS-ASAIRS 3.2.5.1: an element out of the schema is status 6 for a Sync command
            check_children(body, BODY_CHILDREN)
        except SchemaError as exc:
            raise DraftError(SyncStatus.ConversionError, str(exc)) from None
        btype = body.text("AirSyncBase:Type", "1") or "1"
        if btype == "4":
            change.mime = _message_data(body.find("AirSyncBase:Data"))
        elif btype not in ("1", "2"):
            raise DraftError(SyncStatus.ConversionError, f"draft body of Type {btype}")
        else:
            change.body = (body.text("AirSyncBase:Data", "") or "").replace("\r\n", "\n")
            change.body_html = btype == "2"
    attachments = data.find("AirSyncBase:Attachments")
    for op in attachments.children if attachments is not None else []:
        if op.tag == "AirSyncBase:Delete":
            ref = op.text("AirSyncBase:FileReference")
            if not ref:
                raise DraftError(SyncStatus.ConversionError, "attachment Delete without FileReference")
            change.delete.append(ref)
        elif op.tag == "AirSyncBase:Add":
            client_id = op.text("AirSyncBase:ClientId")
            content = op.find("AirSyncBase:Content")
            name = op.text("AirSyncBase:DisplayName")
            if not client_id or content is None or not name:
                raise DraftError(SyncStatus.ConversionError, "attachment Add needs ClientId, Content and DisplayName")
            method = op.text("AirSyncBase:Method", "1") or "1"
            if method not in ("1", "5"):
                raise DraftError(SyncStatus.ConversionError, f"attachment Method {method}")
            ctype = (op.text("AirSyncBase:ContentType") or "").strip().lower()
            if method == "5":
                ctype = "message/rfc822"
            elif "/" not in ctype:
                ctype = "application/octet-stream"
            change.add.append(NewAttachment(client_id, DraftAttachment(
                name=name, content_type=ctype, data=_content(content),
                content_id=(op.text("AirSyncBase:ContentId") or "").strip().strip("<>"),
                content_location=op.text("AirSyncBase:ContentLocation") or "",
                inline=(op.text("AirSyncBase:IsInline", "0") or "0") == "1",
                method=int(method),
            )))
        else:
            raise DraftError(SyncStatus.ConversionError, f"unknown attachment operation {op.tag}")
    return change


# -- MIME ---------------------------------------------------------------------------------------
def read_draft(mime: bytes) -> Draft:
    """A stored draft back as fields and attachments."""
    msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(mime)
    parsed = parse_message(mime)

    def header(name: str) -> str:
        try:
            values = msg.get_all(name) or []
        except (ValueError, IndexError, TypeError, AttributeError):
            return ""
        return ", ".join(str(v) for v in values)

    draft = Draft(to=_addresses(header("To")), cc=_addresses(header("Cc")), bcc=_addresses(header("Bcc")),
                  reply_to=_addresses(header("Reply-To")), subject=parsed.subject, importance=parsed.importance)
    plain, rich = body_parts(msg)
    if rich is not None:
        draft.body, draft.body_html = parsed.body_html, True
    elif plain is not None:
        draft.body = parsed.body_text
    for unit in attachment_units(msg):
        part = unit.part
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            inner = subparts(part)
            data = inner[0].as_bytes(policy=policy.SMTP) if inner else b""
            method = 5
        else:
            data = decoded_payload(part)
            method = 1
        cid = (part.get("Content-ID") or "").strip().strip("<>")
        draft.attachments.append(DraftAttachment(
            name=part.get_filename() or ("message.eml" if method == 5 else "attachment"), content_type=ctype, data=data,
            content_id=cid, content_location=str(part.get("Content-Location") or ""),
            inline=part.get_content_disposition() == "inline" and bool(cid), method=method, indexes=list(unit.indexes),
        ))
    return draft


def build_draft(draft: Draft, *, sender: str, now: datetime) -> bytes:
    """The draft as MIME: headers, one body part (plain or HTML, as the client wrote it), then the
    attachments in order."""
    msg = EmailMessage()
    msg["From"] = sender
    for name, value in (("To", draft.to), ("Cc", draft.cc), ("Bcc", draft.bcc), ("Reply-To", draft.reply_to)):
        if value:
            msg[name] = value
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    if draft.importance != 1:
        msg["Importance"] = IMPORTANCE[draft.importance]
    msg.set_content(draft.body, subtype="html" if draft.body_html else "plain", charset="utf-8")
    for att in draft.attachments:
        _attach(msg, att)
    return _as_bytes(msg)


def _attach(msg: EmailMessage, att: DraftAttachment) -> None:
    disposition = "inline" if att.inline else "attachment"
    if att.method == 5 or att.content_type == "message/rfc822":
        inner = BytesParser(policy=policy.default).parsebytes(att.data)
        msg.add_attachment(inner, disposition=disposition, filename=att.name)
    else:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           disposition=disposition, filename=att.name, cid=f"<{att.content_id}>" if att.content_id else None)
    if att.content_location:
        subparts(msg)[-1]["Content-Location"] = att.content_location


def _as_bytes(msg: EmailMessage) -> bytes:
    # Stored with the plain newlines a client's Body Data has; sending converts to CRLF.
    for pol in (policy.default, policy.default.clone(utf8=True)):
        try:
            return msg.as_bytes(policy=pol)
        except (UnicodeError, ValueError, LookupError):
            continue
    raise DraftError(SyncStatus.ConversionError, "the draft cannot be written as MIME")


def _set_header(msg: EmailMessage, name: str, value: str) -> None:
    del msg[name]
    if value:
        msg[name] = value


def mime_draft(change: DraftChange, *, sender: str, now: datetime) -> tuple[bytes, str]:
    """A draft the client wrote as a whole RFC 822 message (Body Type 4, as 16.1 clients do): kept
    as written, headers, alternatives and attachments, as Exchange keeps it.  From is the user's;
    the Email fields the ApplicationData names win over the message's own headers, and the
    attachments it adds come last.  Returns the MIME and the Bcc for the draft's Bcc column."""
    msg: EmailMessage = BytesParser(policy=policy.default).parsebytes(change.mime or b"")
    if not msg.keys():
        raise DraftError(SyncStatus.ConversionError, "MIME draft body without headers")
    _set_header(msg, "From", sender)
    if msg["Date"] is None:
        msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    for name, value in (("To", change.to), ("Cc", change.cc), ("Bcc", change.bcc), ("Reply-To", change.reply_to),
                        ("Subject", change.subject)):
        if value is not None:
            _set_header(msg, name, value)
    if change.importance is not None:
        _set_header(msg, "Importance", IMPORTANCE[change.importance] if change.importance != 1 else "")
    for new in change.add:
        _attach(msg, new.attachment)
    bcc = ", ".join(str(v) for v in msg.get_all("Bcc") or [])
    return _as_bytes(msg), _addresses(bcc)


def remove_attachments(draft: Draft, server_id: str, refs: list[str]) -> bool:
    """Drop the attachments the FileReferences name; raises DraftError(8) for one that is not
    this draft's.  Returns True when an attachment that stays moved to another index."""
    prefix = f"{server_id}:"
    doomed: set[int] = set()
    for ref in refs:
        tail = ref[len(prefix):] if ref.startswith(prefix) else ""
        if not (tail.isascii() and tail.isdigit()):
            raise DraftError(SyncStatus.ObjectNotFound, f"FileReference {ref!r} is not an attachment of {server_id}")
        hit = [n for n, att in enumerate(draft.attachments) if int(tail) in att.indexes]
        if not hit:
            raise DraftError(SyncStatus.ObjectNotFound, f"no attachment {ref!r}")
        doomed.update(hit)
    if not doomed:
        return False
    first = min(doomed)
    shifted = any(n > first and n not in doomed for n in range(len(draft.attachments)))
    draft.attachments = [att for n, att in enumerate(draft.attachments) if n not in doomed]
    return shifted


def new_references(mime: bytes, server_id: str, added: list[NewAttachment]) -> list[tuple[str, str]]:
    """(ClientId, FileReference) of the attachments just added: the last units of the new MIME."""
    msg = BytesParser(policy=policy.default).parsebytes(mime)
    units = attachment_units(msg)
    tail = units[len(units) - len(added):] if added else []
    out = []
    for new, unit in zip(added, tail):
        if unit.indexes:
            out.append((new.client_id, f"{server_id}:{unit.indexes[0]}"))
    return out
