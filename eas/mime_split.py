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
from typing import cast
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

_BLANK_LINE = re.compile(rb"^\r?\n", re.M)
_LINE_END = re.compile(rb"(--)?[ \t]*(?:\r?\n|\Z)")
_LONE_CR = re.compile(rb"\r(?!\n)")
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_SLICE = 256 * 1024
_MAX_DEPTH = 16


def split(data: bytes) -> EmailMessage | None:
    """The message's parse tree as `BytesParser(policy=policy.default).parsebytes(data)` gives
    it (less preamble and epilogue), or None where only that parser can tell."""
    if _lone_cr(data):
        return None
    return _part(data, 0, len(data), (), 0)


def _lone_cr(data: bytes) -> bool:
    """Whether a CR stands without its LF, searched in slices the GIL can pass between (the
    count of CR against the count of CRLF was one 6 ms call over a 7 MB message)."""
    if b"\r" not in data:
        return False
    for at in range(0, len(data), _SLICE):
        end = at + _SLICE
        # One byte past the slice, so a CR at its end sees its LF; a match there is the next slice's.
        found = _LONE_CR.search(data, at, end + 1)
        if found is not None and found.start() < end:
            return True
        time.sleep(0)  # not a wait: a thread waiting for the GIL may take it here
    return False


def _part(data: bytes, start: int, end: int, outer: tuple[bytes, ...], depth: int) -> EmailMessage | None:
    """The part data[start:end], read where it lies: a 7 MB body cut out of its message (and its
    multipart's) was a fresh 7 MB block each time, its pages faulted in with the GIL held."""
    blank = _BLANK_LINE.search(data, start, end)  # (`start` follows a line end: ^ matches there)
    if blank is None or depth > _MAX_DEPTH:
        return None
    msg = BytesParser(policy=policy.default).parsebytes(data[start:blank.end()], headersonly=True)
    if not isinstance(msg, EmailMessage) or msg.defects or msg.get_payload() != "":
        return None
    msg.__class__ = _Part
    body = blank.end()
    maintype = msg.get_content_maintype()
    if maintype == "message" or msg.get_content_type() == "multipart/digest":
        return None
    if maintype != "multipart":
        msg.set_payload(str(memoryview(data)[body:end], "ascii", "surrogateescape"))
        cast(_Part, msg)._raw = (data, body, end)
        return msg
    boundary = msg.get_boundary()
    if not boundary:
        return None
    token = boundary.encode("ascii", "surrogateescape")
    if token in outer:
        return None
    bodies = _bodies(data, body, end, token)
    if not bodies:
        return None
    msg.set_payload([])  # the parser's multipart holds a list of parts, not the empty string
    for begin, stop in bodies:
        sub = _part(data, begin, stop, outer + (token,), depth + 1)
        if sub is None:
            return None
        msg.attach(sub)
    return msg


def _bodies(data: bytes, lo: int, hi: int, token: bytes) -> list[tuple[int, int]] | None:
    """Where the texts between the boundary lines of the multipart body data[lo:hi] lie, each
    less the line end before the next boundary (which belongs to it, RFC 2046 5.1.1); None
    without a close boundary."""
    marks: list[tuple[int, int]] = []  # (where a boundary line starts, where it ends)
    marker = b"--" + token
    first = data.startswith(marker, lo, hi)
    at = lo if first else data.find(b"\n" + marker, lo, hi)
    while at >= 0:
        start = at if at == lo and first else at + 1
        line = _LINE_END.match(data, start + len(marker), hi)
        if line is not None:
            marks.append((start, line.end()))
            if line.group(1):  # the close boundary: what follows is the epilogue
                break
        at = data.find(b"\n" + marker, start + 1, hi)
    else:
        return None
    if len(marks) < 2:
        return None
    parts = []
    for (_, begin), (end, _) in zip(marks, marks[1:]):
        end -= 2 if data.endswith(b"\r\n", begin, end) else 1 if data.endswith(b"\n", begin, end) else 0
        if end <= begin:
            return None
        parts.append((begin, end))
    return parts


