"""The protected message on the wire (MS-ASRM emulation, eas/rights.py): Exchange's outer
message for readers without IRM, Content-Class rpmsg.message, and its message.rpmsg attachment,
which holds the publishing license and the message.  Real RMS encrypts that attachment; here it is
a JSON license line, a blank line, then the original MIME.  Apart from eas/rights.py because the
email parser it needs is not for the store's light paths (the CLI's `user list`)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from .rights import CONTENT_CLASS, NOTICE, RPMSG_NAME, RPMSG_TYPE, Protection, Template, expiry_text

_MAGIC = b"easlab-rpmsg/1"


_OUTER = ("From", "Sender", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
          "Reply-To", "Importance")


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=policy.default).parsebytes(raw)


def protect(raw: bytes, template: Template, owner: str, now: datetime) -> bytes:
    """`raw` protected with `template` by `owner`: the notice, with the message in message.rpmsg."""
    inner = _parse(raw)
    expires = now + timedelta(days=template.expiry_days) if template.expiry_days else None
    head = {"template": template.to_dict(), "owner": owner, "expires": expiry_text(expires) if expires else None}
    payload = _MAGIC + b"\r\n" + json.dumps(head, sort_keys=True).encode() + b"\r\n\r\n" + raw
    msg = EmailMessage()
    for name in _OUTER:
        for value in inner.get_all(name, []):
            msg[name] = value
    msg.set_content(NOTICE)
    msg.add_attachment(payload, maintype="application", subtype="x-microsoft-rpmsg-message", filename=RPMSG_NAME)
    msg["Content-Class"] = CONTENT_CLASS  # after the content: setting it clears every Content-* field
    return msg.as_bytes(policy=policy.SMTP)


def _payload(msg: EmailMessage) -> bytes | None:
    for part in msg.walk():
        if part.get_content_type() == RPMSG_TYPE:
            data = part.get_payload(decode=True)
            return data if isinstance(data, bytes) else None
    return None


def rpmsg_part(raw: bytes) -> EmailMessage | None:
    """The message.rpmsg attachment of a protected message (what SmartForward attaches)."""
    for part in _parse(raw).walk():
        if part.get_content_type() == RPMSG_TYPE:
            return part
    return None


def unprotect(raw: bytes) -> Protection | None:
    """The protection of a message, None when it has none (or is not the emulation's)."""
    if not raw or CONTENT_CLASS.encode() not in raw[:8192].lower():
        return None
    msg = _parse(raw)
    if str(msg.get("Content-Class", "")).strip().lower() != CONTENT_CLASS:
        return None
    data = _payload(msg)
    if data is None or not data.startswith(_MAGIC + b"\r\n"):
        return None
    head_line, _, inner = data[len(_MAGIC) + 2:].partition(b"\r\n\r\n")
    try:
        head = json.loads(head_line)
        template = Template.from_dict(head["template"])
        expires = datetime.strptime(head["expires"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc) if head.get("expires") else None
        return Protection(template, head["owner"], expires, inner)
    except (ValueError, KeyError, TypeError):
        return None


def attach_original(raw: bytes, protected: bytes) -> bytes:
    """`raw` with the original rights-managed message attached as its message.rpmsg."""
    part = rpmsg_part(protected)
    msg = _parse(raw)
    if part is None:
        return raw
    if msg.get_content_type() != "multipart/mixed":
        msg.make_mixed()
    msg.attach(part)
    return msg.as_bytes(policy=policy.SMTP)


def header_addresses(raw: bytes, *names: str) -> dict[str, list[str]]:
    """The raw values of address headers, by name."""
    msg = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
    return {name: [str(v) for v in msg.get_all(name, [])] for name in names}
