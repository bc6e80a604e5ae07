"""Property tests of the WBXML codec on random valid trees (Hypothesis).

* decode(encode(t)) == t, and re-encoding the decoded tree gives the same bytes (explicit_end kept);
* to_xml/from_xml give back the tree, for every value XML 1.0 can carry;
* the encoder never writes a SWITCH_PAGE to the page already active, nor one that no tag uses.

`trees()` is also used by test_codec_errors.py as a source of valid documents to mutate.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easlab.eas.wbxml import E, Element, WBXMLError, decode, encode, from_xml, to_xml
from easlab.eas.wbxml.tables import ENCODE

SETTINGS = settings(
    max_examples=250,
    deadline=timedelta(seconds=2),
    database=None,  # leave no .hypothesis/ directory behind
    suppress_health_check=[HealthCheck.too_slow],
)

TAGS = sorted(ENCODE)

# WBXML inline strings: any Unicode text except NUL (the terminator) and lone surrogates (not UTF-8).
wbxml_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)

# The XML form must carry every inline string WBXML can: CR, control characters, empty.
xml_text = wbxml_text


def _leaf(tag: str, value: str | bytes | None, explicit_end: bool) -> Element:
    el = Element(tag, value=value)
    el.explicit_end = value is None and explicit_end
    return el


def _node(tag: str, children: list[Element]) -> Element:
    return Element(tag, children)


def trees(text=wbxml_text, max_leaves: int = 40) -> st.SearchStrategy[Element]:
    """Random valid trees: any tag anywhere, leaves with a str, bytes or no value."""
    tags = st.sampled_from(TAGS)
    leaves = st.builds(_leaf, tags, st.one_of(text, st.binary(max_size=64), st.none()), st.booleans())
    return st.recursive(
        leaves,
        lambda kids: st.builds(_node, tags, st.lists(kids, min_size=1, max_size=6)),
        max_leaves=max_leaves,
    )


def _explicit_ends(el: Element) -> list[tuple[str, bool]]:
    return [(e.tag, e.explicit_end) for e in el.iter() if e.value is None and not e.children]


# --- WBXML round trip ------------------------------------------------------------------------------
@SETTINGS
@given(trees())
def test_decode_encode_round_trip(tree):
    data = encode(tree)
    back = decode(data)
    assert back == tree
    assert _explicit_ends(back) == _explicit_ends(tree)
    assert encode(back) == data


@SETTINGS
@given(st.lists(trees(max_leaves=8), min_size=1, max_size=8))
def test_round_trip_under_one_root(children):
    tree = Element("AirSync:Sync", children)
    data = encode(tree)
    assert decode(data) == tree
    assert encode(decode(data)) == data


# --- XML round trip --------------------------------------------------------------------------------
@SETTINGS
@given(trees(text=xml_text), st.sampled_from(["  ", "\t", "", None]))
def test_xml_round_trip(tree, indent):
    assert from_xml(to_xml(tree, indent=indent)) == tree


@SETTINGS
@given(trees(text=xml_text))
def test_xml_then_wbxml_agree(tree):
    assert decode(encode(from_xml(to_xml(tree)))) == tree
    assert encode(from_xml(to_xml(tree))) == encode(tree)  # explicit_end survives too


def test_xml_accepts_libwbxml_namespace_spelling():
    xml = '<Sync xmlns="AirSync:"><Collections><Collection><Data xmlns="AirSyncBase:">x</Data></Collection></Collections></Sync>'
    assert from_xml(xml) == E("AirSync:Sync", E("AirSync:Collections", E("AirSync:Collection", E("AirSyncBase:Data", "x"))))


# Once-found bugs of the XML form (CR, empty strings, control characters), kept as regressions.
def test_xml_keeps_empty_string():
    tree = E("AirSync:Sync", E("AirSync:SyncKey", ""))
    assert from_xml(to_xml(tree)) == tree


def test_xml_keeps_carriage_return():
    tree = E("AirSync:Sync", E("AirSyncBase:Data", "line 1\r\nline 2\r"))
    assert from_xml(to_xml(tree)) == tree


def test_xml_output_is_always_readable():
    tree = E("AirSync:Sync", E("AirSyncBase:Data", "vertical\x0btab"))
    try:
        text = to_xml(tree)
    except WBXMLError:
        return  # refusing up front would be fine too
    assert from_xml(text) == tree


# --- SWITCH_PAGE economy ---------------------------------------------------------------------------
def _page_switches(data: bytes) -> list[tuple[int, int, int]]:
    """Walk an encoded document; return (offset, page before, page after) for each SWITCH_PAGE and
    check that every switch is followed by a tag (a switch no tag uses is waste)."""
    assert data[:4] == b"\x03\x01\x6a\x00"
    switches = []
    page = 0
    pos = 4
    n = len(data)
    while pos < n:
        b = data[pos]
        if b == 0x00:
            switches.append((pos, page, data[pos + 1]))
            page = data[pos + 1]
            pos += 2
            nxt = data[pos]
            assert nxt not in (0x00, 0x01, 0x03, 0xC3), f"SWITCH_PAGE at {pos - 2} is not followed by a tag"
        elif b == 0x01:
            pos += 1
        elif b == 0x03:
            pos = data.index(b"\x00", pos + 1) + 1
        elif b == 0xC3:
            pos += 1
            length = 0
            while True:
                c = data[pos]
                pos += 1
                length = (length << 7) | (c & 0x7F)
                if not c & 0x80:
                    break
            pos += length
        else:
            assert not b & 0x80, f"attribute bit set at {pos}"
            pos += 1
    assert pos == n
    return switches


@SETTINGS
@given(trees())
def test_no_redundant_page_switch(tree):
    data = encode(tree)
    switches = _page_switches(data)
    redundant = [(at, before) for at, before, after in switches if before == after]
    assert not redundant, f"SWITCH_PAGE to the active page at {redundant}"
    # One switch per change of page between consecutive tags in document order, no more.
    pages = [ENCODE[el.tag][0] for el in tree.iter()]
    changes = sum(1 for a, b in zip([0] + pages, pages) if a != b)
    assert len(switches) == changes


def test_page_switch_examples():
    doc = E("AirSync:Sync", E("AirSyncBase:Body", E("AirSyncBase:Type", "2")), E("AirSync:Status", "1"))
    assert encode(doc) == bytes.fromhex("03016a00 45 0011 4a 46 03 3200 01 01 0000 4e 03 3100 01 01")
    # The page is not restored by END: a sibling on the same page needs no switch.
    doc = E("AirSync:Sync", E("AirSyncBase:Body"), E("AirSyncBase:Type"))
    assert encode(doc) == bytes.fromhex("03016a00 45 0011 0a 06 01")
    # A root on another page starts with a switch; a root on page 0 never does.
    assert encode(E("Provision:Provision")) == bytes.fromhex("03016a00 000e 05")
    assert encode(E("AirSync:Sync")) == bytes.fromhex("03016a00 05")
