"""AirSyncBase Body (MS-ASAIRS 2.2.2.9) as a device asked for it, for mail and PIM items alike.

The caller picks the preference that applies (MS-ASAIRS 3.2.5.1) and converts the item's body to
the chosen type; this module cuts it to TruncationSize and writes Type, EstimatedDataSize,
Truncated, Data (left out when AllOrNone forbids a cut body) and Preview.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import versions
from .folders import BodyType
from .wbxml import E, Element


@dataclass(frozen=True)
class BodyPreference:
    type: int  # BodyType
    truncation_size: int | None = None
    all_or_none: bool = False
    preview: int | None = None


def truncate(data: bytes, limit: int | None) -> tuple[bytes, bool]:
    """At most `limit` bytes of `data` (all of it for None), and whether it was cut."""
    if limit is None or len(data) <= limit:
        return data, False
    cut = data[:limit]
    # Never split a UTF-8 sequence: drop a trailing partial character.
    return cut.decode("utf-8", "ignore").encode("utf-8"), True


def render_body(raw: bytes, pref: BodyPreference, version: str, plain_text: Callable[[], str],
                opaque: bool = False) -> Element:
    """`raw` (the body in `pref.type`) as AirSyncBase:Body.  `plain_text` gives the text Preview
    is cut from; `opaque` sends text Data as OPAQUE for clients that render no inline string."""
    data, truncated = truncate(raw, pref.truncation_size)
    children = [E("AirSyncBase:Type", pref.type), E("AirSyncBase:EstimatedDataSize", len(raw))]
    if truncated:
        children.append(E("AirSyncBase:Truncated", 1))
    # MS-ASEMAIL 2.2.2.10.1: Data only for a nonzero TruncationSize (or none) that AllOrNone lets through.
    if not (truncated and pref.all_or_none) and pref.truncation_size != 0:
        # MIME travels as OPAQUE: it may hold 8-bit parts that are not UTF-8.  Text bodies are
        # inline strings, except for clients with the body_opaque quirk (eas/quirks.py).
        as_bytes = pref.type == BodyType.MIME or opaque
        children.append(E("AirSyncBase:Data", data if as_bytes else data.decode("utf-8")))
    if pref.preview and versions.has(version, "body_preview") and pref.type != BodyType.PlainText:
        children.append(E("AirSyncBase:Preview", plain_text()[: pref.preview]))
    return E("AirSyncBase:Body", *children)
