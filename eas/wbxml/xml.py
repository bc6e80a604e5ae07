"""The XML face of a WBXML tree, for people and for `easlab wbxml decode|encode`.

Each element is written with its MS-ASWBXML name; a default-namespace declaration appears on the
root and wherever the code page changes from the parent's, as libwbxml prints it.  EAS uses no
attributes, so attributes can mark what plain XML text would lose, and `from_xml` restores the
exact document:
- `opaque="base64"`: OPAQUE data, written as base64 (CDATA cannot carry arbitrary binary);
- `string="base64"`: an inline string holding characters XML 1.0 cannot carry (control
  characters), written as base64 of its UTF-8;
- `form="empty-string"`: an inline string of length zero (`<SyncKey form="empty-string"/>`),
  distinct from an empty element;
- `form="open-close"`: an empty element written with the content bit and an END, as Exchange
  writes some policy settings.
A carriage return is written as `&#13;` so CRLF survives.  `from_xml` also accepts libwbxml's
namespace spelling with a trailing colon.
"""
from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from .errors import WBXMLError
from .tables import ENCODE
from .tree import Element, Value


# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_ATTRIBUTES = {"opaque": {"base64"}, "string": {"base64"}, "form": {"empty-string", "open-close"}}


def to_xml(root: Element, indent: str | None = "  ") -> str:
    lines: list[str] = ['<?xml version="1.0" encoding="utf-8"?>']
    nl = "\n" if indent is not None else ""

    def walk(el: Element, parent_ns: str | None, depth: int) -> None:
        ns, _, name = el.tag.partition(":")
        pad = (indent or "") * depth
        attrs = f" xmlns={quoteattr(ns)}" if ns != parent_ns else ""
        if isinstance(el.value, bytes):
            body = base64.b64encode(el.value).decode("ascii")
            lines.append(f'{pad}<{name}{attrs} opaque="base64">{body}</{name}>')
        elif el.value == "":
            lines.append(f'{pad}<{name}{attrs} form="empty-string"/>')
        elif el.value is not None and _NOT_XML.search(el.value):
            body = base64.b64encode(el.value.encode("utf-8", "surrogatepass")).decode("ascii")
            lines.append(f'{pad}<{name}{attrs} string="base64">{body}</{name}>')
        elif el.value is not None:
            lines.append(f"{pad}<{name}{attrs}>{escape(el.value, {chr(13): '&#13;'})}</{name}>")
        elif not el.children:
            form = ' form="open-close"' if el.explicit_end else ""
            lines.append(f"{pad}<{name}{attrs}{form}/>")
        else:
            lines.append(f"{pad}<{name}{attrs}>")
            for child in el.children:
                walk(child, ns, depth + 1)
            lines.append(f"{pad}</{name}>")

    walk(root, None, 0)
    return nl.join(lines) + nl


def from_xml(text: str | bytes) -> Element:
    try:
        top = ET.fromstring(text)
    except ET.ParseError as exc:
        raise WBXMLError(f"not well-formed XML: {exc}") from None

    def convert(node: ET.Element) -> Element:
        if not node.tag.startswith("{"):
            raise WBXMLError(f"<{node.tag}> has no namespace; declare xmlns with its code page name")
        ns, _, name = node.tag[1:].partition("}")
        tag = f"{ns.rstrip(':')}:{name}"
        if tag not in ENCODE:
            raise WBXMLError(f"no code page defines <{tag}>")
        attrib = node.attrib
        for key, value in attrib.items():
            if value not in _ATTRIBUTES.get(key, ()):
                raise WBXMLError(f'<{tag}>: attribute {key}="{value}" is not understood')
        if len(attrib) > 1:
            raise WBXMLError(f"<{tag}>: at most one of opaque, string and form")
        children = [convert(child) for child in node]
        text = node.text or ""
        if children:
            if text.strip() or any((c.tail or "").strip() for c in node) or attrib:
                raise WBXMLError(f"<{tag}> mixes text and elements")
            return Element(tag, children)
        if "opaque" in attrib or "string" in attrib:
            try:
                raw = base64.b64decode("".join(text.split()), validate=True)
                content: Value = raw if "opaque" in attrib else raw.decode("utf-8", "surrogatepass")
            except ValueError:
                raise WBXMLError(f"<{tag}> is marked base64 but is not base64 of UTF-8") from None
            return Element(tag, value=content)
        form = attrib.get("form")
        if form == "empty-string":
            return Element(tag, value="")
        el = Element(tag, value=text if node.text is not None else None)
        el.explicit_end = form == "open-close"
        return el

    return convert(top)
