"""The element tree the codec produces and consumes.

EAS documents are small trees of named elements; an element holds either child elements, or one
value, or nothing.  A value is `str` for inline strings (STR_I) and `bytes` for OPAQUE data, so MIME,
bodies and conversation ids are never decoded as text by accident.  Tags are written
"Namespace:Name" with MS-ASWBXML's names, e.g. "AirSync:Sync" or "AirSyncBase:Body".
"""
from __future__ import annotations

from collections.abc import Iterator

from .errors import WBXMLError

Value = str | bytes


class InvalidText(WBXMLError):
    """A value read as text that is not text: OPAQUE bytes that are not UTF-8 or hold a NUL.

    Only OPAQUE can carry such a value (an inline string ends at NUL and the decoder checks its
    UTF-8), and no EAS string holds one.  Read as text it would be echoed back (an unknown
    CollectionId, say) where the encoder cannot write it, or stored where no device can read it
    again; so reading it is where the request is refused, with the command's protocol status."""

    def __init__(self, tag: str):
        self.tag = tag
        super().__init__(f"<{tag}> is not text (OPAQUE that is not UTF-8 or holds a NUL)")


class Element:
    # `explicit_end`: the element had the content bit and an END but no content (Exchange writes
    # empty policy settings such as <MaxAttachmentSize/> that way).  It means the same as a bare
    # empty element, so equality ignores it, but the encoder keeps it so re-encoding a received
    # document gives back the same bytes.
    __slots__ = ("tag", "children", "value", "explicit_end")

    def __init__(self, tag: str, children: list[Element] | None = None, value: Value | None = None):
        self.tag = tag
        self.children = children if children is not None else []
        self.value = value
        self.explicit_end = False

    # -- navigation -------------------------------------------------------------------------
    @property
    def namespace(self) -> str:
        return self.tag.partition(":")[0]

    @property
    def name(self) -> str:
        return self.tag.partition(":")[2]

    def find(self, tag: str) -> Element | None:
        for child in self.children:
            if child.tag == tag:
                return child
        return None

    def findall(self, tag: str) -> list[Element]:
        return [child for child in self.children if child.tag == tag]

    def text(self, tag: str, default: str | None = None) -> str | None:
        """The string value of the first child `tag`; `default` when it is absent or has none."""
        child = self.find(tag)
        return default if child is None else child.as_text(default)

    def as_text(self, default: str | None = None) -> str | None:
        """This element's value as a string, `default` when it has none.  OPAQUE where a string
        belongs is read as UTF-8; raises InvalidText when it is not text."""
        value = self.value
        if value is None:
            return default
        if isinstance(value, str):
            return value
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidText(self.tag) from None
        if "\x00" in text:
            raise InvalidText(self.tag)
        return text

    def has(self, tag: str) -> bool:
        return self.find(tag) is not None

    def iter(self) -> Iterator[Element]:
        """Depth-first, document order, self first."""
        stack = [self]
        while stack:
            el = stack.pop()
            yield el
            stack.extend(reversed(el.children))

    def __iter__(self) -> Iterator[Element]:
        return iter(self.children)

    # No __len__: an element without children must not be falsy, or `find(...) or ...` breaks.

    # -- comparison and display ---------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Element):
            return NotImplemented
        return self.tag == other.tag and self.value == other.value and self.children == other.children

    # Defining __eq__ leaves __hash__ None: elements are mutable, so they are not hashable.

    def __repr__(self) -> str:
        if self.value is not None:
            return f"E({self.tag!r}, {self.value!r})"
        if self.children:
            return f"E({self.tag!r}, {', '.join(map(repr, self.children))})"
        return f"E({self.tag!r})"


def E(tag: str, *content: Element | Value | int | None) -> Element:
    """Build an element: `E("AirSync:Status", 1)`, `E("AirSync:Sync", E(...), E(...))`.

    Positional children that are None are dropped, which keeps optional elements readable:
    `E("Email:Subject", subject) if subject else None`.  An int becomes its decimal string, as
    every EAS integer travels as an inline string.
    """
    children: list[Element] = []
    value: Value | None = None
    for item in content:
        if item is None:
            continue
        if isinstance(item, Element):
            children.append(item)
        elif isinstance(item, bool):
            value = "1" if item else "0"
        elif isinstance(item, int):
            value = str(item)
        elif isinstance(item, (str, bytes)):
            value = item
        else:
            raise TypeError(f"cannot put {type(item).__name__} into <{tag}>")
    if children and value is not None:
        raise ValueError(f"<{tag}> cannot hold both a value and child elements")
    return Element(tag, children, value)