class _Part(EmailMessage):
    """A part of the split tree: its decoded content is computed once (reading an attachment
    asks for it twice, its size and its bytes), and base64 in slices the GIL can pass between.
    Strict base64 is also kept without its line breaks (`base64`): where that is the canonical
    encoding of the content, an answer that carries base64 sends it as it is, and the content is
    never decoded (its size is known from the text's length)."""

    _decoded: bytes | None = None
    _strict: tuple[str, bool] | None | bool = False  # (text, canonical); False: not looked at yet
    _raw: tuple[bytes, int, int] | None = None  # where a leaf's body lies in the message's bytes

    def get_payload(self, i=None, decode=False):
        payload = self.__dict__.get("_payload")  # (the email package's attribute; typeshed leaves it out)
        if not decode and i is None and isinstance(payload, str) and payload.isascii():
            # What the email package returns after its surrogate check, which encodes the string
            # whole (7 MB for a large attachment, each time a walk over the parts asks).
            return payload
        if not decode or i is not None or self.is_multipart():
            return super().get_payload(i, decode)
        if self._decoded is None:
            strict = self._strict_base64()
            self._decoded = _decode(strict[0]) if strict is not None else None
            if self._decoded is None:
                self._decoded = super().get_payload(i, decode)
        return self._decoded

    def _strict_base64(self) -> tuple[str, bool] | None:
        if self._strict is False:
            self._strict = _strict_base64(self)
        return self._strict if isinstance(self._strict, tuple) else None

    def base64(self) -> str | None:
        """The content's base64 without line breaks, where b64encode of the decoded content
        gives exactly that text; None for any other part."""
        strict = self._strict_base64()
        return strict[0] if strict is not None and strict[1] else None

    def decoded_size(self) -> int:
        strict = self._strict_base64()
        if strict is None:
            return len(self.get_payload(decode=True))
        flat = strict[0]
        return len(flat) // 4 * 3 - (2 if flat.endswith("==") else 1 if flat.endswith("=") else 0)


def decoded_size(part: EmailMessage) -> int | None:
    """The length of a split part's decoded content, without decoding canonical base64; None for
    a part of the parser's own tree."""
    return part.decoded_size() if isinstance(part, _Part) else None


def base64_text(part: EmailMessage) -> str | None:
    """A split part's canonical base64 without line breaks (_Part.base64), else None."""
    return part.base64() if isinstance(part, _Part) else None


def _strict_base64(part: EmailMessage) -> tuple[str, bool] | None:
    """The part's base64 text less its line breaks, if get_payload(decode=True) reads it
    strictly (the alphabet, padding only at its end, whole quanta), and whether it is what
    b64encode writes of the result (no bits set past the data in a padded last quantum); built
    in slices.  None for any other part."""
    payload = part.get_payload()  # the string the parser would have set (surrogates: not ASCII)
    raw = part._raw if isinstance(part, _Part) else None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64" or not isinstance(payload, str) \
            or not payload.isascii() or raw is None or len(payload) != raw[2] - raw[1]:
        return None
    data, lo, hi = raw  # the same characters as bytes, read where they lie in the message
    pad = data.find(b"=", lo, hi)
    tail = b"" if pad < 0 else data[pad:hi].translate(None, b"\r\n")
    if tail not in (b"", b"=", b"=="):
        return None  # padding before the end, or too much of it: the email package decides
    stop = hi if pad < 0 else pad
    pieces: list[str] = []
    for at in range(lo, stop, _SLICE):
        piece = data[at:min(at + _SLICE, stop)].translate(None, b"\r\n")
        if piece.translate(None, _ALPHABET):
            return None
        pieces.append(piece.decode("ascii"))
        time.sleep(0)  # not a wait: a thread waiting for the GIL may take it here
    pieces.append(tail.decode("ascii"))
    flat = "".join(pieces)
    if len(flat) % 4:
        return None
    last = flat[-4:]
    # Bits past the data decode all the same, but encoding again would not give the text back.
    return flat, not tail or binascii.b2a_base64(binascii.a2b_base64(last), newline=False).decode("ascii") == last


def _decode(flat: str) -> bytes:
    """a2b_base64 of a strict text (whole quanta, padding only at its end), in slices the GIL can
    pass between."""
    step = _SLICE // 4 * 4
    out: list[bytes] = []
    for at in range(0, len(flat), step):
        out.append(binascii.a2b_base64(flat[at:at + step], strict_mode=True))
        time.sleep(0)  # not a wait: a thread waiting for the GIL may take it here
    return b"".join(out)
