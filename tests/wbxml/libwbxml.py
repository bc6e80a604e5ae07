"""A small ctypes binding to Debian's libwbxml 0.11.8 (package libwbxml2-1), used as a reference.

Two things are exposed:

* libwbxml's own ActiveSync tag and namespace tables, read straight out of the shared library's
  data (``wbxml_tables_get_table(WBXML_LANG_ACTIVESYNC)``), so that the tests compare our code
  pages with the tokens libwbxml really uses rather than with a hand-copied list;
* in-process ``wbxml2xml``/``xml2wbxml`` conversions (``wbxml_conv_*_withlen``), which the
  benchmark times against our codec.

The tests also drive the command-line tools (``wbxml2xml``/``xml2wbxml`` from libwbxml2-utils);
`require_tools` finds them.  When the library or a tool is missing, `LibwbxmlMissing` is raised with
a message saying what to install: the tests turn it into a failure, never a skip, because a
reference test that quietly stops running proves nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import shutil
from dataclasses import dataclass

SONAME = "libwbxml2.so.1"
INSTALL_HINT = "install with: apt-get install libwbxml2-utils (which brings libwbxml2-1)"

# From wbxml_conv.h / wbxml_errors.h of libwbxml 0.11.8.
WBXML_LANG_ACTIVESYNC = 2402
WBXML_CHARSET_UTF_8 = 106
WBXML_VERSION_13 = 0x03
WBXML_GEN_XML_COMPACT = 0
WBXML_OK = 0


class LibwbxmlMissing(RuntimeError):
    """libwbxml (the shared library or one of its command-line tools) is not installed."""


class LibwbxmlError(RuntimeError):
    """A libwbxml conversion returned an error code."""

    def __init__(self, func: str, code: int, message: str):
        self.code = code
        super().__init__(f"{func} failed with libwbxml error {code}: {message}")


# --- C structures ------------------------------------------------------------------------------
# wbxml_tables.h (not shipped in -dev, so the layout was checked empirically against the data:
# the names read back are sane, page 0 token 0x05 is "Sync", namespaces are "AirSync:" ...):
#   typedef struct { const WB_TINY *xmlName; WB_UTINY wbxmlCodePage; WB_UTINY wbxmlToken; } WBXMLTagEntry;
#   typedef struct { const WB_TINY *xmlNameSpace; WB_UTINY wbxmlCodePage; } WBXMLNameSpaceEntry;
#   typedef struct { WBXMLLanguage langID; const WBXMLPublicIDEntry *publicID;
#                    const WBXMLTagEntry *tagTable; const WBXMLNameSpaceEntry *nsTable;
#                    const WBXMLAttrEntry *attrTable; const WBXMLAttrValueEntry *attrValueTable;
#                    const WBXMLExtValueEntry *extValueTable; } WBXMLLangEntry;
class _TagEntry(ctypes.Structure):
    _fields_ = [("xmlName", ctypes.c_char_p), ("wbxmlCodePage", ctypes.c_ubyte), ("wbxmlToken", ctypes.c_ubyte)]


class _NameSpaceEntry(ctypes.Structure):
    _fields_ = [("xmlNameSpace", ctypes.c_char_p), ("wbxmlCodePage", ctypes.c_ubyte)]


class _LangEntry(ctypes.Structure):
    _fields_ = [
        ("langID", ctypes.c_int),
        ("publicID", ctypes.c_void_p),
        ("tagTable", ctypes.POINTER(_TagEntry)),
        ("nsTable", ctypes.POINTER(_NameSpaceEntry)),
        ("attrTable", ctypes.c_void_p),
        ("attrValueTable", ctypes.c_void_p),
        ("extValueTable", ctypes.c_void_p),
    ]


# wbxml_conv.h: WB_BOOL and WB_UTINY are unsigned char, the enums are int.
class _GenXMLParams(ctypes.Structure):
    _fields_ = [
        ("gen_type", ctypes.c_int),
        ("lang", ctypes.c_int),
        ("charset", ctypes.c_int),
        ("indent", ctypes.c_ubyte),
        ("keep_ignorable_ws", ctypes.c_ubyte),
    ]


class _GenWBXMLParams(ctypes.Structure):
    _fields_ = [
        ("wbxml_version", ctypes.c_int),
        ("keep_ignorable_ws", ctypes.c_ubyte),
        ("use_strtbl", ctypes.c_ubyte),
        ("produce_anonymous", ctypes.c_ubyte),
    ]


# --- loading -------------------------------------------------------------------------------------
@functools.cache
def library() -> ctypes.CDLL:
    """The loaded libwbxml2 with the prototypes this module uses; LibwbxmlMissing if absent."""
    lib = None
    errors = []
    for name in (SONAME, ctypes.util.find_library("wbxml2")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as exc:
            errors.append(str(exc))
    if lib is None:
        raise LibwbxmlMissing(f"cannot load {SONAME} ({'; '.join(errors) or 'not found'}); {INSTALL_HINT}")

    lib.wbxml_tables_get_table.argtypes = [ctypes.c_int]
    lib.wbxml_tables_get_table.restype = ctypes.POINTER(_LangEntry)
    lib.wbxml_errors_string.argtypes = [ctypes.c_int]
    lib.wbxml_errors_string.restype = ctypes.c_char_p
    lib.wbxml_free.argtypes = [ctypes.c_void_p]
    lib.wbxml_free.restype = None
    out_buf = ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))
    lib.wbxml_conv_wbxml2xml_withlen.argtypes = [
        ctypes.c_char_p, ctypes.c_uint, out_buf, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(_GenXMLParams),
    ]
    lib.wbxml_conv_wbxml2xml_withlen.restype = ctypes.c_int
    lib.wbxml_conv_xml2wbxml_withlen.argtypes = [
        ctypes.c_char_p, ctypes.c_uint, out_buf, ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(_GenWBXMLParams),
    ]
    lib.wbxml_conv_xml2wbxml_withlen.restype = ctypes.c_int
    return lib


def require_tools() -> dict[str, str]:
    """Paths of the wbxml2xml and xml2wbxml programs; LibwbxmlMissing if either is absent."""
    found = {tool: shutil.which(tool) for tool in ("wbxml2xml", "xml2wbxml")}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        raise LibwbxmlMissing(f"{', '.join(missing)} not on PATH; {INSTALL_HINT}")
    return found  # type: ignore[return-value]


# --- the ActiveSync tables ------------------------------------------------------------------------
@dataclass(frozen=True)
class TagEntry:
    page: int
    token: int
    name: str


def _activesync_lang() -> _LangEntry:
    ptr = library().wbxml_tables_get_table(WBXML_LANG_ACTIVESYNC)
    if not ptr:
        raise LibwbxmlMissing(f"{SONAME} was built without the ActiveSync language ({WBXML_LANG_ACTIVESYNC})")
    lang = ptr.contents
    if lang.langID != WBXML_LANG_ACTIVESYNC:
        raise RuntimeError(f"wbxml_tables_get_table returned language {lang.langID}: struct layout mismatch")
    return lang


@functools.cache
def tag_entries() -> tuple[TagEntry, ...]:
    """Every row of libwbxml's ActiveSync tag table, in table order (duplicates included).

    libwbxml 0.11.8 lists Tasks 0x15 Recurrence_DayOfMonth twice and gives Provision 0x10 two names
    (DeviceEncryptionEnabled, then RequireStorageCardEncryption).
    """
    table = _activesync_lang().tagTable
    rows = []
    i = 0
    while table[i].xmlName is not None:
        entry = table[i]
        rows.append(TagEntry(entry.wbxmlCodePage, entry.wbxmlToken, entry.xmlName.decode("ascii")))
        i += 1
        if i > 10_000:
            raise RuntimeError("ActiveSync tag table has no NULL terminator: struct layout mismatch")
    _check_sane(rows)
    return tuple(rows)


def _check_sane(rows: list[TagEntry]) -> None:
    if not rows or rows[0] != TagEntry(0, 0x05, "Sync"):
        raise RuntimeError(f"libwbxml's ActiveSync table does not start with page 0 token 0x05 Sync: {rows[:1]}")
    for row in rows:
        if not (0 <= row.page <= 255 and 0x05 <= row.token <= 0x3F and row.name.replace("-", "_").isidentifier()):
            raise RuntimeError(f"implausible libwbxml tag entry {row}: struct layout mismatch")


@functools.cache
def tags() -> dict[tuple[int, int], str]:
    """{(page, token): name}; where libwbxml has several names for one token, the first listed
    (the one its decoder prints)."""
    out: dict[tuple[int, int], str] = {}
    for row in tag_entries():
        out.setdefault((row.page, row.token), row.name)
    return out


@functools.cache
def tokens_by_name() -> dict[tuple[int, str], int]:
    """{(page, libwbxml name): token}, every name libwbxml knows, for reading its XML back."""
    return {(row.page, row.name): row.token for row in tag_entries()}


@functools.cache
def namespaces() -> dict[int, str]:
    """{page: namespace} as libwbxml writes it, e.g. {0: "AirSync:", 16: "Gal:"}."""
    table = _activesync_lang().nsTable
    out: dict[int, str] = {}
    i = 0
    while table[i].xmlNameSpace is not None:
        out[table[i].wbxmlCodePage] = table[i].xmlNameSpace.decode("ascii")
        i += 1
        if i > 1000:
            raise RuntimeError("ActiveSync namespace table has no NULL terminator: struct layout mismatch")
    if out.get(0) != "AirSync:":
        raise RuntimeError(f"libwbxml's ActiveSync namespace for page 0 is {out.get(0)!r}: struct layout mismatch")
    return out


@functools.cache
def pages_by_namespace() -> dict[str, int]:
    return {ns: page for page, ns in namespaces().items()}


# --- conversions -----------------------------------------------------------------------------------
def _take(lib: ctypes.CDLL, buf: ctypes.POINTER(ctypes.c_ubyte), length: int) -> bytes:
    try:
        return ctypes.string_at(buf, length)
    finally:
        lib.wbxml_free(ctypes.cast(buf, ctypes.c_void_p))


def _error(lib: ctypes.CDLL, func: str, code: int) -> LibwbxmlError:
    message = lib.wbxml_errors_string(code)
    return LibwbxmlError(func, code, message.decode("ascii", "replace") if message else "?")


def wbxml_to_xml(data: bytes) -> bytes:
    """libwbxml's compact XML for an ActiveSync WBXML document (as ``wbxml2xml -l ACTIVESYNC -m 0``)."""
    lib = library()
    params = _GenXMLParams(WBXML_GEN_XML_COMPACT, WBXML_LANG_ACTIVESYNC, WBXML_CHARSET_UTF_8, 0, 0)
    out = ctypes.POINTER(ctypes.c_ubyte)()
    out_len = ctypes.c_uint(0)
    code = lib.wbxml_conv_wbxml2xml_withlen(data, len(data), ctypes.byref(out), ctypes.byref(out_len), ctypes.byref(params))
    if code != WBXML_OK:
        if out:
            lib.wbxml_free(ctypes.cast(out, ctypes.c_void_p))
        raise _error(lib, "wbxml_conv_wbxml2xml_withlen", code)
    return _take(lib, out, out_len.value)


def xml_to_wbxml(xml: bytes) -> bytes:
    """libwbxml's WBXML 1.3 for an ActiveSync XML document, without string table, anonymous
    (as ``xml2wbxml -a -n``).  The document needs libwbxml's DOCTYPE (or a root element libwbxml
    recognises) for the language to be detected."""
    lib = library()
    params = _GenWBXMLParams(WBXML_VERSION_13, 0, 0, 1)
    out = ctypes.POINTER(ctypes.c_ubyte)()
    out_len = ctypes.c_uint(0)
    code = lib.wbxml_conv_xml2wbxml_withlen(xml, len(xml), ctypes.byref(out), ctypes.byref(out_len), ctypes.byref(params))
    if code != WBXML_OK:
        if out:
            lib.wbxml_free(ctypes.cast(out, ctypes.c_void_p))
        raise _error(lib, "wbxml_conv_xml2wbxml_withlen", code)
    return _take(lib, out, out_len.value)


# The DOCTYPE wbxml2xml writes for ActiveSync; xml2wbxml needs it to know the language.
DOCTYPE = '<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" "http://www.microsoft.com/">'
