"""The decoder's bounds (eas/limits.py): a body of many cheap elements, deep nesting or many short
strings is refused, or read in linear time, with memory bounded whatever the body's size; real
documents decode as before."""
from __future__ import annotations

import tracemalloc

import pytest

from easlab.eas.wbxml import DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS, E, WBXMLError, WBXMLLimitError, decode, encode

from .test_codec_errors import CAPTURES, H, watchdog

MB = 1024 * 1024


def bomb(size: int) -> bytes:
    """`size` bytes of empty elements (one byte each: AirSync:SyncKey without content) in a Sync."""
    return H + b"\x45" + b"\x0b" * size + b"\x01"


def test_a_body_of_empty_elements_is_refused_with_bounded_memory():
    data = bomb(2 * MB)  # the old decoder built 2 million elements from it: ~250 MB
    tracemalloc.start()  # which slows allocation tenfold: a longer watchdog
    try:
        with watchdog(60), pytest.raises(WBXMLLimitError) as caught:
            decode(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == f"more than {DEFAULT_MAX_ELEMENTS} elements at byte {5 + DEFAULT_MAX_ELEMENTS - 1}"
    assert isinstance(caught.value, WBXMLError)  # refused like any malformed document
    assert peak < 20 * MB


def test_the_element_bound_is_inclusive():
    assert len(decode(bomb(99), max_elements=100).children) == 99
    with pytest.raises(WBXMLLimitError):
        decode(bomb(100), max_elements=100)


def test_deep_nesting_is_refused_as_a_limit():
    nested = H + b"\x45" + b"\x5c" * DEFAULT_MAX_DEPTH + b"\x01" * (DEFAULT_MAX_DEPTH + 1)
    with pytest.raises(WBXMLLimitError) as caught:
        decode(nested)
    assert str(caught.value) == f"nesting deeper than {DEFAULT_MAX_DEPTH} at byte {4 + DEFAULT_MAX_DEPTH}"


def test_a_document_past_the_size_bound_is_refused_as_a_limit():
    with pytest.raises(WBXMLLimitError):
        decode(bomb(100), max_size=100)


def test_many_short_strings_are_one_value_read_in_linear_time():
    """Consecutive STR_I are one value; the old decoder copied the value for each one, so 600,000
    of them took minutes (quadratic: 1.8e11 bytes copied); linear takes about a second, so the
    watchdog is generous enough for a loaded machine and still far below the quadratic time."""
    pieces = 600_000
    data = H + b"\x45\x4b" + b"\x03a\x00" * pieces + b"\x01\x01"
    with watchdog(60):
        tree = decode(data)
    assert tree == E("AirSync:Sync", E("AirSync:SyncKey", "a" * pieces))
    opaque = H + b"\x45\x4b" + b"\xc3\x01a" * 3 + b"\x01\x01"
    assert decode(opaque).find("AirSync:SyncKey").value == b"aaa"
    with pytest.raises(WBXMLError, match="mixes inline string and OPAQUE"):
        decode(H + b"\x45\x4b\x03a\x00\x03b\x00\xc3\x01c\x01\x01")


def test_the_captures_decode_within_the_bounds_byte_identically():
    assert CAPTURES
    for document in CAPTURES:
        tree = decode(document)
        count = len(list(tree.iter()))
        assert encode(decode(document, max_elements=count)) == document
        with pytest.raises(WBXMLLimitError):
            decode(document, max_elements=count - 1)
