"""WBXML 1.3 as EAS uses it (MS-ASWBXML 2.1): decode bytes to an Element tree and back.

EAS uses a strict subset of WBXML: header 03 01 6A 00 (version 1.3, no public id, UTF-8, empty
string table), tag tokens with or without the content bit, SWITCH_PAGE, END, STR_I and OPAQUE.
Everything else — attributes, string-table references, entities, extensions, processing
instructions — never appears in a valid EAS document, so the decoder refuses it instead of guessing;
a lenient decoder is how a server ends up silently misreading a phone.  Every refusal is a
WBXMLError naming the byte offset; no other exception leaves `decode`, whatever the bytes.
"""
from __future__ import annotations

from .. import limits
from .errors import WBXMLError, WBXMLLimitError
from .tables import DECODE, ENCODE
from .tree import Element

HEADER = b"\x03\x01\x6a\x00"

SWITCH_PAGE, END, STR_I, OPAQUE = 0x00, 0x01, 0x03, 0xC3
# Global tokens WBXML defines and EAS never uses (ENTITY, LITERAL*, EXT*, PI, STR_T).
_REFUSED_GLOBALS = {
    0x02: "ENTITY", 0x04: "LITERAL", 0x40: "EXT_I_0", 0x41: "EXT_I_1", 0x42: "EXT_I_2",
    0x43: "PI", 0x44: "LITERAL_C", 0x80: "EXT_T_0", 0x81: "EXT_T_1", 0x82: "EXT_T_2",
    0x83: "STR_T", 0x84: "LITERAL_A", 0xC0: "EXT_0", 0xC1: "EXT_1", 0xC2: "EXT_2", 0xC4: "LITERAL_AC",
}

# Bounds on what a decoder accepts; eas/limits.py says why each is what it is.  Past one, a
# WBXMLLimitError.  Decoded strings need no bound of their own: each is a slice of the document.
DEFAULT_MAX_SIZE = limits.MAX_REQUEST_SIZE
DEFAULT_MAX_DEPTH = limits.WBXML_MAX_DEPTH
DEFAULT_MAX_ELEMENTS = limits.WBXML_MAX_ELEMENTS


def _mb_u_int32(data: bytes, pos: int, n: int) -> tuple[int, int]:
    """Read a WBXML multi-byte unsigned integer (at most 5 bytes, value < 2**32)."""
    start = pos
    value = 0
    for _ in range(5):
        if pos >= n:
            raise WBXMLError("truncated multi-byte integer", start)
        b = data[pos]
        pos += 1
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            if value > 0xFFFFFFFF:
                raise WBXMLError("multi-byte integer exceeds 32 bits", start)
            return value, pos
    raise WBXMLError("multi-byte integer longer than 5 bytes", start)


def _add_value(el: Element, value: str | bytes, at: int) -> None:
    if el.children:
        raise WBXMLError(f"<{el.tag}> mixes text and elements", at)
    current = el.value
    if current is None:
        el.value = value
        return
    # Consecutive strings are one value.  Gathered in a list that END joins: adding them one by
    # one would copy the value each time, quadratic in a body of many short strings.
    parts = current if isinstance(current, list) else [current]
    if type(parts[0]) is not type(value):
        raise WBXMLError(f"<{el.tag}> mixes inline string and OPAQUE", at)
    parts.append(value)
    el.value = parts  # type: ignore[assignment]  # a list only until its END


def _header(data: bytes, n: int) -> int:
    """Check the header (version 1.3, public id 1, UTF-8, no string table); the body's offset."""
    if data[0] != 0x03:
        raise WBXMLError(f"WBXML version 0x{data[0]:02X}, EAS uses 0x03", 0)
    public_id, pos = _mb_u_int32(data, 1, n)
    if public_id != 0x01:
        raise WBXMLError(f"public identifier {public_id}, EAS uses 1 (unknown)", 1)
    charset_at = pos
    charset, pos = _mb_u_int32(data, pos, n)
    if charset != 106:
        raise WBXMLError(f"charset MIBenum {charset}, EAS uses 106 (UTF-8)", charset_at)
    strtbl_at = pos
    strtbl, pos = _mb_u_int32(data, pos, n)
    if strtbl != 0:
        raise WBXMLError("string table present; EAS documents carry none", strtbl_at)
    return pos


