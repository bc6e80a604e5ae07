"""Mail a device sends (MS-ASCMD SendMail, SmartReply, SmartForward; drafts sent through Sync):
the client's MIME checked and made fit to leave, and the original folded in when the client asks
the server to do it.  Pure functions over bytes; the store delivers.

What leaves is the client's message with its own headers, except that
- From is the authenticated user (address and display name): a device cannot send as someone
  else; a Sender header it set goes too;
- Date, Message-ID and MIME-Version are added when missing;
- the copy recipients get has no Bcc header; the sender's copy (Sent Items) keeps it.
The envelope recipients are every address of To, Cc and Bcc, each once.

SmartReply and SmartForward without ReplaceMime get the original below the client's text, after
an "Original Message" block as Exchange writes it (plain text and HTML parts each get theirs), and
a forward carries the original's attachments.  A reply gets In-Reply-To and References, a forward
References, unless the client set them.
"""
from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email import errors as email_errors
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, getaddresses, make_msgid

from .conversations import is_stored_index, reply_index
from .mime import decoded_payload, html_to_text, parse_message, subparts, text_to_html
from .status import Common

_FIELD_NAME = re.compile(rb"^[!-9;-~]+$")  # RFC 5322 ftext: printable ASCII but ':'
# Defects that mean the MIME structure cannot be trusted (a multipart without its boundaries).
_FATAL_DEFECTS = (
    email_errors.NoBoundaryInMultipartDefect,
    email_errors.StartBoundaryNotFoundDefect,
    email_errors.MultipartInvariantViolationDefect,
)


class ComposeError(Exception):
    """The request cannot be sent; `status` is the common status code for it."""

    def __init__(self, status: int, reason: str):
        self.status = status
        self.reason = reason
        super().__init__(f"{status}: {reason}")


@dataclass
class Outgoing:
    recipients: list[str]  # envelope recipients: To, Cc and Bcc, each address once, in order
    delivered: bytes  # what the recipients get (no Bcc header)
    sent_copy: bytes  # the sender's copy, for Sent Items (Bcc kept)
    subject: str
    message_id: str


# -- header fields on bytes ----------------------------------------------------------------------
@dataclass
class _Split:
    fields: list[list[bytes]]  # each field: its physical lines, without line ends
    newline: bytes
    body: bytes  # everything after the empty line, untouched

    def names(self) -> list[str]:
        return [f[0].split(b":", 1)[0].decode("ascii").lower() for f in self.fields]

    def values(self, name: str) -> list[str]:
        """The unfolded values of every field `name` (case-insensitive)."""
        out = []
        for f in self.fields:
            head, _, rest = f[0].partition(b":")
            if head.decode("ascii").lower() == name.lower():
                raw = b" ".join([rest.strip()] + [line.strip() for line in f[1:]])
                out.append(raw.decode("utf-8", "replace"))
        return out

    def remove(self, *names: str) -> None:
        drop = {n.lower() for n in names}
        self.fields = [f for f, n in zip(self.fields, self.names()) if n not in drop]

    def add(self, name: str, value: str, front: bool = False) -> None:
        line = f"{name}: {value}".encode("utf-8")
        if front:
            self.fields.insert(0, [line])
        else:
            self.fields.append([line])

    def has(self, name: str) -> bool:
        return name.lower() in self.names()

    def join(self) -> bytes:
        nl = self.newline
        head = nl.join(nl.join(f) for f in self.fields)
        return head + nl + nl + self.body


def split_message(raw: bytes) -> _Split:
    """The header block of an RFC 5322 message as fields, the body as bytes; raises
    ComposeError(107) when there is no header block."""
    end = raw.find(b"\n")
    newline = b"\r\n" if end > 0 and raw[end - 1:end] == b"\r" else b"\n"
    fields: list[list[bytes]] = []
    pos = 0
    body = b""
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        nxt = len(raw) if end < 0 else end + 1
        line = raw[pos:nxt].rstrip(b"\n")
        line = line[:-1] if line.endswith(b"\r") else line
        if line == b"":
            body = raw[nxt:]
            break
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise ComposeError(Common.InvalidMIME, "the message starts with a continuation line")
            fields[-1].append(line)
        else:
            name, colon, _ = line.partition(b":")
            if not colon or not _FIELD_NAME.match(name):
                raise ComposeError(Common.InvalidMIME, "a header line without a field name before the empty line")
            fields.append([line])
        pos = nxt
    if not fields:
        raise ComposeError(Common.InvalidMIME, "no header fields")
    return _Split(fields, newline, body)


def _check_structure(raw: bytes) -> None:
    msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    for part in msg.walk():
        for defect in part.defects:
            if isinstance(defect, _FATAL_DEFECTS):
                raise ComposeError(Common.InvalidMIME, f"MIME structure: {type(defect).__name__}")


