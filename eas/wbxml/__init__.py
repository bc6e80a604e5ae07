"""EAS WBXML: `decode(bytes) -> Element`, `encode(Element) -> bytes`, and the XML form for people."""
from ._table import VERSIONS, CodePage, Tag
from .codec import DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS, DEFAULT_MAX_SIZE, HEADER, decode, encode
from .codepages import CODE_PAGES
from .errors import WBXMLError, WBXMLLimitError
from .tree import E, Element, InvalidText
from .xml import from_xml, to_xml

__all__ = [
    "CODE_PAGES", "CodePage", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_ELEMENTS", "DEFAULT_MAX_SIZE", "E", "Element", "HEADER", "InvalidText",
    "Tag", "VERSIONS", "WBXMLError", "WBXMLLimitError", "decode", "encode", "from_xml", "to_xml",
]
