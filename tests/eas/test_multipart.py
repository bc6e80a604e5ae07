"""The multipart ItemOperations body (MS-ASCMD 2.2.1.10.1.1)."""
import struct

import pytest

from easlab.eas import multipart


def test_layout_matches_the_specification_example():
    # MS-ASCMD 4.10.5.2: a 500-byte WBXML part and a 19-byte body give offsets 20 and 520.
    wbxml, body = b"w" * 500, b"This is the body.\r\n"
    packed = multipart.pack([wbxml, body])
    assert packed[:20] == struct.pack("<iiiii", 2, 20, 500, 520, 19)
    assert packed[20:520] == wbxml and packed[520:] == body
    assert multipart.unpack(packed) == [wbxml, body]


def test_empty_parts_and_a_single_part():
    assert multipart.unpack(multipart.pack([b"x"])) == [b"x"]
    assert multipart.unpack(multipart.pack([b"x", b"", b"yz"])) == [b"x", b"", b"yz"]


@pytest.mark.parametrize("body", [b"", b"\x01\x00", struct.pack("<i", 0), struct.pack("<iii", 1, 12, 5) + b"abc",
                                  struct.pack("<iii", 1, -1, 1) + b"a"])
def test_bodies_that_do_not_hold_together_are_refused(body):
    with pytest.raises(ValueError):
        multipart.unpack(body)
