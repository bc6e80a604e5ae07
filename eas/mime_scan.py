"""parse_message's quick path: the compat32 parse tree read the way policy.default would read it.

policy.default builds a header object through its header registry on every `msg.get` (a few
hundred microseconds each; a small message asked ~20 of them), which made parsing most of the
cost of storing mail.  Here the message is parsed once with compat32 (raw header strings) and
each header is turned into policy.default's text only where the two can differ: a header that
is printable ASCII without encoded words is its own text (an address list that simple is read
by getaddresses directly), anything else goes through policy.default's header factory for that
one header.  A message whose MIME structure holds anything the compat32 reading could see
differently (an attached message, an encoded or RFC 2231 parameter, a comment, non-ASCII in a
MIME header) is not scanned here: `scan` returns None and the caller parses it in full.

A message of one part (most mail) does not even go through compat32's feed parser: its header
lines are split here exactly as the feed parser splits them (`split_headers`, anything unusual
left to the feed parser) and the Message is built from them; simple address lists are read by a
regular expression that gives what getaddresses gives.  tests/eas/test_mime_quick.py holds each
shortcut to the stdlib's answer.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timezone
from email import policy
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

# Printable ASCII and tabs (the unfolded value), no encoded word: policy.default's text of such
# an unstructured header is the value itself.
_PLAIN = re.compile(r"[\x20-\x7e\t]*\Z")
# An address list policy.default renders back to the same (name, address) pairs: plain
# addresses, `Name <addr>` and `"Quoted, Name" <addr>`, comma separated.
_ADDR = r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+"
_MAILBOX = rf"""\s*(?:{_ADDR}|(?:[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~ \t-]*|"[^"\\]*")\s*<{_ADDR}>)\s*"""
_ADDRESS_LIST = re.compile(rf"(?:{_MAILBOX}(?:,{_MAILBOX})*)?\Z")
_MSG_ID = re.compile(rf"\s*<{_ADDR}>\s*\Z")
# A MIME header both policies split alike: type/subtype or a disposition token, then
# `name=value` parameters (tokens or quoted strings without escapes), no RFC 2231 `name*=`.
_TOKEN = r"[A-Za-z0-9!#$%&'+.^_`{|}~-]+"
_PARAM = rf"""\s*;\s*{_TOKEN}\s*=\s*(?:{_TOKEN}|"[^"\\\r\n]*")\s*"""
_MIME_VALUE = re.compile(rf"\s*{_TOKEN}(?:/{_TOKEN})?\s*(?:{_PARAM})*;?\s*\Z")
_MIME_HEADERS = ("content-type", "content-disposition", "content-transfer-encoding")
_ADDRESS_HEADERS = frozenset(("from", "to", "cc", "reply-to"))


class NotPlain(Exception):
    """The message needs the full parse."""


def unfold(value: str) -> str:
    """A raw header value as policy.default hands it to its header factory."""
    return value.replace("\r", "").replace("\n", "")


def is_plain(value: str) -> bool:
    return "=?" not in value and _PLAIN.match(value) is not None


def header_text(msg: Message, name: str) -> str:
    """What `str(msg.get(name))` is under policy.default, NULs removed; "" if absent or beyond
    what the header registry can model."""
    raw = _raw(msg, name)
    if raw is None:
        return ""
    value = unfold(raw)
    if is_plain(value) and _plain_kind(name.lower(), value):
        return value
    try:
        text = str(policy.default.header_factory(name, value))
    except (ValueError, IndexError, TypeError, AttributeError):
        return ""
    return text.replace("\x00", "")


# The headers policy.default parses into structured objects (its header factory's registry).
_REGISTRY: dict = getattr(policy.default.header_factory, "registry", {})


def _raw(msg: Message, name: str) -> str | None:
    """The first `name` header's value as parsed (compat32's `get` would wrap 8-bit text)."""
    first = msg.__dict__.get("_easlab_first")
    if first is None:  # one pass over the headers per message, not one per header asked
        first = {}
        for key, value in msg.raw_items():
            first.setdefault(key.lower(), value)
        msg.__dict__["_easlab_first"] = first
    return first.get(name.lower())


def _plain_kind(lower: str, value: str) -> bool:
    """Whether policy.default's text of this plain ASCII value is the value itself."""
    if lower in _ADDRESS_HEADERS:
        return False  # address lists: read by `addresses`, which keeps the raw text when simple
    if lower == "message-id":
        return _MSG_ID.match(value) is not None
    if lower == "date" or lower in _REGISTRY and lower != "subject":
        return False
    return True


# The address lists getaddresses reads back verbatim: dot-atom addresses, alone or in angle
# brackets after a phrase of atoms (joined by one space) or one quoted string without escapes.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PAIR = re.compile(rf"""[ \t]*(?:(?P<bare>{_LOCAL}@{_DOMAIN})|(?:"(?P<quoted>[^"\\\r\n]*)"|(?P<phrase>[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]+(?:[ \t]+[A-Za-z0-9!#$%&'*+/=?^_`{{|}}~.-]+)*)?)[ \t]*<(?P<angle>{_LOCAL}@{_DOMAIN})>)[ \t]*(?:,|\Z)""")
_BLANKS = re.compile(r"[ \t]+")


def address_pairs(value: str) -> list[tuple[str, str]]:
    """`email.utils.getaddresses([value])`: read by one regular expression when the list is that
    simple (getaddresses' parser was a third of parsing a small message), by getaddresses
    otherwise."""
    pairs: list[tuple[str, str]] = []
    pos, end = 0, len(value)
    while pos < end:
        match = _PAIR.match(value, pos)
        if match is None or match.end() == pos:
            return getaddresses([value])
        bare, quoted, phrase, angle = match.group("bare", "quoted", "phrase", "angle")
        if bare is not None:
            pairs.append(("", bare))
        else:
            pairs.append((quoted if quoted is not None else _BLANKS.sub(" ", phrase or ""), angle))
        pos = match.end()
        if pos == end and value.endswith(","):
            return getaddresses([value])  # a trailing comma: leave the empty entry to getaddresses
    return pairs


def addresses(msg: Message, name: str) -> str:
    """The address list `format_addresses` should read: the raw value when policy.default would
    render it to the same pairs, policy.default's text otherwise."""
    raw = _raw(msg, name)
    if raw is None:
        return ""
    value = unfold(raw)
    if is_plain(value) and _ADDRESS_LIST.match(value):
        return value
    try:
        return str(policy.default.header_factory(name, value)).replace("\x00", "")
    except (ValueError, IndexError, TypeError, AttributeError):
        return ""


def date(msg: Message) -> datetime | None:
    """The Date header as parse_message always read it: policy.default's DateHeader text (the
    date re-rendered when it parses), read again by parsedate_to_datetime.  For a plain value
    that is the value read once: re-rendered and read back, a parsed date is the same datetime."""
    raw = _raw(msg, "Date")
    if raw is None:
        return None
    value = unfold(raw)
    text = value if is_plain(value) else header_text(msg, "Date")
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when


# A header line as the feed parser takes it (its headerRE, less the empty name it calls a defect).
_HEADER_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+:")
_BLANK_LINE = re.compile(r"\n\r?\n")


def split_headers(text: str) -> tuple[list[tuple[str, str]], str] | None:
    """The header block's (name, raw value) pairs as compat32 parses them, and the text after the
    blank line; None for anything the feed parser could read otherwise (no blank line, a bare CR,
    a line that is no header, an envelope "From " line): the caller parses those."""
    if text.startswith(("\n", "\r")):
        return None
    blank = _BLANK_LINE.search(text)
    if blank is None:
        return None
    block = text[:blank.start() + 1]
    if "\r" in block and block.count("\r") != block.count("\r\n"):
        return None
    lines = block.split("\n")[:-1]
    headers: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not headers:
                return None  # a continuation first: the feed parser's defect
            name, value = headers[-1]
            headers[-1] = (name, value + "\n" + line)
            continue
        match = _HEADER_NAME.match(line)
        if match is None or line.startswith("From "):
            return None
        headers.append((line[:match.end() - 1], line[match.end():].lstrip(" \t")))
    return [(name, value.rstrip("\r\n")) for name, value in headers], text[blank.end():]


def _single_part(data: bytes) -> Message | None:
    """compat32's parse of a message that is one part (not multipart/*, message/*), built from its
    header lines and body without the feed parser (most of compat32's cost); None otherwise."""
    text = data.decode("ascii", "surrogateescape")  # as BytesParser reads bytes
    split = split_headers(text)
    if split is None:
        return None
    headers, body = split
    msg = Message(policy=policy.compat32)
    for name, value in headers:
        msg.set_raw(name, value)
    if msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(body)
    return msg


def parse_compat(data: bytes) -> Message:
    """The message parsed with compat32, or NotPlain when a MIME header of any part is beyond
    the quick path."""
    msg = _single_part(data) or BytesParser(policy=policy.compat32).parsebytes(data)
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822" or part.get_content_maintype() == "message":
            raise NotPlain("an attached message")
        for key, value in part.raw_items():
            lower = key.lower()
            if lower in _MIME_HEADERS:
                if not (is_plain(unfold(value)) and _MIME_VALUE.match(unfold(value))):
                    raise NotPlain(key)
            elif lower == "content-id" and not is_plain(unfold(value)):
                raise NotPlain(key)
    if msg.defects or any(p.defects for p in msg.walk()):
        raise NotPlain("defects")
    return msg


def leaf_parts(msg: Message) -> Iterator[Message]:
    stack = [msg]
    while stack:
        part = stack.pop()
        payload = part.get_payload()
        if part.is_multipart() and isinstance(payload, list):
            stack.extend(reversed([sub for sub in payload if isinstance(sub, Message)]))
        else:
            yield part


def text_content(part: Message) -> str:
    """policy.default's get_content() of a text part (raw_data_manager: the decoded payload in
    its charset, errors replaced), or its UTF-8 reading when the charset is unknown."""
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    try:
        charset = part.get_param("charset", "ASCII")
        text = data.decode(charset if isinstance(charset, str) else "ASCII", "replace")
    except (LookupError, ValueError):
        text = data.decode("utf-8", "replace")
    return text.replace("\x00", "")
