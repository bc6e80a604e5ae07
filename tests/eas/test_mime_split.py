"""eas/mime_split.py: the parse tree of a stored message without the feed parser reading its
bodies, held to what BytesParser(policy=policy.default) gives, and attachment_bytes through it."""
import base64
import email.feedparser
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from easlab.eas import mime, mime_split

BLOB = bytes(range(256)) * 1200  # 300 KB: more than one base64 slice


def _mixed(linesep: str = "\n") -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "alex@example.net", "alice@example.com", "files"
    msg.set_content("see attached")
    msg.add_alternative("<p>see attached</p>", subtype="html")
    msg.add_attachment(BLOB, maintype="application", subtype="octet-stream", filename="big.bin")
    msg.add_attachment("na\u00efve text\n", subtype="plain", filename="notes.txt", cte="quoted-printable")
    msg.add_attachment(b"GIF89a", maintype="image", subtype="gif", filename="dot.gif", disposition="inline", cid="<dot@x>")
    return msg.as_bytes(policy=policy.default.clone(linesep=linesep))


def _single() -> bytes:
    return (b"From: a@example.net\nTo: b@example.com\nSubject: one\nContent-Type: application/pdf; name=x.pdf\n"
            b"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=x.pdf\n\n"
            + base64.encodebytes(BLOB[:5000]))


def _bad_padding() -> bytes:
    return (b"Subject: pad\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b1\n\npreamble\n--b1\n"
            b"Content-Type: text/plain\n\nhello\n--b1\nContent-Type: application/octet-stream\n"
            b"Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=p.bin\n\nQUJD\nRA\n"
            b"--b1--\nepilogue\n")


def _attached_message() -> bytes:
    inner = b"From: x@example.net\nSubject: inner\n\nbody\n"
    return (b"Subject: fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b2\n\n--b2\n"
            b"Content-Type: text/plain\n\nsee below\n--b2\nContent-Type: message/rfc822\n\n" + inner + b"--b2--\n")


def _leaves(msg):
    return [(p.items(), p.get_payload(decode=True)) for p in msg.walk() if not p.is_multipart()]


@pytest.mark.parametrize("data", [_mixed(), _mixed("\r\n"), _single(), _bad_padding()],
                         ids=["mixed", "mixed-crlf", "single", "bad-padding"])
def test_the_split_tree_has_the_parsers_parts(data):
    split = mime_split.split(data)
    full = BytesParser(policy=policy.default).parsebytes(data)
    assert split is not None
    assert [p.get_content_type() for p in split.walk()] == [p.get_content_type() for p in full.walk()]
    assert _leaves(split) == _leaves(full)
    assert [p.get_payload() for p in split.walk() if not p.is_multipart()] == \
        [p.get_payload() for p in full.walk() if not p.is_multipart()]


@pytest.mark.parametrize("data", [
    _attached_message(),
    _mixed().replace(b"see attached\n", b"see\rattached\n", 1),  # a lone CR: the parser breaks the line there
    _mixed().rsplit(b"--", 2)[0],  # no close boundary
    b"Subject: x\nContent-Type: multipart/mixed\n\n--b\n\nx\n--b--\n",  # no boundary parameter
], ids=["message-rfc822", "lone-cr", "no-close-boundary", "no-boundary"])
def test_what_only_the_parser_can_read_is_left_to_it(data):
    assert mime_split.split(data) is None


@pytest.mark.parametrize("data", [_mixed(), _mixed("\r\n"), _single(), _bad_padding(), _attached_message()],
                         ids=["mixed", "mixed-crlf", "single", "bad-padding", "message-rfc822"])
def test_attachment_bytes_are_what_the_full_parse_gave(data, monkeypatch):
    count = len(mime.parse_message(data).attachments)
    new = [mime.attachment_bytes(data, i) for i in range(count + 1)]
    monkeypatch.setattr(mime_split, "split", lambda data: None)  # the code before eas/mime_split.py
    old = [mime.attachment_bytes(data, i) for i in range(count + 1)]
    assert new == old and new[-1] is None and all(found is not None for found in new[:-1])


