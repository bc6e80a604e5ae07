"""An element encoded once (codec.encode_once) and written into a larger document as its bytes,
and a large document's bytes cut into pieces below the server's mmap threshold.

A Sync answer's Collection is encoded in the store's transaction (those bytes are kept for a
resent key) and then spliced into the answer: the answer's bytes must be exactly those of the
plain codec, whatever code page is in force around the element and after it.
"""
from __future__ import annotations

import pytest
from hypothesis import given

from easlab.eas.wbxml import E, encode
from easlab.eas.wbxml.codec import PIECE_SIZE, VALUE_SLICE, Encoded, encode_once, encode_pieces

from . import reference_codec as ref
from .test_codec_properties import trees


def _collection(bodies: int, size: int = 5120):
    adds = [E("AirSync:Add", E("AirSync:ServerId", f"1:{n}"), E("AirSync:ApplicationData",
              E("Email:Subject", f"subject {n}"), E("AirSyncBase:Body", E("AirSyncBase:Type", 2),
                                                    E("AirSyncBase:Data", "x" * size))))
            for n in range(bodies)]
    return E("AirSync:Collection", E("AirSync:SyncKey", "2"), E("AirSync:CollectionId", "1"), E("AirSync:Status", 1),
             E("AirSync:MoreAvailable"), E("AirSync:Commands", *adds))


def test_a_collection_encoded_once_is_written_as_its_bytes_with_the_plain_codecs_result():
    one, two = _collection(3), _collection(2)
    plain = E("AirSync:Sync", E("AirSync:Collections", one, two))
    once = encode_once(one)
    spliced = E("AirSync:Sync", E("AirSync:Collections", once, encode_once(two)))
    pieces = encode_pieces(spliced)
    # The second Collection follows one that ended on AirSyncBase's page: a SWITCH_PAGE back.
    assert b"".join(pieces) == encode(spliced) == encode(plain) == ref.encode(plain)
    assert any(piece is once.pieces[0] for piece in pieces)  # its bytes as they were, not encoded again
    assert once == one and isinstance(once, Encoded)  # still the element it was, for whatever reads it


def test_an_encoded_element_as_a_document_of_its_own():
    coll = _collection(2)
    assert b"".join(encode_once(coll).document()) == encode(coll) == ref.encode(coll)
    body = coll.find("AirSync:Commands").children[0].find("AirSync:ApplicationData").find("AirSyncBase:Body")
    assert b"".join(encode_once(body).document()) == ref.encode(body)  # a root off page 0: its SWITCH_PAGE first


@pytest.mark.parametrize("outer", ["AirSync", "Email"])
def test_an_encoded_element_off_page_0_inside_another_page(outer):
    body = E("AirSyncBase:Body", E("AirSyncBase:Type", 2), E("Email:Read", 1))  # ends on Email's page
    tree = E(f"{outer}:ApplicationData" if outer == "AirSync" else "Email:Flag", encode_once(body), E("AirSyncBase:Type", 1),
             E("Email:Read", 0))
    plain = E(tree.tag, body, E("AirSyncBase:Type", 1), E("Email:Read", 0))
    assert encode(tree) == ref.encode(plain)


@given(trees())
def test_any_tree_encoded_once_inside_another_gives_the_plain_bytes(tree):
    plain = E("AirSync:Sync", E("AirSync:Collections", tree, E("AirSync:Status", 1)))
    spliced = E("AirSync:Sync", E("AirSync:Collections", encode_once(tree), E("AirSync:Status", 1)))
    assert encode(spliced) == ref.encode(plain)
    assert b"".join(encode_once(tree).document()) == ref.encode(tree)


def test_a_large_document_is_written_in_pieces_below_the_mmap_threshold():
    """A 512-item Sync page (2.7 MB) joined whole was a fresh mapping faulted in per answer."""
    coll = _collection(512)
    pieces = encode_pieces(E("AirSync:Sync", E("AirSync:Collections", coll)))
    assert len(pieces) > 40
    assert max(len(p) for p in pieces) <= PIECE_SIZE + VALUE_SLICE + 16 < 128 * 1024
    assert b"".join(pieces) == ref.encode(E("AirSync:Sync", E("AirSync:Collections", coll)))
    assert max(len(p) for p in encode_once(coll).pieces) < 128 * 1024
