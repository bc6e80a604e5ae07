"""Out of Office (MS-ASCMD Settings/Oof; Exchange's automatic replies) without I/O: the settings as
a value, when they are in force, who gets which message, which mail never gets a reply, and the
reply itself.

Exchange's rules as implemented here:
- OofState 1 (global) is in force until switched off; 2 (time-based) only between StartTime and
  EndTime; 0 never.
- The audience is internal for senders of the organisation's domain, external otherwise; known
  external senders are those in the user's contacts, and easlab has no contacts, so every external
  sender is unknown external.  An audience whose message is not enabled gets nothing.
- One reply per sender for as long as Out of Office stays set (the store remembers the senders).
- Never a reply to mail that is itself automatic (Auto-Submitted other than "no", Precedence bulk,
  junk or list, mailing-list headers, X-Auto-Response-Suppress OOF/All, delivery reports), to a
  null or system sender, or to the user's own mail.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import format_datetime, formataddr, getaddresses, make_msgid

from .mime import html_to_text, text_to_html

DISABLED, GLOBAL, TIME_BASED = 0, 1, 2
INTERNAL, EXTERNAL_KNOWN, EXTERNAL_UNKNOWN = "AppliesToInternal", "AppliesToExternalKnown", "AppliesToExternalUnknown"
AUDIENCES = (INTERNAL, EXTERNAL_KNOWN, EXTERNAL_UNKNOWN)
SYSTEM_LOCALPARTS = {"mailer-daemon", "postmaster", "microsoftexchange", "noreply", "no-reply", "donotreply"}


@dataclass
class OofMessage:
    enabled: bool = False
    message: str = ""
    html: bool = False  # the message as the client set it: HTML (True) or plain text

    def as_type(self, body_type: str) -> str:
        """The message in the BodyType a client asks for ("Text" or "HTML")."""
        if not self.message:
            return ""
        if body_type.upper() == "HTML":
            return self.message if self.html else text_to_html(self.message)
        return html_to_text(self.message) if self.html else self.message


@dataclass
class OofConfig:
    state: int = DISABLED
    start: datetime | None = None  # aware, as the store hands every moment over
    end: datetime | None = None
    messages: dict[str, OofMessage] = field(default_factory=lambda: {a: OofMessage() for a in AUDIENCES})

    def in_force(self, now: datetime) -> bool:
        if self.state == GLOBAL:
            return True
        if self.state == TIME_BASED and self.start is not None and self.end is not None:
            return self.start <= now < self.end
        return False


def parse_datetime(value: str | None) -> datetime | None:
    """MS-ASDTYPE dateTime: 2010-03-20T22:40:00.000Z (milliseconds and Z optional)."""
    if not value:
        return None
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?Z?", value.strip())
    if not match:
        raise ValueError(f"not a dateTime: {value!r}")
    y, mo, d, h, mi, s, ms = match.groups()
    return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), int((ms or "0").ljust(3, "0")) * 1000,
                    tzinfo=timezone.utc)


def audience(sender: str, domain: str) -> str:
    return INTERNAL if sender.rpartition("@")[2].lower() == domain.lower() else EXTERNAL_UNKNOWN


def _headers(mime: bytes):
    return BytesHeaderParser(policy=policy.compat32).parsebytes(mime)


def reply_address(mime: bytes) -> str | None:
    """Where an automatic reply goes: Return-Path when the message carries one (RFC 3834 4.1),
    else From.  None for the null sender."""
    headers = _headers(mime)
    return_path = headers.get("Return-Path")
    if return_path is not None:
        addr = str(return_path).strip().strip("<>").strip()
        return addr or None
    pairs = [a for _, a in getaddresses([str(v) for v in headers.get_all("From") or []]) if a]
    return pairs[0] if pairs else None


def is_automatic(mime: bytes, message_class: str = "") -> bool:
    """Mail that must not get an automatic reply (RFC 3834 2, Exchange's suppression headers)."""
    if message_class.upper().startswith("REPORT."):
        return True
    h = _headers(mime)
    auto = str(h.get("Auto-Submitted") or "").strip().lower()
    if auto and not auto.startswith("no"):
        return True
    if str(h.get("Precedence") or "").strip().lower() in ("bulk", "junk", "list"):
        return True
    if any(h.get(name) is not None for name in ("List-Id", "List-Unsubscribe", "List-Post", "X-Autoreply", "X-Autorespond")):
        return True
    suppress = {s.strip().lower() for s in str(h.get("X-Auto-Response-Suppress") or "").split(",")}
    if suppress & {"oof", "all", "autoreply"}:
        return True
    if (h.get_content_type() or "").lower() == "multipart/report":
        return True
    return False


def is_system_sender(address: str, domain: str) -> bool:
    local, _, dom = address.lower().rpartition("@")
    return local in SYSTEM_LOCALPARTS or (local == "microsoftexchange" and dom == domain.lower())


def reply_mime(*, domain: str, user_address: str, display_name: str, to: str, original: bytes, subject: str,
               message: OofMessage, now: datetime) -> bytes:
    """The automatic reply: "Automatic reply: <subject>", marked auto-replied so no other
    responder answers it, threaded to the original."""
    h = _headers(original)
    msg = EmailMessage()
    msg["From"] = formataddr((display_name or "", user_address), charset="utf-8")
    msg["To"] = to
    msg["Subject"] = f"Automatic reply: {subject}" if subject else "Automatic reply"
    msg["Date"] = format_datetime(now.astimezone(timezone.utc))
    msg["Message-ID"] = make_msgid(domain=domain)
    original_id = str(h.get("Message-ID") or "").strip()
    if original_id:
        msg["In-Reply-To"] = original_id
        msg["References"] = original_id
    msg["Auto-Submitted"] = "auto-replied"
    msg["X-Auto-Response-Suppress"] = "All"
    if message.html:
        msg.set_content(html_to_text(message.message) + "\n", charset="utf-8")
        msg.add_alternative(message.message, subtype="html", charset="utf-8")
    else:
        msg.set_content(message.message, charset="utf-8")
    return msg.as_bytes(policy=policy.SMTP)
