"""ResolveRecipients (MS-ASCMD 2.2.1.15): names to GAL entries, with free/busy, certificates, photos.

Request: `ResolveRecipients{ To+ Options?{ CertificateRetrieval? MaxCertificates? MaxAmbiguousRecipients?
Availability?{ StartTime EndTime? } (14.0+) Picture?{ MaxSize? MaxPictures? } (14.1+) } }`.

Each To is resolved against the organisation's directory (eas/gal.py): an SMTP address or alias
that names someone exactly, else the entries ANR matches.  One match resolves (Status 1) and gets
free/busy and certificates when asked; several are ambiguous and come back as suggestions
without either (Status 2, or 3 when MaxAmbiguousRecipients cut the list; RecipientCount is always
the number of matches, so a client can tell how many there were); none is Status 4.  The
top-level Status 5 answers a request outside the protocol's bounds: no To, more than 100 To
(MS-ASCMD 3.1.5.10), a To over 256 characters, option values outside their ranges, a StartTime or
EndTime that is not a dateTime, a span under 30 minutes or over 42 days (Exchange 2010+).
"""
from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .. import freebusy, gal
from ..context import CommandContext
from ..response import Response
from ..versions import has
from ..wbxml import E, Element
from . import Command

NS = "ResolveRecipients"

STATUS_SUCCESS = 1
STATUS_PROTOCOL_ERROR = 5
STATUS_SERVER_ERROR = 6
# Response/Status
RESOLVED = 1
AMBIGUOUS = 2
AMBIGUOUS_PARTIAL = 3
NOT_RESOLVED = 4
# Certificates/Status
CERTS_OK = 1
NO_VALID_CERT = 7
CERT_LIMIT_REACHED = 8
# Recipient/Type
TYPE_GAL = 1

MAX_TO = 100
MAX_TO_LENGTH = 256
MAX_OPTION = 9999  # CertificateRetrieval's siblings MaxCertificates and MaxAmbiguousRecipients: 0-9999
DEFAULT_SPAN = timedelta(days=7)  # no EndTime: seven days after StartTime
MIN_SPAN = timedelta(minutes=30)
MAX_SPAN = timedelta(days=42)  # Exchange 2010 and later

log = logging.getLogger("easlab.eas")


class ProtocolError(ValueError):
    pass


@dataclass(frozen=True)
class ResolveQuery:
    names: list[str]
    certificate_retrieval: int = 1  # 1 none, 2 full certificates, 3 mini certificates
    max_certificates: int = MAX_OPTION
    max_ambiguous: int = MAX_OPTION
    availability: tuple[datetime, datetime] | None = None
    picture: gal.PictureOptions | None = None


def _int(text: str | None, what: str, low: int, high: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text.strip())
    except ValueError:
        raise ProtocolError(f"{what} {text!r} is not a number") from None
    if not low <= value <= high:
        raise ProtocolError(f"{what} {value} is outside {low}-{high}")
    return value


def parse_datetime(text: str | None, what: str) -> datetime:
    """MS-ASDTYPE dateTime (2012-04-11T10:00:00.000Z); a time without zone is taken as UTC."""
    try:
        value = datetime.fromisoformat((text or "").strip())
    except ValueError:
        raise ProtocolError(f"{what} {text!r} is not a dateTime") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def parse(request: Element | None, version: str) -> ResolveQuery:
    if request is None:
        raise ProtocolError("empty request")
    names = [to.as_text("") or "" for to in request.findall(f"{NS}:To")]
    if not names:
        raise ProtocolError("no To")
    if len(names) > MAX_TO:
        raise ProtocolError(f"{len(names)} To elements (at most {MAX_TO})")
    if any(len(name) > MAX_TO_LENGTH or not name.strip() for name in names):
        raise ProtocolError(f"a To is empty or longer than {MAX_TO_LENGTH} characters")
    options = request.find(f"{NS}:Options")
    if options is None:
        return ResolveQuery(names)
    retrieval = _int(options.text(f"{NS}:CertificateRetrieval"), "CertificateRetrieval", 1, 3) or 1
    max_certs = _int(options.text(f"{NS}:MaxCertificates"), "MaxCertificates", 0, MAX_OPTION)
    max_ambiguous = _int(options.text(f"{NS}:MaxAmbiguousRecipients"), "MaxAmbiguousRecipients", 0, MAX_OPTION)
    availability = None
    window = options.find(f"{NS}:Availability")
    if window is not None and has(version, "availability"):
        start = parse_datetime(window.text(f"{NS}:StartTime"), "StartTime")
        end_text = window.text(f"{NS}:EndTime")
        end = parse_datetime(end_text, "EndTime") if end_text is not None else start + DEFAULT_SPAN
        if end < start + MIN_SPAN or end - start > MAX_SPAN:
            raise ProtocolError(f"free/busy span {start.isoformat()} - {end.isoformat()} is out of bounds")
        availability = (start, end)
    picture = None
    if has(version, "pictures"):
        try:
            picture = gal.parse_picture(options.find(f"{NS}:Picture"), NS)
        except gal.GalError as exc:
            raise ProtocolError(str(exc)) from None
    return ResolveQuery(names, retrieval, MAX_OPTION if max_certs is None else max_certs,
                        MAX_OPTION if max_ambiguous is None else max_ambiguous, availability, picture)


