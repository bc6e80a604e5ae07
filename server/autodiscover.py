"""Autodiscover for mobile devices: POX with the mobilesync schemas (MS-ASCMD 2.2.1.1).

`POST /autodiscover/autodiscover.xml` (any case: phones send /Autodiscover/Autodiscover.xml and
/AutoDiscover/AutoDiscover.xml too) with HTTP Basic authentication and

    <Autodiscover xmlns="…/mobilesync/requestschema/2006"><Request>
      <EMailAddress>alice@easlab.test</EMailAddress>
      <AcceptableResponseSchema>…/mobilesync/responseschema/2006</AcceptableResponseSchema>
    </Request></Autodiscover>

answers, for an address of the organisation, `Response{Culture, User{DisplayName, EMailAddress},
Action{Settings{Server{Type MobileSync, Url, Name}}}}` with the public EAS URL; for a mail user (one
whose directory entry has an external address) `Action{Redirect}` with that address; for an address
no one has `Action{Error{Status 2}}`.  An AcceptableResponseSchema other than mobilesync's is
ErrorCode 601, a request that is well-formed XML but not one Request of this shape ErrorCode 600
(so is a GET, as Exchange answers a browser), both in the generic response schema.  A body that is
not XML is HTTP 400.  The XML is read with expat with every DTD refused, so no entity is ever
declared, let alone expanded or fetched.

Any authenticated user may ask about any address of the organisation (Outlook-style clients look
up shared mailboxes the same way); unauthenticated requests get 401.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

log = logging.getLogger("easlab.autodiscover")

PATH = "/autodiscover/autodiscover.xml"
REQUEST_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/requestschema/2006"
RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
GENERIC_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
CULTURE = "en:us"
MAX_BODY = 64 * 1024
MAX_DEPTH = 16
CONTENT_TYPE = "text/xml; charset=utf-8"

INVALID_REQUEST = 600
PROVIDER_UNAVAILABLE = 601
STATUS_NOT_FOUND = 2


class MalformedXML(ValueError):
    pass


@dataclass
class Node:
    name: str  # local name; namespaces do not matter to what this endpoint reads
    children: list[Node] = field(default_factory=list)
    text: str = ""

    def all(self, name: str) -> list[Node]:
        return [c for c in self.children if c.name == name]

    def child_text(self, name: str) -> str | None:
        found = self.all(name)
        return found[0].text.strip() if found else None


def parse_xml(data: bytes) -> Node:
    """A small element tree of `data`; MalformedXML for anything that is not plain XML."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[Node] = []
    root: list[Node] = []

    def reject(*_args):
        raise MalformedXML("DTDs and entity declarations are not accepted")

    def start(name, _attrs):
        if len(stack) >= MAX_DEPTH:
            raise MalformedXML("nested too deeply")
        node = Node(name.rpartition(" ")[2])
        (stack[-1].children if stack else root).append(node)
        stack.append(node)

    def end(_name):
        stack.pop()

    def text(data):
        if stack:
            stack[-1].text += data

    parser.StartDoctypeDeclHandler = reject
    parser.EntityDeclHandler = reject
    parser.UnparsedEntityDeclHandler = reject
    parser.ExternalEntityRefHandler = reject
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise MalformedXML(str(exc)) from None
    if not root:
        raise MalformedXML("no root element")
    return root[0]


@dataclass(frozen=True)
class MobileRequest:
    email: str
    schema: str


class InvalidRequest(ValueError):
    pass


def parse_request(data: bytes) -> MobileRequest:
    """MalformedXML for non-XML, InvalidRequest for XML that is not one mobilesync Request."""
    root = parse_xml(data)
    if root.name != "Autodiscover":
        raise InvalidRequest(f"root element <{root.name}>")
    requests = root.all("Request")
    if len(requests) != 1:
        raise InvalidRequest(f"{len(requests)} Request elements")
    email = requests[0].child_text("EMailAddress")
    schema = requests[0].child_text("AcceptableResponseSchema")
    if not email or schema is None:
        raise InvalidRequest("EMailAddress and AcceptableResponseSchema are required")
    return MobileRequest(email, schema)


# -- responses ------------------------------------------------------------------------------------

def _el(name: str, *children: str, value: str | None = None, indent: int = 0) -> str:
    pad = "  " * indent
    if value is not None:
        return f"{pad}<{name}>{escape(value)}</{name}>\n"
    return f"{pad}<{name}>\n" + "".join(children) + f"{pad}</{name}>\n"


def _document(response: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{GENERIC_SCHEMA}">\n'
            f"{response}</Autodiscover>\n").encode("utf-8")


def _mobile_response(email: str, display_name: str | None, action: str) -> bytes:
    user = _el("User", *([_el("DisplayName", value=display_name, indent=3)] if display_name else []),
               _el("EMailAddress", value=email, indent=3), indent=2)
    return _document(f'  <Response xmlns="{RESPONSE_SCHEMA}">\n' + _el("Culture", value=CULTURE, indent=2)
                     + user + _el("Action", action, indent=2) + "  </Response>\n")


def settings_response(email: str, display_name: str, eas_url: str) -> bytes:
    server = _el("Server", _el("Type", value="MobileSync", indent=5), _el("Url", value=eas_url, indent=5),
                 _el("Name", value=eas_url, indent=5), indent=4)
    return _mobile_response(email, display_name, _el("Settings", server, indent=3))


