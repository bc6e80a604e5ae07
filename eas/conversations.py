"""Conversation indexes (MS-ASCON 2.2.2.4, MS-OXOMSG 2.2.1.3): how a message's place in its thread
is kept, grown on each reply or forward, and shown to a device.

The store keeps the index as Outlook's Thread-Index carries it: a 22-byte header (reserved byte
0x01, the high 40 bits of the first message's FILETIME, a 16-byte GUID) and one 5-byte Response
Level per reply or forward.  Exchange shows a device the same timestamps without the reserved byte
and the GUID (the GUID is what email2:ConversationId already carries): a 5-byte Conversation Index
Header, then the Response Levels (MS-ASCON 2.2.2.4: header 5 bytes, each level 5 bytes).
"""
from __future__ import annotations

import base64
import binascii
import re
import struct
from datetime import datetime, timezone

HEADER_SIZE = 22  # the stored (Thread-Index) header
LEVEL_SIZE = 5
_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)
# A Response Level's TimeDelta is 31 bits of the FILETIME difference: bits 48..18 while the
# difference fits in 49 bits (DC 0), bits 53..23 beyond (DC 1), MS-OXOMSG 2.2.1.3.
_SHIFT = {0: 18, 1: 23}


def filetime(when: datetime) -> int:
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int((when - _EPOCH).total_seconds() * 10_000_000)


def is_stored_index(value: bytes) -> bool:
    return len(value) >= HEADER_SIZE and (len(value) - HEADER_SIZE) % LEVEL_SIZE == 0 and value[0] == 1


def thread_index(header: str) -> bytes:
    """A Thread-Index header's value, or b"" when it is not a conversation index."""
    try:
        value = base64.b64decode("".join(header.split()), validate=True)
    except (binascii.Error, ValueError):
        return b""
    return value if is_stored_index(value) else b""


def header_time(index: bytes) -> int:
    """The first message's FILETIME as the header keeps it (its low 24 bits are gone)."""
    return int.from_bytes(index[1:6], "big") << 24


def response_level(index: bytes, now: datetime) -> bytes:
    """The 5-byte Response Level of a reply or forward written at `now` to the message `index`
    indexes: DC, TimeDelta (31 bits), Random (4 bits), Reserved (4 bits)."""
    delta = max(0, filetime(now) - header_time(index))
    dc = 0 if delta < (1 << 49) else 1
    time_delta = (delta >> _SHIFT[dc]) & 0x7FFF_FFFF
    # Random only tells apart replies written in the same tick: the low bits of the time do that
    # without making the index depend on anything but the message and its time.
    random = filetime(now) & 0xF
    return struct.pack(">IB", (dc << 31) | time_delta, random << 4)


def reply_index(index: bytes, now: datetime) -> bytes:
    """The index of a reply or forward to the message `index` indexes (MS-ASCON 2.2.2.4: one
    Response Level more)."""
    return index + response_level(index, now)


def wire_index(stored: bytes) -> bytes:
    """email2:ConversationIndex as Exchange sends it: the 5-byte header then the Response Levels."""
    if not is_stored_index(stored):
        return stored
    return stored[1:6] + stored[HEADER_SIZE:]


def level_delta(level: bytes) -> int:
    """The FILETIME difference (to the header's precision) a Response Level records."""
    word = struct.unpack(">I", level[:4])[0]
    dc = word >> 31
    return (word & 0x7FFF_FFFF) << _SHIFT[dc]


# Where a reply or forward's quoted history starts: Outlook's reply header block, the rule it draws
# above it, and the separator of plain-text clients.  The message part is what comes before.
_HISTORY = re.compile(r'<div[^>]*\bid\s*=\s*["\']?divRplyFwdMsg|<hr\b|-----\s*Original Message\s*-----', re.IGNORECASE)


def message_part(html: str) -> str:
    """The new content of a message (MS-ASCON 1.3: the message part), its HTML without the
    quoted history; the document's body is closed again where it was cut."""
    found = _HISTORY.search(html)
    if found is None:
        return html
    head = html[: found.start()]
    tail = "".join(close for tag, close in (("<body", "</body>"), ("<html", "</html>")) if tag in head.lower())
    return head + tail
