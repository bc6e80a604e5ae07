"""ValidateCert (MS-ASCMD 2.2.1.22): the server checks S/MIME certificates a client received.

Request: `ValidateCert{ CertificateChain?{ Certificate+ } Certificates{ Certificate+ } CheckCRL? }`.
Answer: `ValidateCert{ Status Certificate*{ Status } }`, one Certificate per requested one, in order.
The top-level Status is 1, 2 for a request that is not well-formed (no certificate, more than 100
Certificate elements in all (MS-ASCMD 3.1.5.10), CheckCRL other than 0/1), or 17 when the server
cannot check at all.  The checks and statuses are eas/certs.py's.
"""
from __future__ import annotations

import logging

from ..context import CommandContext
from ..response import Response
from ..wbxml import E, Element
from . import Command

NS = "ValidateCert"
STATUS_SUCCESS = 1
STATUS_PROTOCOL_ERROR = 2
STATUS_SERVER_ERROR = 17
MAX_CERTIFICATES = 100

log = logging.getLogger("easlab.eas")


def _answer(status: int, *certificates: Element) -> Response:
    return Response(200, E(f"{NS}:ValidateCert", E(f"{NS}:Status", status), *certificates))


def _values(parent: Element | None) -> list:
    return [c.value for c in parent.findall(f"{NS}:Certificate")] if parent is not None else []


async def handle(ctx: CommandContext, request: Element | None) -> Response:
    if request is None:
        return _answer(STATUS_PROTOCOL_ERROR)
    targets = _values(request.find(f"{NS}:Certificates"))
    chain = _values(request.find(f"{NS}:CertificateChain"))
    check_crl = (request.text(f"{NS}:CheckCRL") or "0").strip()
    if not targets or len(targets) + len(chain) > MAX_CERTIFICATES or check_crl not in ("0", "1"):
        return _answer(STATUS_PROTOCOL_ERROR)
    try:
        from .. import certs
    except ImportError:  # the `cryptography` package is missing: nothing can be checked
        log.error("ValidateCert: the cryptography package is not installed")
        return _answer(STATUS_SERVER_ERROR)
    bundles, now = await ctx.store.certificate_trust(ctx)
    anchors = [cert for bundle in bundles for cert in certs.load_pem_bundle(bundle)]
    intermediates = [cert for cert in map(certs.decode, chain) if cert is not None]
    statuses = [certs.check(certs.decode(value), intermediates, anchors, now, check_crl == "1") for value in targets]
    return _answer(STATUS_SUCCESS, *(E(f"{NS}:Certificate", E(f"{NS}:Status", s)) for s in statuses))


COMMANDS = (Command("ValidateCert", handle, root=f"{NS}:ValidateCert", malformed=STATUS_PROTOCOL_ERROR),)
