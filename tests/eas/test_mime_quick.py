"""parse_message's quick path (eas.mime_scan, a compat32 parse) gives exactly what the full
policy.default parse gives, for every kind of message mail carries."""
from __future__ import annotations

import base64
import itertools
from pathlib import Path

import pytest

from easlab.eas import mime_scan
from easlab.eas.mime import mail_fields, parse_message, parse_message_full

CRLF = "\r\n"


def msg(*headers: str, body: str = "hello\r\n") -> bytes:
    return (CRLF.join(headers) + CRLF + CRLF + body).encode("utf-8", "surrogateescape")


def raw(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


B64_NAME = base64.b64encode("Prüfbericht".encode()).decode()
CORPUS = {
    "plain": msg("From: Alex Example <alex@example.net>", "To: bob@easlab.test", "Subject: hello",
                 "Date: Mon, 01 Jan 2024 10:00:00 +0200", "Message-ID: <a1@example.net>"),
    "quoted names": msg('From: "Doe, John" <john@example.net>', 'To: "A" <a@x.test>, b@x.test, C D <c@x.test>',
                        "Cc: <only@x.test>", "Reply-To: r@x.test", "Subject: Re: Fwd: AW: topic"),
    "rfc2047 subject utf-8": msg("Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "From: a@x.test"),
    "rfc2047 iso-8859-1 name": msg("From: =?iso-8859-1?q?J=F6rg_M=FCller?= <j@x.test>", "To: b@x.test"),
    "rfc2047 koi8-r base64": msg("Subject: =?koi8-r?b?8NLJ18XU?=", "To: =?windows-1251?b?yOLg7Q==?= <i@x.test>"),
    "rfc2047 shift_jis": msg("Subject: =?shift_jis?b?g2WDWINn?=", "From: x@y.test"),
    "rfc2047 in quotes": msg('From: "=?utf-8?q?Zo=C3=AB?=" <z@x.test>', "Subject: a =?utf-8?b?w6k=?= b"),
    "folded headers": msg("Subject: a long\r\n subject over\r\n\tthree lines", "To: a@x.test,\r\n b@x.test,\r\n\t\"C, D\" <c@x.test>",
                          "Message-ID:\r\n <folded@x.test>"),
    "no date": msg("From: a@x.test", "Subject: no date"),
    "broken date": msg("From: a@x.test", "Date: yesterday-ish"),
    "naive date": msg("From: a@x.test", "Date: Mon, 01 Jan 2024 10:00:00 -0000"),
    "two digit year": msg("Date: 1 Jan 99 10:00 GMT"),
    "broken address": msg("From: <<broken", "To: a@, @b, ;;", "Cc: undisclosed-recipients:;"),
    "group": msg("To: friends: a@x.test, b@x.test;, c@x.test"),
    "comments": msg("From: a@x.test (Alex Example)", "Subject: (not a comment)"),
    "8-bit headers": msg("Subject: Grüße direkt", "From: Jörg <j@x.test>", "To: b@x.test"),
    "latin-1 bytes": raw("From: J\xf6rg <j@x.test>\nSubject: caf\xe9\nContent-Type: text/plain; charset=iso-8859-1\n\ncaf\xe9\n"),
    "importance": msg("Importance: High", "X-Priority: 5"),
    "x-priority": msg("X-Priority: 2 (High)"),
    "nul": msg("Subject: a\x00b", "From: a@x.test", body="text\x00here\r\n"),
    "empty": b"\r\n",
    "body only": b"no headers at all\r\n",
    "qp body": msg("Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: quoted-printable",
                   body="Gr=C3=BC=C3=9Fe=\r\n and more=3D\r\n"),
    "base64 body": msg("Content-Type: text/plain; charset=\"utf-8\"", "Content-Transfer-Encoding: base64",
                       body=base64.encodebytes("Grüße\n".encode()).decode()),
    "unknown charset": msg("Content-Type: text/plain; charset=x-unknown", body="abc\r\n"),
    "html only": msg("Content-Type: text/html; charset=utf-8", body="<p>Hi<br>there &amp; you</p>\r\n"),
    "smime signed": msg('Content-Type: multipart/signed; protocol="application/pkcs7-signature"; boundary=b',
                        body="--b\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--b\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\n"
                             "Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n"),
    "smime enveloped": msg("Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m",
                           "Content-Transfer-Encoding: base64", body="AAECAw==\r\n"),
    "alternative": msg("Content-Type: multipart/alternative; boundary=\"alt\"", "Subject: alt",
                       body="--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain\r\n--alt\r\n"
                            "Content-Type: text/html; charset=utf-8\r\n\r\n<b>html</b>\r\n--alt--\r\n"),
    "mixed with attachments": msg(
        "Content-Type: multipart/mixed; boundary=mix", "Subject: files",
        body="--mix\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n--alt\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
             "--alt\r\nContent-Type: text/html\r\n\r\n<p>body</p>\r\n--alt--\r\n"
             "--mix\r\nContent-Type: application/pdf; name=\"report.pdf\"\r\nContent-Disposition: attachment; filename=\"report.pdf\"\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
             "--mix\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\nContent-ID: <img1@x.test>\r\n"
             "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
             "--mix\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment\r\n\r\nnotes\r\n--mix--\r\n"),
    "rfc2231 filename": msg(
        "Content-Type: multipart/mixed; boundary=m",
        body="--m\r\nContent-Type: text/plain\r\n\r\nx\r\n--m\r\nContent-Type: application/octet-stream\r\n"
             "Content-Disposition: attachment; filename*=UTF-8''Pr%C3%BCfbericht%202024.pdf\r\n\r\ndata\r\n"
             "--m\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment;\r\n filename*0*=UTF-8''a%C3%A9;\r\n filename*1=b.txt\r\n\r\nd\r\n--m--\r\n"),
    "rfc2047 filename": msg(
        "Content-Type: multipart/mixed; boundary=m",
        body=f"--m\r\nContent-Type: text/plain\r\n\r\nx\r\n--m\r\nContent-Type: application/pdf; name=\"=?utf-8?b?{B64_NAME}?=.pdf\"\r\n"
             f"Content-Disposition: attachment; filename=\"=?utf-8?b?{B64_NAME}?=.pdf\"\r\n\r\nd\r\n--m--\r\n"),
    "message/rfc822": msg(
        "Content-Type: multipart/mixed; boundary=m", "Subject: fwd",
        body="--m\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--m\r\nContent-Type: message/rfc822\r\n\r\n"
             "From: inner@x.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner body\r\n"
             "--i\r\nContent-Type: application/zip; name=a.zip\r\n\r\nPK\r\n--i--\r\n--m--\r\n"),
    "missing boundary": msg("Content-Type: multipart/mixed", body="no parts here\r\n"),
    "unterminated multipart": msg("Content-Type: multipart/mixed; boundary=x", body="--x\r\nContent-Type: text/plain\r\n\r\nabc\r\n"),
    "calendar": msg("Content-Type: text/calendar; method=REQUEST; charset=utf-8", body="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
    "uppercase types": msg("CONTENT-TYPE: TEXT/PLAIN; CHARSET=UTF-8", "SUBJECT: Upper", body="x\r\n"),
    "content-type comment": msg("Content-Type: text/plain (a comment); charset=utf-8", body="x\r\n"),
    "bad content-type": msg("Content-Type: textplain", body="x\r\n"),
    "duplicate subject": msg("Subject: first", "Subject: second"),
    "trailing space": msg("Subject: spaced   ", "Importance:  low ", "Message-ID:  <s@x.test>  "),
    "header without colon": msg("From: a@x.test", "Garbage header line", "Subject: after"),
    "lf only": b"From: a@x.test\nSubject: lf\nContent-Type: text/plain; charset=utf-8\n\nline\n",
    "digest": msg("Content-Type: multipart/digest; boundary=d",
                  body="--d\r\n\r\nFrom: in@x.test\r\nSubject: digest part\r\n\r\nbody\r\n--d--\r\n"),
}


def _fixture_messages() -> dict[str, bytes]:
    root = Path("/work/shared/fixtures")
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*.eml"))} if root.is_dir() else {}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_quick_parse_equals_full_parse(name):
    data = CORPUS[name]
    assert parse_message(data) == parse_message_full(data)
    assert mail_fields(parse_message(data)) == mail_fields(parse_message_full(data))


def test_fixture_messages_parse_alike():
    for name, data in _fixture_messages().items():
        assert parse_message(data) == parse_message_full(data), name


QUICK = ["plain", "quoted names", "rfc2047 subject utf-8", "folded headers", "no date", "8-bit headers", "qp body",
         "base64 body", "alternative", "mixed with attachments", "smime signed", "importance", "broken address"]


@pytest.mark.parametrize("name", QUICK)
def test_common_mail_takes_the_quick_path(name):
    """Encoded words and odd addresses cost one header's full parse, not the message's."""
    mime_scan.parse_compat(CORPUS[name])


@pytest.mark.parametrize("name", ["rfc2231 filename", "rfc2047 filename", "message/rfc822", "content-type comment",
                                  "missing boundary", "digest"])
def test_structures_beyond_the_quick_path_are_parsed_in_full(name):
    with pytest.raises(mime_scan.NotPlain):
        mime_scan.parse_compat(CORPUS[name])


SUBJECTS = ["x", "  lead", "tab\tin", "a=?b", "=?utf-8?q?=C3=A9?= =?utf-8?q?=C3=A9?=", "=?bogus?q?x?=", "=?utf-8?b?!!?=",
            "ünï", "Re: RE:  fw: x", "a\\b \"q\"", "()<>@,;:"]
ADDRESSES = ["a@x.test", "A B <a@x.test>", '"A, B" <a@x.test>', '"A \\"q\\" B" <a@x.test>', "a@x.test (c)",
             "A.B. <a@x.test>", "<a@x.test>", "a@x.test, b@y.test", "no-at-sign", "A <a@x.test", "a@[127.0.0.1]",
             "=?utf-8?q?A=2C_B?= <a@x.test>", "Ä <a@x.test>", "g: a@x.test;", ""]
DATES = ["Mon, 01 Jan 2024 10:00:00 +0000", "1 Jan 2024 10:00 +0530", "Mon, 01 Jan 2024 10:00:00 EST", "2024-01-01",
         "Tue, 31 Dec 1999 23:59:60 -0000", "Mon, 32 Jan 2024 10:00:00 +0000", ""]
MSG_IDS = ["<a@x.test>", "a@x.test", "<a b@x.test>", "<a@x.test> <b@x.test>", "  <c@x.test>", "<>"]


@pytest.mark.parametrize("subject,address", list(itertools.product(SUBJECTS, ADDRESSES))[::3])
def test_header_variants_parse_alike(subject, address):
    data = msg(f"Subject: {subject}", f"From: {address}", f"To: {address}, z@z.test", f"Cc: {address}",
               f"Reply-To: {address}")
    assert parse_message(data) == parse_message_full(data)


@pytest.mark.parametrize("date,msg_id", list(itertools.product(DATES, MSG_IDS)))
def test_date_and_message_id_variants_parse_alike(date, msg_id):
    data = msg(f"Date: {date}", f"Message-ID: {msg_id}", "Subject: d")
    assert parse_message(data) == parse_message_full(data)


# -- the single-part build, the address lists and the Date read without the stdlib's parsers ------
def _compat(data: bytes):
    from email import policy
    from email.parser import BytesParser

    return BytesParser(policy=policy.compat32).parsebytes(data)


ODD_HEADER_BLOCKS = {
    "continuation first": b" folded\r\nSubject: x\r\n\r\nbody\r\n",
    "bare cr": b"Subject: a\rb\r\n\r\nbody\r\n",
    "envelope line": b"From a@x.test Mon Jan  1 00:00:00 2024\r\nSubject: x\r\n\r\nbody\r\n",
    "from line later": b"Subject: x\r\nFrom a@x.test\r\n\r\nbody\r\n",
    "no blank line": b"Subject: x\r\nTo: a@x.test\r\n",
    "empty name": b":x\r\nSubject: y\r\n\r\nbody\r\n",
    "space in name": b"X Bad: 1\r\nSubject: y\r\n\r\nbody\r\n",
    "whitespace line": b"Subject: x\r\n \r\n\r\nbody\r\n",
    "empty value folded": b"Subject:\r\n \r\n\tcontinued\r\nTo: a@x.test\r\n\r\n",
    "mixed line ends": b"Subject: x\nTo: a@x.test\r\n\nbody\r\nmore\n",
    "blank after lf": b"Subject: x\n\r\nbody",
    "body with blank lines": b"Subject: x\r\n\r\n\r\nbody\r\n\r\n",
    "nul and tab": b"Subject:\tx\x00y \t\r\nX-A:b\r\n\r\nz",
    "multipart": b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
    "message": b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nx\r\n",
    "8-bit": "Subject: Grüße\r\nFrom: Jörg <j@x.test>\r\n\r\nbödy\r\n".encode(),
}


@pytest.mark.parametrize("name", sorted(CORPUS) + sorted(ODD_HEADER_BLOCKS))
def test_single_part_build_is_compat32s_parse(name):
    """Built without the feed parser, a one-part message is the very Message compat32 parses
    (every attribute); what it could read otherwise is left to the feed parser."""
    data = CORPUS.get(name) or ODD_HEADER_BLOCKS[name]
    built = mime_scan._single_part(data)
    parsed = _compat(data)
    assert parse_message(data) == parse_message_full(data)
    if built is None:
        return  # the feed parser's (test_single_part_build_covers_common_mail says which)
    assert not parsed.is_multipart() and not parsed.defects
    assert vars(built) == vars(parsed)
    assert built.as_bytes() == parsed.as_bytes()


def test_single_part_build_covers_common_mail():
    for name in ("plain", "quoted names", "folded headers", "8-bit headers", "latin-1 bytes", "qp body", "base64 body",
                 "html only", "smime enveloped", "uppercase types", "lf only", "trailing space", "nul"):
        assert mime_scan._single_part(CORPUS[name]) is not None, name
    for name in ("whitespace line", "empty value folded", "mixed line ends", "blank after lf", "body with blank lines",
                 "nul and tab", "8-bit"):
        assert mime_scan._single_part(ODD_HEADER_BLOCKS[name]) is not None, name
    for name in ("continuation first", "bare cr", "envelope line", "from line later", "no blank line", "empty name",
                 "space in name", "multipart", "message"):
        assert mime_scan._single_part(ODD_HEADER_BLOCKS[name]) is None, name


ADDRESS_LISTS = [
    "", "a@x.test", "A B <a@x.test>", "A   B\t<a@x.test>", '"Doe, John" <j@x.test>', '""<e@x.test>', '" sp " <s@x.test>',
    "<a@x.test>", "a@x.test, b@y.test", " a@x.test ,b@y.test ", "A.B. <a.b@x.test>", "a@x.test,", "a@x.test,,b@x.test",
    "a@x.test b@x.test", "a@x.test <b@x.test>", "a..b@x.test", ".a@x.test", "a@x..test", "a@-x.test", "a@[127.0.0.1]",
    "A <a@x.test", "A <a@x.test>>", "<a@x.test> B", '"A" B <a@x.test>', "A (c) <a@x.test>", "a@x.test (c)",
    "g: a@x.test;", "no-at-sign", "@x.test", "a@", "A <@route:a@x.test>", "=?utf-8?q?A?= <a@x.test>",
    "A_B-C+D <a+tag@x-y.test>", "x!#$%&'*+/=?^_`{|}~-@x.test", '"q\\"uote" <a@x.test>', "A\t<a@x.test>,\tB <b@x.test>",
    "a @x.test", "a@ x.test", "< a@x.test >", "a@x.test\t", "A, B <a@x.test>", '"A" <a@x.test>, C <c@x.test>, d@x.test',
]


@pytest.mark.parametrize("value", ADDRESS_LISTS)
def test_address_pairs_are_getaddresses(value):
    from email.utils import getaddresses

    assert mime_scan.address_pairs(value) == getaddresses([value])


def test_address_pairs_generated():
    """Every list built from these pieces reads as getaddresses reads it."""
    from email.utils import getaddresses

    pieces = ["a@x.test", "A <a@x.test>", '"B, C" <b@x.test>', " ", ",", "\t", "<", ">", '"', "@", ".", "D.E", "(c)", ";", ":"]
    for combo in itertools.product(pieces, repeat=3):
        value = "".join(combo)
        assert mime_scan.address_pairs(value) == getaddresses([value]), value


@pytest.mark.parametrize("date", DATES + ["Mon, 01 Jan 2024 10:00:00", "01 Jan 2024 10:00:00 +0000 (UTC)", "Fri, 29 Feb 2008 1:2:3 -1130",
                                          "Mon, 01 Jan 0001 00:00:00 +0000", "Mon, 01 Jan 2024 24:00:00 +0000", "  Mon, 01 Jan 2024 10:00:00 +0100  "])
def test_date_read_once_is_the_default_policys(date):
    data = msg(f"Date: {date}", "Subject: d")
    assert mime_scan.date(mime_scan.parse_compat(data)) == parse_message_full(data).date
