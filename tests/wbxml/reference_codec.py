"""The codec as it was before its fast paths (easlab 2026-12), kept as the reference the
differential tests hold the fast one to: the same bytes, the same tree, or the same error at the
same offset."""
from __future__ import annotations

from easlab.eas.wbxml.codec import (
    DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_SIZE, END, HEADER, OPAQUE, STR_I, SWITCH_PAGE, _REFUSED_GLOBALS, _mb_u_int32,
)
from easlab.eas.wbxml.errors import WBXMLError, WBXMLLimitError
from easlab.eas.wbxml.tables import DECODE, ENCODE
from easlab.eas.wbxml.tree import Element


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


def decode(data: bytes, *, max_size: int = DEFAULT_MAX_SIZE, max_depth: int = DEFAULT_MAX_DEPTH,
           max_elements: int = DEFAULT_MAX_ELEMENTS) -> Element:
    """Decode one EAS WBXML document into its root Element."""
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    elif not isinstance(data, bytes):
        raise TypeError("decode() takes bytes")
    n = len(data)
    if n > max_size:
        raise WBXMLLimitError(f"document of {n} bytes exceeds the {max_size}-byte bound", max_size)
    if n == 0:
        raise WBXMLError("empty document", 0)
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

    page = 0
    slots = DECODE[0]
    stack: list[Element] = []
    root: Element | None = None
    elements = 0
    while True:
        if pos >= n:
            raise WBXMLError("truncated document: missing END" if root else "truncated document: no root element", pos)
        b = data[pos]
        if b == END:
            if not stack:
                raise WBXMLError("END with no open element", pos)
            closed = stack.pop()
            if closed.value is None and not closed.children:
                closed.explicit_end = True
            elif isinstance(closed.value, list):
                closed.value = closed.value[0][:0].join(closed.value)
            pos += 1
            if not stack:
                break
        elif b == STR_I or b == OPAQUE:
            if not stack:
                raise WBXMLError("content outside the root element", pos)
            at = pos
            if b == STR_I:
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
            _add_value(stack[-1], value, at)
        elif b == SWITCH_PAGE:
            if pos + 1 >= n:
                raise WBXMLError("truncated SWITCH_PAGE", pos)
            new = data[pos + 1]
            found = DECODE.get(new)
            if found is None:
                raise WBXMLError(f"unknown code page {new}", pos + 1)
            page, slots = new, found
            pos += 2
        elif b in _REFUSED_GLOBALS:
            raise WBXMLError(f"global token {_REFUSED_GLOBALS[b]} is not used by EAS", pos)
        else:
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
            if b & 0x40:
                if len(stack) >= max_depth:
                    raise WBXMLLimitError(f"nesting deeper than {max_depth}", pos - 1)
                stack.append(el)
            elif not stack:
                break
    if pos != n:
        raise WBXMLError(f"{n - pos} bytes after the root element", pos)
    assert root is not None  # the loop ends only when the root element closes
    return root


def _mb_bytes(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def encode(root: Element) -> bytes:
    """Encode an Element tree; a SWITCH_PAGE is written only where the page changes."""
    out = bytearray(HEADER)
    page = 0
    # Iterative walk: ("open", el) visits an element, None closes the last opened one.
    todo: list[Element | None] = [root]
    while todo:
        el = todo.pop()
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
            out += bytes((SWITCH_PAGE, el_page))
            page = el_page
        value = el.value
        if value is None and not el.children:
            if el.explicit_end:
                out += bytes((token | 0x40, END))
            else:
                out.append(token)
            continue
        out.append(token | 0x40)
        if value is not None:
            if el.children:
                raise WBXMLError(f"<{el.tag}> holds both a value and child elements")
            if isinstance(value, str):
                try:
                    raw = value.encode("utf-8")
                except UnicodeEncodeError:
                    raise WBXMLError(f"<{el.tag}> string is not encodable as UTF-8 (lone surrogate)") from None
                if b"\x00" in raw:
                    # STR_I ends at NUL, and OPAQUE would hand a device bytes where it reads a
                    # string: refused.  No client's value gets here with one (Element.as_text).
                    raise WBXMLError(f"<{el.tag}> string contains NUL; use bytes for OPAQUE data")
                out.append(STR_I)
                out += raw
                out.append(0)
            elif isinstance(value, (bytes, bytearray)):
                out.append(OPAQUE)
                out += _mb_bytes(len(value))
                out += value
            else:
                raise WBXMLError(f"<{el.tag}> value must be str or bytes, not {type(value).__name__}")
            out.append(END)
        else:
            todo.append(None)
            todo.extend(reversed(el.children))
    return bytes(out)