def test_an_attachment_is_read_without_the_feed_parser_reading_its_content(monkeypatch):
    fed = []
    real = email.feedparser.FeedParser.feed
    monkeypatch.setattr(email.feedparser.FeedParser, "feed", lambda self, data: fed.append(len(data)) or real(self, data))
    meta, data = mime.attachment_bytes(_mixed(), 0)
    assert (meta.name, meta.size, data) == ("big.bin", len(BLOB), BLOB)
    assert sum(fed) < 2000  # header blocks only, not the 400 KB of base64


def test_base64_is_decoded_in_slices_once(monkeypatch):
    import binascii

    slices = []
    real = binascii.a2b_base64
    monkeypatch.setattr(mime_split.binascii, "a2b_base64", lambda s, **kw: slices.append(len(s)) or real(s, **kw))
    part = [p for p in mime_split.split(_mixed()).walk() if p.get_filename() == "big.bin"][0]
    assert mime.decoded_payload(part) == BLOB and mime.decoded_payload(part) == BLOB
    assert len(slices) == 2 and max(slices) <= mime_split._SLICE + 100  # two slices, decoded once


def _base64_leaves(data: bytes):
    return [p for p in mime_split.split(data).walk()
            if not p.is_multipart() and p.get("content-transfer-encoding", "").lower() == "base64"]


@pytest.mark.parametrize("data", [_mixed(), _mixed("\r\n"), _single()], ids=["mixed", "mixed-crlf", "single"])
def test_canonical_base64_is_kept_as_b64encode_would_write_it(data):
    parts = _base64_leaves(data)
    assert parts
    for part in parts:
        size = mime_split.decoded_size(part)  # before decoding: from the text's length
        text = mime_split.base64_text(part)
        content = part.get_payload(decode=True)
        assert text == base64.b64encode(content).decode("ascii") and size == len(content)


@pytest.mark.parametrize("text,content", [(b"QUJ=", b"AB"), (b"QR==", b"A")], ids=["one-pad", "two-pads"])
def test_base64_with_bits_past_its_data_is_decoded_not_carried(text, content):
    data = (b"Subject: x\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
            b"QUJD\n" + text + b"\n")
    [part] = _base64_leaves(data)
    full = BytesParser(policy=policy.default).parsebytes(data)
    assert mime_split.base64_text(part) is None  # encoding again would write another text
    assert part.get_payload(decode=True) == full.get_payload(decode=True) == b"ABC" + content
    assert mime_split.decoded_size(part) == 3 + len(content)


def test_a_lone_cr_is_found_at_a_slice_edge_and_a_crlf_across_one_is_not():
    edge = mime_split._SLICE
    crlf_across = b"x" * (edge - 1) + b"\r\n" + b"y" * 10
    lone_at_end = b"x" * (edge - 1) + b"\ry" + b"z" * 10
    assert not mime_split._lone_cr(crlf_across)
    assert mime_split._lone_cr(lone_at_end)
    assert mime_split._lone_cr(b"x" * (3 * edge) + b"\r")


def test_the_split_trees_text_is_not_encoded_again_to_be_read(monkeypatch):
    """Reading a leaf's text (as walks over the parts do, several times per attachment read)
    costs no check that encodes it whole: the split tree's text is ASCII, and says so at once."""
    import email.utils

    tree = mime_split.split(_mixed("\r\n"))
    checked = []
    real = email.utils._has_surrogates
    monkeypatch.setattr(email.utils, "_has_surrogates", lambda s: checked.append(len(s)) or real(s))
    texts = [p.get_payload() for p in tree.walk() if not p.is_multipart()]
    assert [n for n in checked if n > 100_000] == []
    assert texts == [p.get_payload() for p in BytesParser(policy=policy.default).parsebytes(_mixed("\r\n")).walk()
                     if not p.is_multipart()]
    assert [n for n in checked if n > 100_000]  # the parser's tree: its attachment's 400 KB of base64, whole