# -- addresses ------------------------------------------------------------------------------------
def address_list(values: list[str], domain: str) -> list[str]:
    """Addresses of header values, once each (case-insensitive), in order.  A bare name is a
    local alias (Exchange resolves it against the directory): name@domain."""
    seen: set[str] = set()
    out = []
    for _, addr in getaddresses(values):
        addr = addr.strip().strip("<>").strip()
        if not addr:
            continue
        if "@" not in addr:
            if not re.fullmatch(r"[A-Za-z0-9._-]+", addr):
                raise ComposeError(Common.MessageRecipientUnresolved, f"recipient {addr!r} is not an address")
            addr = f"{addr}@{domain}"
        key = addr.lower()
        if key not in seen:
            seen.add(key)
            out.append(addr)
    return out


def sender_header(address: str, display_name: str) -> str:
    return formataddr((display_name or "", address), charset="utf-8")


# -- outgoing ------------------------------------------------------------------------------------
def prepare_outgoing(raw: bytes, *, address: str, display_name: str, domain: str, now: datetime) -> Outgoing:
    """Check the client's message and make the two copies that leave the server."""
    if not raw or not raw.strip():
        raise ComposeError(Common.InvalidMIME, "empty message")
    split = split_message(raw)
    _check_structure(raw)
    recipients = address_list(split.values("To") + split.values("Cc") + split.values("Bcc"), domain)
    if not recipients:
        raise ComposeError(Common.MessageHasNoRecipient, "no recipient in To, Cc or Bcc")
    split.remove("From", "Sender", "Return-Path")
    split.add("From", sender_header(address, display_name), front=True)
    if not split.has("Date"):
        split.add("Date", format_datetime(now.astimezone(timezone.utc)))
    if not split.has("Message-ID"):
        split.add("Message-ID", make_msgid(domain=domain))
    if not split.has("MIME-Version"):
        split.add("MIME-Version", "1.0")
    message_id = (split.values("Message-ID") or [""])[0].strip()
    # The wire form: CRLF everywhere (smtplib sends bytes as they are, and bare LF is refused by
    # strict receivers).
    split.newline = b"\r\n"
    split.body = re.sub(rb"\r?\n", b"\r\n", split.body)
    sent_copy = split.join()
    split.remove("Bcc")
    delivered = split.join()
    subject = parse_message(delivered).subject
    return Outgoing(recipients, delivered, sent_copy, subject, message_id)


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def _serialise(msg: EmailMessage) -> bytes:
    for pol in (policy.SMTP, policy.SMTPUTF8):
        try:
            return msg.as_bytes(policy=pol)
        except (UnicodeError, ValueError, LookupError):
            continue
    raise ComposeError(Common.MessageReplyFailed, "the combined message cannot be written")


def _is_attachment(part: EmailMessage) -> bool:
    return part.get_content_disposition() == "attachment" or bool(part.get_filename())


def _own_parts(msg: EmailMessage):
    """The leaf parts of `msg`, depth first, not descending into attached messages."""
    if msg.is_multipart():
        if msg.get_content_type() == "message/rfc822":
            return
        for sub in subparts(msg):
            if sub.get_content_type() != "message/rfc822":
                yield from _own_parts(sub)
        return
    yield msg


def body_parts(msg: EmailMessage) -> tuple[EmailMessage | None, EmailMessage | None]:
    """The first plain-text and the first HTML body part (not attachments, not inside an attached
    message)."""
    plain = rich = None
    for part in _own_parts(msg):
        if _is_attachment(part):
            continue
        ctype = part.get_content_type()
        if ctype == "text/plain" and plain is None:
            plain = part
        elif ctype == "text/html" and rich is None:
            rich = part
    return plain, rich


@dataclass
class AttachmentUnit:
    """One attachment as a whole (an attached message counts once) and the indexes
    eas.mime.parse_message gives the attachment parts inside it (its FileReference tails)."""

    part: EmailMessage
    indexes: list[int]


def attachment_units(msg: EmailMessage) -> list[AttachmentUnit]:
    """The attachments of `msg` in parse_message's order.  parse_message walks into an attached
    message and counts the attachment parts inside it; here such a message is one unit holding
    those indexes, so it can be copied or removed whole."""
    units: list[AttachmentUnit] = []
    state = {"plain": False, "html": False, "n": 0}

    def visit(part: EmailMessage, unit: AttachmentUnit | None) -> None:
        if part.is_multipart():
            if part.get_content_type() == "message/rfc822" and unit is None:
                unit = AttachmentUnit(part, [])
                units.append(unit)
            for sub in subparts(part):
                visit(sub, unit)
            return
        ctype = part.get_content_type()
        is_body = part.get_content_disposition() != "attachment" and not part.get_filename() and ctype in ("text/plain", "text/html")
        key = "plain" if ctype == "text/plain" else "html"
        if is_body and not state[key]:
            state[key] = True
            return
        if is_body:
            return
        if unit is None:
            units.append(AttachmentUnit(part, [state["n"]]))
        else:
            unit.indexes.append(state["n"])
        state["n"] += 1

    visit(msg, None)
    return units


def attachment_parts(msg: EmailMessage) -> list[EmailMessage]:
    return [u.part for u in attachment_units(msg)]


def _text_of(part: EmailMessage) -> str:
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError):
        return decoded_payload(part).decode("utf-8", "replace")