def _begin(data: bytes, max_size: int) -> tuple[bytes, int]:
    """The document as bytes, its size bound and header checked; the body's offset."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError("decode() takes bytes")
    n = len(data)
    if n > max_size:
        raise WBXMLLimitError(f"document of {n} bytes exceeds the {max_size}-byte bound", max_size)
    if n == 0:
        raise WBXMLError("empty document", 0)
    return data, _header(data, n)


def _content(data: bytes, pos: int, n: int, el: Element) -> int:
    """One STR_I or OPAQUE at `pos` that the leaf fast path did not take, added to `el`; the offset
    after it.  Kept out of `decode`'s loop: documents from real devices rarely reach it."""
    at = pos
    if data[pos] == STR_I:
        end = data.find(b"\x00", pos + 1)
        if end < 0:
            raise WBXMLError("unterminated inline string", at)
        try:
            value: str | bytes = data[pos + 1:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WBXMLError("inline string is not UTF-8", pos + 1 + exc.start) from None
        pos = end + 1
    else:
        length, pos = _mb_u_int32(data, pos + 1, n)
        if pos + length > n:
            raise WBXMLError(f"OPAQUE of {length} bytes runs past the end", at)
        value = data[pos:pos + length]
        pos += length
    _add_value(el, value, at)
    return pos


def _finish_leaf(el: Element) -> None:
    """At a leaf's END: an empty one remembers it was written <x></x>; a value that came in
    several strings becomes one."""
    if el.value is None:
        el.explicit_end = True
    elif isinstance(el.value, list):
        el.value = el.value[0][:0].join(el.value)


def _whole(root: Element | None, pos: int, n: int) -> Element:
    if pos != n:
        raise WBXMLError(f"{n - pos} bytes after the root element", pos)
    assert root is not None  # the loop ends only when the root element closes
    return root


def _switch_page(data: bytes, pos: int, n: int) -> tuple[int, list[str | None]]:
    """The code page a SWITCH_PAGE at `pos` selects, and its token slots."""
    if pos + 1 >= n:
        raise WBXMLError("truncated SWITCH_PAGE", pos)
    new = data[pos + 1]
    found = DECODE.get(new)
    if found is None:
        raise WBXMLError(f"unknown code page {new}", pos + 1)
    return new, found


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE, max_depth: int = DEFAULT_MAX_DEPTH,
           max_elements: int = DEFAULT_MAX_ELEMENTS) -> Element:
    """Decode one EAS WBXML document into its root Element.  A leaf holding one value (tag, STR_I or
    OPAQUE, END) inside the root is read in one step; anything else, errors included, takes the general
    path, which builds the same tree and refuses with the same message and offset."""
    data, pos = _begin(data, max_size)
    n = len(data)
    find = data.find
    page = 0
    slots = DECODE[0]
    stack: list[Element] = []
    root: Element | None = None
    elements = 0
    while True:
        if pos >= n:
            raise WBXMLError("truncated document: missing END" if root else "truncated document: no root element", pos)
        b = data[pos]
        if b & 0x3F > 4:  # a tag: every global token sits at 0x00-0x04 of its quarter
            if b & 0x80:
                raise WBXMLError("attributes are not used by EAS", pos)
            tag = slots[b & 0x3F]
            if tag is None:
                raise WBXMLError(f"unknown token 0x{b & 0x3F:02X} in code page {page}", pos)
            elements += 1
            if elements > max_elements:
                raise WBXMLLimitError(f"more than {max_elements} elements", pos)
            el = Element(tag)
            if stack:
                parent = stack[-1]
                if parent.value is not None:
                    raise WBXMLError(f"<{parent.tag}> mixes text and elements", pos)
                parent.children.append(el)
            else:  # the root; anything after it is refused below as trailing bytes
                root = el
            pos += 1
            if not b & 0x40:
                if not stack:
                    break
                continue
            if len(stack) >= max_depth:
                raise WBXMLLimitError(f"nesting deeper than {max_depth}", pos - 1)
            if stack and pos < n:
                kind = data[pos]
                if kind == STR_I:
                    end = find(b"\x00", pos + 1)
                    if 0 < end < n - 1 and data[end + 1] == END:
                        try:
                            el.value = data[pos + 1:end].decode("utf-8")
                        except UnicodeDecodeError as exc:
                            raise WBXMLError("inline string is not UTF-8", pos + 1 + exc.start) from None
                        pos = end + 2
                        continue
                elif kind == OPAQUE:
                    length, start = _mb_u_int32(data, pos + 1, n)
                    stop = start + length
                    if stop < n and data[stop] == END:
                        el.value = data[start:stop]
                        pos = stop + 1
                        continue
            stack.append(el)
        elif b == END:
            if not stack:
                raise WBXMLError("END with no open element", pos)
            closed = stack.pop()
            if not closed.children:
                _finish_leaf(closed)
            pos += 1
            if not stack:
                break
        elif b == STR_I or b == OPAQUE:
            if not stack:
                raise WBXMLError("content outside the root element", pos)
            pos = _content(data, pos, n, stack[-1])
        elif b == SWITCH_PAGE:
            page, slots = _switch_page(data, pos, n)
            pos += 2
        else:
            raise WBXMLError(f"global token {_REFUSED_GLOBALS[b]} is not used by EAS", pos)
    return _whole(root, pos, n)