def redirect_response(email: str, display_name: str, target: str) -> bytes:
    return _mobile_response(email, display_name, _el("Redirect", value=target, indent=3))


def not_found_response(email: str) -> bytes:
    error = _el("Error", _el("Status", value=str(STATUS_NOT_FOUND), indent=4),
                _el("Message", value=f"No mailbox has the address {email}.", indent=4), indent=3)
    return _mobile_response(email, None, error)


def generic_error(code: int, message: str, now: datetime) -> bytes:
    stamp = now.strftime("%H:%M:%S.") + f"{now.microsecond:06d}0"
    return _document(f"  <Response>\n    <Error Time={quoteattr(stamp)}>\n"
                     + _el("ErrorCode", value=str(code), indent=3) + _el("Message", value=message, indent=3)
                     + "    </Error>\n  </Response>\n")


# -- the endpoint ---------------------------------------------------------------------------------

def _lookup(db, domain: str, email: str):
    from easlab.storage.directory import find_by_address

    with db.session() as session:
        found = find_by_address(session, email, domain)
        if found is None:
            return None
        user, directory = found
        return user.name, user.display_name or user.name, directory.external_address if directory is not None else ""


def _xml(body: bytes) -> Response:
    return Response(body, media_type=CONTENT_TYPE)


async def endpoint(request: Request) -> Response:
    app = request.app
    identity = await run_in_threadpool(app.state.authenticator.authenticate, request.headers.get("authorization"),
                                       request.client.host if request.client else None)
    if identity is None:
        return Response(b"", status_code=401, headers={"WWW-Authenticate": 'Basic realm="easlab"'})
    now = app.state.clock.now()
    if request.method != "POST":
        return _xml(generic_error(INVALID_REQUEST, "Invalid Request", now))
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > MAX_BODY:
        return Response(b"", status_code=413)
    body = await request.body()
    if len(body) > MAX_BODY:
        return Response(b"", status_code=413)
    try:
        ask = parse_request(body)
    except MalformedXML as exc:
        log.info("%s: Autodiscover body is not XML: %s", identity.name, exc)
        return Response(b"", status_code=400)
    except InvalidRequest as exc:
        log.info("%s: Autodiscover request refused: %s", identity.name, exc)
        return _xml(generic_error(INVALID_REQUEST, "Invalid Request", now))
    if ask.schema != RESPONSE_SCHEMA:
        log.info("%s: Autodiscover asked for schema %s", identity.name, ask.schema)
        return _xml(generic_error(PROVIDER_UNAVAILABLE, "No provider for the requested response schema", now))
    settings = app.state.settings
    found = await run_in_threadpool(_lookup, app.state.db, settings.domain, ask.email)
    if found is None:
        return _xml(not_found_response(ask.email))
    name, display_name, external = found
    address = f"{name}@{settings.domain}"
    if external and external.rpartition("@")[2].lower() != settings.domain.lower():
        return _xml(redirect_response(address, display_name, external))
    # Exchange answers with its configured external URL, HTTPS, whichever way it was asked.
    return _xml(settings_response(address, display_name, settings.phone_eas_url))


class CaselessRoute(Route):
    """A Route whose path matches in any letter case."""

    def __init__(self, path: str, endpoint, **kwargs):
        super().__init__(path, endpoint, **kwargs)
        import re

        self.path_regex = re.compile("^" + re.escape(path) + "$", re.IGNORECASE)


routes = [CaselessRoute(PATH, endpoint, methods=["GET", "POST"])]


# -- what to type into a phone ------------------------------------------------------------------------

def server_address(base_url: str, fallback_host: str) -> str:
    """What a phone's "server" field takes for `base_url`: host, and the port unless the scheme's own."""
    url = urlsplit(base_url)
    host = url.hostname or fallback_host
    default_port = 443 if url.scheme == "https" else 80
    return (f"[{host}]" if ":" in host else host) + (f":{url.port}" if url.port and url.port != default_port else "")


def phone_setup_text(settings) -> str:
    """What `easlab serve` prints for setting a phone up by hand."""
    base = settings.phone_base_url
    url = urlsplit(base)
    host = url.hostname or settings.host
    netbios = settings.domain.split(".")[0].upper()
    lines = [
        "easlab: on a phone, add an Exchange (ActiveSync) account:",
        f"easlab:   email      NAME@{settings.domain}",
        f"easlab:   server     {server_address(base, settings.host)}  (SSL {'on' if url.scheme == 'https' else 'off'})",
        f"easlab:   domain     {netbios}  (or leave it empty)",
        f"easlab:   user name  NAME, NAME@{settings.domain} or {netbios}\\NAME",
        f"easlab:   Autodiscover answers at {base}{PATH}",
    ]
    if settings.tls:
        lines.append(f"easlab:   the CA, a QR code and an iOS profile: sign in at {settings.base_url}/setup")
    if host in ("localhost", "::1") or host.startswith("127."):
        lines.append(f"easlab:   {host} is this machine only: for phones, serve with --host 0.0.0.0 "
                     "--public-url http://ADDRESS:PORT")
    return "\n".join(lines)
