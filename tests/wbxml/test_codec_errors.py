"""What the decoder does with bad input.

`decode` promises that whatever the bytes, it returns an Element or raises WBXMLError whose offset
is an int within the document; never another exception, never a hang.  Hypothesis checks that on
random bytes, on token soup behind a valid header, and on mutated valid documents (the real captures
and random encoded trees, with bytes flipped, set, inserted, deleted, truncated).  Then one exact
byte string per refusal pins the exception and the offset it names.
"""
from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from easlab.eas.wbxml import DEFAULT_MAX_DEPTH, E, Element, InvalidText, WBXMLError, WBXMLLimitError, decode, encode

from .test_codec_properties import trees

H = bytes.fromhex("03016a00")  # the only header EAS uses

SETTINGS = settings(
    max_examples=400,
    deadline=timedelta(seconds=1),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WATCHDOG_SECONDS = 5


class Hang(BaseException):
    """Raised by the watchdog; a BaseException so that no `except Exception` in the codec hides it."""


@contextmanager
def watchdog(seconds: float = WATCHDOG_SECONDS):
    """Fail a call that does not return: Hypothesis' deadline only judges calls that finish."""
    def fire(signum, frame):
        raise Hang(f"decode still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_decode(data: bytes) -> Element | WBXMLError:
    """Decode; only an Element or a WBXMLError with a sane offset may come out."""
    with watchdog():
        try:
            result = decode(data)
        except WBXMLError as exc:
            assert type(exc.offset) is int, f"WBXMLError without an int offset: {exc!r}"
            assert 0 <= exc.offset <= len(data), f"offset {exc.offset} outside 0..{len(data)}: {exc}"
            return exc
    assert isinstance(result, Element)
    return result


def _captures() -> list[bytes]:
    base = Path(os.environ["EASLAB_SHARED"]) if os.environ.get("EASLAB_SHARED") else \
        Path(__file__).resolve().parents[3] / "shared"
    root = base / "fixtures" / "captures"
    # test_libwbxml.py fails when the captures are missing; here the encoded random trees remain.
    return [p.read_bytes() for p in sorted(root.rglob("*.wbxml"))] if root.is_dir() else []


CAPTURES = _captures()


# --- fuzzing ---------------------------------------------------------------------------------------
@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check_decode(data)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_after_header(body):
    check_decode(H + body)


# Token soup: pieces that look like WBXML (tags with and without content/attribute bits, switches to
# known and unknown pages, strings, OPAQUE with right and wrong lengths, END, other globals), so that
# the decoder is driven deep into its states instead of stopping at the first byte.
_piece = st.one_of(
    st.integers(0x05, 0x3F).map(lambda t: bytes((t,))),
    st.integers(0x05, 0x3F).map(lambda t: bytes((t | 0x40,))),
    st.integers(0x00, 0xFF).map(lambda b: bytes((b,))),
    st.integers(0, 30).map(lambda p: bytes((0x00, p))),
    st.just(b"\x01"),
    st.binary(max_size=8).map(lambda s: b"\x03" + s.replace(b"\x00", b"") + b"\x00"),
    st.binary(max_size=8).map(lambda s: b"\x03" + s),
    st.tuples(st.integers(0, 300), st.binary(max_size=8)).map(
        lambda t: b"\xc3" + (bytes((0x80 | (t[0] >> 7), t[0] & 0x7F)) if t[0] > 127 else bytes((t[0],))) + t[1]),
)


@SETTINGS
@given(st.lists(_piece, max_size=40))
def test_token_soup(pieces):
    check_decode(H + b"".join(pieces))


_mutation = st.tuples(
    st.sampled_from(["flip", "set", "insert", "delete", "truncate"]),
    st.integers(min_value=0, max_value=1 << 20),
    st.integers(min_value=0, max_value=255),
)


def mutate(data: bytes, mutations) -> bytes:
    buf = bytearray(data)
    for kind, where, byte in mutations:
        pos = where % (len(buf) + 1)
        if kind == "insert":
            buf.insert(pos, byte)
        elif kind == "truncate":
            del buf[pos:]
        elif pos < len(buf):
            if kind == "flip":
                buf[pos] ^= byte or 0x80
            elif kind == "set":
                buf[pos] = byte
            else:
                del buf[pos]
    return bytes(buf)


_valid_documents = (st.one_of(st.sampled_from(CAPTURES), trees().map(encode)) if CAPTURES
                    else trees().map(encode))


@SETTINGS
@given(_valid_documents, st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_documents(document, mutations):
    check_decode(mutate(document, mutations))


@SETTINGS
@given(trees(), st.data())
def test_every_truncation_of_an_encoded_tree_is_refused(tree, data):
    document = encode(tree)
    cut = data.draw(st.integers(0, len(document) - 1), label="cut")
    outcome = check_decode(document[:cut])
    assert isinstance(outcome, WBXMLError), f"a prefix of {len(document)} bytes cut at {cut} decoded"


def test_every_truncation_of_the_captures_is_refused():
    for document in CAPTURES:
        # Every cut of the small ones; of the large ones the first and last 512 and every 37th.
        cuts = range(len(document)) if len(document) <= 2048 else sorted(
            {*range(512), *range(len(document) - 512, len(document)), *range(0, len(document), 37)})
        for cut in cuts:
            outcome = check_decode(document[:cut])
            assert isinstance(outcome, WBXMLError), f"capture prefix of {cut}/{len(document)} bytes decoded"


# --- each refusal, exactly -------------------------------------------------------------------------
def _nested(depth: int) -> bytes:
    # Sync, then AirSync:Collections nested `depth - 1` times inside it.
    return H + b"\x45" + b"\x5c" * (depth - 1) + b"\x01" * depth


REFUSALS = [
    # truncated input
    ("empty", b"", 0),
    ("header-cut-after-version", b"\x03", 1),
    ("header-cut-before-charset", b"\x03\x01", 2),
    ("header-cut-inside-charset", b"\x03\x01\xea", 2),
    ("header-only", H, 4),
    ("root-never-closed", H + b"\x45", 5),
    ("child-closed-root-not", H + b"\x45\x4b\x03a\x00\x01", 10),
    ("unterminated-inline-string", H + b"\x45\x4b\x03ab", 6),
    ("opaque-runs-past-end", H + b"\x45\x4b\xc3\x05ab", 6),
    ("opaque-length-missing", H + b"\x45\x4b\xc3", 7),
    ("opaque-length-cut", H + b"\x45\x4b\xc3\x81", 7),
    ("switch-page-cut", H + b"\x45\x00", 5),
    # header fields EAS never varies
    ("wbxml-version-1.2", b"\x02\x01\x6a\x00\x05", 0),
    ("public-id-not-unknown", b"\x03\x02\x6a\x00\x05", 1),
    ("charset-not-utf8", b"\x03\x01\x04\x00\x05", 2),
    # unknown code page
    ("code-page-26", H + b"\x45\x00\x1a\x05\x01\x01", 6),
    ("code-page-255-on-root", H + b"\x00\xff\x05", 5),
    # unknown token
    ("airsync-0x2A", H + b"\x45\x2a\x01", 5),
    ("airsync-0x3F-with-content", H + b"\x45\x7f\x03a\x00\x01\x01", 5),
    ("find-0x0F", H + b"\x45\x00\x19\x0f\x01", 7),
    # malformed or overlong multi-byte integers
    ("opaque-length-6-bytes", H + b"\x45\x4b\xc3\x80\x80\x80\x80\x80\x00\x01\x01", 7),
    ("opaque-length-2**32", H + b"\x45\x4b\xc3\x90\x80\x80\x80\x00\x01\x01", 7),
    ("opaque-length-2**32-1-past-end", H + b"\x45\x4b\xc3\x8f\xff\xff\xff\x7f\x01\x01", 6),
    ("public-id-6-bytes", b"\x03\x80\x80\x80\x80\x80\x01\x6a\x00\x05", 1),
    ("string-table-length-2**32", b"\x03\x01\x6a\x90\x80\x80\x80\x00\x05", 3),
    # attributes
    ("attribute-bit-on-root", H + b"\x85\x01", 4),
    ("attribute-and-content-bits-on-root", H + b"\xc5\x01\x01", 4),
    ("attribute-bits-on-child", H + b"\x45\xcb\x01\x01", 5),
    # string table
    ("string-table-present", b"\x03\x01\x6a\x04abc\x00\x45\x01", 3),
    ("str-t-reference", H + b"\x45\x4b\x83\x00\x01\x01", 6),
    # other global tokens EAS never uses
    ("entity", H + b"\x45\x4b\x02\x41\x01\x01", 6),
    ("literal", H + b"\x45\x04\x00\x01", 5),
    ("ext-i-0", H + b"\x45\x4b\x40a\x00\x01\x01", 6),
    ("pi", H + b"\x45\x43\x01\x01", 5),
    ("ext-t-0", H + b"\x45\x4b\x80\x00\x01\x01", 6),
    ("ext-0", H + b"\x45\x4b\xc0\x01\x01", 6),
    ("literal-ac", H + b"\x45\xc4\x00\x01\x01", 5),
    # trailing bytes after the root
    ("end-after-bare-root", H + b"\x05\x01", 5),
    ("byte-after-closed-root", H + b"\x45\x01\x00", 6),
    # nesting
    ("deeper-than-max-depth-3", H + b"\x45\x5c\x4f\x56\x01\x01\x01\x01", 7),
    (f"deeper-than-default-{DEFAULT_MAX_DEPTH}", _nested(DEFAULT_MAX_DEPTH + 1), 4 + DEFAULT_MAX_DEPTH),
    # invalid UTF-8 in inline strings
    ("utf8-stray-0xff", H + b"\x45\x4b\x03a\xff\x00\x01\x01", 8),
    ("utf8-overlong-nul", H + b"\x45\x4b\x03\xc0\x80\x00\x01\x01", 7),
    ("utf8-encoded-surrogate", H + b"\x45\x4b\x03\xed\xa0\x80\x00\x01\x01", 7),
    ("utf8-cut-sequence", H + b"\x45\x4b\x03a\xe2\x82\x00\x01\x01", 8),
    # text and elements mixed
    ("element-after-text", H + b"\x45\x4b\x03a\x00\x0e\x01\x01", 9),
    ("text-after-element", H + b"\x45\x4b\x0e\x03a\x00\x01\x01", 7),
    ("opaque-after-element", H + b"\x45\x4b\x0e\xc3\x01a\x01\x01", 7),
    ("element-after-opaque", H + b"\x45\x4b\xc3\x01a\x0e\x01\x01", 9),
    ("opaque-after-inline-string", H + b"\x45\x4b\x03a\x00\xc3\x01b\x01\x01", 9),
    ("text-outside-root", H + b"\x03a\x00", 4),
    ("opaque-outside-root", H + b"\xc3\x00", 4),
    # a second root
    ("second-root-after-bare-root", H + b"\x05\x05", 5),
    ("second-root-after-closed-root", H + b"\x45\x01\x05", 6),
    ("second-root-with-content", H + b"\x45\x01\x45\x01", 6),
    # END without an open element
    ("end-before-root", H + b"\x01", 4),
]

_MAX_DEPTH_ARGS = {"deeper-than-max-depth-3": {"max_depth": 3}}


@pytest.mark.parametrize("data,offset", [pytest.param(d, o, id=i) for i, d, o in REFUSALS])
def test_refusal(data, offset, request):
    kwargs = _MAX_DEPTH_ARGS.get(request.node.callspec.id, {})
    with pytest.raises(WBXMLError) as caught:
        with watchdog():
            decode(data, **kwargs)
    assert type(caught.value) is (WBXMLLimitError if "deeper" in request.node.callspec.id else WBXMLError)
    assert caught.value.offset == offset, f"offset {caught.value.offset}, expected {offset}: {caught.value}"
    assert isinstance(caught.value, ValueError)


def test_document_larger_than_max_size():
    data = encode(E("AirSync:Sync", E("AirSync:SyncKey", "x" * 100)))
    assert decode(data, max_size=len(data)) == decode(data)
    with pytest.raises(WBXMLError) as caught:
        decode(data, max_size=len(data) - 1)
    assert caught.value.offset == len(data) - 1
    with pytest.raises(WBXMLError) as caught:
        decode(b"\x03" * 5000, max_size=4096)
    assert caught.value.offset == 4096


def test_limits_are_inclusive():
    assert decode(H + b"\x45\x5c\x4f\x01\x01\x01", max_depth=3) is not None
    assert len(list(decode(_nested(DEFAULT_MAX_DEPTH)).iter())) == DEFAULT_MAX_DEPTH
    # OPAQUE length of exactly the remaining bytes, written with a redundant leading zero group.
    assert decode(H + b"\x45\x4b\xc3\x80\x02ab\x01\x01") == E("AirSync:Sync", E("AirSync:SyncKey", b"ab"))


def test_offsets_are_within_bounds_for_the_refusal_table():
    for _, data, offset in REFUSALS:
        assert 0 <= offset <= len(data)


def test_encode_refuses_unencodable_text_with_wbxmlerror():
    with pytest.raises(WBXMLError):
        encode(E("AirSync:Sync", E("AirSync:SyncKey", "\ud800")))


@pytest.mark.parametrize("raw", [b"\x00\xff", b"\x00", b"\xff", b"ok\x00", b"\xed\xa0\x80"])
def test_opaque_that_is_not_text_is_refused_when_read_as_text(raw):
    """What the encoder cannot write back as a string (a NUL) or is no string at all (not UTF-8)
    is refused where it is read, naming the element; text sent as OPAQUE still reads."""
    tree = decode(encode(E("AirSync:Sync", E("AirSync:SyncKey", raw), E("AirSync:CollectionId", b"caf\xc3\xa9"))))
    with pytest.raises(InvalidText, match="<AirSync:SyncKey> is not text"):
        tree.text("AirSync:SyncKey")
    with pytest.raises(WBXMLError):
        tree.find("AirSync:SyncKey").as_text()
    assert tree.text("AirSync:CollectionId") == "café"
    assert tree.text("AirSync:Class", "none") == "none"
