"""The XML face of a WBXML tree, for people and for `easlab wbxml decode|encode`.

Each element is written with its MS-ASWBXML name; a default-namespace declaration appears on the
root and wherever the code page changes from the parent's, as libwbxml prints it.  OPAQUE data is
written as base64 inside an element marked `opaque="base64"`: EAS uses no attributes, so the marker
cannot collide with anything, and it lets `from_xml` restore the exact bytes (CDATA cannot carry
arbitrary binary).  `from_xml` also accepts libwbxml's namespace spelling with a trailing colon.
"""
from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from .errors import WBXMLError
from .tables import ENCODE
from .tree import Element


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
        elif el.value is not None:
            lines.append(f"{pad}<{name}{attrs}>{escape(el.value)}</{name}>")
        elif not el.children:
            lines.append(f"{pad}<{name}{attrs}/>")
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
        extra = set(node.attrib) - {"opaque"}
        if extra or node.attrib.get("opaque", "base64") != "base64":
            raise WBXMLError(f"<{tag}>: the only attribute understood is opaque=\"base64\"")
        children = [convert(child) for child in node]
        text = node.text or ""
        if children:
            if text.strip() or any((c.tail or "").strip() for c in node):
                raise WBXMLError(f"<{tag}> mixes text and elements")
            return Element(tag, children)
        if "opaque" in node.attrib:
            try:
                return Element(tag, value=base64.b64decode("".join(text.split()), validate=True))
            except ValueError:
                raise WBXMLError(f"<{tag}> is marked opaque but is not base64") from None
        return Element(tag, value=text if node.text is not None else None)

    return convert(top)
