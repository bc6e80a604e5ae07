"""X.509 checks for S/MIME certificates: ValidateCert's per-certificate Status (MS-ASCMD 2.2.3.177.18).

Uses the `cryptography` package (import this module lazily: the command registry must load without
it).  A certificate is checked along the path built from it through the CertificateChain the client
sent and the server's trust anchors, and the first failing check gives the status:

  3  not decodable as a certificate, or a signature on the path does not verify
  5  the path cannot be built up to a self-signed certificate or a trust anchor (an issuer is
     missing, or the path is longer than 10), like Windows' CERT_E_CHAINING
  4  the path ends in a self-signed certificate that is not a trust anchor
  11 an issuer on the path is not a CA (basicConstraints, keyUsage keyCertSign, pathLenConstraint)
  7  a certificate on the path is expired or not yet valid
  8  a certificate's validity period does not lie within its issuer's
  10 a critical extension this checker does not know, malformed extensions, or a leaf that names
     no one (empty subject and no subjectAltName)
  6  the leaf's extendedKeyUsage leaves out emailProtection (and anyExtendedKeyUsage)
  9  the leaf's keyUsage allows neither digitalSignature nor nonRepudiation
  16 CheckCRL=1: revocation cannot be determined, because this server fetches no CRL and asks no OCSP
     responder (it has no network); with CheckCRL=0 that is ignored, as MS-ASCMD lets a server do
  1  none of the above

Never produced: 12 (ValidateCert names no recipient to compare with), 13 and 15 (revocation is never
known), 14 (no revocation server is tried), 17 (the command's own failure, not a certificate's).
Trust anchors are exactly the certificates the administrator configured; none configured means
every path is untrusted (4), as a real server's would be for a lab CA it was never told about.
"""
from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

SUCCESS = 1
PROTOCOL_ERROR = 2
BAD_SIGNATURE = 3
UNTRUSTED = 4
BAD_CHAIN = 5
NOT_FOR_EMAIL = 6
EXPIRED = 7
BAD_NESTING = 8
WRONG_USAGE = 9
BAD_INFORMATION = 10
WRONG_ROLE = 11
REVOCATION_UNKNOWN = 16
SERVER_ERROR = 17

MAX_PATH = 10

# Extensions whose meaning this checker knows (and, where they restrict, enforces).  A critical
# extension outside this set fails the certificate (RFC 5280 4.2).
KNOWN_EXTENSIONS = {
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.ISSUER_ALTERNATIVE_NAME,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.CERTIFICATE_POLICIES,
}


def decode(value: str | bytes | None) -> x509.Certificate | None:
    """A certificate from what a client sends: base64 of DER (the protocol's form), PEM, or raw DER
    in OPAQUE data.  None when it is none of these."""
    if value is None:
        return None
    if isinstance(value, bytes):
        try:
            return x509.load_der_x509_certificate(value)
        except ValueError:
            try:
                value = value.decode("ascii")
            except UnicodeDecodeError:
                return None
    text = value.strip()
    if text.startswith("-----BEGIN"):
        try:
            return x509.load_pem_x509_certificate(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return None
    try:
        der = base64.b64decode("".join(text.split()), validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        return None


def load_pem_bundle(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM file (a trust-store entry); [] when there is none."""
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return []


def _self_issued(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _extension(cert: x509.Certificate, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def build_path(leaf: x509.Certificate, chain: list[x509.Certificate], anchors: set[x509.Certificate]
               ) -> tuple[int, list[x509.Certificate]]:
    """(status, path from the leaf upward); status is SUCCESS, BAD_SIGNATURE, BAD_CHAIN or UNTRUSTED."""
    pool = [*anchors, *(c for c in chain if c not in anchors)]
    path = [leaf]
    current = leaf
    while True:
        if current in anchors:
            return SUCCESS, path
        if _self_issued(current):
            if not _signed_by(current, current):
                return BAD_SIGNATURE, path
            return UNTRUSTED, path
        candidates = [c for c in pool if c.subject == current.issuer and c not in path]
        if not candidates:
            return BAD_CHAIN, path
        issuer = next((c for c in candidates if _signed_by(current, c)), None)
        if issuer is None:
            return BAD_SIGNATURE, path
        path.append(issuer)
        if len(path) > MAX_PATH:
            return BAD_CHAIN, path
        current = issuer


def _roles_ok(path: list[x509.Certificate], anchors: set[x509.Certificate]) -> bool:
    for index, issuer in enumerate(path[1:], start=1):
        if issuer in anchors:
            continue  # configured as trusted: taken as a CA whatever its extensions say
        constraints = _extension(issuer, x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            return False
        usage = _extension(issuer, x509.KeyUsage)
        if usage is not None and not usage.key_cert_sign:
            return False
        below = sum(1 for c in path[1:index] if not _self_issued(c))  # intermediates under this CA
        if constraints.path_length is not None and below > constraints.path_length:
            return False
    return True


def _information_ok(path: list[x509.Certificate]) -> bool:
    for cert in path:
        if any(ext.critical and ext.oid not in KNOWN_EXTENSIONS for ext in cert.extensions):
            return False
    leaf = path[0]
    return bool(list(leaf.subject)) or _extension(leaf, x509.SubjectAlternativeName) is not None


def check(leaf: x509.Certificate | None, chain: Iterable[x509.Certificate], anchors: Iterable[x509.Certificate],
          now: datetime, check_crl: bool = False) -> int:
    """The ValidateCert Status of one certificate."""
    if leaf is None:
        return BAD_SIGNATURE
    anchor_set = set(anchors)
    try:
        status, path = build_path(leaf, list(chain), anchor_set)
        if status != SUCCESS:
            return status
        if not _roles_ok(path, anchor_set):
            return WRONG_ROLE
        if any(not (c.not_valid_before_utc <= now <= c.not_valid_after_utc) for c in path):
            return EXPIRED
        for child, issuer in zip(path, path[1:]):
            if child.not_valid_before_utc < issuer.not_valid_before_utc or child.not_valid_after_utc > issuer.not_valid_after_utc:
                return BAD_NESTING
        if not _information_ok(path):
            return BAD_INFORMATION
        purposes = _extension(leaf, x509.ExtendedKeyUsage)
        if purposes is not None and not ({ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
                                         & set(purposes)):
            return NOT_FOR_EMAIL
        usage = _extension(leaf, x509.KeyUsage)
        if usage is not None and not (usage.digital_signature or usage.content_commitment):
            return WRONG_USAGE
    except ValueError:  # an extension that does not parse (or appears twice)
        return BAD_INFORMATION
    if check_crl:
        return REVOCATION_UNKNOWN
    return SUCCESS


def usable_for_email(der: bytes, now: datetime) -> bool:
    """Whether a stored S/MIME certificate is one ResolveRecipients may hand out: it parses, is
    within its validity period, and its usages allow email protection."""
    try:
        cert = x509.load_der_x509_certificate(der)
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            return False
        purposes = _extension(cert, x509.ExtendedKeyUsage)
    except ValueError:
        return False
    return purposes is None or bool({ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
                                    & set(purposes))
