"""The multipart body of an ItemOperations response (MS-ASCMD 2.2.1.10.1.1): a part count, then an
(offset, length) pair per part, then the parts; little-endian 32-bit integers, offsets counted
from the start of the body.  Part 0 is the WBXML response, whose itemoperations:Part elements
name the binary parts that follow by their index (the first data part is 1).
"""
from __future__ import annotations

import struct

CONTENT_TYPE = "application/vnd.ms-sync.multipart"


def pack(parts: list[bytes]) -> bytes:
    table_end = 4 + 8 * len(parts)
    offsets, at = [], table_end
    for part in parts:
        offsets.append((at, len(part)))
        at += len(part)
    head = struct.pack("<i", len(parts)) + b"".join(struct.pack("<ii", off, size) for off, size in offsets)
    return head + b"".join(parts)


def unpack(body: bytes) -> list[bytes]:
    """The parts of a multipart body; raises ValueError when the table does not fit the body."""
    if len(body) < 4:
        raise ValueError("multipart body shorter than its part count")
    (count,) = struct.unpack_from("<i", body, 0)
    if count < 1 or 4 + 8 * count > len(body):
        raise ValueError(f"multipart part count {count} does not fit {len(body)} bytes")
    parts = []
    for n in range(count):
        offset, size = struct.unpack_from("<ii", body, 4 + 8 * n)
        if offset < 0 or size < 0 or offset + size > len(body):
            raise ValueError(f"multipart part {n} ({offset}+{size}) lies outside the body")
        parts.append(body[offset:offset + size])
    return parts
