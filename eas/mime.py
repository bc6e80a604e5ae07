"""From an RFC 5322 message to the properties the Email class serves (MS-ASEMAIL 2.2.2).

Parsing happens once, when a message is stored; Sync then reads columns, not MIME.
"""
from __future__ import annotations

import hashlib
import html
import re
import struct
from collections.abc import Callable, Iterable
from typing import Any
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from operator import attrgetter
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parsedate_to_datetime

from . import mime_scan, mime_split
from .conversations import thread_index

# Windows code page ids for the charsets mail actually uses (email:InternetCPID).
_CPID = {
    "utf-8": 65001, "us-ascii": 20127, "iso-8859-1": 28591, "iso-8859-2": 28592, "iso-8859-15": 28605,
    "windows-1250": 1250, "windows-1251": 1251, "windows-1252": 1252, "koi8-r": 20866,
    "iso-2022-jp": 50220, "shift_jis": 932, "euc-jp": 51932, "gb2312": 936, "big5": 950,
    "euc-kr": 51949, "utf-16": 1200,
}
_PREFIX = re.compile(r"^\s*((re|fw|fwd|aw|wg|sv|antw)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass
class Attachment:
    index: int  # position among the message's attachment parts, the FileReference's tail
    name: str
    content_type: str
    size: int
    content_id: str = ""
    inline: bool = False
    method: int = 1  # 1 normal, 5 embedded message (MS-ASAIRS 2.2.2.31)


@dataclass(kw_only=True)
class MailFields:
    """What a message's MIME says that EAS serves for a mail item: parsed once (ParsedMessage),
    stored as the item's columns and handed back to the commands (eas.records.EmailItem).  The one
    list of them; a store copies them by name (MAIL_FIELDS, mail_fields)."""

    subject: str = ""
    sender: str = ""
    to: str = ""
    cc: str = ""
    reply_to: str = ""
    display_to: str = ""
    thread_topic: str = ""
    importance: int = 1
    message_class: str = "IPM.Note"
    internet_cpid: int = 65001
    conversation_id: bytes = b""
    conversation_index: bytes = b""  # empty while parsed from a message without a Date (stored_index)
    body_text: str = ""
    body_html: str = ""


MAIL_FIELDS = tuple(f.name for f in fields(MailFields))


def mail_fields(source: Any) -> dict[str, Any]:
    """The MailFields values of `source`: a ParsedMessage, an EmailItem, or a stored row with those
    columns."""
    return dict(zip(MAIL_FIELDS, _MAIL_FIELD_VALUES(source)))


# One C-level call for all the fields: Sync renders every item through mail_fields, and a Python
# getattr loop over 16 names was a visible share of rendering a page of mail.
_MAIL_FIELD_VALUES = attrgetter(*MAIL_FIELDS)


@dataclass
class ParsedMessage(MailFields):
    date: datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    message_id: str = ""


def format_addresses(value: str | None, separator: str = ", ") -> str:
    """An address list as Exchange writes it: `"Name" <a@b>, c@d`."""
    if not value:
        return ""
    out = []
    for name, addr in mime_scan.address_pairs(value):
        if not addr:
            continue
        out.append(f'"{name}" <{addr}>' if name else addr)
    return separator.join(out)


def _display_names(value: str | None) -> str:
    return ";".join(name or addr for name, addr in mime_scan.address_pairs(value or "") if addr)


def _importance(importance: str, priority: str) -> int:
    """Importance from the Importance header, else X-Priority's first digit."""
    value = importance.strip().lower()
    if value in ("high", "urgent"):
        return 2
    if value == "low":
        return 0
    priority = priority.strip()[:1]
    if priority in ("1", "2"):
        return 2
    if priority in ("4", "5"):
        return 0
    return 1


def _message_class(msg: Message) -> str:
    ctype = msg.get_content_type()
    if ctype == "multipart/signed" and "pkcs7-signature" in (msg.get_param("protocol") or ""):
        return "IPM.Note.SMIME.MultipartSigned"
    if ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        return "IPM.Note.SMIME"
    return "IPM.Note"


def decoded_payload(part: Message) -> bytes:
    """A leaf part's body with its Content-Transfer-Encoding undone; b"" for a multipart."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def subparts(part: EmailMessage) -> list[EmailMessage]:
    """The parts a multipart or message/rfc822 part holds (policy.default parses each as an
    EmailMessage); [] for a leaf."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [sub for sub in payload if isinstance(sub, EmailMessage)]


def _no_nul(text: str) -> str:
    """A mail's text without NUL: an SMTP sender can put one in a header or a body, no WBXML
    string can carry it (MS-ASWBXML: STR_I ends at NUL), and stored it would fail every Sync of
    the folder."""
    return text.replace("\x00", "")


def _text(part: EmailMessage) -> str:
    try:
        return _no_nul(part.get_content())
    except (LookupError, ValueError, AssertionError):
        return _no_nul(decoded_payload(part).decode("utf-8", "replace"))


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style).*?</\1>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</h\d>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]+>", "", markup)).strip()