class _CertificateBudget:
    """MaxCertificates counts the certificates of the whole response."""

    def __init__(self, query: ResolveQuery, now: datetime):
        self.retrieval = query.certificate_retrieval
        self.left = query.max_certificates
        self.now = now

    def _valid(self, certificates: list[bytes]) -> list[bytes]:
        try:
            from ..certs import usable_for_email
        except ImportError:  # no X.509 library: hand out what is stored, unchecked
            return list(certificates)
        return [der for der in certificates if usable_for_email(der, self.now)]

    def element(self, entry: gal.DirectoryEntry) -> Element:
        valid = self._valid(entry.certificates)
        if not valid:
            return E(f"{NS}:Certificates", E(f"{NS}:Status", NO_VALID_CERT), E(f"{NS}:CertificateCount", 0),
                     E(f"{NS}:RecipientCount", 1))
        if self.left <= 0:
            return E(f"{NS}:Certificates", E(f"{NS}:Status", CERT_LIMIT_REACHED), E(f"{NS}:CertificateCount", len(valid)),
                     E(f"{NS}:RecipientCount", 1))
        if self.retrieval == 3:
            # Exchange's mini-certificate format is unpublished; easlab carries the whole certificate.
            self.left -= 1
            blobs = [E(f"{NS}:MiniCertificate", base64.b64encode(valid[0]).decode("ascii"))]
        else:
            handed = valid[:self.left]
            self.left -= len(handed)
            blobs = [E(f"{NS}:Certificate", base64.b64encode(der).decode("ascii")) for der in handed]
        return E(f"{NS}:Certificates", E(f"{NS}:Status", CERTS_OK), E(f"{NS}:CertificateCount", len(valid)),
                 E(f"{NS}:RecipientCount", 1), *blobs)


def _recipient(entry: gal.DirectoryEntry, *details: Element | None) -> Element:
    return E(f"{NS}:Recipient", E(f"{NS}:Type", TYPE_GAL), E(f"{NS}:DisplayName", entry.shown_name),
             E(f"{NS}:EmailAddress", entry.email_address), *details)


def build(query: ResolveQuery, resolved: list[gal.Resolved], now: datetime) -> Element:
    certificates = _CertificateBudget(query, now) if query.certificate_retrieval in (2, 3) else None
    pictures = gal.PictureBudget(query.picture) if query.picture is not None else None

    def picture(entry):
        if pictures is None:
            return None
        status, data = pictures.take(entry.picture)
        return E(f"{NS}:Picture", E(f"{NS}:Status", status), E(f"{NS}:Data", data) if data else None)

    responses = []
    for item in resolved:
        found = item.found
        if not found:
            responses.append(E(f"{NS}:Response", E(f"{NS}:To", item.to), E(f"{NS}:Status", NOT_RESOLVED),
                               E(f"{NS}:RecipientCount", 0)))
            continue
        if len(found) == 1:
            entry = found[0]
            availability = None
            if query.availability is not None:
                start, end = query.availability
                availability = E(f"{NS}:Availability", E(f"{NS}:Status", 1),
                                 E(f"{NS}:MergedFreeBusy", freebusy.merged_free_busy(start, end, item.busy)))
            recipients = [_recipient(entry, availability, certificates.element(entry) if certificates else None,
                                     picture(entry))]
            status = RESOLVED
        else:
            shown = gal.suggestions(found, query.max_ambiguous)
            recipients = [_recipient(entry, picture(entry)) for entry in shown]
            status = AMBIGUOUS if len(shown) == len(found) else AMBIGUOUS_PARTIAL
        responses.append(E(f"{NS}:Response", E(f"{NS}:To", item.to), E(f"{NS}:Status", status),
                           E(f"{NS}:RecipientCount", len(found)), *recipients))
    return E(f"{NS}:ResolveRecipients", E(f"{NS}:Status", STATUS_SUCCESS), *responses)


async def handle(ctx: CommandContext, request: Element | None) -> Response:
    try:
        query = parse(request, ctx.version)
    except ProtocolError as exc:
        log.info("%s %s ResolveRecipients: %s", ctx.user, ctx.request.device_id, exc)
        return Response(200, E(f"{NS}:ResolveRecipients", E(f"{NS}:Status", STATUS_PROTOCOL_ERROR)))
    resolved, now = await ctx.store.resolve_recipients(ctx, query)
    return Response(200, build(query, resolved, now))


COMMANDS = (Command("ResolveRecipients", handle, root=f"{NS}:ResolveRecipients", malformed=STATUS_PROTOCOL_ERROR),)