def _mb_bytes(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode(root: Element) -> bytes:
    """Encode an Element tree; a SWITCH_PAGE is written only where the page changes."""
    return b"".join(encode_pieces(root))  # one piece (most documents): joined without a copy


# A value longer than this is written as pieces of about this size (characters or bytes) that
# follow the document's bytes before it: an ItemOperations answer's 7 MB of base64 was encoded,
# scanned and copied whole, each step one long call that held the GIL the event loop needed.
VALUE_SLICE = 64 * 1024
# The document's own bytes are cut into pieces once they pass this size, so no piece reaches the
# server's mmap threshold (server/limits.py, 128 KB: a piece below it is heap memory used again,
# above it fresh pages faulted in and zeroed each time).  A 512-item Sync page is 2.7 MB: grown
# whole, then copied to bytes, it cost the server two such blocks per encoding, ~7 ms of page
# faults on top of ~4 ms of encoding.  A piece is at most this plus one value of VALUE_SLICE.
PIECE_SIZE = 48 * 1024


class Encoded(Element):
    """An element already encoded (`encode_once`), written into a larger document as its bytes
    rather than walked and encoded again: a Sync answer's Collection is encoded in the store's
    transaction, where those bytes are kept for a resent key, and the answer around it then costs
    a few bytes, not a second encoding of a page of megabytes.  It stays the element it was (tag,
    children, value), for whatever reads the answer; it must not be changed once encoded."""

    __slots__ = ("pieces", "page", "end_page")

    def __init__(self, el: Element, pieces: list[bytes], page: int, end_page: int):
        super().__init__(el.tag, el.children, el.value)
        self.explicit_end = el.explicit_end
        self.pieces = pieces  # from its start tag on, the code page already `page`
        self.page = page
        self.end_page = end_page  # the code page in force after its END

    def document(self) -> list[bytes]:
        """The element encoded as a document of its own, in pieces: `encode_pieces`' bytes."""
        return [HEADER + (bytes((SWITCH_PAGE, self.page)) if self.page else b""), *self.pieces]


def encode_once(el: Element) -> Encoded:
    """`el` encoded now, to be written as those bytes wherever it is encoded again."""
    try:
        page = ENCODE[el.tag][0]
    except KeyError:
        raise WBXMLError(f"no code page defines <{el.tag}>") from None
    pieces, end_page = _pieces(el, bytearray(), page)
    return Encoded(el, pieces, page, end_page)


def encode_pieces(root: Element) -> list[bytes]:
    """The encoding of `root` as pieces to write one after another (`encode` joins them): the
    values longer than VALUE_SLICE in slices of their own, never copied whole."""
    return _pieces(root, bytearray(HEADER), 0)[0]


def _pieces(root: Element, out: bytearray, page: int) -> tuple[list[bytes], int]:
    """`root` encoded after `out`, the code page `page` in force: the pieces, and the page after."""
    pieces: list[bytes] = []
    # Iterative walk: an element is visited when popped; None closes the last opened one.
    todo: list[Element | None] = [root]
    pop = todo.pop
    while todo:
        el = pop()
        if el is None:
            out.append(END)
            continue
        try:
            el_page, token = ENCODE[el.tag]
        except KeyError:
            raise WBXMLError(f"no code page defines <{el.tag}>") from None
        except TypeError:
            raise WBXMLError(f"not an element: {el!r}") from None
        if el_page != page:
            out.append(SWITCH_PAGE)
            out.append(el_page)
            page = el_page
        value = el.value
        if value is None:
            children = el.children
            if children:
                if el.__class__ is Encoded:  # its bytes as they are (the code page is its own now)
                    if out:
                        pieces.append(bytes(out))
                    pieces += el.pieces
                    out = bytearray()
                    page = el.end_page
                    continue
                out.append(token | 0x40)
                todo.append(None)
                todo += reversed(children)
            elif el.explicit_end:
                out.append(token | 0x40)
                out.append(END)
            else:
                out.append(token)
            continue
        if el.children:
            raise WBXMLError(f"<{el.tag}> holds both a value and child elements")
        out.append(token | 0x40)
        if isinstance(value, str):
            out.append(STR_I)
            if len(value) > VALUE_SLICE:
                pieces.append(bytes(out))
                pieces += (_utf8(el.tag, value[at:at + VALUE_SLICE]) for at in range(0, len(value), VALUE_SLICE))
                out = bytearray()
            else:  # the common case inline (a function call per value costs a Sync answer a fifth)
                try:
                    raw = value.encode("utf-8")
                except UnicodeEncodeError:
                    raw = b"\x00"
                if b"\x00" in raw:
                    _utf8(el.tag, value)  # raises, saying why
                out += raw
            out += b"\x00\x01"  # the string's terminator, then the element's END
            if len(out) > PIECE_SIZE:
                pieces.append(bytes(out))
                out = bytearray()
        elif isinstance(value, (bytes, bytearray)):
            out.append(OPAQUE)
            out += _mb_bytes(len(value))
            if len(value) > VALUE_SLICE:
                pieces += (bytes(out), bytes(value))  # (bytes as they are: no copy)
                out = bytearray()
            else:
                out += value
            out.append(END)
            if len(out) > PIECE_SIZE:
                pieces.append(bytes(out))
                out = bytearray()
        else:
            raise WBXMLError(f"<{el.tag}> value must be str or bytes, not {type(value).__name__}")
    pieces.append(bytes(out))
    return pieces, page


def _utf8(tag: str, text: str) -> bytes:
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:
        raise WBXMLError(f"<{tag}> string is not encodable as UTF-8 (lone surrogate)") from None
    if b"\x00" in raw:
        # STR_I ends at NUL, and OPAQUE would hand a device bytes where it reads a
        # string: refused.  No client's value gets here with one (Element.as_text).
        raise WBXMLError(f"<{tag}> string contains NUL; use bytes for OPAQUE data")
    return raw