def text_to_html(text: str) -> str:
    return "<html><body><pre>" + html.escape(text) + "</pre></body></html>"


def conversation_id(topic: str) -> bytes:
    """Exchange derives ConversationId from the thread topic; 16 bytes, stable across replies."""
    return hashlib.md5(topic.strip().lower().encode("utf-8")).digest()


def conversation_index(cid: bytes, when: datetime) -> bytes:
    """A 22-byte header block as in Thread-Index: reserved byte, FILETIME's high 5 bytes, GUID."""
    filetime = int((when - datetime(1601, 1, 1, tzinfo=timezone.utc)).total_seconds() * 10_000_000)
    return b"\x01" + struct.pack(">Q", filetime)[:5] + cid


def stored_index(parsed: ParsedMessage, received: datetime) -> bytes:
    """Email2:ConversationIndex as stored: dated by the Date header, or by the message's arrival
    when it has none."""
    return parsed.conversation_index or conversation_index(parsed.conversation_id, received)


def _leaf_parts(msg: EmailMessage):
    """The message's leaf parts in order, not descending into attached messages: an attached
    message/rfc822 is one attachment (Method 5), not a source of further attachments."""
    stack = [msg]
    while stack:
        part = stack.pop()
        if part.get_content_type() == "message/rfc822" and part is not msg:
            yield part
        elif part.is_multipart():
            stack.extend(reversed(subparts(part)))
        else:
            yield part


@dataclass
class _Reader:
    """How parse_message reads one parse tree: header text as policy.default gives it, the
    address lists, the Date, the leaf parts and a text part's content."""

    header: Callable[[Message, str], str]
    addresses: Callable[[Message, str], str]
    date: Callable[[Message], datetime | None]
    leaves: Callable[[Any], Iterable[Any]]  # EmailMessage parts for the full parse, Message for the quick
    text: Callable[[Any], str]


def _default_header(msg: Message, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, IndexError, TypeError, AttributeError):  # a header email cannot model
        return ""
    return _no_nul(str(value)) if value is not None else ""


def _default_date(msg: Message) -> datetime | None:
    text = _default_header(msg, "Date")
    try:
        when = parsedate_to_datetime(text) if text else None
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=timezone.utc) if when is not None and when.tzinfo is None else when


_FULL = _Reader(_default_header, _default_header, _default_date, _leaf_parts, _text)
_QUICK = _Reader(mime_scan.header_text, mime_scan.addresses, mime_scan.date, mime_scan.leaf_parts,
                 mime_scan.text_content)


def parse_message(data: bytes) -> ParsedMessage:
    """The properties of an RFC 5322 message.  Most mail is read from a compat32 parse
    (eas.mime_scan, several times quicker); a message that reading could see differently is
    parsed with policy.default, as it always was (parse_message_full)."""
    try:
        msg = mime_scan.parse_compat(data)
    except mime_scan.NotPlain:
        return parse_message_full(data)
    return _read(msg, _QUICK)


def parse_message_full(data: bytes) -> ParsedMessage:
    return _read(BytesParser(policy=policy.default).parsebytes(data), _FULL)


