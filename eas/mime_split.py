"""The parse tree policy.default's BytesParser builds, for the messages whose structure a few
bytes searches find: for ItemOperations and GetAttachment, which read one attachment out of a
stored message.

The email package's feed parser reads a message line by line in Python: a 5 MB attachment
(~90,000 base64 lines) took about half a second of CPU to parse, holding the GIL the whole time
every other user's request needed.  Here only the header blocks go through the parser; the
bodies are cut at their boundary lines by a regular expression (C speed) and set as the parts'
payloads, the strings the feed parser would have given them.  Anything whose reading could
differ is refused (None), and the caller parses the message in full as before: a lone CR (the
feed parser breaks lines at it too), a part without a blank line after its headers, a header
the parser found a defect in, a multipart without its boundary or close boundary, an empty
part, a boundary reused by a nested multipart, and message/* or multipart/digest content
(attached messages are serialised from their own parse).

The tree is for reading parts: it has no preamble or epilogue.  tests/eas/test_mime_split.py
holds it to the parser's tree.
"""
from __future__ import annotations

import binascii
import re
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

_BLANK_LINE = re.compile(rb"^\r?\n", re.M)
_LINE_END = re.compile(rb"(--)?[ \t]*(?:\r?\n|\Z)")
_SLICE = 256 * 1024
_MAX_DEPTH = 16


def split(data: bytes) -> EmailMessage | None:
    """The message's parse tree as `BytesParser(policy=policy.default).parsebytes(data)` gives
    it (less preamble and epilogue), or None where only that parser can tell."""
    if data.count(b"\r") != data.count(b"\r\n"):
        return None
    return _part(data, (), 0)


def _part(data: bytes, outer: tuple[bytes, ...], depth: int) -> EmailMessage | None:
    blank = _BLANK_LINE.search(data)
    if blank is None or depth > _MAX_DEPTH:
        return None
    msg = BytesParser(policy=policy.default).parsebytes(data[:blank.end()], headersonly=True)
    if not isinstance(msg, EmailMessage) or msg.defects or msg.get_payload() != "":
        return None
    msg.__class__ = _Part
    body = data[blank.end():]
    maintype = msg.get_content_maintype()
    if maintype == "message" or msg.get_content_type() == "multipart/digest":
        return None
    if maintype != "multipart":
        msg.set_payload(body.decode("ascii", "surrogateescape"))
        return msg
    boundary = msg.get_boundary()
    if not boundary:
        return None
    token = boundary.encode("ascii", "surrogateescape")
    if token in outer:
        return None
    bodies = _bodies(body, token)
    if not bodies:
        return None
    msg.set_payload([])  # the parser's multipart holds a list of parts, not the empty string
    for text in bodies:
        sub = _part(text, outer + (token,), depth + 1)
        if sub is None:
            return None
        msg.attach(sub)
    return msg


def _bodies(body: bytes, token: bytes) -> list[bytes] | None:
    """The texts between a multipart's boundary lines, each less the line end before the next
    boundary (which belongs to it, RFC 2046 5.1.1); None without a close boundary."""
    marks: list[tuple[int, int]] = []  # (where a boundary line starts, where it ends)
    marker = b"--" + token
    at = 0 if body.startswith(marker) else body.find(b"\n" + marker)
    while at >= 0:
        start = at if at == 0 and body.startswith(marker) else at + 1
        line = _LINE_END.match(body, start + len(marker))
        if line is not None:
            marks.append((start, line.end()))
            if line.group(1):  # the close boundary: what follows is the epilogue
                break
        at = body.find(b"\n" + marker, start + 1)
    else:
        return None
    if len(marks) < 2:
        return None
    parts = []
    for (_, begin), (end, _) in zip(marks, marks[1:]):
        text = body[begin:end]
        text = text[:-2] if text.endswith(b"\r\n") else text[:-1] if text.endswith(b"\n") else text
        if not text:
            return None
        parts.append(text)
    return parts


class _Part(EmailMessage):
    """A part of the split tree: its decoded content is computed once (reading an attachment
    asks for it twice, its size and its bytes), and base64 in slices the GIL can pass between."""

    _decoded: bytes | None = None

    def get_payload(self, i=None, decode=False):
        if not decode or i is not None or self.is_multipart():
            return super().get_payload(i, decode)
        if self._decoded is None:
            self._decoded = _base64(self)
            if self._decoded is None:
                self._decoded = super().get_payload(i, decode)
        return self._decoded


def _base64(part: EmailMessage) -> bytes | None:
    """What get_payload(decode=True) gives a base64 part whose content is strict base64 with
    padding only at its end, decoded in slices; None for any other part."""
    payload = part.get_payload()  # the string the parser would have set (surrogates: not ASCII)
    if str(part.get("content-transfer-encoding", "")).lower() != "base64" or not isinstance(payload, str) \
            or not payload.isascii():
        return None
    raw = payload.encode("ascii")
    out: list[bytes] = []
    carry = b""
    at = 0
    while at < len(raw):
        cut = raw.find(b"\n", at + _SLICE)
        end = len(raw) if cut < 0 else cut + 1
        text = carry + b"".join(raw[at:end].splitlines())
        usable = len(text) - len(text) % 4
        if end < len(raw) and b"=" in text:
            return None  # padding before the end: the email package's lenient reading decides
        try:
            out.append(binascii.a2b_base64(text[:usable], strict_mode=True))
        except binascii.Error:
            return None
        carry, at = text[usable:], end
        time.sleep(0)  # not a wait: a thread waiting for the GIL may take it between two slices
    return b"".join(out) if not carry else None
