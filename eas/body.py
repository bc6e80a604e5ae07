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
                opaque: bool = False, smime: bool = False) -> Element:
    """`raw` (the body in `pref.type`) as AirSyncBase:Body.  `plain_text` gives the text Preview
    is cut from; `opaque` sends text Data as OPAQUE for clients that render no inline string;
    `smime` (an S/MIME message sent as MIME) always carries Truncated (MS-ASCMD 2.2.3.110.2-3)."""
    data, truncated = truncate(raw, pref.truncation_size)
    children = [E("AirSyncBase:Type", pref.type), E("AirSyncBase:EstimatedDataSize", len(raw))]
    if truncated or smime:
        children.append(E("AirSyncBase:Truncated", 1 if truncated else 0))
    # MS-ASEMAIL 2.2.2.10.1: Data only for a nonzero TruncationSize (or none) that AllOrNone lets through.
    if not (truncated and pref.all_or_none) and pref.truncation_size != 0:
        # MIME travels as OPAQUE: it may hold 8-bit parts that are not UTF-8.  Text bodies are
        # inline strings, except for clients with the body_opaque quirk (eas/quirks.py).
        as_bytes = pref.type == BodyType.MIME or opaque
        children.append(E("AirSyncBase:Data", data if as_bytes else data.decode("utf-8")))
    if pref.preview and versions.has(version, "body_preview") and pref.type != BodyType.PlainText:
        children.append(E("AirSyncBase:Preview", plain_text()[: pref.preview]))
    return E("AirSyncBase:Body", *children)


# -- BodyPreference and BodyPartPreference in a request ----------------------------------------------
# MS-ASAIRS 2.2.2.11 and 2.2.2.12: the children in schema order, each at most once, of these types.
PREFERENCE_CHILDREN = {"AirSyncBase:Type": int, "AirSyncBase:TruncationSize": int,
                       "AirSyncBase:AllOrNone": bool, "AirSyncBase:Preview": int}
_ORDER = list(PREFERENCE_CHILDREN)


# MS-ASAIRS 2.2.2.9: a Body's children in schema order (a client sends Type and Data).
BODY_CHILDREN = ("AirSyncBase:Type", "AirSyncBase:EstimatedDataSize", "AirSyncBase:Truncated", "AirSyncBase:Data",
                 "AirSyncBase:Part", "AirSyncBase:Preview")


class SchemaError(ValueError):
    """An AirSyncBase element out of the schema: a child misplaced, repeated, out of order or of
    the wrong type.  Each command answers it with its own status (MS-ASAIRS 3.2.5.1)."""


def check_children(el: Element, order) -> None:
    """Raises SchemaError unless `el`'s children are of `order`, each once at most, in that order."""
    places = []
    for child in el.children:
        if child.tag not in order:
            raise SchemaError(f"<{child.tag}> in <{el.tag}>")
        places.append(order.index(child.tag))
    if len(set(places)) != len(places):
        raise SchemaError(f"a child of <{el.tag}> is repeated")
    if places != sorted(places):
        raise SchemaError(f"the children of <{el.tag}> are out of order")


def _typed(tag: str, value) -> int | bool | None:
    text = "" if value is None else value.decode("latin-1") if isinstance(value, bytes) else str(value)
    text = text.strip()
    if PREFERENCE_CHILDREN[tag] is bool:
        if text not in ("", "0", "1"):  # MS-ASDTYPE 2.1: 0 or 1; empty means 1
            raise SchemaError(f"<{tag}> {text!r} is not a boolean")
        return text != "0"
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise SchemaError(f"<{tag}> {text!r} is not a number")
    return int(text)


def parse_preference(el: Element) -> BodyPreference:
    """A BodyPreference or BodyPartPreference element; its Type is left for the caller to judge."""
    check_children(el, _ORDER)
    values = {c.tag: _typed(c.tag, c.value) for c in el.children}
    ptype = values.get("AirSyncBase:Type")
    return BodyPreference(type=ptype if isinstance(ptype, int) else 0,
                          truncation_size=values.get("AirSyncBase:TruncationSize"),
                          all_or_none=bool(values.get("AirSyncBase:AllOrNone", False)),
                          preview=values.get("AirSyncBase:Preview"))


def render_body_part(raw: bytes, pref: BodyPreference, plain_text: Callable[[], str]) -> Element:
    """AirSyncBase:BodyPart (MS-ASAIRS 2.2.2.10): the message part as HTML, cut like a Body."""
    data, truncated = truncate(raw, pref.truncation_size)
    children = [E("AirSyncBase:Status", 1), E("AirSyncBase:Type", BodyType.HTML),
                E("AirSyncBase:EstimatedDataSize", len(raw))]
    if truncated:
        children.append(E("AirSyncBase:Truncated", 1))
    if not (truncated and pref.all_or_none):
        children.append(E("AirSyncBase:Data", data.decode("utf-8")))
    if pref.preview:
        children.append(E("AirSyncBase:Preview", plain_text()[: pref.preview]))
    return E("AirSyncBase:BodyPart", *children)