def _original_block(original: bytes) -> tuple[str, str]:
    """The original as Exchange quotes it: a header block then the body, as text and as HTML."""
    p = parse_message(original)
    sent = format_datetime(p.date) if p.date else ""
    rows = [("From", p.sender), ("Sent", sent), ("To", p.to), ("Cc", p.cc), ("Subject", p.subject)]
    rows = [(k, v) for k, v in rows if v]
    text = "\n\n-----Original Message-----\n" + "".join(f"{k}: {v}\n" for k, v in rows) + "\n"
    text += p.body_text or html_to_text(p.body_html)
    body_html = p.body_html or text_to_html(p.body_text)
    inner = re.search(r"(?is)<body[^>]*>(.*)</body>", body_html)
    body_html = inner.group(1) if inner else body_html
    head = "".join(f"<b>{html.escape(k)}:</b> {html.escape(v)}<br>\n" for k, v in rows)
    rich = ('<hr style="display:inline-block;width:98%" tabindex="-1">\n'
            f'<div id="divRplyFwdMsg" dir="ltr">{head}</div>\n<div>{body_html}</div>\n')
    return text, rich


def _append_html(markup: str, addition: str) -> str:
    match = re.search(r"(?i)</body\s*>", markup)
    if match:
        return markup[:match.start()] + addition + markup[match.start():]
    return markup + addition


def include_original(new: bytes, original: bytes, *, forward: bool) -> bytes:
    """The client's message with the original below its text (and, forwarding, the original's
    attachments appended)."""
    msg = _parse(new)
    orig = _parse(original)
    text_block, html_block = _original_block(original)
    plain, rich = body_parts(msg)
    if plain is None and rich is None:
        if msg.is_multipart():
            msg.make_mixed()
            part = EmailMessage()
            part.set_content(text_block.lstrip("\n"), charset="utf-8")
            payload = msg.get_payload()
            assert isinstance(payload, list)  # make_mixed() left a multipart
            payload.insert(0, part)
        else:
            msg.set_content(text_block.lstrip("\n"), charset="utf-8")
    if plain is not None:
        plain.set_content(_text_of(plain) + text_block, subtype="plain", charset="utf-8")
    if rich is not None:
        rich.set_content(_append_html(_text_of(rich), html_block), subtype="html", charset="utf-8")
    if forward:
        extra = attachment_parts(orig)
        if extra:
            if msg.get_content_type() != "multipart/mixed":
                msg.make_mixed()
            for part in extra:
                msg.attach(part)
    return _serialise(msg)


def thread_headers(new: bytes, original: bytes, *, forward: bool, index: bytes = b"") -> bytes:
    """In-Reply-To (replies) and References from the original, and Thread-Index (`index`: the
    reply's place in the conversation), where the client set none."""
    split = split_message(new)
    if index and not split.has("Thread-Index"):
        split.add("Thread-Index", base64.b64encode(index).decode("ascii"))
        new = split.join()
    try:
        osplit = split_message(original)
    except ComposeError:
        return new  # an original without headers: nothing to thread to
    msgid = (osplit.values("Message-ID") or [""])[0].strip()
    if not msgid:
        return new
    refs = " ".join(v.strip() for v in osplit.values("References") if v.strip())
    if not forward and not split.has("In-Reply-To"):
        split.add("In-Reply-To", msgid)
    if not split.has("References"):
        split.add("References", f"{refs} {msgid}".strip())
    return split.join()


def smart_message(new: bytes, original: bytes, *, forward: bool, replace_mime: bool, original_index: bytes = b"",
                  now: datetime | None = None) -> bytes:
    """SmartReply/SmartForward: the message to send, before `prepare_outgoing`.  Given the
    original's stored ConversationIndex, the message gets it with one Response Level more
    (MS-ASCON 2.2.2.4), so every recipient's copy sits below the original in the thread."""
    if not new or not new.strip():
        raise ComposeError(Common.InvalidMIME, "empty message")
    split_message(new)  # a header block, or 107
    _check_structure(new)
    combined = new if replace_mime else include_original(new, original, forward=forward)
    index = reply_index(original_index, now) if original_index and now is not None and is_stored_index(original_index) else b""
    return thread_headers(combined, original, forward=forward, index=index)


# -- server-written mail ---------------------------------------------------------------------------
def non_delivery_report(domain: str, sender: str, original: Outgoing, unknown: list[str], now: datetime) -> bytes:
    """Exchange's NDR for recipients this server does not know (5.1.1)."""
    msg = EmailMessage()
    msg["From"] = formataddr(("Microsoft Outlook", f"MicrosoftExchange@{domain}"))
    msg["To"] = sender
    msg["Subject"] = f"Undeliverable: {original.subject}"
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-MS-Exchange-Message-Is-Ndr"] = ""
    if original.message_id:
        msg["In-Reply-To"] = original.message_id
    lines = [
        "Your message to these recipients couldn't be delivered:", "",
        *[f"  {a}" for a in unknown], "",
        "The email address wasn't found at the destination domain (550 5.1.1 RESOLVER.ADR.RecipNotFound).",
    ]
    msg.set_content("\n".join(lines) + "\n", charset="utf-8")
    return _serialise(msg)
