"""`easlab wbxml`: WBXML to XML and back."""
from __future__ import annotations

import sys

import click


@click.group()
def wbxml() -> None:
    """Convert EAS WBXML to XML and back (like libwbxml's wbxml2xml / xml2wbxml).

    OPAQUE data (MIME, bodies, conversation ids) appears in the XML as base64 inside an element
    marked opaque="base64".
    """


def _read(path: str | None) -> bytes:
    if path in (None, "-"):
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


@wbxml.command("decode")
@click.argument("file", required=False)
def wbxml_decode(file) -> None:
    """Print FILE (or stdin) as XML."""
    from easlab.eas.wbxml import WBXMLError, decode, to_xml

    try:
        click.echo(to_xml(decode(_read(file))), nl=False)
    except WBXMLError as exc:
        raise click.ClickException(str(exc)) from None


@wbxml.command("encode")
@click.argument("file", required=False)
def wbxml_encode(file) -> None:
    """Write FILE (or stdin), XML as `decode` prints it, as WBXML to stdout."""
    from easlab.eas.wbxml import WBXMLError, encode, from_xml

    try:
        data = encode(from_xml(_read(file)))
    except WBXMLError as exc:
        raise click.ClickException(str(exc)) from None
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()
