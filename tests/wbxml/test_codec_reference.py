"""The codec's fast paths against the plain codec they replaced (tests/wbxml/reference_codec.py).

The decoder reads a leaf holding one value (tag, STR_I or OPAQUE, END) in one step, and the
encoder writes a string leaf's tail in one append.  Whatever the input, the fast codec must give
what the plain one gives: the same tree (explicit ends included), the same bytes, or the same
error class with the same message and offset.  Checked on random valid trees, on the real
captures, on every kind of damaged document test_codec_errors.py makes, and on the edges where a
fast path hands over to the general one (a leaf that is the root, strings that run on, values at
the document's end, tight depth and element bounds).
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from easlab.eas.wbxml import E, Element, WBXMLError, decode, encode

from . import reference_codec as ref
from .test_codec_errors import _valid_documents, CAPTURES, SETTINGS, _mutation, _piece, mutate
from .test_codec_properties import trees

H = bytes.fromhex("03016a00")


def _shape(el: Element) -> list:
    return [(e.tag, e.value, e.explicit_end, len(e.children)) for e in el.iter()]


def _outcome(decoder, data: bytes, **bounds):
    try:
        return ("tree", _shape(decoder(data, **bounds)))
    except WBXMLError as exc:
        return (type(exc).__name__, str(exc), exc.offset)


def assert_same_decode(data: bytes, **bounds) -> None:
    assert _outcome(decode, data, **bounds) == _outcome(ref.decode, data, **bounds)


def _encoded(encoder, tree):
    try:
        return ("bytes", encoder(tree))
    except WBXMLError as exc:
        return (type(exc).__name__, str(exc))


@SETTINGS
@given(trees())
def test_encode_and_decode_match_the_reference_on_valid_trees(tree):
    data = encode(tree)
    assert data == ref.encode(tree)
    assert_same_decode(data)
    assert _shape(decode(data)) == _shape(tree)


@SETTINGS
@given(_valid_documents, st.lists(_mutation, min_size=1, max_size=4))
def test_decode_matches_the_reference_on_damaged_documents(data, mutations):
    assert_same_decode(mutate(data, mutations))


@SETTINGS
@given(st.lists(_piece, max_size=40))
def test_decode_matches_the_reference_on_token_soup(pieces):
    assert_same_decode(H + b"".join(pieces))


@SETTINGS
@given(trees(), st.integers(1, 8), st.integers(1, 60))
def test_decode_matches_the_reference_at_tight_bounds(tree, depth, elements):
    assert_same_decode(encode(tree), max_depth=depth, max_elements=elements)


def test_the_captures_decode_alike_and_encode_back():
    for data in CAPTURES:
        assert_same_decode(data)
        assert encode(decode(data)) == data


# Sync(Collections(Collection(...))): page 0 tokens 0x05 Sync, 0x1C Collections, 0x0F Collection,
# 0x0B SyncKey, 0x12 CollectionId; 0x45 etc. with the content bit.
@pytest.mark.parametrize("body", [
    b"\x4b\x03k\x00\x01",                               # the root itself a string leaf: general path
    b"\x45\x4b\x03k\x00\x01\x01",                       # a string leaf inside the root: fast path
    b"\x45\x4b\x03a\x00\x03b\x00\x01\x01",              # two strings run on: one value "ab"
    b"\x45\x4b\x03a\x00\xc3\x01b\x01\x01",              # a string then OPAQUE: refused
    b"\x45\x4b\x03\x00\x01\x01",                        # an empty string
    b"\x45\x4b\x03k\x00",                               # the string at the very end, no END
    b"\x45\x4b\x03k",                                   # unterminated string
    b"\x45\x4b\x03\xff\x00\x01\x01",                    # not UTF-8, END after it
    b"\x45\x4b\x03\xff\x00\x4b\x01\x01",                # not UTF-8, no END after it
    b"\x45\x4b\x03k\x00\x4b\x03j\x00\x01\x01\x01",      # text then an element: refused
    b"\x45\x4b\xc3\x02ab\x01\x01",                      # OPAQUE leaf: fast path
    b"\x45\x4b\xc3\x02ab",                              # OPAQUE at the very end
    b"\x45\x4b\xc3\x05ab",                              # OPAQUE past the end
    b"\x45\x4b\xc3\x81\x00" + b"x" * 128 + b"\x01\x01",  # OPAQUE with a two-byte length
    b"\x45\x4b\xc3\x81",                                # truncated OPAQUE length
    b"\x45\x4b\xc3\x00\x03k\x00\x01\x01",               # empty OPAQUE then a string: refused
    b"\x45\x4b\x01\x01",                                # an explicit empty end
    b"\x45\x4b\x03k\x00\x01\x01\x00",                   # trailing byte
])
def test_decode_matches_the_reference_where_the_fast_path_hands_over(body):
    assert_same_decode(H + body)
    assert_same_decode(H + body, max_depth=1)
    assert_same_decode(H + body, max_elements=1)


def test_a_leaf_string_is_read_whole():
    tree = decode(H + b"\x45\x4b\x03k\xc3\xa9y\x00\x01\x4b\x03\x00\x01\x01")
    assert [(c.tag, c.value) for c in tree.children] == [("AirSync:SyncKey", "ké" + "y"), ("AirSync:SyncKey", "")]
    assert decode(H + b"\x45\x4b\xc3\x02\x00\x01\x01\x01").children[0].value == b"\x00\x01"


@pytest.mark.parametrize("tree", [
    E("AirSync:Sync", E("AirSync:SyncKey", "a\x00b")),
    E("AirSync:Sync", E("AirSync:SyncKey", "\ud800")),
    E("AirSync:Sync", E("AirSync:SyncKey", "\ud800\x00")),
    E("AirSync:Sync", Element("AirSync:SyncKey", [E("AirSync:Status", 1)], "x")),
    E("AirSync:Sync", Element("AirSync:SyncKey", value=3)),  # type: ignore[arg-type]
    E("AirSync:Sync", E("Nowhere:Tag")),
    E("AirSync:Sync", Element("AirSync:SyncKey", value=bytearray(b"ab"))),  # type: ignore[arg-type]
    E("AirSync:Sync", E("AirSync:SyncKey", b"x" * 300)),
])
def test_encode_matches_the_reference_on_odd_trees(tree):
    assert _encoded(encode, tree) == _encoded(ref.encode, tree)


# -- a long value is written in pieces (an ItemOperations answer's megabytes of base64) --------------
def _long_values_tree(text: str, blob: bytes) -> Element:
    io = "ItemOperations"
    return E(f"{io}:ItemOperations", E(f"{io}:Status", "1"), E(f"{io}:Response", E(f"{io}:Fetch",
             E(f"{io}:Properties", E(f"{io}:Data", text)), E("AirSyncBase:FileReference", "1:1:0")),
             E(f"{io}:Fetch", E(f"{io}:Data", blob))))


@pytest.mark.parametrize("length", [65_536, 65_537, 131_072, 200_001])
def test_a_long_value_is_written_in_pieces_with_the_plain_codecs_bytes(length):
    from easlab.eas.wbxml.codec import PIECE_SIZE, VALUE_SLICE, encode_pieces

    text = ("é" + "abcdefghij" * (length // 10 + 1))[:length]  # two UTF-8 bytes for one character
    blob = bytes(range(256)) * (length // 256) + bytes(length % 256)
    tree = _long_values_tree(text, blob)
    pieces = encode_pieces(tree)
    assert b"".join(pieces) == encode(tree) == ref.encode(tree)
    if length <= VALUE_SLICE:
        # Written inline; the document's bytes are cut after each (past PIECE_SIZE), not sliced.
        assert len(pieces) == 3 and all(len(p) <= PIECE_SIZE + VALUE_SLICE + 16 for p in pieces)
        return
    assert len(pieces) == 4 + -(-length // VALUE_SLICE)  # before, the text's slices, between, the blob, after
    assert [p is blob for p in pieces].count(True) == 1  # OPAQUE bytes handed on as they are, not copied
    assert max(len(p) for p in pieces if p is not blob) == VALUE_SLICE + 1  # the slice with the é


@pytest.mark.parametrize("bad, message", [("\x00", "string contains NUL"), ("\ud800", "not encodable as UTF-8")])
def test_a_long_value_is_refused_as_a_short_one_is(bad, message):
    for text in ("x" * 100 + bad, "x" * 150_000 + bad + "x" * 10):
        with pytest.raises(WBXMLError, match=message):
            encode(_long_values_tree(text, b""))