def _read(msg: Message, reader: _Reader) -> ParsedMessage:
    out = ParsedMessage()
    out.subject = reader.header(msg, "Subject").replace("\r", "").replace("\n", " ")
    out.sender = format_addresses(reader.addresses(msg, "From"))
    to = reader.addresses(msg, "To")
    out.to = format_addresses(to)
    out.cc = format_addresses(reader.addresses(msg, "Cc"))
    out.reply_to = format_addresses(reader.addresses(msg, "Reply-To"), "; ")  # MS-ASEMAIL 2.2.2.66: semicolons
    out.display_to = _display_names(to)
    out.thread_topic = _PREFIX.sub("", out.subject)
    out.message_id = reader.header(msg, "Message-ID").strip()
    out.date = reader.date(msg)
    out.importance = _importance(reader.header(msg, "Importance"), reader.header(msg, "X-Priority"))
    out.message_class = _message_class(msg)
    charset = (msg.get_content_charset() or "").lower()
    for part in reader.leaves(msg):
        if part.get_content_maintype() == "text" and part.get_content_charset():
            charset = charset or (part.get_content_charset() or "").lower()
    out.internet_cpid = _CPID.get(charset or "utf-8", 65001)
    _read_parts(out, msg, reader)
    if not out.body_text and out.body_html:
        out.body_text = html_to_text(out.body_html)
    out.conversation_id = conversation_id(out.thread_topic)
    # A reply or forward carries its place in the thread (Outlook's and easlab's SmartReply's
    # Thread-Index); a first message is indexed by its Date, or by its arrival without one.
    out.conversation_index = thread_index(reader.header(msg, "Thread-Index"))
    if not out.conversation_index and out.date is not None:
        out.conversation_index = conversation_index(out.conversation_id, out.date)
    return out


def _read_parts(out: ParsedMessage, msg: Message, reader: _Reader) -> None:
    """The bodies (the first text/plain and text/html that are not attachments) and the
    attachments, in the leaf parts' order."""
    index = 0
    for part in reader.leaves(msg):
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        is_body = disposition != "attachment" and not filename and ctype in ("text/plain", "text/html")
        if is_body and ctype == "text/plain" and not out.body_text:
            out.body_text = reader.text(part)
            continue
        if is_body and ctype == "text/html" and not out.body_html:
            out.body_html = reader.text(part)
            continue
        if is_body:
            continue
        if ctype == "message/rfc822":
            size = len(part.as_bytes())
        else:  # canonical base64 of the split tree is not decoded for its size (eas/mime_split.py)
            known = mime_split.decoded_size(part)
            size = len(decoded_payload(part)) if known is None else known
        cid = reader.header(part, "Content-ID").strip().strip("<>")
        out.attachments.append(Attachment(
            index=index,
            name=_no_nul(filename or "") or ("message.eml" if ctype == "message/rfc822" else f"attachment-{index + 1}"),
            content_type=ctype,
            size=size,
            content_id=cid,
            inline=disposition == "inline" and bool(cid),
            method=5 if ctype == "message/rfc822" else 1,
        ))
        index += 1


def attachment_bytes(data: bytes, index: int) -> tuple[Attachment, bytes] | None:
    """The `index`-th attachment of a stored message, for ItemOperations/GetAttachment: its
    parse tree from eas.mime_split where that can read it (no line-by-line parse of a large
    attachment, which held the GIL every other request needed), the parser's otherwise."""
    found = attachment_part(data, index)
    if found is None:
        return None
    meta, part = found
    return meta, part_content(part)


def attachment_part(data: bytes, index: int) -> tuple[Attachment, EmailMessage] | None:
    """The `index`-th attachment of a stored message and its part, content not yet decoded
    (part_content decodes it; eas.mime_split.base64_text may carry it without decoding)."""
    msg = mime_split.split(data)
    if msg is None:
        msg = BytesParser(policy=policy.default).parsebytes(data)
        parsed = parse_message(data)
    else:
        parsed = _read(msg, _FULL)
    if not 0 <= index < len(parsed.attachments):
        return None
    n = 0
    for part in _leaf_parts(msg):
        ctype = part.get_content_type()
        if part.get_content_disposition() != "attachment" and not part.get_filename() and ctype in ("text/plain", "text/html"):
            continue
        if n == index:
            return parsed.attachments[index], part
        n += 1
    return None


def part_content(part: EmailMessage) -> bytes:
    """An attachment part's bytes: an attached message as its text, else the decoded content."""
    return part.as_bytes() if part.get_content_type() == "message/rfc822" else decoded_payload(part)
